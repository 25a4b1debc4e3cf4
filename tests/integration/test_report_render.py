"""Rendering the report: escaped HTML, a PDF/A-3b with evidence.json attached, clean failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from auditml.errors import AuditmlError
from auditml.report.model import (
    EvidenceItem,
    FindingItem,
    ReportData,
    RuleItem,
    Verdict,
)
from auditml.report.render import pdf_keywords, render_html, render_pdf

SCRIPT = "<script>alert(1)</script>"
TABLE_END = "</table>"
LONG_WORD = "x" * 150 + "Y" * 150
HEBREW = "\u05d1\u05e7\u05e9\u05ea \u05de\u05d7\u05d9\u05e7\u05d4 \u05e9\u05dc \u05e0\u05ea\u05d5\u05e0\u05d9\u05dd"
ARABIC = "\u0637\u0644\u0628 \u062d\u0630\u0641 \u0627\u0644\u0628\u064a\u0627\u0646\u0627\u062a"
EMOJI = "\U0001f525\U0001f680\u2705"
ROOT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HOSTILE = [SCRIPT, TABLE_END, LONG_WORD, HEBREW, ARABIC, EMOJI]


def _finding(n: int, verdict: Verdict, law: str, message: str) -> FindingItem:
    evidence: list[EvidenceItem] = [
        {
            "role": "trigger",
            "seq": 100 + n,
            "id": f"01HZX{n:04d}K3Q8Y5V7WJ2M6N9P0R",
            "type": "dsr.received",
            "occurred_at": f"2026-03-{n % 27 + 1:02d}T09:00:00Z",
        },
        {
            "role": "context",
            "seq": 40 + n,
            "id": f"01HZW{n:04d}A1B2C3D4E5F6G7H8J9",
            "type": "consent.granted",
            "occurred_at": "2026-01-10T08:30:00Z",
        },
    ]
    return {
        "rule_id": f"gdpr.art12.dsr-deadline-{n}",
        "title": f"Data-subject request answered within one month ({n})",
        "severity": ["critical", "high", "medium", "low"][n % 4],
        "law": law,
        "references": ["GDPR Art. 12(3)"] if law == "GDPR" else ["AI Act Art. 73(2)"],
        "verdict": verdict,
        "message": message,
        "evidence": evidence if n % 5 else [],
        "due": f"2026-04-{n % 27 + 1:02d}T09:00:00Z" if verdict == "pending" else None,
    }


def sample_report() -> ReportData:
    """A realistic report with hostile strings in every free-text place."""
    messages = [
        f"Request from subject {SCRIPT} was not answered in time.",
        f"Label contains {TABLE_END}<td>injected</td> markup.",
        f"Unbroken: {LONG_WORD}",
        f"Hebrew subject name: {HEBREW} (right to left)",
        f"Arabic note: {ARABIC} {EMOJI}",
    ]
    findings = [
        _finding(n, "fail" if n < 8 else "pending", "GDPR" if n % 3 else "AI Act", messages[n % 5])
        for n in range(15)
    ]
    needs_human = [
        _finding(20 + n, "needs_human", "AI Act", f"Assess human oversight. {messages[n]}")
        for n in range(3)
    ]
    rules: list[RuleItem] = [
        {
            "rule_id": f.get("rule_id"),
            "title": f["title"] + (f" {EMOJI}" if i == 0 else ""),
            "severity": f["severity"],
            "law": f["law"],
            "references": f["references"],
            "verdict": f["verdict"],
            "triggers": i + 1,
            "counts": {"fail": 1 if f["verdict"] == "fail" else 0, "pass": i},
            "not_applicable": None,
        }
        for i, f in enumerate(findings + needs_human)
    ]
    rules.append(
        {
            "rule_id": "aiact-9-risk-management",
            "title": f"A risk assessment {SCRIPT}",
            "severity": "critical",
            "law": "AI Act",
            "references": ["AI Act Art. 9(1)"],
            "verdict": "not_applicable",
            "triggers": 0,
            "counts": {},
            "not_applicable": {"reason": "no_trigger", "text": f"No deployments. {SCRIPT}"},
        }
    )
    note = f"auditml.example/ledger/{SCRIPT}\n120\nn4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=\n\n— auditml.example/ledger AbCdEfGhSig==\n"
    return {
        "format": "auditml.report/v1",
        "report_id": "rpt-2026-04-30-7f3a9c",
        "title": f"Annual GDPR and AI Act report {EMOJI}",
        "generated_at": "2026-04-30T12:00:00Z",
        "as_of": "2026-04-30T00:00:00Z",
        "system": f"credit-scoring {HEBREW}",
        "period_from": "2026-01-01T00:00:00Z",
        "period_to": None,
        "events": 1200,
        "checkpoint": {
            "origin": "auditml.example/ledger",
            "size": 120,
            "root_hex": ROOT,
            "note": note,
            "key_name": "auditml.example/ledger",
            "key_fingerprint": "ab" * 32,
        },
        "signer": {
            "name": f"Dana Levi {HEBREW}",
            "role": "Data Protection Officer",
            "meaning": f"I approve this report as accurate. {SCRIPT}",
            "certificate_sha256": "cd" * 32,
            "ca_sha256": "ef" * 32,
        },
        "rule_set_sha256": "12" * 32,
        "rule_set_in_force": "2026-01-01",
        "regimes": [
            {
                "name": "gdpr",
                "title": "General Data Protection Regulation",
                "applies_from": "2018-05-25",
                "verify": False,
                "note": "Regulation (EU) 2016/679",
            },
            {
                "name": "ai_act.high_risk",
                "title": "AI Act obligations for high-risk systems",
                "applies_from": "2026-08-02",
                "verify": True,
                "note": f"Date may move (digital omnibus). {LONG_WORD}",
            },
        ],
        "verification": {
            "ok": True,
            "deep": True,
            "size": 120,
            "checkpoints_verified": 4,
            "seconds": 0.42,
            "message": "all 120 entries and 4 checkpoints verify",
        },
        "previous": {
            "report_id": "rpt-2026-01-31-0a1b2c",
            "size": 80,
            "root_hex": "34" * 32,
            "consistent": True,
        },
        "summary": {"fail": 8, "pending": 7, "needs_human": 3, "pass": 40, "not_applicable": 5},
        "rules": rules,
        "findings": findings,
        "needs_human": needs_human,
        "findings_omitted": 42,
        "lineage": {
            "nodes": [
                {
                    "id": "ds-applications-2025",
                    "kind": "dataset",
                    "label": f"Applications {SCRIPT}",
                },
                {"id": "ds-bureau", "kind": "dataset", "label": f"Bureau data {ARABIC}"},
                {"id": "m-score-v3", "kind": "model", "label": "Credit score v3"},
                {"id": "m-fraud-v1", "kind": "model", "label": f"Fraud {LONG_WORD}"},
                {"id": "dep-eu-prod", "kind": "deployment", "label": f"EU production {EMOJI}"},
                {"id": "dep-shadow", "kind": "deployment", "label": f"Shadow {TABLE_END}"},
            ],
            "edges": [
                {"source": "ds-applications-2025", "target": "m-score-v3"},
                {"source": "ds-bureau", "target": "m-score-v3"},
                {"source": "ds-bureau", "target": "m-fraud-v1"},
                {"source": "m-score-v3", "target": "dep-eu-prod"},
                {"source": "m-fraud-v1", "target": "dep-shadow"},
            ],
            "omitted": 3,
        },
        "approvals": [
            {
                "target": "m-score-v3",
                "stage": "production",
                "decision": "granted" if n % 3 else "rejected",
                "approver": f"approver{n}@example.com" if n != 2 else f"{ARABIC} {SCRIPT}",
                "at": f"2026-02-{n + 1:02d}T10:00:00Z",
                "seq": 60 + n,
                "self_approval": n == 1,
            }
            for n in range(5)
        ],
        "approvals_omitted": 11,
        "consents": {"granted": 930, "withdrawn": 41, "subjects": 870},
        "requests": [
            {"kind": "access", "received": 12, "answered": 10, "extended": 1, "open": 2},
            {"kind": "erasure", "received": 5, "answered": 5, "extended": 0, "open": 0},
        ],
        "incidents": [
            {
                "incident_id": "inc-2026-003",
                "kind": "personal_data_breach",
                "aware_at": "2026-03-14T16:20:00Z",
                "severity": "high",
                "notifications": [
                    {"to": "supervisory_authority", "sent_at": "2026-03-16T09:00:00Z"}
                ],
                "seq": 90,
            },
            {
                "incident_id": "inc-2026-004",
                "kind": "serious_incident",
                "aware_at": "2026-04-02T08:00:00Z",
                "severity": "critical",
                "notifications": [],
                "seq": 95,
            },
        ],
        "incidents_omitted": 4,
        "keys": [
            {"purpose": "ledger checkpoints", "algorithm": "Ed25519", "fingerprint": "ab" * 32},
            {
                "purpose": "report signing certificate",
                "algorithm": "ECDSA P-256",
                "fingerprint": "cd" * 32,
            },
        ],
        "attachments": [
            {
                "name": "evidence.json",
                "sha256": "00" * 32,
                "bytes": 1234,
                "description": "Events, proofs and rule results behind this report",
            }
        ],
    }


EVIDENCE = json.dumps({"format": "auditml.evidence/v1", "events": [1, 2, 3]}).encode()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("render") / "report.pdf"
    result = render_pdf(sample_report(), EVIDENCE, out)
    return out, result


def test_html_escapes_hostile_strings() -> None:
    html = render_html(sample_report())
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<td>injected</td>" not in html
    assert html.count("</table>") == html.count("<table")
    assert LONG_WORD in html and HEBREW in html and ARABIC in html and EMOJI in html
    assert "42 more findings in evidence.json" in html
    assert "11 more approvals in evidence.json" in html
    assert "3 more lineage nodes in evidence.json" in html
    assert "4 more incidents in evidence.json" in html
    assert "<svg" in html  # QR code and lineage
    assert "[verify]" in html


def test_pdf_is_pdfa3b_with_evidence(rendered: tuple[Path, Any]) -> None:
    out, result = rendered
    data = out.read_bytes()
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == result.pages > 3
        with pdf.open_metadata() as meta:
            assert meta["pdfaid:part"] == "3"
            assert meta["pdfaid:conformance"] == "B"
            assert meta["pdf:Keywords"] == pdf_keywords(sample_report())
        intents = pdf.Root.OutputIntents
        assert any(intent.S == "/GTS_PDFA1" for intent in intents)
        assert str(pdf.docinfo.Keywords) == pdf_keywords(sample_report())
        assert str(pdf.docinfo.Keywords) == (
            f"auditml report rpt-2026-04-30-7f3a9c; tree size 120; root {ROOT}"
        )
        assert "Dana Levi" in str(pdf.docinfo.Author)

        files = pdf.attachments
        assert list(files) == ["evidence.json"]
        spec = files["evidence.json"]
        assert spec.obj.AFRelationship == "/Data"
        assert spec.get_file().read_bytes() == EVIDENCE
        assert spec.get_file().mime_type == "application/json"
        assert spec.description
        assert any(a.objgen == spec.obj.objgen for a in pdf.Root.AF)

        fonts = 0
        for page in pdf.pages:
            for font in (page.Resources.get("/Font") or {}).values():
                for descendant in font.get("/DescendantFonts", [font]):
                    descriptor = descendant.get("/FontDescriptor")
                    if descriptor is None:
                        assert descendant.Subtype == "/Type3"
                        continue
                    fonts += 1
                    assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        assert fonts > 0


def test_out_of_memory_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "small.pdf"
    with pytest.raises(AuditmlError) as raised:
        render_pdf(sample_report(), EVIDENCE, out, memory_limit_mb=50)
    message = str(raised.value)
    assert "rendering the report PDF" in message
    assert "Traceback" not in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "slow.pdf"
    with pytest.raises(AuditmlError, match="longer than"):
        render_pdf(sample_report(), EVIDENCE, out, timeout_s=0.01)
    assert list(tmp_path.iterdir()) == []
