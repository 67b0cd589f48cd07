"""The ledger reads behind statements, for a chunk of customers per query.

A month-end batch makes thousands of statements; reading each customer with the per-customer
functions of ledger_queries costs about ten statements' worth of SQL building per customer. These
functions read a whole chunk (up to ~50 customers) in one query each, with ledger_queries' own
building blocks (`allocated_at`, `counts_at`, `OpenItemRow`) and its rule for when the maintained
columns may be used, so the figures are the same by construction.

The total each statement is checked against comes from a different implementation on purpose:
aging.signed_rows (services/aging.py), the figures of the aging report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from o2c_desktop.db.types import Money
from o2c_desktop.models import Allocation, Customer, Invoice, Payment, User
from o2c_desktop.services import aging, ledger_queries
from o2c_desktop.services.ledger_queries import OpenItemRow

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Addressee:
    """The customer as the statement addresses it, and who at our end looks after it."""

    id: int
    number: str
    name: str
    legal_name: str | None
    address_line1: str | None
    address_line2: str | None
    postcode: str | None
    city: str | None
    country: str | None
    currency: str
    email: str | None
    collector_name: str | None
    collector_email: str | None


@dataclass(frozen=True)
class UnappliedPayment:
    """A payment with cash not yet applied at the statement date."""

    id: int
    date: date
    reference: str | None
    amount: Decimal
    unapplied: Decimal
    currency: str


def _money(expression: Any) -> Any:
    return type_coerce(expression, Money())


def addressees(session: Session, ids: Sequence[int]) -> dict[int, Addressee]:
    """Address and active collector of each customer that exists."""
    rows = session.execute(
        select(
            Customer.id,
            Customer.number,
            Customer.name,
            Customer.legal_name,
            Customer.address_line1,
            Customer.address_line2,
            Customer.postcode,
            Customer.city,
            Customer.country,
            Customer.currency,
            Customer.email,
            User.display_name,
            User.email,
        )
        .outerjoin(User, and_(User.id == Customer.collector_id, User.active))
        .where(Customer.id.in_(ids))
    )
    return {row[0]: Addressee(*row) for row in rows}


def dated_customers(session: Session, ids: Sequence[int], as_of: date) -> set[int]:
    """The customers whose figures at `as_of` must come from the dated allocations: all of them
    for a past date, and those with anything allocated or reversed after `as_of` otherwise
    (the rule of ledger_queries.use_maintained, for a chunk)."""
    if as_of < date.today():
        return set(ids)
    later = or_(Allocation.date > as_of, Allocation.reversed_on > as_of)
    return set(
        session.scalars(
            select(Invoice.customer_id)
            .join(Allocation, Allocation.invoice_id == Invoice.id)
            .where(Invoice.customer_id.in_(ids), later)
            .distinct()
        )
    )


def open_items(
    session: Session, ids: Sequence[int], as_of: date, dated: set[int]
) -> dict[int, list[OpenItemRow]]:
    """Each customer's invoices and credit notes open at `as_of`, by due date then number."""
    found: dict[int, list[OpenItemRow]] = defaultdict(list)
    groups = [
        (sorted(set(ids) & dated), True),
        (sorted(set(ids) - dated), False),
    ]
    for group, from_allocations in groups:
        if not group:
            continue
        if from_allocations:
            allocated = ledger_queries.allocated_at(as_of)
            open_amount: Any = _money(Invoice.amount - allocated)
            disputed: Any = ledger_queries.disputed_at(as_of)
            still_open: Any = Invoice.amount > allocated
        else:
            open_amount, disputed = Invoice.open_amount, Invoice.disputed_amount
            still_open = Invoice.open_amount != 0
        rows = session.execute(
            select(
                Invoice.customer_id,
                Invoice.id,
                Invoice.kind,
                Invoice.number,
                Invoice.issue_date,
                Invoice.due_date,
                Invoice.amount,
                open_amount,
                disputed,
                Invoice.currency,
            )
            .where(Invoice.customer_id.in_(group), Invoice.issue_date <= as_of, still_open)
            .order_by(Invoice.customer_id, Invoice.due_date, Invoice.number, Invoice.id)
        )
        for cid, item_id, kind, number, issued, due, amount, left, in_dispute, code in rows:
            found[cid].append(
                OpenItemRow(
                    item_id,
                    kind,
                    number,
                    issued,
                    due,
                    amount,
                    left,
                    (as_of - due).days,
                    in_dispute,
                    code,
                )
            )
    return found


def unapplied_payments(
    session: Session, ids: Sequence[int], as_of: date, dated: set[int]
) -> dict[int, list[UnappliedPayment]]:
    """Each customer's payments with cash unapplied at `as_of`, oldest first."""
    found: dict[int, list[UnappliedPayment]] = defaultdict(list)
    for group, from_allocations in (
        (sorted(set(ids) & dated), True),
        (sorted(set(ids) - dated), False),
    ):
        if not group:
            continue
        if from_allocations:
            applied = (
                select(func.coalesce(func.sum(Allocation.amount), 0))
                .where(Allocation.payment_id == Payment.id, ledger_queries.counts_at(as_of))
                .scalar_subquery()
            )
            left: Any = _money(Payment.amount - applied)
            still: Any = Payment.amount > applied
        else:
            left, still = Payment.unapplied_amount, Payment.unapplied_amount != 0
        rows = session.execute(
            select(
                Payment.customer_id,
                Payment.id,
                Payment.date,
                Payment.reference,
                Payment.amount,
                left,
                Payment.currency,
            )
            .where(Payment.customer_id.in_(group), Payment.date <= as_of, still)
            .order_by(Payment.customer_id, Payment.date, Payment.id)
        )
        for cid, *values in rows:
            found[cid].append(UnappliedPayment(*values))
    return found


def aging_balances(
    session: Session, ids: Sequence[int], as_of: date
) -> dict[int, dict[str, Decimal]]:
    """{customer: {currency: balance}} at `as_of` as the aging report computes it (open items
    − unapplied cash), currencies with a zero balance left out."""
    source = aging.source_for(session, as_of, one_customer=True)
    rows = aging.signed_rows(session, as_of, source)
    stmt = (
        select(
            rows.c.customer_id,
            rows.c.currency,
            func.sum(rows.c.amount),
            func.sum(rows.c.cash),
        )
        .where(rows.c.customer_id.in_(ids))
        .group_by(rows.c.customer_id, rows.c.currency)
    )
    found: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for cid, currency, items, cash in session.execute(stmt):
        balance = (items or ZERO) - (cash or ZERO)
        if balance:
            found[cid][currency] = balance
    return found
