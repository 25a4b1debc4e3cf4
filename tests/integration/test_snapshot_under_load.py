"""Verify, report and export read one snapshot while 8 writer processes append.

Nobody tampers with these ledgers, so any IntegrityError is a false alarm (issue 13:
fast verify failed every run beside one writer). bench/verify_under_load.py is the
large version, with the count over 100 runs.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock, disable_append_only, sql

import auditml.ledger.ledger as ledger_module
from auditml import IntegrityError, Ledger, ValidationError
from auditml.ledger.deep import verify_deep
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.export import export_ledger
from auditml.ledger.export_check import verify_export
from auditml.ledger.keys import load_vkey_file
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.assemble import assemble
from auditml.report.model import SignerInfo

WRITERS = 8
#: The ledger's time in every process: recorded_at never decreases, so a fixed clock is fine.
RECORDED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: After every breach's 72-hour deadline: the rules cite breaches from the whole ledger.
AS_OF = datetime(2026, 2, 1, tzinfo=UTC)
SIGNER: SignerInfo = {
    "name": "Dora Lind",
    "role": "DPO",
    "meaning": "approved",
    "certificate_sha256": "00",
    "ca_sha256": "00",
}

# Every 100th event an unanswered breach (a finding cites it); the rest cited by no rule.
WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from auditml import Ledger

    url, keys, name, stop = sys.argv[1:5]
    fixed = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def event(n):
        if n % 100 == 0:
            return {"type": "incident.reported", "payload": {
                "incident_id": f"{name}-{n}", "kind": "breach", "severity": "high",
                "aware_at": "2026-01-05T09:00:00Z", "widespread": False}}
        return {"type": "training.completed", "payload": {"person": f"{name}-{n}", "course": "c"}}

    with Ledger.open(url, key_dir=keys, clock=lambda: fixed) as ledger:
        n = 0
        while not Path(stop).exists():
            ledger.record_many([event(n + i) for i in range(5)])
            n += 5
    """
)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def url(db_url: str, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ledger of 300 events whose writers sign a checkpoint every 40 events, and whose
    deep verification always runs on two forked workers in chunks of 64 entries (where
    each worker reads in its own transaction)."""
    (tmp_path / "auditml.toml").write_text("[auditml]\ncheckpoint_every_events = 40\n")
    monkeypatch.setattr(
        ledger_module,
        "verify_deep",
        functools.partial(verify_deep, workers=2, chunk_level=6, parallel_min=0),
    )
    with Ledger.create(db_url, origin="test.example/load", key_dir=keys, clock=StepClock()) as made:
        made.record_many(
            [
                {
                    "type": "model.deployed",
                    "payload": {"model": "m", "version": str(n), "environment": "p"},
                }
                for n in range(300)
            ]
        )
    return db_url


@contextmanager
def appending(url: str, keys: Path, stop: Path, count: int) -> Iterator[None]:
    """`count` writer processes appending at full speed while the block runs."""
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(keys), f"w{n}", str(stop)])
        for n in range(count)
    ]
    try:
        with Ledger.open(url, key_dir=keys) as ledger:
            deadline = time.monotonic() + 60
            while len(ledger) < 400 and time.monotonic() < deadline:
                time.sleep(0.05)  # until they are going
        yield
    finally:
        stop.touch()
        codes = [proc.wait(timeout=120) for proc in procs]
    assert codes == [0] * count


def check_report(ledger: Ledger, keys: Path) -> None:
    """Everything the report states is at the size of the checkpoint on its cover."""
    made = assemble(ledger, load_rules(default_policies_dir()), as_of=AS_OF, signer=SIGNER, keys=[])
    report, size = made.report, made.report["checkpoint"]["size"]
    proved = verify_evidence(json.loads(made.evidence), load_vkey_file(keys / "ledger.vkey"))
    assert proved.checkpoint.size == report["verification"]["size"] == report["events"] == size
    assert proved.events_verified > 0  # breaches are cited, each proven in that tree
    registers = json.loads(made.evidence)["registers"]
    assert all(item["seq"] < size for item in registers["incidents"])


def check_export(ledger: Ledger, keys: Path, target: Path) -> None:
    exported = export_ledger(ledger, target)
    checked = verify_export(target, keys=load_vkey_file(keys / "ledger.vkey"))
    assert checked.size == exported.size >= (exported.latest_checkpoint_size or 0)


def test_verify_report_and_export_raise_no_false_alarm_beside_8_writers(
    url: str, keys: Path, tmp_path: Path
) -> None:
    overlapped = 0
    with appending(url, keys, tmp_path / "stop", 8), Ledger.open(url, key_dir=keys) as ledger:
        for kind in ("report", "export", "fast", "deep"):
            before = len(ledger)
            if kind == "fast":
                assert ledger.verify().size >= before
            elif kind == "deep":
                assert ledger.verify(deep=True).size >= before
            elif kind == "report":
                check_report(ledger, keys)
            else:
                check_export(ledger, keys, tmp_path / "export")
            overlapped += len(ledger) > before
    # The writers appended during the runs: otherwise this would prove nothing.
    assert overlapped >= 3


def test_damage_is_still_found_while_writers_append(url: str, keys: Path, tmp_path: Path) -> None:
    """The bound does not hide tampering: a deleted row below it, a node forged beyond
    the head (judged against the head of the same snapshot)."""
    disable_append_only(url)
    sql(url, "INSERT INTO tree_nodes (level, idx, hash) VALUES (4, 1000000, :h)", h=b"\x07" * 32)
    with appending(url, keys, tmp_path / "stop", 2), Ledger.open(url, key_dir=keys) as ledger:
        with pytest.raises(IntegrityError, match=r"node \(level 4, index 1000000\) beyond"):
            ledger.verify(deep=True)
        sql(url, "DELETE FROM events WHERE seq = 100")
        with pytest.raises(IntegrityError, match="were deleted"):
            ledger.verify()
        with pytest.raises(IntegrityError) as caught:
            ledger.verify(deep=True)
    assert caught.value.seq == 100 and "seq 100 is missing" in str(caught.value)


def test_verify_up_to_a_size_judges_only_the_checkpoints_inside_it(url: str, keys: Path) -> None:
    with Ledger.open(url, key_dir=keys, clock=StepClock()) as ledger:
        first = ledger.checkpoint().size
        ledger.record("model.deployed", payload={"model": "m", "version": "x", "environment": "p"})
        ledger.checkpoint()
        for deep in (False, True):
            result = ledger.verify(deep=deep, size=first)
            assert (result.size, result.latest_checkpoint_size) == (first, first)
        with pytest.raises(ValidationError, match="the ledger holds 301"):
            ledger.verify(size=302)
