"""The acceptance test of issue 14's reference grammar: one story, every mix of forms.

A realistic release of a high-risk credit-scoring system is recorded through the SDK
(system and datasets registered, a dataset derived, a model trained, DPIA, risk, FRIA
and bias assessed, documents versioned, two approvals, a deployment, decisions; then a
retrained version deployed on its trainer's approval alone, with no bias examination).
Each reference in it is written canonical (``model:credit@3.2``, ``system:credit-ai``,
``dataset:applications``), short (``credit@3.2``) or bare (``credit-ai``,
``applications``), in several mixes; and twice more into ledgers that store what was
written, as ledgers recorded before the grammar do. The whole shipped rule set must give
the same findings over every one of them, and the four-eyes rule must count two
approvals written two ways as two.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import StepClock

import auditml.ledger.ledger as ledger_module
import auditml.sdk.approvals as approvals_module
from auditml import Ledger
from auditml.events.refs import REFERENCE_FIELDS, parse_ref
from auditml.policy.engine import Finding, evaluate
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.policy.stream import ledger_events
from auditml.report.assemble import assemble
from auditml.sdk import (
    approve,
    deploy_model,
    derive_dataset,
    give_notice,
    grant_consent,
    record_assessment,
    record_decision,
    record_document,
    record_registration,
    register_dataset,
    register_system,
    training_run,
)

SYSTEM = "credit-ai"
PURPOSE = "creditworthiness assessment"
HEX = "ab" * 32
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
ANA = {"id": "ana", "kind": "human"}
DPO = {"id": "dora", "kind": "human"}
#: A reference site's choice: True writes the canonical form, False the short or bare one.
Choose = Callable[[int], bool]


class Forms:
    """Writes each reference of the story in the form a mix chooses, site by site."""

    def __init__(self, choose: Choose) -> None:
        self.choose = choose
        #: What was written at each site, in order.
        self.written: list[str] = []

    def _pick(self, canonical: str, short: str) -> str:
        self.written.append(canonical if self.choose(len(self.written) + 1) else short)
        return self.written[-1]

    def model(self, version: str) -> str:
        return self._pick(f"model:credit@{version}", f"credit@{version}")

    def system(self) -> str:
        return self._pick(f"system:{SYSTEM}", SYSTEM)

    def dataset(self, dataset_id: str) -> str:
        return self._pick(f"dataset:{dataset_id}", dataset_id)


def tell_story(ledger: Ledger, forms: Forms, files: Path) -> None:
    files.mkdir(exist_ok=True)
    artifact = files / "model.bin"
    artifact.write_bytes(b"weights")
    register_system(
        ledger,
        "Credit AI",
        role="both",
        risk_class="high",
        annex_iii_point="5(b)",
        purposes=PURPOSE,
        public_authority=False,
        actor=DPO,
    )
    for dataset_id, basis in (("applications", "consent"), ("bureau", "contract")):
        register_dataset(
            ledger,
            dataset_id,
            f"s3://bank/{dataset_id}",
            sha256=HEX,
            purposes=PURPOSE,
            contains_personal_data=True,
            lawful_basis=basis,
            retention="P5Y",
            actor=ANA,
        )
    derive_dataset(
        ledger,
        "features",
        [forms.dataset("applications"), forms.dataset("bureau")],
        "join on application id; drop names",
        HEX,
        actor=ANA,
    )
    record_document(ledger, "ropa", forms.system(), "2026.1", HEX, actor=DPO)
    record_assessment(ledger, "dpia", forms.system(), "pass", signer="dora", actor=DPO)
    record_assessment(ledger, "risk", forms.system(), "accepted_risk", signer="ben")
    record_assessment(ledger, "fria", forms.system(), "pass", signer="dora", actor=DPO)
    give_notice(ledger, "subjects", forms.system())
    give_notice(ledger, "workers", forms.system())
    record_registration(ledger, "eu", forms.system(), "EU-HR-2026-000042", actor=DPO)
    train(ledger, forms, "3.2", artifact)
    record_assessment(ledger, "bias", forms.model("3.2"), "pass", signer="ben")
    record_document(ledger, "tech_doc", forms.model("3.2"), "1.0", HEX, actor=ANA)
    approve(ledger, forms.model("3.2"), "deployment", "metrics agreed", approver="ben")
    approve(ledger, forms.model("3.2"), "deployment", "DPIA covers it", approver="dora")
    deploy_model(ledger, "credit", "3.2", "production")
    decide(ledger, "3.2", range(3))
    # The retrained version: approved by its trainer alone, no bias examination.
    train(ledger, forms, "3.3", artifact)
    record_document(ledger, "tech_doc", forms.model("3.3"), "1.1", HEX, actor=ANA)
    approve(ledger, forms.model("3.3"), "deployment", "small change", approver="ana")
    deploy_model(ledger, "credit", "3.3", "production")
    decide(ledger, "3.3", range(3, 5))


def train(ledger: Ledger, forms: Forms, version: str, artifact: Path) -> None:
    with training_run(
        ledger, model="credit", version=version, datasets=[forms.dataset("features")], actor=ANA
    ) as run:
        run.log_metrics(auc=0.87)
        run.set_artifact(artifact)


def decide(ledger: Ledger, version: str, applicants: range) -> None:
    for number in applicants:
        subject = f"applicant-{number}"
        grant_consent(ledger, subject, PURPOSE)
        record_decision(
            ledger,
            model="credit",
            version=version,
            purpose=PURPOSE,
            lawful_basis="consent",
            subject=subject,
            inputs={"income": 40_000 + number},
            output={"score": 0.7},
            solely_automated=False,
            legal_effect=True,
        )


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SUBJECT = re.compile(r"sub_[a-z2-7]{26}")


def stable(finding: Finding) -> tuple[str, str, str]:
    """What must not depend on how references were written: rule, verdict and message,
    with event ids and subject tokens (random per ledger) taken out."""
    message = SUBJECT.sub("<subject>", UUID.sub("<id>", finding.message))
    return finding.rule_id, finding.verdict, message


MIXES: dict[str, Choose] = {
    "canonical": lambda site: True,
    "short and bare": lambda site: False,
    "alternating": lambda site: site % 2 == 0,
    "alternating the other way": lambda site: site % 2 == 1,
    **{
        f"random {seed}": (lambda rng: lambda site: rng.random() < 0.5)(random.Random(seed))
        for seed in (1, 2, 3)
    },
}


def record_as_before_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, record as auditml did before the reference grammar: the bodies hold
    what was written.

    The append layer's admission (canonical references, cycle checks) is switched off for
    every type, and approvals are signed over the target as given.
    """
    monkeypatch.setattr(ledger_module, "ADMITTED_TYPES", frozenset())
    monkeypatch.setattr(Ledger, "resolve_reference", lambda self, text, where="": text)
    monkeypatch.setattr(approvals_module, "_target_recorded", lambda ledger, target: True)


def record(url: str, tmp_path: Path, name: str, forms: Forms | Choose) -> Ledger:
    ledger = Ledger.create(
        url,
        origin="bank.example/credit",
        key_dir=tmp_path / f"keys-{name}",
        clock=StepClock(START),
        system=SYSTEM,
    )
    tell_story(
        ledger, forms if isinstance(forms, Forms) else Forms(forms), tmp_path / f"files-{name}"
    )
    return ledger


def findings(ledger: Ledger) -> list[tuple[str, str, str]]:
    as_of = START + timedelta(days=30)
    rules = load_rules(default_policies_dir())
    evaluation = evaluate(rules, ledger_events(ledger, as_of=as_of), as_of=as_of)
    return [stable(finding) for finding in evaluation.findings]


def stored_references(ledger: Ledger) -> list[str]:
    found: list[str] = []
    for event_type, fields in REFERENCE_FIELDS.items():
        for event in ledger.events(type=event_type):
            for name in fields:
                value = event.payload[name]
                found += value if isinstance(value, list) else [value]
    return found


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / (name.replace(' ', '-') + '.db')}"


def test_every_mix_of_forms_gives_the_same_findings(tmp_path: Path) -> None:
    with record(
        sqlite_url(tmp_path, "canonical"), tmp_path, "canonical", MIXES["canonical"]
    ) as ledger:
        expected = findings(ledger)
        assert all(parse_ref(text) for text in stored_references(ledger))
    verdicts = {(rule, verdict) for rule, verdict, _ in expected}
    # The story is worth judging: obligations met and obligations missed.
    assert ("internal-four-eyes-deployment", "pass") in verdicts
    assert ("internal-four-eyes-deployment", "fail") in verdicts
    assert ("aiact-10-bias-examination", "fail") in verdicts
    for rule in (
        "aiact-9-risk-management",
        "aiact-11-technical-documentation",
        "aiact-26-11-subjects-informed",
        "aiact-27-fria-before-first-use",
        "aiact-49-eu-database-registration",
        "gdpr-30-records-of-processing",
        "gdpr-35-dpia-before-deployment",
    ):
        assert (rule, "pass") in verdicts and (rule, "fail") not in verdicts, rule
    for name, choose in MIXES.items():
        if name == "canonical":
            continue
        with record(sqlite_url(tmp_path, name), tmp_path, name, choose) as ledger:
            stored = stored_references(ledger)
            assert all(parse_ref(text) for text in stored), name
            assert findings(ledger) == expected, name


@pytest.mark.parametrize("name", ["short and bare", "alternating"])
def test_a_ledger_recorded_before_the_grammar_is_judged_the_same(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with record(
        sqlite_url(tmp_path, "canonical"), tmp_path, "canonical", MIXES["canonical"]
    ) as ledger:
        expected = findings(ledger)
        expected_registers = registers(ledger)
    approvals = expected_registers["approvals"]
    assert [a["approver"] for a in approvals if a["self_approval"]] == ["ana"]
    record_as_before_the_grammar(monkeypatch)
    with record(sqlite_url(tmp_path, name), tmp_path, name, MIXES[name]) as old:
        stored = stored_references(old)
        assert "credit-ai" in stored and "credit@3.2" in stored, "the bodies hold short forms"
        assert old.verify(deep=True).size == len(old)
        assert findings(old) == expected
        # A report's registers read them canonical too: lineage, approvals, self-approval.
        assert registers(old) == expected_registers


def registers(ledger: Ledger) -> dict[str, Any]:
    """The lineage and approval registers of a report over the ledger."""
    made = assemble(
        ledger,
        load_rules(default_policies_dir()),
        as_of=START + timedelta(days=30),
        signer={
            "name": "Dora Lind",
            "role": "DPO",
            "meaning": "attested",
            "certificate_sha256": HEX,
            "ca_sha256": HEX,
        },
        keys=[],
    )
    return {"lineage": made.report["lineage"], "approvals": made.report["approvals"]}


def test_two_approvals_written_two_ways_count_as_two(db_url: str, tmp_path: Path) -> None:
    forms = Forms(lambda site: site % 2 == 1)
    with record(db_url, tmp_path, "two-ways", forms) as ledger:
        stored = [e.payload["target"] for e in ledger.events(type="approval.granted")]
        four_eyes = [f for f in findings(ledger) if f[0] == "internal-four-eyes-deployment"]
    written = [t for t in forms.written if t in ("model:credit@3.2", "credit@3.2")]
    assert written[-2:] == ["model:credit@3.2", "credit@3.2"], forms.written
    assert stored[:2] == ["model:credit@3.2", "model:credit@3.2"]
    # 3.2: ben and dora approved, one writing each form: two approvals, a pass. 3.3: one.
    assert [verdict for _, verdict, _ in four_eyes] == ["pass", "fail"]
