"""RFC 9162 (RFC 6962) Merkle tree math as pure functions: ints and bytes in, bytes out.

Hashing follows RFC 9162 section 2.1 exactly::

    leaf hash        = SHA-256(0x00 || data)
    interior node    = SHA-256(0x01 || left || right)
    MTH({})          = SHA-256("")
    MTH(D[n]), n > 1 = node(MTH(D[0:k]), MTH(D[k:n])), k = largest power of two < n

The API mirrors transparency-dev/merkle (Go): proof *builders* over all leaves (for tests
and small trees), *node addresses* so a store can fetch only O(log n) hashes, proof
*verifiers*, and a compact range (the frontier) for incremental appends.

Node addresses: a perfect subtree ``(level, index)`` covers the leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf hash. A proof element is the
MTH of a leaf range ``[begin, end)``; ``perfect_subtrees`` splits such a range into stored
perfect subtrees and ``fold_subtrees`` turns their hashes back into the range's MTH.

Errors: verification failures raise ``ProofError`` naming what failed (it never returns a
bool). Calling a builder or the compact range with arguments outside its preconditions
(a negative size, an index past the end, a hash that is not 32 bytes) raises
``ValidationError``: that is a caller's mistake, not evidence of tampering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256 as _sha256

from auditml.errors import ProofError, ValidationError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = _sha256(b"").digest()

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "CompactRange",
    "consistency_proof",
    "consistency_ranges",
    "fold_subtrees",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "inclusion_ranges",
    "perfect_subtrees",
    "range_hash",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]


# --------------------------------------------------------------------------- hashing


def hash_leaf(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data) (32 bytes). Never raises."""
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right) (32 bytes).

    Precondition: both inputs are 32-byte hashes. Not checked here because this sits in
    every hot loop; the public functions check their inputs once at the boundary.
    """
    return _sha256(NODE_PREFIX + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    """Raise ValidationError unless value is a 32-byte bytes object (builder-side check)."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValidationError(f"{what} must be {HASH_SIZE} bytes, got {_describe(value)}")


def _check_proof_hash(value: bytes, what: str) -> None:
    """Raise ProofError unless value is a 32-byte bytes object (verifier-side check)."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {_describe(value)}")


def _describe(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{len(value)} bytes"
    return type(value).__name__


def _largest_power_of_two_below(n: int) -> int:
    """Return the split point k of RFC 9162: the largest power of two strictly below n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- roots


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return MTH over already-hashed leaves: EMPTY_ROOT for none, in O(n) time, O(log n) memory.

    Raises ValidationError if a leaf hash is not 32 bytes.
    """
    # A binary counter over perfect subtrees (the frontier): leaf i merges with one stack
    # entry per trailing one bit of i. Folding the final stack right-to-left gives MTH,
    # because the frontier is exactly the RFC split of [0, n) into decreasing powers of two.
    stack: list[bytes] = []
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")
        n = i
        while n & 1:
            h = _sha256(NODE_PREFIX + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
    return fold_subtrees(stack)


# --------------------------------------------------------------------------- node addresses


def _check_size(size: int, what: str = "tree size") -> None:
    if size < 0:
        raise ValidationError(f"{what} must be >= 0, got {size}")


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges [begin, end) whose MTHs, in order, are the inclusion proof.

    The order is RFC 9162 PATH order (bottom-up: the sibling of the leaf first). Each range
    starts at a multiple of some 2**L and ends at min(begin + 2**L, size), so it can be
    passed to ``perfect_subtrees``. Length is O(log size); no hashing happens.

    Precondition: 0 <= index < size. Raises ValidationError otherwise.
    """
    _check_size(size)
    if not 0 <= index < size:
        raise ValidationError(f"leaf index {index} is out of range for tree size {size}")
    # Walk PATH(m, D[n]) top-down; each step emits the MTH of the half not containing the
    # leaf, so reversing gives the RFC's leaf-to-root order.
    out: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        split = begin + _largest_power_of_two_below(end - begin)
        if index < split:
            out.append((split, end))
            end = split
        else:
            out.append((begin, split))
            begin = split
    out.reverse()
    return out


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Return the leaf ranges [begin, end) whose MTHs, in order, are the consistency proof.

    Follows RFC 9162 SUBPROOF(m, D[n], true). Returns [] when size1 == 0 or size1 == size2
    (the proof is empty). Ranges have the same alignment property as ``inclusion_ranges``.

    Precondition: 0 <= size1 <= size2. Raises ValidationError otherwise.
    """
    _check_size(size1, "old tree size")
    _check_size(size2, "new tree size")
    if size1 > size2:
        raise ValidationError(f"old tree size {size1} is larger than new tree size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    out: list[tuple[int, int]] = []
    begin, end = 0, size2
    # `whole` is SUBPROOF's b flag: true while the old tree is still the entire left edge of
    # the subtree under consideration, in which case the verifier already knows its hash.
    whole = True
    while size1 != end:
        split = begin + _largest_power_of_two_below(end - begin)
        if size1 <= split:
            out.append((split, end))
            end = split
        else:
            out.append((begin, split))
            begin = split
            whole = False
    if not whole:
        out.append((begin, end))
    out.reverse()
    return out


def perfect_subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """Return the (level, index) perfect subtrees that exactly cover [begin, end), left to right.

    The range must be one whose MTH is a fold of aligned perfect subtrees, i.e. every range
    returned by ``inclusion_ranges``/``consistency_ranges`` and every [0, size): for
    end - begin = n > 1, begin must be a multiple of the largest power of two below n.
    Returns [] for an empty range. Levels strictly decrease, except that a range that is
    itself an aligned perfect subtree comes back as that single subtree.

    Raises ValidationError if 0 <= begin <= end does not hold or the range is not aligned.
    """
    if not 0 <= begin <= end:
        raise ValidationError(f"invalid leaf range [{begin}, {end})")
    n = end - begin
    if n > 1:
        k = _largest_power_of_two_below(n)
        if begin & (k - 1):
            # Its RFC split point is not a subtree boundary, so no stored node can serve it.
            raise ValidationError(
                f"leaf range [{begin}, {end}) is not aligned: begin must be a multiple of {k}"
            )
    out: list[tuple[int, int]] = []
    pos = begin
    while pos < end:
        # Greedy: the largest subtree that starts at pos (alignment) and fits in what is left.
        level = (end - pos).bit_length() - 1
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)
        out.append((level, pos >> level))
        pos += 1 << level
    return out


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Return the MTH of a range from its left-to-right perfect subtree hashes.

    This is a right fold: h = last; for x in reversed(rest): h = hash_children(x, h), which
    matches MTH because the subtrees of an aligned range decrease in size left to right.
    Returns EMPTY_ROOT (MTH of no leaves) for an empty list.

    Precondition: ``hashes`` are the hashes of ``perfect_subtrees(begin, end)`` for one range.
    Raises ValidationError if a hash is not 32 bytes.
    """
    if not hashes:
        return EMPTY_ROOT
    for i, x in enumerate(hashes):
        _check_hash(x, f"subtree hash {i}")
    h = hashes[-1]
    for x in reversed(hashes[:-1]):
        h = _sha256(NODE_PREFIX + x + h).digest()
    return h


def subtree_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Return every perfect subtree hash over the leaves, level by level.

    ``levels[L][i]`` is the hash of subtree ``(L, i)`` (level 0 is the leaves themselves);
    an odd node at the end of a level has no parent yet. Level by level is several times
    faster in Python than appending leaf by leaf, which is why bulk rebuilds use it.
    Precondition: every leaf hash is 32 bytes (not checked: this is a hot path).
    """
    levels = [list(leaf_hashes)]
    level = levels[0]
    while len(level) > 1:
        level = [
            _sha256(NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        levels.append(level)
    return levels


def frontier_from_levels(levels: Sequence[Sequence[bytes]], size: int) -> tuple[bytes, ...]:
    """Return the compact range (largest subtree first) of the first ``size`` leaves.

    ``levels`` is :func:`subtree_levels` over at least ``size`` leaves.
    """
    return tuple(
        levels[level][(size >> level) - 1]
        for level in range(size.bit_length() - 1, -1, -1)
        if (size >> level) & 1
    )


def range_hash(begin: int, end: int, subtree_hash: Callable[[int, int], bytes]) -> bytes:
    """Return the MTH of leaves [begin, end), fetching subtrees via subtree_hash(level, index).

    Preconditions and errors are those of ``perfect_subtrees`` and ``fold_subtrees``;
    whatever ``subtree_hash`` raises propagates unchanged.
    """
    return fold_subtrees([subtree_hash(lv, i) for lv, i in perfect_subtrees(begin, end)])


# --------------------------------------------------------------------------- proof builders


def _check_leaves(size: int, leaf_hashes: Sequence[bytes]) -> None:
    if len(leaf_hashes) < size:
        raise ValidationError(f"tree size {size} needs {size} leaf hashes, got {len(leaf_hashes)}")


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the RFC 9162 2.1.3.1 inclusion proof PATH(index, D[size]) (bottom-up).

    Uses the first ``size`` entries of ``leaf_hashes`` and hashes all of them: O(size). Meant
    for tests and small trees; a store should use ``inclusion_ranges`` instead.

    Preconditions: 0 <= index < size <= len(leaf_hashes); hashes are 32 bytes.
    Raises ValidationError otherwise.
    """
    ranges = inclusion_ranges(index, size)
    _check_leaves(size, leaf_hashes)
    return [root(leaf_hashes[b:e]) for b, e in ranges]


def consistency_proof(size1: int, size2: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the RFC 9162 2.1.4.1 consistency proof PROOF(size1, D[size2]).

    Empty when size1 == 0 or size1 == size2. Uses the first ``size2`` entries of
    ``leaf_hashes``: O(size2). Meant for tests and small trees; a store should use
    ``consistency_ranges`` instead.

    Preconditions: 0 <= size1 <= size2 <= len(leaf_hashes); hashes are 32 bytes.
    Raises ValidationError otherwise.
    """
    ranges = consistency_ranges(size1, size2)
    _check_leaves(size2, leaf_hashes)
    return [root(leaf_hashes[b:e]) for b, e in ranges]


# --------------------------------------------------------------------------- verifiers


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """Return (inner, border) for leaf ``index`` < ``size``: the proof has inner + border hashes.

    ``inner`` hashes sit below the level where the path to ``index`` and the path to the
    last leaf (size - 1) meet; their sides follow the bits of ``index``. Above that, the
    path runs along the right border, where only left siblings exist: one per set bit of
    ``index >> inner``.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _check_proof(proof: Sequence[bytes], what: str) -> None:
    for i, p in enumerate(proof):
        _check_proof_hash(p, f"{what} hash {i}")


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root implied by an inclusion proof for ``leaf_hash`` at ``index`` in ``size``.

    The caller compares it with a trusted root (or use ``verify_inclusion``). Raises
    ProofError if index is not in [0, size), if the leaf hash or a proof hash is not
    32 bytes, or if the proof does not have exactly the length RFC 9162 prescribes for
    (index, size).
    """
    if size <= 0 or not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for tree size {size}")
    _check_proof_hash(leaf_hash, "leaf hash")
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof for leaf index {index} in tree size {size} has {len(proof)} "
            f"hashes, expected {inner + border}"
        )
    _check_proof(proof, "inclusion proof")
    h = leaf_hash
    for i in range(inner):
        # Bit i of the index says whether we are the right (1) or left (0) child at level i.
        if (index >> i) & 1:
            h = _sha256(NODE_PREFIX + proof[i] + h).digest()
        else:
            h = _sha256(NODE_PREFIX + h + proof[i]).digest()
    for p in proof[inner:]:
        h = _sha256(NODE_PREFIX + p + h).digest()
    return h


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Returns None on success. Raises ProofError naming the index, size, and expected vs
    computed root (hex) on a mismatch, and for every error of ``root_from_inclusion`` or a
    root that is not 32 bytes.

    Note: as in RFC 9162, a proof binds the size only through its shape. When (index, size')
    has the same proof shape as (index, size) the same proof verifies for both; the size is
    bound by the signed checkpoint that carries the root.
    """
    _check_proof_hash(root, "root")
    computed = root_from_inclusion(index, size, leaf_hash, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf index {index} in tree size {size} does not verify: "
            f"computed root {computed.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2).

    Implements RFC 9162 2.1.4.2 (in the transparency-dev/merkle formulation). Returns None
    on success. Raises ProofError when:

    - a size is negative or size1 > size2;
    - a root or proof hash is not 32 bytes;
    - size1 == size2 and the proof is not empty or root1 != root2;
    - size1 == 0 and the proof is not empty or root1 is not EMPTY_ROOT (with both true,
      consistency holds trivially: every tree extends the empty tree);
    - the proof length is not exactly what RFC 9162 prescribes for (size1, size2);
    - the old or new root computed from the proof differs from root1 or root2 (the message
      gives both in hex).
    """
    if size1 < 0 or size2 < 0:
        raise ProofError(f"invalid tree sizes {size1} and {size2} for a consistency proof")
    if size1 > size2:
        raise ProofError(f"old tree size {size1} is larger than new tree size {size2}")
    _check_proof_hash(root1, "old root")
    _check_proof_hash(root2, "new root")
    if size1 == size2:
        if proof:
            raise ProofError(
                f"consistency proof between equal sizes {size1} must be empty, "
                f"got {len(proof)} hashes"
            )
        if root1 != root2:
            raise ProofError(
                f"trees of equal size {size1} have different roots: {root1.hex()} and {root2.hex()}"
            )
        return
    if size1 == 0:
        if proof:
            raise ProofError(
                f"consistency proof from the empty tree must be empty, got {len(proof)} hashes"
            )
        if root1 != EMPTY_ROOT:
            raise ProofError(
                f"root of the empty tree must be {EMPTY_ROOT.hex()}, got {root1.hex()}"
            )
        return

    # The proof is the tail of the inclusion proof of leaf size1 - 1 in size2, minus the
    # levels below 2**shift, where the old tree's last perfect subtree ends: that subtree's
    # hash (the "seed") is proof[0], or root1 itself when the old tree is perfect.
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift  # shift < inner, because size1 < size2 makes the paths diverge above it
    seed_in_proof = size1 != 1 << shift
    want = int(seed_in_proof) + inner + border
    if len(proof) != want:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} has {len(proof)} hashes, "
            f"expected {want}"
        )
    _check_proof(proof, "consistency proof")
    if seed_in_proof:
        seed, rest = proof[0], proof[1:]
    else:
        seed, rest = root1, proof

    mask = (size1 - 1) >> shift
    # The old root uses only left siblings (the new tree's extra leaves are to the right);
    # the new root uses every sibling on its side.
    h1 = seed
    h2 = seed
    for i in range(inner):
        p = rest[i]
        if (mask >> i) & 1:
            h1 = _sha256(NODE_PREFIX + p + h1).digest()
            h2 = _sha256(NODE_PREFIX + p + h2).digest()
        else:
            h2 = _sha256(NODE_PREFIX + h2 + p).digest()
    for p in rest[inner:]:
        h1 = _sha256(NODE_PREFIX + p + h1).digest()
        h2 = _sha256(NODE_PREFIX + p + h2).digest()

    if h1 != root1:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} does not verify the old "
            f"root: computed {h1.hex()}, expected {root1.hex()}"
        )
    if h2 != root2:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} does not verify the new "
            f"root: computed {h2.hex()}, expected {root2.hex()}"
        )


# --------------------------------------------------------------------------- compact range


class CompactRange:
    """The frontier of a tree of ``size`` leaves, for O(1)-amortized appends.

    Holds the root hashes of the perfect subtrees that make up [0, size) in binary
    decomposition, largest first: one per set bit of ``size``. ``append`` reports every
    interior node it completes so a store can persist them and later serve
    ``perfect_subtrees`` addresses without rehashing.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Rebuild a frontier from its subtree hashes (those at ``subtrees_of(size)``, in order).

        Raises ValidationError if size < 0, len(hashes) != popcount(size), or a hash is not
        32 bytes.
        """
        _check_size(size)
        if len(hashes) != size.bit_count():
            raise ValidationError(
                f"a compact range of size {size} has {size.bit_count()} subtree hashes, "
                f"got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            _check_hash(h, f"compact range hash {i}")
        self._size = size
        self._hashes = list(hashes)

    @staticmethod
    def subtrees_of(size: int) -> list[tuple[int, int]]:
        """Return the (level, index) of each frontier subtree for ``size``, largest first.

        Equal to ``perfect_subtrees(0, size)``. Raises ValidationError if size < 0.
        """
        _check_size(size)
        # Bit L of size set means a level-L subtree; it is the last complete one at that level.
        return [
            (level, (size >> level) - 1)
            for level in range(size.bit_length() - 1, -1, -1)
            if (size >> level) & 1
        ]

    @property
    def size(self) -> int:
        """The number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier subtree hashes, largest subtree first (a snapshot)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; return every perfect subtree (level, index, hash) it completed, level >= 1.

        The list is in increasing level order and is empty when the new leaf has no left
        sibling yet (even size before appending). Raises ValidationError if the leaf hash
        is not 32 bytes; the range is unchanged then.
        """
        # Hot path: called once per ledger event, so it avoids helper calls and builds
        # no intermediate objects beyond the result list.
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            _check_hash(leaf_hash, "leaf hash")
        completed: list[tuple[int, int, bytes]] = []
        hashes = self._hashes
        h = leaf_hash
        n = self._size
        level = 0
        # Each trailing one bit of the old size is a left sibling waiting on the frontier
        # (binary-counter carry): merge it and go one level up.
        while n & 1:
            h = _sha256(NODE_PREFIX + hashes.pop() + h).digest()
            n >>= 1
            level += 1
            completed.append((level, n, h))  # n is now old_size >> level, the node's index
        hashes.append(h)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append each leaf in order; return all completed subtrees, in completion order.

        Raises ValidationError on the first leaf hash that is not 32 bytes; leaves before it
        stay appended.
        """
        completed: list[tuple[int, int, bytes]] = []
        append = self.append
        for h in leaf_hashes:
            completed += append(h)
        return completed

    def root(self) -> bytes:
        """Return the MTH of the covered leaves (EMPTY_ROOT when size is 0). Never raises."""
        return fold_subtrees(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
