"""Export a ledger to plain files, the way out with no lock-in (docs/FORMAT.md section 17).

An export is a directory: `events.jsonl` (every stored body byte for byte, one a line,
in seq order), `checkpoints.jsonl`, `cosignatures.jsonl`, `public_keys.jsonl` and
`ledger.vkey`, `subjects.jsonl` and `class_keys.jsonl` (unless left out), `ledger.json`,
and `MANIFEST` (the
SHA-256 of every other file, in `sha256sum` form). It is streamed from one read
snapshot, so memory stays flat whatever the ledger's size, and written to a temporary
directory renamed into place at the end: a failed export leaves nothing behind.
`auditml.ledger.export_check` verifies one; `auditml.ledger.export_import` restores one
into an empty database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from auditml.errors import ConfigError, IntegrityError
from auditml.events.timefmt import format_time
from auditml.ledger.ledger import Ledger
from auditml.ledger.store import Store
from auditml.ledger.tiles import CHECKPOINT_FILE, TILE_DIR, TileWriter

EXPORT_FORMAT = "auditml.export/v1"
LEDGER_FILE = "ledger.json"
EVENTS_FILE = "events.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
KEYS_FILE = "public_keys.jsonl"
VKEY_FILE = "ledger.vkey"
SUBJECTS_FILE = "subjects.jsonl"
CLASS_KEYS_FILE = "class_keys.jsonl"
COSIGNATURES_FILE = "cosignatures.jsonl"
MANIFEST_FILE = "MANIFEST"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportResult:
    directory: str
    origin: str
    size: int
    checkpoints: int
    latest_checkpoint_size: int | None
    subjects: int | None
    bytes: int
    seconds: float
    #: Tile and entry-bundle files written by `tiles=True` (None without it).
    tiles: int | None = None

    @property
    def uncovered(self) -> int:
        """Events after the latest checkpoint: no signature covers them in the export."""
        return self.size - (self.latest_checkpoint_size or 0)


def json_line(value: Any) -> bytes:
    """One JSON object on one line: sorted keys, no spaces, UTF-8, newline-terminated."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode() + b"\n"


def export_ledger(
    ledger: Ledger,
    directory: str | Path,
    *,
    subjects: bool = True,
    progress: Progress | None = None,
    tiles: bool = False,
) -> ExportResult:
    """Export an open ledger into directory (absent or empty); see export_store."""
    ledger.flush()
    store = Store.connect(ledger.settings.url)
    try:
        return export_store(store, directory, subjects=subjects, progress=progress, tiles=tiles)
    finally:
        store.close()


def export_store(
    store: Store,
    directory: str | Path,
    *,
    subjects: bool = True,
    progress: Progress | None = None,
    tiles: bool = False,
) -> ExportResult:
    """Write the whole ledger as an export directory, from one consistent snapshot.

    `subjects=False` leaves out subjects.jsonl and class_keys.jsonl (an export for an
    outside auditor).
    `tiles=True` also writes the C2SP tlog-tiles layout of the latest checkpoint's tree
    (`checkpoint` and `tile/...`, FORMAT 17.1); ConfigError if there is no checkpoint or
    an entry it covers is over 65535 bytes.
    Raises ConfigError if directory exists and is not empty (nothing is written), and
    IntegrityError if the ledger has a gap in seq (run `auditml verify --deep`).
    """
    started = time.perf_counter()
    target = Path(directory)
    refuse_non_empty(target)
    store.origin()  # a ledger of the schema revision this auditml reads, or ConfigError
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        with store.read(whole_file=True) as conn:
            info = store.ledger_info_row(conn)
            # A copy restored without its keys has none to export: its exports say so too.
            subjects = subjects and not info.keys_withheld
            total = store.head(conn).size
            checkpoints = store.checkpoint_rows(conn)
            tiler = _tile_writer(work, checkpoints) if tiles else None
            size = _write_events(
                work / EVENTS_FILE,
                store.raw_bodies(conn),
                total,
                progress,
                None if tiler is None else tiler.add,
            )
            tile_count = None if tiler is None else tiler.finish()
            keys = store.public_key_rows(conn)
            cosigned = sorted(store.cosignature_rows(conn), key=lambda r: (r.size, r.key_id))
            subject_count = (
                _write_lines(work / SUBJECTS_FILE, map(_subject_line, store.subject_rows(conn)))
                if subjects
                else None
            )
            class_key_count = (
                _write_lines(
                    work / CLASS_KEYS_FILE, map(_class_key_line, store.class_key_rows(conn))
                )
                if subjects
                else None
            )
        _write_lines(
            work / CHECKPOINTS_FILE,
            (
                {"size": c.size, "root": c.root.hex(), "note": c.note, "created_at": c.created_at}
                for c in checkpoints
            ),
        )
        _write_lines(
            work / KEYS_FILE,
            (
                {
                    "key_id": k.key_id,
                    "name": k.name,
                    "vkey": k.vkey,
                    "purpose": k.purpose,
                    "created_at": k.created_at,
                }
                for k in keys
            ),
        )
        _write_lines(
            work / COSIGNATURES_FILE,
            (
                {
                    "size": c.size,
                    "key_id": c.key_id,
                    "witness": c.witness,
                    "root": _as_bytes(c.root).hex(),
                    "checkpoint": c.checkpoint,
                    "signature": c.signature,
                    "created_at": c.created_at,
                }
                for c in cosigned
            ),
        )
        _write_file(work / VKEY_FILE, "".join(f"{k.vkey}\n" for k in keys).encode())
        if tiler is not None:
            _write_file(work / CHECKPOINT_FILE, checkpoints[-1].note.encode())
        latest = checkpoints[-1].size if checkpoints else None
        summary = {
            "export_format": EXPORT_FORMAT,
            "origin": info.origin,
            "format": info.format,
            "created_at": info.created_at,
            "exported_at": format_time(datetime.now(UTC)),
            "size": size,
            "checkpoints": len(checkpoints),
            "latest_checkpoint_size": latest,
            "public_keys": len(keys),
            "cosignatures": len(cosigned),
            "subjects": subject_count,
            "class_keys": class_key_count,
        }
        _write_file(
            work / LEDGER_FILE,
            (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode(),
        )
        written = _write_manifest(work)
        if subjects:  # wrapped data keys and lookup hashes: the directory stays 0700
            os.chmod(work / SUBJECTS_FILE, 0o600)
            os.chmod(work / CLASS_KEYS_FILE, 0o600)
        else:  # an export for an outside auditor holds nothing private
            os.chmod(work, 0o755)  # noqa: S103
        # rename(2) replaces an empty directory: the export appears whole or not at all.
        os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(
        str(target),
        str(info.origin),
        size,
        len(checkpoints),
        latest,
        subject_count,
        written,
        time.perf_counter() - started,
        tile_count,
    )


def refuse_non_empty(target: Path) -> None:
    """Raise ConfigError unless target is absent or an empty directory."""
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a directory; choose an empty directory")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(
            f"{target} is not empty; an export goes into a new or empty directory "
            "(nothing was written)"
        )


def _tile_writer(work: Path, checkpoints: list[Any]) -> TileWriter:
    """A TileWriter for the latest checkpoint's tree, writing under work/tile."""
    if not checkpoints:
        raise ConfigError(
            "--tiles needs a signed checkpoint (the tiles are the tree of the latest one); "
            "run `auditml checkpoint` first (nothing was written)"
        )

    def emit(name: str, data: bytes) -> None:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_file(path, data)

    return TileWriter(checkpoints[-1].size, emit)


def _write_events(
    path: Path,
    rows: Iterable[tuple[Any, ...]],
    total: int,
    progress: Progress | None,
    each: Callable[[int, bytes], None] | None = None,
) -> int:
    expected = 0
    with path.open("wb") as out:
        for seq, stored in rows:
            if seq != expected:
                raise IntegrityError(
                    f"seq {expected} is missing from the ledger (the next row is seq {seq}); "
                    "run `auditml verify --deep`",
                    seq=expected,
                )
            body = stored if type(stored) is bytes else _as_bytes(stored)
            if b"\n" in body:
                raise IntegrityError(
                    f"seq {seq}: the stored body holds a newline, so it is not canonical JSON; "
                    "run `auditml verify --deep`",
                    seq=seq,
                )
            out.write(body + b"\n")
            if each is not None:
                each(seq, body)
            expected += 1
            if progress is not None and expected % 16384 == 0:
                progress(expected, total)
        _sync(out)
    if progress is not None:
        progress(expected, max(total, expected))
    return expected


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _subject_line(row: Any) -> dict[str, Any]:
    return {
        "lookup": _as_bytes(row.lookup).hex(),
        "token": row.token,
        "wrapped_key": base64.b64encode(_as_bytes(row.wrapped_key)).decode(),
        "created_at": row.created_at,
    }


def _class_key_line(row: Any) -> dict[str, Any]:
    return {
        "class": row._mapping["class"],
        "epoch": row.epoch,
        "wrapped_key": base64.b64encode(_as_bytes(row.wrapped_key)).decode(),
        "created_at": row.created_at,
    }


def _write_lines(path: Path, values: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as out:
        for value in values:
            out.write(json_line(value))
            count += 1
        _sync(out)
    return count


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        _sync(out)


def _sync(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(work: Path) -> int:
    """Write MANIFEST (`<sha256 hex>  <name>` per file, sorted); return the bytes exported.

    Tiles are listed by their path under the directory (`tile/0/000`).
    """
    files = sorted(p for p in work.iterdir() if p.name not in (MANIFEST_FILE, TILE_DIR))
    if (work / TILE_DIR).is_dir():
        files += (p for p in (work / TILE_DIR).rglob("*") if p.is_file())
    files.sort(key=lambda p: p.relative_to(work).as_posix())
    lines = "".join(f"{file_sha256(p)}  {p.relative_to(work).as_posix()}\n" for p in files)
    _write_file(work / MANIFEST_FILE, lines.encode())
    return sum(p.stat().st_size for p in files) + len(lines)
