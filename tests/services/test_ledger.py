"""The AR ledger by hand-built cases: posting, cash application, discounts, credit notes,
reversals, write-offs, exposure, and the read side (open items, balance, history) on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied, ValidationFailed
from o2c_desktop.models import Allocation, AppSetting, AuditEntry, Customer, Invoice, Payment
from o2c_desktop.services import customers, ledger, ledger_queries
from o2c_desktop.services.auth import Actor

D = date(2024, 3, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def _customer(db: Database, actor: Actor, number: str = "C-1", **fields: Any) -> int:
    detail = customers.create_customer(db, actor, {"number": number, "name": number, **fields})
    return detail.id


def _count(db: Database, model: Any) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _exposure(db: Database, customer_id: int) -> Decimal:
    with db.read() as session:
        return session.get(Customer, customer_id).exposure


def _open(db: Database, item_id: int) -> Decimal:
    with db.read() as session:
        return session.get(Invoice, item_id).open_amount


def _unapplied(db: Database, payment_id: int) -> Decimal:
    with db.read() as session:
        return session.get(Payment, payment_id).unapplied_amount


def _consistent(db: Database) -> None:
    with db.read() as session:
        assert ledger_queries.recompute_open_amounts(session) == {}
        assert ledger_queries.stale_allocation_copies(session) == []


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


@pytest.fixture
def cid(db: Database, admin: Actor) -> int:
    return _customer(db, admin)


# ---------------------------------------------------------------------------------------------
# posting
# ---------------------------------------------------------------------------------------------


def test_post_invoice_takes_due_date_currency_from_customer(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    net = _customer(db, admin, "C-NET")
    eom = _customer(db, admin, "C-EOM", payment_terms="EOM30", currency="USD")
    a = ledger.post_invoice(db, clerk, net, "INV-1", day(0), Decimal("1000.00"))
    assert (a.due_date, a.currency, a.open_amount, a.kind) == (
        day(30),
        "EUR",
        Decimal("1000.00"),
        "invoice",
    )
    assert a.discount_percent is None and a.discount_until is None
    b = ledger.post_invoice(db, clerk, eom, "INV-2", date(2024, 3, 10), "250.5")
    assert b.due_date == date(2024, 3, 31) + timedelta(days=30)
    assert b.currency == "USD" and b.amount == Decimal("250.50")
    c = ledger.post_invoice(db, clerk, net, "INV-3", day(0), 10, due_date=day(5), currency="usd")
    assert (c.due_date, c.currency) == (day(5), "USD")
    # Exposure is in the customer's currency: the USD invoice is left out (no exchange rates).
    assert _exposure(db, net) == Decimal("1000.00")
    with db.read() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.table_name == "invoices",
                AuditEntry.record_id == str(a.id),
                AuditEntry.field == "amount",
            )
        ).one()
        assert (entry.action, entry.customer_id, entry.new_value) == ("create", net, "1000.00")
        assert entry.username == "clara" and entry.record_version == 1


def test_discount_terms_are_copied_to_the_invoice(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin, payment_terms="2/10N30")
    inv = ledger.post_invoice(db, admin, cid, "INV-1", day(0), Decimal("1000"))
    assert inv.discount_percent == Decimal("2.00")
    assert inv.discount_until == day(10)
    assert inv.due_date == day(30)


def test_credit_note_is_due_at_once_and_lowers_exposure(
    db: Database, admin: Actor, cid: int
) -> None:
    ledger.post_invoice(db, admin, cid, "INV-1", day(0), Decimal("500"))
    note = ledger.post_credit_note(db, admin, cid, "CN-1", day(3), Decimal("120.00"))
    assert (note.kind, note.due_date, note.open_amount) == ("credit_note", day(3), Decimal("120"))
    assert note.discount_percent is None
    assert _exposure(db, cid) == Decimal("380.00")
    # Numbers are unique per kind: an invoice and a credit note may share one.
    ledger.post_credit_note(db, admin, cid, "INV-1", day(3), Decimal("1"))


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"customer_id": 999_999}, "customer", "no such customer"),
        ({"number": "  "}, "number", "required"),
        ({"number": "X" * 41}, "number", "longer than 40"),
        ({"amount": Decimal("0")}, "amount", "more than zero"),
        ({"amount": Decimal("-5")}, "amount", "more than zero"),
        ({"amount": Decimal("1.005")}, "amount", "at most 2 decimals"),
        ({"amount": 1.5}, "amount", "not a float"),
        ({"amount": "abc"}, "amount", "not a number"),
        ({"currency": "EUD"}, "currency", "unknown currency"),
        ({"currency": "JPY", "amount": Decimal("10.5")}, "amount", "at most 0 decimals"),
        ({"due_date": date(2024, 2, 1)}, "due_date", "before the issue date"),
        ({"issue_date": None}, "issue_date", "required"),
    ],
)
def test_posting_refuses_bad_input_and_writes_nothing(
    db: Database, admin: Actor, cid: int, kwargs: dict[str, Any], field: str, message: str
) -> None:
    args: dict[str, Any] = {
        "customer_id": cid,
        "number": "INV-1",
        "issue_date": day(0),
        "amount": Decimal("100"),
    }
    args.update(kwargs)  # (the parameters are shared by both engines' runs: never mutate them)
    audit_before = _count(db, AuditEntry)
    with pytest.raises(ValidationFailed) as exc:
        ledger.post_invoice(db, admin, **args)
    assert message in _problems(exc)[field]
    assert _count(db, Invoice) == 0
    assert _count(db, AuditEntry) == audit_before


def test_duplicate_number_per_kind_is_refused(db: Database, admin: Actor, cid: int) -> None:
    other = _customer(db, admin, "C-2")
    ledger.post_invoice(db, admin, cid, "INV-1", day(0), Decimal("100"))
    with pytest.raises(ValidationFailed) as exc:
        ledger.post_invoice(db, admin, other, "INV-1", day(0), Decimal("100"))
    assert "already has this number" in _problems(exc)["number"]
    ledger.post_credit_note(db, admin, cid, "CN-1", day(0), Decimal("1"))
    with pytest.raises(ValidationFailed):
        ledger.post_credit_note(db, admin, cid, "CN-1", day(0), Decimal("1"))
    assert _count(db, Invoice) == 2


def test_collector_may_not_post_or_apply(
    db: Database, admin: Actor, collector: Actor, cid: int
) -> None:
    with pytest.raises(PermissionDenied, match="may not post invoices"):
        ledger.post_invoice(db, collector, cid, "INV-1", day(0), Decimal("100"))
    pay = ledger.record_payment(db, admin, cid, day(0), Decimal("10"), apply="none").payment
    with pytest.raises(PermissionDenied, match="may not apply or reverse cash"):
        ledger.apply_oldest_first(db, collector, pay.id)


# ---------------------------------------------------------------------------------------------
# payments and cash application
# ---------------------------------------------------------------------------------------------


def test_partial_payments_then_full(db: Database, clerk: Actor, admin: Actor, cid: int) -> None:
    inv = ledger.post_invoice(db, clerk, cid, "INV-1", day(0), Decimal("1000.00"))
    first = ledger.record_payment(db, clerk, cid, day(5), Decimal("300.00"), reference="INV-1")
    assert [(a.kind, a.invoice_id, a.amount, a.date) for a in first.allocations] == [
        ("payment", inv.id, Decimal("300.00"), day(5))
    ]
    assert first.payment.unapplied_amount == Decimal("0")
    assert _open(db, inv.id) == Decimal("700.00")
    assert _exposure(db, cid) == Decimal("700.00")
    second = ledger.record_payment(db, clerk, cid, day(9), Decimal("700.00"), reference="inv-1")
    assert second.applied == Decimal("700.00")
    assert _open(db, inv.id) == Decimal("0")
    assert _exposure(db, cid) == Decimal("0")
    # A past date shows what was open then.
    [row] = ledger_queries.open_items(db, admin, cid, day(6))
    assert row.open_amount == Decimal("700.00")
    assert ledger_queries.open_items(db, admin, cid, day(9)) == []
    assert ledger_queries.open_items(db, admin, cid, date.today()) == []
    _consistent(db)


def test_over_payment_leaves_unapplied_cash(db: Database, admin: Actor, cid: int) -> None:
    inv = ledger.post_invoice(db, admin, cid, "INV-1", day(0), Decimal("1000.00"))
    result = ledger.record_payment(db, admin, cid, day(4), Decimal("1200.00"), reference="INV-1")
    assert result.applied == Decimal("1000.00")
    assert result.payment.unapplied_amount == Decimal("200.00")
    assert _open(db, inv.id) == Decimal("0")
    assert _exposure(db, cid) == Decimal("-200.00")
    bal = ledger_queries.balance(db, admin, cid, day(4))
    assert (bal.open_items_total, bal.unapplied_cash, bal.net_balance) == (
        Decimal("0"),
        Decimal("200.00"),
        Decimal("-200.00"),
    )
    _consistent(db)


def test_under_payment_leaves_the_rest_open(db: Database, admin: Actor, cid: int) -> None:
    inv = ledger.post_invoice(db, admin, cid, "INV-1", day(0), Decimal("1000.00"))
    result = ledger.record_payment(db, admin, cid, day(4), Decimal("999.99"), reference="INV-1")
    assert result.payment.unapplied_amount == Decimal("0")
    assert _open(db, inv.id) == Decimal("0.01")
    assert ledger_queries.balance(db, admin, cid, day(4)).net_balance == Decimal("0.01")


def test_reference_matching(db: Database, admin: Actor, cid: int) -> None:
    other = _customer(db, admin, "C-2")
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(0), Decimal("100"))
    ledger.post_invoice(db, admin, other, "B-1", day(0), Decimal("100"))
    # Two invoices named, in the order named; words around them are ignored.
    result = ledger.record_payment(
        db, admin, cid, day(1), Decimal("150"), reference="Payment a-2, A-1. thanks"
    )
    assert [(x.invoice_id, x.amount) for x in result.allocations] == [
        (b.id, Decimal("100")),
        (a.id, Decimal("50")),
    ]
    # Another customer's invoice number, a paid invoice, or no reference: left unapplied.
    for reference in ("B-1", "A-2", None):
        left = ledger.record_payment(db, admin, cid, day(2), Decimal("10"), reference=reference)
        assert left.allocations == () and left.payment.unapplied_amount == Decimal("10")
    # apply="none" ignores a reference that would match.
    kept = ledger.record_payment(
        db, admin, cid, day(2), Decimal("5"), reference="A-1", apply="none"
    )
    assert kept.allocations == ()
    assert _open(db, a.id) == Decimal("50")
    _consistent(db)


def test_oldest_first_by_due_date_then_number(db: Database, admin: Actor, cid: int) -> None:
    late = ledger.post_invoice(db, admin, cid, "N-1", day(0), Decimal("100"), due_date=day(40))
    second = ledger.post_invoice(db, admin, cid, "N-3", day(5), Decimal("100"), due_date=day(20))
    first = ledger.post_invoice(db, admin, cid, "N-2", day(6), Decimal("100"), due_date=day(20))
    usd = ledger.post_invoice(db, admin, cid, "N-0", day(0), Decimal("100"), currency="USD")
    result = ledger.record_payment(db, admin, cid, day(10), Decimal("250"), apply="oldest-first")
    assert [(a.invoice_number, a.amount) for a in result.allocations] == [
        ("N-2", Decimal("100")),
        ("N-3", Decimal("100")),
        ("N-1", Decimal("50")),
    ]
    assert [_open(db, i.id) for i in (first, second, late, usd)] == [
        Decimal("0"),
        Decimal("0"),
        Decimal("50"),
        Decimal("100"),
    ]
    # An unapplied payment applied later: more cash than invoices leaves the rest unapplied.
    pay = ledger.record_payment(db, admin, cid, day(11), Decimal("80"), apply="none").payment
    made = ledger.apply_oldest_first(db, admin, pay.id)
    assert [(a.invoice_number, a.amount) for a in made] == [("N-1", Decimal("50"))]
    assert _unapplied(db, pay.id) == Decimal("30")
    assert ledger.apply_oldest_first(db, admin, pay.id) == []
    _consistent(db)


def test_user_picked_allocation_and_dates(db: Database, admin: Actor, cid: int) -> None:
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(8), Decimal("100"))
    pay = ledger.record_payment(db, admin, cid, day(5), Decimal("150"), apply="none").payment
    made = ledger.allocate(db, admin, pay.id, [(a.id, Decimal("60")), (b.id, "40")])
    # Dated max(payment date, invoice issue date).
    assert [(x.invoice_id, x.amount, x.date) for x in made] == [
        (a.id, Decimal("60"), day(5)),
        (b.id, Decimal("40"), day(8)),
    ]
    again = ledger.allocate(db, admin, pay.id, [(a.id, Decimal("40"))], on=day(12))
    assert again[0].date == day(12)
    assert _unapplied(db, pay.id) == Decimal("10")
    assert (_open(db, a.id), _open(db, b.id)) == (Decimal("0"), Decimal("60"))
    assert _exposure(db, cid) == Decimal("50")
    _consistent(db)


def test_allocation_refusals_write_nothing(db: Database, admin: Actor, cid: int) -> None:
    other = _customer(db, admin, "C-2")
    inv = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    foreign = ledger.post_invoice(db, admin, other, "B-1", day(0), Decimal("100"))
    usd = ledger.post_invoice(db, admin, cid, "U-1", day(0), Decimal("100"), currency="USD")
    note = ledger.post_credit_note(db, admin, cid, "CN-1", day(0), Decimal("10"))
    pay = ledger.record_payment(db, admin, cid, day(5), Decimal("150"), apply="none").payment
    small = ledger.record_payment(db, admin, cid, day(5), Decimal("20"), apply="none").payment
    cases: list[tuple[int, list[tuple[int, Any]], dict[str, Any], str, str]] = [
        (pay.id, [(inv.id, Decimal("100.01"))], {}, "amount", "more than the open amount"),
        (pay.id, [(inv.id, "60"), (inv.id, "41")], {}, "amount", "more than the open amount"),
        (small.id, [(inv.id, Decimal("21"))], {}, "amount", "more than the unapplied"),
        (pay.id, [(foreign.id, Decimal("1"))], {}, "invoice", "another customer"),
        (pay.id, [(usd.id, Decimal("1"))], {}, "invoice", "same currency"),
        (pay.id, [(note.id, Decimal("1"))], {}, "invoice", "is a credit note"),
        (pay.id, [(999_999, Decimal("1"))], {}, "invoice", "no such invoice"),
        (pay.id, [(inv.id, Decimal("0.001"))], {}, "amount", "at most 2 decimals"),
        (pay.id, [(inv.id, Decimal("-1"))], {}, "amount", "more than zero"),
        (pay.id, [(inv.id, Decimal("1"))], {"on": day(4)}, "on", "before the payment date"),
        (pay.id, [], {}, "invoice", "at least one"),
        (999_999, [(inv.id, Decimal("1"))], {}, "payment", "no such payment"),
    ]
    before = (_count(db, Allocation), _count(db, AuditEntry))
    for payment_id, pairs, kwargs, field, message in cases:
        with pytest.raises(ValidationFailed) as exc:
            ledger.allocate(db, admin, payment_id, pairs, **kwargs)
        assert message in _problems(exc).get(field, ""), (pairs, exc.value)
    assert (_count(db, Allocation), _count(db, AuditEntry)) == before
    assert (_open(db, inv.id), _unapplied(db, pay.id)) == (Decimal("100"), Decimal("150"))


def test_payment_input_is_validated(db: Database, admin: Actor, cid: int) -> None:
    with pytest.raises(ValidationFailed) as exc:
        ledger.record_payment(
            db,
            admin,
            999_999,
            None,
            Decimal("0"),
            apply="sideways",  # type: ignore[arg-type]
        )
    problems = _problems(exc)
    assert {"customer", "date", "amount", "apply"} <= problems.keys()
    ledger.record_payment(db, admin, cid, day(0), Decimal("1"), external_id="BANK-1")
    with pytest.raises(ValidationFailed) as exc:
        ledger.record_payment(db, admin, cid, day(0), Decimal("1"), external_id="BANK-1")
    assert "external id" in _problems(exc)["external_id"]
    assert _count(db, Payment) == 1


# ---------------------------------------------------------------------------------------------
# credit notes
# ---------------------------------------------------------------------------------------------


def test_credit_note_application(db: Database, admin: Actor, cid: int) -> None:
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(10), Decimal("100"))
    note = ledger.post_credit_note(db, admin, cid, "CN-1", day(5), Decimal("150"))
    assert _exposure(db, cid) == Decimal("50")
    made = ledger.apply_credit_note(db, admin, note.id, [(a.id, "100"), (b.id, "30")])
    assert [(x.kind, x.credit_note_number, x.date, x.payment_id) for x in made] == [
        ("credit_note", "CN-1", day(5), None),
        ("credit_note", "CN-1", day(10), None),
    ]
    assert (_open(db, a.id), _open(db, b.id), _open(db, note.id)) == (
        Decimal("0"),
        Decimal("70"),
        Decimal("20"),
    )
    assert _exposure(db, cid) == Decimal("50")  # applying credit moves nothing
    with pytest.raises(ValidationFailed) as exc:
        ledger.apply_credit_note(db, admin, note.id, [(b.id, "21")])
    assert "more than the unallocated 20.00 of credit note CN-1" in _problems(exc)["amount"]
    with pytest.raises(ValidationFailed) as exc:
        ledger.apply_credit_note(db, admin, a.id, [(b.id, "1")])
    assert "not a credit note" in _problems(exc)["credit_note"]
    with pytest.raises(ValidationFailed) as exc:
        ledger.apply_credit_note(db, admin, note.id, [(b.id, "1")], on=day(4))
    assert "credit note's issue date" in _problems(exc)["on"]
    # Open items at a past date: the credit note before it was applied.
    rows = {r.number: r for r in ledger_queries.open_items(db, admin, cid, day(7))}
    assert rows["CN-1"].open_amount == Decimal("50") and rows["CN-1"].signed_open == -50
    assert "A-2" not in rows  # not issued yet
    _consistent(db)


# ---------------------------------------------------------------------------------------------
# early-payment discount
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def discount_customer(db: Database, admin: Actor) -> int:
    return _customer(db, admin, "C-DISC", payment_terms="2/10N30")


def test_payment_inside_window_settles_with_discount(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("1000.00"))
    result = ledger.record_payment(db, admin, cid, day(10), Decimal("980.00"), reference="D-1")
    assert [(a.kind, a.amount, a.date, a.payment_id) for a in result.allocations] == [
        ("payment", Decimal("980.00"), day(10), result.payment.id),
        ("discount", Decimal("20.00"), day(10), None),
    ]
    assert _open(db, inv.id) == Decimal("0")
    assert result.payment.unapplied_amount == Decimal("0")
    assert _exposure(db, cid) == Decimal("0")
    _consistent(db)


def test_payment_after_window_earns_no_discount(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("1000.00"))
    result = ledger.record_payment(db, admin, cid, day(11), Decimal("980.00"), reference="D-1")
    assert [a.kind for a in result.allocations] == ["payment"]
    assert _open(db, inv.id) == Decimal("20.00")
    pay2 = ledger.record_payment(db, admin, cid, day(11), Decimal("1"), apply="none").payment
    with pytest.raises(ValidationFailed) as exc:
        ledger.allocate(db, admin, pay2.id, [(inv.id, "1")], settle_discount=True)
    assert "after invoice D-1's discount window (until 2024-03-11)" in _problems(exc)["discount"]


def test_discount_is_rounded_half_even_once(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    # 333.33 × 0.98 = 326.6634 -> 326.66; discount 6.67. 0.25 × 0.98 = 0.245 -> 0.24 (half-even).
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("333.33"))
    tiny = ledger.post_invoice(db, admin, cid, "D-2", day(0), Decimal("0.25"))
    r1 = ledger.record_payment(db, admin, cid, day(3), Decimal("326.66"), reference="D-1")
    r2 = ledger.record_payment(db, admin, cid, day(3), Decimal("0.24"), reference="D-2")
    assert [a.amount for a in r1.allocations] == [Decimal("326.66"), Decimal("6.67")]
    assert [a.amount for a in r2.allocations] == [Decimal("0.24"), Decimal("0.01")]
    assert (_open(db, inv.id), _open(db, tiny.id)) == (Decimal("0"), Decimal("0"))


def test_settle_with_discount_on_request(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("1000.00"))
    pay = ledger.record_payment(db, admin, cid, day(9), Decimal("985.00"), apply="none").payment
    # Customer paid 981.50: the user grants 18.50 of discount (no more than the 20.00 of terms).
    with pytest.raises(ValidationFailed) as exc:
        ledger.allocate(db, admin, pay.id, [(inv.id, "979.99")], settle_discount=True)
    assert "more than its discount 20.00" in _problems(exc)["discount"]
    made = ledger.allocate(db, admin, pay.id, [(inv.id, "981.50")], settle_discount=True)
    assert [(a.kind, a.amount) for a in made] == [
        ("payment", Decimal("981.50")),
        ("discount", Decimal("18.50")),
    ]
    assert _open(db, inv.id) == Decimal("0")
    assert _unapplied(db, pay.id) == Decimal("3.50")
    # Without discount terms there is nothing to grant.
    plain = _customer(db, admin, "C-PLAIN")
    other = ledger.post_invoice(db, admin, plain, "P-1", day(0), Decimal("10"))
    cash = ledger.record_payment(db, admin, plain, day(1), Decimal("9"), apply="none").payment
    with pytest.raises(ValidationFailed) as exc:
        ledger.allocate(db, admin, cash.id, [(other.id, "9")], settle_discount=True)
    assert "has no early-payment discount" in _problems(exc)["discount"]
    _consistent(db)


def test_two_partial_payments_inside_window_earn_the_discount(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("1000.00"))
    ledger.record_payment(db, admin, cid, day(2), Decimal("500.00"), reference="D-1")
    second = ledger.record_payment(db, admin, cid, day(8), Decimal("480.00"), reference="D-1")
    assert [a.kind for a in second.allocations] == ["payment", "discount"]
    assert _open(db, inv.id) == Decimal("0")


# ---------------------------------------------------------------------------------------------
# reversals
# ---------------------------------------------------------------------------------------------


def test_reversal_restores_amounts_and_keeps_the_past(
    db: Database, admin: Actor, clerk: Actor, cid: int
) -> None:
    inv = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    result = ledger.record_payment(db, admin, cid, day(5), Decimal("100"), reference="A-1")
    [alloc] = result.allocations
    with pytest.raises(ValidationFailed) as exc:
        ledger.reverse_allocation(db, clerk, alloc.id, day(20), "  ")
    assert "required" in _problems(exc)["reason"]
    with pytest.raises(ValidationFailed) as exc:
        ledger.reverse_allocation(db, clerk, alloc.id, day(4), reason="wrong customer")
    assert "before the allocation's date" in _problems(exc)["on"]
    [reversed_] = ledger.reverse_allocation(db, clerk, alloc.id, day(20), "wrong customer")
    assert reversed_.reversed_on == day(20)
    assert _open(db, inv.id) == Decimal("100")
    assert _unapplied(db, result.payment.id) == Decimal("100")
    assert _exposure(db, cid) == Decimal("0")  # 100 open − 100 unapplied
    # On day 10 the allocation still counted; on day 20 it no longer did.
    assert ledger_queries.open_items(db, admin, cid, day(10)) == []
    [row] = ledger_queries.open_items(db, admin, cid, day(20))
    assert row.open_amount == Decimal("100")
    assert ledger_queries.balance(db, admin, cid, day(10)).unapplied_cash == Decimal("0")
    assert ledger_queries.balance(db, admin, cid, day(20)).unapplied_cash == Decimal("100")
    with pytest.raises(ValidationFailed) as exc:
        ledger.reverse_allocation(db, clerk, alloc.id, day(21), "again")
    assert "already reversed on 2024-03-21" in _problems(exc)["allocation"]
    with db.read() as session:
        reasons = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "allocations",
                AuditEntry.record_id == str(alloc.id),
                AuditEntry.field == "reversal_reason",
            )
        ).all()
    assert reasons == ["wrong customer"]
    events = [
        (r.date, r.entry, r.change, r.balance) for r in ledger_queries.history(db, admin, cid)
    ]
    assert events == [
        (day(0), "invoice", Decimal("100"), Decimal("100")),
        (day(5), "payment", Decimal("-100"), Decimal("0")),
        (day(5), "allocation", Decimal("0"), Decimal("0")),
        (day(20), "reversal", Decimal("0"), Decimal("0")),
    ]
    _consistent(db)


def test_allocations_write_offs_and_reversals_cannot_be_dated_after_today(
    db: Database, admin: Actor, cid: int
) -> None:
    """Found by the property test: a reversal dated tomorrow restored today's maintained open
    amount while the dated history still counted the allocation today, so the two disagreed."""
    tomorrow = date.today() + timedelta(days=1)
    inv = ledger.post_invoice(db, admin, cid, "F-1", day(0), Decimal("100"))
    result = ledger.record_payment(db, admin, cid, day(5), Decimal("60"))
    with pytest.raises(ValidationFailed) as exc:
        ledger.allocate(db, admin, result.payment.id, [(inv.id, "60")], on=tomorrow)
    assert "after today" in _problems(exc)["on"]
    [made] = ledger.allocate(db, admin, result.payment.id, [(inv.id, "60")])
    with pytest.raises(ValidationFailed) as exc:
        ledger.reverse_allocation(db, admin, made.id, tomorrow, "bounced")
    assert "after today" in _problems(exc)["on"]
    with pytest.raises(ValidationFailed) as exc:
        ledger.write_off(db, admin, inv.id, Decimal("40"), tomorrow, "small balance")
    assert "after today" in _problems(exc)["on"]
    assert _open(db, inv.id) == Decimal("40")
    _consistent(db)


def test_reapplying_reversed_cash_is_dated_from_the_reversal(
    db: Database, admin: Actor, cid: int
) -> None:
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(0), Decimal("100"))
    result = ledger.record_payment(db, admin, cid, day(5), Decimal("100"), reference="A-1")
    ledger.reverse_allocation(db, admin, result.allocations[0].id, day(20), "meant A-2")
    # The cash was on A-1 until day 20: re-applying it earlier would over-allocate the payment.
    with pytest.raises(ValidationFailed) as exc:
        ledger.allocate(db, admin, result.payment.id, [(b.id, "100")], on=day(10))
    assert "possible from 2024-03-21" in _problems(exc)["on"]
    [made] = ledger.allocate(db, admin, result.payment.id, [(b.id, "100")])
    assert made.date == day(20)
    for when in (day(5), day(10), day(19), day(20), date.today()):
        bal = ledger_queries.balance(db, admin, cid, when)
        assert 0 <= bal.unapplied_cash <= 100
        assert bal.net_balance == Decimal("100")
    assert (_open(db, a.id), _open(db, b.id)) == (Decimal("100"), Decimal("0"))
    _consistent(db)


def test_reversing_a_discounted_payment_reverses_its_discount(
    db: Database, admin: Actor, discount_customer: int
) -> None:
    cid = discount_customer
    inv = ledger.post_invoice(db, admin, cid, "D-1", day(0), Decimal("1000.00"))
    result = ledger.record_payment(db, admin, cid, day(10), Decimal("980.00"), reference="D-1")
    payment_alloc = result.allocations[0]
    reversed_ = ledger.reverse_allocation(db, admin, payment_alloc.id, day(15), "bounced")
    assert sorted(r.kind for r in reversed_) == ["discount", "payment"]
    assert _open(db, inv.id) == Decimal("1000.00")
    assert _exposure(db, cid) == Decimal("20.00")  # 1000 open − 980 unapplied
    # History: the discount lowered the balance on day 10 and came back on day 15.
    changes = [(r.date, r.entry, r.kind, r.change) for r in ledger_queries.history(db, admin, cid)]
    assert (day(10), "allocation", "discount", Decimal("-20.00")) in changes
    assert (day(15), "reversal", "discount", Decimal("20.00")) in changes
    assert ledger_queries.balance(db, admin, cid, day(12)).net_balance == Decimal("0")
    assert ledger_queries.balance(db, admin, cid, day(15)).net_balance == Decimal("20.00")
    _consistent(db)


# ---------------------------------------------------------------------------------------------
# write-offs
# ---------------------------------------------------------------------------------------------


def test_write_off_authority(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, cid: int
) -> None:
    inv = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("5000"))
    with pytest.raises(PermissionDenied, match="may not write off"):
        ledger.write_off(db, clerk, inv.id, Decimal("10"), day(40), "small balance")
    made = ledger.write_off(db, manager, inv.id, Decimal("1000.00"), day(40), "small balance")
    assert (made.kind, made.amount, made.date, made.note) == (
        "write_off",
        Decimal("1000.00"),
        day(40),
        "small balance",
    )
    with pytest.raises(PermissionDenied, match=r"at most 1,000\.00"):
        ledger.write_off(db, manager, inv.id, Decimal("1000.01"), day(40), "too much")
    with pytest.raises(ValidationFailed) as exc:
        ledger.write_off(db, manager, inv.id, Decimal("10"), day(40), "")
    assert "required" in _problems(exc)["reason"]
    # The administrator is not in the setting: no limit.
    ledger.write_off(db, admin, inv.id, Decimal("3000"), None, "insolvency")
    assert _open(db, inv.id) == Decimal("1000")
    with pytest.raises(ValidationFailed) as exc:
        ledger.write_off(db, admin, inv.id, Decimal("1000.01"), day(41), "x")
    assert "more than the open amount" in _problems(exc)["amount"]
    # The setting raises the manager's authority.
    with db.write() as session:
        session.add(
            AppSetting(key=ledger.WRITE_OFF_SETTING, value=json.dumps({"credit_manager": "5000"}))
        )
    ledger.write_off(db, manager, inv.id, Decimal("1000"), day(41), "rest")
    assert _open(db, inv.id) == Decimal("0")
    assert _exposure(db, cid) == Decimal("0")
    with db.read() as session:
        authority = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "allocations", AuditEntry.field == "authority"
            )
        ).all()
    assert authority == ["1000.00", "no limit", "5000"]
    # Reversing a write-off needs the write-off permission too.
    with pytest.raises(PermissionDenied):
        ledger.reverse_allocation(db, clerk, made.id, None, "oops")
    ledger.reverse_allocation(db, manager, made.id, None, "customer paid after all")
    assert _open(db, inv.id) == Decimal("1000.00")
    _consistent(db)


def test_write_off_is_dated_and_shows_in_history(db: Database, admin: Actor, cid: int) -> None:
    inv = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    with pytest.raises(ValidationFailed) as exc:
        ledger.write_off(db, admin, inv.id, Decimal("10"), day(-1), "x")
    assert "before invoice A-1's issue date" in _problems(exc)["on"]
    ledger.write_off(db, admin, inv.id, Decimal("30"), day(50), "goodwill")
    assert ledger_queries.balance(db, admin, cid, day(49)).net_balance == Decimal("100")
    assert ledger_queries.balance(db, admin, cid, day(50)).net_balance == Decimal("70")
    last = ledger_queries.history(db, admin, cid)[-1]
    assert (last.entry, last.kind, last.change, last.balance) == (
        "allocation",
        "write_off",
        Decimal("-30"),
        Decimal("70"),
    )
    assert "goodwill" in last.description


# ---------------------------------------------------------------------------------------------
# read side
# ---------------------------------------------------------------------------------------------


def _scenario(db: Database, admin: Actor, cid: int) -> None:
    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100.00"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(3), Decimal("250.00"))
    ledger.post_invoice(db, admin, cid, "A-3", day(9), Decimal("75.50"), due_date=day(12))
    note = ledger.post_credit_note(db, admin, cid, "CN-1", day(4), Decimal("40.00"))
    ledger.record_payment(db, admin, cid, day(6), Decimal("120.00"), reference="A-1")
    pay = ledger.record_payment(db, admin, cid, day(8), Decimal("90.00"), apply="none").payment
    ledger.allocate(db, admin, pay.id, [(b.id, "60")])
    ledger.apply_credit_note(db, admin, note.id, [(b.id, "25")], on=day(11))
    ledger.write_off(db, admin, b.id, Decimal("5"), day(14), "rounding")
    first = ledger.allocations_of_item(db, admin, a.id)[0]
    ledger.reverse_allocation(db, admin, first.id, day(13), "bounced")


def test_open_items_balance_and_history_agree_at_every_date(
    db: Database, admin: Actor, cid: int
) -> None:
    _scenario(db, admin, cid)
    rows = ledger_queries.history(db, admin, cid)
    dates = sorted({r.date for r in rows})
    last_balance = {r.date: r.balance for r in rows}  # the last row of each date wins
    for when in [day(-1), *dates, date.today()]:
        bal = ledger_queries.balance(db, admin, cid, when)
        items = ledger_queries.open_items(db, admin, cid, when)
        assert bal.open_items_total == sum((i.signed_open for i in items), start=Decimal(0))
        assert bal.net_balance == bal.open_items_total - bal.unapplied_cash
        assert all(0 < i.open_amount <= i.amount for i in items)
        if when in last_balance:
            assert bal.net_balance == last_balance[when], when
    assert ledger_queries.balance(db, admin, cid, day(-1)).net_balance == 0
    # Today: maintained amounts answer, and equal the dated computation of the last event.
    today = ledger_queries.balance(db, admin, cid, date.today())
    assert today.net_balance == rows[-1].balance == _exposure(db, cid)
    assert [
        (i.number, i.open_amount) for i in ledger_queries.open_items(db, admin, cid, day(30))
    ] == [
        (i.number, i.open_amount) for i in ledger_queries.open_items(db, admin, cid, date.today())
    ]
    with db.read() as session:
        args = (session, cid, date.today())
        assert ledger_queries.open_items_in_session(
            *args, dated=True
        ) == ledger_queries.open_items_in_session(*args, dated=False)
        assert ledger_queries.balances_in_session(
            *args, dated=True
        ) == ledger_queries.balances_in_session(*args, dated=False)
    _consistent(db)


def test_post_dated_allocation_makes_today_use_the_dated_rows(
    db: Database, admin: Actor, cid: int
) -> None:
    """A payment allocation dated after today must not show as paid today."""
    today = date.today()
    inv = ledger.post_invoice(db, admin, cid, "A-1", today, Decimal("100"))
    ledger.record_payment(db, admin, cid, today + timedelta(5), Decimal("100"), reference="A-1")
    assert _open(db, inv.id) == Decimal("0")  # maintained: as after every dated row
    [row] = ledger_queries.open_items(db, admin, cid, today)
    assert row.open_amount == Decimal("100")
    assert ledger_queries.balance(db, admin, cid, today).net_balance == Decimal("100")
    assert ledger_queries.open_items(db, admin, cid, today + timedelta(5)) == []


def test_open_items_days_past_due(db: Database, admin: Actor, cid: int) -> None:
    ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("10"))  # due day 30
    [row] = ledger_queries.open_items(db, admin, cid, day(45))
    assert (row.days_past_due, row.due_date, row.disputed_amount, row.currency) == (
        15,
        day(30),
        Decimal("0"),
        "EUR",
    )
    [row] = ledger_queries.open_items(db, admin, cid, day(10))
    assert row.days_past_due == -20


def test_balance_keeps_currencies_apart(db: Database, admin: Actor, cid: int) -> None:
    ledger.post_invoice(db, admin, cid, "E-1", day(0), Decimal("100"))
    ledger.post_invoice(db, admin, cid, "U-1", day(0), Decimal("7"), currency="USD")
    eur = ledger_queries.balance(db, admin, cid, day(1))
    usd = ledger_queries.balance(db, admin, cid, day(1), currency="USD")
    assert (eur.net_balance, eur.other_currencies) == (Decimal("100"), ("USD",))
    assert (usd.net_balance, usd.other_currencies) == (Decimal("7"), ("EUR",))


def test_recompute_detects_a_tampered_open_amount(db: Database, admin: Actor, cid: int) -> None:
    _scenario(db, admin, cid)
    with db.write() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.number == "A-3")).one()
        invoice.open_amount = Decimal("1.00")
        invoice_id = invoice.id
        payment = session.scalars(select(Payment).where(Payment.amount == 90)).one()
        payment.unapplied_amount = payment.amount  # 60 of it is applied
        payment_id = payment.id
    with db.read() as session:
        found = ledger_queries.recompute_open_amounts(session)
        assert found[("invoice", invoice_id)] == (Decimal("1.00"), Decimal("75.50"))
        assert ("payment", payment_id) in found
        assert set(ledger_queries.recompute_open_amounts(session, [invoice_id])) == {
            ("invoice", invoice_id)
        }


def test_every_change_is_audited_against_the_customer(db: Database, admin: Actor, cid: int) -> None:
    _scenario(db, admin, cid)
    with db.read() as session:
        tables = set(
            session.scalars(
                select(AuditEntry.table_name).where(AuditEntry.customer_id == cid).distinct()
            )
        )
        unowned = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.table_name.in_(["invoices", "payments", "allocations"]),
                AuditEntry.customer_id.is_(None),
            )
        )
    assert {"invoices", "payments", "allocations"} <= tables
    assert unowned == 0


# ---------------------------------------------------------------------------------------------
# concurrency
# ---------------------------------------------------------------------------------------------


def test_two_clerks_apply_the_same_cash_at_once(
    db: Database, admin: Actor, clerk: Actor, cid: int
) -> None:
    """Both see 100 unapplied; the payment row lock makes the second see what the first did."""
    from tests.services.test_concurrency import _race

    a = ledger.post_invoice(db, admin, cid, "A-1", day(0), Decimal("100"))
    b = ledger.post_invoice(db, admin, cid, "A-2", day(0), Decimal("100"))
    pay = ledger.record_payment(db, admin, cid, day(1), Decimal("100"), apply="none").payment
    results = _race(
        db,
        "payments",
        pay.id,
        lambda: ledger.allocate(db, admin, pay.id, [(a.id, Decimal("100"))]),
        lambda: ledger.allocate(db, clerk, pay.id, [(b.id, Decimal("100"))]),
    )
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], ValidationFailed), repr(lost[0])
    assert "more than the unapplied 0.00" in str(lost[0])
    assert _unapplied(db, pay.id) == Decimal("0")
    assert sorted([_open(db, a.id), _open(db, b.id)]) == [Decimal("0"), Decimal("100")]
    _consistent(db)
