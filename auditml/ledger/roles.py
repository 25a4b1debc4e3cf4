"""Least-privilege PostgreSQL roles for a ledger (docs/OPERATIONS.md, "Roles").

- The owner (whoever ran the migrations) owns the tables and is the only role that can
  change the schema; pipelines never connect as it.
- A writer records: SELECT and INSERT on the integrity tables, `subjects` and
  `class_keys`. It deletes keys only through the two functions of migration 0004, which
  delete only what an `erasure.completed` or `log.purged` in the ledger records as
  shredded. The append-only triggers refuse UPDATE, DELETE and TRUNCATE to everyone.
- A reader (an auditor, a report job) can only SELECT. Sealed personal fields stay sealed
  for it unless it also holds the key-encryption key, which lives in the key directory.

Role names are SQL identifiers and cannot be bound parameters, so they are checked here.
"""

from __future__ import annotations

import re

from auditml.errors import ConfigError

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
INTEGRITY_TABLES = ("events", "tree_nodes", "checkpoints", "public_keys", "cosignatures")
READ_ONLY_TABLES = ("ledger_info", "alembic_version")
KEY_TABLES = ("subjects", "class_keys")
#: The writer's only way to delete from KEY_TABLES (SECURITY DEFINER, migration 0004).
SHREDDING_FUNCTIONS = (
    "auditml_erase_subject(varchar)",
    "auditml_purge_class_keys(varchar, varchar[])",
)


def _name(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} is not a plain PostgreSQL role name: use 1-63 lowercase "
            "letters, digits and underscores, not starting with a digit"
        )
    return value


def grants(schema: str, *, writer: str, reader: str) -> list[str]:
    """SQL that gives the writer and reader roles (which must exist) their privileges."""
    schema, writer, reader = (
        _name(schema, "schema"),
        _name(writer, "writer role"),
        _name(reader, "reader role"),
    )
    everything = ", ".join(
        f"{schema}.{t}" for t in (*INTEGRITY_TABLES, *READ_ONLY_TABLES, *KEY_TABLES)
    )
    insertable = ", ".join(f"{schema}.{t}" for t in (*INTEGRITY_TABLES, *KEY_TABLES))
    read_only = ", ".join(f"{schema}.{t}" for t in READ_ONLY_TABLES)
    functions = ", ".join(f"{schema}.{f}" for f in SHREDDING_FUNCTIONS)
    return [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {writer}, {reader}",
        f"REVOKE ALL ON FUNCTION {functions} FROM {writer}, {reader}",
        f"GRANT USAGE ON SCHEMA {schema} TO {writer}, {reader}",
        f"GRANT SELECT, INSERT ON {insertable} TO {writer}",
        f"GRANT SELECT ON {read_only} TO {writer}",
        f"GRANT EXECUTE ON FUNCTION {functions} TO {writer}",
        f"GRANT SELECT ON {everything} TO {reader}",
    ]
