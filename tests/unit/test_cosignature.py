"""C2SP tlog-cosignature (Ed25519 cosignature/v1) and witness policies: the pure format."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.errors import IntegrityError, SignatureError, ValidationError
from auditml.ledger.note import Checkpoint, Note, Signer, sign_note
from auditml.ledger.witness import (
    WITNESS_STATE_FORMAT,
    CosignatureRecord,
    CosignatureSigner,
    CosignatureVerifier,
    Witnessed,
    add_signature_lines,
    cosignature_key_hash,
    cosigned_message,
    parse_policy,
    parse_signature_line,
    quorum_checkpoint,
    refuse_unless_extends,
    state_document,
    trusted_note,
)

# The example of https://c2sp.org/tlog-cosignature ("Format" and "Ed25519 signed message").
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SEED = bytes(range(32))
LEDGER_SEED = bytes(range(32, 64))
# Known answer, pinned: witness key SEED, name example.com/witness, time 1700000000,
# over the spec's checkpoint body (Ed25519 is deterministic, RFC 8032).
KAT_LINE = (
    "\u2014 example.com/witness 5I+5EAAAAABlU/EAEIjhLnL6i22xiHzP3Di14SFl2d034jCH6G3KxDQbrC1jPI3H"
    "MU33jTHL7lh171gnJ75A3NeO7YPW3H1ZrzZBCQ=="
)


@pytest.fixture
def witness() -> CosignatureSigner:
    return CosignatureSigner("example.com/witness", Ed25519PrivateKey.from_private_bytes(SEED))


@pytest.fixture
def ledger_signer() -> Signer:
    return Signer("test.example/ledger", Ed25519PrivateKey.from_private_bytes(LEDGER_SEED))


def test_signed_message_is_exactly_the_specs_example() -> None:
    assert cosigned_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    with pytest.raises(ValidationError):
        cosigned_message(SPEC_BODY, 2**63)


def test_the_specs_cosignature_line_carries_key_id_then_big_endian_time() -> None:
    sig = parse_signature_line(SPEC_LINE)
    assert sig.name == "witness.example.com/w1"
    assert sig.key_hash.hex() == "8d66cf3f"
    assert len(sig.signature) == 8 + 64
    # The 8 bytes after the key ID are the spec example's "time 1679315147".
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147


def test_key_id_uses_signature_type_0x04(witness: CosignatureSigner) -> None:
    public = witness.verifier.public_key
    name = b"example.com/witness"
    assert witness.verifier.key_hash == hashlib.sha256(name + b"\n\x04" + public).digest()[:4]
    assert (
        cosignature_key_hash("example.com/witness", public)
        != (hashlib.sha256(name + b"\n\x01" + public).digest()[:4])
    )
    vkey = witness.verifier.to_vkey()
    assert vkey.split("+", 2)[2] == base64.b64encode(b"\x04" + public).decode()
    assert CosignatureVerifier.from_vkey(vkey) == witness.verifier


def test_known_answer_line_built_independently(witness: CosignatureSigner) -> None:
    line = witness.cosign_line(SPEC_BODY, 1700000000)
    # Rebuilt by hand from the spec: key ID || u64 BE timestamp || Ed25519(message).
    message = b"cosignature/v1\ntime 1700000000\n" + SPEC_BODY.encode()
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    payload = witness.verifier.key_hash + (1700000000).to_bytes(8, "big") + key.sign(message)
    assert line == f"\u2014 example.com/witness {base64.b64encode(payload).decode()}"
    assert line == KAT_LINE
    assert witness.verifier.timestamp_if_valid(SPEC_BODY, parse_signature_line(line)) == 1700000000


def test_a_cosignature_does_not_verify_for_other_text_time_or_key(
    witness: CosignatureSigner,
) -> None:
    sig = parse_signature_line(witness.cosign_line(SPEC_BODY, 1700000000))
    verifier = witness.verifier
    assert verifier.timestamp_if_valid(SPEC_BODY.replace("20852163", "20852164"), sig) is None
    shifted = type(sig)(sig.name, sig.key_hash, (1700000001).to_bytes(8, "big") + sig.signature[8:])
    assert verifier.timestamp_if_valid(SPEC_BODY, shifted) is None
    other = CosignatureSigner("example.com/witness", Ed25519PrivateKey.generate()).verifier
    assert other.timestamp_if_valid(SPEC_BODY, sig) is None


def test_a_ledger_vkey_is_not_a_witness_key(ledger_signer: Signer) -> None:
    with pytest.raises(ValidationError, match="type 0x04"):
        CosignatureVerifier.from_vkey(ledger_signer.verifier.to_vkey())
    with pytest.raises(ValidationError, match="does not match"):
        good = CosignatureSigner("w.example/a", Ed25519PrivateKey.generate()).verifier.to_vkey()
        name, _, rest = good.split("+", 2)
        CosignatureVerifier.from_vkey(f"{name}+00000000+{rest}")


def test_a_note_with_cosignatures_still_opens_with_the_ledger_key(
    witness: CosignatureSigner, ledger_signer: Signer
) -> None:
    text = Checkpoint("test.example/ledger", 3, bytes(32)).to_text()
    note = sign_note(text, [ledger_signer])
    cosigned = add_signature_lines(note, [witness.cosign_line(text, 5)])
    assert add_signature_lines(cosigned, [witness.cosign_line(text, 5)]) == cosigned
    parsed = Note.parse(cosigned)
    assert len(parsed.signatures) == 2
    assert parsed.verified_by([ledger_signer.verifier]) == [ledger_signer.verifier]


def test_refusals_rollback_and_split_view() -> None:
    last = Witnessed(5, b"\x01" * 32, "note")
    assert refuse_unless_extends("o", None, 3, b"\x02" * 32) is None
    assert refuse_unless_extends("o", last, 6, b"\x02" * 32) is None
    assert refuse_unless_extends("o", last, 5, b"\x01" * 32) is None
    assert "rolled back" in (refuse_unless_extends("o", last, 4, b"\x01" * 32) or "")
    split = refuse_unless_extends("o", last, 5, b"\x02" * 32) or ""
    assert "shown two different checkpoints of size 5" in split


def _keys(n: int) -> list[CosignatureSigner]:
    return [CosignatureSigner(f"w{i}.example/w", Ed25519PrivateKey.generate()) for i in range(n)]


def test_policy_quorum_k_groups_and_none() -> None:
    a, b, c = (s.verifier.to_vkey() for s in _keys(3))
    policy = parse_policy(
        f"# two of three\nwitness A {a}\nwitness B {b}  # dpo\nwitness C {c}\nquorum 2\n"
    )
    assert not policy.satisfied(["A"]) and policy.satisfied(["A", "C"])
    grouped = parse_policy(
        f"witness A {a}\nwitness B {b}\nwitness C {c}\ngroup ab any A B\ngroup all2 all ab C\nquorum all2\n"
    )
    assert grouped.satisfied(["B", "C"]) and not grouped.satisfied(["A", "B"])
    assert parse_policy(f"witness A {a}\nquorum A\n").satisfied(["A"])
    assert parse_policy("quorum none\n").satisfied([])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("witness A {a}\n", "no quorum line"),
        ("witness A {a}\nquorum B\n", "not a witness or group"),
        ("witness A {a}\nwitness A {b}\nquorum A\n", "defined twice"),
        ("witness A {a}\nwitness B {a}\nquorum A\n", "listed twice"),
        ("witness A {a}\nquorum 2\n", "1 to 1"),
        ("witness A {a}\ngroup g 3 A\nquorum g\n", "threshold"),
        ("witness A {a}\nquorum A\nquorum A\n", "exactly one quorum"),
        ("witnes A {a}\nquorum none\n", "line 1"),
        ("witness 9 {a}\nquorum none\n", "not a usable name"),
    ],
)
def test_policy_errors_name_the_line(body: str, message: str) -> None:
    a, b = (s.verifier.to_vkey() for s in _keys(2))
    with pytest.raises(ValidationError, match=message):
        parse_policy(body.format(a=a, b=b), where="p.txt")


def _record(
    ledger_signer: Signer, witness: CosignatureSigner, size: int, root: bytes, time: int = 7
) -> CosignatureRecord:
    text = Checkpoint("test.example/ledger", size, root).to_text()
    note = sign_note(text, [ledger_signer])
    line = witness.cosign_line(text, time)
    return CosignatureRecord(size, witness.verifier.key_id, witness.name, root, note, line, "t")


def test_quorum_checkpoint_is_the_newest_size_meeting_the_quorum(ledger_signer: Signer) -> None:
    w1, w2, stranger = _keys(3)
    policy = parse_policy(
        f"witness A {w1.verifier.to_vkey()}\nwitness B {w2.verifier.to_vkey()}\nquorum 2\n"
    )
    keys = [ledger_signer.verifier]
    records = [
        _record(ledger_signer, w1, 9, b"\x09" * 32),  # only one witness at 9
        _record(ledger_signer, stranger, 9, b"\x09" * 32),  # not in the policy: ignored
        _record(ledger_signer, w1, 4, b"\x04" * 32),
        _record(ledger_signer, w2, 4, b"\x04" * 32),
    ]
    found = quorum_checkpoint(records, policy, keys, "test.example/ledger")
    assert found is not None and found.size == 4 and found.witnesses == ("A", "B")
    assert len(Note.parse(found.note).signatures) == 3  # ledger + two cosignatures
    assert quorum_checkpoint(records[:2], policy, keys, "test.example/ledger") is None


def test_split_view_and_forged_rows_are_integrity_errors(ledger_signer: Signer) -> None:
    w1, w2 = _keys(2)
    policy = parse_policy(
        f"witness A {w1.verifier.to_vkey()}\nwitness B {w2.verifier.to_vkey()}\nquorum 1\n"
    )
    keys = [ledger_signer.verifier]
    split = [
        _record(ledger_signer, w1, 4, b"\x04" * 32),
        _record(ledger_signer, w2, 4, b"\x05" * 32),
    ]
    with pytest.raises(IntegrityError, match="two different checkpoints of size 4"):
        quorum_checkpoint(split, policy, keys, "test.example/ledger")
    good = _record(ledger_signer, w1, 4, b"\x04" * 32)
    moved = CosignatureRecord(
        4, good.key_id, good.witness, b"\x06" * 32, good.checkpoint, good.signature, "t"
    )
    with pytest.raises(SignatureError, match="does not verify"):
        quorum_checkpoint([moved], policy, keys, "test.example/ledger")
    other = Signer("test.example/ledger", Ed25519PrivateKey.generate())
    forged = _record(other, w1, 4, b"\x04" * 32)
    with pytest.raises(IntegrityError, match="not signed by the ledger's key"):
        quorum_checkpoint([forged], policy, keys, "test.example/ledger")


def test_a_witness_state_is_a_trusted_checkpoint_source(
    witness: CosignatureSigner, ledger_signer: Signer
) -> None:
    entry = {"size": 3, "root": "00" * 32, "checkpoint": "NOTE", "cosigned_at": "t"}
    doc = state_document(witness.verifier, [ledger_signer.verifier], {"test.example/ledger": entry})
    assert doc["format"] == WITNESS_STATE_FORMAT
    assert trusted_note(doc, "test.example/ledger") == "NOTE"
    with pytest.raises(ValidationError, match="no checkpoint of ledger"):
        trusted_note(doc, "other.example/ledger")
