"""Rotating the ledger key and the report-signing certificate, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from conftest import StepClock, deployed, sql
from test_cli import auditml

from auditml import ConfigError, IntegrityError, Ledger
from auditml.ledger import merkle
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.export import export_ledger
from auditml.ledger.export_check import verify_export
from auditml.ledger.keys import load_ledger_key, load_vkey_file
from auditml.ledger.note import Checkpoint, open_checkpoint, sign_note
from auditml.report.identity import CA_CERT_FILE, SIGNING_CERT_FILE, load_certificate
from auditml.report.issue import checkpoint_key_fingerprint, ledger_key_fingerprint


def record(ledger: Ledger, n: int, tag: str) -> None:
    ledger.record_many(
        [{"type": "model.deployed", "payload": deployed(f"{tag}{i}")} for i in range(n)]
    )


def test_rotation_is_vouched_for_by_the_old_key_and_both_eras_verify(
    ledger: Ledger, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    old_vkeys = load_vkey_file(keys / "ledger.vkey")
    record(ledger, 5, "a")
    assert ledger.checkpoint().size == 5
    old_evidence = ledger.prove(2)

    receipt, new = ledger.rotate_key()

    rotated = ledger.get(receipt.seq)
    assert rotated.type == "key.rotated"
    assert rotated.payload == {"key_id": new.key_id, "purpose": "checkpoint"}
    # The checkpoint covering key.rotated is signed by the old key, and only by it.
    (binding,) = [c for c in ledger.checkpoints() if c.size == receipt.seq + 1]
    assert open_checkpoint(binding.note, old_vkeys).size == receipt.seq + 1
    with pytest.raises(Exception, match="signature"):
        open_checkpoint(binding.note, [new])
    # From now on the new key signs; the key directory trusts both and holds only the new.
    record(ledger, 3, "b")
    after = ledger.checkpoint()
    assert open_checkpoint(after.note, [new]).size == len(ledger)
    assert [k.key_id for k in load_vkey_file(keys / "ledger.vkey")] == [
        old_vkeys[0].key_id,
        new.key_id,
    ]
    assert load_ledger_key(keys, ledger.origin).verifier == new
    assert stat.S_IMODE((keys / "ledger.key").stat().st_mode) == 0o600
    assert not (keys / "ledger.key.next").exists()
    result = ledger.verify(deep=True)
    assert result.size == len(ledger) and result.checkpoints_verified == 3
    export_ledger(ledger, tmp_path / "export")  # both eras verify from an export too
    assert verify_export(tmp_path / "export", key_dir=keys).size == len(ledger)
    # Evidence from before the rotation still verifies with the old key alone.
    assert verify_evidence(old_evidence, old_vkeys).events_verified == 1


def test_an_auditor_with_only_the_old_vkey_follows_the_rotation(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    shutil.copy(tmp_path / "keys" / "ledger.vkey", auditor / "ledger.vkey")
    record(ledger, 4, "a")
    ledger.rotate_key()
    record(ledger, 4, "b")
    ledger.checkpoint()
    with Ledger.open(db_url, key_dir=auditor) as seen:
        keys, source = seen.verifiers()
        assert len(keys) == 2 and "rotations it vouches for" in source
        assert seen.verify(deep=True).checkpoints_verified == 2
    # The same from an export, with no database: the chain vouches for the new key.
    export_ledger(ledger, tmp_path / "export")
    assert verify_export(tmp_path / "export", key_dir=auditor).size == len(ledger)


def test_a_checkpoint_forged_with_the_retired_key_is_refused(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    old_key = load_ledger_key(tmp_path / "keys", ledger.origin)  # the thief's copy
    record(ledger, 4, "a")
    ledger.rotate_key()
    record(ledger, 4, "b")
    # The thief signs the true root of a later size with the old key and stores it.
    record(ledger, 1, "c")
    leaves = [bytes(r[0]) for r in sql(db_url, "SELECT leaf_hash FROM events ORDER BY seq")]
    size, root = len(leaves), merkle.root(leaves)
    forged = sign_note(Checkpoint(ledger.origin, size, root).to_text(), [old_key])
    sql(
        db_url,
        "INSERT INTO checkpoints (size, root, note, created_at) VALUES (:s, :r, :n, :t)",
        s=size,
        r=root,
        n=forged,
        t="2026-02-01T00:00:00.000000Z",
    )
    with pytest.raises(IntegrityError, match="signed by a retired ledger key"):
        ledger.verify()
    # An export of that ledger is refused for the same reason, with no database at all.
    export_ledger(ledger, tmp_path / "export")
    with pytest.raises(IntegrityError, match="signed by a retired ledger key"):
        verify_export(tmp_path / "export", key_dir=tmp_path / "keys")


def test_a_key_slipped_into_the_database_is_not_trusted(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    """A rotation event and key row written by the database owner, with no checkpoint of
    the old key vouching for them, do not make the owner's key trusted."""
    from auditml.ledger.keys import create_ledger_key

    rogue = create_ledger_key(tmp_path / "rogue", ledger.origin).verifier
    record(ledger, 3, "a")
    ledger.record("key.rotated", payload={"key_id": rogue.key_id, "purpose": "checkpoint"})
    sql(
        db_url,
        "INSERT INTO public_keys (key_id, name, vkey, purpose, created_at) "
        "VALUES (:k, :n, :v, 'checkpoint', '2026-02-01T00:00:00.000000Z')",
        k=rogue.key_id,
        n=ledger.origin,
        v=rogue.to_vkey(),
    )
    with pytest.raises(IntegrityError, match="vouches for it"):
        ledger.verify()
    # Signing is refused too: the ledger now names a key this key directory lacks.
    with pytest.raises(ConfigError, match="the ledger key was rotated"):
        ledger.checkpoint()
    export_ledger(ledger, tmp_path / "export")
    with pytest.raises(IntegrityError, match="vouches for it"):
        verify_export(tmp_path / "export", key_dir=tmp_path / "keys")


def test_other_processes_follow_the_rotation_or_refuse(
    db_url: str, tmp_path: Path, clock: StepClock
) -> None:
    keys = tmp_path / "keys"
    stale_dir = tmp_path / "stale"
    with Ledger.create(db_url, origin="test.example/rot", key_dir=keys, clock=clock) as one:
        record(one, 3, "a")
        shutil.copytree(keys, stale_dir)  # a machine that never got the new key
        with Ledger.open(db_url, key_dir=keys, clock=clock) as two:
            two.checkpoint()  # loads the key now, before the rotation
            one.rotate_key()
            record(two, 2, "b")
            # The same key directory: the other process picks up the new key.
            assert open_checkpoint(two.checkpoint().note, load_vkey_file(keys / "ledger.vkey"))
        with Ledger.open(db_url, key_dir=stale_dir, clock=clock) as stale:
            record(stale, 1, "c")
            with pytest.raises(ConfigError, match="the ledger key was rotated"):
                stale.checkpoint()
        assert one.verify(deep=True).size == 7


def test_keys_rotate_from_the_cli(tmp_path: Path) -> None:
    assert auditml("init", "--origin", "bank.example/l", cwd=tmp_path).returncode == 0
    home = tmp_path / ".auditml"
    old_cert = load_certificate(home / SIGNING_CERT_FILE)
    done = auditml("keys", "rotate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rotated the ledger key" in done.stdout and "new verifier key" in done.stdout
    signing = auditml("keys", "rotate", "--report-signing", cwd=tmp_path)
    assert signing.returncode == 0, signing.stderr
    new_cert = load_certificate(home / SIGNING_CERT_FILE)
    ca = load_certificate(home / CA_CERT_FILE)
    assert new_cert.fingerprint(ca.signature_hash_algorithm) != old_cert.fingerprint(
        ca.signature_hash_algorithm
    )
    assert new_cert.issuer == ca.subject and new_cert.subject == old_cert.subject
    assert stat.S_IMODE((home / "report-signing.key").stat().st_mode) == 0o600
    logged = auditml("log", "--json", "--type", "key.rotated", cwd=tmp_path)
    purposes = sorted(e["payload"]["purpose"] for e in json.loads(logged.stdout))
    assert purposes == ["checkpoint", "report signing certificate"]
    assert auditml("verify", "--deep", cwd=tmp_path).returncode == 0


def test_an_interrupted_rotation_is_finished_not_repeated(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation was recorded, then the process died before the new key file was moved
    into place: running it again finishes it with the staged key, and records nothing twice."""
    import auditml.ledger.ledger as ledger_module

    record(ledger, 3, "a")
    real_promote = ledger_module.promote_next_ledger_key

    def crash(*_: object) -> None:
        raise OSError("killed before the key file was replaced")

    monkeypatch.setattr(ledger_module, "promote_next_ledger_key", crash)
    with pytest.raises(OSError):
        ledger.rotate_key()
    keys = tmp_path / "keys"
    assert (keys / "ledger.key.next").exists()
    monkeypatch.setattr(ledger_module, "promote_next_ledger_key", real_promote)
    with Ledger.open(ledger._settings.url, key_dir=keys) as again:
        receipt, new = again.rotate_key()
        assert [e.seq for e in again.events(type="key.rotated")] == [receipt.seq]
        assert load_ledger_key(keys, again.origin).verifier == new
        assert again.verify(deep=True).size == len(again)


def test_a_report_names_the_key_that_signed_its_checkpoint_not_the_first(
    ledger: Ledger,
) -> None:
    """The cover's checkpoint key fingerprint, after a rotation (regression: it was always
    the first key in ledger.vkey, the retired one)."""
    record(ledger, 2, "a")
    (old,), _ = ledger.verifiers()
    _, new = ledger.rotate_key()
    vouched = ledger.checkpoints()[-1]  # covers key.rotated: signed by the old key
    record(ledger, 2, "b")
    latest = ledger.checkpoint()
    keys, _ = ledger.verifiers()
    assert keys == [old, new]
    assert checkpoint_key_fingerprint(vouched.note, keys) == ledger_key_fingerprint(old)
    assert checkpoint_key_fingerprint(latest.note, keys) == ledger_key_fingerprint(new)
    assert ledger_key_fingerprint(new) != ledger_key_fingerprint(old)
