"""docs/FORMAT.md is enough to verify auditml evidence without auditml.

The first half of this file is a verifier written from docs/FORMAT.md alone. Its logic uses
only hashlib, base64, json, the `rfc8785` package (RFC 8785 JCS) and cryptography's
Ed25519PublicKey; nothing from `auditml`. The second half builds real ledgers through the
public SDK (`from auditml import Ledger`) and checks that the independent verifier accepts
everything the ledger proves, computes the same leaf hashes as the `events` table, and
rejects tampered envelopes, tampered proofs and notes signed by the wrong key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditml import Ledger

# =========================================================================================
# The independent verifier (FORMAT.md sections 4-10). No auditml imports below this line
# until the tests start.
# =========================================================================================

EVIDENCE_FORMAT = "auditml.evidence/v1"
ED25519_TYPE = 0x01
SIGNATURE_LINE_PREFIX = "\u2014 "  # em dash, space
MAX_SAFE_INTEGER = 2**53 - 1
ZERO_HASH_HEX = "0" * 64
EMPTY_ROOT = hashlib.sha256(b"").digest()
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class Rejected(Exception):
    """The independent verifier refuses what it was given."""


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_hash: bytes  # 4 bytes
    public_key: bytes  # 32 bytes, raw Ed25519


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]


# -- JSON and canonical bytes (FORMAT.md section 4) ---------------------------------------


def _int_or_double(literal: str) -> int | float:
    # JCS models every number as an IEEE-754 double. Integers inside +/-(2**53-1) are
    # exact either way; a longer integer literal can only be a large integral double.
    value = int(literal)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(literal)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise Rejected("JSON object with a repeated key")
    return result


def _no_constants(literal: str) -> Any:
    raise Rejected(f"{literal} is not JSON")


def load_json(text: str | bytes) -> Any:
    """Parse JSON the way FORMAT.md asks: numbers as doubles, no NaN, no repeated keys."""
    return json.loads(
        text,
        parse_int=_int_or_double,
        parse_constant=_no_constants,
        object_pairs_hook=_no_duplicate_keys,
    )


def jcs(value: Any) -> bytes:
    return rfc8785.dumps(value)


# -- hashing (FORMAT.md section 5) ----------------------------------------------------------


def leaf_hash(envelope: Any) -> bytes:
    return hashlib.sha256(b"\x00" + jcs(envelope)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.1 Merkle Tree Hash over already hashed leaves (the recursive definition)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    return node_hash(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def hex_hash(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise Rejected(f"{where}: not a 64-character lowercase hex hash")
    return bytes.fromhex(value)


# -- keys, signed notes, checkpoints (FORMAT.md section 8) --------------------------------


def compute_key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise Rejected(f"invalid key name {name!r}")


def parse_vkey(text: str) -> VerifierKey:
    """name+hexkeyhash+base64(0x01 || key); split at the first two '+' only."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Rejected("a vkey has three '+'-separated parts")
    name, hash_hex, key_b64 = parts
    _check_key_name(name)
    if not _HEX8.fullmatch(hash_hex):
        raise Rejected("vkey key hash must be 8 lowercase hex digits")
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except ValueError as exc:
        raise Rejected("vkey key is not base64") from exc
    if len(raw) != 33 or raw[0] != ED25519_TYPE:
        raise Rejected("vkey is not an Ed25519 key (0x01 || 32 bytes)")
    key = VerifierKey(name, bytes.fromhex(hash_hex), raw[1:])
    if compute_key_hash(name, key.public_key) != key.key_hash:
        raise Rejected("vkey key hash does not match its name and key")
    return key


def open_note(note: str, trusted: Sequence[VerifierKey]) -> str:
    """Return the note text if a trusted key signed it; reject otherwise."""
    if not note.endswith("\n"):
        raise Rejected("a signed note ends with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Rejected("no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block:
        raise Rejected("a signed note has at least one signature line")
    message = text.encode("utf-8")
    verified = False
    for line in block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_LINE_PREFIX):
            raise Rejected(f"malformed signature line {line!r}")
        name, space, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
        if not space:
            raise Rejected(f"malformed signature line {line!r}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise Rejected("signature is not base64") from exc
        if len(raw) < 5:
            raise Rejected("signature too short")
        key_id, signature = raw[:4], raw[4:]
        for key in trusted:
            if key.name == name and key.key_hash == key_id:
                try:
                    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, message)
                except InvalidSignature as exc:
                    raise Rejected(f"signature by trusted key {name} does not verify") from exc
                verified = True
        # A signature from any other (name, key id) is ignored.
    if not verified:
        raise Rejected("no signature from a trusted key")
    return text


def parse_checkpoint(text: str) -> CheckpointBody:
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 4 or any(line == "" for line in lines[:-1]):
        raise Rejected("a checkpoint is at least three non-empty lines, each ending in a newline")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not _DECIMAL.fullmatch(size_text):
        raise Rejected("checkpoint size is not ASCII decimal without leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError as exc:
        raise Rejected("checkpoint root is not base64") from exc
    if len(root) != 32:
        raise Rejected("checkpoint root is not 32 bytes")
    return CheckpointBody(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(note: str, trusted: Sequence[VerifierKey]) -> CheckpointBody:
    return parse_checkpoint(open_note(note, trusted))


# -- proofs (FORMAT.md section 10: RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise Rejected(f"leaf index {index} not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Rejected("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Rejected("inclusion proof too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise Rejected(f"inclusion proof for leaf {index} in size {size} gives another root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    if not 0 <= size1 <= size2:
        raise Rejected("consistency needs 0 <= size1 <= size2")
    if size1 == size2:
        if proof or root1 != root2:
            raise Rejected("equal sizes need an empty proof and equal roots")
        return
    if size1 == 0:
        if proof or root1 != EMPTY_ROOT:
            raise Rejected("from the empty tree the proof is empty")
        return
    if not proof:
        raise Rejected("empty consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Rejected("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Rejected("consistency proof too short")
    if fr != root1:
        raise Rejected("consistency proof does not give the old root")
    if sr != root2:
        raise Rejected("consistency proof does not give the new root")


# -- evidence files (FORMAT.md section 9) ---------------------------------------------------


def verify_evidence(doc: Any, trusted: Sequence[VerifierKey]) -> CheckpointBody:
    """Verify an auditml.evidence/v1 document against keys obtained out of band."""
    if not isinstance(doc, dict) or doc.get("format") != EVIDENCE_FORMAT:
        raise Rejected("not an auditml.evidence/v1 document")
    checkpoint = open_checkpoint(doc["checkpoint"], trusted)
    events = doc.get("events")
    if not isinstance(events, list):
        raise Rejected("events must be a list")
    for position, item in enumerate(events):
        seq, envelope = item.get("seq"), item.get("envelope")
        if not isinstance(envelope, dict) or type(seq) is not int or envelope.get("seq") != seq:
            raise Rejected(f"events[{position}]: seq and envelope.seq disagree")
        where = f"events[{position}].inclusion_proof"
        proof = [hex_hash(h, where) for h in item["inclusion_proof"]]
        verify_inclusion(seq, checkpoint.size, leaf_hash(envelope), proof, checkpoint.root)
    previous = doc.get("previous")
    if previous is not None:
        earlier = open_checkpoint(previous["checkpoint"], trusted)
        if earlier.origin != checkpoint.origin:
            raise Rejected("previous checkpoint is for another log")
        proof = [hex_hash(h, "previous.consistency_proof") for h in previous["consistency_proof"]]
        verify_consistency(earlier.size, checkpoint.size, proof, earlier.root, checkpoint.root)
    return checkpoint


# =========================================================================================
# Tests. From here on auditml is used, only through its public SDK, to produce ledgers.
# =========================================================================================

ORIGIN = "test.example/ledger"


def _trained(
    i: int, params: dict[str, Any], metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A valid model.trained payload whose free objects carry the JCS test content."""
    return {
        "model": "credit",
        "version": f"{i}.0",
        "datasets": ["loans-2025"],
        "params": params,
        "metrics": metrics or {},
        "artifact_sha256": "ab" * 32,
    }


def _payload(i: int) -> dict[str, Any]:
    """Payloads that exercise JCS: floats, unicode, escapes, nesting, key order."""
    kind = i % 5
    if kind == 0:
        return {"model": "credit", "version": f"{i}.0", "environment": "production"}
    if kind == 1:
        return _trained(
            i,
            {"lr": 0.001, "layers": [64, 32, 1], "dropout": 1 / 3},
            {
                "auc": 0.871 + i / 1e6,
                "loss": 1e-7 * (i + 1),
                "big": 1e21,
                "neg": -0.5,
                "whole": 2.0,
                "tiny": 5e-324,
                "zero": -0.0,
            },
        )
    if kind == 2:
        return _trained(i, _UNICODE)
    if kind == 3:
        return _trained(
            i,
            {
                "nested": {"a": [{"b": {"c": [1, 2.5, None, True, False, "x"]}}], "empty": {}},
                "list": [],
                "int": -(2**53 - 1),
                "max": 2**53 - 1,
            },
        )
    return {"model": "credit", "version": f"{i}", "environment": "staging"}


_UNICODE = {
    "name": "Zürich – 中文 – \U0001f600",
    "quote": 'a "quoted" \\ back\\slash / slash',
    "controls": "tab\tnew\nline\x01\x1f\x7f\u2028",
    "\U0001f600": "astral key",
    "\ue000": "private-use key",
    "é": 1,
    "e": 2,
}


def _items(start: int, stop: int) -> list[dict[str, Any]]:
    types = ("model.deployed", "model.trained", "model.trained", "model.trained", "model.retired")
    return [{"type": types[i % 5], "payload": _payload(i)} for i in range(start, stop)]


def _create(path: Path) -> Ledger:
    return Ledger.create(f"sqlite:///{path / 'l.db'}", origin=ORIGIN, key_dir=path / "keys")


def _grow(ledger: Ledger, size: int) -> None:
    have = len(ledger)
    if size > have:
        ledger.record_many(_items(have, size))
    assert len(ledger) == size


def _trusted(path: Path) -> list[VerifierKey]:
    return [
        parse_vkey(line)
        for line in (path / "keys" / "ledger.vkey").read_text().splitlines()
        if line.strip()
    ]


def _as_file(doc: dict[str, Any]) -> Any:
    """What a verifier receives: the evidence written to JSON text and parsed back."""
    return load_json(json.dumps(doc, indent=2, ensure_ascii=False))


def _db_rows(path: Path) -> list[tuple[int, bytes, bytes]]:
    with sqlite3.connect(path / "l.db") as conn:
        return [
            (seq, bytes(body), bytes(leaf))
            for seq, body, leaf in conn.execute(
                "SELECT seq, body, leaf_hash FROM events ORDER BY seq"
            )
        ]


@pytest.fixture
def small_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with _create(tmp_path) as ledger:
        _grow(ledger, 65)
        ledger.checkpoint()
        yield ledger


def test_vkey_parses_and_its_key_hash_is_recomputed(tmp_path: Path) -> None:
    with _create(tmp_path):
        pass
    (key,) = _trusted(tmp_path)
    assert key.name == ORIGIN
    assert len(key.public_key) == 32
    line = (tmp_path / "keys" / "ledger.vkey").read_text().strip()
    name, hash_hex, encoded = line.split("+", 2)
    with pytest.raises(Rejected):
        parse_vkey(f"{name}+{'%08x' % (int(hash_hex, 16) ^ 1)}+{encoded}")
    with pytest.raises(Rejected):
        parse_vkey(f"other.example/log+{hash_hex}+{encoded}")
    raw = bytearray(base64.b64decode(encoded))
    raw[0] = 0x02  # a signature type other than Ed25519
    with pytest.raises(Rejected):
        parse_vkey(f"{name}+{hash_hex}+{base64.b64encode(bytes(raw)).decode()}")


@pytest.mark.parametrize("size", [1, 2, 7, 64, 65, 1000])
def test_every_proof_verifies_independently(tmp_path: Path, size: int) -> None:
    with _create(tmp_path) as ledger:
        _grow(ledger, size)
        signed = ledger.checkpoint()
        trusted = _trusted(tmp_path)

        checkpoint = open_checkpoint(signed.note, trusted)
        assert (checkpoint.origin, checkpoint.size, checkpoint.root.hex()) == (
            ORIGIN,
            size,
            signed.root,
        )
        assert checkpoint.extensions == ()
        latest = ledger.checkpoints()[-1]
        assert (latest.size, latest.root, latest.note) == (size, signed.root, signed.note)

        if size <= 65:
            seqs: Sequence[int] = range(size)
        else:
            seqs = sorted(
                {
                    0,
                    1,
                    2,
                    255,
                    256,
                    511,
                    512,
                    513,
                    767,
                    768,
                    991,
                    992,
                    995,
                    998,
                    999,
                    *range(7, size, 97),
                }
            )
        proved = {}
        for seq in seqs:
            evidence = _as_file(ledger.prove(seq))
            assert verify_evidence(evidence, trusted) == checkpoint
            assert evidence["events"][0]["seq"] == seq
            proved[seq] = leaf_hash(evidence["events"][0]["envelope"])

    rows = _db_rows(tmp_path)
    assert [seq for seq, _, _ in rows] == list(range(size))
    for seq, body, stored_leaf in rows:
        assert leaf_hash(load_json(body)) == stored_leaf
        assert proved.get(seq, stored_leaf) == stored_leaf
    # The tree over the `events` table's leaf hashes has the signed root.
    assert mth([leaf for _, _, leaf in rows]) == checkpoint.root


def test_leaf_hashes_equal_the_events_table(tmp_path: Path) -> None:
    with _create(tmp_path) as ledger:
        _grow(ledger, 40)
        by_seq = {seq: ledger.prove(seq)["events"][0]["envelope"] for seq in range(40)}

    rows = _db_rows(tmp_path)
    assert [seq for seq, _, _ in rows] == list(range(40))
    prev = ZERO_HASH_HEX
    for seq, body, stored_leaf in rows:
        envelope = load_json(body)
        assert jcs(envelope) == body, f"seq {seq}: stored body is not the JCS of itself"
        assert hashlib.sha256(b"\x00" + body).digest() == stored_leaf
        assert leaf_hash(envelope) == stored_leaf
        assert leaf_hash(_as_file({"e": by_seq[seq]})["e"]) == stored_leaf
        assert envelope["seq"] == seq and envelope["v"] == 1
        assert envelope["prev"] == prev, f"seq {seq}: hash chain broken"
        prev = stored_leaf.hex()


def test_jcs_details_survive_the_round_trip(tmp_path: Path) -> None:
    params = _UNICODE | {"floats": [0.1, 1e21, 1e-7, 123.456, 2.0, -0.0, 1e15, 2.0**53 - 1]}
    payload = _trained(2, params)
    with _create(tmp_path) as ledger:
        ledger.record("model.trained", payload=payload)
        evidence = _as_file(ledger.prove(0))
    ((_, body, stored_leaf),) = _db_rows(tmp_path)
    text = body.decode()
    # Key order by UTF-16 code units: U+1F600 (D83D DE00) sorts before U+E000.
    assert (
        text.index('"controls"')
        < text.index('"\u00e9"')
        < text.index('"\U0001f600"')
        < text.index('"\ue000"')
    )
    assert '"floats":[0.1,1e+21,1e-7,123.456,2,0,1000000000000000,9007199254740991]' in text
    assert r'"controls":"tab\tnew\nline\u0001\u001f' + "\x7f\u2028" + '"' in text
    assert leaf_hash(evidence["events"][0]["envelope"]) == stored_leaf
    verify_evidence(evidence, _trusted(tmp_path))


def test_numbers_are_read_back_as_doubles() -> None:
    # An integral double beyond 2**53 is printed by JCS as plain digits; reading it back as a
    # double gives the same bytes again (section 4, "Reading numbers back").
    for text in (
        "100000000000000000000",
        "1152921504606847000",
        "9007199254740991",
        "1e+21",
        "-0.5",
        "5e-324",
    ):
        assert jcs(load_json(text)) == text.encode()
    with pytest.raises(Rejected):
        load_json('{"a": 1, "a": 2}')
    with pytest.raises(Rejected):
        load_json('{"a": NaN}')


def test_consistency_between_every_pair_of_checkpoints(tmp_path: Path) -> None:
    sizes = [1, 2, 7, 64, 65, 1000]
    with _create(tmp_path) as ledger:
        for size in sizes:
            _grow(ledger, size)
            ledger.checkpoint()
        trusted = _trusted(tmp_path)
        opened = {c.size: (c.note, open_checkpoint(c.note, trusted)) for c in ledger.checkpoints()}
        assert sorted(opened) == sizes
        for i, size1 in enumerate(sizes):
            for size2 in sizes[i:]:
                proof = ledger.consistency_proof(size1, size2)
                root1, root2 = opened[size1][1].root, opened[size2][1].root
                verify_consistency(size1, size2, proof, root1, root2)
                # ... and as an evidence file's `previous`.
                evidence = ledger.prove(size1 - 1, size=size2)
                evidence["previous"] = {
                    "checkpoint": opened[size1][0],
                    "consistency_proof": [h.hex() for h in proof],
                }
                assert verify_evidence(_as_file(evidence), trusted).size == size2


def test_consistency_from_every_smaller_size(tmp_path: Path) -> None:
    with _create(tmp_path) as ledger:
        _grow(ledger, 65)
        leaves = [leaf for _, _, leaf in _db_rows(tmp_path)]
        for size2 in (7, 8, 64, 65):
            for size1 in range(size2 + 1):
                proof = ledger.consistency_proof(size1, size2)
                verify_consistency(size1, size2, proof, mth(leaves[:size1]), mth(leaves[:size2]))


# -- the negative side ---------------------------------------------------------------------


def _reject(doc: Any, trusted: Sequence[VerifierKey]) -> None:
    with pytest.raises(Rejected):
        verify_evidence(doc, trusted)


@pytest.mark.parametrize("seq", [0, 1, 31, 63, 64])
def test_tampered_envelope_is_rejected(small_ledger: Ledger, tmp_path: Path, seq: int) -> None:
    trusted = _trusted(tmp_path)
    good = _as_file(small_ledger.prove(seq))
    verify_evidence(good, trusted)
    edits = [
        lambda e: e["payload"].update(injected=True),
        lambda e: e.update(recorded_at=e["recorded_at"].replace("Z", "1Z")),
        lambda e: e.update(prev="f" * 64),
        lambda e: e["actor"].update(kind="human" if e["actor"]["kind"] == "service" else "service"),
        lambda e: e.update(subject="tok_123"),
        lambda e: e.pop("occurred_at"),
        lambda e: e.update(v=2),
    ]
    for edit in edits:
        doc = _as_file(good)
        edit(doc["events"][0]["envelope"])
        _reject(doc, trusted)
    # Claiming the envelope sits at another position.
    doc = _as_file(good)
    other = (seq + 1) % 65
    doc["events"][0]["seq"] = other
    doc["events"][0]["envelope"]["seq"] = other
    _reject(doc, trusted)


@pytest.mark.parametrize("seq", [0, 5, 32, 64])
def test_tampered_proof_is_rejected(small_ledger: Ledger, tmp_path: Path, seq: int) -> None:
    trusted = _trusted(tmp_path)
    good = _as_file(small_ledger.prove(seq))
    proof = good["events"][0]["inclusion_proof"]
    assert proof, "a tree of 65 leaves has non-empty inclusion proofs"
    for position in range(len(proof)):
        for bit in (0, 255):
            doc = _as_file(good)
            raw = bytearray.fromhex(proof[position])
            raw[bit // 8] ^= 1 << (bit % 8)
            doc["events"][0]["inclusion_proof"][position] = raw.hex()
            _reject(doc, trusted)
    for changed in (proof[:-1], [*proof, proof[0]], proof[::-1] if len(proof) > 1 else []):
        doc = _as_file(good)
        doc["events"][0]["inclusion_proof"] = changed
        _reject(doc, trusted)


def test_tampered_consistency_proof_is_rejected(tmp_path: Path) -> None:
    with _create(tmp_path) as ledger:
        _grow(ledger, 7)
        old = ledger.checkpoint()
        _grow(ledger, 65)
        new = ledger.checkpoint()
        proof = ledger.consistency_proof(7, 65)
    root1, root2 = bytes.fromhex(old.root), bytes.fromhex(new.root)
    verify_consistency(7, 65, proof, root1, root2)
    for position in range(len(proof)):
        bad = list(proof)
        bad[position] = bytes([bad[position][0] ^ 1]) + bad[position][1:]
        with pytest.raises(Rejected):
            verify_consistency(7, 65, bad, root1, root2)
    for bad_proof, r1, r2, s1 in [
        (proof[:-1], root1, root2, 7),
        ([*proof, root1], root1, root2, 7),
        (proof, root2, root2, 7),
        (proof, root1, root1, 7),
        (proof, root1, root2, 6),
        ([], root1, root2, 7),
    ]:
        with pytest.raises(Rejected):
            verify_consistency(s1, 65, bad_proof, r1, r2)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _vkey_line(name: str, key: Ed25519PrivateKey) -> str:
    public = _raw_public(key)
    encoded = base64.b64encode(b"\x01" + public).decode()
    return f"{name}+{compute_key_hash(name, public).hex()}+{encoded}"


def _signature_line(
    name: str, key: Ed25519PrivateKey, text: str, key_id: bytes | None = None
) -> str:
    key_id = compute_key_hash(name, _raw_public(key)) if key_id is None else key_id
    return f"\u2014 {name} {base64.b64encode(key_id + key.sign(text.encode())).decode()}\n"


def test_note_signed_by_another_key_is_rejected(small_ledger: Ledger, tmp_path: Path) -> None:
    trusted = _trusted(tmp_path)
    good = _as_file(small_ledger.prove(10))
    text = open_note(good["checkpoint"], trusted)
    intruder = Ed25519PrivateKey.generate()
    intruder_line = _vkey_line(ORIGIN, intruder)
    intruder_vkey = parse_vkey(intruder_line)

    # Same name, the intruder's own key hash: an unknown key, so no trusted signature.
    forged = text + "\n" + _signature_line(ORIGIN, intruder, text)
    doc = _as_file(good)
    doc["checkpoint"] = forged
    doc["verifier_keys"] = [intruder_line]
    _reject(doc, trusted)  # keys listed inside the file are never trusted
    verify_evidence(doc, [intruder_vkey])  # (it is a well-formed note for the intruder's key)

    # Same name and the trusted key hash, but the intruder's signature.
    doc["checkpoint"] = text + "\n" + _signature_line(ORIGIN, intruder, text, trusted[0].key_hash)
    _reject(doc, trusted)

    # A changed checkpoint under the genuine signature line.
    signature_block = good["checkpoint"][len(text) :]
    for changed in (text.replace("\n65\n", "\n64\n"), text.replace(ORIGIN, "other.example/ledger")):
        doc = _as_file(good)
        doc["checkpoint"] = changed + signature_block
        _reject(doc, trusted)

    # An extra signature by an unknown key (a witness, say) is ignored, not fatal.
    doc = _as_file(good)
    doc["checkpoint"] = good["checkpoint"] + _signature_line("witness.example/w", intruder, text)
    assert verify_evidence(doc, trusted).size == 65


def test_by_hand_snippet_in_format_md_runs(small_ledger: Ledger, tmp_path: Path) -> None:
    """The standalone snippet of FORMAT.md section 12 verifies a real evidence file."""
    format_md = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"
    if not format_md.exists():
        pytest.skip("docs/FORMAT.md not present")
    match = re.search(r"<!-- by-hand -->\s*```python\n(.*?)```", format_md.read_text(), re.S)
    assert match, "FORMAT.md section 12 holds the by-hand snippet after <!-- by-hand -->"
    evidence_path = tmp_path / "evidence.json"
    evidence_path.write_text(json.dumps(small_ledger.prove(42), indent=2, ensure_ascii=False))
    namespace: dict[str, Any] = {"__name__": "by_hand"}
    exec(compile(match.group(1), "FORMAT.md", "exec"), namespace)
    vkey = (tmp_path / "keys" / "ledger.vkey").read_text().strip()
    assert namespace["verify"](str(evidence_path), vkey) == (ORIGIN, 65)
    # The worked example under the snippet quotes this very call and its result.
    assert f"returns\n`{(ORIGIN, 65)!r}`" in format_md.read_text()
    doc = json.loads(evidence_path.read_text())
    doc["events"][0]["envelope"]["payload"]["tampered"] = 1
    evidence_path.write_text(json.dumps(doc))
    with pytest.raises(Exception):  # noqa: B017 - the snippet raises whatever fails first
        namespace["verify"](str(evidence_path), vkey)
