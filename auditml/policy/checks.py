"""The closed set of check kinds: pure, streaming judges over events.

Every check is fed the ledger's events in (occurred_at, seq) order, one at a time, and
gives `Outcome`s: `feed(event)` returns the outcomes that just became final, and
`finish(as_of)` returns what is still open at `as_of` (pending, or fail when overdue).
"Earlier" and "after" mean earlier or later in that feed order. A check holds only what
open obligations need (indexes by match key), never the ledger; `open_count` is the
size of those indexes.

Parameters have the names rule files give them (auditml.policy.rules, docs/POLICIES.md),
and each check class builds itself from its rule's parameter model (`from_spec`): the
`kind` of a class is the `kind` of the rule.

Shared conventions:
- `match_on`: a list of (trigger_path, counterpart_path) pairs, or single paths meaning
  the same path on both sides. A path is dotted (`payload.incident_id`, `subject`,
  `actor.id`), or a template with dotted paths in braces, e.g.
  `"model:{payload.model}@{payload.version}"` to meet `payload.target`. Key values are
  compared as strings (JSON text for non-strings).
- `when`: a CEL condition over `trigger` alone: which trigger events the rule applies
  to. Triggers it rejects get no outcome at all.
- `where`: a CEL condition over `trigger` and `candidate`: which counterpart events
  count for a given trigger.
- A trigger that lacks a `match_on` field (or a clock start) cannot be judged by a
  machine: its outcome is `needs_human`, naming the field.
- Messages are sentences for people (:mod:`auditml.policy.wording` words them); what
  machines need beside them is in the Outcome: evidence, due time, the match key with its
  paths, and the paths a trigger lacks.
- Each check counts, in `stats`, the triggers it judged ("triggers") and the outcomes it
  gave by verdict; the CEL conditions count their own evaluation errors.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from auditml.errors import ValidationError
from auditml.policy import wording
from auditml.policy.calendar import CALENDARS, combined_period, parse_period
from auditml.policy.cel import Condition, referenced_fields
from auditml.policy.model import (
    MISSING,
    Event,
    EvidenceRef,
    Outcome,
    Verdict,
    field,
    parse_ledger_time,
)
from auditml.policy.rules import Exclusion

if TYPE_CHECKING:
    from auditml.policy import rules
    from auditml.policy.build import BuildContext

__all__ = [
    "Calendar",
    "Check",
    "Deadline",
    "ExistsBefore",
    "Extension",
    "FieldsPresent",
    "ForEach",
    "ForbidsAfter",
    "Holds",
    "MatchOn",
    "Matcher",
    "MinDistinct",
    "RecordedLate",
    "RequiresPrior",
    "Retention",
    "Tier",
    "check_class",
]

Key = tuple[str, ...]
MatchOn = Sequence[str | tuple[str, str]]


class Calendar(Protocol):
    """What a deadline needs from a calendar (auditml.policy.calendar.Calendar has it)."""

    def due(self, start: datetime, period: str) -> datetime: ...


# ---------------------------------------------------------------------------- keys

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _key_part(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _read(event: Event, path: str) -> Any:
    """Read a plain dotted path or a `{path}` template; MISSING if any part is absent."""
    if "{" not in path:
        return field(event, path)
    parts: list[str] = []
    last = 0
    for match in _TEMPLATE_FIELD.finditer(path):
        value = field(event, match.group(1).strip())
        if value is MISSING:
            return MISSING
        parts.append(path[last : match.start()])
        parts.append(_key_part(value))
        last = match.end()
    parts.append(path[last:])
    return "".join(parts)


_KEYS = threading.local()


def _compute_key(event: Event, paths: tuple[str, ...]) -> Key | str:
    parts: list[str] = []
    for path in paths:
        value = _read(event, path)
        if value is MISSING:
            return path
        parts.append(_key_part(value))
    return tuple(parts)


class Matcher:
    """Builds match keys for the trigger side and the counterpart side of `match_on`."""

    __slots__ = ("counterpart_paths", "trigger_paths")

    def __init__(self, match_on: MatchOn, *, where: str = "match_on") -> None:
        trigger_paths: list[str] = []
        counterpart_paths: list[str] = []
        for item in match_on:
            if isinstance(item, str):
                left = right = item
            elif (
                isinstance(item, tuple | list)
                and len(item) == 2
                and all(isinstance(p, str) and p for p in item)
            ):
                left, right = item[0], item[1]
            else:
                raise ValidationError(
                    f"{where}: each entry must be a path or a [trigger_path, counterpart_path] "
                    f"pair, got {item!r}"
                )
            trigger_paths.append(left)
            counterpart_paths.append(right)
        self.trigger_paths = tuple(trigger_paths)
        self.counterpart_paths = tuple(counterpart_paths)

    def trigger_key(self, event: Event) -> Key | str:
        """The trigger's key, or the first path it lacks."""
        return self._key(event, self.trigger_paths)

    def counterpart_key(self, event: Event) -> Key | str:
        """The counterpart's key, or the first path it lacks."""
        return self._key(event, self.counterpart_paths)

    @staticmethod
    def _key(event: Event, paths: tuple[str, ...]) -> Key | str:
        # Rules fed the same event often join on the same paths (system; subject and
        # purpose): the keys of the event being fed are remembered, per thread.
        memo = _KEYS.__dict__
        if memo.get("event") is not event:
            memo["event"], memo["keys"] = event, {}
        keys: dict[tuple[str, ...], Key | str] = memo["keys"]
        found = keys.get(paths)
        if found is None:
            found = keys[paths] = _compute_key(event, paths)
        return found

    def pairs(self, key: Key) -> tuple[tuple[str, str], ...]:
        """The key with its trigger-side paths: `(("subject", "sub_x"), ...)`."""
        return tuple(zip(self.trigger_paths, key, strict=True))


# ---------------------------------------------------------------------------- text


# Messages are sentences a compliance officer reads (auditml.policy.wording words them);
# what a machine needs beside them (the key, the missing fields, evidence seqs, the due
# time) goes into the Outcome's own fields.


def _opening(event: Event) -> str:
    """What the event says happened, and when, starting a sentence."""
    return f"{wording.happened(event, opening=True)} {wording.on(event.occurred_at)}"


def _nouns(types: Iterable[str]) -> str:
    """`answer`, `erasure or log purge`."""
    return " or ".join(wording.event_noun(t) for t in sorted(types))


def _about(pairs: Sequence[tuple[str, str]], said: str) -> str:
    """` for subject sub_x`: the parts of the key the sentence does not say yet."""
    words = wording.key_words(pairs, said=said)
    return f" for {words}" if words else ""


def _time_of(event: Event, path: str) -> datetime | None:
    value = field(event, path)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_ledger_time(value, where=path)
        except ValidationError:
            return None
    return None


def _need(condition: Condition | None, variables: tuple[str, ...], where: str) -> None:
    if condition is not None and tuple(sorted(condition.variables)) != tuple(sorted(variables)):
        raise ValidationError(
            f"{where}: the condition {condition.source!r} must be compiled with the variables "
            f"{', '.join(variables)}, not {', '.join(condition.variables)}"
        )


_NOTHING: Mapping[str, Any] = MappingProxyType({})
_TERSE_PASS = Outcome("pass", "passed (counted, not kept)")


def _slim(event: Event) -> Event:
    """The event without its content, for a check that only cites it: a check may hold
    one per key for the whole ledger (every decision id), so each byte counts."""
    return Event(
        event.seq,
        event.id,
        sys.intern(event.type),
        sys.intern(event.system),
        None,
        _NOTHING,
        event.occurred_at,
        event.occurred_at,
        _NOTHING,
    )


def _types(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


# ---------------------------------------------------------------------------- base

#: kind -> the class that judges it; each class registers itself by defining `kind`.
_BY_KIND: dict[str, type[Check]] = {}


def check_class(kind: str) -> type[Check]:
    """The class of the check kind `kind` (a rule's ``check.kind``).

    Raises ValidationError for a kind no class judges.
    """
    found = _BY_KIND.get(kind)
    if found is None:
        raise ValidationError(
            f"no check class judges the kind {kind!r}; known: {', '.join(sorted(_BY_KIND))}"
        )
    return found


class Check:
    """Base of the check kinds: the streaming interface and the shared bookkeeping."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in vars(cls):
            _BY_KIND[cls.kind] = cls

    @classmethod
    def from_spec(cls, spec: Any, context: BuildContext) -> Check:
        """The check for a rule's validated parameters (its model in auditml.policy.rules).

        `context` gives the calendars and compiles the conditions, naming the rule and the
        field in errors. Raises ValidationError (a BuildError) if it cannot be built.
        """
        raise NotImplementedError

    def __init__(self) -> None:
        self.stats: dict[str, int] = {"triggers": 0}
        #: Set once the caller keeps no more passes: a pass is then counted, and its
        #: message and evidence are not built (most of the cost of a pass).
        self.terse = False

    def _terse_pass(self) -> Outcome:
        self.stats["pass"] = self.stats.get("pass", 0) + 1
        return _TERSE_PASS

    def feed(self, event: Event) -> list[Outcome]:
        """Take the next event (in (occurred_at, seq) order); return outcomes now final."""
        raise NotImplementedError

    def finish(self, as_of: datetime) -> list[Outcome]:
        """Return the obligations still open at `as_of`: pending, or fail when overdue."""
        return []

    @property
    def open_count(self) -> int:
        """How many entries the check's indexes hold (what memory it needs)."""
        return 0

    def consumes(self) -> frozenset[str] | None:
        """The event types `feed` can act on (None: every type). The engine feeds only
        these, so a rule costs nothing for the events it does not read."""
        return None

    def _outcome(
        self,
        verdict: Verdict,
        message: str,
        evidence: Iterable[EvidenceRef] = (),
        *,
        due: datetime | None = None,
        key: tuple[tuple[str, str], ...] = (),
        missing: tuple[str, ...] = (),
    ) -> Outcome:
        self.stats[verdict] = self.stats.get(verdict, 0) + 1
        return Outcome(verdict, message, tuple(evidence), due, key, missing)

    def _unmatched(self, event: Event, path: str, what: str) -> Outcome:
        return self._outcome(
            "needs_human",
            f"{_opening(event)}, but the record has no {wording.field_words(path)}, so it "
            f"cannot be matched with any {what}; check it by hand and correct the record.",
            [EvidenceRef.of("trigger", event)],
            missing=(path,),
        )

    def _applies(self, when: Condition | None, event: Event) -> bool:
        return when is None or when.evaluate(trigger=event)


# ---------------------------------------------------------------------------- requires_prior


class _Prior(Check):
    """Each trigger needs an earlier `prior` event with the same key, still in force.

    A `prior` stops being in force when an `unless_revoked_by` event with its key comes
    after it (consent.withdrawn after consent.granted); a later `prior` restores it.
    A prior found gives `verdict`. State: the priors in force, by key (with no `where`,
    only the latest). The kinds requires_prior and exists_before.
    """

    def __init__(
        self,
        trigger: str,
        prior: str,
        match_on: MatchOn,
        *,
        unless_revoked_by: str | None = None,
        when: Condition | None = None,
        where: Condition | None = None,
        within: str | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        super().__init__()
        _need(when, ("trigger",), f"{self.kind} when")
        _need(where, ("trigger", "candidate"), f"{self.kind} where")
        if within is not None:
            parse_period(within)
        self.trigger = trigger
        self.prior = prior
        self.matcher = Matcher(match_on, where=f"{self.kind} match_on")
        self.unless_revoked_by = _types(unless_revoked_by)
        self.when = when
        self.where = where
        self.within = within
        self.calendar: Calendar = CALENDARS["exact"] if calendar is None else calendar
        self.verdict: Verdict = "pass"
        # A condition on the prior alone is judged once, when the prior arrives, instead
        # of once per trigger: then only the latest matching prior per key is kept.
        self._judged_on_arrival = where is not None and not where.reads("trigger")
        self._in_force: dict[Key, list[Event]] = {}

    def consumes(self) -> frozenset[str]:
        return frozenset({self.trigger, self.prior}) | self.unless_revoked_by

    @property
    def open_count(self) -> int:
        return sum(len(events) for events in self._in_force.values())

    def feed(self, event: Event) -> list[Outcome]:
        kind = event.type
        if kind == self.prior:
            key = self.matcher.counterpart_key(event)
            if isinstance(key, tuple):
                if self.where is None:
                    self._in_force[key] = [_slim(event)]
                elif self._judged_on_arrival:
                    if self.where.evaluate(trigger=event, candidate=event):
                        self._in_force[key] = [_slim(event)]
                else:
                    self._in_force.setdefault(key, []).append(event)
        if kind in self.unless_revoked_by:
            key = self.matcher.counterpart_key(event)
            if isinstance(key, tuple):
                self._in_force.pop(key, None)
        if kind != self.trigger or not self._applies(self.when, event):
            return []
        self.stats["triggers"] += 1
        return [self._judge(event)]

    def _judge(self, event: Event) -> Outcome:
        key = self.matcher.trigger_key(event)
        if isinstance(key, str):
            return self._unmatched(event, key, wording.event_noun(self.prior))
        stale: Event | None = None
        for prior in reversed(self._in_force.get(key, ())):
            if (
                self.where is not None
                and not self._judged_on_arrival
                and not self.where.evaluate(trigger=event, candidate=prior)
            ):
                continue
            if (
                self.within is not None
                and self.calendar.due(prior.occurred_at, self.within) < event.occurred_at
            ):
                stale = stale or prior
                continue
            verdict: Verdict = self.verdict
            if verdict == "pass" and self.terse:
                return self._terse_pass()
            return self._outcome(
                verdict,
                self._found(event, prior, key, verdict),
                [EvidenceRef.of("trigger", event), EvidenceRef.of("counterpart", prior)],
                key=self.matcher.pairs(key),
            )
        told = _opening(event)
        noun = wording.event_noun(self.prior)
        about = _about(self.matcher.pairs(key), told)
        if stale is not None and self.within is not None:
            return self._outcome(
                "fail",
                f"{told}, but the latest {noun} before it{about} dates from "
                f"{wording.when(stale.occurred_at)}, more than {wording.duration(self.within)} "
                "earlier.",
                [EvidenceRef.of("trigger", event), EvidenceRef.of("counterpart", stale)],
                key=self.matcher.pairs(key),
            )
        accepted = "" if self.where is None else " that the rule accepts"
        if self.unless_revoked_by:
            ended = wording.article(_nouns(self.unless_revoked_by))
            lacking = (
                f"no {noun}{about} in force{accepted}: none was recorded before it, "
                f"or {ended} ended it"
            )
        else:
            lacking = f"no earlier {noun}{about}{accepted}"
        return self._outcome(
            "fail",
            f"{told} with {lacking}.",
            [EvidenceRef.of("trigger", event)],
            key=self.matcher.pairs(key),
        )

    def _found(self, event: Event, prior: Event, key: Key, verdict: Verdict) -> str:
        # The prior may be kept without its content (`_slim`): it is named by its type and
        # time, which the evidence lets a reader find.
        told = _opening(event)
        about = _about(self.matcher.pairs(key), told)
        text = (
            f"{told}, after the {wording.event_noun(self.prior)} of "
            f"{wording.when(prior.occurred_at)}{about}"
        )
        if self.unless_revoked_by:
            text += ", still in force"
        if verdict == "needs_human":
            text += "; a person must judge whether it suffices"
        return text + "."


class RequiresPrior(_Prior):
    """Each trigger needs an earlier `prior` event with the same key, not revoked since by
    an `unless_revoked_by` event with its key."""

    kind = "requires_prior"

    @classmethod
    def from_spec(cls, spec: rules.RequiresPriorCheck, context: BuildContext) -> RequiresPrior:
        return cls(
            spec.trigger,
            spec.prior,
            spec.match_on,
            unless_revoked_by=spec.unless_revoked_by,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
            within=spec.within,
            calendar=context.calendar(None),
        )


class ExistsBefore(_Prior):
    """Each trigger needs an earlier `required` event with the same key (nothing revokes it).

    E.g. model.deployed needs an earlier assessment.completed with kind dpia for its
    target (`where`: `candidate.payload.kind == "dpia"`). With `verdict` needs_human a
    found event is for a person to judge.
    """

    kind = "exists_before"

    def __init__(
        self,
        trigger: str,
        required: str,
        match_on: MatchOn,
        *,
        when: Condition | None = None,
        where: Condition | None = None,
        within: str | None = None,
        calendar: Calendar | None = None,
        verdict: Verdict = "pass",
    ) -> None:
        super().__init__(
            trigger, required, match_on, when=when, where=where, within=within, calendar=calendar
        )
        self.verdict = verdict

    @classmethod
    def from_spec(cls, spec: rules.ExistsBeforeCheck, context: BuildContext) -> Check:
        exists = cls(
            spec.trigger,
            spec.required,
            spec.match_on,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
            within=spec.within,
            calendar=context.calendar(None),
            verdict=spec.verdict,
        )
        if spec.for_each is None:
            return exists
        return ForEach(exists, spec.trigger, spec.for_each, exists.when)


class ForEach(Check):
    """Judges a trigger once for each element of a list it carries (`for_each`).

    "Each dataset the version was trained on, or the version itself, has an earlier bias
    examination" is one obligation per dataset: `for_each: lineage.inputs` hands the inner
    check one copy of the trigger per element, with the element as `each` (`trigger.each`
    in CEL, `each` in match_on). The trigger passes when every element does. A trigger
    whose list is missing or empty cannot be judged by a machine: needs_human, naming
    the field, as for a trigger that lacks a match_on field.
    """

    # No kind of its own: it wraps an exists_before, and is no kind a rule can name.

    def __init__(self, inner: Check, trigger: str, path: str, when: Condition | None) -> None:
        super().__init__()
        self.inner = inner
        self.trigger = trigger
        self.path = path
        #: The rule's `when`, for a trigger with no element (the inner check judges the rest).
        self.when = when
        self.stats = inner.stats

    def feed(self, event: Event) -> list[Outcome]:
        if event.type != self.trigger:
            return self.inner.feed(event)
        items = field(event, self.path)
        if items is MISSING or not isinstance(items, list | tuple) or not items:
            if not self._applies(self.when, event):
                return []
            self.stats["triggers"] += 1
            return [
                self._outcome(
                    "needs_human",
                    f"{_opening(event)}, but the record has no "
                    f"{wording.field_words(self.path)} to judge one by one; record what it "
                    "rests on (e.g. the training of the version), or check it by hand.",
                    [EvidenceRef.of("trigger", event)],
                    missing=(self.path,),
                )
            ]
        out: list[Outcome] = []
        for item in dict.fromkeys(items):  # each element once, in order
            for outcome in self.inner.feed(dataclasses.replace(event, each=item)):
                out.append(self._for(outcome, item))
        return out

    @staticmethod
    def _for(outcome: Outcome, item: object) -> Outcome:
        if not outcome.evidence:  # a pass counted, not kept: nothing to say
            return outcome
        said = wording.thing(item) if isinstance(item, str) else str(item)
        if f"for {said}" in outcome.message:  # the match key said it already
            return outcome
        return dataclasses.replace(outcome, message=f"{outcome.message.rstrip('.')}, for {said}.")

    def finish(self, as_of: datetime) -> list[Outcome]:
        return self.inner.finish(as_of)

    @property
    def open_count(self) -> int:
        return self.inner.open_count

    def consumes(self) -> frozenset[str] | None:
        return self.inner.consumes()


# ---------------------------------------------------------------------------- deadline


@dataclass(frozen=True)
class Extension:
    """An `event` that extends an open deadline by `period`, once (GDPR Art. 12(3)).

    The period counts together with the original one from the clock start (P1M + P2M =
    P3M from received_at, so month ends are not lost); a clock period added to a
    calendar one counts from the due date. With `by_original_deadline` an extension
    counts only if it occurred by the original due date. `match_on` joins the extension
    to the trigger, on any trigger fields (a contest answered by a review of its decision
    is extended by its request id); by default the deadline's own `match_on`.
    `where` (CEL over trigger and candidate) selects the extensions that count.
    """

    event: str
    period: str
    match_on: MatchOn | None = None
    where: Condition | None = None
    by_original_deadline: bool = True
    #: How many extensions an obligation may have.
    limit: ClassVar[int] = 1


@dataclass(frozen=True)
class Tier:
    """A deadline's period for the triggers `when` selects (None: every trigger)."""

    when: Condition | None
    period: str


@dataclass(slots=True)
class _Open:
    trigger: Event
    key: Key
    start: datetime
    period: str
    due: datetime
    extensions: list[Event]
    refused: list[Event]
    #: The trigger's key on the extension's own trigger fields (None: the same as `key`).
    extension_key: Key | None = None


class Deadline(Check):
    """Each trigger must be followed by a `satisfied_by` event with its key by a due date.

    due = calendar.due(clock start, period); the clock start is the trigger's
    `clock_field` (e.g. `payload.aware_at`, `payload.received_at`, default occurred_at),
    and the period comes from the first tier whose `when` holds for the trigger (or has
    none), else `period`, else `period_field` read from the trigger (e.g.
    `payload.retention`; a trigger without it is needs_human). A satisfying event's own
    time is its `satisfied_clock_field` (default occurred_at; e.g. `payload.sent_at`);
    with `disposal_covers` it answers only triggers whose clock start is not after its
    time in that field (a purge up to a date). Satisfied by the due date: pass; later:
    fail, saying how late. Still open at `finish(as_of)`: fail if due < as_of, else
    pending. One satisfying event closes every open obligation with its key that it matches.
    Overdue obligations stay open until satisfied or finished, so that a late answer is
    reported as late. State: open obligations, by key.
    """

    kind = "deadline"

    def __init__(
        self,
        trigger: str,
        satisfied_by: str | Sequence[str],
        match_on: MatchOn,
        *,
        calendar: Calendar,
        period: str | None = None,
        tiers: Sequence[Tier] = (),
        period_field: str | None = None,
        clock_field: str = "occurred_at",
        satisfied_clock_field: str = "occurred_at",
        extension: Extension | None = None,
        when: Condition | None = None,
        where: Condition | None = None,
        disposal_covers: str | None = None,
        period_name: str = "period",
    ) -> None:
        super().__init__()
        if period is None and not tiers and period_field is None:
            raise ValidationError(f"{self.kind}: give a period, tiers or a period_field")
        _need(when, ("trigger",), f"{self.kind} when")
        _need(where, ("trigger", "candidate"), f"{self.kind} where")
        for index, tier in enumerate(tiers):
            _need(tier.when, ("trigger",), f"{self.kind} tiers[{index}].when")
        if extension is not None:
            _need(extension.where, ("trigger", "candidate"), f"{self.kind} extension.where")
        self.trigger = trigger
        self.satisfied_by = _types(satisfied_by)
        self.matcher = Matcher(match_on, where=f"{self.kind} match_on")
        self.calendar = calendar
        self.period = period
        self.tiers = tuple(tiers)
        self.period_field = period_field
        self.clock_field = clock_field
        self.satisfied_clock_field = satisfied_clock_field
        self.extension = extension
        self.extension_matcher = (
            Matcher(extension.match_on, where=f"{self.kind} extension match_on")
            if extension is not None and extension.match_on is not None
            else self.matcher
        )
        self.when = when
        self.where = where
        self.disposal_covers = disposal_covers
        self.period_name = period_name
        self._open: dict[Key, list[_Open]] = {}
        # An extension naming other trigger fields than match_on (a contest keyed by its
        # decision, extended by its request) finds open deadlines through its own index.
        self._by_extension: dict[Key, list[_Open]] | None = (
            {} if self.extension_matcher.trigger_paths != self.matcher.trigger_paths else None
        )

    @classmethod
    def from_spec(cls, spec: rules.DeadlineCheck, context: BuildContext) -> Deadline:
        extension = None
        if spec.extension is not None:
            extension = Extension(
                spec.extension.event,
                spec.extension.period,
                match_on=spec.extension.match_on,
                where=context.condition(spec.extension.where, ("extension", "where")),
                by_original_deadline=spec.extension.by_original_deadline,
            )
        return cls(
            spec.trigger,
            spec.satisfied_by,
            spec.match_on,
            calendar=context.calendar(spec.calendar),
            period=spec.period,
            tiers=[
                Tier(context.condition(tier.when, ("tiers", index, "when")), tier.period)
                for index, tier in enumerate(spec.tiers or ())
            ],
            clock_field=spec.clock_field,
            satisfied_clock_field=spec.satisfied_clock_field,
            extension=extension,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
        )

    @property
    def open_count(self) -> int:
        return sum(len(obligations) for obligations in self._open.values())

    def consumes(self) -> frozenset[str]:
        extension = frozenset() if self.extension is None else frozenset({self.extension.event})
        return frozenset({self.trigger}) | self.satisfied_by | extension

    def feed(self, event: Event) -> list[Outcome]:
        out: list[Outcome] = []
        if event.type in self.satisfied_by and self._open:
            out.extend(self._satisfy(event))
        if self.extension is not None and event.type == self.extension.event and self._open:
            self._extend(event, self.extension)
        if event.type == self.trigger and self._applies(self.when, event):
            self.stats["triggers"] += 1
            refused = self._open_obligation(event)
            if refused is not None:
                out.append(refused)
        return out

    def _period_for(self, event: Event) -> str | None:
        for tier in self.tiers:
            if tier.when is None or tier.when.evaluate(trigger=event):
                return tier.period
        if self.period is not None:
            return self.period
        if self.period_field is not None:
            value = field(event, self.period_field)
            return value if isinstance(value, str) else None
        return None

    def _open_obligation(self, event: Event) -> Outcome | None:
        key = self.matcher.trigger_key(event)
        if isinstance(key, str):
            return self._unmatched(event, key, _nouns(self.satisfied_by))
        period = self._period_for(event)
        if period is None:
            if self.period_field is not None and not self.tiers:
                words = wording.field_words(self.period_field)
                judge = (
                    "how long it may be kept" if self.period_name == "retention" else "its due date"
                )
                reason = (
                    f"the record has no {words}, so a person must judge {judge}; check it by hand"
                )
                return self._cannot("needs_human", event, key, reason, (self.period_field,))
            reason = "none of the rule's periods applies to it, so no deadline applies"
            return self._cannot("not_applicable", event, key, reason)
        start = _time_of(event, self.clock_field)
        if start is None:
            reason = (
                f"the record has no valid {wording.field_words(self.clock_field)}, so its "
                "deadline cannot be computed; check it by hand"
            )
            return self._cannot("needs_human", event, key, reason, (self.clock_field,))
        try:
            due = self.calendar.due(start, period)
        except (ValidationError, ValueError) as exc:
            reason = (
                f"its {self.period_name} {period!r} cannot be applied ({exc}); check it by hand"
            )
            return self._cannot("needs_human", event, key, reason)
        obligation = _Open(event, key, start, period, due, [], [])
        self._open.setdefault(key, []).append(obligation)
        if self._by_extension is not None:
            extension_key = self.extension_matcher.trigger_key(event)
            if isinstance(extension_key, tuple):
                obligation.extension_key = extension_key
                self._by_extension.setdefault(extension_key, []).append(obligation)
        return None

    def _cannot(
        self, verdict: Verdict, event: Event, key: Key, reason: str, missing: tuple[str, ...] = ()
    ) -> Outcome:
        """A trigger no deadline is computed for, and why (built only then: most triggers
        open an obligation and need no words yet)."""
        pairs = self.matcher.pairs(key)
        told = _opening(event)
        return self._outcome(
            verdict,
            f"{told}{_about(pairs, told)}, but {reason}.",
            [EvidenceRef.of("trigger", event)],
            key=pairs,
            missing=missing,
        )

    def _satisfy(self, event: Event) -> list[Outcome]:
        key = self.matcher.counterpart_key(event)
        if isinstance(key, str):
            return []
        open_here = self._open.get(key)
        if not open_here:
            return []
        out: list[Outcome] = []
        remaining: list[_Open] = []
        for obligation in open_here:
            if not self._answers(obligation, event):
                remaining.append(obligation)
                continue
            out.append(self._closed(obligation, event))
            self._forget_extension_key(obligation)
        if remaining:
            self._open[key] = remaining
        else:
            del self._open[key]
        return out

    def _answers(self, obligation: _Open, event: Event) -> bool:
        if self.disposal_covers is not None:
            covered = _time_of(event, self.disposal_covers)
            if covered is None or covered < obligation.start:
                return False
        return self.where is None or self.where.evaluate(
            trigger=obligation.trigger, candidate=event
        )

    def _closed(self, obligation: _Open, event: Event) -> Outcome:
        at = _time_of(event, self.satisfied_clock_field) or event.occurred_at
        if at <= obligation.due and self.terse:
            return self._terse_pass()
        evidence = self._evidence(obligation, event)
        met = wording.happened(event)
        if at <= obligation.due:
            return self._outcome(
                "pass",
                f"{self._terms(obligation, passed=True)}, and {met} {wording.on(at)}, in time.",
                evidence,
                due=obligation.due,
                key=self.matcher.pairs(obligation.key),
            )
        return self._outcome(
            "fail",
            f"{self._terms(obligation, passed=True)}, and {met} {wording.on(at)}, "
            f"{wording.span(at - obligation.due)} late.{self._refusals(obligation)}",
            evidence,
            due=obligation.due,
            key=self.matcher.pairs(obligation.key),
        )

    def _terms(self, obligation: _Open, *, passed: bool) -> str:
        """`The breach INC-7 was reported; the deadline was 11 Jun 2026 16:20 UTC (72
        hours from awareness on 8 Jun 2026 at 16:20 UTC)`."""
        trigger = obligation.trigger
        told = wording.happened(trigger, opening=True)
        told += _about(self.matcher.pairs(obligation.key), told)
        if self.period_name == "period":
            ends = "the deadline was" if passed else "the deadline is"
        else:
            ends = f"the {self.period_name} period {'ended' if passed else 'ends'}"
        start = wording.start_of_clock(self.clock_field, trigger.type)
        return (
            f"{told}; {ends} {wording.when(obligation.due)} "
            f"({wording.duration(obligation.period)} from {start} {wording.on(obligation.start)}"
            f"{self._extended(obligation)})"
        )

    def _evidence(self, obligation: _Open, counterpart: Event | None) -> list[EvidenceRef]:
        refs = [EvidenceRef.of("trigger", obligation.trigger)]
        if counterpart is not None:
            refs.append(EvidenceRef.of("counterpart", counterpart))
        refs.extend(EvidenceRef.of("context", e) for e in obligation.extensions)
        refs.extend(EvidenceRef.of("context", e) for e in obligation.refused)
        return refs

    @staticmethod
    def _extended(obligation: _Open) -> str:
        if not obligation.extensions:
            return ""
        days = wording.listing(wording.day(e.occurred_at) for e in obligation.extensions)
        return f", extended on {days}"

    def _refusals(self, obligation: _Open) -> str:
        refused, extension = obligation.refused, self.extension
        if not refused or extension is None:
            return ""
        many = len(refused) > 1
        noun = wording.event_noun(extension.event, len(refused))
        dates = wording.listing(f"{wording.day(e.occurred_at)} (seq {e.seq})" for e in refused)
        limit = wording.quantity(extension.limit, wording.event_noun(extension.event))
        return (
            f" The {noun} of {dates} did not count: {'they' if many else 'it'} came after "
            f"the deadline, or beyond the limit of {limit}."
        )

    def _forget_extension_key(self, obligation: _Open) -> None:
        if self._by_extension is None or obligation.extension_key is None:
            return
        others = self._by_extension.get(obligation.extension_key, [])
        others[:] = [o for o in others if o is not obligation]
        if not others:
            self._by_extension.pop(obligation.extension_key, None)

    def _extend(self, event: Event, extension: Extension) -> None:
        key = self.extension_matcher.counterpart_key(event)
        if isinstance(key, str):
            return
        index = self._open if self._by_extension is None else self._by_extension
        for obligation in index.get(key, ()):
            if extension.where is not None and not extension.where.evaluate(
                trigger=obligation.trigger, candidate=event
            ):
                continue
            in_time = not extension.by_original_deadline or event.occurred_at <= obligation.due
            if len(obligation.extensions) < extension.limit and in_time:
                combined = combined_period(obligation.period, extension.period)
                if combined is None:
                    obligation.due = self.calendar.due(obligation.due, extension.period)
                else:
                    obligation.due = self.calendar.due(obligation.start, combined)
                obligation.extensions.append(event)
            else:
                obligation.refused.append(event)

    def finish(self, as_of: datetime) -> list[Outcome]:
        out: list[Outcome] = []
        wanted = _nouns(self.satisfied_by)
        for obligations in self._open.values():
            for obligation in obligations:
                evidence = self._evidence(obligation, None)
                due, pairs = obligation.due, self.matcher.pairs(obligation.key)
                if due < as_of:
                    out.append(
                        self._outcome(
                            "fail",
                            f"{self._terms(obligation, passed=True)}, and no {wanted} is "
                            f"recorded: {wording.span(as_of - due)} overdue as of "
                            f"{wording.when(as_of)}.{self._refusals(obligation)}",
                            evidence,
                            due=due,
                            key=pairs,
                        )
                    )
                else:
                    out.append(
                        self._outcome(
                            "pending",
                            f"{self._terms(obligation, passed=False)}, and no {wanted} is "
                            f"recorded yet, with {wording.span(due - as_of)} left as of "
                            f"{wording.when(as_of)}.",
                            evidence,
                            due=due,
                            key=pairs,
                        )
                    )
        return out


# ---------------------------------------------------------------------------- forbids_after


class ForbidsAfter(Check):
    """After a trigger (consent.withdrawn, system.suspended), a `forbidden` event with the
    same key fails, until a `lifted_by` event with the trigger's key (consent.granted
    again) ends the ban. `lifted_by` and the trigger are read with the trigger-side
    paths of `match_on`, `forbidden` with the counterpart side.

    Only violations give outcomes (fail, when the forbidden event arrives): the absence
    of a fail is the pass; `stats["triggers"]` says how many bans were checked.
    State: the bans in force, by key (the latest trigger per key).
    """

    kind = "forbids_after"

    def __init__(
        self,
        trigger: str,
        forbidden: str | Sequence[str],
        match_on: MatchOn,
        *,
        when: Condition | None = None,
        where: Condition | None = None,
        lifted_by: str | None = None,
        grace: str | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        super().__init__()
        _need(when, ("trigger",), f"{self.kind} when")
        _need(where, ("trigger", "candidate"), f"{self.kind} where")
        if grace is not None:
            parse_period(grace)
        self.trigger = trigger
        self.forbidden = _types(forbidden)
        self.matcher = Matcher(match_on, where=f"{self.kind} match_on")
        self.when = when
        self.where = where
        self.lifted_by = _types(lifted_by)
        self.grace = grace
        self.calendar: Calendar = CALENDARS["exact"] if calendar is None else calendar
        self._bans: dict[Key, Event] = {}

    @classmethod
    def from_spec(cls, spec: rules.ForbidsAfterCheck, context: BuildContext) -> ForbidsAfter:
        return cls(
            spec.trigger,
            spec.forbidden,
            spec.match_on,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
            lifted_by=spec.lifted_by,
            grace=spec.grace,
            calendar=context.calendar(None),
        )

    def consumes(self) -> frozenset[str]:
        return frozenset({self.trigger}) | self.forbidden | self.lifted_by

    @property
    def open_count(self) -> int:
        return len(self._bans)

    def feed(self, event: Event) -> list[Outcome]:
        out: list[Outcome] = []
        if event.type in self.forbidden and self._bans:
            key = self.matcher.counterpart_key(event)
            ban = self._bans.get(key) if isinstance(key, tuple) else None
            if (
                ban is not None
                and isinstance(key, tuple)
                and (
                    self.grace is None
                    or event.occurred_at > self.calendar.due(ban.occurred_at, self.grace)
                )
                and (self.where is None or self.where.evaluate(trigger=ban, candidate=event))
            ):
                out.append(
                    self._outcome(
                        "fail",
                        self._violation(event, ban, key),
                        [EvidenceRef.of("trigger", ban), EvidenceRef.of("counterpart", event)],
                        key=self.matcher.pairs(key),
                    )
                )
        if event.type in self.lifted_by:
            key = self.matcher.trigger_key(event)
            if isinstance(key, tuple):
                self._bans.pop(key, None)
        if event.type == self.trigger and self._applies(self.when, event):
            self.stats["triggers"] += 1
            key = self.matcher.trigger_key(event)
            if isinstance(key, str):
                out.append(self._unmatched(event, key, _nouns(self.forbidden)))
            else:
                self._bans[key] = event
        return out

    def _violation(self, event: Event, ban: Event, key: Key) -> str:
        told = _opening(event)
        banned = f"{wording.happened(ban)} {wording.on(ban.occurred_at)}"
        about = _about(self.matcher.pairs(key), told + banned)
        grace = f" after a grace of {wording.duration(self.grace)}" if self.grace else ""
        return f"{told}{about}, after {banned}, which forbids it{grace}."


# ---------------------------------------------------------------------------- retention


class Retention(Check):
    """How long data may, or must, be kept, by `mode`.

    - ``delete_by`` (storage limitation): each trigger (dataset.registered) must see a
      `disposed_by` event (erasure.completed, log.purged) with its key (`match_on`,
      default the system) within `period`, or the period held in the trigger's
      `period_field` (e.g. `payload.retention`; a trigger without it is needs_human),
      counted from `clock_field` (default occurred_at). A deadline in all but name: pass,
      late fail, overdue fail, pending. `disposal_covers` names the disposal's time field
      up to which it disposed (a purge up to a date covers only data from before it);
      `where` can say more about which disposals count.
    - ``keep_for`` (minimum retention): each trigger is itself the purge (log.purged);
      what it removes, up to `clock_field` (e.g. `payload.up_to`), must have been at
      least `period` old when it happened: calendar.due(up_to, period) <= occurred_at,
      else fail, saying how early. Final at once; no state.
    """

    kind = "retention"

    def __init__(
        self,
        trigger: str,
        *,
        mode: str,
        calendar: Calendar,
        period: str | None = None,
        period_field: str | None = None,
        disposed_by: str | None = None,
        match_on: MatchOn | None = None,
        clock_field: str = "occurred_at",
        disposal_covers: str | None = None,
        when: Condition | None = None,
        where: Condition | None = None,
    ) -> None:
        super().__init__()
        if mode not in {"keep_for", "delete_by"}:
            raise ValidationError(f"{self.kind}: mode is delete_by or keep_for, not {mode!r}")
        if mode == "keep_for" and (period is None or disposed_by is not None):
            raise ValidationError(
                f"{self.kind}: keep_for needs a period and no disposed_by (the trigger is "
                "the disposal)"
            )
        if mode == "delete_by" and disposed_by is None:
            raise ValidationError(f"{self.kind}: delete_by needs disposed_by")

        _need(when, ("trigger",), f"{self.kind} when")
        self.trigger = trigger
        self.mode = mode
        self.calendar = calendar
        self.period = period
        self.clock_field = clock_field
        self.when = when
        self._deadline: Deadline | None = None
        if disposed_by is not None:
            self._deadline = Deadline(
                trigger,
                disposed_by,
                ["system"] if match_on is None else match_on,
                calendar=calendar,
                period=period,
                period_field=period_field,
                clock_field=clock_field,
                when=when,
                where=where,
                disposal_covers=disposal_covers,
                period_name="retention",
            )
            self.stats = self._deadline.stats

    @classmethod
    def from_spec(cls, spec: rules.RetentionCheck, context: BuildContext) -> Retention:
        return cls(
            spec.trigger,
            mode=spec.mode,
            calendar=context.calendar(spec.calendar),
            period=spec.period,
            period_field=spec.period_field,
            disposed_by=spec.disposed_by,
            match_on=spec.match_on,
            clock_field=spec.clock_field,
            disposal_covers=spec.disposal_covers,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
        )

    @property
    def open_count(self) -> int:
        return 0 if self._deadline is None else self._deadline.open_count

    def consumes(self) -> frozenset[str]:
        if self._deadline is not None:
            return self._deadline.consumes()
        return frozenset({self.trigger})

    def feed(self, event: Event) -> list[Outcome]:
        if self._deadline is not None:
            return self._deadline.feed(event)
        if event.type != self.trigger or not self._applies(self.when, event):
            return []
        self.stats["triggers"] += 1
        return [self._kept_long_enough(event, self.period or "")]

    def _kept_long_enough(self, event: Event, min_age: str) -> Outcome:
        refs = [EvidenceRef.of("trigger", event)]
        told = _opening(event)
        up_to = _time_of(event, self.clock_field)
        if up_to is None:
            return self._outcome(
                "needs_human",
                f"{told}, but the record has no valid "
                f"{wording.field_words(self.clock_field)}, so the age of what it removed "
                "cannot be computed; check it by hand.",
                refs,
                missing=(self.clock_field,),
            )
        earliest = self.calendar.due(up_to, min_age)
        at = event.occurred_at
        if earliest <= at:
            return self._outcome(
                "pass",
                f"{told}, when everything removed was at least "
                f"{wording.duration(min_age)} old (allowed from {wording.when(earliest)}).",
                refs,
                due=earliest,
            )
        return self._outcome(
            "fail",
            f"{told}, but what was removed had to be kept {wording.duration(min_age)}, until "
            f"{wording.when(earliest)}: {wording.span(earliest - at)} too early.",
            refs,
            due=earliest,
        )

    def finish(self, as_of: datetime) -> list[Outcome]:
        return [] if self._deadline is None else self._deadline.finish(as_of)


# ---------------------------------------------------------------------------- min_distinct


class MinDistinct(Check):
    """Each trigger needs at least `at_least` earlier `counterpart` events with its key whose
    `distinct_by` values (default the actor id) differ, not counting the values of any
    earlier event of a `distinct_from` entry for the trigger (its `field`, default the
    actor id; e.g. model.deployed needs two approval.granted by people other than who ran
    model.trained for that version). State: the counted and excluded events seen, by key.
    """

    kind = "min_distinct"

    def __init__(
        self,
        trigger: str,
        counterpart: str,
        match_on: MatchOn,
        at_least: int,
        *,
        distinct_by: str = "actor.id",
        distinct_from: Sequence[Exclusion] = (),
        when: Condition | None = None,
        where: Condition | None = None,
    ) -> None:
        super().__init__()
        if at_least < 1:
            raise ValidationError(f"{self.kind}: at_least must be at least 1, got {at_least}")
        _need(when, ("trigger",), f"{self.kind} when")
        _need(where, ("trigger", "candidate"), f"{self.kind} where")
        self.trigger = trigger
        self.counterpart = counterpart
        self.matcher = Matcher(match_on, where=f"{self.kind} match_on")
        self.at_least = at_least
        self.distinct_by = distinct_by
        self.distinct_from = tuple(distinct_from)
        self.distinct_from_matchers = tuple(
            Matcher(exclusion.match_on, where=f"{self.kind} distinct_from[{index}].match_on")
            for index, exclusion in enumerate(self.distinct_from)
        )
        self.when = when
        self.where = where
        self._counted: dict[Key, list[Event]] = {}
        # Per distinct_from entry: its key -> excluded value -> the event that excludes it.
        self._excluded: tuple[dict[Key, dict[str, Event]], ...] = tuple(
            {} for _ in self.distinct_from
        )

    @classmethod
    def from_spec(cls, spec: rules.MinDistinctCheck, context: BuildContext) -> MinDistinct:
        return cls(
            spec.trigger,
            spec.counterpart,
            spec.match_on,
            spec.at_least,
            distinct_by=spec.distinct_by,
            distinct_from=spec.distinct_from,
            when=context.condition(spec.when, ("when",)),
            where=context.condition(spec.where, ("where",)),
        )

    @property
    def open_count(self) -> int:
        return sum(len(v) for v in self._counted.values()) + sum(
            len(v) for excluded in self._excluded for v in excluded.values()
        )

    def consumes(self) -> frozenset[str]:
        excluded = frozenset(exclusion.event for exclusion in self.distinct_from)
        return frozenset({self.trigger, self.counterpart}) | excluded

    def feed(self, event: Event) -> list[Outcome]:
        if event.type == self.counterpart:
            key = self.matcher.counterpart_key(event)
            if isinstance(key, tuple):
                self._counted.setdefault(key, []).append(event)
        for exclusion, matcher, excluded in zip(
            self.distinct_from, self.distinct_from_matchers, self._excluded, strict=True
        ):
            if event.type != exclusion.event:
                continue
            key = matcher.counterpart_key(event)
            value = field(event, exclusion.field)
            if isinstance(key, tuple) and value is not MISSING:
                excluded.setdefault(key, {}).setdefault(_key_part(value), event)
        if event.type != self.trigger or not self._applies(self.when, event):
            return []
        self.stats["triggers"] += 1
        return [self._judge(event)]

    def _excluded_for(self, event: Event) -> dict[str, Event]:
        """The values the trigger's distinct_from entries exclude, and the event of each."""
        found: dict[str, Event] = {}
        for matcher, excluded in zip(self.distinct_from_matchers, self._excluded, strict=True):
            key = matcher.trigger_key(event)
            if isinstance(key, tuple):
                for value, excluding in excluded.get(key, {}).items():
                    found.setdefault(value, excluding)
        return found

    def _judge(self, event: Event) -> Outcome:
        key = self.matcher.trigger_key(event)
        if isinstance(key, str):
            return self._unmatched(event, key, wording.event_noun(self.counterpart))
        excluded = self._excluded_for(event)
        distinct: dict[str, Event] = {}
        barred: dict[str, Event] = {}
        for candidate in self._counted.get(key, ()):
            value = field(candidate, self.distinct_by)
            if value is MISSING:
                continue
            if self.where is not None and not self.where.evaluate(
                trigger=event, candidate=candidate
            ):
                continue
            text = _key_part(value)
            if text in excluded:
                barred.setdefault(text, candidate)
            else:
                distinct.setdefault(text, candidate)
        evidence = [EvidenceRef.of("trigger", event)]
        evidence += [EvidenceRef.of("counterpart", e) for e in distinct.values()]
        evidence += [EvidenceRef.of("context", excluded[name]) for name in barred]
        verdict: Verdict = "pass" if len(distinct) >= self.at_least else "fail"
        told = _opening(event)
        pairs = self.matcher.pairs(key)
        found = self._found(sorted(distinct), {name: excluded[name] for name in sorted(barred)})
        need = self._need()
        if verdict == "pass":
            message = f"{told}{_about(pairs, told)} with {found}, meeting the need for {need}."
        else:
            message = f"{told}{_about(pairs, told)} with {found}; it needs {need}."
        return self._outcome(verdict, message, evidence, key=pairs)

    def _found(self, counted: list[str], barred: dict[str, Event]) -> str:
        """`one approval (risk-carol)`, `no approval besides one by its trainer (ana)`."""
        found = wording.quantity(len(counted), wording.event_noun(self.counterpart))
        if counted:
            found += f" ({wording.listing(counted)})"
        if barred:
            types = sorted({excluding.type for excluding in barred.values()})
            whose = " or ".join(wording.doer(kind, len(barred)) for kind in types)
            those = "one" if len(barred) == 1 else "those"
            found += f" besides {those} by {whose} ({wording.listing(barred)})"
        return found

    def _need(self) -> str:
        """`approvals from two people other than its trainer`."""
        plural = wording.event_noun(self.counterpart, 2)
        if self.distinct_by != "actor.id":
            differing = wording.field_words(self.distinct_by)
            return f"{wording.number(self.at_least)} {plural} with different {differing}"
        people = wording.quantity(self.at_least, "person", "people")
        if not self.distinct_from:
            return f"{plural} from {people}"
        doers = " or ".join(wording.doer(exclusion.event) for exclusion in self.distinct_from)
        return f"{plural} from {people} other than {doers}"


# ---------------------------------------------------------------------------- recorded_late


class RecordedLate(Check):
    """Each event of `types` (every type when None) that `when` selects must be recorded
    within `max_delay` of when it occurred: recorded_at <= calendar.due(occurred_at,
    max_delay), by default on the exact calendar (plain arithmetic, no working-day shift).
    Back-dated evidence is weak evidence.

    Only violations give outcomes (fail, saying how late): the absence of a fail is the
    pass; `stats` counts the events judged ("triggers") and those in time ("pass").
    Final at once; no state.
    """

    kind = "recorded_late"

    def __init__(
        self,
        types: Iterable[str] | None,
        max_delay: str,
        *,
        when: Condition | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        super().__init__()
        parse_period(max_delay)
        _need(when, ("trigger",), f"{self.kind} when")
        self.types = None if types is None else frozenset(types)
        if self.types is not None and not self.types:
            raise ValidationError(f"{self.kind}: list at least one event type, or None for all")
        self.max_delay = max_delay
        self.when = when
        self.calendar: Calendar = CALENDARS["exact"] if calendar is None else calendar

    @classmethod
    def from_spec(cls, spec: rules.RecordedLateCheck, context: BuildContext) -> RecordedLate:
        return cls(spec.types, spec.max_delay, when=context.condition(spec.when, ("when",)))

    def consumes(self) -> frozenset[str] | None:
        return self.types

    def feed(self, event: Event) -> list[Outcome]:
        if self.types is not None and event.type not in self.types:
            return []
        if not self._applies(self.when, event):
            return []

        self.stats["triggers"] += 1
        limit = self.calendar.due(event.occurred_at, self.max_delay)
        if event.recorded_at <= limit:
            self.stats["pass"] = self.stats.get("pass", 0) + 1
            return []
        late = wording.span(event.recorded_at - event.occurred_at)
        return [
            self._outcome(
                "fail",
                f"{_opening(event)}, but this was recorded only "
                f"{wording.on(event.recorded_at)}, {late} later; the limit is "
                f"{wording.duration(self.max_delay)}.",
                [EvidenceRef.of("trigger", event)],
                due=limit,
            )
        ]


# ---------------------------------------------------------------------------- fields_present


class FieldsPresent(Check):
    """Each `trigger` event (that `when` selects) must carry every path in `fields`,
    non-empty (a JSON null, "", [] or {} counts as missing). Final at once; no state."""

    kind = "fields_present"

    def __init__(
        self, trigger: str, fields: Sequence[str], *, when: Condition | None = None
    ) -> None:
        super().__init__()
        if not fields:
            raise ValidationError(f"{self.kind}: list at least one field")
        _need(when, ("trigger",), f"{self.kind} when")
        self.trigger = trigger
        self.fields = tuple(fields)
        self.when = when

    @classmethod
    def from_spec(cls, spec: rules.FieldsPresentCheck, context: BuildContext) -> FieldsPresent:
        return cls(spec.trigger, spec.fields, when=context.condition(spec.when, ("when",)))

    def consumes(self) -> frozenset[str]:
        return frozenset({self.trigger})

    def feed(self, event: Event) -> list[Outcome]:
        if event.type != self.trigger or not self._applies(self.when, event):
            return []

        self.stats["triggers"] += 1
        missing = [path for path in self.fields if _empty(field(event, path))]
        refs = [EvidenceRef.of("trigger", event)]
        if missing:
            lacking = wording.listing((wording.field_words(p) for p in missing), "or")
            return [
                self._outcome(
                    "fail",
                    f"{_opening(event)}, but the record has no {lacking}.",
                    refs,
                    missing=tuple(missing),
                )
            ]
        having = wording.listing(wording.field_words(p) for p in self.fields)
        return [self._outcome("pass", f"{_opening(event)}, with its {having} recorded.", refs)]


def _empty(value: Any) -> bool:
    return (
        value is MISSING
        or value is None
        or (isinstance(value, str | list | dict | tuple) and len(value) == 0)
    )


# ---------------------------------------------------------------------------- holds

_REGISTRATION = "system.registered"


@dataclass(slots=True)
class _Registration:
    """A system's latest registration, its payload as CEL sees it, and, for a requirement
    on the registration alone, the answer once known: (held, could not be evaluated)."""

    event: Event
    payload: dict[str, Any]
    answer: tuple[bool, bool] | None = None


def _fact_words(value: Any) -> str:
    """``is legitimate interests``, ``are 'a' and 'b'``, ``is empty``, ``is not recorded``."""
    if value is MISSING:
        return "is not recorded"
    if isinstance(value, list | tuple):
        if not value:
            return "is empty"
        return "are " + wording.listing(f"'{_key_part(v)}'" for v in value)
    # Closed values read as words (legitimate_interests); other values as they are.
    if isinstance(value, str) and re.fullmatch(r"[a-z]+(?:_[a-z]+)+", value):
        return "is " + value.replace("_", " ")
    return f"is {_key_part(value)}"


class Holds(Check):
    """Each event of the `trigger` type(s) that `when` selects must satisfy `require`: a
    closed list of the law (GDPR Art. 22(2): a solely automated decision with legal effect
    rests on contract, law or consent) or a fact that must not be (AI Act Art. 5).

    `require` is CEL over `trigger` and `system`: the payload of the latest
    system.registered of the trigger's system. A trigger whose requirement reads `system`
    while its system was never registered is not_applicable (as for a rule scoped to
    registered systems). A finding names the facts the requirement read; an evaluation
    error (a field missing) is needs_human. Final at once; state: the latest registration
    of each system, when `require` reads `system` (a requirement on the registration alone
    is evaluated once per registration, not per trigger).
    """

    kind = "holds"

    def __init__(
        self,
        trigger: str | Sequence[str],
        require: Condition,
        *,
        when: Condition | None = None,
    ) -> None:
        super().__init__()
        _need(when, ("trigger",), f"{self.kind} when")
        _need(require, ("trigger", "system"), f"{self.kind} require")
        self.trigger = _types(trigger)
        if not self.trigger:
            raise ValidationError(f"{self.kind}: name at least one trigger event type")
        self.require = require
        self.when = when
        # The facts a finding names: the fields the requirement reads.
        self._facts = sorted(referenced_fields(require.source, ("trigger", "system")))
        self._registrations: dict[str, _Registration] | None = (
            {} if require.reads("system") else None
        )
        self._on_registration_alone = not require.reads("trigger")

    @classmethod
    def from_spec(cls, spec: rules.HoldsCheck, context: BuildContext) -> Holds:
        return cls(
            spec.trigger,
            context.condition(spec.require, ("require",)),
            when=context.condition(spec.when, ("when",)),
        )

    @property
    def open_count(self) -> int:
        return 0 if self._registrations is None else len(self._registrations)

    def consumes(self) -> frozenset[str]:
        registrations = frozenset() if self._registrations is None else {_REGISTRATION}
        return self.trigger | registrations

    def feed(self, event: Event) -> list[Outcome]:
        if self._registrations is not None and event.type == _REGISTRATION:
            self._registrations[event.system] = _Registration(event, dict(event.payload))
        if event.type not in self.trigger or not self._applies(self.when, event):
            return []
        self.stats["triggers"] += 1
        return [self._judge(event)]

    def _judge(self, event: Event) -> Outcome:
        registration = None
        if self._registrations is not None:
            registration = self._registrations.get(event.system)
            if registration is None:
                return self._outcome(
                    "not_applicable",
                    f"{_opening(event)}, but its system {event.system} was not registered "
                    "before it, so the rule does not judge it.",
                    [EvidenceRef.of("trigger", event)],
                )
        system = {} if registration is None else registration.payload
        if registration is not None and self._on_registration_alone:
            if registration.answer is None:
                registration.answer = self._evaluate(event, system)
            held, failed = registration.answer
        else:
            held, failed = self._evaluate(event, system)
        if held and self.terse:
            return self._terse_pass()  # most triggers: no message, no evidence to build
        refs = [EvidenceRef.of("trigger", event)]
        if registration is not None:
            refs.append(EvidenceRef.of("context", registration.event))
        facts = self._facts_of(event, system)
        told = _opening(event)
        if held:
            return self._outcome("pass", f"{told}, and it meets the requirement: {facts}.", refs)
        if failed:
            return self._outcome(
                "needs_human",
                f"{told}, but the requirement could not be evaluated ({facts}); check it by "
                "hand and correct the record.",
                refs,
            )
        return self._outcome(
            "fail", f"{told}, and it does not meet the requirement: {facts}.", refs
        )

    def _evaluate(self, event: Event, system: dict[str, Any]) -> tuple[bool, bool]:
        """Whether the requirement holds, and whether it could not be evaluated."""
        errors = self.require.stats["errors"]
        held = self.require.evaluate(trigger=event, system=system)
        return held, self.require.stats["errors"] > errors

    def _facts_of(self, event: Event, system: Mapping[str, Any]) -> str:
        """The fields the requirement read, in words: ``its lawful basis is legitimate
        interests; its system's risk class is prohibited``."""
        shown: list[str] = []
        for fact in self._facts:
            variable, _, path = fact.partition(".")
            if variable == "trigger":
                value = field(event, path)
                name = "its " + path.removeprefix("payload.").replace("lineage.", "data's ", 1)
            else:
                value = system.get(path, MISSING)
                name = "its system's " + path
            shown.append(f"{name.replace('_', ' ').replace('.', ' ')} {_fact_words(value)}")
        return "; ".join(shown) or "it reads no field"
