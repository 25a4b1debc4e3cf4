"""`auditml witness init` prints (or with --policy writes) a witness policy that works:
following its instructions, `witness cosign` then `verify --witness-policy` succeeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import StepClock, deployed

from auditml import Ledger

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


@pytest.fixture
def project(tmp_path: Path, clock: StepClock) -> Path:
    with Ledger.create(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        origin="test.example/ledger",
        key_dir=tmp_path / "keys",
        clock=clock,
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(3)]
        )
        ledger.checkpoint()
    return tmp_path


def auditml(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITML, "--url", f"sqlite:///{project / 'ledger.db'}", "--home", "keys", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def init(project: Path, name: str, state: str, *extra: str) -> subprocess.CompletedProcess[str]:
    done = auditml(
        project,
        "witness",
        "init",
        name,
        "--state",
        state,
        "--ledger-key",
        "keys/ledger.vkey",
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return done


def verify(project: Path, policy: str) -> subprocess.CompletedProcess[str]:
    return auditml(project, "verify", "--witness-policy", policy, "--json")


def test_the_printed_lines_are_a_working_policy(project: Path) -> None:
    done = init(project, "dpo.example/witness", "dpo")
    policy_lines = [
        line.strip()
        for line in done.stdout.splitlines()
        if line.startswith(("  witness ", "  quorum "))
    ]
    vkey = (project / "dpo" / "witness.vkey").read_text().strip()
    assert policy_lines == [f"witness dpo.example/witness {vkey}", "quorum 1"]
    assert "--policy FILE" in done.stdout and "quorum K" in done.stdout
    (project / "witnesses.policy").write_text("\n".join(policy_lines) + "\n")
    before = verify(project, "witnesses.policy")
    assert before.returncode == 1 and "is cosigned" in before.stderr  # not yet cosigned
    assert auditml(project, "witness", "cosign", "--state", "dpo").returncode == 0
    after = verify(project, "witnesses.policy")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["witnessed"] == {
        "size": 3,
        "witnesses": ["dpo.example/witness"],
    }


def test_policy_option_writes_then_extends_the_file(project: Path) -> None:
    first = init(project, "dpo.example/witness", "dpo", "--policy", "w.policy", "--label", "dpo")
    assert "wrote w.policy as `witness dpo`; quorum: 1 of 1 (dpo)" in first.stdout
    second = init(project, "audit.example/w", "audit", "--policy", "w.policy", "--label", "audit")
    assert "added it to w.policy as `witness audit`; quorum: 1 of 2 (dpo, audit)" in second.stdout
    # The policy's owner then asks for both (docs/OPERATIONS.md section 13).
    (project / "w.policy").write_text(
        (project / "w.policy").read_text().replace("quorum 1", "# both must see it\nquorum 2")
    )
    lines = (project / "w.policy").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["witness", "witness", "#", "quorum"]
    assert auditml(project, "witness", "cosign", "--state", "dpo").returncode == 0
    assert verify(project, "w.policy").returncode == 1  # one of two is no quorum
    assert auditml(project, "witness", "cosign", "--state", "audit").returncode == 0
    ok = verify(project, "w.policy")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["witnessed"]["witnesses"] == ["audit", "dpo"]


def test_a_taken_label_is_refused_before_a_witness_is_created(project: Path) -> None:
    init(project, "dpo.example/witness", "dpo", "--policy", "w.policy")
    again = auditml(
        project, "witness", "init", "dpo.example/witness", "--state", "other",
        "--ledger-key", "keys/ledger.vkey", "--policy", "w.policy",
    )  # fmt: skip
    assert again.returncode == 2 and "already defines 'dpo.example/witness'" in again.stderr
    assert "Traceback" not in again.stderr and not (project / "other").exists()
