"""A customer's exposure, kept on the customer row so the list sorts and filters on it in SQL.

Exposure = open invoices − unallocated credit notes − unapplied cash + open orders (released or
never held; held, rejected and closed orders do not count), in the customer's currency: items in
other currencies are left out until the app has exchange rates, rather than added as if they were
the same money. Every service that changes open amounts or orders calls `refresh_exposure` for
the customers it touched, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, literal_column, select, type_coerce, update
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db.types import Money
from o2c_desktop.models import Customer, Invoice, Order, Payment
from o2c_desktop.models.credit import ORDER_HELD, ORDER_OPEN
from o2c_desktop.models.ledger import INVOICE

_CHUNK = 1000
# A literal zero, not a bound parameter: SQLite uses the partial indexes on open items and
# unapplied cash (ix_invoices_open_items, ix_payments_unapplied) only for a literal match.
_ZERO = literal_column("0")


def live_orders_condition(order: Any = Order) -> Any:
    """Open or held: the orders in the partial index ix_orders_open_by_customer. SQLite uses a
    partial index only when the query repeats its WHERE term literally, so this is that term,
    with the statuses as literals rather than bound parameters."""
    return order.status.in_([literal_column(f"'{ORDER_OPEN}'"), literal_column(f"'{ORDER_HELD}'")])


def open_orders_condition(order: Any = Order) -> list[Any]:
    """The orders that count in exposure (status 'open'), read from the partial index."""
    return [live_orders_condition(order), order.status == literal_column(f"'{ORDER_OPEN}'")]


def exposure_expression() -> object:
    """Correlated SQL for one customer's exposure (used for one customer or all of them)."""
    items = (
        select(
            func.coalesce(
                func.sum(
                    case((Invoice.kind == INVOICE, Invoice.open_amount), else_=-Invoice.open_amount)
                ),
                0,
            )
        )
        .where(
            Invoice.customer_id == Customer.id,
            Invoice.open_amount != _ZERO,
            Invoice.currency == Customer.currency,
        )
        .scalar_subquery()
    )
    cash = (
        select(func.coalesce(func.sum(Payment.unapplied_amount), 0))
        .where(
            Payment.customer_id == Customer.id,
            Payment.unapplied_amount != _ZERO,
            Payment.currency == Customer.currency,
        )
        .scalar_subquery()
    )
    orders = (
        select(func.coalesce(func.sum(Order.amount), 0))
        .where(
            Order.customer_id == Customer.id,
            *open_orders_condition(),
            Order.currency == Customer.currency,
        )
        .scalar_subquery()
    )
    return items - cash + orders


def refresh_exposure_of_everyone(session: Session) -> None:
    """Every customer's exposure in one set-based statement: the open items and the unapplied
    cash summed per customer in one pass over their partial indexes, and only the customers
    whose figure changed written (an UPDATE rewrites every index of the row). After a big
    import this replaces 200,000 correlated lookups (40 s at 2,000,000 invoices). Open orders
    are summed the same way, from their partial index (nothing to read when there are none)."""
    signed = case((Invoice.kind == INVOICE, Invoice.open_amount), else_=-Invoice.open_amount)
    items = (
        select(Invoice.customer_id.label("customer_id"), func.sum(signed).label("amount"))
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(Invoice.open_amount != _ZERO, Invoice.currency == Customer.currency)
        .group_by(Invoice.customer_id)
        .subquery("items")
    )
    cash = (
        select(
            Payment.customer_id.label("customer_id"),
            func.sum(Payment.unapplied_amount).label("amount"),
        )
        .join(Customer, Customer.id == Payment.customer_id)
        .where(Payment.unapplied_amount != _ZERO, Payment.currency == Customer.currency)
        .group_by(Payment.customer_id)
        .subquery("cash")
    )
    orders = (
        select(Order.customer_id.label("customer_id"), func.sum(Order.amount).label("amount"))
        .join(Customer, Customer.id == Order.customer_id)
        .where(*open_orders_condition(), Order.currency == Customer.currency)
        .group_by(Order.customer_id)
        .subquery("orders")
    )
    owner = aliased(Customer, name="owner")
    fresh = (
        select(
            owner.id.label("id"),
            type_coerce(
                func.coalesce(items.c.amount, 0)
                - func.coalesce(cash.c.amount, 0)
                + func.coalesce(orders.c.amount, 0),
                Money(),
            ).label("exposure"),
        )
        .outerjoin(items, items.c.customer_id == owner.id)
        .outerjoin(cash, cash.c.customer_id == owner.id)
        .outerjoin(orders, orders.c.customer_id == owner.id)
        .subquery("fresh")
    )
    session.execute(
        update(Customer)
        .values(exposure=fresh.c.exposure)
        .where(Customer.id == fresh.c.id, Customer.exposure != fresh.c.exposure),
        execution_options={"synchronize_session": False},
    )


def refresh_exposure(session: Session, customer_ids: Iterable[int] | None = None) -> None:
    """Recompute exposure for the given customers (None: every customer, after bulk imports)."""
    statement = update(Customer).values(exposure=exposure_expression())
    if customer_ids is None:
        session.execute(statement, execution_options={"synchronize_session": False})
        return
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            statement.where(Customer.id.in_(ids[start : start + _CHUNK])),
            execution_options={"synchronize_session": False},
        )
