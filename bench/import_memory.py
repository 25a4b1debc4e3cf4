"""`auditml import` benchmark: peak memory (RSS) and throughput on generated JSONL files.

    python bench/import_memory.py                 # ~20 MB and ~100 MB files
    python bench/import_memory.py --mb 5 --runs 3  # quick

Each file holds decision events like bench/ledger.py's (a subject each, so sealing and
subject lookups run; every other event carries a client id). Each run imports the file
into a new SQLite ledger with the real CLI in a subprocess, and reads that process's
peak RSS from the kernel (wait4's resource usage of that child). Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ledger import make_events

# The console script beside this interpreter (the venv the benchmark runs in).
AUDITML = [str(Path(sys.executable).with_name("auditml"))]


def write_events(path: Path, megabytes: float) -> int:
    """Write a JSONL file of about `megabytes` MB; return how many events it holds."""
    target = int(megabytes * 1_000_000)
    written = count = 0
    with path.open("w") as out:
        while written < target:
            for event in make_events(1000, seed=count // 1000 + 1):
                if count % 2:
                    del event["id"]
                line = json.dumps(event) + "\n"
                out.write(line)
                written += len(line)
                count += 1
    return count


def peak_rss_run(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run a command in cwd; return (wall seconds, CPU seconds, its peak RSS in bytes).

    Raises SystemExit if it fails. CPU time is what compares across runs on a shared
    machine; the wall clock waits for whatever else runs there.
    """
    with (cwd / "out.txt").open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        # wait4 gives this child's own resource usage (Linux counts ru_maxrss in KiB).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {status}: {(cwd / 'out.txt').read_text()}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def import_once(events_file: Path) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        subprocess.run([*AUDITML, "init"], cwd=where, check=True, capture_output=True)
        return peak_rss_run([*AUDITML, "import", str(events_file), "--json"], where)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, nargs="+", default=[20, 100])
    parser.add_argument("--runs", type=int, default=1, help="imports per file (median)")
    options = parser.parse_args()
    os.environ.pop("AUDITML_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        for megabytes in options.mb:
            events_file = Path(tmp) / f"events-{megabytes}mb.jsonl"
            count = write_events(events_file, megabytes)
            size = events_file.stat().st_size / 1e6
            runs = [import_once(events_file) for _ in range(options.runs)]
            seconds = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            peak = max(r[2] for r in runs)
            print(
                f"{size:6.1f} MB, {count} events: peak RSS {peak / 2**20:7.1f} MiB, "
                f"{count / seconds:6.0f} events/s wall ({seconds:.1f} s), "
                f"{count / cpu:6.0f} events/s CPU ({cpu:.1f} s); median of {len(runs)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
