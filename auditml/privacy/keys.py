"""The privacy keys on disk: the key-encryption key and the subject lookup secret.

Both are 32 random bytes in files of mode 0600 in the key directory. Losing the KEK
makes every sealed value unreadable (as erasure does on purpose); losing the lookup
secret makes raw identifiers unlinkable to their tokens. Back both up with the ledger key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from auditml.errors import ConfigError
from auditml.ledger.keys import read_secret, write_private

KEK_FILE = "subjects.kek"
LOOKUP_FILE = "subjects.lookup"


@dataclass(frozen=True, repr=False)
class PrivacyKeys:
    """Secrets that never leave the key directory (repr hides them from logs)."""

    kek: bytes
    lookup_secret: bytes


def create_privacy_keys(key_dir: Path) -> PrivacyKeys:
    """Create both keys in key_dir unless they exist; return them.

    Raises ConfigError, before writing, when a key that exists is unusable (see
    `check_privacy_keys`).
    """
    check_privacy_keys(key_dir)
    for name in (KEK_FILE, LOOKUP_FILE):
        if not (key_dir / name).exists():
            write_private(key_dir / name, os.urandom(32))
    return load_privacy_keys(key_dir)


def check_privacy_keys(key_dir: Path) -> None:
    """Raise ConfigError if a privacy key that exists in key_dir is unusable (readable by
    others, or not 32 bytes): what `auditml init` checks before it writes anything."""
    for name in (KEK_FILE, LOOKUP_FILE):
        if (key_dir / name).exists():
            _read_key(key_dir, name)


def load_privacy_keys(key_dir: Path) -> PrivacyKeys:
    """Load both keys; raise ConfigError if missing, readable by others, or malformed."""
    return PrivacyKeys(
        kek=_read_key(key_dir, KEK_FILE), lookup_secret=_read_key(key_dir, LOOKUP_FILE)
    )


def _read_key(key_dir: Path, name: str) -> bytes:
    path = key_dir / name
    data = read_secret(
        path,
        f"no {name} in {key_dir}: recording subjects and personal data needs the "
        "privacy keys that `auditml init` creates; point AUDITML_HOME at the key directory",
    )
    if len(data) != 32:
        raise ConfigError(f"{path} is not a 32-byte key")
    return data
