"""C2SP signed notes, checkpoints and vkeys."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.errors import SignatureError, ValidationError
from auditml.ledger.note import (
    Checkpoint,
    Note,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
    sign_note,
)

SEED = bytes(range(32))


@pytest.fixture
def signer() -> Signer:
    return Signer("example.com/log", Ed25519PrivateKey.from_private_bytes(SEED))


def test_key_hash_and_vkey_follow_c2sp(signer: Signer) -> None:
    public = signer.verifier.public_key
    expected = hashlib.sha256(b"example.com/log\n\x01" + public).digest()[:4]
    assert signer.verifier.key_hash == expected
    vkey = signer.verifier.to_vkey()
    encoded = base64.b64encode(b"\x01" + public).decode()
    assert vkey == f"example.com/log+{expected.hex()}+{encoded}"
    assert Verifier.from_vkey(vkey) == signer.verifier


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v.replace("+", " ", 1),
        lambda v: v.split("+")[0] + "+" + v.split("+")[1].upper() + "+" + v.split("+", 2)[2],
        lambda v: v[:-4] + "AAA=",
        lambda v: v.split("+")[0] + "+00000000+" + v.split("+", 2)[2],
    ],
)
def test_malformed_or_mismatched_vkeys_are_refused(signer: Signer, mangle) -> None:  # type: ignore[no-untyped-def]
    vkey = signer.verifier.to_vkey()
    assert mangle(vkey) != vkey, "the fixed seed's key hash has hex letters, so upper() changes it"
    with pytest.raises(ValidationError):
        Verifier.from_vkey(mangle(vkey))


def test_checkpoint_round_trip_and_signature(signer: Signer) -> None:
    checkpoint = Checkpoint("example.com/log", 42, b"\x07" * 32)
    note = sign_note(checkpoint.to_text(), [signer])
    lines = note.split("\n")
    assert lines[:3] == ["example.com/log", "42", base64.b64encode(b"\x07" * 32).decode()]
    assert lines[3] == "" and lines[4].startswith("\u2014 example.com/log ")
    assert open_checkpoint(note, [signer.verifier]) == checkpoint


def test_forged_altered_and_unknown_signatures_are_rejected(signer: Signer) -> None:
    note = sign_note(Checkpoint("example.com/log", 42, b"\x07" * 32).to_text(), [signer])
    altered = note.replace("\n42\n", "\n43\n")
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(altered, [signer.verifier])
    other = Signer("example.com/log", Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError, match="no valid signature from a trusted key"):
        open_note(sign_note("hello\n", [other]), [signer.verifier])
    # A witness's extra signature by an unknown key does not spoil a valid note.
    witness = Signer("witness.example", Ed25519PrivateKey.generate())
    both = sign_note(Checkpoint("example.com/log", 42, b"\x07" * 32).to_text(), [signer, witness])
    _text, signed_by = open_note(both, [signer.verifier])
    assert signed_by == [signer.verifier] and len(Note.parse(both).signatures) == 2


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n\u0663\n"
        + base64.b64encode(b"\x00" * 32).decode()
        + "\n",  # Arabic-Indic digit
        "example.com/log\n042\n" + base64.b64encode(b"\x00" * 32).decode() + "\n",
        "example.com/log\n42\n" + base64.b64encode(b"\x00" * 31).decode() + "\n",
        "example.com/log\n42\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Checkpoint.from_text(text)


def test_note_text_rules(signer: Signer) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        sign_note("a\tb\n", [signer])
    with pytest.raises(ValidationError, match="each ending in a newline"):
        sign_note("no newline", [signer])
    with pytest.raises(ValidationError, match="key name"):
        Signer("has space", Ed25519PrivateKey.generate())
