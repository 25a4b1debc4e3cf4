"""auditml.sdk approvals, consent, reviews, requests, incidents and the other governance facts."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditml import Ledger, SignatureError, ValidationError
from auditml.events.payloads import validate_payload
from auditml.sdk import (
    answer_request,
    approval_key_id,
    approve,
    consent_state,
    deploy_model,
    extend_request,
    give_notice,
    grant_consent,
    grant_consents,
    receive_request,
    record_assessment,
    record_decision,
    record_document,
    record_log_purge,
    record_notification,
    record_registration,
    record_review,
    record_staff_training,
    record_training,
    register_dataset,
    register_system,
    reject,
    report_incident,
    retire_model,
    sign_approval,
    suspend_system,
    verify_approval_signature,
    withdraw_consent,
)

RAW = "ana.garcia@example.com"


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))


def only(ledger: Ledger, event_type: str) -> Any:
    [event] = ledger.events(type=event_type)
    validate_payload(event_type, event.payload, where=f"seq {event.seq}")
    return event


def decide(ledger: Ledger, subject: str = RAW) -> str:
    receipt = record_decision(
        ledger,
        model="credit",
        version="3.2",
        purpose="credit scoring",
        lawful_basis="contract",
        subject=subject,
        inputs={"income": 1},
        output={"score": 0.1},
        solely_automated=True,
        legal_effect=True,
    )
    return receipt.id


# -- approvals ---------------------------------------------------------------------------


def test_signed_approval_round_trip(ledger: Ledger) -> None:
    record_training(ledger, model="credit", version="3.2", datasets="loans", artifact="ab" * 32)
    key = Ed25519PrivateKey.generate()
    result = approve(
        ledger,
        "model:credit@3.2",
        "deployment",
        "DPIA and bias audit passed",
        approver="ana",
        approver_key=key,
    )
    assert result.target_recorded is True and result.warning is None
    event = only(ledger, "approval.granted")
    assert event.actor.id == "ana" and event.actor.kind == "human"
    signature = event.payload["signature"]
    assert signature == result.signature
    assert signature["algorithm"] == "ed25519"
    assert signature["key_id"] == approval_key_id(key.public_key())
    # The documented construction, independently: Ed25519 over SHA-256(target).
    key.public_key().verify(
        base64.b64decode(signature["signature"]),
        hashlib.sha256(b"model:credit@3.2").digest(),
    )
    verify_approval_signature(event, key.public_key())
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    verify_approval_signature(event.payload, raw)


def test_tampered_or_foreign_signatures_are_refused(ledger: Ledger) -> None:
    key = Ed25519PrivateKey.generate()
    result = approve(ledger, "model:credit@3.2", "deployment", "ok", approver_key=key)
    payload = ledger.get(result.receipt.seq).payload
    with pytest.raises(SignatureError, match="does not verify over target 'model:credit@3.3'"):
        verify_approval_signature({**payload, "target": "model:credit@3.3"}, key.public_key())
    flipped = bytearray(base64.b64decode(payload["signature"]["signature"]))
    flipped[10] ^= 1
    tampered = {**payload["signature"], "signature": base64.b64encode(flipped).decode()}
    with pytest.raises(SignatureError, match="does not verify"):
        verify_approval_signature({**payload, "signature": tampered}, key.public_key())
    with pytest.raises(SignatureError, match="was signed by key"):
        verify_approval_signature(payload, Ed25519PrivateKey.generate().public_key())
    bad_base64 = {**payload["signature"], "signature": "!!!"}
    with pytest.raises(SignatureError, match="not valid base64"):
        verify_approval_signature({**payload, "signature": bad_base64}, key.public_key())
    unsigned = reject(ledger, "model:credit@3.2", "deployment", "no", approver="bo")
    with pytest.raises(SignatureError, match="carries no approver signature"):
        verify_approval_signature(ledger.get(unsigned.receipt.seq), key.public_key())
    with pytest.raises(ValidationError, match="not an approval"):
        verify_approval_signature(ledger.get(decide(ledger)), key.public_key())


def test_signature_made_elsewhere_is_recorded(ledger: Ledger) -> None:
    key = Ed25519PrivateKey.generate()
    signature = sign_approval(key, "dataset:loans-2025")  # on the approver's machine
    result = reject(ledger, "dataset:loans-2025", "training", "consent gaps", signature=signature)
    verify_approval_signature(only(ledger, "approval.rejected"), key.public_key())
    assert result.signature == signature
    with pytest.raises(ValidationError, match="not both"):
        approve(ledger, "x", "training", "r", approver_key=key, signature=signature)


def test_approving_an_unrecorded_target_is_recorded_with_a_warning(
    ledger: Ledger, tmp_path: Path
) -> None:
    result = approve(ledger, "model:credit@9.9", "deployment", "looks fine")
    assert result.target_recorded is False
    assert result.warning is not None and "'model:credit@9.9' has no record" in result.warning
    assert len(ledger) == 1  # recorded anyway: policies judge
    (tmp_path / "d.csv").write_bytes(b"1\n")
    register_dataset(ledger, "loans", "d.csv", purposes="p", contains_personal_data=False)
    assert approve(ledger, "dataset:loans", "training", "ok").target_recorded is True
    assert approve(ledger, "dataset:other", "training", "ok").target_recorded is False
    assert approve(ledger, "policy:" + "ab" * 32, "policy", "ok").target_recorded is False
    register_system(
        ledger,
        "Credit scoring",
        role="deployer",
        risk_class="high",
        purposes="credit",
        public_authority=False,
    )
    assert approve(ledger, "system:default", "deployment", "ok").target_recorded is True
    assert approve(ledger, "system:other", "deployment", "ok").target_recorded is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stage": "deploy"}, "stage must be one of deployment, training, policy, got 'deploy'"),
        ({"rationale": ""}, "rationale must be a non-empty string"),
        ({"approver": {"id": "ci", "kind": "service"}}, "approver must be a person"),
        ({"approver": "ana", "actor": {"id": "bo", "kind": "human"}}, "not both"),
    ],
)
def test_approval_mistakes_are_refused(
    ledger: Ledger, change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "target": "model:credit@3.2",
        "stage": "deployment",
        "rationale": "ok",
        **change,
    }
    with pytest.raises(ValidationError, match=message):
        approve(ledger, **arguments)
    assert len(ledger) == 0


# -- consent ---------------------------------------------------------------------------


def test_consent_state_replays_the_subjects_events_newest_wins(
    ledger: Ledger, tmp_path: Path
) -> None:
    assert consent_state(ledger, RAW) == {}
    grant_consent(ledger, RAW, "marketing", notice_version="2026-01")
    grant_consent(ledger, RAW, "profiling", explicit=True)
    grant_consent(ledger, "someone-else", "research")
    withdraw_consent(ledger, RAW, "marketing")
    assert consent_state(ledger, RAW) == {"marketing": False, "profiling": True}
    assert consent_state(ledger, "someone-else") == {"research": True}
    # A withdrawal recorded late but dated earlier than a later re-grant: occurred_at wins.
    grant_consent(ledger, RAW, "profiling", occurred_at="2030-01-01T00:00:00Z")
    withdraw_consent(ledger, RAW, "profiling", occurred_at="2029-06-01T00:00:00Z")
    assert consent_state(ledger, RAW)["profiling"] is True
    assert consent_state(ledger, RAW, as_of="2029-12-31T00:00:00Z")["profiling"] is False
    assert consent_state(ledger, RAW, as_of=datetime(2000, 1, 1, tzinfo=UTC)) == {}
    granted = list(ledger.events(type="consent.granted"))
    assert granted[0].payload == {
        "purpose": "marketing",
        "explicit": True,
        "notice_version": "2026-01",
    }
    assert RAW.encode() not in database_bytes(tmp_path)
    with pytest.raises(ValidationError, match="grant_consent: subject must be a non-empty"):
        grant_consent(ledger, "", "marketing")


def test_grant_consents_records_a_batch_in_one_transaction(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subjects = [f"c-{n}@example.com" for n in range(50)]
    calls: list[int] = []
    record_many = ledger.record_many
    monkeypatch.setattr(
        ledger, "record_many", lambda items, **kw: calls.append(1) or record_many(items, **kw)
    )
    receipts = grant_consents(
        ledger, subjects, "marketing", notice_version="2026-01", occurred_at=NOW
    )
    assert calls == [1]  # one record_many: one transaction
    assert [r.seq for r in receipts] == list(range(50))
    granted = list(ledger.events(type="consent.granted"))
    assert [e.subject for e in granted] == [ledger.subject_token(s) for s in subjects]
    assert {e.occurred_at for e in granted} == {NOW_TEXT}
    assert granted[0].payload == {
        "purpose": "marketing",
        "explicit": True,
        "notice_version": "2026-01",
    }
    assert consent_state(ledger, subjects[7]) == {"marketing": True}
    assert b"@example.com" not in database_bytes(tmp_path)
    # Idempotency keys, one per subject: a re-run records nothing twice.
    first = grant_consents(ledger, ["a", "b"], "research", explicit=False, ids=["k-a", "k-b"])
    again = grant_consents(ledger, ["a", "b"], "research", explicit=False, ids=["k-a", "k-b"])
    assert first == again and len(ledger) == 52
    assert grant_consents(ledger, [], "research") == []


@pytest.mark.parametrize(
    ("subjects", "change", "message"),
    [
        (["a", "", "c"], {}, r"grant_consents: subjects\[1\] must be a non-empty string"),
        ("c-1042", {}, "got the single string 'c-1042'; use grant_consent for one subject"),
        (["a", "b"], {"ids": ["k-1"]}, "one id per subject is needed, got 1 ids for 2"),
        (["a", "b"], {"ids": ["k-1", "bad id"]}, r"subjects\[1\]: event id 'bad id' must be"),
        (["a"], {"id": "k-1"}, r"unexpected option\(s\) id \(give one idempotency key"),
        (["a"], {"purpose": ""}, "purpose must be a non-empty string"),
        (["a"], {"explicit": "yes"}, "explicit must be True or False"),
    ],
)
def test_grant_consents_refuses_mistakes_recording_nothing(
    ledger: Ledger, subjects: Any, change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"purpose": "marketing", **change}
    with pytest.raises(ValidationError, match=message):
        grant_consents(ledger, subjects, **arguments)
    assert len(ledger) == 0


# -- reviews ---------------------------------------------------------------------------


def test_review_is_by_a_human_with_a_sealed_reason(ledger: Ledger, tmp_path: Path) -> None:
    decision_id = decide(ledger)
    # The decision's id is enough: the review is about the decision's subject.
    record_review(ledger, decision_id, "overridden", "payslips show a higher income", "ana")
    event = only(ledger, "review.completed")
    assert event.actor.to_json() == {"id": "ana", "kind": "human"}
    assert event.payload["reason"] == "payslips show a higher income"
    assert event.subject == only(ledger, "decision.made").subject
    assert list(ledger.events(subject=RAW, type="review.completed")) == [event]
    assert b"payslips" not in database_bytes(tmp_path)
    with pytest.raises(ValidationError, match="outcome must be one of upheld, overridden"):
        record_review(ledger, decision_id, "approved", "r", "ana")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is a review.completed, not a decision.made"):
        record_review(ledger, event.id, "upheld", "r", "ana")
    with pytest.raises(ValidationError, match="is a review.completed, not a decision.made"):
        record_review(ledger, event.id, "upheld", "r", "ana", subject=RAW)
    with pytest.raises(
        ValidationError, match=r"record_review: this ledger has no event with id 'elsewhere-1'"
    ):
        record_review(ledger, "elsewhere-1", "upheld", "r", "ana")
    assert len(list(ledger.events(type="review.completed"))) == 1


def test_review_with_the_subject_given_checks_it_is_the_decisions(ledger: Ledger) -> None:
    decision_id = decide(ledger)
    receipt = record_review(ledger, decision_id, "upheld", "checked", "ana", subject=RAW)
    assert ledger.get(receipt.id).subject == ledger.get(decision_id).subject
    with pytest.raises(ValidationError, match="is about another subject"):
        record_review(ledger, decision_id, "upheld", "r", "ana", subject="bo@example.com")
    # A decision recorded elsewhere (not in this ledger) is not refused when the subject
    # is given: the reason is sealed under that person's key.
    record_review(ledger, "elsewhere-1", "upheld", "r", {"id": "bo", "kind": "human"}, subject=RAW)
    assert len(list(ledger.events(type="review.completed"))) == 2


def test_review_of_a_decision_still_queued_for_group_commit(ledger: Ledger) -> None:
    queued = record_decision(
        ledger,
        model="credit",
        version="3.2",
        purpose="credit scoring",
        lawful_basis="contract",
        subject=RAW,
        inputs={"income": 1},
        output={"score": 0.1},
        solely_automated=True,
        legal_effect=True,
        wait=False,
        id="req-1",
    )
    receipt = record_review(ledger, "req-1", "upheld", "checked", "ana")  # reads flush first
    assert queued.result(timeout=10).id == "req-1"
    assert ledger.get(receipt.id).subject == ledger.subject_token(RAW)


# -- everything else: one call each, read back -------------------------------------------------

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW_TEXT = "2026-03-02T10:00:00.000000Z"


def write_doc(ledger: Ledger) -> Any:
    Path("doc.pdf").write_bytes(b"%PDF-1.7 tech doc")
    return record_document(ledger, "tech_doc", "credit@3.2", "1.4", "doc.pdf")


CASES: list[tuple[str, Callable[[Ledger], Any], dict[str, Any]]] = [
    (
        "system.registered",
        lambda led: register_system(
            led,
            "Credit scoring",
            role="deployer",
            risk_class="high",
            purposes=["credit"],
            public_authority=False,
            annex_iii_point="5(b)",
        ),
        {
            "name": "Credit scoring",
            "role": "deployer",
            "risk_class": "high",
            "annex_iii_point": "5(b)",
            "purposes": ["credit"],
            "public_authority": False,
        },
    ),
    (
        "assessment.completed",
        lambda led: record_assessment(led, "dpia", "credit@3.2", "pass", signer="dpo"),
        {"kind": "dpia", "target": "model:credit@3.2", "result": "pass", "signer": "dpo"},
    ),
    (
        "document.versioned",
        write_doc,
        {
            "kind": "tech_doc",
            "target": "model:credit@3.2",
            "version": "1.4",
            "sha256": hashlib.sha256(b"%PDF-1.7 tech doc").hexdigest(),
        },
    ),
    (
        "registration.completed",
        lambda led: record_registration(led, "eu", "system:credit-scoring", "EU-2026-1"),
        {"database": "eu", "target": "system:credit-scoring", "reference": "EU-2026-1"},
    ),
    (
        "training.completed",
        lambda led: record_staff_training(led, "emp-311", "oversight"),
        {"person": "emp-311", "course": "oversight"},
    ),
    (
        "notice.given",
        lambda led: give_notice(led, "workers", "system:shift-planner"),
        {"audience": "workers", "target": "system:shift-planner"},
    ),
    (
        "log.purged",
        lambda led: record_log_purge(led, NOW, "6 months retention"),
        {"up_to": NOW_TEXT, "reason": "6 months retention"},
    ),
    (
        "system.suspended",
        lambda led: suspend_system(led, "incident inc-9"),
        {"reason": "incident inc-9"},
    ),
    (
        "model.deployed",
        lambda led: deploy_model(led, "credit", "3.2", "production"),
        {"model": "credit", "version": "3.2", "environment": "production"},
    ),
    (
        "model.retired",
        lambda led: retire_model(led, "credit", "3.1", "production"),
        {"model": "credit", "version": "3.1", "environment": "production"},
    ),
    (
        "dsr.received",
        lambda led: receive_request(
            led, RAW, "dsr-77", "access", received_at="2026-03-02T11:00+01:00"
        ),
        {"request_id": "dsr-77", "kind": "access", "received_at": NOW_TEXT},
    ),
    (
        "dsr.extended",
        lambda led: extend_request(led, "dsr-77", "complex"),
        {"request_id": "dsr-77", "reason": "complex"},
    ),
    (
        "dsr.answered",
        lambda led: answer_request(led, "dsr-77", "refused", ground="Art. 12(5)"),
        {"request_id": "dsr-77", "outcome": "refused", "ground": "Art. 12(5)"},
    ),
    (
        "incident.reported",
        lambda led: report_incident(
            led,
            "inc-9",
            "breach",
            aware_at=NOW,
            severity="high",
            widespread=False,
            outcome="rights",
        ),
        {
            "incident_id": "inc-9",
            "kind": "breach",
            "aware_at": NOW_TEXT,
            "severity": "high",
            "outcome": "rights",
            "widespread": False,
        },
    ),
    (
        "notification.sent",
        lambda led: record_notification(led, "supervisory_authority", "inc-9", sent_at=NOW),
        {"to": "supervisory_authority", "about": "inc-9", "sent_at": NOW_TEXT},
    ),
]


@pytest.mark.parametrize(("event_type", "call", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_helper_records_its_event(
    ledger: Ledger, event_type: str, call: Callable[[Ledger], Any], expected: dict[str, Any]
) -> None:
    receipt = call(ledger)
    event = only(ledger, event_type)
    assert event.payload == expected
    assert event.seq == receipt.seq


def test_subject_requests_are_about_a_subject(ledger: Ledger, tmp_path: Path) -> None:
    receive_request(
        ledger, RAW, "dsr-1", "erasure", received_at=NOW, personal={"reply_to": "ana@home.example"}
    )
    event = only(ledger, "dsr.received")
    assert event.subject == ledger.subject_token(RAW)
    assert event.payload["personal"] == {"reply_to": "ana@home.example"}
    assert b"ana@home.example" not in database_bytes(tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda led: receive_request(led, RAW, "d", "delete", received_at=NOW),
            "kind must be one of access, erasure",
        ),
        (
            lambda led: receive_request(led, RAW, "d", "access", received_at="2026-03-02"),
            "received_at.*has no timezone",
        ),
        (lambda led: answer_request(led, "d", "done"), "outcome must be one of completed, refused"),
        (
            lambda led: report_incident(
                led, "i", "leak", aware_at=NOW, severity="s", widespread=False
            ),
            "kind must be one of breach",
        ),
        (
            lambda led: report_incident(
                led, "i", "breach", aware_at=NOW, severity="s", widespread=1
            ),
            "widespread must be True or False",
        ),
        (
            lambda led: record_notification(led, "dpa", "i", sent_at=NOW),
            "to must be one of supervisory_authority",
        ),
        (
            lambda led: register_system(
                led, "n", role="user", risk_class="high", purposes="p", public_authority=False
            ),
            "role must be one of provider, deployer, both",
        ),
        (
            lambda led: record_assessment(led, "audit", "t", "pass", signer="s"),
            "kind must be one of dpia",
        ),
        (
            lambda led: record_document(led, "tech_doc", "t", "1", "missing.pdf"),
            "cannot hash missing.pdf",
        ),
        (lambda led: give_notice(led, "public", "t"), "audience must be one of workers, subjects"),
        (
            lambda led: record_registration(led, "us", "t", "r"),
            "database must be one of eu, national",
        ),
    ],
)
def test_helpers_refuse_obvious_mistakes(
    ledger: Ledger, call: Callable[[Ledger], Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        call(ledger)
    assert len(ledger) == 0
