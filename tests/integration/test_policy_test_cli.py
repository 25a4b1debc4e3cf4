"""`auditml policy test` and `auditml check`, run as a user runs them (subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditml.policy.loader import load_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
FIXTURES = SHIPPED / "fixtures"

# The real entry point, with `check` registered here unless auditml.cli.main already does.
RUN = (
    "from auditml.cli import main, check\n"
    "if not any(c.name == 'check' for c in main.app.registered_commands):\n"
    "    check.register(main.app)\n"
    "main.run()"
)


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "COLUMNS": "200"},
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}


def test_policy_test_passes_on_the_shipped_rules(tmp_path: Path) -> None:
    done = auditml("policy", "test", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    tests = sum(len(rule.tests) for rule in load_rules(SHIPPED).rules)
    assert f"{tests} passed, 0 failed" in done.stdout and "FAIL" not in done.stdout
    listed = auditml("policy", "test", "--json", "--policies", str(SHIPPED), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["failed"] == 0 and data["sha256"] == load_rules(SHIPPED).sha256
    assert {t["got"] for t in data["tests"]} == {
        "pass",
        "fail",
        "pending",
        "not_applicable",
        "needs_human",
    }


def test_policy_test_fails_on_a_wrong_expect(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED, root)
    rule = root / "internal" / "four-eyes-deployment.yaml"
    text = rule.read_text()
    wrong = text.replace(
        "fixture: internal-four-eyes-deployment/fail.jsonl\n    expect: fail",
        "fixture: internal-four-eyes-deployment/fail.jsonl\n    expect: pass",
    )
    assert wrong != text
    rule.write_text(wrong)
    done = auditml("policy", "test", "--policies", str(root), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    tests = sum(len(rule.tests) for rule in load_rules(SHIPPED).rules)
    assert "FAIL" in done.stdout and f"{tests - 1} passed, 1 failed" in done.stdout
    assert "the trainer approved her own model" in done.stdout
    listed = auditml("policy", "test", "--json", "--policies", str(root), cwd=tmp_path)
    assert listed.returncode == 1
    (bad,) = [t for t in json.loads(listed.stdout)["tests"] if not t["ok"]]
    assert (bad["expected"], bad["got"]) == ("pass", "fail")


def test_policy_test_refuses_a_broken_rule_set(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED, root)
    rule = root / "gdpr" / "art33-breach-notification.yaml"
    rule.write_text(rule.read_text().replace("period: PT72H", "period: 72 hours"))
    done = auditml("policy", "test", "--policies", str(root), cwd=tmp_path)
    assert done.returncode == 2 and "art33-breach-notification.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    # On both backends: `init` writes the URL into auditml.toml for the later commands.
    done = auditml("--url", db_url, "init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def import_fixtures(project: Path, *names: str) -> None:
    lines = [(FIXTURES / name).read_text() for name in names]
    (project / "events.jsonl").write_text("".join(lines))
    done = auditml("import", "events.jsonl", cwd=project)
    assert done.returncode == 0, done.stderr


def test_check_over_the_ledger(project: Path) -> None:
    import_fixtures(
        project,
        "gdpr-33-breach-notification/fail.jsonl",
        "internal-four-eyes-deployment/pass.jsonl",
    )
    table = auditml("check", cwd=project)
    assert table.returncode == 1, table.stdout + table.stderr
    assert "gdpr-33-breach-notification" in table.stdout
    assert "pass (" not in table.stdout  # passes are counted in the rules table, not listed
    assert "no rule set has been adopted" in table.stderr

    done = auditml("check", "--format", "json", cwd=project)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["rule_set_sha256"] == load_rules(SHIPPED).sha256 and data["events"] == 7
    verdicts = {r["rule_id"]: r["verdict"] for r in data["rules"]}
    assert {rule: verdicts[rule] for rule in verdicts if verdicts[rule] != "not_applicable"} == {
        "gdpr-33-breach-notification": "fail",
        "internal-four-eyes-deployment": "pass",
        "internal-late-evidence": "fail",
        # The four-eyes fixture deploys a model with no DPIA before it (GDPR Art. 35).
        "gdpr-35-dpia-before-deployment": "fail",
    }
    # Imported today, the fixtures' evidence is recorded months after it occurred: the
    # late-evidence rule fails on each piece of it (and on nothing else).
    late = [f for f in data["findings"] if f["rule_id"] == "internal-late-evidence"]
    assert late and all(f["verdict"] == "fail" for f in late)
    fails = [f for f in data["findings"] if f["verdict"] == "fail"]
    assert f"fail ({len(fails)})" in table.stdout

    sarif = json.loads(auditml("check", "--format", "sarif", cwd=project).stdout)
    (run,) = sarif["runs"]
    assert sorted(r["ruleId"] for r in run["results"]) == sorted(f["rule_id"] for f in fails)
    junit = auditml("check", "--format", "junit", cwd=project)
    assert junit.returncode == 1 and junit.stdout.startswith("<?xml")
    assert f'failures="{len(fails)}"' in junit.stdout
    breach = next(f for f in data["findings"] if f["rule_id"] == "gdpr-33-breach-notification")
    assert breach["severity"] == "critical" and breach["references"] == ["GDPR Art. 33(1)"]
    assert {e["role"] for e in breach["evidence"]} == {"trigger", "counterpart"}

    # A failing critical finding trips --fail-on critical; --system narrows the events read.
    assert auditml("check", "--fail-on", "critical", cwd=project).returncode == 1
    other = auditml("check", "--system", "nothing-here", "--format", "json", cwd=project)
    assert other.returncode == 0 and json.loads(other.stdout)["events"] == 0


def test_check_fail_on_threshold_and_as_of(project: Path) -> None:
    import_fixtures(project, "internal-four-eyes-deployment/fail.jsonl")
    assert auditml("check", cwd=project).returncode == 1
    assert auditml("check", "--fail-on", "high", cwd=project).returncode == 1
    assert auditml("check", "--fail-on", "critical", cwd=project).returncode == 0
    # Before anything was recorded, nothing is read.
    early = auditml("check", "--as-of", "2000-01-01T00:00:00Z", "--format", "json", cwd=project)
    assert early.returncode == 0, early.stderr
    data = json.loads(early.stdout)
    assert data["events"] == 0 and data["findings"] == []
    assert data["as_of"] == "2000-01-01T00:00:00.000000Z"
    bad = auditml("check", "--as-of", "yesterday", cwd=project)
    assert bad.returncode == 2 and "--as-of" in bad.stderr


def test_policy_adopt_records_the_set_in_force(project: Path, tmp_path: Path) -> None:
    sha = load_rules(SHIPPED).sha256
    done = auditml("policy", "adopt", "--summary", "the shipped rules", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sha in done.stdout and "policy.changed seq 0" in done.stdout
    again = auditml("policy", "adopt", "--summary", "the same again", cwd=project)
    assert again.returncode == 0 and "already in force" in again.stdout
    logged = json.loads(auditml("log", "--json", cwd=project).stdout)
    changes = [e for e in logged if e["type"] == "policy.changed"]
    assert [e["payload"] for e in changes] == [
        {"policy_set_sha256": sha, "summary": "the shipped rules"}
    ]
    checked = auditml("check", "--format", "json", cwd=project)
    assert json.loads(checked.stdout)["rule_set_in_force"] == sha
    assert "not the set in force" not in checked.stderr and "adopted" not in checked.stderr

    # A set whose own tests fail is not adopted, and nothing is recorded.
    root = tmp_path / "changed"
    shutil.copytree(SHIPPED, root)
    rule = root / "internal" / "four-eyes-deployment.yaml"
    rule.write_text(rule.read_text().replace("at_least: 2", "at_least: 3"))
    refused = auditml("policy", "adopt", "--summary", "x", "--policies", str(root), cwd=project)
    assert refused.returncode == 1 and "not adopted" in refused.stdout
    assert len(json.loads(auditml("log", "--json", cwd=project).stdout)) == len(logged)
    # Evaluating other rules than those in force says so.
    other = auditml("check", "--policies", str(root), cwd=project)
    assert "not the set in force" in other.stderr
