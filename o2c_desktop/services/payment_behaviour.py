"""Payment behaviour per customer: how long invoices fully paid in a period took to pay.

domain.md: for the invoices fully paid in F..T, the paid date of an invoice is the date of the
allocation that brought its open amount to zero; days to pay = paid date − issue date; days late =
max(0, paid date − due date). Reported per customer: the number of invoices paid, mean days to
pay, mean days late and amount-weighted days late (Σ amount × days late / Σ amount).

How that reads in the ledger
- The allocations considered are those counting at T (dated by T, not reversed by T), of any kind
  (payment, credit note, discount, write-off: whatever closed the item). An invoice is fully paid
  at T when they add up to its amount; since allocations are positive, the one that brought it to
  zero is the latest of them, so the paid date is their latest date. It is "paid in F..T" when
  that date is on or after F. An allocation reversed by T is ignored, so an invoice paid, bounced
  and paid again is paid on the second date.
- Only invoices (not credit notes). Sums of days and of amount × days are exact in SQL; the means
  are computed in Decimal and rounded half-even to 2 decimals once, at the end.
- Currencies are not mixed: a row is one customer in one currency (the weights are amounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Subquery, case, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import Money
from o2c_desktop.errors import O2CError
from o2c_desktop.models import Allocation, Customer, Invoice
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.services.aging import counting_at, reading
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.kpis import round_ratio

ZERO = Decimal("0.00")  # what an empty sum of money shows


@dataclass(frozen=True)
class PaymentBehaviour:
    """One customer's paid invoices in a period (in one currency). Means are rounded half-even
    to 2 decimals; `weighted_days_late` is None only when nothing was paid."""

    customer_id: int
    number: str
    name: str
    currency: str
    paid_invoices: int
    paid_amount: Decimal
    avg_days_to_pay: Decimal | None
    avg_days_late: Decimal | None
    weighted_days_late: Decimal | None


def _days_between(dialect: str, later: Any, earlier: Any) -> Any:
    """Whole days from one date to another, in SQL (date − date is an integer on PostgreSQL;
    SQLite stores ISO text, so the difference of Julian day numbers, exact for whole days)."""
    if dialect == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    return later - earlier


def _paid_in(dialect: str, date_from: date, date_to: date, *scope: Any) -> Subquery:
    """One row per invoice fully paid in F..T (module docstring): its customer, currency,
    amount, days to pay and days late. `scope` narrows the allocations read (by invoice)."""
    settled = (
        select(
            Allocation.invoice_id.label("invoice_id"),
            func.max(Allocation.date).label("paid_date"),
            func.sum(Allocation.amount).label("settled"),
        )
        .where(counting_at(date_to), *scope)
        .group_by(Allocation.invoice_id)
        .subquery("settled")
    )
    raw_late = _days_between(dialect, settled.c.paid_date, Invoice.due_date)
    return (
        select(
            Invoice.customer_id,
            Invoice.currency,
            Invoice.amount,
            _days_between(dialect, settled.c.paid_date, Invoice.issue_date).label("days_to_pay"),
            case((raw_late > 0, raw_late), else_=0).label("days_late"),
        )
        .join(settled, settled.c.invoice_id == Invoice.id)
        .where(
            Invoice.kind == INVOICE,
            settled.c.settled == Invoice.amount,
            settled.c.paid_date >= date_from,
        )
        .subquery("paid")
    )


def average_days_late_in_session(
    session: Session, customer_id: int, date_from: date, date_to: date
) -> Decimal | None:
    """One customer's mean days late over its invoices fully paid in F..T, every currency
    together (days do not depend on it), as the report defines it; None when none was paid."""
    invoices = select(Invoice.id).where(Invoice.customer_id == customer_id)
    paid = _paid_in(
        session.get_bind().dialect.name, date_from, date_to, Allocation.invoice_id.in_(invoices)
    )
    count, late = session.execute(select(func.count(), func.sum(paid.c.days_late))).one()
    return round_ratio(Decimal(int(late)) / count) if count else None


def payment_behaviour(
    db: Database, actor: Actor, date_from: date, date_to: date
) -> list[PaymentBehaviour]:
    """Per customer and currency, by customer number: the invoices fully paid in F..T."""
    actor.require(Permission.VIEW_REPORTS)
    if date_from > date_to:
        raise O2CError(
            f"The period starts ({date_from.isoformat()}) after it ends ({date_to.isoformat()})."
        )
    # Only invoices with an allocation counting at T dated in F..T can have their latest
    # counting allocation in the period: the others are not read at all.
    touched = (
        select(Allocation.invoice_id)
        .where(counting_at(date_to), Allocation.date >= date_from)
        .distinct()
        .scalar_subquery()
    )
    paid = _paid_in(db.kind, date_from, date_to, Allocation.invoice_id.in_(touched)).c
    with reading(db) as session:
        grouped = (
            select(
                paid.customer_id,
                paid.currency,
                func.count().label("paid"),
                func.sum(paid.amount).label("amount"),
                func.sum(paid.days_to_pay).label("days_to_pay"),
                func.sum(paid.days_late).label("days_late"),
                func.sum(type_coerce(paid.amount * paid.days_late, Money())).label("weighted"),
            )
            .group_by(paid.customer_id, paid.currency)
            .subquery("grouped")
        )
        stmt = (
            select(grouped, Customer.number, Customer.name)
            .join(Customer, Customer.id == grouped.c.customer_id)
            .order_by(Customer.number, grouped.c.currency)
        )
        result = []
        for r in session.execute(stmt):
            count = int(r.paid)
            amount = r.amount if r.amount is not None else ZERO
            # amount × days is money-typed in SQL (exact); as a Decimal it is Σ amount × days.
            weighted = r.weighted if r.weighted is not None else ZERO
            result.append(
                PaymentBehaviour(
                    r.customer_id,
                    r.number,
                    r.name,
                    r.currency,
                    count,
                    amount,
                    round_ratio(Decimal(int(r.days_to_pay)) / count),
                    round_ratio(Decimal(int(r.days_late)) / count),
                    round_ratio(weighted / amount) if amount else None,
                )
            )
        return result
