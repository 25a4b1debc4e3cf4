"""Deep verification as pure, streaming checkers.

`RowChecker` is fed stored rows in seq order and raises IntegrityError at the first
row that is wrong: a gap, a body that does not hash to its leaf, a body that is not
canonical, a broken `prev` chain, columns that disagree with the body, or time that
runs backwards. Rows can be checked in independent chunks (each seeded with the row
before it), which is how deep verification uses every core.

`ChunkTree` rebuilds the Merkle tree inside one chunk, comparing every stored node
as soon as the rebuild completes it; `TreeJoiner` joins chunk summaries into the
whole tree and checks the higher nodes and every checkpoint root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
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
_FLOAT_TOKENS = tuple(re.compile(prefix + rb"-?[0-9]+[.eE]") for prefix in (rb'":', rb",", rb"\["))
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
        if type(body) is not bytes:
            # An attacker's SQL can turn a BLOB into TEXT; judge the bytes, not the storage class.
            body = body.encode() if isinstance(body, str) else bytes(body)
        leaf = _sha256(b"\x00" + body).digest()
        if leaf != stored:
            raise IntegrityError(
                f"seq {seq}: the stored body does not hash to the stored leaf hash "
                "(the body or the leaf hash was edited)",
                seq=seq,
            )
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise IntegrityError(f"seq {seq}: the stored body is not JSON", seq=seq) from exc
        if type(envelope) is not dict:
            raise IntegrityError(f"seq {seq}: the stored body is not an envelope", seq=seq)
        get = envelope.get
        if get("seq") != seq:
            self._wrong_seq(seq, get("seq"))
        if self.prev_hex is not None and get("prev") != self.prev_hex:
            raise IntegrityError(
                f"seq {seq}: hash chain broken: prev is {str(get('prev'))[:16]}..., "
                f"expected the leaf hash of seq {seq - 1}, {self.prev_hex[:16]}... "
                "(an entry before it was changed, removed or inserted)",
                seq=seq,
            )
        if (
            get("id") != event_id
            or get("type") != event_type
            or get("system") != system
            or get("recorded_at") != recorded_at
            or get("occurred_at") != occurred_at
            or get("subject") != subject
        ):
            columns = (event_id, event_type, system, recorded_at, occurred_at, subject)
            name, value, truth = next(
                (name, value, get(name))
                for name, value in zip(_COLUMNS, columns, strict=True)
                if get(name) != value
            )
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
            raise IntegrityError(
                f"seq {seq}: the stored body is not canonical JSON (RFC 8785)", seq=seq
            )
        self.prev_hex = leaf.hex()
        self.last_recorded_at = recorded_at
        self.size = seq + 1

    @staticmethod
    def _wrong_seq(seq: int, claimed: object) -> None:
        if isinstance(claimed, int) and claimed < seq:
            raise IntegrityError(
                f"seq {seq} holds the entry signed as seq {claimed}: a row was inserted at or "
                f"after seq {claimed} and the rows after it renumbered",
                seq=claimed,
            )
        raise IntegrityError(
            f"seq {seq}: the body says seq {claimed!r} (rows were swapped or renumbered)", seq=seq
        )


def _node_mismatch(level: int, index: int, present: bool) -> IntegrityError:
    first, last = index << level, ((index + 1) << level) - 1
    state = "different" if present else "missing"
    return IntegrityError(
        f"the entries seq {first} to {last} do not match the stored tree node "
        f"(level {level}, index {index}; {state}): an entry in that range was changed "
        "and the chain rebuilt, or the node was edited",
        seq=first,
    )


def _root_mismatch(checkpoint: Checkpoint, what: str) -> IntegrityError:
    return IntegrityError(
        f"the entries up to seq {checkpoint.size - 1} do not have the root signed in the "
        f"{what} of size {checkpoint.size}: history was rewritten (each entry checks out "
        "on its own, so the whole chain was rebuilt after that checkpoint was signed)",
        seq=max(checkpoint.size - 1, 0),
    )


@dataclass
class ChunkTree:
    """Rebuilds the tree over one chunk of leaves and checks the stored nodes inside it.

    The chunk starts at leaf `offset`, a multiple of 2**`top_level`, and holds at most
    that many leaves, so every subtree completed here is a subtree of the whole tree.
    `stored` maps (level, index) to the stored hash of the nodes inside the chunk;
    `snapshot_at` lists the ledger sizes (inside the chunk) whose local frontier the
    caller needs to check a checkpoint root.
    """

    stored: Mapping[tuple[int, int], bytes]
    stride: int
    offset: int = 0
    snapshot_at: frozenset[int] = frozenset()
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)
    checked_nodes: int = 0
    snapshots: dict[int, tuple[bytes, ...]] = field(default_factory=dict)

    def feed(self, seq: int, leaf_hash: bytes) -> None:
        """Add the next leaf; raise IntegrityError at the first stored node it contradicts."""
        expected = self.offset + self.tree.size
        if seq != expected:
            raise IntegrityError(
                f"seq {expected} is missing: the next stored row is seq {seq} (rows were deleted)",
                seq=expected,
            )
        for level, index, digest in self.tree.append(leaf_hash):
            if level % self.stride:
                continue
            node = (level, index + (self.offset >> level))
            if self.stored.get(node) != digest:
                raise _node_mismatch(*node, node in self.stored)
            self.checked_nodes += 1
        if seq + 1 in self.snapshot_at:
            self.snapshots[seq + 1] = self.tree.hashes


@dataclass
class ChunkResult:
    """What checking one chunk established: its first failure, or its tree summary."""

    start: int
    stop: int
    failure: tuple[int, str] | None = None
    frontier: tuple[bytes, ...] = ()
    snapshots: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    checked_nodes: int = 0


@dataclass
class TreeJoiner:
    """Joins chunk results, in seq order, into the whole tree; checks what spans chunks.

    Every chunk but the last is a perfect subtree at `chunk_level`. The joiner checks the
    stored nodes above that level (`stored_high`) and every checkpoint root, raising the
    earliest failure first: a chunk's own failure, then roots and nodes it completes.
    """

    stored_high: Mapping[tuple[int, int], bytes]
    targets: Mapping[int, Sequence[tuple[Checkpoint, str]]]
    stride: int
    chunk_level: int
    chunks: merkle.CompactRange = field(default_factory=merkle.CompactRange)
    checked_nodes: int = 0

    def __post_init__(self) -> None:
        for checkpoint, what in self.targets.get(0, ()):
            if checkpoint.root != merkle.EMPTY_ROOT:
                raise _root_mismatch(checkpoint, what)

    def add(self, result: ChunkResult) -> None:
        if result.failure is not None:
            seq, message = result.failure
            raise IntegrityError(message, seq=seq)
        prefix = self.chunks.hashes
        for size, local in sorted(result.snapshots.items()):
            root = merkle.fold_subtrees([*prefix, *local])
            for checkpoint, what in self.targets.get(size, ()):
                if root != checkpoint.root:
                    raise _root_mismatch(checkpoint, what)
        self.checked_nodes += result.checked_nodes
        if result.stop - result.start == 1 << self.chunk_level:
            for level, index, digest in self.chunks.append(merkle.fold_subtrees(result.frontier)):
                level += self.chunk_level
                if level % self.stride:
                    continue
                if self.stored_high.get((level, index)) != digest:
                    raise _node_mismatch(level, index, (level, index) in self.stored_high)
                self.checked_nodes += 1

    def finish(self, size: int, stored_total: int, first_extra: tuple[int, int] | None) -> None:
        """Raise IntegrityError if stored nodes cover entries the ledger does not hold."""
        if self.checked_nodes != stored_total:
            level, index = first_extra or (0, size)
            raise IntegrityError(
                f"tree_nodes holds node (level {level}, index {index}) beyond the {size} "
                "entries of the ledger (entries were removed, or a node inserted)",
                seq=size,
            )
