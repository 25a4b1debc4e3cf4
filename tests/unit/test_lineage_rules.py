"""Rules that read lineage: evaluation through the engine, for_each, and lint's refusals."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditml.policy.engine import evaluate
from auditml.policy.loader import PolicyError, RuleSet, lint_rules, load_rules
from auditml.policy.model import Event
from auditml.policy.rules import Rule

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
CREDIT = "creditworthiness assessment"


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(SHIPPED)


def events(*items: tuple[str, dict[str, Any]]) -> list[Event]:
    """Events an hour apart, in the system credit-ai, with a subject on decisions."""
    out = []
    for seq, (kind, payload) in enumerate(items):
        moment = START + timedelta(hours=seq)
        subject = "s1" if kind == "decision.made" else None
        actor = {"id": "x", "kind": "human"}
        out.append(
            Event(seq, f"e{seq}", kind, "credit-ai", subject, actor, moment, moment, payload)
        )
    return out


def only(rules: RuleSet, rule_id: str) -> RuleSet:
    return dataclasses.replace(rules, rules=(rules.get(rule_id),))


def judged(rules: RuleSet, items: list[Event]) -> tuple[str, list[str]]:
    result = evaluate(rules, items, as_of=START + timedelta(days=30))
    (summary,) = result.rules
    assert summary.condition_errors == 0, summary
    return summary.verdict, [f"{f.verdict}: {f.message}" for f in result.findings]


def registered(dataset: str, purposes: list[str]) -> tuple[str, dict[str, Any]]:
    return "dataset.registered", {
        "dataset_id": dataset,
        "contains_personal_data": True,
        "special_categories": [],
        "lawful_basis": "contract",
        "purposes": purposes,
    }


TRAINED = ("model.trained", {"model": "credit", "version": "3.3", "datasets": ["features"]})
DERIVED = ("dataset.derived", {"dataset_id": "features", "inputs": ["apps", "bureau"]})
DECIDED = ("decision.made", {"model": "credit", "version": "3.3", "purpose": CREDIT})


def test_a_decision_is_judged_with_the_lineage_as_it_stood_then(shipped: RuleSet) -> None:
    rules = only(shipped, "gdpr-5-1-b-purpose-through-lineage")
    apps, bureau = registered("apps", [CREDIT]), registered("bureau", [CREDIT, "marketing"])
    assert judged(rules, events(apps, bureau, DERIVED, TRAINED, DECIDED))[0] == "pass"
    # The bureau data registered only after the decision: unknown when it was made.
    verdict, messages = judged(rules, events(apps, DERIVED, TRAINED, DECIDED, bureau))
    assert verdict == "fail"
    assert messages == [
        "fail: credit 3.3 made a decision about subject s1 for 'creditworthiness assessment' on "
        "1 Sep 2026 at 12:00 UTC, and it does not meet the requirement: its data's purposes is "
        "empty; its purpose is creditworthiness assessment."
    ]
    # A decision for a purpose only one input allows.
    marketing = ("decision.made", {**DECIDED[1], "purpose": "marketing"})
    assert judged(rules, events(apps, bureau, DERIVED, TRAINED, marketing))[0] == "fail"


EXAMINED = {
    "kind": "exists_before",
    "trigger": "model.deployed",
    "for_each": "lineage.inputs",
    "required": "assessment.completed",
    "where": 'candidate.payload.kind == "bias"',
    "match_on": [["each", "payload.target"]],
}


def with_check(rules: RuleSet, check: dict[str, Any]) -> RuleSet:
    data = rules.get("aiact-10-bias-examination").model_dump(mode="json", exclude_none=True)
    data["check"] = check
    data["applies"] = {}
    return dataclasses.replace(rules, rules=(Rule.model_validate(data, strict=False),))


def bias(target: str) -> tuple[str, dict[str, Any]]:
    return "assessment.completed", {"kind": "bias", "target": target, "result": "pass"}


DEPLOYED = ("model.deployed", {"model": "credit", "version": "3.3", "environment": "prod"})
TRAINED_ON_TWO = ("model.trained", {"model": "credit", "version": "3.3", "datasets": ["a", "b"]})


def test_for_each_judges_every_element_joined_by_match_on(shipped: RuleSet) -> None:
    rules = with_check(shipped, EXAMINED)
    verdict, messages = judged(
        rules, events(TRAINED_ON_TWO, bias("dataset:a"), bias("dataset:b"), DEPLOYED)
    )
    assert verdict == "pass" and len(messages) == 2
    verdict, messages = judged(rules, events(TRAINED_ON_TWO, bias("dataset:a"), DEPLOYED))
    assert verdict == "fail"
    assert messages == [
        "pass: credit 3.3 was deployed to prod on 1 Sep 2026 at 11:00 UTC, after the "
        "assessment of 1 Sep 2026 10:00 UTC for dataset a.",
        "fail: credit 3.3 was deployed to prod on 1 Sep 2026 at 11:00 UTC with no earlier "
        "assessment for dataset b that the rule accepts.",
    ]


def test_for_each_with_nothing_to_judge_needs_a_person_unless_when_excludes_it(
    shipped: RuleSet,
) -> None:
    verdict, messages = judged(with_check(shipped, EXAMINED), events(DEPLOYED))
    assert verdict == "needs_human"
    assert messages == [
        "needs_human: credit 3.3 was deployed to prod on 1 Sep 2026 at 09:00 UTC, but the "
        "record has no lineage inputs to judge one by one; record what it rests on (e.g. the "
        "training of the version), or check it by hand."
    ]
    excluded = with_check(shipped, {**EXAMINED, "when": 'trigger.payload.environment == "x"'})
    assert judged(excluded, events(DEPLOYED)) == ("not_applicable", [])


def test_the_bias_rule_takes_the_version_or_each_dataset(shipped: RuleSet) -> None:
    rules = only(shipped, "aiact-10-bias-examination")
    system = (
        "system.registered",
        {"name": "credit-ai", "role": "provider", "risk_class": "high", "purposes": [CREDIT]},
    )
    version = bias("model:credit@3.3")
    assert judged(rules, events(system, TRAINED_ON_TWO, version, DEPLOYED))[0] == "pass"
    mixed = events(system, TRAINED_ON_TWO, bias("dataset:a"), bias("model:credit@3.2"), DEPLOYED)
    verdict, messages = judged(rules, mixed)
    assert verdict == "fail" and [m.split(":")[0] for m in messages] == ["pass", "fail"]


# --------------------------------------------------------------------------- lint

RULE = """\
id: t-lineage
title: t
severity: high
references:
  - {law: GDPR, article: "5"}
description: d
remediation: r
check:
  kind: exists_before
  trigger: TRIGGER
  FOR_EACH
  required: assessment.completed
  where: WHERE
  match_on:
    - MATCH
tests:
  - {name: p, fixture: t/pass.jsonl, expect: pass}
  - {name: f, fixture: t/fail.jsonl, expect: fail}
"""


def problems(
    tmp_path: Path,
    *,
    trigger: str = "model.deployed",
    for_each: str = "",
    where: str = 'candidate.payload.kind == "bias"',
    match: str = "system",
) -> list[str]:
    root = tmp_path / "policies"
    (root / "fixtures" / "t").mkdir(parents=True)
    shutil.copy(SHIPPED / "regimes.yaml", root / "regimes.yaml")
    text = (
        RULE.replace("TRIGGER", trigger)
        .replace("FOR_EACH", f"for_each: {for_each}" if for_each else "")
        .replace("WHERE", where)
        .replace("MATCH", match)
    )
    (root / "rule.yaml").write_text(text)
    line = json.dumps({"type": DEPLOYED[0], "payload": DEPLOYED[1]}) + "\n"
    for name in ("pass.jsonl", "fail.jsonl"):
        (root / "fixtures" / "t" / name).write_text(line)
    try:
        lint_rules(root)
    except PolicyError as exc:
        return [str(problem).removeprefix(str(root) + "/") for problem in exc.problems]
    return []


def test_lint_accepts_lineage_and_each(tmp_path: Path) -> None:
    assert (
        problems(
            tmp_path,
            for_each="lineage.inputs",
            where="candidate.payload.target in [trigger.each, trigger.lineage.ref]",
        )
        == []
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"where": "candidate.payload.target in trigger.lineage.purpose"},
            "rule.yaml:13: check.where: trigger: model.deployed has no field lineage.purpose "
            "(did you mean 'purposes'?); its lineage: ref, inputs, datasets, unregistered, "
            "personal, special_categories, purposes, lawful_bases, conditions, trained_at, "
            "retrained",
        ),
        (
            {"trigger": "consent.granted", "match": "subject", "where": "trigger.lineage.personal"},
            "rule.yaml:13: check.where: trigger: consent.granted events carry no lineage; these "
            "do: dataset.derived, dataset.registered, decision.made, model.deployed, "
            "model.retired, model.trained",
        ),
        (
            {"where": "candidate.payload.target == trigger.each"},
            "rule.yaml:13: check.where: trigger: each is the element a for_each check judges "
            "the trigger for, and this check has no for_each; add one (exists_before) or name "
            "another field",
        ),
        (
            {"match": "[each, payload.target]"},
            "rule.yaml:15: check.match_on[0][0]: each is the element a for_each check judges "
            "the trigger for, and this check has no for_each; add one (exists_before) or name "
            "another field",
        ),
        (
            {"for_each": "lineage.personal"},
            "rule.yaml:11: check.for_each: lineage.personal is not a list; for_each needs a "
            "list, e.g. lineage.inputs",
        ),
        (
            {"for_each": "payload.environment"},
            "rule.yaml:11: check.for_each: payload.environment is not a list; for_each needs a "
            "list, e.g. lineage.inputs",
        ),
        (
            {"where": "trigger.lineage.purposes"},
            "rule.yaml:13: check.where: CEL expression 'trigger.lineage.purposes' gives a list, "
            "never true or false; a condition must be true or false: compare it, e.g. "
            '`== "high"`',
        ),
    ],
)
def test_lint_refuses_misuse_of_lineage_with_file_and_line(
    tmp_path: Path, options: dict[str, str], expected: str
) -> None:
    assert problems(tmp_path, **options) == [expected]
