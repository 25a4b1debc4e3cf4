"""The Ledger on a real database (SQLite file, PostgreSQL server): recording, refusals, idempotency, checkpoints, proofs."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import StepClock, deployed, sql, trained
from sqlalchemy.exc import DBAPIError

from auditml import ConfigError, Ledger, StorageError, ValidationError
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.ledger.note import Checkpoint, open_checkpoint
from auditml.ledger.store import Store


def test_record_builds_a_hash_chain_of_canonical_envelopes(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    first = ledger.record("model.deployed", payload=deployed("1.0"))
    second = ledger.record(
        "model.retired", payload=deployed("1.0"), occurred_at="2026-01-01T10:00:00+01:00"
    )
    assert (first.seq, second.seq) == (0, 1)
    stored = sql(db_url, "SELECT seq, body, leaf_hash, occurred_at FROM events ORDER BY seq")
    envelopes = [json.loads(body) for _, body, _, _ in stored]
    assert envelopes[0]["prev"] == "0" * 64
    assert envelopes[1]["prev"] == stored[0][2].hex() == first.leaf_hash
    for _, body, leaf, _ in stored:
        assert canonicalize(json.loads(body)) == body
        assert merkle.hash_leaf(body) == leaf
    # occurred_at is normalised to UTC with microseconds; recorded_at is ledger time.
    assert envelopes[1]["occurred_at"] == "2026-01-01T09:00:00.000000Z" == stored[1][3]
    assert envelopes[0]["occurred_at"] == envelopes[0]["recorded_at"]
    assert envelopes[0]["actor"] == {"id": "auditml-sdk", "kind": "service"}
    assert envelopes[0]["system"] == "default" and envelopes[0]["v"] == 1


def test_recorded_at_never_decreases_even_when_the_clock_goes_back(
    db_url: str, tmp_path: Path
) -> None:
    may, april = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    times = iter([may, may, april, april])  # create, first record, then the clock jumps back
    with Ledger.create(
        db_url, origin="t.example/l", key_dir=tmp_path / "k", clock=lambda: next(times)
    ) as ledger:
        ledger.record("model.deployed", payload=deployed())
        ledger.record("model.deployed", payload=deployed("2"))
        stamps = [e.recorded_at for e in ledger.events()]
    assert stamps == ["2026-05-01T00:00:00.000000Z"] * 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"type": "model.deployd", "payload": {}},
            "unknown event type 'model.deployd' (did you mean 'model.deployed'?)",
        ),
        ({"type": "model.trained", "payload": trained(x=float("nan"))}, "NaN"),
        ({"type": "model.trained", "payload": trained(x=float("inf"))}, "Infinity"),
        ({"type": "model.trained", "payload": trained(x="\ud800")}, "UTF-8"),
        ({"type": "model.trained", "payload": trained(x=2**60)}, "payload.params: integer"),
        (
            {"type": "model.trained", "payload": trained(blob="a" * 300_000)},
            "over the limit of 262144",
        ),
        ({"type": "model.deployed", "payload": {"model": "m"}}, "payload.version"),
        ({"type": "model.deployed", "payload": deployed(colour="red")}, "colour"),
        ({"type": "model.deployed", "payload": deployed(version=3)}, "payload.version"),
        (
            {"type": "model.deployed", "payload": deployed(), "occurred_at": "2026-01-01T10:00:00"},
            "no timezone",
        ),
        ({"type": "model.deployed", "payload": deployed(), "id": "has space"}, "event id"),
        ({"type": "model.deployed", "payload": [1, 2]}, "must be a JSON object"),
        ({"type": ["model.deployed"], "payload": {}}, "unknown event type"),
        (
            {"type": "model.deployed", "payload": deployed(), "personal": {"name": "Ana"}},
            "give the subject",
        ),
        ({"type": "model.deployed", "payload": deployed(), "subject": ""}, "subject must be"),
        (
            {
                "type": "model.deployed",
                "payload": deployed(),
                "actor": {"id": "x", "kind": "robot"},
            },
            "actor",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_written(
    ledger: Ledger, kwargs: dict, message: str, tmp_path: Path, db_url: str
) -> None:
    ledger.record("model.deployed", payload=deployed("0"))
    with pytest.raises(ValidationError) as caught:
        ledger.record_many([{"type": "model.deployed", "payload": deployed("ok")}, kwargs])
    assert message in str(caught.value)
    assert str(caught.value).startswith("event 2 of the batch")
    assert sql(db_url, "SELECT count(*) FROM events") == [(1,)]


def test_client_ids_are_idempotency_keys(ledger: Ledger) -> None:
    first = ledger.record("model.deployed", payload=deployed(), id="deploy-credit-1.0")
    again = ledger.record("model.deployed", payload=deployed(), id="deploy-credit-1.0")
    assert again == first and len(ledger) == 1
    with pytest.raises(ValidationError, match="already recorded .seq 0. with different content"):
        ledger.record("model.deployed", payload=deployed("2.0"), id="deploy-credit-1.0")
    # The same id twice in one batch: one event when equal, an error when not.
    receipts = ledger.record_many(
        [
            {"type": "model.retired", "payload": deployed(), "id": "r-1"},
            {"type": "model.retired", "payload": deployed(), "id": "r-1"},
        ]
    )
    assert receipts[0] == receipts[1] and len(ledger) == 2
    with pytest.raises(ValidationError, match="twice in this batch"):
        ledger.record_many(
            [
                {"type": "model.retired", "payload": deployed(), "id": "r-2"},
                {"type": "model.retired", "payload": deployed("9"), "id": "r-2"},
            ]
        )
    assert len(ledger) == 2


def test_a_batch_is_all_or_nothing_when_the_database_refuses(ledger: Ledger, db_url: str) -> None:
    ledger.record("model.deployed", payload=deployed(), id="taken")
    # The database refuses the fourth row of the batch: the whole transaction goes.
    if db_url.startswith("sqlite"):
        sql(
            db_url,
            "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.seq = 3 "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
    else:
        sql(
            db_url,
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'boom'; END $$",
        )
        sql(
            db_url,
            "CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.seq = 3) "
            "EXECUTE FUNCTION boom()",
        )
    with pytest.raises(StorageError, match="boom"):
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(5)]
        )
    assert len(ledger) == 1
    assert sql(db_url, "SELECT count(*) FROM events") == [(1,)]
    sql(db_url, "DROP TRIGGER boom" + ("" if db_url.startswith("sqlite") else " ON events"))
    ledger.record_many([{"type": "model.deployed", "payload": deployed(str(i))} for i in range(5)])
    assert ledger.verify(deep=True).size == 6


def test_append_only_triggers_refuse_update_and_delete(ledger: Ledger, db_url: str) -> None:
    # 16 events: the first stored tree node (level 4) exists too.
    ledger.record_many([{"type": "model.deployed", "payload": deployed(str(i))} for i in range(16)])
    ledger.checkpoint()
    refused = [
        "UPDATE events SET type = 'x'",
        "DELETE FROM events",
        "UPDATE checkpoints SET note = ''",
        "DELETE FROM checkpoints",
        "DELETE FROM public_keys",
        "UPDATE ledger_info SET origin = 'x'",
        "UPDATE tree_nodes SET hash = hash",
    ]
    if not db_url.startswith("sqlite"):  # SQLite has no TRUNCATE
        refused += [f"TRUNCATE {t}" for t in ("events", "checkpoints", "tree_nodes")]
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            sql(db_url, statement)
    assert len(ledger) == 16 and ledger.verify(deep=True).size == 16


def test_ledger_key_is_private_and_checkpoints_are_signed_notes(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    key = tmp_path / "keys" / "ledger.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    ledger.record_many([{"type": "model.deployed", "payload": deployed(str(i))} for i in range(10)])
    checkpoint = ledger.checkpoint()
    assert ledger.checkpoint() == checkpoint  # same size: the same checkpoint, not a second one
    verifiers = load_vkey_file(tmp_path / "keys" / "ledger.vkey")
    parsed = open_checkpoint(checkpoint.note, verifiers)
    assert parsed == Checkpoint("test.example/ledger", 10, bytes.fromhex(checkpoint.root))
    leaves = [bytes(r[0]) for r in sql(db_url, "SELECT leaf_hash FROM events ORDER BY seq")]
    assert parsed.root == merkle.root(leaves)
    assert checkpoint.note.splitlines()[:2] == ["test.example/ledger", "10"]


def test_passphrase_protected_key(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITML_KEY_PASSPHRASE", "correct horse")
    with Ledger.create(db_url, origin="t.example/l", key_dir=tmp_path / "k") as ledger:
        ledger.record("model.deployed", payload=deployed())
        assert ledger.checkpoint().size == 1
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "k" / "ledger.key").read_bytes()
    monkeypatch.setenv("AUDITML_KEY_PASSPHRASE", "wrong")
    with Ledger.open(db_url, key_dir=tmp_path / "k") as ledger:
        ledger.record("model.deployed", payload=deployed("2"))
        with pytest.raises(ConfigError, match="wrong passphrase"):
            ledger.checkpoint()
    monkeypatch.delenv("AUDITML_KEY_PASSPHRASE")
    with (
        Ledger.open(db_url, key_dir=tmp_path / "k") as ledger,
        pytest.raises(ConfigError, match="encrypted"),
    ):
        ledger.checkpoint()


def test_key_readable_by_others_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    (tmp_path / "keys" / "ledger.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Ledger.open(ledger.settings.url, key_dir=tmp_path / "keys").checkpoint()


def test_automatic_checkpoints_every_n_events(tmp_path: Path, clock: StepClock) -> None:
    (tmp_path / "auditml.toml").write_text(
        "[auditml]\ncheckpoint_every_events = 100\ncheckpoint_every_seconds = 0\n"
    )
    with Ledger.create(
        f"sqlite:///{tmp_path}/a.db", origin="t.example/a", key_dir=tmp_path / "k", clock=clock
    ) as ledger:
        for start in range(0, 350, 50):
            ledger.record_many(
                [
                    {"type": "model.deployed", "payload": deployed(str(i))}
                    for i in range(start, start + 50)
                ]
            )
        assert [c.size for c in ledger.checkpoints()] == [100, 200, 300]
        assert ledger.verify().checkpoints_verified == 3


def test_inclusion_proofs_from_stored_nodes_match_the_reference(
    ledger: Ledger, tmp_path: Path, db_url: str
) -> None:
    ledger.record_many(
        [{"type": "model.deployed", "payload": deployed(str(i))} for i in range(300)]
    )
    leaves = [bytes(r[0]) for r in sql(db_url, "SELECT leaf_hash FROM events ORDER BY seq")]
    for size in (1, 2, 15, 16, 17, 255, 256, 257, 300):
        for seq in {0, size // 2, size - 1}:
            assert ledger.inclusion_proof(seq, size) == merkle.inclusion_proof(seq, size, leaves)
        for old in (0, 1, size // 3, size - 1, size):
            assert ledger.consistency_proof(old, size) == merkle.consistency_proof(
                old, size, leaves
            )
    # Only levels 4, 8, ... are stored: about n/15 rows, not n.
    assert sql(db_url, "SELECT DISTINCT level FROM tree_nodes ORDER BY level") == [
        (4,),
        (8,),
    ]
    assert sql(db_url, "SELECT count(*) FROM tree_nodes") == [(300 // 16 + 300 // 256,)]


def test_prove_writes_evidence_that_verifies_offline(ledger: Ledger, tmp_path: Path) -> None:
    receipts = ledger.record_many(
        [{"type": "model.deployed", "payload": deployed(str(i)), "id": f"d-{i}"} for i in range(40)]
    )
    evidence = ledger.prove("d-17")  # no checkpoint yet: prove signs one first
    assert evidence["format"] == "auditml.evidence/v1"
    assert evidence["events"][0]["seq"] == receipts[17].seq
    result = verify_evidence(evidence, load_vkey_file(tmp_path / "keys" / "ledger.vkey"))
    assert (result.checkpoint.size, result.events_verified) == (40, 1)
    # Proofs against an older checkpoint stay valid after the ledger grows.
    ledger.record("model.retired", payload=deployed())
    older = ledger.prove(17, size=40)
    assert (
        verify_evidence(older, load_vkey_file(tmp_path / "keys" / "ledger.vkey")).checkpoint.size
        == 40
    )


def test_events_reads_filter_and_order(ledger: Ledger) -> None:
    ledger.record(
        "model.deployed", payload=deployed("1"), system="credit", occurred_at="2026-02-01T00:00:00Z"
    )
    ledger.record(
        "model.retired", payload=deployed("1"), system="credit", occurred_at="2026-03-01T00:00:00Z"
    )
    ledger.record(
        "model.deployed", payload=deployed("2"), system="fraud", occurred_at="2026-04-01T00:00:00Z"
    )
    assert [e.seq for e in ledger.events(type="model.deployed")] == [0, 2]
    assert [e.seq for e in ledger.events(system="credit", newest_first=True)] == [1, 0]
    assert [
        e.seq for e in ledger.events(since="2026-02-15T00:00:00Z", until="2026-04-01T00:00:00Z")
    ] == [1]
    assert ledger.get(1).type == "model.retired" and ledger.get(ledger.get(2).id).seq == 2


def test_open_without_a_ledger_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `auditml init`"):
        Ledger.open(f"sqlite:///{tmp_path}/missing.db")
    with pytest.raises(ConfigError, match="already holds the ledger"):
        Ledger.create(
            f"sqlite:///{tmp_path}/x.db", origin="a.example/x", key_dir=tmp_path / "k"
        ).close()
        Ledger.create(f"sqlite:///{tmp_path}/x.db", origin="a.example/x", key_dir=tmp_path / "k")


def test_automatic_checkpoint_after_t_seconds_of_ledger_time(tmp_path: Path) -> None:
    (tmp_path / "auditml.toml").write_text(
        "[auditml]\ncheckpoint_every_events = 0\ncheckpoint_every_seconds = 3600\n"
    )
    clock = StepClock()
    with Ledger.create(
        f"sqlite:///{tmp_path}/t.db", origin="t.example/t", key_dir=tmp_path / "k", clock=clock
    ) as ledger:
        ledger.record("model.deployed", payload=deployed("1"))
        assert ledger.checkpoints() == []
        clock.now = clock.now.replace(hour=clock.now.hour + 2)
        ledger.record("model.deployed", payload=deployed("2"))
        assert [c.size for c in ledger.checkpoints()] == [2]


def test_a_key_directory_belongs_to_one_ledger(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already holds the key of another ledger"):
        Ledger.create(
            f"sqlite:///{tmp_path}/other.db", origin="other.example/l", key_dir=tmp_path / "keys"
        )
    # Refused before anything was written: no tables in the new database.
    assert sql(f"sqlite:///{tmp_path}/other.db", "SELECT name FROM sqlite_master") == []


def test_events_by_occurrence_stream_in_pages_without_gaps(ledger: Ledger, tmp_path: Path) -> None:
    # A batch without occurred_at shares one time: pages must not lose or repeat rows
    # inside such a run. Earlier occurrences recorded later come first.
    ledger.record_many([{"type": "model.deployed", "payload": deployed(str(i))} for i in range(11)])
    ledger.record_many(
        [
            {
                "type": "model.deployed",
                "payload": deployed(f"early-{i}"),
                "occurred_at": f"2025-12-0{1 + i % 3}T00:00:00Z",
                **({"system": "other"} if i % 2 else {}),
            }
            for i in range(7)
        ]
    )
    everything = [(e.occurred_at, e.seq) for e in ledger.events()]
    store = Store.connect(ledger.settings.url)
    try:
        with store.read(whole_file=True) as conn:
            for page in (1, 2, 3, 5, 100):
                seen = [
                    json.loads(body)
                    for body in store.bodies_by_occurrence(
                        conn, recorded_until="9999-12-31T00:00:00.000000Z", page=page
                    )
                ]
                assert [(e["occurred_at"], e["seq"]) for e in seen] == sorted(everything)
            other = list(
                store.bodies_by_occurrence(
                    conn, recorded_until="9999-12-31T00:00:00.000000Z", system="other", page=2
                )
            )
            # The other system's events (i odd) by occurrence: 1 Dec, 2 Dec, 3 Dec.
            versions = [json.loads(b)["payload"]["version"] for b in other]
            assert versions == ["early-3", "early-1", "early-5"]
            assert not list(
                store.bodies_by_occurrence(conn, recorded_until="2000-01-01T00:00:00.000000Z")
            )
    finally:
        store.close()
    # Through the ledger: parsed, and the same order.
    as_of = datetime(9999, 1, 1, tzinfo=UTC)
    streamed = [
        (e["occurred_at"], e["seq"]) for e in ledger.envelopes_by_occurrence(recorded_until=as_of)
    ]
    assert streamed == sorted(everything)
