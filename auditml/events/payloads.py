"""The typed payloads of vocabulary v1 (docs/FORMAT.md section 15): one frozen model per event type.

Each model is the contract for the ``payload`` of one event type. Validation is
strict on purpose: a value that is not already of the declared type is refused,
never coerced (``"yes"`` is not a boolean, ``"3"`` is not a number), because a
silently changed value would be signed as if the caller had sent it. The few
normalisations are lossless and documented: times become the ledger's UTC form
and tuples become lists.

:func:`validate_payload` checks one plaintext payload (before sealing) and
returns its normalised JSON form; :func:`json_schema` exports the contract for
other tools. Everything here is pure: no clock, no I/O.

These models are the vocabulary's reference (`auditml schema TYPE` prints one as JSON
Schema); choices a reader could question are commented at the field.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from auditml.errors import ValidationError
from auditml.events.refs import (
    DATASETS,
    MAX_PART,
    MAX_REFERENCE_LENGTH,
    PREFIXES,
    THINGS,
    Holds,
    reference_problem,
)
from auditml.events.timefmt import format_time, parse_time
from auditml.ledger.canonical import check_json

__all__ = [
    "PAYLOAD_MODELS",
    "REFERENCE_KEYWORD",
    "SEALED_FIELDS",
    "SUBJECT_REQUIRED",
    "json_schema",
    "validate_payload",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# --------------------------------------------------------------------------- #
# Field types                                                                  #
# --------------------------------------------------------------------------- #

SHA256_PATTERN = r"^[0-9a-f]{64}$"

# ISO 8601 durations with whole numbers: years, months and days in that order (any
# subset), then optionally T with hours, minutes and seconds; or weeks alone (weeks do
# not combine with other units in ISO 8601). "P" and "PT" alone are refused. Fractions
# ("P1.5Y") are refused too: retention and deadline periods are whole units, and the
# calendar arithmetic of the policy layer works in whole units.
_TIME_PART = r"T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S)"
_DATE_PART = r"(?:\d+Y(?:\d+M)?(?:\d+D)?|\d+M(?:\d+D)?|\d+D)"
DURATION_PATTERN = rf"^P(?:\d+W|{_DATE_PART}(?:{_TIME_PART})?|{_TIME_PART})$"

# Event ids as the envelope allows them (envelope.ID_PATTERN, anchored).
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

# An Ed25519 signature is always 64 bytes: 88 characters of standard base64 with padding.
ED25519_SIGNATURE_PATTERN = r"^[A-Za-z0-9+/]{86}==$"

# What each pattern means, for error messages (pydantic only reports the regex).
_PATTERN_MEANINGS = {
    SHA256_PATTERN: "a SHA-256 as 64 lowercase hex characters",
    DURATION_PATTERN: "an ISO 8601 duration in whole units such as P5Y, P6M, P30D or PT72H",
    EVENT_ID_PATTERN: "an event id (1-128 characters of A-Z a-z 0-9 . _ : -)",
    ED25519_SIGNATURE_PATTERN: "an Ed25519 signature as standard base64 (64 bytes, 88 characters)",
}

#: Identifiers of things chosen by the user (dataset_id, model, request_id, ...).
Ident = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: Short labels: versions, environments, purposes, names.
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: Free text written by a person (rationale, summary, reason). Non-empty: an empty
#: rationale is no rationale. Its length is bounded by the ledger's payload size limit.
Text = Annotated[str, StringConstraints(min_length=1)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]


def _listify(value: object) -> object:
    """Accept a tuple where a list is declared: JSON has one array type."""
    return list(value) if isinstance(value, tuple) else value


def _time(value: object) -> datetime:
    """Parse an ISO 8601 string or an aware datetime into UTC; refuse naive times."""
    if not isinstance(value, str | datetime):
        raise PydanticCustomError(
            "timestamp_type",
            "{reason}",
            {"reason": "expected an ISO 8601 timestamp with a timezone, e.g. 2026-01-31T09:30:00Z"},
        )
    try:
        return parse_time(value, where="")
    except ValidationError as exc:
        # parse_time words the problem ("has no timezone; add Z ..."); drop its empty prefix.
        raise PydanticCustomError(
            "timestamp", "{reason}", {"reason": str(exc).removeprefix(": ")}
        ) from None


#: A point in time: an aware datetime or an ISO 8601 string with an offset; stored as
#: the ledger's ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Naive times are refused, not guessed.
Timestamp = Annotated[
    datetime,
    BeforeValidator(_time),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse what JSON cannot hold inside a free-form object (NaN, bytes, deep nesting)."""
    try:
        check_json(value)
    except ValidationError as exc:
        raise PydanticCustomError("json_value", "{reason}", {"reason": str(exc)}) from None
    return value


#: A free-form JSON object (params, metrics, output, ...): string keys, JSON values.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]


def _text_or_object(value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return _json_object(value)
    raise PydanticCustomError(
        "text_or_object", "{reason}", {"reason": "expected non-empty text or a JSON object"}
    )


#: Text or a JSON object (an explanation may be prose or, e.g., feature attributions).
TextOrObject = Annotated[
    str | dict[str, Any],
    PlainValidator(_text_or_object),
    WithJsonSchema({"oneOf": [{"type": "string", "minLength": 1}, {"type": "object"}]}),
]

# Lists: declared item types, a tuple is taken as a list.
IdentList = Annotated[list[Ident], BeforeValidator(_listify)]
LabelList = Annotated[list[Label], BeforeValidator(_listify)]


def _reference_check(holds: Holds) -> AfterValidator:
    """Refuse text that cannot be a reference to what a field holds, whatever is registered."""

    def check(value: str) -> str:
        problem = reference_problem(value, holds)
        if problem is not None:
            raise PydanticCustomError("reference", "{reason}", {"reason": problem})
        return value

    return AfterValidator(check)


#: The JSON Schema keyword that marks a reference field, with what it may point at.
REFERENCE_KEYWORD = "x-auditml-reference"

#: A reference to a thing (auditml/events/refs.py): ``model:NAME@VERSION``, ``dataset:ID``,
#: ``system:NAME``, ``policy:SHA256``, or a short form the ledger resolves before storing
#: the canonical one.
Reference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_REFERENCE_LENGTH),
    _reference_check(THINGS),
    Field(json_schema_extra={REFERENCE_KEYWORD: "thing"}),
]


def _dataset_name(value: str) -> str:
    """A dataset id is a name: ``dataset:x`` would be read back as the dataset ``x``."""
    if value.startswith(PREFIXES):
        kind, _, rest = value.partition(":")
        raise PydanticCustomError(
            "dataset_id",
            "{reason}",
            {
                "reason": f"a dataset id is a name, not a reference ({kind}:...); "
                f"write {rest!r} or another id without the prefix"
            },
        )
    return value


#: The id a dataset.registered or dataset.derived gives a dataset (never a reference).
DatasetId = Annotated[Ident, AfterValidator(_dataset_name)]
#: A reference to a dataset: ``dataset:ID``, or the bare id.
DatasetReference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=len("dataset:") + MAX_PART),
    _reference_check(DATASETS),
    Field(json_schema_extra={REFERENCE_KEYWORD: "dataset"}),
]
#: A list of references to datasets.
DatasetReferenceList = Annotated[list[DatasetReference], BeforeValidator(_listify)]

# The six lawful bases of GDPR Art. 6(1)(a)-(f).
LawfulBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]

# The special categories of GDPR Art. 9(1), plus criminal convictions and offences
# (Art. 10), which need the same care. A closed set so rules can test for them.
SpecialCategory = Literal[
    "racial_or_ethnic_origin",
    "political_opinions",
    "religious_or_philosophical_beliefs",
    "trade_union_membership",
    "genetic_data",
    "biometric_data",
    "health_data",
    "sex_life_or_sexual_orientation",
    "criminal_convictions_and_offences",
]
SpecialCategoryList = Annotated[list[SpecialCategory], BeforeValidator(_listify)]
# The point of GDPR Art. 9(2) that lifts the ban on processing special categories:
# a explicit consent, b employment law, c vital interests, d foundations, e made public
# by the subject, f legal claims, g substantial public interest, h health care,
# i public health, j archiving, research or statistics.
SpecialCategoryCondition = Literal["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]

# Closed sets that auditml.sdk.choices exports too (defined once, here).
AssessmentKind = Literal[
    "dpia",
    "fria",
    "risk",
    "bias",
    "conformity",
    "evaluation",
    # GDPR Art. 25(1): the signed record of the measures chosen by design and by default.
    "data_protection_by_design",
]
DocumentKind = Literal[
    "tech_doc",
    "ropa",
    "instructions",
    "pmm_plan",
    "qms",
    # AI Act Art. 47: the EU declaration of conformity.
    "declaration_of_conformity",
    # GDPR Art. 13, 14: the information given to data subjects; consents name its version.
    "privacy_notice",
]
NotificationRecipient = Literal[
    "supervisory_authority",
    "market_surveillance_authority",
    "provider",
    "subject",
    "workers",
    # GDPR Art. 19: recipients of erased data; Art. 34(3)(c): a public communication.
    "recipient",
    "public",
]
# What an objection is made under: GDPR Art. 21(2) (absolute), 21(1), 21(6).
ObjectionGround = Literal["direct_marketing", "particular_situation", "research"]
# The GDPR Art. 34(3) point under which breach subjects are not told one by one.
SubjectExemption = Literal["a", "b", "c"]
# How a dataset stopped identifying anyone (GDPR Art. 5(1)(e)).
DatasetDisposal = Literal["deleted", "anonymised"]

_PERSONAL_DESCRIPTION = (
    "personal data about the subject (e.g. name, e-mail, address) as a free-form object; "
    "allowed on every event that has a subject, stored sealed under the subject's key"
)


class _Payload(BaseModel):
    """Common configuration: frozen, unknown fields refused, no type coercion."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    personal: JsonObject | None = Field(default=None, description=_PERSONAL_DESCRIPTION)


class Signature(BaseModel):
    """An approver's own Ed25519 signature over the approval target's digest.

    How it is made and checked: :mod:`auditml.sdk.approvals`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    key_id: Ident = Field(description="id of the approver's public key that verifies it")
    algorithm: Literal["ed25519"] = Field(description="signature algorithm; only ed25519")
    signature: Annotated[str, StringConstraints(pattern=ED25519_SIGNATURE_PATTERN)] = Field(
        description="the 64-byte signature, standard base64 with padding"
    )


# AI Act accuracy: the levels a document declares (Art. 13(3)(b)(ii), 15(3)) and the values
# an evaluation measured (Art. 9(8)), so that rules can compare the two.

#: A measured value: a finite number (NaN and infinities are refused, as in all JSON here).
Measurement = Annotated[float, Field(allow_inf_nan=False)]
#: Measured values by metric name, e.g. {"auc": 0.871, "false_positive_rate": 0.04}.
Measurements = dict[Label, Measurement]


class DeclaredMetric(BaseModel):
    """A level of accuracy a document declares: the metric, the level and which side of
    it is good (AI Act Art. 15(3))."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    metric: Label = Field(description="the metric's name, as evaluations record it, e.g. auc")
    level: Measurement = Field(description="the declared level, e.g. 0.85")
    direction: Literal["at_least", "at_most"] = Field(
        description="at_least: the measured value must reach the level (auc); at_most: it "
        "must not exceed it (an error rate)"
    )


DeclaredMetricList = Annotated[list[DeclaredMetric], BeforeValidator(_listify), Field(min_length=1)]

#: The kinds of compliance documents (document.versioned, log.purged).
DocumentKindList = Annotated[list[DocumentKind], BeforeValidator(_listify), Field(min_length=1)]


# --------------------------------------------------------------------------- #
# The models, in the order of docs/FORMAT.md section 15                        #
# --------------------------------------------------------------------------- #


class SystemRegistered(_Payload):
    """An AI system entered the register, with its role and risk class under the AI Act."""

    name: Label = Field(description="human-readable name of the AI system")
    role: Literal["provider", "deployer", "both"] = Field(
        description="the organisation's role for this system under the AI Act (Art. 3)"
    )
    risk_class: Literal["high", "limited", "minimal", "prohibited"] = Field(
        description="AI Act risk class"
    )
    # A string, not a number: Annex III points have letters, e.g. "5(b)".
    annex_iii_point: Label | None = Field(
        default=None, description="the AI Act Annex III point for high-risk systems, e.g. 5(b)"
    )
    # At least one: purpose limitation (GDPR Art. 5(1)(b)) needs a declared purpose.
    purposes: LabelList = Field(min_length=1, description="the intended purposes")
    public_authority: bool = Field(description="whether the deployer is a public authority")


class DatasetRegistered(_Payload):
    """A dataset entered the provenance record, identified by the hash of its content."""

    dataset_id: DatasetId = Field(description="the user's id for this dataset")
    name: Label = Field(description="human-readable name")
    # Free text rather than a URL type: s3://, gs://, file paths and table names all occur.
    uri: Text = Field(description="where the data lives (URL, path or table name)")
    sha256: Sha256 = Field(description="SHA-256 of the dataset content, lowercase hex")
    contains_personal_data: bool = Field(description="whether it holds personal data")
    # May be empty (the usual case); required so that "none" is an explicit statement.
    special_categories: SpecialCategoryList = Field(
        description="GDPR Art. 9 special categories (and Art. 10 criminal data) it contains"
    )
    lawful_basis: LawfulBasis | None = Field(
        default=None, description="GDPR Art. 6(1) lawful basis for processing it"
    )
    special_category_condition: SpecialCategoryCondition | None = Field(
        default=None,
        description="the GDPR Art. 9(2) point that allows processing its special categories, "
        "e.g. a (explicit consent) or g (substantial public interest)",
    )
    purposes: LabelList = Field(min_length=1, description="the purposes it may be used for")
    retention: Duration | None = Field(
        default=None, description="how long it is kept, as an ISO 8601 duration, e.g. P5Y"
    )
    collected_at: Timestamp | None = Field(default=None, description="when it was collected")


class DatasetDerived(_Payload):
    """A dataset was produced from other datasets by a transformation."""

    dataset_id: DatasetId = Field(description="id of the new dataset")
    # At least one: a derived dataset is derived from something.
    inputs: DatasetReferenceList = Field(
        min_length=1, description="the datasets it was derived from: dataset:ID (or the bare id)"
    )
    transformation: Text = Field(description="what was done, e.g. 'dedupe + drop PII columns'")
    # Free text, not a hex hash: a git commit, a tag or a package version all occur.
    code_version: Label | None = Field(
        default=None, description="version of the code that did it, e.g. a git commit"
    )
    sha256: Sha256 = Field(description="SHA-256 of the new dataset's content, lowercase hex")


class DatasetDeleted(_Payload):
    """A dataset was deleted or anonymised: it is no longer kept in a form that identifies
    anyone (GDPR Art. 5(1)(e) storage limitation, 17)."""

    target: DatasetReference = Field(description="the dataset, as a reference: dataset:ID")
    method: DatasetDisposal = Field(
        description="deleted (every copy, backups included, per the retention policy) or "
        "anonymised (no one can be identified any more, Recital 26)"
    )
    reason: Text | None = Field(
        default=None, description="why, e.g. its retention period ended (GDPR Art. 5(1)(e))"
    )


class ConsentGranted(_Payload):
    """The subject consented to a purpose (GDPR Art. 6(1)(a), 7; Art. 9(2)(a) if explicit)."""

    purpose: Label = Field(description="the purpose consented to")
    explicit: bool = Field(description="whether it was explicit consent (GDPR Art. 9(2)(a), 22)")
    notice_version: Label | None = Field(
        default=None, description="version of the privacy notice shown"
    )


class ConsentWithdrawn(_Payload):
    """The subject withdrew consent for a purpose (GDPR Art. 7(3))."""

    purpose: Label = Field(description="the purpose whose consent is withdrawn")


class ModelTrained(_Payload):
    """A model version was trained on datasets."""

    model: Ident = Field(description="the user's id for the model, e.g. credit-scorer")
    version: Label = Field(description="the model version, e.g. 3.2")
    # At least one: training data provenance is the point of this event.
    datasets: DatasetReferenceList = Field(
        min_length=1, description="the datasets it was trained on: dataset:ID (or the bare id)"
    )
    code_version: Label | None = Field(
        default=None, description="version of the training code, e.g. a git commit"
    )
    # Required, but may be empty ({}).
    params: JsonObject = Field(description="hyperparameters, as a free-form JSON object")
    metrics: JsonObject = Field(description="evaluation metrics, as a free-form JSON object")
    artifact_sha256: Sha256 = Field(description="SHA-256 of the model artifact, lowercase hex")


class AssessmentCompleted(_Payload):
    """An assessment (DPIA, FRIA, risk, bias, conformity, evaluation) reached a result."""

    kind: AssessmentKind = Field(description="the kind of assessment")
    target: Reference = Field(
        description="what was assessed: model:NAME@VERSION, dataset:ID or system:NAME"
    )
    result: Literal["pass", "fail", "accepted_risk"] = Field(description="the outcome")
    # Not sealed (docs/FORMAT.md section 12a): the accountable signer is named like an actor is.
    signer: Label = Field(description="who signed the assessment off (person or role id)")
    summary: Text | None = Field(default=None, description="a short summary of the findings")
    # Numbers only, unlike model.trained's free-form metrics: rules compare them with the
    # levels a document declares (AI Act Art. 15(3)).
    metrics: Measurements | None = Field(
        default=None,
        description="for an evaluation: the values measured, by metric name, e.g. "
        "{'auc': 0.871} (AI Act Art. 9(8), 15(3))",
    )


class DocumentVersioned(_Payload):
    """A new version of a compliance document was issued, identified by its hash."""

    kind: DocumentKind = Field(
        description="technical documentation, record of processing, instructions for use, "
        "post-market monitoring plan, quality management system, EU declaration of "
        "conformity (AI Act Art. 47) or privacy notice"
    )
    target: Reference = Field(
        description="what the document covers: model:NAME@VERSION, dataset:ID or system:NAME"
    )
    version: Label = Field(description="the document version")
    sha256: Sha256 = Field(description="SHA-256 of the document file, lowercase hex")
    declared_metrics: DeclaredMetricList | None = Field(
        default=None,
        description="the levels of accuracy the document declares, e.g. the instructions "
        "for use (AI Act Art. 13(3)(b)(ii), 15(3))",
    )


class _Approval(_Payload):
    target: Reference = Field(description="what is approved, e.g. model:credit@3.2")
    stage: Literal["deployment", "training", "policy"] = Field(description="the gate it passes")
    rationale: Text = Field(description="why")
    # An object, not a bare string: the verifier needs the key id and the algorithm too.
    signature: Signature | None = Field(
        default=None,
        description="the approver's own Ed25519 signature over the target digest",
    )


class ApprovalGranted(_Approval):
    """A person approved a target at a stage (who approved is the actor)."""


class ApprovalRejected(_Approval):
    """A person rejected a target at a stage (who rejected is the actor)."""


class _Deployment(_Payload):
    model: Ident = Field(description="the model id")
    version: Label = Field(description="the model version")
    # Free text: environments are named differently everywhere (production, eu-prod, ...).
    environment: Label = Field(description="where, e.g. production")


class ModelDeployed(_Deployment):
    """A model version went into service in an environment."""


class ModelRetired(_Deployment):
    """A model version was taken out of service in an environment."""


class DecisionMade(_Payload):
    """A model made (or supported) a decision about the subject."""

    model: Ident = Field(description="the model id")
    version: Label = Field(description="the model version")
    purpose: Label = Field(description="the purpose of the processing")
    # The same six Art. 6(1) bases as datasets use; Art. 22(2) exceptions map onto
    # contract, legal_obligation/public_task (authorised by law) and consent.
    lawful_basis: LawfulBasis = Field(description="GDPR Art. 6(1) lawful basis")
    input_sha256: Sha256 = Field(description="SHA-256 of the canonical input, lowercase hex")
    # An object so that scores, labels and thresholds can sit side by side.
    output: JsonObject = Field(description="the model's output, e.g. {'score': 0.82}")
    solely_automated: bool = Field(description="whether no human took part (GDPR Art. 22(1))")
    legal_effect: bool = Field(
        description="whether it has legal or similarly significant effect (GDPR Art. 22(1))"
    )
    # Sealed. Prose or a structured attribution (e.g. SHAP values), hence either.
    explanation: TextOrObject | None = Field(
        default=None,
        description="explanation given for the decision (GDPR Art. 13-15, 22); stored sealed",
    )
    # Sealed, and only present when the caller asks to keep the raw input.
    features: JsonObject | None = Field(
        default=None,
        description="the raw input features, only when the caller asks to keep them; stored sealed",
    )
    direct_marketing: bool | None = Field(
        default=None,
        description="whether the processing is for direct marketing, including profiling "
        "related to it (GDPR Art. 21(2), (3)); absent means not stated",
    )


class ReviewCompleted(_Payload):
    """A human reviewed a decision (the actor is the reviewer; GDPR Art. 22(3), AI Act Art. 14)."""

    # The event id of the decision.made entry, so the envelope's id syntax applies.
    decision_id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)] = Field(
        description="event id of the reviewed decision.made"
    )
    outcome: Literal["upheld", "overridden"] = Field(description="the review's outcome")
    reason: Text = Field(description="why; stored sealed")


class DsrReceived(_Payload):
    """A data-subject request arrived (GDPR Art. 12-22)."""

    request_id: Ident = Field(description="the user's id for the request")
    kind: Literal[
        "access",
        "erasure",
        "objection",
        "rectification",
        "contest",
        "explanation",
        "portability",
    ] = Field(description="what the subject asks for")
    received_at: Timestamp = Field(description="when it was received; deadlines run from it")
    objects_to: ObjectionGround | None = Field(
        default=None,
        description="for an objection, what it is made under: direct_marketing (GDPR "
        "Art. 21(2), absolute), particular_situation (Art. 21(1), basis e or f) or research "
        "(Art. 21(6), research or statistics)",
    )
    # The event id of the decision.made entry, as review.completed names it.
    decision_id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)] | None = Field(
        default=None,
        description="for a contest or an explanation request, the event id of the "
        "decision.made it is about (GDPR Art. 22(3))",
    )


class DsrExtended(_Payload):
    """The answer deadline of a request was extended (GDPR Art. 12(3))."""

    request_id: Ident = Field(description="the request")
    # Not sealed (docs/FORMAT.md section 12a): state the ground (complexity, number of
    # requests), not the person.
    reason: Text = Field(description="why the extension is needed")


class DsrAnswered(_Payload):
    """A data-subject request was answered."""

    request_id: Ident = Field(description="the request")
    outcome: Literal["completed", "refused"] = Field(description="whether it was fulfilled")
    ground: Text | None = Field(
        default=None, description="the legal ground of a refusal, e.g. Art. 12(5)"
    )


class ErasureCompleted(_Payload):
    """The subject's data key was destroyed: sealed fields are unreadable (written by erase)."""

    request_id: Ident | None = Field(default=None, description="the erasure request, if any")
    # Required with a single value: there is one method today; a Literal leaves room to add.
    method: Literal["crypto-shred"] = Field(description="how the data was erased")
    reason: Text | None = Field(
        default=None, description="the ground, e.g. Art. 17(1)(b) consent withdrawn"
    )
    recipients: LabelList | None = Field(
        default=None,
        description="the recipients to whom the erased data had been disclosed, who must be "
        "told of the erasure (GDPR Art. 19); an empty list: none; absent: not recorded",
    )


class IncidentReported(_Payload):
    """An incident became known (GDPR Art. 33 breach, AI Act Art. 73 serious incident)."""

    incident_id: Ident = Field(description="the user's id for the incident")
    kind: Literal["breach", "serious_incident", "malfunction"] = Field(
        description="personal-data breach, AI Act serious incident or malfunction"
    )
    aware_at: Timestamp = Field(description="when the organisation became aware; deadlines run")
    # Free text: organisations grade severity on their own scales (low/high, S1-S4, ...).
    severity: Label = Field(description="severity on the organisation's own scale")
    outcome: Literal["death", "health", "infrastructure", "rights", "property", "none"] | None = (
        Field(default=None, description="the harm caused (AI Act Art. 3(49))")
    )
    widespread: bool = Field(description="whether it is a widespread infringement (Art. 73(3))")
    high_risk: bool | None = Field(
        default=None,
        description="for a breach: whether it is likely to result in a high risk to the "
        "rights and freedoms of natural persons, so the subjects must be told (GDPR Art. 34(1))",
    )
    subject_exemption: SubjectExemption | None = Field(
        default=None,
        description="the GDPR Art. 34(3) point under which the subjects are not told one by "
        "one: a (the data is unintelligible to others, e.g. encrypted), b (later measures "
        "ensure the high risk is no longer likely), c (disproportionate effort: a public "
        "communication instead)",
    )


class IncidentDocumented(_Payload):
    """A personal-data breach was documented (GDPR Art. 33(5)): the record that lets the
    supervisory authority verify compliance. Describe the breach, not the people."""

    incident_id: Ident = Field(description="the incident documented")
    facts: Text = Field(description="the facts: what happened, when, which data and whose")
    effects: Text = Field(description="its effects and likely consequences for the subjects")
    remedial_action: Text = Field(description="the remedial action taken or proposed")


class NotificationSent(_Payload):
    """Someone was notified about an incident or a request."""

    to: NotificationRecipient = Field(description="who was notified")
    about: Ident = Field(
        description="the incident_id, request_id or risk_id it concerns, or fria:SYSTEM for "
        "the results of a system's FRIA (AI Act Art. 27(3))"
    )
    sent_at: Timestamp = Field(description="when it was sent")
    recipients: LabelList | None = Field(
        default=None,
        description="for to recipient: the recipients told (GDPR Art. 19)",
    )
    delay_reason: Text | None = Field(
        default=None,
        description="why it was not sent in time, e.g. a breach notified to the supervisory "
        "authority after 72 hours (GDPR Art. 33(1))",
    )


class NoticeGiven(_Payload):
    """Affected people were informed about the use of an AI system (AI Act Art. 26(7), 50)."""

    audience: Literal["workers", "subjects"] = Field(description="who was informed")
    target: Reference = Field(
        description="what the notice is about: system:NAME or model:NAME@VERSION"
    )


class RegistrationCompleted(_Payload):
    """A system was registered in an official database (AI Act Art. 49, 71)."""

    database: Literal["eu", "national"] = Field(description="which database")
    target: Reference = Field(description="what was registered, e.g. system:credit-ai")
    reference: Label = Field(description="the registration number given by the database")


class TrainingCompleted(_Payload):
    """A person completed AI literacy or oversight training (AI Act Art. 4, 26(2))."""

    # Staff, not data subjects of the system: not sealed (docs/FORMAT.md section 12a). Use a staff id.
    person: Label = Field(description="staff id of the person trained")
    course: Label = Field(description="the course or competence")


class LogPurged(_Payload):
    """Operational logs up to a time were deleted under the retention policy."""

    up_to: Timestamp = Field(description="logs before this time were purged")
    reason: Text = Field(description="why, e.g. the retention rule applied")
    types: IdentList | None = Field(
        default=None,
        description="the event types whose sealed values were purged (absent: every type)",
    )
    # Absent: no documents, only logs (every purge recorded before this field was).
    documents: DocumentKindList | None = Field(
        default=None,
        description="the kinds of compliance documents whose files up to up_to were deleted "
        "too, e.g. tech_doc (AI Act Art. 18(1))",
    )


class SystemSuspended(_Payload):
    """The system was taken out of use (e.g. AI Act Art. 26(5))."""

    reason: Text = Field(description="why")


class RiskIdentified(_Payload):
    """A deployer found that using a system may present a risk to health, safety or
    fundamental rights (AI Act Art. 26(5), 79(1)): the provider is to be told, use suspended."""

    risk_id: Ident = Field(description="the user's id for the risk; notifications name it")
    aware_at: Timestamp = Field(description="when the organisation became aware of the risk")
    summary: Text = Field(description="what the risk is and how it was found")
    target: Reference | None = Field(
        default=None,
        description="what presents the risk, as a reference: system:NAME or model:NAME@VERSION",
    )


class ReportIssued(_Payload):
    """A signed report was issued: the next report proves consistency from its checkpoint."""

    report_id: Ident = Field(description="the report's id, printed on every page")
    checkpoint_size: Annotated[int, Field(ge=0)] = Field(
        description="tree size of the checkpoint the report is signed over"
    )
    checkpoint_root: Sha256 = Field(description="that checkpoint's root hash, lowercase hex")
    sha256: Sha256 = Field(description="SHA-256 of the signed PDF file, lowercase hex")


class PolicyChanged(_Payload):
    """The rule set in force changed (who approved it is the actor)."""

    policy_set_sha256: Sha256 = Field(description="SHA-256 of the new rule set's canonical form")
    summary: Text = Field(description="what changed")


class KeyRotated(_Payload):
    """A key was replaced."""

    key_id: Ident = Field(description="id of the new key")
    # Free text: checkpoint, witness, kek, lookup, signing certificate, ... may grow.
    purpose: Label = Field(description="what the key is for, e.g. checkpoint")


#: Every event type of vocabulary v1 and its payload model.
PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "system.registered": SystemRegistered,
    "dataset.registered": DatasetRegistered,
    "dataset.derived": DatasetDerived,
    "dataset.deleted": DatasetDeleted,
    "consent.granted": ConsentGranted,
    "consent.withdrawn": ConsentWithdrawn,
    "model.trained": ModelTrained,
    "assessment.completed": AssessmentCompleted,
    "document.versioned": DocumentVersioned,
    "approval.granted": ApprovalGranted,
    "approval.rejected": ApprovalRejected,
    "model.deployed": ModelDeployed,
    "model.retired": ModelRetired,
    "decision.made": DecisionMade,
    "review.completed": ReviewCompleted,
    "dsr.received": DsrReceived,
    "dsr.extended": DsrExtended,
    "dsr.answered": DsrAnswered,
    "erasure.completed": ErasureCompleted,
    "incident.reported": IncidentReported,
    "incident.documented": IncidentDocumented,
    "notification.sent": NotificationSent,
    "notice.given": NoticeGiven,
    "registration.completed": RegistrationCompleted,
    "training.completed": TrainingCompleted,
    "log.purged": LogPurged,
    "system.suspended": SystemSuspended,
    "risk.identified": RiskIdentified,
    "policy.changed": PolicyChanged,
    "report.issued": ReportIssued,
    "key.rotated": KeyRotated,
}

_SEALED_BY_TYPE = {
    "decision.made": frozenset({"features", "explanation"}),
    "review.completed": frozenset({"reason"}),
}

#: Per type, the top-level payload fields that hold personal data and are stored sealed
#: (docs/FORMAT.md section 12a): ``personal`` everywhere, plus the named fields of two types.
SEALED_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset({"personal"}) | _SEALED_BY_TYPE.get(name, frozenset())
    for name in PAYLOAD_MODELS
}

#: The types whose events must name their data subject.
# review.completed is here too: its reason is sealed under the subject's key.
SUBJECT_REQUIRED: frozenset[str] = frozenset(
    {
        "consent.granted",
        "consent.withdrawn",
        "decision.made",
        "dsr.received",
        "erasure.completed",
        "review.completed",
    }
)


# --------------------------------------------------------------------------- #
# Validation                                                                   #
# --------------------------------------------------------------------------- #


def validate_payload(event_type: str, payload: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Validate the plaintext payload of one event (before sealing) against its model.

    ``where`` names the event in messages, e.g. ``"event 3"``.

    Returns:
        The normalised JSON payload: times in the ledger's UTC form, tuples as lists,
        optional fields that are absent or None left out (never written as null).

    Raises:
        ValidationError: the type is unknown (with a did-you-mean), or the payload does
            not fit the model. The message names ``where``, the type and every bad
            field as a dotted path with what was expected, e.g. ``event 3
            (decision.made): payload.solely_automated: expected a boolean, got 'yes'``.
            Values of sealed (personal) fields are never echoed, only their type.
    """
    model = PAYLOAD_MODELS.get(event_type) if type(event_type) is str else None
    if model is None:
        raise ValidationError(f"{where}: {_unknown_type(event_type)}")
    if type(payload) is not dict:
        if not isinstance(payload, Mapping):
            raise ValidationError(
                f"{where} ({event_type}): payload must be a JSON object, "
                f"got {type(payload).__name__}"
            )
        payload = dict(payload)
    try:
        instance = model.model_validate(payload)
    except PydanticValidationError as exc:
        problems = "; ".join(_describe_error(model, event_type, e) for e in exc.errors())
        raise ValidationError(f"{where} ({event_type}): {problems}") from exc
    return instance.model_dump(mode="json", exclude_none=True)


def _unknown_type(event_type: object) -> str:
    close = difflib.get_close_matches(str(event_type), sorted(PAYLOAD_MODELS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown event type {event_type!r}{hint}; "
        "`auditml schema` lists the event types of vocabulary v1"
    )


_TYPE_EXPECTATIONS = {
    "bool_type": "a boolean",
    "string_type": "a string",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a list",
    "int_type": "an integer",
    "float_type": "a number",
    "datetime_type": "an ISO 8601 timestamp with a timezone",
}


def _describe_error(model: type[BaseModel], event_type: str, error: ErrorDetails) -> str:
    """Return ``payload.<dotted path>: <what was expected>[, got <value>]`` for one error."""
    loc = error["loc"]
    is_key = loc[-1:] == ("[key]",)  # pydantic's location of a bad key: (..., key, "[key]")
    if is_key:
        loc = loc[:-2]
    path = "payload" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    # Never echo what a sealed field holds: it is personal data and messages reach logs.
    sealed = bool(loc) and loc[0] in SEALED_FIELDS[event_type]
    got = _show(error["input"], type_only=sealed)
    if is_key:
        return f"{path}: object keys must be strings, got {got}"
    if kind == "missing":
        return f"{path}: required field missing"
    if kind == "extra_forbidden":
        allowed = ", ".join(_fields_at(model, loc[:-1]))
        return f"{path}: unknown field; allowed: {allowed}"
    if kind in _TYPE_EXPECTATIONS:
        return f"{path}: expected {_TYPE_EXPECTATIONS[kind]}, got {got}"
    if kind == "literal_error":
        return f"{path}: expected one of {ctx.get('expected')}, got {got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        meaning = _PATTERN_MEANINGS.get(pattern, f"text matching {pattern}")
        return f"{path}: expected {meaning}, got {got}"
    if kind == "string_too_short":
        return f"{path}: expected a non-empty string"
    if kind == "string_too_long":
        return f"{path}: expected at most {ctx.get('max_length')} characters, got {got}"
    if kind == "too_short":
        return f"{path}: expected at least {ctx.get('min_length')} item(s), got none"
    if kind in {"timestamp_type", "text_or_object", "reference"}:
        return f"{path}: {error['msg']}, got {got}"
    if kind in {"timestamp", "json_value"}:
        # The message already shows the value (a timestamp) or its location (JSON).
        return f"{path}: {error['msg']}"
    # Anything else: pydantic's own words, with the first letter lowered to fit the line.
    message = error["msg"]
    return f"{path}: {message[:1].lower()}{message[1:]}, got {got}"


def _show(value: object, *, type_only: bool) -> str:
    """Describe a refused input for a message: a bounded repr, or just its type."""
    if not type_only and (value is None or isinstance(value, str | int | float | bool)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the (nested) model at ``loc``, for "allowed:" hints."""
    current: type[BaseModel] = model
    for part in loc:
        field = current.model_fields.get(str(part))
        nested = _model_in(field.annotation) if field is not None else None
        if nested is None:
            return []
        current = nested
    return sorted(current.model_fields)


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model class in ``X`` or ``X | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


# --------------------------------------------------------------------------- #
# JSON Schema export                                                           #
# --------------------------------------------------------------------------- #


def json_schema(event_type: str | None = None) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one type's payload, or of the vocabulary.

    With ``event_type``: the schema of that payload, titled with the type name.
    Without: ``{"$schema", "title": "auditml vocabulary v1", "$defs": {type: schema},
    "oneOf": [...]}``, where each ``oneOf`` branch matches ``{"type": <type>,
    "payload": {...}}`` (a payload alone does not say its type). Shared nested
    definitions (the approval signature) sit beside the types in ``$defs``.

    Raises:
        ValidationError: ``event_type`` is not a type of vocabulary v1.
    """
    if event_type is not None:
        model = PAYLOAD_MODELS.get(event_type)
        if model is None:
            raise ValidationError(_unknown_type(event_type))
        return {"$schema": JSON_SCHEMA_DIALECT, **_type_schema(event_type, model)}
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for name, model in PAYLOAD_MODELS.items():
        schema = _type_schema(name, model)
        # Nested models are referenced as #/$defs/<Model>; hoisting them to the top
        # level keeps those references valid. Their names cannot clash with a type
        # name, which always contains a dot.
        defs.update(schema.pop("$defs", {}))
        defs[name] = schema
        branches.append(
            {
                "type": "object",
                "properties": {
                    "type": {"const": name},
                    "payload": {"$ref": f"#/$defs/{name}"},
                },
                "required": ["type", "payload"],
            }
        )
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "auditml vocabulary v1",
        "description": "An event type and its payload (docs/FORMAT.md section 15).",
        "oneOf": branches,
        "$defs": defs,
    }


def _type_schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["title"] = name
    return schema
