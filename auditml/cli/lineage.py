"""`auditml lineage`: a model's data, a dataset's reach, a data subject's footprint."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from auditml.cli.output import console, errors, print_json
from auditml.cli.state import OPTIONS
from auditml.errors import NotFoundError, ValidationError
from auditml.events.envelope import Envelope
from auditml.events.refs import dataset_id_of
from auditml.ledger.ledger import Ledger
from auditml.lineage import (
    PROVENANCE_EVENT_TYPES,
    SUBJECT_EVENT_TYPES,
    DatasetImpact,
    DatasetRegistration,
    Deployment,
    Derivation,
    DownstreamDataset,
    LineageGraph,
    ModelImpact,
    ModelUpstream,
    Provenance,
    PurposeConsent,
    SubjectImpact,
    UnreadableEvent,
    build_lineage,
    dataset_impact,
    model_label,
    parse_model_version,
    subject_impact,
    upstream,
)

WARN = "bold yellow"
PERSONAL = "red"
SPECIAL = "bold red"
SHOWN_ABOVE = "(shown above)"


def lineage(
    model_version: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL@VERSION",
            help="A model version, e.g. credit@3.2 or model:credit@3.2: every dataset it was "
            "trained on, transitively.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            metavar="ID",
            help="A dataset id (or dataset:ID): what was derived from it, trained on it, and "
            "where that runs.",
        ),
    ] = None,
    subject_token: Annotated[
        str | None,
        typer.Option(
            "--subject-token",
            metavar="TOKEN",
            help="A subject's pseudonymous token: consents, data and models it may reach, "
            "decisions, erasure.",
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            metavar="ID",
            help="A data subject's own identifier (looked up as its token; never stored).",
        ),
    ] = None,
    system: Annotated[str | None, typer.Option(help="Only events of this AI system.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Trace lineage: a model version's data, a dataset's impact, or a subject's."""
    kind, value = _one_question(
        {
            "MODEL@VERSION": model_version,
            "--dataset": dataset,
            "--subject-token": subject_token,
            "--subject": subject,
        }
    )
    # Check the syntax before touching the ledger. References work too (model:credit@3.2,
    # dataset:loans-2025), as events hold them.
    model_key = parse_model_version(value) if kind == "MODEL@VERSION" else None
    if kind == "--dataset":
        value = dataset_id_of(value)
    by_subject = kind in ("--subject-token", "--subject")
    wanted = PROVENANCE_EVENT_TYPES | (SUBJECT_EVENT_TYPES if by_subject else set())
    with OPTIONS.open_ledger() as ledger:
        if kind == "--subject":
            token = ledger.subject_token(value)
            if token is None:
                raise NotFoundError(
                    "no events about that subject in this ledger (never recorded, or erased)"
                )
            value = token  # the raw identifier goes no further than this block
        graph = build_lineage(_events_as_of_now(ledger, wanted, system))
    result: ModelUpstream | DatasetImpact | SubjectImpact
    try:
        if model_key is not None:
            result = upstream(graph, *model_key)
        elif kind == "--dataset":
            result = dataset_impact(graph, value)
        else:
            result = subject_impact(graph, value)
    except NotFoundError as exc:
        if system is None:
            raise
        raise NotFoundError(
            f"{exc} (only system {system!r} was searched; drop --system to search all)"
        ) from None
    _warn_unreadable(graph)
    if json_out:
        print_json(dataclasses.asdict(result))
        return
    if isinstance(result, ModelUpstream):
        _print_upstream(result)
    elif isinstance(result, DatasetImpact):
        _print_dataset_impact(result)
    else:
        _print_subject_impact(result)


def _one_question(given: dict[str, str | None]) -> tuple[str, str]:
    """Return (which option, its value) when exactly one of `given` is set."""
    chosen = [(name, value) for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise ValidationError(
            f"give exactly one of {', '.join(given)}, e.g. `auditml lineage credit@3.2` or "
            "`auditml lineage --dataset loans-2025`"
        )
    return chosen[0]


def _events_as_of_now(
    ledger: Ledger, types: Iterable[str], system: str | None
) -> Iterator[Envelope]:
    """Yield the events of `types` in the ledger as it stands now, one indexed read per type.

    Reading by type skips the decisions (the bulk of a ledger) when they are not needed;
    stopping every read at the size taken first gives one consistent moment.
    """
    size = len(ledger)
    for event_type in sorted(types):
        for event in ledger.events(type=event_type, system=system):
            if event.seq >= size:
                break
            yield event


def _warn_unreadable(graph: LineageGraph) -> None:
    if not graph.unreadable:
        return
    errors.print(
        Text(
            f"warning: {len(graph.unreadable)} event(s) could not be used for lineage:", style=WARN
        )
    )
    for item in graph.unreadable[:10]:
        errors.print(_unreadable_line(item), highlight=False, soft_wrap=True, markup=False)
    if len(graph.unreadable) > 10:
        errors.print(f"  ... and {len(graph.unreadable) - 10} more", highlight=False)


def _unreadable_line(item: UnreadableEvent) -> str:
    return f"  seq {item.seq} ({item.type}, id {item.event_id}): {item.reason}"


# -- pieces of a line ---------------------------------------------------------------------


def _when(timestamp: str | None) -> str:
    """A ledger time to the minute, as `auditml log` shows it (UTC)."""
    return timestamp[:16].replace("T", " ") if timestamp else "?"


def _dataset_line(
    dataset_id: str,
    provenance: Provenance,
    registration: DatasetRegistration | None,
    derivations: Sequence[Derivation],
) -> Text:
    """One dataset with the facts a compliance officer looks for, readable without colour."""
    line = Text(dataset_id, style="bold")
    if registration is not None:
        line.append(f"  registered (seq {registration.seq})")
        if registration.name:
            line.append(f' "{registration.name}"')
        line.append("  ")
        if registration.contains_personal_data:
            line.append("personal data", style=PERSONAL)
        else:
            line.append("no personal data", style="green")
        if registration.special_categories:
            categories = ", ".join(registration.special_categories)
            line.append(f"  special categories: {categories}", style=SPECIAL)
        if registration.lawful_basis:
            line.append(f"  lawful basis: {registration.lawful_basis}")
        elif registration.contains_personal_data:
            line.append("  WARNING: no lawful basis recorded", style=WARN)
        if registration.purposes:
            line.append(f"  purposes: {', '.join(registration.purposes)}")
    elif provenance == "derived":
        latest = derivations[-1]
        sources = sorted({source for d in derivations for source in d.inputs})
        line.append(f"  derived from {', '.join(sources)} (seq {latest.seq})")
        if latest.transformation:
            line.append(f": {latest.transformation}")
    else:
        line.append(
            "  WARNING: never registered nor derived: its contents, personal data and lawful "
            "basis are unknown; record dataset.registered for it",
            style=WARN,
        )
    return line


def _deployment_line(deployment: Deployment) -> Text:
    line = Text(f"{deployment.environment}: ")
    if deployment.currently_deployed:
        line.append("DEPLOYED", style="bold green")
        line.append(f" since {_when(deployment.deployed_at)} (seq {deployment.deployed_seq})")
    else:
        line.append("retired", style="dim")
        line.append(f" {_when(deployment.retired_at)} (seq {deployment.retired_seq})")
    return line


def _model_line(model: str, version: str, deployments: Sequence[Deployment]) -> Text:
    line = Text(model_label(model, version), style="bold cyan")
    current = [d.environment for d in deployments if d.currently_deployed]
    if current:
        line.append(f"  deployed in {', '.join(current)}")
    elif deployments:
        line.append("  not deployed now")
    else:
        line.append("  never deployed")
    return line


def _add_deployments(node: Tree, deployments: Sequence[Deployment]) -> None:
    for deployment in deployments:
        node.add(_deployment_line(deployment))


# -- model upstream -------------------------------------------------------------------------


def _print_upstream(result: ModelUpstream) -> None:
    root_line = _model_line(result.model, result.version, result.deployments)
    trainings = ", ".join(f"{_when(t.occurred_at)} (seq {t.seq})" for t in result.trainings)
    root_line.append(f"  trained {trainings}")
    tree = Tree(root_line)
    if result.deployments:
        _add_deployments(tree.add("deployments"), result.deployments)
    trained_on = tree.add("trained on")
    by_id = {d.dataset_id: d for d in result.datasets}
    shown: set[str] = set()

    def add(node: Tree, dataset_id: str) -> None:
        item = by_id[dataset_id]
        if dataset_id in shown:
            node.add(Text(f"{dataset_id} {SHOWN_ABOVE}", style="dim"))
            return
        shown.add(dataset_id)
        child = node.add(
            _dataset_line(dataset_id, item.provenance, item.registration, item.derivations)
        )
        for source in item.inputs:
            add(child, source)

    for dataset_id in sorted(d.dataset_id for d in result.datasets if d.depth == 1):
        add(trained_on, dataset_id)
    console.print(tree)
    summary = Text(f"{len(result.datasets)} dataset(s) upstream; ")
    if result.contains_personal_data:
        summary.append("personal data: yes", style=PERSONAL)
    else:
        summary.append("personal data: none registered")
    if result.special_categories:
        summary.append(
            f"; special categories: {', '.join(result.special_categories)}", style=SPECIAL
        )
    if result.lawful_bases:
        summary.append(f"; lawful bases: {', '.join(result.lawful_bases)}")
    console.print(summary)
    if result.unregistered:
        console.print(
            Text(
                f"WARNING: {len(result.unregistered)} dataset(s) used but never registered: "
                f"{', '.join(result.unregistered)}. Record dataset.registered (or "
                "dataset.derived) for each so their personal data and lawful basis are known.",
                style=WARN,
            )
        )


# -- downstream (dataset and subject) -------------------------------------------------------


class _DownstreamPrinter:
    """Adds datasets, what was derived from them and the models trained on them to a tree.

    A dataset or model reached twice (a diamond) is printed in full once, then marked
    as shown above.
    """

    def __init__(self, derived: Sequence[DownstreamDataset], models: Sequence[ModelImpact]):
        self._children: dict[str, list[str]] = {}
        for item in derived:
            for source in item.inputs:
                self._children.setdefault(source, []).append(item.dataset_id)
        self._models: dict[str, list[ModelImpact]] = {}
        for model in models:
            for dataset_id in model.trained_on:
                self._models.setdefault(dataset_id, []).append(model)
        self._derived = {d.dataset_id for d in derived}
        self._shown: set[str] = set()

    def add_below(self, node: Tree, dataset_id: str) -> None:
        """Add what was derived from and trained on `dataset_id` under `node`."""
        for model in self._models.get(dataset_id, []):
            label = model_label(model.model, model.version)
            if label in self._shown:
                node.add(Text(f"model {label} {SHOWN_ABOVE}", style="dim"))
                continue
            self._shown.add(label)
            model_node = node.add(
                Text("model ").append_text(
                    _model_line(model.model, model.version, model.deployments)
                )
            )
            _add_deployments(model_node, model.deployments)
        for child_id in self._children.get(dataset_id, []):
            if child_id not in self._derived:
                continue
            if child_id in self._shown:
                node.add(Text(f"derived {child_id} {SHOWN_ABOVE}", style="dim"))
                continue
            self._shown.add(child_id)
            child = node.add(Text("derived ").append_text(Text(child_id, style="bold")))
            self.add_below(child, child_id)


def _print_dataset_impact(result: DatasetImpact) -> None:
    tree = Tree(
        _dataset_line(result.dataset_id, result.provenance, result.registration, result.derivations)
    )
    _DownstreamPrinter(result.derived, result.models).add_below(tree, result.dataset_id)
    console.print(tree)
    deployed = [m for m in result.models if m.currently_deployed_in]
    console.print(
        f"{len(result.derived)} derived dataset(s); {len(result.models)} model version(s) "
        f"trained on this data, {len(deployed)} of them deployed now",
        highlight=False,
    )


# -- subject impact -------------------------------------------------------------------------


def _consent_line(consent: PurposeConsent) -> Text:
    """E.g. `marketing: WITHDRAWN 2026-02-03 10:00 (seq 9); granted ... (seq 4, explicit)`."""
    granted = Text("")
    if consent.granted_seq is not None:
        kind = "explicit" if consent.explicit else "not explicit"
        granted.append(f"granted {_when(consent.granted_at)} (seq {consent.granted_seq}, {kind})")
    withdrawn = Text("")
    if consent.withdrawn_seq is not None:
        withdrawn.append(f"{_when(consent.withdrawn_at)} (seq {consent.withdrawn_seq})")
    line = Text(f"{consent.purpose}: ")
    if consent.status == "withdrawn":
        line.append("WITHDRAWN ", style=WARN).append_text(withdrawn)
        line.append("; ").append_text(granted if granted else Text("no grant recorded"))
    else:
        line.append_text(granted)
        if withdrawn:
            line.append("; earlier withdrawn ").append_text(withdrawn)
    return line


def _print_subject_impact(result: SubjectImpact) -> None:
    root = Text(f"subject {result.subject}", style="bold")
    if result.erasure is not None:
        root.append(
            f"  ERASED {_when(result.erasure.occurred_at)} (seq {result.erasure.seq})",
            style="bold magenta",
        )
    else:
        root.append("  not erased")
    tree = Tree(root)

    consents = tree.add("consent by purpose")
    for consent in result.consents:
        consents.add(_consent_line(consent))
    if not result.consents:
        consents.add(Text("no consent events", style="dim"))

    datasets = tree.add(
        Text("datasets that may hold this subject's data ").append(
            "(inferred by purpose match: no event links a subject to a dataset)", style="italic"
        )
    )
    printer = _DownstreamPrinter(result.derived, result.models)
    for matched in result.matched_datasets:
        line = _dataset_line(matched.dataset_id, "registered", matched.registration, ())
        line.append(f"  matches consent for: {', '.join(matched.matched_purposes)}")
        printer.add_below(datasets.add(line), matched.dataset_id)
    if not result.matched_datasets:
        datasets.add(Text("none: no consent-based personal dataset shares a purpose", style="dim"))

    decisions = tree.add("decisions about this subject")
    for decision in result.decisions:
        decisions.add(
            Text(model_label(decision.model, decision.version), style="bold cyan").append(
                f": {decision.count} decision(s), first {_when(decision.first_at)} "
                f"(seq {decision.first_seq}), last {_when(decision.last_at)} "
                f"(seq {decision.last_seq})"
                + (f", purposes: {', '.join(decision.purposes)}" if decision.purposes else "")
            )
        )
    if not result.decisions:
        decisions.add(Text("none", style="dim"))
    console.print(tree)


def register(app: typer.Typer) -> None:
    app.command()(lineage)
