"""Findings in the formats CI systems read natively: SARIF 2.1.0 and JUnit XML.

Pure functions from an `Evaluation` (and the rules that produced it) to a document.
Only findings that need attention become results or test failures (fail, pending,
needs_human); passes are counted, so a CI page shows problems, not a million green rows.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from auditml.policy.engine import Evaluation, Finding
from auditml.policy.rules import Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_ATTENTION = ("fail", "pending", "needs_human")
# SARIF result.kind for each verdict (level applies to "fail" only, SARIF 3.27.9-10).
_KIND = {"fail": "fail", "pending": "open", "needs_human": "review"}
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub code scanning ranks results by this property (0.1-10).
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}


def _attention(evaluation: Evaluation) -> list[Finding]:
    return [finding for finding in evaluation.findings if finding.verdict in _ATTENTION]


def _where(finding: Finding) -> str:
    return ", ".join(f"{ref.role} seq {ref.seq} ({ref.id})" for ref in finding.evidence)


def _fingerprint(finding: Finding) -> str:
    """Stable across runs: the rule and the entries the finding rests on."""
    basis = "\x00".join([finding.rule_id, *(f"{ref.role}:{ref.id}" for ref in finding.evidence)])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    urls = [reference.url for reference in rule.references if reference.url]
    described: dict[str, Any] = {
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description.strip()},
        "help": {"text": rule.remediation.strip()},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": [reference.label() for reference in rule.references],
            "severity": rule.severity,
            "security-severity": _SECURITY_SEVERITY[rule.severity],
        },
    }
    if urls:
        described["helpUri"] = urls[0]
    return described


def to_sarif(
    evaluation: Evaluation, rules: Sequence[Rule], *, version: str, policies: str
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: a result per finding that needs attention.

    Ledger entries have no file, so each result points at them by logical location
    (``ledger/seq/<n>``); partialFingerprints keep a finding's identity across runs.
    """
    index = {rule.id: position for position, rule in enumerate(rules)}
    results = []
    for finding in _attention(evaluation):
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "kind": _KIND[finding.verdict],
            "message": {"text": f"{finding.verdict}: {finding.message}"},
            "locations": [
                {
                    "logicalLocations": [
                        {
                            "fullyQualifiedName": f"ledger/seq/{ref.seq}",
                            "name": f"{ref.role} seq {ref.seq}",
                            "kind": "object",
                        }
                    ]
                }
                for ref in finding.evidence
            ],
            "partialFingerprints": {"auditmlFinding/v1": _fingerprint(finding)},
            "properties": {
                "verdict": finding.verdict,
                "references": list(finding.references),
                "key": dict(finding.key),
                "missing": list(finding.missing),
            },
        }
        if finding.verdict == "fail":
            result["level"] = _LEVEL[finding.severity]
        else:
            result["level"] = "none"
        if finding.rule_id in index:
            result["ruleIndex"] = index[finding.rule_id]
        if finding.due is not None:
            result["properties"]["due"] = finding.due.isoformat()
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "auditml",
                        "version": version,
                        "rules": [_sarif_rule(rule) for rule in rules],
                    }
                },
                "results": results,
                "properties": {
                    "policies": policies,
                    "ruleSetSha256": evaluation.rule_set_sha256,
                    "asOf": evaluation.as_of.isoformat(),
                    "events": evaluation.events,
                    "counts": {s.rule_id: dict(s.counts) for s in evaluation.rules},
                },
            }
        ],
    }


def _properties(case: ET.Element, finding: Finding) -> None:
    """What a machine reads beside the sentence: the key, the fields missing, the due time
    and the evidence (the properties pytest and CI test reports use)."""
    properties = ET.SubElement(case, "properties")
    values: list[tuple[str, str]] = [("verdict", finding.verdict)]
    values += [(f"key.{path}", value) for path, value in finding.key]
    values += [("missing", path) for path in finding.missing]
    if finding.due is not None:
        values.append(("due", finding.due.isoformat()))
    values += [(f"evidence.{ref.role}", f"{ref.seq} {ref.id}") for ref in finding.evidence]
    for name, value in values:
        ET.SubElement(properties, "property", name=name, value=value)


def to_junit(evaluation: Evaluation) -> str:
    """JUnit XML: a test suite per rule, a failing test case per failing finding.

    pending and needs_human findings are skipped test cases (with the reason), and each
    rule gets one passing test case that counts its passes, so a CI page shows every rule.
    """
    by_rule: dict[str, list[Finding]] = {}
    for finding in _attention(evaluation):
        by_rule.setdefault(finding.rule_id, []).append(finding)
    root = ET.Element("testsuites", name="auditml check")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for summary in evaluation.rules:
        findings = by_rule.get(summary.rule_id, [])
        failures = sum(1 for f in findings if f.verdict == "fail")
        skipped = len(findings) - failures
        suite = ET.SubElement(
            root,
            "testsuite",
            name=summary.rule_id,
            tests=str(len(findings) + 1),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
        )
        passed = summary.counts.get("pass", 0)
        ET.SubElement(
            suite,
            "testcase",
            classname=summary.rule_id,
            name=f"{summary.title} ({passed} passed, verdict {summary.verdict})",
        )
        for number, finding in enumerate(findings, start=1):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=summary.rule_id,
                name=f"{finding.verdict} {number}: {_where(finding) or 'no entry'}",
            )
            _properties(case, finding)
            text = f"{finding.message}\n{', '.join(finding.references)}"
            if finding.verdict == "fail":
                failure = ET.SubElement(
                    case, "failure", message=finding.message, type=finding.severity
                )
                failure.text = text
            else:
                ET.SubElement(case, "skipped", message=f"{finding.verdict}: {finding.message}")
        totals["tests"] += len(findings) + 1
        totals["failures"] += failures
        totals["skipped"] += skipped
    for name, value in totals.items():
        root.set(name, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
