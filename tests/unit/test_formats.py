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


def test_the_machine_fields_stay_beside_the_sentences() -> None:
    # The message is a sentence for people; rule id, verdict, evidence, due time and the
    # match key stay as fields for machines, in every format.
    result, rules = evaluation()
    late = next(
        f
        for f in result.findings
        if f.verdict == "fail" and f.rule_id == "gdpr-33-breach-notification"
    )
    assert late.message == (
        "The breach late was reported; the deadline was 5 Mar 2026 10:00 UTC (72 hours from "
        "awareness on 2 Mar 2026 at 10:00 UTC), and the supervisory authority was notified of "
        "late on 20 Mar 2026 at 11:00 UTC, 15 days 1 hour late."
    )
    document = json.loads(json.dumps(result.to_json()))
    (failing,) = [
        f
        for f in document["findings"]
        if f["verdict"] == "fail" and f["rule_id"] == "gdpr-33-breach-notification"
    ]
    assert failing["rule_id"] == "gdpr-33-breach-notification"
    assert failing["key"] == {"payload.incident_id": "late"}
    assert failing["missing"] == []
    assert failing["due"] == "2026-03-05T10:00:00.000000Z"
    assert [(e["role"], e["seq"]) for e in failing["evidence"]] == [
        ("trigger", 0),
        ("counterpart", 2),
    ]

    sarif = to_sarif(result, rules, version="0.1.0", policies="policies")  # type: ignore[arg-type]
    by_kind = {r["kind"]: r for r in sarif["runs"][0]["results"]}
    assert by_kind["fail"]["properties"]["key"] == {"payload.incident_id": "late"}
    assert by_kind["open"]["properties"]["key"] == {"payload.incident_id": "open"}
    assert by_kind["fail"]["message"]["text"] == f"fail: {late.message}"

    root = ET.fromstring(to_junit(result).encode())
    suite = next(s for s in root.iter("testsuite") if s.get("name") == late.rule_id)
    failed = next(case for case in suite.iter("testcase") if case.find("failure") is not None)
    properties = {(p.get("name"), p.get("value")) for p in failed.iter("property")}
    assert properties >= {
        ("verdict", "fail"),
        ("key.payload.incident_id", "late"),
        ("due", "2026-03-05T10:00:00+00:00"),
        ("evidence.trigger", "0 e0"),
        ("evidence.counterpart", "2 e2"),
    }
