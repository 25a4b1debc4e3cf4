"""The reference grammar (auditml/events/refs.py): every form, short forms, hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from auditml.errors import ValidationError
from auditml.events.refs import (
    DATASETS,
    MAX_REFERENCE_LENGTH,
    REFERENCE_FIELDS,
    THINGS,
    Ref,
    Registry,
    canonical_payload,
    dataset_id_of,
    dataset_ref,
    meanings,
    model_ref,
    needs_registry,
    parse_ref,
    policy_ref,
    reference_problem,
    resolve_strictly,
    resolve_tolerantly,
    system_ref,
)


def registry(*, datasets: tuple[str, ...] = (), systems: tuple[str, ...] = ()) -> Registry:
    known = Registry()
    for dataset_id in datasets:
        known.learn("dataset.registered", "any", {"dataset_id": dataset_id})
    for name in systems:
        known.learn("system.registered", name, {"name": name.title()})
    return known


# -- canonical forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("model:credit@3.2", Ref("model", "credit", "3.2")),
        ("model:credit-scorer@2026.01.5-rc1", Ref("model", "credit-scorer", "2026.01.5-rc1")),
        # A model name may hold an @: the reference splits at the last one.
        ("model:team@bank/credit@3.2", Ref("model", "team@bank/credit", "3.2")),
        ("dataset:loans-2025", Ref("dataset", "loans-2025")),
        ("dataset:s3://bucket/loans.parquet", Ref("dataset", "s3://bucket/loans.parquet")),
        ("dataset:users@2024", Ref("dataset", "users@2024")),
        ("system:credit-ai", Ref("system", "credit-ai")),
        ("system:eu/credit:v2", Ref("system", "eu/credit:v2")),
        ("model:kreditwürdigkeit@3.2", Ref("model", "kreditwürdigkeit", "3.2")),
        ("dataset:顧客データ", Ref("dataset", "顧客データ")),
        ("policy:" + "ab" * 32, Ref("policy", "ab" * 32)),
    ],
)
def test_canonical_references_parse_and_format_back_unchanged(text: str, parsed: Ref) -> None:
    assert parse_ref(text) == parsed
    assert str(parsed) == text
    assert reference_problem(text) is None
    assert meanings(text, THINGS, registry()) == (text,)


def test_formatting_helpers_build_the_canonical_forms() -> None:
    assert model_ref("credit", "3.2") == "model:credit@3.2"
    assert dataset_ref("loans") == "dataset:loans"
    assert system_ref("credit-ai") == "system:credit-ai"
    assert policy_ref("ab" * 32) == "policy:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "starts with model:, dataset:, system: or policy:"),
        ("credit@3.2", "starts with model:, dataset:, system: or policy:"),
        ("model:", "the @VERSION is missing"),
        ("model:x", "the @VERSION is missing"),
        ("model:@", "the model name is empty"),
        ("model:credit@", "the version is empty"),
        ("model:@3.2", "the model name is empty"),
        ("dataset:", "the dataset id is empty"),
        ("system:", "the system name is empty"),
        ("system:credit ai", "a system name is 1-200 characters of letters"),
        ("system:-credit", "starting with a letter or digit"),
        ("dataset: loans", "starts or ends with a space"),
        ("model:credit@3.2 ", "starts or ends with a space"),
        ("dataset:loans\n2025", "contains a control character"),
        ("dataset:loans\x00", "contains a control character"),
        ("dataset:" + "x" * 201, "the dataset id is 201 characters, over 200"),
        ("Model:credit@3.2", "starts with model:, dataset:, system: or policy:"),
        ("policy:abc", "a rule set is named by its SHA-256"),
        ("policy:" + "AB" * 32, "a rule set is named by its SHA-256"),
    ],
)
def test_malformed_references_are_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match="is not a reference") as caught:
        parse_ref(text)
    assert reason in str(caught.value)


def test_ten_thousand_characters_are_refused_quickly_and_not_echoed_whole() -> None:
    text = "model:" + "x" * 10_000 + "@1"
    with pytest.raises(ValidationError) as caught:
        parse_ref(text)
    message = str(caught.value)
    assert f"at most {MAX_REFERENCE_LENGTH} characters, got 10,008" in message
    assert len(message) < 300
    assert reference_problem(text) is not None
    with pytest.raises(ValidationError, match="at most 407 characters"):
        resolve_strictly(text, THINGS, registry(), "payload.target")
    assert resolve_tolerantly(text, THINGS, registry()) == text


def test_the_longest_reference_is_a_model_with_both_parts_at_their_longest() -> None:
    longest = model_ref("n" * 200, "v" * 200)
    assert len(longest) == MAX_REFERENCE_LENGTH
    assert parse_ref(longest) == Ref("model", "n" * 200, "v" * 200)


@pytest.mark.parametrize("text", ["", " credit", "credit\t", "a\x1bb", "x" * 201])
def test_short_forms_that_cannot_be_names_are_problems(text: str) -> None:
    assert reference_problem(text) is not None


def test_non_text_is_not_a_reference() -> None:
    with pytest.raises(ValidationError, match="a reference is text"):
        parse_ref(42)  # type: ignore[arg-type]


# -- short forms -------------------------------------------------------------------------


def test_name_at_version_is_a_model_version_without_any_registration() -> None:
    assert meanings("credit@3.2", THINGS, registry()) == ("model:credit@3.2",)
    assert resolve_strictly("credit@3.2", THINGS, registry(), "payload.target") == (
        "model:credit@3.2"
    )


def test_a_bare_name_means_what_is_registered_under_it() -> None:
    known = registry(datasets=("loans",), systems=("credit-ai",))
    assert meanings("loans", THINGS, known) == ("dataset:loans",)
    assert meanings("credit-ai", THINGS, known) == ("system:credit-ai",)
    assert meanings("nothing", THINGS, known) == ()


def test_a_bare_name_registered_as_dataset_and_system_is_ambiguous() -> None:
    known = registry(datasets=("credit-ai",), systems=("credit-ai",))
    assert meanings("credit-ai", THINGS, known) == ("dataset:credit-ai", "system:credit-ai")
    with pytest.raises(ValidationError) as caught:
        resolve_strictly("credit-ai", THINGS, known, "line 3 (notice.given): payload.target")
    assert str(caught.value) == (
        "line 3 (notice.given): payload.target 'credit-ai' matches both dataset:credit-ai and "
        "system:credit-ai; write one of them"
    )
    assert resolve_tolerantly("credit-ai", THINGS, known) == "credit-ai"


def test_a_short_model_form_that_is_also_a_registered_name_is_ambiguous() -> None:
    known = registry(datasets=("users@2024",), systems=("users@2024",))
    found = meanings("users@2024", THINGS, known)
    assert found == ("model:users@2024", "dataset:users@2024", "system:users@2024")
    with pytest.raises(ValidationError, match="matches each of model:users@2024, dataset:"):
        resolve_strictly("users@2024", THINGS, known, "payload.target")


def test_an_unknown_bare_name_is_refused_naming_the_prefixed_forms() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_strictly(
            "credit-ai", THINGS, registry(), "the event (assessment.completed): payload.target"
        )
    assert str(caught.value) == (
        "the event (assessment.completed): payload.target 'credit-ai' matches no registered "
        "dataset or system; write dataset:credit-ai or system:credit-ai for one not "
        "registered yet (or register it first), or model:credit-ai@VERSION for a model version"
    )
    assert resolve_tolerantly("credit-ai", THINGS, registry()) == "credit-ai"


def test_a_prefixed_reference_to_something_unrecorded_is_accepted() -> None:
    for text in ("model:ghost@1", "dataset:ghost", "system:ghost", "policy:" + "0" * 64):
        assert resolve_strictly(text, THINGS, registry(), "payload.target") == text


def test_in_a_dataset_list_text_without_a_prefix_is_a_dataset_id() -> None:
    # Nothing need be registered: the field says what kind of thing it holds.
    assert meanings("loans", DATASETS, None) == ("dataset:loans",)
    assert meanings("users@2024", DATASETS, None) == ("dataset:users@2024",)
    assert meanings("s3:bucket", DATASETS, None) == ("dataset:s3:bucket",)
    assert dataset_id_of("dataset:loans") == dataset_id_of("loans") == "loans"


@pytest.mark.parametrize("text", ["system:loans", "model:loans@1"])
def test_a_dataset_list_refuses_references_to_other_things(text: str) -> None:
    kind = text.partition(":")[0]
    with pytest.raises(ValidationError, match=f"^this field lists datasets, not a {kind}$"):
        meanings(text, DATASETS, None)
    with pytest.raises(ValidationError, match=r"^payload.inputs\[0\] '.*': this field lists"):
        resolve_strictly(text, DATASETS, None, "payload.inputs[0]")
    assert reference_problem(text, DATASETS) == f"this field lists datasets, not a {kind}"
    assert resolve_tolerantly(text, DATASETS, None) == text
    with pytest.raises(ValidationError):
        dataset_id_of(text)


def test_registry_overlay_answers_from_both_and_learns_into_itself() -> None:
    base = registry(datasets=("a",))
    overlay = Registry(base)
    overlay.learn("system.registered", "credit-ai", {})
    overlay.learn("dataset.derived", "x", {"dataset_id": "b", "inputs": ["a"]})
    assert overlay.has_dataset("a") and overlay.has_dataset("b") and overlay.has_system("credit-ai")
    assert not base.has_dataset("b") and not base.has_system("credit-ai")
    base.absorb(overlay)
    assert base.has_dataset("b") and base.has_system("credit-ai")


def test_registry_ignores_events_that_register_nothing_and_unreadable_ids() -> None:
    known = Registry()
    known.learn("model.trained", "credit-ai", {"model": "credit"})
    known.learn("dataset.registered", "credit-ai", {"dataset_id": 7})
    assert known.datasets == set() and known.systems == set()


# -- payloads ----------------------------------------------------------------------------


def test_every_reference_field_of_a_payload_is_canonicalised() -> None:
    known = registry(datasets=("loans",), systems=("credit-ai",))

    def strictly(text: str, holds: frozenset[Any], path: str) -> str:
        return resolve_strictly(text, holds, known, f"event: {path}")

    trained = {"model": "credit", "version": "3.2", "datasets": ["loans", "dataset:extra"]}
    assert canonical_payload("model.trained", trained, strictly) == {
        "model": "credit",
        "version": "3.2",
        "datasets": ["dataset:loans", "dataset:extra"],
    }
    assessed = {"kind": "dpia", "target": "credit-ai", "result": "pass"}
    assert canonical_payload("assessment.completed", assessed, strictly)["target"] == (
        "system:credit-ai"
    )
    assert assessed["target"] == "credit-ai", "the input is not changed"


def test_a_payload_without_references_or_already_canonical_comes_back_as_is() -> None:
    def never(text: str, holds: frozenset[Any], path: str) -> str:
        return resolve_strictly(text, holds, None, path)

    decision = {"model": "credit", "version": "3.2", "purpose": "scoring"}
    assert canonical_payload("decision.made", decision, never) is decision
    approval = {"target": "model:credit@3.2", "stage": "deployment"}
    assert canonical_payload("approval.granted", approval, never) is approval
    derived = {"dataset_id": "b", "inputs": ["dataset:a"]}
    assert canonical_payload("dataset.derived", derived, never) is derived


def test_the_error_names_the_list_position() -> None:
    def strictly(text: str, holds: frozenset[Any], path: str) -> str:
        return resolve_strictly(text, holds, None, f"line 4 (dataset.derived): {path}")

    with pytest.raises(
        ValidationError, match=r"^line 4 \(dataset.derived\): payload.inputs\[1\] 'system:b': "
    ):
        canonical_payload("dataset.derived", {"inputs": ["a", "system:b"]}, strictly)


def test_non_text_values_are_left_for_payload_validation() -> None:
    def strictly(text: str, holds: frozenset[Any], path: str) -> str:
        return resolve_strictly(text, holds, None, path)

    odd = {"target": 42, "datasets": None}
    assert canonical_payload("notice.given", odd, strictly) is odd
    assert canonical_payload("model.trained", {"datasets": [1, "a"]}, strictly) == {
        "datasets": [1, "dataset:a"]
    }


def test_only_short_forms_in_fields_of_any_kind_need_the_registry() -> None:
    assert needs_registry("assessment.completed", {"target": "credit-ai"})
    assert needs_registry("assessment.completed", {"target": "credit@3.2"})
    assert not needs_registry("assessment.completed", {"target": "system:credit-ai"})
    assert not needs_registry("model.trained", {"datasets": ["loans"]})
    assert not needs_registry("decision.made", {"model": "credit"})


def test_the_table_names_every_target_and_both_dataset_lists() -> None:
    assert {t for t, fields in REFERENCE_FIELDS.items() if "target" in fields} == {
        "assessment.completed",
        "document.versioned",
        "approval.granted",
        "approval.rejected",
        "notice.given",
        "registration.completed",
    }
    assert REFERENCE_FIELDS["model.trained"] == {"datasets": DATASETS}
    assert REFERENCE_FIELDS["dataset.derived"] == {"inputs": DATASETS}
