"""Restore a ledger from an export into an empty database (docs/FORMAT.md section 17).

The export is verified first, with no database touched. Then one write transaction
creates the schema and re-walks the export, inserting exactly the lines it verifies
again (so a file changed in between fails too): events with their columns taken from the
envelope as an append does, the stored tree nodes rebuilt from the leaves, checkpoints,
public keys, subjects and class keys. All or nothing: a failure rolls everything back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from auditml.errors import ConfigError
from auditml.ledger.export import Progress
from auditml.ledger.export_check import ExportCheck, open_export, verify_export
from auditml.ledger.note import Verifier
from auditml.ledger.store import Store

_BATCH = 5000


@dataclass(frozen=True)
class ImportResult:
    check: ExportCheck
    url: str
    nodes: int
    subjects: int
    seconds: float


def import_export(
    directory: str | Path,
    url: str,
    *,
    keys: Sequence[Verifier] | None = None,
    key_dir: Path | None = None,
    progress: Progress | None = None,
    verify_progress: Progress | None = None,
) -> ImportResult:
    """Verify the export at directory, then restore it into the empty database at url.

    Trusted keys as for `verify_export`. Raises IntegrityError when the export fails
    verification, ConfigError when the database already holds a ledger; in both cases
    nothing is written.
    """
    started = time.perf_counter()
    store = Store.connect(url, must_exist=False)
    try:
        existing = store.existing_origin()
        if existing is not None:
            raise ConfigError(
                f"{store.engine.url!r} already holds the ledger {existing!r}; restore into an "
                "empty database"
            )
        check = verify_export(directory, keys=keys, key_dir=key_dir, progress=verify_progress)
        export = open_export(directory, keys=keys, key_dir=key_dir)
        counts = {"nodes": 0, "subjects": 0}
        with store.write() as conn:
            store.restore_schema(
                conn,
                origin=export.origin,
                ledger_format=int(export.info["format"]),
                created_at=str(export.info["created_at"]),
                keys_withheld=export.subject_count is None,
            )

            def insert(
                start: int, bodies: list[bytes], leaves: list[bytes], nodes: list[Any]
            ) -> None:
                rows = [
                    _event_row(seq, body, leaf)
                    for seq, body, leaf in zip(
                        range(start, start + len(bodies)), bodies, leaves, strict=True
                    )
                ]
                for begin in range(0, len(rows), _BATCH):
                    store.insert_events(conn, rows[begin : begin + _BATCH])
                store.insert_nodes(conn, nodes)
                counts["nodes"] += len(nodes)

            export.walk(sink=insert, progress=progress)
            for row in export.checkpoint_rows:
                store.add_checkpoint(conn, row)
            for key in export.key_rows:
                store.add_public_key(conn, **key)
            for cosignature in export.cosignature_rows:
                store.add_cosignature(conn, cosignature)
            batch: list[dict[str, Any]] = []
            for subject in export.subjects():
                batch.append(subject)
                if len(batch) == _BATCH:
                    store.insert_subjects(conn, batch)
                    counts["subjects"] += len(batch)
                    batch = []
            store.insert_subjects(conn, batch)
            counts["subjects"] += len(batch)
            store.insert_class_keys(conn, list(export.class_keys()))
    except BaseException:
        store.discard_created()
        raise
    store.close()
    return ImportResult(
        check, url, counts["nodes"], counts["subjects"], time.perf_counter() - started
    )


def _event_row(seq: int, body: bytes, leaf: bytes) -> tuple[Any, ...]:
    """The events row of a verified line: the columns copied from the envelope, as an append does."""
    envelope = orjson.loads(body)
    return (
        seq,
        envelope["id"],
        envelope["type"],
        envelope["system"],
        envelope["recorded_at"],
        envelope["occurred_at"],
        envelope.get("subject"),
        body,
        leaf,
    )
