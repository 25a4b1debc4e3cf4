"""The ledger schema under Alembic, on both backends: migrations, revisions, upgrades."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import deployed, sql
from sqlalchemy import create_engine
from test_cli import auditml

from auditml import ConfigError, Ledger
from auditml.ledger import schema
from auditml.ledger.store import metadata


def test_head_is_the_newest_migration() -> None:
    script = ScriptDirectory(str(schema.MIGRATIONS))
    assert script.get_current_head() == schema.HEAD


def test_migrations_build_exactly_the_tables_the_code_uses(ledger: Ledger, db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []
    assert sql(db_url, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]


def undo_revision_0004(url: str) -> None:
    """Take a new ledger back to what revision 0003 made."""
    sql(url, "DROP INDEX ix_events_sealing")
    sql(url, "ALTER TABLE ledger_info DROP COLUMN keys_withheld")
    if url.startswith("postgresql"):
        sql(url, "DROP FUNCTION auditml_erase_subject, auditml_purge_class_keys")


def test_a_ledger_from_before_migrations_is_stamped_and_upgraded(
    db_url: str, tmp_path: Path
) -> None:
    # What `auditml init` made before migrations existed: the tables, no alembic_version.
    with Ledger.create(db_url, origin="old.example/l", key_dir=tmp_path / "k") as ledger:
        ledger.record("model.deployed", payload=deployed())
    undo_revision_0004(db_url)
    sql(db_url, "DROP TABLE alembic_version")
    sql(db_url, "DROP TABLE cosignatures")  # revision 0002's: not in a pre-migration ledger
    sql(db_url, "DROP TABLE class_keys")  # revision 0003's
    with pytest.raises(ConfigError, match="revision 0001; this auditml needs"):
        Ledger.open(db_url, key_dir=tmp_path / "k")
    result = auditml("--url", db_url, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sql(db_url, "SELECT version_num FROM alembic_version") == [(schema.HEAD,)]
    with Ledger.open(db_url, key_dir=tmp_path / "k") as ledger:
        assert ledger.verify(deep=True).size == 1


def test_a_revision_0002_ledger_is_upgraded_to_class_keys(db_url: str, tmp_path: Path) -> None:
    # A ledger of revision 0002: values sealed under the subject's key alone, no class_keys.
    with Ledger.create(db_url, origin="old.example/l", key_dir=tmp_path / "k") as ledger:
        ledger.record("model.deployed", payload=deployed())
    undo_revision_0004(db_url)
    sql(db_url, "DROP TABLE class_keys")
    sql(db_url, "UPDATE alembic_version SET version_num = '0002'")
    with pytest.raises(ConfigError, match="revision 0002; this auditml needs 0004"):
        Ledger.open(db_url, key_dir=tmp_path / "k")
    result = auditml("--url", db_url, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sql(db_url, "SELECT version_num FROM alembic_version") == [("0004",)]
    with Ledger.open(db_url, key_dir=tmp_path / "k") as ledger:
        receipt = ledger.record(
            "consent.granted",
            payload={"purpose": "p", "explicit": True},
            subject="ana",
            personal={"name": "Ana"},
        )
        assert ledger.get(receipt.seq).payload["personal"] == {"name": "Ana"}
        assert ledger.verify(deep=True).size == 2
    assert sql(db_url, "SELECT class FROM class_keys") == [("consent.granted",)]


def test_a_revision_0003_ledger_gets_the_shredding_functions_and_index(
    db_url: str, tmp_path: Path
) -> None:
    with Ledger.create(db_url, origin="old.example/l", key_dir=tmp_path / "k") as ledger:
        consent = {"purpose": "p", "explicit": True}
        ledger.record("consent.granted", payload=consent, subject="ana", personal={"n": "A"})
    undo_revision_0004(db_url)
    sql(db_url, "UPDATE alembic_version SET version_num = '0003'")
    result = auditml("--url", db_url, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sql(db_url, "SELECT keys_withheld FROM ledger_info") in ([(0,)], [(False,)])
    with Ledger.open(db_url, key_dir=tmp_path / "k") as ledger:
        ledger.erase("ana", reason="Art. 17")  # on PostgreSQL, through the new function
        assert ledger.verify(deep=True).size == 2
    assert sql(db_url, "SELECT count(*) FROM subjects") == [(0,)]


def test_a_schema_newer_than_this_auditml_is_refused_with_what_to_do(
    ledger: Ledger, db_url: str, tmp_path: Path
) -> None:
    sql(db_url, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigError, match="revision 9999, newer than this auditml knows"):
        Ledger.open(db_url, key_dir=tmp_path / "keys")
    result = auditml("--url", db_url, "db", "status", cwd=tmp_path)
    assert result.returncode == 0 and "revision 9999" in result.stdout + result.stderr
    assert "run `auditml db upgrade`" in result.stdout + result.stderr


def test_db_commands_on_a_database_without_a_ledger(db_url: str, tmp_path: Path) -> None:
    status = auditml("--url", db_url, "db", "status", cwd=tmp_path)
    # A missing SQLite file is a configuration error (exit 2); an empty server schema is not.
    assert (
        "no ledger" in status.stdout + status.stderr
        and "auditml init" in status.stdout + status.stderr
    )
    upgrade = auditml("--url", db_url, "db", "upgrade", cwd=tmp_path)
    assert upgrade.returncode == 2 and "run `auditml init`" in upgrade.stderr
