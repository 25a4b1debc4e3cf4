"""Verify an export directory with no database at all (docs/FORMAT.md section 17).

`open_export` reads and checks the small files: MANIFEST against every file, ledger.json,
the public keys, and every checkpoint's signature under the trusted keys. `Export.walk`
then streams events.jsonl in chunks of 2**CHUNK_LEVEL lines through the same RowChecker
deep verification uses (each line re-hashed, the chain, seq = line number, time order,
canonical JSON), rebuilds the Merkle tree and compares its root with every checkpoint.
It hands each checked chunk, with the stored tree nodes it completes, to an optional sink:
that is how `export_import` restores a ledger from exactly what was verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from pathlib import Path
from typing import Any

import orjson

from auditml.errors import ConfigError, IntegrityError, SignatureError, ValidationError
from auditml.ledger import merkle
from auditml.ledger.export import (
    CHECKPOINTS_FILE,
    CLASS_KEYS_FILE,
    COSIGNATURES_FILE,
    EVENTS_FILE,
    EXPORT_FORMAT,
    KEYS_FILE,
    LEDGER_FILE,
    MANIFEST_FILE,
    SUBJECTS_FILE,
    VKEY_FILE,
    Progress,
    file_sha256,
)
from auditml.ledger.keys import LEDGER_VKEY_FILE, key_dir_verifiers, load_vkey_file
from auditml.ledger.note import Checkpoint, Verifier, open_checkpoint
from auditml.ledger.rotation import KeySchedule, follow_rotations
from auditml.ledger.store import NODE_STRIDE, CheckpointRow
from auditml.ledger.tiles import CHECKPOINT_FILE, TILE_DIR, check_tiles
from auditml.ledger.verify import RowChecker

#: events.jsonl is checked in chunks of this many lines (a perfect subtree of the tree).
CHUNK_LEVEL = 15
#: Called with each checked chunk: (first seq, bodies, leaf hashes, completed stored nodes).
Sink = Callable[[int, list[bytes], list[bytes], list[tuple[int, int, bytes]]], None]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MANIFEST_LINE = re.compile(
    r"([0-9a-f]{64})  ([A-Za-z0-9._-]+|tile/(?:entries|[0-9]+)/(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/[0-9]+)?)"
)
_TOKEN = re.compile(r"sub_[a-z2-7]{26}")
_EPOCH = re.compile(r"[0-9]{4}-[0-9]{2}")


class _FromTheLine:
    """Stands in for the stored leaf hash and columns RowChecker compares with.

    A database row carries both next to its body; an export line is the body alone, so
    the leaf hash and the columns are derived from it and those comparisons hold by
    construction. Every other check of RowChecker applies to the line as it stands.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


_DERIVED = _FromTheLine()


@dataclass(frozen=True)
class ExportCheck:
    """What verifying an export established."""

    directory: str
    origin: str
    size: int
    checkpoints_verified: int
    latest_checkpoint_size: int | None
    key_source: str
    keys_from_export: bool
    subjects: int | None
    files: int
    seconds: float

    @property
    def uncovered(self) -> int:
        return self.size - (self.latest_checkpoint_size or 0)


@dataclass
class Export:
    """An export whose small files passed their checks; walk() checks the events."""

    directory: Path
    info: dict[str, Any]
    manifest: dict[str, str]
    checkpoint_rows: list[CheckpointRow]
    checkpoints: list[Checkpoint]
    key_rows: list[dict[str, Any]]
    cosignature_rows: list[dict[str, Any]]
    key_source: str
    keys_from_export: bool
    subject_count: int | None

    cosigned: list[Checkpoint]
    #: Rows in class_keys.jsonl (None: no such file, as in exports --no-subjects).
    class_key_count: int | None = None
    #: The keys checkpoints were checked with; walk() also checks who signed when.
    trusted: list[Verifier] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return str(self.info["origin"])

    def walk(self, sink: Sink | None = None, progress: Progress | None = None) -> int:
        """Check every line of events.jsonl; return the number of events.

        Raises IntegrityError naming the first bad seq, a root that differs from a
        checkpoint, a file cut short, or an events.jsonl that differs from MANIFEST.
        """
        path = self.directory / EVENTS_FILE
        targets: dict[int, list[Checkpoint]] = {}
        for checkpoint in self.checkpoints + self.cosigned:
            targets.setdefault(checkpoint.size, []).append(checkpoint)
        for checkpoint in targets.get(0, ()):
            if checkpoint.root != merkle.EMPTY_ROOT:
                raise _rewritten(checkpoint)
        total = int(self.info["size"])
        digest = hashlib.sha256()
        lines = _lines(path, digest)
        rows = RowChecker()
        rotations: list[tuple[int, str]] = []
        joined = merkle.CompactRange()  # the roots of the whole chunks so far
        chunk, start = 1 << CHUNK_LEVEL, 0
        while bodies := list(islice(lines, chunk)):
            stop = start + len(bodies)
            rotations += _rotations(bodies, start)
            leaves: list[bytes] = []
            try:
                rows.check(
                    zip(range(start, stop), repeat(_DERIVED), bodies, repeat(_DERIVED)), leaves
                )
            except IntegrityError as exc:
                raise _line_failure(exc, bodies, start, leaves, rows.prev_hex) from exc
            levels = merkle.subtree_levels(leaves)
            nodes = [
                (level, (start >> level) + index, digest_)
                for level in range(NODE_STRIDE, len(levels), NODE_STRIDE)
                for index, digest_ in enumerate(levels[level])
            ]
            for size in sorted(s for s in targets if start < s <= stop):
                local = merkle.frontier_from_levels(levels, size - start)
                root = merkle.fold_subtrees([*joined.hashes, *local])
                for checkpoint in targets[size]:
                    if root != checkpoint.root:
                        raise _rewritten(checkpoint)
            if len(bodies) == chunk:
                for level, index, node in joined.append(levels[CHUNK_LEVEL][0]):
                    if (level + CHUNK_LEVEL) % NODE_STRIDE == 0:
                        nodes.append((level + CHUNK_LEVEL, index, node))
            if sink is not None:
                sink(start, bodies, leaves, nodes)
            start = stop
            if progress is not None:
                progress(start, max(total, start))
        latest = max((c.size for c in self.checkpoints + self.cosigned), default=0)
        if start < latest:
            raise IntegrityError(
                f"{EVENTS_FILE} holds {start} events but a checkpoint was signed at size "
                f"{latest}: lines from seq {start} on were removed (cut short)",
                seq=start,
            )
        if start != total:
            raise IntegrityError(
                f"{LEDGER_FILE} says {total} events but {EVENTS_FILE} holds {start}", seq=start
            )
        _compare_digest(EVENTS_FILE, digest.hexdigest(), self.manifest)
        self._check_signers(rotations)
        return start

    def _check_signers(self, rotations: list[tuple[int, str]]) -> None:
        """Keys the trusted set lacks must be vouched for by the chain of rotations, and
        each checkpoint must be signed by the key in force at its size (FORMAT 8.1a)."""
        listed = [Verifier.from_vkey(row["vkey"]) for row in self.key_rows]
        notes = {row.size - 1: row.note for row in self.checkpoint_rows}
        trusted = follow_rotations(self.trusted, listed, rotations, notes)
        unknown = [k for k in listed if k not in trusted]
        if unknown:
            raise IntegrityError(
                f"the export lists checkpoint key {unknown[0].name}+{unknown[0].key_id} that "
                f"{self.key_source} does not hold: a key was added to the ledger or the export"
            )
        schedule = KeySchedule.of({k.key_id for k in trusted}, rotations)
        for row in self.checkpoint_rows:
            allowed = [k for k in trusted if k.key_id in schedule.allowed(row.size)]
            try:
                open_checkpoint(row.note, allowed)
            except (SignatureError, ValidationError):
                raise IntegrityError(
                    f"{CHECKPOINTS_FILE}: checkpoint at size {row.size} is signed by a retired "
                    f"ledger key (rotated at seq {schedule.rotated_at(row.size)}): a forgery "
                    "with an old key"
                ) from None

    def subjects(self) -> Iterator[dict[str, Any]]:
        """Yield the rows of subjects.jsonl as table rows (bytes decoded); nothing if absent."""
        if self.subject_count is None:
            return
        for number, value in _json_lines(self.directory / SUBJECTS_FILE):
            yield _subject_row(value, number)

    def class_keys(self) -> Iterator[dict[str, Any]]:
        """Yield the rows of class_keys.jsonl as table rows; nothing if absent."""
        if self.class_key_count is None:
            return
        for number, value in _json_lines(self.directory / CLASS_KEYS_FILE):
            yield _class_key_row(value, number)


def verify_export(
    directory: str | Path,
    *,
    keys: Sequence[Verifier] | None = None,
    key_dir: Path | None = None,
    progress: Progress | None = None,
) -> ExportCheck:
    """Verify an export directory; return what was established or raise IntegrityError."""
    started = time.perf_counter()
    export = open_export(directory, keys=keys, key_dir=key_dir)
    _check_tiles(export)
    size = export.walk(progress=progress)
    return ExportCheck(
        directory=str(export.directory),
        origin=export.origin,
        size=size,
        checkpoints_verified=len(export.checkpoints),
        latest_checkpoint_size=export.checkpoints[-1].size if export.checkpoints else None,
        key_source=export.key_source,
        keys_from_export=export.keys_from_export,
        subjects=export.subject_count,
        files=len(export.manifest),
        seconds=time.perf_counter() - started,
    )


def _check_tiles(export: Export) -> None:
    """Check the tlog-tiles files if the export has them (FORMAT 17.1).

    `checkpoint` must be the latest checkpoint's note verbatim; the tiles must be exactly
    those of its tree and recompute its signed root (tiles.check_tiles). Their bundles are
    thereby bound to the same root as events.jsonl, which walk() checks.
    """
    names = {n for n in export.manifest if n.startswith(f"{TILE_DIR}/")}
    if not names and CHECKPOINT_FILE not in export.manifest:
        return
    if CHECKPOINT_FILE not in export.manifest or not export.checkpoint_rows:
        raise IntegrityError(
            f"the export holds tiles but no {CHECKPOINT_FILE} file or no checkpoint to check "
            "them with"
        )
    latest = export.checkpoint_rows[-1]
    text = (export.directory / CHECKPOINT_FILE).read_bytes()
    if text != latest.note.encode():
        raise IntegrityError(
            f"{CHECKPOINT_FILE} is not the latest checkpoint (size {latest.size}) of "
            f"{CHECKPOINTS_FILE} verbatim"
        )
    check_tiles(export.directory, latest.size, latest.root, names)


def open_export(
    directory: str | Path,
    *,
    keys: Sequence[Verifier] | None = None,
    key_dir: Path | None = None,
) -> Export:
    """Check an export's small files and checkpoint signatures; return it ready to walk.

    Trusted keys: `keys` when given, else `<key_dir>/ledger.vkey` when it exists, else
    the export's own public keys (then `keys_from_export` is true: such a result is only
    as trustworthy as the export itself). Raises ConfigError when directory is not an
    export, IntegrityError (SignatureError) when anything in it fails a check.
    """
    path = Path(directory)
    if not (path / LEDGER_FILE).is_file() or not (path / MANIFEST_FILE).is_file():
        raise ConfigError(
            f"{path} is not an auditml export (no {LEDGER_FILE} and {MANIFEST_FILE}); "
            "make one with `auditml export DIR`"
        )
    manifest = _read_manifest(path)
    for name in manifest:
        if name != EVENTS_FILE:  # hashed while it is streamed
            _compare_digest(name, file_sha256(path / name), manifest)
    info = _read_info(path)
    key_rows = [_key_row(value, number) for number, value in _json_lines(path / KEYS_FILE)]
    export_keys = [Verifier.from_vkey(row["vkey"]) for row in key_rows]
    vkey_lines = load_vkey_file(path / VKEY_FILE)
    if sorted(k.to_vkey() for k in vkey_lines) != sorted(k.to_vkey() for k in export_keys):
        raise IntegrityError(f"{VKEY_FILE} and {KEYS_FILE} list different keys")
    trusted, source, from_export = _trusted_keys(export_keys, keys, key_dir)
    rows = [_checkpoint_row(value, n) for n, value in _json_lines(path / CHECKPOINTS_FILE)]
    if [r.size for r in rows] != sorted({r.size for r in rows}):
        raise IntegrityError(f"{CHECKPOINTS_FILE}: checkpoints are not in increasing size order")
    # Signatures by keys the trusted set lacks are accepted here only provisionally:
    # walk() requires the chain of rotations to vouch for each such key.
    signers = trusted + [k for k in export_keys if k not in trusted]
    checkpoints = [_open(row, signers, str(info["origin"])) for row in rows]
    if info.get("checkpoints") != len(rows):
        raise IntegrityError(
            f"{LEDGER_FILE} says {info.get('checkpoints')} checkpoints but {CHECKPOINTS_FILE} "
            f"holds {len(rows)}"
        )
    cosignature_rows, cosigned = _cosignatures(path, manifest, signers, str(info["origin"]))
    subject_count = None
    if (path / SUBJECTS_FILE).exists():
        subject_count = sum(
            1 for number, value in _json_lines(path / SUBJECTS_FILE) if _subject_row(value, number)
        )
    if info.get("subjects") != subject_count:
        raise IntegrityError(
            f"{LEDGER_FILE} says {info.get('subjects')} subjects but the export holds {subject_count}"
        )
    class_key_count = None
    if (path / CLASS_KEYS_FILE).exists():
        class_key_count = sum(
            1
            for number, value in _json_lines(path / CLASS_KEYS_FILE)
            if _class_key_row(value, number)
        )
    if info.get("class_keys") != class_key_count:
        raise IntegrityError(
            f"{LEDGER_FILE} says {info.get('class_keys')} class keys but the export holds "
            f"{class_key_count}"
        )
    return Export(
        path,
        info,
        manifest,
        rows,
        checkpoints,
        key_rows,
        cosignature_rows,
        source,
        from_export,
        subject_count,
        cosigned,
        class_key_count=class_key_count,
        trusted=trusted,
    )


def _cosignatures(
    path: Path, manifest: dict[str, str], trusted: list[Verifier], origin: str
) -> tuple[list[dict[str, Any]], list[Checkpoint]]:
    """Read cosignatures.jsonl (absent in exports made before witnesses existed).

    Each row carries the ledger-signed checkpoint a witness cosigned: it must verify under
    the trusted keys and state the row's size and root, and walk() checks that root too.
    The witness's own signature is carried, not judged (check it with the witness keys).
    """
    if COSIGNATURES_FILE not in manifest:
        return [], []
    rows, cosigned = [], []
    for number, value in _json_lines(path / COSIGNATURES_FILE):
        where = f"{COSIGNATURES_FILE} line {number}"
        row = {
            n: _field(value, n, str, where)
            for n in ("key_id", "witness", "root", "checkpoint", "signature", "created_at")
        }
        row["size"] = _field(value, "size", int, where)
        if not _HEX64.fullmatch(row["root"]):
            raise IntegrityError(f"{where}: root is not 64 lowercase hex digits")
        row["root"] = bytes.fromhex(row["root"])
        checkpoint = _open(
            CheckpointRow(row["size"], row["root"], row["checkpoint"], ""), trusted, origin
        )
        rows.append(row)
        cosigned.append(checkpoint)
    return rows, cosigned


def _rotations(bodies: list[bytes], start: int) -> list[tuple[int, str]]:
    """(seq, new key id) of the checkpoint-key rotations among these lines."""
    found = []
    for offset, body in enumerate(bodies):
        if b'"key.rotated"' in body:
            payload = json.loads(body).get("payload", {})
            if payload.get("purpose") == "checkpoint":
                found.append((start + offset, str(payload.get("key_id"))))
    return found


def _trusted_keys(
    export_keys: list[Verifier], given: Sequence[Verifier] | None, key_dir: Path | None
) -> tuple[list[Verifier], str, bool]:
    anchor = None if given or key_dir is None else key_dir_verifiers(key_dir)
    if given:
        trusted, source = list(given), "the keys given with --key"
    elif anchor is not None and key_dir is not None:
        trusted, source = anchor, str(key_dir / LEDGER_VKEY_FILE)
    else:
        return (
            export_keys,
            f"the export's own {KEYS_FILE} (only as trustworthy as the export)",
            True,
        )
    # Keys the trusted set lacks are checked after the walk: the chain of rotations in
    # events.jsonl may vouch for them (see Export._check_signers).
    return trusted, source, False


def _open(row: CheckpointRow, trusted: list[Verifier], origin: str) -> Checkpoint:
    try:
        checkpoint = open_checkpoint(row.note, trusted)
    except (SignatureError, ValidationError) as exc:
        raise SignatureError(
            f"{CHECKPOINTS_FILE}: checkpoint at size {row.size}: {exc} (a forged or altered "
            "checkpoint)"
        ) from exc
    if checkpoint.size != row.size or checkpoint.root != row.root or checkpoint.origin != origin:
        raise IntegrityError(
            f"{CHECKPOINTS_FILE}: checkpoint at size {row.size}: its size/root, or the origin "
            f"in {LEDGER_FILE}, disagree with the signed note (the line was edited)"
        )
    return checkpoint


def _line_failure(
    exc: IntegrityError, bodies: list[bytes], start: int, leaves: list[bytes], before: str | None
) -> IntegrityError:
    """Name the line that was most likely altered.

    A database row keeps its leaf hash next to its body, so deep verification names an
    edited body itself. An export line is its own leaf: an edited line still checks out
    alone, and the break shows at the next line, whose `prev` no longer matches.
    """
    seq = exc.seq
    if seq is not None and seq > 0 and len(leaves) == seq - start:
        previous = leaves[-1].hex() if leaves else before
        try:
            envelope = orjson.loads(bodies[seq - start])
            chained = envelope["seq"] == seq and envelope["prev"] != previous
        except (orjson.JSONDecodeError, TypeError, KeyError):
            chained = False  # not a broken link: RowChecker's own message says what is
        if previous is not None and chained:
            return IntegrityError(
                f"{EVENTS_FILE}: seq {seq - 1} was altered: its line no longer hashes to the "
                f"prev recorded by seq {seq} (or that prev was edited)",
                seq=seq - 1,
            )
    return IntegrityError(f"{EVENTS_FILE}: {exc}", seq=seq)


def _rewritten(checkpoint: Checkpoint) -> IntegrityError:
    return IntegrityError(
        f"{EVENTS_FILE}: the events up to seq {checkpoint.size - 1} do not have the root signed "
        f"in the checkpoint of size {checkpoint.size}: history was rewritten (each line checks "
        "out on its own, so the whole chain was rebuilt)",
        seq=max(checkpoint.size - 1, 0),
    )


def _lines(path: Path, digest: Any) -> Iterator[bytes]:
    """Yield the lines of path without their newlines, feeding every byte to digest."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise IntegrityError(f"cannot read {path.name}: {exc.strerror}") from exc
    with handle:
        rest = b""
        while block := handle.read(1 << 22):
            digest.update(block)
            parts = (rest + block).split(b"\n")
            rest = parts.pop()
            yield from parts
    if rest:
        raise IntegrityError(f"{path.name}: the last line has no newline (the file was cut short)")


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number from 1, parsed JSON object) for each line of a small JSONL file."""
    for number, line in enumerate(_lines(path, hashlib.sha256()), start=1):
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{path.name} line {number} is not JSON") from exc
        if not isinstance(value, dict):
            raise IntegrityError(f"{path.name} line {number} is not a JSON object")
        yield number, value


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        text = (path / MANIFEST_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"cannot read {MANIFEST_FILE}: {exc}") from exc
    manifest: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None or match[2] in manifest or match[2] == MANIFEST_FILE:
            raise IntegrityError(f"{MANIFEST_FILE} line {number} is malformed: {line[:80]!r}")
        manifest[match[2]] = match[1]
    present = {p.name for p in path.iterdir()} - {MANIFEST_FILE}
    if (path / TILE_DIR).is_dir():  # tiles are listed by path (FORMAT 17.1)
        present.remove(TILE_DIR)
        present |= {
            p.relative_to(path).as_posix() for p in (path / TILE_DIR).rglob("*") if p.is_file()
        }
    required = {LEDGER_FILE, EVENTS_FILE, CHECKPOINTS_FILE, KEYS_FILE, VKEY_FILE}
    for name in sorted(required - manifest.keys()) + sorted(manifest.keys() - present):
        raise IntegrityError(f"{name} is missing from the export or from its {MANIFEST_FILE}")
    for name in sorted(present - manifest.keys()):
        raise IntegrityError(f"{name} is in the export directory but not in its {MANIFEST_FILE}")
    return manifest


def _compare_digest(name: str, actual: str, manifest: dict[str, str]) -> None:
    if manifest[name] != actual:
        raise IntegrityError(
            f"{name} does not match its SHA-256 in {MANIFEST_FILE} (the file or the manifest "
            "was altered)"
        )


def _read_info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads((path / LEDGER_FILE).read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{LEDGER_FILE} is not JSON") from exc
    if not isinstance(info, dict) or info.get("export_format") != EXPORT_FORMAT:
        raise ConfigError(f"{path} is not an {EXPORT_FORMAT} export (see {LEDGER_FILE})")
    for name, kind in (("origin", str), ("format", int), ("created_at", str), ("size", int)):
        if type(info.get(name)) is not kind:
            raise IntegrityError(f"{LEDGER_FILE}: {name} is missing or not a {kind.__name__}")
    return info


def _field(value: dict[str, Any], name: str, kind: type, where: str) -> Any:
    item = value.get(name)
    if type(item) is not kind:
        raise IntegrityError(f"{where}: {name} is missing or not a {kind.__name__}")
    return item


def _checkpoint_row(value: dict[str, Any], number: int) -> CheckpointRow:
    where = f"{CHECKPOINTS_FILE} line {number}"
    root = _field(value, "root", str, where)
    if not _HEX64.fullmatch(root):
        raise IntegrityError(f"{where}: root is not 64 lowercase hex digits")
    return CheckpointRow(
        _field(value, "size", int, where),
        bytes.fromhex(root),
        _field(value, "note", str, where),
        _field(value, "created_at", str, where),
    )


def _key_row(value: dict[str, Any], number: int) -> dict[str, Any]:
    where = f"{KEYS_FILE} line {number}"
    row = {
        n: _field(value, n, str, where) for n in ("key_id", "name", "vkey", "purpose", "created_at")
    }
    try:
        verifier = Verifier.from_vkey(row["vkey"])
    except ValidationError as exc:
        raise IntegrityError(f"{where}: {exc}") from exc
    if verifier.key_id != row["key_id"] or verifier.name != row["name"]:
        raise IntegrityError(f"{where}: key_id or name disagrees with the vkey")
    return row


def _wrapped_key(value: dict[str, Any], where: str) -> bytes:
    try:
        return base64.b64decode(_field(value, "wrapped_key", str, where), validate=True)
    except binascii.Error as exc:
        raise IntegrityError(f"{where}: wrapped_key is not base64") from exc


def _subject_row(value: dict[str, Any], number: int) -> dict[str, Any]:
    where = f"{SUBJECTS_FILE} line {number}"
    lookup = _field(value, "lookup", str, where)
    token = _field(value, "token", str, where)
    wrapped = _wrapped_key(value, where)
    if not _HEX64.fullmatch(lookup) or not _TOKEN.fullmatch(token) or len(wrapped) != 60:
        raise IntegrityError(f"{where}: malformed lookup, token or wrapped_key")
    return {
        "lookup": bytes.fromhex(lookup),
        "token": token,
        "wrapped_key": wrapped,
        "created_at": _field(value, "created_at", str, where),
    }


def _class_key_row(value: dict[str, Any], number: int) -> dict[str, Any]:
    where = f"{CLASS_KEYS_FILE} line {number}"
    name = _field(value, "class", str, where)
    epoch = _field(value, "epoch", str, where)
    wrapped = _wrapped_key(value, where)
    if not 0 < len(name) <= 64 or not _EPOCH.fullmatch(epoch) or len(wrapped) != 60:
        raise IntegrityError(f"{where}: malformed class, epoch or wrapped_key")
    return {
        "class": name,
        "epoch": epoch,
        "wrapped_key": wrapped,
        "created_at": _field(value, "created_at", str, where),
    }
