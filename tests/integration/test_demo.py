"""`auditml demo` end to end: the story is in the ledger, planted problems and all.

The planted problems are checked against the ledger's own events, not against what
`run_demo` says about them, so a story that stops planting one fails here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml import Ledger
from auditml.demo import DemoResult, SimulatedClock, run_demo
from auditml.errors import ConfigError, IntegrityError, ValidationError
from auditml.events.envelope import Envelope
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.sdk import verify_approval_signature

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
DECISIONS = 300


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}
    env["COLUMNS"] = "80"
    return subprocess.run(
        [*AUDITML, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def isolated_run(directory: Path, *, decisions: int, seed: int = 7) -> DemoResult:
    """run_demo with no AUDITML_* settings and no auditml.toml in the working directory."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AUDITML_URL", "AUDITML_HOME", "AUDITML_CONFIG", "AUDITML_KEY_PASSPHRASE"):
            patch.delenv(name, raising=False)
        patch.chdir(directory.parent)
        return run_demo(directory, decisions=decisions, seed=seed)


def opened(result: DemoResult) -> Ledger:
    url = f"sqlite:///{result.directory / 'auditml.db'}"
    return Ledger.open(url, key_dir=result.directory / "keys")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return isolated_run(tmp_path_factory.mktemp("story") / "demo", decisions=DECISIONS)


@pytest.fixture(scope="module")
def events(result: DemoResult) -> list[Envelope]:
    with opened(result) as ledger:
        return list(ledger.events())


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def of_type(events: list[Envelope], event_type: str) -> list[Envelope]:
    return [e for e in events if e.type == event_type]


# -- what was recorded -----------------------------------------------------------------------


def test_counts_per_type(result: DemoResult, events: list[Envelope]) -> None:
    in_ledger = Counter(e.type for e in events)
    assert dict(in_ledger) == dict(result.counts)
    assert result.events == len(events) == sum(in_ledger.values())
    fixed = {
        "system.registered": 1,
        "policy.changed": 1,
        "training.completed": 6,
        "dataset.registered": 1,
        "dataset.derived": 2,
        "notice.given": 1,
        "assessment.completed": 9,
        "model.trained": 2,
        "document.versioned": 4,
        "approval.granted": 3,
        "registration.completed": 1,
        "model.deployed": 2,
        "model.retired": 1,
        "incident.reported": 2,
        "incident.documented": 1,
        "notification.sent": 4,
        "dsr.received": 6,
        "dsr.extended": 1,
        "dsr.answered": 6,
    }
    assert {t: in_ledger[t] for t in fixed} == fixed
    assert in_ledger["decision.made"] == result.decisions == DECISIONS
    assert in_ledger["consent.granted"] == len(result.applicants) == 20
    assert in_ledger["consent.withdrawn"] >= 1 and in_ledger["review.completed"] >= 1


def test_events_are_recorded_when_they_happen(result: DemoResult, events: list[Envelope]) -> None:
    recorded = [when(e.recorded_at) for e in events]
    assert recorded == sorted(recorded)
    assert recorded[0].date() == result.story_start and recorded[-1].date() <= result.story_end
    # One event in the whole story is entered late on purpose: problem 6.
    late = [e for e in events if e.occurred_at != e.recorded_at]
    assert [e.seq for e in late] == list(result.problems[5].seqs)
    assert when(late[0].recorded_at) - when(late[0].occurred_at) > timedelta(days=14)
    assert (
        late[0].type == "assessment.completed" and late[0].payload["target"] == "model:credit@3.3"
    )


def test_the_story_goes_through_the_sdk_with_real_files(
    result: DemoResult, events: list[Envelope]
) -> None:
    raw = of_type(events, "dataset.registered")[0].payload
    assert raw["contains_personal_data"] and raw["lawful_basis"] == "consent"
    assert raw["uri"].endswith("/data/loan-book-2019-2025.csv")
    derived = {e.payload["dataset_id"]: e.payload for e in of_type(events, "dataset.derived")}
    assert derived["loan-book-clean"]["inputs"] == ["dataset:loan-book-2019-2025"]
    trained = {e.payload["version"]: e.payload for e in of_type(events, "model.trained")}
    assert trained["3.2"]["datasets"] == ["dataset:loan-book-clean"]
    assert trained["3.2"]["metrics"]["auc"] == 0.871
    for path, digest in [
        ("models/credit-3.2.json", trained["3.2"]["artifact_sha256"]),
        ("data/loan-book-2019-2025.csv", raw["sha256"]),
    ]:
        assert hashlib.sha256((result.directory / path).read_bytes()).hexdigest() == digest
    decision = of_type(events, "decision.made")[0].payload
    assert decision["lawful_basis"] == "consent" and decision["purpose"] == (
        "creditworthiness assessment"
    )
    assert decision["output"]["decision"] in ("approve", "refuse")
    assert "main_factors" in decision["explanation"]  # sealed in the ledger, opened here


def test_the_first_approvals_are_four_eyes_and_signed(
    result: DemoResult, events: list[Envelope]
) -> None:
    approvals = of_type(events, "approval.granted")
    first = [a for a in approvals if a.payload["target"] == "model:credit@3.2"]
    trainer = next(e for e in of_type(events, "model.trained") if e.payload["version"] == "3.2")
    approvers = {a.actor.id for a in first}
    assert len(approvers) == 2 and trainer.actor.id not in approvers
    assert all(a.payload["signature"]["algorithm"] == "ed25519" for a in approvals)
    assert result.approvals_verified == 3


# -- the planted problems, found in the events themselves ------------------------------------


def test_problem_1_decisions_after_consent_was_withdrawn(
    result: DemoResult, events: list[Envelope]
) -> None:
    withdrawn = {e.subject: when(e.occurred_at) for e in of_type(events, "consent.withdrawn")}
    granted = {e.subject: when(e.occurred_at) for e in of_type(events, "consent.granted")}
    after = [
        e
        for e in of_type(events, "decision.made")
        if e.subject in withdrawn and when(e.occurred_at) > withdrawn[e.subject]
    ]
    assert len(after) == 2 and len({e.subject for e in after}) == 1
    problem = result.problems[0]
    assert problem.number == 1 and "GDPR Art. 6(1)(a)" in problem.law
    assert {e.seq for e in after} < set(problem.seqs)
    # Every other decision is about someone who had consented, and had not withdrawn.
    for decision in of_type(events, "decision.made"):
        assert granted[decision.subject] < when(decision.occurred_at)


def test_problem_2_a_model_approved_only_by_its_trainer(
    result: DemoResult, events: list[Envelope]
) -> None:
    trainer = next(e for e in of_type(events, "model.trained") if e.payload["version"] == "3.3")
    approvals = [
        e for e in of_type(events, "approval.granted") if e.payload["target"] == "model:credit@3.3"
    ]
    deployed = next(e for e in of_type(events, "model.deployed") if e.payload["version"] == "3.3")
    assert len(approvals) == 1 and approvals[0].actor.id == trainer.actor.id
    assert trainer.seq < approvals[0].seq < deployed.seq
    assert set(result.problems[1].seqs) == {trainer.seq, approvals[0].seq, deployed.seq}


def test_problem_3_an_access_request_answered_late(
    result: DemoResult, events: list[Envelope]
) -> None:
    received = {e.payload["request_id"]: e for e in of_type(events, "dsr.received")}
    answered = {e.payload["request_id"]: e for e in of_type(events, "dsr.answered")}
    extended = {e.payload["request_id"] for e in of_type(events, "dsr.extended")}
    late = []
    for request_id, request in received.items():
        took = when(answered[request_id].occurred_at) - when(request.payload["received_at"])
        # One month (plus a weekend), or three when extended: GDPR Art. 12(3).
        if took > timedelta(days=33 if request_id not in extended else 92):
            late.append(request_id)
    assert late == ["DSR-2026-006"] and "DSR-2026-006" not in extended
    assert received["DSR-2026-006"].payload["kind"] == "access"
    assert result.problems[2].seqs == (received["DSR-2026-006"].seq, answered["DSR-2026-006"].seq)


def test_problems_4_and_5_incidents_notified_late(
    result: DemoResult, events: list[Envelope]
) -> None:
    incidents = {e.payload["incident_id"]: e.payload for e in of_type(events, "incident.reported")}
    sent = {
        (e.payload["to"], e.payload["about"]): when(e.payload["sent_at"])
        for e in of_type(events, "notification.sent")
    }
    breach, serious = incidents["INC-2026-01"], incidents["INC-2026-02"]
    assert breach["kind"] == "breach" and serious["kind"] == "serious_incident"
    to_sa = sent[("supervisory_authority", "INC-2026-01")] - when(breach["aware_at"])
    to_msa = sent[("market_surveillance_authority", "INC-2026-02")] - when(serious["aware_at"])
    assert to_sa > timedelta(hours=72) and to_msa > timedelta(days=15)
    assert result.problems[3].law == "GDPR Art. 33(1)"
    assert result.problems[4].law == "AI Act Art. 73(2)"


def test_planted_problems_are_listed_with_their_evidence(result: DemoResult) -> None:
    assert [p.number for p in result.problems] == [1, 2, 3, 4, 5, 6]
    assert all(p.title and p.law and p.detail and p.seqs for p in result.problems)
    marked = {step.problem for step in result.steps if step.problem is not None}
    assert marked == {1, 2, 3, 4, 5, 6}


# -- privacy and integrity ---------------------------------------------------------------------


def test_raw_applicant_ids_never_reach_the_database(result: DemoResult) -> None:
    stored = b"".join(p.read_bytes() for p in result.directory.glob("auditml.db*"))
    assert len(result.applicants) == 20
    for applicant in result.applicants:
        assert applicant.encode() not in stored
        assert f"{applicant.lower()}@mail.example".encode() not in stored
    with opened(result) as ledger:
        assert all(ledger.subject_token(a) is not None for a in result.applicants)


def test_deep_verification_and_offline_evidence(result: DemoResult) -> None:
    assert result.verify.depth == "deep" and result.verify.size == result.events
    with opened(result) as ledger:
        again = ledger.verify(deep=True)
        approval = next(ledger.events(type="approval.granted"))
        with pytest.raises(IntegrityError):  # the signature is its approver's, no one else's
            verify_approval_signature(approval, Ed25519PrivateKey.generate().public_key())
    assert again.size == result.checkpoint_size == result.events
    evidence = json.loads(result.evidence_path.read_text())
    assert evidence["events"][0]["envelope"]["type"] == "decision.made"
    assert evidence["events"][0]["seq"] == result.proved_seq
    trusted = load_vkey_file(result.vkey_path)
    verify_evidence(evidence, trusted)
    evidence["events"][0]["envelope"]["payload"]["output"]["decision"] = "approve-ish"
    with pytest.raises(IntegrityError):
        verify_evidence(evidence, trusted)


def test_checkpoints_were_signed_as_the_story_went(result: DemoResult) -> None:
    db = sqlite3.connect(result.directory / "auditml.db")
    try:
        sizes = [size for (size,) in db.execute("SELECT size FROM checkpoints ORDER BY size")]
    finally:
        db.close()
    assert len(sizes) == result.checkpoints > 10 and sizes[-1] == result.checkpoint_size


# -- determinism --------------------------------------------------------------------------


def story_of(result: DemoResult) -> list[tuple[Any, ...]]:
    """(type, occurred_at, actor, subject, payload) per event, without what is random by
    design: ids and subject tokens become positions, approver signatures are dropped."""
    with opened(result) as ledger:
        events = list(ledger.events())
    seq_of = {e.id: e.seq for e in events}
    subjects: dict[str, int] = {}
    story = []
    for e in events:
        payload = {k: v for k, v in e.payload.items() if k != "signature"}
        if e.type == "report.issued":  # its id, root and PDF hash differ from run to run
            payload = {"checkpoint_size": payload["checkpoint_size"]}
        if "decision_id" in payload:
            payload["decision_id"] = seq_of[payload["decision_id"]]
        subject = None if e.subject is None else subjects.setdefault(e.subject, len(subjects))
        story.append((e.type, e.occurred_at, e.actor.id, subject, json.dumps(payload)))
    return story


def test_the_same_seed_tells_the_same_story(tmp_path: Path) -> None:
    directory = tmp_path / "demo"  # the same path both times: dataset URIs name it
    first = story_of(isolated_run(directory, decisions=60, seed=11))
    second = story_of(isolated_run(directory, decisions=60, seed=11))
    assert first == second
    assert story_of(isolated_run(directory, decisions=60, seed=12)) != first


# -- guard rails ----------------------------------------------------------------------------


def test_the_clock_only_moves_forward() -> None:
    clock = SimulatedClock(datetime.fromisoformat("2026-03-02T09:00:00+00:00"))
    clock.advance(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance_to(datetime.fromisoformat("2026-03-02T09:30:00+00:00"))


def test_refuses_too_few_decisions_and_other_peoples_directories(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 10"):
        run_demo(tmp_path / "demo", decisions=5)
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match="not made by `auditml demo`"):
        run_demo(tmp_path / "mine", decisions=10)


# -- the command ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    cwd = tmp_path_factory.mktemp("cli")
    done = auditml("demo", "--dir", "demo-ledger", "--decisions", "200", cwd=cwd)
    assert done.returncode == 0, done.stderr
    yield cwd, done.stdout


def test_cli_prints_the_story_problems_and_checks(cli_run: tuple[Path, str]) -> None:
    _, stdout = cli_run
    for phrase in (
        "The story, as the ledger recorded it",
        "Planted problems a policy check should find",
        "GDPR Art. 6(1)(a), 7(3)",
        "AI Act Art. 73(2)",
        "verified (deep)",
        "evidence verified offline",
        "What to run next",
        "auditml lineage credit@3.2",
    ):
        assert phrase in stdout, phrase
    assert max(len(line) for line in stdout.splitlines()) <= 80


def test_what_to_run_next_works(cli_run: tuple[Path, str]) -> None:
    cwd, _ = cli_run
    project = cwd / "demo-ledger"
    lineage = auditml("lineage", "credit@3.2", cwd=project)
    assert lineage.returncode == 0, lineage.stderr
    assert "loan-book-2019-2025" in lineage.stdout
    checked = auditml("verify-evidence", "evidence.json", "--key", "keys/ledger.vkey", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert "valid" in checked.stdout
    # The regulator's command the demo suggests checks the report against both keys.
    suggested = (
        "auditml verify-report report.pdf \\\n    --trust keys/report-ca.pem --key keys/ledger.vkey"
    )
    assert suggested in cli_run[1]
    report = auditml(*suggested.replace("\\\n", " ").split()[1:], cwd=project)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "valid: report.pdf" in report.stdout and "not checked" not in report.stdout
