"""The lineage state of an evaluation: inherited facts, order, cycles, size and speed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditml.policy.lineage_state import LineageState, lineage_field_problem, reads_lineage
from auditml.policy.loader import load_rules
from auditml.policy.model import Event, field

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CREDIT, FRAUD = "creditworthiness assessment", "fraud prevention"


class Story:
    """Events in order, a minute apart, fed to one LineageState."""

    def __init__(self) -> None:
        self.state = LineageState()
        self.seq = 0

    def add(self, type: str, payload: dict[str, Any], subject: str | None = None) -> Event:
        self.seq += 1
        moment = START + timedelta(minutes=self.seq)
        event = Event(
            self.seq, f"e{self.seq}", type, "credit-ai", subject, {"id": "x", "kind": "human"},
            moment, moment, payload,
        )  # fmt: skip
        return self.state.with_lineage(event)

    def register(self, dataset: str, **facts: Any) -> Event:
        payload = {
            "dataset_id": dataset,
            "contains_personal_data": facts.get("personal", False),
            "special_categories": facts.get("special", []),
            "purposes": facts.get("purposes", [CREDIT]),
        }
        if "basis" in facts:
            payload["lawful_basis"] = facts["basis"]
        if "condition" in facts:
            payload["special_category_condition"] = facts["condition"]
        return self.add("dataset.registered", payload)

    def derive(self, dataset: str, *inputs: str) -> Event:
        return self.add("dataset.derived", {"dataset_id": dataset, "inputs": list(inputs)})

    def train(self, version: str, *datasets: str, model: str = "credit") -> Event:
        return self.add("model.trained", {"model": model, "version": version, "datasets": list(datasets)})  # fmt: skip

    def deploy(self, version: str, model: str = "credit") -> Event:
        return self.add("model.deployed", {"model": model, "version": version})

    def decide(self, version: str, subject: str = "s1") -> Event:
        return self.add("decision.made", {"model": "credit", "version": version}, subject)


def lineage(event: Event) -> dict[str, Any]:
    assert event.lineage is not None
    return dict(event.lineage)


def test_a_model_version_inherits_through_derivations() -> None:
    story = Story()
    story.register(
        "health",
        personal=True,
        special=["health_data"],
        basis="consent",
        condition="a",
        purposes=[CREDIT, FRAUD],
    )
    story.register("rates", purposes=[CREDIT])
    story.derive("features", "dataset:health", "rates")  # prefixed and bare forms alike
    story.derive("training-set", "dataset:features")
    untrained = lineage(story.decide("3.3"))  # read as a trigger is: when it occurs
    story.train("3.3", "dataset:training-set")
    seen = lineage(story.decide("3.3"))

    assert seen == {
        "ref": "model:credit@3.3",
        "inputs": ["dataset:training-set"],
        "datasets": [
            "dataset:features",
            "dataset:health",
            "dataset:rates",
            "dataset:training-set",
        ],
        "unregistered": [],
        "personal": True,
        "special_categories": ["health_data"],
        "purposes": [CREDIT],  # what every dataset upstream allows: the intersection
        "lawful_bases": ["consent"],
        "conditions": ["a"],
        "trained_at": START + timedelta(minutes=6),
        "retrained": False,
    }
    # A decision before the training saw a version with no lineage yet.
    assert untrained["inputs"] == [] and "trained_at" not in untrained


def test_a_derived_dataset_inherits_and_may_serve_only_what_all_inputs_allow() -> None:
    story = Story()
    story.register("applications", personal=True, basis="contract", purposes=[CREDIT, FRAUD])
    story.register("bureau", personal=True, basis="legitimate_interests", purposes=[CREDIT])
    seen = lineage(story.derive("features", "applications", "bureau"))
    assert seen["ref"] == "dataset:features"
    assert seen["inputs"] == ["dataset:applications", "dataset:bureau"]
    assert seen["purposes"] == [CREDIT]
    assert seen["lawful_bases"] == ["contract", "legitimate_interests"]
    assert seen["personal"] is True
    assert "trained_at" not in seen and "retrained" not in seen  # model versions only


def test_bases_and_conditions_come_only_with_personal_and_special_data() -> None:
    story = Story()
    story.register("rates", basis="contract", condition="g")  # neither personal nor special
    seen = lineage(story.derive("features", "rates"))
    assert seen["personal"] is False
    assert seen["lawful_bases"] == [] and seen["conditions"] == []


def test_a_registration_after_the_derivation_reaches_everything_downstream() -> None:
    story = Story()
    story.derive("features", "applications")
    story.train("1", "features")
    decided = story.decide("1")
    before = lineage(decided)
    assert before["unregistered"] == ["dataset:applications"]
    assert before["purposes"] == [] and before["personal"] is False  # nothing known yet
    story.register("applications", personal=True, basis="consent")
    after = lineage(story.decide("1"))
    assert after["unregistered"] == []
    assert after["personal"] is True and after["purposes"] == [CREDIT]
    # A view is read when a rule reads it: an event a check keeps (a model.trained met by
    # a later decision) shows the lineage as it stands at that later trigger.
    assert field(decided, "lineage.lawful_bases") == ["consent"]


def test_the_latest_registration_wins_downstream() -> None:
    story = Story()
    story.register("applications", personal=True, special=["health_data"], condition="a")
    story.derive("features", "applications")
    story.register("applications", personal=True, special=[], purposes=[FRAUD])
    seen = lineage(story.derive("features", "applications"))
    assert seen["special_categories"] == [] and seen["conditions"] == []
    assert seen["purposes"] == [FRAUD]


def test_retrained_and_trained_at() -> None:
    story = Story()
    story.train("3.2", "loans")
    first = lineage(story.deploy("3.2"))
    story.train("3.3", "loans")
    story.train("1.0", "loans", model="other")
    second = lineage(story.deploy("3.3"))
    assert first["retrained"] is False
    assert second["retrained"] is True  # another version of credit was deployed before
    assert second["trained_at"] == START + timedelta(minutes=3)
    assert (
        lineage(story.add("model.retired", {"model": "other", "version": "1.0"}))["retrained"]
        is False
    )


def test_decisions_do_not_grow_the_state() -> None:
    story = Story()
    story.register("loans", personal=True, basis="consent")
    story.train("1", "loans")
    size = len(story.state)
    for number in range(2000):
        story.decide("1", subject=f"s{number}")
        story.decide(f"never-trained-{number}")
    assert len(story.state) == size == 2


def test_entries_that_name_no_dataset_are_left_out() -> None:
    story = Story()
    story.add("dataset.derived", {"dataset_id": "d", "inputs": ["system:credit-ai", 7, "ok"]})
    story.add("dataset.registered", {"dataset_id": ["not", "text"]})
    seen = lineage(story.add("model.trained", {"model": "m", "version": "1", "datasets": "d"}))
    assert seen["inputs"] == []
    assert lineage(story.derive("e", "d"))["datasets"] == ["dataset:d", "dataset:ok"]
    assert story.add("model.trained", {"model": 3, "version": "1"}).lineage is None


@pytest.mark.parametrize(
    "edges",
    [
        [("a", "a")],  # derived from itself
        [("a", "b"), ("b", "a")],
        [("a", "b"), ("b", "c"), ("c", "a")],
    ],
)
def test_a_cycle_in_old_data_is_left_out_and_reading_ends(edges: list[tuple[str, str]]) -> None:
    story = Story()
    for name in "abc":
        story.register(name, personal=True, basis="consent")
    for dataset, source in edges:
        story.derive(dataset, source)
    assert story.state.cycles == 1
    seen = lineage(story.derive("d", "a"))
    assert "dataset:d" not in seen["datasets"]
    assert seen["lawful_bases"] == ["consent"]


def test_a_chain_of_ten_thousand_datasets_stays_fast_without_recursion() -> None:
    depth = 10_000
    story = Story()
    started = time.perf_counter()
    story.derive("d0", "root")  # the root registered last: its facts travel the whole chain
    for number in range(1, depth):
        story.derive(f"d{number}", f"d{number - 1}")
    story.train("1", f"d{depth - 1}")
    story.register("root", personal=True, special=["biometric_data"], basis="consent")
    seen = lineage(story.decide("1"))
    elapsed = time.perf_counter() - started
    assert len(seen["datasets"]) == depth + 1
    assert seen["personal"] is True and seen["special_categories"] == ["biometric_data"]
    assert seen["unregistered"] == []
    # About 0.6 s here; the bound leaves room for a busy shared machine, not for O(n^2).
    assert elapsed < 10, elapsed


def test_ten_thousand_inputs_to_one_dataset_stay_fast() -> None:
    width = 10_000
    story = Story()
    started = time.perf_counter()
    for number in range(width):
        story.register(f"part{number}", personal=True, basis="consent", purposes=[CREDIT, FRAUD])
    seen = lineage(story.derive("all", *(f"part{n}" for n in range(width))))
    elapsed = time.perf_counter() - started
    assert len(seen["inputs"]) == width and seen["purposes"] == [CREDIT, FRAUD]
    assert elapsed < 10, elapsed


def test_lint_knows_the_lineage_fields() -> None:
    assert lineage_field_problem("decision.made", "purposes") is None
    assert lineage_field_problem("dataset.derived", "trained_at") == (
        "dataset.derived has no field lineage.trained_at; its lineage: ref, inputs, datasets, "
        "unregistered, personal, special_categories, purposes, lawful_bases, conditions"
    )
    assert "did you mean 'purposes'" in str(lineage_field_problem("decision.made", "purpose"))
    assert "carry no lineage" in str(lineage_field_problem("consent.granted", "purposes"))
    assert lineage_field_problem("model.trained", "purposes.x") == (
        "lineage.purposes is a list, not an object"
    )


def test_only_rule_sets_that_read_lineage_keep_it() -> None:
    shipped = load_rules(Path(__file__).resolve().parents[2] / "policies")
    assert reads_lineage(shipped.rules)
    assert not reads_lineage(r for r in shipped.rules if r.id == "gdpr-33-breach-notification")
