"""The demo story: a credit-scoring system's first months, recorded, proven and verified.

Runs on a simulated clock so that months of history take a second. Everything it
does goes through the public SDK, so it doubles as an end-to-end example.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditml.config import CONFIG_FILE, write_config
from auditml.errors import ConfigError
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file, write_public
from auditml.ledger.ledger import Ledger, VerifyResult

MARKER = ".auditml-demo"
SYSTEM = "credit-scoring"


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    events: int
    decisions: int
    checkpoint_size: int
    checkpoint_root: str
    evidence_path: Path
    proved_seq: int
    verify: VerifyResult
    vkey: str
    steps: list[tuple[str, str, str]]


class SimulatedClock:
    """A clock the story moves forward by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def prepare_directory(directory: Path) -> None:
    """Empty a previous demo's directory; refuse to touch anything else."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise ConfigError(
                f"{directory} exists and was not made by `auditml demo`; choose another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by auditml demo; safe to delete\n")


def run_demo(
    directory: Path, *, decisions: int = 5000, on_step: Callable[[str], None] | None = None
) -> DemoResult:
    """Record the story into a fresh ledger in directory, prove one decision, verify all."""
    prepare_directory(directory)
    clock = SimulatedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    key_dir = directory / "keys"
    url = f"sqlite:///{(directory / 'auditml.db').resolve()}"
    steps: list[tuple[str, str, str]] = []
    rng = random.Random(7)

    def step(
        ledger: Ledger, event_type: str, payload: dict[str, Any], actor: dict[str, str], note: str
    ) -> None:
        receipt = ledger.record(event_type, payload=payload, actor=actor)
        steps.append((clock.now.date().isoformat(), event_type, note))
        if on_step:
            on_step(f"seq {receipt.seq}: {event_type}")

    ana = {"id": "ana@bank.example", "kind": "human", "role": "ml-engineer"}
    dpo = {"id": "dpo@bank.example", "kind": "human", "role": "dpo"}
    risk = {"id": "risk@bank.example", "kind": "human", "role": "risk-officer"}
    pipeline = {"id": "training-pipeline", "kind": "service"}
    serving = {"id": "credit-api", "kind": "service"}

    data_file = directory / "loans-2025.csv"
    rows = ["applicant,income,debt,defaulted"] + [
        f"{i},{rng.randint(18, 140) * 1000},{rng.randint(0, 60) * 1000},{rng.random() < 0.08:d}"
        for i in range(2000)
    ]
    data_file.write_text("\n".join(rows) + "\n")
    data_sha = hashlib.sha256(data_file.read_bytes()).hexdigest()

    with Ledger.create(
        url, origin="bank.example/credit-ledger", key_dir=key_dir, clock=clock, system=SYSTEM
    ) as ledger:
        step(
            ledger,
            "system.registered",
            {
                "name": "Credit scoring",
                "role": "provider",
                "risk_class": "high",
                "annex_iii_point": "5(b)",
                "purposes": ["creditworthiness assessment"],
                "public_authority": False,
            },
            dpo,
            "high-risk system, Annex III point 5(b)",
        )
        clock.advance(days=3)
        step(
            ledger,
            "dataset.registered",
            {
                "dataset_id": "loans-2025",
                "name": "Loan book 2025",
                "uri": data_file.name,
                "sha256": data_sha,
                "contains_personal_data": True,
                "special_categories": [],
                "lawful_basis": "contract",
                "purposes": ["creditworthiness assessment"],
                "retention": "P5Y",
            },
            ana,
            f"2,000 rows, sha256 {data_sha[:12]}...",
        )
        clock.advance(days=1)
        step(
            ledger,
            "dataset.derived",
            {
                "dataset_id": "loans-2025-clean",
                "inputs": ["loans-2025"],
                "transformation": "drop incomplete rows; bucket income",
                "sha256": hashlib.sha256(data_sha.encode()).hexdigest(),
            },
            pipeline,
            "cleaned training set",
        )
        clock.advance(days=2)
        step(
            ledger,
            "assessment.completed",
            {
                "kind": "dpia",
                "target": SYSTEM,
                "result": "pass",
                "signer": dpo["id"],
                "summary": "residual risk acceptable with human review of refusals",
            },
            dpo,
            "data protection impact assessment",
        )
        clock.advance(days=5)
        step(
            ledger,
            "model.trained",
            {
                "model": "credit",
                "version": "3.2",
                "datasets": ["loans-2025-clean"],
                "code_version": "4f2c9e1",
                "params": {"max_depth": 6, "n_estimators": 300},
                "metrics": {"auc": 0.871, "ks": 0.42},
                "artifact_sha256": hashlib.sha256(b"credit-3.2").hexdigest(),
            },
            ana,
            "AUC 0.871",
        )
        clock.advance(days=1)
        step(
            ledger,
            "assessment.completed",
            {
                "kind": "bias",
                "target": "credit@3.2",
                "result": "pass",
                "signer": risk["id"],
                "summary": "approval-rate ratio 0.93 across age bands",
            },
            risk,
            "bias evaluation",
        )
        for approver in (dpo, risk):
            clock.advance(hours=4)
            step(
                ledger,
                "approval.granted",
                {
                    "target": "model:credit@3.2",
                    "stage": "deployment",
                    "rationale": "evaluation and DPIA reviewed",
                },
                approver,
                f"approved by {approver['role']}",
            )
        clock.advance(days=1)
        step(
            ledger,
            "model.deployed",
            {"model": "credit", "version": "3.2", "environment": "production"},
            pipeline,
            "live in production",
        )

        batch = []
        for _ in range(decisions):
            clock.advance(minutes=rng.randint(5, 40))
            features = {"income": rng.randint(18, 140) * 1000, "debt": rng.randint(0, 60) * 1000}
            score = round(rng.random(), 4)
            batch.append(
                {
                    "type": "decision.made",
                    "actor": serving,
                    "occurred_at": clock.now,
                    "subject": f"applicant-{rng.randrange(decisions // 3 + 1)}",
                    "payload": {
                        "model": "credit",
                        "version": "3.2",
                        "purpose": "creditworthiness assessment",
                        "lawful_basis": "contract",
                        "input_sha256": hashlib.sha256(
                            json.dumps(features, sort_keys=True).encode()
                        ).hexdigest(),
                        "output": {
                            "score": score,
                            "decision": "approve" if score > 0.3 else "refer",
                        },
                        "solely_automated": False,
                        "legal_effect": True,
                    },
                }
            )
            if len(batch) == 1000:
                ledger.record_many(batch)
                batch = []
        if batch:
            ledger.record_many(batch)
        steps.append(
            (clock.now.date().isoformat(), "decision.made", f"{decisions:,} credit decisions")
        )
        if on_step:
            on_step(f"{decisions} decisions")
        clock.advance(days=2)
        step(
            ledger,
            "incident.reported",
            {
                "incident_id": "INC-7",
                "kind": "malfunction",
                "aware_at": clock.now.isoformat(),
                "severity": "low",
                "outcome": "none",
                "widespread": False,
            },
            risk,
            "scoring latency spike, no wrong decisions",
        )
        checkpoint = ledger.checkpoint()
        proved = ledger.latest_checkpoint()
        assert proved is not None
        decision = next(ledger.events(type="decision.made", limit=1, newest_first=True))
        evidence = ledger.prove(decision.seq)
        evidence_path = directory / "evidence.json"
        write_public(evidence_path, json.dumps(evidence, indent=2) + "\n")
        result = ledger.verify(deep=True)
        events = len(ledger)

    write_config(directory / CONFIG_FILE, url="sqlite:///auditml.db", key_dir="keys")
    # An auditor's check: nothing but the evidence file and the published verifier key.
    trusted = load_vkey_file(key_dir / "ledger.vkey")
    verify_evidence(json.loads(evidence_path.read_text()), trusted)
    return DemoResult(
        directory=directory,
        events=events,
        decisions=decisions,
        checkpoint_size=checkpoint.size,
        checkpoint_root=checkpoint.root,
        evidence_path=evidence_path,
        proved_seq=decision.seq,
        verify=result,
        vkey=trusted[0].to_vkey(),
        steps=steps,
    )
