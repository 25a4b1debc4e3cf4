"""The closed value sets of vocabulary v1 (docs/FORMAT.md section 15), as types for your annotations.

Each ``Literal`` type lets a type checker catch ``stage="deploy"``; the matching tuple
is what the helpers check at run time before anything is recorded. A test keeps both
equal to the payload models of `auditml.events.payloads`.

Example::

    from auditml.sdk.choices import LawfulBasis
    def score(applicant: dict, basis: LawfulBasis = "contract") -> float: ...
"""

from __future__ import annotations

from typing import Literal, get_args

from auditml.events.payloads import (
    AssessmentKind,
    DatasetDisposal,
    DocumentKind,
    LawfulBasis,
    NotificationRecipient,
    ObjectionGround,
    SpecialCategory,
    SpecialCategoryCondition,
    SubjectExemption,
)

__all__ = [
    "APPROVAL_STAGES",
    "ASSESSMENT_KINDS",
    "ASSESSMENT_RESULTS",
    "DATASET_DISPOSALS",
    "DOCUMENT_KINDS",
    "DSR_KINDS",
    "DSR_OUTCOMES",
    "INCIDENT_KINDS",
    "INCIDENT_OUTCOMES",
    "LAWFUL_BASES",
    "NOTICE_AUDIENCES",
    "NOTIFICATION_RECIPIENTS",
    "OBJECTION_GROUNDS",
    "REGISTRATION_DATABASES",
    "REVIEW_OUTCOMES",
    "RISK_CLASSES",
    "SPECIAL_CATEGORIES",
    "SPECIAL_CATEGORY_CONDITIONS",
    "SUBJECT_EXEMPTIONS",
    "SYSTEM_ROLES",
    "ApprovalStage",
    "AssessmentKind",
    "AssessmentResult",
    "DatasetDisposal",
    "DocumentKind",
    "DsrKind",
    "DsrOutcome",
    "IncidentKind",
    "IncidentOutcome",
    "LawfulBasis",
    "NoticeAudience",
    "NotificationRecipient",
    "ObjectionGround",
    "RegistrationDatabase",
    "ReviewOutcome",
    "RiskClass",
    "SpecialCategory",
    "SpecialCategoryCondition",
    "SubjectExemption",
    "SystemRole",
]

# LawfulBasis, SpecialCategory, SpecialCategoryCondition and the sets imported with them
# are defined once, by the payload models; the other sets appear there inline, and
# tests/integration/test_sdk_api.py keeps them equal.
LAWFUL_BASES: tuple[LawfulBasis, ...] = get_args(LawfulBasis)

SPECIAL_CATEGORIES: tuple[SpecialCategory, ...] = get_args(SpecialCategory)

SPECIAL_CATEGORY_CONDITIONS: tuple[SpecialCategoryCondition, ...] = get_args(
    SpecialCategoryCondition
)

#: The organisation's role for a system under the AI Act.
SystemRole = Literal["provider", "deployer", "both"]
SYSTEM_ROLES: tuple[SystemRole, ...] = get_args(SystemRole)

#: AI Act risk classes.
RiskClass = Literal["high", "limited", "minimal", "prohibited"]
RISK_CLASSES: tuple[RiskClass, ...] = get_args(RiskClass)

#: The gate an approval passes.
ApprovalStage = Literal["deployment", "training", "policy"]
APPROVAL_STAGES: tuple[ApprovalStage, ...] = get_args(ApprovalStage)

#: What a human review of a decision concluded.
ReviewOutcome = Literal["upheld", "overridden"]
REVIEW_OUTCOMES: tuple[ReviewOutcome, ...] = get_args(ReviewOutcome)

ASSESSMENT_KINDS: tuple[AssessmentKind, ...] = get_args(AssessmentKind)

AssessmentResult = Literal["pass", "fail", "accepted_risk"]
ASSESSMENT_RESULTS: tuple[AssessmentResult, ...] = get_args(AssessmentResult)

#: Technical documentation, record of processing, instructions for use, post-market
#: monitoring plan, quality management system, EU declaration of conformity, privacy notice
#: (GDPR Art. 13, 14) (defined by the payload models: log.purged names them too).
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)

#: What a data subject asks for (GDPR Art. 15-22).
DsrKind = Literal[
    "access", "erasure", "objection", "rectification", "contest", "explanation", "portability"
]
DSR_KINDS: tuple[DsrKind, ...] = get_args(DsrKind)

#: What an objection is made under (GDPR Art. 21(2), 21(1), 21(6)).
OBJECTION_GROUNDS: tuple[ObjectionGround, ...] = get_args(ObjectionGround)

DsrOutcome = Literal["completed", "refused"]
DSR_OUTCOMES: tuple[DsrOutcome, ...] = get_args(DsrOutcome)

IncidentKind = Literal["breach", "serious_incident", "malfunction"]
INCIDENT_KINDS: tuple[IncidentKind, ...] = get_args(IncidentKind)

#: The GDPR Art. 34(3) point under which breach subjects are not told one by one.
SUBJECT_EXEMPTIONS: tuple[SubjectExemption, ...] = get_args(SubjectExemption)

#: How a dataset stopped identifying anyone (GDPR Art. 5(1)(e)).
DATASET_DISPOSALS: tuple[DatasetDisposal, ...] = get_args(DatasetDisposal)

#: The harm an incident caused (AI Act Art. 3(49)).
IncidentOutcome = Literal["death", "health", "infrastructure", "rights", "property", "none"]
INCIDENT_OUTCOMES: tuple[IncidentOutcome, ...] = get_args(IncidentOutcome)

NOTIFICATION_RECIPIENTS: tuple[NotificationRecipient, ...] = get_args(NotificationRecipient)

NoticeAudience = Literal["workers", "subjects"]
NOTICE_AUDIENCES: tuple[NoticeAudience, ...] = get_args(NoticeAudience)

RegistrationDatabase = Literal["eu", "national"]
REGISTRATION_DATABASES: tuple[RegistrationDatabase, ...] = get_args(RegistrationDatabase)
