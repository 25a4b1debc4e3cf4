"""Attacks by someone with write access to the database: deep verification names the damage.

Each test drops the append-only triggers first, as an attacker with database access would.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from conftest import StepClock, deployed
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml import IntegrityError, Ledger, SignatureError
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.note import Checkpoint, Signer, sign_note

SIZE = 60
CHECKPOINT = 48


@pytest.fixture
def db(tmp_path: Path, clock: StepClock) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.create(
        f"sqlite:///{path}", origin="test.example/ledger", key_dir=tmp_path / "keys", clock=clock
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(CHECKPOINT)]
        )
        ledger.checkpoint()
        ledger.record_many(
            [
                {"type": "model.deployed", "payload": deployed(str(i))}
                for i in range(CHECKPOINT, SIZE)
            ]
        )
        assert ledger.verify(deep=True).size == SIZE
    with sqlite3.connect(path) as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
    return path


def attack(db: Path, *statements: tuple[str, tuple]) -> None:
    with sqlite3.connect(db) as conn:
        for sql, params in statements:
            conn.execute(sql, params)


def body(db: Path, seq: int) -> dict:
    with sqlite3.connect(db) as conn:
        return json.loads(
            conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        )


def deep_failure(db: Path, tmp_path: Path) -> IntegrityError:
    with (
        Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger,
        pytest.raises(IntegrityError) as caught,
    ):
        ledger.verify(deep=True)
    return caught.value


def rechain(db: Path, start: int) -> None:
    """What a careful attacker does after editing seq `start`: fix every later hash."""
    with sqlite3.connect(db) as conn:
        prev = None
        for seq, raw in conn.execute(
            "SELECT seq, body FROM events WHERE seq >= ? ORDER BY seq", (start,)
        ).fetchall():
            envelope = json.loads(raw)
            if prev is not None:
                envelope["prev"] = prev
            new = canonicalize(envelope)
            leaf = merkle.hash_leaf(new)
            conn.execute(
                "UPDATE events SET body = ?, leaf_hash = ? WHERE seq = ?", (new, leaf, seq)
            )
            prev = leaf.hex()


def test_edited_body(db: Path, tmp_path: Path) -> None:
    envelope = body(db, 7)
    envelope["payload"]["environment"] = "staging"
    attack(db, ("UPDATE events SET body = ? WHERE seq = 7", (canonicalize(envelope),)))
    error = deep_failure(db, tmp_path)
    assert error.seq == 7 and "does not hash to the stored leaf hash" in str(error)


def test_edited_body_with_leaf_hash_and_chain_rebuilt(db: Path, tmp_path: Path) -> None:
    envelope = body(db, 21)
    envelope["payload"]["version"] = "forged"
    new = canonicalize(envelope)
    attack(
        db,
        ("UPDATE events SET body = ?, leaf_hash = ? WHERE seq = 21", (new, merkle.hash_leaf(new))),
    )
    rechain(db, 21)
    error = deep_failure(db, tmp_path)
    assert error.seq == 16 and "seq 16 to 31 do not match the stored tree node" in str(error)


def test_edited_column(db: Path, tmp_path: Path) -> None:
    attack(db, ("UPDATE events SET type = 'model.retired' WHERE seq = 9", ()))
    error = deep_failure(db, tmp_path)
    assert error.seq == 9 and "column type" in str(error)


@pytest.mark.parametrize(
    ("encode", "extra"),
    [
        (lambda envelope: json.dumps(envelope, sort_keys=True).encode(), None),  # whitespace
        (lambda envelope: json.dumps(envelope, separators=(",", ":")).encode(), None),  # order
        (lambda envelope: orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS), 1.0),  # "1.0"
        (lambda envelope: orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS), 1e16),  # "1e+16"
        (lambda envelope: orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS), 2**60),  # unsafe
    ],
    ids=["whitespace", "key-order", "integral-float", "exponent", "unsafe-integer"],
)
def test_body_that_is_not_canonical_json(
    db: Path, tmp_path: Path, encode: Callable[[dict], bytes], extra: object
) -> None:
    # The last entry is covered by no stored node, so only the encoding gives it away.
    envelope = body(db, SIZE - 1)
    envelope["payload"] = dict(reversed(list(envelope["payload"].items())))
    if extra is not None:
        envelope["payload"]["replicas"] = extra
    raw = encode(envelope)
    attack(
        db,
        (
            f"UPDATE events SET body = ?, leaf_hash = ? WHERE seq = {SIZE - 1}",
            (raw, merkle.hash_leaf(raw)),
        ),
    )
    error = deep_failure(db, tmp_path)
    assert error.seq == SIZE - 1 and "not canonical JSON" in str(error)


def test_body_with_a_canonical_float_passes(db: Path, tmp_path: Path) -> None:
    envelope = body(db, SIZE - 1)
    envelope["payload"]["share"] = 0.25
    raw = canonicalize(envelope)
    attack(
        db,
        (
            f"UPDATE events SET body = ?, leaf_hash = ? WHERE seq = {SIZE - 1}",
            (raw, merkle.hash_leaf(raw)),
        ),
    )
    with Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger:
        assert ledger.verify(deep=True).size == SIZE


def test_column_filled_in_where_the_body_holds_null(db: Path, tmp_path: Path) -> None:
    attack(db, ("UPDATE events SET subject = 'sub_aaaaaaaaaaaaaaaaaaaaaaaaaa' WHERE seq = 30", ()))
    error = deep_failure(db, tmp_path)
    assert error.seq == 30 and "column subject is 'sub_aaaaaaaaaaaaaaaaaaaaaaaaaa'" in str(error)


def test_the_earliest_of_two_kinds_of_damage_is_named(db: Path, tmp_path: Path) -> None:
    # A stored node over seq 0-15 and a column at seq 40: the node is completed first.
    attack(
        db,
        ("UPDATE tree_nodes SET hash = ? WHERE level = 4 AND idx = 0", (b"\x07" * 32,)),
        ("UPDATE events SET type = 'model.retired' WHERE seq = 40", ()),
    )
    error = deep_failure(db, tmp_path)
    assert error.seq == 0 and "seq 0 to 15 do not match the stored tree node" in str(error)


def test_deleted_middle_row(db: Path, tmp_path: Path) -> None:
    attack(db, ("DELETE FROM events WHERE seq = 12", ()))
    error = deep_failure(db, tmp_path)
    assert error.seq == 12 and "seq 12 is missing" in str(error)
    with (
        Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger,
        pytest.raises(IntegrityError, match="1 row.s. were deleted"),
    ):
        ledger.verify()  # the fast check counts rows


def test_deleted_tail_below_a_checkpoint(db: Path, tmp_path: Path) -> None:
    attack(db, ("DELETE FROM events WHERE seq >= 40", ()))
    error = deep_failure(db, tmp_path)
    assert error.seq == 40 and "tail truncated" in str(error)
    with (
        Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger,
        pytest.raises(IntegrityError, match="tail truncated"),
    ):
        ledger.verify()  # the fast check catches this too


def test_deleted_tail_after_the_last_checkpoint_leaves_orphan_tree_nodes(
    tmp_path: Path, clock: StepClock
) -> None:
    path = tmp_path / "l.db"
    with Ledger.create(
        f"sqlite:///{path}", origin="test.example/ledger", key_dir=tmp_path / "keys", clock=clock
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(10)]
        )
        ledger.checkpoint()
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(10, 100)]
        )
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE seq >= 40")
    error = deep_failure(path, tmp_path)
    assert error.seq == 40 and "beyond the 40 entries" in str(error)


def test_swapped_rows(db: Path, tmp_path: Path) -> None:
    attack(
        db,
        ("UPDATE events SET seq = -1 WHERE seq = 20", ()),
        ("UPDATE events SET seq = 20 WHERE seq = 21", ()),
        ("UPDATE events SET seq = 21 WHERE seq = -1", ()),
    )
    error = deep_failure(db, tmp_path)
    assert error.seq == 20 and "swapped" in str(error)


def test_inserted_row(db: Path, tmp_path: Path) -> None:
    forged = body(db, 25)
    forged["id"] = "forged-approval"
    forged["type"] = "approval.granted"
    forged["payload"] = {
        "target": "model:credit@1",
        "stage": "deployment",
        "rationale": "backdated",
    }
    raw = canonicalize(forged)
    with sqlite3.connect(db) as conn:
        for seq in range(SIZE - 1, 24, -1):
            conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq + 1, seq))
        conn.execute(
            "INSERT INTO events VALUES (25, 'forged-approval', 'approval.granted', ?, ?, ?, NULL, ?, ?)",
            (
                forged["system"],
                forged["recorded_at"],
                forged["occurred_at"],
                raw,
                merkle.hash_leaf(raw),
            ),
        )
    error = deep_failure(db, tmp_path)
    assert error.seq == 25 and "a row was inserted" in str(error)


def test_forged_checkpoint_signature(db: Path, tmp_path: Path) -> None:
    # A checkpoint for a rewritten size-60 tree, signed by a key that is not the ledger's.
    impostor = Signer("test.example/ledger", Ed25519PrivateKey.generate())
    fake = Checkpoint("test.example/ledger", SIZE, b"\x11" * 32)
    attack(
        db,
        (
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
            (SIZE, fake.root, sign_note(fake.to_text(), [impostor]), "2026-01-06T00:00:00.000000Z"),
        ),
    )
    for deep in (False, True):
        with (
            Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger,
            pytest.raises(SignatureError) as caught,
        ):
            ledger.verify(deep=deep)
        assert "checkpoint at size 60" in str(caught.value) and "no valid signature" in str(
            caught.value
        )


def test_altered_checkpoint_note(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as conn:
        note = conn.execute("SELECT note FROM checkpoints").fetchone()[0]
    lines = note.split("\n")
    lines[1] = str(SIZE)
    attack(db, ("UPDATE checkpoints SET note = ?, size = ?", ("\n".join(lines), SIZE)))
    with (
        Ledger.open(f"sqlite:///{db}", key_dir=tmp_path / "keys") as ledger,
        pytest.raises(SignatureError, match="size 60"),
    ):
        ledger.verify()


def test_trusted_checkpoint_catches_a_rewrite_resigned_with_the_stolen_key(
    tmp_path: Path, clock: StepClock
) -> None:
    """The attacker holds the database and the ledger key: only trust held elsewhere catches it."""
    path = tmp_path / "ledger.db"
    url = f"sqlite:///{path}"
    keys = tmp_path / "keys"
    items = [
        {"type": "model.deployed", "payload": deployed(str(i)), "id": f"e{i}"} for i in range(30)
    ]
    with Ledger.create(url, origin="test.example/ledger", key_dir=keys, clock=clock) as ledger:
        ledger.record_many(items)
        evidence = ledger.prove("e3")  # an auditor keeps this (e.g. from last year's report)
    # Rewrite history: the same ids, one payload changed, everything re-signed with the real key.
    items[3]["payload"] = deployed("3-rewritten")
    path.unlink()
    with Ledger.create(
        url, origin="test.example/ledger", key_dir=keys, clock=StepClock()
    ) as ledger:
        ledger.record_many(items)
        ledger.record("model.retired", payload=deployed())
        ledger.checkpoint()
        assert ledger.verify(deep=True).size == 31  # self-consistent: deep alone cannot tell
        for deep in (False, True):
            with pytest.raises(IntegrityError, match="trusted") as caught:
                ledger.verify(deep=deep, trusted_checkpoint=evidence)
            assert caught.value.seq == 3 and "differs from its copy" in str(caught.value)
    # A bare signed checkpoint (e.g. a witness's state) carries no events: the roots differ.
    note_file = tmp_path / "checkpoint.txt"
    note_file.write_text(evidence["checkpoint"])
    with Ledger.open(url, key_dir=keys) as ledger:
        for deep in (False, True):
            with pytest.raises(IntegrityError, match="trusted checkpoint") as caught:
                ledger.verify(deep=deep, trusted_checkpoint=note_file)
            assert caught.value.seq == 29


def test_trusted_checkpoint_passes_on_an_honest_ledger_and_catches_a_rollback(
    tmp_path: Path, clock: StepClock
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.create(
        url, origin="test.example/ledger", key_dir=tmp_path / "k", clock=clock
    ) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(20)]
        )
        evidence = ledger.prove(5)
        ledger.record_many(
            [{"type": "model.retired", "payload": deployed(str(i))} for i in range(20)]
        )
        ledger.checkpoint()
        for deep in (False, True):
            assert (
                ledger.verify(deep=deep, trusted_checkpoint=evidence).trusted_checkpoint_size == 20
            )
        snapshot = tmp_path / "before.db"
    # Roll back: the tail and the later checkpoint gone, as if restored from an old backup.
    shutil.copy(tmp_path / "l.db", snapshot)
    with sqlite3.connect(tmp_path / "l.db") as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DELETE FROM events WHERE seq >= 10")
        conn.execute("DELETE FROM checkpoints")
        conn.execute("DELETE FROM tree_nodes WHERE (idx + 1) << level > 10")
    with Ledger.open(url, key_dir=tmp_path / "k") as ledger:
        assert ledger.verify(deep=True).size == 10  # consistent on its own
        with pytest.raises(IntegrityError, match="rolled back"):
            ledger.verify(trusted_checkpoint=evidence)
