"""The ledger's one time format: RFC 3339 UTC with microseconds and ``Z``.

A module of its own so that both the envelope and the payload models can use it:
``envelope`` imports ``vocabulary``, which imports ``payloads``, so ``payloads``
cannot import ``envelope`` without a cycle. ``envelope`` re-exports both names.
"""

from __future__ import annotations

from datetime import UTC, datetime

from auditml.errors import ValidationError

__all__ = ["format_time", "parse_time"]


def format_time(moment: datetime) -> str:
    """Return RFC 3339 UTC with microseconds and Z, the only form stored in the ledger."""
    # isoformat pads the year to four digits, which strftime("%Y") does not for years < 1000.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(value: object, *, where: str) -> datetime:
    """Parse an aware datetime or an ISO 8601 string with an offset into UTC.

    Raises ValidationError for naive times (no timezone) and unparsable strings.
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
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{where}: timestamp {str(value)!r} has no timezone; add Z (UTC) or an offset like +01:00"
        )
    return moment.astimezone(UTC)
