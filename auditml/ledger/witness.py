"""Witness cosignatures and witness policies (pure: text and bytes in, values out).

A cosignature (https://c2sp.org/tlog-cosignature, Ed25519 "cosignature/v1") is a
signed-note signature line added to a checkpoint by a witness that checked the
checkpoint is consistent with every earlier one it saw of that log:

    — <witness name> base64(key ID || u64 big-endian timestamp || Ed25519 signature)

The key ID is SHA-256(name || 0x0A || 0x04 || public key)[:4] (signature type 0x04),
and the signed message is "cosignature/v1\\n", "time <unix seconds>\\n", then the whole
checkpoint note text. A witness policy (modelled on sigsum's policy file) names the
witnesses whose cosignatures count and how many of them make a quorum.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditml.errors import IntegrityError, SignatureError, ValidationError
from auditml.ledger.evidence import checkpoint_from_document
from auditml.ledger.note import (
    SIGNATURE_PREFIX,
    Checkpoint,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    key_hash,
)

COSIGNATURE_ALG = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
WITNESS_STATE_FORMAT = "auditml.witness-state/v1"


def cosignature_key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner: SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    return key_hash(name, public_key, COSIGNATURE_ALG)


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosigner signs: header line, time line, then the checkpoint note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValidationError(f"cosignature timestamp {timestamp} is out of range")
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class CosignatureVerifier(Verifier):
    """A witness's public key (signature type 0x04), parsed from or written as a vkey."""

    ALG: ClassVar[int] = COSIGNATURE_ALG
    KIND: ClassVar[str] = "witness key"
    WRONG_TYPE_HINT: ClassVar[str] = "; use the witness.vkey written by `auditml witness init`"

    def matches(self, sig: NoteSignature) -> bool:
        return sig.name == self.name and sig.key_hash == self.key_hash

    def timestamp_if_valid(self, checkpoint_text: str, sig: NoteSignature) -> int | None:
        """The cosignature's timestamp if it is this key's valid signature, else None."""
        if not self.matches(sig) or len(sig.signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        message = cosigned_message(checkpoint_text, timestamp)
        return timestamp if self.verify(message, sig.signature[8:]) else None


@dataclass(frozen=True)
class CosignatureSigner(Signer):
    """A witness's named Ed25519 private key: it cosigns checkpoints, it signs no notes."""

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, super().verifier.public_key)

    def sign_line(self, text: str) -> str:
        raise TypeError("a witness key cosigns checkpoints (cosign_line); it signs no notes")

    def cosign_line(self, checkpoint_text: str, timestamp: int) -> str:
        """Return the cosignature line (without newline) over a checkpoint note text."""
        signature = self.private_key.sign(cosigned_message(checkpoint_text, timestamp))
        payload = self.verifier.key_hash + timestamp.to_bytes(8, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(payload).decode()}"


def parse_signature_line(line: str) -> NoteSignature:
    """Parse one signature line ("— name base64"); raise ValidationError if malformed."""
    line = line.rstrip("\n")
    if not line.startswith(SIGNATURE_PREFIX):
        raise ValidationError(f"malformed signature line {line[:80]!r}")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValidationError(f"signature by {name!r} is not base64") from exc
    if len(raw) < 5:
        raise ValidationError(f"signature by {name!r} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def add_signature_lines(note: str, lines: Iterable[str]) -> str:
    """Append signature lines to a signed note (lines it already carries are not repeated)."""
    Note.parse(note)
    present = set(note.splitlines())
    extra = [line for line in lines if line not in present]
    return note + "".join(line + "\n" for line in extra)


# -- the witness's own check: may it cosign this checkpoint? -----------------------


@dataclass(frozen=True)
class Witnessed:
    """What a witness last cosigned for one log: size, root and the cosigned note."""

    size: int
    root: bytes
    note: str


def refuse_unless_extends(
    origin: str, last: Witnessed | None, size: int, root: bytes
) -> str | None:
    """Return why (size, root) must not be cosigned after `last` (a rollback or a split
    view), or None. A larger size still needs the consistency proof from `last`: the
    caller fetches and checks it.
    """
    if last is None or size > last.size:
        return None
    if size < last.size:
        return (
            f"the ledger {origin!r} shows a checkpoint of size {size}, smaller than the size "
            f"{last.size} this witness already cosigned: the ledger was rolled back"
        )
    if root != last.root:
        return (
            f"this witness was shown two different checkpoints of size {size} for {origin!r} "
            f"(cosigned root {last.root.hex()[:16]}..., now {root.hex()[:16]}...): a split view "
            "or rewritten history"
        )
    return None


# -- the policy: whose cosignatures count, and how many ------------------------------


@dataclass(frozen=True)
class Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """Witnesses (policy name -> key), groups, the quorum, and optional ledger keys."""

    witnesses: Mapping[str, CosignatureVerifier]
    groups: Mapping[str, Group]
    quorum: str | None  # a witness or group name; None for `quorum none`
    logs: tuple[Verifier, ...] = field(default=())

    def satisfied(self, cosigned_by: Iterable[str]) -> bool:
        """Whether cosignatures by these policy witness names meet the quorum."""
        acting = set(cosigned_by)
        if self.quorum is None:
            return True
        return self._acts(self.quorum, acting)

    def _acts(self, name: str, acting: set[str]) -> bool:
        if name in self.witnesses:
            return name in acting
        group = self.groups[name]
        return sum(self._acts(m, acting) for m in group.members) >= group.threshold

    def describe(self) -> str:
        if self.quorum is None:
            return "no cosignatures (quorum none)"
        if self.quorum in self.witnesses:
            return f"witness {self.quorum}"
        group = self.groups[self.quorum]
        return f"{group.threshold} of {len(group.members)} ({', '.join(group.members)})"


QUORUM_GROUP = "quorum"  # the group `quorum K` stands for (not a usable name: see _new_name)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._:/@-]*")


def parse_policy(text: str, *, where: str = "the witness policy") -> WitnessPolicy:
    """Parse a witness policy; raise ValidationError naming the line that is wrong.

    Lines (# starts a comment): `log VKEY`, `witness NAME VKEY`,
    `group NAME all|any|K MEMBER...`, and exactly one `quorum NAME|none|K`
    (`quorum K`: any K of all witnesses listed). A name must be defined before use.
    """
    witnesses: dict[str, CosignatureVerifier] = {}
    groups: dict[str, Group] = {}
    logs: list[Verifier] = []
    quorum: str | None = None
    quorum_seen = False
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        at = f"{where}, line {number}"
        keyword, args = words[0], words[1:]
        try:
            if keyword == "log" and len(args) == 1:
                logs.append(Verifier.from_vkey(args[0]))
            elif keyword == "witness" and len(args) == 2:
                name = _new_name(args[0], witnesses, groups, at)
                key = CosignatureVerifier.from_vkey(args[1])
                if any(w.key_hash == key.key_hash for w in witnesses.values()):
                    raise ValidationError(f"witness key {key.key_id} is listed twice")
                witnesses[name] = key
            elif keyword == "group" and len(args) >= 3:
                name = _new_name(args[0], witnesses, groups, at)
                members = tuple(args[2:])
                for member in members:
                    if member not in witnesses and member not in groups:
                        raise ValidationError(f"{member!r} is not a witness or group defined above")
                if len(set(members)) != len(members):
                    raise ValidationError(f"group {name!r} lists a member twice")
                groups[name] = Group(_threshold(args[1], len(members)), members)
            elif keyword == "quorum" and len(args) == 1:
                if quorum_seen:
                    raise ValidationError("a policy has exactly one quorum line")
                quorum_seen = True
                quorum = _quorum(args[0], witnesses, groups)
                if args[0].isdigit():  # any K of every witness listed above
                    groups[QUORUM_GROUP] = Group(int(args[0]), tuple(witnesses))
            else:
                raise ValidationError(
                    f"cannot read {raw.strip()[:60]!r}; expected `log VKEY`, `witness NAME VKEY`, "
                    "`group NAME all|any|K MEMBERS...` or `quorum NAME|none|K`"
                )
        except ValidationError as exc:
            raise ValidationError(f"{at}: {exc}") from None
    if not quorum_seen:
        raise ValidationError(f"{where} has no quorum line; add e.g. `quorum 2` or `quorum none`")
    return WitnessPolicy(witnesses, groups, quorum, tuple(logs))


def check_new_witness_label(text: str, label: str, *, where: str = "the witness policy") -> None:
    """Raise ValidationError unless `witness LABEL ...` could be added to this policy text.

    An empty text (or one of comments only) is a policy yet to be written.
    """
    policy = parse_policy(text, where=where) if _policy_lines(text) else None
    if policy is not None and (label in policy.witnesses or label in policy.groups):
        raise ValidationError(f"{where} already defines {label!r}; choose another label")
    try:
        if policy is None:
            _new_name(label, {}, {}, where)
        else:
            _new_name(label, policy.witnesses, policy.groups, where)
    except ValidationError as exc:
        raise ValidationError(f"{where}: cannot add a witness named {label!r}: {exc}") from None


def add_witness(
    text: str, label: str, key: CosignatureVerifier, *, where: str = "the witness policy"
) -> tuple[str, WitnessPolicy]:
    """Return the policy text with `witness LABEL VKEY` added, and the policy it now reads as.

    An empty text becomes a policy of this witness alone: the witness line and `quorum 1`.
    Otherwise the line goes just before the quorum line, so that `quorum K` (any K of the
    witnesses listed above it) counts this witness too; the quorum is left as it was
    written. Raises ValidationError if the text is not a policy, or already defines the
    label or lists the key.
    """
    line = f"witness {label} {key.to_vkey()}"
    lines = text.splitlines()
    numbered = _policy_lines(text)
    if not numbered:
        new = [*lines, line, "quorum 1"]
    else:
        check_new_witness_label(text, label, where=where)
        listed = parse_policy(text, where=where).witnesses
        same = [name for name, known in listed.items() if known.key_hash == key.key_hash]
        if same:
            raise ValidationError(f"{where} already lists this witness key as {same[0]!r}")
        quorum_at = next(index for index, words in numbered if words[0] == "quorum")
        new = [*lines[:quorum_at], line, *lines[quorum_at:]]
    new_text = "\n".join(new) + "\n"
    return new_text, parse_policy(new_text, where=where)


def _policy_lines(text: str) -> list[tuple[int, list[str]]]:
    """(index, words) of each line that is not blank or a comment."""
    found = []
    for index, raw in enumerate(text.splitlines()):
        words = raw.split("#", 1)[0].split()
        if words:
            found.append((index, words))
    return found


def _new_name(
    name: str, witnesses: Mapping[str, object], groups: Mapping[str, object], at: str
) -> str:
    if not _NAME.fullmatch(name) or name in ("none", QUORUM_GROUP):
        raise ValidationError(
            f"{name!r} is not a usable name (letters, digits and ._:/@-, not starting with a digit)"
        )
    if name in witnesses or name in groups:
        raise ValidationError(f"{name!r} is defined twice")
    return name


def _threshold(word: str, count: int) -> int:
    if word == "all":
        return count
    if word == "any":
        return 1
    if not re.fullmatch(r"[1-9][0-9]*", word) or int(word) > count:
        raise ValidationError(f"threshold {word!r} must be all, any, or 1 to {count}")
    return int(word)


def _quorum(word: str, witnesses: Mapping[str, object], groups: Mapping[str, object]) -> str | None:
    if word == "none":
        return None
    if re.fullmatch(r"[0-9]+", word):
        if not 1 <= int(word) <= len(witnesses):
            raise ValidationError(
                f"quorum {word} needs 1 to {len(witnesses)} of the witnesses listed above"
            )
        return QUORUM_GROUP
    if word not in witnesses and word not in groups:
        raise ValidationError(f"quorum {word!r} is not a witness or group defined above")
    return word


# -- finding the newest checkpoint a quorum cosigned ----------------------------------


@dataclass(frozen=True)
class CosignatureRecord:
    """One stored cosignature: the ledger-signed checkpoint note and the witness's line."""

    size: int
    key_id: str
    witness: str
    root: bytes
    checkpoint: str
    signature: str
    created_at: str


@dataclass(frozen=True)
class QuorumCheckpoint:
    """The newest checkpoint the policy's quorum cosigned, as a note with their lines."""

    size: int
    root: bytes
    note: str
    witnesses: tuple[str, ...]  # policy names of the witnesses whose cosignature is valid
    timestamps: Mapping[str, int]


def quorum_checkpoint(
    records: Iterable[CosignatureRecord],
    policy: WitnessPolicy,
    ledger_keys: list[Verifier],
    origin: str,
) -> QuorumCheckpoint | None:
    """Return the newest checkpoint cosigned by a quorum, or None if there is none.

    Rows by witnesses the policy does not list are ignored. Raises IntegrityError when a
    row claims a policy witness's key but its cosignature does not verify, or when policy
    witnesses cosigned two different roots of one size (a split view).
    """
    by_size: dict[int, dict[bytes, tuple[str, dict[str, str], dict[str, int]]]] = {}
    for record in records:
        try:
            sig = parse_signature_line(record.signature)
        except ValidationError as exc:
            raise IntegrityError(
                f"a cosignature row at size {record.size} is malformed ({exc}): the "
                "cosignatures table was altered"
            ) from exc
        for name, key in policy.witnesses.items():
            if not key.matches(sig):
                continue
            note = record.checkpoint
            try:
                parsed = Note.parse(note)
                signed_by = parsed.verified_by(ledger_keys)
                text = parsed.text
                stated = Checkpoint.from_text(text)
            except ValidationError as exc:
                raise IntegrityError(
                    f"the cosignature row of {key.name} at size {record.size} holds a malformed "
                    f"checkpoint ({exc}): the cosignatures table was altered"
                ) from exc
            if not signed_by or stated.origin != origin:
                raise IntegrityError(
                    f"the cosignature by {key.name} at size {record.size} is over a checkpoint "
                    "not signed by the ledger's key: the cosignatures table was altered"
                )
            stamp = key.timestamp_if_valid(text, sig)
            if stamp is None or stated.size != record.size or stated.root != record.root:
                raise SignatureError(
                    f"the cosignature by witness {name} ({key.name}) at size {record.size} "
                    "does not verify: the cosignatures table was altered"
                )
            roots = by_size.setdefault(stated.size, {})
            entry = roots.setdefault(stated.root, (note, {}, {}))
            entry[1][name] = record.signature
            entry[2][name] = stamp
    for size in sorted(by_size, reverse=True):
        roots = by_size[size]
        if len(roots) > 1:
            raise IntegrityError(
                f"witnesses cosigned two different checkpoints of size {size}: the ledger showed "
                "them a split view; its history cannot be trusted"
            )
        (root, (note, lines, stamps)) = next(iter(roots.items()))
        if policy.satisfied(lines):
            return QuorumCheckpoint(
                size,
                root,
                add_signature_lines(note, lines.values()),
                tuple(sorted(lines)),
                stamps,
            )
    return None


# -- the witness's state file ----------------------------------------------------------


def state_document(
    witness: CosignatureVerifier,
    ledger_keys: Iterable[Verifier],
    logs: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The witness state (JSON-ready): its key, the ledger keys it trusts, per origin the
    last checkpoint it cosigned (size, root hex, the cosigned note, when, and the
    cosignature timestamp, which never goes backwards)."""
    return {
        "format": WITNESS_STATE_FORMAT,
        "witness": witness.to_vkey(),
        "ledger_keys": [k.to_vkey() for k in ledger_keys],
        "logs": {origin: dict(entry) for origin, entry in sorted(logs.items())},
    }


def last_witnessed(state: Mapping[str, Any], origin: str) -> Witnessed | None:
    """The last checkpoint the state records as cosigned for origin, or None."""
    entry = state.get("logs", {}).get(origin)
    if entry is None:
        return None
    try:
        return Witnessed(int(entry["size"]), bytes.fromhex(entry["root"]), str(entry["checkpoint"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"the witness state's entry for {origin!r} is malformed") from exc


def trusted_note(doc: Mapping[str, Any], origin: str) -> str:
    """The signed checkpoint note a trusted document holds for the ledger named origin:
    an evidence file's checkpoint, or a witness state's last cosigned checkpoint."""
    if doc.get("format") != WITNESS_STATE_FORMAT:
        return checkpoint_from_document(doc)
    found = last_witnessed(doc, origin)
    if found is None:
        raise ValidationError(
            f"the witness state holds no checkpoint of ledger {origin!r}; "
            "run `auditml witness cosign` first"
        )
    return found.note
