"""Several processes append to one SQLite ledger at once: one chain, no gaps, no duplicates."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from auditml import Ledger

WRITER = textwrap.dedent(
    """
    import sys
    from auditml import Ledger
    url, keys, name = sys.argv[1], sys.argv[2], sys.argv[3]
    with Ledger.open(url, key_dir=keys) as ledger:
        for batch in range(20):
            receipts = ledger.record_many(
                [{"type": "model.deployed",
                  "payload": {"model": name, "version": str(batch * 25 + i), "environment": "p"},
                  "id": f"{name}-{batch}-{i}"} for i in range(25)]
            )
            print(*(r.seq for r in receipts), flush=True)
    """
)


def test_four_writer_processes_share_one_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.create(url, origin="test.example/concurrent", key_dir=tmp_path / "keys"):
        pass
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(tmp_path / "keys"), f"w{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    acknowledged = []
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0
        acknowledged += [int(seq) for seq in out.split()]
    assert sorted(acknowledged) == list(range(4 * 500))  # every receipt a distinct seq
    with Ledger.open(url, key_dir=tmp_path / "keys") as ledger:
        result = ledger.verify(deep=True)
        assert result.size == 2000 and result.checkpoints_verified >= 1
        ids = {event.id for event in ledger.events()}
    assert len(ids) == 2000
