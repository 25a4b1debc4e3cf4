"""Shared fixtures: every test runs in its own directory with no AUDITML_* settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


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
