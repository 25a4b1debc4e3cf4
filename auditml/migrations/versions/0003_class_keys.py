"""Class keys: one key per (event type, month) that sealed values are also sealed under.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Mutable like `subjects` (no append-only triggers): a retention purge deletes the keys
of an event type's months, so what was sealed under them reads as erased while every
integrity-bearing row stays as it was (docs/FORMAT.md section 12a).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "class_keys",
        sa.Column("class", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.String(7), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary(60), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only: its schema only moves forward")
