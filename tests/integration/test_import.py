"""Importing a JSONL file: streamed in bounded memory, all or nothing on SQLite and
PostgreSQL, and repeated lines counted truthfully."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import deployed, sql
from sqlalchemy import create_engine, inspect, text

from auditml import Ledger, ValidationError
from auditml.errors import TransientStorageError

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_lines(path: Path, events: list[dict[str, Any] | str]) -> Path:
    """Write events as JSONL (a str is written as the line itself)."""
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    path.write_text("\n".join(lines) + "\n")
    return path


def consent(number: int, **extra: Any) -> dict[str, Any]:
    """A consent line with a subject and sealed personal data: an import of these writes
    subjects and class keys as well as events."""
    return {
        "type": "consent.granted",
        "payload": {"purpose": "credit scoring", "explicit": True},
        "subject": f"applicant-{number % 40}",
        "personal": {"email": f"a{number}@example.com"},
        **extra,
    }


def everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: what 'the ledger is unchanged' compares."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (tuple(row) for row in conn.execute(text(f"SELECT * FROM {table}"))), key=repr
                )
                for table in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("last_line", "message"),
    [
        # Refused by validation, before the last batch reaches the database.
        ({"type": "model.deployd", "payload": deployed()}, "did you mean 'model.deployed'"),
        # Refused inside the transaction: the id is recorded with other content.
        (
            {"type": "model.deployed", "payload": deployed("9"), "id": "first"},
            "id 'first' is already recorded (seq 0) with different content",
        ),
    ],
)
def test_a_bad_last_line_of_a_multi_batch_import_leaves_the_ledger_unchanged(
    ledger: Ledger,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    last_line: dict[str, Any],
    message: str,
) -> None:
    ledger.record("model.deployed", payload=deployed(), id="first")
    before = everything(db_url)
    lines: list[dict[str, Any] | str] = [consent(i) for i in range(549)]
    lines[10:10] = [""]  # a blank line still counts in the line numbers
    events_file = write_lines(tmp_path / "events.jsonl", [*lines, last_line])
    batches: list[int] = []
    append_once = ledger._append_once

    def counted(*args: Any, **kwargs: Any) -> Any:  # the real append, counted
        batches.append(len(args[0]))
        return append_once(*args, **kwargs)

    monkeypatch.setattr(ledger, "_append_once", counted)
    with pytest.raises(ValidationError, match=f"line 551 of events.jsonl: .*{re.escape(message)}"):
        ledger.import_jsonl(events_file, batch_size=100)
    assert batches[:5] == [100] * 5  # five batches were in the database before the refusal
    assert everything(db_url) == before
    monkeypatch.undo()
    assert ledger.verify(deep=True).size == 1
    assert ledger.record("model.deployed", payload=deployed("2")).seq == 1


def test_repeated_lines_are_written_once_and_counted(tmp_path: Path) -> None:
    assert auditml("init", cwd=tmp_path).returncode == 0
    a = {"type": "model.deployed", "payload": deployed("1"), "id": "a"}
    b = {"type": "model.deployed", "payload": deployed("2"), "id": "b"}
    no_id = {"type": "model.deployed", "payload": deployed("3")}
    write_lines(tmp_path / "events.jsonl", [a, "", a, no_id, b])
    first = auditml("import", "events.jsonl", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "imported": 3,
        "first_seq": 0,
        "last_seq": 2,
        "lines": 4,
        "duplicates": 1,
        "already_recorded": 0,
    }
    again = auditml("import", "events.jsonl", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert " ".join(again.stdout.split()) == (
        "imported 1 event from events.jsonl (seq 3 to 3); 1 duplicate line skipped (the id "
        "and content of an earlier line); 2 lines already in the ledger (same id and "
        "content), not written again"
    )
    database = f"sqlite:///{tmp_path / 'auditml.db'}"
    ids = [event_id for (event_id,) in sql(database, "SELECT id FROM events ORDER BY seq")]
    assert len(ids) == 4 and (ids[0], ids[2]) == ("a", "b")


def test_one_id_with_different_content_is_refused_naming_both_lines(tmp_path: Path) -> None:
    assert auditml("init", cwd=tmp_path).returncode == 0
    a = {"type": "model.deployed", "payload": deployed("1"), "id": "a"}
    other = {**a, "payload": deployed("2")}
    write_lines(tmp_path / "events.jsonl", [a, {**a, "id": "b"}, a, other])
    refused = auditml("import", "events.jsonl", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (
        "line 4 of events.jsonl: id 'a' is also on line 1 of events.jsonl with different "
        "content" in " ".join(refused.stderr.split())
    )
    database = f"sqlite:///{tmp_path / 'auditml.db'}"
    assert sql(database, "SELECT count(*) FROM events") == [(0,)]
    # The same against an event the ledger already holds: named by its seq.
    write_lines(tmp_path / "first.jsonl", [a])
    assert auditml("import", "first.jsonl", cwd=tmp_path).returncode == 0
    write_lines(tmp_path / "other.jsonl", [{**a, "id": "c"}, other])
    refused = auditml("import", "other.jsonl", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "line 2 of other.jsonl: id 'a' is already recorded (seq 0) with different content" in (
        " ".join(refused.stderr.split())
    )
    assert sql(database, "SELECT count(*) FROM events") == [(1,)]


def peak_rss(args: list[str], cwd: Path) -> int:
    """Run a command; return its peak resident memory in bytes (the kernel's count)."""
    with (cwd / "out.txt").open("wb") as out:
        process = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, (cwd / "out.txt").read_text()
    return usage.ru_maxrss * 1024  # Linux counts KiB


def test_import_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Regression: the whole file was read, parsed and prepared at once: importing this
    4 MB file peaked 103 MiB above a ten-line import (streamed: 27 MiB, most of it SQLite's
    page cache)."""
    assert auditml("init", cwd=tmp_path).returncode == 0
    lines = [
        {
            "type": "decision.made",
            **({"id": f"dec-{i}"} if i % 2 else {}),
            "subject": f"applicant-{i % 500}",
            "payload": {
                "model": "credit",
                "version": "3.2",
                "purpose": "creditworthiness assessment",
                "lawful_basis": "contract",
                "input_sha256": f"{i:064x}",
                "output": {"decision": "refer", "score": i % 1000},
                "solely_automated": False,
                "legal_effect": True,
            },
        }
        for i in range(12_000)
    ]
    small = write_lines(tmp_path / "small.jsonl", lines[:10])
    large = write_lines(tmp_path / "large.jsonl", lines[10:])
    assert large.stat().st_size > 4_000_000
    baseline = peak_rss([*AUDITML, "import", small.name], tmp_path)
    grown = peak_rss([*AUDITML, "import", large.name], tmp_path) - baseline
    assert grown < 60 * 2**20, f"importing 4 MB took {grown / 2**20:.0f} MiB more than 10 lines"
    database = f"sqlite:///{tmp_path / 'auditml.db'}"
    assert sql(database, "SELECT count(*) FROM events") == [(12_000,)]


@contextmanager
def answer_lost_once(ledger: Ledger, lost: list[bool]) -> Iterator[None]:
    """The first write transaction commits on the server, then its answer is lost."""
    store = ledger._store
    real_write = store.write

    @contextmanager
    def write() -> Iterator[Any]:
        with real_write() as conn:
            yield conn
        if not lost:
            lost.append(True)
            raise TransientStorageError("the ledger database refused the write: connection lost")

    store.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.write = real_write  # type: ignore[method-assign]


def test_an_import_whose_commit_answer_was_lost_is_not_written_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    events_file = write_lines(
        tmp_path / "events.jsonl",
        [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(45)]
        + [{"type": "model.deployed", "payload": deployed("c"), "id": "client-chosen"}],
    )
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=tmp_path / "k") as ledger:
        lost: list[bool] = []
        with answer_lost_once(ledger, lost):
            result = ledger.import_jsonl(events_file, batch_size=10)
        assert lost == [True]
        assert (result.imported, result.first_seq, result.last_seq) == (46, 0, 45)
        assert sql(postgres_url, "SELECT count(*) FROM events") == [(46,)]  # once, not twice
        assert ledger.verify(deep=True).size == 46


def test_an_import_lost_in_the_middle_is_run_again_from_the_start(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_file = write_lines(
        tmp_path / "events.jsonl",
        [consent(i, id=f"c{i}") if i % 2 else consent(i) for i in range(50)],
    )
    with Ledger.create(postgres_url, origin="test.example/pg", key_dir=tmp_path / "k") as ledger:
        calls: list[int] = []
        append_once = ledger._append_once

        def lost_at_the_third_batch(*args: Any, **kwargs: Any) -> Any:
            calls.append(len(args[0]))
            if len(calls) == 3:  # inside the transaction: it is rolled back
                raise TransientStorageError(
                    "the ledger database refused the write: connection lost"
                )
            return append_once(*args, **kwargs)

        monkeypatch.setattr(ledger, "_append_once", lost_at_the_third_batch)
        result = ledger.import_jsonl(events_file, batch_size=10)
        assert calls == [10] * 8  # two batches, the lost one, then all five again
        assert (result.imported, result.lines, result.last_seq) == (50, 50, 49)
        assert sql(postgres_url, "SELECT count(*) FROM events") == [(50,)]
        assert sql(postgres_url, "SELECT count(*) FROM subjects") == [(40,)]
        monkeypatch.undo()
        assert ledger.verify(deep=True).size == 50
