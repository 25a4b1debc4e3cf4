"""Group commit: threads share transactions, every receipt means durable, no silent drops."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import StepClock, deployed

from auditml import Ledger, StorageError, ValidationError


@pytest.fixture
def url(tmp_path: Path, clock: StepClock) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.create(url, origin="test.example/gc", key_dir=tmp_path / "keys", clock=clock).close()
    return url


def open_grouped(url: str, tmp_path: Path) -> Ledger:
    return Ledger.open(url, key_dir=tmp_path / "keys", group_commit=True)


def count(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_threads_share_transactions_and_get_durable_receipts(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = open_grouped(url, tmp_path)
    batches: list[int] = []
    real_append = ledger._append

    def counting(prepared, labels):  # type: ignore[no-untyped-def]
        batches.append(len(prepared))
        return real_append(prepared, labels)

    monkeypatch.setattr(ledger, "_append", counting)
    receipts: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(150):
            receipt = ledger.record("model.deployed", payload=deployed(f"{n}.{i}"))
            with lock:
                receipts.append(receipt.seq)
            assert count_visible(tmp_path, receipt.seq)  # durable: another connection sees it

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()
    assert sorted(receipts) == list(range(1200))
    assert sum(batches) == 1200 and len(batches) < 600, "events were not grouped"
    with Ledger.open(url, key_dir=tmp_path / "keys") as reopened:
        assert reopened.verify(deep=True).size == 1200


def count_visible(tmp_path: Path, seq: int) -> bool:
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        return conn.execute("SELECT 1 FROM events WHERE seq = ?", (seq,)).fetchone() is not None


def test_submit_is_fire_and_forget_and_flush_waits(url: str, tmp_path: Path) -> None:
    ledger = Ledger.open(url, key_dir=tmp_path / "keys")
    futures = [ledger.submit("model.deployed", payload=deployed(str(i))) for i in range(300)]
    ledger.flush()
    assert all(f.done() for f in futures) and count(tmp_path) == 300
    assert sorted(f.result().seq for f in futures) == list(range(300))
    ledger.close()


def test_bad_events_fail_only_their_caller(url: str, tmp_path: Path) -> None:
    ledger = open_grouped(url, tmp_path)
    with pytest.raises(ValidationError, match="unknown event type"):
        ledger.submit("model.deployd", payload={})  # refused before anything is queued
    ledger.record("model.deployed", payload=deployed("1"), id="taken")
    good = [ledger.submit("model.deployed", payload=deployed(str(i))) for i in range(50)]
    clash = ledger.submit("model.deployed", payload=deployed("other"), id="taken")
    more = [ledger.submit("model.deployed", payload=deployed(str(i))) for i in range(50, 100)]
    ledger.flush()
    with pytest.raises(ValidationError, match="already recorded"):
        clash.result()
    assert all(f.exception() is None for f in good + more)
    assert count(tmp_path) == 101
    ledger.close()


def test_a_failed_write_reaches_every_caller(url: str, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
    ledger = open_grouped(url, tmp_path)
    futures = [ledger.submit("model.deployed", payload=deployed(str(i))) for i in range(20)]
    ledger.flush()
    for future in futures:
        assert isinstance(future.exception(), StorageError) and "disk on fire" in str(
            future.exception()
        )
    with pytest.raises(StorageError, match="disk on fire"):
        ledger.record("model.deployed", payload=deployed("x"))
    ledger.close()
    assert count(tmp_path) == 0


def test_close_and_interpreter_exit_drain_the_queue(url: str, tmp_path: Path) -> None:
    ledger = open_grouped(url, tmp_path)
    for i in range(200):
        ledger.submit("model.deployed", payload=deployed(str(i)))
    ledger.close()
    assert count(tmp_path) == 200
    script = textwrap.dedent(
        f"""
        from auditml import Ledger
        ledger = Ledger.open({url!r}, key_dir={str(tmp_path / "keys")!r}, group_commit=True)
        for i in range(500):
            ledger.submit("model.retired", payload={{"model": "m", "version": str(i), "environment": "prod"}})
        # no flush, no close: the interpreter's exit must drain the queue
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert count(tmp_path) == 700


def test_reads_proofs_and_checkpoints_see_submitted_events(url: str, tmp_path: Path) -> None:
    ledger = Ledger.open(url, key_dir=tmp_path / "keys")
    futures = [ledger.submit("model.deployed", payload=deployed(str(i))) for i in range(30)]
    assert ledger.checkpoint().size == 30  # no flush needed: the checkpoint waits for them
    evidence = ledger.prove(futures[-1].result().id)
    assert evidence["events"][0]["seq"] == 29
    ledger.submit("model.retired", payload=deployed("x"))
    assert len(ledger) == 31 and [e.type for e in ledger.events(type="model.retired")] == [
        "model.retired"
    ]
    ledger.close()


def test_first_submissions_from_many_threads_share_one_writer(tmp_path: Path) -> None:
    # Eight threads submit their first events at the same moment: flush must then cover
    # every one of them (a second writer started by a racing thread would escape it).
    for attempt in range(8):
        directory = tmp_path / f"race-{attempt}"
        with Ledger.create(
            f"sqlite:///{directory / 'l.db'}", origin="test.example/race", key_dir=directory / "k"
        ) as ledger:
            barrier = threading.Barrier(8)

            def submit(
                n: int, ledger: Ledger = ledger, barrier: threading.Barrier = barrier
            ) -> None:
                barrier.wait()
                for i in range(5):
                    ledger.submit("model.deployed", payload=deployed(f"{n}.{i}"))

            threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ledger.flush()
            assert len(list(ledger.events())) == 40
