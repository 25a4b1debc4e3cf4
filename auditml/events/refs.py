"""References to things: one grammar for every payload field that points at a thing.

    model:NAME@VERSION   a model version: `model` and `version` of its model.trained
    dataset:ID           a dataset: `dataset_id` of its dataset.registered or dataset.derived
    system:NAME          an AI system: the envelope `system` of its system.registered
    policy:SHA256        a rule set: `policy_set_sha256` of its policy.changed (what an
                         approval at stage policy approves)

The canonical form above is the one stored. People also write short forms, and they
mean:

- ``NAME@VERSION`` (no prefix, an ``@``): the model version ``model:NAME@VERSION``;
- a bare name: the dataset or the system registered under that name; it must mean
  exactly one thing (`meanings` lists what it can mean);
- in a field that holds only datasets (`DATASETS`), any text without a prefix is a
  dataset id.

A model reference splits at the last ``@``, so a version cannot contain one. Each part is
1 to 200 characters without control characters or spaces at either end; a system name
also follows the envelope's rule for `system` (`SYSTEM_NAME`), and a rule set is named by
64 lowercase hex digits. A rule set has no short form.

`REFERENCE_FIELDS` says which payload fields hold references; `canonical_payload` rewrites
them with a resolver: `resolve_strictly` at record time (a short form that does not mean
exactly one thing is refused), `resolve_tolerantly` when reading old ledgers (it stays as
written). Defining fields (`dataset_id`, the envelope's `system`, `model` with `version`)
are names, not references, and are never rewritten.

Pure: no I/O, no clock. What is registered comes from a `Registry` the caller feeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from auditml.errors import ValidationError

__all__ = [
    "DATASETS",
    "MAX_REFERENCE_LENGTH",
    "PREFIXES",
    "READ_TYPES",
    "REFERENCE_FIELDS",
    "REGISTERING_TYPES",
    "SYSTEM_NAME",
    "THINGS",
    "CanonicalReader",
    "Holds",
    "Kind",
    "Known",
    "Ref",
    "Registry",
    "canonical_payload",
    "dataset_id_of",
    "dataset_ref",
    "meanings",
    "model_ref",
    "needs_registry",
    "parse_ref",
    "policy_ref",
    "reference_problem",
    "resolve_strictly",
    "resolve_tolerantly",
    "system_ref",
]

Kind = Literal["model", "dataset", "system", "policy"]
#: What a field may point at: anything, or only datasets.
Holds = frozenset[Kind]
THINGS: Holds = frozenset({"model", "dataset", "system", "policy"})
DATASETS: Holds = frozenset({"dataset"})

_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("model:", "model"),
    ("dataset:", "dataset"),
    ("system:", "system"),
    ("policy:", "policy"),
)
#: The prefixes of the canonical forms: a name that starts with one reads as a reference.
PREFIXES: tuple[str, ...] = tuple(prefix for prefix, _ in _PREFIXES)
#: The longest part of a reference (a name, an id or a version), as for the ids themselves.
MAX_PART = 200
#: The longest reference: model: NAME @ VERSION with both parts at their longest.
MAX_REFERENCE_LENGTH = len("model:") + MAX_PART + 1 + MAX_PART
#: A system name, as the envelope's `system` field allows it.
SYSTEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PART_NAMES: Mapping[Kind, str] = {
    "model": "model name",
    "dataset": "dataset id",
    "system": "system name",
    "policy": "rule set digest",
}

#: Per event type, the payload fields that hold references: THINGS for a single
#: reference to anything, DATASETS for a list of references to datasets.
REFERENCE_FIELDS: Mapping[str, Mapping[str, Holds]] = {
    "assessment.completed": {"target": THINGS},
    "document.versioned": {"target": THINGS},
    "approval.granted": {"target": THINGS},
    "approval.rejected": {"target": THINGS},
    "notice.given": {"target": THINGS},
    "registration.completed": {"target": THINGS},
    "risk.identified": {"target": THINGS},
    "dataset.deleted": {"target": DATASETS},
    "model.trained": {"datasets": DATASETS},
    "dataset.derived": {"inputs": DATASETS},
}


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed reference; `str()` gives its canonical form."""

    kind: Kind
    name: str
    #: The model version; None for the other kinds.
    version: str | None = None

    def __str__(self) -> str:
        if self.kind == "model":
            return f"model:{self.name}@{self.version}"
        return f"{self.kind}:{self.name}"


def model_ref(name: str, version: str) -> str:
    """``model:NAME@VERSION``, the reference to a model version (not checked)."""
    return f"model:{name}@{version}"


def dataset_ref(dataset_id: str) -> str:
    """``dataset:ID``, the reference to a dataset (not checked)."""
    return f"dataset:{dataset_id}"


def system_ref(name: str) -> str:
    """``system:NAME``, the reference to an AI system (not checked)."""
    return f"system:{name}"


def policy_ref(policy_set_sha256: str) -> str:
    """``policy:SHA256``, the reference to a rule set (not checked)."""
    return f"policy:{policy_set_sha256}"


def _prefix(text: str) -> tuple[Kind, str] | None:
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):
            return kind, text[len(prefix) :]
    return None


def _part_problem(part: str, what: str) -> str | None:
    """Why `part` cannot be a name, id or version of a reference; None if it can."""
    if not part:
        return f"the {what} is empty"
    if len(part) > MAX_PART:
        return f"the {what} is {len(part):,} characters, over {MAX_PART}"
    if _CONTROL.search(part):
        return f"the {what} contains a control character"
    if part != part.strip():
        return f"the {what} starts or ends with a space"
    return None


def _parse(kind: Kind, rest: str) -> Ref | str:
    """The reference `kind:rest`, or why it is not one."""
    if kind == "model":
        name, at, version = rest.rpartition("@")
        if not at:
            return "a model reference is model:NAME@VERSION, and the @VERSION is missing"
        problem = _part_problem(name, "model name") or _part_problem(version, "version")
        return problem or Ref("model", name, version)
    problem = _part_problem(rest, _PART_NAMES[kind])
    if problem is None and kind == "system" and not SYSTEM_NAME.fullmatch(rest):
        problem = (
            "a system name is 1-200 characters of letters, digits and ._:/@-, starting with a "
            "letter or digit"
        )
    if problem is None and kind == "policy" and not _SHA256.fullmatch(rest):
        problem = "a rule set is named by its SHA-256, 64 lowercase hex digits"
    return problem or Ref(kind, rest)


def _too_long(text: str) -> str | None:
    if len(text) > MAX_REFERENCE_LENGTH:
        return f"a reference is at most {MAX_REFERENCE_LENGTH} characters, got {len(text):,}"
    return None


def parse_ref(text: str) -> Ref:
    """Parse a canonical reference (``model:NAME@VERSION``, ``dataset:ID``, ``system:NAME``).

    Raises ValidationError saying what is wrong, e.g. for ``model:credit`` that the
    version is missing; short forms are not references here (see `meanings`).
    """
    problem = _too_long(text) if isinstance(text, str) else "a reference is text"
    found = None if problem else _prefix(text)
    if found is None:
        problem = problem or "a reference starts with model:, dataset:, system: or policy:"
    else:
        parsed = _parse(*found)
        if isinstance(parsed, Ref):
            return parsed
        problem = parsed
    raise ValidationError(f"{_shown(text)} is not a reference: {problem}")


def reference_problem(text: str, holds: Holds = THINGS) -> str | None:
    """Why `text` cannot stand in a field that holds `holds`, whatever is registered; None
    if it can.

    A prefixed reference must parse (and be to a dataset in a dataset list); a short form
    must be a possible name or ``NAME@VERSION``. For payload validation, before anything
    is looked up.
    """
    if holds == DATASETS:
        try:
            meanings(text, holds, None)
        except ValidationError as exc:
            return str(exc)
        return None
    problem = _too_long(text)
    if problem is not None:
        return problem
    found = _prefix(text)
    if found is not None:
        parsed = _parse(*found)
        return None if isinstance(parsed, Ref) else parsed
    if "@" in text and isinstance(_parse("model", text), Ref):
        return None  # NAME@VERSION, each part within its limits
    return _part_problem(text, "name")


class Known(Protocol):
    """What is registered: the names a bare name may mean."""

    def has_dataset(self, dataset_id: str) -> bool: ...

    def has_system(self, name: str) -> bool: ...


def meanings(text: str, holds: Holds, known: Known | None) -> tuple[str, ...]:
    """The canonical references `text` can mean in a field that holds `holds`.

    A reference means itself; in a field of datasets, text without a prefix is a dataset
    id; otherwise ``NAME@VERSION`` can mean a model version, and a name the dataset and the
    system `known` registers under it. One meaning: resolved; none or several: it needs a
    prefix. `known` may be None only when `needs_registry` said no registry is needed.

    Raises ValidationError with the reason alone (the caller names the text and where)
    for a malformed reference, or one to a kind of thing the field does not hold.
    """
    problem = _too_long(text)
    if problem is not None:
        raise ValidationError(problem)
    found = _prefix(text)
    if found is not None:
        parsed = _parse(*found)
        if isinstance(parsed, str):
            raise ValidationError(parsed)
        if parsed.kind not in holds:
            raise ValidationError(f"this field lists datasets, not a {parsed.kind}")
        return (text,)
    if holds == DATASETS:
        parsed = _parse("dataset", text)
        if isinstance(parsed, str):
            raise ValidationError(parsed)
        return (str(parsed),)
    assert known is not None, "needs_registry() said no registry was needed"
    found_meanings = []
    if "@" in text and isinstance(_parse("model", text), Ref):
        found_meanings.append(model_ref(*text.rsplit("@", 1)))
    if known.has_dataset(text):
        found_meanings.append(dataset_ref(text))
    if known.has_system(text):
        found_meanings.append(system_ref(text))
    return tuple(found_meanings)


def resolve_strictly(text: str, holds: Holds, known: Known | None, where: str) -> str:
    """The one canonical reference `text` means (record time).

    Raises ValidationError naming `where` (e.g. ``line 3 (assessment.completed):
    payload.target``) when it is malformed, means nothing registered, or means several
    things; the message shows the prefixed forms to write instead.
    """
    try:
        found = meanings(text, holds, known)
    except ValidationError as exc:
        raise ValidationError(f"{where} {_shown(text)}: {exc}") from None
    if len(found) == 1:
        return found[0]
    shown = _shown(text)
    if found:
        listed = " and ".join(found) if len(found) == 2 else ", ".join(found)
        raise ValidationError(
            f"{where} {shown} matches {'both' if len(found) == 2 else 'each of'} {listed}; "
            "write one of them"
        )
    model = model_ref("NAME", "VERSION") if "@" in text else model_ref(text, "VERSION")
    raise ValidationError(
        f"{where} {shown} matches no registered dataset or system; write "
        f"{dataset_ref(text)} or {system_ref(text)} for one not registered yet "
        f"(or register it first), or {model} for a model version"
    )


def resolve_tolerantly(text: str, holds: Holds, known: Known | None) -> str:
    """The canonical reference `text` means, or `text` itself when it does not mean
    exactly one thing (read time: an old ledger is judged as it was written)."""
    try:
        found = meanings(text, holds, known)
    except ValidationError:
        return text
    return found[0] if len(found) == 1 else text


#: A resolver: (text, what the field holds, the field's path) -> the canonical reference.
Resolve = Callable[[str, Holds, str], str]


def needs_registry(event_type: str, payload: Mapping[str, Any]) -> bool:
    """Whether canonicalising this payload must know what is registered: a reference
    field holds a short form that may name a registered thing."""
    for name, holds in REFERENCE_FIELDS.get(event_type, {}).items():
        value = payload.get(name)
        if holds != DATASETS and isinstance(value, str) and _prefix(value) is None:
            return True
    return False


def canonical_payload(
    event_type: str, payload: Mapping[str, Any], resolve: Resolve
) -> Mapping[str, Any]:
    """`payload` with every reference field rewritten by `resolve`.

    Returns `payload` itself when nothing changed (most events hold no reference), else a
    new dict. Values that are not text are left for payload validation to judge.
    Raises what `resolve` raises.
    """
    fields = REFERENCE_FIELDS.get(event_type)
    if not fields:
        return payload
    changed: dict[str, Any] | None = None
    for name, holds in fields.items():
        value = payload.get(name)
        new: Any = value
        if isinstance(value, str):
            new = resolve(value, holds, f"payload.{name}")
        elif isinstance(value, list):
            new = [
                resolve(item, holds, f"payload.{name}[{index}]") if isinstance(item, str) else item
                for index, item in enumerate(value)
            ]
        if new != value:
            changed = dict(payload) if changed is None else changed
            changed[name] = new
    return payload if changed is None else changed


def dataset_id_of(text: str) -> str:
    """The dataset id an entry of a dataset list names: ``dataset:x`` and ``x`` give ``x``.

    Raises ValidationError for a reference to something else (``system:x``) or a malformed one.
    """
    return parse_ref(meanings(text, DATASETS, None)[0]).name


class Registry:
    """The datasets and systems registered so far, learnt from events in order.

    With `base`, an overlay: it answers from both and learns into itself only, so a
    caller can drop what it learnt (a write that rolled back) or `absorb` it into the base.
    """

    __slots__ = ("_base", "datasets", "systems")

    def __init__(self, base: Registry | None = None) -> None:
        self._base = base
        self.datasets: set[str] = set()
        self.systems: set[str] = set()

    def has_dataset(self, dataset_id: str) -> bool:
        return dataset_id in self.datasets or (
            self._base is not None and self._base.has_dataset(dataset_id)
        )

    def has_system(self, name: str) -> bool:
        return name in self.systems or (self._base is not None and self._base.has_system(name))

    def learn(self, event_type: str, system: str, payload: Mapping[str, Any]) -> None:
        """Take in what an event registers: a system (system.registered, by its envelope
        `system`) or a dataset (dataset.registered and dataset.derived, by `dataset_id`)."""
        if event_type == "system.registered":
            self.systems.add(system)
        elif event_type in ("dataset.registered", "dataset.derived"):
            dataset_id = payload.get("dataset_id")
            if isinstance(dataset_id, str):
                self.datasets.add(dataset_id)

    def absorb(self, overlay: Registry) -> None:
        """Take in what an overlay learnt."""
        self.datasets |= overlay.datasets
        self.systems |= overlay.systems


#: The event types a `Registry` learns from.
REGISTERING_TYPES: frozenset[str] = frozenset(
    {"system.registered", "dataset.registered", "dataset.derived"}
)
#: The event types a `CanonicalReader` must see: they hold references or register things.
READ_TYPES: frozenset[str] = frozenset(REFERENCE_FIELDS) | REGISTERING_TYPES


class CanonicalReader:
    """Read time: canonical references for events read in order, so that ledgers recorded
    before the grammar are judged as if recorded with it.

    A short form is resolved against what the events read so far registered; one that
    does not mean exactly one thing stays as written.
    """

    __slots__ = ("registry",)

    def __init__(self) -> None:
        self.registry = Registry()

    def payload(
        self, event_type: str, system: str, payload: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """The event's payload with canonical references (`payload` itself if unchanged)."""
        registry = self.registry

        def resolve(text: str, holds: Holds, path: str) -> str:
            return resolve_tolerantly(text, holds, registry)

        canonical = canonical_payload(event_type, payload, resolve)
        registry.learn(event_type, system, canonical)
        return canonical


def _shown(text: str) -> str:
    """`text` quoted for a message, cut short when long (hostile input reaches logs)."""
    shown = repr(text)
    return shown if len(shown) <= 80 else f"{shown[:60]}...' ({len(text):,} characters)"
