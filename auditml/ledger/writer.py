"""Group commit: many threads record, one thread commits their events in shared transactions.

A durable commit (fsync) costs milliseconds whatever its size, so committing events one
by one caps a serving process at a few hundred per second. The writer collects what
threads submit while they keep coming (each within `linger` of the last, for at most
`max_delay` seconds or `max_batch` events) and appends them in one transaction. Each
caller still gets its own receipt only once its event is durable, and each failure
reaches the callers whose events it concerned: nothing is dropped silently.

Validation happens in the caller's thread before anything is queued. What only the
sequencer can see (an id already taken with other content, a subject token it does not
hold) fails a batch; the writer then appends the batch again by halves, so that only the
guilty events fail and every other caller gets its receipt. A refusal by the database
itself fails every event of the batch, without retries (docs/adr/0009).
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from auditml.errors import StorageError

if TYPE_CHECKING:
    from auditml.events.envelope import PreparedEvent
    from auditml.ledger.ledger import Receipt

Append = Callable[[Sequence["PreparedEvent"]], list["Receipt"]]
# A queued item: an event and its caller's future, or (None, future) for a flush marker.
# None on its own asks the thread to stop.
_Item = tuple["PreparedEvent | None", Future[Any]]


class GroupCommitWriter:
    """A background thread that appends submitted events in batches."""

    def __init__(
        self,
        append: Append,
        *,
        max_batch: int = 1000,
        max_delay: float = 0.005,
        linger: float = 0.0003,
    ) -> None:
        self._append = append
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._linger = linger
        # queue.Queue, not SimpleQueue: CPython 3.11's SimpleQueue.get(timeout=) can turn a
        # deadline passed during a wakeup into a negative wait, which blocks forever (seen
        # under load: every caller of the ledger hung).
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="auditml-group-commit", daemon=True)
        self._thread.start()
        # Drain at interpreter exit, without keeping the writer alive for atexit's sake.
        ref = weakref.ref(self)

        def drain() -> None:
            writer = ref()
            if writer is not None:
                writer.close()

        self._atexit = drain
        atexit.register(drain)

    def submit(self, event: PreparedEvent) -> Future[Receipt]:
        """Queue a validated event; the future resolves to its receipt once durable, or to
        the error that kept it out. The future cannot be cancelled: the event is queued."""
        future: Future[Receipt] = Future()
        # Running from the start, so cancel() refuses: a queued event is written whatever
        # its caller stops waiting for (asyncio cancels the future of a timed-out await).
        future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                raise StorageError("the ledger's writer is closed; open the ledger again to record")
            self._queue.put((event, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything submitted before this call is durable (or failed)."""
        marker: Future[None] = Future()
        with self._lock:
            if self._closed:  # close() drained the queue, and no thread would answer
                return
            self._queue.put((None, marker))
        marker.result(timeout)

    def close(self) -> None:
        """Drain the queue and stop the thread. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        atexit.unregister(self._atexit)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            # Collect while events keep coming (each within `linger`), for at most
            # `max_delay`: callers that just got their receipts resubmit within
            # microseconds, while an idle moment commits at once.
            deadline = time.monotonic() + self._max_delay
            while len(batch) < self._max_batch:
                wait = min(self._linger, deadline - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        events: list[PreparedEvent] = []
        futures: list[Future[Any]] = []
        markers: list[Future[Any]] = []
        for event, future in batch:
            if event is None:
                markers.append(future)
            else:
                events.append(event)
                futures.append(future)
        if events:
            self._append_isolating(events, futures)
        for marker in markers:
            marker.set_result(None)

    def _append_isolating(self, events: list[PreparedEvent], futures: list[Future[Any]]) -> None:
        """Append `events` in one transaction; if that fails for anything but the database,
        append each half again, so that every event ends with its own receipt or error."""
        try:
            receipts = self._append(events)
        except StorageError as exc:
            # The database refused the transaction (down, locked, full, read-only): no
            # event's fault, as every value it checks was validated before queueing. A
            # retry per event would hold every caller for another lock wait, and could
            # write twice an event whose commit answer was lost (docs/adr/0009).
            for future in futures:
                future.set_exception(exc)
        except BaseException as exc:
            if len(events) == 1:
                futures[0].set_exception(exc)
                return
            middle = len(events) // 2
            self._append_isolating(events[:middle], futures[:middle])
            self._append_isolating(events[middle:], futures[middle:])
        else:
            for future, receipt in zip(futures, receipts, strict=True):
                future.set_result(receipt)
