"""Statements: delivery log (filled in by the statements work)

Revision ID: 0004_statements
Revises: 0003_ledger_indexes
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2c_desktop.models.base

revision: str = "0004_statements"
down_revision: str | None = "0003_ledger_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statement_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "produced_at", o2c_desktop.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("produced_by_id", sa.Integer(), nullable=True),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.CheckConstraint(
            "channel IN ('file', 'print', 'email')",
            name=op.f("ck_statement_deliveries_channel_known"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_statement_deliveries_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["produced_by_id"],
            ["users.id"],
            name=op.f("fk_statement_deliveries_produced_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_deliveries")),
    )
    with op.batch_alter_table("statement_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statement_deliveries_customer_id_produced_at",
            ["customer_id", "produced_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_statement_deliveries_statement_date", ["statement_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("statement_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_deliveries_statement_date")
        batch_op.drop_index("ix_statement_deliveries_customer_id_produced_at")
    op.drop_table("statement_deliveries")
