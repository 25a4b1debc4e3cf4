"""Subject tokens, key wrapping and field sealing (pure: keys and values in, values out).

- A raw subject identifier only ever enters HMAC-SHA256 under the ledger's lookup
  secret; the ledger stores that lookup hash, a random token and a random data key.
- The data key is stored wrapped: AES-256-GCM under the key-encryption key (KEK),
  bound to the token as associated data.
- A personal field is sealed with AES-256-GCM under the subject's data key, bound to
  the token, the event type and the field name, so a sealed value cannot be moved to
  another subject, event type or field without failing to open.
Deleting the subject's row (its data key) makes every sealed value unreadable for good.
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


def field_aad(token: str, event_type: str, field: str) -> bytes:
    """The associated data that binds a sealed value to its subject, event type and field."""
    return f"auditml/v1 sealed|{token}|{event_type}|{field}".encode()


def seal(data_key: bytes, aad: bytes, value: Any, rng: Random = os.urandom) -> dict[str, str]:
    """Return {"sealed": base64(nonce || ciphertext)} of the value's canonical JSON bytes."""
    nonce = rng(NONCE_SIZE)
    ciphertext = AESGCM(data_key).encrypt(nonce, canonicalize(value), aad)
    return {SEALED: base64.b64encode(nonce + ciphertext).decode()}


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED), str)


def unseal(data_key: bytes, aad: bytes, sealed: dict[str, str]) -> Any:
    """Return the value inside a sealed field; raise IntegrityError if it does not open."""
    try:
        raw = base64.b64decode(sealed[SEALED], validate=True)
        plain = AESGCM(data_key).decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], aad)
    except (binascii.Error, InvalidTag, ValueError) as exc:
        raise IntegrityError(
            "a sealed field does not open with its subject's key: it was altered, or moved "
            "from another subject, event type or field"
        ) from exc
    return orjson.loads(plain)


def check_raw_subject(value: object, where: str) -> str:
    """Validate a raw subject identifier (never stored): a non-empty string."""
    if not isinstance(value, str) or not value.strip() or len(value) > 1024:
        raise ValidationError(
            f"{where}: subject must be the data subject's identifier as a non-empty string "
            "(at most 1024 characters); it is turned into a pseudonymous token, never stored"
        )
    return value


def seal_fields(
    payload: dict[str, Any],
    fields: frozenset[str] | set[str],
    *,
    data_key: bytes,
    token: str,
    event_type: str,
    rng: Random = os.urandom,
) -> dict[str, Any]:
    """Return a copy of payload with each present field in `fields` sealed."""
    sealed = dict(payload)
    for field in fields:
        if field in sealed:
            sealed[field] = seal(data_key, field_aad(token, event_type, field), sealed[field], rng)
    return sealed


def unseal_fields(
    payload: dict[str, Any], *, data_key: bytes | None, token: str | None, event_type: str
) -> dict[str, Any]:
    """Return payload with every sealed top-level field opened (ERASED without a key)."""
    if not any(is_sealed(v) for v in payload.values()):
        return payload
    opened = dict(payload)
    for field, value in payload.items():
        if is_sealed(value):
            if data_key is None or token is None:
                opened[field] = dict(ERASED)
            else:
                opened[field] = unseal(data_key, field_aad(token, event_type, field), value)
    return opened
