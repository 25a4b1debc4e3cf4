"""Lineage graph and queries over hand-built envelopes: exact results, no database.

The story (payloads follow vocabulary v1, docs/FORMAT.md section 15):

    raw-crm (personal, consent: marketing, profiling) --> clean-crm --+
            \\                                                         +--> features
             +--------------------------------------> joined --------+
    raw-health (personal, health, consent: research) ---^

    credit@2.0  trained on clean-crm, contract-ledger (personal, contract: marketing)
    credit@10.0 trained on features, public-stats (no personal data), ghost-labels (never
                registered)

raw-crm reaches features along two paths (the diamond). Both versions are deployed in
staging and production and partly retired; subjects grant and withdraw consent for
different purposes, receive decisions from both versions, and one is erased.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auditml.errors import NotFoundError, ValidationError
from auditml.events.envelope import Envelope, format_time
from auditml.lineage import (
    ConsentChange,
    DecisionSummary,
    Deployment,
    DownstreamDataset,
    Erasure,
    ModelImpact,
    PurposeConsent,
    UnreadableEvent,
    build_lineage,
    dataset_impact,
    parse_model_version,
    subject_impact,
    upstream,
)

START = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
SYSTEM = "credit-scoring"


def at(seq: int) -> str:
    """The occurred_at of the event at `seq`: one hour apart."""
    return format_time(START + timedelta(hours=seq))


def registered(
    dataset_id: str,
    *,
    personal: bool,
    purposes: list[str],
    lawful_basis: str | None = None,
    special: list[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {
        "dataset_id": dataset_id,
        "name": dataset_id.replace("-", " ").title(),
        "uri": f"s3://data/{dataset_id}.parquet",
        "sha256": hashlib.sha256(dataset_id.encode()).hexdigest(),
        "contains_personal_data": personal,
        "special_categories": special or [],
        "purposes": purposes,
        "retention": "P3Y",
    }
    if lawful_basis is not None:
        payload["lawful_basis"] = lawful_basis
    return "dataset.registered", payload


def derived(dataset_id: str, *inputs: str) -> tuple[str, dict[str, Any]]:
    return "dataset.derived", {
        "dataset_id": dataset_id,
        "inputs": list(inputs),
        "transformation": f"make {dataset_id}",
        "code_version": "abc1234",
        "sha256": "d" * 64,
    }


def trained(version: str, *datasets: str) -> tuple[str, dict[str, Any]]:
    return "model.trained", {
        "model": "credit",
        "version": version,
        "datasets": list(datasets),
        "params": {"depth": 6},
        "metrics": {"auc": 0.87},
        "artifact_sha256": "a" * 64,
    }


def deploy(action: str, version: str, environment: str) -> tuple[str, dict[str, Any]]:
    return f"model.{action}", {"model": "credit", "version": version, "environment": environment}


def decision(version: str, purpose: str = "creditworthiness") -> tuple[str, dict[str, Any]]:
    return "decision.made", {
        "model": "credit",
        "version": version,
        "purpose": purpose,
        "lawful_basis": "contract",
        "input_sha256": "1" * 64,
        "output": {"score": 0.4},
        "solely_automated": False,
        "legal_effect": True,
    }


def granted(purpose: str, explicit: bool) -> tuple[str, dict[str, Any]]:
    return "consent.granted", {"purpose": purpose, "explicit": explicit}


def withdrawn(purpose: str) -> tuple[str, dict[str, Any]]:
    return "consent.withdrawn", {"purpose": purpose}


# (type, payload, subject) in seq order; the seq of each is its position.
STORY: list[tuple[tuple[str, dict[str, Any]], str | None]] = [
    (
        registered(
            "raw-crm", personal=True, lawful_basis="consent", purposes=["marketing", "profiling"]
        ),
        None,
    ),  # 0
    (
        registered(
            "raw-health",
            personal=True,
            lawful_basis="consent",
            purposes=["research"],
            special=["health_data"],
        ),
        None,
    ),  # 1
    (registered("public-stats", personal=False, purposes=["research"]), None),  # 2
    (
        registered(
            "contract-ledger", personal=True, lawful_basis="contract", purposes=["marketing"]
        ),
        None,
    ),  # 3
    (derived("clean-crm", "raw-crm"), None),  # 4
    (derived("joined", "raw-crm", "raw-health"), None),  # 5
    (derived("features", "clean-crm", "joined"), None),  # 6
    (trained("2.0", "clean-crm", "contract-ledger"), None),  # 7
    (trained("10.0", "features", "public-stats", "ghost-labels"), None),  # 8
    (deploy("deployed", "2.0", "staging"), None),  # 9
    (deploy("deployed", "2.0", "production"), None),  # 10
    (deploy("deployed", "10.0", "staging"), None),  # 11
    (deploy("retired", "2.0", "staging"), None),  # 12
    (deploy("deployed", "10.0", "production"), None),  # 13
    (deploy("retired", "2.0", "production"), None),  # 14
    (deploy("retired", "10.0", "staging"), None),  # 15
    (deploy("deployed", "10.0", "staging"), None),  # 16: redeployed after retirement
    (granted("marketing", True), "subj-a"),  # 17
    (granted("research", True), "subj-a"),  # 18
    (granted("profiling", False), "subj-b"),  # 19
    (decision("2.0"), "subj-a"),  # 20
    (decision("2.0", "marketing"), "subj-a"),  # 21
    (withdrawn("marketing"), "subj-a"),  # 22
    (decision("10.0"), "subj-a"),  # 23
    (decision("10.0"), "subj-b"),  # 24
    (decision("10.0"), None),  # 25: no subject, nothing to attribute
    (withdrawn("research"), "subj-c"),  # 26: a withdrawal with no grant recorded
    (("erasure.completed", {"request_id": "DSR-9", "method": "crypto-shred"}), "subj-b"),  # 27
    (
        (
            "dsr.received",
            {"request_id": "DSR-10", "kind": "access", "received_at": "2026-02-03T09:00:00Z"},
        ),
        "subj-d",
    ),  # 28
]


def story() -> list[dict[str, Any]]:
    """The story as envelope dicts (only the fields lineage reads, plus the subject)."""
    events = []
    for seq, ((event_type, payload), subject) in enumerate(STORY):
        event: dict[str, Any] = {
            "seq": seq,
            "id": f"ev-{seq}",
            "type": event_type,
            "system": SYSTEM,
            "occurred_at": at(seq),
            "payload": payload,
        }
        if subject is not None:
            event["subject"] = subject
        events.append(event)
    return events


def as_envelope(event: dict[str, Any]) -> Envelope:
    return Envelope.from_json(
        {
            "v": 1,
            "recorded_at": event["occurred_at"],
            "actor": {"id": "pipeline", "kind": "service"},
            "prev": "0" * 64,
            **event,
        }
    )


GRAPH = build_lineage(story())


def dep(
    version: str, env: str, current: bool, deployed: int | None, retired: int | None
) -> Deployment:
    return Deployment(
        model="credit",
        version=version,
        environment=env,
        currently_deployed=current,
        deployed_seq=deployed,
        deployed_at=at(deployed) if deployed is not None else None,
        retired_seq=retired,
        retired_at=at(retired) if retired is not None else None,
    )


V2_DEPLOYMENTS = (dep("2.0", "production", False, 10, 14), dep("2.0", "staging", False, 9, 12))
V10_DEPLOYMENTS = (dep("10.0", "production", True, 13, None), dep("10.0", "staging", True, 16, 15))


# -- upstream ---------------------------------------------------------------------------------


def test_upstream_follows_training_and_derivations_through_the_diamond() -> None:
    result = upstream(GRAPH, "credit", "10.0")
    rows = [(d.dataset_id, d.provenance, d.depth, d.via, d.inputs) for d in result.datasets]
    assert rows == [
        ("features", "derived", 1, None, ("clean-crm", "joined")),
        ("ghost-labels", "unregistered", 1, None, ()),
        ("public-stats", "registered", 1, None, ()),
        ("clean-crm", "derived", 2, "features", ("raw-crm",)),
        ("joined", "derived", 2, "features", ("raw-crm", "raw-health")),
        # Two chains reach raw-crm; the shortest, first in id order, is kept.
        ("raw-crm", "registered", 3, "clean-crm", ()),
        ("raw-health", "registered", 3, "joined", ()),
    ]
    assert result.unregistered == ("ghost-labels",)
    assert result.contains_personal_data is True
    assert result.special_categories == ("health_data",)
    assert result.lawful_bases == ("consent",)
    assert [t.seq for t in result.trainings] == [8]
    assert result.deployments == V10_DEPLOYMENTS


def test_upstream_carries_registration_facts_and_derivation_evidence() -> None:
    by_id = {d.dataset_id: d for d in upstream(GRAPH, "credit", "10.0").datasets}
    health = by_id["raw-health"].registration
    assert health is not None
    assert (
        health.contains_personal_data,
        health.special_categories,
        health.lawful_basis,
        health.purposes,
        health.sha256,
        health.retention,
        health.collected_at,
        health.seq,
        health.event_id,
        health.occurred_at,
        health.system,
    ) == (
        True,
        ("health_data",),
        "consent",
        ("research",),
        hashlib.sha256(b"raw-health").hexdigest(),
        "P3Y",
        None,
        1,
        "ev-1",
        at(1),
        SYSTEM,
    )
    public = by_id["public-stats"].registration
    assert public is not None and public.lawful_basis is None
    assert public.contains_personal_data is False
    assert by_id["ghost-labels"].registration is None and by_id["ghost-labels"].derivations == ()
    (joined,) = by_id["joined"].derivations
    assert (joined.inputs, joined.transformation, joined.code_version, joined.seq) == (
        ("raw-crm", "raw-health"),
        "make joined",
        "abc1234",
        5,
    )


def test_upstream_of_the_other_version() -> None:
    result = upstream(GRAPH, "credit", "2.0")
    assert [(d.dataset_id, d.depth) for d in result.datasets] == [
        ("clean-crm", 1),
        ("contract-ledger", 1),
        ("raw-crm", 2),
    ]
    assert result.unregistered == () and result.special_categories == ()
    assert result.lawful_bases == ("consent", "contract")
    assert result.deployments == V2_DEPLOYMENTS


def test_upstream_unknown_version_names_the_trained_versions() -> None:
    with pytest.raises(NotFoundError, match=r"trained versions of credit: 2\.0, 10\.0"):
        upstream(GRAPH, "credit", "3.0")
    with pytest.raises(NotFoundError, match=r"did you mean credit\?"):
        upstream(GRAPH, "credt", "2.0")


def test_upstream_of_a_model_deployed_but_never_trained_says_to_record_training() -> None:
    graph = build_lineage(
        [
            *story(),
            {
                **story()[9],
                "seq": 99,
                "payload": {"model": "credit", "version": "11.0", "environment": "production"},
            },
        ]
    )
    with pytest.raises(
        NotFoundError, match=r"credit@11\.0 has deployment events but no model\.trained"
    ):
        upstream(graph, "credit", "11.0")


# -- dataset impact ---------------------------------------------------------------------------


def test_dataset_impact_reaches_derived_data_models_and_deployments() -> None:
    result = dataset_impact(GRAPH, "raw-crm")
    assert result.provenance == "registered" and result.registration is not None
    assert result.derivations == ()
    assert result.derived == (
        DownstreamDataset("clean-crm", 1, "raw-crm", ("raw-crm",)),
        DownstreamDataset("joined", 1, "raw-crm", ("raw-crm", "raw-health")),
        DownstreamDataset("features", 2, "clean-crm", ("clean-crm", "joined")),
    )
    assert result.models == (
        ModelImpact("credit", "2.0", ("clean-crm",), V2_DEPLOYMENTS, ()),
        ModelImpact("credit", "10.0", ("features",), V10_DEPLOYMENTS, ("production", "staging")),
    )


def test_dataset_impact_of_a_leaf_and_of_a_derived_dataset() -> None:
    stats = dataset_impact(GRAPH, "public-stats")
    assert stats.derived == ()
    assert stats.models == (
        ModelImpact(
            "credit", "10.0", ("public-stats",), V10_DEPLOYMENTS, ("production", "staging")
        ),
    )
    joined = dataset_impact(GRAPH, "joined")
    assert joined.provenance == "derived" and joined.registration is None
    assert [d.seq for d in joined.derivations] == [5]
    assert [d.dataset_id for d in joined.derived] == ["features"]
    assert [(m.version, m.trained_on) for m in joined.models] == [("10.0", ("features",))]


def test_dataset_impact_works_for_an_unregistered_dataset() -> None:
    ghost = dataset_impact(GRAPH, "ghost-labels")
    assert (ghost.provenance, ghost.registration, ghost.derived) == ("unregistered", None, ())
    assert [m.version for m in ghost.models] == ["10.0"]


def test_dataset_impact_of_an_unknown_dataset_suggests_close_ids() -> None:
    with pytest.raises(NotFoundError, match=r"'raw-crn'.*did you mean raw-crm"):
        dataset_impact(GRAPH, "raw-crn")


# -- subject impact ---------------------------------------------------------------------------


def test_subject_impact_after_withdrawal() -> None:
    result = subject_impact(GRAPH, "subj-a")
    assert result.basis == "purpose-match"
    assert result.consents == (
        PurposeConsent("marketing", "withdrawn", True, 17, at(17), 22, at(22)),
        PurposeConsent("research", "granted", True, 18, at(18), None, None),
    )
    assert result.consent_history == (
        ConsentChange("marketing", "granted", True, 17, "ev-17", at(17)),
        ConsentChange("research", "granted", True, 18, "ev-18", at(18)),
        ConsentChange("marketing", "withdrawn", None, 22, "ev-22", at(22)),
    )
    # contract-ledger shares "marketing" but rests on contract; public-stats holds no personal data.
    assert [(m.dataset_id, m.matched_purposes) for m in result.matched_datasets] == [
        ("raw-crm", ("marketing",)),
        ("raw-health", ("research",)),
    ]
    assert [(d.dataset_id, d.depth, d.via) for d in result.derived] == [
        ("clean-crm", 1, "raw-crm"),
        ("joined", 1, "raw-crm"),
        ("features", 2, "clean-crm"),
    ]
    assert result.models == (
        ModelImpact("credit", "2.0", ("clean-crm",), V2_DEPLOYMENTS, ()),
        ModelImpact("credit", "10.0", ("features",), V10_DEPLOYMENTS, ("production", "staging")),
    )
    assert result.decisions == (
        DecisionSummary(
            "credit", "2.0", 2, ("creditworthiness", "marketing"), 20, at(20), 21, at(21)
        ),
        DecisionSummary("credit", "10.0", 1, ("creditworthiness",), 23, at(23), 23, at(23)),
    )
    assert (result.erased, result.erasure) == (False, None)


def test_subject_impact_of_an_erased_subject() -> None:
    result = subject_impact(GRAPH, "subj-b")
    assert result.consents == (
        PurposeConsent("profiling", "granted", False, 19, at(19), None, None),
    )
    assert [m.dataset_id for m in result.matched_datasets] == ["raw-crm"]
    assert [m.version for m in result.models] == ["2.0", "10.0"]
    assert [(d.version, d.count) for d in result.decisions] == [("10.0", 1)]
    assert result.erased is True
    assert result.erasure == Erasure("DSR-9", "crypto-shred", 27, "ev-27", at(27))


def test_a_withdrawal_without_a_recorded_grant_still_matches_datasets() -> None:
    result = subject_impact(GRAPH, "subj-c")
    assert result.consents == (
        PurposeConsent("research", "withdrawn", None, None, None, 26, at(26)),
    )
    assert [m.dataset_id for m in result.matched_datasets] == ["raw-health"]
    assert result.derived == (
        DownstreamDataset("joined", 1, "raw-health", ("raw-crm", "raw-health")),
        DownstreamDataset("features", 2, "joined", ("clean-crm", "joined")),
    )
    assert [(m.version, m.trained_on) for m in result.models] == [("10.0", ("features",))]
    assert result.decisions == ()


def test_a_subject_with_no_lineage_events_is_known_but_reaches_nothing() -> None:
    result = subject_impact(GRAPH, "subj-d")
    assert (result.consents, result.matched_datasets, result.models, result.decisions) == (
        (),
        (),
        (),
        (),
    )
    assert result.erased is False


def test_an_unknown_subject_token_is_not_found() -> None:
    with pytest.raises(
        NotFoundError, match="no consent, decision or erasure event is about subject token 'subj-x'"
    ):
        subject_impact(GRAPH, "subj-x")


def test_regrant_after_withdrawal_is_granted_again() -> None:
    events = story()
    events.append({**events[17], "seq": 40, "id": "ev-40", "occurred_at": at(40)})
    (marketing, _) = subject_impact(build_lineage(events), "subj-a").consents
    assert marketing == PurposeConsent("marketing", "granted", True, 40, at(40), 22, at(22))


# -- building -----------------------------------------------------------------------------------


def test_results_are_frozen_and_json_ready() -> None:
    result = subject_impact(GRAPH, "subj-a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.erased = True  # type: ignore[misc]
    data = dataclasses.asdict(result)
    assert data["basis"] == "purpose-match" and data["models"][1]["currently_deployed_in"] == (
        "production",
        "staging",
    )


def test_envelopes_dicts_and_any_order_give_the_same_graph() -> None:
    assert build_lineage(as_envelope(e) for e in story()) == GRAPH
    assert build_lineage(reversed(story())) == GRAPH


def test_every_graph_index_is_consistent() -> None:
    assert GRAPH.inputs_of["features"] == ("clean-crm", "joined")
    assert GRAPH.derived_from["raw-crm"] == ("clean-crm", "joined")
    assert GRAPH.trained_on[("credit", "10.0")] == ("features", "ghost-labels", "public-stats")
    assert GRAPH.models_using["clean-crm"] == (("credit", "2.0"),)
    assert GRAPH.dataset_ids == {
        "raw-crm",
        "raw-health",
        "public-stats",
        "contract-ledger",
        "clean-crm",
        "joined",
        "features",
        "ghost-labels",
    }
    assert set(GRAPH.subjects) == {"subj-a", "subj-b", "subj-c", "subj-d"}
    assert GRAPH.unreadable == ()


def test_the_latest_registration_wins() -> None:
    events = story()
    _, payload = registered(
        "public-stats", personal=True, lawful_basis="consent", purposes=["research"]
    )
    events.append({**events[2], "seq": 50, "id": "ev-50", "payload": payload})
    graph = build_lineage(reversed(events))
    assert graph.registrations["public-stats"].seq == 50
    assert graph.registrations["public-stats"].contains_personal_data is True


def test_decisions_are_tallied_not_kept() -> None:
    def many() -> Iterator[dict[str, Any]]:
        yield from story()
        for seq in range(100, 20_100):
            yield {
                "seq": seq,
                "id": f"d{seq}",
                "type": "decision.made",
                "system": SYSTEM,
                "occurred_at": at(seq),
                "subject": f"subj-{seq % 2}",
                "payload": decision("10.0")[1],
            }

    graph = build_lineage(many())
    assert graph.subjects["subj-0"].decisions == (
        DecisionSummary(
            "credit", "10.0", 10_000, ("creditworthiness",), 100, at(100), 20_098, at(20_098)
        ),
    )


def test_cycles_in_bad_data_end() -> None:
    events = [
        {**story()[4], "payload": derived("a", "b")[1]},
        {**story()[5], "payload": derived("b", "a", "b")[1]},
        {**story()[8], "payload": trained("1.0", "a")[1]},
    ]
    graph = build_lineage(events)
    assert [(d.dataset_id, d.via) for d in upstream(graph, "credit", "1.0").datasets] == [
        ("a", None),
        ("b", "a"),
    ]
    assert [d.dataset_id for d in dataset_impact(graph, "a").derived] == ["b"]


def test_a_chain_of_ten_thousand_derivations_is_read_in_linear_time() -> None:
    # Each dataset names the one it was reached through, not the whole chain: the answer
    # for a chain of n datasets holds n entries, not n * n / 2.
    n = 10_000
    base = story()
    events = [{**base[4], "seq": 0, "id": "e0", "payload": derived("d0", "raw")[1]}]
    for i in range(1, n):
        events.append(
            {**base[4], "seq": i, "id": f"e{i}", "payload": derived(f"d{i}", f"d{i - 1}")[1]}
        )
    events.append({**base[8], "seq": n, "id": "t", "payload": trained("1.0", f"d{n - 1}")[1]})
    started = time.perf_counter()
    result = upstream(build_lineage(events), "credit", "1.0")
    impact = dataset_impact(build_lineage(events), "d0")
    assert time.perf_counter() - started < 5
    # The chain, and the unregistered dataset "raw" it starts from.
    assert (len(result.datasets), result.datasets[-1].depth, result.datasets[-1].via) == (
        n + 1,
        n + 1,
        "d0",
    )
    assert (len(impact.derived), impact.derived[-1].via) == (n - 1, f"d{n - 2}")


def test_unreadable_payloads_are_reported_not_guessed() -> None:
    events = story()
    events[8] = {**events[8], "payload": {**events[8]["payload"], "datasets": "features"}}
    events[1] = {**events[1], "payload": {**events[1]["payload"], "contains_personal_data": "yes"}}
    events[22] = {**events[22], "payload": {}}
    graph = build_lineage(events)
    assert [(u.seq, u.type) for u in graph.unreadable] == [
        (1, "dataset.registered"),
        (8, "model.trained"),
        (22, "consent.withdrawn"),
    ]
    assert graph.unreadable[0] == UnreadableEvent(
        1,
        "ev-1",
        "dataset.registered",
        "payload field 'contains_personal_data' must be true or false, got 'yes'",
    )
    assert "raw-health" not in graph.registrations
    assert ("credit", "10.0") not in graph.trainings


def test_dataset_lists_are_read_as_ids_whether_written_as_references_or_bare() -> None:
    # Recorded since the reference grammar, dataset lists hold dataset:ID; older ledgers the id.
    events = story()
    for seq in (4, 5, 6, 7, 8):
        payload = events[seq]["payload"]
        field = "inputs" if "inputs" in payload else "datasets"
        written = [f"dataset:{d}" if n % 2 == 0 else d for n, d in enumerate(payload[field])]
        events[seq] = {**events[seq], "payload": {**payload, field: written}}
    assert build_lineage(events) == GRAPH


def test_a_dataset_list_naming_something_else_is_unreadable() -> None:
    events = story()
    events[4] = {**events[4], "payload": {**events[4]["payload"], "inputs": ["system:raw-crm"]}}
    graph = build_lineage(events)
    assert [(u.seq, u.reason) for u in graph.unreadable] == [
        (4, "payload field 'inputs' must list datasets: this field lists datasets, not a system")
    ]


def test_input_that_is_not_an_envelope_is_refused() -> None:
    with pytest.raises(ValidationError, match="event 0: .*'seq' is missing"):
        build_lineage([{"type": "model.trained", "payload": {}}])
    with pytest.raises(ValidationError, match="event 0: expected an Envelope"):
        build_lineage(["model.trained"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("credit@3.2", ("credit", "3.2")),
        ("team@org/credit@1", ("team@org/credit", "1")),
        ("model:credit@3.2", ("credit", "3.2")),
    ],
)
def test_parse_model_version(text: str, expected: tuple[str, str]) -> None:
    assert parse_model_version(text) == expected


@pytest.mark.parametrize("text", ["credit", "credit@", "@3.2", ""])
def test_parse_model_version_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValidationError, match="is not MODEL@VERSION.*credit@3.2"):
        parse_model_version(text)
