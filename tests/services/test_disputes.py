"""Disputes: raising them maintains the invoices' disputed amounts and never the balance; status
changes, conflicts, permissions, and a resolution in the customer's favour with a credit note."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, Dispute, Invoice
from o2c_desktop.services import customers, disputes, ledger, ledger_queries
from o2c_desktop.services.auth import Actor

D = date(2024, 3, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def _customer(db: Database, actor: Actor, number: str = "C-1") -> int:
    return customers.create_customer(db, actor, {"number": number, "name": number}).id


def _invoice(db: Database, item_id: int) -> Invoice:
    with db.read() as session:
        row = session.get(Invoice, item_id)
        session.expunge(row)
        return row


def _net(db: Database, actor: Actor, cid: int, when: date | None = None) -> Decimal:
    return ledger_queries.balance(db, actor, cid, when or date.today()).net_balance


def _exposure(db: Database, cid: int) -> Decimal:
    with db.read() as session:
        return session.get(Customer, cid).exposure


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


@pytest.fixture
def book(db: Database, admin: Actor) -> dict[str, Any]:
    """A customer with two invoices (A-1 1000, A-2 500), 300 paid on A-1."""
    cid = _customer(db, admin)
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("1000.00"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(2), Decimal("500.00"))
    ledger.record_payment(db, admin, cid, day(5), Decimal("300.00"), reference="A-1")
    return {"cid": cid, "a": a.id, "b": b.id}


def test_raise_dispute_sets_disputed_amounts_not_the_balance(
    db: Database, admin: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a, b = book["cid"], book["a"], book["b"]
    before = _net(db, admin, cid)
    row = disputes.raise_dispute(
        db,
        collector,
        cid,
        [(a, Decimal("200.00")), (b, "50")],
        "pricing",
        notes="  price list 2024 not applied ",
        opened_on=day(10),
    )
    assert (row.status, row.amount, row.currency, row.owner_name, row.notes) == (
        "open",
        Decimal("250.00"),
        "EUR",
        "Colin",
        "price list 2024 not applied",
    )
    assert [(i.invoice_number, i.amount) for i in row.items] == [
        ("A-1", Decimal("200.00")),
        ("A-2", Decimal("50")),
    ]
    assert (_invoice(db, a).disputed_amount, _invoice(db, b).disputed_amount) == (
        Decimal("200.00"),
        Decimal("50.00"),
    )
    # A second dispute on A-1 adds up.
    disputes.raise_dispute(db, collector, cid, [(a, "100")], "quality", opened_on=day(12))
    assert _invoice(db, a).disputed_amount == Decimal("300.00")
    assert _net(db, admin, cid) == before
    assert _exposure(db, cid) == before
    # Open items carry the disputed amount, dated: none before the dispute was opened.
    by_number = {r.number: r for r in ledger_queries.open_items(db, admin, cid, date.today())}
    assert by_number["A-1"].disputed_amount == Decimal("300.00")
    earlier = {r.number: r for r in ledger_queries.open_items(db, admin, cid, day(11))}
    assert earlier["A-1"].disputed_amount == Decimal("200.00")
    assert earlier["A-1"].open_amount == Decimal("700.00")
    with db.read() as session:
        entries = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.table_name == "disputes", AuditEntry.customer_id == cid)
        )
    assert entries


def test_raise_dispute_refusals_write_nothing(
    db: Database, admin: Actor, book: dict[str, Any]
) -> None:
    cid, a, b = book["cid"], book["a"], book["b"]
    other = _customer(db, admin, "C-2")
    foreign = ledger.post_invoice(db, admin, other, "B-1", day(0), Decimal("10")).id
    usd = ledger.post_invoice(db, admin, cid, "U-1", day(0), Decimal("10"), currency="USD").id
    note = ledger.post_credit_note(db, admin, cid, "CN-1", day(0), Decimal("10")).id
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"items": [(a, "700.01")]}, "amount", "more than invoice A-1's open amount 700.00"),
        ({"items": [(a, "0")]}, "amount", "more than zero"),
        ({"items": [(a, "1.001")]}, "amount", "at most 2 decimals"),
        ({"items": [(foreign, "1")]}, "invoice", "another customer"),
        ({"items": [(note, "1")]}, "invoice", "no such invoice"),
        ({"items": [(a, "1"), (a, "2")]}, "invoice", "listed twice"),
        ({"items": [(a, "1"), (usd, "1")]}, "items", "one currency"),
        ({"items": []}, "items", "at least one"),
        ({"reason_code": "angry"}, "reason_code", "one of pricing"),
        ({"customer_id": 999_999}, "customer", "no such customer"),
        ({"owner_id": 999_999}, "owner", "no active user"),
        ({"opened_on": day(1)}, "opened_on", "before invoice A-2 was issued"),
    ]
    for change, field, message in cases:
        args: dict[str, Any] = {
            "customer_id": cid,
            "items": [(b, "1")],
            "reason_code": "pricing",
            **change,
        }
        with pytest.raises(ValidationFailed) as exc:
            disputes.raise_dispute(db, admin, **args)
        assert message in _problems(exc).get(field, ""), (change, exc.value)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Dispute)) == 0
    # What is already disputed cannot be disputed again.
    disputes.raise_dispute(db, admin, cid, [(a, "600")], "pricing")
    with pytest.raises(ValidationFailed) as exc:
        disputes.raise_dispute(db, admin, cid, [(a, "100.01")], "pricing")
    assert "less 600.00 already disputed" in _problems(exc)["amount"]


def test_status_changes_keep_disputed_amounts_and_never_the_balance(
    db: Database, admin: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a = book["cid"], book["a"]
    before = _net(db, admin, cid)
    row = disputes.raise_dispute(db, collector, cid, [(a, "200")], "quantity", opened_on=day(6))
    row = disputes.set_status(db, collector, row.id, row.version, "in_review")
    assert row.status == "in_review" and _invoice(db, a).disputed_amount == Decimal("200")
    with pytest.raises(ValidationFailed) as exc:
        disputes.set_status(db, collector, row.id, row.version, "resolved_us")
    assert "required" in _problems(exc)["resolution"]
    with pytest.raises(ValidationFailed) as exc:
        disputes.set_status(db, collector, row.id, row.version, "closed")
    assert "one of open" in _problems(exc)["status"]
    row = disputes.set_status(
        db, collector, row.id, row.version, "resolved_us", "Delivery note signed", day(20)
    )
    assert (row.status, row.resolved_on, row.resolution, row.is_open) == (
        "resolved_us",
        day(20),
        "Delivery note signed",
        False,
    )
    assert _invoice(db, a).disputed_amount == Decimal("0")
    assert _net(db, admin, cid) == before
    # Dated: disputed between opening and resolution only.
    assert ledger_queries.open_items(db, admin, cid, day(19))[0].disputed_amount == 200
    assert ledger_queries.open_items(db, admin, cid, day(20))[0].disputed_amount == 0
    # Closed is final.
    with pytest.raises(ValidationFailed) as exc:
        disputes.set_status(db, collector, row.id, row.version, "open")
    assert "closed" in _problems(exc)["status"]
    # Withdrawn needs no resolution text.
    other = disputes.raise_dispute(db, collector, cid, [(a, "5")], "other")
    other = disputes.set_status(db, collector, other.id, other.version, "withdrawn")
    assert other.status == "withdrawn" and other.resolved_on == date.today()
    assert _invoice(db, a).disputed_amount == Decimal("0")
    assert _net(db, admin, cid) == before


def test_stale_version_is_a_conflict(
    db: Database, admin: Actor, manager: Actor, book: dict[str, Any]
) -> None:
    row = disputes.raise_dispute(db, admin, book["cid"], [(book["a"], "10")], "terms")
    disputes.set_status(db, manager, row.id, row.version, "in_review")
    with pytest.raises(ConflictError, match="maria") as exc:
        disputes.set_status(db, admin, row.id, row.version, "withdrawn")
    assert exc.value.details.their_values == {"status": "in_review"}
    with pytest.raises(NotFound):
        disputes.set_status(db, admin, 999_999, 1, "withdrawn")


def test_resolved_for_customer_with_credit_note(
    db: Database, admin: Actor, clerk: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a, b = book["cid"], book["a"], book["b"]
    before = _net(db, admin, cid)
    row = disputes.raise_dispute(
        db, collector, cid, [(a, "200"), (b, "100")], "pricing", opened_on=day(10)
    )
    # Meanwhile A-2 is mostly paid: the credit covers what is still open, the rest stays credit.
    ledger.record_payment(db, admin, cid, day(20), Decimal("450.00"), reference="A-2")
    with pytest.raises(PermissionDenied):
        disputes.set_status(
            db, collector, row.id, row.version, "resolved_customer", "agreed", credit_note=True
        )
    with pytest.raises(ValidationFailed) as exc:
        disputes.set_status(db, clerk, row.id, row.version, "resolved_us", "no", credit_note=True)
    assert "customer's favour" in _problems(exc)["credit_note"]
    row = disputes.set_status(
        db, clerk, row.id, row.version, "resolved_customer", "Agreed 10 % off", day(30), True
    )
    assert row.resolution == "Agreed 10 % off Credit note DSP-1 for 300.00 EUR."
    with db.read() as session:
        note = session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).one()
        assert (note.number, note.amount, note.issue_date, note.open_amount) == (
            "DSP-1",
            Decimal("300.00"),
            day(30),
            Decimal("50.00"),  # 200 went to A-1, 50 to A-2
        )
        assert ledger_queries.recompute_open_amounts(session) == {}
        assert ledger_queries.stale_allocation_copies(session) == []
    assert _invoice(db, a).open_amount == Decimal("500.00")
    assert _invoice(db, b).open_amount == Decimal("0")
    assert _invoice(db, a).disputed_amount == Decimal("0")
    assert _net(db, admin, cid) == before - Decimal("450.00") - Decimal("300.00")
    assert _exposure(db, cid) == _net(db, admin, cid)


def test_list_disputes(db: Database, admin: Actor, book: dict[str, Any]) -> None:
    cid, a = book["cid"], book["a"]
    other = _customer(db, admin, "C-2")
    x = ledger.post_invoice(db, admin, other, "B-1", day(0), Decimal("10")).id
    first = disputes.raise_dispute(db, admin, cid, [(a, "1")], "pricing", opened_on=day(3))
    second = disputes.raise_dispute(db, admin, cid, [(a, "2")], "duplicate", opened_on=day(1))
    third = disputes.raise_dispute(db, admin, other, [(x, "3")], "other", opened_on=day(2))
    disputes.set_status(db, admin, first.id, first.version, "withdrawn")
    assert [d.id for d in disputes.list_disputes(db, admin)] == [second.id, third.id]
    assert [d.id for d in disputes.list_disputes(db, admin, cid)] == [second.id]
    assert [d.id for d in disputes.list_disputes(db, admin, cid, open_only=False)] == [
        second.id,
        first.id,
    ]
    assert disputes.get_dispute(db, admin, third.id).items[0].invoice_number == "B-1"


def test_reassign_owner_is_audited_and_versioned(
    db: Database, admin: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a = book["cid"], book["a"]
    row = disputes.raise_dispute(db, admin, cid, [(a, "10")], "pricing", opened_on=day(6))
    moved = disputes.reassign(db, collector, row.id, row.version, collector.user_id)
    assert (moved.owner_id, moved.owner_name, moved.version) == (
        collector.user_id,
        "Colin",
        row.version + 1,
    )
    with db.read() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.table_name == "disputes",
                AuditEntry.record_id == str(row.id),
                AuditEntry.field == "owner_id",
                AuditEntry.action == "update",
            )
        ).one()
        assert (entry.old_value, entry.new_value, entry.username) == (
            str(admin.user_id),
            str(collector.user_id),
            "colin",
        )
    with pytest.raises(ConflictError, match="changed by colin"):
        disputes.reassign(db, admin, row.id, row.version, None)
    unowned = disputes.reassign(db, admin, moved.id, moved.version, None)
    assert unowned.owner_id is None
    with pytest.raises(ValidationFailed) as refused:
        disputes.reassign(db, admin, row.id, unowned.version, 999_999)
    assert _problems(refused) == {"owner": "no active user"}
    closed = disputes.set_status(db, admin, row.id, unowned.version, "withdrawn")
    with pytest.raises(ValidationFailed, match="closed"):
        disputes.reassign(db, admin, row.id, closed.version, admin.user_id)
    with pytest.raises(NotFound):
        disputes.reassign(db, admin, 999_999, 1, None)


@pytest.fixture
def work_list(db: Database, admin: Actor, collector: Actor) -> dict[str, Any]:
    """Three customers, five disputes in every status, owners admin / colin / nobody."""
    ids: dict[str, Any] = {}
    spec = (
        ("N-1", "Northwind Traders", "N1-1", "400.00"),
        ("N-2", "Northern Lights", "N2-1", "250.00"),
        ("S-1", "Southwind Supply", "S1-1", "900.00"),
    )
    for number, name, invoice, amount in spec:
        cid = customers.create_customer(db, admin, {"number": number, "name": name}).id
        ids[number] = cid
        ids[invoice] = ledger.post_invoice(db, admin, cid, invoice, day(0), Decimal(amount)).id
    ids["N1-2"] = ledger.post_invoice(db, admin, ids["N-1"], "N1-2", day(1), Decimal("100")).id
    ledger.record_payment(db, admin, ids["N-1"], day(3), Decimal("150.00"), reference="N1-1")
    make = disputes.raise_dispute
    ids["d1"] = make(
        db,
        admin,
        ids["N-1"],
        [(ids["N1-1"], "40"), (ids["N1-2"], "60")],
        "pricing",
        opened_on=day(5),
    )
    ids["d2"] = make(db, collector, ids["N-2"], [(ids["N2-1"], "20")], "quality", opened_on=day(2))
    ids["d3"] = make(db, admin, ids["S-1"], [(ids["S1-1"], "30")], "pricing", opened_on=day(8))
    d3 = disputes.reassign(db, admin, ids["d3"].id, ids["d3"].version, None)
    ids["d3"] = disputes.set_status(db, admin, d3.id, d3.version, "in_review")
    d4 = make(db, admin, ids["S-1"], [(ids["S1-1"], "5")], "other", opened_on=day(1))
    ids["d4"] = disputes.set_status(
        db,
        admin,
        d4.id,
        d4.version,
        "resolved_us",
        resolution="price was right",
        resolved_on=day(11),
    )
    return ids


def test_page_disputes_filters_sorts_and_counts_in_sql(
    db: Database, admin: Actor, collector: Actor, work_list: dict[str, Any]
) -> None:
    w = work_list
    as_of = day(20)

    def ids(**kw: Any) -> list[int]:
        query = disputes.DisputeQuery(as_of=as_of, **kw)
        rows = disputes.page_disputes(db, admin, query)
        assert disputes.count_disputes(db, admin, query) == len(rows)
        return [r.id for r in rows]

    d1, d2, d3, d4 = (w[k].id for k in ("d1", "d2", "d3", "d4"))
    # Default: open and in review, oldest first.
    assert ids() == [d2, d1, d3]
    every = disputes.DISPUTE_STATUSES
    assert ids(statuses=every) == [d4, d2, d1, d3]
    assert ids(statuses=disputes.CLOSED_STATUSES) == [d4]
    assert ids(statuses=("in_review",)) == [d3]
    assert ids(reason_code="pricing") == [d1, d3]
    assert ids(owner_id=collector.user_id) == [d2]
    assert ids(unassigned=True) == [d3]
    assert ids(search="north", statuses=every) == [d2, d1]
    assert ids(search="N-2") == [d2]
    assert ids(search="sup south", statuses=every) == [d4, d3]
    assert ids(customer_id=w["S-1"], statuses=every) == [d4, d3]
    assert ids(search="nothing-like-this") == []

    # The row: customer, items, open amount of the disputed items (all of each item), age.
    [row] = disputes.page_disputes(db, admin, disputes.DisputeQuery(as_of=as_of, search="N-1"))
    assert (row.customer_number, row.customer_name, row.invoice_numbers) == (
        "N-1",
        "Northwind Traders",
        ("N1-1", "N1-2"),
    )
    assert (row.amount, row.open_amount, row.currency) == (
        Decimal("100.00"),
        Decimal("350.00"),  # N1-1 400 - 150 paid, plus N1-2 100
        "EUR",
    )
    assert (row.owner_name, row.age_days, row.is_open) == (admin.display_name, 15, True)
    [closed] = disputes.page_disputes(
        db, admin, disputes.DisputeQuery(as_of=as_of, statuses=("resolved_us",))
    )
    assert (closed.resolved_on, closed.age_days, closed.resolution) == (
        day(11),
        10,
        "price was right",
    )

    # Every sort key runs in SQL, both directions; ties broken by id.
    def order(key: str, descending: bool = False) -> list[int]:
        return ids(statuses=every, sort_key=key, descending=descending)

    assert order("customer") == [d1, d2, d3, d4]
    assert order("customer_name", True) == [d4, d3, d1, d2]  # Southwind, Northwind, Northern
    assert order("amount") == [d4, d2, d3, d1]
    assert order("open_amount", True) == [d4, d3, d1, d2]  # 900, 900 (id desc), 350, 250
    assert order("age", True) == [d2, d1, d3, d4]  # 18, 15, 12, 10 days
    assert order("status") == [d1, d2, d3, d4]  # open, open, in review, resolved
    assert order("resolved_on") == [d4, d1, d2, d3]  # empty last
    assert order("owner")[-1] == d3  # nobody owns d3: last either way
    assert order("owner", True)[-1] == d3
    assert order("reason") == [d4, d1, d3, d2]

    # Pages: LIMIT/OFFSET over the same order; export streams every row.
    query = disputes.DisputeQuery(as_of=as_of, statuses=every, sort_key="customer")
    assert [r.id for r in disputes.page_disputes(db, admin, query, 1, 2)] == [d2, d3]
    batches = list(disputes.iter_disputes(db, admin, query, batch=3))
    assert [[r.id for r in b] for b in batches] == [[d1, d2, d3], [d4]]
    with pytest.raises(ValueError, match="cannot sort"):
        disputes.page_disputes(db, admin, disputes.DisputeQuery(sort_key="nonsense"))
    with pytest.raises(ValueError, match="unknown dispute status"):
        disputes.count_disputes(db, admin, disputes.DisputeQuery(statuses=("lost",)))
