"""Every listing takes `--json` (README): it is checked over the whole command tree,
and run for the commands that gained it: `check`, `db status`, `demo`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperOption

from auditml.cli.main import app
from auditml.ledger import schema

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]

#: Commands that print no table or listing, only a line saying what they did (or the text
#: they are asked for): these need no --json. A new command is either here or takes --json.
NO_LISTING = {
    "init": "prints where it put the ledger and keys",
    "prove": "writes an evidence file (JSON already) and says where",
    "report": "writes a PDF and says where",
    "erase": "one line: the erasure recorded",
    "purge": "one line: the purge recorded",
    "keys rotate": "one line: the key.rotated recorded",
    "policy lint": "one line, or problems as errors (exit 2)",
    "policy adopt": "one line: the policy.changed recorded",
    "db upgrade": "one line: the revisions before and after",
    "db grants": "prints SQL to review and run",
    "db scrub": "one line: the database's files hold no erased data, or what holds them back",
    "witness init": "prints the witness's vkey and its policy lines",
    "witness cosign": "one line: what was cosigned",
}


def commands(command: object, path: tuple[str, ...] = ()) -> dict[str, object]:
    subs = getattr(command, "commands", None)
    if subs is None:
        return {" ".join(path): command}
    found: dict[str, object] = {}
    for name, sub in subs.items():
        found |= commands(sub, (*path, name))
    return found


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_command_that_lists_takes_json() -> None:
    leaves = commands(typer.main.get_command(app))
    assert set(NO_LISTING) <= set(leaves), set(NO_LISTING) - set(leaves)
    without = {
        name
        for name, command in leaves.items()
        if not any(
            isinstance(p, TyperOption) and "--json" in p.opts
            for p in getattr(command, "params", [])
        )
    }
    assert without == set(NO_LISTING)
    for listing in ("check", "db status", "demo", "log", "checkpoint", "keys show", "policy list"):
        assert listing in leaves and listing not in without


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("project")
    done = auditml("init", "--origin", "bank.example/credit", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd


def test_check_json_is_format_json(project: Path) -> None:
    as_of = ("--as-of", "2026-04-01T00:00:00Z")
    by_flag = auditml("check", *as_of, "--json", cwd=project)
    by_format = auditml("check", *as_of, "--format", "json", cwd=project)
    assert by_flag.returncode == by_format.returncode, by_flag.stderr
    assert json.loads(by_flag.stdout) == json.loads(by_format.stdout)
    assert "findings" in json.loads(by_flag.stdout) or "rules" in json.loads(by_flag.stdout)
    both = auditml("check", *as_of, "--json", "--format", "sarif", cwd=project)
    assert both.returncode == 2 and "give --json or --format sarif, not both" in both.stderr
    assert "Traceback" not in both.stderr


def test_db_status_json(project: Path, tmp_path: Path) -> None:
    done = auditml("db", "status", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "revision": schema.HEAD,
        "head": schema.HEAD,
        "next_step": None,
    }
    sqlite3.connect(tmp_path / "empty.db").close()  # a database that holds no ledger
    empty = auditml(
        "--url", f"sqlite:///{tmp_path / 'empty.db'}", "db", "status", "--json", cwd=tmp_path
    )
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {
        "revision": None,
        "head": schema.HEAD,
        "next_step": "auditml init",
    }


def test_demo_json(tmp_path: Path) -> None:
    done = auditml("demo", "--dir", "demo", "--decisions", "10", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["decisions"] == 10 and result["verify"]["depth"] == "deep"
    assert result["problems"] and all(p["seqs"] for p in result["problems"])
    assert result["checkpoint"]["size"] == result["events"] == sum(result["counts"].values())
    assert (tmp_path / result["report"]["path"]).is_file()
    assert (tmp_path / result["evidence"]["path"]).is_file()
