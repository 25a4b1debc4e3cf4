"""PostgreSQL benchmark: durable events/s from many writer processes, against SQLite.

    python bench/postgres.py                         # 1, 4 and 8 processes x 2,000 events
    python bench/postgres.py --per-process 500 --writers 1 8
    python bench/postgres.py --url postgresql+psycopg://me@db.internal/test

Each writer process opens the ledger with group commit on and records single decision
events (with subjects, so tokens and sealing are in the measured path) from several
threads, as a serving pipeline does, in two modes:

- queued (the SDK's default for `@decision`): each call queues its event (`submit`) and
  returns; the time ends when `flush()` says every event is committed durably, and the
  per-event latency is from the call to its commit;
- blocking: every `record` call returns only once its event is committed durably, so a
  process never has more events in flight than threads (batches of at most --threads).

Durable means PostgreSQL's default synchronous_commit=on, and SQLite WAL with
synchronous=FULL. Processes open the ledger, then wait on a start barrier; the time is
from the barrier to the last process done. Afterwards the ledger must hold exactly the
events recorded and pass `verify(deep=True)`, or the run fails: a benchmark that wrote
wrong data would be worthless.

PostgreSQL: the server at --url, in a fresh uuid-named schema dropped afterwards.
Baseline: the same workload on SQLite (a temporary file), measured in the same run.
Not run by CI.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger import make_events  # the same decision events bench/ledger.py records

from auditml import Ledger

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def writer_process(
    url: str,
    key_dir: str,
    index: int,
    threads: int,
    per_process: int,
    queued: bool,
    barrier: Any,
    results: Any,
) -> None:
    """One serving process: `threads` threads each recording its share, one by one."""
    shares = [per_process // threads + (t < per_process % threads) for t in range(threads)]
    work = [make_events(n, seed=index * 1000 + t) for t, n in enumerate(shares)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    ledger = Ledger.open(url, key_dir=key_dir, group_commit=True)
    try:
        len(ledger)  # connect before the clock starts

        futures: list[Any] = []

        def run(t: int) -> None:
            out = latencies[t]
            try:
                for event in work[t]:
                    subject, payload = event["subject"], event["payload"]
                    started = time.perf_counter()
                    if queued:
                        future = ledger.submit("decision.made", payload=payload, subject=subject)
                        future.add_done_callback(
                            lambda _, s=started: out.append(time.perf_counter() - s)
                        )
                        futures.append(future)
                    else:
                        ledger.record("decision.made", payload=payload, subject=subject)
                        out.append(time.perf_counter() - started)
            except Exception as exc:  # reported to the parent, which fails the run
                errors.append(f"process {index} thread {t}: {exc!r}")

        pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        barrier.wait()
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        ledger.flush()  # queued: every event durable (blocking: nothing left to wait for)
        finished = time.perf_counter()
        errors += [f"process {index}: {f.exception()!r}" for f in futures if f.exception()]
    finally:
        ledger.close()
    results.put((started, finished, [x for part in latencies for x in part], errors))


def run_workload(
    url: str, key_dir: Path, writers: int, threads: int, per_process: int, queued: bool
) -> dict[str, Any]:
    """Record writers x per_process events; check the count and deep verification."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    procs = [
        context.Process(
            target=writer_process,
            args=(url, str(key_dir), n, threads, per_process, queued, barrier, results),
        )
        for n in range(writers)
    ]
    for proc in procs:
        proc.start()
    reports = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer process exited with code {proc.exitcode}")
    errors = [e for report in reports for e in report[3]]
    if errors:
        raise SystemExit("writes failed:\n  " + "\n  ".join(errors[:10]))
    seconds = max(r[1] for r in reports) - min(r[0] for r in reports)
    latencies = sorted(x for r in reports for x in r[2])
    expected = writers * per_process
    with Ledger.open(url, key_dir=key_dir) as ledger:
        size = len(ledger)
        if size != expected:
            raise SystemExit(f"the ledger holds {size} events, {expected} were recorded")
        result = ledger.verify(deep=True)
        if result.size != expected:
            raise SystemExit(f"deep verification covered {result.size} of {expected} events")
        checkpoints = len(ledger.checkpoints())
    return {
        "rate": expected / seconds,
        "seconds": seconds,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "events": expected,
        "checkpoints": checkpoints,
    }


def sqlite_run(
    base: Path, writers: int, threads: int, per_process: int, queued: bool
) -> dict[str, Any]:
    directory = base / f"sqlite-{writers}-{queued}"
    url = f"sqlite:///{directory / 'ledger.db'}"
    Ledger.create(url, origin="bench.example/pg-baseline", key_dir=directory / "keys").close()
    return run_workload(url, directory / "keys", writers, threads, per_process, queued)


def postgres_run(
    server: str, base: Path, writers: int, threads: int, per_process: int, queued: bool
) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    # The ledger lives in its own schema: put it first on the search path.
    parsed = make_url(server)
    options = " ".join(filter(None, [parsed.query.get("options"), f"-csearch_path={schema}"]))
    url = parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
    directory = base / f"pg-{writers}-{queued}"
    try:
        Ledger.create(url, origin="bench.example/pg", key_dir=directory / "keys").close()
        return run_workload(url, directory / "keys", writers, threads, per_process, queued)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def line(label: str, r: dict[str, Any]) -> str:
    return (
        f"  {label:<11}{r['rate']:>9,.0f} events/s   {r['events']:>6,} events in "
        f"{r['seconds']:5.2f} s   per event p50 {r['p50'] * 1e3:6.2f} ms, "
        f"p99 {r['p99'] * 1e3:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (a database on it)")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, default=4, help="recording threads per process")
    parser.add_argument("--per-process", type=int, default=2000, help="events per process")
    parser.add_argument(
        "--modes", nargs="+", default=["queued", "blocking"], choices=["queued", "blocking"]
    )
    args = parser.parse_args()
    print(
        f"durable group commit, {args.threads} threads per writer process, "
        f"{args.per_process:,} single events per process; count checked and deep-verified "
        "after each run"
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for mode in args.modes:
            queued = mode == "queued"
            print(f"{mode} (" + ("submit, then flush" if queued else "record()") + "):")
            for writers in args.writers:
                lite = sqlite_run(base, writers, args.threads, args.per_process, queued)
                pg = postgres_run(args.url, base, writers, args.threads, args.per_process, queued)
                print(f" {writers} writer process{'es' if writers > 1 else ''}:")
                print(line("SQLite", lite))
                print(line("PostgreSQL", pg))
                target = (
                    "   (target >= 5,000 durable events/s with 8 writers)" if writers == 8 else ""
                )
                print(f"  ratio PostgreSQL/SQLite {pg['rate'] / lite['rate']:.2f}x{target}")


if __name__ == "__main__":
    main()
