"""Deep verification as pure, streaming checkers.

`RowChecker` is fed stored rows in seq order and raises IntegrityError at the first
row that is wrong: a gap, a body that does not hash to its leaf, a body that is not
canonical, a broken `prev` chain, columns that disagree with the body, or time that
runs backwards. Rows can be checked in independent chunks (each seeded with the row
before it), which is how deep verification uses every core.

`check_chunk_tree` rebuilds the Merkle tree inside one chunk and compares every
stored node in it; `TreeJoiner` joins chunk summaries into the
whole tree and checks the higher nodes and every checkpoint root.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256 as _sha256
from operator import itemgetter
from typing import Any

import orjson

from auditml.errors import IntegrityError, ValidationError
from auditml.events.envelope import ZERO_HASH
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.note import Checkpoint

# orjson's sorted compact output is RFC 8785 except for floats (its number formatting
# differs from ECMAScript's), unsafe integers (refused with OPT_STRICT_INTEGER) and keys
# holding characters above U+FFFF (UTF-16 code units sort them differently). Bodies
# without those are judged by one byte comparison; the rest go through canonicalize.
_ASTRAL = re.compile(rb"[\xf0-\xf4]")
_FAST_DUMPS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_COLUMNS = ("id", "type", "system", "recorded_at", "occurred_at", "subject")
_PICK = itemgetter("seq", "prev", *_COLUMNS)


def _has_float(value: Any) -> bool:
    # value is a parsed dict or list. Walking it is about twice as fast as searching the bytes for float
    # tokens, and cannot be fooled by digits inside strings.
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and _has_float(item)):
            return True
    return False


def is_canonical(body: bytes, envelope: dict[str, Any]) -> bool:
    """Whether body is exactly the RFC 8785 encoding of the envelope parsed from it."""
    if (body.isascii() or _ASTRAL.search(body) is None) and not _has_float(envelope):
        try:
            return orjson.dumps(envelope, option=_FAST_DUMPS) == body
        except orjson.JSONEncodeError:  # an integer beyond +-(2**53 - 1)
            return False
    try:
        return canonicalize(envelope) == body
    except ValidationError:
        return False


def _check_columns(seq: int, packed: bytes | str, claimed: Sequence[Any]) -> None:
    """Raise IntegrityError if the stored columns differ from the values in the body."""
    try:
        stored = orjson.loads(packed)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(f"seq {seq}: the stored columns cannot be read", seq=seq) from exc
    for name, value, truth in zip(_COLUMNS, stored, claimed, strict=True):
        if value != truth or type(value) is not type(truth):
            raise IntegrityError(
                f"seq {seq}: column {name} is {value!r} but the signed body says {truth!r} "
                "(the column was edited)",
                seq=seq,
            )


@dataclass
class RowChecker:
    """Checks stored rows (seq, columns as a JSON array, body, leaf_hash): see Store.raw_event_rows.

    `size` is the next seq expected; `prev_hex` the leaf hash the next row must chain
    to (None: a chunk whose predecessor is missing, which the chunk before reports).
    """

    size: int = 0
    prev_hex: str | None = ZERO_HASH
    last_recorded_at: str = ""

    def check(self, rows: Iterable[Sequence[Any]], leaves: list[bytes]) -> None:
        """Check rows in order, appending each leaf hash to `leaves`.

        Raises IntegrityError naming the first bad seq; `leaves` then holds the leaf
        hashes of the rows before it. One loop with local state, because it runs once
        per ledger entry.
        """
        expected, prev_hex, last_recorded_at = self.size, self.prev_hex, self.last_recorded_at
        add_leaf, loads, dumps, pick = leaves.append, orjson.loads, orjson.dumps, _PICK
        for row in rows:
            seq, columns, body, stored = row
            if seq != expected:
                raise IntegrityError(
                    f"seq {expected} is missing: the next stored row is seq {seq} "
                    "(rows were deleted)",
                    seq=expected,
                )
            if type(body) is not bytes:
                # An attacker's SQL can turn a BLOB into TEXT; judge the bytes, not the
                # storage class.
                body = body.encode() if isinstance(body, str) else bytes(body)
            leaf = _sha256(b"\x00" + body).digest()
            if leaf != stored:
                raise IntegrityError(
                    f"seq {seq}: the stored body does not hash to the stored leaf hash "
                    "(the body or the leaf hash was edited)",
                    seq=seq,
                )
            try:
                envelope = loads(body)
            except orjson.JSONDecodeError as exc:
                raise IntegrityError(f"seq {seq}: the stored body is not JSON", seq=seq) from exc
            if type(envelope) is not dict:
                raise IntegrityError(f"seq {seq}: the stored body is not an envelope", seq=seq)
            try:
                picked = pick(envelope)
            except KeyError:
                picked = tuple(envelope.get(name) for name in ("seq", "prev", *_COLUMNS))
            claimed_seq = picked[0]
            if claimed_seq != seq or type(claimed_seq) is not int:
                self._wrong_seq(seq, claimed_seq)
            if prev_hex is not None and picked[1] != prev_hex:
                raise IntegrityError(
                    f"seq {seq}: hash chain broken: prev is {str(picked[1])[:16]}..., "
                    f"expected the leaf hash of seq {seq - 1}, {prev_hex[:16]}... "
                    "(an entry before it was changed, removed or inserted)",
                    seq=seq,
                )
            claimed = picked[2:]
            if dumps(claimed) != columns:
                # Byte-equal is the fast path; the database may encode JSON differently.
                _check_columns(seq, columns, claimed)
            recorded_at = claimed[3]
            if type(recorded_at) is not str or recorded_at < last_recorded_at:
                raise IntegrityError(
                    f"seq {seq}: recorded_at {recorded_at} is earlier than the entry before it",
                    seq=seq,
                )
            if not is_canonical(body, envelope):
                raise IntegrityError(
                    f"seq {seq}: the stored body is not canonical JSON (RFC 8785)", seq=seq
                )
            add_leaf(leaf)
            prev_hex = leaf.hex()
            last_recorded_at = recorded_at
            expected = seq + 1
        self.size, self.prev_hex, self.last_recorded_at = expected, prev_hex, last_recorded_at

    @staticmethod
    def _wrong_seq(seq: int, claimed: object) -> None:
        if type(claimed) is int and claimed < seq:
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


def check_chunk_tree(
    leaves: Sequence[bytes],
    stored: Mapping[tuple[int, int], bytes],
    stride: int,
    offset: int = 0,
    snapshot_at: frozenset[int] = frozenset(),
) -> tuple[tuple[bytes, ...], dict[int, tuple[bytes, ...]], int]:
    """Rebuild the tree over one chunk of leaves and check the stored nodes inside it.

    The chunk starts at leaf `offset`, a multiple of 2**(its top level), so every subtree
    rebuilt here is a subtree of the whole tree. `stored` maps (level, index) to the
    stored hash of the nodes inside the chunk; `snapshot_at` lists the ledger sizes
    (inside the chunk) whose local frontier the caller needs to check a checkpoint root.
    Returns (the chunk's frontier, {size: frontier}, how many stored nodes were checked).
    Raises IntegrityError for the contradicted node that an append in seq order would
    have completed first.
    """
    levels = merkle.subtree_levels(leaves)
    first_bad: tuple[int, int, int] | None = None  # (leaves up to, level, index)
    checked = 0
    for level in range(stride, len(levels), stride):
        base = offset >> level
        get = stored.get
        for index, digest in enumerate(levels[level]):
            if get((level, base + index)) != digest:
                bad = ((index + 1) << level, level, base + index)
                first_bad = bad if first_bad is None else min(first_bad, bad)
                break
            checked += 1
    if first_bad is not None:
        _, level, index = first_bad
        raise _node_mismatch(level, index, (level, index) in stored)
    snapshots = {size: merkle.frontier_from_levels(levels, size - offset) for size in snapshot_at}
    return merkle.frontier_from_levels(levels, len(leaves)), snapshots, checked


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

    def accounts_for(self, size: int, head: int, stored_total: int) -> bool:
        """Whether `stored_total` nodes, counted when the ledger held `head` >= `size`
        entries, are exactly the nodes checked here (the tree of `size`) and those the
        entries from `size` to `head` completed."""
        appended = stored_node_count(head, self.stride) - stored_node_count(size, self.stride)
        return stored_total == self.checked_nodes + appended

    def finish(
        self, size: int, head: int, stored_total: int, first_extra: tuple[int, int] | None
    ) -> None:
        """Raise IntegrityError if stored nodes cover entries the ledger does not hold.

        `stored_total` is the node count in a snapshot whose ledger held `head` entries;
        `first_extra` is that snapshot's first node beyond them, if any.
        """
        if not self.accounts_for(size, head, stored_total):
            level, index = first_extra or (0, head)
            raise IntegrityError(
                f"tree_nodes holds node (level {level}, index {index}) beyond the {head} "
                "entries of the ledger (entries were removed, or a node inserted)",
                seq=head,
            )


def stored_node_count(size: int, stride: int) -> int:
    """How many nodes the tree of `size` leaves stores: its complete perfect subtrees at
    every level that is a positive multiple of `stride` (docs/FORMAT.md)."""
    return sum(size >> level for level in range(stride, size.bit_length(), stride))
