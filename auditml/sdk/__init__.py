"""Recording helpers for ML code: one function (or context manager, or decorator) per fact.

Every helper takes the `Ledger` as its first argument, validates its arguments before
anything is written (`auditml.ValidationError` names the helper and the field), and
returns what was recorded (a `Receipt`, or a small result object). There is no global
state: open the ledger once and pass it in.

Example::

    from auditml import Ledger
    from auditml.sdk import register_dataset, training_run, decision

    with Ledger.open() as ledger:
        register_dataset(ledger, "loans-2025", "data/loans.parquet", purposes="credit scoring",
                         contains_personal_data=True, lawful_basis="contract")
        with training_run(ledger, model="credit", version="3.2", datasets="loans-2025") as run:
            run.log_metrics(auc=0.91); run.set_artifact("model.pkl")
"""

from auditml.sdk.approvals import (
    ApprovalRecord,
    approval_key_id,
    approve,
    reject,
    sign_approval,
    verify_approval_signature,
)
from auditml.sdk.code_version import git_revision
from auditml.sdk.consent import consent_state, grant_consent, grant_consents, withdraw_consent
from auditml.sdk.datasets import DatasetRecord, delete_dataset, derive_dataset, register_dataset
from auditml.sdk.decisions import decision, input_sha256, record_decision, record_decisions
from auditml.sdk.deployments import deploy_model, retire_model
from auditml.sdk.digests import PathDigest, sha256_file, sha256_path
from auditml.sdk.governance import (
    give_notice,
    record_assessment,
    record_document,
    record_log_purge,
    record_registration,
    record_staff_training,
    register_system,
    suspend_system,
)
from auditml.sdk.incidents import (
    document_incident,
    identify_risk,
    record_notification,
    report_incident,
)
from auditml.sdk.reviews import record_review
from auditml.sdk.subject_requests import answer_request, extend_request, receive_request
from auditml.sdk.training import TrainingRun, record_training, training_run

__all__ = [
    "ApprovalRecord",
    "DatasetRecord",
    "PathDigest",
    "TrainingRun",
    "answer_request",
    "approval_key_id",
    "approve",
    "consent_state",
    "decision",
    "delete_dataset",
    "deploy_model",
    "derive_dataset",
    "document_incident",
    "extend_request",
    "git_revision",
    "give_notice",
    "grant_consent",
    "grant_consents",
    "identify_risk",
    "input_sha256",
    "receive_request",
    "record_assessment",
    "record_decision",
    "record_decisions",
    "record_document",
    "record_log_purge",
    "record_notification",
    "record_registration",
    "record_review",
    "record_staff_training",
    "record_training",
    "register_dataset",
    "register_system",
    "reject",
    "report_incident",
    "retire_model",
    "sha256_file",
    "sha256_path",
    "sign_approval",
    "suspend_system",
    "training_run",
    "verify_approval_signature",
    "withdraw_consent",
]
