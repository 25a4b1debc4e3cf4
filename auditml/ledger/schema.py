"""The ledger schema's revision: create it, upgrade it, and refuse to run on the wrong one.

Migrations are Alembic revisions in `auditml.migrations`, run on the caller's connection
inside its write transaction, so a failed upgrade leaves nothing half done (both SQLite
and PostgreSQL have transactional DDL). Ledgers made before migrations existed have no
`alembic_version` table; their tables are revision 0001's, so they are stamped there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from auditml.errors import ConfigError

#: The revision this version of auditml reads and writes (a test checks it is Alembic's head).
HEAD = "0004"
#: The revision of ledgers created before migrations existed.
BASELINE = "0001"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config(conn: Connection):  # type: ignore[no-untyped-def]
    # Imported here: opening a ledger needs only `revision`, and Alembic costs ~0.1 s.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def revision(conn: Connection) -> str | None:
    """The schema revision of this database: None when it holds no ledger at all."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if value is not None:
            return str(value)
    return BASELINE if "ledger_info" in tables else None


def upgrade(conn: Connection) -> tuple[str | None, str]:
    """Bring the schema to HEAD on conn (inside its transaction): (before, after)."""
    from alembic import command

    before = revision(conn)
    config = _config(conn)
    if before is not None and not inspect(conn).has_table("alembic_version"):
        command.stamp(config, BASELINE)
    if before != HEAD:
        command.upgrade(config, "head")
    return before, HEAD


def require_current(conn: Connection, where: str) -> None:
    """Raise ConfigError unless the database's schema is the one this auditml uses."""
    found = revision(conn)
    if found == HEAD:
        return
    if found is None:
        raise ConfigError(f"{where} holds no auditml ledger; run `auditml init` first")
    known = sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    if found in known:
        raise ConfigError(
            f"{where} has ledger schema revision {found}; this auditml needs {HEAD}: "
            "run `auditml db upgrade` (back up the database first)"
        )
    raise ConfigError(
        f"{where} has ledger schema revision {found}, newer than this auditml knows "
        f"({HEAD}); upgrade auditml"
    )
