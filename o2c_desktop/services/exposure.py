"""A customer's exposure, kept on the customer row so the list sorts and filters on it in SQL.

Exposure = open invoices − unallocated credit notes − unapplied cash (+ open orders, when orders
exist), in the customer's currency: items in other currencies are left out until the app has
exchange rates, rather than added as if they were the same money. Every service that changes
open amounts calls `refresh_exposure` for the customers it touched, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from o2c_desktop.models import Customer, Invoice, Payment
from o2c_desktop.models.ledger import INVOICE

_CHUNK = 1000


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
            Invoice.open_amount != 0,
            Invoice.currency == Customer.currency,
        )
        .scalar_subquery()
    )
    cash = (
        select(func.coalesce(func.sum(Payment.unapplied_amount), 0))
        .where(
            Payment.customer_id == Customer.id,
            Payment.unapplied_amount != 0,
            Payment.currency == Customer.currency,
        )
        .scalar_subquery()
    )
    return items - cash


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
