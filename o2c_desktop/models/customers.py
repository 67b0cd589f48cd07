"""Customers, their contacts, payment terms, and the word index behind type-ahead search."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c_desktop.db.types import Money
from o2c_desktop.models.base import Base, UTCDateTime, utcnow


class PaymentTerms(Base):
    """Net days, end-of-month, and an optional early-payment discount (2 % within 10 days)."""

    __tablename__ = "payment_terms"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    description: Mapped[str] = mapped_column(String(120))
    net_days: Mapped[int] = mapped_column(Integer)
    end_of_month: Mapped[bool] = mapped_column(Boolean, default=False)
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    discount_days: Mapped[int | None] = mapped_column(Integer)


class Customer(Base):
    """A customer's credit profile. `exposure` is maintained by the ledger services (0 until then)
    so that the list can sort and filter on it in SQL at 200,000 customers."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    legal_name: Mapped[str | None] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(40), index=True)
    segment: Mapped[str | None] = mapped_column(String(40), index=True)
    risk_class: Mapped[str | None] = mapped_column(String(1), index=True)
    payment_terms_code: Mapped[str] = mapped_column(ForeignKey("payment_terms.code"))
    currency: Mapped[str] = mapped_column(String(3))
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), index=True)
    # A temporary limit applies instead of `credit_limit` up to and including its last day.
    temporary_limit: Mapped[Decimal | None] = mapped_column(Money)
    temporary_limit_until: Mapped[date | None] = mapped_column(Date)
    exposure: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), index=True)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    next_review_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Contact.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    # Never reuse a deleted customer's id on SQLite: its audit rows still carry that id.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    receives_statements: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    customer: Mapped[Customer] = relationship(back_populates="contacts")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CustomerSearchTerm(Base):
    """Each word of a customer's number, names and tax ID, folded (lower case, no accents).

    Type-ahead search is a prefix range scan on this table (`term >= 'zur' AND term < 'zus'`),
    which uses a plain B-tree on both engines and finds "Acme Steel" from "ste".
    """

    __tablename__ = "customer_search_terms"

    # Byte order ("C" collation) on PostgreSQL, so a prefix is a contiguous index range whatever
    # the database's locale; SQLite compares bytes already.
    term: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_customer_search_terms_customer_id", "customer_id"),)
