"""The rule file schema: what compliance officers write in ``policies/**.yaml`` (docs/POLICIES.md).

One YAML file holds one rule (or a list of rules). A rule says what the law asks
(``references``, ``description``, ``interpretation``), to whom it applies (``applies``),
how the ledger shows it is met (``check``: one of a closed set of check kinds, each
with its own parameters), and how that is tested (``tests``: fixture ledgers with the
verdict they must get).

The models here check the shape of a rule file, strictly: unknown keys are refused and
values are not coerced (a quoted ``"2"`` is not a number), with one lossless exception:
article, paragraph and point numbers may be written unquoted (``article: 33``).
Checks that need more than one file (event types and fields against the vocabulary,
regime and calendar names against ``regimes.yaml``, fixtures on disk) live in
:mod:`auditml.policy.loader`, which also maps every problem to a file and line.

Field paths name a field of an event as the engine reads it: an envelope field
(``id``, ``type``, ``system``, ``seq``, ``subject``, ``occurred_at``, ``recorded_at``,
``actor.id``, ``actor.kind``, ``actor.role``) or ``payload.<field>``. A bare name that
is not an envelope field is taken as a payload field: ``request_id`` means
``payload.request_id``. Paths are stored in their full form.

Conditions (fields named ``when``, ``where`` and ``require``) are CEL expressions: ``when``
sees the trigger alone (variable ``trigger``), ``where`` sees one trigger/candidate pair
(variables ``trigger`` and ``candidate``), ``require`` the trigger and its system's
registration (``system``). :meth:`Rule.conditions` lists them for lint.

The parameter names here are the names of the check classes' parameters
(:mod:`auditml.policy.checks`), and each check class builds itself from its model
(``from_spec``): what a rule file says is what runs (docs/adr/0014-one-rule-language.md).

Everything here is pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from auditml.errors import ValidationError
from auditml.events.payloads import DURATION_PATTERN, PAYLOAD_MODELS, Timestamp
from auditml.policy.calendar import parse_period

__all__ = [
    "CHECK_KINDS",
    "CONDITION_VARIABLES",
    "ENVELOPE_FIELDS",
    "Applies",
    "Check",
    "DeadlineCheck",
    "Exclusion",
    "ExistsBeforeCheck",
    "Extension",
    "FieldsPresentCheck",
    "ForbidsAfterCheck",
    "HoldsCheck",
    "Loc",
    "MinDistinctCheck",
    "RecordedLateCheck",
    "Reference",
    "RequiresPriorCheck",
    "RetentionCheck",
    "Rule",
    "RuleTest",
    "Tier",
    "dotted",
    "full_path",
    "template_paths",
]

#: Envelope fields a rule may name (docs/FORMAT.md section 3). ``actor`` alone is an object,
#: so only its parts.
ENVELOPE_FIELDS = frozenset(
    {
        "id",
        "type",
        "system",
        "seq",
        "subject",
        "occurred_at",
        "recorded_at",
        "actor.id",
        "actor.kind",
        "actor.role",
    }
)

RULE_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: Regime names, e.g. ``gdpr`` or ``aiact.annex_iii``.
REGIME_NAME_PATTERN = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$"
#: Calendar names, e.g. ``eu`` or ``exact``.
CALENDAR_NAME_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
_SEGMENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# A fixture: a relative path of plain names ending in .jsonl; no "..", no absolute path.
FIXTURE_PATTERN = r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*/)*[A-Za-z0-9_][A-Za-z0-9._-]*\.jsonl$"


def _error(reason: str) -> PydanticCustomError:
    return PydanticCustomError("rule_value", "{reason}", {"reason": reason})


# --------------------------------------------------------------------------- #
# Field types                                                                  #
# --------------------------------------------------------------------------- #


def _number_as_text(value: object) -> object:
    """``article: 33`` means the text "33": numbers of articles are labels, not amounts."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _known_event_type(value: str) -> str:
    if value not in PAYLOAD_MODELS:
        close = difflib.get_close_matches(value, sorted(PAYLOAD_MODELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _error(f"unknown event type {value!r}{hint}; `auditml schema` lists the event types")
    return value


def full_path(path: str) -> str:
    """The full form of a field path: ``request_id`` -> ``payload.request_id``.

    Fields the engine computes keep their names: ``lineage.<x>`` (auditml.policy.
    lineage_state) and ``each`` (the element a ``for_each`` check judges a trigger for).
    """
    if (
        path in ENVELOPE_FIELDS
        or path == "each"
        or path.startswith(("payload.", "actor.", "lineage."))
    ):
        return path
    return f"payload.{path}"


def _field_path(value: str) -> str:
    if not _PATH.fullmatch(value):
        raise _error(
            f"{value!r} is not a field path; write e.g. payload.request_id, actor.id or occurred_at"
        )
    if value == "payload":
        raise _error("name a field of the payload, e.g. payload.request_id")
    return full_path(value)


def template_paths(text: str) -> list[str]:
    """The field paths inside a key template's ``{...}`` placeholders, in order."""
    return [match.group(1).strip() for match in _PLACEHOLDER.finditer(text)]


def _key(value: str) -> str:
    """A join key: a field path, or a template such as ``model:{payload.model}@{payload.version}``."""
    if "{" not in value and "}" not in value:
        return _field_path(value)
    rest = _PLACEHOLDER.sub("", value)
    if "{" in rest or "}" in rest:
        raise _error(f"unbalanced braces in key template {value!r}")
    paths = template_paths(value)
    if not paths:
        raise _error(f"key template {value!r} has no {{field}} placeholder")

    def expand(match: re.Match[str]) -> str:
        return "{" + _field_path(match.group(1).strip()) + "}"

    return _PLACEHOLDER.sub(expand, value)


def _pair(value: object) -> object:
    """A match_on entry: ``name`` (the same field on both sides) or ``[this, that]``."""
    if isinstance(value, str):
        return (value, value)
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise _error(
                "a match_on entry is a field name present on both events, or a pair "
                f"[trigger field, other event's field]; got a list of {len(value)}"
            )
        return tuple(value)
    return value


#: The longest period a rule may name. No obligation runs that long, and a date plus a
#: period past the year 9999 cannot be computed: such a period could never be applied.
MAX_PERIOD_YEARS = 1000


def _applicable_period(value: str) -> str:
    """A period the engine can apply: not mixed (P1DT12H), not zero, at most 1,000 years."""
    try:
        period = parse_period(value)
    except ValidationError as exc:
        raise _error(str(exc)) from None
    seconds = period.hours * 3600 + period.minutes * 60 + period.seconds
    days = period.years * 366 + period.months * 31 + period.weeks * 7 + period.days
    if days + seconds / 86400 > MAX_PERIOD_YEARS * 366:
        raise _error(
            f"period {value!r} is longer than {MAX_PERIOD_YEARS} years; no obligation runs "
            "that long (and dates after the year 9999 cannot be computed)"
        )
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise _error("expected a non-empty CEL expression")
    return value


#: Free text written for people.
Text = Annotated[str, StringConstraints(min_length=1)]
#: A short label: a title, a name.
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: A number or letter of an article, paragraph or point ("33", "5(b)"); written unquoted or not.
Number = Annotated[Label, BeforeValidator(_number_as_text)]
#: An ISO 8601 duration in whole units: PT72H, P30D, P1M, P2Y; one the calendars can apply.
Duration = Annotated[
    str, StringConstraints(pattern=DURATION_PATTERN), AfterValidator(_applicable_period)
]
#: An event type of vocabulary v1 (docs/FORMAT.md section 15).
EventType = Annotated[str, AfterValidator(_known_event_type)]
#: A dotted field path of an event; stored in full form (``payload.x``).
FieldPath = Annotated[str, AfterValidator(_field_path)]
#: A join key: a field path or a ``{path}`` template.
Key = Annotated[str, AfterValidator(_key)]
#: A CEL condition (compiled and checked by lint, see auditml.policy.cel).
Cel = Annotated[str, AfterValidator(_non_blank)]
#: ``[trigger side, other side]``; a single name means the same field on both.
MatchPair = Annotated[tuple[Key, Key], BeforeValidator(_pair)]
MatchOn = Annotated[list[MatchPair], Field(min_length=1)]
RegimeName = Annotated[str, StringConstraints(pattern=REGIME_NAME_PATTERN)]
CalendarName = Annotated[str, StringConstraints(pattern=CALENDAR_NAME_PATTERN)]

Severity = Literal["critical", "high", "medium", "low"]
Law = Literal["GDPR", "AI Act", "internal"]
Role = Literal["provider", "deployer", "both"]
RiskClass = Literal["high", "limited", "minimal", "prohibited"]
Expect = Literal["pass", "fail", "pending", "not_applicable", "needs_human"]


class _Model(BaseModel):
    """Frozen, unknown keys refused, no coercion."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _unique(items: list[Any], what: str) -> None:
    seen: set[Any] = set()
    for item in items:
        if item in seen:
            raise _error(f"{what} {item!r} is listed twice")
        seen.add(item)


def _distinct(items: list[str]) -> list[str]:
    _unique(items, "value")
    return items


def _distinct_types(items: list[str]) -> list[str]:
    _unique(items, "event type")
    return items


#: One or more event types, none twice.
EventTypes = Annotated[list[EventType], Field(min_length=1), AfterValidator(_distinct_types)]


# --------------------------------------------------------------------------- #
# Metadata                                                                     #
# --------------------------------------------------------------------------- #


class Reference(_Model):
    """Where the obligation is written: ``GDPR Art. 33(1)``, ``AI Act Art. 26(7)``."""

    law: Law = Field(description="GDPR, AI Act, or internal (an internal policy)")
    article: Number = Field(description="article number, or the internal policy's section")
    paragraph: Number | None = Field(default=None, description="paragraph, e.g. 1")
    point: Number | None = Field(default=None, description="point, e.g. a or h")
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = Field(
        default=None, description="link to the text, e.g. on EUR-Lex"
    )

    def label(self) -> str:
        """``GDPR Art. 33(1)``, ``AI Act Art. 5(1)(a)``, ``internal ML-7``."""
        if self.law == "internal":
            return f"internal {self.article}"
        text = f"{self.law} Art. {self.article}"
        if self.paragraph is not None:
            text += f"({self.paragraph})"
        if self.point is not None:
            text += f"({self.point})"
        return text


class Applies(_Model):
    """Scope: the rule is evaluated only for systems that fit. An absent list means any.

    With roles, risk_classes or a condition, a trigger is judged only if its system
    (the envelope's ``system``) was registered (``system.registered``) before it, with
    a registration that fits; triggers of other systems are left out.
    """

    regime: RegimeName | None = Field(
        default=None,
        description="name of a regime in regimes.yaml; the rule applies from its date on",
    )
    roles: Annotated[list[Role], Field(min_length=1), AfterValidator(_distinct)] | None = Field(
        default=None, description="the organisation's AI Act role(s) for the system"
    )
    risk_classes: (
        Annotated[list[RiskClass], Field(min_length=1), AfterValidator(_distinct)] | None
    ) = Field(default=None, description="the AI Act risk class(es) of the system")
    condition: Cel | None = Field(
        default=None,
        description="CEL over `system` (the system's registration: name, role, risk_class, "
        "annex_iii_point, purposes, public_authority), e.g. `system.public_authority`",
    )

    @property
    def scoped(self) -> bool:
        """Whether the rule applies only to registered systems that fit."""
        return self.roles is not None or self.risk_classes is not None or self.condition is not None


class RuleTest(_Model):
    """A fixture ledger and the verdict the rule must give on it."""

    name: Label = Field(description="what the case shows, e.g. 'notified after 40 hours'")
    fixture: Annotated[str, StringConstraints(pattern=FIXTURE_PATTERN)] = Field(
        description="JSONL file relative to policies/fixtures/, e.g. <rule-id>/pass.jsonl"
    )
    expect: Expect = Field(description="the verdict expected")
    twin: Annotated[str, StringConstraints(pattern=FIXTURE_PATTERN)] | None = Field(
        default=None,
        description="for a test that does not expect pass: the fixture of this rule's passing "
        "test that differs from this one in exactly one event (the compliant twin)",
    )
    as_of: Timestamp | None = Field(
        default=None,
        description="evaluation time (needed for pending); default: after the last event",
    )


# --------------------------------------------------------------------------- #
# Check kinds                                                                  #
# --------------------------------------------------------------------------- #

Loc = tuple[str | int, ...]


def dotted(loc: Loc) -> str:
    """A location in a rule file as text: ``("check", "match_on", 0, 1)`` ->
    ``check.match_on[0][1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


#: The variables each condition field sees, by field name: ``when`` the trigger alone,
#: ``where`` a trigger/candidate pair, ``require`` the trigger and its system's
#: registration (the payload of its latest system.registered).
CONDITION_VARIABLES: dict[str, tuple[str, ...]] = {
    "when": ("trigger",),
    "where": ("trigger", "candidate"),
    "require": ("trigger", "system"),
}


def _one_way(name: str, example: str) -> Any:
    """A before-validator for an event-type parameter that once also took an object."""

    def refuse_objects(value: object) -> object:
        if isinstance(value, dict):
            raise _error(
                f"write {name} as an event type, e.g. `{name}: {example}`; an object with its "
                "own where or match_on is not supported: the event is matched with the check's "
                "match_on"
            )
        return value

    return BeforeValidator(refuse_objects)


class _Check(_Model):
    """Parameters every check kind has.

    ``trigger`` is one event type; only ``holds`` takes a list, so the other kinds narrow it.
    """

    trigger: EventType | EventTypes = Field(
        description="the event type each evaluation starts from"
    )
    when: Cel | None = Field(
        default=None,
        description="CEL over `trigger`: triggers for which it is false are not judged",
    )
    #: The parameter naming the event type that a top-level ``where`` sees as ``candidate``.
    counterpart_param: ClassVar[str | None] = None

    def trigger_types(self) -> frozenset[str] | None:
        """The event types the check judges (its triggers); None means every type."""
        return frozenset([self.trigger] if isinstance(self.trigger, str) else self.trigger)

    def candidate_type(self, loc: Loc) -> str | None:
        """The event type bound to ``candidate`` in the condition at ``loc`` (below check)."""
        if loc == ("where",):
            name = self.counterpart_param
            return None if name is None else str(getattr(self, name))
        event = getattr(getattr(self, str(loc[0]), None), "event", None)
        return event if isinstance(event, str) else None

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        """(location, event type, field path) of every field path the check names."""
        return iter(())

    def params(self) -> dict[str, Any]:
        """The parameters without ``kind``, as JSON (for display)."""
        return self.model_dump(mode="json", exclude={"kind"}, exclude_none=True)


class _OneTrigger(_Check):
    """The kinds that start from events of one type."""

    trigger: EventType = Field(description="the event type each evaluation starts from")


def _match_paths(
    where: Loc, match_on: list[tuple[str, str]], left: str, right: str
) -> Iterator[tuple[Loc, str, str]]:
    for index, (this, that) in enumerate(match_on):
        for side, event, key in ((0, left, this), (1, right, that)):
            for path in template_paths(key) if "{" in key else [key]:
                yield (*where, index, side), event, path


def _side_paths(
    loc: Loc, match_on: list[tuple[str, str]], side: int, event: str
) -> Iterator[tuple[Loc, str, str]]:
    # An event read with one side of the check's match_on: a problem is reported at the
    # parameter naming the event, where those pairs are put to use.
    for pair in match_on:
        key = pair[side]
        for path in template_paths(key) if "{" in key else [key]:
            yield loc, event, path


class Tier(_Model):
    """One deadline tier: the first tier whose ``when`` holds gives the period."""

    when: Cel | None = Field(
        default=None, description="CEL over `trigger`; omit on the last tier (the fallback)"
    )
    period: Duration = Field(description="the period of this tier, e.g. P10D")


class Extension(_Model):
    """An event that lengthens a deadline, e.g. GDPR Art. 12(3) 'by two further months'."""

    event: EventType = Field(description="the event that extends, e.g. dsr.extended")
    period: Duration = Field(
        description="how much longer: counted together with the original period from the "
        "clock start (P1M + P2M = P3M), so month ends are not lost"
    )
    match_on: MatchOn | None = Field(
        default=None,
        description="[trigger field, extension field] pairs, on the same trigger fields as the "
        "check's match_on; default: the check's match_on",
    )
    where: Cel | None = Field(default=None, description="CEL over `trigger` and `candidate`")
    by_original_deadline: bool = Field(
        default=True,
        description="the extension counts only if recorded before the original deadline",
    )


class Exclusion(_Model):
    """Values that do not count for min_distinct, e.g. the trainer of the approved model."""

    event: EventType = Field(description="the event whose field value is excluded")
    match_on: MatchOn = Field(description="[trigger field, this event's field] pairs")
    field: FieldPath = Field(
        default="actor.id", description="the excluded value's field on that event"
    )


class DeadlineCheck(_OneTrigger):
    """Each trigger is answered by a matching event within a period of a clock start.

    pass: answered in time; fail: answered late or not at all once the deadline has
    passed; pending: not answered and the deadline is after the evaluation time.
    """

    kind: Literal["deadline"]
    clock_field: FieldPath = Field(
        default="occurred_at",
        description="the trigger's time field the period runs from, e.g. payload.aware_at",
    )
    period: Duration | None = Field(default=None, description="the period, e.g. PT72H or P1M")
    tiers: Annotated[list[Tier], Field(min_length=1)] | None = Field(
        default=None, description="periods by condition, instead of period"
    )
    satisfied_by: EventType = Field(description="the event type that meets the obligation")
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the satisfying event)"
    )
    satisfied_clock_field: FieldPath = Field(
        default="occurred_at",
        description="the satisfying event's time field compared with the deadline",
    )
    match_on: MatchOn = Field(description="[trigger field, satisfying event field] pairs")
    extension: Extension | None = Field(default=None, description="how the deadline is extended")
    calendar: CalendarName | None = Field(
        default=None, description="calendar in regimes.yaml; default: its default_calendar"
    )
    counterpart_param: ClassVar[str | None] = "satisfied_by"

    @model_validator(mode="after")
    def _period_or_tiers(self) -> DeadlineCheck:
        if (self.period is None) == (self.tiers is None):
            raise _error("give either period or tiers (not both, not neither)")
        if self.tiers is not None:
            for tier in self.tiers[:-1]:
                if tier.when is None:
                    raise _error("only the last tier may omit `when` (it is the fallback)")
        return self

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield ("clock_field",), self.trigger, self.clock_field
        yield ("satisfied_clock_field",), self.satisfied_by, self.satisfied_clock_field
        yield from _match_paths(("match_on",), self.match_on, self.trigger, self.satisfied_by)
        extension = self.extension
        if extension is None:
            return
        if extension.match_on is not None:
            yield from _match_paths(
                ("extension", "match_on"), extension.match_on, self.trigger, extension.event
            )
        else:
            yield from _side_paths(("extension", "event"), self.match_on, 1, extension.event)


class RequiresPriorCheck(_OneTrigger):
    """Each trigger needs an earlier matching event that was not revoked in between.

    E.g. processing on the basis of consent needs an earlier consent.granted for the
    same subject and purpose with no consent.withdrawn after it (GDPR Art. 7).
    """

    kind: Literal["requires_prior"]
    prior: EventType = Field(description="the event type that must come first")
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the prior event)"
    )
    match_on: MatchOn = Field(description="[trigger field, prior event field] pairs")
    unless_revoked_by: Annotated[
        EventType | None, _one_way("unless_revoked_by", "consent.withdrawn")
    ] = Field(
        default=None,
        description="an event type that cancels the priors it matches (read with the prior's "
        "side of match_on)",
    )
    within: Duration | None = Field(
        default=None, description="the prior must be at most this old at the trigger"
    )
    counterpart_param: ClassVar[str | None] = "prior"

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield from _match_paths(("match_on",), self.match_on, self.trigger, self.prior)
        if self.unless_revoked_by is not None:
            yield from _side_paths(("unless_revoked_by",), self.match_on, 1, self.unless_revoked_by)


class ForbidsAfterCheck(_OneTrigger):
    """After a trigger, no matching forbidden event may occur (until lifted).

    E.g. after consent.withdrawn(S, P), no decision.made on S for P based on consent.
    """

    kind: Literal["forbids_after"]
    forbidden: EventType = Field(description="the event type that must not follow")
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the later event)"
    )
    match_on: MatchOn = Field(description="[trigger field, forbidden event field] pairs")
    grace: Duration | None = Field(
        default=None, description="forbidden events this soon after the trigger are tolerated"
    )
    lifted_by: Annotated[EventType | None, _one_way("lifted_by", "consent.granted")] = Field(
        default=None,
        description="an event type after which the ban ends (read with the trigger's side of "
        "match_on)",
    )
    counterpart_param: ClassVar[str | None] = "forbidden"

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield from _match_paths(("match_on",), self.match_on, self.trigger, self.forbidden)
        if self.lifted_by is not None:
            yield from _side_paths(("lifted_by",), self.match_on, 0, self.lifted_by)


class RetentionCheck(_OneTrigger):
    """A storage period, in one of two directions.

    ``delete_by`` (storage limitation, GDPR Art. 5(1)(e)): for each trigger (the data), a
    covering disposal (``disposed_by``) must occur by clock + period. ``keep_for`` (e.g.
    AI Act Art. 19: logs kept >= 6 months): the trigger is the disposal itself
    (``log.purged``) and ``clock_field`` the time up to which it disposed
    (``payload.up_to``); what it removed must have been at least ``period`` old.
    """

    kind: Literal["retention"]
    mode: Literal["delete_by", "keep_for"] = Field(description="maximum or minimum retention")
    clock_field: FieldPath = Field(
        default="occurred_at", description="the trigger's time field the period runs from"
    )
    period: Duration | None = Field(default=None, description="the retention period, e.g. P6M")
    period_field: FieldPath | None = Field(
        default=None,
        description="instead of period: the trigger's field holding it, e.g. payload.retention "
        "(a trigger without it gets needs_human)",
    )
    disposed_by: EventType | None = Field(
        default=None,
        description="delete_by: the disposal event, e.g. erasure.completed (keep_for: omit; "
        "the trigger is the disposal)",
    )
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the disposal)"
    )
    match_on: MatchOn | None = Field(
        default=None,
        description="[trigger field, disposal field] pairs; without it any disposal in the "
        "same system is considered",
    )
    disposal_covers: FieldPath | None = Field(
        default=None,
        description="the disposal's time field up to which it disposed (e.g. payload.up_to): "
        "it covers triggers whose clock is before that time; without it a matching "
        "disposal covers the trigger",
    )
    calendar: CalendarName | None = Field(
        default=None, description="calendar in regimes.yaml; default: its default_calendar"
    )
    counterpart_param: ClassVar[str | None] = "disposed_by"

    @model_validator(mode="after")
    def _period_or_field(self) -> RetentionCheck:
        if (self.period is None) == (self.period_field is None):
            raise _error("give either period or period_field (not both, not neither)")
        if self.mode == "delete_by" and self.disposed_by is None:
            raise _error("delete_by needs disposed_by: the event that disposes of the data")
        if self.mode == "keep_for":
            extra = [
                name
                for name in ("disposed_by", "where", "match_on", "disposal_covers", "period_field")
                if getattr(self, name) is not None
            ]
            if extra:
                raise _error(
                    f"keep_for judges each disposal (the trigger) on its own: remove "
                    f"{', '.join(extra)}"
                )
        return self

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield ("clock_field",), self.trigger, self.clock_field
        if self.period_field is not None:
            yield ("period_field",), self.trigger, self.period_field
        if self.disposed_by is None:
            return
        if self.disposal_covers is not None:
            yield ("disposal_covers",), self.disposed_by, self.disposal_covers
        if self.match_on is not None:
            yield from _match_paths(("match_on",), self.match_on, self.trigger, self.disposed_by)


class MinDistinctCheck(_OneTrigger):
    """Each trigger needs earlier matching events from at least N distinct values of a field.

    E.g. a deployment needs two approvals by two different people, neither of whom
    trained the model (four-eyes; AI Act Art. 14(5) two-person verification).
    """

    kind: Literal["min_distinct"]
    counterpart: EventType = Field(description="the event type that is counted")
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the counted event)"
    )
    match_on: MatchOn = Field(description="[trigger field, counted event field] pairs")
    at_least: Annotated[int, Field(ge=1)] = Field(description="how many distinct values")
    distinct_by: FieldPath = Field(
        default="actor.id", description="the counted event's field whose values must differ"
    )
    distinct_from: list[Exclusion] = Field(
        default_factory=list,
        description="values that do not count (e.g. the trainer); each list entry excludes "
        "the values of its own event",
    )
    counterpart_param: ClassVar[str | None] = "counterpart"

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield from _match_paths(("match_on",), self.match_on, self.trigger, self.counterpart)
        yield ("distinct_by",), self.counterpart, self.distinct_by
        for index, exclusion in enumerate(self.distinct_from):
            loc: Loc = ("distinct_from", index)
            yield from _match_paths(
                (*loc, "match_on"), exclusion.match_on, self.trigger, exclusion.event
            )
            yield (*loc, "field"), exclusion.event, exclusion.field


class ExistsBeforeCheck(_OneTrigger):
    """Each trigger needs a matching event of another type before it.

    E.g. a signed DPIA before a deployment (GDPR Art. 35), technical documentation
    before placing on the market (AI Act Art. 11). With ``verdict: needs_human`` a
    found event is not a pass: a person must judge its content.
    """

    kind: Literal["exists_before"]
    required: EventType = Field(description="the event type that must exist before")
    where: Cel | None = Field(
        default=None, description="CEL over `trigger` and `candidate` (the earlier event)"
    )
    match_on: MatchOn = Field(description="[trigger field, earlier event field] pairs")
    within: Duration | None = Field(
        default=None, description="the earlier event must be at most this old"
    )
    verdict: Literal["pass", "needs_human"] = Field(
        default="pass", description="the verdict when the earlier event is found"
    )
    for_each: FieldPath | None = Field(
        default=None,
        description="a list field of the trigger, e.g. lineage.inputs: the trigger is judged "
        "once for each element, which `where` and match_on read as `each`",
    )
    counterpart_param: ClassVar[str | None] = "required"

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        yield from _match_paths(("match_on",), self.match_on, self.trigger, self.required)
        if self.for_each is not None:
            yield ("for_each",), self.trigger, self.for_each


class FieldsPresentCheck(_OneTrigger):
    """Each trigger carries the listed fields, present and not empty (e.g. AI Act Art. 12)."""

    kind: Literal["fields_present"]
    fields: Annotated[list[FieldPath], Field(min_length=1)] = Field(
        description="field paths of the trigger that must be present"
    )

    @model_validator(mode="after")
    def _no_repeats(self) -> FieldsPresentCheck:
        _unique(self.fields, "field")
        return self

    def paths(self) -> Iterator[tuple[Loc, str, str]]:
        for index, path in enumerate(self.fields):
            yield ("fields", index), self.trigger, path


class RecordedLateCheck(_Check):
    """Evidence must be recorded soon after it occurred: back-dated evidence is weak evidence.

    Each event of ``types`` (every type when omitted) whose ``recorded_at`` is later than
    ``occurred_at + max_delay`` fails (GDPR Art. 5(2) accountability; AI Act Art. 12
    automatic logging). The delay is exact arithmetic: no working-day shift. This kind
    judges events of several types, so ``trigger`` may only be ``"*"`` (and may be left out).
    """

    kind: Literal["recorded_late"]
    trigger: Literal["*"] = Field(
        default="*",
        description='always "*": the events judged are those of `types`',
    )
    types: EventTypes | None = Field(
        default=None, description="the event types judged; omit for every type"
    )
    max_delay: Duration = Field(
        description="how long after it occurred an event may be recorded, e.g. P7D (exact)"
    )

    def trigger_types(self) -> frozenset[str] | None:
        return None if self.types is None else frozenset(self.types)


class HoldsCheck(_Check):
    """Each trigger must satisfy a condition: a closed list of the law, e.g. GDPR Art. 22(2)
    allows a solely automated decision with legal effect only on contract, law or consent.

    ``require`` is CEL over the trigger and ``system``, the registration of the trigger's
    system (its latest system.registered before the trigger). The finding names the facts
    the condition read. A trigger whose requirement reads ``system`` is not judged when its
    system was never registered.
    """

    kind: Literal["holds"]
    require: Cel = Field(
        description="CEL over `trigger` and `system`: what each trigger must satisfy, e.g. "
        '`trigger.payload.lawful_basis in ["contract", "consent"]`'
    )


Check = Annotated[
    DeadlineCheck
    | RequiresPriorCheck
    | ForbidsAfterCheck
    | RetentionCheck
    | MinDistinctCheck
    | ExistsBeforeCheck
    | FieldsPresentCheck
    | RecordedLateCheck
    | HoldsCheck,
    Field(discriminator="kind"),
]


def _kinds(union: object) -> dict[str, type[_Check]]:
    models: tuple[type[_Check], ...] = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(model.model_fields["kind"].annotation)[0]: model for model in models}


#: The closed set of check kinds (docs/POLICIES.md, Check kinds) and their parameter
#: models, read from the `Check` union: the one list of kinds.
CHECK_KINDS: dict[str, type[_Check]] = _kinds(Check)

# --------------------------------------------------------------------------- #
# The rule                                                                     #
# --------------------------------------------------------------------------- #


class Rule(_Model):
    """One rule: an obligation, its scope, its check and its tests."""

    id: Annotated[str, StringConstraints(pattern=RULE_ID_PATTERN, max_length=100)] = Field(
        description="unique id, lowercase letters, digits and dashes, e.g. gdpr-33-breach-notification"
    )
    title: Label = Field(description="one line saying what must hold")
    severity: Severity = Field(description="critical, high, medium or low")
    references: Annotated[list[Reference], Field(min_length=1)] = Field(
        description="where the obligation is written"
    )
    description: Text = Field(description="what the law asks and what the check looks at")
    remediation: Text = Field(description="what to do when the rule fails")
    interpretation: Text | None = Field(
        default=None,
        description="choices that need a lawyer's decision, each marked [interp]",
    )
    applies: Applies = Field(default_factory=Applies, description="scope; absent means any")
    check: Check = Field(description="the check kind and its parameters")
    tests: list[RuleTest] = Field(
        default_factory=list,
        description="fixture ledgers and expected verdicts; lint needs a pass and a fail",
    )

    @model_validator(mode="after")
    def _unique_test_names(self) -> Rule:
        _unique([test.name for test in self.tests], "test name")
        return self

    def conditions(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        """Every CEL condition: (location, field name (a key of CONDITION_VARIABLES), source)."""
        found: list[tuple[tuple[str | int, ...], str, str]] = []
        _collect_conditions(self.check, ("check",), found)
        return found


def _collect_conditions(
    value: object, loc: tuple[str | int, ...], found: list[tuple[tuple[str | int, ...], str, str]]
) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            item = getattr(value, name)
            if name in CONDITION_VARIABLES and isinstance(item, str):
                found.append(((*loc, name), name, item))
            else:
                _collect_conditions(item, (*loc, name), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect_conditions(item, (*loc, index), found)
