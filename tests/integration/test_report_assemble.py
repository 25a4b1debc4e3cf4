"""Report assembly over a real ledger: cuts, periods, evidence and the chain of reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock

from auditml import Ledger
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.assemble import (
    FINDINGS_PER_RULE,
    INCIDENTS_SHOWN,
    assemble,
    previous_report,
)
from auditml.report.model import SignerInfo

SIGNER: SignerInfo = {
    "name": "Dora Lind",
    "role": "DPO",
    "meaning": "approved",
    "certificate_sha256": "00",
    "ca_sha256": "00",
}
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
#: The ledger's clock: events are recorded in November 2026, before AS_OF, whatever today is.
RECORDED_FROM = datetime(2026, 11, 2, tzinfo=UTC)


def breach(n: int) -> dict[str, object]:
    aware = f"2026-{3 + n // 28:02d}-{n % 28 + 1:02d}T10:00:00Z"
    return {
        "type": "incident.reported",
        "occurred_at": aware,
        "payload": {
            "incident_id": f"inc-{n}",
            "kind": "breach",
            "aware_at": aware,
            "severity": "high",
            "widespread": False,
        },
    }


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Ledger:
    opened = Ledger.create(
        db_url,
        origin="test.example/r",
        key_dir=tmp_path / "keys",
        clock=StepClock(RECORDED_FROM),
    )
    opened.record_many([breach(n) for n in range(FINDINGS_PER_RULE + 5)])
    return opened


def test_findings_are_cut_per_rule_and_all_kept_in_the_evidence(
    ledger: Ledger, tmp_path: Path
) -> None:
    made = assemble(ledger, load_rules(default_policies_dir()), as_of=AS_OF, signer=SIGNER, keys=[])
    report = made.report
    late = [f for f in report["findings"] if f["rule_id"] == "gdpr-33-breach-notification"]
    assert len(late) == FINDINGS_PER_RULE and report["findings_omitted"] >= 5
    evidence = json.loads(made.evidence)
    breaches = [f for f in evidence["findings"] if f["rule_id"] == "gdpr-33-breach-notification"]
    assert len(breaches) == FINDINGS_PER_RULE + 5
    # Every cited event is proven against the checkpoint on the cover.
    result = verify_evidence(evidence, load_vkey_file(tmp_path / "keys" / "ledger.vkey"))
    assert result.checkpoint.size == report["checkpoint"]["size"] == len(ledger)
    assert result.events_verified == FINDINGS_PER_RULE + 5
    assert report["verification"]["ok"] and report["verification"]["size"] == len(ledger)
    assert report["summary"]["fail"] >= FINDINGS_PER_RULE + 5
    ledger.close()


def test_registers_are_cut_on_the_pages_and_complete_in_the_evidence(ledger: Ledger) -> None:
    extra = INCIDENTS_SHOWN + 3 - len(list(ledger.events(type="incident.reported")))
    ledger.record_many([breach(len(ledger) + n) for n in range(extra)])
    made = assemble(ledger, load_rules(default_policies_dir()), as_of=AS_OF, signer=SIGNER, keys=[])
    shown = made.report["incidents"]
    assert len(shown) == INCIDENTS_SHOWN and made.report["incidents_omitted"] == 3
    listed = json.loads(made.evidence)["registers"]["incidents"]
    assert len(listed) == INCIDENTS_SHOWN + 3
    # The pages keep the newest; the three cut are the oldest, and they are in the evidence.
    assert [i["seq"] for i in listed[-INCIDENTS_SHOWN:]] == [i["seq"] for i in shown]
    assert {i["incident_id"] for i in listed[:3]} == {"inc-0", "inc-1", "inc-2"}
    ledger.close()


def test_a_period_selects_findings_by_when_their_trigger_occurred(ledger: Ledger) -> None:
    made = assemble(
        ledger,
        load_rules(default_policies_dir()),
        as_of=AS_OF,
        signer=SIGNER,
        keys=[],
        period_from=datetime(2026, 3, 3, tzinfo=UTC),
        period_to=datetime(2026, 3, 5, tzinfo=UTC),
    )
    cited = {e["occurred_at"][:10] for f in made.report["findings"] for e in f["evidence"]}
    assert cited == {"2026-03-03", "2026-03-04"}
    assert made.report["period_from"] == "2026-03-03T00:00:00.000000Z"
    ledger.close()


def test_the_next_report_proves_consistency_from_the_last_issued(ledger: Ledger) -> None:
    first = assemble(
        ledger, load_rules(default_policies_dir()), as_of=AS_OF, signer=SIGNER, keys=[]
    )
    checkpoint = first.report["checkpoint"]
    ledger.record(
        "report.issued",
        payload={
            "report_id": first.report["report_id"],
            "checkpoint_size": checkpoint["size"],
            "checkpoint_root": checkpoint["root_hex"],
            "sha256": "ab" * 32,
        },
    )
    ledger.record_many([breach(20)])
    assert previous_report(ledger, len(ledger)) == (first.report["report_id"], checkpoint["size"])
    second = assemble(
        ledger, load_rules(default_policies_dir()), as_of=AS_OF, signer=SIGNER, keys=[]
    )
    previous = second.report["previous"]
    assert previous is not None and previous["consistent"]
    assert previous["size"] == checkpoint["size"] and previous["root_hex"] == checkpoint["root_hex"]
    assert json.loads(second.evidence)["previous"]["consistency_proof"]
    ledger.close()
