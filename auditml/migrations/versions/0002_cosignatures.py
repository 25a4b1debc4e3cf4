"""Witness cosignatures: one append-only row per (checkpoint size, witness key).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Each row is self-contained: the ledger-signed checkpoint note the witness checked and
the witness's C2SP cosignature line over it, so a quorum of witnesses can be verified
without trusting the `checkpoints` table (the one a rewriter of history re-signs).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("size", SEQ, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(8), primary_key=True),
        sa.Column("witness", sa.String(200), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # auditml_refuse_change() is revision 0001's.
        op.execute(
            "CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures "
            "FOR EACH ROW EXECUTE FUNCTION auditml_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures "
            "FOR EACH STATEMENT EXECUTE FUNCTION auditml_refuse_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS cosignatures_no_{operation.lower()} "
                f"BEFORE {operation} ON cosignatures BEGIN SELECT RAISE(ABORT, "
                f"'auditml: cosignatures is append-only ({operation} refused)'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only: its schema only moves forward")
