"""Regenerate the RFC 9162 Merkle test vectors in this directory.

    python tests/vectors/merkle/generate.py

The reference below is written straight from the RFC 9162 section 2.1 text (MTH, PATH,
SUBPROOF as recursions over lists) using only hashlib. It deliberately shares no code with
auditml.ledger.merkle, so the vectors check that module rather than restate it. It is
slow (naive recursion, list slicing) and that is fine: clarity is the point.

Leaves are the data bytes b"leaf-%d" % i. Hashes are written in lowercase hex.

The test suite imports this file (by path) for the reference shape functions; importing
it has no side effects.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Tree sizes with vectors: every size 1..64, then 2**k + 1 for k = 6..10.
SMALL_SIZES = list(range(1, 65))
LARGE_SIZES = [2**k + 1 for k in range(6, 11)]  # 65, 129, 257, 513, 1025
#: tree.json holds reference hashes of every perfect subtree in this many leaves.
TREE_LEAVES = 2048


def leaf_data(i: int) -> bytes:
    return b"leaf-%d" % i


# --------------------------------------------------------------------------- RFC 9162 2.1


def hash_leaf(d: bytes) -> bytes:
    # MTH({d(0)}) = SHA-256(0x00 || d(0))
    return hashlib.sha256(b"\x00" + d).digest()


def hash_node(left: bytes, right: bytes) -> bytes:
    # SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data*."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hash_leaf(d[0])
    k = split_point(n)
    return hash_node(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return subproof(m, d, True)


# ------------------------------------------------ the same recursions, over leaf ranges
#
# These return, for each proof element, the leaf range [begin, end) it is the MTH of and
# its role, so the vectors can state node addresses and the tests can tell when two
# (index, size) pairs yield proofs a verifier cannot tell apart.


def path_nodes(m: int, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """PATH(m, D[lo:hi]) as (begin, end, side): side "R"/"L" = sibling is right/left."""
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*path_nodes(m, lo, lo + k), (lo + k, hi, "R")]
    return [*path_nodes(m - k, lo + k, hi), (lo, lo + k, "L")]


def subproof_nodes(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int, str]]:
    """SUBPROOF(m, D[lo:hi], b) as (begin, end, role).

    Roles: "S" = the old tree's last subtree itself (the seed), "L" = a left sibling
    (inside both trees), "R" = a right sibling (only in the new tree).
    """
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi, "S")]
    k = split_point(n)
    if m <= k:
        return [*subproof_nodes(m, lo, lo + k, b), (lo + k, hi, "R")]
    return [*subproof_nodes(m - k, lo + k, hi, False), (lo, lo + k, "L")]


def inclusion_shape(index: int, size: int) -> tuple[str, ...]:
    """The sides of PATH(index, D[size]): it fixes every hash a verifier computes."""
    return tuple(side for _, _, side in path_nodes(index, 0, size))


def consistency_shape(size1: int, size2: int) -> tuple[str, ...]:
    """The roles in PROOF(size1, D[size2]), 0 < size1 <= size2: fixes every verifier hash."""
    return tuple(role for _, _, role in subproof_nodes(size1, 0, size2, True))


# --------------------------------------------------------------------------- vectors


def sample(n: int, lo: int) -> list[int]:
    """Values in [lo, n) for a large size: first 3, last 3, 10 evenly spaced, 2**j +- 1."""
    values = set(range(lo, lo + 3)) | set(range(n - 3, n))
    values |= {lo + (n - 1 - lo) * j // 9 for j in range(10)}
    j = 1
    while j <= n:
        values |= {j - 1, j, j + 1}
        j *= 2
    return sorted(v for v in values if lo <= v < n)


def hexes(hs: list[bytes]) -> list[str]:
    return [h.hex() for h in hs]


def write_json(name: str, header: dict[str, Any], vectors: list[dict[str, Any]]) -> None:
    # One vector per line keeps diffs readable and the file still plain JSON.
    head = json.dumps(header, indent=1)[:-2]
    body = ",\n".join(json.dumps(v, separators=(",", ":")) for v in vectors)
    (HERE / name).write_text(f'{head},\n "vectors": [\n{body}\n ]\n}}\n')


def main() -> None:
    sizes = SMALL_SIZES + LARGE_SIZES
    data = [leaf_data(i) for i in range(TREE_LEAVES)]
    common = {
        "source": "tests/vectors/merkle/generate.py (naive RFC 9162 2.1 recursion)",
        "leaf_data": "leaf i is the ASCII bytes b'leaf-%d' % i; leaf hash = SHA-256(0x00 || data)",
    }

    inclusion: list[dict[str, Any]] = []
    for n in sizes:
        indexes = range(n) if n <= 64 else sample(n, 0)
        for i in indexes:
            nodes = path_nodes(i, 0, n)
            p = path(i, data[:n])
            # The range twin must name exactly the RFC elements.
            assert p == [mth(data[b:e]) for b, e, _ in nodes], (i, n)
            inclusion.append(
                {"size": n, "index": i, "proof": hexes(p), "ranges": [[b, e] for b, e, _ in nodes]}
            )

    consistency: list[dict[str, Any]] = []
    for n in sizes:
        olds = range(1, n + 1) if n <= 64 else [*sample(n, 1), n]
        for m in olds:
            nodes = subproof_nodes(m, 0, n, True)
            p = proof(m, data[:n])
            assert p == [mth(data[b:e]) for b, e, _ in nodes], (m, n)
            consistency.append(
                {"size1": m, "size2": n, "proof": hexes(p), "ranges": [[b, e] for b, e, _ in nodes]}
            )

    used = sorted({v["size"] for v in inclusion} | {v["size1"] for v in consistency})
    roots = {str(n): mth(data[:n]).hex() for n in used}

    write_json(
        "inclusion.json",
        {
            **common,
            "description": "RFC 9162 2.1.3.1 inclusion proofs PATH(index, D[size]), "
            "bottom-up; ranges[j] is the leaf range [begin, end) whose MTH is proof[j]",
            "roots": roots,
        },
        inclusion,
    )
    write_json(
        "consistency.json",
        {
            **common,
            "description": "RFC 9162 2.1.4.1 consistency proofs PROOF(size1, D[size2]); "
            "ranges[j] is the leaf range [begin, end) whose MTH is proof[j]",
            "roots": roots,
        },
        consistency,
    )

    # Every perfect subtree (level, index) of the first TREE_LEAVES leaves, by naive MTH,
    # and the root of every prefix size 0..TREE_LEAVES.
    subtrees = []
    level = 0
    while 1 << level <= TREE_LEAVES:
        w = 1 << level
        subtrees.append([mth(data[j * w : (j + 1) * w]).hex() for j in range(TREE_LEAVES // w)])
        level += 1
    all_roots = [mth(data[:n]).hex() for n in range(TREE_LEAVES + 1)]
    tree = {
        **common,
        "description": "subtrees[level][index] = MTH of leaves [index*2^level, (index+1)*2^level); "
        "roots[n] = MTH of the first n leaves",
        "leaves": TREE_LEAVES,
        "subtrees": subtrees,
        "roots": all_roots,
    }
    (HERE / "tree.json").write_text(json.dumps(tree, indent=0) + "\n")

    print(f"inclusion.json: {len(inclusion)} vectors; consistency.json: {len(consistency)} vectors")
    n_subtrees = sum(map(len, subtrees))
    print(f"tree.json: {TREE_LEAVES} leaves, {n_subtrees} subtrees, {len(all_roots)} roots")


if __name__ == "__main__":
    main()
