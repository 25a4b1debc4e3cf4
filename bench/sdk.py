"""SDK benchmark: decisions recorded through the @decision decorator from many threads.

    python bench/sdk.py                    # 8 threads x 2,000 decisions, durable group commit
    python bench/sdk.py --threads 4 --per-thread 500

Prints decisions/s with durable group commit on SQLite (every call returns only after
its event is committed with fsync), the latency the decorator adds per call (p50/p99),
and the same workload logged through MLflow's tracking client (one `log_dict` per
decision into a local SQLite tracking store) when `mlflow` is installed. Not run by CI.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditml import Ledger
from auditml.sdk import decision


def score(row: dict[str, Any]) -> dict[str, Any]:
    """The model being served: cheap on purpose, so the recording cost shows."""
    value = (row["income"] - 2 * row["debt"]) / 100_000
    return {"score": round(value, 4), "decision": "approve" if value > 0.3 else "refer"}


def make_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "applicant": f"applicant-{rng.randrange(5000)}",
            "income": rng.randrange(18, 140) * 1000,
            "debt": rng.randrange(0, 60) * 1000,
        }
        for _ in range(count)
    ]


def run_threads(work: Callable[[int], list[float]], threads: int) -> tuple[float, list[float]]:
    """Run work(thread_index) on each thread; return wall seconds and all call latencies."""
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def target(n: int) -> None:
        latencies[n] = work(n)

    pool = [threading.Thread(target=target, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, [x for part in latencies for x in part]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_auditml(
    directory: Path, threads: int, per_thread: int, *, wait: bool
) -> tuple[float, list[float]]:
    url = f"sqlite:///{directory / 'ledger.db'}"
    Ledger.create(url, origin="bench.example/sdk", key_dir=directory / "keys").close()
    ledger = Ledger.open(url, key_dir=directory / "keys", group_commit=True)
    predict = decision(
        ledger,
        model="credit",
        version="3.2",
        purpose="creditworthiness assessment",
        lawful_basis="contract",
        subject=lambda row: row["applicant"],
        inputs=lambda row: row,
        solely_automated=False,
        legal_effect=True,
        wait=wait,
    )(score)
    rows = [make_rows(per_thread, seed=n) for n in range(threads)]

    def work(n: int) -> list[float]:
        out = []
        for row in rows[n]:
            started = time.perf_counter()
            predict(row)
            out.append(time.perf_counter() - started)
        return out

    seconds, latencies = run_threads(work, threads)
    started = time.perf_counter()
    ledger.flush()  # fire-and-forget calls are durable only once this returns
    seconds += time.perf_counter() - started
    ledger.close()
    with Ledger.open(url, key_dir=directory / "keys") as check:
        assert len(check) == threads * per_thread, "every decision must be recorded"
    return seconds, latencies


def bench_plain(threads: int, per_thread: int) -> list[float]:
    rows = [make_rows(per_thread, seed=n) for n in range(threads)]

    def work(n: int) -> list[float]:
        out = []
        for row in rows[n]:
            started = time.perf_counter()
            score(row)
            out.append(time.perf_counter() - started)
        return out

    return run_threads(work, threads)[1]


def bench_mlflow(
    directory: Path, threads: int, per_thread: int
) -> tuple[float, list[float]] | None:
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{directory / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment(
        "decisions", artifact_location=str(directory / "artifacts")
    )
    run_id = client.create_run(experiment).info.run_id
    rows = [make_rows(per_thread, seed=n) for n in range(threads)]

    def work(n: int) -> list[float]:
        out = []
        for i, row in enumerate(rows[n]):
            started = time.perf_counter()
            result = score(row)
            client.log_dict(run_id, {"inputs": row, "output": result}, f"decisions/{n}-{i}.json")
            out.append(time.perf_counter() - started)
        return out

    return run_threads(work, threads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=2000)
    args = parser.parse_args()
    total = args.threads * args.per_thread
    plain = bench_plain(args.threads, args.per_thread)
    with tempfile.TemporaryDirectory() as tmp:
        rate = 0.0
        for wait, label in (
            (False, "queued (the default)"),
            (True, "wait=True, each call durable"),
        ):
            directory = Path(tmp) / ("wait" if wait else "queued")
            directory.mkdir()
            seconds, latencies = bench_auditml(directory, args.threads, args.per_thread, wait=wait)
            rate = total / seconds
            added50 = (percentile(latencies, 0.5) - percentile(plain, 0.5)) * 1000
            added99 = (percentile(latencies, 0.99) - percentile(plain, 0.99)) * 1000
            print(f"auditml @decision, {label}, durable group commit on SQLite,")
            print(f"  {args.threads} threads, {total:,} decisions, all committed at the end:")
            print(f"  {rate:>10,.0f} decisions/s   (target >= 5,000)")
            print(f"  added latency per call: p50 {added50:.3f} ms, p99 {added99:.3f} ms")
        mlflow_result = bench_mlflow(Path(tmp), args.threads, args.per_thread)
    if mlflow_result is None:
        print("MLflow: not installed (pip install mlflow-skinny alembic) - comparison skipped")
        return
    ml_seconds, ml_latencies = mlflow_result
    ml_rate = total / ml_seconds
    print("MLflow client log_dict per decision, local SQLite tracking store, same threads:")
    print(
        f"  {ml_rate:>10,.0f} decisions/s, p50 {statistics.median(ml_latencies) * 1000:.2f} ms, "
        f"p99 {percentile(ml_latencies, 0.99) * 1000:.2f} ms"
    )
    print(f"  ratio auditml (wait=True) / MLflow: {rate / ml_rate:.1f}x")


if __name__ == "__main__":
    main()
