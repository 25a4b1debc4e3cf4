"""Lineage: what a model was trained on, what a dataset feeds, what a data subject touches.

`build_lineage` reads events once into a `LineageGraph`; `upstream`, `dataset_impact` and
`subject_impact` answer questions over that graph with frozen result objects. Everything
here is pure: envelopes in, values out, no database and no clock. `auditml/cli/lineage.py`
does the reading and the printing.

The graph's size follows the things it describes (datasets, model versions, deployments,
subjects with events), not the number of events: `decision.made` events, the bulk of any
ledger, are only counted per subject and model version. Events may arrive in any order;
"later" always means a higher `seq`.

Identifiers (`dataset_id`, `model`, `version`, `environment`, purposes) are compared
exactly as recorded, across every system in the events given; pass the events of one
system to scope a graph to it. The dataset lists (`model.trained.datasets`,
`dataset.derived.inputs`) hold references, ``dataset:ID``, or in ledgers recorded before
the reference grammar the bare id: both are read as the id (auditml/events/refs.py).
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from auditml.errors import NotFoundError, ValidationError
from auditml.events.envelope import Envelope
from auditml.events.refs import dataset_id_of, parse_ref

#: The event types that describe datasets, training and deployment.
PROVENANCE_EVENT_TYPES: frozenset[str] = frozenset(
    {"dataset.registered", "dataset.derived", "model.trained", "model.deployed", "model.retired"}
)
#: The event types about one data subject that `subject_impact` follows.
SUBJECT_EVENT_TYPES: frozenset[str] = frozenset(
    {"consent.granted", "consent.withdrawn", "decision.made", "erasure.completed"}
)

Provenance = Literal["registered", "derived", "unregistered"]
ModelKey = tuple[str, str]
"""A model version as (model, version)."""


# -- what the graph holds -----------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRegistration:
    """The facts a `dataset.registered` event states; the latest registration (by seq) wins."""

    dataset_id: str
    #: Descriptive fields: None when the event did not carry them as text.
    name: str | None
    uri: str | None
    sha256: str | None
    contains_personal_data: bool
    special_categories: tuple[str, ...]
    #: The GDPR Art. 6 basis (consent, contract, ...); None when none was recorded.
    lawful_basis: str | None
    purposes: tuple[str, ...]
    retention: str | None
    collected_at: str | None
    seq: int
    event_id: str
    occurred_at: str
    system: str


@dataclass(frozen=True)
class Derivation:
    """A `dataset.derived` event: `dataset_id` was made from `inputs`."""

    dataset_id: str
    inputs: tuple[str, ...]
    transformation: str | None
    code_version: str | None
    sha256: str | None
    seq: int
    event_id: str
    occurred_at: str
    system: str


@dataclass(frozen=True)
class Training:
    """A `model.trained` event: `model@version` was trained on `datasets`."""

    model: str
    version: str
    datasets: tuple[str, ...]
    code_version: str | None
    artifact_sha256: str | None
    seq: int
    event_id: str
    occurred_at: str
    system: str


@dataclass(frozen=True)
class Deployment:
    """Where one model version stands in one environment, from its deploy and retire events.

    `currently_deployed` is true when the latest `model.deployed` has a higher seq than
    the latest `model.retired` (or there is none). Seq and time fields are those of the
    latest event of each kind; None when there was none.
    """

    model: str
    version: str
    environment: str
    currently_deployed: bool
    deployed_seq: int | None
    deployed_at: str | None
    retired_seq: int | None
    retired_at: str | None


@dataclass(frozen=True)
class ConsentChange:
    """One `consent.granted` or `consent.withdrawn` event about a subject."""

    purpose: str
    action: Literal["granted", "withdrawn"]
    #: Whether the grant was explicit (GDPR Art. 9(2)(a)); None for withdrawals.
    explicit: bool | None
    seq: int
    event_id: str
    occurred_at: str


@dataclass(frozen=True)
class DecisionSummary:
    """The decisions one model version made about one subject: a count, not the events."""

    model: str
    version: str
    count: int
    purposes: tuple[str, ...]
    first_seq: int
    first_at: str
    last_seq: int
    last_at: str


@dataclass(frozen=True)
class Erasure:
    """The first `erasure.completed` event for a subject."""

    request_id: str | None
    method: str | None
    seq: int
    event_id: str
    occurred_at: str


@dataclass(frozen=True)
class SubjectRecord:
    """What the graph keeps about one subject token: consents, decision counts, erasure."""

    subject: str
    consent_history: tuple[ConsentChange, ...]
    decisions: tuple[DecisionSummary, ...]
    erasure: Erasure | None


@dataclass(frozen=True)
class UnreadableEvent:
    """An event lineage could not use because a field it needs is missing or mistyped.

    The ledger is append-only, so such an event stays; it is reported, never guessed at.
    """

    seq: int
    event_id: str
    type: str
    reason: str


@dataclass(frozen=True)
class LineageGraph:
    """Datasets, derivations, trainings, deployments and subjects, with indexes both ways.

    Build one with `build_lineage`; treat the mappings as read-only. Every tuple is sorted.
    """

    registrations: Mapping[str, DatasetRegistration]
    #: dataset id -> its derivation events, by seq (usually one).
    derivations: Mapping[str, tuple[Derivation, ...]]
    #: (model, version) -> its training events, by seq (usually one).
    trainings: Mapping[ModelKey, tuple[Training, ...]]
    #: (model, version) -> its state per environment, by environment.
    deployments: Mapping[ModelKey, tuple[Deployment, ...]]
    subjects: Mapping[str, SubjectRecord]
    unreadable: tuple[UnreadableEvent, ...]
    #: dataset id -> the datasets it was derived from (union over its derivations).
    inputs_of: Mapping[str, tuple[str, ...]]
    #: dataset id -> the datasets derived from it.
    derived_from: Mapping[str, tuple[str, ...]]
    #: (model, version) -> the datasets it was trained on (union over its trainings).
    trained_on: Mapping[ModelKey, tuple[str, ...]]
    #: dataset id -> the model versions trained directly on it.
    models_using: Mapping[str, tuple[ModelKey, ...]]
    #: Every dataset id registered, derived or referenced by a derivation or a training.
    dataset_ids: frozenset[str]

    def provenance(self, dataset_id: str) -> Provenance:
        """Return how the ledger knows a dataset: registered, derived, or only referenced."""
        if dataset_id in self.registrations:
            return "registered"
        if dataset_id in self.derivations:
            return "derived"
        return "unregistered"


# -- building -------------------------------------------------------------------------------


class _Unreadable(Exception):
    """A payload field lineage needs is missing or of the wrong type."""


class _DecisionTally:
    """Running count of one model version's decisions about one subject."""

    __slots__ = ("count", "first_at", "first_seq", "last_at", "last_seq", "purposes")

    def __init__(self, seq: int, occurred_at: str) -> None:
        self.count = 0
        self.purposes: set[str] = set()
        self.first_seq, self.first_at = seq, occurred_at
        self.last_seq, self.last_at = seq, occurred_at

    def add(self, seq: int, occurred_at: str, purpose: str | None) -> None:
        self.count += 1
        if purpose is not None:
            self.purposes.add(purpose)
        if seq < self.first_seq:
            self.first_seq, self.first_at = seq, occurred_at
        if seq > self.last_seq:
            self.last_seq, self.last_at = seq, occurred_at


class _SubjectBuilder:
    __slots__ = ("consents", "decisions", "erasure")

    def __init__(self) -> None:
        self.consents: list[ConsentChange] = []
        self.decisions: dict[ModelKey, _DecisionTally] = {}
        self.erasure: Erasure | None = None


class _DeploymentBuilder:
    __slots__ = ("deployed", "retired")

    def __init__(self) -> None:
        self.deployed: tuple[int, str] | None = None
        self.retired: tuple[int, str] | None = None


class _EventFields:
    """The envelope fields lineage uses, from an `Envelope` or an envelope dict."""

    __slots__ = ("event_id", "occurred_at", "payload", "seq", "subject", "system", "type")

    def __init__(self, event: Envelope | Mapping[str, Any], position: int) -> None:
        if isinstance(event, Envelope):
            self.type, self.seq, self.event_id = event.type, event.seq, event.id
            self.system, self.occurred_at = event.system, event.occurred_at
            self.subject, self.payload = event.subject, event.payload
            return
        if not isinstance(event, Mapping):
            raise ValidationError(
                f"event {position}: expected an Envelope or an envelope dict, "
                f"got {type(event).__name__}"
            )
        try:
            self.type, self.seq, self.event_id = event["type"], event["seq"], event["id"]
            self.system, self.occurred_at = event["system"], event["occurred_at"]
            self.payload = event["payload"]
        except KeyError as exc:
            raise ValidationError(
                f"event {position}: an envelope needs type, seq, id, system, occurred_at and "
                f"payload; {exc.args[0]!r} is missing"
            ) from None
        self.subject = event.get("subject")
        if not isinstance(self.seq, int) or not isinstance(self.payload, Mapping):
            raise ValidationError(f"event {position}: seq must be an integer and payload an object")


class _Builder:
    def __init__(self) -> None:
        self.registrations: dict[str, DatasetRegistration] = {}
        self.derivations: dict[str, list[Derivation]] = {}
        self.trainings: dict[ModelKey, list[Training]] = {}
        self.deployments: dict[ModelKey, dict[str, _DeploymentBuilder]] = {}
        self.subjects: dict[str, _SubjectBuilder] = {}
        self.unreadable: list[UnreadableEvent] = []

    def add(self, event: _EventFields) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            # Another event type about a subject (a DSR, a review): the subject exists.
            if event.subject is not None:
                self._subject(event.subject)
            return
        try:
            handler(self, event)
        except _Unreadable as exc:
            self.unreadable.append(UnreadableEvent(event.seq, event.event_id, event.type, str(exc)))
            if event.subject is not None:
                self._subject(event.subject)

    def _subject(self, token: str) -> _SubjectBuilder:
        found = self.subjects.get(token)
        if found is None:
            found = self.subjects[token] = _SubjectBuilder()
        return found

    def dataset_registered(self, event: _EventFields) -> None:
        p = event.payload
        dataset_id = _text(p, "dataset_id")
        registration = DatasetRegistration(
            dataset_id=dataset_id,
            name=_optional_text(p, "name"),
            uri=_optional_text(p, "uri"),
            sha256=_optional_text(p, "sha256"),
            contains_personal_data=_flag(p, "contains_personal_data"),
            special_categories=_texts(p, "special_categories"),
            lawful_basis=_strict_optional_text(p, "lawful_basis"),
            purposes=_texts(p, "purposes"),
            retention=_optional_text(p, "retention"),
            collected_at=_optional_text(p, "collected_at"),
            seq=event.seq,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            system=event.system,
        )
        earlier = self.registrations.get(dataset_id)
        if earlier is None or earlier.seq < event.seq:
            self.registrations[dataset_id] = registration

    def dataset_derived(self, event: _EventFields) -> None:
        p = event.payload
        derivation = Derivation(
            dataset_id=_text(p, "dataset_id"),
            inputs=_dataset_ids(p, "inputs"),
            transformation=_optional_text(p, "transformation"),
            code_version=_optional_text(p, "code_version"),
            sha256=_optional_text(p, "sha256"),
            seq=event.seq,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            system=event.system,
        )
        self.derivations.setdefault(derivation.dataset_id, []).append(derivation)

    def model_trained(self, event: _EventFields) -> None:
        p = event.payload
        training = Training(
            model=_text(p, "model"),
            version=_text(p, "version"),
            datasets=_dataset_ids(p, "datasets"),
            code_version=_optional_text(p, "code_version"),
            artifact_sha256=_optional_text(p, "artifact_sha256"),
            seq=event.seq,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            system=event.system,
        )
        self.trainings.setdefault((training.model, training.version), []).append(training)

    def model_deployed_or_retired(self, event: _EventFields) -> None:
        p = event.payload
        key = (_text(p, "model"), _text(p, "version"))
        environment = _text(p, "environment")
        state = self.deployments.setdefault(key, {}).setdefault(environment, _DeploymentBuilder())
        mark = (event.seq, event.occurred_at)
        if event.type == "model.deployed":
            if state.deployed is None or state.deployed < mark:
                state.deployed = mark
        elif state.retired is None or state.retired < mark:
            state.retired = mark

    def consent_changed(self, event: _EventFields) -> None:
        if event.subject is None:
            return  # Nothing to attribute; finding the missing subject is a policy check's job.
        granted = event.type == "consent.granted"
        change = ConsentChange(
            purpose=_text(event.payload, "purpose"),
            action="granted" if granted else "withdrawn",
            explicit=_optional_flag(event.payload, "explicit") if granted else None,
            seq=event.seq,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
        )
        self._subject(event.subject).consents.append(change)

    def decision_made(self, event: _EventFields) -> None:
        # The hot path: one call per decision. Only a tally per (subject, model version) stays.
        if event.subject is None:
            return
        p = event.payload
        key = (_text(p, "model"), _text(p, "version"))
        decisions = self._subject(event.subject).decisions
        tally = decisions.get(key)
        if tally is None:
            tally = decisions[key] = _DecisionTally(event.seq, event.occurred_at)
        tally.add(event.seq, event.occurred_at, _optional_text(p, "purpose"))

    def erasure_completed(self, event: _EventFields) -> None:
        if event.subject is None:
            return
        subject = self._subject(event.subject)
        if subject.erasure is None or event.seq < subject.erasure.seq:
            subject.erasure = Erasure(
                request_id=_optional_text(event.payload, "request_id"),
                method=_optional_text(event.payload, "method"),
                seq=event.seq,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
            )

    def freeze(self) -> LineageGraph:
        derivations = {
            dataset: tuple(sorted(found, key=lambda d: d.seq))
            for dataset, found in self.derivations.items()
        }
        trainings = {
            key: tuple(sorted(found, key=lambda t: t.seq)) for key, found in self.trainings.items()
        }
        inputs_of = {
            dataset: tuple(sorted({i for d in found for i in d.inputs}))
            for dataset, found in derivations.items()
        }
        trained_on = {
            key: tuple(sorted({d for t in found for d in t.datasets}))
            for key, found in trainings.items()
        }
        derived_from: dict[str, set[str]] = {}
        for dataset, inputs in inputs_of.items():
            for source in inputs:
                derived_from.setdefault(source, set()).add(dataset)
        models_using: dict[str, set[ModelKey]] = {}
        for key, datasets in trained_on.items():
            for dataset in datasets:
                models_using.setdefault(dataset, set()).add(key)
        dataset_ids = frozenset({*self.registrations, *derivations, *derived_from, *models_using})
        return LineageGraph(
            registrations=dict(self.registrations),
            derivations=derivations,
            trainings=trainings,
            deployments={
                key: tuple(_deployment(key, env, state) for env, state in sorted(envs.items()))
                for key, envs in self.deployments.items()
            },
            subjects={token: _subject_record(token, s) for token, s in self.subjects.items()},
            unreadable=tuple(sorted(self.unreadable, key=lambda u: u.seq)),
            inputs_of=inputs_of,
            derived_from={d: tuple(sorted(found)) for d, found in derived_from.items()},
            trained_on=trained_on,
            models_using={d: _sorted_models(found) for d, found in models_using.items()},
            dataset_ids=dataset_ids,
        )


_HANDLERS = {
    "dataset.registered": _Builder.dataset_registered,
    "dataset.derived": _Builder.dataset_derived,
    "model.trained": _Builder.model_trained,
    "model.deployed": _Builder.model_deployed_or_retired,
    "model.retired": _Builder.model_deployed_or_retired,
    "consent.granted": _Builder.consent_changed,
    "consent.withdrawn": _Builder.consent_changed,
    "decision.made": _Builder.decision_made,
    "erasure.completed": _Builder.erasure_completed,
}


def build_lineage(events: Iterable[Envelope | Mapping[str, Any]]) -> LineageGraph:
    """Read events once and return the lineage graph they describe.

    `events` are `Envelope` objects or envelope dicts (type, seq, id, system, occurred_at,
    payload, optional subject), in any order. Events of other types only mark their
    subject as known. An event whose payload lacks a field lineage needs (a dataset id
    that is not text, `contains_personal_data` that is not a boolean, ...) is left out
    and listed in `LineageGraph.unreadable`. `consent.*`, `decision.made` and
    `erasure.completed` events without a subject are ignored: there is no one to
    attribute them to.

    Raises ValidationError if an item is not an envelope at all (no type, seq, ...).
    """
    builder = _Builder()
    for position, event in enumerate(events):
        builder.add(_EventFields(event, position))
    return builder.freeze()


def _deployment(key: ModelKey, environment: str, state: _DeploymentBuilder) -> Deployment:
    deployed, retired = state.deployed, state.retired
    current = deployed is not None and (retired is None or retired[0] < deployed[0])
    return Deployment(
        model=key[0],
        version=key[1],
        environment=environment,
        currently_deployed=current,
        deployed_seq=deployed[0] if deployed else None,
        deployed_at=deployed[1] if deployed else None,
        retired_seq=retired[0] if retired else None,
        retired_at=retired[1] if retired else None,
    )


def _subject_record(token: str, subject: _SubjectBuilder) -> SubjectRecord:
    decisions = [
        DecisionSummary(
            model=key[0],
            version=key[1],
            count=tally.count,
            purposes=tuple(sorted(tally.purposes)),
            first_seq=tally.first_seq,
            first_at=tally.first_at,
            last_seq=tally.last_seq,
            last_at=tally.last_at,
        )
        for key, tally in subject.decisions.items()
    ]
    return SubjectRecord(
        subject=token,
        consent_history=tuple(sorted(subject.consents, key=lambda c: c.seq)),
        decisions=tuple(sorted(decisions, key=lambda d: _model_order((d.model, d.version)))),
        erasure=subject.erasure,
    )


def _text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise _Unreadable(f"payload field {field!r} must be a non-empty string, got {value!r}")
    return value


def _optional_text(payload: Mapping[str, Any], field: str) -> str | None:
    """A descriptive field: kept when it is text, otherwise treated as absent."""
    value = payload.get(field)
    return value if isinstance(value, str) else None


def _strict_optional_text(payload: Mapping[str, Any], field: str) -> str | None:
    value = payload.get(field)
    if value is not None and not isinstance(value, str):
        raise _Unreadable(f"payload field {field!r} must be a string when given, got {value!r}")
    return value


def _texts(payload: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = payload.get(field)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Unreadable(f"payload field {field!r} must be a list of strings, got {value!r}")
    return tuple(sorted(set(value)))


def _dataset_ids(payload: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """The ids a dataset list names, ``dataset:ID`` or (older ledgers) the bare id."""
    try:
        return tuple(sorted({dataset_id_of(text) for text in _texts(payload, field)}))
    except ValidationError as exc:
        raise _Unreadable(f"payload field {field!r} must list datasets: {exc}") from None


def _flag(payload: Mapping[str, Any], field: str) -> bool:
    value = payload.get(field)
    if not isinstance(value, bool):
        raise _Unreadable(f"payload field {field!r} must be true or false, got {value!r}")
    return value


def _optional_flag(payload: Mapping[str, Any], field: str) -> bool | None:
    value = payload.get(field)
    return value if isinstance(value, bool) else None


# -- ordering and parsing -------------------------------------------------------------------


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders embedded numbers by value: 2.0 before 10.0."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )


def _model_order(key: ModelKey) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    return key[0], _natural(key[1])


def _sorted_models(keys: Iterable[ModelKey]) -> tuple[ModelKey, ...]:
    return tuple(sorted(keys, key=_model_order))


def model_label(model: str, version: str) -> str:
    """Return the `model@version` form used in approvals, assessments and the CLI."""
    return f"{model}@{version}"


def parse_model_version(text: str) -> ModelKey:
    """Split `MODEL@VERSION` (or the reference `model:MODEL@VERSION`) at its last `@` into
    (model, version).

    Raises ValidationError if either part is empty or there is no `@`.
    """
    if text.startswith("model:"):
        ref = parse_ref(text)
        assert ref.version is not None
        return ref.name, ref.version
    model, at, version = text.rpartition("@")
    if not at or not model or not version:
        raise ValidationError(
            f"{text!r} is not MODEL@VERSION; name a model version like credit@3.2 "
            "(or use --dataset ID / --subject-token TOKEN)"
        )
    return model, version


# -- query results --------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamDataset:
    """One dataset a model version depends on, and how it was reached."""

    dataset_id: str
    #: registered (facts below), derived (see `derivations`), or unregistered: referenced
    #: by a training or a derivation but never registered nor derived, a gap in the record.
    provenance: Provenance
    #: Steps from the model: 1 = trained directly on it, 2 = an input of one of those, ...
    depth: int
    #: The dataset it was reached through on a shortest chain from the model (ties broken
    #: by id); None when the model was trained on it directly. Follow `via` to the model
    #: for the whole chain (a chain per dataset would grow with the square of the depth).
    via: str | None
    #: The datasets this one was derived from (empty unless derived).
    inputs: tuple[str, ...]
    registration: DatasetRegistration | None
    derivations: tuple[Derivation, ...]


@dataclass(frozen=True)
class ModelUpstream:
    """Everything a model version's training data came from, transitively."""

    model: str
    version: str
    trainings: tuple[Training, ...]
    deployments: tuple[Deployment, ...]
    #: By depth, then dataset id.
    datasets: tuple[UpstreamDataset, ...]
    #: Datasets referenced but never registered nor derived: their facts are unknown.
    unregistered: tuple[str, ...]
    #: Whether any registered dataset upstream contains personal data.
    contains_personal_data: bool
    #: The union of the special categories (GDPR Art. 9) of the datasets upstream.
    special_categories: tuple[str, ...]
    #: The lawful bases of the registered datasets upstream that state one.
    lawful_bases: tuple[str, ...]


@dataclass(frozen=True)
class DownstreamDataset:
    """A dataset derived, directly or through others, from the datasets a query starts at."""

    dataset_id: str
    #: Derivation steps from the nearest starting dataset (1 = derived from it directly).
    depth: int
    #: The dataset it was derived from on a shortest chain from a starting dataset.
    via: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class ModelImpact:
    """A model version trained on affected data, and where it runs."""

    model: str
    version: str
    #: The affected datasets it was trained on directly.
    trained_on: tuple[str, ...]
    deployments: tuple[Deployment, ...]
    #: The environments it is deployed in now.
    currently_deployed_in: tuple[str, ...]


@dataclass(frozen=True)
class DatasetImpact:
    """Everything downstream of a dataset: derived data, models, deployments."""

    dataset_id: str
    provenance: Provenance
    registration: DatasetRegistration | None
    #: How the dataset itself was made, if it was derived.
    derivations: tuple[Derivation, ...]
    #: By depth, then dataset id.
    derived: tuple[DownstreamDataset, ...]
    #: Model versions trained on the dataset or anything derived from it.
    models: tuple[ModelImpact, ...]


@dataclass(frozen=True)
class PurposeConsent:
    """Where a subject's consent for one purpose stands, from its consent history."""

    purpose: str
    #: The action of the latest change (by seq).
    status: Literal["granted", "withdrawn"]
    #: Of the latest grant; None if no grant was recorded.
    explicit: bool | None
    granted_seq: int | None
    granted_at: str | None
    #: Of the latest withdrawal; None if never withdrawn.
    withdrawn_seq: int | None
    withdrawn_at: str | None


@dataclass(frozen=True)
class PurposeMatchedDataset:
    """A consent-based personal dataset whose purposes include one the subject consented to."""

    dataset_id: str
    matched_purposes: tuple[str, ...]
    registration: DatasetRegistration


@dataclass(frozen=True)
class SubjectImpact:
    """What a subject's consent withdrawal or erasure reaches. Holds tokens, never personal data.

    `basis` is "purpose-match": no event links a subject to a dataset, so the datasets are
    inferred from consent purposes (see `subject_impact`). Decisions are facts from
    `decision.made` events about this subject.
    """

    subject: str
    basis: Literal["purpose-match"]
    #: One entry per purpose with any consent event, by purpose.
    consents: tuple[PurposeConsent, ...]
    consent_history: tuple[ConsentChange, ...]
    #: By dataset id.
    matched_datasets: tuple[PurposeMatchedDataset, ...]
    #: Derived from the matched datasets, by depth then id.
    derived: tuple[DownstreamDataset, ...]
    #: Model versions trained on the matched or derived datasets.
    models: tuple[ModelImpact, ...]
    #: Model versions that made decisions about the subject.
    decisions: tuple[DecisionSummary, ...]
    erased: bool
    erasure: Erasure | None


# -- queries --------------------------------------------------------------------------------


def upstream(graph: LineageGraph, model: str, version: str) -> ModelUpstream:
    """Return the transitive data dependencies of `model@version`.

    Follows `model.trained.datasets`, then `dataset.derived.inputs` from each of those,
    to the end (cycles in bad data are followed once). Each dataset carries its
    registration facts and its shortest path from the model; datasets never registered
    nor derived are listed in `unregistered`.

    Raises NotFoundError if no `model.trained` event names this model version.
    """
    key = (model, version)
    trainings = graph.trainings.get(key)
    if not trainings:
        raise NotFoundError(_model_not_found(graph, model, version))
    reached = _shortest_paths(graph.trained_on[key], graph.inputs_of)
    datasets = tuple(
        UpstreamDataset(
            dataset_id=dataset,
            provenance=graph.provenance(dataset),
            depth=depth + 1,
            via=via,
            inputs=graph.inputs_of.get(dataset, ()),
            registration=graph.registrations.get(dataset),
            derivations=graph.derivations.get(dataset, ()),
        )
        for dataset, (depth, via) in sorted(reached.items(), key=lambda item: (item[1][0], item[0]))
    )
    registered = [d.registration for d in datasets if d.registration is not None]
    return ModelUpstream(
        model=model,
        version=version,
        trainings=trainings,
        deployments=graph.deployments.get(key, ()),
        datasets=datasets,
        unregistered=tuple(
            sorted(d.dataset_id for d in datasets if d.provenance == "unregistered")
        ),
        contains_personal_data=any(r.contains_personal_data for r in registered),
        special_categories=tuple(sorted({c for r in registered for c in r.special_categories})),
        lawful_bases=tuple(sorted({r.lawful_basis for r in registered if r.lawful_basis})),
    )


def dataset_impact(graph: LineageGraph, dataset_id: str) -> DatasetImpact:
    """Return everything downstream of a dataset.

    That is the datasets derived from it (transitively, through `dataset.derived.inputs`),
    the model versions trained on it or on any of those, and each model version's
    deployments: currently deployed per environment means deployed and not retired by a
    later (higher seq) event.

    Raises NotFoundError if no event registers, derives or references the dataset.
    """
    if dataset_id not in graph.dataset_ids:
        raise NotFoundError(_dataset_not_found(graph, dataset_id))
    derived, models = _downstream(graph, (dataset_id,))
    return DatasetImpact(
        dataset_id=dataset_id,
        provenance=graph.provenance(dataset_id),
        registration=graph.registrations.get(dataset_id),
        derivations=graph.derivations.get(dataset_id, ()),
        derived=derived,
        models=models,
    )


def subject_impact(graph: LineageGraph, subject_token: str) -> SubjectImpact:
    """Return what a subject's consent withdrawal or erasure reaches, by pseudonymous token.

    (a) the subject's consents per purpose and their history; (b) the datasets that may
    hold the subject's data and everything derived from them; (c) the model versions
    trained on those, with deployments; (d) the model versions that made decisions about
    the subject, with counts; (e) whether the subject's data was erased.

    (b) is an inference, marked `basis="purpose-match"`: vocabulary v1 has no event that
    links a subject to a dataset. A dataset is matched when it contains personal data, its
    lawful basis is "consent", and its purposes share one with any purpose the subject
    has a consent event for: granted, or withdrawn without a recorded grant (a withdrawal
    implies an earlier consent, and missing a dataset is the worse error). Purposes are
    compared exactly. Datasets held on other lawful bases may hold the subject's data too;
    nothing in the ledger says which.

    Works after erasure: the token stays in the ledger and nothing here needs personal data.

    Raises NotFoundError if no event given to `build_lineage` carries the token (a subject
    known only from other events, such as a DSR, gives an empty result).
    """
    record = graph.subjects.get(subject_token)
    if record is None:
        raise NotFoundError(
            f"no consent, decision or erasure event is about subject token {subject_token!r}; "
            "check the token (the pseudonymous `subject` field of the subject's events, not "
            "their raw identifier)"
        )
    purposes = {change.purpose for change in record.consent_history}
    matched = tuple(
        PurposeMatchedDataset(
            dataset_id=registration.dataset_id,
            matched_purposes=tuple(sorted(purposes.intersection(registration.purposes))),
            registration=registration,
        )
        for registration in sorted(graph.registrations.values(), key=lambda r: r.dataset_id)
        if registration.contains_personal_data
        and registration.lawful_basis == "consent"
        and purposes.intersection(registration.purposes)
    )
    derived, models = _downstream(graph, tuple(m.dataset_id for m in matched))
    return SubjectImpact(
        subject=subject_token,
        basis="purpose-match",
        consents=_consents_by_purpose(record.consent_history),
        consent_history=record.consent_history,
        matched_datasets=matched,
        derived=derived,
        models=models,
        decisions=record.decisions,
        erased=record.erasure is not None,
        erasure=record.erasure,
    )


def _shortest_paths(
    starts: Sequence[str], edges: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[int, str | None]]:
    """Breadth-first from `starts` along `edges`: {node: (steps from a start, the node it
    was first reached from)}; a start is (0, None).

    Visiting starts and neighbours in sorted order makes the chosen chain deterministic; a
    node already reached is not entered again, so cycles in bad data end.
    """
    reached: dict[str, tuple[int, str | None]] = {}
    queue: deque[str] = deque()
    for start in sorted(starts):
        if start not in reached:
            reached[start] = (0, None)
            queue.append(start)
    while queue:
        current = queue.popleft()
        depth = reached[current][0] + 1
        for following in edges.get(current, ()):
            if following not in reached:
                reached[following] = (depth, current)
                queue.append(following)
    return reached


def _downstream(
    graph: LineageGraph, roots: Sequence[str]
) -> tuple[tuple[DownstreamDataset, ...], tuple[ModelImpact, ...]]:
    """The datasets derived from `roots` and the model versions trained on any of them all."""
    reached = _shortest_paths(roots, graph.derived_from)
    derived = tuple(
        DownstreamDataset(
            dataset_id=dataset,
            depth=depth,
            via=via,
            inputs=graph.inputs_of.get(dataset, ()),
        )
        for dataset, (depth, via) in sorted(reached.items(), key=lambda item: (item[1][0], item[0]))
        if via is not None
    )
    affected = set(reached)
    keys = {key for dataset in affected for key in graph.models_using.get(dataset, ())}
    models = []
    for key in _sorted_models(keys):
        deployments = graph.deployments.get(key, ())
        models.append(
            ModelImpact(
                model=key[0],
                version=key[1],
                trained_on=tuple(d for d in graph.trained_on[key] if d in affected),
                deployments=deployments,
                currently_deployed_in=tuple(
                    d.environment for d in deployments if d.currently_deployed
                ),
            )
        )
    return derived, tuple(models)


def _consents_by_purpose(history: Sequence[ConsentChange]) -> tuple[PurposeConsent, ...]:
    latest: dict[str, dict[str, ConsentChange]] = {}
    for change in history:  # sorted by seq, so later changes overwrite earlier ones
        latest.setdefault(change.purpose, {})[change.action] = change
    result = []
    for purpose in sorted(latest):
        granted = latest[purpose].get("granted")
        withdrawn = latest[purpose].get("withdrawn")
        last = max((c for c in (granted, withdrawn) if c is not None), key=lambda c: c.seq)
        result.append(
            PurposeConsent(
                purpose=purpose,
                status=last.action,
                explicit=granted.explicit if granted else None,
                granted_seq=granted.seq if granted else None,
                granted_at=granted.occurred_at if granted else None,
                withdrawn_seq=withdrawn.seq if withdrawn else None,
                withdrawn_at=withdrawn.occurred_at if withdrawn else None,
            )
        )
    return tuple(result)


def _close(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _model_not_found(graph: LineageGraph, model: str, version: str) -> str:
    label = model_label(model, version)
    deployed = graph.deployments.get((model, version))
    if deployed:
        return (
            f"{label} has deployment events but no model.trained event says what it was trained "
            f"on; record model.trained for {label} (with its datasets) to trace its data"
        )
    versions = [v for m, v in _sorted_models(graph.trainings) if m == model]
    if versions:
        return (
            f"no model.trained event for {label}; trained versions of {model}: "
            f"{', '.join(versions)}. Name one of them, e.g. {model_label(model, versions[-1])}"
        )
    models = {m for m, _ in graph.trainings}
    return (
        f"no model.trained event for any version of {model!r}{_close(model, models)}; "
        "list trainings with `auditml log --type model.trained`"
    )


def _dataset_not_found(graph: LineageGraph, dataset_id: str) -> str:
    return (
        f"no event registers, derives or uses dataset {dataset_id!r}"
        f"{_close(dataset_id, graph.dataset_ids)}; list datasets with "
        "`auditml log --type dataset.registered`"
    )
