"""Witnesses on both backends, real keys: cosigning, quorum verification, and the attacks
they exist to catch (rewritten history re-signed with a stolen key, split views, rollback)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from conftest import StepClock, deployed, disable_append_only, sql
from test_cli import auditml

from auditml import ConfigError, Ledger
from auditml.ledger import schema
from auditml.ledger.witness import CosignatureVerifier, parse_signature_line
from auditml.ledger.witnessing import cosign

ORIGIN = "test.example/ledger"


def _cli(db_url: str, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return auditml("--url", db_url, "--home", str(tmp_path / "keys"), *args, cwd=tmp_path)


def _witness(db_url: str, tmp_path: Path, label: str) -> Path:
    state = tmp_path / f"witness-{label}"
    done = _cli(
        db_url,
        tmp_path,
        "witness",
        "init",
        f"{label.lower()}.example/witness",
        "--state",
        str(state),
        "--ledger-key",
        str(tmp_path / "keys" / "ledger.vkey"),
    )
    assert done.returncode == 0, done.stderr
    return state


def _cosign(db_url: str, tmp_path: Path, state: Path):  # type: ignore[no-untyped-def]
    return _cli(db_url, tmp_path, "witness", "cosign", "--state", str(state))


def _policy(tmp_path: Path, quorum: str, *states: Path) -> Path:
    lines = [
        f"witness {state.name} {(state / 'witness.vkey').read_text().strip()}" for state in states
    ]
    path = tmp_path / "witnesses.policy"
    path.write_text("# who must have seen the ledger\n" + "\n".join(lines) + f"\nquorum {quorum}\n")
    return path


def _record(ledger: Ledger, count: int, version: str = "1.") -> None:
    ledger.record_many(
        [{"type": "model.deployed", "payload": deployed(f"{version}{i}")} for i in range(count)]
    )


def _rewrite(db_url: str, tmp_path: Path, count: int) -> None:
    """The database owner, holding the stolen ledger key, replaces the whole history with
    `count` other events and signs fresh checkpoints over it."""
    disable_append_only(db_url)
    for table in ("checkpoints", "tree_nodes", "events"):
        sql(db_url, f"DELETE FROM {table}")
    with Ledger.open(
        db_url, key_dir=tmp_path / "keys", clock=StepClock(), system="forged"
    ) as forged:
        _record(forged, count, version="9.")
        forged.checkpoint()


def test_init_writes_a_0600_key_a_cosigner_vkey_and_a_state_apart_from_the_ledger(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    state = _witness(db_url, tmp_path, "A")
    assert stat.S_IMODE((state / "witness.key").stat().st_mode) == 0o600
    verifier = CosignatureVerifier.from_vkey((state / "witness.vkey").read_text())
    assert verifier.name == "a.example/witness"
    doc = json.loads((state / "witness-state.json").read_text())
    assert doc["ledger_keys"] == [(tmp_path / "keys" / "ledger.vkey").read_text().strip()]
    assert doc["logs"] == {}
    again = _cli(db_url, tmp_path, "witness", "init", "a.example/w", "--state", str(state),
                 "--ledger-key", str(tmp_path / "keys" / "ledger.vkey"))  # fmt: skip
    assert again.returncode == 2 and "already holds a witness" in again.stderr
    inside = _cli(db_url, tmp_path, "witness", "init", "b.example/w", "--state",
                  str(tmp_path / "keys"), "--ledger-key", str(tmp_path / "keys" / "ledger.vkey"))  # fmt: skip
    assert inside.returncode == 2 and "ledger's key directory" in inside.stderr
    assert "Traceback" not in inside.stderr
    assert not (tmp_path / "keys" / "witness.key").exists()


def test_cosign_then_verify_against_a_two_of_two_policy(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    a, b = _witness(db_url, tmp_path, "A"), _witness(db_url, tmp_path, "B")
    _record(ledger, 3)
    policy = _policy(tmp_path, "2", a, b)
    none = _cli(db_url, tmp_path, "verify", "--witness-policy", str(policy))
    assert (
        none.returncode == 1 and "no checkpoint of 'test.example/ledger' is cosigned" in none.stderr
    )
    first = _cosign(db_url, tmp_path, a)
    assert first.returncode == 0 and "cosigned" in first.stdout, first.stderr
    one = _cli(db_url, tmp_path, "verify", "--witness-policy", str(policy))
    assert one.returncode == 1, one.stdout  # one of two is no quorum
    assert _cosign(db_url, tmp_path, b).returncode == 0
    again = _cosign(db_url, tmp_path, b)
    assert again.returncode == 0 and "already cosigned" in again.stdout
    _record(ledger, 2)  # the ledger grows past the witnessed size: still extends it
    ok = _cli(db_url, tmp_path, "verify", "--deep", "--witness-policy", str(policy), "--json")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["witnessed"] == {"size": 3, "witnesses": ["witness-A", "witness-B"]}
    assert result["trusted_checkpoint_size"] == 3
    assert _cosign(db_url, tmp_path, a).returncode == 0  # consistency 3 -> 5 proven
    state = json.loads((a / "witness-state.json").read_text())["logs"][ORIGIN]
    assert state["size"] == 5
    assert len(sql(db_url, "SELECT size FROM cosignatures")) == 3


def test_rewritten_history_resigned_with_the_stolen_key_is_caught(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    a = _witness(db_url, tmp_path, "A")
    _record(ledger, 4)
    assert _cosign(db_url, tmp_path, a).returncode == 0
    policy = _policy(tmp_path, "1", a)
    _rewrite(db_url, tmp_path, 6)
    # Everything the database holds is consistent and signed by the ledger key ...
    assert _cli(db_url, tmp_path, "verify", "--deep").returncode == 0
    # ... but not with what the witness saw.
    caught = _cli(db_url, tmp_path, "verify", "--witness-policy", str(policy))
    assert caught.returncode == 1
    assert "does not extend the checkpoint of size 4 cosigned by witness-A" in caught.stderr
    assert "Traceback" not in caught.stderr
    trusted = _cli(
        db_url, tmp_path, "verify", "--trusted-checkpoint", str(a / "witness-state.json")
    )
    assert trusted.returncode == 1 and "history before seq 4 was changed" in trusted.stderr
    before = (a / "witness-state.json").read_bytes()
    refused = _cosign(db_url, tmp_path, a)
    assert refused.returncode == 1 and "is not consistent with the one of size 4" in refused.stderr
    assert (a / "witness-state.json").read_bytes() == before


def test_a_witness_shown_two_checkpoints_of_one_size_refuses_the_second(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    a = _witness(db_url, tmp_path, "A")
    _record(ledger, 3)
    assert _cosign(db_url, tmp_path, a).returncode == 0
    before = (a / "witness-state.json").read_bytes()
    _rewrite(db_url, tmp_path, 3)
    refused = _cosign(db_url, tmp_path, a)
    assert refused.returncode == 1
    assert "shown two different checkpoints of size 3" in refused.stderr
    assert "witness state unchanged" in refused.stderr
    assert (a / "witness-state.json").read_bytes() == before
    assert len(sql(db_url, "SELECT size FROM cosignatures")) == 1


def test_a_rolled_back_ledger_is_refused_by_the_witness(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    a = _witness(db_url, tmp_path, "A")
    _record(ledger, 5)
    assert _cosign(db_url, tmp_path, a).returncode == 0
    before = (a / "witness-state.json").read_bytes()
    disable_append_only(db_url)
    sql(db_url, "DELETE FROM events WHERE seq >= 3")
    sql(db_url, "DELETE FROM tree_nodes")
    truncate = "DELETE FROM checkpoints" if db_url.startswith("sqlite") else "TRUNCATE checkpoints"
    sql(db_url, truncate)
    refused = _cosign(db_url, tmp_path, a)
    assert refused.returncode == 1
    assert "smaller than the size 5 this witness already cosigned" in refused.stderr
    assert "rolled back" in refused.stderr
    assert (a / "witness-state.json").read_bytes() == before
    trusted = _cli(
        db_url, tmp_path, "verify", "--trusted-checkpoint", str(a / "witness-state.json")
    )
    assert trusted.returncode == 1 and "rolled back" in trusted.stderr


def test_cosignatures_are_append_only(ledger: Ledger, db_url: str, tmp_path: Path) -> None:
    a = _witness(db_url, tmp_path, "A")
    _record(ledger, 2)
    assert _cosign(db_url, tmp_path, a).returncode == 0
    for statement in ("UPDATE cosignatures SET size = 9", "DELETE FROM cosignatures"):
        with pytest.raises(Exception, match="cosignatures is append-only"):
            sql(db_url, statement)
    if not db_url.startswith("sqlite"):
        with pytest.raises(Exception, match="cosignatures is append-only"):
            sql(db_url, "TRUNCATE cosignatures")
    assert len(sql(db_url, "SELECT size FROM cosignatures")) == 1


def test_db_upgrade_brings_a_0001_ledger_to_head(db_url: str, tmp_path: Path) -> None:
    with Ledger.create(db_url, origin=ORIGIN, key_dir=tmp_path / "keys") as ledger:
        _record(ledger, 2)
    # A ledger as revision 0001 left it: no cosignatures table, nor 0003's class_keys,
    # nor what 0004 added (keys_withheld, the sealing index, PostgreSQL's functions).
    sql(db_url, "DROP TABLE cosignatures")
    sql(db_url, "DROP TABLE class_keys")
    sql(db_url, "DROP INDEX ix_events_sealing")
    sql(db_url, "ALTER TABLE ledger_info DROP COLUMN keys_withheld")
    if not db_url.startswith("sqlite"):
        sql(db_url, "DROP FUNCTION auditml_erase_subject, auditml_purge_class_keys")
    sql(db_url, "UPDATE alembic_version SET version_num = '0001'")
    with pytest.raises(ConfigError, match=f"revision 0001; this auditml needs {schema.HEAD}"):
        Ledger.open(db_url, key_dir=tmp_path / "keys")
    done = _cli(db_url, tmp_path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"from revision 0001 to {schema.HEAD}" in done.stdout
    assert sql(db_url, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]
    a = _witness(db_url, tmp_path, "A")
    assert _cosign(db_url, tmp_path, a).returncode == 0
    with pytest.raises(Exception, match="cosignatures is append-only"):
        sql(db_url, "DELETE FROM cosignatures")
    assert (
        _cli(
            db_url, tmp_path, "verify", "--witness-policy", str(_policy(tmp_path, "1", a))
        ).returncode
        == 0
    )


def test_a_report_embeds_the_cosigned_checkpoint_and_lists_the_witnesses(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from auditml.ledger import merkle
    from auditml.ledger.note import Checkpoint, Note
    from auditml.policy.loader import default_policies_dir, load_rules
    from auditml.report.assemble import assemble
    from auditml.report.render import render_html

    signer = {
        "name": "D",
        "role": "DPO",
        "meaning": "approved",
        "certificate_sha256": "00",
        "ca_sha256": "00",
    }
    rules = load_rules(default_policies_dir())
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    _record(ledger, 3)
    plain = assemble(ledger, rules, as_of=as_of, signer=signer, keys=[])  # type: ignore[arg-type]
    assert "witnessed" not in json.loads(plain.evidence) and "witnessed" not in plain.report
    assert "No witness has cosigned" in render_html(plain.report)
    a = _witness(db_url, tmp_path, "A")
    assert _cosign(db_url, tmp_path, a).returncode == 0
    _record(ledger, 2)
    made = assemble(ledger, rules, as_of=as_of, signer=signer, keys=[])  # type: ignore[arg-type]
    witnessed = json.loads(made.evidence)["witnessed"]
    note = Note.parse(witnessed["checkpoint"])
    assert [s.name for s in note.signatures] == [ORIGIN, "a.example/witness"]
    cosigned = Checkpoint.from_text(note.text)
    cover = made.report["checkpoint"]
    assert cosigned.size < cover["size"]
    merkle.verify_consistency(
        cosigned.size,
        cover["size"],
        [bytes.fromhex(h) for h in witnessed["consistency_proof"]],
        cosigned.root,
        bytes.fromhex(cover["root_hex"]),
    )
    assert made.report["witnessed"]["witnesses"] == ["a.example/witness"]
    html = render_html(made.report)
    assert "a.example/witness" in html and "Cosigned tree size" in html
    assert f"is a prefix of the ledger at size {cover['size']}" in html
    # Cosigned at the very size of the cover: said so, with no prefix claim.
    assert _cosign(db_url, tmp_path, a).returncode == 0
    same = assemble(ledger, rules, as_of=as_of, signer=signer, keys=[])  # type: ignore[arg-type]
    assert same.report["witnessed"]["size"] == same.report["checkpoint"]["size"]
    assert "cosigned the very checkpoint on the cover" in render_html(same.report)


def test_cosign_without_a_witness_there_says_what_to_do(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    done = _cli(db_url, tmp_path, "witness", "cosign", "--state", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "run `auditml witness init`" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "nowhere").exists()


def test_cosignature_timestamps_never_go_backwards(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    """A witness whose clock is set back still never issues an older timestamp."""
    state = _witness(db_url, tmp_path, "A")
    _record(ledger, 2)
    assert cosign(ledger, state, now=lambda: 2_000_000_000.0).new
    _record(ledger, 2)
    later = cosign(ledger, state, now=lambda: 1_000_000_000.0)
    assert later.new and later.size == 4
    entry = json.loads((state / "witness-state.json").read_text())["logs"][ORIGIN]
    own = [
        parse_signature_line(line)
        for line in entry["checkpoint"].splitlines()
        if line.startswith("\u2014 a.example/witness ")
    ]
    assert entry["timestamp"] == 2_000_000_000
    assert int.from_bytes(own[-1].signature[:8], "big") == 2_000_000_000
