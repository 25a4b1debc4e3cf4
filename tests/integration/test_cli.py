"""The `auditml` command end to end, as a user runs it: output, files and exit codes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = auditml("init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_init_creates_key_config_and_ledger(project: Path) -> None:
    assert stat.S_IMODE((project / ".auditml" / "ledger.key").stat().st_mode) == 0o600
    assert (project / "auditml.db").exists()
    assert 'key_dir = ".auditml"' in (project / "auditml.toml").read_text()
    again = auditml("init", cwd=project)
    assert (
        again.returncode == 2 and "already holds the ledger 'bank.example/credit'" in again.stderr
    )
    assert "Traceback" not in again.stderr


def test_record_log_checkpoint_prove_verify(project: Path) -> None:
    payload = json.dumps({"model": "credit", "version": "3.2", "environment": "production"})
    done = auditml(
        "record",
        "model.deployed",
        "--payload",
        payload,
        "--id",
        "deploy-3.2",
        "--json",
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["seq"] == 0
    listed = auditml("log", "--json", cwd=project)
    events = json.loads(listed.stdout)
    assert [e["id"] for e in events] == ["deploy-3.2"] and events[0]["payload"]["version"] == "3.2"
    assert "model.deployed" in auditml("log", cwd=project).stdout
    note = auditml("checkpoint", cwd=project)
    assert note.returncode == 0 and note.stdout.splitlines()[:2] == ["bank.example/credit", "1"]
    assert note.stdout.splitlines()[4].startswith("\u2014 bank.example/credit ")
    proved = auditml("prove", "deploy-3.2", "-o", "evidence.json", cwd=project)
    assert proved.returncode == 0, proved.stderr
    vkey = (project / ".auditml" / "ledger.vkey").read_text().strip()
    shown = json.loads(auditml("keys", "show", "--json", cwd=project).stdout)
    assert [k["vkey"] for k in shown["keys"]] == [vkey] and shown["keys"][0][
        "name"
    ] == "bank.example/credit"
    checked = auditml("verify-evidence", "evidence.json", "--key", vkey, "--json", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["events_verified"] == 1
    for args in (
        ["verify"],
        ["verify", "--deep"],
        ["verify", "--trusted-checkpoint", "evidence.json"],
    ):
        result = auditml(*args, "--json", cwd=project)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True


def test_import_is_all_or_nothing_and_names_the_bad_line(project: Path) -> None:
    good = {
        "type": "dataset.registered",
        "payload": {
            "dataset_id": "loans",
            "name": "Loans",
            "uri": "s3://bank/loans.csv",
            "sha256": "ab" * 32,
            "contains_personal_data": True,
            "special_categories": [],
            "purposes": ["credit scoring"],
        },
    }
    lines = [json.dumps(good), "", json.dumps({**good, "occurred_at": "2026-01-01T10:00:00"})]
    (project / "events.jsonl").write_text("\n".join(lines) + "\n")
    failed = auditml("import", "events.jsonl", cwd=project)
    assert failed.returncode == 2
    assert "line 3 of events.jsonl" in failed.stderr and "no timezone" in failed.stderr
    assert "Traceback" not in failed.stderr
    with sqlite3.connect(project / "auditml.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    (project / "bad.jsonl").write_text('{"type": "model.deployed", "payload": {"model": NaN}}\n')
    assert "NaN" in auditml("import", "bad.jsonl", cwd=project).stderr
    (project / "bad.jsonl").write_bytes(b'{"type": "model.deployed", "payload": {"x": "\xff"}}\n')
    assert "UTF-8" in auditml("import", "bad.jsonl", cwd=project).stderr
    lines[2] = json.dumps({**good, "occurred_at": "2026-01-01T10:00:00Z"})
    (project / "events.jsonl").write_text("\n".join(lines) + "\n")
    imported = auditml("import", "events.jsonl", "--json", cwd=project)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {
        "imported": 2,
        "first_seq": 0,
        "last_seq": 1,
        "lines": 2,
        "duplicates": 0,
        "already_recorded": 0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "model.deployd", "--payload", "{}"], "did you mean 'model.deployed'"),
        (["record", "model.deployed", "--payload", "{not json"], "--payload"),
        (["record", "model.deployed", "--payload", '{"a": 1, "a": 2}'], "duplicate"),
        (["prove", "999", "-o", "e.json"], "no event at seq 999; the ledger holds no events yet"),
        (
            ["verify-evidence", "missing.json", "--key", "x+00000000+AA=="],
            "cannot read missing.json",
        ),
        (["import", "nope.jsonl"], "cannot read"),
        (["record", "model.deployed"], "Missing option"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    project: Path, args: list[str], message: str
) -> None:
    done = auditml(*args, cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_no_ledger_here_is_a_configuration_error(tmp_path: Path) -> None:
    done = auditml("log", cwd=tmp_path)
    assert done.returncode == 2 and "run `auditml init`" in done.stderr


def test_tampering_exits_1_naming_the_seq(project: Path) -> None:
    payload = json.dumps({"model": "credit", "version": "1", "environment": "production"})
    for _ in range(3):
        assert (
            auditml("record", "model.deployed", "--payload", payload, cwd=project).returncode == 0
        )
    auditml("checkpoint", cwd=project)
    with sqlite3.connect(project / "auditml.db") as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute(
            "UPDATE events SET body = replace(body, 'production', 'staging') WHERE seq = 1"
        )
    done = auditml("verify", "--deep", cwd=project)
    assert done.returncode == 1 and "seq 1" in done.stderr and "Traceback" not in done.stderr
    forged = project / "evidence.json"
    assert auditml("prove", "0", "-o", str(forged), cwd=project).returncode == 0
    doc = json.loads(forged.read_text())
    doc["events"][0]["envelope"]["payload"]["version"] = "2"
    forged.write_text(json.dumps(doc))
    vkey = (project / ".auditml" / "ledger.vkey").read_text().strip()
    bad = auditml("verify-evidence", str(forged), "--key", vkey, cwd=project)
    assert bad.returncode == 1 and "seq 0" in bad.stderr


def test_demo_runs_and_verifies(tmp_path: Path) -> None:
    done = auditml("demo", "--dir", "demo", "--decisions", "300", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verified (deep)" in done.stdout and "evidence verified offline" in done.stdout
    evidence = json.loads((tmp_path / "demo" / "evidence.json").read_text())
    assert evidence["events"][0]["envelope"]["type"] == "decision.made"
    # A second run replaces its own directory, and refuses to touch anyone else's.
    assert auditml("demo", "--dir", "demo", "--decisions", "10", cwd=tmp_path).returncode == 0
    (tmp_path / "mine").mkdir()
    refused = auditml("demo", "--dir", "mine", cwd=tmp_path)
    assert refused.returncode == 2 and "not made by `auditml demo`" in refused.stderr
    shutil.rmtree(tmp_path / "demo")


def test_record_with_a_subject_keeps_the_raw_identifier_out_of_the_database(project: Path) -> None:
    payload = json.dumps({"purpose": "credit scoring", "explicit": True})
    done = auditml(
        "record",
        "consent.granted",
        "--payload",
        payload,
        "--subject",
        "maria@example.org",
        "--personal",
        '{"name": "María"}',
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    [event] = json.loads(auditml("log", "--json", cwd=project).stdout)
    assert event["subject"].startswith("sub_") and event["payload"]["personal"] == {"name": "María"}
    stored = b"".join(p.read_bytes() for p in project.glob("auditml.db*"))
    assert b"maria@example.org" not in stored and "María".encode() not in stored


def test_lineage_by_raw_subject(project: Path) -> None:
    decision = {
        "model": "credit",
        "version": "3.2",
        "purpose": "scoring",
        "lawful_basis": "contract",
        "input_sha256": "ab" * 32,
        "output": {"score": 0.4},
        "solely_automated": False,
        "legal_effect": True,
    }
    lines = [
        {
            "type": "consent.granted",
            "subject": "maria@example.org",
            "payload": {"purpose": "scoring", "explicit": True},
        },
        {"type": "decision.made", "subject": "maria@example.org", "payload": decision},
    ]
    (project / "e.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert auditml("import", "e.jsonl", cwd=project).returncode == 0
    done = auditml("lineage", "--subject", "maria@example.org", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["subject"].startswith("sub_") and "maria" not in done.stdout
    unknown = auditml("lineage", "--subject", "nobody@example.org", cwd=project)
    assert unknown.returncode == 2 and "no events about that subject" in unknown.stderr
