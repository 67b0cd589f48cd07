"""Property tests: random sequences of posting, paying, allocating, crediting, writing off and
reversing never leave an open or unapplied amount outside [0, amount] at any date, keep the
maintained amounts equal to the allocations, and keep balance = Σ open items − unapplied cash
for every as-of date. Both engines; each example works on a fresh customer.

The oracle here recomputes every figure in Python from the stored rows, independently of the
SQL in ledger_queries, using the rule of the spec: an allocation counts at D iff dated on or
before D and not reversed by D.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import ValidationFailed
from o2c_desktop.models import Allocation, Customer, Invoice, Payment
from o2c_desktop.services import customers, ledger, ledger_queries
from o2c_desktop.services.auth import Actor

BASE = date(2024, 1, 1)
CENT = Decimal("0.01")
_serial = itertools.count(1)

days = st.integers(min_value=0, max_value=60)
cents = st.integers(min_value=1, max_value=200_000).map(lambda c: Decimal(c) * CENT)
index = st.integers(min_value=0, max_value=50)
share = st.integers(min_value=1, max_value=120)  # percent of what fits; > 100 must be refused

OPS = st.one_of(
    st.tuples(st.just("invoice"), days, cents),
    st.tuples(st.just("credit"), days, cents),
    st.tuples(
        st.just("pay"), days, cents, st.sampled_from(["none", "oldest-first", "reference"]), index
    ),
    st.tuples(st.just("allocate"), index, index, share, st.none() | days),
    st.tuples(st.just("apply_credit"), index, index, share),
    st.tuples(st.just("reverse"), index, st.none() | days),
    st.tuples(st.just("reverse"), index, st.none() | days),
    # Cash freed by a reversal applied again (its default date must respect the reversal date).
    st.tuples(st.just("reapply"), index, index, share),
    st.tuples(st.just("write_off"), index, share, days),
)


@dataclass
class Book:
    customer_id: int
    invoices: list[int] = field(default_factory=list)
    credits: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)
    allocations: list[int] = field(default_factory=list)


def _part(available: Decimal, percent: int) -> Decimal:
    return (available * percent / 100).quantize(CENT)


def _apply(db: Database, actor: Actor, book: Book, op: tuple[Any, ...]) -> None:
    """Run one operation; a refusal (ValidationFailed) is a legitimate outcome."""
    kind, *args = op
    n = len(book.invoices) + len(book.credits) + len(book.payments) + 1
    prefix = f"{book.customer_id}-{n}"
    if kind == "invoice":
        row = ledger.post_invoice(
            db, actor, book.customer_id, f"I{prefix}", BASE + timedelta(args[0]), args[1]
        )
        book.invoices.append(row.id)
    elif kind == "credit":
        row = ledger.post_credit_note(
            db, actor, book.customer_id, f"C{prefix}", BASE + timedelta(args[0]), args[1]
        )
        book.credits.append(row.id)
    elif kind == "pay":
        offset, amount, apply, which = args
        reference = None
        if apply == "reference" and book.invoices:
            reference = ledger.get_item(db, actor, book.invoices[which % len(book.invoices)]).number
        result = ledger.record_payment(
            db,
            actor,
            book.customer_id,
            BASE + timedelta(offset),
            amount,
            reference=reference,
            apply=apply,
        )
        book.payments.append(result.payment.id)
        book.allocations += [a.id for a in result.allocations]
    elif kind == "allocate" and book.payments and book.invoices:
        p, i, percent, later = args
        payment = ledger.get_payment(db, actor, book.payments[p % len(book.payments)])
        invoice = ledger.get_item(db, actor, book.invoices[i % len(book.invoices)])
        amount = _part(min(payment.unapplied_amount, invoice.open_amount), percent)
        on = None if later is None else max(payment.date, invoice.issue_date) + timedelta(later)
        made = ledger.allocate(db, actor, payment.id, [(invoice.id, amount)], on=on)
        book.allocations += [a.id for a in made]
    elif kind == "apply_credit" and book.credits and book.invoices:
        c, i, percent = args
        note = ledger.get_item(db, actor, book.credits[c % len(book.credits)])
        invoice = ledger.get_item(db, actor, book.invoices[i % len(book.invoices)])
        amount = _part(min(note.open_amount, invoice.open_amount), percent)
        made = ledger.apply_credit_note(db, actor, note.id, [(invoice.id, amount)])
        book.allocations += [a.id for a in made]
    elif kind == "reverse" and book.allocations:
        a, later = args
        allocation_id = book.allocations[a % len(book.allocations)]
        with db.read() as session:
            when = session.get(Allocation, allocation_id).date
        on = None if later is None else when + timedelta(later)
        ledger.reverse_allocation(db, actor, allocation_id, on, "property test")
    elif kind == "reapply" and book.invoices:
        a, i, percent = args
        with db.read() as session:
            reversed_ = session.scalars(
                select(Allocation.payment_id).where(
                    Allocation.id.in_(book.allocations),
                    Allocation.payment_id.is_not(None),
                    Allocation.reversed_on.is_not(None),
                )
            ).all()
        if not reversed_:
            return
        payment = ledger.get_payment(db, actor, reversed_[a % len(reversed_)])
        invoice = ledger.get_item(db, actor, book.invoices[i % len(book.invoices)])
        amount = _part(min(payment.unapplied_amount, invoice.open_amount), percent)
        made = ledger.allocate(db, actor, payment.id, [(invoice.id, amount)])
        book.allocations += [a.id for a in made]
    elif kind == "write_off" and book.invoices:
        i, percent, later = args
        invoice = ledger.get_item(db, actor, book.invoices[i % len(book.invoices)])
        amount = _part(invoice.open_amount, percent)
        made = ledger.write_off(
            db, actor, invoice.id, amount, invoice.issue_date + timedelta(later), "test"
        )
        book.allocations.append(made.id)


def _counts(allocation: Allocation, when: date) -> bool:
    return allocation.date <= when and (
        allocation.reversed_on is None or allocation.reversed_on > when
    )


def _check(db: Database, actor: Actor, book: Book) -> None:
    with db.read() as session:
        # Maintained amounts equal the allocations.
        assert (
            ledger_queries.recompute_open_amounts(
                session, book.invoices + book.credits, payment_ids=book.payments
            )
            == {}
        )
        assert ledger_queries.stale_allocation_copies(session) == []
        items = session.scalars(
            select(Invoice).where(Invoice.customer_id == book.customer_id)
        ).all()
        payments = session.scalars(
            select(Payment).where(Payment.customer_id == book.customer_id)
        ).all()
        allocations = session.scalars(
            select(Allocation).where(Allocation.invoice_id.in_([i.id for i in items]))
        ).all()
        exposure = session.get(Customer, book.customer_id).exposure
        session.expunge_all()  # plain values from here on (the read session rolls back)
    dates = {BASE - timedelta(1), date.today()}
    for a in allocations:
        dates |= {a.date, a.reversed_on or a.date}
        dates.add(a.date - timedelta(1))
    dates |= {i.issue_date for i in items} | {p.date for p in payments}

    for when in sorted(dates):
        open_at: dict[int, Decimal] = {}
        for item in items:
            if item.issue_date > when:
                continue
            taken = sum(
                (
                    a.amount
                    for a in allocations
                    if _counts(a, when)
                    and (a.invoice_id if item.kind == "invoice" else a.credit_note_id) == item.id
                ),
                start=Decimal(0),
            )
            open_at[item.id] = item.amount - taken
            assert 0 <= open_at[item.id] <= item.amount, (item.number, when)
        unapplied = Decimal(0)
        for payment in payments:
            if payment.date > when:
                continue
            applied = sum(
                (a.amount for a in allocations if _counts(a, when) and a.payment_id == payment.id),
                start=Decimal(0),
            )
            assert 0 <= payment.amount - applied <= payment.amount, (payment.id, when)
            unapplied += payment.amount - applied
        kinds = {i.id: i.kind for i in items}
        signed = sum(
            (v if kinds[k] == "invoice" else -v for k, v in open_at.items()), start=Decimal(0)
        )

        bal = ledger_queries.balance(db, actor, book.customer_id, when)
        rows = ledger_queries.open_items(db, actor, book.customer_id, when)
        assert bal.open_items_total == signed, when
        assert bal.unapplied_cash == unapplied, when
        assert bal.net_balance == signed - unapplied
        assert sum((r.signed_open for r in rows), start=Decimal(0)) == bal.open_items_total
        assert {r.id: r.open_amount for r in rows} == {k: v for k, v in open_at.items() if v}
    assert exposure == ledger_queries.balance(db, actor, book.customer_id, date.today()).net_balance
    # Today, the maintained amounts and the dated allocations give the same answer.
    with db.read() as session:
        for when in (date.today(), date.today() + timedelta(400)):
            args = (session, book.customer_id, when)
            assert ledger_queries.open_items_in_session(
                *args, dated=True
            ) == ledger_queries.open_items_in_session(*args, dated=False)
            assert ledger_queries.balances_in_session(
                *args, dated=True
            ) == ledger_queries.balances_in_session(*args, dated=False)


@pytest.fixture
def fresh_customer(db: Database, admin: Actor):
    """Makes a new customer per hypothesis example (the database lives for the whole test)."""

    def make() -> Book:
        number = f"P-{next(_serial)}"
        return Book(customers.create_customer(db, admin, {"number": number, "name": number}).id)

    return make


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=20))
def test_random_ledger_activity_keeps_every_invariant(
    db: Database, admin: Actor, fresh_customer: Any, ops: list[tuple[Any, ...]]
) -> None:
    book = fresh_customer()
    for op in ops:
        with contextlib.suppress(ValidationFailed):  # a refusal is a legitimate outcome
            _apply(db, admin, book, op)
    _check(db, admin, book)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amounts=st.lists(cents, min_size=1, max_size=6),
    paid=cents,
    when=days,
)
def test_oldest_first_never_over_applies(
    db: Database,
    admin: Actor,
    fresh_customer: Any,
    amounts: list[Decimal],
    paid: Decimal,
    when: int,
) -> None:
    """Cash applied oldest-first settles min(cash, total open); the rest stays unapplied."""
    book = fresh_customer()
    for n, amount in enumerate(amounts):
        row = ledger.post_invoice(
            db, admin, book.customer_id, f"O{book.customer_id}-{n}", BASE + timedelta(n), amount
        )
        book.invoices.append(row.id)
    result = ledger.record_payment(
        db, admin, book.customer_id, BASE + timedelta(when), paid, apply="oldest-first"
    )
    total = sum(amounts, start=Decimal(0))
    assert result.applied == min(paid, total)
    assert result.payment.unapplied_amount == paid - min(paid, total)
    # Oldest first: every invoice before the last one touched is fully settled.
    touched = [a.invoice_id for a in result.allocations]
    assert touched == book.invoices[: len(touched)]
    for invoice_id in touched[:-1]:
        assert ledger.get_item(db, admin, invoice_id).open_amount == 0
    _check(db, admin, book)
