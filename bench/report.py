"""Report benchmark: `auditml report` end to end over ledgers of 10k, 100k and 1M events.

    python bench/report.py                       # 10k, 100k and 1M events
    python bench/report.py --sizes 10000 100000  # quick

Each ledger is bench/policy.py's story (a credit-scoring system's life) with realistic
findings planted: a share of decisions made after the applicant withdrew consent, and
breaches notified late. For each size this prints the wall time and peak RSS of `auditml
report` (a child process: assembly with deep verification and the policy checks,
rendering in its own memory-limited child, signing), the pages, the file size, and the
time to sign and to verify the report (in this process, measured apart). Baseline, in the
same run: `auditml check` over the same ledger, the part of the report that reads every
event. Targets: 1M events <= 60 s end to end, <= 1 GiB peak RSS, <= 80 pages; signing
<= 1 s and verification <= 1 s. Not run by CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pikepdf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy import _iso, build, timed

from auditml.report.identity import (
    CA_CERT_FILE,
    create_signing_identity,
    load_certificate,
)
from auditml.report.verify import verify_report


def prepare(directory: Path, size: int) -> tuple[int, datetime]:
    """The policy bench's ledger, a signing identity and an auditml.toml beside it."""
    events, last = build(directory, size)
    create_signing_identity(
        directory / "keys",
        organisation="bench.example",
        name="Bench Signer",
        role="Compliance officer",
        meaning="Benchmark report",
    )
    (directory / "auditml.toml").write_text(
        '[auditml]\nurl = "sqlite:///auditml.db"\nkey_dir = "keys"\n'
    )
    return events, last


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--prepare", nargs=2, metavar=("DIR", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        events, last = prepare(Path(args.prepare[0]), int(args.prepare[1]))
        print(events, last.isoformat())
        return
    auditml = str(Path(sys.executable).with_name("auditml"))
    for size in sorted(args.sizes):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            # Built in a child so that this process stays small (see bench/policy.py).
            _, _, out = timed(
                [sys.executable, __file__, "--prepare", str(directory), str(size)], directory
            )
            events_text, last_text = out.split()
            as_of = _iso(datetime.fromisoformat(last_text) + timedelta(days=1))
            check_s, check_mb, _ = timed(
                [auditml, "check", "--format", "json", "--as-of", as_of], directory
            )
            report_s, report_mb, said = timed(
                [auditml, "report", "-o", "report.pdf", "--as-of", as_of], directory
            )
            pdf = directory / "report.pdf"
            with pikepdf.open(pdf) as opened:
                pages = len(opened.pages)
            # "... (assemble 1.2 s, render 3.4 s, sign 0.1 s)": the CLI's own stage times.
            stages = dict(
                (part.split()[0], float(part.split()[1]))
                for part in " ".join(said.split()).rsplit("(", 1)[1].rstrip(")").split(", ")
            )
            sign_s = stages["sign"]
            trust = [load_certificate(directory / "keys" / CA_CERT_FILE)]
            started = time.perf_counter()
            result = verify_report(pdf, trust=trust)
            verify_s = time.perf_counter() - started
            assert result.ok, result.problems
            print(
                f"{int(events_text):>9,} events: auditml report {report_s:6.1f} s, peak RSS "
                f"{report_mb:,.0f} MiB, {pages} pages, {pdf.stat().st_size / 1e6:.2f} MB "
                f"(auditml check alone {check_s:.1f} s, {check_mb:,.0f} MiB); sign "
                f"{sign_s * 1000:.0f} ms, verify {verify_s * 1000:.0f} ms; assemble {stages['assemble']:.1f} s, "
                f"render {stages['render']:.1f} s "
                f"({result.events_proven} events proven)"
            )
    print(
        "targets: 1M events <= 60 s, <= 1,024 MiB, <= 80 pages; sign and verify <= 1 s "
        f"(cores: {os.cpu_count()})"
    )


if __name__ == "__main__":
    main()
