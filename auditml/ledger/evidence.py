"""Evidence files (`auditml.evidence/v1`): build and verify them offline (pure).

An evidence file carries a signed checkpoint, the envelopes of some events, and for
each an RFC 9162 inclusion proof against that checkpoint. Verifying it needs only
this file and a trusted verifier key: no database, no network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditml.errors import IntegrityError, ValidationError
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.note import Checkpoint, Note, Verifier, open_checkpoint

EVIDENCE_FORMAT = "auditml.evidence/v1"


@dataclass(frozen=True)
class ProvedEvent:
    seq: int
    envelope: Mapping[str, Any]
    inclusion_proof: Sequence[bytes]


def build_evidence(
    *,
    checkpoint_note: str,
    verifier_keys: Sequence[str],
    events: Sequence[ProvedEvent],
    generated_at: str,
    previous: tuple[str, Sequence[bytes]] | None = None,
    findings: Sequence[Mapping[str, Any]] = (),
    policy_set: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the evidence document (a JSON-ready dict)."""
    doc: dict[str, Any] = {
        "format": EVIDENCE_FORMAT,
        "checkpoint": checkpoint_note,
        "verifier_keys": list(verifier_keys),
        "events": [
            {
                "seq": e.seq,
                "envelope": dict(e.envelope),
                "inclusion_proof": [h.hex() for h in e.inclusion_proof],
            }
            for e in events
        ],
        "findings": list(findings),
        "generated_at": generated_at,
    }
    if previous is not None:
        note, proof = previous
        doc["previous"] = {"checkpoint": note, "consistency_proof": [h.hex() for h in proof]}
    if policy_set is not None:
        doc["policy_set"] = dict(policy_set)
    return doc


@dataclass(frozen=True)
class EvidenceResult:
    """What an evidence file proved."""

    checkpoint: Checkpoint
    signed_by: tuple[str, ...]
    events_verified: int
    previous_size: int | None


def _hashes(values: object, where: str) -> list[bytes]:
    if not isinstance(values, list):
        raise ValidationError(f"{where} must be a list of hex hashes")
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where} holds a value that is not a hex hash") from exc


def checkpoint_from_document(doc: Mapping[str, Any]) -> str:
    """Return the signed checkpoint note carried by an evidence file.

    Raises ValidationError when the document is not an evidence file.
    """
    if doc.get("format") != EVIDENCE_FORMAT or not isinstance(doc.get("checkpoint"), str):
        raise ValidationError(
            f"not an {EVIDENCE_FORMAT} file (format is {doc.get('format')!r}); "
            "pass the JSON written by `auditml prove`"
        )
    return str(doc["checkpoint"])


def verify_evidence(doc: Mapping[str, Any], trusted: Sequence[Verifier]) -> EvidenceResult:
    """Verify every claim of an evidence file against trusted verifier keys.

    The keys listed inside the file are not trusted (that would be circular): the
    caller supplies the keys it obtained out of band.
    Raises SignatureError, ProofError or IntegrityError naming the first failure,
    ValidationError if the file is malformed.
    """
    note = checkpoint_from_document(doc)
    checkpoint = open_checkpoint(note, list(trusted))
    text_signers = [v.name for v in Note.parse(note).verified_by(list(trusted))]
    events = doc.get("events")
    if not isinstance(events, list):
        raise ValidationError("evidence `events` must be a list")
    for position, item in enumerate(events):
        where = f"events[{position}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("envelope"), Mapping):
            raise ValidationError(f"{where} must hold seq, envelope and inclusion_proof")
        seq = item.get("seq")
        envelope = item["envelope"]
        if not isinstance(seq, int) or envelope.get("seq") != seq:
            raise IntegrityError(
                f"{where}: listed at seq {seq!r} but the envelope says seq {envelope.get('seq')!r}",
                seq=seq if isinstance(seq, int) else None,
            )
        leaf = merkle.hash_leaf(canonicalize(envelope))
        proof = _hashes(item.get("inclusion_proof"), f"{where}.inclusion_proof")
        try:
            merkle.verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root)
        except IntegrityError as exc:
            raise type(exc)(
                f"event seq {seq} (id {envelope.get('id')!r}) is not in the checkpointed ledger "
                f"of size {checkpoint.size}: {exc}",
                seq=seq,
            ) from exc
    previous_size = None
    previous = doc.get("previous")
    if previous is not None:
        if not isinstance(previous, Mapping) or not isinstance(previous.get("checkpoint"), str):
            raise ValidationError("evidence `previous` must hold checkpoint and consistency_proof")
        earlier = open_checkpoint(previous["checkpoint"], list(trusted))
        if earlier.origin != checkpoint.origin:
            raise IntegrityError(
                f"the previous checkpoint is for ledger {earlier.origin!r}, not {checkpoint.origin!r}"
            )
        proof = _hashes(previous.get("consistency_proof"), "previous.consistency_proof")
        merkle.verify_consistency(
            earlier.size, checkpoint.size, proof, earlier.root, checkpoint.root
        )
        previous_size = earlier.size
    return EvidenceResult(checkpoint, tuple(text_signers), len(events), previous_size)
