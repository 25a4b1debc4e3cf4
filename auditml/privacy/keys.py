"""The privacy keys on disk: the key-encryption key and the subject lookup secret.

Both are 32 random bytes in files of mode 0600 in the key directory. Losing the KEK
makes every sealed value unreadable (as erasure does on purpose); losing the lookup
secret makes raw identifiers unlinkable to their tokens. Back both up with the ledger key.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from auditml.errors import ConfigError
from auditml.ledger.keys import write_private

KEK_FILE = "subjects.kek"
LOOKUP_FILE = "subjects.lookup"


@dataclass(frozen=True, repr=False)
class PrivacyKeys:
    """Secrets that never leave the key directory (repr hides them from logs)."""

    kek: bytes
    lookup_secret: bytes


def create_privacy_keys(key_dir: Path) -> PrivacyKeys:
    """Create both keys in key_dir unless they exist; return them."""
    for name in (KEK_FILE, LOOKUP_FILE):
        if not (key_dir / name).exists():
            write_private(key_dir / name, os.urandom(32))
    return load_privacy_keys(key_dir)


def load_privacy_keys(key_dir: Path) -> PrivacyKeys:
    """Load both keys; raise ConfigError if missing, readable by others, or malformed."""
    values = []
    for name in (KEK_FILE, LOOKUP_FILE):
        path = key_dir / name
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(
                f"no {name} in {key_dir}: recording subjects and personal data needs the "
                "privacy keys that `auditml init` creates; point AUDITML_HOME at the key directory"
            ) from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others; run chmod 600 {path}")
        if len(data) != 32:
            raise ConfigError(f"{path} is not a 32-byte key")
        values.append(data)
    return PrivacyKeys(kek=values[0], lookup_secret=values[1])
