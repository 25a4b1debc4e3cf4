"""The rule engine: a rule set evaluated over a stream of events, without a database.

`evaluate` builds every rule's check (:mod:`auditml.policy.build`: each check kind of
:mod:`auditml.policy.checks` from its rule's parameters), then feeds every event, in
(occurred_at, seq) order, to every rule's check and collects the findings;
`fixture_events` reads a rule test's fixture ledger and `run_rule_tests` runs the tests
of a rule set. A rule whose check cannot be built raises ValidationError naming the rule
before any event is read: an evaluation never silently leaves a rule out.

Pure: no I/O except reading fixture files in `fixture_events`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from auditml.collector import collector_paused
from auditml.errors import AuditmlError, ValidationError
from auditml.events.envelope import prepare_event
from auditml.events.jsonl import event_lines
from auditml.events.refs import READ_TYPES, CanonicalReader
from auditml.policy import checks
from auditml.policy.build import BuildContext
from auditml.policy.cel import Condition, compile_condition
from auditml.policy.lineage_state import LineageState, reads_lineage
from auditml.policy.loader import FIXTURE_RECORDED_AT, RuleSet, fixture_file
from auditml.policy.model import Event, EvidenceRef, Outcome, Verdict, parse_ledger_time
from auditml.policy.regimes import Regimes
from auditml.policy.rules import Rule, RuleTest

__all__ = [
    "VERDICT_ORDER",
    "Evaluation",
    "Finding",
    "RuleSummary",
    "TestResult",
    "evaluate",
    "evaluate_rules",
    "fixture_events",
    "overall_verdict",
    "run_rule_tests",
]

#: Worst first: a rule's overall verdict is the first of these any finding has.
VERDICT_ORDER: tuple[Verdict, ...] = ("fail", "pending", "needs_human", "pass", "not_applicable")
SEVERITY_ORDER = ("low", "medium", "high", "critical")

#: Fixture events without occurred_at get FIXTURE_BASE_TIME + n minutes (n = line index).
FIXTURE_BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_FIXTURE_SYSTEM = "fixture"
_FIXTURE_ACTOR = {"id": "fixture", "kind": "service"}


# --------------------------------------------------------------------------- #
# Results                                                                      #
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Finding:
    """One verdict of one rule about one obligation, with the entries it rests on."""

    rule_id: str
    title: str
    severity: str
    references: tuple[str, ...]
    verdict: Verdict
    #: A sentence for people; the fields around it are what machines read.
    message: str
    evidence: tuple[EvidenceRef, ...] = ()
    due: datetime | None = None
    #: The match key the finding concerns: (match_on path, value), see `Outcome.key`.
    key: tuple[tuple[str, str], ...] = ()
    #: Paths the trigger lacks (what to correct in the record).
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "references": list(self.references),
            "verdict": self.verdict,
            "message": self.message,
            "evidence": [{"role": e.role, "seq": e.seq, "id": e.id} for e in self.evidence],
            "due": None if self.due is None else _iso(self.due),
            "key": dict(self.key),
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class RuleSummary:
    """What one rule gave: its overall verdict and how many findings of each verdict."""

    rule_id: str
    title: str
    severity: str
    verdict: Verdict
    triggers: int
    counts: dict[str, int] = field(default_factory=dict)
    #: CEL evaluation errors (counted as false): the rule met data it did not expect.
    condition_errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "verdict": self.verdict,
            "triggers": self.triggers,
            "counts": dict(self.counts),
            "condition_errors": self.condition_errors,
        }


@dataclass(frozen=True)
class Evaluation:
    """The findings of a rule set over a ledger (or a fixture) as of a time."""

    as_of: datetime
    rule_set_sha256: str | None
    findings: tuple[Finding, ...]
    rules: tuple[RuleSummary, ...]
    #: Events fed (those recorded by as_of, in the system if one was named).
    events: int = 0

    def verdict_of(self, rule_id: str) -> Verdict:
        for summary in self.rules:
            if summary.rule_id == rule_id:
                return summary.verdict
        raise KeyError(rule_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_set_sha256": self.rule_set_sha256,
            "as_of": _iso(self.as_of),
            "events": self.events,
            "rules": [summary.to_json() for summary in self.rules],
            "findings": [finding.to_json() for finding in self.findings],
        }


@dataclass(frozen=True)
class TestResult:
    """One rule test: the verdict expected and the verdict the engine gave."""

    __test__ = False  # not a pytest class

    rule_id: str
    name: str
    fixture: str
    expected: str
    got: str
    as_of: datetime | None
    messages: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.expected == self.got

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "name": self.name,
            "fixture": self.fixture,
            "expected": self.expected,
            "got": self.got,
            "ok": self.ok,
            "as_of": None if self.as_of is None else _iso(self.as_of),
            "messages": list(self.messages),
            "error": self.error,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def overall_verdict(verdicts: Iterable[str], *, triggers: int = 0) -> Verdict:
    """fail if any fails; else pending; else needs_human; else pass; else not_applicable.

    A check that reports only violations (forbids_after) gives no finding for a trigger
    that was respected: with triggers judged and no finding, the verdict is pass.
    """
    seen = set(verdicts)
    for verdict in VERDICT_ORDER:
        if verdict in seen:
            return verdict
    return "pass" if triggers > 0 else "not_applicable"


# --------------------------------------------------------------------------- #
# Evaluation                                                                   #
# --------------------------------------------------------------------------- #


#: Passing findings kept per rule (the rest are counted): enough to cite evidence for a
#: pass in a report, while memory grows with problems, not with the ledger.
PASS_SAMPLE = 20
_QUIET = frozenset({"pass", "not_applicable"})


def fits_scope(rule: Rule, condition: Condition | None, registration: Mapping[str, Any]) -> bool:
    """Whether a system's registration is in a rule's scope: its roles, risk classes and
    `applies.condition` (compiled by the caller, with the variable `system`)."""
    applies = rule.applies
    if applies.roles is not None and registration.get("role") not in applies.roles:
        return False
    if applies.risk_classes is not None and registration.get("risk_class") not in (
        applies.risk_classes
    ):
        return False
    return condition is None or condition.evaluate(system=registration)


@dataclass
class _Running:
    rule: Rule
    check: checks.Check
    #: The event types the check judges (None: every type), for the regime and scope.
    triggers: frozenset[str] | None
    not_before: datetime | None
    #: The check's CEL conditions, whose evaluation errors the summary counts.
    conditions: tuple[Condition, ...] = ()
    scope: Condition | None = None
    #: Whether the rule is scoped to registered systems (applies.roles, risk_classes, condition).
    scoped: bool = False
    #: system -> whether its registration fits the rule's applies (cleared on re-registration).
    fits: dict[str, bool] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def admits(self, event: Event, registrations: dict[str, dict[str, Any]]) -> bool:
        """Whether a trigger event is in the rule's time and system scope."""
        if self.not_before is not None and event.occurred_at < self.not_before:
            return False  # the regime did not apply yet when this trigger occurred
        if not self.scoped:
            return True
        fits = self.fits.get(event.system)
        if fits is None:
            fits = self.fits[event.system] = self._fits(registrations.get(event.system))
        return fits

    def _fits(self, registration: dict[str, Any] | None) -> bool:
        return registration is not None and fits_scope(self.rule, self.scope, registration)

    def take(self, outcomes: list[Outcome]) -> None:
        counts, kept = self.counts, self.outcomes
        for outcome in outcomes:
            verdict = outcome.verdict
            seen = counts.get(verdict, 0)
            counts[verdict] = seen + 1
            if verdict not in _QUIET or seen < PASS_SAMPLE:
                kept.append(outcome)
            elif verdict == "pass":
                self.check.terse = True


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def evaluate(
    rules: RuleSet,
    events: Iterable[Event],
    *,
    as_of: datetime,
    system: str | None = None,
) -> Evaluation:
    """Evaluate every rule of `rules` over `events` as of `as_of`.

    `events` must come in (occurred_at, seq) order (`Ledger.policy_events` streams them
    so). Events recorded after `as_of` are left out (the ledger as it stood then); with
    `system`, only that system's events are read. Raises ValidationError if a rule's
    check cannot be built, or the events are out of order.
    """
    places = {rule_id: f"{source.file}:{rule_id}" for rule_id, source in rules.sources.items()}
    return evaluate_rules(
        rules.rules,
        rules.regimes,
        events,
        as_of=as_of,
        system=system,
        rule_set_sha256=rules.sha256,
        places=places,
    )


def _running(rule: Rule, regimes: Regimes, place: str) -> _Running:
    not_before = None
    if rule.applies.regime is not None:
        regime = regimes.regimes.get(rule.applies.regime)
        if regime is None:
            raise ValidationError(f"{place}: regime {rule.applies.regime!r} is not in regimes.yaml")
        not_before = _start_of(regime.applies_from)
    scope = None
    if rule.applies.condition is not None:
        scope = compile_condition(
            rule.applies.condition, variables=("system",), where=f"{place} applies.condition"
        )
    context = BuildContext(regimes, place)
    check = context.build(rule.check)
    return _Running(
        rule,
        check,
        rule.check.trigger_types(),
        not_before,
        tuple(context.conditions),
        scope,
        rule.applies.scoped,
    )


def evaluate_rules(
    rules: Sequence[Rule],
    regimes: Regimes,
    events: Iterable[Event],
    *,
    as_of: datetime,
    system: str | None = None,
    rule_set_sha256: str | None = None,
    places: dict[str, str] | None = None,
) -> Evaluation:
    """`evaluate` over a list of rules (e.g. one rule, for its tests).

    One pass: each event goes only to the rules that read its type, so memory holds the
    open obligations and the findings that are not passes, never the ledger.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValidationError("as_of must be a timezone-aware time")
    running = [
        _running(rule, regimes, (places or {}).get(rule.id, f"rule {rule.id}")) for rule in rules
    ]
    lineage = LineageState() if reads_lineage(rules) else None
    with collector_paused():
        fed = _feed(running, events, as_of, system, lineage)
    return _results(running, as_of, rule_set_sha256, fed)


def _feed(
    running: Sequence[_Running],
    events: Iterable[Event],
    as_of: datetime,
    system: str | None,
    lineage: LineageState | None = None,
) -> int:
    """Feed each event to the rules that read its type; return how many were fed.

    With `lineage`, every event first goes to it, and events that have a lineage are fed
    with it (`Event.lineage`), as the graph stands after them.
    """
    # event type -> [(rule, whether it must pass the rule's regime date and scope)]
    plans: dict[str, list[tuple[_Running, bool]]] = {}

    def plan(event_type: str) -> list[tuple[_Running, bool]]:
        steps = []
        for item in running:
            consumed = item.check.consumes()
            if consumed is not None and event_type not in consumed:
                continue
            judged = item.triggers is None or event_type in item.triggers
            gated = judged and (item.not_before is not None or item.scoped)
            steps.append((item, gated))
        plans[event_type] = steps
        return steps

    scoped = [item for item in running if item.scoped]
    registrations: dict[str, dict[str, Any]] = {}
    # Old ledgers' short references, as if recorded canonical (docs/adr/0012).
    canonical = CanonicalReader()
    fed = 0
    last: tuple[datetime, int] | None = None
    for event in events:
        if event.recorded_at > as_of or (system is not None and event.system != system):
            continue
        order = (event.occurred_at, event.seq)
        if last is not None and order < last:
            raise ValidationError(
                f"events must come in (occurred_at, seq) order: seq {event.seq} came after "
                f"seq {last[1]}"
            )
        last = order
        fed += 1
        if event.type in READ_TYPES:
            payload = canonical.payload(event.type, event.system, event.payload)
            if payload is not event.payload:
                event = dataclasses.replace(event, payload=payload)
        if event.type == "system.registered":
            registrations[event.system] = {**event.payload}
            for item in scoped:
                item.fits.pop(event.system, None)
        if lineage is not None:
            event = lineage.with_lineage(event)
        steps = plans.get(event.type)
        if steps is None:
            steps = plan(event.type)
        for item, gated in steps:
            if gated and not item.admits(event, registrations):
                continue
            outcomes = item.check.feed(event)
            if outcomes:
                item.take(outcomes)
    return fed


def _results(
    running: Sequence[_Running], as_of: datetime, rule_set_sha256: str | None, fed: int
) -> Evaluation:
    findings: list[Finding] = []
    summaries: list[RuleSummary] = []
    for item in running:
        item.take(item.check.finish(as_of))
        rule = item.rule
        references = tuple(reference.label() for reference in rule.references)
        findings.extend(
            Finding(
                rule.id,
                rule.title,
                rule.severity,
                references,
                outcome.verdict,
                outcome.message,
                outcome.evidence,
                outcome.due,
                outcome.key,
                outcome.missing,
            )
            for outcome in item.outcomes
        )
        triggers = item.check.stats.get("triggers", 0)
        errors = sum(condition.stats["errors"] for condition in item.conditions)
        if item.scope is not None:
            errors += item.scope.stats["errors"]
        summaries.append(
            RuleSummary(
                rule.id,
                rule.title,
                rule.severity,
                overall_verdict(item.counts, triggers=triggers),
                triggers,
                dict(item.counts),
                errors,
            )
        )
    return Evaluation(as_of, rule_set_sha256, tuple(findings), tuple(summaries), fed)


# --------------------------------------------------------------------------- #
# Fixtures and rule tests                                                      #
# --------------------------------------------------------------------------- #


def fixture_subject(raw: str) -> str:
    """A deterministic pseudonym of a raw subject (fixtures never touch real keys)."""
    digest = hashlib.sha256(b"auditml-fixture-subject\x00" + raw.encode("utf-8")).digest()
    return "sub_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def fixture_events(path: Path) -> list[Event]:
    """Read a fixture ledger (the `auditml import` JSONL shape) into Events, no database.

    Each line is validated like an import (payload rules apply). Events get seq 0..,
    their id (or ``fixture-<n>``), their occurred_at (or FIXTURE_BASE_TIME + n minutes)
    as occurred_at, and a pseudonymous subject. recorded_at is the line's
    ``recorded_at`` if it has one (a fixture-only key, taken out before the import
    checks; no import accepts it), else the occurred_at.
    """
    events: list[Event] = []
    for number, (label, item) in enumerate(event_lines(path)):
        line = dict(item)
        recorded_text = line.pop(FIXTURE_RECORDED_AT, None)
        prepared = prepare_event(
            line, default_system=_FIXTURE_SYSTEM, default_actor=_FIXTURE_ACTOR, where=label
        )
        occurred = (
            parse_ledger_time(prepared.occurred_at, where=f"{label}: occurred_at")
            if prepared.occurred_at is not None
            else FIXTURE_BASE_TIME + timedelta(minutes=number)
        )
        recorded = occurred
        if recorded_text is not None:
            if not isinstance(recorded_text, str):
                raise ValidationError(f"{label}: recorded_at: expected an ISO 8601 time string")
            recorded = parse_ledger_time(recorded_text, where=f"{label}: recorded_at")
        subject = prepared.subject_token
        if prepared.subject is not None:
            subject = fixture_subject(str(prepared.subject))
        events.append(
            Event(
                seq=number,
                id=prepared.id or f"fixture-{number}",
                type=prepared.type,
                system=prepared.system,
                subject=subject,
                actor=dict(prepared.actor),
                occurred_at=occurred,
                recorded_at=recorded,
                payload=dict(prepared.payload),
            )
        )
    return events


def _test_as_of(test: RuleTest, events: Sequence[Event]) -> datetime:
    if test.as_of is not None:
        return test.as_of.astimezone(UTC)
    latest = max((max(e.occurred_at, e.recorded_at) for e in events), default=FIXTURE_BASE_TIME)
    return latest + timedelta(days=1)


def run_rule_test(rules: RuleSet, rule: Rule, test: RuleTest) -> TestResult:
    """Evaluate `rule` alone over the test's fixture and compare with `expect`."""
    as_of: datetime | None = None
    try:
        events = fixture_events(fixture_file(rules.directory, test.fixture))
        as_of = _test_as_of(test, events)
        source = rules.sources.get(rule.id)
        places = {rule.id: f"{source.file}:{rule.id}"} if source is not None else None
        ordered = sorted(events, key=lambda event: (event.occurred_at, event.seq))
        result = evaluate_rules([rule], rules.regimes, ordered, as_of=as_of, places=places)
    except AuditmlError as exc:
        return TestResult(
            rule.id, test.name, test.fixture, test.expect, "error", as_of, (), str(exc)
        )
    got = result.verdict_of(rule.id)
    messages = tuple(f"{f.verdict}: {f.message}" for f in result.findings)
    return TestResult(rule.id, test.name, test.fixture, test.expect, got, as_of, messages)


def run_rule_tests(rules: RuleSet, *, rule_id: str | None = None) -> list[TestResult]:
    """Run every rule test of the set (or of one rule), in rule id order."""
    selected = rules.rules if rule_id is None else (rules.get(rule_id),)
    return [run_rule_test(rules, rule, test) for rule in selected for test in rule.tests]
