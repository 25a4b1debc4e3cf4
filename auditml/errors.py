"""One exception hierarchy. Every error says what was wrong, where, and what to do.

The CLI turns these into a message and an exit code: `IntegrityError` (and its
subclasses) means a check found a problem (exit 1); everything else a user can
cause is a usage or configuration problem (exit 2).
"""

from __future__ import annotations


class AuditmlError(Exception):
    """Root of every error auditml raises on purpose."""

    exit_code = 2


class ValidationError(AuditmlError):
    """Input was refused: a bad event, a malformed file, a value out of range. Nothing was written."""


class ConfigError(AuditmlError):
    """Settings, key files or the ledger location are missing or wrong."""


class StorageError(AuditmlError):
    """The database could not be read or written."""


class TransientStorageError(StorageError):
    """A write was lost in a way that is safe to retry (connection lost, serialisation)."""


class NotFinalError(StorageError):
    """An erasure or purge is recorded and its keys deleted, but old copies of them are
    still in the database's files (a reader held an old snapshot): not final on disk yet."""

    exit_code = 1


class NotFoundError(AuditmlError):
    """A requested event, checkpoint or key does not exist."""


class IntegrityError(AuditmlError):
    """Evidence is tampered with or broken: a hash, a proof or a signature does not verify."""

    exit_code = 1

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        #: The first ledger position found bad, when the failure is tied to one.
        self.seq = seq


class ProofError(IntegrityError):
    """A Merkle inclusion or consistency proof does not verify."""


class SignatureError(IntegrityError):
    """A signed note (checkpoint) has no valid signature from a trusted key."""
