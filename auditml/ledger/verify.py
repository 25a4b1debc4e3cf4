"""Deep verification as pure, streaming checkers.

`RowChecker` is fed stored rows in seq order and raises IntegrityError at the first
row that is wrong: a gap, a body that does not hash to its leaf, a body that is not
canonical, a broken `prev` chain, columns that disagree with the body, or time that
runs backwards. Rows can be checked in independent chunks (each seeded with the row
before it), which is how deep verification uses every core.

`TreeChecker` is fed the leaf hashes in order, rebuilds the Merkle tree, compares
every stored tree node as soon as the rebuild completes it and every checkpoint
root at its size.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from auditml.errors import IntegrityError, ValidationError
from auditml.events.envelope import ZERO_HASH
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.note import Checkpoint

# Where orjson's sorted output may differ from RFC 8785: a float token (in compact
# JSON, a number after '":', ',' or '[' that goes on with '.', 'e' or 'E'; the same
# bytes inside a string only cost the slower check), or a character above U+FFFF,
# whose keys sort differently by UTF-16 code units. Three regexes with a literal
# first byte each are ten times faster than one with alternatives.
_FLOAT_TOKENS = tuple(
    re.compile(prefix + rb"-?[0-9]+[.eE]") for prefix in (rb'":', rb",", rb"\[")
)
_ASTRAL = re.compile(rb"[\xf0-\xf4]")
_COLUMNS = ("id", "type", "system", "recorded_at", "occurred_at", "subject")


def is_canonical(body: bytes, envelope: Any) -> bool:
    """Whether body is exactly the RFC 8785 encoding of the envelope parsed from it."""
    plain = (body.isascii() or _ASTRAL.search(body) is None) and not any(
        pattern.search(body) for pattern in _FLOAT_TOKENS
    )
    if plain:
        return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS) == body
    try:
        return canonicalize(envelope) == body
    except ValidationError:
        return False


@dataclass
class RowChecker:
    """Checks rows (seq, id, type, system, recorded_at, occurred_at, subject, body, leaf_hash).

    `size` is the next seq expected; `prev_hex` the leaf hash the next row must chain
    to (None: a chunk whose predecessor is missing, which the chunk before reports).
    """

    size: int = 0
    prev_hex: str | None = ZERO_HASH
    last_recorded_at: str = ""

    def feed(self, row: Sequence[Any]) -> None:
        """Check one row; raise IntegrityError naming its seq if anything is wrong."""
        seq, event_id, event_type, system, recorded_at, occurred_at, subject, body, stored = row
        if seq != self.size:
            raise IntegrityError(
                f"seq {self.size} is missing: the next stored row is seq {seq} (rows were deleted)",
                seq=self.size,
            )
        # An attacker's SQL can turn a BLOB into TEXT; judge the bytes, not the storage class.
        body = body.encode() if isinstance(body, str) else bytes(body)
        leaf = hashlib.sha256(merkle.LEAF_PREFIX + body).digest()
        if not isinstance(stored, (bytes, memoryview)) or leaf != bytes(stored):
            raise IntegrityError(
                f"seq {seq}: the stored body does not hash to the stored leaf hash "
                "(the body or the leaf hash was edited)",
                seq=seq,
            )
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
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
                f"seq {seq}: the body says seq {claimed!r} (rows were swapped or renumbered)", seq=seq
            )
        if self.prev_hex is not None and envelope.get("prev") != self.prev_hex:
            raise IntegrityError(
                f"seq {seq}: hash chain broken: prev is {str(envelope.get('prev'))[:16]}..., "
                f"expected the leaf hash of seq {seq - 1}, {self.prev_hex[:16]}... "
                "(an entry before it was changed, removed or inserted)",
                seq=seq,
            )
        columns = (event_id, event_type, system, recorded_at, occurred_at, subject)
        signed = tuple(envelope.get(name) for name in _COLUMNS)
        if columns != signed:
            name, value, truth = next(c for c in zip(_COLUMNS, columns, signed) if c[1] != c[2])
            raise IntegrityError(
                f"seq {seq}: column {name} is {value!r} but the signed body says {truth!r} "
                "(the column was edited)",
                seq=seq,
            )
        if recorded_at < self.last_recorded_at:
            raise IntegrityError(
                f"seq {seq}: recorded_at {recorded_at} is earlier than the entry before it", seq=seq
            )
        if not is_canonical(body, envelope):
            raise IntegrityError(f"seq {seq}: the stored body is not canonical JSON (RFC 8785)", seq=seq)
        self.prev_hex = leaf.hex()
        self.last_recorded_at = recorded_at
        self.size += 1


@dataclass
class TreeChecker:
    """Rebuilds the tree from leaf hashes and checks stored nodes and checkpoint roots.

    `stored` maps (level, index) to the stored hash of every node the store keeps
    (levels that are positive multiples of `stride`); `targets` maps a tree size to
    the checkpoints (and what to call them) whose root must match at that size.
    """

    stored: Mapping[tuple[int, int], bytes]
    targets: Mapping[int, Sequence[tuple[Checkpoint, str]]]
    stride: int
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)
    checked_nodes: int = 0

    def __post_init__(self) -> None:
        self._check_roots()

    @property
    def size(self) -> int:
        return self.tree.size

    def feed(self, seq: int, leaf_hash: bytes) -> None:
        """Add the next leaf; raise IntegrityError at the first mismatch it completes."""
        if seq != self.tree.size:
            raise IntegrityError(
                f"seq {self.tree.size} is missing: the next stored row is seq {seq} (rows were deleted)",
                seq=self.tree.size,
            )
        for level, index, digest in self.tree.append(leaf_hash):
            if level % self.stride:
                continue
            if self.stored.get((level, index)) != digest:
                first, last = index << level, ((index + 1) << level) - 1
                state = "missing" if (level, index) not in self.stored else "different"
                raise IntegrityError(
                    f"the entries seq {first} to {last} do not match the stored tree node "
                    f"(level {level}, index {index}; {state}): an entry in that range was changed "
                    "and the chain rebuilt, or the node was edited",
                    seq=first,
                )
            self.checked_nodes += 1
        if self.tree.size in self.targets:
            self._check_roots()

    def _check_roots(self) -> None:
        for checkpoint, what in self.targets.get(self.tree.size, ()):
            if self.tree.root() != checkpoint.root:
                raise IntegrityError(
                    f"the entries up to seq {checkpoint.size - 1} do not have the root signed in the "
                    f"{what} of size {checkpoint.size}: history was rewritten (each entry checks out "
                    "on its own, so the whole chain was rebuilt after that checkpoint was signed)",
                    seq=max(checkpoint.size - 1, 0),
                )

    def finish(self) -> None:
        """Raise IntegrityError if stored nodes cover entries the ledger does not hold."""
        if self.checked_nodes != len(self.stored):
            extra = min(key for key in self.stored if (key[1] + 1) << key[0] > self.tree.size)
            raise IntegrityError(
                f"tree_nodes holds node (level {extra[0]}, index {extra[1]}) beyond the "
                f"{self.tree.size} entries of the ledger (entries were removed, or a node inserted)",
                seq=self.tree.size,
            )
