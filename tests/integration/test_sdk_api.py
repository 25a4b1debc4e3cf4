"""auditml.sdk's public names are deliberate, and its value sets are the vocabulary's."""

from __future__ import annotations

import inspect
from typing import Any, get_args

import pytest

import auditml.sdk
from auditml.events.payloads import PAYLOAD_MODELS
from auditml.sdk import choices


def test_exported_names_are_pinned() -> None:
    assert sorted(auditml.sdk.__all__) == [
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


@pytest.mark.parametrize("name", auditml.sdk.__all__)
def test_every_public_helper_is_documented_with_an_example(name: str) -> None:
    obj = getattr(auditml.sdk, name)
    doc = inspect.getdoc(obj) or ""
    assert doc, name
    if inspect.isfunction(obj):
        assert "Example::" in doc, name
        assert "Raises" in doc or "Never raises" in doc, name


def allowed(event_type: str, field: str) -> set[Any]:
    annotation = PAYLOAD_MODELS[event_type].model_fields[field].annotation
    values = set()
    for arg in (*get_args(annotation), annotation):
        values |= {v for v in get_args(arg) if isinstance(v, str)}
    return values


@pytest.mark.parametrize(
    ("values", "event_type", "field"),
    [
        (choices.LAWFUL_BASES, "decision.made", "lawful_basis"),
        (choices.LAWFUL_BASES, "dataset.registered", "lawful_basis"),
        (choices.SYSTEM_ROLES, "system.registered", "role"),
        (choices.RISK_CLASSES, "system.registered", "risk_class"),
        (choices.APPROVAL_STAGES, "approval.granted", "stage"),
        (choices.REVIEW_OUTCOMES, "review.completed", "outcome"),
        (choices.ASSESSMENT_KINDS, "assessment.completed", "kind"),
        (choices.ASSESSMENT_RESULTS, "assessment.completed", "result"),
        (choices.DOCUMENT_KINDS, "document.versioned", "kind"),
        (choices.DSR_KINDS, "dsr.received", "kind"),
        (choices.DSR_OUTCOMES, "dsr.answered", "outcome"),
        (choices.INCIDENT_KINDS, "incident.reported", "kind"),
        (choices.INCIDENT_OUTCOMES, "incident.reported", "outcome"),
        (choices.NOTIFICATION_RECIPIENTS, "notification.sent", "to"),
        (choices.NOTICE_AUDIENCES, "notice.given", "audience"),
        (choices.REGISTRATION_DATABASES, "registration.completed", "database"),
        (choices.OBJECTION_GROUNDS, "dsr.received", "objects_to"),
        (choices.SUBJECT_EXEMPTIONS, "incident.reported", "subject_exemption"),
        (choices.DATASET_DISPOSALS, "dataset.deleted", "method"),
    ],
)
def test_value_sets_match_the_payload_models(
    values: tuple[str, ...], event_type: str, field: str
) -> None:
    assert set(values) == allowed(event_type, field)


def test_special_categories_match_the_payload_model() -> None:
    annotation = PAYLOAD_MODELS["dataset.registered"].model_fields["special_categories"].annotation
    (item,) = get_args(annotation)  # list[Literal[...]]
    assert set(choices.SPECIAL_CATEGORIES) == set(get_args(item))
