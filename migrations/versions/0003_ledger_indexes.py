"""Ledger indexes for reports and bulk import: an index diet on invoices, covering partial
indexes on what is open, invoice numbers in byte order on PostgreSQL

Revision ID: 0003_ledger_indexes
Revises: 0002_ledger
Create Date: 2026-11-22

Why (issue 3, at 2,000,000 invoices): every index on `invoices` is paid by every insert, and a
bulk load spent most of its time in them. Dropped: `ix_invoices_number` (a number prefix is a
range of uq_invoices_kind_number per kind), `ix_invoices_amount` (no report reads by amount),
`ix_invoices_open_customer_due` (the covering `ix_invoices_open_items` starts with the same
columns). Added: covering partial indexes on open items and unapplied cash (the portfolio aging
reads them alone), a tiny partial index on disputed items, and one on reversed allocations;
`ix_invoices_open_due` gains the amount, and `ix_invoices_issue_date` covers credit sales.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_ledger_indexes"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "open_amount <> 0"


def _partial(where: str) -> dict[str, object]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def _number_collation(collation: str | None) -> None:
    """PostgreSQL only (SQLite compares bytes already): invoice numbers in byte order, so a
    prefix is one index range whatever the database's locale. Rebuilds the unique index."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "invoices",
        "number",
        existing_type=sa.String(length=40),
        type_=sa.String(length=40, collation=collation),
        existing_nullable=False,
    )


def upgrade() -> None:
    op.drop_index("ix_invoices_number", table_name="invoices")
    op.drop_index("ix_invoices_amount", table_name="invoices")
    op.drop_index("ix_invoices_open_customer_due", table_name="invoices", **_partial(_OPEN))
    _number_collation("C")
    # Credit sales and the dated ledger from the issue-date index alone (SQLite read a quarter's
    # 250,000 rows from the table: 1 s of the KPIs).
    op.drop_index("ix_invoices_issue_date", table_name="invoices")
    op.create_index(
        "ix_invoices_issue_date",
        "invoices",
        ["issue_date", "kind", "currency", "amount", "due_date"],
        unique=False,
    )
    # The open items in due-date order, now with their amounts (an amount range is counted on
    # the index alone).
    op.drop_index("ix_invoices_open_due", table_name="invoices", **_partial(_OPEN))
    op.create_index(
        "ix_invoices_open_due", "invoices", ["due_date", "amount"], unique=False, **_partial(_OPEN)
    )
    op.create_index(
        "ix_invoices_open_items",
        "invoices",
        ["customer_id", "due_date", "currency", "kind", "issue_date", "open_amount"],
        unique=False,
        **_partial(_OPEN),
    )
    op.create_index(
        "ix_invoices_disputed_due",
        "invoices",
        ["due_date"],
        unique=False,
        **_partial("disputed_amount <> 0"),
    )
    op.create_index(
        "ix_payments_unapplied",
        "payments",
        ["customer_id", "currency", "date", "unapplied_amount"],
        unique=False,
        **_partial("unapplied_amount <> 0"),
    )
    op.create_index(
        "ix_allocations_reversed_on",
        "allocations",
        ["reversed_on"],
        unique=False,
        **_partial("reversed_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_allocations_reversed_on", table_name="allocations")
    op.drop_index("ix_payments_unapplied", table_name="payments")
    op.drop_index("ix_invoices_disputed_due", table_name="invoices")
    op.drop_index("ix_invoices_open_items", table_name="invoices")
    _number_collation(None)
    op.drop_index("ix_invoices_open_due", table_name="invoices", **_partial(_OPEN))
    op.create_index(
        "ix_invoices_open_due", "invoices", ["due_date"], unique=False, **_partial(_OPEN)
    )
    op.create_index(
        "ix_invoices_open_customer_due",
        "invoices",
        ["customer_id", "due_date"],
        unique=False,
        **_partial(_OPEN),
    )
    op.drop_index("ix_invoices_issue_date", table_name="invoices")
    op.create_index("ix_invoices_issue_date", "invoices", ["issue_date"], unique=False)
    op.create_index("ix_invoices_amount", "invoices", ["amount"], unique=False)
    op.create_index("ix_invoices_number", "invoices", ["number"], unique=False)
