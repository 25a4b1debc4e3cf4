"""The ledger's signing key on disk: Ed25519, PKCS#8 PEM, mode 0600.

The private key may be encrypted with a passphrase from AUDITML_KEY_PASSPHRASE.
Files are written to a temporary file created with mode 0600 and renamed into place,
so a key is never readable by others, not even for a moment. `read_secret` and
`check_key_dir` are the one check of every key file and key directory auditml reads
or writes: whoever else could write there could replace a key, or ledger.vkey, the
key checkpoints are trusted by.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.errors import ConfigError
from auditml.ledger.note import Signer, Verifier

LEDGER_KEY_FILE = "ledger.key"
LEDGER_VKEY_FILE = "ledger.vkey"
#: The key a rotation moves to, until the ledger has recorded it (see stage_next_ledger_key).
NEXT_KEY_FILE = "ledger.key.next"
PASSPHRASE_ENV = "AUDITML_KEY_PASSPHRASE"  # noqa: S105 (the variable name, not a secret)


#: Mode bits that let another user replace a file or the files of a directory.
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def _refuse_if_others_can_replace(path: Path, info: os.stat_result, what: str, fix: str) -> None:
    """Refuse `what` at `path` when its group or others may write it, or another user owns
    it; `fix` is the chmod that makes it safe."""
    mode = stat.S_IMODE(info.st_mode)
    if mode & _WRITABLE_BY_OTHERS:
        raise ConfigError(
            f"{what} {path} is writable by others (mode {mode:#o}): anyone could replace "
            f"the keys checkpoints are trusted by; run {fix} {path}"
        )
    owner = _owner_problem(path, info)
    if owner is not None:
        raise ConfigError(f"{what} {owner}; use a key directory of your own")


def _owner_problem(path: Path, info: os.stat_result) -> str | None:
    # Root may own a key directory set up for us; any other owner could chmod it open again.
    if info.st_uid in (os.geteuid(), 0):
        return None
    return (
        f"{path} belongs to user id {info.st_uid}, not to you (user id {os.geteuid()}), "
        "who could replace the keys in it"
    )


def check_key_dir(directory: Path) -> None:
    """Refuse a key directory that another user could write into (a missing one is fine:
    it is created with mode 0700).

    Raises ConfigError when the directory is writable by its group or others, or belongs
    to another user (root excepted), saying how to fix it; nothing has been written then.
    """
    try:
        info = directory.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot use the key directory {directory}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"the key directory {directory} is not a directory; point --home or "
            "AUDITML_HOME (key_dir) at a directory"
        )
    _refuse_if_others_can_replace(directory, info, "the key directory", "chmod 700")


def read_secret(path: Path, missing: str) -> bytes:
    """Read a private key file that only its owner (you, or root) can read or write, from
    a key directory that passes `check_key_dir`.

    Raises ConfigError with `missing` when there is no file, or saying what is wrong.
    """
    check_key_dir(path.parent)
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(missing) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the key {path}: {exc.strerror}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others (mode {mode:#o}); run chmod 600 {path}")
    owner = _owner_problem(path, info)
    if owner is not None:
        raise ConfigError(f"the key {owner}; use a key of your own")
    return data


def write_private(path: Path, data: bytes) -> None:
    """Write secret bytes atomically with mode 0600; refuse to overwrite an existing file.

    Raises ConfigError, before writing, if the file exists or its directory fails
    `check_key_dir`.
    """
    check_key_dir(path.parent)
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


def new_key_pem() -> tuple[Ed25519PrivateKey, bytes]:
    """A new Ed25519 key and its PKCS#8 PEM (encrypted with AUDITML_KEY_PASSPHRASE when set)."""
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
    return key, pem


def create_ledger_key(key_dir: Path, name: str) -> Signer:
    """Generate the ledger key in key_dir and return its signer.

    Raises ConfigError if a key already exists there.
    """
    key, pem = new_key_pem()
    signer = Signer(name, key)
    write_private(key_dir / LEDGER_KEY_FILE, pem)
    ignore_in_git(key_dir)
    write_public(key_dir / LEDGER_VKEY_FILE, signer.verifier.to_vkey() + "\n")
    return signer


def stage_next_ledger_key(key_dir: Path, name: str) -> Signer:
    """The key a rotation moves to, written beside the current one as ledger.key.next.

    A leftover from an interrupted rotation is reused (the caller checks whether the
    ledger already recorded it), so the key the ledger names is never lost.
    """
    path = key_dir / NEXT_KEY_FILE
    if path.exists():
        return _load_key_file(path, name)
    key, pem = new_key_pem()
    write_private(path, pem)
    return Signer(name, key)


def promote_next_ledger_key(key_dir: Path, next_key: Signer) -> None:
    """Finish a rotation: trust the next key's vkey too, and make it the signing key.

    The old private key is overwritten: checkpoints it signed stay verifiable by its
    vkey, which ledger.vkey keeps.
    """
    vkey_path = key_dir / LEDGER_VKEY_FILE
    known = load_vkey_file(vkey_path) if vkey_path.exists() else []
    if next_key.verifier not in known:
        lines = [k.to_vkey() for k in known] + [next_key.verifier.to_vkey()]
        write_public(vkey_path, "\n".join(lines) + "\n")
    os.replace(key_dir / NEXT_KEY_FILE, key_dir / LEDGER_KEY_FILE)


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
    return _load_key_file(key_dir / LEDGER_KEY_FILE, name)


def _load_key_file(path: Path, name: str) -> Signer:
    missing = (
        f"no ledger key at {path}; run `auditml init` or point AUDITML_HOME at the key directory"
    )
    return Signer(name, load_private_key(path, missing))


def load_private_key(path: Path, missing: str) -> Ed25519PrivateKey:
    """Load an Ed25519 PKCS#8 key file (mode 0600, passphrase from AUDITML_KEY_PASSPHRASE).

    Raises ConfigError with `missing` when there is no file, or saying what is wrong.
    """
    pem = read_secret(path, missing)
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
    return key


def load_vkey_file(path: Path) -> list[Verifier]:
    """Read verifier keys, one vkey a line.

    Raises ConfigError if the file cannot be read or is not text, ValidationError if a
    line is not a vkey.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read verifier key file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not a verifier key file: byte {exc.start} is not UTF-8 text; "
            "a vkey file holds one name+keyhash+base64key a line"
        ) from None
    return [Verifier.from_vkey(line) for line in text.splitlines() if line.strip()]


def key_dir_verifiers(key_dir: Path) -> list[Verifier] | None:
    """The verifier keys in key_dir's ledger.vkey, or None when there is no such file.

    They are what checkpoints are trusted by, so the directory must pass `check_key_dir`
    and the file be writable by its owner alone. Raises ConfigError otherwise, and as
    `load_vkey_file` does.
    """
    path = key_dir / LEDGER_VKEY_FILE
    if not path.exists():
        return None
    check_key_dir(key_dir)
    _refuse_if_others_can_replace(path, path.stat(), "the verifier key file", "chmod 644")
    return load_vkey_file(path)


def trusted_verifiers(values: Sequence[str], *, option: str = "--key") -> list[Verifier]:
    """Return the verifier keys given as vkey text or as files of vkeys (a `--key` list).

    A value that is not a file is read as a vkey only if it has a vkey's shape
    (name+keyhash+base64key); otherwise it was meant as a file. Raises ConfigError
    naming the path when that file does not exist, ValidationError for a malformed vkey.
    """
    trusted: list[Verifier] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            trusted += load_vkey_file(path)
        elif value.count("+") >= 2 and not path.exists():
            trusted.append(Verifier.from_vkey(value))
        else:
            problem = "is not a file" if path.exists() else "no such file"
            raise ConfigError(
                f"{option} {value}: {problem}; give a verifier key file (ledger.vkey) or "
                "the key itself (name+keyhash+base64key)"
            )
    return trusted
