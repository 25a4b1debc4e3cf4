"""Shared fixtures: every test runs in its own directory with no AUDITML_* settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_server import fresh_schema, server_url
from sqlalchemy import create_engine, inspect, text

from auditml import Ledger


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("AUDITML_URL", "AUDITML_HOME", "AUDITML_CONFIG", "AUDITML_KEY_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class StepClock:
    """A deterministic clock: each call returns a time one second after the last."""

    def __init__(self, start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty ledger database: a SQLite file, then a schema on a PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with fresh_schema(server_url()) as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty schema on the PostgreSQL server (for PostgreSQL-only tests)."""
    with fresh_schema(server_url()) as url:
        yield url


def sql(url: str, statement: str, **params: object) -> list[tuple[Any, ...]]:
    """Run one statement on the ledger's database by hand, as its owner could (own transaction)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def database_bytes(url: str) -> bytes:
    """Everything the database holds: a SQLite file (with its WAL) byte for byte, or every
    value of every table on PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            values = [
                value
                for table in inspect(conn).get_table_names()
                for row in conn.execute(text(f"SELECT * FROM {table}"))
                for value in row
            ]
    finally:
        engine.dispose()
    return b"".join(v if isinstance(v, bytes) else str(v).encode() for v in values)


def disable_append_only(url: str) -> None:
    """Switch off the append-only triggers, as the tables' owner can: tampering tests."""
    if url.startswith("sqlite"):
        for (name,) in sql(url, "SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            sql(url, f"DROP TRIGGER {name}")
        return
    for table in (
        "events",
        "tree_nodes",
        "checkpoints",
        "public_keys",
        "ledger_info",
        "cosignatures",
    ):
        sql(url, f"ALTER TABLE {table} DISABLE TRIGGER USER")


@pytest.fixture
def ledger(db_url: str, tmp_path: Path, clock: StepClock) -> Iterator[Ledger]:
    with Ledger.create(
        db_url, origin="test.example/ledger", key_dir=tmp_path / "keys", clock=clock
    ) as opened:
        yield opened


def deployed(version: object = "1.0", **extra: object) -> dict[str, object]:
    """A small valid payload for model.deployed (extra fields make it invalid on purpose)."""
    return {"model": "credit", "version": version, "environment": "production", **extra}


def trained(**params: object) -> dict[str, object]:
    """A valid model.trained payload with the given params (a free JSON object)."""
    return {
        "model": "credit",
        "version": "1.0",
        "datasets": ["loans-2025"],
        "params": params,
        "metrics": {"auc": 0.87},
        "artifact_sha256": "ab" * 32,
    }


def derived(dataset_id: str, *inputs: str) -> dict[str, Any]:
    """A record_many item: dataset.derived of `dataset_id` from `inputs`."""
    return {
        "type": "dataset.derived",
        "payload": {
            "dataset_id": dataset_id,
            "inputs": list(inputs),
            "transformation": f"build {dataset_id}",
            "sha256": "cd" * 32,
        },
    }
