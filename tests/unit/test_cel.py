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
    [("trigger.payload.severity", "str"), ('trigger.payload["severity"]', "str")],
)
def test_non_bool_result_is_a_rule_error(source: str, result: str) -> None:
    cond = compile_condition(source, variables=["trigger"], where="rule x check.where")
    with pytest.raises(ValidationError, match=r"rule x check.where: .*not true or false") as info:
        cond.evaluate(trigger=event(1, severity="high"))
    assert result in str(info.value)


@pytest.mark.parametrize(
    ("source", "result"),
    [
        ("1 + 2", "an int"),
        ("trigger.occurred_at", "a timestamp"),
        ("trigger.payload.severity + 'x'", "a string"),
        ("trigger.payload.a + trigger.payload.b", "a number, text, list, time or duration"),
        ("size(trigger.payload.tags)", "an int"),
        ("trigger.payload.tags.map(t, t == 'x')", "a list"),
        ("trigger.payload.flag ? 'yes' : false", "a string"),
        ("-trigger.seq", "an int"),
        ("['a']", "a list"),
        ("null", "a null"),
        ("trigger.actor.id", "a string"),
    ],
)
def test_a_result_the_syntax_shows_is_not_bool_is_refused_when_compiled(
    source: str, result: str
) -> None:
    with pytest.raises(ValidationError, match="never true or false") as info:
        compile_condition(source, variables=["trigger"], where="rule x check.when")
    assert str(info.value).startswith("rule x check.when: ") and f"gives {result}," in str(
        info.value
    )


def test_field_types_given_by_the_caller_refuse_a_non_bool_field() -> None:
    def vocabulary(variable: str, path: tuple[str, ...]) -> str | None:
        return {("payload", "severity"): "string", ("payload", "flag"): "bool"}.get(path)

    with pytest.raises(ValidationError, match="gives a string, never true or false"):
        compile_condition(
            "trigger.payload.severity", variables=["trigger"], where="r", field_type=vocabulary
        )
    compile_condition(
        "trigger.payload.flag", variables=["trigger"], where="r", field_type=vocabulary
    )


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
    from auditml.policy.rules import CONDITION_VARIABLES

    shipped = Path(__file__).resolve().parents[2] / "policies"
    files = [fixture_events(path) for path in sorted((shipped / "fixtures").rglob("*.jsonl"))]
    sources = {
        (text, CONDITION_VARIABLES[name])
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
                # The second variable: each event as candidate, or each registration's
                # payload as system (a map, not an event: nothing to prune).
                others: list[Event | dict[str, object] | None] = [None]
                if len(variables) == 2:
                    others = list(events)
                if variables[-1] == "system":
                    others = [dict(e.payload) for e in events if e.type == "system.registered"]
                for other in others:
                    bound = {"trigger": trigger}
                    if other is not None:
                        bound[variables[-1]] = other
                    whole = _outcome(
                        program,
                        {
                            k: event_to_cel(v) if isinstance(v, Event) else v
                            for k, v in bound.items()
                        },
                    )
                    errors = condition.stats["errors"]
                    got = condition.evaluate(**bound)
                    assert got == (whole is True), (text, trigger, other, whole)
                    failed = condition.stats["errors"] > errors
                    assert failed == isinstance(whole, type), (text, trigger, other, whole)
                    compared += 1
    assert compared > 1000


# --------------------------------------------------------------------------- #
# Bounds: what a rule file's condition may cost (auditml.policy.cel_syntax)    #
# --------------------------------------------------------------------------- #

TEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"


def nested_maps(depth: int) -> str:
    """The condition that ran for hours: 10**depth elements built by nested map()."""
    body = "true"
    for name in "abcdefgh"[:depth]:
        body = f"{TEN}.map({name}, {body})"
    return f"{body}.size() == 10"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        # A megabyte: compiled and linted as OK before.
        ("trigger.seq > 0" + " && true" * 131_072, "characters long; a condition may have at most"),
        # 100,000 negations: linted as OK before.
        ("!" * 100_000 + "true", "characters long"),
        # 20,000 `+`: the cel package's evaluator overflowed its stack (SIGSEGV).
        (" + ".join(['"a"'] * 20_000) + ' == ""', "characters long"),
        # Within the length bound, too deep for the tree bound.
        (" + ".join(['"a"'] * 40) + ' == ""', "nests more than 32 levels deep"),
        ("!" * 40 + "true", "nests more than 32 levels deep"),
        ("(" * 40 + "true" + ")" * 40, "nests more than 32 levels deep"),
        ("[" * 40 + "]" * 40 + " == []", "nests more than 32 levels deep"),
        ("trigger" + ".a" * 40 + " == 1", "nests more than 32 levels deep"),
        # Comprehensions over what the condition writes or computes: 10**8 elements hung
        # `policy test` before.
        (nested_maps(8), "ranges over a value the condition computes or writes"),
        ("[1, 2].exists(x, x > 1)", "ranges over a value the condition computes or writes"),
        (
            "trigger.payload.tags.map(t, t).exists(t, t == 'x')",
            "ranges over a value the condition computes or writes",
        ),
        (
            "trigger.payload.a.exists(x, trigger.payload.b.exists(y, x == y))",
            "is nested inside another comprehension; at most 1 level is allowed",
        ),
        (
            "trigger.payload.a.exists(x, x.tags.exists(y, y == 'x'))",
            "is nested inside another comprehension",
        ),
        ("exists(trigger.payload.tags, t, t == 'x')", "is a comprehension: write it as a method"),
        ("trigger.payload.tags.all(i, v, v)", "is a comprehension: write it as a method"),
        ("google.protobuf.Int64Value{value: 1} == 1", "message construction"),
    ],
)
def test_conditions_beyond_the_bounds_are_refused_before_the_cel_package_sees_them(
    source: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match="is refused: ") as info:
        compile_condition(source, variables=["trigger"], where="rule r check.when")
    message = str(info.value)
    assert message.startswith("rule r check.when: CEL expression ") and reason in message
    assert len(message) < 1000  # the source is quoted, not copied whole


@pytest.mark.parametrize(
    "source",
    [
        # Within the bounds: long alternatives (&& and || chains are balanced trees),
        # comprehensions over event fields.
        " || ".join(f'trigger.payload.kind == "k{n}"' for n in range(100)),
        "trigger.payload.tags.exists(t, t in ['a', 'b']) && trigger.payload.tags.all(t, t != '')",
        "trigger.payload.a.exists(x, x in trigger.payload.b)",
        "trigger.payload.items.exists(i, i.tags.size() > 0 && 'x' in i.tags)",
        "trigger.payload['tags'].filter(t, t == 'x').size() >= 1",
        "trigger.payload.tags.map(t, t + '!').size() == 1",
        "trigger.payload.tags.map(t, t != '', t + '!').size() == 1",
        "{'a': 1}['a'] == 1 && [1, 2][0] == 1",
        "1u == uint(1) && 0x1F == 31 && 1.5e3 == 1500.0 && .5 == 0.5 && b'x' == bytes('x')",
        "r'\\d' == '\\\\d' && '''a\nb''' != \"\" && \"\"\"x\"\"\" == 'x'",
        "trigger.seq % 2 == 0 ? trigger.seq > 0 : !(trigger.seq < 0)",
        "-trigger.seq < 0 && - -1 == 1  // a comment",
        "type(trigger.seq) == int && dyn(trigger.payload.flag) == true",
    ],
)
def test_conditions_within_the_bounds_compile(source: str) -> None:
    cond = compile_condition(source, variables=["trigger"], where="r")
    assert cond.source == source


def test_syntax_errors_keep_the_cel_packages_words_in_one_short_line() -> None:
    with pytest.raises(ValidationError, match="invalid CEL expression") as info:
        compile_condition("trigger.seq == " + "1 " * 1000, variables=["trigger"], where="r")
    assert "line 1, column" in str(info.value) and len(str(info.value)) < 600
