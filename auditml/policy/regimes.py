"""``policies/regimes.yaml``: when each legal regime applies, and the calendars deadlines use.

Rules name a regime (``applies.regime: aiact.annex_iii``) and, for deadlines, a calendar
(``check.calendar: eu``) instead of writing dates and holiday lists themselves, so one
edit of this file re-dates every rule (docs/POLICIES.md, Time) and the report can print the
dates it used. A date that pending legislation may move (the Digital Omnibus on AI) is
marked ``verify: true`` with a note, and lint lists it.

The file's shape::

    regimes:
      <name>:                   # e.g. gdpr, aiact.annex_iii (lowercase, dots, underscores)
        title: <text>
        law: GDPR | AI Act | internal
        applies_from: <date>    # YYYY-MM-DD
        verify: <bool>          # optional; true = not confirmed, may move [verify]
        note: <text>            # optional
    calendars:
      <name>:                   # e.g. eu, exact (lowercase, digits, dashes)
        rule: eu-1182/71 | exact
        countries: [<ISO 3166-1 alpha-2>, ...]   # optional; public holidays that count
        timezone: <IANA zone>   # optional, default UTC
        note: <text>            # optional
    default_calendar: <name>    # the calendar of deadlines that name none
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from auditml.errors import ValidationError
from auditml.policy.calendar import Calendar, calendar_for
from auditml.policy.rules import CALENDAR_NAME_PATTERN, REGIME_NAME_PATTERN

__all__ = ["CalendarSpec", "Regime", "Regimes", "load_regimes"]

RegimeName = Annotated[str, StringConstraints(pattern=REGIME_NAME_PATTERN)]
CalendarName = Annotated[str, StringConstraints(pattern=CALENDAR_NAME_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Regime(_Model):
    """A body of law, or one phase of it, and the date from which it applies."""

    title: Text = Field(description="what applies, e.g. 'AI Act: Annex III high-risk systems'")
    law: Literal["GDPR", "AI Act", "internal"] = Field(description="the law it belongs to")
    # Lax: YAML gives a date for an unquoted 2026-08-02, a string for a quoted one.
    applies_from: Annotated[date, Field(strict=False)] = Field(
        description="first day the obligations apply (YYYY-MM-DD)"
    )
    verify: bool = Field(
        default=False,
        description="true when the date is not confirmed against the Official Journal [verify]",
    )
    note: Text | None = Field(default=None, description="source, or why the date may move")


class CalendarSpec(_Model):
    """A named deadline calendar: a counting rule, holiday countries and a timezone."""

    rule: Literal["eu-1182/71", "exact"] = Field(
        description="eu-1182/71: Regulation 1182/71 (day of the event not counted, months "
        "clamp to the last day, weekends and holidays roll to the next working day, hours "
        "exact); exact: plain arithmetic"
    )
    countries: list[Country] = Field(
        default_factory=list,
        description="ISO 3166-1 alpha-2 codes whose public holidays are not working days",
    )
    timezone: Text = Field(default="UTC", description="IANA zone in which days are counted")
    note: Text | None = Field(default=None, description="why these countries and zone")

    @model_validator(mode="after")
    def _buildable(self) -> CalendarSpec:
        self.build()
        return self

    def build(self) -> Calendar:
        """The calendar the engine counts with."""
        try:
            return calendar_for(self.rule, self.countries, self.timezone)
        except ValidationError as exc:
            raise PydanticCustomError("calendar", "{reason}", {"reason": str(exc)}) from None


class Regimes(_Model):
    """The whole of regimes.yaml."""

    regimes: Annotated[dict[RegimeName, Regime], Field(min_length=1)] = Field(
        description="regime name -> regime"
    )
    calendars: Annotated[dict[CalendarName, CalendarSpec], Field(min_length=1)] = Field(
        description="calendar name -> calendar"
    )
    default_calendar: CalendarName = Field(description="calendar of deadlines that name none")

    @model_validator(mode="after")
    def _default_exists(self) -> Regimes:
        if self.default_calendar not in self.calendars:
            raise PydanticCustomError(
                "rule_value",
                "{reason}",
                {
                    "reason": f"default_calendar {self.default_calendar!r} is not one of the "
                    f"calendars: {', '.join(sorted(self.calendars))}"
                },
            )
        return self

    def calendar(self, name: str | None = None) -> Calendar:
        """The named calendar (the default one for None), ready for deadline arithmetic."""
        spec = self.calendars.get(self.default_calendar if name is None else name)
        if spec is None:
            raise ValidationError(
                f"calendar {name!r} is not in regimes.yaml; "
                f"use one of {', '.join(sorted(self.calendars))}"
            )
        return spec.build()

    def to_verify(self) -> list[str]:
        """Names of the regimes whose dates are marked [verify]."""
        return [name for name, regime in self.regimes.items() if regime.verify]


def load_regimes(path: Path) -> Regimes:
    """Read and validate a regimes.yaml.

    Raises:
        auditml.policy.loader.PolicyError: (a ValidationError) listing every problem as
            ``FILE:LINE: FIELD: what is wrong``.
    """
    # The YAML-with-line-numbers machinery is shared with the rule loader.
    from auditml.policy.loader import PolicyError, read_regimes

    regimes, problems = read_regimes(path, str(path))
    if problems or regimes is None:
        raise PolicyError(problems, what=str(path))
    return regimes
