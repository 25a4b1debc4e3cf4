"""Deep verification: stream every entry through the checkers, on every core.

Row checks (hash, JSON, chain, columns, canonical form) are independent per chunk
once a chunk is seeded with the row before it, so large ledgers are split across
worker processes while this process rebuilds the tree from the leaf hashes.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

from auditml.errors import IntegrityError
from auditml.ledger.note import Checkpoint
from auditml.ledger.store import NODE_STRIDE, Store
from auditml.ledger.verify import RowChecker, TreeChecker

#: Below this many entries one process is faster than starting workers.
PARALLEL_MIN = 150_000
CHUNK = 100_000

Failure = tuple[int, str]


def check_rows(url: str, start: int, stop: int) -> Failure | None:
    """Check rows [start, stop) of the ledger at url; return (seq, message) of the first failure.

    Runs in a worker process, so it opens its own connection. The chunk is seeded with
    the row before it; if that row is gone, the chunk before reports the gap.
    """
    # The checks create no reference cycles; in a worker process of our own the
    # collector's passes over millions of short-lived envelopes are pure overhead.
    gc.disable()
    store = Store.connect(url)
    try:
        with store.read() as conn:
            checker = RowChecker(size=start)
            if start:
                seed = store.leaf_and_time(conn, start - 1)
                checker.prev_hex = seed[0].hex() if seed else None
                checker.last_recorded_at = seed[1] if seed else ""
            try:
                for row in store.raw_event_rows(conn, start=start, stop=stop):
                    checker.feed(row)
                if checker.size != stop:
                    raise IntegrityError(
                        f"seq {checker.size} is missing (rows were deleted)", seq=checker.size
                    )
            except IntegrityError as exc:
                return (exc.seq if exc.seq is not None else start, str(exc))
    finally:
        store.close()
    return None


def verify_deep(
    store: Store,
    url: str,
    size: int,
    targets: Mapping[int, Sequence[tuple[Checkpoint, str]]],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    chunk: int = CHUNK,
    parallel_min: int = PARALLEL_MIN,
) -> None:
    """Verify every entry of the ledger; raise IntegrityError naming the first bad seq.

    Row failures are reported before tree failures: a changed entry that was re-chained
    shows up in both, and the row check names the exact seq.
    """
    workers = workers if workers is not None else (os.cpu_count() or 1)
    chunks = [(start, min(start + chunk, size)) for start in range(0, size, chunk)]
    pool = None
    futures: list[Future[Failure | None]] = []
    # Workers are forked (spawn would re-import the caller's __main__, which scripts and
    # notebooks do not guard). Forking a process that runs other threads can deadlock
    # the child, so a threaded caller (e.g. one with a group-commit writer) stays serial.
    # A forked worker never touches the inherited connections: it opens its own.
    forkable = "fork" in get_all_start_methods() and threading.active_count() == 1
    if workers > 1 and size >= parallel_min and forkable and ":memory:" not in url:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
        futures = [pool.submit(check_rows, url, start, stop) for start, stop in chunks]
    try:
        tree_failure: IntegrityError | None = None
        with store.read() as conn:
            stored = {(level, index): digest for level, index, digest in store.stored_nodes(conn)}
            tree = TreeChecker(stored, targets, NODE_STRIDE)
            row_checker = RowChecker() if pool is None else None
            done = 0
            try:
                stream = store.raw_event_rows(conn) if pool is None else store.raw_leaf_rows(conn)
                for row in stream:
                    if row_checker is not None:
                        row_checker.feed(row)
                        tree.feed(row[0], _bytes(row[8]))
                    else:
                        tree.feed(row[0], _bytes(row[1]))
                    done += 1
                    if progress is not None and pool is None and done % 20000 == 0:
                        progress(done, size)
                tree.finish()
            except IntegrityError as exc:
                if pool is None:
                    raise
                tree_failure = exc
        failures = []
        for (start, stop), future in zip(chunks, futures):
            result = future.result()
            if progress is not None:
                progress(stop, size)
            if result is not None:
                failures.append(result)
                break  # chunks are in seq order: the first failure is the earliest
        if failures:
            seq, message = failures[0]
            raise IntegrityError(message, seq=seq)
        if tree_failure is not None:
            raise tree_failure
        if progress is not None:
            progress(size, size)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _bytes(value: object) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
