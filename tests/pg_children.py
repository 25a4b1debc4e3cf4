"""Child processes for tests/integration/test_postgres.py (run as a script, never imported).

pg_children.py writer URL KEYS NAME OUT THREADS PER_THREAD
    Open the ledger with group commit, print "ready", wait for a line on stdin, then
    record THREADS x PER_THREAD events from THREADS threads; each receipt goes to OUT
    as a JSON line [seq, id, leaf_hash] once the ledger returned it.
pg_children.py checkpointer URL KEYS STOP
    Sign a checkpoint every 50 ms until the file STOP exists; print how many it signed.
pg_children.py holder URL
    Enter Store.write() (which takes the ledger's append lock), print "locked", sleep.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from auditml import Ledger
from auditml.ledger.store import Store


def writer(url: str, keys: str, name: str, out: str, threads: int, per_thread: int) -> None:
    with Ledger.open(url, key_dir=keys, group_commit=True) as ledger, open(out, "w") as file:
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(thread: int) -> None:
            try:
                for i in range(per_thread):
                    version = f"{thread}.{i}"
                    payload = {"model": name, "version": version, "environment": "production"}
                    receipt = ledger.record("model.deployed", payload=payload)
                    with lock:
                        file.write(json.dumps([receipt.seq, receipt.id, receipt.leaf_hash]) + "\n")
            except BaseException as exc:
                errors.append(exc)
                raise

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        print("ready", flush=True)
        sys.stdin.readline()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if errors:
        raise SystemExit(f"{len(errors)} writer threads failed: {errors[0]!r}")


def checkpointer(url: str, keys: str, stop: str) -> None:
    sizes = set()
    with Ledger.open(url, key_dir=keys) as ledger:
        print("ready", flush=True)
        while not Path(stop).exists():
            sizes.add(ledger.checkpoint().size)
            time.sleep(0.05)
    print(len(sizes), flush=True)


def holder(url: str) -> None:
    store = Store.connect(url)
    with store.write():
        print("locked", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "writer":
        writer(*args[:4], int(args[4]), int(args[5]))
    elif command == "checkpointer":
        checkpointer(*args)
    elif command == "holder":
        holder(*args)
    else:
        raise SystemExit(f"unknown command {command!r}")
