"""The typed vocabulary v1: one model per event type, strict validation, JSON Schema export."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
import typer
from pydantic import ValidationError as PydanticError
from typer.testing import CliRunner

from auditml.cli.schema import register
from auditml.errors import ValidationError
from auditml.events import envelope, timefmt
from auditml.events.payloads import (
    PAYLOAD_MODELS,
    REFERENCE_KEYWORD,
    SEALED_FIELDS,
    SUBJECT_REQUIRED,
    json_schema,
    validate_payload,
)
from auditml.events.refs import DATASETS, REFERENCE_FIELDS, THINGS
from auditml.events.vocabulary import EVENT_TYPES
from auditml.ledger.canonical import canonicalize

SHA_LOANS = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
SHA_CLEAN = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
SHA_MODEL = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
SHA_DOC = "18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4"
SHA_INPUT = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
SHA_RULES = "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"
SIGNATURE = (
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
)

# One realistic payload per type, already in normalised form (so validation returns it as is).
EXAMPLES: dict[str, dict[str, Any]] = {
    "system.registered": {
        "name": "Credit scoring",
        "role": "provider",
        "risk_class": "high",
        "annex_iii_point": "5(b)",
        "purposes": ["creditworthiness assessment"],
        "public_authority": False,
    },
    "dataset.registered": {
        "dataset_id": "loans-2025q4",
        "name": "Loan applications 2025 Q4",
        "uri": "s3://acme-ml/datasets/loans/2025q4.parquet",
        "sha256": SHA_LOANS,
        "contains_personal_data": True,
        "special_categories": [],
        "lawful_basis": "contract",
        "purposes": ["creditworthiness assessment"],
        "retention": "P5Y",
        "collected_at": "2025-12-31T23:59:59.000000Z",
    },
    "dataset.derived": {
        "dataset_id": "loans-2025q4-clean",
        "inputs": ["loans-2025q4"],
        "transformation": "dedupe, drop direct identifiers, impute income",
        "code_version": "git:4f2a9c1",
        "sha256": SHA_CLEAN,
    },
    "dataset.deleted": {
        "target": "dataset:loans-2019",
        "method": "deleted",
        "reason": "5-year retention ended (GDPR Art. 5(1)(e)); backups expired",
    },
    "consent.granted": {
        "purpose": "marketing-personalisation",
        "explicit": True,
        "notice_version": "2026-01",
    },
    "consent.withdrawn": {"purpose": "marketing-personalisation"},
    "model.trained": {
        "model": "credit-scorer",
        "version": "3.2",
        "datasets": ["loans-2025q4-clean"],
        "code_version": "git:4f2a9c1",
        "params": {"max_depth": 6, "learning_rate": 0.1, "n_estimators": 400},
        "metrics": {"auc": 0.871, "ks": 0.42},
        "artifact_sha256": SHA_MODEL,
    },
    "assessment.completed": {
        "kind": "dpia",
        "target": "credit-scorer@3.2",
        "result": "accepted_risk",
        "signer": "dpo-maria",
        "summary": "Residual risk of indirect discrimination accepted with monthly bias monitoring.",
    },
    "document.versioned": {
        "kind": "tech_doc",
        "target": "credit-scorer",
        "version": "3.2.0",
        "sha256": SHA_DOC,
    },
    "approval.granted": {
        "target": "model:credit-scorer@3.2",
        "stage": "deployment",
        "rationale": "Bias audit passed; DPIA accepted.",
        "signature": {"key_id": "ana-2026", "algorithm": "ed25519", "signature": SIGNATURE},
    },
    "approval.rejected": {
        "target": "model:credit-scorer@3.3",
        "stage": "deployment",
        "rationale": "AUC dropped below the 0.85 release gate.",
    },
    "model.deployed": {"model": "credit-scorer", "version": "3.2", "environment": "production"},
    "model.retired": {"model": "credit-scorer", "version": "3.1", "environment": "production"},
    "decision.made": {
        "model": "credit-scorer",
        "version": "3.2",
        "purpose": "creditworthiness assessment",
        "lawful_basis": "contract",
        "input_sha256": SHA_INPUT,
        "output": {"score": 0.82, "label": "approve", "threshold": 0.5},
        "solely_automated": True,
        "legal_effect": True,
        "explanation": {"income": 0.31, "debt_ratio": -0.12},
        "features": {"income": 52000, "debt_ratio": 0.31},
        "personal": {"name": "Jane Doe", "email": "jane@example.com"},
    },
    "review.completed": {
        "decision_id": "0190f1c2-7a3b-7c4d-8e5f-a1b2c3d4e5f6",
        "outcome": "overridden",
        "reason": "Income was misread from the payslip; the corrected figure qualifies.",
    },
    "dsr.received": {
        "request_id": "DSR-2026-0042",
        "kind": "erasure",
        "received_at": "2026-02-03T08:15:00.000000Z",
    },
    "dsr.extended": {
        "request_id": "DSR-2026-0042",
        "reason": "Complex request spanning three systems (Art. 12(3)).",
    },
    "dsr.answered": {
        "request_id": "DSR-2026-0043",
        "outcome": "refused",
        "ground": "Manifestly unfounded, Art. 12(5)(b)",
    },
    "erasure.completed": {"request_id": "DSR-2026-0042", "method": "crypto-shred"},
    "incident.reported": {
        "incident_id": "INC-17",
        "kind": "breach",
        "aware_at": "2026-02-10T14:00:00.000000Z",
        "severity": "high",
        "outcome": "rights",
        "widespread": False,
    },
    "incident.documented": {
        "incident_id": "INC-17",
        "facts": "37 statements posted to previous addresses between 2 and 8 June",
        "effects": "account balances seen by strangers; low risk of fraud",
        "remedial_action": "addresses re-verified before mailing; recipients asked to shred",
    },
    "notification.sent": {
        "to": "supervisory_authority",
        "about": "INC-17",
        "sent_at": "2026-02-12T09:00:00.000000Z",
    },
    "notice.given": {"audience": "workers", "target": "shift-planner"},
    "registration.completed": {
        "database": "eu",
        "target": "credit-scorer",
        "reference": "EU-AI-DB-000123",
    },
    "training.completed": {"person": "emp-0815", "course": "AI literacy basics 2026"},
    "log.purged": {
        "up_to": "2025-08-01T00:00:00.000000Z",
        "reason": "6-month retention of operational logs (AI Act Art. 26(6))",
    },
    "system.suspended": {"reason": "Serious incident INC-17 under investigation"},
    "risk.identified": {
        "risk_id": "RISK-4",
        "aware_at": "2026-09-02T10:00:00.000000Z",
        "summary": "Refusal rate of applicants over 60 doubled after the 3.3 release.",
        "target": "model:credit-scorer@3.3",
    },
    "policy.changed": {
        "policy_set_sha256": SHA_RULES,
        "summary": "Added the FRIA rule for public-authority deployers",
    },
    "key.rotated": {"key_id": "ledger-2026", "purpose": "checkpoint"},
    "report.issued": {
        "report_id": "01a219be-0dc7-71a9-a522-5be1a45e9641",
        "checkpoint_size": 5527,
        "checkpoint_root": SHA_RULES,
        "sha256": SHA_RULES,
    },
}

# The required fields per type, written out by hand rather than read from the models, so that
# a model that stops requiring a field fails here.
REQUIRED: dict[str, set[str]] = {
    "system.registered": {"name", "role", "risk_class", "purposes", "public_authority"},
    "dataset.registered": {
        "dataset_id",
        "name",
        "uri",
        "sha256",
        "contains_personal_data",
        "special_categories",
        "purposes",
    },
    "dataset.derived": {"dataset_id", "inputs", "transformation", "sha256"},
    "dataset.deleted": {"target", "method"},
    "consent.granted": {"purpose", "explicit"},
    "consent.withdrawn": {"purpose"},
    "model.trained": {"model", "version", "datasets", "params", "metrics", "artifact_sha256"},
    "assessment.completed": {"kind", "target", "result", "signer"},
    "document.versioned": {"kind", "target", "version", "sha256"},
    "approval.granted": {"target", "stage", "rationale"},
    "approval.rejected": {"target", "stage", "rationale"},
    "model.deployed": {"model", "version", "environment"},
    "model.retired": {"model", "version", "environment"},
    "decision.made": {
        "model",
        "version",
        "purpose",
        "lawful_basis",
        "input_sha256",
        "output",
        "solely_automated",
        "legal_effect",
    },
    "review.completed": {"decision_id", "outcome", "reason"},
    "dsr.received": {"request_id", "kind", "received_at"},
    "dsr.extended": {"request_id", "reason"},
    "dsr.answered": {"request_id", "outcome"},
    "erasure.completed": {"method"},
    "incident.reported": {"incident_id", "kind", "aware_at", "severity", "widespread"},
    "incident.documented": {"incident_id", "facts", "effects", "remedial_action"},
    "notification.sent": {"to", "about", "sent_at"},
    "notice.given": {"audience", "target"},
    "registration.completed": {"database", "target", "reference"},
    "training.completed": {"person", "course"},
    "log.purged": {"up_to", "reason"},
    "system.suspended": {"reason"},
    "risk.identified": {"risk_id", "aware_at", "summary"},
    "policy.changed": {"policy_set_sha256", "summary"},
    "key.rotated": {"key_id", "purpose"},
    "report.issued": {"report_id", "checkpoint_size", "checkpoint_root", "sha256"},
}

# Per type: a field, a value of the wrong type, and what the message must say.
WRONG_TYPE: dict[str, tuple[str, object, str]] = {
    "system.registered": ("public_authority", "no", "expected a boolean, got 'no'"),
    "dataset.registered": ("contains_personal_data", 1, "expected a boolean, got 1"),
    "dataset.derived": ("inputs", "loans-2025q4", "expected a list, got 'loans-2025q4'"),
    "dataset.deleted": ("method", "shredded", "expected one of 'deleted' or 'anonymised'"),
    "consent.granted": ("explicit", "true", "expected a boolean, got 'true'"),
    "consent.withdrawn": ("purpose", 7, "expected a string, got 7"),
    "model.trained": ("metrics", [0.87], "expected a JSON object, got a list"),
    "assessment.completed": (
        "result",
        "passed",
        "expected one of 'pass', 'fail' or 'accepted_risk', got 'passed'",
    ),
    "document.versioned": ("version", 3.2, "expected a string, got 3.2"),
    "approval.granted": ("stage", "prod", "expected one of 'deployment', 'training' or 'policy'"),
    "approval.rejected": ("rationale", None, "expected a string, got None"),
    "model.deployed": ("environment", ["prod"], "expected a string, got a list"),
    "model.retired": ("model", {"id": "x"}, "expected a string, got an object"),
    "decision.made": ("solely_automated", "yes", "expected a boolean, got 'yes'"),
    "review.completed": ("outcome", "reversed", "expected one of 'upheld' or 'overridden'"),
    "dsr.received": ("received_at", 1767225600, "expected an ISO 8601 timestamp with a timezone"),
    "dsr.extended": ("request_id", 42, "expected a string, got 42"),
    "dsr.answered": ("outcome", True, "expected one of 'completed' or 'refused', got True"),
    "erasure.completed": ("method", "delete", "expected one of 'crypto-shred', got 'delete'"),
    "incident.reported": ("widespread", "no", "expected a boolean, got 'no'"),
    "incident.documented": ("effects", "", "expected a non-empty string"),
    "notification.sent": ("to", "dpa", "expected one of 'supervisory_authority'"),
    "notice.given": ("audience", "everyone", "expected one of 'workers' or 'subjects'"),
    "registration.completed": ("database", "EU", "expected one of 'eu' or 'national', got 'EU'"),
    "training.completed": ("course", 101, "expected a string, got 101"),
    "log.purged": ("up_to", "last month", "'last month' is not an ISO 8601 timestamp"),
    "system.suspended": ("reason", "", "expected a non-empty string"),
    "risk.identified": ("aware_at", "yesterday", "'yesterday' is not an ISO 8601 timestamp"),
    "policy.changed": ("policy_set_sha256", "ABC", "expected a SHA-256 as 64 lowercase hex"),
    "key.rotated": ("key_id", 5, "expected a string, got 5"),
    "report.issued": ("checkpoint_size", "7", "expected an integer"),
}

ALL_TYPES = sorted(PAYLOAD_MODELS)


def refusal(event_type: str, payload: object) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_payload(event_type, payload, where="event 3")  # type: ignore[arg-type]
    return str(caught.value)


def test_every_type_of_design_section_4_has_a_model_and_an_example() -> None:
    assert len(PAYLOAD_MODELS) == 31
    assert set(PAYLOAD_MODELS) == set(EXAMPLES) == set(REQUIRED) == set(WRONG_TYPE)
    assert frozenset(PAYLOAD_MODELS) == EVENT_TYPES


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_passes_unchanged_and_is_canonical_json(event_type: str) -> None:
    example = copy.deepcopy(EXAMPLES[event_type])
    result = validate_payload(event_type, example, where="event 0")
    assert result == EXAMPLES[event_type]
    assert example == EXAMPLES[event_type]  # the caller's payload is not changed
    canonicalize(result)  # storable as is


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_required_fields_match_design_and_each_missing_one_is_named(event_type: str) -> None:
    model = PAYLOAD_MODELS[event_type]
    assert {name for name, f in model.model_fields.items() if f.is_required()} == REQUIRED[
        event_type
    ]
    for field in REQUIRED[event_type]:
        payload = {k: v for k, v in EXAMPLES[event_type].items() if k != field}
        message = refusal(event_type, payload)
        assert message.startswith(f"event 3 ({event_type}): ")
        assert f"payload.{field}: required field missing" in message


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_wrong_type_is_refused_not_coerced(event_type: str) -> None:
    field, value, expected = WRONG_TYPE[event_type]
    message = refusal(event_type, {**EXAMPLES[event_type], field: value})
    assert message.startswith(f"event 3 ({event_type}): payload.{field}: ")
    assert expected in message


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_unknown_field_is_refused_with_the_allowed_ones(event_type: str) -> None:
    message = refusal(event_type, {**EXAMPLES[event_type], "colour": "red"})
    assert f"event 3 ({event_type}): payload.colour: unknown field; allowed: " in message
    assert "personal" in message and sorted(REQUIRED[event_type])[0] in message


def test_all_problems_are_reported_at_once() -> None:
    payload = {**EXAMPLES["decision.made"], "solely_automated": "yes"}
    del payload["model"]
    assert refusal("decision.made", payload) == (
        "event 3 (decision.made): payload.model: required field missing; "
        "payload.solely_automated: expected a boolean, got 'yes'"
    )


def test_strict_types_no_silent_coercion() -> None:
    base = EXAMPLES["consent.granted"]
    for bad in ("true", 1, 0, "1", None):
        assert "payload.explicit: expected a boolean" in refusal(
            "consent.granted", {**base, "explicit": bad}
        )
    assert "payload.purpose: expected a string, got 3" in refusal(
        "consent.granted", {**base, "purpose": 3}
    )


def test_unknown_type_is_refused_with_a_suggestion() -> None:
    message = refusal("decision.mad", {})
    assert message.startswith("event 3: unknown event type 'decision.mad'")
    assert "did you mean 'decision.made'?" in message
    with pytest.raises(ValidationError, match="did you mean 'model.deployed'"):
        json_schema("model.deploy")


def test_non_mapping_payload_is_refused() -> None:
    assert "payload must be a JSON object, got list" in refusal("consent.withdrawn", [1, 2])
    # A list of pairs is not quietly taken as an object.
    assert "got list" in refusal("consent.withdrawn", [("purpose", "ads")])
    assert "got str" in refusal("consent.withdrawn", "purpose=ads")


def test_mapping_input_and_tuples_are_accepted() -> None:
    payload = MappingProxyType({**EXAMPLES["dataset.derived"], "inputs": ("a", "b")})
    assert validate_payload("dataset.derived", payload, where="e")["inputs"] == ["a", "b"]


def test_times_are_normalised_to_the_ledger_form() -> None:
    base = EXAMPLES["dsr.received"]
    for given in (
        "2026-03-01T12:00:00.5-02:00",
        "2026-03-01T14:00:00.500Z",
        datetime(2026, 3, 1, 15, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 3, 1, 14, 0, 0, 500000, tzinfo=UTC),
    ):
        result = validate_payload("dsr.received", {**base, "received_at": given}, where="e")
        assert result["received_at"] == "2026-03-01T14:00:00.500000Z"
    model = PAYLOAD_MODELS["incident.reported"].model_validate(EXAMPLES["incident.reported"])
    assert model.aware_at == datetime(2026, 2, 10, 14, tzinfo=UTC)  # type: ignore[attr-defined]


def test_naive_and_malformed_times_are_refused() -> None:
    base = EXAMPLES["notification.sent"]
    for naive in ("2026-02-12T09:00:00", datetime(2026, 2, 12, 9)):
        message = refusal("notification.sent", {**base, "sent_at": naive})
        assert "payload.sent_at: timestamp" in message and "has no timezone" in message
    assert "payload.sent_at: 'tomorrow' is not an ISO 8601 timestamp" in refusal(
        "notification.sent", {**base, "sent_at": "tomorrow"}
    )
    assert "payload.collected_at: expected an ISO 8601 timestamp" in refusal(
        "dataset.registered", {**EXAMPLES["dataset.registered"], "collected_at": 1.5}
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (SHA_LOANS, True),
        (SHA_LOANS.upper(), False),  # refused, not lowercased: the caller's hash is kept as sent
        (SHA_LOANS[:-1], False),
        (SHA_LOANS + "0", False),
        ("g" * 64, False),
        ("", False),
    ],
)
def test_sha256_fields(value: str, ok: bool) -> None:
    payload = {**EXAMPLES["document.versioned"], "sha256": value}
    if ok:
        assert validate_payload("document.versioned", payload, where="e")["sha256"] == value
    else:
        assert "payload.sha256: expected a SHA-256 as 64 lowercase hex characters" in refusal(
            "document.versioned", payload
        )


@pytest.mark.parametrize(
    "value", ["P5Y", "P6M", "P30D", "PT72H", "P1Y6M", "P2W", "P1DT12H", "PT90M", "PT30S"]
)
def test_durations_accepted(value: str) -> None:
    payload = {**EXAMPLES["dataset.registered"], "retention": value}
    assert validate_payload("dataset.registered", payload, where="e")["retention"] == value


@pytest.mark.parametrize(
    "value", ["P", "PT", "5Y", "p5y", "P1.5Y", "P1H", "P1D12H", "P1DT", "P1W2D", "P-1D", "P5Y "]
)
def test_durations_refused(value: str) -> None:
    payload = {**EXAMPLES["dataset.registered"], "retention": value}
    assert "payload.retention: expected an ISO 8601 duration" in refusal(
        "dataset.registered", payload
    )


def test_optional_fields_left_out_or_none_are_omitted_not_null() -> None:
    payload = {**EXAMPLES["dataset.registered"], "lawful_basis": None, "collected_at": None}
    del payload["retention"]
    result = validate_payload("dataset.registered", payload, where="e")
    assert not {"lawful_basis", "collected_at", "retention", "personal"} & result.keys()
    assert None not in result.values()


def test_free_objects_keep_their_nulls_and_refuse_non_json() -> None:
    base = EXAMPLES["model.trained"]
    result = validate_payload(
        "model.trained", {**base, "metrics": {"auc": 0.9, "ks": None, "bins": (1, 2)}}, where="e"
    )
    assert result["metrics"] == {"auc": 0.9, "ks": None, "bins": [1, 2]}
    message = refusal("model.trained", {**base, "metrics": {"auc": float("nan")}})
    assert "payload.metrics: float nan is not allowed at /auc" in message
    assert "payload.params: object keys must be strings, got 1" in refusal(
        "model.trained", {**base, "params": {1: "a"}}
    )


def test_lists_check_their_items_and_length() -> None:
    base = EXAMPLES["system.registered"]
    assert "payload.purposes[1]: expected a non-empty string" in refusal(
        "system.registered", {**base, "purposes": ["scoring", ""]}
    )
    assert "payload.purposes: expected at least 1 item(s), got none" in refusal(
        "system.registered", {**base, "purposes": []}
    )
    assert "payload.special_categories[0]: expected one of 'racial_or_ethnic_origin'" in refusal(
        "dataset.registered", {**EXAMPLES["dataset.registered"], "special_categories": ["race"]}
    )


def test_approval_signature_object() -> None:
    base = EXAMPLES["approval.granted"]
    signature = base["signature"]
    assert "payload.signature.algorithm: expected one of 'ed25519', got 'rsa'" in refusal(
        "approval.granted", {**base, "signature": {**signature, "algorithm": "rsa"}}
    )
    assert "payload.signature.signature: expected an Ed25519 signature as standard base64" in (
        refusal("approval.granted", {**base, "signature": {**signature, "signature": "AAAA"}})
    )
    assert (
        "payload.signature.note: unknown field; allowed: algorithm, key_id, signature"
        in refusal("approval.granted", {**base, "signature": {**signature, "note": "x"}})
    )
    assert "payload.signature: expected a JSON object, got 'c2ln'" in refusal(
        "approval.granted", {**base, "signature": "c2ln"}
    )


def test_ai_act_accuracy_declared_and_measured() -> None:
    # Instructions for use declare levels (Art. 15(3)); an evaluation records what it measured.
    declared = [{"metric": "auc", "level": 0.85, "direction": "at_least"}]
    instructions = {**EXAMPLES["document.versioned"], "kind": "instructions"}
    result = validate_payload(
        "document.versioned", {**instructions, "declared_metrics": declared}, where="e"
    )
    assert result["declared_metrics"] == declared
    assert "payload.declared_metrics[0].direction: expected one of 'at_least' or 'at_most'" in (
        refusal(
            "document.versioned",
            {**instructions, "declared_metrics": [{**declared[0], "direction": "higher"}]},
        )
    )
    assert "payload.declared_metrics: expected at least 1 item(s), got none" in refusal(
        "document.versioned", {**instructions, "declared_metrics": []}
    )
    evaluation = {**EXAMPLES["assessment.completed"], "kind": "evaluation"}
    measured = {"auc": 0.871, "false_positive_rate": 0.04}
    result = validate_payload(
        "assessment.completed", {**evaluation, "metrics": measured}, where="e"
    )
    assert result["metrics"] == measured
    assert "payload.metrics.auc: expected a number, got 'high'" in refusal(
        "assessment.completed", {**evaluation, "metrics": {"auc": "high"}}
    )
    assert "payload.metrics.auc: input should be a finite number" in refusal(
        "assessment.completed", {**evaluation, "metrics": {"auc": float("nan")}}
    )


def test_log_purge_names_the_document_kinds_it_deleted() -> None:
    base = EXAMPLES["log.purged"]
    result = validate_payload("log.purged", {**base, "documents": ["tech_doc", "qms"]}, where="e")
    assert result["documents"] == ["tech_doc", "qms"]
    assert "payload.documents[0]: expected one of 'tech_doc'" in refusal(
        "log.purged", {**base, "documents": ["manual"]}
    )
    # Purges recorded before the field existed remove logs only: still valid.
    assert "documents" not in validate_payload("log.purged", base, where="e")


def test_decision_explanation_is_text_or_object() -> None:
    base = EXAMPLES["decision.made"]
    for explanation in ("Income below the threshold.", {"income": -0.4}):
        result = validate_payload("decision.made", {**base, "explanation": explanation}, where="e")
        assert result["explanation"] == explanation
    assert "payload.explanation: expected non-empty text or a JSON object, got a list" in refusal(
        "decision.made", {**base, "explanation": ["a"]}
    )


def test_review_decision_id_uses_the_event_id_syntax() -> None:
    assert "payload.decision_id: expected an event id" in refusal(
        "review.completed", {**EXAMPLES["review.completed"], "decision_id": "no spaces allowed"}
    )


# The facts the GDPR rules need (issue 14): optional fields, so earlier ledgers stay valid.
GDPR_FACTS: list[tuple[str, dict[str, Any]]] = [
    ("decision.made", {"direct_marketing": True}),
    ("dsr.received", {"kind": "objection", "objects_to": "direct_marketing"}),
    ("dsr.received", {"kind": "contest", "decision_id": "0190f1c2-7a3b-7c4d-8e5f-a1b2c3d4e5f6"}),
    ("erasure.completed", {"recipients": ["credit-bureau", "collections-agency"]}),
    ("erasure.completed", {"recipients": []}),
    ("incident.reported", {"high_risk": True, "subject_exemption": "a"}),
    ("notification.sent", {"to": "recipient", "recipients": ["credit-bureau"]}),
    ("notification.sent", {"to": "public", "delay_reason": "forensics took four days"}),
    ("document.versioned", {"kind": "privacy_notice", "target": "system:credit-scoring"}),
    ("assessment.completed", {"kind": "data_protection_by_design"}),
]


@pytest.mark.parametrize(("event_type", "added"), GDPR_FACTS)
def test_gdpr_facts_are_optional_and_checked(event_type: str, added: dict[str, Any]) -> None:
    payload = {**EXAMPLES[event_type], **added}
    assert validate_payload(event_type, payload, where="e") == payload
    for name in added:
        field = PAYLOAD_MODELS[event_type].model_fields[name]
        assert not field.is_required() or name in REQUIRED[event_type]


@pytest.mark.parametrize(
    ("event_type", "field", "value", "message"),
    [
        ("decision.made", "direct_marketing", "yes", "expected a boolean, got 'yes'"),
        ("dsr.received", "objects_to", "marketing", "expected one of 'direct_marketing'"),
        ("dsr.received", "decision_id", "dec 7", "expected an event id"),
        ("erasure.completed", "recipients", "credit-bureau", "expected a list"),
        ("incident.reported", "subject_exemption", "d", "expected one of 'a', 'b' or 'c'"),
        ("notification.sent", "to", "recipients", "'recipient' or 'public'"),
        ("dataset.deleted", "target", "", "expected a non-empty string"),
    ],
)
def test_gdpr_facts_refuse_bad_values(
    event_type: str, field: str, value: object, message: str
) -> None:
    assert message in refusal(event_type, {**EXAMPLES[event_type], field: value})


def test_sealed_values_are_never_echoed_in_messages() -> None:
    secret = "Jane Doe, 12 Elm Street"
    message = refusal("review.completed", {**EXAMPLES["review.completed"], "reason": [secret]})
    assert "payload.reason: expected a string, got a list" in message and "Jane" not in message
    message = refusal("decision.made", {**EXAMPLES["decision.made"], "personal": secret})
    assert "payload.personal: expected a JSON object, got a str" in message
    assert "Jane" not in message
    # Unsealed fields do show the value, which helps fix the call.
    assert "payload.explicit: expected a boolean, got 'Jane'" in refusal(
        "consent.granted", {**EXAMPLES["consent.granted"], "explicit": "Jane"}
    )


def test_personal_is_allowed_on_every_type() -> None:
    for event_type in ALL_TYPES:
        payload = {**EXAMPLES[event_type], "personal": {"email": "jane@example.com"}}
        result = validate_payload(event_type, payload, where="e")
        assert result["personal"] == {"email": "jane@example.com"}


def test_sealed_fields_and_subject_required() -> None:
    assert set(SEALED_FIELDS) == set(PAYLOAD_MODELS)
    for event_type, fields in SEALED_FIELDS.items():
        assert "personal" in fields
        assert fields <= set(PAYLOAD_MODELS[event_type].model_fields)
    assert SEALED_FIELDS["decision.made"] == {"personal", "features", "explanation"}
    assert SEALED_FIELDS["review.completed"] == {"personal", "reason"}
    assert SEALED_FIELDS["model.trained"] == {"personal"}
    assert {
        "consent.granted",
        "consent.withdrawn",
        "decision.made",
        "dsr.received",
        "erasure.completed",
        "review.completed",
    } == SUBJECT_REQUIRED


def test_models_are_frozen_and_documented() -> None:
    instance = PAYLOAD_MODELS["consent.withdrawn"].model_validate({"purpose": "ads"})
    with pytest.raises(PydanticError):
        instance.purpose = "other"  # type: ignore[attr-defined]
    for event_type, model in PAYLOAD_MODELS.items():
        assert model.__doc__, event_type
        for name, field in model.model_fields.items():
            assert field.description, f"{event_type}.{name}"


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_json_schema_of_each_type(event_type: str) -> None:
    schema = json_schema(event_type)
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == event_type
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == REQUIRED[event_type]
    assert set(schema["properties"]) == set(PAYLOAD_MODELS[event_type].model_fields)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name


def test_json_schema_details() -> None:
    dataset = json_schema("dataset.registered")["properties"]
    assert dataset["sha256"]["pattern"] == "^[0-9a-f]{64}$"
    assert dataset["collected_at"]["anyOf"][0] == {"format": "date-time", "type": "string"}
    assert dataset["lawful_basis"]["anyOf"][0]["enum"][0] == "consent"
    system = json_schema("system.registered")["properties"]
    assert system["role"]["enum"] == ["provider", "deployer", "both"]
    assert system["purposes"]["minItems"] == 1


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_combined_json_schema_covers_every_type_and_its_refs_resolve() -> None:
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["title"] == "auditml vocabulary v1"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(PAYLOAD_MODELS) <= set(schema["$defs"])
    assert [b["properties"]["type"]["const"] for b in schema["oneOf"]] == list(PAYLOAD_MODELS)
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"], ref
    assert "#/$defs/Signature" in _refs(schema["$defs"]["approval.rejected"])


def test_time_functions_moved_to_timefmt_and_are_still_exported_by_envelope() -> None:
    assert envelope.format_time is timefmt.format_time
    assert envelope.parse_time is timefmt.parse_time


@pytest.mark.parametrize(
    "module", ["auditml.events.payloads", "auditml.events.vocabulary", "auditml.events.envelope"]
)
def test_each_events_module_imports_first_without_a_cycle(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- #
# auditml schema                                                               #
# --------------------------------------------------------------------------- #


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, so that `schema` is a subcommand as in the real CLI."""

    register(app)
    return app


def test_cli_schema_table_lists_every_type(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    for event_type in PAYLOAD_MODELS:
        assert event_type in result.output
    assert "features (sealed)" in result.output and "subject required" in result.output


def test_cli_schema_json_and_one_type(cli: typer.Typer) -> None:
    combined = CliRunner().invoke(cli, ["schema", "--json"])
    assert combined.exit_code == 0 and json.loads(combined.output) == json_schema()
    one = CliRunner().invoke(cli, ["schema", "decision.made"])
    assert one.exit_code == 0 and json.loads(one.output) == json_schema("decision.made")
    assert one.output.startswith("{\n  ")  # indented


def test_cli_schema_unknown_type_raises_validation_error(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["schema", "decision.mad"])
    assert isinstance(result.exception, ValidationError)
    assert "did you mean 'decision.made'?" in str(result.exception)


# -- references (auditml/events/refs.py) ----------------------------------------------------


def test_the_reference_table_names_exactly_the_fields_typed_as_references() -> None:
    # The JSON Schema marks reference fields, so tools reading `auditml schema` know them too.
    typed: dict[str, dict[str, Any]] = {}
    for event_type in PAYLOAD_MODELS:
        for name, field in json_schema(event_type)["properties"].items():
            # A reference, a list of them, or an optional one (anyOf with null).
            shapes = [field, field.get("items", {}), *field.get("anyOf", ())]
            marked = next((s[REFERENCE_KEYWORD] for s in shapes if REFERENCE_KEYWORD in s), None)
            if marked is not None:
                typed.setdefault(event_type, {})[name] = THINGS if marked == "thing" else DATASETS
    assert typed == {t: dict(fields) for t, fields in REFERENCE_FIELDS.items()}


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        (
            "notice.given",
            {"audience": "workers", "target": "model:credit"},
            "payload.target: a model reference is model:NAME@VERSION, and the @VERSION is "
            "missing, got 'model:credit'",
        ),
        (
            "notice.given",
            {"audience": "workers", "target": "system:Credit scoring"},
            "payload.target: a system name is 1-200 characters of letters, digits and ._:/@-, "
            "starting with a letter or digit, got 'system:Credit scoring'",
        ),
        (
            "approval.granted",
            {"target": " credit@3.2", "stage": "deployment", "rationale": "ok"},
            "payload.target: the name starts or ends with a space, got ' credit@3.2'",
        ),
        (
            "dataset.derived",
            {
                "dataset_id": "b",
                "inputs": ["a", "system:x"],
                "transformation": "t",
                "sha256": SHA_CLEAN,
            },
            "payload.inputs[1]: this field lists datasets, not a system, got 'system:x'",
        ),
        (
            "notice.given",
            {"audience": "workers", "target": "x" * 10_000},
            "payload.target: expected at most 407 characters, got 'xxxxx",
        ),
        (
            "dataset.derived",
            {
                "dataset_id": "dataset:b",
                "inputs": ["a"],
                "transformation": "t",
                "sha256": SHA_CLEAN,
            },
            "payload.dataset_id: a dataset id is a name, not a reference (dataset:...); write "
            "'b' or another id without the prefix",
        ),
    ],
)
def test_malformed_references_are_refused_by_validation(
    event_type: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_payload(event_type, payload, where="line 2")
    assert f"line 2 ({event_type}): {message}" in str(caught.value)


def test_short_forms_pass_validation_as_written() -> None:
    # Resolving them needs the ledger: validation keeps what was written.
    payload = {"audience": "workers", "target": "credit-ai"}
    assert validate_payload("notice.given", payload, where="e") == payload
    trained = {**EXAMPLES["model.trained"], "datasets": ["loans", "dataset:clean"]}
    assert validate_payload("model.trained", trained, where="e")["datasets"] == [
        "loans",
        "dataset:clean",
    ]
