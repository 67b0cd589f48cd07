"""The AR ledger: open items (invoices, credit notes), payments, dated allocations, disputes.

Open amounts are kept on the rows for speed (`open_amount`, `unapplied_amount`) and updated in
the same transaction as the allocations that change them; any past date is computed from the
dated allocations instead (open at D = amount − allocations dated ≤ D and not reversed by D).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from o2c_desktop.db.types import Money
from o2c_desktop.models.base import Base, UTCDateTime, utcnow

INVOICE, CREDIT_NOTE = "invoice", "credit_note"
ALLOC_PAYMENT, ALLOC_CREDIT, ALLOC_DISCOUNT, ALLOC_WRITE_OFF = (
    "payment",
    "credit_note",
    "discount",
    "write_off",
)
DISPUTE_STATUSES = ("open", "in_review", "resolved_customer", "resolved_us", "withdrawn")
OPEN_DISPUTE_STATUSES = ("open", "in_review")


class Invoice(Base):
    """An open item: an invoice (a debit) or a credit note (a credit to allocate to invoices).

    Amounts are positive for both kinds; `kind` gives the sign. For a credit note `open_amount`
    is the part not yet allocated.
    """

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(12), default=INVOICE)
    # Byte order ("C" collation) on PostgreSQL, as SQLite compares: a number prefix is then one
    # contiguous range of uq_invoices_kind_number whatever the database's locale.
    number: Mapped[str] = mapped_column(
        String(40).with_variant(String(40, collation="C"), "postgresql")
    )
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    external_id: Mapped[str | None] = mapped_column(String(64))
    open_amount: Mapped[Decimal] = mapped_column(Money)
    disputed_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    discount_until: Mapped[date | None] = mapped_column(Date)
    dunning_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        UniqueConstraint("kind", "number", name="uq_invoices_kind_number"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("open_amount >= 0 AND open_amount <= amount", name="open_within_amount"),
        # Indexes cost every write and most of a bulk load's time (a 1,000,000-row COPY: 50 s
        # with nine index structures, 3.3 s with none), so each one here has a reader:
        # the ledger tab and one customer's past (customer, issue date); credit sales and the
        # dated ledger (issue date, covering); the invoice list's "all items" in its default
        # order (due date). A number prefix is a range of uq_invoices_kind_number per kind;
        # sorting all items by amount or number is a top-N sort the list pays only when asked.
        Index("ix_invoices_customer_id_issue_date", "customer_id", "issue_date"),
        # Covering for credit sales (a quarter, and each month the countback walks) and the
        # dated ledger: a range of issue dates read from the index alone.
        Index("ix_invoices_issue_date", "issue_date", "kind", "currency", "amount", "due_date"),
        Index("ix_invoices_due_date", "due_date"),
        # The ~15 % of items still open, in due-date order: the invoice list's open and overdue
        # views walk it and stop after a page; with the amount, an amount range is counted on
        # the index alone.
        Index(
            "ix_invoices_open_due",
            "due_date",
            "amount",
            postgresql_where=text("open_amount <> 0"),
            sqlite_where=text("open_amount <> 0"),
        ),
        # Everything aging, exposure and the ledger tab read of an open item, by customer: the
        # portfolio aging is one pass over this index alone (index-only on PostgreSQL, covering
        # on SQLite), without touching the 2,000,000-row table.
        Index(
            "ix_invoices_open_items",
            "customer_id",
            "due_date",
            "currency",
            "kind",
            "issue_date",
            "open_amount",
            postgresql_where=text("open_amount <> 0"),
            sqlite_where=text("open_amount <> 0"),
        ),
        # Disputed items (about 1 % of the open ones; never a new import's rows, so it costs
        # bulk loads nothing): the list's "disputed" view.
        Index(
            "ix_invoices_disputed_due",
            "due_date",
            postgresql_where=text("disputed_amount <> 0"),
            sqlite_where=text("disputed_amount <> 0"),
        ),
    )


class Payment(Base):
    """Cash received. `unapplied_amount` is what is not yet allocated to invoices."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    unapplied_amount: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "unapplied_amount >= 0 AND unapplied_amount <= amount", name="unapplied_within_amount"
        ),
        Index("ix_payments_customer_id_date", "customer_id", "date"),
        Index("ix_payments_date", "date"),
        # Unapplied cash as of today: aging, exposure and balances read only this index.
        Index(
            "ix_payments_unapplied",
            "customer_id",
            "currency",
            "date",
            "unapplied_amount",
            postgresql_where=text("unapplied_amount <> 0"),
            sqlite_where=text("unapplied_amount <> 0"),
        ),
    )


class Allocation(Base):
    """Part of an invoice settled on a date: by a payment, a credit note, a discount or a
    write-off. A reversal keeps the row and dates the reversal, so history stays reproducible.

    `customer_id`, `currency`, `invoice_due_date`, `invoice_issue_date` and `payment_date` are
    copies of the settled invoice's (and the paying payment's date), written with the row and
    never changed, like the documents they copy (an invoice's customer, currency and dates, a
    payment's date, are never edited). Why: rolling a report back to a past date adds back the
    allocations made since; with the copies that is a range of this table alone, where joining
    each one to its invoice and payment read both whole tables (measured at 2,000,000 invoices,
    90 days back: 2.7 s of aging before, 1.5 s after). Every writer of allocations fills them
    (cash application, the payment import, the demo ledger), and the tests check them with
    `ledger_queries.stale_allocation_copies`."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(12))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    date: Mapped[date] = mapped_column(Date)
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Copies of the invoice's and the payment's (see the class docstring); no foreign key, as
    # the invoice's own already ties the row to its customer.
    customer_id: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    invoice_due_date: Mapped[date] = mapped_column(Date)
    invoice_issue_date: Mapped[date] = mapped_column(Date)
    payment_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_allocations_invoice_id_date", "invoice_id", "date"),
        Index("ix_allocations_payment_id", "payment_id"),
        Index("ix_allocations_credit_note_id", "credit_note_id"),
        # Rolling a report back to a date reads the allocations made since then, and of each
        # only the columns listed here: all in the index, no table row is read (migration 0008).
        Index(
            "ix_allocations_date",
            "date",
            "reversed_on",
            "customer_id",
            "currency",
            "invoice_issue_date",
            "invoice_due_date",
            "payment_date",
            "amount",
        ),
        # The credit-note side of the same: the few credit-note allocations since a date.
        Index(
            "ix_allocations_credit_note_date",
            "date",
            "credit_note_id",
            "reversed_on",
            "amount",
            postgresql_where=text("credit_note_id IS NOT NULL"),
            sqlite_where=text("credit_note_id IS NOT NULL"),
        ),
        # Reversals are rare: rolling a report back to a date looks up those made since.
        Index(
            "ix_allocations_reversed_on",
            "reversed_on",
            postgresql_where=text("reversed_on IS NOT NULL"),
            sqlite_where=text("reversed_on IS NOT NULL"),
        ),
    )


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason_code: Mapped[str] = mapped_column(String(30))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    opened_on: Mapped[date] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    resolution: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class DisputeItem(Base):
    """The part of one invoice a dispute covers."""

    __tablename__ = "dispute_items"

    dispute_id: Mapped[int] = mapped_column(
        ForeignKey("disputes.id", ondelete="CASCADE"), primary_key=True
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money)

    __table_args__ = (Index("ix_dispute_items_invoice_id", "invoice_id"),)


class AppSetting(Base):
    """Department-wide settings as JSON text (aging buckets, letterhead, …), one row per key."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
