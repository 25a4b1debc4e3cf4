"""Erasure is final on disk, and a key deleted without its record fails verification.

On disk: a second process holds the ledger open (a serving process with group commit)
while `erase` runs; afterwards the subject's wrapped key and lookup hash are in none of
the database's files (in any encoding the store uses), and nothing in them opens with the
key-encryption key. Without a record: whoever can write the database deletes a subjects or
class_keys row behind the ledger's back, and `verify` (fast and deep) names it.
"""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import StepClock, sql
from test_cli import auditml

import auditml.ledger.ledger as ledger_module
from auditml import IntegrityError, Ledger, NotFinalError
from auditml.privacy.crypto import unwrap_key

CONSENT = {"purpose": "creditworthiness", "explicit": True}


def files_of(db: Path) -> dict[str, bytes]:
    """The database, its WAL and its shared-memory index, byte for byte (absent: empty)."""
    return {
        suffix: (Path(f"{db}{suffix}").read_bytes() if Path(f"{db}{suffix}").exists() else b"")
        for suffix in ("", "-wal", "-shm")
    }


def keys_that_open(files: dict[str, bytes], kek: bytes, token: str) -> list[tuple[str, int]]:
    """Every (file, offset) where 60 bytes open as the subject's wrapped data key."""
    found = []
    for suffix, data in files.items():
        for offset in range(len(data) - 59):
            try:
                unwrap_key(kek, token, data[offset : offset + 60])
            except IntegrityError:
                continue
            found.append((suffix, offset))
    return found


def serving_process(url: str, keys: Path) -> subprocess.Popen[str]:
    """A process holding the ledger open as a web service does: group commit, a recorded
    event and a read behind it; it waits for stdin to close before it closes the ledger."""
    code = f"""
import sys
from auditml import Ledger
ledger = Ledger.open({url!r}, key_dir={str(keys)!r}, group_commit=True)
done = ledger.submit("consent.granted", payload={CONSENT!r}, subject="carl").result()
ledger.get(done.seq)
print("ready", flush=True)
sys.stdin.read()
ledger.close()
"""
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def reading_process(db: Path) -> subprocess.Popen[str]:
    """A process in the middle of a long read (a report, verify --deep): it holds its
    snapshot until it is sent a line."""
    code = f"""
import sqlite3, sys
db = sqlite3.connect({str(db)!r}, isolation_level=None)
db.execute("BEGIN")
db.execute("SELECT count(*) FROM events").fetchone()
print("reading", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
db.close()
"""
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "reading"
    return child


def subject_row(db: Path, token: str) -> tuple[bytes, bytes]:
    with sqlite3.connect(db) as conn:
        lookup, wrapped = conn.execute(
            "SELECT lookup, wrapped_key FROM subjects WHERE token = ?", (token,)
        ).fetchone()
    return bytes(lookup), bytes(wrapped)


def encodings(value: bytes) -> list[bytes]:
    """The forms the store, exports and logs could hold a key or hash in."""
    return [value, value.hex().encode(), value.hex().upper().encode(), base64.b64encode(value)]


def test_erasure_is_final_on_disk_while_another_process_holds_the_ledger_open(
    tmp_path: Path, clock: StepClock
) -> None:
    db, keys = tmp_path / "auditml.db", tmp_path / "keys"
    url = f"sqlite:///{db}"
    with Ledger.create(url, origin="test.example/ledger", key_dir=keys, clock=clock) as ledger:
        # Enough subjects that their rows fill several pages and split them.
        for n in range(40):
            ledger.record("consent.granted", payload=CONSENT, subject=f"person-{n}")
        sealed = ledger.record(
            "consent.granted", payload=CONSENT, subject="ana", personal={"name": "Ana García"}
        )
    token = ledger.get(sealed.seq).subject
    assert token is not None
    lookup, wrapped = subject_row(db, token)
    kek = (keys / "subjects.kek").read_bytes()
    serving = serving_process(url, keys)
    try:
        # The search below finds the key while it exists: its absence later means something.
        assert keys_that_open(files_of(db), kek, token)

        with Ledger.open(url, key_dir=keys, clock=clock) as ledger:
            ledger.erase("ana", reason="Art. 17(1)(b)")
            assert ledger.get(sealed.seq).payload["personal"] == {"erased": True}

        assert serving.poll() is None  # still holding the ledger open
        files = files_of(db)
        assert files["-wal"] == b""  # checkpointed into the database and truncated
        for suffix, data in files.items():
            for form in (*encodings(wrapped), *encodings(lookup)):
                assert form not in data, f"auditml.db{suffix} still holds the erased subject"
        assert keys_that_open(files, kek, token) == []
    finally:
        assert serving.stdin is not None
        serving.stdin.close()
        assert serving.wait(timeout=60) == 0
    with Ledger.open(url, key_dir=keys) as ledger:
        assert ledger.verify(deep=True).size == 43


def test_a_reader_holding_an_old_snapshot_is_waited_for_then_named(
    tmp_path: Path, clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, keys = tmp_path / "auditml.db", tmp_path / "keys"
    url = f"sqlite:///{db}"
    with Ledger.create(url, origin="test.example/ledger", key_dir=keys, clock=clock) as ledger:
        ledger.record("consent.granted", payload=CONSENT, subject="ana", personal={"n": "Ana"})
        token = ledger.subject_token("ana")
        assert token is not None
        _, wrapped = subject_row(db, token)
        reader = reading_process(db)
        try:
            monkeypatch.setattr(ledger_module, "SCRUB_WAIT", 0.5)
            with pytest.raises(NotFinalError) as refused:
                ledger.erase("ana", reason="Art. 17")
            message = str(refused.value)
            assert f"subject {token} is erased (erasure.completed is seq 1)" in message
            assert "auditml db scrub" in message and "not final on disk" in message
            # The erasure itself is done and recorded; only its traces on disk remain.
            assert ledger.subject_token("ana") is None
            assert ledger.get(1).type == "erasure.completed"
            assert wrapped in files_of(db)["-wal"]
            still = auditml("--url", url, "db", "scrub", "--wait", "0.2", cwd=tmp_path)
            assert still.returncode == 1, still.stdout + still.stderr
            assert "still holds old copies of deleted keys" in " ".join(still.stderr.split())
        finally:
            assert reader.stdin is not None
            reader.stdin.write("done\n")
            reader.stdin.close()
            assert reader.wait(timeout=60) == 0
        scrubbed = auditml("--url", url, "db", "scrub", cwd=tmp_path)
        assert scrubbed.returncode == 0, scrubbed.stdout + scrubbed.stderr
        assert all(wrapped not in data for data in files_of(db).values())
        assert files_of(db)["-wal"] == b""


# -- shredding behind the ledger's back --------------------------------------------------


def record_two_subjects(ledger: Ledger) -> tuple[str, str]:
    for subject in ("ana", "bob"):
        ledger.record("consent.granted", payload=CONSENT, subject=subject, personal={"n": subject})
        ledger.record(
            "decision.made",
            payload={
                "model": "credit",
                "version": "1.0",
                "purpose": "creditworthiness",
                "lawful_basis": "consent",
                "input_sha256": "ab" * 32,
                "output": {"decision": "refer"},
                "solely_automated": False,
                "legal_effect": True,
                "explanation": "income",
            },
            subject=subject,
        )
    ana, bob = ledger.subject_token("ana"), ledger.subject_token("bob")
    assert ana is not None and bob is not None
    return ana, bob


@pytest.mark.parametrize("deep", [False, True])
def test_a_subject_deleted_without_its_erasure_fails_verify(
    ledger: Ledger, db_url: str, deep: bool
) -> None:
    ana, bob = record_two_subjects(ledger)
    ledger.erase("ana", reason="Art. 17")
    assert ledger.verify(deep=deep).keys_withheld is False  # ana's erasure is on the record
    sql(db_url, "DELETE FROM subjects WHERE token = :token", token=bob)
    with pytest.raises(IntegrityError, match=f"subject {bob} .* no erasure.completed") as found:
        ledger.verify(deep=deep)
    assert found.value.seq == 2  # bob's first event
    assert ana not in str(found.value)


def test_class_keys_deleted_without_a_covering_purge_fail_verify(
    ledger: Ledger, db_url: str, clock: StepClock
) -> None:
    record_two_subjects(ledger)  # January 2026
    clock.now = clock.now.replace(month=3)
    record_two_subjects(ledger)  # March: new class keys
    # A purge of decisions before March is on the record, and what it shredded is fine.
    _, shredded = ledger.purge("2026-03-01T00:00:00Z", reason="6 months", types=["decision.made"])
    assert shredded == 1
    assert ledger.verify().size == 9
    # Consent keys of January were not purged: deleting them is shredding unrecorded.
    sql(db_url, "DELETE FROM class_keys WHERE class = 'consent.granted' AND epoch = '2026-01'")
    with pytest.raises(IntegrityError, match="consent.granted for 2026-01 .* no log.purged"):
        ledger.verify()
    with pytest.raises(IntegrityError, match="seq 0 sealed values under it") as found:
        ledger.verify(deep=True)
    assert found.value.seq == 0


def test_every_key_deleted_at_once_fails_verify_from_the_cli(ledger: Ledger, db_url: str) -> None:
    record_two_subjects(ledger)
    ledger.checkpoint()
    # What the issue found a writer could do: shred everyone's data in two statements.
    keys = ledger.settings.key_dir
    sql(db_url, "DELETE FROM class_keys")
    done = auditml("--url", db_url, "--home", str(keys), "verify", cwd=keys.parent)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "consent.granted for 2026-01 is gone" in " ".join(done.stderr.split())
    sql(db_url, "DELETE FROM subjects")
    done = auditml("--url", db_url, "--home", str(keys), "verify", cwd=keys.parent)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "(2 subject(s) so)" in " ".join(done.stderr.split())
