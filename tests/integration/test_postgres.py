"""The ledger on a real PostgreSQL server under stress: many writer processes with a
checkpointer, a connection killed mid-batch, a writer killed while holding the append lock,
and least-privilege roles. No mocks: real processes, real backends, real signals."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import StepClock, deployed, sql
from pg_server import libpq
from sqlalchemy.engine import make_url

import auditml.ledger.ledger as ledger_module
from auditml import Ledger, NotFoundError, StorageError
from auditml.errors import TransientStorageError
from auditml.ledger import merkle, roles

CHILDREN = Path(__file__).resolve().parent.parent / "pg_children.py"
LOCK_CLASS = 1635083369  # the first key of the ledger's advisory lock (store._PG_LOCK)


def child(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILDREN), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def schema_of(url: str) -> str:
    options = str(make_url(url).query["options"])  # "-csearch_path=t_..."
    return options.split("=", 1)[1]


def with_query(url: str, **query: str) -> str:
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


def stored_events(url: str) -> list[tuple[int, str, bytes, bytes]]:
    rows = sql(url, "SELECT seq, id, body, leaf_hash FROM events ORDER BY seq")
    return [(int(seq), str(id_), bytes(body), bytes(leaf)) for seq, id_, body, leaf in rows]


def assert_chain(rows: list[tuple[int, str, bytes, bytes]]) -> None:
    """Seqs 0..n-1, each body hashing to its leaf, each chaining to the one before."""
    assert [seq for seq, _, _, _ in rows] == list(range(len(rows)))
    prev = "0" * 64
    for seq, event_id, body, leaf in rows:
        envelope = json.loads(body)
        assert (envelope["seq"], envelope["id"], envelope["prev"]) == (seq, event_id, prev)
        assert merkle.hash_leaf(body) == leaf
        prev = leaf.hex()


def count(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM events")[0][0])


# -- 1. many writer processes and a checkpointer ------------------------------------------

WRITERS, THREADS, PER_THREAD = 8, 4, 500


def test_writer_processes_and_a_checkpointer_share_one_chain(
    postgres_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    Ledger.create(postgres_url, origin="test.example/pg", key_dir=keys).close()
    stop = tmp_path / "stop"
    outs = [tmp_path / f"receipts-{n}.jsonl" for n in range(WRITERS)]
    writers = [
        child(
            "writer",
            postgres_url,
            str(keys),
            f"w{n}",
            str(outs[n]),
            str(THREADS),
            str(PER_THREAD),
            stdin=subprocess.PIPE,
        )
        for n in range(WRITERS)
    ]
    checkpointer = child("checkpointer", postgres_url, str(keys), str(stop))
    try:
        for process in [*writers, checkpointer]:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n", process.communicate()[1]
        for writer in writers:  # all at once, so that they contend for the lock
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            _, err = writer.communicate(timeout=240)
            assert writer.returncode == 0, err
        stop.touch()
        signed, err = checkpointer.communicate(timeout=60)
        assert checkpointer.returncode == 0, err
    finally:
        for process in [*writers, checkpointer]:
            if process.poll() is None:
                process.kill()
                process.wait()

    total = WRITERS * THREADS * PER_THREAD
    receipts = [tuple(json.loads(line)) for out in outs for line in out.read_text().splitlines()]
    assert len(receipts) == total  # every record() call was acknowledged
    assert sorted(seq for seq, _, _ in receipts) == list(range(total))  # no gap, no duplicate
    rows = stored_events(postgres_url)
    assert len(rows) == total and len({event_id for _, event_id, _, _ in rows}) == total
    stored = {event_id: (seq, leaf.hex()) for seq, event_id, _, leaf in rows}
    for seq, event_id, leaf in receipts:  # each acknowledged event, exactly where promised
        assert stored[event_id] == (seq, leaf)
    assert_chain(rows)

    with Ledger.open(postgres_url, key_dir=keys) as ledger:
        result = ledger.verify(deep=True)
        assert result.size == total
        checkpoints = ledger.checkpoints()
        sizes = [c.size for c in checkpoints]
        assert len(set(sizes)) == len(sizes)
        # The checkpointer signed several while the writers ran (not only before/after).
        assert int(signed) >= 3
        assert len([s for s in sizes if 0 < s < total]) >= 3
        assert result.checkpoints_verified == len(checkpoints)
        ordered = sorted(checkpoints, key=lambda c: c.size)
        for older, newer in itertools.pairwise(ordered):
            proof = ledger.consistency_proof(older.size, newer.size)
            merkle.verify_consistency(
                older.size,
                newer.size,
                proof,
                bytes.fromhex(older.root),
                bytes.fromhex(newer.root),
            )


# -- 2. the connection is killed in the middle of a large batch ----------------------------

BATCH = 30_000


def record_batch_while_killing(
    ledger: Ledger, admin_url: str, application_name: str
) -> tuple[list[Any], list[bool]]:
    """record_many a large batch; a thread terminates its backend during the INSERT.

    Returns (receipts or [the exception], [what pg_terminate_backend answered]).
    """
    killed: list[bool] = []
    done = threading.Event()

    def killer() -> None:
        with psycopg.connect(libpq(admin_url), autocommit=True) as admin:
            while not done.is_set():
                row = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                    "AND state = 'active' AND query LIKE 'INSERT INTO events%%'",
                    (application_name,),
                ).fetchone()
                if row is not None:
                    answer = admin.execute("SELECT pg_terminate_backend(%s)", row).fetchone()
                    killed.append(bool(answer[0]) if answer else False)
                    return
                time.sleep(0.002)

    thread = threading.Thread(target=killer)
    thread.start()
    batch = [{"type": "model.deployed", "payload": deployed(f"batch.{i}")} for i in range(BATCH)]
    try:
        outcome: list[Any] = ledger.record_many(batch)
    except StorageError as exc:
        outcome = [exc]
    finally:
        done.set()
        thread.join()
    return outcome, killed


def test_connection_killed_mid_batch_is_retried_and_written_exactly_once(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_name = f"auditml-kill-{uuid.uuid4().hex[:8]}"
    url = with_query(postgres_url, application_name=application_name)
    with Ledger.create(url, origin="test.example/pg", key_dir=tmp_path / "keys") as ledger:
        ledger.record("model.deployed", payload=deployed("before"))
        attempts: list[int] = []
        append_once = ledger._append_once

        def counted(*args: Any) -> Any:  # the real append, counted
            attempts.append(len(args[0]))
            return append_once(*args)

        monkeypatch.setattr(ledger, "_append_once", counted)
        receipts, killed = record_batch_while_killing(ledger, postgres_url, application_name)
        assert killed == [True], "the batch's backend was not terminated during its INSERT"
        assert attempts == [BATCH, BATCH]  # the first try was lost, the second committed
        assert len(receipts) == BATCH and not isinstance(receipts[0], BaseException)
        assert [r.seq for r in receipts] == list(range(1, BATCH + 1))
        rows = stored_events(postgres_url)
        assert len(rows) == BATCH + 1
        stored = {event_id: (seq, leaf.hex()) for seq, event_id, _, leaf in rows}
        assert all(stored[r.id] == (r.seq, r.leaf_hash) for r in receipts)
        assert_chain(rows)
        assert ledger.verify(deep=True).size == BATCH + 1
        assert ledger.record("model.deployed", payload=deployed("after")).seq == BATCH + 1


def test_connection_killed_mid_batch_without_retries_leaves_nothing_and_says_so(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "WRITE_ATTEMPTS", 1)
    application_name = f"auditml-kill-{uuid.uuid4().hex[:8]}"
    url = with_query(postgres_url, application_name=application_name)
    with Ledger.create(url, origin="test.example/pg", key_dir=tmp_path / "keys") as ledger:
        ledger.record("model.deployed", payload=deployed("before"))
        outcome, killed = record_batch_while_killing(ledger, postgres_url, application_name)
        assert killed == [True], "the batch's backend was not terminated during its INSERT"
        assert len(outcome) == 1 and isinstance(outcome[0], StorageError), outcome[:1]
        message = str(outcome[0])
        # The server's own words: the backend was terminated / the connection closed.
        lost = r"refused the write: .*(terminating connection|closed the connection)"
        assert re.search(lost, message, re.DOTALL), message
        assert "tried 1 times" in message
        assert "all in or all out" in message
        assert count(postgres_url) == 1  # nothing of the batch
        # The id the message names (the batch's first) is indeed not in the ledger.
        named = re.search(r"Ledger\.get\('([^']+)'\)", message)
        assert named is not None, message
        with pytest.raises(NotFoundError):
            ledger.get(named.group(1))
        # The dead connection is not reused: the next record works.
        assert ledger.record("model.deployed", payload=deployed("after")).seq == 1
        assert ledger.verify(deep=True).size == 2
    assert_chain(stored_events(postgres_url))


def test_a_commit_whose_answer_was_lost_is_not_written_twice(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server committed, then the connection failed before the client heard so: the
    retry finds the batch's ids stored and returns their receipts."""
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=tmp_path / "keys") as ledger:
        store = ledger._store
        real_write = store.write
        lost = []

        @contextmanager
        def answer_lost_once() -> Iterator[Any]:
            with real_write() as conn:
                yield conn
            if not lost:  # the transaction above has committed on the server
                lost.append(True)
                raise TransientStorageError(
                    "the ledger database refused the write: connection lost"
                )

        monkeypatch.setattr(store, "write", answer_lost_once)
        batch = [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(50)]
        batch[7]["id"] = "client-chosen"
        receipts = ledger.record_many(batch)
        assert lost == [True]
        assert [r.seq for r in receipts] == list(range(50)) and receipts[7].id == "client-chosen"
        rows = stored_events(postgres_url)
        assert len(rows) == 50  # once, not twice
        assert {r.id: (r.seq, r.leaf_hash) for r in receipts} == {
            event_id: (seq, leaf.hex()) for seq, event_id, _, leaf in rows
        }
        assert ledger.verify(deep=True).size == 50


def test_an_erasure_whose_commit_answer_was_lost_is_not_reported_as_failed(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The erasure committed (key gone, erasure.completed stored) but the client did not
    hear so: the retry finds the event by its id instead of refusing the erased token."""
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=tmp_path / "keys") as ledger:
        ledger.record("consent.granted", payload={"purpose": "p", "explicit": True}, subject="ana")
        store = ledger._store
        real_write = store.write
        lost: list[bool] = []

        @contextmanager
        def answer_lost_once() -> Iterator[Any]:
            with real_write() as conn:
                yield conn
            if not lost:
                lost.append(True)
                raise TransientStorageError(
                    "the ledger database refused the write: connection lost"
                )

        monkeypatch.setattr(store, "write", answer_lost_once)
        receipt = ledger.erase("ana", reason="Art. 17")
        assert lost == [True] and receipt.seq == 1
        assert [e.seq for e in ledger.events(type="erasure.completed")] == [1]
        assert ledger.subject_token("ana") is None and len(ledger) == 2


# -- 3. a writer SIGKILLed while it holds the append lock ----------------------------------


def advisory_locks(url: str) -> list[bool]:
    """The granted flags of the ledger's append-lock entries (one per holder or waiter)."""
    (hashed,) = sql(url, "SELECT hashtext(current_schema())")[0]
    rows = sql(
        url,
        "SELECT granted FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls "
        "AND objid::bigint = :obj AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        cls=LOCK_CLASS,
        obj=int(hashed) & 0xFFFFFFFF,
    )
    return sorted(bool(granted) for (granted,) in rows)


def test_writer_killed_while_holding_the_lock_releases_it(
    postgres_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=keys) as ledger:
        ledger.record("model.deployed", payload=deployed("before"))
        holder = child("holder", postgres_url)
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "locked\n", holder.communicate()[1]
            outcome: list[Any] = []

            def blocked() -> None:
                try:
                    outcome.append(ledger.record("model.deployed", payload=deployed("blocked")))
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=blocked)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive() and not outcome, "the record did not wait for the lock"
            assert advisory_locks(postgres_url) == [False, True]  # one holder, one waiter
            killed_at = time.monotonic()
            os.kill(holder.pid, signal.SIGKILL)
            assert holder.wait(timeout=10) == -signal.SIGKILL
            thread.join(15)
            waited = time.monotonic() - killed_at
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        assert not thread.is_alive(), "the lock was not released when its holder died"
        assert waited < 15
        assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
        assert outcome[0].seq == 1
        assert advisory_locks(postgres_url) == []
        assert ledger.verify(deep=True).size == 2


# -- 4. least-privilege roles -------------------------------------------------------------


def test_writer_and_reader_roles_get_only_their_privileges(
    postgres_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=keys) as owner:
        owner.record("model.deployed", payload=deployed("by owner"))
    suffix = uuid.uuid4().hex[:12]
    writer, reader = f"auditml_w_{suffix}", f"auditml_r_{suffix}"
    admin_conninfo = libpq(postgres_url)
    try:
        with psycopg.connect(admin_conninfo, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {writer} LOGIN")
            admin.execute(f"CREATE ROLE {reader} LOGIN")
            for statement in roles.grants(schema_of(postgres_url), writer=writer, reader=reader):
                admin.execute(statement)
        writer_url = make_url(postgres_url).set(username=writer).render_as_string(False)
        reader_url = make_url(postgres_url).set(username=reader).render_as_string(False)

        with Ledger.open(writer_url, key_dir=keys) as as_writer:
            assert as_writer.record("model.deployed", payload=deployed("by writer")).seq == 1
            consent = {"purpose": "marketing", "explicit": True}
            sealed = as_writer.record(
                "consent.granted", payload=consent, subject="alice", personal={"name": "Alice"}
            )
            assert sealed.seq == 2  # and the class key it needed was inserted
            assert as_writer.get(2).payload["personal"] == {"name": "Alice"}
            assert as_writer.checkpoint().size == 3

        with psycopg.connect(libpq(writer_url), autocommit=True) as session:
            assert session.execute("SELECT current_user").fetchone() == (writer,)
            for statement in (
                "UPDATE events SET type = 'model.retired'",
                "DELETE FROM events",
                "DELETE FROM checkpoints",
                "TRUNCATE events",
                "DROP TABLE events",
                "ALTER TABLE events DISABLE TRIGGER USER",
                "CREATE TABLE forged (seq bigint)",
                "UPDATE ledger_info SET origin = 'forged'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    session.execute(statement)

        with Ledger.open(reader_url, key_dir=keys) as as_reader:
            result = as_reader.verify(deep=True)
            assert (result.size, result.checkpoints_verified) == (3, len(as_reader.checkpoints()))
            assert as_reader.get(2).payload["personal"] == {"name": "Alice"}  # reads class_keys
            with pytest.raises(StorageError, match="permission denied"):
                as_reader.record("model.deployed", payload=deployed("by reader"))
        with psycopg.connect(libpq(reader_url), autocommit=True) as session:
            for statement in (
                "DELETE FROM subjects",
                "DELETE FROM class_keys",
                "DROP TABLE events",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    session.execute(statement)
        assert count(postgres_url) == 3
        assert_chain(stored_events(postgres_url))
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True) as admin:
            for role in (writer, reader):
                if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    admin.execute(f"DROP OWNED BY {role}")
                    admin.execute(f"DROP ROLE {role}")


@contextmanager
def writer_and_reader(postgres_url: str) -> Iterator[tuple[str, str]]:
    """Login roles with the privileges `auditml db grants` gives: (writer URL, reader URL)."""
    suffix = uuid.uuid4().hex[:12]
    writer, reader = f"auditml_w_{suffix}", f"auditml_r_{suffix}"
    admin_conninfo = libpq(postgres_url)
    try:
        with psycopg.connect(admin_conninfo, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {writer} LOGIN")
            admin.execute(f"CREATE ROLE {reader} LOGIN")
            for statement in roles.grants(schema_of(postgres_url), writer=writer, reader=reader):
                admin.execute(statement)
        url = make_url(postgres_url)
        yield (
            url.set(username=writer).render_as_string(False),
            url.set(username=reader).render_as_string(False),
        )
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True) as admin:
            for role in (writer, reader):
                if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    admin.execute(f"DROP OWNED BY {role}")
                    admin.execute(f"DROP ROLE {role}")


def test_the_writer_deletes_keys_only_through_a_recorded_erasure_or_purge(
    postgres_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    Ledger.create(postgres_url, origin="test.example/pg", key_dir=keys).close()
    consent = {"purpose": "marketing", "explicit": True}
    with writer_and_reader(postgres_url) as (writer_url, reader_url):
        with Ledger.open(writer_url, key_dir=keys, clock=StepClock()) as as_writer:
            for name in ("ana", "bob"):
                as_writer.record("consent.granted", payload=consent, subject=name, personal={})
            bob = as_writer.subject_token("bob")

        with psycopg.connect(libpq(writer_url), autocommit=True) as session:
            # The finding: these shredded everyone's data with nothing recorded.
            for statement in (
                "DELETE FROM subjects",
                "DELETE FROM class_keys",
                "TRUNCATE subjects",
                "UPDATE subjects SET wrapped_key = lookup",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    session.execute(statement)
            # The functions delete nothing the ledger does not record as shredded, and a
            # temporary table cannot pose as the ledger's events (their search_path).
            session.execute("CREATE TEMP TABLE events (type text, subject text, body bytea)")
            session.execute("INSERT INTO events VALUES ('erasure.completed', %s, NULL)", (bob,))
            assert session.execute("SELECT auditml_erase_subject(%s)", (bob,)).fetchone() == (0,)
            purge_all = "SELECT auditml_purge_class_keys('9999-12', NULL)"
            assert session.execute(purge_all).fetchone() == (0,)
        with (
            psycopg.connect(libpq(reader_url), autocommit=True) as session,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            session.execute("SELECT auditml_erase_subject(%s)", (bob,))
        assert sql(postgres_url, "SELECT count(*) FROM subjects") == [(2,)]
        assert sql(postgres_url, "SELECT count(*) FROM class_keys") == [(1,)]

        with Ledger.open(writer_url, key_dir=keys, clock=StepClock()) as as_writer:
            as_writer.erase("ana", reason="Art. 17")
            _, shredded = as_writer.purge(
                "2026-02-01T00:00:00Z", reason="retention", types=["consent.granted"]
            )
            assert shredded == 1
            assert as_writer.subject_token("ana") is None
            assert as_writer.subject_token("bob") == bob
        with Ledger.open(reader_url, key_dir=keys) as as_reader:
            assert as_reader.verify(deep=True).size == 4
