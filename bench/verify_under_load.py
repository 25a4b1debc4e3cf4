"""False alarms under load: verify, report and export beside 8 writers at full speed.

    python bench/verify_under_load.py                     # 100 runs on each backend
    python bench/verify_under_load.py --runs 20 --backends sqlite
    python bench/verify_under_load.py --url postgresql+psycopg://me@db.internal/test

Writer processes append to one ledger at full speed (`record_many` batches; every 100th
event an unanswered breach, so the rules find something to cite; the writers hold the
ledger key and sign a checkpoint every 1,000 events). Beside them this process runs, in
turn, --per-ledger runs (then starts over on a new ledger, as a report's cost grows with
the ledger, until --runs runs are done):

- fast verification (`Ledger.verify()`);
- deep verification, forced onto forked workers with chunks of 1,024 entries (workers
  open their own connections: where snapshots used to diverge);
- report assembly (`assemble`: checkpoint, deep verification, rules, registers, evidence;
  no PDF), whose evidence must verify and whose every size must be the checkpoint's;
- export (`export_ledger`), which `verify_export` must then accept.

Nobody tampers with the ledger, so every failure is a false alarm: the count per kind is
printed, with the first message of each. Not run by CI (tests/integration/
test_snapshot_under_load.py is its small version).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

import auditml.ledger.ledger as ledger_module
from auditml import Ledger
from auditml.ledger.deep import verify_deep
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.export import export_ledger
from auditml.ledger.export_check import verify_export
from auditml.ledger.keys import load_vkey_file
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.assemble import assemble
from auditml.report.model import SignerInfo

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("verify", "verify --deep", "report", "export")
SIGNER: SignerInfo = {
    "name": "Bench",
    "role": "DPO",
    "meaning": "approved",
    "certificate_sha256": "00",
    "ca_sha256": "00",
}


def event(name: str, n: int) -> dict[str, Any]:
    """The n-th event of writer `name`: every 100th an unanswered breach (a finding cites
    it), the rest training records (no rule cites them)."""
    if n % 100 == 0:
        return {
            "type": "incident.reported",
            "payload": {
                "incident_id": f"{name}-{n}",
                "kind": "breach",
                "aware_at": "2026-01-05T09:00:00Z",
                "severity": "high",
                "widespread": False,
            },
        }
    return {"type": "training.completed", "payload": {"person": f"{name}-{n}", "course": "c"}}


def writer(url: str, key_dir: str, name: str, batch: int, stop: Any) -> None:
    """Append batches until told to stop."""
    with Ledger.open(url, key_dir=key_dir) as ledger:
        n = 0
        while not stop.is_set():
            ledger.record_many([event(name, n + i) for i in range(batch)])
            n += batch


def run_once(kind: str, url: str, key_dir: Path, work: Path) -> None:
    """One run of one kind; raises whatever it found wrong."""
    with Ledger.open(url, key_dir=key_dir) as ledger:
        if kind == "verify":
            ledger.verify()
        elif kind == "verify --deep":
            ledger.verify(deep=True)
        elif kind == "report":
            check_report(ledger, key_dir)
        else:
            target = work / f"export-{uuid.uuid4().hex}"
            exported = export_ledger(ledger, target)
            checked = verify_export(target, keys=load_vkey_file(key_dir / "ledger.vkey"))
            shutil.rmtree(target)
            if checked.size != exported.size:
                raise AssertionError(f"export of {exported.size} events checks {checked.size}")


def check_report(ledger: Ledger, key_dir: Path) -> None:
    """Assemble a report; everything it states must be at the size of its checkpoint."""
    made = assemble(
        ledger,
        load_rules(default_policies_dir()),
        as_of=datetime.now(UTC),
        signer=SIGNER,
        keys=[],
    )
    report = made.report
    size = report["checkpoint"]["size"]
    proved = verify_evidence(json.loads(made.evidence), load_vkey_file(key_dir / "ledger.vkey"))
    stated = {
        "evidence checkpoint": proved.checkpoint.size,
        "deep verification": report["verification"]["size"],
    }
    wrong = {what: n for what, n in stated.items() if n != size}
    # The rules read the events recorded by as_of: those before the checkpoint, at most.
    if report["events"] > size:
        wrong["events evaluated"] = report["events"]
    if wrong:
        raise AssertionError(f"the report's checkpoint is at size {size}, but {wrong}")


@dataclass
class Tally:
    """What the runs of one backend found, over all its ledgers."""

    runs: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    appended: int = 0
    elapsed: float = 0.0

    def show(self, writers: int) -> None:
        total = sum(self.runs.values())
        print(
            f"  {sum(self.failures.values())} false alarm(s) in {total} runs "
            f"({self.appended / self.elapsed:,.0f} events/s appended meanwhile by {writers} "
            f"writers, {self.appended:,} events in {self.elapsed:.0f} s)"
        )
        for kind in KINDS:
            message = f": {self.first[kind][:300]}" if kind in self.first else ""
            mean = self.seconds[kind] / max(self.runs[kind], 1)
            print(
                f"    {kind:<14} {self.failures[kind]:>3} of {self.runs[kind]:<3} "
                f"({mean:5.2f} s each){message}"
            )


def session(url: str, work: Path, runs: int, args: argparse.Namespace, tally: Tally) -> None:
    """A new ledger, writers started on it, then `runs` runs beside them."""
    key_dir = work / "keys"
    with Ledger.create(url, origin="bench.example/load", key_dir=key_dir) as ledger:
        for start in range(0, args.preload, 1000):
            ledger.record_many([event("preload", n) for n in range(start, start + 1000)])
        size_before = len(ledger)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    writers = [
        context.Process(
            target=writer, args=(url, str(key_dir), f"w{n}", args.batch, stop), daemon=True
        )
        for n in range(args.writers)
    ]
    for process in writers:
        process.start()
    started = time.perf_counter()
    try:
        time.sleep(1)  # let the writers get going
        for n in range(runs):
            kind = KINDS[n % len(KINDS)]
            tally.runs[kind] += 1
            began = time.perf_counter()
            try:
                run_once(kind, url, key_dir, work)
            except Exception as exc:  # every failure counts; its kind and message are shown
                tally.failures[kind] += 1
                tally.first.setdefault(kind, f"{type(exc).__name__}: {exc}")
            tally.seconds[kind] += time.perf_counter() - began
    finally:
        stop.set()
        for process in writers:
            process.join()
    tally.elapsed += time.perf_counter() - started
    with Ledger.open(url, key_dir=key_dir) as ledger:
        tally.appended += len(ledger) - size_before
        ledger.verify(deep=True)  # the writers stopped: the ledger itself is sound
    if any(process.exitcode != 0 for process in writers):
        raise SystemExit("a writer process failed")


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    """The URL of a new schema on the server, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    parsed = make_url(server)
    options = " ".join(filter(None, [parsed.query.get("options"), f"-csearch_path={schema}"]))
    try:
        yield parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (a database on it)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=100, help="runs per backend")
    parser.add_argument("--writers", type=int, default=8, help="writer processes")
    parser.add_argument("--batch", type=int, default=10, help="events per record_many call")
    parser.add_argument("--preload", type=int, default=2_000, help="events before the runs")
    parser.add_argument(
        "--per-ledger", type=int, default=20, help="runs per ledger (a report reads it all)"
    )
    args = parser.parse_args()
    # Deep verification on forked workers whatever the ledger's size, in small chunks.
    ledger_module.verify_deep = functools.partial(  # type: ignore[assignment]
        verify_deep, workers=2, chunk_level=10, parallel_min=0
    )
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            print(f"{backend}:", flush=True)
            tally = Tally()
            for number, first in enumerate(range(0, args.runs, args.per_ledger)):
                runs = min(args.per_ledger, args.runs - first)
                work = Path(tmp) / f"{backend}-{number}"
                if backend == "sqlite":
                    session(f"sqlite:///{work / 'ledger.db'}", work, runs, args, tally)
                else:
                    with fresh_schema(args.url) as url:
                        session(url, work, runs, args, tally)
            tally.show(args.writers)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
