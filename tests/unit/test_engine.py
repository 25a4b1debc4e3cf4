"""The rule engine over hand-built events: the shipped rules, as_of, regimes, rule tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditml.errors import ValidationError
from auditml.policy.build import BuildError, build_check
from auditml.policy.engine import (
    PASS_SAMPLE,
    evaluate,
    fixture_events,
    overall_verdict,
    run_rule_tests,
)
from auditml.policy.loader import RuleSet, load_rules
from auditml.policy.model import Event
from auditml.policy.rules import Rule

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(SHIPPED)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ev(
    seq: int,
    type: str,
    occurred: str,
    payload: dict[str, Any],
    *,
    actor: str = "someone",
    recorded: str | None = None,
    system: str = "credit",
) -> Event:
    return Event(
        seq=seq,
        id=f"e{seq}",
        type=type,
        system=system,
        subject=None,
        actor={"id": actor, "kind": "human"},
        occurred_at=at(occurred),
        recorded_at=at(recorded or occurred),
        payload=payload,
    )


def breach(seq: int = 0, occurred: str = "2026-03-02T10:00:00Z", kind: str = "breach") -> Event:
    return ev(
        seq,
        "incident.reported",
        occurred,
        {"incident_id": "inc-1", "kind": kind, "aware_at": "2026-03-02T09:15:00.000000Z"},
    )


def notified(seq: int, sent: str, to: str = "supervisory_authority") -> Event:
    return ev(seq, "notification.sent", sent, {"to": to, "about": "inc-1", "sent_at": sent})


def only(rules: RuleSet, rule_id: str) -> RuleSet:
    return dataclasses.replace(rules, rules=(rules.get(rule_id),))


BREACH = "gdpr-33-breach-notification"
DSR = "gdpr-12-3-access-request-deadline"
FOUR_EYES = "internal-four-eyes-deployment"
#: Logs kept six months: each purge judged on what it removed.
KEEP_LOGS = {
    "kind": "retention",
    "mode": "keep_for",
    "trigger": "log.purged",
    "clock_field": "payload.up_to",
    "period": "P6M",
}


def test_breach_notified_in_time_passes(rules: RuleSet) -> None:
    result = evaluate(
        only(rules, BREACH),
        [breach(), notified(1, "2026-03-04T01:15:00Z")],
        as_of=at("2026-04-01T00:00:00Z"),
    )
    assert result.verdict_of(BREACH) == "pass"
    (finding,) = result.findings
    assert finding.severity == "critical" and finding.references == ("GDPR Art. 33(1)",)
    assert [(e.role, e.seq) for e in finding.evidence] == [("trigger", 0), ("counterpart", 1)]
    assert finding.due == at("2026-03-05T09:15:00Z")
    assert result.rule_set_sha256 == rules.sha256


def test_breach_late_or_wrong_recipient_fails(rules: RuleSet) -> None:
    result = evaluate(
        only(rules, BREACH),
        [
            breach(),
            notified(1, "2026-03-03T12:00:00Z", to="subject"),
            notified(2, "2026-03-05T17:15:00Z"),
        ],
        as_of=at("2026-04-01T00:00:00Z"),
    )
    assert result.verdict_of(BREACH) == "fail"
    assert result.findings[0].message.endswith(
        "the supervisory authority was notified of inc-1 on 5 Mar 2026 at 17:15 UTC, 8 hours late."
    )
    assert result.findings[0].key == (("payload.incident_id", "inc-1"),)


def test_breach_unanswered_is_pending_then_fails(rules: RuleSet) -> None:
    events = [breach()]
    early = evaluate(only(rules, BREACH), events, as_of=at("2026-03-03T09:15:00Z"))
    assert early.verdict_of(BREACH) == "pending"
    assert early.findings[0].due == at("2026-03-05T09:15:00Z")
    late = evaluate(only(rules, BREACH), events, as_of=at("2026-03-06T00:00:00Z"))
    assert late.verdict_of(BREACH) == "fail"


def test_not_a_breach_is_not_applicable(rules: RuleSet) -> None:
    result = evaluate(
        only(rules, BREACH), [breach(kind="malfunction")], as_of=at("2026-04-01T00:00:00Z")
    )
    assert result.verdict_of(BREACH) == "not_applicable" and not result.findings
    assert result.rules[0].triggers == 0


def test_events_recorded_after_as_of_are_not_read(rules: RuleSet) -> None:
    # The notification happened in time but was recorded only after as_of.
    late_record = ev(
        1,
        "notification.sent",
        "2026-03-03T12:00:00Z",
        {"to": "supervisory_authority", "about": "inc-1", "sent_at": "2026-03-03T12:00:00Z"},
        recorded="2026-03-10T00:00:00Z",
    )
    before = evaluate(
        only(rules, BREACH), [breach(), late_record], as_of=at("2026-03-04T00:00:00Z")
    )
    assert before.verdict_of(BREACH) == "pending" and before.events == 1
    after = evaluate(only(rules, BREACH), [breach(), late_record], as_of=at("2026-03-11T00:00:00Z"))
    assert after.verdict_of(BREACH) == "pass"


def test_events_out_of_order_are_refused(rules: RuleSet) -> None:
    # Checks judge "earlier" by feed order, so the engine refuses a stream it cannot trust.
    with pytest.raises(
        ValidationError, match=r"\(occurred_at, seq\) order: seq 0 came after seq 1"
    ):
        evaluate(
            only(rules, BREACH),
            [notified(1, "2026-03-04T01:15:00Z"), breach(0)],
            as_of=at("2026-04-01T00:00:00Z"),
        )


def test_system_filter(rules: RuleSet) -> None:
    events = [breach()]
    other = evaluate(only(rules, BREACH), events, as_of=at("2026-04-01T00:00:00Z"), system="x")
    assert other.verdict_of(BREACH) == "not_applicable"
    mine = evaluate(only(rules, BREACH), events, as_of=at("2026-04-01T00:00:00Z"), system="credit")
    assert mine.verdict_of(BREACH) == "fail"


def test_regime_date_skips_earlier_triggers(rules: RuleSet) -> None:
    # GDPR applies from 2018-05-25: an unanswered breach of 2018-05-24 is not judged.
    before = breach(occurred="2018-05-24T23:00:00Z")
    result = evaluate(only(rules, BREACH), [before], as_of=at("2026-04-01T00:00:00Z"))
    assert result.verdict_of(BREACH) == "not_applicable"
    on_the_day = breach(occurred="2018-05-25T00:00:00Z")
    result = evaluate(only(rules, BREACH), [on_the_day], as_of=at("2026-04-01T00:00:00Z"))
    assert result.verdict_of(BREACH) == "fail"


def dsr(seq: int, type: str, occurred: str, **payload: Any) -> Event:
    return ev(seq, type, occurred, {"request_id": "r-1", **payload})


def test_access_request_month_end_and_extension(rules: RuleSet) -> None:
    received = dsr(
        0,
        "dsr.received",
        "2027-01-31T14:00:00Z",
        kind="access",
        received_at="2027-01-31T14:00:00.000000Z",
    )
    # P1M from 31 Jan 2027: 28 Feb is a Sunday, so due Mon 1 Mar (end of day, Brussels).
    on_time = dsr(1, "dsr.answered", "2027-03-01T20:00:00Z", outcome="completed")
    result = evaluate(only(rules, DSR), [received, on_time], as_of=at("2027-06-01T00:00:00Z"))
    assert result.verdict_of(DSR) == "pass"
    late = dsr(1, "dsr.answered", "2027-03-02T08:00:00Z", outcome="completed")
    result = evaluate(only(rules, DSR), [received, late], as_of=at("2027-06-01T00:00:00Z"))
    assert result.verdict_of(DSR) == "fail"
    # Extended in the first month: P1M + P2M = P3M from received_at: 30 Apr 2027 (a Friday).
    extended = dsr(1, "dsr.extended", "2027-02-20T09:00:00Z", reason="complexity")
    answered = dsr(2, "dsr.answered", "2027-04-30T20:00:00Z", outcome="completed")
    result = evaluate(
        only(rules, DSR), [received, extended, answered], as_of=at("2027-06-01T00:00:00Z")
    )
    assert result.verdict_of(DSR) == "pass"
    assert result.findings[0].due == at("2027-04-30T21:59:59.999999Z")
    too_late = dsr(2, "dsr.answered", "2027-05-03T08:00:00Z", outcome="completed")
    result = evaluate(
        only(rules, DSR), [received, extended, too_late], as_of=at("2027-06-01T00:00:00Z")
    )
    assert result.verdict_of(DSR) == "fail"


def deployment_events(approvers: list[str], trainer: str = "alice") -> list[Event]:
    model = {"model": "m", "version": "1"}
    events = [
        ev(
            0,
            "model.trained",
            "2026-05-04T16:00:00Z",
            {**model, "datasets": ["d"], "code_version": "abc", "artifact_sha256": "0" * 64},
            actor=trainer,
        )
    ]
    for index, who in enumerate(approvers, start=1):
        events.append(
            ev(
                index,
                "approval.granted",
                f"2026-05-06T0{index}:00:00Z",
                {"target": "model:m@1", "stage": "deployment", "rationale": "ok"},
                actor=who,
            )
        )
    events.append(
        ev(len(events), "model.deployed", "2026-05-07T08:00:00Z", {**model, "environment": "prod"})
    )
    return events


@pytest.mark.parametrize(
    ("approvers", "verdict"),
    [
        (["bob", "carol"], "pass"),
        (["alice", "bob"], "fail"),
        (["bob", "bob"], "fail"),
        ([], "fail"),
    ],
)
def test_four_eyes(rules: RuleSet, approvers: list[str], verdict: str) -> None:
    result = evaluate(
        only(rules, FOUR_EYES), deployment_events(approvers), as_of=at("2026-06-01T00:00:00Z")
    )
    assert result.verdict_of(FOUR_EYES) == verdict


def test_approvals_after_the_deployment_do_not_count(rules: RuleSet) -> None:
    events = deployment_events(["bob", "carol"])
    deployed = events[-1]
    moved = dataclasses.replace(deployed, occurred_at=at("2026-05-05T00:00:00Z"))
    ordered = sorted([*events[:-1], moved], key=lambda event: (event.occurred_at, event.seq))
    result = evaluate(only(rules, FOUR_EYES), ordered, as_of=at("2026-06-01T00:00:00Z"))
    assert result.verdict_of(FOUR_EYES) == "fail"


def test_whole_rule_set_summary(rules: RuleSet) -> None:
    result = evaluate(rules, [breach()], as_of=at("2026-03-03T00:00:00Z"))
    verdicts = {summary.rule_id: summary.verdict for summary in result.rules}
    assert set(verdicts) == {rule.id for rule in rules.rules}
    # One breach, neither notification nor documentation due yet: every other rule has
    # nothing to judge.
    assert verdicts.pop(BREACH) == "pending"
    assert verdicts.pop("gdpr-33-5-breach-documented") == "pending"
    assert set(verdicts.values()) == {"not_applicable"}
    data = result.to_json()
    assert data["rule_set_sha256"] == rules.sha256 and data["findings"][0]["verdict"] == "pending"


def test_overall_verdict_order() -> None:
    assert overall_verdict(["pass", "pending", "fail"]) == "fail"
    assert overall_verdict(["pass", "needs_human", "pending"]) == "pending"
    assert overall_verdict(["pass", "needs_human"]) == "needs_human"
    assert overall_verdict(["pass", "not_applicable"]) == "pass"
    assert overall_verdict([]) == "not_applicable"
    assert overall_verdict([], triggers=2) == "pass"


def test_as_of_must_be_aware(rules: RuleSet) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        evaluate(rules, [], as_of=datetime(2026, 1, 1))


def rule_with_check(rules: RuleSet, check: dict[str, Any]) -> Rule:
    data = rules.get(FOUR_EYES).model_dump(mode="json", exclude_none=True)
    data["check"] = check
    return Rule.model_validate(data, strict=False)


def test_a_check_that_cannot_be_built_is_refused_naming_rule_and_field(rules: RuleSet) -> None:
    check = {**KEEP_LOGS, "calendar": "lunar"}
    rule = rule_with_check(rules, check)
    with pytest.raises(BuildError, match=f"rule {FOUR_EYES} check.calendar: .*'lunar'") as caught:
        build_check(rule, rules.regimes)
    assert caught.value.loc == ("check", "calendar")
    with pytest.raises(
        ValidationError, match=f"four-eyes-deployment.yaml:{FOUR_EYES} check.calendar"
    ):
        evaluate(scoped_rule(rules, check), [], as_of=at("2027-01-01T00:00:00Z"))


def scoped_rule(rules: RuleSet, check: dict[str, Any], **applies: Any) -> RuleSet:
    """The rule set holding only one rule (the four-eyes metadata) with `check` and `applies`."""
    rule = rule_with_check(rules, check)
    rule = Rule.model_validate(
        {**rule.model_dump(mode="json", exclude_none=True), "applies": applies}, strict=False
    )
    return dataclasses.replace(rules, rules=(rule,))


def judge(rule_set: RuleSet, events: list[Event], as_of: str = "2027-01-01T00:00:00Z") -> Any:
    result = evaluate(rule_set, events, as_of=at(as_of))
    (summary,) = result.rules
    return summary.verdict, [f.message for f in result.findings]


DEPLOYED = {"model": "m", "version": "1", "environment": "prod"}
DPIA = {"kind": "dpia", "target": "m@1", "result": "pass", "signer": "dpo"}
EXISTS_DPIA = {
    "kind": "exists_before",
    "trigger": "model.deployed",
    "required": "assessment.completed",
    "match_on": [["model:{payload.model}@{payload.version}", "payload.target"]],
}


def test_exists_before_within_and_needs_human(rules: RuleSet) -> None:
    recent = [
        ev(0, "assessment.completed", "2026-05-01T00:00:00Z", DPIA),
        ev(1, "model.deployed", "2026-05-20T00:00:00Z", DEPLOYED),
    ]
    stale = [recent[0], ev(1, "model.deployed", "2026-07-01T00:00:00Z", DEPLOYED)]
    within = scoped_rule(rules, {**EXISTS_DPIA, "within": "P30D"})
    assert judge(within, recent)[0] == "pass"
    verdict, (message,) = judge(within, stale)
    assert verdict == "fail" and "dates from 1 May 2026 00:00 UTC, more than 30 days" in message
    human = scoped_rule(rules, {**EXISTS_DPIA, "verdict": "needs_human"})
    verdict, (message,) = judge(human, recent)
    assert verdict == "needs_human" and "a person must judge" in message
    assert judge(human, recent[1:])[0] == "fail"


def test_forbids_after_grace(rules: RuleSet) -> None:
    check = {
        "kind": "forbids_after",
        "trigger": "system.suspended",
        "forbidden": "model.deployed",
        "match_on": ["system"],
        "grace": "PT24H",
    }
    rule_set = scoped_rule(rules, check)
    suspended = ev(0, "system.suspended", "2026-05-01T10:00:00Z", {"reason": "bias found"})
    soon = ev(1, "model.deployed", "2026-05-02T09:00:00Z", DEPLOYED)
    late = ev(2, "model.deployed", "2026-05-02T11:00:00Z", DEPLOYED)
    assert judge(rule_set, [suspended, soon])[0] == "pass"
    verdict, (message,) = judge(rule_set, [suspended, soon, late])
    # The deployment at 11:00, past the grace; not the one at 09:00.
    assert verdict == "fail" and message.startswith(
        "m 1 was deployed to prod on 2 May 2026 at 11:00"
    )
    assert message.endswith("which forbids it after a grace of 24 hours.")


def test_retention_keep_for_judges_each_purge(rules: RuleSet) -> None:
    check = KEEP_LOGS
    rule_set = scoped_rule(rules, check)
    old_logs = ev(
        0, "log.purged", "2026-09-10T00:00:00Z", {"up_to": "2026-03-01T00:00:00Z", "reason": "r"}
    )
    young = ev(
        1, "log.purged", "2026-09-10T00:00:00Z", {"up_to": "2026-07-01T00:00:00Z", "reason": "r"}
    )
    assert judge(rule_set, [old_logs])[0] == "pass"
    verdict, messages = judge(rule_set, [old_logs, young])
    assert verdict == "fail" and any("too early" in m for m in messages)
    with pytest.raises(ValueError, match="keep_for judges each disposal"):
        rule_with_check(rules, {**check, "disposed_by": "log.purged"})


def test_retention_without_its_period_needs_a_person_naming_the_field(rules: RuleSet) -> None:
    check = {
        "kind": "retention",
        "mode": "delete_by",
        "trigger": "dataset.registered",
        "period_field": "payload.retention",
        "disposed_by": "log.purged",
    }
    dataset = {"dataset_id": "applicants", "contains_personal_data": True}
    result = evaluate(
        scoped_rule(rules, check),
        [ev(0, "dataset.registered", "2026-05-01T09:00:00Z", dataset)],
        as_of=at("2026-06-01T00:00:00Z"),
    )
    (finding,) = result.findings
    assert finding.verdict == "needs_human"
    assert finding.message == (
        "Dataset applicants was registered on 1 May 2026 at 09:00 UTC for system credit, but the "
        "record has no retention, so a person must judge how long it may be kept; check it by "
        "hand."
    )
    assert (finding.key, finding.missing) == ((("system", "credit"),), ("payload.retention",))
    assert finding.to_json()["missing"] == ["payload.retention"]


def registered(seq: int, occurred: str, system: str = "credit", **payload: Any) -> Event:
    data = {
        "name": system,
        "role": "deployer",
        "risk_class": "high",
        "purposes": ["credit"],
        "public_authority": False,
        **payload,
    }
    return ev(seq, "system.registered", occurred, data, system=system)


def test_applies_scopes_by_the_systems_registration(rules: RuleSet) -> None:
    unanswered = [ev(1, "model.deployed", "2026-05-20T00:00:00Z", DEPLOYED)]
    scoped = scoped_rule(
        rules,
        EXISTS_DPIA,
        roles=["deployer", "both"],
        risk_classes=["high"],
        condition='has(system.annex_iii_point) && system.annex_iii_point.startsWith("5")',
    )
    fits = registered(0, "2026-05-01T00:00:00Z", annex_iii_point="5(b)")
    assert judge(scoped, [fits, *unanswered])[0] == "fail"
    # Unregistered, the wrong role, the wrong class, the condition false: not judged.
    assert judge(scoped, unanswered)[0] == "not_applicable"
    for other in (
        registered(0, "2026-05-01T00:00:00Z", role="provider", annex_iii_point="5(b)"),
        registered(0, "2026-05-01T00:00:00Z", risk_class="limited", annex_iii_point="5(b)"),
        registered(0, "2026-05-01T00:00:00Z", annex_iii_point="4(a)"),
        registered(0, "2026-05-01T00:00:00Z"),
        registered(0, "2026-05-01T00:00:00Z", system="other", annex_iii_point="5(b)"),
    ):
        assert judge(scoped, [other, *unanswered])[0] == "not_applicable", other.payload
    # A later registration re-scopes the system from then on.
    later = registered(2, "2026-06-01T00:00:00Z", annex_iii_point="5(b)")
    deployed_again = ev(3, "model.deployed", "2026-06-02T00:00:00Z", DEPLOYED)
    verdict, (message,) = judge(
        scoped, [registered(0, "2026-05-01T00:00:00Z"), *unanswered, later, deployed_again]
    )
    assert verdict == "fail" and "deployed to prod on 2 Jun 2026" in message  # the later one


def test_passes_are_counted_and_sampled(rules: RuleSet) -> None:
    fields = scoped_rule(
        rules,
        {"kind": "fields_present", "trigger": "model.deployed", "fields": ["payload.environment"]},
    )
    many = [
        ev(n, "model.deployed", f"2026-05-01T00:{n // 60:02d}:{n % 60:02d}Z", DEPLOYED)
        for n in range(PASS_SAMPLE * 3)
    ]
    result = evaluate(fields, many, as_of=at("2027-01-01T00:00:00Z"))
    (summary,) = result.rules
    assert summary.counts == {"pass": PASS_SAMPLE * 3} and summary.triggers == PASS_SAMPLE * 3
    assert len(result.findings) == PASS_SAMPLE


def test_bad_cel_names_the_place(rules: RuleSet) -> None:
    rule = rule_with_check(
        rules,
        {
            "kind": "fields_present",
            "trigger": "model.deployed",
            "when": "trigger.payload.model ==",
            "fields": ["payload.model"],
        },
    )
    with pytest.raises(ValidationError, match="four-eyes.yaml:internal-four-eyes-deployment"):
        build_check(rule, rules.regimes, place="four-eyes.yaml:internal-four-eyes-deployment")


def test_fields_present_and_retention_translate(rules: RuleSet) -> None:
    fields = rule_with_check(
        rules,
        {"kind": "fields_present", "trigger": "model.deployed", "fields": ["payload.environment"]},
    )
    check = build_check(fields, rules.regimes)
    (outcome,) = check.feed(deployment_events([])[-1])
    assert outcome.verdict == "pass"


def test_fixture_events(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        '{"type": "dsr.received", "subject": "customer-1", "payload": '
        '{"request_id": "r", "kind": "access", "received_at": "2027-01-04T08:30:00Z"}}\n\n'
        '{"type": "dsr.answered", "id": "given", "occurred_at": "2027-01-05T08:30:00+01:00", '
        '"payload": {"request_id": "r", "outcome": "completed"}}\n'
    )
    first, second = fixture_events(path)
    assert (first.seq, first.id, second.seq, second.id) == (0, "fixture-0", 1, "given")
    assert first.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert second.occurred_at == second.recorded_at == at("2027-01-05T07:30:00Z")
    assert (
        first.subject is not None and first.subject.startswith("sub_") and len(first.subject) == 30
    )
    assert first.subject == fixture_events(path)[0].subject  # deterministic
    assert "customer-1" not in first.subject
    assert first.system == "fixture" and second.subject is None
    path.write_text('{"type": "dsr.answered", "payload": {"request_id": "r"}}\n')
    with pytest.raises(ValidationError, match="line 1 of f.jsonl"):
        fixture_events(path)


def test_fixture_events_recorded_at(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    line = (
        '{"type": "dsr.answered", "occurred_at": "2027-01-05T08:30:00Z", %s'
        '"payload": {"request_id": "r", "outcome": "completed"}}\n'
    )
    path.write_text(line % '"recorded_at": "2027-02-01T10:00:00+01:00", ')
    (event,) = fixture_events(path)
    assert event.occurred_at == at("2027-01-05T08:30:00Z")
    assert event.recorded_at == at("2027-02-01T09:00:00Z")
    for bad in ('"recorded_at": "soon", ', '"recorded_at": 5, '):
        path.write_text(line % bad)
        with pytest.raises(ValidationError, match="recorded_at"):
            fixture_events(path)


def test_shipped_rule_tests_all_agree(rules: RuleSet) -> None:
    results = run_rule_tests(rules)
    assert len(results) == sum(len(rule.tests) for rule in rules.rules) >= 9
    assert [r for r in results if not r.ok] == []
    pending = next(
        r for r in results if r.expected == "pending" and r.rule_id == "gdpr-33-breach-notification"
    )
    assert pending.as_of == at("2026-03-03T09:15:00Z")
    default = next(r for r in results if r.rule_id == FOUR_EYES)
    assert default.as_of == at("2026-05-08T08:00:00Z")


def test_rule_test_with_a_missing_fixture_is_an_error(rules: RuleSet, tmp_path: Path) -> None:
    moved = dataclasses.replace(rules, directory=tmp_path)
    results = run_rule_tests(moved, rule_id=BREACH)
    assert results and all(r.got == "error" and not r.ok and r.error for r in results)


def test_retention_delete_by_from_the_rule(rules: RuleSet) -> None:
    check = {
        "kind": "retention",
        "mode": "delete_by",
        "trigger": "dataset.registered",
        "when": "trigger.payload.contains_personal_data",
        "period_field": "payload.retention",
        "disposed_by": "log.purged",
        "disposal_covers": "payload.up_to",
    }
    rule_set = scoped_rule(rules, check)
    kept = {"dataset_id": "d1", "contains_personal_data": True, "retention": "P1Y"}
    registered = ev(0, "dataset.registered", "2026-01-10T00:00:00Z", kept)
    # A purge up to a time before the dataset was registered does not cover it.
    early = ev(1, "log.purged", "2026-06-01T00:00:00Z", {"up_to": "2026-01-01T00:00:00Z"})
    covering = ev(2, "log.purged", "2026-12-01T00:00:00Z", {"up_to": "2026-02-01T00:00:00Z"})
    assert judge(rule_set, [registered, early, covering])[0] == "pass"
    verdict, (message,) = judge(rule_set, [registered, early], as_of="2027-03-01T00:00:00Z")
    assert verdict == "fail" and "no log purge is recorded" in message
    unknown = ev(0, "dataset.registered", "2026-01-10T00:00:00Z", {"contains_personal_data": True})
    verdict, (message,) = judge(rule_set, [unknown])
    assert verdict == "needs_human" and "so a person must judge how long it may be kept" in message


def test_holds_from_the_rule_counts_condition_errors(rules: RuleSet) -> None:
    check = {
        "kind": "holds",
        "trigger": ["model.deployed", "decision.made"],
        "require": 'system.risk_class != "prohibited" && trigger.payload.model != ""',
    }
    rule_set = scoped_rule(rules, check)
    prohibited = registered(0, "2026-05-01T00:00:00Z", risk_class="prohibited")
    deployed = ev(1, "model.deployed", "2026-05-02T00:00:00Z", DEPLOYED)
    verdict, (message,) = judge(rule_set, [prohibited, deployed])
    assert verdict == "fail" and "its system's risk class is prohibited" in message
    no_model = ev(2, "decision.made", "2026-05-03T00:00:00Z", {})
    result = evaluate(
        rule_set,
        [registered(0, "2026-05-01T00:00:00Z"), no_model],
        as_of=at("2027-01-01T00:00:00Z"),
    )
    (summary,) = result.rules
    assert summary.verdict == "needs_human" and summary.condition_errors == 1


def test_every_kind_of_the_schema_has_the_one_class_that_builds_it() -> None:
    from auditml.policy import checks
    from auditml.policy.rules import CHECK_KINDS

    for kind in CHECK_KINDS:
        found = checks.check_class(kind)
        assert found.kind == kind and "from_spec" in vars(found), kind
    assert set(checks._BY_KIND) == set(CHECK_KINDS)  # no class judges a kind rules cannot name
    with pytest.raises(ValidationError, match="no check class judges the kind 'lunar'"):
        checks.check_class("lunar")
