"""The ledger's signing key on disk: Ed25519, PKCS#8 PEM, mode 0600.

The private key may be encrypted with a passphrase from AUDITML_KEY_PASSPHRASE.
Files are written to a temporary file created with mode 0600 and renamed into place,
so a key is never readable by others, not even for a moment.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.errors import ConfigError
from auditml.ledger.note import Signer, Verifier

LEDGER_KEY_FILE = "ledger.key"
LEDGER_VKEY_FILE = "ledger.vkey"
PASSPHRASE_ENV = "AUDITML_KEY_PASSPHRASE"  # noqa: S105 (the variable name, not a secret)


def write_private(path: Path, data: bytes) -> None:
    """Write secret bytes atomically with mode 0600; refuse to overwrite an existing file."""
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_public(path: Path, text: str) -> None:
    """Write a public file atomically (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def create_ledger_key(key_dir: Path, name: str) -> Signer:
    """Generate the ledger key in key_dir and return its signer.

    Raises ConfigError if a key already exists there.
    """
    key = Ed25519PrivateKey.generate()
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    signer = Signer(name, key)
    write_private(key_dir / LEDGER_KEY_FILE, pem)
    ignore_in_git(key_dir)
    write_public(key_dir / LEDGER_VKEY_FILE, signer.verifier.to_vkey() + "\n")
    return signer


def ignore_in_git(key_dir: Path) -> None:
    # A key directory inside a repository must never be committed by accident: it
    # ignores itself (git reads .gitignore files in any directory).
    marker = key_dir / ".gitignore"
    if not marker.exists():
        marker.write_text("# auditml keys: never commit these\n*\n")


def load_ledger_key(key_dir: Path, name: str) -> Signer:
    """Load the ledger's signing key.

    Raises ConfigError when the file is missing, readable by others, encrypted without
    a passphrase in AUDITML_KEY_PASSPHRASE, or not an Ed25519 key.
    """
    path = key_dir / LEDGER_KEY_FILE
    try:
        mode = path.stat().st_mode
        pem = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no ledger key at {path}; run `auditml init` or point AUDITML_HOME at the key directory"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {oct(mode & 0o777)}); run chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=_passphrase())
    except TypeError as exc:
        raise ConfigError(f"{path} is encrypted; set {PASSPHRASE_ENV} to its passphrase") from exc
    except ValueError as exc:
        raise ConfigError(
            f"cannot load {path}: wrong passphrase in {PASSPHRASE_ENV} or not a PEM key"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return Signer(name, key)


def load_vkey_file(path: Path) -> list[Verifier]:
    """Read verifier keys, one vkey a line; raise ConfigError if the file is missing."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read verifier key file {path}: {exc.strerror}") from exc
    return [Verifier.from_vkey(line) for line in text.splitlines() if line.strip()]
