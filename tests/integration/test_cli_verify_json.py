"""`--json` on a failed check: stdout carries `{"ok": false, ...}`, not nothing (exit 1).

The ledgers are damaged as in test_tamper.py: the append-only triggers are dropped by hand,
as the database's owner could, then a row is edited.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import StepClock, deployed
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml import Ledger
from auditml.ledger.canonical import canonicalize
from auditml.ledger.note import Checkpoint, Signer, sign_note

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
ORIGIN = "test.example/ledger"
SIZE = 12


@pytest.fixture
def ledger_path(tmp_path: Path, clock: StepClock) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.create(
        f"sqlite:///{path}", origin=ORIGIN, key_dir=tmp_path / "keys", clock=clock
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(SIZE)]
        )
        ledger.checkpoint()
    with sqlite3.connect(path) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {name}")
    return path


def auditml(ledger_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITML, "--url", f"sqlite:///{ledger_path}", "--home", "keys", *args],
        cwd=ledger_path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def failure(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    assert document["message"] in " ".join(done.stderr.split())
    return document


def test_deep_json_names_an_edited_body(ledger_path: Path) -> None:
    assert json.loads(auditml(ledger_path, "verify", "--deep", "--json").stdout)["ok"] is True
    with sqlite3.connect(ledger_path) as conn:
        (raw,) = conn.execute("SELECT body FROM events WHERE seq = 7").fetchone()
        envelope = json.loads(raw)
        envelope["payload"]["environment"] = "staging"
        conn.execute("UPDATE events SET body = ? WHERE seq = 7", (canonicalize(envelope),))
    document = failure(auditml(ledger_path, "verify", "--deep", "--json"))
    assert document == {
        "ok": False,
        "error": "integrity",
        "message": document["message"],
        "first_bad_seq": 7,
    }
    assert "seq 7" in str(document["message"])
    assert "does not hash to the stored leaf hash" in str(document["message"])
    # Without --json, nothing but the progress bar's line end on stdout; stderr says it.
    human = auditml(ledger_path, "verify", "--deep")
    assert human.returncode == 1 and not human.stdout.strip() and "seq 7" in human.stderr


def test_json_names_a_forged_checkpoint_signature(ledger_path: Path) -> None:
    impostor = Signer(ORIGIN, Ed25519PrivateKey.generate())
    fake = Checkpoint(ORIGIN, SIZE + 1, b"\x11" * 32)
    with sqlite3.connect(ledger_path) as conn:
        conn.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
            (SIZE + 1, fake.root, sign_note(fake.to_text(), [impostor]), "2026-01-06T00:00:00Z"),
        )
    for args in (["verify", "--json"], ["verify", "--deep", "--json"]):
        document = failure(auditml(ledger_path, *args))
        assert document["ok"] is False and document["error"] == "signature"
        assert document["first_bad_seq"] is None
        assert "no valid signature" in str(document["message"])


def test_verify_evidence_json_on_a_damaged_proof(ledger_path: Path) -> None:
    proved = auditml(ledger_path, "prove", "3", "-o", "evidence.json")
    assert proved.returncode == 0, proved.stderr
    evidence_path = ledger_path.parent / "evidence.json"
    evidence = json.loads(evidence_path.read_text())
    proof = evidence["events"][0]["inclusion_proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    evidence_path.write_text(json.dumps(evidence))
    vkey = (ledger_path.parent / "keys" / "ledger.vkey").read_text().strip()
    document = failure(
        auditml(ledger_path, "verify-evidence", "evidence.json", "--key", vkey, "--json")
    )
    assert document["ok"] is False and document["error"] == "proof", document
