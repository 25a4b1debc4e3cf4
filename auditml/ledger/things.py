"""What a ledger has registered, kept in memory so that recording can resolve references.

Before an event is hashed, its references are made canonical (auditml/events/refs.py):
a bare name must mean exactly one registered dataset or system, and a `dataset.derived`
must not make a dataset its own ancestor (auditml/events/derivations.py). Reading the
ledger for that at every record would cost as much as the ledger is long, so
`KnownThings` keeps the registered names and the derivation edges in memory as of a seq,
and catches up by reading only the events that register something after that seq
(`Store.bodies_of_types`, over the type index), inside the write transaction: its lock
orders every writer of every process, so what it reads is exactly what precedes the
events being written.

A write transaction works on an `Admission`, an overlay over the cache: what the batch
registers is learnt there first, so an event can name a dataset registered earlier in
the same batch (or import), and a write that rolls back leaves the cache untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from auditml.errors import ValidationError
from auditml.events.derivations import Derivations
from auditml.events.envelope import PreparedEvent
from auditml.events.refs import (
    REFERENCE_FIELDS,
    REGISTERING_TYPES,
    Holds,
    Registry,
    canonical_payload,
    dataset_id_of,
    dataset_ref,
    needs_registry,
    resolve_strictly,
)

__all__ = ["ADMITTED_TYPES", "Admission", "KnownThings", "needs_lookup"]

#: The event types an `Admission` must see: they hold references or register things.
ADMITTED_TYPES: frozenset[str] = frozenset(REFERENCE_FIELDS) | REGISTERING_TYPES
_REGISTERING = sorted(REGISTERING_TYPES)
#: Datasets of a cycle shown in full; a longer cycle is shown by its ends.
CYCLE_SHOWN = 8


def needs_lookup(events: Iterable[PreparedEvent]) -> bool:
    """Whether admitting `events` must know what is registered (a short reference that
    may name a registered thing, or a derivation to check for cycles)."""
    return any(
        event.type == "dataset.derived" or needs_registry(event.type, event.payload)
        for event in events
    )


class KnownThings:
    """The datasets and systems a ledger registers and its derivation edges, as of a seq.

    Shared by a `Ledger`'s threads; each write transaction works on an `Admission`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry = Registry()
        self._derivations = Derivations()
        #: The events [0, seen) are taken in.
        self._seen = 0

    def open(self, store: Any, conn: Any, size: int, *, lookup: bool) -> Admission:
        """An admission for events appended after the first `size` ones (conn's snapshot).

        With `lookup`, the cache first catches up with those `size` events (one indexed
        read of the registering events it has not seen); without, what it knows may be
        behind, and the admission must not look anything up.
        """
        with self._lock:
            if lookup and self._seen != size:
                if self._seen > size:  # another ledger at the same place: start again
                    self._registry, self._derivations, self._seen = Registry(), Derivations(), 0
                for event_type, system, body in store.bodies_of_types(
                    conn, _REGISTERING, self._seen, size
                ):
                    payload = orjson.loads(body).get("payload")
                    if isinstance(payload, dict):
                        _learn(self._registry, self._derivations, event_type, system, payload)
                self._seen = size
            return Admission(self._registry, self._derivations, size)

    def commit(self, admission: Admission) -> None:
        """Take in what a committed write learnt, if the cache was at its start; otherwise
        leave it: the next lookup reads those events from the database."""
        with self._lock:
            if self._seen == admission.start:
                self._registry.absorb(admission.registry)
                self._derivations.absorb(admission.derivations)
                self._seen = admission.end


class Admission:
    """One write's view: the cache plus what the write itself registers."""

    def __init__(self, registry: Registry, derivations: Derivations, start: int) -> None:
        self.registry = Registry(registry)
        self.derivations = Derivations(derivations)
        self.start = start
        #: The ledger size after the write; set by the writer before `commit`.
        self.end = start

    def admit(self, event: PreparedEvent, where: str) -> PreparedEvent:
        """`event` with canonical references, after learning what it registers.

        Raises ValidationError naming `where` and the field for a reference that means
        nothing registered or several things, and for a derivation that closes a cycle.
        """
        context = f"{where} ({event.type}):"

        def resolve(text: str, holds: Holds, path: str) -> str:
            return resolve_strictly(text, holds, self.registry, f"{context} {path}")

        payload = canonical_payload(event.type, event.payload, resolve)
        if event.type == "dataset.derived":
            _refuse_cycle(self.derivations, payload, context)
        _learn(self.registry, self.derivations, event.type, event.system, payload)
        return event if payload is event.payload else event._replace(payload=dict(payload))

    def resolve(self, text: str, holds: Holds, where: str) -> str:
        """The canonical reference `text` means here (see `resolve_strictly`)."""
        return resolve_strictly(text, holds, self.registry, where)


def _learn(
    registry: Registry,
    derivations: Derivations,
    event_type: str,
    system: str,
    payload: Mapping[str, Any],
) -> None:
    registry.learn(event_type, system, payload)
    if event_type == "dataset.derived":
        dataset_id, inputs = _derivation(payload)
        if dataset_id is not None:
            derivations.add(dataset_id, inputs)


def _derivation(payload: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The dataset a derivation defines and its inputs' ids; entries that name no
    dataset (possible in ledgers older than the reference grammar) are left out."""
    dataset_id = payload.get("dataset_id")
    inputs = payload.get("inputs")
    found = []
    for item in inputs if isinstance(inputs, list) else ():
        try:
            found.append(dataset_id_of(item))
        except (ValidationError, TypeError):
            continue
    return (dataset_id if isinstance(dataset_id, str) else None), found


def _refuse_cycle(derivations: Derivations, payload: Mapping[str, Any], context: str) -> None:
    dataset_id, inputs = _derivation(payload)
    cycle = None if dataset_id is None else derivations.cycle(dataset_id, inputs)
    if cycle is None:
        return
    # The cycle in the direction data flows: each dataset is derived from the one before.
    flow = [dataset_ref(name) for name in reversed(cycle)]
    shown: Sequence[str] = flow
    if len(flow) > CYCLE_SHOWN:
        middle = f"... {len(flow) - 6:,} more ..."
        shown = [*flow[:3], middle, *flow[-3:]]
    raise ValidationError(
        f"{context} deriving {dataset_ref(str(dataset_id))} from {flow[0]} would make it "
        f"derived from itself: {' -> '.join(shown)} (each derived from the one before); "
        "lineage cannot have cycles: give the new dataset an id of its own"
    )
