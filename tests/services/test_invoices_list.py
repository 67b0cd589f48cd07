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


def test_disputed_amount_never_exceeds_what_is_open(db: Database, admin: Actor) -> None:
    """A dispute of 800 raised on an invoice of 1,000, then 500 paid: 500 is open and 800 is
    recorded as disputed; the open items, the invoice list and the KPIs show 500 disputed (and
    800 for a date before the payment)."""
    from o2c_desktop.services import disputes, kpis, ledger, ledger_queries

    start = date(2024, 3, 1)
    cid = customers.create_customer(db, admin, {"number": "D-1", "name": "Dee"}).id
    item = ledger.post_invoice(db, admin, cid, "DSP-1", start, Decimal("1000.00"))
    other = ledger.post_invoice(db, admin, cid, "DSP-2", start, Decimal("300.00"))
    disputes.raise_dispute(
        db,
        admin,
        cid,
        [(item.id, Decimal("800.00")), (other.id, Decimal("100.00"))],
        "pricing",
        opened_on=start + timedelta(days=10),
    )
    ledger.record_payment(
        db, admin, cid, start + timedelta(days=20), Decimal("500.00"), reference="DSP-1"
    )
    with db.read() as session:
        assert session.get(Invoice, item.id).disputed_amount == Decimal("800.00")  # as recorded

    today = date.today()
    rows = {r.number: r for r in ledger_queries.open_items(db, admin, cid, today)}
    assert (rows["DSP-1"].open_amount, rows["DSP-1"].disputed_amount) == (
        Decimal("500.00"),
        Decimal("500.00"),
    )
    assert rows["DSP-2"].disputed_amount == Decimal("100.00")
    before_payment = {
        r.number: r for r in ledger_queries.open_items(db, admin, cid, start + timedelta(days=15))
    }
    assert before_payment["DSP-1"].disputed_amount == Decimal("800.00")

    query = invoices.InvoiceQuery(status="disputed", sort_key="disputed_amount", as_of=today)
    listed = invoices.list_invoices(db, admin, query)
    assert [(r.number, r.disputed_amount) for r in listed] == [
        ("DSP-2", Decimal("100.00")),
        ("DSP-1", Decimal("500.00")),
    ]
    assert invoices.count_invoices(db, admin, query) == 2

    after = kpis.kpis(db, admin, start, start + timedelta(days=30), currency="EUR")
    assert after.disputed_amount == Decimal("600.00")
    before = kpis.kpis(db, admin, start, start + timedelta(days=15), currency="EUR")
    assert before.disputed_amount == Decimal("900.00")


def test_a_settled_item_is_not_listed_as_disputed(db: Database, admin: Actor) -> None:
    from o2c_desktop.services import disputes, ledger

    start = date(2024, 3, 1)
    cid = customers.create_customer(db, admin, {"number": "E-1", "name": "Eve"}).id
    item = ledger.post_invoice(db, admin, cid, "SET-1", start, Decimal("100.00"))
    disputes.raise_dispute(
        db, admin, cid, [(item.id, Decimal("40.00"))], "pricing", opened_on=start
    )
    query = invoices.InvoiceQuery(status="disputed", as_of=start + timedelta(days=30))
    assert [r.number for r in invoices.list_invoices(db, admin, query)] == ["SET-1"]
    ledger.record_payment(
        db, admin, cid, start + timedelta(days=5), Decimal("100.00"), reference="SET-1"
    )
    assert invoices.list_invoices(db, admin, query) == []
    assert invoices.count_invoices(db, admin, query) == 0
    everything = invoices.list_invoices(db, admin, replace_status(query, "all"))
    assert [(r.number, r.disputed_amount) for r in everything] == [("SET-1", Decimal("0.00"))]


def replace_status(query: invoices.InvoiceQuery, status: str) -> invoices.InvoiceQuery:
    from dataclasses import replace

    return replace(query, status=status)
