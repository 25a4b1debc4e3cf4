"""`auditml policy coverage`: provisions of the law, the rules placed under them, the gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditml.cli.main import app
from auditml.policy.coverage import coverage_of, load_articles, markdown
from auditml.policy.loader import PolicyError, default_policies_dir, load_rules

ROOT = Path(__file__).resolve().parents[2]


def shipped() -> tuple[object, ...]:
    return load_articles(default_policies_dir() / "articles.yaml")


def test_each_rule_lands_under_the_provisions_it_cites() -> None:
    rules = load_rules(default_policies_dir())
    result = coverage_of(load_articles(default_policies_dir() / "articles.yaml"), rules.rules)
    by_label = {item.article.label(): item for item in result.articles}
    # GDPR Art. 33(1) falls inside Art. 33; 5(1)(b) sits in its own point of Art. 5.
    assert "gdpr-33-breach-notification" in {r.id for r in by_label["GDPR Art. 33"].rules}
    assert {r.id for r in by_label["GDPR Art. 5(1)(b)"].rules} >= {"gdpr-5-1-b-purpose-limitation"}
    assert by_label["GDPR Art. 5(1)(f)"].status == "not_from_events"
    # Every shipped rule citing GDPR or the AI Act is placed somewhere.
    assert result.unplaced == ()
    placed = {r.id for item in result.articles for r in item.rules}
    assert placed == {
        rule.id
        for rule in rules.rules
        if any(reference.law != "internal" for reference in rule.references)
    }


def test_a_needs_human_rule_makes_its_provision_partly_checked(tmp_path: Path) -> None:
    dpia = load_rules(default_policies_dir()).get("gdpr-35-dpia-before-deployment")
    judged = dpia.model_copy(
        update={"check": dpia.check.model_copy(update={"verdict": "needs_human"})}
    )
    path = write(tmp_path, "articles:\n  - {law: GDPR, article: '35', title: DPIA}\n")
    (plain,) = coverage_of(load_articles(path), [dpia]).articles
    (item,) = coverage_of(load_articles(path), [judged]).articles
    assert (plain.status, item.status) == ("checked", "partly")
    assert "(needs a person)" in markdown(coverage_of(load_articles(path), [judged]))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "articles.yaml"
    path.write_text(text)
    return path


def test_overlapping_provisions_are_refused_with_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "articles:\n"
        "  - {law: GDPR, article: '33', title: Breach}\n"
        "  - {law: GDPR, article: '33', paragraph: '1', title: Breach to the authority}\n",
    )
    with pytest.raises(PolicyError) as caught:
        load_articles(path)
    assert "GDPR Art. 33 and GDPR Art. 33(1) overlap" in str(caught.value)
    assert f"{path}:3: articles[1]:" in str(caught.value)


def test_unknown_fields_and_a_point_without_paragraph_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "articles:\n"
        "  - {law: GDPR, article: '5', point: e, title: Storage}\n"
        "  - {law: GDPR, article: '6', title: Basis, checked_by: me}\n",
    )
    with pytest.raises(PolicyError) as caught:
        load_articles(path)
    message = str(caught.value)
    assert "a point needs its paragraph" in message and "checked_by" in message


def test_a_provision_without_rules_or_reasons_is_not_covered(tmp_path: Path) -> None:
    path = write(tmp_path, "articles:\n  - {law: GDPR, article: '16', title: Rectification}\n")
    (item,) = coverage_of(load_articles(path), []).articles
    assert item.status == "not_covered"


def test_cli_prints_tables_summary_and_json() -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["policy", "coverage"], env={"COLUMNS": "100"})
    assert table.exit_code == 0, table.output
    assert "GDPR Art. 5(1)(e)" in table.output and "AI Act Art. 73" in table.output
    assert "GDPR: " in table.output and " provisions; " in table.output
    out = runner.invoke(app, ["policy", "coverage", "--json"])
    data = json.loads(out.output)
    assert data["summary"]["GDPR"]["not_from_events"] >= 1
    assert any(a["provision"] == "GDPR Art. 33" and a["rules"] for a in data["articles"])


def test_docs_coverage_is_current() -> None:
    rules = load_rules(default_policies_dir())
    expected = markdown(coverage_of(shipped(), rules.rules))  # type: ignore[arg-type]
    written = (ROOT / "docs" / "COVERAGE.md").read_text()
    assert written == expected, (
        "docs/COVERAGE.md is stale: run `auditml policy coverage --markdown > docs/COVERAGE.md`"
    )
