"""Record the organisational facts around an AI system: its registration in your register
and in official databases, assessments, documents, notices, staff training, log purges,
suspension.

Example::

    register_system(ledger, "Credit scoring", role="deployer", risk_class="high",
                    purposes=["creditworthiness assessment"], public_authority=False)
    record_assessment(ledger, "dpia", "model:credit@3.2", "pass", signer="dpo-anna")

Targets are references to things (docs/FORMAT.md section 15.1): ``model:NAME@VERSION``,
``dataset:ID``, ``system:NAME``. The short forms are accepted (``credit@3.2``, the name of a
registered dataset or system) and stored canonical; a bare name that matches nothing
registered, or two things, is refused (`Ledger.resolve_reference` says what a text means).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Unpack

from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import (
    ASSESSMENT_KINDS,
    ASSESSMENT_RESULTS,
    DOCUMENT_KINDS,
    NOTICE_AUDIENCES,
    REGISTRATION_DATABASES,
    RISK_CLASSES,
    SYSTEM_ROLES,
    AssessmentKind,
    AssessmentResult,
    DocumentKind,
    NoticeAudience,
    RegistrationDatabase,
    RiskClass,
    SystemRole,
)

__all__ = [
    "give_notice",
    "record_assessment",
    "record_document",
    "record_log_purge",
    "record_registration",
    "record_staff_training",
    "register_system",
    "suspend_system",
]


def register_system(
    ledger: Ledger,
    name: str,
    *,
    role: SystemRole,
    risk_class: RiskClass,
    purposes: str | Iterable[str],
    public_authority: bool,
    annex_iii_point: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `system.registered`: an AI system entered your register.

    `name` is human-readable; the system's id is the envelope's ``system`` (the ledger's
    default unless given in `options`). `role` is provider, deployer or both;
    `risk_class` high, limited, minimal or prohibited; `annex_iii_point` e.g. ``"5(b)"``.

    Example::

        register_system(ledger, "Credit scoring", role="deployer", risk_class="high",
                        purposes="creditworthiness", public_authority=False, annex_iii_point="5(b)")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "register_system"
    payload = _common.compact(
        {
            "name": _common.text(name, "name", where),
            "role": _common.choice(role, SYSTEM_ROLES, "role", where),
            "risk_class": _common.choice(risk_class, RISK_CLASSES, "risk_class", where),
            "annex_iii_point": _common.optional_text(annex_iii_point, "annex_iii_point", where),
            "purposes": _common.names(purposes, "purposes", where),
            "public_authority": _common.flag(public_authority, "public_authority", where),
        }
    )
    return _common.record(ledger, "system.registered", payload, options)


def record_assessment(
    ledger: Ledger,
    kind: AssessmentKind,
    target: str,
    result: AssessmentResult,
    *,
    signer: str,
    summary: str | None = None,
    metrics: Mapping[str, float] | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `assessment.completed`: a DPIA, FRIA, risk, bias, conformity or evaluation.

    `target` is what was assessed (``model:credit@3.2``, ``dataset:ID`` or
    ``system:NAME``, or a short form); `result` is pass, fail or accepted_risk; `signer`
    who signed it off. For an evaluation, `metrics` are the values measured by metric
    name: rules compare them with the levels the instructions for use declare (AI Act
    Art. 9(8), 15(3)).

    Example::

        record_assessment(ledger, "bias", "model:credit@3.2", "accepted_risk",
                          signer="dpo-anna", summary="disparity 1.08 within the agreed 1.25")
        record_assessment(ledger, "evaluation", "model:credit@3.2", "pass", signer="ben",
                          metrics={"auc": 0.871, "false_positive_rate": 0.041})

    Raises ValidationError (nothing recorded) for a bad argument or a target that means
    nothing registered or two things.
    """
    where = "record_assessment"
    payload = _common.compact(
        {
            "kind": _common.choice(kind, ASSESSMENT_KINDS, "kind", where),
            "target": _common.text(target, "target", where),
            "result": _common.choice(result, ASSESSMENT_RESULTS, "result", where),
            "signer": _common.text(signer, "signer", where),
            "summary": _common.optional_text(summary, "summary", where),
            "metrics": None if metrics is None else _common.json_object(metrics, "metrics", where),
        }
    )
    return _common.record(ledger, "assessment.completed", payload, options)


def record_document(
    ledger: Ledger,
    kind: DocumentKind,
    target: str,
    version: str,
    document: str | os.PathLike[str],
    *,
    declared_metrics: Iterable[Mapping[str, Any]] | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `document.versioned`: version `version` of a compliance document was issued.

    `kind` is tech_doc, ropa, instructions, pmm_plan, qms, declaration_of_conformity or
    privacy_notice; `target` what it covers (a reference, e.g. ``model:credit@3.2`` or
    ``system:credit-scoring``); `document` the file (hashed here, streamed) or its SHA-256
    (64 hex characters). `declared_metrics` are the levels of accuracy the document
    declares, each ``{"metric", "level", "direction"}`` with direction ``at_least`` or
    ``at_most`` (instructions for use, AI Act Art. 13(3)(b)(ii), 15(3)).

    Example::

        record_document(ledger, "tech_doc", "model:credit@3.2", "1.4", "docs/credit-tech-doc.pdf")
        record_document(ledger, "instructions", "model:credit@3.2", "1.0", "docs/ifu.pdf",
                        declared_metrics=[{"metric": "auc", "level": 0.85,
                                           "direction": "at_least"}])

    Raises ValidationError (nothing recorded) for a bad argument or an unreadable file.
    """
    where = "record_document"
    payload = _common.compact(
        {
            "kind": _common.choice(kind, DOCUMENT_KINDS, "kind", where),
            "target": _common.text(target, "target", where),
            "version": _common.text(version, "version", where),
            "sha256": _common.digest_of(document, "document", where),
            "declared_metrics": None
            if declared_metrics is None
            else [
                _common.json_object(level, "each item of declared_metrics", where)
                for level in declared_metrics
            ],
        }
    )
    return _common.record(ledger, "document.versioned", payload, options)


def record_registration(
    ledger: Ledger,
    database: RegistrationDatabase,
    target: str,
    reference: str,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `registration.completed`: `target` was registered in the ``"eu"`` or
    ``"national"`` database (AI Act Art. 49, 71) under `reference`.

    Example::

        record_registration(ledger, "eu", "system:credit-scoring", "EU-AI-2026-000123")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "record_registration"
    payload = {
        "database": _common.choice(database, REGISTRATION_DATABASES, "database", where),
        "target": _common.text(target, "target", where),
        "reference": _common.text(reference, "reference", where),
    }
    return _common.record(ledger, "registration.completed", payload, options)


def record_staff_training(
    ledger: Ledger, person: str, course: str, **options: Unpack[EventOptions]
) -> Receipt:
    """Record `training.completed`: a staff member completed AI literacy or oversight
    training (AI Act Art. 4, 26(2)). Use a staff id for `person`: it is stored in clear.

    Example::

        record_staff_training(ledger, "emp-311", "human oversight of credit decisions")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "record_staff_training"
    payload = {
        "person": _common.text(person, "person", where),
        "course": _common.text(course, "course", where),
    }
    return _common.record(ledger, "training.completed", payload, options)


def give_notice(
    ledger: Ledger, audience: NoticeAudience, target: str, **options: Unpack[EventOptions]
) -> Receipt:
    """Record `notice.given`: ``"workers"`` or ``"subjects"`` were told that `target` (a
    system or model version, e.g. ``system:shift-planner``) is in use (AI Act Art. 26(7), 50).

    Example::

        give_notice(ledger, "workers", "system:shift-planner")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "give_notice"
    payload = {
        "audience": _common.choice(audience, NOTICE_AUDIENCES, "audience", where),
        "target": _common.text(target, "target", where),
    }
    return _common.record(ledger, "notice.given", payload, options)


def record_log_purge(
    ledger: Ledger,
    up_to: datetime | str,
    reason: str,
    *,
    documents: Iterable[DocumentKind] | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `log.purged`: operational logs before `up_to` were deleted, and why.

    `documents` names the kinds of compliance documents (tech_doc, qms, ...) whose files
    dated before `up_to` were deleted by the same purge (AI Act Art. 18 asks for ten years).

    Example::

        record_log_purge(ledger, "2025-10-01T00:00:00Z", "retention rule: 6 months")
        record_log_purge(ledger, "2016-01-01T00:00:00Z", "archive clean-up",
                         documents=["tech_doc", "qms"])

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "record_log_purge"
    payload = _common.compact(
        {
            "up_to": _common.timestamp(up_to, "up_to", where),
            "reason": _common.text(reason, "reason", where),
            "documents": None
            if documents is None
            else [
                _common.choice(kind, DOCUMENT_KINDS, "each item of documents", where)
                for kind in _common.names(documents, "documents", where)
            ],
        }
    )
    return _common.record(ledger, "log.purged", payload, options)


def suspend_system(ledger: Ledger, reason: str, **options: Unpack[EventOptions]) -> Receipt:
    """Record `system.suspended`: the system (``system`` in `options`, else the ledger's)
    was taken out of use (e.g. AI Act Art. 26(5)).

    Example::

        suspend_system(ledger, "serious incident inc-9 under investigation", system="credit")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    payload = {"reason": _common.text(reason, "reason", "suspend_system")}
    return _common.record(ledger, "system.suspended", payload, options)
