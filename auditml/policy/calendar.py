"""Deadline calendars: when a period that starts with an event ends.

Periods follow Regulation (EEC, Euratom) No 1182/71 ("eu-1182/71") by default, as a named
calendar that rules can override (docs/POLICIES.md, section Time):

- Art. 3(1), 3(2)(a): a period in hours is exact, ``start + n hours``. It is not moved for
  weekends or holidays.
- Art. 3(1) second subparagraph, 3(2)(b): for a period in days, weeks, months or years the
  day of the event is not counted. The period ends when the last hour of its last day expires.
- Art. 3(2)(c): a month or year period ends on the same date in the last month, or on that
  month's last day if the date does not exist (31 Jan + P1M -> 28/29 Feb).
- Art. 3(4): if the last day of a period not expressed in hours is a Saturday, a Sunday or a
  public holiday, the period ends when the last hour of the next working day expires.

The "exact" calendar is plain arithmetic: months are added with the same last-day clamp, but
there is no working-day shift and no rounding to the end of the day.

Which public holidays count depends on where the action is to be taken (Art. 2(1)). No
country is assumed: the stock calendars know weekends only. Rules choose countries through
their regimes and build the calendar with `calendar_for`. Holiday tables come from the
`holidays` package (national public holidays, no regional ones).

This module is pure. It reads no clock and does no I/O besides the `holidays` package's
built-in tables.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from auditml.errors import ValidationError

__all__ = [
    "CALENDARS",
    "Calendar",
    "Period",
    "Rule",
    "calendar_for",
    "combined_period",
    "parse_period",
    "supported_countries",
]

Rule = Literal["eu-1182/71", "exact"]
RULES: tuple[str, ...] = get_args(Rule)

# Working days are looked for at most this far ahead before a calendar is declared broken
# (every day a weekend or a holiday). A real calendar never gets near this.
_MAX_NON_WORKING_RUN = 366

_DATE_PERIOD = re.compile(r"P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?")
_TIME_PERIOD = re.compile(r"PT(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?")
#: Digits a period's number may have: 999,999,999 seconds are 31 years; anything longer
#: than that in days or years ends past the year 9999 anyway.
_MAX_PERIOD_DIGITS = 9
_PERIOD_HELP = (
    "write an ISO 8601 duration with whole numbers: PnYnMnWnD (e.g. P1M, P15D, P1M15D) "
    "or PTnHnMnS (e.g. PT72H)"
)


class Period(NamedTuple):
    """A parsed ISO 8601 duration: either a calendar part or a clock (T) part, never both."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def is_clock(self) -> bool:
        """True for a period in hours/minutes/seconds (``PT...``): exact, never moved."""
        return self.hours > 0 or self.minutes > 0 or self.seconds > 0

    @property
    def total_months(self) -> int:
        return 12 * self.years + self.months

    @property
    def total_days(self) -> int:
        return 7 * self.weeks + self.days

    @property
    def clock(self) -> timedelta:
        return timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)


def parse_period(text: str) -> Period:
    """Parse ``PnYnMnWnD`` or ``PTnHnMnS``. Anything else raises `ValidationError`.

    Mixed forms (``P1DT12H``), fractions, signs, lower case and all-zero periods are refused:
    a zero-length period is not a period in the sense of Regulation 1182/71 **[interp]**.
    """
    if not isinstance(text, str):
        raise ValidationError(f"period {text!r} is not a string; {_PERIOD_HELP}")
    date_match = _DATE_PERIOD.fullmatch(text)
    time_match = None if date_match else _TIME_PERIOD.fullmatch(text)
    match = date_match or time_match
    numbers = match.groups() if match is not None else ()
    if any(number is not None and len(number) > _MAX_PERIOD_DIGITS for number in numbers):
        # Python refuses to convert more than 4,300 digits (a ValueError, not ours), and
        # no date plus a billion units is a date.
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValidationError(
            f"period {shown!r} has a number of more than {_MAX_PERIOD_DIGITS} digits; "
            f"{_PERIOD_HELP}"
        )
    if date_match:
        years, months, weeks, days = (int(g) if g else 0 for g in date_match.groups())
        parsed = Period(years=years, months=months, weeks=weeks, days=days)
    elif time_match:
        hours, minutes, seconds = (int(g) if g else 0 for g in time_match.groups())
        parsed = Period(hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise ValidationError(f"period {text!r} is not supported; {_PERIOD_HELP}")
    if not any(parsed):
        raise ValidationError(f"period {text!r} has no length; {_PERIOD_HELP}")
    return parsed


def combined_period(first: str, second: str) -> str | None:
    """The sum of two periods of the same form (P1M + P2M = P3M), or None when one is a
    clock period and the other not (they cannot be one ISO 8601 period)."""
    a, b = parse_period(first), parse_period(second)
    if a.is_clock != b.is_clock:
        return None
    total = Period(*(x + y for x, y in zip(a, b, strict=True)))
    if total.is_clock:
        parts = [(total.hours, "H"), (total.minutes, "M"), (total.seconds, "S")]
        return "PT" + "".join(f"{n}{unit}" for n, unit in parts if n)
    parts = [(total.years, "Y"), (total.months, "M"), (total.weeks, "W"), (total.days, "D")]
    return "P" + "".join(f"{n}{unit}" for n, unit in parts if n)


@lru_cache(maxsize=1)
def supported_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes the `holidays` package has public holiday tables for."""
    try:
        # Without aliases such as "UK" for "GB" (keyword added in later `holidays` releases).
        listed = holidays.list_supported_countries(include_aliases=False)
    except TypeError:  # pragma: no cover - older `holidays`
        listed = holidays.list_supported_countries()
    return frozenset(code for code in listed if len(code) == 2 and code.isalpha())


@lru_cache(maxsize=4096)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    # Building a `holidays` table is slow-ish; a frozenset per (country, year) is not.
    # Observed (substitute) days are included: offices are closed on them [interp].
    table = holidays.country_holidays(country, years=year)
    return frozenset(day for day in table if day.year == year)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"timezone {name!r} is not a known IANA zone name; use one such as "
            "'UTC' or 'Europe/Berlin'"
        ) from exc


def _add_months(day: date, months: int) -> date:
    """Same day number ``months`` later, or that month's last day if it has none."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    month = month0 + 1
    last_day = 31 if month == 12 else (date(year, month + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def _require_aware(start: datetime) -> None:
    if not isinstance(start, datetime):
        raise ValidationError(f"deadline start {start!r} is not a datetime")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValidationError(
            f"deadline start {start.isoformat()} has no timezone; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=UTC))"
        )


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """A named way of computing deadlines.

    `countries` are ISO 3166-1 alpha-2 codes whose national public holidays are non-working
    days. A day is a holiday if it is one in ANY listed country. An empty tuple means
    weekends only. `weekend` holds ``date.weekday()`` numbers (Monday = 0). `timezone` is the
    IANA zone in which dates are counted.
    """

    name: str
    rule: Rule
    countries: tuple[str, ...] = ()
    weekend: frozenset[int] = field(default_factory=lambda: frozenset({5, 6}))
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"calendar name {self.name!r} must be a non-empty string")
        if self.rule not in RULES:
            raise ValidationError(
                f"calendar {self.name!r}: rule {self.rule!r} is unknown; use one of "
                f"{', '.join(RULES)}"
            )
        # Accept any sequence/set from callers, keep hashable shapes.
        object.__setattr__(self, "countries", tuple(self.countries))
        object.__setattr__(self, "weekend", frozenset(self.weekend))
        supported = supported_countries()
        for code in self.countries:
            if code not in supported:
                raise ValidationError(
                    f"calendar {self.name!r}: country {code!r} has no public holiday table; "
                    "use an upper-case ISO 3166-1 alpha-2 code such as 'DE', 'FR' or 'IE'"
                )
        if any(type(d) is not int or not 0 <= d <= 6 for d in self.weekend):
            raise ValidationError(
                f"calendar {self.name!r}: weekend {sorted(self.weekend)!r} must hold weekday "
                "numbers 0 (Monday) to 6 (Sunday)"
            )
        if len(self.weekend) == 7:
            raise ValidationError(
                f"calendar {self.name!r}: a weekend of all seven days leaves no working day"
            )
        _zone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def is_holiday(self, day: date) -> bool:
        """A public holiday in any of the calendar's countries."""
        return any(day in _public_holidays(code, day.year) for code in self.countries)

    def is_working_day(self, day: date) -> bool:
        """Not a weekend day and not a public holiday in any listed country."""
        return day.weekday() not in self.weekend and not self.is_holiday(day)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        candidate = day
        for _ in range(_MAX_NON_WORKING_RUN):
            candidate += timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise ValidationError(
            f"calendar {self.name!r} has no working day within {_MAX_NON_WORKING_RUN} days "
            f"after {day.isoformat()}; check its weekend and countries"
        )

    def due(self, start: datetime, period: str) -> datetime:
        """The instant a `period` that starts with an event at `start` ends, as aware UTC.

        Under "eu-1182/71" a day-based period ends at the last microsecond of its (possibly
        moved) last day in the calendar's timezone; an act at or before the returned instant
        is in time.
        """
        _require_aware(start)
        parsed = parse_period(period)
        try:
            if parsed.is_clock:
                # Art. 3(1) first subparagraph / 3(2)(a). A strict reading would start the
                # count at the next full hour (the hour of the event is not counted); we use
                # start + n hours, the earlier and stricter end [interp].
                return start.astimezone(UTC) + parsed.clock
            local = start.astimezone(self.zone)
            last = _add_months(local.date(), parsed.total_months) + timedelta(
                days=parsed.total_days
            )
            if self.rule == "exact":
                # Wall-clock arithmetic in the calendar's zone: P1D across a DST change keeps
                # the local time of day [interp].
                wall = datetime.combine(last, local.timetz().replace(tzinfo=None))
                return wall.replace(tzinfo=self.zone).astimezone(UTC)
            # Years/months are added before weeks/days (P1M15D from 31 Jan: 28 Feb, then
            # +15 days), as in ISO 8601 and dateutil [interp].
            if not self.is_working_day(last):
                last = self.next_working_day(last)
            # Art. 3(5) ("any period of two days or more shall include at least two working
            # days") is out of scope here: not applied [interp].
            end = datetime.combine(last, time.max).replace(tzinfo=self.zone)
            return end.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(
                f"period {period!r} from {start.isoformat()} ends outside the supported "
                "date range (years 1 to 9999)"
            ) from exc


CALENDARS: dict[str, Calendar] = {
    # Weekends only, counted in UTC. Rules add the countries where the action is to be
    # taken (Art. 2(1)) and, where it matters, the local timezone, via `calendar_for`.
    "eu-1182/71": Calendar(name="eu-1182/71", rule="eu-1182/71"),
    "exact": Calendar(name="exact", rule="exact"),
}


def calendar_for(name: str, countries: Sequence[str] = (), timezone: str = "UTC") -> Calendar:
    """A stock calendar from `CALENDARS` with the given holiday countries and timezone.

    Country codes are matched case-insensitively and de-duplicated. An unknown calendar name,
    country code or timezone raises `ValidationError`.
    """
    try:
        base = CALENDARS[name]
    except (KeyError, TypeError):
        raise ValidationError(
            f"calendar {name!r} is unknown; use one of {', '.join(sorted(CALENDARS))}"
        ) from None
    if isinstance(countries, str):
        raise ValidationError(
            f"calendar {name!r}: countries must be a list of codes, not the string {countries!r}"
        )
    codes: list[str] = []
    for code in countries:
        normal = code.strip().upper() if isinstance(code, str) else code
        if normal not in codes:
            codes.append(normal)
    return dataclasses.replace(base, countries=tuple(codes), timezone=timezone)
