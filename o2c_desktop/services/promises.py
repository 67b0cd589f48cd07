"""Promises to pay: their state on any date, computed from the payments, never stored.

domain.md: a promise is kept when payments dated up to its date + grace cover threshold × amount,
broken when that day passes without it, open before. The payments counted are the customer's, in
the promise's currency, dated from the day the promise was made (older cash paid for something
else) up to min(as of, due by). Which invoices a promise names is informational: customers pay
what they pay, and the rule counts their cash, not its allocation.

Because nothing is stored but a cancellation, a promise turns kept or broken "by itself" as
payments arrive and days pass, on both engines and without a scheduler; and a report for a past
date sees each promise as it stood then.

The call list asks for every customer's promises at once, so the state of tens of thousands of
promises is one grouped query: the payments each promise counts are joined to it (through
ix_payments_customer_id_date), a window sum gives the running total in date order, and the group
yields both what was paid and the day the running total first reached the threshold.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, Select, and_, case, func, literal_column, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from o2c_desktop.db import Database
from o2c_desktop.db.types import Money
from o2c_desktop.models import Payment, Promise, PromiseItem
from o2c_desktop.services.auth import Actor, Permission

# Customer ids are passed to SQL this many at a time (SQLite's bound-parameter limit, and
# PostgreSQL's planner keeps index scans for lists this short). Above _ALL_CUSTOMERS ids, reading
# every promise once and keeping the wanted ones is cheaper than hundreds of chunked queries.
_CHUNK = 1000
_ALL_CUSTOMERS = 20_000


class PromiseState(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PromiseStatus:
    """A promise as it stands on the as-of date. `settled_on`: for a kept promise the date of
    the payment that brought the running total to the threshold; for a broken one the day after
    `due_by` (the first day it was broken); for a cancelled one the cancellation date; None
    while open."""

    id: int
    customer_id: int
    made_on: date
    promised_on: date
    due_by: date  # promised_on + grace days: the last day a payment still counts
    amount: Decimal
    currency: str
    threshold_percent: int
    paid: Decimal
    state: PromiseState
    settled_on: date | None
    item_ids: tuple[int, ...]
    version: int

    @property
    def required(self) -> Decimal:
        """What must be paid by `due_by` to keep it (threshold × amount, unrounded)."""
        return self.amount * self.threshold_percent / 100


class plus_days(FunctionElement[Any]):
    """`day + days` as a date on both engines (SQLite has no date arithmetic operator)."""

    name = "plus_days"
    inherit_cache = True
    type = Date()


@compiles(plus_days)
def _compile_plus_days(element: plus_days, compiler: Any, **kw: Any) -> str:
    day, days = list(element.clauses)
    return f"({compiler.process(day, **kw)} + {compiler.process(days, **kw)})"


@compiles(plus_days, "sqlite")
def _compile_plus_days_sqlite(element: plus_days, compiler: Any, **kw: Any) -> str:
    day, days = list(element.clauses)
    day_sql, days_sql = compiler.process(day, **kw), compiler.process(days, **kw)
    return f"date({day_sql}, '+' || ({days_sql}) || ' days')"


def due_by_sql() -> Any:
    """A promise's last counting day in SQL (promised_on + grace_days)."""
    return plus_days(Promise.promised_on, Promise.grace_days)


def _conditions(
    as_of: date, customer_ids: Sequence[int] | None, lowest_due: date | None
) -> list[Any]:
    conditions: list[Any] = [Promise.made_on <= as_of]
    if customer_ids is not None:
        conditions.append(Promise.customer_id.in_(customer_ids))
    if lowest_due is not None:
        conditions.append(due_by_sql() >= lowest_due)
    return conditions


def _statement(as_of: date, conditions: list[Any]) -> Select[Any]:
    """Each promise with what its counted payments add up to and, when they reached the
    threshold, the date they did. Money is compared as paid × 100 ≥ amount × threshold, so
    nothing is divided (SQLite keeps money as integers of 1/10,000 units)."""
    counted = (
        select(
            Promise.id.label("promise_id"),
            Payment.date.label("paid_on"),
            Payment.amount.label("amount"),
            func.sum(Payment.amount)
            .over(partition_by=Promise.id, order_by=(Payment.date, Payment.id))
            .label("running"),
        )
        .join(
            Payment,
            and_(
                Payment.customer_id == Promise.customer_id,
                Payment.currency == Promise.currency,
                Payment.date >= Promise.made_on,
                Payment.date <= due_by_sql(),
                Payment.date <= as_of,
            ),
        )
        .where(*conditions)
        .subquery("counted")
    )
    # A literal 100, not a bound parameter: bound next to money it would go through the Money
    # type and be scaled to units on SQLite.
    reached = (
        counted.c.running * literal_column("100") >= Promise.amount * Promise.threshold_percent
    )
    return (
        select(
            Promise.id,
            Promise.customer_id,
            Promise.made_on,
            Promise.promised_on,
            Promise.grace_days,
            Promise.amount,
            Promise.currency,
            Promise.threshold_percent,
            Promise.cancelled_on,
            Promise.version,
            type_coerce(func.coalesce(func.sum(counted.c.amount), 0), Money()).label("paid"),
            type_coerce(func.min(case((reached, counted.c.paid_on))), Date()).label("settled"),
        )
        .outerjoin(counted, counted.c.promise_id == Promise.id)
        .where(*conditions)
        .group_by(Promise.id)
        .order_by(Promise.customer_id, Promise.promised_on, Promise.id)
    )


def _items(session: Session, conditions: list[Any]) -> dict[int, list[int]]:
    items: dict[int, list[int]] = {}
    for promise_id, invoice_id in session.execute(
        select(PromiseItem.promise_id, PromiseItem.invoice_id)
        .join(Promise, Promise.id == PromiseItem.promise_id)
        .where(*conditions)
        .order_by(PromiseItem.promise_id, PromiseItem.invoice_id)
    ):
        items.setdefault(promise_id, []).append(invoice_id)
    return items


def _status(row: Any, as_of: date, items: dict[int, list[int]]) -> PromiseStatus:
    due_by = row.promised_on + timedelta(days=row.grace_days)
    if row.cancelled_on is not None and row.cancelled_on <= as_of:
        state, settled = PromiseState.CANCELLED, row.cancelled_on
    elif row.settled is not None:
        state, settled = PromiseState.KEPT, row.settled
    elif as_of > due_by:
        state, settled = PromiseState.BROKEN, due_by + timedelta(days=1)
    else:
        state, settled = PromiseState.OPEN, None
    return PromiseStatus(
        id=row.id,
        customer_id=row.customer_id,
        made_on=row.made_on,
        promised_on=row.promised_on,
        due_by=due_by,
        amount=row.amount,
        currency=row.currency,
        threshold_percent=row.threshold_percent,
        paid=row.paid,
        state=state,
        settled_on=settled,
        item_ids=tuple(items.get(row.id, ())),
        version=row.version,
    )


def statuses_in_session(
    session: Session,
    as_of: date,
    *,
    customer_ids: Collection[int] | None = None,
    active_from: date | None = None,
) -> list[PromiseStatus]:
    """Every promise of those customers (None: of everyone) made on or before `as_of`, as it
    stands on `as_of`, ordered by customer, promised date and id.

    `active_from` keeps only the promises still relevant from that day on: due by it or later,
    or still open (an open promise's due day is never before `as_of`)."""
    lowest_due = None if active_from is None else min(active_from, as_of)
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    if wanted is not None and not wanted:
        return []
    batches: list[Sequence[int] | None]
    if wanted is None or len(wanted) > _ALL_CUSTOMERS:
        batches = [None]
    else:
        batches = [wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]
    keep = None if wanted is None or batches != [None] else set(wanted)
    result: list[PromiseStatus] = []
    for batch in batches:
        conditions = _conditions(as_of, batch, lowest_due)
        rows = session.execute(_statement(as_of, conditions)).all()
        if keep is not None:
            rows = [r for r in rows if r.customer_id in keep]
        items = _items(session, conditions) if rows else {}
        for row in rows:
            status = _status(row, as_of, items)
            if (
                active_from is None
                or status.due_by >= active_from
                or status.state is PromiseState.OPEN
            ):
                result.append(status)
    return result


def customer_promises(
    db: Database, actor: Actor, customer_id: int, as_of: date
) -> list[PromiseStatus]:
    """One customer's promises as they stand on `as_of`, the latest promised date first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = statuses_in_session(session, as_of, customer_ids=[customer_id])
    return sorted(rows, key=lambda s: (s.promised_on, s.id), reverse=True)
