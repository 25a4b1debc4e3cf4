"""GDPR erasure and retention purges by crypto-shredding, on SQLite and PostgreSQL.

After an erasure: verification passes, earlier evidence still verifies, sealed fields read
as erased, nothing links the identifier to the token, lineage still answers by token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock, database_bytes, sql
from test_cli import auditml

from auditml import Ledger, NotFoundError
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.lineage import build_lineage, subject_impact
from auditml.policy.engine import evaluate
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.policy.stream import ledger_events
from auditml.privacy.crypto import field_aad, is_sealed, seal, unseal_fields, unwrap_key
from auditml.report.identity import create_signing_identity
from auditml.report.issue import issue_report
from auditml.report.verify import verify_report

RAW = "ana.garcia@example.com"
PERSONAL = {"name": "Ana García", "email": RAW}
ERASED = {"erased": True}


def decision(version: str = "1.0", **extra: object) -> dict[str, object]:
    return {
        "model": "credit",
        "version": version,
        "purpose": "creditworthiness",
        "lawful_basis": "consent",
        "input_sha256": "ab" * 32,
        "output": {"decision": "refer"},
        "solely_automated": False,
        "legal_effect": True,
        **extra,
    }


def story(ledger: Ledger) -> dict[str, int]:
    """Ana consents, is scored twice, and asks to be erased; Bob is scored once."""
    ledger.record(
        "dataset.registered",
        payload={
            "dataset_id": "applicants",
            "name": "Applicants",
            "uri": "s3://data/applicants",
            "sha256": "cd" * 32,
            "contains_personal_data": True,
            "special_categories": [],
            "lawful_basis": "consent",
            "purposes": ["creditworthiness"],
        },
    )
    consent = ledger.record(
        "consent.granted",
        payload={"purpose": "creditworthiness", "explicit": True},
        subject=RAW,
        personal=PERSONAL,
    )
    first = ledger.record("decision.made", payload=decision(explanation="low income"), subject=RAW)
    second = ledger.record("decision.made", payload=decision("2.0"), subject=RAW, personal=PERSONAL)
    bob = ledger.record("decision.made", payload=decision(explanation="bob's"), subject="bob")
    request = ledger.record(
        "dsr.received",
        payload={"request_id": "dsr-9", "kind": "erasure", "received_at": "2026-01-05T09:00:00Z"},
        subject=RAW,
    )
    return {
        "consent": consent.seq,
        "first": first.seq,
        "second": second.seq,
        "bob": bob.seq,
        "request": request.seq,
    }


def test_erasure_shreds_the_subject_and_everything_still_verifies(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    seqs = story(ledger)
    token = ledger.subject_token(RAW)
    assert token is not None
    evidence = ledger.prove(seqs["first"])
    checkpoint = ledger.checkpoint()

    receipt = ledger.erase(RAW, reason="Art. 17(1)(b): consent withdrawn", request_id="dsr-9")

    # Recorded: erasure.completed about the token, and the request answered as completed.
    erasure = ledger.get(receipt.seq)
    assert erasure.type == "erasure.completed" and erasure.subject == token
    assert erasure.payload == {
        "method": "crypto-shred",
        "reason": "Art. 17(1)(b): consent withdrawn",
        "request_id": "dsr-9",
    }
    answered = ledger.get(receipt.seq + 1)
    assert answered.type == "dsr.answered"
    assert answered.payload == {"request_id": "dsr-9", "outcome": "completed"}
    # The token is unlinkable: no row maps anything to it, and the identifier finds nothing.
    assert sql(db_url, "SELECT count(*) FROM subjects WHERE token = :t", t=token) == [(0,)]
    assert ledger.subject_token(RAW) is None
    assert RAW.encode() not in database_bytes(db_url)
    # Sealed fields read as erased; what was never sealed stays readable; Bob is untouched.
    first, second = ledger.get(seqs["first"]), ledger.get(seqs["second"])
    assert first.payload["explanation"] == ERASED and second.payload["personal"] == ERASED
    assert first.payload["output"] == {"decision": "refer"} and first.subject == token
    assert ledger.get(seqs["consent"]).payload["personal"] == ERASED
    assert ledger.get(seqs["bob"]).payload["explanation"] == "bob's"
    # Every proof still holds: deep verification, earlier evidence, the earlier checkpoint.
    (tmp_path / "before.note").write_text(checkpoint.note)
    trusted = tmp_path / "before.note"
    assert ledger.verify(deep=True, trusted_checkpoint=trusted).size == len(ledger)
    keys = load_vkey_file(tmp_path / "keys" / "ledger.vkey")
    assert verify_evidence(evidence, keys).events_verified == 1
    # Lineage still answers by token: the consent-matched dataset and both model versions.
    graph = build_lineage([e.to_json() for e in ledger.events()])
    impact = subject_impact(graph, token)
    assert impact.erased and impact.erasure is not None and impact.erasure.seq == receipt.seq
    assert [d.dataset_id for d in impact.matched_datasets] == ["applicants"]
    assert {(d.version, d.count) for d in impact.decisions} == {("1.0", 1), ("2.0", 1)}
    # The erasure request counts as answered in time (GDPR Art. 17 with 12(3)).
    rules = load_rules(default_policies_dir())
    as_of = ledger.now()
    evaluation = evaluate(rules, ledger_events(ledger, as_of=as_of), as_of=as_of)
    verdicts = {r.rule_id: r.verdict for r in evaluation.rules}
    assert verdicts["gdpr-17-erasure-request-deadline"] == "pass"
    # The same person recorded again is a new, unrelated subject.
    again = ledger.record(
        "consent.granted", payload={"purpose": "x", "explicit": True}, subject=RAW
    )
    assert ledger.get(again.seq).subject not in (None, token)


def test_erasing_nothing_writes_nothing_and_says_why(ledger: Ledger) -> None:
    story(ledger)
    size = len(ledger)
    with pytest.raises(NotFoundError, match="no subject with that identifier"):
        ledger.erase("nobody@example.com", reason="r")
    with pytest.raises(NotFoundError, match="no dsr.received with request id 'dsr-404'"):
        ledger.erase(RAW, reason="r", request_id="dsr-404")
    token = ledger.subject_token(RAW)
    ledger.erase(token=token, reason="r")
    with pytest.raises(NotFoundError, match="already erased"):
        ledger.erase(token=token, reason="again")
    assert len(ledger) == size + 1  # only the one erasure.completed


def months_of_story(ledger: Ledger, clock: StepClock) -> dict[tuple[str, int, str], int]:
    """Ana and Bob consent and are scored in January, February and March 2026."""
    seqs = {}
    for month in (1, 2, 3):
        clock.now = datetime(2026, month, 10, 9, 0, tzinfo=UTC)
        for who in ("ana", "bob"):
            seqs[("consent", month, who)] = ledger.record(
                "consent.granted",
                payload={"purpose": "creditworthiness", "explicit": True},
                subject=who,
                personal={"name": who},
            ).seq
            seqs[("decision", month, who)] = ledger.record(
                "decision.made",
                payload=decision(explanation=f"{who} {month}", features={"income": month}),
                subject=who,
                personal={"name": who},
            ).seq
    return seqs


def test_purge_shreds_one_event_class_by_month_and_keeps_the_rest(
    db_url: str, tmp_path: Path
) -> None:
    clock = StepClock()
    with Ledger.create(db_url, origin="t.example/p", key_dir=tmp_path / "k", clock=clock) as ledger:
        seqs = months_of_story(ledger, clock)
        evidence = ledger.prove(seqs[("decision", 1, "ana")])
        # One key per (event type, month) that something was sealed under.
        assert sql(db_url, "SELECT class, epoch FROM class_keys ORDER BY class, epoch") == [
            (kind, f"2026-0{m}") for kind in ("consent.granted", "decision.made") for m in (1, 2, 3)
        ]
        clock.now = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
        receipt, shredded = ledger.purge(
            "2026-03-05T12:00:00Z", reason="decision logs: 6 months", types=["decision.made"]
        )
        # A cut-off inside March keeps March: January's and February's decision keys go.
        assert shredded == 2
        purged = ledger.get(receipt.seq)
        assert purged.type == "log.purged"
        assert purged.payload == {
            "up_to": "2026-03-01T00:00:00.000000Z",
            "reason": "decision logs: 6 months",
            "types": ["decision.made"],  # on the record: verify checks missing keys against it
        }
        for who in ("ana", "bob"):
            for month in (1, 2, 3):
                made = ledger.get(seqs[("decision", month, who)]).payload
                sealed = (made["explanation"], made["features"], made["personal"])
                if month < 3:
                    assert sealed == (ERASED, ERASED, ERASED)
                else:
                    assert sealed == (f"{who} {month}", {"income": month}, {"name": who})
                assert made["output"] == {"decision": "refer"}  # never sealed: readable
                consent = ledger.get(seqs[("consent", month, who)]).payload
                assert consent["personal"] == {"name": who}
        assert ledger.subject_token("ana") is not None  # subjects keep their keys
        assert ledger.verify(deep=True).size == len(ledger)
        keys = load_vkey_file(tmp_path / "k" / "ledger.vkey")
        assert verify_evidence(evidence, keys).events_verified == 1
        # Six months between up_to and the purge: the AI Act retention rule is met.
        as_of = ledger.now()
        evaluation = evaluate(
            load_rules(default_policies_dir()), ledger_events(ledger, as_of=as_of), as_of=as_of
        )
        verdicts = {r.rule_id: r.verdict for r in evaluation.rules}
        assert verdicts["aiact-19-26-6-log-retention"] != "fail"

        # Erasure still shreds a subject's values in every class and month.
        ledger.erase("ana", reason="Art. 17(1)(b)")
        assert ledger.get(seqs[("consent", 2, "ana")]).payload["personal"] == ERASED
        assert ledger.get(seqs[("decision", 3, "ana")]).payload["explanation"] == ERASED
        assert ledger.get(seqs[("decision", 3, "bob")]).payload["explanation"] == "bob 3"

        # Without types, every class of the months before the cut-off is shredded.
        _, shredded = ledger.purge("2026-02-01T00:00:00Z", reason="all logs of January")
        assert shredded == 1  # consent.granted of January (decision.made's is gone already)
        assert ledger.get(seqs[("consent", 1, "bob")]).payload["personal"] == ERASED
        assert ledger.get(seqs[("consent", 2, "bob")]).payload["personal"] == {"name": "bob"}
        # Nothing left to shred: the purge is still recorded, and says 0.
        again, shredded = ledger.purge("2026-02-01T00:00:00Z", reason="again")
        assert (
            shredded == 0
            and ledger.get(again.seq).payload["up_to"] == "2026-02-01T00:00:00.000000Z"
        )
        assert sql(db_url, "SELECT class, epoch FROM class_keys ORDER BY class, epoch") == [
            ("consent.granted", "2026-02"),
            ("consent.granted", "2026-03"),
            ("decision.made", "2026-03"),
        ]
        assert ledger.verify(deep=True).size == len(ledger)
        assert verify_evidence(evidence, keys).events_verified == 1


def test_events_without_sealed_fields_need_no_class_key(ledger: Ledger, db_url: str) -> None:
    ledger.record("consent.granted", payload={"purpose": "p", "explicit": True}, subject=RAW)
    ledger.record("decision.made", payload=decision(), subject=RAW)
    assert sql(db_url, "SELECT count(*) FROM class_keys") == [(0,)]
    ledger.record("decision.made", payload=decision(explanation="x"), subject=RAW)
    assert sql(db_url, "SELECT class FROM class_keys") == [("decision.made",)]


def test_values_sealed_before_class_keys_still_open_and_erase(ledger: Ledger, db_url: str) -> None:
    """A value sealed under the subject's key alone (no epoch) opens, and erasure shreds it."""
    ledger.record("consent.granted", payload={"purpose": "p", "explicit": True}, subject=RAW)
    token = ledger.subject_token(RAW)
    assert token is not None
    ((wrapped,),) = sql(db_url, "SELECT wrapped_key FROM subjects")
    kek = (ledger.settings.key_dir / "subjects.kek").read_bytes()
    data_key = unwrap_key(kek, token, bytes(wrapped))
    old = seal(data_key, field_aad(token, "decision.made", "explanation"), "old form")
    assert set(old) == {"sealed"} and is_sealed(old)
    opened = unseal_fields(
        {"explanation": old}, data_key=data_key, token=token, event_type="decision.made"
    )
    assert opened == {"explanation": "old form"}
    layered = seal(
        data_key,
        field_aad(token, "decision.made", "explanation"),
        "new form",
        class_key=bytes(32),
        epoch="2026-01",
    )
    assert set(layered) == {"sealed", "epoch"} and is_sealed(layered)
    payload = {"explanation": layered}
    assert unseal_fields(
        payload,
        data_key=data_key,
        token=token,
        event_type="decision.made",
        class_keys=lambda epoch: bytes(32) if epoch == "2026-01" else None,
    ) == {"explanation": "new form"}
    assert unseal_fields(
        payload,
        data_key=data_key,
        token=token,
        event_type="decision.made",
        class_keys=lambda epoch: None,
    ) == {"explanation": ERASED}
    assert unseal_fields(
        {"explanation": old}, data_key=None, token=token, event_type="decision.made"
    ) == {"explanation": ERASED}


def test_erase_and_purge_from_the_cli(tmp_path: Path) -> None:
    assert auditml("init", "--origin", "bank.example/l", cwd=tmp_path).returncode == 0
    with Ledger.open(
        f"sqlite:///{tmp_path / 'auditml.db'}", key_dir=tmp_path / ".auditml"
    ) as ledger:
        story(ledger)
    done = auditml(
        "erase",
        "--subject",
        RAW,
        "--request-id",
        "dsr-9",
        "--reason",
        "Art. 17",
        "--recipient",
        "credit-bureau",
        "--recipient",
        "collections-agency",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "erased" in done.stdout and "request dsr-9 answered" in done.stdout
    with Ledger.open(
        f"sqlite:///{tmp_path / 'auditml.db'}", key_dir=tmp_path / ".auditml"
    ) as ledger:
        (erasure,) = ledger.events(type="erasure.completed")
    # Whom the data had been disclosed to, to be told of the erasure (GDPR Art. 19).
    assert erasure.payload["recipients"] == ["credit-bureau", "collections-agency"]
    again = auditml("erase", "--subject", RAW, "--reason", "Art. 17", cwd=tmp_path)
    assert again.returncode == 2 and "already erased" in again.stderr
    assert "Traceback" not in again.stderr
    neither = auditml("erase", "--reason", "x", cwd=tmp_path)
    assert neither.returncode == 2 and "--subject or --token" in neither.stderr
    purge = auditml("purge", "--before", "2000-01-01T00:00:00Z", "--reason", "r", cwd=tmp_path)
    assert purge.returncode == 0 and "0 class key(s)" in purge.stdout
    assert "2000-01-01T00:00:00" in purge.stdout
    purge = auditml(
        "purge",
        "--before",
        "2100-01-01T00:00:00Z",
        "--type",
        "decision.made",
        "--type",
        "model.deployed",
        "--reason",
        "r",
        cwd=tmp_path,
    )
    assert purge.returncode == 0 and "1 class key(s)" in purge.stdout, purge.stdout + purge.stderr
    with Ledger.open(
        f"sqlite:///{tmp_path / 'auditml.db'}", key_dir=tmp_path / ".auditml"
    ) as ledger:
        bob = next(
            e for e in ledger.events(type="decision.made") if e.subject != ledger.get(0).subject
        )
        assert bob.payload["explanation"] == ERASED
    assert auditml("verify", "--deep", cwd=tmp_path).returncode == 0


def test_a_report_issued_before_an_erasure_still_verifies(ledger: Ledger, tmp_path: Path) -> None:
    story(ledger)
    identity = create_signing_identity(
        tmp_path / "keys", organisation="bank.example", name="Dora", role="DPO", meaning="ok"
    )
    pdf = tmp_path / "before.pdf"
    issue_report(ledger, pdf, as_of=ledger.now(), identity=identity)
    ledger.erase(RAW, reason="Art. 17", request_id="dsr-9")
    ca = identity.chain[-1]
    result = verify_report(pdf, trust=[ca], ledger=ledger)
    assert result.ok, result.problems
    assert dict(result.checks)["ledger"] == "pass"  # the erased ledger extends the report's


def test_a_purge_of_logs_younger_than_six_months_is_flagged(db_url: str, tmp_path: Path) -> None:
    clock = StepClock(datetime(2026, 10, 1, 2, 0, tzinfo=UTC))
    with Ledger.create(db_url, origin="t.example/p", key_dir=tmp_path / "k", clock=clock) as ledger:
        ledger.record(
            "system.registered",
            payload={
                "name": "credit",
                "role": "deployer",
                "risk_class": "high",
                "annex_iii_point": "5(b)",
                "purposes": ["creditworthiness assessment"],
                "public_authority": False,
            },
        )
        ledger.purge("2026-08-01T00:00:00Z", reason="decision logs older than 60 days")
        as_of = ledger.now()
        evaluation = evaluate(
            load_rules(default_policies_dir()), ledger_events(ledger, as_of=as_of), as_of=as_of
        )
    verdicts = {r.rule_id: r.verdict for r in evaluation.rules}
    assert verdicts["aiact-19-26-6-log-retention"] == "fail"
