"""The ledger's one time format: RFC 3339 UTC with microseconds and ``Z``.

A module of its own so that both the envelope and the payload models can use it:
``envelope`` imports ``vocabulary``, which imports ``payloads``, so ``payloads``
cannot import ``envelope`` without a cycle. ``envelope`` re-exports both names.
"""

from __future__ import annotations

from datetime import UTC, datetime

from auditml.errors import ValidationError

__all__ = ["format_time", "parse_time", "to_utc"]


def format_time(moment: datetime) -> str:
    """Return RFC 3339 UTC with microseconds and Z, the only form stored in the ledger."""
    # isoformat pads the year to four digits, which strftime("%Y") does not for years < 1000.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(value: object, *, where: str) -> datetime:
    """Parse an aware datetime or an ISO 8601 string with an offset into UTC.

    Raises ValidationError for naive times (no timezone), unparsable strings, times
    that fall outside years 1-9999 once moved to UTC, and a tzinfo that fails.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError(
                f"{where}: {value!r} is not an ISO 8601 timestamp; use e.g. 2026-01-31T09:30:00Z"
            ) from exc
    else:
        raise ValidationError(f"{where}: expected a timestamp string, got {type(value).__name__}")
    return to_utc(moment, where=where, given=value)


def to_utc(moment: datetime, *, where: str, given: object = None) -> datetime:
    """Return an aware datetime moved to UTC.

    `given` is what the caller passed (a string, or `moment` itself), shown in messages.
    Raises ValidationError naming `where` when the time has no timezone, when its
    tzinfo fails (a user's tzinfo may raise anything from ``utcoffset``), or when the
    time falls outside years 1-9999 once moved to UTC (``9999-12-31T23:59:59-01:00``
    is in year 10000 in UTC, which no datetime and no ledger time can hold).
    """
    shown = _shown(moment if given is None else given)
    try:
        offset = moment.utcoffset()
        utc = None if offset is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(
            f"{where}: timestamp {shown} falls outside years 0001-9999 once moved to UTC; "
            "give a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        ) from exc
    except Exception as exc:  # a caller's tzinfo may raise anything
        raise ValidationError(
            f"{where}: the timezone of {shown} failed ({type(exc).__name__}: {exc}); "
            "pass a datetime with a working tzinfo, e.g. datetime.UTC or a zoneinfo.ZoneInfo"
        ) from exc
    if utc is None:
        raise ValidationError(
            f"{where}: timestamp {shown} has no timezone; add Z (UTC) or an offset like +01:00"
        )
    return utc


def _shown(value: object) -> str:
    """A time as messages quote it: a string as given, a datetime without its tzinfo call."""
    if isinstance(value, datetime):
        try:
            return repr(value.isoformat())
        except Exception:  # isoformat() calls utcoffset(), which may be what failed
            return repr(value.replace(tzinfo=None).isoformat())
    return repr(str(value))
