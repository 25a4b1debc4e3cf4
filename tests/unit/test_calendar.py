"""Deadline calendars: Regulation 1182/71 periods and the "exact" calendar, dated case by case.

Every expected instant is written out in UTC. Under "eu-1182/71" a day-based period ends at
the last microsecond of its last (working) day in the calendar's timezone; hour periods are
exact. Weekdays used below: 28 Feb 2027 is a Sunday, 3 Oct 2028 a Tuesday, 14 Jul 2026 a
Tuesday, 17 Mar 2026 a Tuesday, Easter 2027 is 28 Mar (Good Friday 26 Mar, Easter Monday
29 Mar), 25 Dec 2026 a Friday, 1 May 2026 a Friday.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import pytest

from auditml.errors import ValidationError
from auditml.policy import calendar as calendar_module
from auditml.policy.calendar import (
    CALENDARS,
    Calendar,
    Period,
    calendar_for,
    combined_period,
    parse_period,
    supported_countries,
)

BERLIN = "Europe/Berlin"


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


class Case(NamedTuple):
    id: str
    start: str
    period: str
    expected: str
    calendar: str = "eu-1182/71"
    countries: tuple[str, ...] = ()
    timezone: str = "UTC"


CASES = [
    # --- month ends, leap years (Art. 3(2)(c)) -------------------------------------------
    Case(
        "law-example-31jan2027-p1m-28feb-sunday-to-mon-1mar",
        "2027-01-31T10:00:00Z",
        "P1M",
        "2027-03-01T23:59:59.999999Z",
    ),
    Case("leap-31jan2028-p1m-29feb", "2028-01-31T10:00:00Z", "P1M", "2028-02-29T23:59:59.999999Z"),
    Case(
        "non-leap-31jan2025-p1m-28feb-friday",
        "2025-01-31T08:00:00Z",
        "P1M",
        "2025-02-28T23:59:59.999999Z",
    ),
    Case(
        "non-leap-31jan2026-p1m-28feb-saturday-to-mon-2mar",
        "2026-01-31T08:00:00Z",
        "P1M",
        "2026-03-02T23:59:59.999999Z",
    ),
    Case("31mar-p1m-30apr", "2026-03-31T12:00:00Z", "P1M", "2026-04-30T23:59:59.999999Z"),
    Case("29feb2028-p1y-28feb2029", "2028-02-29T09:00:00Z", "P1Y", "2029-02-28T23:59:59.999999Z"),
    Case("29feb2028-p12m-28feb2029", "2028-02-29T09:00:00Z", "P12M", "2029-02-28T23:59:59.999999Z"),
    Case("29feb2024-p4y-29feb2028", "2024-02-29T09:00:00Z", "P4Y", "2028-02-29T23:59:59.999999Z"),
    Case(
        "31dec2026-p2m-28feb2027-sunday-to-mon",
        "2026-12-31T12:00:00Z",
        "P2M",
        "2027-03-01T23:59:59.999999Z",
    ),
    Case(
        "p1m15d-months-first-then-days-sat-to-mon",
        "2025-01-31T12:00:00Z",
        "P1M15D",
        "2025-03-17T23:59:59.999999Z",
    ),
    Case(
        "p1m15d-lands-on-mon-17mar-ie-holiday",
        "2025-01-31T12:00:00Z",
        "P1M15D",
        "2025-03-18T23:59:59.999999Z",
        countries=("IE",),
    ),
    # --- GDPR Art. 12(3): one month, extension to three months in total ----------------
    Case("gdpr-12-3-p1m", "2026-05-15T14:00:00Z", "P1M", "2026-06-15T23:59:59.999999Z"),
    Case(
        "gdpr-12-3-extended-p3m-15aug-saturday-to-mon",
        "2026-05-15T14:00:00Z",
        "P3M",
        "2026-08-17T23:59:59.999999Z",
    ),
    Case(
        "gdpr-12-3-extended-p3m-30nov-to-28feb-sunday",
        "2026-11-30T14:00:00Z",
        "P3M",
        "2027-03-01T23:59:59.999999Z",
    ),
    # --- AI Act Art. 73 tiers (days, not working days) ---------------------------------
    Case("aiact-73-p2d-wed-to-fri", "2026-09-02T16:00:00Z", "P2D", "2026-09-04T23:59:59.999999Z"),
    Case(
        "aiact-73-p2d-thu-to-sat-moves-to-mon",
        "2026-09-03T16:00:00Z",
        "P2D",
        "2026-09-07T23:59:59.999999Z",
    ),
    Case(
        "aiact-73-p10d-to-sat-moves-to-mon",
        "2026-09-02T16:00:00Z",
        "P10D",
        "2026-09-14T23:59:59.999999Z",
    ),
    Case("aiact-73-p15d-to-thu", "2026-09-02T16:00:00Z", "P15D", "2026-09-17T23:59:59.999999Z"),
    Case("p2w-same-weekday", "2026-09-02T16:00:00Z", "P2W", "2026-09-16T23:59:59.999999Z"),
    # --- weekends ---------------------------------------------------------------------
    Case(
        "p1d-fri-to-sat-moves-to-mon", "2026-06-05T10:00:00Z", "P1D", "2026-06-08T23:59:59.999999Z"
    ),
    Case(
        "p1d-sat-to-sun-moves-to-mon", "2026-06-06T10:00:00Z", "P1D", "2026-06-08T23:59:59.999999Z"
    ),
    Case(
        "event-day-not-counted-late-in-the-day",
        "2026-06-08T23:59:59Z",
        "P1D",
        "2026-06-09T23:59:59.999999Z",
    ),
    # --- public holidays in a listed country (Art. 3(4)) -------------------------------
    Case(
        "de-3oct2028-moves-to-4oct",
        "2028-10-02T10:00:00Z",
        "P1D",
        "2028-10-04T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "3oct2028-not-moved-without-de",
        "2028-10-02T10:00:00Z",
        "P1D",
        "2028-10-03T23:59:59.999999Z",
    ),
    Case(
        "fr-14jul2026-moves-to-15jul",
        "2026-07-07T10:00:00Z",
        "P1W",
        "2026-07-15T23:59:59.999999Z",
        countries=("FR",),
    ),
    Case(
        "14jul2026-not-moved-for-de-only",
        "2026-07-07T10:00:00Z",
        "P1W",
        "2026-07-14T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "14jul2026-moved-for-de-and-fr-any-country-counts",
        "2026-07-07T10:00:00Z",
        "P1W",
        "2026-07-15T23:59:59.999999Z",
        countries=("DE", "FR"),
    ),
    Case(
        "ie-17mar2026-moves-to-18mar",
        "2026-03-16T10:00:00Z",
        "P1D",
        "2026-03-18T23:59:59.999999Z",
        countries=("IE",),
    ),
    Case(
        "ie-sunday-then-easter-monday-2027-to-tue",
        "2027-02-28T10:00:00Z",
        "P1M",
        "2027-03-30T23:59:59.999999Z",
        countries=("IE",),
    ),
    Case(
        "de-good-friday-weekend-easter-monday-2027-chain",
        "2027-03-16T10:00:00Z",
        "P10D",
        "2027-03-30T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "good-friday-2027-not-moved-without-countries",
        "2027-03-16T10:00:00Z",
        "P10D",
        "2027-03-26T23:59:59.999999Z",
    ),
    Case(
        "de-christmas-2026-25-26-weekend-chain-to-mon-28",
        "2026-12-24T10:00:00Z",
        "P1D",
        "2026-12-28T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "de-24dec-is-a-working-day",
        "2026-12-23T10:00:00Z",
        "P1D",
        "2026-12-24T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "25dec2026-not-moved-without-countries",
        "2026-12-24T10:00:00Z",
        "P1D",
        "2026-12-25T23:59:59.999999Z",
    ),
    Case(
        "de-new-year-2027-then-weekend-to-mon-4jan",
        "2026-12-31T10:00:00Z",
        "P1D",
        "2027-01-04T23:59:59.999999Z",
        countries=("DE",),
    ),
    Case(
        "custom-weekend-fri-sat",
        "2026-06-04T10:00:00Z",
        "P1D",
        "2026-06-07T23:59:59.999999Z",
        calendar="fri-sat-weekend",
    ),
    # --- hour periods: exact, never moved (Art. 3(1) first subparagraph) ---------------
    Case("pt72h-fri-to-mon-exact", "2026-06-05T10:00:00Z", "PT72H", "2026-06-08T10:00:00Z"),
    Case(
        "pt72h-keeps-minutes-seconds-microseconds",
        "2026-06-05T10:17:42.123456Z",
        "PT72H",
        "2026-06-08T10:17:42.123456Z",
    ),
    Case(
        "pt24h-onto-de-holiday-not-moved",
        "2028-10-02T09:15:00Z",
        "PT24H",
        "2028-10-03T09:15:00Z",
        countries=("DE",),
    ),
    Case(
        "pt72h-across-dst-start-in-berlin-is-absolute",
        "2026-03-27T10:00:00Z",
        "PT72H",
        "2026-03-30T10:00:00Z",
        timezone=BERLIN,
    ),
    Case("pt1h30m", "2026-03-28T23:00:00Z", "PT1H30M", "2026-03-29T00:30:00Z"),
    Case("pt45s", "2026-03-28T23:59:30Z", "PT45S", "2026-03-29T00:00:15Z"),
    # --- timezones: dates are counted in the calendar's zone ----------------------------
    Case(
        "utc-23h30-31jan-is-1feb-in-berlin",
        "2027-01-31T23:30:00Z",
        "P1M",
        "2027-03-01T22:59:59.999999Z",
        timezone=BERLIN,
    ),
    Case(
        "utc-23h30-31mar-is-1apr-in-berlin-p1m-1may",
        "2026-03-31T23:30:00Z",
        "P1M",
        "2026-05-01T21:59:59.999999Z",
        timezone=BERLIN,
    ),
    Case(
        "same-instant-in-utc-p1m-30apr",
        "2026-03-31T23:30:00Z",
        "P1M",
        "2026-04-30T23:59:59.999999Z",
    ),
    Case(
        "berlin-de-1may-labour-day-then-weekend-to-mon",
        "2026-03-31T23:30:00Z",
        "P1M",
        "2026-05-04T21:59:59.999999Z",
        countries=("DE",),
        timezone=BERLIN,
    ),
    Case(
        "offset-start-converted-to-utc-calendar",
        "2026-07-01T01:00:00+02:00",
        "P1D",
        "2026-07-01T23:59:59.999999Z",
    ),
    Case(
        "offset-start-converted-to-berlin-calendar",
        "2026-07-01T01:00:00+02:00",
        "P1D",
        "2026-07-02T21:59:59.999999Z",
        timezone=BERLIN,
    ),
    Case(
        "berlin-dst-end-sunday-to-mon-cet",
        "2026-10-24T12:00:00Z",
        "P1D",
        "2026-10-26T22:59:59.999999Z",
        timezone=BERLIN,
    ),
    # --- the "exact" calendar: plain arithmetic -----------------------------------------
    Case(
        "exact-31jan2027-p1m-sunday-not-moved",
        "2027-01-31T10:00:00Z",
        "P1M",
        "2027-02-28T10:00:00Z",
        calendar="exact",
    ),
    Case(
        "exact-31jan2028-p1m-leap",
        "2028-01-31T10:00:00Z",
        "P1M",
        "2028-02-29T10:00:00Z",
        calendar="exact",
    ),
    Case(
        "exact-29feb2028-p1y",
        "2028-02-29T00:00:00Z",
        "P1Y",
        "2029-02-28T00:00:00Z",
        calendar="exact",
    ),
    Case(
        "exact-p1d-fri-to-sat",
        "2026-06-05T10:00:00Z",
        "P1D",
        "2026-06-06T10:00:00Z",
        calendar="exact",
    ),
    Case("exact-pt72h", "2026-06-05T10:00:00Z", "PT72H", "2026-06-08T10:00:00Z", calendar="exact"),
    Case(
        "exact-ignores-holidays-even-with-countries",
        "2026-12-24T10:00:00Z",
        "P1D",
        "2026-12-25T10:00:00Z",
        calendar="exact",
        countries=("DE",),
    ),
    Case(
        "exact-p1d-across-dst-keeps-wall-clock-in-berlin",
        "2026-03-28T11:00:00Z",
        "P1D",
        "2026-03-29T10:00:00Z",
        calendar="exact",
        timezone=BERLIN,
    ),
]


def build(case: Case) -> Calendar:
    if case.calendar == "fri-sat-weekend":
        return Calendar(name="fri-sat", rule="eu-1182/71", weekend=frozenset({4, 5}))
    return calendar_for(case.calendar, case.countries, case.timezone)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_due(case: Case) -> None:
    due = build(case).due(at(case.start), case.period)
    assert due == at(case.expected)
    assert due.tzinfo is UTC
    assert due.isoformat().replace("+00:00", "Z") == case.expected


def test_case_ids_are_unique_and_plentiful() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 30


# --- working days -------------------------------------------------------------------------

DE = calendar_for("eu-1182/71", ["DE"])
PLAIN = CALENDARS["eu-1182/71"]


@pytest.mark.parametrize(
    ("calendar", "day", "working"),
    [
        (PLAIN, date(2026, 6, 5), True),  # Friday
        (PLAIN, date(2026, 6, 6), False),  # Saturday
        (PLAIN, date(2026, 6, 7), False),  # Sunday
        (PLAIN, date(2028, 10, 3), True),  # DE holiday, no country listed
        (DE, date(2028, 10, 3), False),
        (DE, date(2027, 3, 29), False),  # Easter Monday
        (DE, date(2026, 12, 24), True),
    ],
)
def test_is_working_day(calendar: Calendar, day: date, working: bool) -> None:
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (PLAIN, date(2026, 6, 4), date(2026, 6, 5)),  # strictly after, Thu -> Fri
        (PLAIN, date(2026, 6, 5), date(2026, 6, 8)),
        (DE, date(2026, 12, 24), date(2026, 12, 28)),
        (DE, date(2027, 3, 25), date(2027, 3, 30)),
    ],
)
def test_next_working_day(calendar: Calendar, day: date, expected: date) -> None:
    assert calendar.next_working_day(day) == expected


def test_holiday_lookups_are_cached_per_country_and_year() -> None:
    lookup: Any = calendar_module._public_holidays
    DE.is_working_day(date(2031, 10, 3))
    before = lookup.cache_info()
    for day in range(1, 29):
        DE.is_holiday(date(2031, 2, day))
    after = lookup.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 28


# --- the stock calendars and calendar_for --------------------------------------------------


def test_stock_calendars() -> None:
    eu = CALENDARS["eu-1182/71"]
    assert (eu.rule, eu.countries, eu.timezone, eu.weekend) == (
        "eu-1182/71",
        (),
        "UTC",
        frozenset({5, 6}),
    )
    assert CALENDARS["exact"].rule == "exact"


def test_calendar_for_normalises_countries_and_keeps_the_stock_calendar() -> None:
    made = calendar_for("eu-1182/71", ["de", " FR ", "DE"], BERLIN)
    assert made.name == "eu-1182/71"
    assert made.countries == ("DE", "FR")
    assert made.timezone == BERLIN
    assert CALENDARS["eu-1182/71"].countries == ()
    assert hash(made) == hash(calendar_for("eu-1182/71", ("DE", "FR"), BERLIN))


def test_calendar_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLAIN.timezone = BERLIN  # type: ignore[misc]


def test_supported_countries_are_alpha2() -> None:
    codes = supported_countries()
    assert {"DE", "FR", "IE", "GB"} <= codes
    assert all(len(code) == 2 for code in codes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1M", Period(months=1)),
        ("P1Y2M3W4D", Period(years=1, months=2, weeks=3, days=4)),
        ("P1M15D", Period(months=1, days=15)),
        ("PT72H", Period(hours=72)),
        ("PT1H30M5S", Period(hours=1, minutes=30, seconds=5)),
    ],
)
def test_parse_period(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "period",
    [
        "",
        "P",
        "PT",
        "1M",
        "p1m",
        "P1.5D",
        "P1,5D",
        "P-1D",
        "P+1D",
        "P1DT12H",
        "PT1D",
        "P1H",
        "P1M2Y",
        " P1M",
        "P1M\n",
        "P0D",
        "PT0H",
        "P0Y0M",
        "P1٣D",  # non-ASCII digit
        "R2/P1D",
    ],
)
def test_bad_periods_are_refused_by_name(period: str) -> None:
    with pytest.raises(ValidationError, match="period") as caught:
        PLAIN.due(at("2026-06-05T10:00:00Z"), period)
    assert repr(period) in str(caught.value)


def test_non_string_period_is_refused() -> None:
    with pytest.raises(ValidationError, match="period"):
        parse_period(30)  # type: ignore[arg-type]


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="no timezone"):
        PLAIN.due(datetime(2026, 6, 5, 10, 0), "P1D")


def test_non_datetime_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a datetime"):
        PLAIN.due(date(2026, 6, 5), "P1D")  # type: ignore[arg-type]


def test_period_beyond_the_date_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="outside the supported date range"):
        PLAIN.due(at("2026-06-05T10:00:00Z"), "P9000Y")
    with pytest.raises(ValidationError, match="outside the supported date range"):
        PLAIN.due(at("2026-06-05T10:00:00Z"), "P4000000D")


@pytest.mark.parametrize("name", ["ecb", "EU-1182/71", "", "working-days"])
def test_unknown_calendar_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="unknown"):
        calendar_for(name)


@pytest.mark.parametrize("code", ["XX", "EU", "DEU", "", "Germany"])
def test_unknown_country_is_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="country"):
        calendar_for("eu-1182/71", [code])


def test_country_string_instead_of_list_is_refused() -> None:
    with pytest.raises(ValidationError, match="list of codes"):
        calendar_for("eu-1182/71", "DE")


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        calendar_for("eu-1182/71", (), "Mars/Olympus")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "working-days"}, "rule"),
        ({"weekend": frozenset({7})}, "weekend"),
        ({"weekend": frozenset(range(7))}, "no working day"),
        ({"countries": ("de",)}, "country"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_calendar_fields_are_refused(kwargs: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"name": "custom", "rule": "eu-1182/71", **kwargs}
    with pytest.raises(ValidationError, match=match):
        Calendar(**fields)


@pytest.mark.parametrize("period", ["P" + "9" * 5000 + "D", "PT1234567890S", "P0000000001D"])
def test_a_period_number_of_more_than_nine_digits_is_refused_not_a_crash(period: str) -> None:
    # 5,000 digits raised Python's ValueError (int max str digits): a traceback from a rule file.
    with pytest.raises(ValidationError, match="has a number of more than 9 digits") as caught:
        parse_period(period)
    assert len(str(caught.value)) < 300
    assert parse_period("PT999999999S").seconds == 999_999_999


def test_combined_period_adds_periods_of_one_form() -> None:
    assert combined_period("P1M", "P2M") == "P3M"
    assert combined_period("P1Y", "P6M") == "P1Y6M"
    assert combined_period("P1W", "P3D") == "P1W3D"
    assert combined_period("PT72H", "PT30M") == "PT72H30M"
    assert combined_period("P1M", "PT12H") is None  # one calendar, one clock period
