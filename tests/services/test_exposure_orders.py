"""Exposure with orders: open orders count, held, rejected and closed ones do not; orders in
another currency than the customer's are left out like other items; the set-based refresh of
every customer agrees with the one per customer. Both engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import insert, select, text, type_coerce, update

from o2c_desktop.db import Database
from o2c_desktop.db.types import Money
from o2c_desktop.models import Customer, Order
from o2c_desktop.services import customers, ledger, orders
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.exposure import (
    exposure_expression,
    refresh_exposure,
    refresh_exposure_of_everyone,
)

TODAY = date.today()


def _stored(db: Database) -> dict[int, Decimal]:
    with db.read() as session:
        return dict(session.execute(select(Customer.id, Customer.exposure)).all())  # type: ignore[arg-type]


def _computed(db: Database) -> dict[int, Decimal]:
    """Each customer's exposure as the correlated expression computes it now."""
    with db.read() as session:
        rows = session.execute(
            select(Customer.id, type_coerce(exposure_expression(), Money())).order_by(Customer.id)
        )
        return {customer_id: amount for customer_id, amount in rows}


def test_open_orders_count_held_rejected_and_closed_do_not(
    db: Database, admin: Actor, manager: Actor
) -> None:
    cid = customers.create_customer(
        db, admin, {"number": "C-1", "name": "C-1", "credit_limit": "10000"}
    ).id
    ledger.post_invoice(db, admin, cid, "I-1", TODAY, "1000")
    ledger.record_payment(db, admin, cid, TODAY, "300")  # unapplied cash
    open_order = orders.enter_order(db, admin, {"customer_id": cid, "amount": "2000"})
    held = orders.enter_order(db, admin, {"customer_id": cid, "amount": "9000"})
    rejected = orders.enter_order(db, admin, {"customer_id": cid, "amount": "9500"})
    closed = orders.enter_order(db, admin, {"customer_id": cid, "amount": "500"})
    orders.reject_order(db, manager, rejected.id, rejected.version, "no")
    orders.close_order(db, admin, closed.id, closed.version, "cancelled")
    assert (open_order.status, held.status) == ("open", "held")
    expected = Decimal("1000") - Decimal("300") + Decimal("2000")
    assert _stored(db)[cid] == expected
    with db.write() as session:
        refresh_exposure(session, [cid])
    assert _stored(db)[cid] == expected
    with db.write() as session:
        session.execute(update(Customer).values(exposure=Decimal(0)))
        refresh_exposure_of_everyone(session)
    assert _stored(db)[cid] == expected


def test_everyone_refresh_agrees_and_leaves_other_currencies_out(
    db: Database, admin: Actor
) -> None:
    ids = [
        customers.create_customer(
            db, admin, {"number": f"C-{n}", "name": f"C-{n}", "credit_limit": "100000"}
        ).id
        for n in range(4)
    ]
    ledger.post_invoice(db, admin, ids[0], "I-0", TODAY, "100.10")
    for n, cid in enumerate(ids[:3]):
        orders.enter_order(db, admin, {"customer_id": cid, "amount": f"{n + 1}000.05"})
    with db.write() as session:  # as if written before the currency rule: it is not EUR money
        session.execute(
            insert(Order).values(
                number="USD-1",
                customer_id=ids[3],
                order_date=TODAY,
                amount=Decimal("777"),
                currency="USD",
                status="open",
                version=1,
            )
        )
        session.execute(update(Customer).values(exposure=Decimal("5")))
        refresh_exposure_of_everyone(session)
    everyone = _stored(db)
    assert everyone == _computed(db)
    assert [everyone[c] for c in ids] == [
        Decimal("1100.15"),
        Decimal("2000.05"),
        Decimal("3000.05"),
        Decimal("0.00"),
    ]


def test_sqlite_reads_open_orders_from_their_partial_index(db: Database, admin: Actor) -> None:
    if db.kind != "sqlite":
        return
    with db.read() as session:
        sql = str(
            select(Customer.id, exposure_expression()).compile(
                session.get_bind(), compile_kwargs={"literal_binds": True}
            )
        )
        plan = " ".join(
            str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        )
    assert "ix_orders_open_by_customer" in plan, plan
