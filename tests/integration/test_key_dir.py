"""Key directories others could write into are refused, by every reader and writer of keys
(issue 13): whoever can write there could replace ledger.vkey, the trust anchor, or a key.
The ledger database is created readable by its owner alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import StepClock, deployed
from test_input_refusals import auditml, refused

from auditml import ConfigError, Ledger
from auditml.config import load_settings
from auditml.ledger.export import export_ledger
from auditml.ledger.export_check import open_export
from auditml.ledger.keys import load_vkey_file
from auditml.ledger.witnessing import init_witness, load_state, load_witness_key
from auditml.report.identity import create_signing_identity, load_signing_identity

#: A user id that is neither root nor the test's user.
STRANGER = 54321


@pytest.fixture
def keyed(tmp_path: Path, clock: StepClock) -> tuple[str, Path, Path]:
    """A ledger with one event, its key directory (with a report-signing identity), and a
    witness state directory."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys = tmp_path / "keys"
    with Ledger.create(url, origin="test.example/keys", key_dir=keys, clock=clock) as ledger:
        ledger.record("model.deployed", payload=deployed())
        ledger.checkpoint()
        export_ledger(ledger, tmp_path / "export")
    create_signing_identity(keys, organisation="Example", name="Jane Doe", role="DPO", meaning="m")
    witness = tmp_path / "witness"
    init_witness(
        witness, "auditor.example", load_vkey_file(keys / "ledger.vkey"), ledger_key_dir=keys
    )
    return url, keys, witness


def _uses(url: str, keys: Path, witness: Path) -> dict[str, Callable[[], object]]:
    """Each way auditml reads a key or the trust anchor."""

    def ledger_key() -> object:
        with Ledger.open(url, key_dir=keys) as ledger:
            ledger.record("model.deployed", payload=deployed("2"))
            return ledger.checkpoint()

    def vkey() -> object:
        with Ledger.open(url, key_dir=keys) as ledger:
            return ledger.verify()

    def privacy_keys() -> object:
        with Ledger.open(url, key_dir=keys) as ledger:
            return ledger.subject_token("alice@example.com")

    def report_signing_key() -> object:
        return load_signing_identity(load_settings(key_dir=keys))

    return {
        "ledger.key": ledger_key,
        "ledger.vkey": vkey,
        "ledger.vkey (export)": lambda: open_export(keys.parent / "export", key_dir=keys),
        "subjects.kek": privacy_keys,
        "report-signing.key": report_signing_key,
        "witness.key": lambda: load_witness_key(witness, "auditor.example"),
        "witness-state.json": lambda: load_state(witness),
    }


def test_a_key_directory_writable_by_others_is_refused_by_every_reader(
    keyed: tuple[str, Path, Path],
) -> None:
    url, keys, witness = keyed
    for use, run in _uses(url, keys, witness).items():
        run()  # works while the directories are the owner's alone (0700)
        directory = witness if use.startswith("witness") else keys
        for mode in (0o777, 0o770, 0o1777):
            directory.chmod(mode)
            with pytest.raises(ConfigError, match=f"writable by others.*chmod 700 {directory}"):
                run()
        directory.chmod(0o755)  # readable by others is fine: the files in it are 0600
        run()
        directory.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root (as CI runs)")
def test_a_key_directory_of_another_user_is_refused(keyed: tuple[str, Path, Path]) -> None:
    url, keys, witness = keyed
    for use, run in _uses(url, keys, witness).items():
        directory = witness if use.startswith("witness") else keys
        os.chown(directory, STRANGER, STRANGER)
        with pytest.raises(ConfigError, match=f"belongs to user id {STRANGER}, not to you"):
            run()
        os.chown(directory, os.geteuid(), os.getegid())


def test_a_ledger_vkey_writable_by_others_is_refused(keyed: tuple[str, Path, Path]) -> None:
    url, keys, _ = keyed
    (keys / "ledger.vkey").chmod(0o666)
    with (
        Ledger.open(url, key_dir=keys) as ledger,
        pytest.raises(ConfigError, match=f"writable by others.*chmod 644 {keys / 'ledger.vkey'}"),
    ):
        ledger.verify()


def test_no_key_is_written_into_a_directory_writable_by_others(
    keyed: tuple[str, Path, Path], tmp_path: Path
) -> None:
    _, keys, _ = keyed
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(ConfigError, match="chmod 700"):
        Ledger.create(url, origin="test.example/open", key_dir=shared)
    with pytest.raises(ConfigError, match="chmod 700"):
        create_signing_identity(shared, organisation="Example", name="J", role="r", meaning="m")
    with pytest.raises(ConfigError, match="chmod 700"):
        init_witness(shared, "w.example", load_vkey_file(keys / "ledger.vkey"), ledger_key_dir=keys)
    assert list(shared.iterdir()) == [] and not (tmp_path / "new.db").exists()


def test_init_in_a_key_directory_writable_by_others_writes_nothing(tmp_path: Path) -> None:
    keys = tmp_path / ".auditml"
    keys.mkdir()
    keys.chmod(0o777)
    refused(auditml("init", "--origin", "test.example/cli", cwd=tmp_path), f"chmod 700 {keys.name}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".auditml"]
    assert list(keys.iterdir()) == []
    keys.chmod(0o700)
    done = auditml("init", "--origin", "test.example/cli", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_sqlite_database_and_its_wal_are_readable_by_the_owner_alone(
    tmp_path: Path, clock: StepClock
) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.create(f"sqlite:///{path}", origin="t.example/m", key_dir=tmp_path / "k") as ledger:
        ledger.record("model.deployed", payload=deployed())
        files = sorted(path.parent.glob("ledger.db*"))
        assert [f.name for f in files] == ["ledger.db", "ledger.db-shm", "ledger.db-wal"]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
            f.name: 0o600 for f in files
        }
