"""Which ledger key may sign a checkpoint of a given size, after key rotations (pure).

`auditml keys rotate` records `key.rotated` (purpose checkpoint, the new key's id) at seq
r and, in the same transaction, a checkpoint of size r + 1 signed by the old key: the old
key vouches for its successor. From then on only the new key may sign: a checkpoint
larger than r + 1 signed by the old key is a forgery made with a retired key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auditml.errors import IntegrityError, SignatureError, ValidationError
from auditml.ledger.note import Verifier, open_checkpoint


@dataclass(frozen=True)
class KeySchedule:
    """Key ids in force before any rotation, and each rotation as (seq, new key id)."""

    initial: frozenset[str]
    rotations: tuple[tuple[int, str], ...] = ()

    @classmethod
    def of(cls, trusted: set[str], rotations: list[tuple[int, str]]) -> KeySchedule:
        ordered = tuple(sorted(rotations))
        successors = {key_id for _, key_id in ordered}
        # Before the first rotation any trusted key that is nobody's successor may sign.
        return cls(frozenset(trusted - successors) or frozenset(trusted), ordered)

    def allowed(self, size: int) -> frozenset[str]:
        """The key ids that may sign a checkpoint of this tree size."""
        current = self.initial
        for seq, key_id in self.rotations:
            if size <= seq + 1:
                break
            current = frozenset({key_id})
        return current

    def rotated_at(self, size: int) -> int | None:
        """The seq of the last rotation before a checkpoint of this size, if any."""
        before = [seq for seq, _ in self.rotations if size > seq + 1]
        return before[-1] if before else None


def follow_rotations(
    trusted: Sequence[Verifier],
    candidates: Sequence[Verifier],
    rotations: list[tuple[int, str]],
    bindings: Mapping[int, str | None],
) -> list[Verifier]:
    """The trusted keys, extended by each candidate a rotation vouches for, in seq order.

    `bindings[r]` is the signed note of the checkpoint of size r + 1 (None if there is
    none): it must verify under the key in force before the rotation at r. A candidate
    no rotation names is left out; the caller decides what that means.
    Raises IntegrityError for a rotation to a key no such checkpoint vouches for.
    """
    keys = list(trusted)
    by_id = {k.key_id: k for k in candidates}
    for seq, key_id in sorted(rotations):
        if any(k.key_id == key_id for k in keys):
            continue
        allowed = KeySchedule.of({k.key_id for k in keys}, rotations).allowed(seq + 1)
        binding, successor = bindings.get(seq), by_id.get(key_id)
        try:
            if binding is None or successor is None:
                raise SignatureError("no checkpoint or no key")
            open_checkpoint(binding, [k for k in keys if k.key_id in allowed])
        except (SignatureError, ValidationError):
            raise IntegrityError(
                f"key.rotated at seq {seq} names checkpoint key {key_id}, but no checkpoint of "
                f"size {seq + 1} signed by the key it replaced vouches for it: someone added a "
                "key",
                seq=seq,
            ) from None
        keys.append(successor)
    return keys
