"""The Invoices area's query: filters, sorts and paging in SQL, on both engines."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from o2c_desktop.db import Database
from o2c_desktop.models import Invoice, Role
from o2c_desktop.services import customers, invoices
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user

TODAY = date(2026, 6, 30)


@pytest.fixture
def ledger(db: Database, admin: Actor) -> dict[str, int]:
    """Two customers, one with a collector; items open, overdue, disputed, paid, a credit note."""
    colin = add_user(db, admin, "colin", Role.COLLECTOR)
    a = customers.create_customer(
        db, admin, {"number": "A-1", "name": "Alpha", "segment": "Retail", "collector": "colin"}
    )
    b = customers.create_customer(
        db, admin, {"number": "B-1", "name": "Beta", "segment": "Enterprise"}
    )
    rows = [  # number, customer, issue offset, due offset, amount, open, disputed, kind
        ("INV-1", a.id, -90, -60, "100.00", "100.00", "0", "invoice"),
        ("INV-2", a.id, -20, 10, "250.50", "250.50", "0", "invoice"),
        ("INV-3", b.id, -50, -20, "999.99", "499.99", "100.00", "invoice"),
        ("INV-4", b.id, -40, -10, "75.25", "0", "0", "invoice"),
        ("CN-1", a.id, -5, -5, "30.00", "30.00", "0", "credit_note"),
    ]
    with db.write() as session:
        for number, cid, issued, due, amount, open_, disputed, kind in rows:
            session.add(
                Invoice(
                    customer_id=cid,
                    kind=kind,
                    number=number,
                    issue_date=TODAY + timedelta(days=issued),
                    due_date=TODAY + timedelta(days=due),
                    amount=Decimal(amount),
                    open_amount=Decimal(open_),
                    currency="EUR",
                    disputed_amount=Decimal(disputed),
                )
            )
    return {"a": a.id, "b": b.id, "colin": colin.user_id}


def numbers(db: Database, actor: Actor, **query: object) -> list[str]:
    q = invoices.InvoiceQuery(as_of=TODAY, **query)  # type: ignore[arg-type]
    rows = invoices.list_invoices(db, actor, q)
    assert invoices.count_invoices(db, actor, q) == len(rows)
    return [r.number for r in rows]


def test_status_filters(db: Database, admin: Actor, ledger: dict[str, int]) -> None:
    assert numbers(db, admin, status="open") == ["INV-1", "INV-3", "CN-1", "INV-2"]
    assert numbers(db, admin, status="overdue") == ["INV-1", "INV-3"]
    assert numbers(db, admin, status="disputed") == ["INV-3"]
    assert numbers(db, admin, status="paid") == ["INV-4"]
    assert len(numbers(db, admin, status="all")) == 5


def test_other_filters(db: Database, admin: Actor, ledger: dict[str, int]) -> None:
    assert numbers(db, admin, status="all", collector_id=ledger["colin"]) == [
        "INV-1",
        "CN-1",
        "INV-2",
    ]
    assert numbers(db, admin, status="all", segment="Enterprise") == ["INV-3", "INV-4"]
    assert numbers(
        db, admin, status="all", amount_min=Decimal("75.25"), amount_max=Decimal("250.50")
    ) == ["INV-1", "INV-4", "INV-2"]
    assert numbers(db, admin, status="all", due_from=TODAY - timedelta(days=20), due_to=TODAY) == [
        "INV-3",
        "INV-4",
        "CN-1",
    ]
    assert numbers(db, admin, status="all", search="B-") == ["INV-3", "INV-4"]
    assert numbers(db, admin, status="all", search="INV-2") == ["INV-2"]
    assert numbers(db, admin, status="all", search="50%") == []  # LIKE wildcards are escaped


@pytest.mark.parametrize("key", invoices.SORT_KEYS)
def test_every_sort_key_orders_both_ways(
    db: Database, admin: Actor, ledger: dict[str, int], key: str
) -> None:
    up = invoices.list_invoices(
        db, admin, invoices.InvoiceQuery(status="all", sort_key=key, as_of=TODAY)
    )
    down = invoices.list_invoices(
        db, admin, invoices.InvoiceQuery(status="all", sort_key=key, descending=True, as_of=TODAY)
    )
    value = {"customer": lambda r: r.customer_number}.get(key, lambda r: getattr(r, key))
    assert [value(r) for r in up] == sorted(value(r) for r in up)
    assert [value(r) for r in down] == sorted((value(r) for r in down), reverse=True)


def test_rows_carry_exact_amounts_and_days_past_due(
    db: Database, admin: Actor, ledger: dict[str, int]
) -> None:
    rows = invoices.list_invoices(
        db, admin, invoices.InvoiceQuery(status="open", as_of=TODAY, sort_key="number")
    )
    first = next(r for r in rows if r.number == "INV-3")
    assert (first.amount, first.open_amount, first.disputed_amount) == (
        Decimal("999.99"),
        Decimal("499.99"),
        Decimal("100.00"),
    )
    assert first.days_past_due == 20
    assert first.customer_number == "B-1"


def test_paging_and_streaming_agree(db: Database, admin: Actor, ledger: dict[str, int]) -> None:
    query = invoices.InvoiceQuery(status="all", as_of=TODAY, sort_key="amount")
    pages = [
        r.number
        for offset in range(0, 5, 2)
        for r in invoices.list_invoices(db, admin, query, offset, 2)
    ]
    streamed = [
        r.number for batch in invoices.iter_invoices(db, admin, query, batch=2) for r in batch
    ]
    assert pages == streamed == numbers(db, admin, status="all", sort_key="amount")
