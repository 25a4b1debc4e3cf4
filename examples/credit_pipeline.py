"""A small credit-scoring pipeline, recorded end to end in an auditml ledger.

    pip install . scikit-learn                      # from the repository root
    python examples/credit_pipeline.py [--dir DIR]  # DIR: new or empty (default: a temp dir)

It makes a synthetic applicant dataset, trains a scikit-learn LogisticRegression, has
it approved by two people, deploys it, scores new applicants (one by one through the
`@decision` decorator, and as a batch), records a human review, then signs a
checkpoint, verifies the whole ledger and writes an evidence file proving one decision
that anyone can check offline with the ledger's public key.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
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
    grant_consents,
    record_decisions,
    record_review,
    register_dataset,
    training_run,
)

MODEL, VERSION = "credit", "3.2"
PURPOSE = "creditworthiness assessment"
FEATURES = ["income_k", "debt_ratio", "years_employed", "late_payments"]
THRESHOLD = 0.35  # decline when the predicted probability of default is above this


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


def main(directory: Path) -> dict[str, Any]:
    """Run the pipeline into a new ledger in `directory`; return what happened."""
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(directory / 'ledger.db').resolve()}"
    key_dir = directory / "keys"  # ledger.key (signing) and ledger.vkey (give this one out)

    # Create the ledger. Events are recorded by this pipeline unless a person is named.
    with Ledger.create(
        url,
        origin="bank.example/credit-ledger",
        key_dir=key_dir,
        actor={"id": "credit-pipeline", "kind": "service"},
    ) as ledger:
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
            retention="P5Y",
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

        # 4. Two people approve the model for deployment; then it goes live.
        target = f"model:{MODEL}@{VERSION}"
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
            reviewer="loan-officer@bank.example",
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
