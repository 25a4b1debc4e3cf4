"""Subject tokens, key wrapping and field sealing (pure: keys and values in, values out).

- A raw subject identifier only ever enters HMAC-SHA256 under the ledger's lookup
  secret; the ledger stores that lookup hash, a random token and a random data key.
- The data key is stored wrapped: AES-256-GCM under the key-encryption key (KEK),
  bound to the token as associated data.
- A personal field is sealed in two layers, both AES-256-GCM bound to the token, the
  event type and the field name (so a sealed value cannot be moved to another subject,
  event type or field without failing to open): inside, under the class key of its
  event type and epoch (the calendar month it was recorded in); outside, under the
  subject's data key. The class key is stored wrapped by the KEK, bound to its class
  and epoch. The sealed value names its epoch: {"sealed": ..., "epoch": "YYYY-MM"}.
Deleting the subject's row (its data key) makes every sealed value about the subject
unreadable for good (erasure); deleting a class key does the same for one event type's
values of one month (a retention purge). Values sealed before class keys existed have
no "epoch" and are sealed under the subject's data key alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditml.errors import IntegrityError, ValidationError
from auditml.ledger.canonical import canonicalize

KEY_SIZE = 32
NONCE_SIZE = 12
TOKEN_PREFIX = "sub_"  # noqa: S105 (a prefix, not a secret)
SEALED = "sealed"
EPOCH = "epoch"
#: What a sealed value reads as once its subject's key is erased.
ERASED = {"erased": True}

Random = Callable[[int], bytes]


def lookup_hash(secret: bytes, raw_subject: str) -> bytes:
    """Return the keyed lookup hash of a raw subject identifier."""
    return hmac.new(secret, raw_subject.encode("utf-8"), hashlib.sha256).digest()


def new_token(rng: Random = os.urandom) -> str:
    """Return a fresh random subject token: 'sub_' and 128 random bits, base32."""
    return TOKEN_PREFIX + base64.b32encode(rng(16)).decode().rstrip("=").lower()


def new_data_key(rng: Random = os.urandom) -> bytes:
    return rng(KEY_SIZE)


def wrap_key(kek: bytes, token: str, data_key: bytes, rng: Random = os.urandom) -> bytes:
    """Return nonce || AES-256-GCM(kek, data_key), bound to the token."""
    nonce = rng(NONCE_SIZE)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _key_aad(token))


def unwrap_key(kek: bytes, token: str, wrapped: bytes) -> bytes:
    """Return the subject's data key; raise IntegrityError if the wrapping was tampered with."""
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _key_aad(token))
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError(
            f"the data key of subject {token} does not open under this ledger's key-encryption "
            "key: the subjects row was altered or the KEK is the wrong one"
        ) from exc


def _key_aad(token: str) -> bytes:
    return b"auditml/v1 data key|" + token.encode()


def wrap_class_key(
    kek: bytes, event_type: str, epoch: str, class_key: bytes, rng: Random = os.urandom
) -> bytes:
    """Return nonce || AES-256-GCM(kek, class_key), bound to its class and epoch."""
    nonce = rng(NONCE_SIZE)
    return nonce + AESGCM(kek).encrypt(nonce, class_key, _class_key_aad(event_type, epoch))


def unwrap_class_key(kek: bytes, event_type: str, epoch: str, wrapped: bytes) -> bytes:
    """Return a class key; raise IntegrityError if the wrapping was tampered with."""
    try:
        return AESGCM(kek).decrypt(
            wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _class_key_aad(event_type, epoch)
        )
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError(
            f"the class key of {event_type} for {epoch} does not open under this ledger's "
            "key-encryption key: the class_keys row was altered or the KEK is the wrong one"
        ) from exc


def _class_key_aad(event_type: str, epoch: str) -> bytes:
    return b"auditml/v1 class key|" + event_type.encode() + b"|" + epoch.encode()


def epoch_of(recorded_at: str) -> str:
    """The epoch of an event recorded at this (RFC 3339, UTC) time: its month, YYYY-MM."""
    return recorded_at[:7]


def field_aad(token: str, event_type: str, field: str) -> bytes:
    """The associated data that binds a sealed value to its subject, event type and field."""
    return f"auditml/v1 sealed|{token}|{event_type}|{field}".encode()


def seal(
    data_key: bytes,
    aad: bytes,
    value: Any,
    rng: Random = os.urandom,
    *,
    class_key: bytes | None = None,
    epoch: str | None = None,
) -> dict[str, str]:
    """Return the sealed form of the value's canonical JSON bytes.

    With a class key: {"sealed": base64(nonce || AES-GCM(data_key, nonce2 || AES-GCM(
    class_key, value))), "epoch": epoch}; without: {"sealed": base64(nonce || AES-GCM(
    data_key, value))} (the form from before class keys, kept for tests and old values).
    """
    plain = canonicalize(value)
    if class_key is not None:
        if epoch is None:
            raise ValueError("a value sealed under a class key needs its epoch")
        inner_nonce = rng(NONCE_SIZE)
        plain = inner_nonce + AESGCM(class_key).encrypt(inner_nonce, plain, aad)
    nonce = rng(NONCE_SIZE)
    ciphertext = AESGCM(data_key).encrypt(nonce, plain, aad)
    sealed = {SEALED: base64.b64encode(nonce + ciphertext).decode()}
    if class_key is not None:
        assert epoch is not None
        sealed[EPOCH] = epoch
    return sealed


def is_sealed(value: object) -> bool:
    """Whether a value has a sealed form: {"sealed": str} or {"sealed": str, "epoch": str}."""
    if not isinstance(value, dict) or not isinstance(value.get(SEALED), str):
        return False
    return len(value) == 1 or (len(value) == 2 and isinstance(value.get(EPOCH), str))


def sealed_epoch(value: dict[str, str]) -> str | None:
    """The epoch a sealed value names (None: sealed under the subject's key alone)."""
    return value.get(EPOCH)


def unseal(
    data_key: bytes, aad: bytes, sealed: dict[str, str], class_key: bytes | None = None
) -> Any:
    """Return the value inside a sealed field; raise IntegrityError if it does not open.

    A value with an epoch needs its class key as well (ValueError without one).
    """
    layered = EPOCH in sealed
    if layered and class_key is None:
        raise ValueError("a value sealed with an epoch needs its class key")
    try:
        raw = base64.b64decode(sealed[SEALED], validate=True)
        plain = AESGCM(data_key).decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], aad)
    except (binascii.Error, InvalidTag, ValueError) as exc:
        raise IntegrityError(
            "a sealed field does not open with its subject's key: it was altered, or moved "
            "from another subject, event type or field"
        ) from exc
    if layered:
        assert class_key is not None
        try:
            plain = AESGCM(class_key).decrypt(plain[:NONCE_SIZE], plain[NONCE_SIZE:], aad)
        except (InvalidTag, ValueError) as exc:
            raise IntegrityError(
                "a sealed field does not open with the class key of its event type and epoch: "
                "it was altered, or its epoch was changed"
            ) from exc
    return orjson.loads(plain)


def check_raw_subject(value: object, where: str) -> str:
    """Validate a raw subject identifier (never stored): a non-empty string of valid text.

    Every way a subject comes in (record, import, `record_many`, SDK helpers, rule
    fixtures, erase and subject lookups) passes here. Raises ValidationError naming
    `where`; the message never repeats the identifier, which is personal data.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 1024:
        raise ValidationError(
            f"{where}: subject must be the data subject's identifier as a non-empty string "
            "(at most 1024 characters); it is turned into a pseudonymous token, never stored"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates: a "\ud800" escape in JSON, or bytes that were not UTF-8 on a
        # command line (Python decodes those to U+DC80-U+DCFF).
        raise ValidationError(
            f"{where}: subject is not valid text: character {exc.start + 1} is "
            f"U+{ord(value[exc.start]):04X}, a lone surrogate (from bytes that are not "
            "UTF-8, or a \\ud800-style escape); give the identifier as UTF-8 text"
        ) from None
    return value


def seal_fields(
    payload: dict[str, Any],
    fields: frozenset[str] | set[str],
    *,
    data_key: bytes,
    token: str,
    event_type: str,
    class_key: bytes | None = None,
    epoch: str | None = None,
    rng: Random = os.urandom,
) -> dict[str, Any]:
    """Return a copy of payload with each present field in `fields` sealed (in two layers
    when a class key and its epoch are given)."""
    sealed = dict(payload)
    for field in fields:
        if field in sealed:
            sealed[field] = seal(
                data_key,
                field_aad(token, event_type, field),
                sealed[field],
                rng,
                class_key=class_key,
                epoch=epoch,
            )
    return sealed


#: Returns the class key of the event type being opened for an epoch (None: purged).
ClassKeys = Callable[[str], bytes | None]


def unseal_fields(
    payload: dict[str, Any],
    *,
    data_key: bytes | None,
    token: str | None,
    event_type: str,
    class_keys: ClassKeys | None = None,
) -> dict[str, Any]:
    """Return payload with every sealed top-level field opened.

    A field reads as ERASED when its subject's key is gone, or (a value with an epoch)
    its class key is: `class_keys(epoch)` returns None, or no `class_keys` is given.
    """
    if not any(is_sealed(v) for v in payload.values()):
        return payload
    opened = dict(payload)
    for field, value in payload.items():
        if not is_sealed(value):
            continue
        epoch = value.get(EPOCH)
        class_key = None
        if epoch is not None and data_key is not None and class_keys is not None:
            class_key = class_keys(epoch)
        if data_key is None or token is None or (epoch is not None and class_key is None):
            opened[field] = dict(ERASED)
        else:
            opened[field] = unseal(data_key, field_aad(token, event_type, field), value, class_key)
    return opened
