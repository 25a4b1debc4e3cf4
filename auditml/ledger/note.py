"""C2SP signed notes and tlog checkpoints, with Ed25519 keys (pure: bytes in, bytes out).

A signed note (https://c2sp.org/signed-note) is UTF-8 text ending in a newline, a
blank line, then one signature line per signer: an em dash, a space, the key name,
a space, and base64(key_hash || signature). The key hash is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public_key) for Ed25519 (signature type 0x01).

A checkpoint (https://c2sp.org/tlog-checkpoint) is a note whose text is the log's
origin line, the tree size in decimal, and the base64 root hash, each on its own line,
optionally followed by extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditml.errors import SignatureError, ValidationError

ED25519_ALG = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space opens every signature line


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public_key: bytes, alg: int = ED25519_ALG) -> bytes:
    """Return the 4-byte key hash that prefixes every signature by this key.

    `alg` is the C2SP signature type: 0x01 for Ed25519 notes, 0x04 for cosignatures.
    """
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise ValidationError(
            f"invalid key name {name!r}: a signed-note key name is non-empty and has no "
            "spaces or '+'; choose a name like 'example.com/ledger'"
        )


@dataclass(frozen=True)
class Verifier:
    """A public key that can check note signatures, parsed from or written as a vkey.

    Subclasses set another C2SP signature type (ALG) and how their keys are called.
    """

    name: str
    public_key: bytes

    ALG: ClassVar[int] = ED25519_ALG
    KIND: ClassVar[str] = "verifier key"
    WRONG_TYPE_HINT: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != 32:
            raise ValidationError("an Ed25519 public key is 32 bytes")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key, self.ALG)

    @property
    def key_id(self) -> str:
        """The key hash in hex: a short fingerprint people can compare out of band."""
        return self.key_hash.hex()

    def to_vkey(self) -> str:
        """Return the verifier key in signed-note form: name+hexhash+base64(0x01||key)."""
        encoded = base64.b64encode(bytes([self.ALG]) + self.public_key).decode()
        return f"{self.name}+{self.key_id}+{encoded}"

    @classmethod
    def from_vkey(cls, text: str) -> Self:
        """Parse a vkey; raise ValidationError if it is malformed or its hash does not match."""
        text = text.strip()
        parts = text.split("+", 2)
        kind = cls.KIND
        if len(parts) != 3:
            raise ValidationError(
                f"malformed {kind} {text[:80]!r}: expected name+keyhash+base64key"
            )
        name, hash_hex, encoded = parts
        if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise ValidationError(
                f"malformed {kind} for {name!r}: the key hash must be 8 lowercase hex digits"
            )
        try:
            raw = base64.b64decode(encoded, validate=True)
            expected_hash = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(f"malformed {kind} for {name!r}: {exc}") from exc
        if len(raw) != 33 or raw[0] != cls.ALG:
            raise ValidationError(
                f"{kind} for {name!r} is not an Ed25519 key of type 0x{cls.ALG:02x} (32 bytes)"
                + cls.WRONG_TYPE_HINT
            )
        verifier = cls(name, raw[1:])
        if verifier.key_hash != expected_hash:
            raise ValidationError(
                f"{kind} for {name!r}: key hash {hash_hex} does not match the key"
            )
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether signature is this key's Ed25519 signature over message."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key that signs notes."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, _raw_public(self.private_key.public_key()))

    def sign_line(self, text: str) -> str:
        """Return the signature line (without newline) for a note text."""
        signature = self.private_key.sign(text.encode())
        encoded = base64.b64encode(self.verifier.key_hash + signature).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}"


def sign_note(text: str, signers: list[Signer]) -> str:
    """Return the signed note: text, a blank line, one signature line per signer."""
    _check_note_text(text)
    lines = "".join(signer.sign_line(text) + "\n" for signer in signers)
    return f"{text}\n{lines}"


MAX_SIGNATURES = 100
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")


def _check_note_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise ValidationError("note text must be non-empty lines, each ending in a newline")
    if _CONTROL.search(text):
        raise ValidationError("note text must not contain control characters other than newline")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed signed note: its text and its signature lines (not yet verified)."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, note: str) -> Note:
        """Split a signed note into text and signatures; raise ValidationError if malformed."""
        body, sep, sigblock = note.rpartition("\n\n")
        if not sep:
            raise ValidationError("not a signed note: no blank line before the signatures")
        text = body + "\n"
        _check_note_text(text)
        signatures = []
        if not sigblock.endswith("\n"):
            raise ValidationError("signed note must end with a newline")
        for line in sigblock[:-1].split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise ValidationError(f"malformed signature line {line[:80]!r}")
            name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValidationError(f"signature by {name!r} is not base64") from exc
            if len(raw) < 5:
                raise ValidationError(f"signature by {name!r} is too short")
            signatures.append(NoteSignature(name, raw[:4], raw[4:]))
        if not signatures:
            raise ValidationError("signed note has no signatures")
        if len(signatures) > MAX_SIGNATURES:
            raise ValidationError(f"signed note has more than {MAX_SIGNATURES} signatures")
        return cls(text, tuple(signatures))

    def verified_by(self, verifiers: list[Verifier]) -> list[Verifier]:
        """Return the verifiers whose valid signature this note carries.

        Raises SignatureError if a signature claims to be by a listed key but does not
        verify: per C2SP signed-note such a note is rejected, not merely unsigned.
        """
        found = []
        message = self.text.encode()
        for verifier in verifiers:
            for sig in self.signatures:
                if sig.name != verifier.name or sig.key_hash != verifier.key_hash:
                    continue
                if not verifier.verify(message, sig.signature):
                    raise SignatureError(
                        f"the signature by {verifier.name} ({verifier.key_id}) does not verify: "
                        "the note was altered after signing, or the signature forged"
                    )
                found.append(verifier)
                break
        return found


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """Return the note's text and the verifiers that signed it.

    Raises SignatureError when no listed verifier has a valid signature on it.
    """
    parsed = Note.parse(note)
    signed_by = parsed.verified_by(verifiers)
    if not signed_by:
        names = ", ".join(f"{v.name} ({v.key_id})" for v in verifiers) or "none"
        raise SignatureError(
            f"the note has no valid signature from a trusted key (trusted: {names}); "
            "it was forged, altered, or signed by a key you have not been given"
        )
    return parsed.text, signed_by


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement 'the log named origin has size entries and this root'."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text; raise ValidationError when it is not one."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise ValidationError("a checkpoint has an origin, a size and a root, one per line")
        origin, size_text, root_text, *extensions = lines[:-1]
        if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
            raise ValidationError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise ValidationError("checkpoint root is not base64") from exc
        if len(root) != 32 or not origin:
            raise ValidationError("checkpoint needs an origin and a 32-byte root hash")
        return cls(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(note: str, verifiers: list[Verifier]) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it states.

    Raises SignatureError if no trusted key signed it, ValidationError if malformed.
    """
    text, _ = open_note(note, verifiers)
    return Checkpoint.from_text(text)
