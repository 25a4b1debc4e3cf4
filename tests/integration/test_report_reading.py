"""The report as a compliance officer reads it: a real ledger, a real PDF, the text on its pages.

A small ledger with the problems a first reader tripped over (a self-approval, a late
breach notification, a decision after a withdrawn consent, evidence entered late, rules
that do not apply for each of the three reasons) is assembled and rendered; the checks
read the PDF's text as pdftotext lays it out, as a person sees it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import StepClock

from auditml import Ledger
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.assemble import Assembled, assemble
from auditml.report.model import KeyItem, SignerInfo
from auditml.report.render import render_pdf
from auditml.sdk import (
    approve,
    deploy_model,
    grant_consent,
    record_assessment,
    record_decision,
    record_notification,
    record_training,
    register_system,
    report_incident,
    withdraw_consent,
)

SYSTEM = "credit-scoring"
PURPOSE = "creditworthiness assessment"
APPLICANT = "applicant-0042"  # a raw identifier: it must never reach the report
ALICE = {"id": "alice@bank.example", "kind": "human"}
BOB = {"id": "bob@bank.example", "kind": "human"}
CA = hashlib.sha256(b"report signing CA").hexdigest()
CERT = hashlib.sha256(b"report signing certificate").hexdigest()
LEDGER_KEY = hashlib.sha256(b"ledger key").hexdigest()
SIGNER: SignerInfo = {
    "name": "Dora Lind",
    "role": "Data Protection Officer",
    "meaning": "I attest that the findings are as stated.",
    "certificate_sha256": CERT,
    "ca_sha256": CA,
}
KEYS: list[KeyItem] = [  # as auditml.report.issue lists them: the CA once, among the keys
    {"purpose": "ledger checkpoints", "algorithm": "Ed25519", "fingerprint": LEDGER_KEY},
    {"purpose": "report signing CA", "algorithm": "ecdsa-with-SHA256", "fingerprint": CA},
    {
        "purpose": "report signing certificate",
        "algorithm": "ecdsa-with-SHA256",
        "fingerprint": CERT,
    },
]
#: After the AI Act's Annex III obligations apply (2 Aug 2026), and before.
AS_OF = datetime(2026, 9, 1, tzinfo=UTC)
EARLY = datetime(2026, 6, 1, tzinfo=UTC)


def story(ledger: Ledger, clock: StepClock) -> None:
    """March to May 2026, one event a second unless a time is given."""
    register_system(
        ledger,
        "Credit scoring",
        role="both",
        risk_class="high",
        annex_iii_point="5(b)",
        purposes=PURPOSE,
        public_authority=False,
    )
    record_training(
        ledger,
        model="credit",
        version="1.0",
        datasets="loans-2025",
        artifact="ab" * 32,
        actor=ALICE,
    )
    # Alice approves the model she trained; Bob approves it too.
    approve(ledger, "model:credit@1.0", "deployment", "fit for use", approver=ALICE)
    approve(ledger, "model:credit@1.0", "deployment", "fit for use", approver=BOB)
    # A DPIA signed on 2 Mar is entered ten days later.
    clock.now += timedelta(days=10)
    record_assessment(
        ledger, "dpia", SYSTEM, "pass", signer="dpo", occurred_at=clock.now - timedelta(days=10)
    )
    deploy_model(ledger, "credit", "1.0", "production")
    # A breach: the authority hears of it after 80 hours.
    aware = clock.now
    report_incident(ledger, "INC-7", "breach", aware_at=aware, severity="high", widespread=False)
    clock.now = aware + timedelta(hours=80)
    record_notification(ledger, "supervisory_authority", "INC-7", sent_at=clock.now)
    # An applicant withdraws consent and is scored anyway.
    grant_consent(ledger, APPLICANT, PURPOSE)
    withdraw_consent(ledger, APPLICANT, PURPOSE)
    record_decision(
        ledger,
        model="credit",
        version="1.0",
        purpose=PURPOSE,
        lawful_basis="consent",
        subject=APPLICANT,
        inputs={"income": 1},
        output={"approved": False},
        solely_automated=True,
        legal_effect=True,
    )


@pytest.fixture
def story_ledger(db_url: str, tmp_path: Path) -> Ledger:
    clock = StepClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    opened = Ledger.create(
        db_url, origin="bank.example/reader", key_dir=tmp_path / "keys", clock=clock, system=SYSTEM
    )
    story(opened, clock)
    clock.now = AS_OF  # the report is made on the day it is as of
    return opened


def made(ledger: Ledger, as_of: datetime = AS_OF) -> Assembled:
    return assemble(
        ledger, load_rules(default_policies_dir()), as_of=as_of, signer=SIGNER, keys=KEYS
    )


def pdf_text(path: Path) -> str:
    """The PDF's text laid out as on the page (pdftotext, from poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is needed to read the report's text")
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def between(text: str, start: str, end: str) -> str:
    """The text from the chapter `start` to `end`, past the table of contents."""
    body = text.index("1. Scope and method", text.index("1. Scope and method") + 1)
    first = text.index(start, body)
    return text[first : text.index(end, first)]


def test_the_data_marks_self_approvals_and_files_internal_rules_apart(story_ledger: Ledger) -> None:
    report = made(story_ledger).report
    assert [(a["approver"], a["self_approval"]) for a in report["approvals"]] == [
        ("alice@bank.example", True),
        ("bob@bank.example", False),
    ]
    laws = {f["rule_id"]: f["law"] for f in report["findings"]}
    assert laws == {
        "gdpr-33-breach-notification": "GDPR",
        "gdpr-6-1-a-consent-withdrawn": "GDPR",
        "gdpr-22-automated-decision-consent": "GDPR",
        "gdpr-30-records-of-processing": "GDPR",
        # The story's breach is notified late without reasons and never documented, and its
        # model is deployed with no data-protection-by-design record (GDPR Art. 33, 25).
        "gdpr-33-1-delay-reasons": "GDPR",
        "gdpr-33-5-breach-documented": "GDPR",
        "gdpr-25-1-data-protection-by-design": "GDPR",
        # Its model was trained on loans-2025, which was never registered: no purpose of
        # that data is known, so the decision's purpose is not shown to be allowed.
        "gdpr-5-1-b-purpose-through-lineage": "GDPR",
        "internal-four-eyes-deployment": "Internal policy",
        "internal-late-evidence": "Internal policy",
    }
    story_ledger.close()


def test_each_rule_that_did_not_apply_says_why(story_ledger: Ledger) -> None:
    def reasons(as_of: datetime) -> dict[str, tuple[str, str]]:
        rules = made(story_ledger, as_of).report["rules"]
        return {
            r["rule_id"]: (r["not_applicable"]["reason"], r["not_applicable"]["text"])
            for r in rules
            if r["not_applicable"] is not None
        }

    early, late = reasons(EARLY), reasons(AS_OF)
    # Before 2 Aug 2026 the Annex III rules are not yet in force ...
    assert early["aiact-9-risk-management"] == (
        "not_in_force",
        "Not yet in force: AI Act general application: Annex III high-risk systems (Arts. 26, "
        "27, 49, 72, 73, 86) applies from 2 Aug 2026.",
    )
    # ... after it, the deployment of March came too early to trigger them,
    assert late["aiact-9-risk-management"] == (
        "no_trigger",
        "No triggering event since the rule applies (2 Aug 2026): the latest deployment "
        "occurred on 12 Mar 2026.",
    )
    # the rule for employment systems is out of scope for credit scoring,
    assert late["aiact-26-7-workers-informed"][0] == "out_of_scope"
    assert (
        "credit-scoring: role both, high-risk, Annex III point 5(b)"
        in (late["aiact-26-7-workers-informed"][1])
    )
    # and no one asked for anything.
    assert late["gdpr-12-3-access-request-deadline"] == (
        "no_trigger",
        "No triggering event: no data-subject requests recorded.",
    )
    # Every rule without a finding or a pass has its reason; none with one has.
    rules = made(story_ledger).report["rules"]
    assert all(
        (r["verdict"] == "not_applicable") == (r["not_applicable"] is not None) for r in rules
    )
    story_ledger.close()


def test_a_compliance_officer_reads_words_not_machine_terms(
    story_ledger: Ledger, tmp_path: Path
) -> None:
    assembled = made(story_ledger)
    story_ledger.close()
    out = tmp_path / "report.pdf"
    render_pdf(assembled.report, assembled.evidence, out)
    text = pdf_text(out)
    flat = " ".join(text.split())

    # Times as people write them, never the stored form; the period in words.
    assert "As of 1 Sep 2026 00:00 UTC" in flat
    assert "Period the whole ledger, as it stood on 1 Sep 2026 00:00 UTC" in flat
    assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text) is None
    assert ".000000" not in text and "start of ledger" not in text

    # Findings are sentences about a breach, a decision and hours, not fields and templates.
    findings = between(text, "3. Findings by law", "4. Needs human judgement")
    findings_flat = " ".join(findings.split())
    assert (
        "The breach INC-7 was reported; the deadline was 15 Mar 2026 09:00 UTC (72 hours from "
        "awareness on 12 Mar 2026 at 09:00 UTC), and the supervisory authority was notified of "
        "INC-7 on 15 Mar 2026 at 17:00 UTC, 8 hours late."
    ) in findings_flat
    # The subject as the ledger holds it (a token), never the applicant's identity.
    assert re.search(
        r"credit 1\.0 made a decision about subject sub_[a-z2-7]{26} for 'creditworthiness "
        r"assessment' on 15 Mar 2026 at 17:00 UTC",
        findings_flat,
    )
    assert "Incident report 12 Mar 2026 09:00 UTC" in findings_flat  # an evidence row
    for machine in (
        "payload.",
        "PT72H",
        "supervisory_authority",
        "{",
        "=",
        "decision.made",
    ):
        assert machine not in findings, machine
    assert APPLICANT not in text

    # Internal rules have their own heading, after the laws' findings.
    laws, internal = findings.split("Internal policy")
    for rule_id in ("internal-late-evidence", "internal-four-eyes-deployment"):
        assert rule_id in internal and rule_id not in laws

    # The summary counts rules as well as findings, and says why each N/A rule did not apply.
    summary = " ".join(between(text, "2. Summary of verdicts", "3. Findings by law").split())
    not_applicable = [r for r in assembled.report["rules"] if r["verdict"] == "not_applicable"]
    assert f"N/A {len(not_applicable)} – rule did not apply" in summary
    assert "Rules that did not apply, and why" in summary
    for rule in not_applicable:
        assert rule["rule_id"] in summary
    assert "No triggering event: no data-subject requests recorded." in summary
    assert "Out of scope: the rule applies to high-risk systems" in summary

    # The approvals register marks the self-approval, on Alice's row only.
    register = between(text, "7. Approvals register", "8. Consents")
    rows = [line for line in register.splitlines() if "@bank.example" in line]
    assert len(rows) == 2
    lines = register.splitlines()
    alice = next(i for i, line in enumerate(lines) if "alice@bank.example" in line)
    bob = next(i for i, line in enumerate(lines) if "bob@bank.example" in line)
    assert "SELF-APPROVAL" in lines[alice] + lines[alice + 1]
    assert "SELF-APPROVAL" not in lines[bob] + lines[bob + 1]

    # Each fingerprint once, in whole blocks of four; the CA's not twice.
    grouped = " ".join(CA[i : i + 4] for i in range(0, 64, 4))
    assert flat.count(grouped) == 1
    assert flat.count(" ".join(CERT[i : i + 4] for i in range(0, 64, 4))) == 1
    for line in between(text, "Keys and fingerprints", "How to verify").splitlines():
        if line.startswith("Report "):
            continue  # the page's foot, with the report id
        for token in re.findall(r"\b[0-9a-f]{4,}\b", line):
            assert len(token) == 4, line  # no block broken, no two run together
