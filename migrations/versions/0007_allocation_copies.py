"""Allocations carry copies of their invoice's customer, currency, due and issue dates and of
their payment's date

Revision ID: 0007_allocation_copies
Revises: 0006_credit
Create Date: 2026-11-23

Why (issue 3, at 2,000,000 invoices): the aging and the KPIs for a past date add back the
allocations made since that date, and each of them needed its invoice's customer, currency and
dates and its payment's date: a join that read the whole invoices and payments tables (90 days
back: 1.4 s of a 1.9 s portfolio aging). With the copies it is a range of `allocations` alone.
The documents copied are never edited, so the copies never go stale. Existing rows are filled
from their invoices and payments here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_allocation_copies"
down_revision: str | None = "0006_credit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPIES = ("customer_id", "currency", "invoice_due_date", "invoice_issue_date", "payment_date")
_FROM_INVOICE = {
    "customer_id": "customer_id",
    "currency": "currency",
    "invoice_due_date": "due_date",
    "invoice_issue_date": "issue_date",
}


def upgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("invoice_due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("invoice_issue_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("payment_date", sa.Date(), nullable=True))
    # Correlated subqueries: the same statement on both engines (SQLite's UPDATE … FROM needs
    # 3.33, older than some Pythons ship).
    assignments = ", ".join(
        f"{column} = (SELECT i.{source} FROM invoices i WHERE i.id = allocations.invoice_id)"
        for column, source in _FROM_INVOICE.items()
    )
    op.execute(
        f"UPDATE allocations SET {assignments}, payment_date = "
        "(SELECT p.date FROM payments p WHERE p.id = allocations.payment_id)"
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        for column in _FROM_INVOICE:
            batch_op.alter_column(column, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        for column in reversed(_COPIES):
            batch_op.drop_column(column)
