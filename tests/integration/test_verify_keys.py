"""Which checkpoint keys verification trusts: ledger.vkey held outside the database, or,
only when asked for in so many words, the keys the database lists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import StepClock, deployed

from auditml import ConfigError, Ledger

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = auditml("init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    recorded = auditml(
        "record", "model.deployed", "--payload", json.dumps(deployed("3.2")), cwd=tmp_path
    )
    assert recorded.returncode == 0, recorded.stderr
    assert auditml("checkpoint", cwd=tmp_path).returncode == 0
    return tmp_path


def test_verify_with_a_mistyped_home_exits_2_naming_the_missing_key_file(project: Path) -> None:
    wrong = project / "no-such-keys"
    for args in (["verify"], ["verify", "--deep"], ["verify", "--json"]):
        done = auditml("--home", str(wrong), *args, cwd=project)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"no ledger verifier key at {wrong / 'ledger.vkey'}" in done.stderr
        assert "--trust-database-keys" in done.stderr
        assert "Traceback" not in done.stderr and done.stdout.strip() == ""


def test_a_key_directory_without_ledger_vkey_exits_2(project: Path) -> None:
    (project / ".auditml" / "ledger.vkey").unlink()
    done = auditml("verify", cwd=project)
    assert done.returncode == 2
    assert "no ledger verifier key at" in done.stderr and "ledger.vkey" in done.stderr


def test_trusting_the_database_keys_is_said_loudly(project: Path) -> None:
    wrong = str(project / "no-such-keys")
    done = auditml("--home", wrong, "verify", "--trust-database-keys", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "WARNING:" in done.stderr and "taken from the database" in done.stderr
    assert "verified only against the database's own keys" in done.stdout
    as_json = auditml("--home", wrong, "verify", "--trust-database-keys", "--json", cwd=project)
    assert as_json.returncode == 0 and "WARNING:" in as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["keys_from_database"] is True
    assert "taken from the database" in result["warning"]
    assert "public_keys" in result["key_source"]
    # With the key file, nothing of the kind is said.
    normal = json.loads(auditml("verify", "--json", cwd=project).stdout)
    assert normal["keys_from_database"] is False and "warning" not in normal
    assert normal["key_source"].endswith("ledger.vkey")


def test_the_flag_is_refused_for_an_export(project: Path) -> None:
    assert auditml("export", "out", cwd=project).returncode == 0
    done = auditml("verify", "--export", "out", "--trust-database-keys", cwd=project)
    assert done.returncode == 2 and "--trust-database-keys is for a ledger" in done.stderr


def test_the_sdk_refuses_database_keys_unless_told(tmp_path: Path, clock: StepClock) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.create(
        url, origin="test.example/l", key_dir=tmp_path / "keys", clock=clock
    ) as made:
        made.record("model.deployed", payload=deployed())
        made.checkpoint()
    with Ledger.open(url, key_dir=tmp_path / "elsewhere", clock=clock) as ledger:
        for attempt in (ledger.verify, ledger.verifiers, lambda: ledger.prove(0)):
            with pytest.raises(ConfigError, match="no ledger verifier key at .*ledger.vkey"):
                attempt()
    with Ledger.open(
        url, key_dir=tmp_path / "elsewhere", clock=clock, trust_database_keys=True
    ) as ledger:
        result = ledger.verify(deep=True)
    assert result.keys_from_database and result.size == 1
    with Ledger.open(url, key_dir=tmp_path / "keys", clock=clock) as ledger:
        assert ledger.verify().keys_from_database is False
