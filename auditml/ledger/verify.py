"""Deep verification as a pure, streaming checker.

`ChainChecker` is fed stored rows in seq order and raises IntegrityError at the first
row that is wrong: a gap, a body that does not hash to its leaf, a body that is not
canonical, a broken `prev` chain, columns that disagree with the body, or time that
runs backwards. It rebuilds the Merkle tree as it goes so the caller can compare
roots at every checkpoint size and the stored tree nodes with the rebuilt ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from auditml.errors import IntegrityError
from auditml.events.envelope import ZERO_HASH
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize

# UTF-8 lead bytes of characters above U+FFFF: their keys sort differently in JCS.
_ASTRAL = re.compile(rb"[\xf0-\xf4]")
_COLUMNS = ("id", "type", "system", "recorded_at", "occurred_at", "subject")


def is_canonical(body: bytes, envelope: Any, saw_float: bool) -> bool:
    """Whether body is exactly the JCS encoding of the envelope parsed from it."""
    if not saw_float and not _ASTRAL.search(body):
        # Without floats or astral keys, Python's sorted compact dump is JCS.
        fast = json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return fast.encode() == body
    return canonicalize(envelope) == body


@dataclass
class ChainChecker:
    """Checks rows (seq, id, type, system, recorded_at, occurred_at, subject, body, leaf_hash)."""

    size: int = 0
    prev_hex: str = ZERO_HASH
    last_recorded_at: str = ""

    def __post_init__(self) -> None:
        self.tree = merkle.CompactRange(0, [])
        self.nodes: list[tuple[int, int, bytes]] = []

    def feed(self, row: Any) -> None:
        """Check one row; raise IntegrityError naming its seq if anything is wrong."""
        seq, event_id, event_type, system, recorded_at, occurred_at, subject, body, stored = row
        if seq != self.size:
            if seq > self.size:
                raise IntegrityError(
                    f"seq {self.size} is missing: the next stored row is seq {seq} "
                    "(rows were deleted)",
                    seq=self.size,
                )
            raise IntegrityError(f"seq {seq} appears twice or out of order", seq=seq)
        # An attacker's SQL can turn a BLOB into TEXT; judge the bytes, not the storage class.
        body = body.encode() if isinstance(body, str) else bytes(body)
        leaf = hashlib.sha256(merkle.LEAF_PREFIX + body).digest()
        if not isinstance(stored, (bytes, memoryview)) or leaf != bytes(stored):
            raise IntegrityError(
                f"seq {seq}: the stored body does not hash to the stored leaf hash "
                "(the body or the leaf hash was edited)",
                seq=seq,
            )
        floats = False

        def note_float(text: str) -> float:
            nonlocal floats
            floats = True
            return float(text)

        try:
            envelope = json.loads(body, parse_float=note_float)
        except ValueError as exc:
            raise IntegrityError(f"seq {seq}: the stored body is not JSON", seq=seq) from exc
        if not isinstance(envelope, dict):
            raise IntegrityError(f"seq {seq}: the stored body is not an envelope", seq=seq)
        claimed = envelope.get("seq")
        if claimed != seq:
            if isinstance(claimed, int) and claimed < seq:
                raise IntegrityError(
                    f"seq {seq} holds the entry signed as seq {claimed}: a row was inserted at or "
                    f"after seq {claimed} and the rows after it renumbered",
                    seq=claimed,
                )
            raise IntegrityError(
                f"seq {seq}: the body says seq {claimed!r} (rows were swapped or renumbered)",
                seq=seq,
            )
        if envelope.get("prev") != self.prev_hex:
            raise IntegrityError(
                f"seq {seq}: hash chain broken: prev is {str(envelope.get('prev'))[:16]}..., "
                f"expected the leaf hash of seq {seq - 1}, {self.prev_hex[:16]}... "
                "(an entry before it was changed, removed or inserted)",
                seq=seq,
            )
        for name, value in zip(_COLUMNS, (event_id, event_type, system, recorded_at, occurred_at, subject)):
            if envelope.get(name) != value:
                raise IntegrityError(
                    f"seq {seq}: column {name} is {value!r} but the signed body says "
                    f"{envelope.get(name)!r} (the column was edited)",
                    seq=seq,
                )
        if recorded_at < self.last_recorded_at:
            raise IntegrityError(
                f"seq {seq}: recorded_at {recorded_at} is earlier than the entry before it",
                seq=seq,
            )
        if not is_canonical(body, envelope, floats):
            raise IntegrityError(f"seq {seq}: the stored body is not canonical JSON (RFC 8785)", seq=seq)
        self.nodes.extend(self.tree.append(leaf))
        self.prev_hex = leaf.hex()
        self.last_recorded_at = recorded_at
        self.size += 1

    def root(self) -> bytes:
        return self.tree.root()
