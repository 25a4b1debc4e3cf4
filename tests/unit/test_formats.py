"""SARIF and JUnit output: what CI systems read, checked on a real evaluation."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from auditml.policy.engine import Evaluation, evaluate
from auditml.policy.formats import to_junit, to_sarif
from auditml.policy.loader import load_rules
from auditml.policy.model import Event

SHIPPED = Path(__file__).resolve().parents[2] / "policies"


def event(seq: int, type_: str, at: str, payload: dict[str, object]) -> Event:
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return Event(
        seq, f"e{seq}", type_, "credit", None, {"id": "x", "kind": "human"}, moment, moment, payload
    )


def breach(seq: int, incident: str, at: str) -> Event:
    payload = {
        "incident_id": incident,
        "kind": "breach",
        "aware_at": at + "Z",
        "severity": "high",
        "widespread": False,
    }
    return event(seq, "incident.reported", at, payload)


def evaluation() -> tuple[Evaluation, list[object]]:
    rules = load_rules(SHIPPED)
    events = [
        breach(0, "late", "2026-03-02T10:00:00"),
        breach(1, "open", "2026-03-20T10:00:00"),
        event(
            2,
            "notification.sent",
            "2026-03-20T11:00:00",
            {"to": "supervisory_authority", "about": "late", "sent_at": "2026-03-20T11:00:00Z"},
        ),
    ]
    result = evaluate(rules, events, as_of=datetime(2026, 3, 21, tzinfo=UTC))
    return result, list(rules.rules)


def test_sarif_has_one_result_per_finding_that_needs_attention() -> None:
    result, rules = evaluation()
    sarif = to_sarif(result, rules, version="0.1.0", policies="policies")  # type: ignore[arg-type]
    json.dumps(sarif)  # serialisable as is
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [rule.id for rule in rules]  # type: ignore[attr-defined]
    kinds = sorted((r["ruleId"], r["kind"], r["level"]) for r in run["results"])
    assert kinds == [
        ("gdpr-33-1-delay-reasons", "fail", "error"),  # high: error; 18 days late, no reasons
        ("gdpr-33-5-breach-documented", "open", "none"),  # both breaches: not documented yet
        ("gdpr-33-5-breach-documented", "open", "none"),
        ("gdpr-33-breach-notification", "fail", "error"),  # critical: error
        ("gdpr-33-breach-notification", "open", "none"),  # pending
    ]
    for item in run["results"]:
        assert driver["rules"][item["ruleIndex"]]["id"] == item["ruleId"]
        names = {loc["logicalLocations"][0]["fullyQualifiedName"] for loc in item["locations"]}
        assert names and all(name.startswith("ledger/seq/") for name in names)
        assert len(item["partialFingerprints"]["auditmlFinding/v1"]) == 64
    assert run["properties"]["ruleSetSha256"] == result.rule_set_sha256


def test_junit_counts_failures_and_skips_per_rule() -> None:
    result, _ = evaluation()
    root = ET.fromstring(to_junit(result).encode())
    assert root.tag == "testsuites"
    # The late notification also fails Art. 33(1)'s reasons for delay; both breaches are
    # pending Art. 33(5) documentation.
    assert root.get("failures") == "2" and root.get("skipped") == "3"
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {summary.rule_id for summary in result.rules}
    breach_suite = suites["gdpr-33-breach-notification"]
    assert breach_suite.get("tests") == "3" and breach_suite.get("failures") == "1"
    (failure,) = breach_suite.iter("failure")
    assert "late" in (failure.get("message") or "") and failure.get("type") == "critical"
    (skipped,) = breach_suite.iter("skipped")
    assert (skipped.get("message") or "").startswith("pending:")
