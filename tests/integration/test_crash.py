"""Killing a writer in the middle of a large batch leaves no partial batch behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from auditml import Ledger

WRITER = textwrap.dedent(
    """
    import sys
    from auditml import Ledger
    url, keys, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    items = [{"type": "model.trained", "payload": {
        "model": "credit", "version": str(i), "datasets": ["d"], "params": {"pad": "x" * 200},
        "metrics": {}, "artifact_sha256": "ab" * 32}} for i in range(count)]
    with Ledger.open(url, key_dir=keys) as ledger:
        print("writing", flush=True)
        ledger.record_many(items)
        print("done", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_sigkill_mid_batch_leaves_all_or_nothing(tmp_path: Path, delay: float) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.create(url, origin="test.example/crash", key_dir=tmp_path / "keys") as ledger:
        ledger.record_many(
            [
                {
                    "type": "model.deployed",
                    "payload": {"model": "m", "version": str(i), "environment": "p"},
                }
                for i in range(100)
            ]
        )
        ledger.checkpoint()
    batch = 150_000
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(tmp_path / "keys"), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    time.sleep(delay)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with Ledger.open(url, key_dir=tmp_path / "keys") as ledger:
        size = len(ledger)
        assert size in (100, 100 + batch), f"partial batch: {size} events"
        result = ledger.verify(deep=True)
        assert result.size == size
        # The ledger keeps working after the crash.
        ledger.record("model.retired", payload={"model": "m", "version": "0", "environment": "p"})
        assert ledger.verify(deep=True).size == size + 1
    if delay < 1.0:
        assert size == 100, "the kill came after the batch committed: make the batch larger"
