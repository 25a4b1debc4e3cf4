"""examples/credit_pipeline.py runs, and the ledger holds what the example says it records."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import pickle
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import StepClock
from sklearn.metrics import accuracy_score, roc_auc_score

from auditml import IntegrityError, Ledger
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.policy.engine import evaluate
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.policy.stream import ledger_events
from auditml.sdk import input_sha256

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit_pipeline.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("credit_pipeline", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_sha256(features: dict[str, Any]) -> str:
    """input_sha256 as an outsider computes it: sorted compact JSON (RFC 8785 for these
    values: plain numbers, and 45.0 written as 45)."""
    plain = {name: value.item() for name, value in features.items()}  # numpy -> Python
    plain = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in plain.items()}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


#: The example runs on this clock: after 2 Aug 2026, when the AI Act's Annex III
#: obligations apply, so that every rule that can apply to it does.
STARTED = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, dict[str, Any], Path]:
    """The example, run once into a new directory on a clock that ticks a second a call."""
    directory = tmp_path_factory.mktemp("example") / "run"
    example = load_example()
    return example, example.main(directory, clock=StepClock(STARTED)), directory


def test_credit_pipeline_records_what_it_says(
    run: tuple[ModuleType, dict[str, Any], Path],
) -> None:
    example, facts, directory = run
    key_dir = facts["key_dir"]

    with Ledger.open(facts["url"], key_dir=key_dir) as ledger:
        events = list(ledger.events())
        by_type: dict[str, list[Any]] = {}
        for event in events:
            by_type.setdefault(event.type, []).append(event)

        # One event per fact the example states, nothing else.
        assert Counter(e.type for e in events) == {
            "system.registered": 1,
            # the record of processing, the privacy notice, the quality manual, the monitoring
            # plan, the technical documentation, the instructions for use, the declaration of
            # conformity
            "document.versioned": 7,
            # DPIA, FRIA, risk, data protection by design, evaluation, bias, conformity
            "assessment.completed": 7,
            "notification.sent": 1,  # the FRIA's results, to the market surveillance authority
            "training.completed": 1,  # the loan officer's, before she reviews
            "notice.given": 1,
            "registration.completed": 1,
            "dataset.registered": 1,
            "consent.granted": len(facts["applicants"]),  # 400 in the data + 24 new
            "dataset.derived": 1,
            "model.trained": 1,
            "approval.granted": 2,
            "model.deployed": 1,
            "decision.made": len(facts["predictions"]),
            "review.completed": 1,
        }
        assert len(facts["applicants"]) == 424 and len(facts["predictions"]) == 24
        # Consents are recorded in bulk: one transaction (one recorded_at) per batch.
        consents = by_type["consent.granted"]
        assert [e.subject for e in consents] == [
            ledger.subject_token(applicant) for applicant in facts["applicants"]
        ]
        assert len({e.recorded_at for e in consents[:400]}) == 1
        assert len({e.recorded_at for e in consents[400:]}) == 1
        registered = by_type["dataset.registered"][0].payload
        assert registered["contains_personal_data"] is True
        assert registered["lawful_basis"] == "consent" and registered["retention"] == "P5Y"
        assert by_type["dataset.derived"][0].payload["inputs"] == ["dataset:applicants-2026"]
        approvers = {e.actor.id for e in by_type["approval.granted"]}
        assert approvers == {"risk@bank.example", "dpo@bank.example"}
        assert {e.payload["target"] for e in by_type["approval.granted"]} == {"model:credit@3.2"}

        # model.trained holds the metrics sklearn computes from the recorded artifact.
        trained = by_type["model.trained"][0].payload
        artifact = facts["model_path"].read_bytes()
        assert trained["artifact_sha256"] == hashlib.sha256(artifact).hexdigest()
        model = pickle.loads(artifact)
        with facts["test_csv"].open() as handle:
            rows = list(csv.DictReader(handle))
        x = [[float(row[name]) for name in example.FEATURES] for row in rows]
        y = [row["defaulted"] == "True" for row in rows]
        scores = model.predict_proba(x)[:, 1]
        assert trained["metrics"] == {
            "accuracy": accuracy_score(y, scores > 0.5),
            "auc": roc_auc_score(y, scores),
        }
        assert 0.6 < trained["metrics"]["auc"] <= 1
        assert trained["params"] == model.get_params()
        assert trained["datasets"] == ["dataset:applicants-2026-split"]

        # A decision per prediction, about the right (tokenised) applicant, with the
        # SHA-256 of the features it was given and the numpy output as plain JSON.
        decisions = {e.subject: e for e in by_type["decision.made"]}
        assert len(decisions) == len(facts["predictions"])
        for position, (applicant, output) in enumerate(facts["predictions"]):
            features = {name: applicant[name] for name in example.FEATURES}
            event = decisions[ledger.subject_token(applicant["id"])]
            assert event.payload["input_sha256"] == input_sha256(features)
            assert event.payload["input_sha256"] == plain_sha256(features)
            assert event.payload["output"] == {
                "default_probability": float(output["default_probability"]),
                "approved": bool(output["approved"]),
            }
            assert event.payload["solely_automated"] is True
            online = position < 4  # the first four went through @decision, with explanations
            assert ("explanation" in event.payload) is online
            if online:
                assert set(event.payload["explanation"]) == set(example.FEATURES)

        # The review is by a person, about the proven decision, and about its subject.
        review = by_type["review.completed"][0]
        assert review.actor.id == "loan-officer@bank.example" and review.actor.kind == "human"
        assert review.payload["decision_id"] == facts["reviewed_decision"]
        assert review.subject == ledger.get(facts["reviewed_decision"]).subject

        assert ledger.verify(deep=True).size == len(events)
    assert facts["verified"].depth == "deep" and facts["verified"].size == len(events)

    # Privacy by default: no raw applicant id and no sealed text is in the database files.
    stored = b"".join(p.read_bytes() for p in directory.glob("ledger.db*"))
    assert b"applicant-" not in stored
    for applicant_id in facts["applicants"]:
        assert applicant_id.encode() not in stored
    assert b"permanent contract" not in stored  # the review's reason
    assert b'"income_k"' not in stored  # the explanations' keys: sealed too
    assert b"applicant-0000" in (directory / "applicants.csv").read_bytes()

    # The evidence file proves the reviewed decision with nothing but the ledger's vkey.
    evidence = json.loads(facts["evidence_path"].read_text())
    trusted = load_vkey_file(key_dir / "ledger.vkey")
    assert verify_evidence(evidence, trusted).events_verified == 1
    proved = evidence["events"][0]["envelope"]
    assert proved["id"] == facts["reviewed_decision"] and proved["type"] == "decision.made"
    proved["payload"]["output"]["approved"] = not proved["payload"]["output"]["approved"]
    with pytest.raises(IntegrityError):
        verify_evidence(evidence, trusted)


#: The rules that apply to the example, all of which it passes. The others do not apply:
#: no incident, no data-subject request, no withdrawal, no log purge, no special category
#: data, no decision that is not solely automated, no retrained model, and it is not an
#: employment system.
STORAGE = "gdpr-5-1-e-storage-limitation"
PASSING = {
    "aiact-5-prohibited-practice",
    "aiact-9-risk-management",
    "aiact-9-8-evaluation-before-deployment",
    "aiact-13-instructions-for-use",
    "aiact-15-3-declared-accuracy-met",
    "aiact-17-quality-management-system",
    "aiact-27-3-fria-notified",
    "aiact-43-conformity-assessment",
    "aiact-47-declaration-of-conformity",
    "aiact-72-post-market-monitoring-plan",
    "aiact-10-bias-examination",
    "aiact-11-technical-documentation",
    "aiact-12-decision-log-complete",
    "aiact-14-reviewers-trained",
    "aiact-26-11-subjects-informed",
    "aiact-27-fria-before-first-use",
    "aiact-49-eu-database-registration",
    "gdpr-5-1-b-purpose-limitation",
    "gdpr-5-1-b-purpose-through-lineage",
    "gdpr-13-notice-before-consent",
    "gdpr-25-1-data-protection-by-design",
    "gdpr-6-1-dataset-lawful-basis",
    "gdpr-6-1-derived-dataset-lawful-basis",
    "gdpr-22-automated-decision-consent",
    "gdpr-22-2-automated-decision-basis",
    "gdpr-30-records-of-processing",
    "gdpr-35-dpia-before-deployment",
    "internal-four-eyes-deployment",
    "internal-late-evidence",
}


def test_the_complete_pipeline_meets_every_rule_that_applies(
    run: tuple[ModuleType, dict[str, Any], Path],
) -> None:
    _, facts, _ = run
    as_of = STARTED + timedelta(days=1)
    with Ledger.open(facts["url"], key_dir=facts["key_dir"]) as ledger:
        evaluation = evaluate(
            load_rules(default_policies_dir()), ledger_events(ledger, as_of=as_of), as_of=as_of
        )
    verdicts = {rule.rule_id: rule.verdict for rule in evaluation.rules}
    # The applicants' data is within its five-year retention: deleting it is not due yet.
    open_ = {f.rule_id for f in evaluation.findings if f.verdict != "pass"}
    assert open_ == {STORAGE} and verdicts.pop(STORAGE) == "pending"
    assert {rule for rule, verdict in verdicts.items() if verdict == "pass"} == PASSING
    assert {verdict for rule, verdict in verdicts.items() if rule not in PASSING} == {
        "not_applicable"
    }


def test_credit_pipeline_runs_as_a_script(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--dir", str(directory)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "verified   deep: 474 events" in done.stdout
    assert "every GDPR, AI Act and internal rule passes, does not apply or is not" in done.stdout
    assert (directory / "evidence.json").is_file()

    again = subprocess.run(
        [sys.executable, str(EXAMPLE), "--dir", str(directory)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 1
    assert "already holds the ledger" in again.stderr


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    """The README says its Python blocks run as they are, in order, in one session."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    tour = readme[readme.index("## The tour") : readme.index("## What verification catches")]
    blocks = [part.split("```", 1)[0] for part in tour.split("```python\n")[1:]]
    assert len(blocks) >= 5
    script = tmp_path / "tour.py"
    script.write_text("\n".join(blocks))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "{'erased': True}" in done.stdout
