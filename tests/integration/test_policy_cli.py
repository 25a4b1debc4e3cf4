"""`auditml policy list|show|lint`, and the shipped policies in the wheel's layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditml.cli.policy import register
from auditml.errors import NotFoundError
from auditml.policy.loader import PolicyError, load_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
SHIPPED_RULES = load_rules(SHIPPED).rules
IDS = [rule.id for rule in SHIPPED_RULES]
TESTS = sum(len(rule.tests) for rule in SHIPPED_RULES)

# The real entry point (`main.run`: one-line errors, exit codes) with the group registered,
# as auditml.cli.main will do.
RUN = "from auditml.cli import main, policy; policy.register(main.app); main.run()"


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, so that `policy` is a subcommand as in the real CLI."""

    register(app)
    return app


def invoke(cli: typer.Typer, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(cli, ["policy", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def broken_copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED, root)
    rule = root / "gdpr" / "art33-breach-notification.yaml"
    rule.write_text(rule.read_text().replace("period: PT72H", "period: 72 hours"))
    (root / "fixtures" / "internal-four-eyes-deployment" / "fail.jsonl").unlink()
    return root


def test_list_table(cli: typer.Typer) -> None:
    code, output, _ = invoke(cli, "list")
    assert code == 0, output
    for rule_id in IDS:
        assert rule_id in output
    assert "GDPR Art. 33(1)" in output and "min_distinct" in output and "critical" in output
    assert load_rules(SHIPPED).sha256 in output


def test_list_json(cli: typer.Typer, tmp_path: Path) -> None:
    code, output, _ = invoke(cli, "list", "--json", "--policies", str(SHIPPED))
    assert code == 0, output
    listed = json.loads(output)
    assert listed["sha256"] == load_rules(SHIPPED).sha256
    assert [rule["id"] for rule in listed["rules"]] == IDS
    first = next(
        rule for rule in listed["rules"] if rule["id"] == "gdpr-12-3-access-request-deadline"
    )
    assert first["references"] == ["GDPR Art. 12(3)", "GDPR Art. 15(1)"]
    assert first["kind"] == "deadline" and first["severity"] == "high"
    assert first["file"].endswith("art12-3-access-request.yaml")


def test_show_renders_the_rule_for_reading(cli: typer.Typer) -> None:
    code, output, _ = invoke(cli, "show", "gdpr-33-breach-notification")
    assert code == 0, output
    for text in (
        "Personal data breaches are notified",
        "GDPR Art. 33(1)",
        "Description",
        "Remediation",
        "Interpretation",
        "[interp]",
        "regime gdpr (from 2018-05-25)",
        "Check: deadline",
        "clock_field: payload.aware_at",
        "match_on: payload.incident_id = payload.about",
        "pending",
        "gdpr-33-breach-notification/fail.jsonl",
    ):
        assert text in output, text


def test_show_json_and_unknown_id(cli: typer.Typer) -> None:
    code, output, _ = invoke(cli, "show", "internal-four-eyes-deployment", "--json")
    assert code == 0, output
    shown = json.loads(output)
    assert shown["check"]["kind"] == "min_distinct" and shown["check"]["at_least"] == 2
    assert shown["file"].endswith("four-eyes-deployment.yaml") and shown["line"] == 1
    assert shown["rule_set_sha256"] == load_rules(SHIPPED).sha256
    code, _, exc = invoke(cli, "show", "gdpr-33-breach")
    assert isinstance(exc, NotFoundError) and "did you mean" in str(exc)


def test_lint_clean(cli: typer.Typer) -> None:
    code, output, _ = invoke(cli, "lint")
    assert code == 0, output
    assert output.startswith(f"{len(IDS)} rules OK ({TESTS} tests, rule set sha256 ")
    assert "[verify]" in output and "aiact.annex_iii" in output


def test_lint_reports_every_problem_with_file_and_line(cli: typer.Typer, tmp_path: Path) -> None:
    root = broken_copy(tmp_path)
    _, _, exc = invoke(cli, "lint", "--policies", str(root))
    assert isinstance(exc, PolicyError)
    text = str(exc)
    assert "art33-breach-notification.yaml:" in text and ": check.period: " in text
    assert "four-eyes-deployment.yaml:" in text and "fail.jsonl does not exist" in text


def test_lint_exit_codes_through_the_real_entry_point(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-c", RUN, "policy", "lint"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"{len(IDS)} rules OK" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-c", RUN, "policy", "lint", "--policies", str(broken_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    assert "error: 2 problems in the policies under" in bad.stderr
    assert "art33-breach-notification.yaml:" in bad.stderr


def test_missing_policies_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN, "policy", "list", "--policies", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr


# --------------------------------------------------------------------------- #
# Packaging                                                                    #
# --------------------------------------------------------------------------- #


def test_pyproject_ships_every_package_and_the_policies() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "auditml").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    missing = on_disk - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert "auditml.policies" in listed
    assert setuptools["package-dir"]["auditml.policies"] == "policies"
    data = setuptools["package-data"]["auditml.policies"]
    assert {"*.yaml", "**/*.yaml", "**/*.jsonl"} <= set(data)


# --------------------------------------------------------------------------- #
# Bad rules: refused by lint with FILE:LINE, exit 2, through the real entry point #
# --------------------------------------------------------------------------- #

FOUR_EYES = ("internal/four-eyes-deployment.yaml", "internal-four-eyes-deployment")
CONSENT_22 = ("gdpr/art22-automated-decision-consent.yaml", "gdpr-22-automated-decision-consent")
WITHDRAWN = ("gdpr/art6-1-a-consent-withdrawn.yaml", "gdpr-6-1-a-consent-withdrawn")


@pytest.mark.parametrize(
    ("rule", "old", "new", "field", "message"),
    [
        pytest.param(
            FOUR_EYES,
            "  at_least: 2\n",
            "  at_least: 2\n  approvers_must_differ: true\n",
            "check.approvers_must_differ",
            "unknown field; allowed: at_least, counterpart, distinct_by",
            id="unknown-field",
        ),
        pytest.param(
            FOUR_EYES,
            "distinct_by: actor.id",
            "distinct_by: payload.approver",
            "check.distinct_by",
            "approval.granted has no field payload.approver; its fields: ",
            id="unknown-event-field",
        ),
        pytest.param(
            FOUR_EYES,
            "kind: min_distinct",
            "kind: min_approvals",
            "check.kind",
            "unknown check kind 'min_approvals'; use one of deadline,",
            id="unknown-kind",
        ),
        pytest.param(
            FOUR_EYES,
            "counterpart: approval.granted",
            "counterpart: approval.given",
            "check.counterpart",
            "unknown event type 'approval.given' (did you mean 'approval.granted'?)",
            id="unknown-event-type",
        ),
        pytest.param(
            FOUR_EYES,
            "  at_least: 2\n",
            "  at_least: 2\n  before_trigger: false\n",
            "check.before_trigger",
            "unknown field",
            id="removed-before-trigger",
        ),
        pytest.param(
            CONSENT_22,
            "unless_revoked_by: consent.withdrawn",
            'unless_revoked_by: {event: consent.withdrawn, where: "true"}',
            "check.unless_revoked_by",
            "write unless_revoked_by as an event type, e.g. `unless_revoked_by: consent.withdrawn`",
            id="removed-revocation-object",
        ),
        pytest.param(
            WITHDRAWN,
            "lifted_by: consent.granted",
            "lifted_by: {event: consent.granted, match_on: [subject]}",
            "check.lifted_by",
            "write lifted_by as an event type",
            id="removed-lift-object",
        ),
    ],
)
def test_lint_refuses_a_bad_rule_with_file_and_line(
    tmp_path: Path, rule: tuple[str, str], old: str, new: str, field: str, message: str
) -> None:
    relative, rule_id = rule
    root = tmp_path / "policies"
    (root / Path(relative).parent).mkdir(parents=True)
    shutil.copy(SHIPPED / "regimes.yaml", root / "regimes.yaml")
    shutil.copytree(SHIPPED / "fixtures" / rule_id, root / "fixtures" / rule_id)
    text = (SHIPPED / relative).read_text()
    assert text.count(old) == 1
    edited = text.replace(old, new)
    (root / relative).write_text(edited)
    key = field.rsplit(".", 1)[-1]
    line = next(n for n, row in enumerate(edited.splitlines(), 1) if row.strip().startswith(key))
    done = subprocess.run(
        [sys.executable, "-c", RUN, "policy", "lint", "--policies", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"{root / relative}:{line}: {field}: {message}" in done.stderr, done.stderr
