"""Privacy by default: raw subject identifiers never reach the database, personal fields are sealed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import StepClock, database_bytes, disable_append_only, sql

from auditml import ConfigError, IntegrityError, Ledger, ValidationError
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file

RAW = "ana.garcia@example.com"
PERSONAL = {"name": "Ana García", "email": RAW, "address": "Calle Mayor 1, Madrid"}


def decision(**extra: object) -> dict[str, object]:
    return {
        "model": "credit",
        "version": "3.2",
        "purpose": "creditworthiness assessment",
        "lawful_basis": "contract",
        "input_sha256": "ab" * 32,
        "output": {"decision": "refer", "score": 0.31},
        "solely_automated": False,
        "legal_effect": True,
        **extra,
    }


def test_raw_identifier_and_personal_data_never_reach_the_database(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    receipt = ledger.record(
        "decision.made",
        payload=decision(
            features={"income": 52000, "postcode": "28013"}, explanation="income below threshold"
        ),
        subject=RAW,
        personal=PERSONAL,
    )
    ledger.record(
        "consent.granted", payload={"purpose": "marketing", "explicit": True}, subject=RAW
    )
    stored = database_bytes(db_url)
    for secret in (RAW, "Ana Garc", "Calle Mayor", "28013", "income below threshold"):
        assert secret.encode() not in stored, secret
    assert "García".encode() not in stored
    # Reads open the sealed fields while the subject's key exists.
    event = ledger.get(receipt.seq)
    assert event.subject is not None and event.subject.startswith("sub_")
    assert event.payload["personal"] == PERSONAL
    assert event.payload["features"] == {"income": 52000, "postcode": "28013"}
    assert event.payload["explanation"] == "income below threshold"
    assert event.payload["output"] == {"decision": "refer", "score": 0.31}  # not personal: clear
    body = json.loads(
        sql(db_url, "SELECT body FROM events WHERE seq = :seq", seq=receipt.seq)[0][0]
    )
    # Sealed in two layers (the subject's key, the class key of decision.made for the month).
    assert body["payload"]["personal"]["epoch"] == body["recorded_at"][:7]
    assert set(body["payload"]["personal"]) == {"sealed", "epoch"} and set(
        body["payload"]["explanation"]
    ) == {"sealed", "epoch"}
    assert ledger.verify(deep=True).size == 2


def test_one_subject_one_token(ledger: Ledger) -> None:
    first = ledger.record(
        "consent.granted", payload={"purpose": "scoring", "explicit": True}, subject=RAW
    )
    second = ledger.record("consent.withdrawn", payload={"purpose": "scoring"}, subject=RAW)
    other = ledger.record(
        "consent.granted", payload={"purpose": "scoring", "explicit": True}, subject="bob"
    )
    token = ledger.subject_token(RAW)
    assert token == ledger.get(first.seq).subject == ledger.get(second.seq).subject
    assert ledger.get(other.seq).subject not in (None, token)
    assert ledger.subject_token("nobody@example.com") is None


def test_sealed_fields_need_a_subject(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match="decision.made.*subject is required"):
        ledger.record("decision.made", payload=decision(explanation="x"))
    with pytest.raises(ValidationError, match="personal fields .personal. are sealed"):
        ledger.record(
            "model.deployed",
            payload={"model": "m", "version": "1", "environment": "p"},
            personal={"note": "x"},
        )
    assert len(ledger) == 0


def test_erased_subject_reads_as_erased_and_proofs_still_verify(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    receipt = ledger.record(
        "decision.made", payload=decision(explanation="why"), subject=RAW, personal=PERSONAL
    )
    evidence = ledger.prove(receipt.seq)
    ledger.erase(RAW, reason="Art. 17")  # the key is gone for good (a bare DELETE fails verify)
    event = ledger.get(receipt.seq)
    assert event.payload["personal"] == {"erased": True} and event.payload["explanation"] == {
        "erased": True
    }
    assert ledger.subject_token(RAW) is None
    assert ledger.verify(deep=True).size == 2
    assert (
        verify_evidence(evidence, load_vkey_file(tmp_path / "keys" / "ledger.vkey")).events_verified
        == 1
    )


def test_a_sealed_value_moved_to_another_subject_does_not_open(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    ana = ledger.record("decision.made", payload=decision(explanation="ana's reason"), subject=RAW)
    bob = ledger.record(
        "decision.made", payload=decision(explanation="bob's reason"), subject="bob"
    )
    disable_append_only(db_url)
    ana_body, bob_body = (
        json.loads(sql(db_url, "SELECT body FROM events WHERE seq = :seq", seq=seq)[0][0])
        for seq in (ana.seq, bob.seq)
    )
    bob_body["payload"]["explanation"] = ana_body["payload"]["explanation"]
    sql(
        db_url,
        "UPDATE events SET body = :body WHERE seq = :seq",
        body=json.dumps(bob_body).encode(),
        seq=bob.seq,
    )
    with pytest.raises(IntegrityError, match="does not open"):
        ledger.get(bob.seq)


def test_retries_with_personal_data_are_idempotent(ledger: Ledger) -> None:
    first = ledger.record(
        "decision.made", payload=decision(), subject=RAW, personal=PERSONAL, id="d-1"
    )
    assert (
        ledger.record("decision.made", payload=decision(), subject=RAW, personal=PERSONAL, id="d-1")
        == first
    )
    with pytest.raises(ValidationError, match="different content"):
        ledger.record(
            "decision.made", payload=decision(), subject=RAW, personal={"name": "Other"}, id="d-1"
        )
    with pytest.raises(ValidationError, match="different content"):
        ledger.record(
            "decision.made", payload=decision(), subject="bob", personal=PERSONAL, id="d-1"
        )
    assert len(ledger) == 1


def test_without_the_privacy_keys(db_url: str, tmp_path: Path, clock: StepClock) -> None:
    with Ledger.create(
        db_url, origin="t.example/p", key_dir=tmp_path / "keys", clock=clock
    ) as ledger:
        seq = ledger.record("decision.made", payload=decision(explanation="why"), subject=RAW).seq
    for name in ("subjects.kek", "subjects.lookup"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600
        (tmp_path / "keys" / name).unlink()
    with Ledger.open(db_url, key_dir=tmp_path / "keys") as ledger:
        sealed = ledger.get(seq).payload["explanation"]
        assert set(sealed) == {"sealed", "epoch"}  # unreadable, not erased
        with pytest.raises(ConfigError, match="privacy keys"):
            ledger.record(
                "consent.granted", payload={"purpose": "x", "explicit": True}, subject=RAW
            )
        ledger.record(
            "model.deployed", payload={"model": "m", "version": "1", "environment": "prod"}
        )


def test_events_filter_by_subject_raw_or_token(ledger: Ledger) -> None:
    ledger.record("consent.granted", payload={"purpose": "scoring", "explicit": True}, subject=RAW)
    ledger.record(
        "consent.granted", payload={"purpose": "scoring", "explicit": True}, subject="bob"
    )
    ledger.record("decision.made", payload=decision(), subject=RAW)
    mine = [e.type for e in ledger.events(subject=RAW)]
    assert mine == ["consent.granted", "decision.made"]
    token = ledger.subject_token(RAW)
    assert [e.seq for e in ledger.events(subject_token=token)] == [0, 2]
    assert list(ledger.events(subject="nobody")) == []


def test_a_known_subject_can_be_named_by_its_token(ledger: Ledger) -> None:
    decided = ledger.record("decision.made", payload=decision(), subject=RAW)
    token = ledger.get(decided.seq).subject
    assert token is not None
    review = {"decision_id": decided.id, "outcome": "overridden", "reason": "income was misread"}
    reviewed = ledger.record("review.completed", payload=review, subject_token=token)
    event = ledger.get(reviewed.seq)
    assert event.subject == token and event.payload["reason"] == "income was misread"
    with pytest.raises(ValidationError, match="not a subject of this ledger"):
        ledger.record("review.completed", payload=review, subject_token="sub_" + "a" * 26)
    with pytest.raises(ValidationError, match="not a subject token"):
        ledger.record("review.completed", payload=review, subject_token=RAW)
    with pytest.raises(ValidationError, match="not both"):
        ledger.record("review.completed", payload=review, subject=RAW, subject_token=token)
