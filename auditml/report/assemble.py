"""Assemble a report: one `ReportData` and its evidence file, from a ledger (docs/FORMAT.md section 9).

A fresh checkpoint, deep verification, the policy findings as of a time, lineage,
approvals, consent and request statistics and incidents, and an `auditml.evidence/v1`
document proving every event the report cites against that checkpoint (with a
consistency proof from the previous report's checkpoint, when there is one). Lists that
could grow with the ledger are cut; what is cut is counted and stays in the evidence.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from auditml.events.envelope import uuid7
from auditml.events.refs import REGISTERING_TYPES, CanonicalReader, model_ref
from auditml.events.timefmt import format_time, parse_time
from auditml.ledger import merkle
from auditml.ledger.ledger import Ledger
from auditml.ledger.note import Checkpoint, Note
from auditml.ledger.witnessing import witnessed_evidence
from auditml.lineage import build_lineage, model_label
from auditml.policy.cel import compile_condition
from auditml.policy.engine import VERDICT_ORDER, Evaluation, Finding, evaluate, fits_scope
from auditml.policy.loader import RuleSet
from auditml.policy.regimes import Regimes
from auditml.policy.rules import Rule
from auditml.policy.stream import in_force, ledger_events
from auditml.report.applicability import Scope, TriggerFacts, why_not_applicable
from auditml.report.model import (
    ApprovalItem,
    EvidenceItem,
    FindingItem,
    IncidentItem,
    KeyItem,
    Lineage,
    LineageEdge,
    LineageNode,
    NotApplicableItem,
    PreviousReport,
    ReportData,
    RequestStats,
    RuleItem,
    SignerInfo,
)

#: Findings printed per rule, and in all: the PDF grows with problems, up to a point.
FINDINGS_PER_RULE = 10
FINDINGS_IN_ALL = 150
APPROVALS_SHOWN = 40
INCIDENTS_SHOWN = 30
LINEAGE_NODES = 60
_LINEAGE_TYPES = (
    "dataset.registered",
    "dataset.derived",
    "model.trained",
    "model.deployed",
    "model.retired",
)


@dataclass(frozen=True)
class Assembled:
    """A report's data and the evidence document to attach (its bytes are canonical)."""

    report: ReportData
    evidence: bytes
    evaluation: Evaluation


def _law(references: Sequence[str]) -> str:
    """The heading a rule's findings sit under: the law of its first reference.

    A rule's first reference is the source of the obligation; later ones are what it
    supports or cites (an internal rule may cite GDPR Art. 5(2) as its reason). Labels
    are `Reference.label()`'s: ``GDPR Art. ...``, ``AI Act Art. ...``, ``internal ...``.
    """
    first = references[0] if references else ""
    if first.startswith("GDPR"):
        return "GDPR"
    if first.startswith("AI Act"):
        return "AI Act"
    return "Internal policy"


def _finding_item(finding: Finding, cited: dict[int, dict[str, Any]]) -> FindingItem:
    evidence: list[EvidenceItem] = []
    for ref in finding.evidence:
        envelope = cited[ref.seq]
        evidence.append(
            {
                "role": ref.role,
                "seq": ref.seq,
                "id": ref.id,
                "type": str(envelope["type"]),
                "occurred_at": str(envelope["occurred_at"]),
            }
        )
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity,
        "law": _law(finding.references),
        "references": list(finding.references),
        "verdict": finding.verdict,
        "message": finding.message,
        "evidence": evidence,
        "due": None if finding.due is None else format_time(finding.due),
    }


def _shown(findings: Iterable[Finding]) -> tuple[list[Finding], int]:
    """Worst first, at most FINDINGS_PER_RULE per rule and FINDINGS_IN_ALL in all."""
    severity = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    ordered = sorted(
        findings,
        key=lambda f: (VERDICT_ORDER.index(f.verdict), severity.get(f.severity, 4), f.rule_id),
    )
    per_rule: Counter[str] = Counter()
    shown: list[Finding] = []
    for finding in ordered:
        if per_rule[finding.rule_id] < FINDINGS_PER_RULE and len(shown) < FINDINGS_IN_ALL:
            shown.append(finding)
            per_rule[finding.rule_id] += 1
    return shown, len(ordered) - len(shown)


def _in_period(
    finding: Finding, cited: dict[int, dict[str, Any]], start: str | None, end: str | None
) -> bool:
    if not finding.evidence or (start is None and end is None):
        return True
    occurred = str(cited[finding.evidence[0].seq]["occurred_at"])
    return (start is None or occurred >= start) and (end is None or occurred < end)


def _lineage(
    ledger: Ledger, system: str | None, size: int
) -> tuple[list[LineageNode], list[LineageEdge]]:
    events = [
        envelope.to_json()
        for event_type in _LINEAGE_TYPES
        for envelope in ledger.events(type=event_type, system=system, stop=size)
    ]
    graph = build_lineage(events)
    nodes: list[LineageNode] = []
    edges: list[LineageEdge] = []
    for dataset_id in sorted(graph.dataset_ids):
        nodes.append({"id": f"d:{dataset_id}", "kind": "dataset", "label": dataset_id})
        for source in graph.inputs_of.get(dataset_id, ()):
            edges.append({"source": f"d:{source}", "target": f"d:{dataset_id}"})
    for key, datasets in sorted(graph.trained_on.items()):
        label = model_label(*key)
        nodes.append({"id": f"m:{label}", "kind": "model", "label": label})
        edges.extend({"source": f"d:{d}", "target": f"m:{label}"} for d in datasets)
    for key, places in sorted(graph.deployments.items()):
        label = model_label(*key)
        for place in places:
            node = f"e:{label}:{place.environment}"
            state = "deployed" if place.currently_deployed else "retired"
            nodes.append(
                {"id": node, "kind": "deployment", "label": f"{place.environment} ({state})"}
            )
            edges.append({"source": f"m:{label}", "target": node})
    return nodes, edges


def _lineage_shown(nodes: list[LineageNode], edges: list[LineageEdge]) -> Lineage:
    kept = {node["id"] for node in nodes[:LINEAGE_NODES]}
    return {
        "nodes": nodes[:LINEAGE_NODES],
        "edges": [e for e in edges if e["source"] in kept and e["target"] in kept],
        "omitted": max(0, len(nodes) - LINEAGE_NODES),
    }


def _trainers(ledger: Ledger, system: str | None, size: int) -> dict[str, set[str]]:
    """``model:<model>@<version>`` -> the actors of its model.trained events."""
    trainers: dict[str, set[str]] = {}
    for envelope in ledger.events(type="model.trained", system=system, stop=size):
        model, version = envelope.payload.get("model"), envelope.payload.get("version")
        trainers.setdefault(model_ref(str(model), str(version)), set()).add(envelope.actor.id)
    return trainers


def _approvals(ledger: Ledger, system: str | None, size: int) -> list[ApprovalItem]:
    """Every approval and rejection, in seq order, its target canonical (a ledger recorded
    before the reference grammar may say credit@3.2); a self-approval is one whose approver
    is the actor of the model.trained of the version it approves."""
    trainers = _trainers(ledger, system, size)
    # Approvals among the events that register things, in seq order, as the engine reads them.
    events = sorted(
        (
            envelope
            for event_type in (*sorted(REGISTERING_TYPES), "approval.granted", "approval.rejected")
            for envelope in ledger.events(type=event_type, system=system, stop=size)
        ),
        key=lambda envelope: envelope.seq,
    )
    canonical = CanonicalReader()
    found: list[ApprovalItem] = []
    for envelope in events:
        payload = canonical.payload(envelope.type, envelope.system, envelope.payload)
        if envelope.type not in ("approval.granted", "approval.rejected"):
            continue
        target = str(payload.get("target", ""))
        found.append(
            {
                "target": target,
                "stage": str(payload.get("stage", "")),
                "decision": "granted" if envelope.type == "approval.granted" else "rejected",
                "approver": envelope.actor.id,
                "at": envelope.occurred_at,
                "seq": envelope.seq,
                "self_approval": envelope.actor.id in trainers.get(target, ()),
            }
        )
    return found


def _requests(ledger: Ledger, system: str | None, size: int) -> list[RequestStats]:
    kinds: dict[str, str] = {}
    for envelope in ledger.events(type="dsr.received", system=system, stop=size):
        kinds[str(envelope.payload.get("request_id"))] = str(envelope.payload.get("kind"))
    answered = {
        str(e.payload.get("request_id"))
        for e in ledger.events(type="dsr.answered", system=system, stop=size)
    }
    extended = {
        str(e.payload.get("request_id"))
        for e in ledger.events(type="dsr.extended", system=system, stop=size)
    }
    stats: dict[str, RequestStats] = {}
    for request, kind in kinds.items():
        row = stats.setdefault(
            kind, {"kind": kind, "received": 0, "answered": 0, "extended": 0, "open": 0}
        )
        row["received"] += 1
        row["answered"] += request in answered
        row["extended"] += request in extended
        row["open"] += request not in answered
    return [stats[kind] for kind in sorted(stats)]


def _incidents(ledger: Ledger, system: str | None, size: int) -> list[IncidentItem]:
    sent: dict[str, list[dict[str, str]]] = {}
    for envelope in ledger.events(type="notification.sent", system=system, stop=size):
        about = str(envelope.payload.get("about"))
        sent.setdefault(about, []).append(
            {"to": str(envelope.payload.get("to")), "sent_at": str(envelope.payload.get("sent_at"))}
        )
    return [
        {
            "incident_id": str(e.payload.get("incident_id")),
            "kind": str(e.payload.get("kind")),
            "aware_at": str(e.payload.get("aware_at")),
            "severity": str(e.payload.get("severity")),
            "notifications": sent.get(str(e.payload.get("incident_id")), []),
            "seq": e.seq,
        }
        for e in ledger.events(type="incident.reported", system=system, stop=size)
    ]


def _consents(ledger: Ledger, system: str | None, size: int) -> dict[str, int]:
    granted = list(ledger.events(type="consent.granted", system=system, stop=size))
    withdrawn = sum(1 for _ in ledger.events(type="consent.withdrawn", system=system, stop=size))
    subjects = {e.subject for e in granted if e.subject is not None}
    return {"granted": len(granted), "withdrawn": withdrawn, "subjects": len(subjects)}


def _registrations(
    ledger: Ledger, system: str | None, size: int, as_of: str
) -> dict[str, dict[str, Any]]:
    """Each system's latest registration recorded by `as_of` (the engine reads the same)."""
    latest: dict[str, dict[str, Any]] = {}
    for envelope in ledger.events(type="system.registered", system=system, stop=size):
        if envelope.recorded_at <= as_of:
            latest[envelope.system] = dict(envelope.payload)
    return latest


def _scope(rule: Rule, regimes: Regimes) -> Scope:
    applies = rule.applies
    regime = None if applies.regime is None else regimes.regimes.get(applies.regime)
    condition = None
    if applies.condition is not None:
        condition = compile_condition(
            applies.condition, variables=("system",), where=f"rule {rule.id} applies.condition"
        )

    def fits(registration: Mapping[str, Any]) -> bool:
        return fits_scope(rule, condition, registration)

    return Scope(
        regime_title=None if regime is None else regime.title,
        applies_from=None if regime is None else regime.applies_from,
        roles=applies.roles,
        risk_classes=applies.risk_classes,
        has_condition=condition is not None,
        fits=fits,
    )


def _trigger_facts(
    ledger: Ledger,
    types: frozenset[str] | None,
    system: str | None,
    size: int,
    as_of: str,
    start: date | None,
) -> TriggerFacts:
    """The latest trigger by as_of, and whether one occurred since `start`: at most two
    indexed look-ups per type, made only for rules that did not apply."""
    latest: datetime | None = None
    since = False
    for event_type in [None] if types is None else sorted(types):
        newest = next(
            ledger.events(
                type=event_type,
                system=system,
                stop=size,
                until=as_of,
                newest_first=True,
                limit=1,
            ),
            None,
        )
        if newest is None:
            continue
        occurred = parse_time(newest.occurred_at, where="occurred_at")
        latest = occurred if latest is None else max(latest, occurred)
        if start is not None and not since:
            since = (
                next(
                    ledger.events(
                        type=event_type,
                        system=system,
                        stop=size,
                        since=format_time(datetime.combine(start, time.min, tzinfo=UTC)),
                        until=as_of,
                        limit=1,
                    ),
                    None,
                )
                is not None
            )
    return TriggerFacts(types, latest, since)


def _not_applicable_reasons(
    ledger: Ledger,
    rules: RuleSet,
    evaluation: Evaluation,
    system: str | None,
    size: int,
    as_of: datetime,
) -> dict[str, NotApplicableItem]:
    """Why each rule that did not apply did not, by rule id.

    The ledger is asked only about those rules, once per trigger type and regime date
    (rules that share a trigger share the look-ups), and the registrations are read once.
    """
    when = format_time(as_of)
    by_id = {rule.id: rule for rule in rules.rules}
    registrations: dict[str, dict[str, Any]] | None = None
    facts: dict[tuple[frozenset[str] | None, date | None], TriggerFacts] = {}
    reasons: dict[str, NotApplicableItem] = {}
    for item in evaluation.rules:
        if item.verdict != "not_applicable":
            continue
        if registrations is None:
            registrations = _registrations(ledger, system, size, when)
        rule = by_id[item.rule_id]
        scope = _scope(rule, rules.regimes)
        key = (rule.check.trigger_types(), scope.applies_from)
        if key not in facts:
            facts[key] = _trigger_facts(ledger, key[0], system, size, when, key[1])
        found = why_not_applicable(scope, as_of, registrations, facts[key])
        reasons[item.rule_id] = {"reason": found.reason, "text": found.text}
    return reasons


def previous_report(ledger: Ledger, before: int) -> tuple[str | None, int] | None:
    """The latest report.issued inside the first `before` events: (report id, tree size)."""
    for envelope in ledger.events(type="report.issued", newest_first=True, stop=before):
        size = envelope.payload.get("checkpoint_size")
        if isinstance(size, int) and size > 0:
            return str(envelope.payload.get("report_id")), size
    return None


def assemble(
    ledger: Ledger,
    rules: RuleSet,
    *,
    as_of: datetime,
    signer: SignerInfo,
    keys: Sequence[KeyItem],
    system: str | None = None,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
    previous_size: int | None = None,
    previous_id: str | None = None,
    step: Callable[[str], None] | None = None,
) -> Assembled:
    """Build the report data and its evidence; see the module docstring.

    `previous_size` names the checkpoint of an earlier report to prove consistency from
    (default: the last report.issued in the ledger). `step` is told what is being done.
    Raises IntegrityError if deep verification fails: no report vouches for a broken ledger.
    """
    say = step or (lambda _: None)
    say("checkpoint")
    checkpoint = ledger.checkpoint()
    # Writers may append while the report is assembled: everything it states is read
    # from the tree this checkpoint signs, its first `size` entries.
    size = checkpoint.size
    say("deep verification")
    verified = ledger.verify(deep=True, size=size)
    say("policy checks")
    evaluation = evaluate(
        rules,
        ledger_events(ledger, as_of=as_of, system=system, stop=size),
        as_of=as_of,
        system=system,
    )
    start = None if period_from is None else format_time(period_from)
    end = None if period_to is None else format_time(period_to)
    attention = [f for f in evaluation.findings if f.verdict in ("fail", "pending", "needs_human")]
    cited: dict[int, dict[str, Any]] = {}
    for seq in sorted({ref.seq for f in attention for ref in f.evidence}):
        cited[seq] = ledger.get(seq).to_json()
    attention = [f for f in attention if _in_period(f, cited, start, end)]
    if previous_size is None:
        found = previous_report(ledger, size)
        if found is not None:
            previous_id, previous_size = found
    say("lineage and registers")
    # The pages show the newest of each register; evidence.json carries all of them,
    # so "N more in evidence.json" is true of every cut list.
    nodes, edges = _lineage(ledger, system, size)
    approvals = _approvals(ledger, system, size)
    incidents = _incidents(ledger, system, size)
    say("evidence")
    evidence_doc = ledger.prove_many(
        sorted({ref.seq for f in attention for ref in f.evidence}),
        size=size,
        previous_size=previous_size,
        findings=[f.to_json() for f in attention],
        policy_set={
            "sha256": rules.sha256,
            "rules": [rule.id for rule in rules.rules],
            "as_of": format_time(as_of),
        },
    )
    evidence_doc["registers"] = {
        "lineage": {"nodes": nodes, "edges": edges},
        "approvals": approvals,
        "incidents": incidents,
    }
    # A cosigned checkpoint inside this one, with the proof that this one extends it.
    witnessed = witnessed_evidence(ledger, checkpoint.size, bytes.fromhex(checkpoint.root))
    if witnessed is not None:
        evidence_doc["witnessed"] = witnessed[0]
    evidence = orjson.dumps(evidence_doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    previous: PreviousReport | None = None
    if previous_size is not None:
        earlier = Checkpoint.from_text(Note.parse(evidence_doc["previous"]["checkpoint"]).text)
        proof = [bytes.fromhex(h) for h in evidence_doc["previous"]["consistency_proof"]]
        old_root = earlier.root
        merkle.verify_consistency(
            previous_size, checkpoint.size, proof, old_root, bytes.fromhex(checkpoint.root)
        )
        previous = {
            "report_id": previous_id,
            "size": previous_size,
            "root_hex": old_root.hex(),
            "consistent": True,
        }
    failing = [f for f in attention if f.verdict != "needs_human"]
    shown, omitted = _shown(failing)
    human, human_omitted = _shown(f for f in attention if f.verdict == "needs_human")
    summary: Counter[str] = Counter()
    rule_items: list[RuleItem] = []
    by_id = {rule.id: rule for rule in rules.rules}
    not_applicable = _not_applicable_reasons(ledger, rules, evaluation, system, size, as_of)
    for item in evaluation.rules:
        summary.update(item.counts)
        references = [r.label() for r in by_id[item.rule_id].references]
        rule_items.append(
            {
                "rule_id": item.rule_id,
                "title": item.title,
                "severity": item.severity,
                "law": _law(references),
                "references": references,
                "verdict": item.verdict,
                "triggers": item.triggers,
                "counts": dict(item.counts),
                "not_applicable": not_applicable.get(item.rule_id),
            }
        )
    note = Note.parse(checkpoint.note)
    stated = Checkpoint.from_text(note.text)
    adopted = in_force(ledger, as_of, stop=size)
    vkey_fingerprint = next(
        (k["fingerprint"] for k in keys if k["purpose"].startswith("ledger")), ""
    )
    report: ReportData = {
        "format": "auditml.report/v1",
        "report_id": str(uuid7()),
        "title": "Compliance evidence report",
        "generated_at": format_time(ledger.now()),
        "as_of": format_time(as_of),
        "system": system,
        "period_from": start,
        "period_to": end,
        "events": evaluation.events,
        "checkpoint": {
            "origin": stated.origin,
            "size": checkpoint.size,
            "root_hex": checkpoint.root,
            "note": checkpoint.note,
            "key_name": note.signatures[0].name if note.signatures else "",
            "key_fingerprint": vkey_fingerprint,
        },
        "signer": signer,
        "rule_set_sha256": rules.sha256,
        "rule_set_in_force": None if adopted is None else adopted.payload["policy_set_sha256"],
        "regimes": [
            {
                "name": name,
                "title": regime.title,
                "applies_from": regime.applies_from.isoformat(),
                "verify": regime.verify,
                "note": regime.note or "",
            }
            for name, regime in rules.regimes.regimes.items()
        ],
        "verification": {
            "ok": True,
            "deep": True,
            "size": verified.size,
            "checkpoints_verified": verified.checkpoints_verified,
            "seconds": round(verified.seconds, 3),
            "message": f"every entry re-hashed, chain and tree rebuilt; {verified.size} entries",
        },
        "previous": previous,
        "summary": dict(summary),
        "rules": rule_items,
        "findings": [_finding_item(f, cited) for f in shown],
        "needs_human": [_finding_item(f, cited) for f in human],
        "findings_omitted": omitted + human_omitted,
        "lineage": _lineage_shown(nodes, edges),
        "approvals": approvals[-APPROVALS_SHOWN:],
        "approvals_omitted": max(0, len(approvals) - APPROVALS_SHOWN),
        "consents": _consents(ledger, system, size),
        "requests": _requests(ledger, system, size),
        "incidents": incidents[-INCIDENTS_SHOWN:],
        "incidents_omitted": max(0, len(incidents) - INCIDENTS_SHOWN),
        "keys": list(keys),
        "attachments": [
            {
                "name": "evidence.json",
                "sha256": hashlib.sha256(evidence).hexdigest(),
                "bytes": len(evidence),
                "description": "auditml.evidence/v1: the cited events with inclusion proofs "
                "against the checkpoint on the cover, and every finding",
            }
        ],
    }
    if witnessed is not None:
        cosigned = Checkpoint.from_text(Note.parse(witnessed[0]["checkpoint"]).text)
        report["witnessed"] = {
            "size": cosigned.size,
            "root_hex": cosigned.root.hex(),
            "witnesses": witnessed[1],
            "consistent": True,  # witnessed_evidence verified the consistency proof
        }
    return Assembled(report, evidence, evaluation)
