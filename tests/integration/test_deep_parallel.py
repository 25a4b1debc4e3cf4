"""Deep verification split across worker processes finds the same first bad seq."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock, deployed, disable_append_only, sql

from auditml import IntegrityError, Ledger
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.deep import verify_deep

SIZE = 5000


@pytest.fixture
def ledger_db(db_url: str, tmp_path: Path, clock: StepClock) -> str:
    """A 5,000-event ledger (SQLite or PostgreSQL) whose append-only triggers are off."""
    with Ledger.create(
        db_url, origin="test.example/p", key_dir=tmp_path / "k", clock=clock
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(SIZE)]
        )
    disable_append_only(db_url)
    return db_url


def run_parallel(url: str, key_dir: Path) -> None:
    # Forked workers open their own connections (to the file or the server).
    with Ledger.open(url, key_dir=key_dir) as ledger:
        verify_deep(ledger._store, url, len(ledger), {}, workers=2, chunk_level=10, parallel_min=0)


def test_clean_ledger_passes_in_parallel(ledger_db: str, tmp_path: Path) -> None:
    run_parallel(ledger_db, tmp_path / "k")
    # The parent's own connection still works after the workers are gone.
    with Ledger.open(ledger_db, key_dir=tmp_path / "k") as ledger:
        assert ledger.verify(deep=True).size == SIZE


def test_edit_in_a_later_chunk_is_named(ledger_db: str, tmp_path: Path) -> None:
    sql(ledger_db, "UPDATE events SET type = 'model.retired' WHERE seq = 3500")
    with pytest.raises(IntegrityError) as caught:
        run_parallel(ledger_db, tmp_path / "k")
    assert caught.value.seq == 3500 and "column type" in str(caught.value)


def test_deleted_row_at_a_chunk_boundary_is_named(ledger_db: str, tmp_path: Path) -> None:
    sql(ledger_db, "DELETE FROM events WHERE seq = 2047")
    with pytest.raises(IntegrityError) as caught:
        run_parallel(ledger_db, tmp_path / "k")
    assert caught.value.seq == 2047 and "missing" in str(caught.value)


def test_rechained_edit_is_caught_by_the_tree_pass(ledger_db: str, tmp_path: Path) -> None:
    rows = sql(ledger_db, "SELECT seq, body FROM events WHERE seq >= 2600 ORDER BY seq")
    prev = None
    for seq, raw in rows:
        envelope = json.loads(raw)
        if seq == 2600:
            envelope["payload"]["environment"] = "staging"
        else:
            envelope["prev"] = prev
        body = canonicalize(envelope)
        leaf = merkle.hash_leaf(body)
        sql(
            ledger_db,
            "UPDATE events SET body = :body, leaf_hash = :leaf WHERE seq = :seq",
            body=body,
            leaf=leaf,
            seq=seq,
        )
        prev = leaf.hex()
    with pytest.raises(IntegrityError) as caught:
        run_parallel(ledger_db, tmp_path / "k")
    assert caught.value.seq == 2592 and "stored tree node" in str(caught.value)


def test_checkpoint_roots_are_checked_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ledgers under one key share their first 3000 entries: the later root differs."""
    import functools

    import auditml.ledger.ledger as ledger_module

    monkeypatch.setattr(
        ledger_module,
        "verify_deep",
        functools.partial(verify_deep, workers=2, chunk_level=10, parallel_min=0),
    )
    keys = tmp_path / "keys"
    (tmp_path / "auditml.toml").write_text(
        "[auditml]\ncheckpoint_every_events = 0\ncheckpoint_every_seconds = 0\n"
    )

    def build(path: Path, fork_at: int, checkpoint_at: tuple[int, ...]) -> list[tuple]:
        items = [
            {
                "type": "model.deployed",
                "payload": deployed(str(i) if i < fork_at else f"{i}-b"),
                "id": f"e{i}",
            }
            for i in range(SIZE)
        ]
        fixed = datetime(2026, 1, 5, tzinfo=UTC)  # same recorded_at in both ledgers
        with Ledger.create(
            f"sqlite:///{path}", origin="test.example/p", key_dir=keys, clock=lambda: fixed
        ) as ledger:
            done = 0
            for size in (*checkpoint_at, SIZE):
                ledger.record_many(items[done:size])
                done = size
                if size in checkpoint_at:
                    ledger.checkpoint()
            assert ledger.verify(deep=True).checkpoints_verified == len(checkpoint_at)
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT * FROM checkpoints").fetchall()

    honest = build(tmp_path / "a.db", SIZE, (1000, 2048, 4500))
    build(tmp_path / "b.db", 3000, ())
    with sqlite3.connect(tmp_path / "b.db") as conn:
        conn.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?)", honest)
    with (
        Ledger.open(f"sqlite:///{tmp_path / 'b.db'}", key_dir=keys) as ledger,
        pytest.raises(IntegrityError) as caught,
    ):
        ledger.verify(deep=True)
    assert caught.value.seq == 4499 and "root signed in the checkpoint of size 4500" in str(
        caught.value
    )
