"""Input a first-time user can get wrong (issue 12, item 4): refused with an error that
says what and where, exit 2, no traceback, nothing written.

Each test is named after what broke: a traceback (exit 1) or a quiet acceptance.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import deployed

from auditml import Ledger, ValidationError

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
SHIPPED = Path(__file__).resolve().parents[2] / "policies"
DEPLOYED = json.dumps(deployed())
#: Two times that exist where they are written but not in UTC (year 10000, year 0).
BEYOND_UTC = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


def auditml(
    *args: str | bytes, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITML, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, each fragment in the message, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def count(project: Path) -> int:
    with sqlite3.connect(project / "auditml.db") as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def _copy_rules(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHIPPED, tmp_path / "rules"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = auditml("init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert auditml("record", "model.deployed", "--payload", DEPLOYED, cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Ledger:
    return Ledger.create(
        f"sqlite:///{tmp_path / 'sdk.db'}", origin="sdk.example/l", key_dir=tmp_path / "sdk-keys"
    )


def test_record_names_the_event_not_event_0_and_batches_count_from_1(
    project: Path, sqlite_ledger: Ledger
) -> None:
    done = auditml("record", "model.deployed", "--payload", "{}", cwd=project)
    refused(done, "error: the event (model.deployed): payload.model: required field missing")
    assert "event 0" not in done.stderr
    with (
        sqlite_ledger as ledger,
        pytest.raises(ValidationError, match=r"^event 3 of the batch \(model.deployed\)"),
    ):
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed()}] * 2
            + [{"type": "model.deployed", "payload": {}}]
        )
