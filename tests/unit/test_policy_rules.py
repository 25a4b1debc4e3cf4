"""Rule files: the schema (auditml.policy.rules), regimes.yaml and the loader's errors."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticError

from auditml.errors import ConfigError, NotFoundError, ValidationError
from auditml.events.payloads import SUBJECT_REQUIRED, validate_payload
from auditml.policy.loader import (
    MAX_YAML_FILE_BYTES,
    PolicyError,
    Problem,
    default_policies_dir,
    field_problem,
    lint_rules,
    load_rules,
)
from auditml.policy.regimes import load_regimes
from auditml.policy.rules import (
    CHECK_KINDS,
    DeadlineCheck,
    MinDistinctCheck,
    RecordedLateCheck,
    Reference,
    RequiresPriorCheck,
    Rule,
    full_path,
)

SHIPPED = Path(__file__).resolve().parents[2] / "policies"

# A valid rule; line numbers below refer to this text.
RULE = """\
id: test-deadline
title: Breaches are notified within 72 hours
severity: high
references:
  - law: GDPR
    article: "33"
    paragraph: "1"
description: d
remediation: r
applies:
  regime: gdpr
check:
  kind: deadline
  trigger: incident.reported
  when: trigger.payload.kind == "breach"
  clock_field: payload.aware_at
  period: PT72H
  satisfied_by: notification.sent
  where: candidate.payload.to == "supervisory_authority"
  match_on:
    - [payload.incident_id, payload.about]
tests:
  - name: in time
    fixture: t/pass.jsonl
    expect: pass
  - name: late
    fixture: t/fail.jsonl
    expect: fail
"""

INCIDENT = {
    "type": "incident.reported",
    "payload": {
        "incident_id": "i1",
        "kind": "breach",
        "aware_at": "2026-01-01T00:00:00Z",
        "severity": "high",
        "widespread": False,
    },
}


def make_policies(root: Path, files: dict[str, str], *, fixtures: bool = True) -> Path:
    """A policies folder with the shipped regimes.yaml, the given rule files and fixtures."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "regimes.yaml", root / "regimes.yaml")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if fixtures:
        (root / "fixtures" / "t").mkdir(parents=True, exist_ok=True)
        for name in ("pass.jsonl", "fail.jsonl"):
            (root / "fixtures" / "t" / name).write_text(json.dumps(INCIDENT) + "\n")
    return root


def problems_of(root: Path, *, lint: bool = False) -> list[Problem]:
    with pytest.raises(PolicyError) as caught:
        (lint_rules if lint else load_rules)(root)
    assert isinstance(caught.value, ValidationError)  # exit code 2
    return list(caught.value.problems)


def only_problem(root: Path, *, lint: bool = False) -> Problem:
    problems = problems_of(root, lint=lint)
    assert len(problems) == 1, problems
    return problems[0]


def replace(old: str, new: str, text: str = RULE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- #
# The shipped policies                                                         #
# --------------------------------------------------------------------------- #


def test_shipped_policies_lint_clean() -> None:
    rule_set = lint_rules(SHIPPED)
    ids = [rule.id for rule in rule_set.rules]
    assert ids == sorted(ids) and len(ids) >= 25
    assert {"gdpr-33-breach-notification", "aiact-73-serious-incident"} <= set(ids)
    assert len(rule_set.sha256) == 64 and int(rule_set.sha256, 16) >= 0
    for rule in rule_set.rules:
        expects = {test.expect for test in rule.tests}
        assert {"pass", "fail"} <= expects
        assert rule.interpretation and "[interp]" in rule.interpretation


def test_default_policies_dir_is_the_checkout_in_development() -> None:
    assert default_policies_dir() == SHIPPED


def test_shipped_fixture_events_are_valid_payloads() -> None:
    fixtures = sorted((SHIPPED / "fixtures").rglob("*.jsonl"))
    assert len(fixtures) >= 6
    for path in fixtures:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            event = json.loads(line)
            where = f"{path.name}:{number}"
            # recorded_at is the fixture loader's own key (engine.fixture_events), not imported.
            allowed = {
                *("type", "payload", "subject", "occurred_at", "recorded_at", "actor", "id"),
                "system",
            }
            assert set(event) <= allowed
            validate_payload(event["type"], event["payload"], where=where)
            if event["type"] in SUBJECT_REQUIRED:
                assert event.get("subject"), where


def test_every_shipped_test_names_an_existing_fixture() -> None:
    rule_set = load_rules(SHIPPED)
    for rule in rule_set.rules:
        for test in rule.tests:
            assert (SHIPPED / "fixtures" / test.fixture).is_file()
            assert test.fixture.startswith(rule.id + "/")


def test_shipped_regimes_mark_omnibus_dates_verify() -> None:
    regimes = load_regimes(SHIPPED / "regimes.yaml")
    assert str(regimes.regimes["gdpr"].applies_from) == "2018-05-25"
    dates = {name: str(regime.applies_from) for name, regime in regimes.regimes.items()}
    assert dates["aiact.entry_into_force"] == "2024-08-01"
    assert dates["aiact.prohibitions"] == "2025-02-02"
    assert dates["aiact.gpai"] == "2025-08-02"
    assert dates["aiact.annex_iii"] == "2026-08-02"
    assert dates["aiact.annex_i"] == "2027-08-02"
    assert set(regimes.to_verify()) == {"aiact.annex_iii", "aiact.annex_i"}
    for name in regimes.to_verify():
        assert "[verify]" in (regimes.regimes[name].note or "")
    assert regimes.default_calendar == "eu"
    assert regimes.calendar().rule == "eu-1182/71"
    assert regimes.calendar("exact").rule == "exact"


def test_four_eyes_rule_uses_a_key_template_and_excludes_the_trainer() -> None:
    check = load_rules(SHIPPED).get("internal-four-eyes-deployment").check
    assert isinstance(check, MinDistinctCheck)
    assert check.match_on == [("model:{payload.model}@{payload.version}", "payload.target")]
    assert check.at_least == 2 and check.distinct_by == "actor.id"
    assert check.distinct_from[0].event == "model.trained"
    assert check.distinct_from[0].match_on == [
        ("payload.model", "payload.model"),
        ("payload.version", "payload.version"),
    ]


def test_access_request_rule_has_an_extension() -> None:
    check = load_rules(SHIPPED).get("gdpr-12-3-access-request-deadline").check
    assert isinstance(check, DeadlineCheck)
    assert check.period == "P1M" and check.calendar == "eu"
    assert check.extension is not None and check.extension.event == "dsr.extended"
    assert check.extension.period == "P2M" and check.extension.by_original_deadline
    assert check.match_on == [("payload.request_id", "payload.request_id")]


# --------------------------------------------------------------------------- #
# The models                                                                   #
# --------------------------------------------------------------------------- #


def rule_data(**check: object) -> dict[str, object]:
    return {
        "id": "r-1",
        "title": "t",
        "severity": "low",
        "references": [{"law": "GDPR", "article": 7}],
        "description": "d",
        "remediation": "r",
        "check": check,
    }


def test_rule_model_is_frozen_and_numbers_may_be_unquoted() -> None:
    rule = Rule.model_validate(
        rule_data(kind="fields_present", trigger="decision.made", fields=["explanation", "subject"])
    )
    assert rule.references[0].article == "7"
    assert rule.check.fields == ["payload.explanation", "subject"]  # type: ignore[union-attr]
    with pytest.raises(PydanticError):
        rule.id = "other"  # type: ignore[misc]


def test_reference_labels() -> None:
    assert Reference(law="GDPR", article="5", paragraph="1", point="b").label() == (
        "GDPR Art. 5(1)(b)"
    )
    assert Reference(law="AI Act", article="26").label() == "AI Act Art. 26"
    assert Reference(law="internal", article="MRP-4").label() == "internal MRP-4"


def test_full_paths() -> None:
    assert full_path("request_id") == "payload.request_id"
    assert full_path("subject") == "subject"
    assert full_path("actor.id") == "actor.id"
    assert full_path("payload.about") == "payload.about"


def test_every_check_kind_validates_its_parameters() -> None:
    examples: dict[str, dict[str, object]] = {
        "deadline": {
            "trigger": "dsr.received",
            "tiers": [
                {"when": "trigger.payload.kind == 'erasure'", "period": "P1M"},
                {"period": "P2M"},
            ],
            "satisfied_by": "dsr.answered",
            "match_on": ["request_id"],
        },
        "requires_prior": {
            "trigger": "decision.made",
            "prior": "consent.granted",
            "match_on": ["subject", "purpose"],
            "unless_revoked_by": "consent.withdrawn",
            "within": "P2Y",
        },
        "forbids_after": {
            "trigger": "consent.withdrawn",
            "forbidden": "decision.made",
            "match_on": ["subject", "purpose"],
            "lifted_by": "consent.granted",
            "where": "candidate.payload.lawful_basis == 'consent'",
        },
        "retention": {
            "trigger": "log.purged",
            "mode": "keep_for",
            "period": "P6M",
            "clock_field": "payload.up_to",
        },
        "min_distinct": {
            "trigger": "model.deployed",
            "counterpart": "approval.granted",
            "match_on": [["model:{model}@{version}", "target"]],
            "at_least": 2,
        },
        "exists_before": {
            "trigger": "model.deployed",
            "required": "assessment.completed",
            "match_on": [["model:{model}@{version}", "target"]],
            "verdict": "needs_human",
        },
        "fields_present": {"trigger": "decision.made", "fields": ["input_sha256"]},
        "recorded_late": {
            "trigger": "*",
            "types": ["assessment.completed", "approval.granted"],
            "max_delay": "P7D",
        },
    }
    assert set(examples) == set(CHECK_KINDS)
    for kind, params in examples.items():
        rule = Rule.model_validate(rule_data(kind=kind, **params))
        assert isinstance(rule.check, CHECK_KINDS[kind])
        assert rule.check.params()["trigger"] == params["trigger"]
    prior = Rule.model_validate(rule_data(kind="requires_prior", **examples["requires_prior"]))
    assert isinstance(prior.check, RequiresPriorCheck)
    assert prior.check.unless_revoked_by is not None
    assert prior.check.unless_revoked_by.event == "consent.withdrawn"
    assert prior.check.match_on == [("subject", "subject"), ("payload.purpose", "payload.purpose")]
    template = Rule.model_validate(rule_data(kind="min_distinct", **examples["min_distinct"]))
    assert template.check.match_on == [  # type: ignore[union-attr]
        ("model:{payload.model}@{payload.version}", "payload.target")
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "P1M", "tiers": [{"period": "P1M"}]}, "either period or tiers"),
        ({}, "either period or tiers"),
        (
            {"tiers": [{"period": "P1M"}, {"when": "true", "period": "P2M"}]},
            "only the last tier may omit",
        ),
        ({"period": "P1M", "match_on": []}, "at least 1"),
        ({"period": "P1M", "match_on": [["a", "b", "c"]]}, "a list of 3"),
        ({"period": "P1M", "match_on": ["model:{payload.model"]}, "unbalanced braces"),
        ({"period": "P1M", "match_on": ["a b"]}, "not a field path"),
        ({"period": "P1M", "when": "  "}, "non-empty CEL"),
        ({"period": "1 month"}, "pattern"),
        # Periods the calendars cannot apply: refused when loaded, not met at evaluation.
        ({"period": "P1DT12H"}, "period 'P1DT12H' is not supported"),
        ({"period": "P0D"}, "has no length"),
        ({"period": "P1001Y"}, "is longer than 1000 years"),
        ({"period": "PT8800000H"}, "is longer than 1000 years"),
        ({"period": "P" + "9" * 5000 + "D"}, "has a number of more than 9 digits"),
        ({"period": "P1M", "extension": {"event": "dsr.extended", "period": "P0M"}}, "no length"),
    ],
)
def test_deadline_parameters_are_checked(params: dict[str, object], message: str) -> None:
    check = {
        "kind": "deadline",
        "trigger": "dsr.received",
        "satisfied_by": "dsr.answered",
        "match_on": ["request_id"],
        **params,
    }
    with pytest.raises(PydanticError) as caught:
        Rule.model_validate(rule_data(**check))
    assert message in str(caught.value)


def test_long_but_applicable_periods_are_accepted() -> None:
    for period in ("P1000Y", "P999Y11M", "PT999999999S", "P52W"):
        check = {"kind": "recorded_late", "max_delay": period}
        assert Rule.model_validate(rule_data(**check)).check.max_delay == period  # type: ignore[union-attr]


def test_conditions_are_collected_with_their_location() -> None:
    rule = load_rules(SHIPPED).get("gdpr-33-breach-notification")
    assert rule.conditions() == [
        (("check", "when"), "when", 'trigger.payload.kind == "breach"'),
        (("check", "where"), "where", 'candidate.payload.to == "supervisory_authority"'),
    ]
    tiers = Rule.model_validate(
        rule_data(
            kind="deadline",
            trigger="incident.reported",
            tiers=[{"when": "trigger.payload.widespread", "period": "P2D"}, {"period": "P15D"}],
            satisfied_by="notification.sent",
            match_on=[["incident_id", "about"]],
            extension={"event": "notification.sent", "period": "P1D", "where": "true"},
        )
    )
    assert [(loc, name) for loc, name, _ in tiers.conditions()] == [
        (("check", "tiers", 0, "when"), "when"),
        (("check", "extension", "where"), "where"),
    ]


def test_field_problem_against_the_vocabulary() -> None:
    assert field_problem("notification.sent", "payload.about") is None
    assert field_problem("approval.granted", "payload.signature.key_id") is None
    assert field_problem("model.trained", "payload.metrics.auc") is None  # free-form object
    assert field_problem("decision.made", "actor.id") is None
    assert "did you mean 'about'" in (field_problem("notification.sent", "payload.abut") or "")
    assert "not an object" in (field_problem("dsr.received", "payload.kind.x") or "")
    assert "not a time" in (field_problem("dsr.received", "payload.kind", time=True) or "")
    assert field_problem("dsr.received", "payload.received_at", time=True) is None
    assert "not a time" in (field_problem("dsr.received", "subject", time=True) or "")


# --------------------------------------------------------------------------- #
# Loader errors: file, line, field                                             #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ("severity: high", "severity: severe", 3, "severity", "expected one of"),
        ("id: test-deadline", "id: Test_Deadline", 1, "id", "rule id of lowercase"),
        ('    paragraph: "1"', "    paragraf: 1", 7, "references[0].paragraf", "unknown field"),
        ("title: Breaches are notified within 72 hours\n", "", 1, "title", "required field"),
        ("  period: PT72H", "  period: 72h", 17, "check.period", "ISO 8601 duration"),
        ("  kind: deadline", "  kind: deadlines", 12, "check", "unknown check kind"),
        (
            "  trigger: incident.reported",
            "  trigger: incident.reportd",
            14,
            "check.trigger",
            "did you mean 'incident.reported'",
        ),
        (
            "  satisfied_by: notification.sent",
            "  satisfied_by: notification.sent\n  colour: red",
            19,
            "check.colour",
            "allowed: calendar, clock_field",
        ),
        (
            "    - [payload.incident_id, payload.about]",
            "    - [payload.incident_id, payload.abut]",
            21,
            "check.match_on[0][1]",
            "notification.sent has no field payload.abut",
        ),
        (
            "  clock_field: payload.aware_at",
            "  clock_field: payload.awareat",
            16,
            "check.clock_field",
            "incident.reported has no field payload.awareat",
        ),
        (
            "  clock_field: payload.aware_at",
            "  clock_field: payload.severity",
            16,
            "check.clock_field",
            "not a time field",
        ),
        ("  regime: gdpr", "  regime: gdp", 11, "applies.regime", "unknown regime 'gdp'"),
        (
            "  period: PT72H",
            "  period: PT72H\n  calendar: mars",
            18,
            "check.calendar",
            "unknown calendar 'mars'",
        ),
        ("    expect: fail", "    expect: maybe", 28, "tests[1].expect", "expected one of"),
        (
            "    fixture: t/fail.jsonl",
            "    fixture: ../fail.jsonl",
            27,
            "tests[1].fixture",
            "relative to policies/fixtures/",
        ),
        (
            "  regime: gdpr",
            "  regime: gdpr\n  roles: [provider, nobody]",
            12,
            "applies.roles[1]",
            "expected one of",
        ),
    ],
)
def test_each_error_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    root = make_policies(tmp_path, {"gdpr/rule.yaml": replace(old, new)})
    problem = only_problem(root)
    assert problem.file == str(root / "gdpr" / "rule.yaml")
    assert (problem.line, problem.field) == (line, field), problem
    assert message in problem.message, problem
    assert f"rule.yaml:{line}: {field}: " in str(problem)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace("  period: PT72H", "  period: [PT72H")})
    problem = only_problem(root)
    assert problem.file.endswith("r.yaml") and problem.line is not None
    assert problem.line >= 17 and "invalid YAML" in problem.message


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    root = make_policies(
        tmp_path, {"r.yaml": replace("severity: high", "severity: high\nseverity: low")}
    )
    problem = only_problem(root)
    assert (problem.line, problem.field) == (4, "severity")
    assert "given twice (first on line 3)" in problem.message


def test_yaml_booleans_are_not_taken_as_text(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace("description: d", "description: no")})
    problem = only_problem(root)
    assert problem.field == "description" and "quote the value" in problem.message


BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    + ["id: *a9", ""]
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (BILLION_LAUGHS, 1),  # 9**10 nodes from ten lines: hung lint, test and check before
        (RULE + "notes: &note x\nmore: *note\n", 29),
        (replace("applies:\n  regime: gdpr\n", "x: &d {regime: gdpr}\napplies: {<<: *d}\n"), 10),
    ],
)
def test_yaml_anchors_and_aliases_are_refused_with_their_line(
    tmp_path: Path, text: str, line: int
) -> None:
    root = make_policies(tmp_path, {"gdpr/r.yaml": text})
    problem = only_problem(root)
    assert problem.file == str(root / "gdpr" / "r.yaml") and problem.line == line, problem
    assert "anchors and aliases (&name, *name, <<: *name) are not allowed" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 10_000 + "]" * 10_000 + "\n",  # a RecursionError traceback before
        "x:\n" + "".join("  " * n + f"k{n}:\n" for n in range(1, 40)) + "  " * 40 + "v\n",
    ],
)
def test_deep_yaml_nesting_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    root = make_policies(tmp_path, {"r.yaml": RULE, "deep.yaml": text})
    problem = only_problem(root)
    assert problem.file == str(root / "deep.yaml") and problem.line is not None
    assert "nested more than 32 levels deep" in problem.message


@pytest.mark.parametrize(("name", "where"), [("r.yaml", "rule"), ("regimes.yaml", "regimes")])
def test_a_nul_byte_is_refused_naming_file_and_line(tmp_path: Path, name: str, where: str) -> None:
    root = make_policies(tmp_path, {"r.yaml": RULE})
    path = root / name
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + "\x00\n"  # a ReaderError traceback before
    path.write_text("".join(lines))
    problem = only_problem(root)
    assert problem.file == str(path) and problem.line == 4, (where, problem)
    assert "a NUL byte is not allowed in YAML" in problem.message


def test_other_control_characters_and_non_utf8_are_refused(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace("description: d", "description: d\x07")})
    problem = only_problem(root)
    assert problem.line == 8 and "the control character U+0007" in problem.message
    (root / "r.yaml").write_bytes(RULE.encode("utf-16"))
    assert "not UTF-8 text" in only_problem(root).message


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        # PyYAML's int() and datetime() raised a bare ValueError: a traceback before.
        ('article: "33"', "article: " + "9" * 5000, 6, "Exceeds the limit (4300 digits)"),
        ("expect: fail", "expect: fail\n    as_of: 2026-13-01T00:00:00Z", 29, "month must be in"),
    ],
)
def test_values_pyyaml_cannot_convert_are_refused_with_their_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace(old, new)})
    problem = only_problem(root)
    assert problem.line == line and "cannot read" in problem.message, problem
    assert message in problem.message and "put text in quotes" in problem.message


def test_a_rule_file_larger_than_the_limit_is_refused_unparsed(tmp_path: Path) -> None:
    filler = "# " + "x" * 98 + "\n"
    big = RULE + filler * (MAX_YAML_FILE_BYTES // len(filler) + 1)
    root = make_policies(tmp_path, {"r.yaml": big})
    problem = only_problem(root)
    assert problem.file.endswith("r.yaml") and problem.line is None
    assert f"larger than {MAX_YAML_FILE_BYTES:,} bytes" in problem.message
    (root / "r.yaml").write_text(RULE + filler * (MAX_YAML_FILE_BYTES // len(filler) - 100))
    assert [rule.id for rule in load_rules(root).rules] == ["test-deadline"]


def test_all_problems_of_all_files_are_reported_and_nothing_loads(tmp_path: Path) -> None:
    root = make_policies(
        tmp_path,
        {
            "gdpr/good.yaml": RULE,
            "gdpr/a.yaml": replace(
                "id: test-deadline", "id: a-1", replace("severity: high", "severity: x")
            ),
            "internal/b.yaml": replace(
                "id: test-deadline", "id: b-1", replace("  period: PT72H", "  period: soon")
            ),
        },
    )
    problems = problems_of(root)
    files = {Path(problem.file).name for problem in problems}
    assert files == {"a.yaml", "b.yaml"}
    with pytest.raises(PolicyError) as caught:
        load_rules(root)
    text = str(caught.value)
    assert text.startswith("2 problems in the policies under")
    assert "a.yaml:3: severity:" in text and "b.yaml:17: check.period:" in text


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"gdpr/one.yaml": RULE, "internal/two.yaml": RULE})
    problem = only_problem(root)
    assert problem.file.endswith("two.yaml") and (problem.line, problem.field) == (1, "id")
    assert "duplicate rule id 'test-deadline'" in problem.message
    assert "one.yaml:1" in problem.message


def test_a_file_may_hold_a_list_of_rules(tmp_path: Path) -> None:
    second = replace("id: test-deadline", "id: test-two")
    listed = "- " + textwrap.indent(RULE, "  ")[2:] + "- " + textwrap.indent(second, "  ")[2:]
    root = make_policies(tmp_path, {"many.yaml": listed})
    assert [rule.id for rule in load_rules(root).rules] == ["test-deadline", "test-two"]
    broken = listed.replace("severity: high", "severity: bad", 2)
    (root / "many.yaml").write_text(broken)
    problems = problems_of(root)
    assert [(p.line, p.field) for p in problems] == [(3, "[0].severity"), (31, "[1].severity")]


def test_regimes_fixtures_and_other_files_are_not_rules(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"gdpr/rule.yaml": RULE, "gdpr/README.md": "# notes"})
    (root / "fixtures" / "t" / "notes.yaml").write_text("not: a rule\n")
    assert len(load_rules(root).rules) == 1
    (root / "gdpr" / "other.yml").write_text(RULE)
    assert "end in .yaml, not .yml" in only_problem(root).message


def test_missing_folder_regimes_and_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_rules(tmp_path / "absent")
    (tmp_path / "r.yaml").write_text(RULE)
    problem = only_problem(tmp_path)
    assert problem.file.endswith("regimes.yaml") and "missing" in problem.message
    empty = make_policies(tmp_path / "empty", {})
    assert "no rule files" in only_problem(empty).message


def test_bad_regimes_file_names_line_and_field(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": RULE})
    text = (root / "regimes.yaml").read_text()
    (root / "regimes.yaml").write_text(
        text.replace("applies_from: 2018-05-25", "applies_from: someday").replace(
            "timezone: Europe/Brussels", "timezone: Mars/Olympus"
        )
    )
    problems = problems_of(root)
    lines = text.splitlines()
    expected_date = next(i for i, text in enumerate(lines, 1) if "2018-05-25" in text)
    assert (problems[0].field, problems[0].line) == ("regimes.gdpr.applies_from", expected_date)
    assert problems[1].field == "calendars.eu" and "Mars/Olympus" in problems[1].message
    with pytest.raises(PolicyError, match=r"regimes.yaml:\d+: regimes.gdpr.applies_from"):
        load_regimes(root / "regimes.yaml")


def test_unknown_rule_id_is_not_found(tmp_path: Path) -> None:
    rule_set = load_rules(make_policies(tmp_path, {"r.yaml": RULE}))
    with pytest.raises(NotFoundError, match="did you mean 'test-deadline'"):
        rule_set.get("test-dedline")


# --------------------------------------------------------------------------- #
# Lint: tests, fixtures, CEL                                                   #
# --------------------------------------------------------------------------- #


def test_lint_needs_a_pass_and_a_fail_test(tmp_path: Path) -> None:
    no_fail = RULE[: RULE.index("  - name: late")]
    root = make_policies(tmp_path, {"r.yaml": no_fail})
    load_rules(root)  # loading does not need tests
    problem = only_problem(root, lint=True)
    assert (problem.line, problem.field) == (22, "tests")
    assert "needs tests expecting fail" in problem.message
    no_tests = RULE[: RULE.index("tests:")]
    (root / "r.yaml").write_text(no_tests)
    assert "expecting pass and fail" in only_problem(root, lint=True).message


def test_lint_accepts_a_twin_one_event_apart(tmp_path: Path) -> None:
    rule = replace("    expect: fail\n", "    expect: fail\n    twin: t/pass.jsonl\n")
    root = make_policies(tmp_path, {"r.yaml": rule})
    notified = {
        "type": "notification.sent",
        "payload": {
            "to": "supervisory_authority",
            "about": "i1",
            "sent_at": "2026-01-02T00:00:00Z",
        },
    }
    (root / "fixtures" / "t" / "pass.jsonl").write_text(
        json.dumps(INCIDENT) + "\n" + json.dumps(notified) + "\n"
    )
    assert len(lint_rules(root).rules) == 1
    # One field of one event changed is one fact too.
    late = {**notified, "payload": {**notified["payload"], "sent_at": "2026-01-09T00:00:00Z"}}
    (root / "fixtures" / "t" / "fail.jsonl").write_text(
        json.dumps(INCIDENT) + "\n" + json.dumps(late) + "\n"
    )
    assert len(lint_rules(root).rules) == 1


@pytest.mark.parametrize(
    ("twin", "message"),
    [
        ("t/pass.jsonl", "must differ from t/fail.jsonl in exactly one event"),
        ("t/other.jsonl", "is not the fixture of a test of rule test-deadline expecting pass"),
    ],
)
def test_lint_refuses_a_twin_that_is_not_one(tmp_path: Path, twin: str, message: str) -> None:
    rule = replace("    expect: fail\n", f"    expect: fail\n    twin: {twin}\n")
    root = make_policies(tmp_path, {"r.yaml": rule})
    problem = only_problem(root, lint=True)
    assert (problem.line, problem.field) == (29, "tests[1].twin")
    assert message in problem.message


def test_lint_refuses_a_twin_on_a_passing_test(tmp_path: Path) -> None:
    rule = replace("    expect: pass\n", "    expect: pass\n    twin: t/pass.jsonl\n")
    root = make_policies(tmp_path, {"r.yaml": rule})
    assert "a passing test has no twin" in only_problem(root, lint=True).message


def test_lint_reports_missing_fixtures(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace("t/fail.jsonl", "t/absent.jsonl")})
    problem = only_problem(root, lint=True)
    assert (problem.line, problem.field) == (27, "tests[1].fixture")
    assert "absent.jsonl does not exist" in problem.message


def test_lint_reports_invalid_fixture_events_by_line(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {"r.yaml": RULE})
    bad = dict(INCIDENT, payload={**INCIDENT["payload"], "widespread": "no"})  # type: ignore[dict-item]
    lines = [
        json.dumps(INCIDENT),
        "",
        json.dumps(bad),
        json.dumps(
            {
                "type": "dsr.received",
                "payload": {
                    "request_id": "r",
                    "kind": "access",
                    "received_at": "2026-01-01T00:00:00Z",
                },
            }
        ),
        "not json",
    ]
    (root / "fixtures" / "t" / "fail.jsonl").write_text("\n".join(lines) + "\n")
    problems = problems_of(root, lint=True)
    assert [p.line for p in problems] == [3, 4, 5]
    assert all(p.file.endswith("fail.jsonl") for p in problems)
    assert "payload.widespread: expected a boolean" in problems[0].message
    assert "subject is required" in problems[1].message


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            '  when: trigger.payload.kind == "breach"',
            "  when: trigger.payload.kind ==",
            15,
            "invalid CEL",
        ),
        (
            '  when: trigger.payload.kind == "breach"',
            '  when: candidate.payload.kind == "breach"',
            15,
            "unknown variable(s) candidate",
        ),
        (
            '  where: candidate.payload.to == "supervisory_authority"',
            '  where: candidate.payload.recipient == "supervisory_authority"',
            19,
            "candidate: notification.sent has no field payload.recipient",
        ),
    ],
)
def test_lint_compiles_conditions(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace(old, new)})
    load_rules(root)  # the loader only checks that conditions are non-empty text
    problem = only_problem(root, lint=True)
    assert problem.line == line and message in problem.message, problem


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        # By the vocabulary: incident.reported payload.kind is text, notification.sent
        # payload.to too, system.registered name too.
        (
            '  when: trigger.payload.kind == "breach"',
            "  when: trigger.payload.kind",
            15,
            "CEL expression 'trigger.payload.kind' gives a string, never true or false",
        ),
        (
            '  where: candidate.payload.to == "supervisory_authority"',
            "  where: candidate.payload.to",
            19,
            "gives a string, never true or false",
        ),
        (
            "  regime: gdpr\n",
            "  regime: gdpr\n  condition: system.name\n",
            12,
            "CEL expression 'system.name' gives a string",
        ),
        # By the syntax alone.
        (
            '  when: trigger.payload.kind == "breach"',
            "  when: size(trigger.payload.kind)",
            15,
            "an int",
        ),
        (
            '  when: trigger.payload.kind == "breach"',
            "  when: 'trigger.payload.widespread ? true : trigger.payload[\"kind\"]'",
            15,
            "gives a string, never true or false",
        ),
        # Not typed by the syntax: tried on the rule's own fixture events.
        (
            '  when: trigger.payload.kind == "breach"',
            "  when: 'trigger.payload.widespread ? true : [trigger.payload.kind][0]'",
            15,
            "gave str 'breach', not true or false; compare it with something, e.g. `== \"high\"` "
            "(evaluated with trigger = event 1 of fixtures/t/pass.jsonl)",
        ),
    ],
)
def test_lint_refuses_a_condition_that_is_not_true_or_false(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    root = make_policies(tmp_path, {"r.yaml": replace(old, new)})
    load_rules(root)  # loading does not compile conditions
    problem = only_problem(root, lint=True)
    assert problem.line == line and message in problem.message, problem


def test_lint_accepts_boolean_fields_and_values_it_cannot_type(tmp_path: Path) -> None:
    text = replace(
        '  when: trigger.payload.kind == "breach"',
        "  when: trigger.payload.widespread || [trigger.payload.severity][0] == 'high' || "
        "trigger.payload.personal.anything",
    )
    root = make_policies(tmp_path, {"r.yaml": text})
    assert [rule.id for rule in lint_rules(root).rules] == ["test-deadline"]


def test_lint_reports_load_problems_too(tmp_path: Path) -> None:
    root = make_policies(
        tmp_path,
        {
            "a.yaml": replace("severity: high", "severity: x"),
            "b.yaml": replace(
                "id: test-deadline", "id: b-1", replace("t/fail.jsonl", "t/none.jsonl")
            ),
        },
    )
    fields = {(Path(p.file).name, p.field) for p in problems_of(root, lint=True)}
    assert fields == {("a.yaml", "severity"), ("b.yaml", "tests[1].fixture")}


# --------------------------------------------------------------------------- #
# The rule set's SHA-256                                                       #
# --------------------------------------------------------------------------- #


def sha_of(root: Path, text: str) -> str:
    (root / "r.yaml").write_text(text)
    return load_rules(root).sha256


def test_sha256_follows_content_not_formatting(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {})
    base = sha_of(root, RULE)
    reordered = replace(
        "severity: high\n", "", replace("title: Breaches", "severity: high\ntitle: Breaches")
    )
    assert sha_of(root, reordered) == base
    assert sha_of(root, "# a comment\n\n" + RULE.replace("\n", "   \n")) == base
    assert sha_of(root, RULE.replace("severity: high", 'severity: "high"')) == base
    flow = replace(
        "    - [payload.incident_id, payload.about]",
        "    - - payload.incident_id\n      - payload.about",
    )
    assert sha_of(root, flow) == base
    defaults = replace("  period: PT72H", "  period: PT72H\n  satisfied_clock_field: occurred_at")
    assert sha_of(root, defaults) == base  # a default written out is the same rule
    short = replace("    - [payload.incident_id, payload.about]", "    - [incident_id, about]")
    assert sha_of(root, short) == base  # paths are stored in full form
    assert sha_of(root, RULE.replace("PT72H", "PT48H")) != base
    assert sha_of(root, RULE.replace("remediation: r", "remediation: r2")) != base


def test_sha256_covers_regimes_and_ignores_file_layout(tmp_path: Path) -> None:
    root = make_policies(tmp_path, {})
    base = sha_of(root, RULE)
    regimes = root / "regimes.yaml"
    regimes.write_text(regimes.read_text().replace("2018-05-25", "2018-05-26"))
    assert load_rules(root).sha256 != base
    other = make_policies(tmp_path / "other", {"deep/er/name.yaml": RULE})
    assert load_rules(other).sha256 == base


def test_recorded_late_schema() -> None:
    rule = Rule.model_validate(
        rule_data(kind="recorded_late", types=["assessment.completed"], max_delay="P7D")
    )
    assert isinstance(rule.check, RecordedLateCheck)
    assert rule.check.trigger == "*" and rule.check.trigger_types() == {"assessment.completed"}
    assert list(rule.check.events()) == [(("types", 0), "assessment.completed")]
    every = Rule.model_validate(rule_data(kind="recorded_late", max_delay="PT48H"))
    assert isinstance(every.check, RecordedLateCheck) and every.check.trigger_types() is None
    for bad in (
        {"trigger": "approval.granted", "max_delay": "P7D"},  # only "*"
        {"types": ["assessment.completd"], "max_delay": "P7D"},  # not in the vocabulary
        {"types": [], "max_delay": "P7D"},
        {"types": ["approval.granted", "approval.granted"], "max_delay": "P7D"},
        {"types": ["approval.granted"], "max_delay": "7 days"},
        {"types": ["approval.granted"]},
    ):
        with pytest.raises(PydanticError):
            Rule.model_validate(rule_data(kind="recorded_late", **bad))
