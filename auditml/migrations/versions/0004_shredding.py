"""Shredding only with its record: PostgreSQL functions for erasure and purges; withheld keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

PostgreSQL: two SECURITY DEFINER functions (owned by the tables' owner) are the only way a
writer can delete from `subjects` and `class_keys` (`auditml db grants` no longer gives it
DELETE). Each deletes only what a ledger event records as shredded: a subject whose
`erasure.completed` is in `events`, a class key that a `log.purged` covers. Called in the
transaction that appends that event, they see it; called alone, they delete nothing else.
Their search_path is the ledger's schema, then pg_temp, so a temporary table cannot stand
in for `events`.

Both dialects: `ledger_info.keys_withheld` marks a ledger restored from an export made
without its subjects and class keys (`export --no-subjects`), where every key is absent
on purpose and `verify` cannot tell erased subjects from shredded ones. The partial index
`ix_events_sealing` (type, recorded_at) holds only events with a subject whose body names
an epoch (`"epoch":"`, as a value sealed under a class key does), so `verify` finds what
was sealed under a (type, month) in a few index probes instead of reading every event.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# No colons, percent signs or question marks: the statements pass through SQLAlchemy's
# text() and the driver's parameter style unchanged.
PG_ERASE = """
CREATE FUNCTION auditml_erase_subject(p_token varchar) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    deleted integer;
BEGIN
    DELETE FROM subjects s WHERE s.token = p_token AND EXISTS (
        SELECT 1 FROM events e WHERE e.type = 'erasure.completed' AND e.subject = s.token
    );
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$
"""

PG_PURGE = """
CREATE FUNCTION auditml_purge_class_keys(p_before varchar, p_classes varchar[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    deleted integer;
BEGIN
    DELETE FROM class_keys k
    WHERE k.epoch < p_before
      AND (p_classes IS NULL OR k.class = ANY (p_classes))
      AND EXISTS (
        SELECT 1
        FROM events e,
             LATERAL (SELECT CAST(convert_from(e.body, 'UTF8') AS jsonb) -> 'payload' AS p) x
        WHERE e.type = 'log.purged'
          AND k.epoch < left(x.p ->> 'up_to', 7)
          AND (x.p -> 'types' IS NULL OR jsonb_exists(x.p -> 'types', k.class))
      );
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$
"""


SIGNATURES = ("auditml_erase_subject(varchar)", "auditml_purge_class_keys(varchar, varchar[])")


# The canonical bytes `"epoch":"`, which every value sealed under a class key holds.
SEALING = {
    "sqlite": "subject IS NOT NULL AND instr(body, X'2265706f6368223a22') > 0",
    "postgresql": "subject IS NOT NULL AND position(decode('2265706f6368223a22', 'hex') in body) > 0",
}


def upgrade() -> None:
    op.add_column(
        "ledger_info",
        sa.Column("keys_withheld", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    bind = op.get_bind()
    op.execute(
        "CREATE INDEX ix_events_sealing ON events (type, recorded_at) "
        f"WHERE {SEALING[bind.dialect.name]}"
    )
    if bind.dialect.name != "postgresql":
        return
    schema = bind.dialect.identifier_preparer.quote(
        str(bind.exec_driver_sql("SELECT current_schema()").scalar_one())
    )
    op.execute(PG_ERASE.format(schema=schema))
    op.execute(PG_PURGE.format(schema=schema))
    for signature in SIGNATURES:
        # Functions are executable by PUBLIC by default; only the writer role may (grants).
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only: its schema only moves forward")
