"""Lineage during an evaluation: what each dataset and model version inherits from its data.

The rule engine feeds every event, in (occurred_at, seq) order, to one `LineageState`
shared by all rules (`observe`). It keeps the lineage graph of `dataset.registered`,
`dataset.derived` and `model.trained`, and for every node the facts it inherits:

- a dataset's own facts come from its latest registration; a derived dataset holds personal
  data if any input does, the union of their special categories, the lawful bases of the
  personal ones and the Art. 9(2) conditions of those with special categories, and may
  serve only the purposes every input allows (the intersection, with its own purposes if
  it is registered too);
- a model version inherits, the same way, from the datasets it was trained on.

Facts are computed when a graph event arrives and passed downstream, node by node, only
as far as they change, so reading them for a trigger (`view`) costs a dictionary lookup,
never a graph walk: `decision.made` events, the bulk of a ledger, add nothing to the
state. Only the transitive list of upstream datasets is walked, when a rule reads it.
The state is proportional to the graph (datasets, model versions, their edges, and one
first-deployment time per model), never to the number of events.

Everything is iterative (no recursion limit). A derivation that would close a cycle (a
dataset derived from itself, directly or not: refused at record time, but older ledgers
may hold one) is left out of the graph and counted in `cycles`, so every walk ends.

The graph built for `auditml lineage` (auditml.lineage) answers questions after the
fact, over a whole ledger; this one answers "as known when the trigger occurred".

Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from auditml.errors import ValidationError
from auditml.events.refs import dataset_id_of, dataset_ref, model_ref
from auditml.policy.model import Event

__all__ = [
    "LINEAGE_FIELDS",
    "LINEAGE_TYPES",
    "Facts",
    "LineageState",
    "LineageView",
    "lineage_field_problem",
    "lineage_fields",
    "reads_lineage",
]

#: The event types that carry `lineage` (the thing they concern has a place in the graph).
LINEAGE_TYPES = frozenset(
    {
        "dataset.registered",
        "dataset.derived",
        "model.trained",
        "model.deployed",
        "model.retired",
        "decision.made",
    }
)
_MODEL_TYPES = frozenset({"model.trained", "model.deployed", "model.retired", "decision.made"})

#: The fields of `trigger.lineage` (and `candidate.lineage`): name -> (CEL type, meaning).
LINEAGE_FIELDS: Mapping[str, tuple[str, str]] = {
    "ref": ("string", "the thing itself: model:NAME@VERSION or dataset:ID"),
    "inputs": (
        "list",
        "the datasets the version was trained on, or the dataset was derived from",
    ),
    "datasets": ("list", "every upstream dataset, transitively (a dataset not itself)"),
    "unregistered": ("list", "upstream datasets neither registered nor derived: facts unknown"),
    "personal": ("bool", "it, or any upstream dataset, holds personal data"),
    "special_categories": ("list", "the GDPR Art. 9 special categories of it and its upstream"),
    "purposes": (
        "list",
        "the purposes every upstream dataset allows (empty if any is unknown or none is known)",
    ),
    "lawful_bases": ("list", "the GDPR Art. 6(1) bases of the personal datasets upstream"),
    "conditions": (
        "list",
        "the GDPR Art. 9(2) conditions of the upstream datasets with special categories",
    ),
    "trained_at": ("timestamp", "model versions: when it was last trained (absent if never)"),
    "retrained": (
        "bool",
        "model versions: another version of the model was deployed before it was trained",
    ),
}
_MODEL_ONLY = frozenset({"trained_at", "retrained"})
#: The facts that are lists of text.
_LISTS = frozenset({"special_categories", "purposes", "lawful_bases", "conditions"})


def _dataset(text: str) -> str | None:
    """The canonical reference of a dataset list entry (``ID`` or ``dataset:ID``), or None
    for an entry that names no dataset (old data: reading must not stop on it)."""
    try:
        return dataset_ref(dataset_id_of(text))
    except ValidationError:
        return None


@dataclass(frozen=True, slots=True)
class Facts:
    """What a node holds, itself and through its upstream data (each list sorted, as rules
    read it: facts change rarely and are read at every decision)."""

    personal: bool
    special_categories: tuple[str, ...]
    purposes: tuple[str, ...]
    lawful_bases: tuple[str, ...]
    conditions: tuple[str, ...]


#: The facts of a dataset nothing registers or derives: nothing is known, nothing allowed.
UNKNOWN = Facts(False, (), (), (), ())


class _Node:
    __slots__ = ("facts", "inputs", "own", "ref", "retrained", "trained_at")

    def __init__(self, ref: str) -> None:
        self.ref = ref
        #: Facts of the latest registration (datasets), None if never registered.
        self.own: Facts | None = None
        #: Input dataset refs, in order of arrival (a dict as an ordered set).
        self.inputs: dict[str, None] = {}
        self.facts = UNKNOWN
        self.trained_at: datetime | None = None
        self.retrained = False


def _texts(value: object) -> frozenset[str]:
    if not isinstance(value, list | tuple):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str))


def _datasets(value: object) -> list[str]:
    """The canonical references of a dataset list, sorted; entries naming none left out."""
    return sorted({ref for text in _texts(value) if (ref := _dataset(text)) is not None})


def _registered(payload: Mapping[str, Any]) -> Facts:
    """The facts a registration states; a mistyped field counts as absent."""
    personal = payload.get("contains_personal_data") is True
    special = tuple(sorted(_texts(payload.get("special_categories"))))
    basis = payload.get("lawful_basis")
    condition = payload.get("special_category_condition")
    return Facts(
        personal,
        special,
        tuple(sorted(_texts(payload.get("purposes")))),
        (basis,) if personal and isinstance(basis, str) else (),
        (condition,) if special and isinstance(condition, str) else (),
    )


def _combined(parts: list[Facts]) -> Facts:
    """Facts inherited from `parts` (the node's own facts and its inputs')."""
    if not parts:
        return UNKNOWN
    purposes = set(parts[0].purposes)
    for part in parts[1:]:
        purposes.intersection_update(part.purposes)

    def union(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
        return tuple(sorted({item for items in lists for item in items}))

    return Facts(
        any(part.personal for part in parts),
        union(part.special_categories for part in parts),
        tuple(sorted(purposes)),
        union(part.lawful_bases for part in parts),
        union(part.conditions for part in parts),
    )


class LineageState:
    """The lineage graph of the events observed so far, with inherited facts per node."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        #: dataset ref -> refs of the nodes that take it as input (datasets, model versions).
        self._users: dict[str, list[str]] = {}
        #: model name -> when a version of it was first deployed.
        self._deployed: dict[str, datetime] = {}
        #: Bumped on every change of the graph: a cached walk is valid for one generation.
        self.generation = 0
        #: Derivation edges left out because they would have closed a cycle.
        self.cycles = 0

    def __len__(self) -> int:
        """How many nodes (datasets and model versions) the graph holds."""
        return len(self._nodes)

    # -- reading events ------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Take the next event; only graph events (and deployments) change the state."""
        kind, payload = event.type, event.payload
        if kind == "dataset.registered":
            dataset = payload.get("dataset_id")
            if isinstance(dataset, str):
                node = self._node(dataset_ref(dataset))
                node.own = _registered(payload)
                self._changed(node)
        elif kind == "dataset.derived":
            dataset = payload.get("dataset_id")
            if isinstance(dataset, str):
                node = self._node(dataset_ref(dataset))
                for source in _datasets(payload.get("inputs")):
                    self._link(source, node, check_cycle=True)
                self._changed(node)
        elif kind == "model.trained":
            key = _model_key(payload)
            if key is not None:
                node = self._node(model_ref(*key))
                for source in _datasets(payload.get("datasets")):
                    self._link(source, node, check_cycle=False)
                if node.trained_at is None or node.trained_at < event.occurred_at:
                    node.trained_at = event.occurred_at
                    node.retrained = key[0] in self._deployed
                self._changed(node)
        elif kind == "model.deployed":
            model = payload.get("model")
            if isinstance(model, str):
                self._deployed.setdefault(model, event.occurred_at)

    def with_lineage(self, event: Event) -> Event:
        """Observe `event`; return it with its lineage (a copy) if it has one."""
        self.observe(event)
        view = self.view(event)
        if view is None:
            return event
        return Event(
            event.seq,
            event.id,
            event.type,
            event.system,
            event.subject,
            event.actor,
            event.occurred_at,
            event.recorded_at,
            event.payload,
            view,
        )

    def _node(self, ref: str) -> _Node:
        node = self._nodes.get(ref)
        if node is None:
            node = self._nodes[ref] = _Node(ref)
        return node

    def _link(self, source: str, node: _Node, *, check_cycle: bool) -> None:
        if source in node.inputs:
            return
        if check_cycle and self._downstream_of(node.ref, source):
            self.cycles += 1
            return
        self._node(source)
        node.inputs[source] = None
        self._users.setdefault(source, []).append(node.ref)

    def _downstream_of(self, start: str, wanted: str) -> bool:
        """Whether `wanted` is `start` or derived from it, transitively (iterative)."""
        if start == wanted:
            return True
        if start not in self._users:
            return False  # nothing is derived from it yet: the usual case, O(1)
        seen = {start}
        queue = deque([start])
        while queue:
            for user in self._users.get(queue.popleft(), ()):
                if user == wanted:
                    return True
                if user not in seen:
                    seen.add(user)
                    queue.append(user)
        return False

    def _changed(self, start: _Node) -> None:
        """Recompute `start`'s facts and pass them downstream as far as they change."""
        self.generation += 1
        queue = deque([start])
        while queue:
            node = queue.popleft()
            facts = self._facts(node)
            if facts != node.facts:
                node.facts = facts
                queue.extend(self._nodes[user] for user in self._users.get(node.ref, ()))

    def _facts(self, node: _Node) -> Facts:
        parts = [self._nodes[source].facts for source in node.inputs]
        if node.own is not None:
            parts.append(node.own)
        return _combined(parts)

    # -- what rules read -------------------------------------------------------------------

    def view(self, event: Event) -> LineageView | None:
        """The lineage of the thing `event` concerns, as rules read it; None for other types.

        A model version or dataset the graph does not hold gets an empty view: nothing is
        added to the state for it.
        """
        kind, payload = event.type, event.payload
        if kind in _MODEL_TYPES:
            key = _model_key(payload)
            if key is None:
                return None
            return LineageView(self, model_ref(*key), model=True)
        if kind in LINEAGE_TYPES:
            dataset = payload.get("dataset_id")
            if not isinstance(dataset, str):
                return None
            return LineageView(self, dataset_ref(dataset), model=False)
        return None

    def facts(self, ref: str) -> Facts:
        """The facts of a node (UNKNOWN for a reference the graph does not hold)."""
        node = self._nodes.get(ref)
        return UNKNOWN if node is None else node.facts

    def inputs(self, ref: str) -> tuple[str, ...]:
        node = self._nodes.get(ref)
        return () if node is None else tuple(node.inputs)

    def upstream(self, ref: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(every upstream dataset of `ref`, those of them whose facts are unknown), sorted.

        A breadth-first walk over inputs, iterative; each dataset is entered once.
        """
        node = self._nodes.get(ref)
        if node is None:
            return (), ()
        seen: set[str] = set()
        queue = deque(node.inputs)
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            queue.extend(self._nodes[current].inputs)
        seen.discard(ref)
        unknown = [
            item for item in seen if self._nodes[item].own is None and not self._nodes[item].inputs
        ]
        return tuple(sorted(seen)), tuple(sorted(unknown))

    def training(self, ref: str) -> tuple[datetime | None, bool]:
        """(when the model version was last trained, whether that was a retraining)."""
        node = self._nodes.get(ref)
        return (None, False) if node is None else (node.trained_at, node.retrained)


def _model_key(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    model, version = payload.get("model"), payload.get("version")
    if isinstance(model, str) and isinstance(version, str):
        return model, version
    return None


class LineageView(Mapping[str, Any]):
    """`trigger.lineage` of one event: a read-only map whose fields are computed when read.

    It reads the state when a rule reads it, so a counterpart kept by a check (an earlier
    model.trained) shows its lineage as known at the trigger. The transitive walk is
    remembered for the graph's generation; facts are read from the node each time.
    """

    __slots__ = ("_model", "_ref", "_state", "_walk")

    def __init__(self, state: LineageState, ref: str, *, model: bool) -> None:
        self._state = state
        self._ref = ref
        self._model = model
        self._walk: tuple[int, tuple[str, ...], tuple[str, ...]] | None = None

    def _fields(self) -> Iterator[str]:
        for name in LINEAGE_FIELDS:
            if name in _MODEL_ONLY and not self._model:
                continue
            if name == "trained_at" and self._state.training(self._ref)[0] is None:
                continue
            yield name

    def __iter__(self) -> Iterator[str]:
        return self._fields()

    def __len__(self) -> int:
        return sum(1 for _ in self._fields())

    def __contains__(self, name: object) -> bool:
        # Called for every field a condition reads (the hot path: once per decision).
        if name == "trained_at":
            return self._model and self._state.training(self._ref)[0] is not None
        return name in LINEAGE_FIELDS and (self._model or name not in _MODEL_ONLY)

    def __getitem__(self, name: str) -> Any:
        if name in _LISTS:  # first: what rules read at every decision
            value: tuple[str, ...] = getattr(self._state.facts(self._ref), name)
            return list(value)
        if name == "personal":
            return self._state.facts(self._ref).personal
        if name == "ref":
            return self._ref
        if name == "inputs":
            return list(self._state.inputs(self._ref))
        if name in {"datasets", "unregistered"}:
            datasets, unknown = self._upstream()
            return list(datasets if name == "datasets" else unknown)
        if self._model and name in _MODEL_ONLY:
            trained_at, retrained = self._state.training(self._ref)
            if name == "retrained":
                return retrained
            if trained_at is not None:
                return trained_at
        raise KeyError(name)

    def _upstream(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        generation = self._state.generation
        if self._walk is None or self._walk[0] != generation:
            datasets, unknown = self._state.upstream(self._ref)
            self._walk = (generation, datasets, unknown)
        return self._walk[1], self._walk[2]

    def __repr__(self) -> str:
        return f"LineageView({self._ref!r})"


def reads_lineage(rules: Iterable[Any]) -> bool:
    """Whether any of `rules` (auditml.policy.rules.Rule) names the lineage anywhere in its
    check: only then does an evaluation keep the graph and hand events their lineage."""
    return any(b"lineage" in orjson.dumps(rule.check.model_dump(mode="json")) for rule in rules)


def lineage_fields(event_type: str) -> tuple[str, ...]:
    """The lineage fields events of `event_type` carry (none for types without lineage)."""
    if event_type not in LINEAGE_TYPES:
        return ()
    model = event_type in _MODEL_TYPES
    return tuple(name for name in LINEAGE_FIELDS if model or name not in _MODEL_ONLY)


def lineage_field_problem(event_type: str, path: str) -> str | None:
    """What is wrong with ``lineage.<path>`` as a field of `event_type` events, or None."""
    fields = lineage_fields(event_type)
    if not fields:
        return f"{event_type} events carry no lineage; these do: {', '.join(sorted(LINEAGE_TYPES))}"
    name, _, deeper = path.partition(".")
    if name not in fields:
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{event_type} has no field lineage.{name}{hint}; its lineage: {', '.join(fields)}"
    if deeper:
        return f"lineage.{name} is a {LINEAGE_FIELDS[name][0]}, not an object"
    return None
