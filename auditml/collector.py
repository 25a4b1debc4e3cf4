"""Pausing Python's cyclic garbage collector around bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of one bulk call.

    Appending a batch and evaluating rules allocate several small containers per event,
    none of them in a reference cycle (refcounting frees them); the collector's repeated
    passes over what is alive cost a quarter of the time (bench/ledger.py,
    bench/policy.py). The pause is process-wide but lasts one call, and the previous
    state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
