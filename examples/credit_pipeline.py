"""A small credit-scoring pipeline, recorded end to end in an auditml ledger.

    pip install . scikit-learn                      # from the repository root
    python examples/credit_pipeline.py [--dir DIR]  # DIR: new or empty (default: a temp dir)

Credit scoring is a high-risk AI system (AI Act Annex III point 5(b)) that processes
personal data, so the pipeline records what GDPR and the AI Act ask of it, in the order
they ask it: it registers the system with its purpose, records the record of processing,
the DPIA, the fundamental rights impact assessment (and sends its results to the market
surveillance authority), the risk assessment, the quality management system and the
post-market monitoring plan, the oversight training of the loan officer who will review
decisions, and tells applicants that they are scored. Then it makes a synthetic applicant
dataset, trains a scikit-learn LogisticRegression, tests it against predefined metrics,
records its bias examination, technical documentation and instructions for use (which
declare the accuracy it was tested to), passes the conformity assessment, signs the EU
declaration of conformity, registers the system in the EU database, has the model
approved by two people, deploys it, scores
new applicants (one by one through the `@decision` decorator, and as a batch), records a
human review, then signs a checkpoint, verifies the whole ledger and writes an evidence
file proving one decision that anyone can check offline with the ledger's public key.

`auditml check` over the ledger finds no failing or pending obligation: every rule of
the shipped rule set passes or, like the breach-notification deadline in a ledger
without a breach, does not apply.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from auditml import AuditmlError, Ledger
from auditml.sdk import (
    approve,
    decision,
    deploy_model,
    derive_dataset,
    give_notice,
    grant_consents,
    record_assessment,
    record_decisions,
    record_document,
    record_notification,
    record_registration,
    record_review,
    record_staff_training,
    register_dataset,
    register_system,
    training_run,
)

SYSTEM = "credit-scoring"  # the system's id in the ledger: every event below is about it
# References to things are written model:NAME@VERSION, dataset:ID or system:NAME; short
# forms (credit-scorer@1.0, a registered name) are accepted and stored in these forms.
THE_SYSTEM = f"system:{SYSTEM}"
MODEL, VERSION = "credit", "3.2"
PURPOSE = "creditworthiness assessment"
DPO = {"id": "dpo@bank.example", "kind": "human"}
REVIEWER = "loan-officer@bank.example"
FEATURES = ["income_k", "debt_ratio", "years_employed", "late_payments"]
THRESHOLD = 0.35  # decline when the predicted probability of default is above this
#: The accuracy the model must reach, defined before it is tested (AI Act Art. 9(8)) and
#: declared in its instructions for use (Art. 13(3)(b)(ii), 15(3)).
TARGETS = [
    {"metric": "auc", "level": 0.75, "direction": "at_least"},
    {"metric": "accuracy", "level": 0.7, "direction": "at_least"},
]


QUALITY_MANUAL = """# Quality management system (AI Act Art. 17): credit scoring

Compliance strategy, design and release procedures (two approvers, never the trainer),
test and validation against predefined targets, data management, risk management,
post-market monitoring, incident reporting, record keeping, accountability.
"""

MONITORING_PLAN = """# Post-market monitoring plan (AI Act Art. 72): credit scoring

Monthly: AUC and accuracy on the repaid and defaulted loans of the month, refusal rates
by age band; below the declared levels, the model is reviewed and may be withdrawn.
"""

INSTRUCTIONS = """# Instructions for use (AI Act Art. 13): credit scoring

Intended purpose: creditworthiness assessment of consenting applicants for consumer
credit. Declared accuracy on the hold-out set: AUC at least 0.75, accuracy at least 0.7.
Decline above a predicted default probability of 0.35; a loan officer reviews contested
declines. Decisions are logged in the bank's auditml ledger.
"""

DECLARATION = """# EU declaration of conformity (AI Act Art. 47, Annex V)

Provider: bank.example. AI system: credit scoring, version 3.2. The system is in
conformity with Regulation (EU) 2024/1689; conformity assessed by internal control.
"""

PRIVACY_NOTICE = """# Privacy notice 2026-01: credit scoring (GDPR Art. 13)

We score your application with a model on your income, debt ratio, years employed and late
payments, with your explicit consent; you may ask a person to review the decision, give
your view and contest it. We keep the data five years. You may complain to the supervisory
authority.
"""

RECORDS_OF_PROCESSING = """# Records of processing activities (GDPR Art. 30): credit scoring

Purpose: creditworthiness assessment. Lawful basis: consent (Art. 6(1)(a)), explicit for
solely automated decisions (Art. 22(2)(c)). Data: income, debt ratio, years employed, late
payments. Retention: five years after the application. Recipients: none.
"""


def make_applicants(count: int, seed: int, first_id: int = 0) -> list[dict[str, Any]]:
    """Synthetic applicants: an id, four features and whether they defaulted."""
    rng = np.random.default_rng(seed)
    income_k = rng.lognormal(3.8, 0.4, count).round(1)  # yearly income, thousands of EUR
    debt_ratio = rng.uniform(0.0, 0.9, count).round(2)
    years_employed = rng.integers(0, 30, count)
    late_payments = rng.poisson(0.7, count)
    risk = 2.0 - 0.04 * income_k + 3.0 * debt_ratio - 0.1 * years_employed + 0.8 * late_payments
    defaulted = rng.random(count) < 1 / (1 + np.exp(-risk))
    return [
        {
            "id": f"applicant-{first_id + i:04d}",
            "income_k": income_k[i],
            "debt_ratio": debt_ratio[i],
            "years_employed": years_employed[i],
            "late_payments": late_payments[i],
            "defaulted": defaulted[i],
        }
        for i in range(count)
    ]


def features(applicant: dict[str, Any]) -> dict[str, Any]:
    """What the model sees, by name: what a decision's input_sha256 is computed over."""
    return {name: applicant[name] for name in FEATURES}


def row(applicant: dict[str, Any]) -> np.ndarray:
    """The same features as the model's input row."""
    return np.array([applicant[name] for name in FEATURES], dtype=float)


def write_csv(path: Path, applicants: list[dict[str, Any]]) -> Path:
    columns = ["id", *FEATURES, "defaulted"]
    lines = [",".join(columns)] + [",".join(str(a[c]) for c in columns) for a in applicants]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_document(path: Path, text: str) -> Path:
    """A compliance document, as the file whose SHA-256 the ledger records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def main(directory: Path, clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """Run the pipeline into a new ledger in `directory`; return what happened.

    `clock` stands in for the wall clock (tests give one, to fix when things happen).
    """
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(directory / 'ledger.db').resolve()}"
    key_dir = directory / "keys"  # ledger.key (signing) and ledger.vkey (give this one out)
    docs = directory / "docs"

    # Create the ledger. Events are recorded by this pipeline unless a person is named.
    with Ledger.create(
        url,
        origin="bank.example/credit-ledger",
        key_dir=key_dir,
        clock=clock,
        system=SYSTEM,
        actor={"id": "credit-pipeline", "kind": "service"},
    ) as ledger:
        # 0. Before any personal data is used: the system, its purpose and its paperwork.
        register_system(
            ledger,
            "Credit scoring",
            role="both",  # the bank builds the model and uses it: provider and deployer
            risk_class="high",
            annex_iii_point="5(b)",
            purposes=PURPOSE,
            public_authority=False,
            actor=DPO,
        )
        ropa = write_document(docs / "records-of-processing.md", RECORDS_OF_PROCESSING)
        record_document(ledger, "ropa", THE_SYSTEM, "2026.1", ropa, actor=DPO)  # GDPR Art. 30
        notice = write_document(docs / "privacy-notice.md", PRIVACY_NOTICE)  # GDPR Art. 13
        record_document(ledger, "privacy_notice", THE_SYSTEM, "2026-01", notice, actor=DPO)
        record_assessment(  # GDPR Art. 25(1): the measures chosen by design and by default
            ledger,
            "data_protection_by_design",
            THE_SYSTEM,
            "pass",
            signer=DPO["id"],
            summary="four features only, no free text; decisions keep inputs as hashes",
        )
        for kind, result, summary in [
            ("dpia", "pass", "explicit consent; declined applicants may ask for a review"),
            ("fria", "pass", "access to credit: refusals explained, contest route open"),
            ("risk", "accepted_risk", "thin-file applicants are scored less reliably"),
        ]:  # GDPR Art. 35; AI Act Art. 27 and Art. 9
            record_assessment(ledger, kind, THE_SYSTEM, result, signer=DPO["id"], summary=summary)
        record_staff_training(ledger, REVIEWER, "human oversight of credit decisions")
        give_notice(ledger, "subjects", THE_SYSTEM)  # applicants are told (AI Act Art. 26(11))
        # The provider's quality management system and post-market monitoring plan (AI Act
        # Art. 17, 72), and the FRIA's results sent to the market surveillance authority
        # (Art. 27(3)). References name what they point at: system:<name>.
        for kind, name, text in [
            ("qms", "quality-manual.md", QUALITY_MANUAL),
            ("pmm_plan", "post-market-monitoring-plan.md", MONITORING_PLAN),
        ]:
            document = write_document(docs / name, text)
            record_document(ledger, kind, THE_SYSTEM, "2026.1", document, actor=DPO)
        record_notification(
            ledger, "market_surveillance_authority", f"fria:{SYSTEM}", sent_at=ledger.now()
        )

        # 1. The data: register it (hashed here), and each applicant's consent.
        applicants = make_applicants(400, seed=1)
        csv = write_csv(directory / "applicants.csv", applicants)
        dataset = register_dataset(
            ledger,
            "applicants-2026",
            csv,
            purposes=PURPOSE,
            contains_personal_data=True,
            lawful_basis="consent",
            retention="P5Y",  # from collected_at: GDPR Art. 5(1)(e) checks it is deleted then
            collected_at=ledger.now(),  # collected as the pipeline runs
        )
        # One consent.granted per applicant, all in one transaction. The raw ids never
        # enter the ledger: each becomes a pseudonymous token.
        grant_consents(ledger, [a["id"] for a in applicants], PURPOSE, notice_version="2026-01")

        # 2. A derived dataset: the train/test split, written to a folder and hashed.
        train, test = train_test_split(
            applicants,
            test_size=0.25,
            random_state=0,
            stratify=[a["defaulted"] for a in applicants],
        )
        split = directory / "split"
        split.mkdir()
        write_csv(split / "train.csv", train)
        write_csv(split / "test.csv", test)
        derive_dataset(
            ledger,
            "applicants-2026-split",
            inputs=["applicants-2026"],
            transformation="train_test_split(test_size=0.25, stratify=defaulted, random_state=0)",
            source_or_sha256=split,
        )

        # 3. Training: model.trained is recorded when the block ends without an error.
        x_train, y_train = np.array([row(a) for a in train]), [a["defaulted"] for a in train]
        x_test, y_test = np.array([row(a) for a in test]), [a["defaulted"] for a in test]
        with training_run(
            ledger, model=MODEL, version=VERSION, datasets="applicants-2026-split"
        ) as run:
            model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
            run.log_params(model.get_params())
            scores = model.predict_proba(x_test)[:, 1]
            metrics = {
                "accuracy": accuracy_score(y_test, scores > 0.5),
                "auc": roc_auc_score(y_test, scores),
            }
            run.log_metrics(metrics)  # numpy floats are recorded as plain numbers
            model_path = directory / f"{MODEL}-{VERSION}.pkl"
            model_path.write_bytes(pickle.dumps(model))
            run.set_artifact(model_path)  # the model file's SHA-256 goes in the event

        # 4. What the AI Act asks before a high-risk model goes live (Art. 9(8), 10, 11,
        # 13, 43, 47, 49) ...
        version = f"{MODEL}@{VERSION}"
        target = f"model:{version}"
        met = all(metrics[t["metric"]] >= t["level"] for t in TARGETS)
        record_assessment(
            ledger,
            "evaluation",
            target,
            "pass" if met else "fail",
            signer="risk@bank.example",
            summary="hold-out quarter of the applicants, against the predefined targets",
            metrics=metrics,
        )
        record_assessment(
            ledger,
            "bias",
            target,
            "pass",
            signer="risk@bank.example",
            summary="no special-category data or known proxy among the four features",
        )
        tech_doc = write_document(
            docs / f"tech-doc-{MODEL}-{VERSION}.md",
            f"# {MODEL} {VERSION}\n\nLogisticRegression on {', '.join(FEATURES)}; "
            f"accuracy {metrics['accuracy']:.2f}, AUC {metrics['auc']:.2f}.\n",
        )
        record_document(ledger, "tech_doc", target, "1.0", tech_doc)
        instructions = write_document(docs / f"instructions-{MODEL}-{VERSION}.md", INSTRUCTIONS)
        record_document(
            ledger, "instructions", target, "1.0", instructions, declared_metrics=TARGETS
        )
        record_assessment(
            ledger,
            "conformity",
            THE_SYSTEM,
            "pass",
            signer="dpo@bank.example",
            summary="internal control (Annex VI): the Section 2 requirements are met",
        )
        declaration = write_document(docs / "eu-declaration-of-conformity.md", DECLARATION)
        record_document(
            ledger, "declaration_of_conformity", THE_SYSTEM, "1.0", declaration, actor=DPO
        )
        record_registration(ledger, "eu", THE_SYSTEM, "EU-HR-2026-000123", actor=DPO)

        # ... then two people approve the model for deployment, and it goes live.
        approve(ledger, target, "deployment", "AUC meets the bar", approver="risk@bank.example")
        approve(ledger, target, "deployment", "DPIA is up to date", approver="dpo@bank.example")
        deploy_model(ledger, MODEL, VERSION, "production")

        # 5. Serving, one applicant at a time: every call of predict() records a
        # decision.made with the SHA-256 of the features (not the features), the output
        # and, sealed under the applicant's key, the explanation.
        def contributions(result: dict[str, Any], applicant: dict[str, Any]) -> dict[str, Any]:
            """The explanation: each feature's pull on the score (coefficient x value)."""
            return dict(zip(FEATURES, model.coef_[0] * row(applicant), strict=True))

        @decision(
            ledger,
            model=MODEL,
            version=VERSION,
            purpose=PURPOSE,
            lawful_basis="consent",
            subject=lambda applicant: applicant["id"],
            inputs=features,
            solely_automated=True,
            legal_effect=True,
            explain=contributions,
        )
        def predict(applicant: dict[str, Any]) -> dict[str, Any]:
            probability = model.predict_proba([row(applicant)])[0, 1]  # a numpy float
            return {"default_probability": probability, "approved": probability <= THRESHOLD}

        new_applicants = make_applicants(24, seed=2, first_id=1000)
        online, batch = new_applicants[:4], new_applicants[4:]
        grant_consents(ledger, [a["id"] for a in new_applicants], PURPOSE, notice_version="2026-01")
        predictions = [(applicant, predict(applicant)) for applicant in online]
        ledger.flush()  # the decorator queues its events (group commit); wait for them here

        # 6. ... and as a batch: one transaction, one receipt per decision.
        outputs = [
            {"default_probability": p, "approved": p <= THRESHOLD}
            for p in model.predict_proba(np.array([row(a) for a in batch]))[:, 1]
        ]
        receipts = record_decisions(
            ledger,
            [features(a) for a in batch],
            outputs,
            subjects=[a["id"] for a in batch],
            model=MODEL,
            version=VERSION,
            purpose=PURPOSE,
            lawful_basis="consent",
            solely_automated=True,
            legal_effect=True,
        )
        predictions += zip(batch, outputs, strict=True)

        # 7. A declined applicant contests; a loan officer reviews the decision. The
        # decision's id is enough: the review is about the decision's (tokenised) subject.
        declined = next(i for i, output in enumerate(outputs) if not output["approved"])
        reviewed = receipts[declined]
        record_review(
            ledger,
            reviewed.id,
            "overridden",
            "payslips show a permanent contract since March",  # sealed, like explanations
            reviewer=REVIEWER,
        )

        # 8. Sign a checkpoint, re-check everything, prove the reviewed decision.
        checkpoint = ledger.checkpoint()
        verified = ledger.verify(deep=True)  # raises IntegrityError if anything was changed
        evidence_path = directory / "evidence.json"
        evidence_path.write_text(json.dumps(ledger.prove(reviewed.id), indent=2))

    print(f"ledger     {url} (keys in {key_dir})")
    print(f"dataset    applicants-2026: {len(applicants)} rows, sha256 {dataset.sha256[:16]}...")
    print(f"trained    {target}: accuracy {metrics['accuracy']:.2f}, AUC {metrics['auc']:.2f}")
    print(f"decisions  {len(online)} via @decision, {len(batch)} in one batch, 1 reviewed")
    print(f"verified   {verified.depth}: {verified.size} events, checkpoint at {checkpoint.size}")
    print(f"evidence   {evidence_path} proves decision {reviewed.id}; check it offline with")
    print(f"           auditml verify-evidence {evidence_path} --key {key_dir / 'ledger.vkey'}")
    print("rules      every GDPR, AI Act and internal rule passes, does not apply or is not")
    print("           due yet (the data's five-year retention); see with")
    print(f"           auditml --url {url} --home {key_dir} check")
    return {
        "url": url,
        "key_dir": key_dir,
        "applicants": [a["id"] for a in applicants + new_applicants],
        "metrics": metrics,
        "params": model.get_params(),
        "model_path": model_path,
        "test_csv": split / "test.csv",
        # (applicant, recorded output) for every decision, online ones first
        "predictions": predictions,
        "reviewed_decision": reviewed.id,
        "verified": verified,
        "evidence_path": evidence_path,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, help="a new or empty directory (default: a new temp dir)"
    )
    args = parser.parse_args()
    try:
        main(args.dir or Path(tempfile.mkdtemp(prefix="auditml-credit-")))
    except AuditmlError as error:  # e.g. --dir holds a ledger already
        raise SystemExit(f"error: {error}") from None
