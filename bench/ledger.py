"""Ledger benchmark: append, deep verify, proofs, storage overhead (one run, medians).

    python bench/ledger.py                      # 100k-event append runs, a 1M-event ledger
    python bench/ledger.py --append-events 20000 --ledger-events 100000   # quick

Baseline for append: a minimal hand-written pipeline doing the same work on the same
events: the same envelope with the same `prev` hash chain, json.dumps sorted compact +
hashlib.sha256 + sqlite3 executemany in one transaction, into a table with the same
columns and indexes, WAL + synchronous=FULL. It validates nothing, keeps no Merkle tree,
checks no idempotency keys and returns no receipts: that is the price being measured.
Not run by CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from auditml import Ledger
from auditml.ledger import merkle
from auditml.ledger.keys import load_vkey_file
from auditml.ledger.note import open_checkpoint


def make_events(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Realistic decision events (~330 bytes of canonical envelope each)."""
    rng = random.Random(seed)
    return [
        {
            "type": "decision.made",
            "id": f"dec-{seed}-{i}",
            "subject": f"applicant-{rng.randrange(5000)}",
            "payload": {
                "model": "credit",
                "version": "3.2",
                "purpose": "creditworthiness assessment",
                "lawful_basis": "contract",
                "input_sha256": f"{rng.getrandbits(256):064x}",
                "output": {
                    "decision": rng.choice(["approve", "refer"]),
                    "score": rng.randint(0, 1000),
                },
                "solely_automated": False,
                "legal_effect": True,
            },
        }
        for i in range(count)
    ]


def minimal_pipeline(path: Path, events: list[dict[str, Any]]) -> float:
    """The baseline: the least code that stores hashed events durably. Returns seconds."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
        "system TEXT NOT NULL, recorded_at TEXT NOT NULL, occurred_at TEXT NOT NULL, subject TEXT, "
        "body BLOB NOT NULL, leaf_hash BLOB NOT NULL)"
    )
    conn.execute("CREATE INDEX ix_type ON events(type)")
    conn.execute("CREATE INDEX ix_subject ON events(subject)")
    conn.execute("CREATE INDEX ix_occurred ON events(occurred_at, seq)")
    started = time.perf_counter()
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    actor = {"id": "auditml-sdk", "kind": "service"}
    prev = "0" * 64
    rows = []
    for seq, event in enumerate(events):
        # The same envelope auditml stores (docs/FORMAT.md), hash-chained the same way.
        pseudonym = "sub_" + hashlib.sha256(event["subject"].encode()).hexdigest()[:26]
        body = json.dumps(
            {
                "v": 1,
                "seq": seq,
                "id": event["id"],
                "type": event["type"],
                "system": "default",
                "recorded_at": now,
                "occurred_at": now,
                "actor": actor,
                "payload": event["payload"],
                "prev": prev,
                # A pseudonym of the same length as auditml's tokens, without keys.
                "subject": pseudonym,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        leaf = hashlib.sha256(b"\x00" + body).digest()
        rows.append((seq, event["id"], event["type"], "default", now, now, pseudonym, body, leaf))
        prev = leaf.hex()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def auditml_append(directory: Path, events: list[dict[str, Any]]) -> float:
    with Ledger.create(
        f"sqlite:///{directory / 'ledger.db'}", origin="bench.example/l", key_dir=directory / "keys"
    ) as ledger:
        started = time.perf_counter()
        ledger.record_many(events)
        return time.perf_counter() - started


def median_rate(count: int, seconds: list[float]) -> float:
    return count / statistics.median(seconds)


def overhead_bytes(db: Path, size: int) -> float:
    """Integrity bytes per event beyond the body: leaf hash column, tree nodes, checkpoints."""
    conn = sqlite3.connect(db)
    tables = dict(
        conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat WHERE name IN ('tree_nodes', 'checkpoints') GROUP BY name"
        ).fetchall()
    )
    conn.close()
    leaf_column = 33 * size  # 32 bytes and a one-byte record-header entry per row
    return (leaf_column + sum(tables.values())) / size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--append-events", type=int, default=100_000)
    parser.add_argument("--ledger-events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    events = make_events(args.append_events)

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        baseline, ours = [], []
        for run in range(args.repeat):
            baseline.append(minimal_pipeline(base / f"minimal-{run}.db", events))
            ours.append(auditml_append(base / f"auditml-{run}", events))
        print(f"append ({args.append_events:,} events, record_many, median of {args.repeat}):")
        print(f"  minimal pipeline   {median_rate(args.append_events, baseline):>10,.0f} events/s")
        print(f"  auditml            {median_rate(args.append_events, ours):>10,.0f} events/s")
        ratio = statistics.median(baseline) / statistics.median(ours)
        print(f"  ratio              {ratio:>10.2f}x   (target >= 0.60x)")

        n = args.ledger_events
        directory = base / "big"
        url = f"sqlite:///{directory / 'ledger.db'}"
        started = time.perf_counter()
        with Ledger.create(url, origin="bench.example/big", key_dir=directory / "keys") as ledger:
            for start in range(0, n, 50_000):
                batch = make_events(min(50_000, n - start), seed=start + 2)
                ledger.record_many(batch)
            ledger.checkpoint()
        print(f"\nbuilt a {n:,}-event ledger in {time.perf_counter() - started:.1f} s")

        with Ledger.open(url, key_dir=directory / "keys") as ledger:
            deep = [ledger.verify(deep=True).seconds for _ in range(args.repeat)]
            fast = [ledger.verify().seconds for _ in range(args.repeat)]
            print(
                f"deep verify        {median_rate(n, deep):>10,.0f} events/s   (target >= 200,000)"
            )
            print(f"fast verify        {statistics.median(fast) * 1000:>10.1f} ms")

            checkpoint = ledger.latest_checkpoint()
            assert checkpoint is not None
            verifier = load_vkey_file(directory / "keys" / "ledger.vkey")
            parsed = open_checkpoint(checkpoint.note, verifier)
            rng = random.Random(3)
            seqs = [rng.randrange(n) for _ in range(args.proofs)]
            gen, ver = [], []
            for seq in seqs:
                t0 = time.perf_counter()
                proof = ledger.inclusion_proof(seq, n)
                t1 = time.perf_counter()
                gen.append(t1 - t0)
                row_leaf = ledger_leaf(directory / "ledger.db", seq)
                t2 = time.perf_counter()
                merkle.verify_inclusion(seq, n, row_leaf, proof, parsed.root)
                ver.append(time.perf_counter() - t2)
            print(
                f"inclusion proof at {n:,}: generate median {statistics.median(gen) * 1e3:.3f} ms "
                f"(p99 {sorted(gen)[int(len(gen) * 0.99)] * 1e3:.3f} ms, target <= 1 ms), "
                f"verify median {statistics.median(ver) * 1e3:.3f} ms"
            )
            t0 = time.perf_counter()
            evidence = ledger.prove(seqs[0])
            print(
                f"evidence file (prove + sign-free read) {(time.perf_counter() - t0) * 1e3:.2f} ms, "
                f"{len(evidence['events'][0]['inclusion_proof'])} hashes"
            )
        print(
            f"integrity overhead {overhead_bytes(directory / 'ledger.db', n):>10.1f} B/event beyond the body"
            "   (target <= 64)"
        )


_LEAF_CONN: dict[Path, sqlite3.Connection] = {}


def ledger_leaf(db: Path, seq: int) -> bytes:
    conn = _LEAF_CONN.setdefault(db, sqlite3.connect(db))
    return bytes(conn.execute("SELECT leaf_hash FROM events WHERE seq = ?", (seq,)).fetchone()[0])


if __name__ == "__main__":
    main()
