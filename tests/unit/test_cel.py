"""CEL conditions: compile checks, evaluation over events, errors, field references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auditml.errors import ValidationError
from auditml.policy.cel import access_paths, compile_condition, event_to_cel, referenced_fields
from auditml.policy.model import Event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PAIR = ("trigger", "candidate")


def event(
    seq: int,
    type_: str = "incident.reported",
    *,
    at: datetime = T0,
    actor: str = "ana",
    subject: str | None = None,
    **payload: object,
) -> Event:
    return Event(
        seq, f"e{seq}", type_, "credit", subject, {"id": actor, "kind": "human"}, at, at, payload
    )


def test_payload_field_comparison() -> None:
    cond = compile_condition(
        'trigger.payload.severity == "high"', variables=["trigger"], where="r1"
    )
    assert cond.evaluate(trigger=event(1, severity="high")) is True
    assert cond.evaluate(trigger=event(2, severity="low")) is False
    assert cond.stats == {"evaluated": 2, "errors": 0}


def test_pair_condition_on_actors() -> None:
    cond = compile_condition("candidate.actor.id != trigger.actor.id", variables=PAIR, where="r")
    assert cond.evaluate(trigger=event(1, actor="ana"), candidate=event(2, actor="bob"))
    assert not cond.evaluate(trigger=event(1, actor="ana"), candidate=event(2, actor="ana"))


def test_timestamps_compare_and_take_durations() -> None:
    later = event(2, at=T0 + timedelta(hours=80))
    cond = compile_condition(
        "candidate.occurred_at > trigger.occurred_at", variables=PAIR, where="r"
    )
    assert cond.evaluate(trigger=event(1), candidate=later)
    assert not cond.evaluate(trigger=later, candidate=event(1))
    within = compile_condition(
        'candidate.occurred_at <= trigger.occurred_at + duration("72h")', variables=PAIR, where="r"
    )
    assert not within.evaluate(trigger=event(1), candidate=later)
    assert within.evaluate(trigger=event(1), candidate=event(3, at=T0 + timedelta(hours=72)))


def test_payload_times_parse_with_timestamp() -> None:
    cond = compile_condition(
        "timestamp(trigger.payload.aware_at) < trigger.occurred_at",
        variables=["trigger"],
        where="r",
    )
    assert cond.evaluate(trigger=event(1, aware_at="2026-03-01T10:00:00.000000Z"))
    assert not cond.evaluate(trigger=event(1, aware_at="2026-03-03T10:00:00.000000Z"))


def test_missing_field_is_false_and_counted() -> None:
    cond = compile_condition('trigger.payload.severity == "high"', variables=["trigger"], where="r")
    assert cond.evaluate(trigger=event(1)) is False
    assert cond.stats == {"evaluated": 1, "errors": 1}
    assert cond.last_error is not None and "severity" in cond.last_error
    guarded = compile_condition(
        'has(trigger.payload.severity) && trigger.payload.severity == "high"',
        variables=["trigger"],
        where="r",
    )
    assert guarded.evaluate(trigger=event(1)) is False
    assert guarded.stats["errors"] == 0


def test_type_mismatch_is_false_and_counted() -> None:
    cond = compile_condition("trigger.payload.severity > 3", variables=["trigger"], where="r")
    assert cond.evaluate(trigger=event(1, severity="high")) is False
    assert cond.stats["errors"] == 1


def test_subject_present_only_when_set() -> None:
    cond = compile_condition("has(trigger.subject)", variables=["trigger"], where="r")
    assert cond.evaluate(trigger=event(1, subject="sub_x"))
    assert not cond.evaluate(trigger=event(1))
    assert "subject" not in event_to_cel(event(1))


@pytest.mark.parametrize(
    ("source", "result"),
    [("trigger.payload.severity", "str"), ("1 + 2", "int"), ("trigger.occurred_at", "timestamp")],
)
def test_non_bool_result_is_a_rule_error(source: str, result: str) -> None:
    cond = compile_condition(source, variables=["trigger"], where="rule x check.where")
    with pytest.raises(ValidationError, match=r"rule x check.where: .*not true or false") as info:
        cond.evaluate(trigger=event(1, severity="high"))
    assert result in str(info.value)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("trigger.payload.severity ==", "invalid CEL expression"),
        ("trigger.payload.severity == 'a", "invalid CEL expression"),
        ('secret.payload.x == "a"', "unknown variable"),
        ('candidate.payload.x == "a"', "unknown variable"),
        ("open(trigger.id) == 1", "unknown function"),
        ("trigger.id.lower() == 'x'", "unknown function"),
        ("   ", "non-empty"),
    ],
)
def test_invalid_sources_are_refused_naming_the_place(source: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as info:
        compile_condition(source, variables=["trigger"], where="rule gdpr-33 check.where")
    assert str(info.value).startswith("rule gdpr-33 check.where: ")


@pytest.mark.parametrize(
    "source",
    [
        'trigger.payload.tags.exists(t, t == "x")',
        "trigger.payload.tags.all(t, size(t) > 0)",
        'trigger.payload.name.startsWith("a") && trigger.payload.name.matches("^a")',
        "type(trigger.seq) == int",
        "trigger.occurred_at.getDayOfWeek() == 1",
        'trigger.payload["severity"] in ["high", "critical"]',
    ],
)
def test_standard_functions_and_macros_compile_and_run(source: str) -> None:
    cond = compile_condition(source, variables=["trigger"], where="r")
    value = cond.evaluate(trigger=event(1, tags=["x"], name="abc", severity="high"))
    assert value is True
    assert cond.stats["errors"] == 0


def test_unbound_variable_at_evaluation_is_refused() -> None:
    cond = compile_condition("candidate.seq > trigger.seq", variables=PAIR, where="r")
    with pytest.raises(ValidationError, match="needs exactly the variables"):
        cond.evaluate(trigger=event(1))


def test_referenced_fields() -> None:
    source = (
        'trigger.payload.severity == "candidate.payload.fake" && '
        'candidate.payload["kind"].startsWith("dp") && candidate.actor.id != trigger.actor.id && '
        "trigger.payload.tags.exists(t, t.size > 1) && has(candidate.subject) && "
        "candidate.occurred_at > trigger.occurred_at"
    )
    assert referenced_fields(source) == {
        "trigger.payload.severity",
        "candidate.payload.kind",
        "candidate.actor.id",
        "trigger.actor.id",
        "trigger.payload.tags",
        "candidate.subject",
        "candidate.occurred_at",
        "trigger.occurred_at",
    }
    assert referenced_fields("1 == 1") == set()


# --------------------------------------------------------------------------- #
# Events handed over pruned to what the expression reads                       #
# --------------------------------------------------------------------------- #


def _outcome(program: object, context: dict[str, object]) -> object:
    try:
        return program.execute(context)  # type: ignore[attr-defined]
    except Exception as exc:
        return type(exc)


def test_access_paths_are_conservative() -> None:
    paths = access_paths(
        'trigger.payload.kind == "breach" && has(trigger.payload.outcome) '
        '&& candidate.payload["to"] == "x" && trigger.payload.kind.startsWith("b")',
        PAIR,
    )
    assert paths == {
        "trigger": (("payload", "kind"), ("payload", "outcome")),
        "candidate": (("payload", "to"),),
    }
    # Used whole, or through an expression index: everything is handed over.
    assert access_paths("trigger == candidate", PAIR) == {"trigger": None, "candidate": None}
    assert access_paths("size(trigger) > 0", ("trigger",)) == {"trigger": None}
    assert access_paths("trigger.payload[trigger.id] == 1", ("trigger",)) == {
        "trigger": (("id",), ("payload",))
    }
    # A prefix covers the longer path; string literals are not paths.
    assert access_paths(
        'trigger.payload == {} || trigger.payload.x == "trigger.id"', ("trigger",)
    ) == {"trigger": (("payload",),)}


def test_pruned_events_answer_as_whole_events_for_every_shipped_condition() -> None:
    from pathlib import Path

    from auditml.policy.engine import fixture_events
    from auditml.policy.loader import load_rules

    shipped = Path(__file__).resolve().parents[2] / "policies"
    files = [fixture_events(path) for path in sorted((shipped / "fixtures").rglob("*.jsonl"))]
    sources = {
        (text, ("trigger",) if name == "when" else PAIR)
        for rule in load_rules(shipped).rules
        for _, name, text in rule.conditions()
    }
    sources.add(
        ("has(trigger.payload.outcome) && trigger.payload.outcome == 'death'", ("trigger",))
    )
    compared = 0
    for text, variables in sorted(sources):
        condition = compile_condition(text, variables=variables, where="test")
        program = condition._program
        for events in files:
            for trigger in events:
                for candidate in events if len(variables) == 2 else [None]:
                    bound = (
                        {"trigger": trigger}
                        if candidate is None
                        else {"trigger": trigger, "candidate": candidate}
                    )
                    whole = _outcome(program, {k: event_to_cel(v) for k, v in bound.items()})
                    errors = condition.stats["errors"]
                    got = condition.evaluate(**bound)
                    assert got == (whole is True), (text, trigger, candidate, whole)
                    failed = condition.stats["errors"] > errors
                    assert failed == isinstance(whole, type), (text, trigger, candidate, whole)
                    compared += 1
    assert compared > 1000
