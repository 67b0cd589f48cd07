"""The SQL terms of "overdue" a run is built on: which open items count, what of each may be
dunned, how many days past due it is and which level it reached, and what the customer has
paid or been credited that is not allocated yet.

One set of terms serves proposing (the grouped query, the letters' items) and producing (the
check that an item is unchanged since), so the two can never disagree on an amount.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.db.types import Money
from o2c_desktop.models import Invoice, Payment
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE
from o2c_desktop.services.dunning.levels import LevelRow

ZERO = literal_column("0")  # literal: SQLite uses a partial index only for its exact term


def undisputed() -> Any:
    """What may be dunned of the current invoice: open less disputed (capped at open)."""
    disputed = case(
        (Invoice.disputed_amount > Invoice.open_amount, Invoice.open_amount),
        else_=Invoice.disputed_amount,
    )
    return type_coerce(Invoice.open_amount - disputed, Money())


def reached(levels: Sequence[LevelRow], as_of: date) -> Any:
    """The highest level the current invoice's days past due reach (0: none)."""
    whens = [
        (Invoice.due_date <= as_of - timedelta(days=x.days_past_due), literal(x.level, Integer))
        for x in sorted(levels, key=lambda x: x.level, reverse=True)
    ]
    return case(*whens, else_=literal(0, Integer))


def overdue_items(levels: Sequence[LevelRow], as_of: date) -> Any:
    """Open invoices issued by `as_of` and past due at it (or due that day when the first
    threshold is 0 days), through the partial index of open items."""
    first = min(x.days_past_due for x in levels)
    cut = as_of - timedelta(days=min(first, 1))
    return and_(
        Invoice.open_amount != ZERO,
        Invoice.due_date <= cut,
        common(Invoice.kind == INVOICE),
        common(Invoice.issue_date <= as_of),
    )


def days_past_due(dialect: str, as_of: date) -> Any:
    """As-of date − due date in whole days, in SQL (SQLite keeps dates as ISO text)."""
    if dialect == "sqlite":
        day = literal(as_of.isoformat())
        return cast(func.julianday(day) - func.julianday(Invoice.due_date), Integer)
    return literal(as_of, Date) - Invoice.due_date


def credits(customer_ids: Collection[int] | None = None) -> Select[Any]:
    """Per customer and currency (`customer_id`, `currency`, `credits`): unapplied cash plus
    the unallocated part of credit notes, as the ledger stands now (like the items' open
    amounts: a payment received since the run's date is netted too). Both come through the
    partial indexes of unapplied payments and of open items; `customer_ids` narrows it to a
    few customers (producing checks a chunk of letters)."""
    cash = select(
        Payment.customer_id.label("customer_id"),
        Payment.currency.label("currency"),
        Payment.unapplied_amount.label("amount"),
    ).where(Payment.unapplied_amount != ZERO)
    # `common`: read from the open items' covering index; SQLite would otherwise walk every
    # credit note ever issued through uq_invoices_kind_number and fetch each row from the table.
    notes = select(Invoice.customer_id, Invoice.currency, Invoice.open_amount).where(
        Invoice.open_amount != ZERO, common(Invoice.kind == CREDIT_NOTE)
    )
    if customer_ids is not None:
        ids = sorted(customer_ids)
        cash = cash.where(Payment.customer_id.in_(ids))
        notes = notes.where(Invoice.customer_id.in_(ids))
    both = union_all(cash, notes).subquery("credit_items")
    return select(
        both.c.customer_id,
        both.c.currency,
        money_sum(both.c.amount).label("credits"),
    ).group_by(both.c.customer_id, both.c.currency)


def credits_of(session: Session, customer_ids: Collection[int]) -> dict[tuple[int, str], Decimal]:
    """`credits` for a few customers, by (customer, currency); none: left out."""
    if not customer_ids:
        return {}
    return {
        (cid, currency): amount if isinstance(amount, Decimal) else Decimal(amount or 0)
        for cid, currency, amount in session.execute(credits(customer_ids))
    }
