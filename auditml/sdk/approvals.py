"""Record approvals and rejections (`approval.granted`, `approval.rejected`), optionally signed.

An approver may sign with their own Ed25519 key, so the approval can be attributed to
them without trusting whoever runs the ledger. The signature is
over SHA-256 of the target string (UTF-8) and is stored in the payload as
``{"key_id": ..., "algorithm": "ed25519", "signature": <standard base64>}``, where
``key_id`` is `approval_key_id` of the approver's public key.

Example::

    result = approve(ledger, "model:credit@3.2", "deployment", "bias audit passed",
                     approver="ana", approver_key=ana_private_key)
    verify_approval_signature(ledger.get(result.receipt.id), ana_public_key)

Targets are references (auditml/events/refs.py): a short form (``credit@3.2``, a registered
dataset id or system name) is made canonical before it is signed and recorded, so the
signature covers what the ledger stores.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditml.errors import SignatureError, ValidationError
from auditml.events.envelope import Envelope
from auditml.events.refs import parse_ref
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import APPROVAL_STAGES, ApprovalStage

__all__ = [
    "ApprovalRecord",
    "approval_key_id",
    "approve",
    "reject",
    "sign_approval",
    "verify_approval_signature",
]

_ALGORITHM = "ed25519"


@dataclass(frozen=True)
class ApprovalRecord:
    """What was recorded by `approve` or `reject`."""

    receipt: Receipt
    target: str
    #: True: the target was found in the ledger (a `model.trained`, a dataset event, a
    #: `system.registered` or a `policy.changed`); False: it was not (a prefixed reference
    #: to something not recorded yet is accepted).
    target_recorded: bool
    #: A sentence to log when the target was not found, else None. The approval is
    #: recorded anyway: policies judge approvals of unrecorded things, not this call.
    warning: str | None
    #: The signature stored in the payload, if the approval was signed.
    signature: dict[str, str] | None


def approve(
    ledger: Ledger,
    target: str,
    stage: ApprovalStage,
    rationale: str,
    *,
    approver: str | Mapping[str, str] | None = None,
    approver_key: Ed25519PrivateKey | None = None,
    signature: Mapping[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> ApprovalRecord:
    """Record `approval.granted`: `target` (e.g. ``model:credit@3.2``, or ``credit@3.2``)
    passes `stage`.

    `approver` is the person's id, recorded as the (human) actor; without it the
    ledger's actor is used. `approver_key` (the approver's Ed25519 private key) signs the
    target here; `signature` instead takes one made elsewhere with `sign_approval`
    (the approver's key need not be on this machine). A target the ledger has no record
    of is recorded anyway, with a warning in the result. `options` are the envelope
    fields (actor, occurred_at, id, system).

    Example::

        result = approve(ledger, "model:credit@3.2", "deployment", "DPIA and bias audit passed",
                         approver="ana", approver_key=key)
        if result.warning: log.warning(result.warning)

    Raises ValidationError (nothing recorded) for a bad argument, or a target that means
    no registered thing or several (`Ledger.resolve_reference`).
    """
    return _record(
        "approval.granted",
        "approve",
        ledger,
        target,
        stage,
        rationale,
        approver,
        approver_key,
        signature,
        options,
    )


def reject(
    ledger: Ledger,
    target: str,
    stage: ApprovalStage,
    rationale: str,
    *,
    approver: str | Mapping[str, str] | None = None,
    approver_key: Ed25519PrivateKey | None = None,
    signature: Mapping[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> ApprovalRecord:
    """Record `approval.rejected`: `target` does not pass `stage`. Arguments as `approve`.

    Example::

        reject(ledger, "model:credit@3.3", "deployment", "AUC below the agreed 0.85",
               approver="ana")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    return _record(
        "approval.rejected",
        "reject",
        ledger,
        target,
        stage,
        rationale,
        approver,
        approver_key,
        signature,
        options,
    )


def approval_key_id(public_key: Ed25519PublicKey | bytes) -> str:
    """Return the key id of an approver's public key: the first 16 hex digits of SHA-256 of
    its 32 raw bytes. Give it to auditors with the key so they can match signatures to it.

    Example::

        key = Ed25519PrivateKey.generate()
        print(approval_key_id(key.public_key()))  # e.g. "9f86d081884c7d65"

    Raises ValidationError if the key is not an Ed25519 public key.
    """
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def sign_approval(private_key: Ed25519PrivateKey, target: str) -> dict[str, str]:
    """Sign SHA-256 of `target` with an approver's key; return the payload's signature object.

    Example::

        signature = sign_approval(ana_key, "model:credit@3.2")  # on Ana's machine
        approve(ledger, "model:credit@3.2", "deployment", "ok", signature=signature)

    The target must be the canonical reference the ledger will store (``model:NAME@VERSION``,
    ``dataset:ID``, ``system:NAME``): a signature covers exact text, and without the
    ledger a short form cannot be resolved here.

    Raises ValidationError if the key is not an Ed25519 private key or the target is not a
    canonical reference.
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValidationError(
            "sign_approval: the approver key must be an Ed25519 private key "
            "(cryptography's Ed25519PrivateKey), got " + type(private_key).__name__
        )
    target = _common.text(target, "target", "sign_approval")
    try:
        parse_ref(target)
    except ValidationError as exc:
        raise ValidationError(
            f"sign_approval: target {exc}; sign the canonical reference the ledger stores, "
            "e.g. model:credit@3.2 (Ledger.resolve_reference gives it)"
        ) from None
    raw = private_key.sign(_target_digest(target))
    return {
        "key_id": approval_key_id(private_key.public_key()),
        "algorithm": _ALGORITHM,
        "signature": base64.b64encode(raw).decode("ascii"),
    }


def verify_approval_signature(
    envelope_or_payload: Envelope | Mapping[str, Any], public_key: Ed25519PublicKey | bytes
) -> None:
    """Check that an approval's signature was made by `public_key` over its target.

    Takes the event (`Envelope`, e.g. from `Ledger.get`) or its payload. Returns None
    when the signature verifies.

    Example::

        event = ledger.get(result.receipt.id)
        verify_approval_signature(event, ana_public_key)  # raises if forged or altered

    Raises SignatureError if the approval has no signature, names another key, or its
    signature does not verify (the target or signature was altered, or it was forged);
    ValidationError if the input is not an approval or the key is not Ed25519.
    """
    if isinstance(envelope_or_payload, Envelope):
        if envelope_or_payload.type not in ("approval.granted", "approval.rejected"):
            raise ValidationError(
                f"verify_approval_signature: event {envelope_or_payload.id} is a "
                f"{envelope_or_payload.type}, not an approval"
            )
        payload: Mapping[str, Any] = envelope_or_payload.payload
        what = f"approval {envelope_or_payload.id} (seq {envelope_or_payload.seq})"
    elif isinstance(envelope_or_payload, Mapping):
        payload, what = envelope_or_payload, "the approval"
    else:
        raise ValidationError(
            "verify_approval_signature: pass the approval event or its payload, got "
            + type(envelope_or_payload).__name__
        )
    key_id = approval_key_id(public_key)
    target = payload.get("target")
    signed = payload.get("signature")
    if not isinstance(target, str):
        raise ValidationError(f"verify_approval_signature: {what} has no target")
    if not isinstance(signed, Mapping):
        raise SignatureError(f"{what} of {target!r} carries no approver signature")
    if signed.get("algorithm") != _ALGORITHM:
        raise SignatureError(
            f"{what}: signature algorithm {signed.get('algorithm')!r} is not {_ALGORITHM!r}"
        )
    if signed.get("key_id") != key_id:
        raise SignatureError(
            f"{what} was signed by key {signed.get('key_id')!r}, not by the key given "
            f"({key_id}); check that you hold the approver's public key"
        )
    try:
        raw = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what}: the signature is not valid base64") from None
    try:
        _public(public_key).verify(raw, _target_digest(target))
    except InvalidSignature:
        raise SignatureError(
            f"{what}: the signature by key {key_id} does not verify over target {target!r}: "
            "the target or the signature was altered, or it was forged"
        ) from None


# -- internals -----------------------------------------------------------------------


def _record(
    event_type: str,
    where: str,
    ledger: Ledger,
    target: str,
    stage: object,
    rationale: str,
    approver: str | Mapping[str, str] | None,
    approver_key: Ed25519PrivateKey | None,
    signature: Mapping[str, str] | None,
    options: EventOptions,
) -> ApprovalRecord:
    target = _common.text(target, "target", where)
    if approver_key is not None and signature is not None:
        raise ValidationError(
            f"{where}: give approver_key (sign here) or signature (signed elsewhere), not both"
        )
    # Canonical before signing: the signature covers what the ledger stores.
    target = ledger.resolve_reference(target, where=f"{where}: target")
    signed: dict[str, str] | None = None
    if approver_key is not None:
        signed = sign_approval(approver_key, target)
    elif signature is not None:
        signed = _signature_object(signature, where)
    payload = _common.compact(
        {
            "target": target,
            "stage": _common.choice(stage, APPROVAL_STAGES, "stage", where),
            "rationale": _common.text(rationale, "rationale", where),
            "signature": signed,
        }
    )
    options = _common.with_actor(options, _common.human(approver, "approver", where), where)
    recorded = _target_recorded(ledger, target)
    receipt = _common.record(ledger, event_type, payload, options)
    warning = (
        None
        if recorded
        else f"{where}: {target!r} has no record in this ledger (no model.trained, dataset, "
        "system.registered or policy.changed event names it); the approval was recorded, "
        "and policies will judge it"
    )
    return ApprovalRecord(receipt, target, recorded, warning, signed)


def _signature_object(signature: Mapping[str, str], where: str) -> dict[str, str]:
    if not isinstance(signature, Mapping) or set(signature) != {
        "key_id",
        "algorithm",
        "signature",
    }:
        raise ValidationError(
            f"{where}: signature must be the object sign_approval returns "
            "({key_id, algorithm, signature})"
        )
    return {key: str(value) for key, value in signature.items()}


def _target_recorded(ledger: Ledger, target: str) -> bool:
    """Whether the ledger records the thing the canonical reference `target` names."""
    ref = parse_ref(target)
    if ref.kind == "model":
        return any(
            e.payload.get("model") == ref.name and e.payload.get("version") == ref.version
            for e in ledger.events(type="model.trained")
        )
    if ref.kind == "dataset":
        return any(
            e.payload.get("dataset_id") == ref.name
            for event_type in ("dataset.registered", "dataset.derived")
            for e in ledger.events(type=event_type)
        )
    if ref.kind == "policy":
        return any(
            e.payload.get("policy_set_sha256") == ref.name
            for e in ledger.events(type="policy.changed")
        )
    return any(True for _ in ledger.events(type="system.registered", system=ref.name, limit=1))


def _target_digest(target: str) -> bytes:
    return hashlib.sha256(target.encode("utf-8")).digest()


def _public(key: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    raise ValidationError(
        "the approver's public key must be an Ed25519PublicKey or its 32 raw bytes, got "
        + (f"{len(key)} bytes" if isinstance(key, bytes) else type(key).__name__)
    )


def _raw_public(key: Ed25519PublicKey | bytes) -> bytes:
    return _public(key).public_bytes(Encoding.Raw, PublicFormat.Raw)
