"""Which ledger key may sign a checkpoint of a given size, after key rotations (pure).

`auditml keys rotate` records `key.rotated` (purpose checkpoint, the new key's id) at seq
r and, in the same transaction, a checkpoint of size r + 1 signed by the old key: the old
key vouches for its successor. From then on only the new key may sign: a checkpoint
larger than r + 1 signed by the old key is a forgery made with a retired key.
"""

from __future__ import annotations

from dataclasses import dataclass


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
