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


# The secondary indexes of `allocations` at 0006 (name, columns, partial index condition).
_INDEXES = (
    ("ix_allocations_invoice_id_date", ["invoice_id", "date"], None),
    ("ix_allocations_payment_id", ["payment_id"], None),
    ("ix_allocations_credit_note_id", ["credit_note_id"], None),
    ("ix_allocations_date", ["date"], None),
    ("ix_allocations_reversed_on", ["reversed_on"], "reversed_on IS NOT NULL"),
)


def upgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("invoice_due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("invoice_issue_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("payment_date", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # One join, with the secondary indexes built again afterwards rather than maintained
        # for every updated row (1,929,148 allocations: 53 s with a lookup per row and column
        # and the indexes kept).
        for name, _columns, _where in _INDEXES:
            op.drop_index(name, table_name="allocations")
        assignments = ", ".join(f"{column} = s.{column}" for column in _COPIES)
        copies = ", ".join(f"i.{source} AS {column}" for column, source in _FROM_INVOICE.items())
        op.execute(
            f"UPDATE allocations SET {assignments} FROM (SELECT a.id, {copies}, "
            "p.date AS payment_date FROM allocations a JOIN invoices i ON i.id = a.invoice_id "
            "LEFT JOIN payments p ON p.id = a.payment_id) s WHERE s.id = allocations.id"
        )
        for name, columns, where in _INDEXES:
            op.create_index(
                name, "allocations", columns, postgresql_where=sa.text(where) if where else None
            )
    else:
        # Correlated subqueries: SQLite's UPDATE … FROM needs 3.33, newer than some Pythons
        # ship; a lookup by primary key per row and column is quick there.
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
