"""Deep verification: stream every entry through the checkers, on every core.

The ledger is cut into chunks of 2**CHUNK_LEVEL entries. Each chunk is checked on its
own (rows, chain, and the part of the Merkle tree inside it), seeded with the row
before it; chunks of large ledgers run in forked worker processes. This process then
joins the chunk summaries in seq order into the whole tree and checks what spans
chunks: higher stored nodes and every checkpoint root (docs/adr/0003).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

from auditml.errors import IntegrityError
from auditml.ledger.note import Checkpoint
from auditml.ledger.store import NODE_STRIDE, Store
from auditml.ledger.verify import ChunkResult, RowChecker, TreeJoiner, check_chunk_tree

#: Chunks are perfect subtrees of this level (32,768 entries): small enough to balance.
CHUNK_LEVEL = 15
#: Below this many entries one process is faster than starting workers.
PARALLEL_MIN = 150_000


def check_chunk(
    store: Store, start: int, stop: int, snapshot_at: frozenset[int], chunk_level: int
) -> ChunkResult:
    """Check entries [start, stop): rows, chain and the tree inside the chunk.

    Returns the chunk's summary, or its first failure as (seq, message).
    """
    with store.read() as conn:
        stored = store.stored_nodes_in(conn, start, stop, max_level=chunk_level)
        rows = RowChecker(size=start)
        if start:
            seed = store.leaf_and_time(conn, start - 1)
            # Without its seed row the chunk cannot check its first link; the chunk
            # before reports the missing row.
            rows.prev_hex = seed[0].hex() if seed else None
            rows.last_recorded_at = seed[1] if seed else ""
        leaves: list[bytes] = []
        try:
            rows.check(store.raw_event_rows(conn, start=start, stop=stop), leaves)
            if rows.size != stop:
                raise IntegrityError(
                    f"seq {rows.size} is missing (rows were deleted)", seq=rows.size
                )
            frontier, snapshots, checked = check_chunk_tree(
                leaves, stored, NODE_STRIDE, start, snapshot_at
            )
        except IntegrityError as exc:
            failure = exc
            # A stored node completed by the leaves before a bad row failed first.
            try:
                check_chunk_tree(leaves, stored, NODE_STRIDE, start)
            except IntegrityError as earlier:
                failure = earlier
            seq = start if failure.seq is None else failure.seq
            return ChunkResult(start, stop, failure=(seq, str(failure)))
    return ChunkResult(start, stop, None, frontier, snapshots, checked)


def _check_chunk_in_worker(
    url: str, start: int, stop: int, snapshot_at: frozenset[int], chunk_level: int
) -> ChunkResult:
    store = Store.connect(url)
    try:
        return check_chunk(store, start, stop, snapshot_at, chunk_level)
    finally:
        store.close()


def _disable_gc() -> None:
    # The checks create no reference cycles; in a worker process of our own the
    # collector's passes over millions of short-lived envelopes are pure overhead.
    gc.disable()


def verify_deep(
    store: Store,
    url: str,
    size: int,
    targets: Mapping[int, Sequence[tuple[Checkpoint, str]]],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    chunk_level: int = CHUNK_LEVEL,
    parallel_min: int = PARALLEL_MIN,
) -> None:
    """Verify the ledger's first `size` entries; raise IntegrityError naming the first bad seq.

    Every read keeps to seq < size and to the tree of that size (writers may append
    meanwhile), except the last: in one snapshot, tree_nodes must hold no node that the
    entries of that snapshot do not account for (docs/adr/0007).
    """
    chunk = 1 << chunk_level
    ranges = [(start, min(start + chunk, size)) for start in range(0, size, chunk)]
    sizes = sorted(s for s in targets if 0 < s <= size)
    snapshots = [frozenset(s for s in sizes if start < s <= stop) for start, stop in ranges]
    with store.read() as conn:
        joiner = TreeJoiner(
            store.stored_nodes_in(conn, 0, size, min_level=chunk_level + 1),
            targets,
            NODE_STRIDE,
            chunk_level,
        )
    workers = workers if workers is not None else (os.cpu_count() or 1)
    # Workers are forked (spawn would re-import the caller's __main__, which scripts and
    # notebooks do not guard). Forking a process that runs other threads can deadlock
    # the child, so a threaded caller stays in one process. Workers open their own
    # connections and never touch inherited ones.
    forkable = "fork" in get_all_start_methods() and threading.active_count() == 1
    pool = None
    if workers > 1 and size >= parallel_min and forkable and ":memory:" not in url:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("fork"), initializer=_disable_gc
        )
    try:
        results: Iterator[ChunkResult]
        if pool is None:
            results = (
                check_chunk(store, a, b, snap, chunk_level)
                for (a, b), snap in zip(ranges, snapshots, strict=True)
            )
        else:
            futures = [
                pool.submit(_check_chunk_in_worker, url, a, b, snap, chunk_level)
                for (a, b), snap in zip(ranges, snapshots, strict=True)
            ]
            results = (future.result() for future in futures)
        for result in results:
            joiner.add(result)
            if progress is not None:
                progress(result.stop, size)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    # Writers may have appended past `size` meanwhile, with the nodes of their entries:
    # the node count is judged against the head read in the same snapshot.
    with store.read() as conn:
        head = store.head(conn).size
        stored_total = store.count_nodes(conn)
        extra = None
        if not joiner.accounts_for(size, head, stored_total):
            extra = store.first_node_beyond(conn, head)
    joiner.finish(size, head, stored_total, extra)
