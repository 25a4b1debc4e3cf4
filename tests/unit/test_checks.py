"""The check kinds, each on hand-built event streams with exact expected outcomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from auditml.errors import ValidationError
from auditml.policy.cel import Condition, compile_condition
from auditml.policy.checks import (
    Deadline,
    ExistsBefore,
    Extension,
    FieldsPresent,
    ForbidsAfter,
    Holds,
    Matcher,
    MinDistinct,
    RecordedLate,
    RequiresPrior,
    Retention,
    Tier,
)
from auditml.policy.model import MISSING, Event, EvidenceRef, Outcome, field
from auditml.policy.rules import Exclusion

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=30)


class ExactCalendar:
    """Plain arithmetic: months clamp to the month's last day, no working-day moves."""

    def due(self, start: datetime, period: str) -> datetime:
        match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(\d+)H)?", period)
        if match is None or period in {"P", "PT"}:
            raise ValidationError(f"bad period {period!r}")
        years, months, days, hours = (int(g or 0) for g in match.groups())
        total = start.month - 1 + months + 12 * years
        year, month = start.year + total // 12, total % 12 + 1
        last = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        moved = start.replace(year=year, month=month, day=min(start.day, last))
        return moved + timedelta(days=days, hours=hours)


CAL = ExactCalendar()


def ev(
    seq: int,
    type_: str,
    at: datetime = T0,
    *,
    subject: str | None = None,
    actor: str = "ana",
    **payload: object,
) -> Event:
    return Event(
        seq, f"e{seq}", type_, "credit", subject, {"id": actor, "kind": "human"}, at, at, payload
    )


def run(check: object, events: list[Event]) -> list[Outcome]:
    out: list[Outcome] = []
    for event in events:
        out.extend(check.feed(event))  # type: ignore[attr-defined]
    return out


def refs(*items: tuple[str, Event]) -> tuple[EvidenceRef, ...]:
    return tuple(EvidenceRef(role, e.seq, e.id) for role, e in items)  # type: ignore[arg-type]


def trig(source: str) -> Condition:
    return compile_condition(source, variables=["trigger"], where="test")


def pair(source: str) -> Condition:
    return compile_condition(source, variables=["trigger", "candidate"], where="test")


def require(source: str) -> Condition:
    return compile_condition(source, variables=["trigger", "system"], where="test")


# ---------------------------------------------------------------- model


def test_event_from_envelope_and_field_paths() -> None:
    envelope = {
        "v": 1,
        "seq": 7,
        "id": "abc",
        "type": "incident.reported",
        "system": "credit",
        "recorded_at": "2026-03-02T09:00:01.000000Z",
        "occurred_at": "2026-03-02T09:00:00.250000Z",
        "actor": {"id": "ana", "kind": "human"},
        "payload": {"incident_id": "i-1", "meta": {"a": None}},
        "prev": "0" * 64,
    }
    event = Event.from_envelope(envelope)
    assert event.occurred_at == datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)
    assert event.recorded_at.tzinfo is not None
    assert event.subject is None
    assert field(event, "payload.incident_id") == "i-1"
    assert field(event, "actor.id") == "ana"
    assert field(event, "occurred_at") == event.occurred_at
    assert (field(event, "type"), field(event, "system"), field(event, "id")) == (
        "incident.reported",
        "credit",
        "abc",
    )
    assert field(event, "seq") == 7
    for missing in (
        "subject",
        "payload.nope",
        "payload.incident_id.x",
        "payload.meta.a",
        "actor.role",
        "nope",
    ):
        assert field(event, missing) is MISSING
    with pytest.raises(ValidationError, match="event seq=7 occurred_at"):
        Event.from_envelope({**envelope, "occurred_at": "2026-03-02T09:00:00"})
    with pytest.raises(ValidationError, match="'payload' must be an object"):
        Event.from_envelope({**envelope, "payload": []})
    # The fast path for the ledger's own envelopes and the checked path agree, and what
    # the fast path does not take (offsets, bad values) goes through the checks.
    assert Event.from_envelope(envelope) == Event._checked(envelope)
    shifted = Event.from_envelope({**envelope, "occurred_at": "2026-03-02T10:00:00.25+01:00"})
    assert shifted.occurred_at == event.occurred_at and shifted.occurred_at.tzinfo == UTC
    with pytest.raises(ValidationError, match="is not an RFC 3339 time"):
        Event.from_envelope({**envelope, "occurred_at": "2026-13-02T09:00:00Z"})
    with pytest.raises(ValidationError, match="'seq' must be an integer"):
        Event.from_envelope({**envelope, "seq": True})
    with pytest.raises(ValidationError, match="'actor' must be an object of strings"):
        Event.from_envelope({**envelope, "actor": {"id": 1}})


def test_matcher_pairs_templates_and_errors() -> None:
    matcher = Matcher(["subject", ("model:{payload.model}@{payload.version}", "payload.target")])
    deployed = ev(1, "model.deployed", subject="s", model="credit", version="3.2")
    approval = ev(2, "approval.granted", subject="s", target="model:credit@3.2")
    assert matcher.trigger_key(deployed) == ("s", "model:credit@3.2")
    assert matcher.counterpart_key(approval) == ("s", "model:credit@3.2")
    assert matcher.trigger_key(ev(3, "model.deployed", subject="s", model="credit")) == (
        "model:{payload.model}@{payload.version}"
    )
    with pytest.raises(ValidationError, match="match_on"):
        Matcher([("a", "b", "c")])  # type: ignore[list-item]


# ---------------------------------------------------------------- requires_prior


def consent_rule() -> RequiresPrior:
    return RequiresPrior(
        "decision.made",
        "consent.granted",
        ["subject", "payload.purpose"],
        unless_revoked_by="consent.withdrawn",
        when=trig('trigger.payload.lawful_basis == "consent"'),
    )


def test_requires_prior_with_revocation() -> None:
    check = consent_rule()
    model = {"model": "credit", "version": "3.2"}
    granted = ev(0, "consent.granted", subject="A", purpose="scoring")
    d1 = ev(1, "decision.made", subject="A", purpose="scoring", lawful_basis="consent", **model)
    d2 = ev(2, "decision.made", subject="B", purpose="scoring", lawful_basis="consent", **model)
    other_basis = ev(3, "decision.made", subject="B", purpose="scoring", lawful_basis="contract")
    withdrawn = ev(4, "consent.withdrawn", subject="A", purpose="scoring")
    d5 = ev(5, "decision.made", T1, subject="A", purpose="scoring", lawful_basis="consent", **model)
    regranted = ev(6, "consent.granted", T1, subject="A", purpose="scoring")
    d7 = ev(7, "decision.made", T1, subject="A", purpose="scoring", lawful_basis="consent", **model)
    no_purpose = ev(8, "decision.made", T1, subject="A", lawful_basis="consent", **model)
    out = run(check, [granted, d1, d2, other_basis, withdrawn, d5, regranted, d7, no_purpose])
    a_scoring = (("subject", "A"), ("payload.purpose", "scoring"))
    assert [(o.verdict, o.evidence, o.key, o.missing) for o in out] == [
        ("pass", refs(("trigger", d1), ("counterpart", granted)), a_scoring, ()),
        ("fail", refs(("trigger", d2)), (("subject", "B"), ("payload.purpose", "scoring")), ()),
        ("fail", refs(("trigger", d5)), a_scoring, ()),
        ("pass", refs(("trigger", d7), ("counterpart", regranted)), a_scoring, ()),
        ("needs_human", refs(("trigger", no_purpose)), (), ("payload.purpose",)),
    ]
    assert out[2].message == (
        "credit 3.2 made a decision about subject A for 'scoring' on 2 Mar 2026 at 09:30 UTC "
        "with no consent in force: none was recorded before it, or a consent withdrawal ended it."
    )
    assert out[3].message == (
        "credit 3.2 made a decision about subject A for 'scoring' on 2 Mar 2026 at 09:30 UTC, "
        "after the consent of 2 Mar 2026 09:30 UTC, still in force."
    )
    # Without the purpose the decision has no phrase of its own: it is told in general words.
    assert out[4].message == (
        "A decision was recorded on 2 Mar 2026 at 09:30 UTC, but the record has no purpose, so "
        "it cannot be matched with any consent; check it by hand and correct the record."
    )
    assert check.finish(T0) == []
    assert check.stats == {"triggers": 5, "pass": 2, "fail": 2, "needs_human": 1}
    assert check.open_count == 1


def test_requires_prior_where_keeps_all_candidates() -> None:
    check = RequiresPrior(
        "decision.made",
        "consent.granted",
        ["subject"],
        where=pair("candidate.payload.explicit == true"),
    )
    explicit = ev(0, "consent.granted", subject="A", explicit=True)
    implicit = ev(1, "consent.granted", subject="A", explicit=False)
    decision = ev(2, "decision.made", subject="A")
    (outcome,) = run(check, [explicit, implicit, decision])
    assert outcome.verdict == "pass"
    assert outcome.evidence == refs(("trigger", decision), ("counterpart", explicit))


def test_exists_before_with_template_key_and_kind() -> None:
    check = ExistsBefore(
        "model.deployed",
        "assessment.completed",
        [("{payload.model}@{payload.version}", "payload.target")],
        where=pair('candidate.payload.kind == "dpia"'),
    )
    fria = ev(0, "assessment.completed", kind="fria", target="credit@3.2")
    where = {"environment": "production"}
    deploy1 = ev(1, "model.deployed", model="credit", version="3.2", **where)
    dpia = ev(2, "assessment.completed", kind="dpia", target="credit@3.2")
    deploy3 = ev(3, "model.deployed", model="credit", version="3.2", **where)
    deploy4 = ev(4, "model.deployed", model="credit", version="4.0", **where)
    out = run(check, [fria, deploy1, dpia, deploy3, deploy4])
    assert [(o.verdict, o.evidence) for o in out] == [
        ("fail", refs(("trigger", deploy1))),
        ("pass", refs(("trigger", deploy3), ("counterpart", dpia))),
        ("fail", refs(("trigger", deploy4))),
    ]
    assert [o.key for o in out] == [
        (("{payload.model}@{payload.version}", "credit@3.2"),),
        (("{payload.model}@{payload.version}", "credit@3.2"),),
        (("{payload.model}@{payload.version}", "credit@4.0"),),
    ]
    # The key (credit 3.2) is what the sentence says already: it is not repeated.
    assert out[0].message == (
        "credit 3.2 was deployed to production on 2 Mar 2026 at 09:00 UTC with no earlier "
        "assessment that the rule accepts."
    )


def test_prior_must_come_first() -> None:
    check = ExistsBefore("model.deployed", "assessment.completed", ["payload.target"])
    deploy = ev(0, "model.deployed", target="m")
    after = ev(1, "assessment.completed", target="m")
    assert [o.verdict for o in run(check, [deploy, after])] == ["fail"]


# ---------------------------------------------------------------- deadline


def breach_rule() -> Deadline:
    return Deadline(
        "incident.reported",
        "notification.sent",
        [("payload.incident_id", "payload.about")],
        calendar=CAL,
        tiers=[Tier(trig('trigger.payload.severity == "high"'), "PT24H")],
        period="PT72H",
        clock_field="payload.aware_at",
        satisfied_clock_field="payload.sent_at",
        where=pair('candidate.payload.to == "supervisory_authority"'),
    )


def aware(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_deadline_tiers_in_time_late_pending_and_overdue() -> None:
    check = breach_rule()
    high = ev(
        0,
        "incident.reported",
        T0 + timedelta(hours=1),
        incident_id="i1",
        kind="breach",
        severity="high",
        aware_at=aware(0),
    )
    low = ev(
        1,
        "incident.reported",
        T0 + timedelta(hours=1),
        incident_id="i2",
        kind="breach",
        severity="low",
        aware_at=aware(0),
    )
    open_ = ev(
        2,
        "incident.reported",
        T0 + timedelta(hours=2),
        incident_id="i3",
        kind="breach",
        severity="low",
        aware_at=aware(2),
    )
    to_subject = ev(
        3,
        "notification.sent",
        T0 + timedelta(hours=10),
        to="subject",
        about="i1",
        sent_at=aware(10),
    )
    sa_high = ev(
        4,
        "notification.sent",
        T0 + timedelta(hours=20),
        to="supervisory_authority",
        about="i1",
        sent_at=aware(20),
    )
    sa_low = ev(
        5,
        "notification.sent",
        T0 + timedelta(hours=81),
        to="supervisory_authority",
        about="i2",
        sent_at=aware(80),
    )
    out = run(check, [high, low, open_, to_subject, sa_high, sa_low])
    assert [(o.verdict, o.evidence, o.due, o.key) for o in out] == [
        (
            "pass",
            refs(("trigger", high), ("counterpart", sa_high)),
            T0 + timedelta(hours=24),
            (("payload.incident_id", "i1"),),
        ),
        (
            "fail",
            refs(("trigger", low), ("counterpart", sa_low)),
            T0 + timedelta(hours=72),
            (("payload.incident_id", "i2"),),
        ),
    ]
    assert out[0].message == (
        "The breach i1 was reported; the deadline was 3 Mar 2026 09:00 UTC (24 hours from "
        "awareness on 2 Mar 2026 at 09:00 UTC), and the supervisory authority was notified of i1 "
        "on 3 Mar 2026 at 05:00 UTC, in time."
    )
    assert out[1].message == (
        "The breach i2 was reported; the deadline was 5 Mar 2026 09:00 UTC (72 hours from "
        "awareness on 2 Mar 2026 at 09:00 UTC), and the supervisory authority was notified of i2 "
        "on 5 Mar 2026 at 17:00 UTC, 8 hours late."
    )
    assert check.open_count == 1
    due3 = T0 + timedelta(hours=74)
    (pending,) = check.finish(due3)  # due == as_of: not yet overdue
    assert (pending.verdict, pending.due, pending.evidence) == (
        "pending",
        due3,
        refs(("trigger", open_)),
    )
    assert pending.message == (
        "The breach i3 was reported; the deadline is 5 Mar 2026 11:00 UTC (72 hours from "
        "awareness on 2 Mar 2026 at 11:00 UTC), and no notification is recorded yet, with "
        "0 seconds left as of 5 Mar 2026 11:00 UTC."
    )
    assert "2 days 1 hour left" in check.finish(due3 - timedelta(days=2, hours=1)).pop().message
    (overdue,) = check.finish(due3 + timedelta(days=1, hours=2))
    assert overdue.verdict == "fail"
    assert overdue.message == (
        "The breach i3 was reported; the deadline was 5 Mar 2026 11:00 UTC (72 hours from "
        "awareness on 2 Mar 2026 at 11:00 UTC), and no notification is recorded: 1 day 2 hours "
        "overdue as of 6 Mar 2026 13:00 UTC."
    )


def test_deadline_exactly_at_due_passes_and_one_answer_closes_all_with_its_key() -> None:
    check = Deadline(
        "dsr.received", "dsr.answered", ["payload.request_id"], calendar=CAL, period="P1D"
    )
    a = ev(0, "dsr.received", T0, request_id="r")
    b = ev(1, "dsr.received", T0 + timedelta(hours=1), request_id="r")
    answer = ev(2, "dsr.answered", T0 + timedelta(days=1), request_id="r")
    out = run(check, [a, b, answer])
    assert [(o.verdict, o.evidence) for o in out] == [
        ("pass", refs(("trigger", a), ("counterpart", answer))),
        ("pass", refs(("trigger", b), ("counterpart", answer))),
    ]
    assert check.open_count == 0


def dsr_rule() -> Deadline:
    return Deadline(
        "dsr.received",
        "dsr.answered",
        ["payload.request_id"],
        calendar=CAL,
        period="P1M",
        clock_field="payload.received_at",
        extension=Extension("dsr.extended", "P2M"),
    )


def at(month: int, day: int) -> datetime:
    return datetime(2027, month, day, 12, tzinfo=UTC)


def test_deadline_extension_in_time_counts() -> None:
    check = dsr_rule()
    received = ev(
        0,
        "dsr.received",
        at(1, 31),
        request_id="r1",
        kind="access",
        received_at="2027-01-31T12:00:00Z",
    )
    extended = ev(1, "dsr.extended", at(2, 10), request_id="r1", reason="complex")
    answered = ev(2, "dsr.answered", at(4, 1), request_id="r1", outcome="completed")
    (outcome,) = run(check, [received, extended, answered])
    assert outcome.verdict == "pass"
    # The extension counts with the original period from the clock start: 31 Jan + P3M is
    # 30 Apr (28 Feb + P2M would lose the month end: 28 Apr).
    assert outcome.due == at(4, 30)
    assert outcome.evidence == refs(
        ("trigger", received), ("counterpart", answered), ("context", extended)
    )
    assert outcome.message == (
        "The access request r1 was received; the deadline was 30 Apr 2027 12:00 UTC (1 month "
        "from receipt on 31 Jan 2027 at 12:00 UTC, extended on 10 Feb 2027), and request r1 was "
        "answered on 1 Apr 2027 at 12:00 UTC, in time."
    )


def test_deadline_extension_found_by_its_own_trigger_fields() -> None:
    # A contest is answered by a review of its decision and extended by its request id.
    check = Deadline(
        "dsr.received",
        "review.completed",
        ["payload.decision_id"],
        calendar=CAL,
        period="P1M",
        clock_field="payload.received_at",
        extension=Extension("dsr.extended", "P2M", match_on=["payload.request_id"]),
    )
    contest = ev(
        0,
        "dsr.received",
        at(1, 31),
        request_id="r9",
        decision_id="d1",
        kind="contest",
        received_at="2027-01-31T12:00:00Z",
    )
    extended = ev(1, "dsr.extended", at(2, 10), request_id="r9", reason="complex")
    review = ev(2, "review.completed", at(4, 1), decision_id="d1", outcome="upheld", reason="x")
    late_ext = ev(3, "dsr.extended", at(4, 2), request_id="r9", reason="again")
    (outcome,) = run(check, [contest, extended, review, late_ext])
    assert (outcome.verdict, outcome.due) == ("pass", at(4, 30))
    assert check.open_count == 0 and check._by_extension == {}


def test_deadline_late_extension_and_over_limit_do_not_count() -> None:
    check = dsr_rule()
    received = ev(0, "dsr.received", at(1, 28), request_id="r2", received_at="2027-01-28T12:00:00Z")
    late_ext = ev(1, "dsr.extended", at(3, 5), request_id="r2", reason="late")
    answered = ev(2, "dsr.answered", at(3, 10), request_id="r2", outcome="completed")
    (outcome,) = run(check, [received, late_ext, answered])
    assert (outcome.verdict, outcome.due) == ("fail", at(2, 28))
    assert outcome.evidence == refs(
        ("trigger", received), ("counterpart", answered), ("context", late_ext)
    )
    assert outcome.message.endswith(
        "and request r2 was answered on 10 Mar 2027 at 12:00 UTC, 10 days late. The extension "
        "of 5 Mar 2027 (seq 1) did not count: it came after the deadline, or beyond the limit of "
        "one extension."
    )

    check = dsr_rule()
    r3 = ev(0, "dsr.received", at(1, 10), request_id="r3", received_at="2027-01-10T12:00:00Z")
    ext1 = ev(1, "dsr.extended", at(1, 20), request_id="r3", reason="a")
    ext2 = ev(2, "dsr.extended", at(1, 21), request_id="r3", reason="b")
    run(check, [r3, ext1, ext2])
    (open_,) = check.finish(at(4, 9))
    assert (open_.verdict, open_.due) == ("pending", at(4, 10))
    (overdue,) = check.finish(at(6, 1))
    assert overdue.verdict == "fail"
    assert overdue.evidence == refs(("trigger", r3), ("context", ext1), ("context", ext2))


def test_deadline_unmatched_missing_clock_and_no_tier() -> None:
    check = Deadline(
        "incident.reported",
        "notification.sent",
        [("payload.incident_id", "payload.about")],
        calendar=CAL,
        tiers=[Tier(trig('trigger.payload.kind == "breach"'), "PT72H")],
        clock_field="payload.aware_at",
    )
    out = run(
        check,
        [
            ev(0, "incident.reported", kind="breach", aware_at=aware(0)),
            ev(1, "incident.reported", incident_id="i", kind="breach"),
            ev(2, "incident.reported", incident_id="i", kind="breach", aware_at="yesterday"),
            ev(3, "incident.reported", incident_id="i", kind="malfunction", aware_at=aware(0)),
        ],
    )
    assert [(o.verdict, o.missing) for o in out] == [
        ("needs_human", ("payload.incident_id",)),
        ("needs_human", ("payload.aware_at",)),
        ("needs_human", ("payload.aware_at",)),
        ("not_applicable", ()),
    ]
    assert out[1].message == (
        "The breach i was reported on 2 Mar 2026 at 09:00 UTC, but the record has no valid time "
        "of awareness, so its deadline cannot be computed; check it by hand."
    )
    assert out[3].message == (
        "The malfunction i was reported on 2 Mar 2026 at 09:00 UTC, but none of the rule's periods "
        "applies to it, so no deadline applies."
    )
    assert check.open_count == 0
    with pytest.raises(ValidationError, match="give a period"):
        Deadline("a", "b", ["subject"], calendar=CAL)
    with pytest.raises(ValidationError, match="variables trigger"):
        Deadline("a", "b", ["subject"], calendar=CAL, period="P1D", when=pair("true"))


def test_deadline_memory_stays_with_open_obligations() -> None:
    check = Deadline(
        "dsr.received", "dsr.answered", ["payload.request_id"], calendar=CAL, period="P1M"
    )
    largest = 0
    outcomes = 0
    for n in range(100_000):
        moment = T0 + timedelta(minutes=n)
        outcomes += len(check.feed(ev(2 * n, "dsr.received", moment, request_id=f"r{n}")))
        if n >= 2:  # answers trail the requests by two, so a few are always open
            answered = ev(2 * n + 1, "dsr.answered", moment, request_id=f"r{n - 2}")
            outcomes += len(check.feed(answered))
        largest = max(largest, check.open_count, len(check._open))
    assert largest == 2
    assert outcomes == 99_998
    assert len(check._open) == 2
    assert [o.verdict for o in check.finish(T0)] == ["pending", "pending"]


def test_requires_prior_memory_drops_revoked() -> None:
    check = RequiresPrior(
        "decision.made", "consent.granted", ["subject"], unless_revoked_by="consent.withdrawn"
    )
    for n in range(50_000):
        subject = f"s{n}"
        for offset, kind in enumerate(
            ("consent.granted", "decision.made", "consent.withdrawn", "decision.made")
        ):
            check.feed(ev(4 * n + offset, kind, T0, subject=subject))
        assert check.open_count == 0
    assert check.stats == {"triggers": 100_000, "pass": 50_000, "fail": 50_000}
    assert check._in_force == {}


# ---------------------------------------------------------------- forbids_after


def test_forbids_after_until_lifted() -> None:
    check = ForbidsAfter(
        "consent.withdrawn",
        "decision.made",
        ["subject", "payload.purpose"],
        lifted_by="consent.granted",
    )
    model = {"model": "credit", "version": "3.2"}
    before = ev(0, "decision.made", subject="A", purpose="scoring", **model)
    withdrawn = ev(1, "consent.withdrawn", subject="A", purpose="scoring")
    violating = ev(2, "decision.made", T1, subject="A", purpose="scoring", **model)
    other_purpose = ev(3, "decision.made", T1, subject="A", purpose="marketing", **model)
    regranted = ev(4, "consent.granted", T1, subject="A", purpose="scoring")
    fine = ev(5, "decision.made", T1, subject="A", purpose="scoring", **model)
    out = run(check, [before, withdrawn, violating, other_purpose, regranted, fine])
    key = (("subject", "A"), ("payload.purpose", "scoring"))
    assert [(o.verdict, o.evidence, o.key) for o in out] == [
        ("fail", refs(("trigger", withdrawn), ("counterpart", violating)), key),
    ]
    assert out[0].message == (
        "credit 3.2 made a decision about subject A for 'scoring' on 2 Mar 2026 at 09:30 UTC, "
        "after subject A withdrew consent to 'scoring' on 2 Mar 2026 at 09:00 UTC, which "
        "forbids it."
    )
    assert check.finish(T0) == []
    assert check.open_count == 0
    assert check.stats["triggers"] == 1


def test_forbids_after_suspension_by_system() -> None:
    check = ForbidsAfter(
        "system.suspended",
        ["decision.made", "model.deployed"],
        ["system"],
        where=pair("candidate.occurred_at > trigger.occurred_at"),
    )
    suspended = ev(0, "system.suspended", T0, reason="incident")
    same_instant = ev(1, "decision.made", T0)
    later = ev(2, "model.deployed", T0 + timedelta(hours=1))
    out = run(check, [suspended, same_instant, later])
    assert [(o.verdict, o.evidence, o.key) for o in out] == [
        ("fail", refs(("trigger", suspended), ("counterpart", later)), (("system", "credit"),)),
    ]
    # The deployment's phrase needs a model: without one it is told in general words.
    assert out[0].message == (
        "A deployment was recorded on 2 Mar 2026 at 10:00 UTC, after the AI system credit was "
        "suspended on 2 Mar 2026 at 09:00 UTC, which forbids it."
    )


# ---------------------------------------------------------------- retention


def y(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def test_retention_delete_by() -> None:
    check = Retention(
        "dataset.registered",
        mode="delete_by",
        calendar=CAL,
        period_field="payload.retention",
        disposed_by="log.purged",
        disposal_covers="payload.up_to",
        when=trig("trigger.payload.contains_personal_data"),
    )
    d1 = ev(
        0,
        "dataset.registered",
        y(2020),
        dataset_id="d1",
        retention="P5Y",
        contains_personal_data=True,
    )
    d2 = ev(
        1,
        "dataset.registered",
        y(2022),
        dataset_id="d2",
        retention="P1Y",
        contains_personal_data=True,
    )
    d3 = ev(2, "dataset.registered", y(2022), dataset_id="d3", contains_personal_data=True)
    d4 = ev(
        3,
        "dataset.registered",
        y(2022),
        dataset_id="d4",
        retention="P10Y",
        contains_personal_data=True,
    )
    anon = ev(
        4,
        "dataset.registered",
        y(2022),
        dataset_id="d5",
        retention="P1Y",
        contains_personal_data=False,
    )
    purge = ev(5, "log.purged", y(2024, 6), up_to="2021-01-01T00:00:00.000000Z", reason="retention")
    out = run(check, [d1, d2, d3, d4, anon, purge])
    assert [(o.verdict, o.evidence, o.due) for o in out] == [
        ("needs_human", refs(("trigger", d3)), None),
        ("pass", refs(("trigger", d1), ("counterpart", purge)), y(2025)),
    ]
    assert out[0].message == (
        "Dataset d3 was registered on 1 Jan 2022 at 00:00 UTC for system credit, but the record "
        "has no retention, so a person must judge how long it may be kept; check it by hand."
    )
    assert out[0].missing == ("payload.retention",)
    assert out[1].message == (
        "Dataset d1 was registered for system credit; the retention period ended 1 Jan 2025 "
        "00:00 UTC (5 years "
        "from the dataset registration on 1 Jan 2020 at 00:00 UTC), and logs up to 1 Jan 2021 "
        "00:00 UTC were purged on 1 Jun 2024 at 00:00 UTC, in time."
    )
    final = check.finish(y(2026))
    assert [(o.verdict, o.evidence, o.due) for o in final] == [
        ("fail", refs(("trigger", d2)), y(2023)),
        ("pending", refs(("trigger", d4)), y(2032)),
    ]
    assert final[1].message == (
        "Dataset d4 was registered for system credit; the retention period ends 1 Jan 2032 00:00 UTC (10 years "
        "from the dataset registration on 1 Jan 2022 at 00:00 UTC), and no log purge is recorded "
        "yet, with 2191 days left as of 1 Jan 2026 00:00 UTC."
    )
    assert check.stats["triggers"] == 4


def test_retention_keep_for_purged_logs() -> None:
    check = Retention(
        "log.purged", mode="keep_for", calendar=CAL, period="P6M", clock_field="payload.up_to"
    )
    early = ev(0, "log.purged", y(2026, 5), up_to="2026-01-01T00:00:00.000000Z", reason="space")
    ok = ev(1, "log.purged", y(2026, 8), up_to="2026-01-01T00:00:00.000000Z", reason="space")
    exact = ev(2, "log.purged", y(2026, 7), up_to="2026-01-01T00:00:00.000000Z", reason="space")
    broken = ev(3, "log.purged", y(2026, 8), reason="space")
    out = run(check, [early, ok, exact, broken])
    assert [(o.verdict, o.due) for o in out] == [
        ("fail", y(2026, 7)),
        ("pass", y(2026, 7)),
        ("pass", y(2026, 7)),
        ("needs_human", None),
    ]
    assert out[0].message == (
        "Logs up to 1 Jan 2026 00:00 UTC were purged on 1 May 2026 at 00:00 UTC, but what was "
        "removed had to be kept 6 months, until 1 Jul 2026 00:00 UTC: 61 days too early."
    )
    assert out[1].message == (
        "Logs up to 1 Jan 2026 00:00 UTC were purged on 1 Aug 2026 at 00:00 UTC, when everything "
        "removed was at least 6 months old (allowed from 1 Jul 2026 00:00 UTC)."
    )
    assert (out[3].missing, out[3].message) == (
        ("payload.up_to",),
        "A log purge was recorded on 1 Aug 2026 at 00:00 UTC, but the record has no valid up to, "
        "so the age of what it removed cannot be computed; check it by hand.",
    )
    assert check.finish(y(2027)) == []
    assert check.open_count == 0


def test_retention_parameters_fit_the_mode() -> None:
    with pytest.raises(ValidationError, match="keep_for needs a period"):
        Retention("log.purged", mode="keep_for", calendar=CAL)
    with pytest.raises(ValidationError, match="keep_for needs a period and no disposed_by"):
        Retention("log.purged", mode="keep_for", calendar=CAL, period="P6M", disposed_by="x")
    with pytest.raises(ValidationError, match="delete_by needs disposed_by"):
        Retention("dataset.registered", mode="delete_by", calendar=CAL, period="P1Y")
    with pytest.raises(ValidationError, match="give a period"):
        Retention("dataset.registered", mode="delete_by", calendar=CAL, disposed_by="x")
    with pytest.raises(ValidationError, match="mode is delete_by or keep_for"):
        Retention("dataset.registered", mode="forever", calendar=CAL, period="P1Y")


# ---------------------------------------------------------------- min_distinct


TRAINER = Exclusion(event="model.trained", match_on=["model", "version"])


def two_approvers(*distinct_from: Exclusion) -> MinDistinct:
    """Deployments need two approvals of their model version, not by the excluded."""
    return MinDistinct(
        "model.deployed",
        "approval.granted",
        [("model:{payload.model}@{payload.version}", "payload.target")],
        at_least=2,
        distinct_from=distinct_from,
    )


def test_min_distinct_excludes_the_trainer() -> None:
    check = two_approvers(TRAINER)
    trained = ev(0, "model.trained", actor="tess", model="credit", version="3.2")
    by_tess = ev(1, "approval.granted", actor="tess", target="model:credit@3.2")
    by_ana = ev(2, "approval.granted", actor="ana", target="model:credit@3.2")
    by_ana_again = ev(3, "approval.granted", actor="ana", target="model:credit@3.2")
    other_target = ev(4, "approval.granted", actor="bob", target="model:credit@3.1")
    prod = {"model": "credit", "version": "3.2", "environment": "production"}
    deploy1 = ev(5, "model.deployed", T1, actor="ops", **prod)
    by_bob = ev(6, "approval.granted", T1, actor="bob", target="model:credit@3.2")
    deploy2 = ev(7, "model.deployed", T1, actor="ops", **prod)
    out = run(
        check, [trained, by_tess, by_ana, by_ana_again, other_target, deploy1, by_bob, deploy2]
    )
    key = (("model:{payload.model}@{payload.version}", "model:credit@3.2"),)
    assert [(o.verdict, o.evidence, o.key) for o in out] == [
        ("fail", refs(("trigger", deploy1), ("counterpart", by_ana), ("context", trained)), key),
        (
            "pass",
            refs(
                ("trigger", deploy2),
                ("counterpart", by_ana),
                ("counterpart", by_bob),
                ("context", trained),
            ),
            key,
        ),
    ]
    assert out[0].message == (
        "credit 3.2 was deployed to production on 2 Mar 2026 at 09:30 UTC with one approval "
        "(ana) besides one by its trainer (tess); it needs approvals from two people other than "
        "its trainer."
    )
    assert out[1].message == (
        "credit 3.2 was deployed to production on 2 Mar 2026 at 09:30 UTC with two approvals "
        "(ana and bob) besides one by its trainer (tess), meeting the need for approvals from "
        "two people other than its trainer."
    )
    # Without an exclusion: distinct people, and how many are missing is plain.
    plain = MinDistinct(
        "model.deployed",
        "approval.granted",
        [("model:{payload.model}@{payload.version}", "payload.target")],
        at_least=3,
    )
    (short,) = run(plain, [by_ana, by_ana_again, deploy1])
    assert short.message.endswith("with one approval (ana); it needs approvals from three people.")
    with pytest.raises(ValidationError, match="at_least"):
        MinDistinct("a", "b", ["subject"], at_least=0)


# ---------------------------------------------------------------- fields_present


def test_fields_present_for_automated_legal_decisions() -> None:
    check = FieldsPresent(
        "decision.made",
        ["payload.explanation", "subject"],
        when=trig("trigger.payload.solely_automated && trigger.payload.legal_effect"),
    )
    automated = {"solely_automated": True, "legal_effect": True, "purpose": "scoring"}
    good = ev(0, "decision.made", subject="A", explanation="score < 600", **automated)
    empty = ev(1, "decision.made", subject="A", explanation="", **automated)
    human = ev(2, "decision.made", subject="A", solely_automated=False, legal_effect=True)
    bare = ev(3, "decision.made", model="credit", version="3.2", **automated)
    out = run(check, [good, empty, human, bare])
    assert [(o.verdict, o.evidence, o.message, o.missing) for o in out] == [
        (
            "pass",
            refs(("trigger", good)),
            "A decision was recorded on 2 Mar 2026 at 09:00 UTC, with its explanation and data "
            "subject recorded.",
            (),
        ),
        (
            "fail",
            refs(("trigger", empty)),
            "A decision was recorded on 2 Mar 2026 at 09:00 UTC, but the record has no "
            "explanation.",
            ("payload.explanation",),
        ),
        (
            "fail",
            refs(("trigger", bare)),
            "A decision was recorded on 2 Mar 2026 at 09:00 UTC, but the record has no "
            "explanation or data subject.",
            ("payload.explanation", "subject"),
        ),
    ]
    assert check.finish(T0) == []
    with pytest.raises(ValidationError, match="at least one field"):
        FieldsPresent("decision.made", [])


# ---------------------------------------------------------------- recorded_late


def late(seq: int, type_: str, occurred: datetime, recorded: datetime, **payload: object) -> Event:
    actor = {"id": "dora", "kind": "human"}
    return Event(seq, f"e{seq}", type_, "credit", None, actor, occurred, recorded, payload)


def test_recorded_late_fails_only_what_is_recorded_after_the_limit() -> None:
    check = RecordedLate(frozenset({"assessment.completed", "approval.granted"}), "P7D")
    dated = datetime(2026, 7, 9, 15, 0, tzinfo=UTC)
    on_time = late(1, "assessment.completed", dated, dated + timedelta(minutes=2))
    at_limit = late(2, "approval.granted", dated, dated + timedelta(days=7))
    other_type = late(3, "decision.made", dated, dated + timedelta(days=60))
    dpia = {"kind": "dpia", "target": "model:credit@3.3", "result": "pass"}
    back_dated = late(
        4, "assessment.completed", dated, datetime(2026, 8, 6, 15, tzinfo=UTC), **dpia
    )
    approval = {"target": "model:credit@3.3", "stage": "deployment"}
    just_over = late(5, "approval.granted", dated, dated + timedelta(days=7, seconds=1), **approval)
    out = run(check, [on_time, at_limit, other_type, back_dated, just_over])
    assert [o.verdict for o in out] == ["fail", "fail"]
    assert out[0].evidence == refs(("trigger", back_dated))
    assert out[0].message == (
        "The DPIA of credit 3.3 passed on 9 Jul 2026 at 15:00 UTC, but this was recorded only on "
        "6 Aug 2026 at 15:00 UTC, 28 days later; the limit is 7 days."
    )
    assert out[0].due == dated + timedelta(days=7)
    assert out[1].message == (
        "dora approved credit 3.3 for deployment on 9 Jul 2026 at 15:00 UTC, but this was "
        "recorded only on 16 Jul 2026 at 15:00 UTC, 7 days later; the limit is 7 days."
    )
    assert check.stats == {"triggers": 4, "pass": 2, "fail": 2}
    assert check.open_count == 0 and check.finish(dated + timedelta(days=90)) == []


def test_recorded_late_every_type_hours_and_where() -> None:
    start = T0
    check = RecordedLate(None, "PT48H", when=trig('trigger.payload.kind == "dpia"'))
    events = [
        late(1, "assessment.completed", start, start + timedelta(hours=49), kind="dpia"),
        late(2, "assessment.completed", start, start + timedelta(hours=49), kind="risk"),
        late(3, "document.versioned", start, start + timedelta(hours=47), kind="dpia"),
    ]
    out = run(check, events)
    assert [o.evidence for o in out] == [refs(("trigger", events[0]))]
    assert out[0].message.endswith("2 days 1 hour later; the limit is 48 hours.")
    assert check.stats == {"triggers": 2, "pass": 1, "fail": 1}
    # A month on the exact calendar: 31 Jan + P1M is 28 Feb, not moved to a working day.
    monthly = RecordedLate(None, "P1M")
    jan = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert (
        run(monthly, [late(1, "training.completed", jan, datetime(2026, 2, 28, 12, tzinfo=UTC))])
        == []
    )
    assert (
        len(run(monthly, [late(2, "training.completed", jan, datetime(2026, 3, 1, tzinfo=UTC))]))
        == 1
    )
    # A calendar can be given (the Calendar protocol).
    assert run(RecordedLate(None, "P7D", calendar=CAL), [on_time_event()]) == []


def on_time_event() -> Event:
    return late(9, "model.trained", T0, T0)


def test_recorded_late_refuses_bad_parameters() -> None:
    with pytest.raises(ValidationError):
        RecordedLate(None, "7 days")
    with pytest.raises(ValidationError):
        RecordedLate(frozenset(), "P7D")
    with pytest.raises(ValidationError, match="must be compiled"):
        RecordedLate(None, "P7D", when=pair("true"))


# ---------------------------------------------------------------- min_distinct, several exclusions


def test_min_distinct_excludes_the_values_of_every_distinct_from_entry() -> None:
    check = two_approvers(
        TRAINER, Exclusion(event="dataset.registered", match_on=[["model", "dataset_id"]])
    )
    trained = ev(0, "model.trained", actor="tess", model="credit", version="3.2")
    prepared = ev(1, "dataset.registered", actor="dan", dataset_id="credit")
    approvals = [
        ev(2 + n, "approval.granted", actor=name, target="model:credit@3.2")
        for n, name in enumerate(("tess", "dan", "ana"))
    ]
    deploy = ev(5, "model.deployed", actor="ops", model="credit", version="3.2")
    bob = ev(6, "approval.granted", actor="bob", target="model:credit@3.2")
    again = ev(7, "model.deployed", actor="ops", model="credit", version="3.2")
    first, second = run(check, [trained, prepared, *approvals, deploy, bob, again])
    assert first.verdict == "fail"
    assert "with one approval (ana) besides those by " in first.message
    assert "(dan and tess)" in first.message
    assert first.message.endswith(
        "it needs approvals from two people other than its trainer or the person behind the "
        "dataset registration."
    )
    assert set(first.evidence) >= set(refs(("context", trained), ("context", prepared)))
    assert second.verdict == "pass"
    assert check.consumes() == {
        "model.deployed",
        "approval.granted",
        "model.trained",
        "dataset.registered",
    }


# ---------------------------------------------------------------- deadline extension options


def test_extension_where_and_without_the_original_deadline() -> None:
    check = Deadline(
        "dsr.received",
        "dsr.answered",
        ["payload.request_id"],
        calendar=CAL,
        period="P1M",
        extension=Extension(
            "dsr.extended",
            "P2M",
            where=pair('candidate.payload.reason != ""'),
            by_original_deadline=False,
        ),
    )
    received = ev(0, "dsr.received", at(1, 10), request_id="r")
    no_reason = ev(1, "dsr.extended", at(1, 12), request_id="r", reason="")
    late = ev(2, "dsr.extended", at(2, 20), request_id="r", reason="complex")
    answered = ev(3, "dsr.answered", at(4, 1), request_id="r")
    (outcome,) = run(check, [received, no_reason, late, answered])
    # The extension without a reason does not count; the late one does (not bound to the
    # original deadline): 10 Jan + P3M = 10 Apr.
    assert (outcome.verdict, outcome.due) == ("pass", at(4, 10))
    assert outcome.evidence == refs(
        ("trigger", received), ("counterpart", answered), ("context", late)
    )


# ---------------------------------------------------------------- holds


def registration(seq: int, risk_class: str, system: str = "credit") -> Event:
    payload = {"name": system, "risk_class": risk_class, "role": "deployer"}
    actor = {"id": "ana", "kind": "human"}
    return Event(seq, f"e{seq}", "system.registered", system, None, actor, T0, T0, payload)


def test_holds_judges_each_trigger_and_names_the_facts() -> None:
    check = Holds(
        "decision.made",
        require('trigger.payload.lawful_basis in ["contract", "consent"]'),
        when=trig("trigger.payload.solely_automated"),
    )
    contract = ev(0, "decision.made", lawful_basis="contract", solely_automated=True)
    interests = ev(1, "decision.made", lawful_basis="legitimate_interests", solely_automated=True)
    human = ev(2, "decision.made", lawful_basis="legitimate_interests", solely_automated=False)
    bare = ev(3, "decision.made", solely_automated=True)
    out = run(check, [contract, interests, human, bare])
    assert [(o.verdict, o.evidence) for o in out] == [
        ("pass", refs(("trigger", contract))),
        ("fail", refs(("trigger", interests))),
        ("needs_human", refs(("trigger", bare))),
    ]
    assert out[0].message.endswith(", and it meets the requirement: its lawful basis is contract.")
    assert out[1].message.endswith(
        ", and it does not meet the requirement: its lawful basis is legitimate interests."
    )
    assert "(its lawful basis is not recorded)" in out[2].message
    assert check.stats == {"triggers": 3, "pass": 1, "fail": 1, "needs_human": 1}
    assert check.consumes() == {"decision.made"} and check.open_count == 0
    assert check.finish(T0) == []


def test_holds_reads_the_latest_registration_of_the_system() -> None:
    check = Holds(["model.deployed", "decision.made"], require('system.risk_class != "prohibited"'))
    unregistered = ev(0, "decision.made")
    high = registration(1, "high")
    deployed = ev(2, "model.deployed")
    prohibited = registration(3, "prohibited")
    decided = ev(4, "decision.made")
    other = registration(5, "prohibited", system="other")
    out = run(check, [unregistered, high, deployed, prohibited, decided, other])
    assert [(o.verdict, o.evidence) for o in out] == [
        ("not_applicable", refs(("trigger", unregistered))),
        ("pass", refs(("trigger", deployed), ("context", high))),
        ("fail", refs(("trigger", decided), ("context", prohibited))),
    ]
    assert out[2].message.endswith(
        ", and it does not meet the requirement: its system's risk class is prohibited."
    )
    assert check.consumes() == {"model.deployed", "decision.made", "system.registered"}
    assert check.open_count == 2  # one registration per system


def test_holds_refuses_conditions_compiled_for_other_variables() -> None:
    with pytest.raises(ValidationError, match="must be compiled"):
        Holds("decision.made", trig("true"))
    with pytest.raises(ValidationError, match="must be compiled"):
        Holds("decision.made", require("true"), when=require("true"))
    with pytest.raises(ValidationError, match="at least one trigger"):
        Holds([], require("true"))


def test_a_requirement_on_the_registration_alone_is_evaluated_once_per_registration() -> None:
    condition = require('system.risk_class != "prohibited"')
    check = Holds("decision.made", condition)
    decisions = [ev(n, "decision.made") for n in range(1, 6)]
    out = run(
        check,
        [
            registration(0, "high"),
            *decisions,
            registration(6, "prohibited"),
            ev(7, "decision.made"),
        ],
    )
    assert [o.verdict for o in out] == ["pass"] * 5 + ["fail"]
    assert condition.stats["evaluated"] == 2
