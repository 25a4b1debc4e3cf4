"""Export, verify without a database, and restore into another database (issue 7, part 4).

Real ledgers on SQLite and PostgreSQL, real export directories, the real `auditml`
command: every tampering test edits the files as an attacker would (and rewrites
MANIFEST to match, so that the checks behind it are what catches the edit).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock, deployed, sql, trained

from auditml import Ledger
from auditml.ledger import export_check, merkle, tiles
from auditml.ledger.canonical import canonicalize
from auditml.ledger.export import export_ledger
from auditml.ledger.export_check import verify_export
from auditml.ledger.export_import import import_export

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
ORIGIN = "test.example/ledger"
SIGNED = 40  # events covered by the latest checkpoint
SIZE = 47  # events in the ledger (the last 7 not yet signed over)
CONSENT_SEQ = 20


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def build(url: str, key_dir: Path) -> None:
    """A ledger with a sealed personal field, two checkpoints and 7 events after them."""
    with Ledger.create(url, origin=ORIGIN, key_dir=key_dir, clock=StepClock()) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(CONSENT_SEQ)]
        )
        ledger.record(
            "consent.granted",
            payload={"purpose": "credit-scoring", "explicit": True},
            subject="alice@example.com",
            personal={"name": "Alice Example", "email": "alice@example.com"},
        )
        ledger.checkpoint()
        ledger.record_many(
            [
                {"type": "model.deployed", "payload": deployed(str(i))}
                for i in range(CONSENT_SEQ + 1, SIGNED)
            ]
        )
        ledger.checkpoint()
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(SIGNED, SIZE)]
        )


@pytest.fixture
def source(db_url: str, tmp_path: Path) -> str:
    build(db_url, tmp_path / "keys")
    return db_url


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """An export of a SQLite ledger, for the tampering tests."""
    build(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "keys")
    with Ledger.open(f"sqlite:///{tmp_path / 'src.db'}", key_dir=tmp_path / "keys") as ledger:
        export_ledger(ledger, tmp_path / "export")
    return tmp_path / "export"


def rewrite_manifest(directory: Path) -> None:
    """Recompute MANIFEST as an attacker who edited the files would."""
    names = sorted(p.name for p in directory.iterdir() if p.name != "MANIFEST")
    (directory / "MANIFEST").write_text(
        "".join(f"{hashlib.sha256((directory / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    )


def edit_lines(directory: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    path = directory / name
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(b"".join(line + b"\n" for line in change(lines)))
    rewrite_manifest(directory)


def verify_cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return auditml(
        "--home",
        str(directory.parent / "keys"),
        "verify",
        "--export",
        str(directory),
        *args,
        cwd=directory.parent,
    )


def assert_fails(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


# -- export ---------------------------------------------------------------------------


def test_export_writes_the_stored_bytes_and_verifies(source: str, tmp_path: Path) -> None:
    done = auditml("--url", source, "--home", "keys", "export", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "MANIFEST",
        "checkpoints.jsonl",
        "class_keys.jsonl",
        "cosignatures.jsonl",
        "events.jsonl",
        "ledger.json",
        "ledger.vkey",
        "public_keys.jsonl",
        "subjects.jsonl",
    ]
    # events.jsonl is the stored bodies byte for byte, one a line, in seq order.
    bodies = [bytes(b) for (b,) in sql(source, "SELECT body FROM events ORDER BY seq")]
    assert out.joinpath("events.jsonl").read_bytes() == b"".join(b + b"\n" for b in bodies)
    info = json.loads(out.joinpath("ledger.json").read_text())
    assert info["origin"] == ORIGIN and info["size"] == SIZE and info["format"] == 1
    assert info["checkpoints"] == 2 and info["latest_checkpoint_size"] == SIGNED
    assert info["subjects"] == 1 and info["class_keys"] == 1
    checkpoints = [json.loads(line) for line in out.joinpath("checkpoints.jsonl").open()]
    stored = sql(source, "SELECT size, root, note FROM checkpoints ORDER BY size")
    assert [(c["size"], bytes.fromhex(c["root"]), c["note"]) for c in checkpoints] == [
        (s, bytes(r), n) for s, r, n in stored
    ]
    assert out.joinpath("ledger.vkey").read_text() == (tmp_path / "keys/ledger.vkey").read_text()
    # MANIFEST is sha256sum's format and covers every other file.
    check = subprocess.run(
        ["sha256sum", "--check", "--strict", "MANIFEST"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == 8, check.stdout
    assert stat.S_IMODE(out.joinpath("subjects.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(out.joinpath("class_keys.jsonl").stat().st_mode) == 0o600
    assert "not signed over in this export" in done.stdout  # the 7 uncovered events

    verified = verify_cli(out, "--json")
    assert verified.returncode == 0, verified.stderr
    result = json.loads(verified.stdout)
    assert result["size"] == SIZE and result["checkpoints_verified"] == 2
    assert result["uncovered"] == SIZE - SIGNED and result["keys_from_export"] is False
    assert result["key_source"].endswith("keys/ledger.vkey")


def test_export_refuses_a_non_empty_directory(exported: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    done = auditml(
        "--url",
        f"sqlite:///{tmp_path / 'src.db'}",
        "--home",
        "keys",
        "export",
        "busy",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "is not empty" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    # An empty directory is fine; so is the SDK into a new one.
    (tmp_path / "empty").mkdir()
    again = auditml(
        "--url",
        f"sqlite:///{tmp_path / 'src.db'}",
        "--home",
        "keys",
        "export",
        "empty",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr


def test_no_subjects_export_verifies_and_restores_without_personal_data(
    tmp_path: Path, postgres_url: str
) -> None:
    build(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "keys")
    done = auditml(
        "--url",
        f"sqlite:///{tmp_path / 'src.db'}",
        "--home",
        "keys",
        "export",
        "audit",
        "--no-subjects",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "audit" / "subjects.jsonl").exists()
    assert not (tmp_path / "audit" / "class_keys.jsonl").exists()
    info = json.loads((tmp_path / "audit/ledger.json").read_text())
    assert info["subjects"] is None and info["class_keys"] is None
    assert verify_cli(tmp_path / "audit").returncode == 0
    import_export(tmp_path / "audit", postgres_url, key_dir=tmp_path / "keys")
    with Ledger.open(postgres_url, key_dir=tmp_path / "keys") as restored:
        result = restored.verify(deep=True)
        # Every key is absent on purpose: said so, rather than taken for shredding.
        assert result.size == SIZE and result.keys_withheld
        assert restored.subject_token("alice@example.com") is None
        assert restored.get(CONSENT_SEQ).payload["personal"] == {"erased": True}


# -- verify --export: every kind of tampering is found, by seq ---------------------------


def test_an_untouched_export_verifies_with_each_key_source(exported: Path, tmp_path: Path) -> None:
    vkey = str(tmp_path / "keys" / "ledger.vkey")
    assert verify_cli(exported, "--key", vkey).returncode == 0
    loose = auditml("--home", "nowhere", "verify", "--export", str(exported), cwd=tmp_path)
    assert loose.returncode == 0
    assert "only as trustworthy as the export" in " ".join(loose.stdout.split())
    other = Ledger.create(
        f"sqlite:///{tmp_path / 'other.db'}", origin=ORIGIN, key_dir=tmp_path / "k2"
    )
    other.close()
    wrong = verify_cli(exported, "--key", str(tmp_path / "k2" / "ledger.vkey"))
    assert_fails(wrong, "does not hold")


def test_altered_body_is_named_by_seq(exported: Path) -> None:
    def alter(lines: list[bytes]) -> list[bytes]:
        envelope = json.loads(lines[12])
        envelope["payload"]["environment"] = "staging"
        lines[12] = canonicalize(envelope)
        return lines

    edit_lines(exported, "events.jsonl", alter)
    assert_fails(verify_cli(exported), "seq 12 was altered")


def test_deleted_line_is_named_by_seq(exported: Path) -> None:
    edit_lines(exported, "events.jsonl", lambda lines: lines[:9] + lines[10:])
    assert_fails(verify_cli(exported), "seq 9: the body says seq 10")


def test_reordered_lines_are_named_by_seq(exported: Path) -> None:
    edit_lines(
        exported, "events.jsonl", lambda lines: [*lines[:30], lines[31], lines[30], *lines[32:]]
    )
    assert_fails(verify_cli(exported), "seq 30: the body says seq 31")


def test_cut_short_below_a_checkpoint(exported: Path) -> None:
    edit_lines(exported, "events.jsonl", lambda lines: lines[:35])
    assert_fails(verify_cli(exported), "holds 35 events but a checkpoint was signed at size 40")


def test_rewritten_and_rechained_history_fails_the_checkpoint_root(exported: Path) -> None:
    def rewrite(lines: list[bytes]) -> list[bytes]:
        prev = None
        out = []
        for line in lines:
            envelope = json.loads(line)
            if envelope["seq"] == 3:
                envelope["payload"]["version"] = "forged"
            if prev is not None:
                envelope["prev"] = prev
            body = canonicalize(envelope)
            prev = hashlib.sha256(b"\x00" + body).hexdigest()
            out.append(body)
        return out

    edit_lines(exported, "events.jsonl", rewrite)
    assert_fails(
        verify_cli(exported), "root signed in the checkpoint of size 21", "history was rewritten"
    )


def test_altered_checkpoint(exported: Path) -> None:
    def forge_note(lines: list[bytes]) -> list[bytes]:
        row = json.loads(lines[1])
        row["note"] = row["note"].replace(f"\n{SIGNED}\n", f"\n{SIGNED - 1}\n")
        lines[1] = json.dumps(row).encode()
        return lines

    edit_lines(exported, "checkpoints.jsonl", forge_note)
    assert_fails(verify_cli(exported), "checkpoint at size 40", "forged or altered")


def test_checkpoint_row_that_disagrees_with_its_note(exported: Path) -> None:
    def change_root(lines: list[bytes]) -> list[bytes]:
        row = json.loads(lines[0])
        row["root"] = "00" * 32
        lines[0] = json.dumps(row).encode()
        return lines

    edit_lines(exported, "checkpoints.jsonl", change_root)
    assert_fails(verify_cli(exported), "disagree with the signed note")


def test_forged_manifest(exported: Path) -> None:
    manifest = exported / "MANIFEST"
    manifest.write_text(manifest.read_text().replace(manifest.read_text()[:64], "ab" * 32, 1))
    first = manifest.read_text().splitlines()[0].split("  ")[1]
    assert_fails(verify_cli(exported), f"{first} does not match its SHA-256 in MANIFEST")
    # A file added after the export, or one left out of MANIFEST, fails as well.
    rewrite_manifest(exported)
    (exported / "extra.txt").write_text("x")
    assert_fails(
        verify_cli(exported), "extra.txt is in the export directory but not in its MANIFEST"
    )


def test_a_file_changed_behind_the_manifest(exported: Path) -> None:
    info = exported / "ledger.json"
    info.write_text(info.read_text().replace('"size": 47', '"size": 48'))
    assert_fails(verify_cli(exported), "ledger.json does not match its SHA-256 in MANIFEST")


def test_not_an_export_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    done = auditml("verify", "--export", "random", cwd=tmp_path)
    assert done.returncode == 2 and "is not an auditml export" in done.stderr


# -- import-export ------------------------------------------------------------------------


def assert_same_ledger(original: str, restored: str, key_dir: Path) -> None:
    for table, order in (
        ("events", "seq"),
        ("tree_nodes", "level, idx"),
        ("checkpoints", "size"),
        ("public_keys", "key_id"),
        ("ledger_info", "origin"),
        ("subjects", "token"),
        ("class_keys", "class, epoch"),
        ("cosignatures", "size, key_id"),
    ):
        query = f"SELECT * FROM {table} ORDER BY {order}"
        assert [tuple(map(_plain, r)) for r in sql(original, query)] == [
            tuple(map(_plain, r)) for r in sql(restored, query)
        ], table
    with Ledger.open(restored, key_dir=key_dir) as ledger:
        signed = len(sql(original, "SELECT size FROM checkpoints"))
        assert ledger.verify(deep=True).checkpoints_verified == signed
        consent = ledger.get(CONSENT_SEQ)
        assert consent.payload["personal"] == {
            "name": "Alice Example",
            "email": "alice@example.com",
        }
        assert ledger.subject_token("alice@example.com") == consent.subject
        new_root = ledger.checkpoint()
        ledger.record("model.deployed", payload=deployed("after-restore"))
        assert ledger.verify(deep=True).size == SIZE + 1
    with Ledger.open(original, key_dir=key_dir) as ledger:
        again = ledger.checkpoint()
    # Same size, same root, and (Ed25519 is deterministic) the same signed note.
    assert (again.size, again.root, again.note) == (new_root.size, new_root.root, new_root.note)
    assert again.size == SIZE


def _plain(value: object) -> object:
    return bytes(value) if isinstance(value, memoryview) else value


def test_sqlite_to_postgres_round_trip(tmp_path: Path, postgres_url: str) -> None:
    original = f"sqlite:///{tmp_path / 'src.db'}"
    build(original, tmp_path / "keys")
    assert (
        auditml("--url", original, "--home", "keys", "export", "out", cwd=tmp_path).returncode == 0
    )
    done = auditml("--home", "keys", "import-export", "out", postgres_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{SIZE} events, 2 checkpoints" in done.stdout
    assert_same_ledger(original, postgres_url, tmp_path / "keys")


def test_postgres_to_sqlite_round_trip(tmp_path: Path, postgres_url: str) -> None:
    build(postgres_url, tmp_path / "keys")
    with Ledger.open(postgres_url, key_dir=tmp_path / "keys") as ledger:
        export_ledger(ledger, tmp_path / "out")
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    result = import_export(tmp_path / "out", restored, key_dir=tmp_path / "keys")
    assert result.check.size == SIZE and result.subjects == 1
    assert_same_ledger(postgres_url, restored, tmp_path / "keys")


def test_round_trip_keeps_what_a_purge_shredded(db_url: str, tmp_path: Path) -> None:
    clock = StepClock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    with Ledger.create(db_url, origin=ORIGIN, key_dir=tmp_path / "keys", clock=clock) as ledger:
        seqs = []
        for month in (1, 2):
            clock.now = datetime(2026, month, 10, 9, 0, tzinfo=UTC)
            for kind in ("consent.granted", "consent.withdrawn"):
                payload: dict[str, object] = {"purpose": "scoring"}
                if kind == "consent.granted":
                    payload["explicit"] = True
                receipt = ledger.record(kind, payload=payload, subject="ana", personal={"m": month})
                seqs.append((kind, month, receipt.seq))
        _, shredded = ledger.purge("2026-02-01T00:00:00Z", reason="r", types=["consent.granted"])
        assert shredded == 1
        export_ledger(ledger, tmp_path / "out")
    lines = (tmp_path / "out" / "class_keys.jsonl").read_text().splitlines()
    assert [(json.loads(x)["class"], json.loads(x)["epoch"]) for x in lines] == [
        ("consent.granted", "2026-02"),
        ("consent.withdrawn", "2026-01"),
        ("consent.withdrawn", "2026-02"),
    ]
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    import_export(tmp_path / "out", restored, key_dir=tmp_path / "keys")
    with Ledger.open(restored, key_dir=tmp_path / "keys") as ledger:
        for kind, month, seq in seqs:
            purged = kind == "consent.granted" and month == 1
            expected = {"erased": True} if purged else {"m": month}
            assert ledger.get(seq).payload["personal"] == expected, (kind, month)
        assert ledger.verify(deep=True).size == len(seqs) + 1


def test_small_chunks_join_into_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 8 lines: the stored nodes of levels 4 and 8 come from joining chunks."""
    monkeypatch.setattr(export_check, "CHUNK_LEVEL", 3)
    original = f"sqlite:///{tmp_path / 'src.db'}"
    with Ledger.create(original, origin=ORIGIN, key_dir=tmp_path / "keys") as ledger:
        for start in range(0, 300, 50):
            ledger.record_many(
                [
                    {"type": "model.deployed", "payload": deployed(str(i))}
                    for i in range(start, start + 50)
                ]
            )
            ledger.checkpoint()
        export_ledger(ledger, tmp_path / "out")
    assert verify_export(tmp_path / "out", key_dir=tmp_path / "keys").checkpoints_verified == 6
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    result = import_export(tmp_path / "out", restored, key_dir=tmp_path / "keys")
    assert result.nodes == len(sql(original, "SELECT level FROM tree_nodes")) == 300 // 16 + 1
    assert sql(restored, "SELECT * FROM tree_nodes ORDER BY level, idx") == sql(
        original, "SELECT * FROM tree_nodes ORDER BY level, idx"
    )
    with Ledger.open(restored, key_dir=tmp_path / "keys") as ledger:
        assert ledger.verify(deep=True).size == 300


def test_import_into_a_non_empty_database_is_refused(source: str, tmp_path: Path) -> None:
    with Ledger.open(source, key_dir=tmp_path / "keys") as ledger:
        export_ledger(ledger, tmp_path / "out")
    before = sql(source, "SELECT count(*) FROM events")
    done = auditml("--home", "keys", "import-export", "out", source, cwd=tmp_path)
    assert done.returncode == 2 and "already holds the ledger" in done.stderr
    assert "Traceback" not in done.stderr
    assert sql(source, "SELECT count(*) FROM events") == before


def test_a_tampered_export_writes_nothing(
    exported: Path, tmp_path: Path, postgres_url: str
) -> None:
    edit_lines(exported, "events.jsonl", lambda lines: lines[:5] + lines[6:])
    target = tmp_path / "never.db"
    done = auditml("--home", "keys", "import-export", "export", f"sqlite:///{target}", cwd=tmp_path)
    assert_fails(done, "seq 5")
    assert not list(tmp_path.glob("never.db*"))
    refused = auditml("--home", "keys", "import-export", "export", postgres_url, cwd=tmp_path)
    assert_fails(refused, "seq 5")
    assert sql(
        postgres_url,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    ) == [(0,)]


def test_witness_cosignatures_travel_with_the_export(tmp_path: Path, postgres_url: str) -> None:
    original = f"sqlite:///{tmp_path / 'src.db'}"
    build(original, tmp_path / "keys")
    witness = ["--url", original, "--home", "keys", "witness"]
    state = ["--state", "witness-a"]
    started = auditml(
        *witness,
        "init",
        "a.example/witness",
        *state,
        "--ledger-key",
        "keys/ledger.vkey",
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    assert auditml(*witness, "cosign", *state, cwd=tmp_path).returncode == 0
    assert (
        auditml("--url", original, "--home", "keys", "export", "out", cwd=tmp_path).returncode == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "out/cosignatures.jsonl").open()]
    assert [r["witness"] for r in rows] == ["a.example/witness"]
    assert verify_cli(tmp_path / "out").returncode == 0
    assert (
        auditml("--home", "keys", "import-export", "out", postgres_url, cwd=tmp_path).returncode
        == 0
    )
    assert_same_ledger(original, postgres_url, tmp_path / "keys")

    def forge(lines: list[bytes]) -> list[bytes]:
        row = json.loads(lines[0])
        row["root"] = "11" * 32
        lines[0] = json.dumps(row).encode()
        return lines

    edit_lines(tmp_path / "out", "cosignatures.jsonl", forge)
    assert_fails(verify_cli(tmp_path / "out"), "disagree with the signed note")


# -- tlog-tiles (--tiles) -------------------------------------------------------------------

TILED = 700  # events covered by the checkpoint: 2 full level-0 tiles and 188 leaves more


def test_tile_paths_follow_the_tlog_tiles_encoding() -> None:
    assert tiles.tile_path(0, 0) == "tile/0/000"
    assert tiles.tile_path(0, 1234567) == "tile/0/x001/x234/567"
    assert tiles.tile_path(2, 1000) == "tile/2/x001/000"
    assert tiles.tile_path(1, 1234067, 8) == "tile/1/x001/x234/067.p/8"
    assert tiles.tile_path("entries", 5, 255) == "tile/entries/005.p/255"
    assert list(tiles.tile_paths(0)) == []
    assert list(tiles.tile_paths(256)) == ["tile/0/000", "tile/entries/000", "tile/1/000.p/1"]
    # The spec's example: size 70,000 is 273 full level-0 tiles, a level-0 partial of 112,
    # one full level-1 tile, a level-1 partial of 17 and a level-2 partial of 1.
    paths = list(tiles.tile_paths(70_000))
    assert len([p for p in paths if p.startswith("tile/0/") and ".p/" not in p]) == 273
    assert [p for p in paths if ".p/" in p] == [
        "tile/0/273.p/112",
        "tile/entries/273.p/112",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ]
    assert "tile/1/000" in paths and len(paths) == 2 * 274 + 3


def build_tiled(url: str, key_dir: Path) -> None:
    """A ledger of TILED events with a checkpoint at TILED, and 5 events after it."""
    with Ledger.create(url, origin=ORIGIN, key_dir=key_dir, clock=StepClock()) as ledger:
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(TILED)]
        )
        ledger.checkpoint()
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(5)]
        )


def tile_names(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix() for p in (directory / "tile").rglob("*") if p.is_file()
    )


def test_tiles_match_the_checkpoint_and_the_stored_bodies(db_url: str, tmp_path: Path) -> None:
    build_tiled(db_url, tmp_path / "keys")
    with Ledger.open(db_url, key_dir=tmp_path / "keys") as ledger:
        result = export_ledger(ledger, tmp_path / "out", tiles=True)
    out = tmp_path / "out"
    assert tile_names(out) == sorted(
        [
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/188",
            "tile/1/000.p/2",
            "tile/entries/000",
            "tile/entries/001",
            "tile/entries/002.p/188",
        ]
    )
    assert result.tiles == 7 and result.latest_checkpoint_size == TILED
    bodies = [bytes(b) for (b,) in sql(db_url, "SELECT body FROM events ORDER BY seq")]
    assert len(bodies) == TILED + 5  # the events after the checkpoint are not tiled
    leaves = [merkle.hash_leaf(b) for b in bodies[:TILED]]
    ((note, root),) = sql(db_url, "SELECT note, root FROM checkpoints WHERE size = 700")
    assert (out / "checkpoint").read_text() == note
    # Known answer: the tiles' root is merkle.root over the leaves and the signed root,
    # read from the two tiles that hold the frontier only.
    computed, used = tiles.tile_root(out, TILED)
    assert computed == merkle.root(leaves) == bytes(root)
    assert used == ["tile/1/000.p/2", "tile/0/002.p/188"]
    # Level 0 is the leaf hashes, level 1 the roots of the full level-0 tiles.
    assert (out / "tile/0/001").read_bytes() == b"".join(leaves[256:512])
    assert (out / "tile/0/002.p/188").read_bytes() == b"".join(leaves[512:])
    assert (out / "tile/1/000.p/2").read_bytes() == merkle.root(leaves[:256]) + merkle.root(
        leaves[256:512]
    )
    # Every entry bundle decodes to the stored bodies, uint16 length-prefixed.
    assert (
        tiles.read_bundle(out, 0) + tiles.read_bundle(out, 1) + tiles.read_bundle(out, 2, 188)
        == bodies[:TILED]
    )
    assert (out / "tile/entries/000").read_bytes()[:2] == len(bodies[0]).to_bytes(2, "big")
    # MANIFEST lists the tiles by path; sha256sum and verify_export accept them.
    manifest = (out / "MANIFEST").read_text()
    assert "  tile/0/002.p/188\n" in manifest and "  checkpoint\n" in manifest
    check = subprocess.run(
        ["sha256sum", "--check", "--strict", "MANIFEST"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == 8 + 8, check.stdout
    assert verify_export(out, key_dir=tmp_path / "keys").size == TILED + 5


def rewrite_manifest_tree(directory: Path) -> None:
    """rewrite_manifest, tiles included (listed by path)."""
    names = sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != "MANIFEST"
    )
    (directory / "MANIFEST").write_text(
        "".join(f"{hashlib.sha256((directory / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    )


@pytest.fixture
def tiled(tmp_path: Path) -> Path:
    build_tiled(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "keys")
    done = auditml(
        "--url", f"sqlite:///{tmp_path / 'src.db'}", "--home", "keys", "export", "pristine",
        "--tiles", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tlog-tiles: checkpoint and 7 tile file(s) for size 700" in done.stdout
    assert verify_cli(tmp_path / "pristine").returncode == 0
    return tmp_path / "pristine"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tile/0/000", "tile/0/000: its root is not hash 0 of tile/1/000.p/2"),
        ("tile/0/001", "tile/0/001: its root is not hash 1 of tile/1/000.p/2"),
        ("tile/0/002.p/188", "tile/0/002.p/188: the root computed from these tiles"),
        ("tile/1/000.p/2", "tile/1/000.p/2, tile/0/002.p/188: the root computed"),
        ("tile/entries/001", "tile/entries/001: entry 256 does not hash to its leaf hash"),
        ("tile/entries/002.p/188", "tile/entries/002.p/188: entry 512 does not hash"),
        ("checkpoint", "checkpoint is not the latest checkpoint (size 700)"),
    ],
)
def test_an_altered_tile_or_bundle_fails_naming_it(
    tiled: Path, tmp_path: Path, name: str, message: str
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiled, out)
    data = bytearray((out / name).read_bytes())
    data[10] ^= 0x01  # inside the first hash, or the first entry's JSON
    (out / name).write_bytes(bytes(data))
    assert_fails(verify_cli(out), f"{name} does not match its SHA-256 in MANIFEST")
    rewrite_manifest_tree(out)  # the checks behind MANIFEST catch it too
    assert_fails(verify_cli(out), message)


def test_missing_or_extra_tiles_fail(tiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiled, out)
    (out / "tile/0/001").unlink()
    assert_fails(verify_cli(out), "tile/0/001 is missing from the export or from its MANIFEST")
    rewrite_manifest_tree(out)
    assert_fails(verify_cli(out), "tile/0/001 is missing: the checkpoint of size 700 needs it")
    shutil.copy(tiled / "tile/0/001", out / "tile/0/001")
    (out / "tile/0/003.p").mkdir()
    (out / "tile/0/003.p/1").write_bytes(b"\x00" * 32)
    rewrite_manifest_tree(out)
    assert_fails(verify_cli(out), "tile/0/003.p/1 is not a tile of the checkpoint's tree size")


def test_tiles_refuse_an_entry_over_65535_bytes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    with Ledger.create(url, origin=ORIGIN, key_dir=tmp_path / "keys", clock=StepClock()) as ledger:
        ledger.record("model.deployed", payload=deployed("1"))
        done = auditml("--url", url, "--home", "keys", "export", "out", "--tiles", cwd=tmp_path)
        assert done.returncode == 2 and "needs a signed checkpoint" in done.stderr, done.stderr
        ledger.record("model.trained", payload=trained(blob="a" * 70_000))
        ledger.checkpoint()
    done = auditml("--url", url, "--home", "keys", "export", "out", "--tiles", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "seq 1 is" in done.stderr and "over the 65535" in done.stderr
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    # Without --tiles the same ledger exports (an export line has no length limit).
    assert auditml("--url", url, "--home", "keys", "export", "out", cwd=tmp_path).returncode == 0
