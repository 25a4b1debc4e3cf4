"""Which datasets were derived from which: enough to refuse a cycle before it is recorded.

A `dataset.derived` that makes a dataset its own ancestor (derived from itself, directly
or through others) would make lineage meaningless, so the ledger refuses it. `cycle`
walks down from the new dataset through what was derived from it, iteratively (no
recursion limit), and stops at the first input it meets: its cost follows what was
derived from that dataset, nothing else, and is nil for a dataset derived for the first
time (the usual case).

Pure: dataset ids in, answers out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["Derivations"]


class Derivations:
    """Derivation edges (input -> datasets derived from it), learnt from events in order.

    With `base`, an overlay: it answers from both and adds to itself only, so a caller
    can drop what it added (a write that rolled back) or `absorb` it into the base.
    """

    __slots__ = ("_base", "_derived")

    def __init__(self, base: Derivations | None = None) -> None:
        self._base = base
        self._derived: dict[str, set[str]] = {}

    def derived_from(self, dataset_id: str) -> Iterable[str]:
        """The datasets derived directly from `dataset_id`."""
        own = self._derived.get(dataset_id, ())
        if self._base is None:
            return own
        return (*self._base.derived_from(dataset_id), *own)

    def add(self, dataset_id: str, inputs: Iterable[str]) -> None:
        """Record that `dataset_id` was derived from `inputs`."""
        for source in inputs:
            self._derived.setdefault(source, set()).add(dataset_id)

    def absorb(self, overlay: Derivations) -> None:
        """Take in the edges an overlay added."""
        for source, derived in overlay._derived.items():
            self._derived.setdefault(source, set()).update(derived)

    def cycle(self, dataset_id: str, inputs: Sequence[str]) -> tuple[str, ...] | None:
        """The cycle deriving `dataset_id` from `inputs` would close, or None.

        Returned as the chain from an input back to itself, each derived from the next:
        ``(a, b, a)`` reads "a derived from b, derived from a". A dataset among its own
        inputs gives ``(a, a)``.
        """
        wanted = set(inputs)
        if dataset_id in wanted:
            return (dataset_id, dataset_id)
        # Breadth first from dataset_id down what was derived from it: the first input
        # met closes the shortest cycle. `came_from` leads back to dataset_id.
        came_from: dict[str, str] = {}
        queue: deque[str] = deque([dataset_id])
        while queue:
            current = queue.popleft()
            for derived in self.derived_from(current):
                if derived in came_from or derived == dataset_id:
                    continue
                came_from[derived] = current
                if derived in wanted:
                    return _chain(derived, dataset_id, came_from)
                queue.append(derived)
        return None


def _chain(found: str, start: str, came_from: dict[str, str]) -> tuple[str, ...]:
    """found, derived from ..., derived from start, which would be derived from found."""
    chain = [found]
    while chain[-1] != start:
        chain.append(came_from[chain[-1]])
    chain.append(found)
    return tuple(chain)
