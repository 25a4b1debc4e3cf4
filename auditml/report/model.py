"""What a report says, as plain JSON-able data: the contract between assembly and rendering.

`assemble` builds a `ReportData` from the ledger; the templates under report_templates/
render nothing else (so rendering can run in a separate process from JSON alone). Times
are RFC 3339 strings in UTC (the templates put them into words, through
auditml.report.wording) and messages are the engine's sentences, printed as they are
(auditml.policy.wording words them); every list that could grow with the ledger is cut by
assembly, with the number left out in an `omitted` field ("N more in evidence.json").
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Verdict = Literal["pass", "fail", "pending", "not_applicable", "needs_human"]


class EvidenceItem(TypedDict):
    role: str  # trigger | counterpart | context
    seq: int
    id: str
    type: str
    occurred_at: str


class FindingItem(TypedDict):
    rule_id: str
    title: str
    severity: str  # critical | high | medium | low
    law: str  # GDPR | AI Act | Internal policy: the law of the rule's first reference
    references: list[str]  # "GDPR Art. 33(1)"
    verdict: Verdict
    message: str
    evidence: list[EvidenceItem]
    due: str | None


class NotApplicableItem(TypedDict):
    reason: Literal["not_in_force", "out_of_scope", "no_trigger"]
    text: str  # one sentence for the reader, e.g. "Not yet in force: ... applies from 2 Aug 2027."


class RuleItem(TypedDict):
    rule_id: str
    title: str
    severity: str
    law: str
    references: list[str]
    verdict: Verdict
    triggers: int
    counts: dict[str, int]
    #: Why the rule did not apply (verdict not_applicable), else None.
    not_applicable: NotApplicableItem | None


class RegimeItem(TypedDict):
    name: str
    title: str
    applies_from: str  # YYYY-MM-DD
    verify: bool  # date not confirmed against the Official Journal
    note: str


class CheckpointInfo(TypedDict):
    origin: str
    size: int
    root_hex: str
    note: str  # the C2SP signed note, verbatim (also the QR code's content)
    key_name: str
    key_fingerprint: str  # SHA-256 of the ledger's public key, hex


class SignerInfo(TypedDict):
    name: str
    role: str
    meaning: str
    certificate_sha256: str
    ca_sha256: str


class VerificationInfo(TypedDict):
    ok: bool
    deep: bool
    size: int
    checkpoints_verified: int
    seconds: float
    message: str


class PreviousReport(TypedDict):
    report_id: str | None
    size: int
    root_hex: str
    consistent: bool


class WitnessedInfo(TypedDict):
    """The newest checkpoint witnesses cosigned inside the report's (evidence.json `witnessed`)."""

    size: int
    root_hex: str
    witnesses: list[str]  # the cosigners' key names, as their cosignature lines give them
    consistent: bool  # the report's checkpoint extends it (consistency proof verified)


class LineageNode(TypedDict):
    id: str
    kind: Literal["dataset", "model", "deployment"]
    label: str


class LineageEdge(TypedDict):
    source: str
    target: str


class Lineage(TypedDict):
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    omitted: int


class ApprovalItem(TypedDict):
    target: str
    stage: str
    decision: Literal["granted", "rejected"]
    approver: str
    at: str
    seq: int
    #: The approver is the actor of the target's model.trained (target model:<model>@<version>).
    self_approval: bool


class RequestStats(TypedDict):
    kind: str  # access | erasure | objection | ...
    received: int
    answered: int
    extended: int
    open: int


class IncidentItem(TypedDict):
    incident_id: str
    kind: str
    aware_at: str
    severity: str
    notifications: list[dict[str, str]]  # {"to": ..., "sent_at": ...}
    seq: int


class KeyItem(TypedDict):
    purpose: str  # "ledger checkpoints", "report signing CA", "report signing certificate"
    algorithm: str
    fingerprint: str  # SHA-256, hex


class AttachmentItem(TypedDict):
    name: str
    sha256: str
    bytes: int
    description: str


class ReportData(TypedDict):
    format: Literal["auditml.report/v1"]
    report_id: str
    title: str
    generated_at: str
    as_of: str
    system: str | None
    period_from: str | None
    period_to: str | None
    events: int  # events in scope
    checkpoint: CheckpointInfo
    signer: SignerInfo
    rule_set_sha256: str
    rule_set_in_force: str | None
    regimes: list[RegimeItem]
    verification: VerificationInfo
    previous: PreviousReport | None
    witnessed: NotRequired[WitnessedInfo]  # absent when no witness cosigned yet
    summary: dict[str, int]  # verdict -> number of findings (passes counted)
    rules: list[RuleItem]
    findings: list[FindingItem]  # fail and pending, worst first
    needs_human: list[FindingItem]
    findings_omitted: int
    lineage: Lineage
    approvals: list[ApprovalItem]
    approvals_omitted: int
    consents: dict[str, int]  # granted, withdrawn, subjects
    requests: list[RequestStats]
    incidents: list[IncidentItem]
    incidents_omitted: int
    keys: list[KeyItem]
    attachments: list[AttachmentItem]
