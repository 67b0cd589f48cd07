"""Aging as of any date: buckets, totals that tie, unapplied cash, drill-down, the bucket setting.

The ledgers are built by inserting rows directly (`Ledger`), not through the posting services:
the maintained columns (`open_amount`, `unapplied_amount`) are set the way the ledger services
keep them (amount − Σ allocations not reversed). `LedgerSpec` is the same ledger as plain Python
values with an independent implementation of domain.md's rules, used as the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    Allocation,
    AppSetting,
    AuditEntry,
    Customer,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
    Role,
)
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE
from o2c_desktop.services import aging
from o2c_desktop.services.aging import DEFAULT_BUCKETS, Bucket, Source
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user

D = date.fromisoformat
ZERO = Decimal(0)


# ---------------------------------------------------------------------------------------------
# A ledger built row by row, and the same ledger as an oracle
# ---------------------------------------------------------------------------------------------


@dataclass
class ItemSpec:
    id: int
    customer_id: int
    kind: str
    amount: Decimal
    issue: date
    due: date
    currency: str
    number: str


@dataclass
class PaymentSpec:
    id: int
    customer_id: int
    amount: Decimal
    on: date
    currency: str


@dataclass
class AllocationSpec:
    id: int
    invoice_id: int
    amount: Decimal
    on: date
    payment_id: int | None = None
    credit_note_id: int | None = None
    reversed_on: date | None = None

    def counts_at(self, as_of: date) -> bool:
        return self.on <= as_of and (self.reversed_on is None or self.reversed_on > as_of)


@dataclass
class LedgerSpec:
    """The ledger in plain Python, with domain.md's arithmetic done the obvious way."""

    customers: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (number, name)
    items: dict[int, ItemSpec] = field(default_factory=dict)
    payments: dict[int, PaymentSpec] = field(default_factory=dict)
    allocations: dict[int, AllocationSpec] = field(default_factory=dict)

    def open_at(self, item: ItemSpec, as_of: date) -> Decimal:
        if item.issue > as_of:
            return ZERO
        link = "invoice_id" if item.kind == INVOICE else "credit_note_id"
        taken = sum(
            (
                a.amount
                for a in self.allocations.values()
                if getattr(a, link) == item.id and a.counts_at(as_of)
            ),
            ZERO,
        )
        return item.amount - taken

    def unapplied_at(self, payment: PaymentSpec, as_of: date) -> Decimal:
        if payment.on > as_of:
            return ZERO
        taken = sum(
            (
                a.amount
                for a in self.allocations.values()
                if a.payment_id == payment.id and a.counts_at(as_of)
            ),
            ZERO,
        )
        return payment.amount - taken

    def maintained_open(self, item_id: int) -> Decimal:
        item = self.items[item_id]
        link = "invoice_id" if item.kind == INVOICE else "credit_note_id"
        return item.amount - sum(
            (
                a.amount
                for a in self.allocations.values()
                if getattr(a, link) == item_id and a.reversed_on is None
            ),
            ZERO,
        )

    def maintained_unapplied(self, payment_id: int) -> Decimal:
        return self.payments[payment_id].amount - sum(
            (
                a.amount
                for a in self.allocations.values()
                if a.payment_id == payment_id and a.reversed_on is None
            ),
            ZERO,
        )

    def aging(
        self, as_of: date, buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    ) -> dict[tuple[str, str], tuple[tuple[Decimal, ...], Decimal, Decimal]]:
        """(customer number, currency) -> (buckets, total, unapplied) for rows with anything."""
        rows: dict[tuple[int, str], list[Decimal]] = {}
        n = len(buckets)
        for item in self.items.values():
            open_amount = self.open_at(item, as_of)
            if not open_amount:
                continue
            signed = -open_amount if item.kind == CREDIT_NOTE else open_amount
            days = (as_of - item.due).days
            k = next(i for i, b in enumerate(buckets) if b.contains(days))
            acc = rows.setdefault((item.customer_id, item.currency), [ZERO] * (n + 2))
            acc[k] += signed
            acc[n] += signed
        for payment in self.payments.values():
            cash = self.unapplied_at(payment, as_of)
            if cash:
                acc = rows.setdefault((payment.customer_id, payment.currency), [ZERO] * (n + 2))
                acc[n + 1] += cash
        return {
            (self.customers[cid][0], cur): (tuple(acc[:n]), acc[n], acc[n + 1])
            for (cid, cur), acc in rows.items()
            if any(acc[:n]) or acc[n + 1]
        }

    def ar(self, as_of: date, currency: str) -> tuple[Decimal, Decimal]:
        """AR(D) and current AR(D) (items due on or after D)."""
        total = current = ZERO
        for item in self.items.values():
            if item.currency != currency:
                continue
            amount = self.open_at(item, as_of)
            signed = -amount if item.kind == CREDIT_NOTE else amount
            total += signed
            if item.due >= as_of:
                current += signed
        return total, current

    def fits(self, new: AllocationSpec) -> bool:
        """The allocation keeps the invoice, the credit note and the payment within their
        amounts at every date (as the ledger services guarantee), and is dated after them."""
        invoice = self.items[new.invoice_id]
        starts = [invoice.issue]
        limits: list[tuple[str, int, Decimal]] = [("invoice_id", invoice.id, invoice.amount)]
        if new.credit_note_id is not None:
            note = self.items[new.credit_note_id]
            starts.append(note.issue)
            limits.append(("credit_note_id", note.id, note.amount))
        if new.payment_id is not None:
            payment = self.payments[new.payment_id]
            starts.append(payment.on)
            limits.append(("payment_id", payment.id, payment.amount))
        if new.on < max(starts):
            return False
        everything = [*self.allocations.values(), new]
        moments = {a.on for a in everything} | {a.reversed_on for a in everything if a.reversed_on}
        for link, target, limit in limits:
            for moment in moments:
                used = sum(
                    (
                        a.amount
                        for a in everything
                        if getattr(a, link) == target and a.counts_at(moment)
                    ),
                    ZERO,
                )
                if used > limit:
                    return False
        return True


class Ledger:
    """Inserts customers, items, payments and allocations directly, in one transaction; on exit
    the maintained columns are set from the allocations and everything is committed."""

    def __init__(self, db: Database):
        self.db = db
        self.spec = LedgerSpec()
        self._session: Any = None
        self._context: Any = None
        self._rows: dict[int, Any] = {}
        self._payments: dict[int, Any] = {}

    def __enter__(self) -> Ledger:
        self._context = self.db.write()
        self._session = self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            for item_id, row in self._rows.items():
                row.open_amount = self.spec.maintained_open(item_id)
            for payment_id, row in self._payments.items():
                row.unapplied_amount = self.spec.maintained_unapplied(payment_id)
        self._context.__exit__(*exc)

    def customer(
        self, number: str, *, name: str | None = None, currency: str = "EUR", collector: Any = None
    ) -> int:
        row = Customer(
            number=number,
            name=name or f"Customer {number}",
            payment_terms_code="NET30",
            currency=currency,
            collector_id=collector,
        )
        self._session.add(row)
        self._session.flush()
        self.spec.customers[row.id] = (number, row.name)
        return row.id

    def _item(
        self,
        kind: str,
        customer_id: int,
        amount: str | Decimal,
        issue: str | date,
        due: str | date | None,
        currency: str,
        number: str | None,
    ) -> int:
        issue_date = D(issue) if isinstance(issue, str) else issue
        due_date = D(due) if isinstance(due, str) else due
        if due_date is None:
            due_date = issue_date if kind == CREDIT_NOTE else issue_date + timedelta(days=30)
        value = Decimal(amount)
        row = Invoice(
            customer_id=customer_id,
            kind=kind,
            number=number or f"{kind[0].upper()}-{len(self.spec.items) + 1}",
            issue_date=issue_date,
            due_date=due_date,
            amount=value,
            currency=currency,
            open_amount=value,
        )
        self._session.add(row)
        self._session.flush()
        self._rows[row.id] = row
        self.spec.items[row.id] = ItemSpec(
            row.id, customer_id, kind, value, issue_date, due_date, currency, row.number
        )
        return row.id

    def invoice(
        self,
        customer_id: int,
        amount: str | Decimal,
        issue: str | date,
        due: str | date | None = None,
        *,
        currency: str = "EUR",
        number: str | None = None,
    ) -> int:
        return self._item(INVOICE, customer_id, amount, issue, due, currency, number)

    def credit_note(
        self,
        customer_id: int,
        amount: str | Decimal,
        issue: str | date,
        due: str | date | None = None,
        *,
        currency: str = "EUR",
        number: str | None = None,
    ) -> int:
        return self._item(CREDIT_NOTE, customer_id, amount, issue, due, currency, number)

    def payment(
        self, customer_id: int, amount: str | Decimal, on: str | date, *, currency: str = "EUR"
    ) -> int:
        when = D(on) if isinstance(on, str) else on
        value = Decimal(amount)
        row = Payment(
            customer_id=customer_id,
            date=when,
            amount=value,
            currency=currency,
            unapplied_amount=value,
        )
        self._session.add(row)
        self._session.flush()
        self._payments[row.id] = row
        self.spec.payments[row.id] = PaymentSpec(row.id, customer_id, value, when, currency)
        return row.id

    def allocate(
        self,
        invoice_id: int,
        amount: str | Decimal,
        on: str | date,
        *,
        payment: int | None = None,
        credit_note: int | None = None,
        kind: str | None = None,
        reversed_on: str | date | None = None,
        check: bool = True,
    ) -> int | None:
        """Add an allocation (None, and nothing added, when `check` finds it would over-allocate
        something at some date or predate its documents)."""
        when = D(on) if isinstance(on, str) else on
        undone = D(reversed_on) if isinstance(reversed_on, str) else reversed_on
        spec = AllocationSpec(0, invoice_id, Decimal(amount), when, payment, credit_note, undone)
        if check and not self.spec.fits(spec):
            return None
        invoice = self._session.get(Invoice, invoice_id)
        row = Allocation(
            invoice_id=invoice_id,
            kind=kind or ("payment" if payment else "credit_note" if credit_note else "discount"),
            payment_id=payment,
            credit_note_id=credit_note,
            amount=spec.amount,
            date=when,
            reversed_on=undone,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            invoice_due_date=invoice.due_date,
            invoice_issue_date=invoice.issue_date,
            payment_date=self._session.get(Payment, payment).date if payment else None,
        )
        self._session.add(row)
        self._session.flush()
        spec.id = row.id
        self.spec.allocations[row.id] = spec
        return row.id

    def dispute(
        self,
        customer_id: int,
        items: list[tuple[int, str]],
        opened_on: str,
        *,
        status: str = "open",
        resolved_on: str | None = None,
    ) -> int:
        row = Dispute(
            customer_id=customer_id,
            reason_code="PRICE",
            status=status,
            opened_on=D(opened_on),
            resolved_on=D(resolved_on) if resolved_on else None,
            amount=sum((Decimal(a) for _, a in items), ZERO),
        )
        self._session.add(row)
        self._session.flush()
        for invoice_id, amount in items:
            self._session.add(
                DisputeItem(dispute_id=row.id, invoice_id=invoice_id, amount=Decimal(amount))
            )
        self._session.flush()
        return row.id


def wipe(db: Database) -> None:
    """Empty the ledger tables (hypothesis runs many examples on one database)."""
    with db.write() as session:
        for model in (
            DisputeItem,
            Dispute,
            Allocation,
            Payment,
            Invoice,
            AuditEntry,
            AppSetting,
            Customer,
        ):
            session.execute(delete(model))


def report_map(
    report: aging.AgingReport,
) -> dict[tuple[str, str], tuple[tuple[Decimal, ...], Decimal, Decimal]]:
    return {
        (r.number, r.currency): (r.buckets, r.total, r.unapplied_cash) for r in report.customers
    }


def assert_ties(report: aging.AgingReport) -> None:
    """Buckets add up to the total, customers add up to the portfolio, in every currency."""
    for row in report.customers:
        assert sum(row.buckets, ZERO) == row.total
        assert row.balance == row.total - row.unapplied_cash
    for figures in report.currencies:
        assert sum(figures.buckets, ZERO) == figures.total
        rows = [r for r in report.customers if r.currency == figures.currency]
        assert sum((r.total for r in rows), ZERO) == figures.total
        assert sum((r.unapplied_cash for r in rows), ZERO) == figures.unapplied_cash
        for k in range(len(report.buckets)):
            assert sum((r.buckets[k] for r in rows), ZERO) == figures.buckets[k]


# ---------------------------------------------------------------------------------------------
# A small worked example
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def example(db: Database) -> Ledger:
    return build_example(db)


def build_example(db: Database) -> Ledger:
    """One customer, Q1 2025 (the same ledger as the KPI example in test_kpis.py):

    O   invoice 1000.00 issued 2024-12-01 due 2024-12-31, paid 2025-01-20
    A   invoice 3000.00 issued 2025-01-10 due 2025-02-09, paid 2025-02-15
    B   invoice 1000.00 issued 2025-01-25 due 2025-02-24, 600.00 paid 2025-03-10
    C   invoice 2000.00 issued 2025-02-14 due 2025-03-16, 500.00 paid 2025-03-20
    D   invoice 4000.00 issued 2025-03-05 due 2025-04-04; 800.00 applied 2025-03-12 from a
        payment that bounced: reversed 2025-03-15 (the 800.00 stays unapplied cash)
    E   invoice 2000.00 issued 2025-03-20 due 2025-04-19, credit note N2 300.00 applied 03-28
    N1  credit note 500.00 issued 2025-03-25 (due the same day), open
    N2  credit note 300.00 issued 2025-03-28, applied to E the same day
    """
    with Ledger(db) as led:
        c = led.customer("C-1", name="Acme")
        o = led.invoice(c, "1000.00", "2024-12-01", "2024-12-31", number="O")
        a = led.invoice(c, "3000.00", "2025-01-10", "2025-02-09", number="A")
        b = led.invoice(c, "1000.00", "2025-01-25", "2025-02-24", number="B")
        c_ = led.invoice(c, "2000.00", "2025-02-14", "2025-03-16", number="C")
        d = led.invoice(c, "4000.00", "2025-03-05", "2025-04-04", number="D")
        e = led.invoice(c, "2000.00", "2025-03-20", "2025-04-19", number="E")
        led.credit_note(c, "500.00", "2025-03-25", number="N1")
        n2 = led.credit_note(c, "300.00", "2025-03-28", number="N2")
        for inv, amount, on in (
            (o, "1000.00", "2025-01-20"),
            (a, "3000.00", "2025-02-15"),
            (b, "600.00", "2025-03-10"),
            (c_, "500.00", "2025-03-20"),
        ):
            led.allocate(inv, amount, on, payment=led.payment(c, amount, on))
        bounced = led.payment(c, "800.00", "2025-03-12")
        assert led.allocate(d, "800.00", "2025-03-12", payment=bounced, reversed_on="2025-03-15")
        assert led.allocate(e, "300.00", "2025-03-28", credit_note=n2)
    return led


def _figures(report: aging.AgingReport) -> tuple[tuple[str, ...], Decimal, Decimal]:
    (eur,) = report.currencies
    return tuple(format(v, "f") for v in eur.buckets), eur.total, eur.unapplied_cash


@pytest.mark.parametrize("source", [Source.LEDGER, Source.MAINTAINED])
def test_example_at_quarter_end(db: Database, admin: Actor, example: Ledger, source) -> None:
    report = aging.aging(db, admin, D("2025-03-31"), source=source)
    # current: D 4000 + E 1700; 1-30: C 1500 (15 days) − N1 500 (6 days); 31-60: B 400 (35 days)
    assert _figures(report) == (
        ("5700.00", "1000.00", "400.00", "0.00", "0.00"),
        Decimal("7100.00"),
        Decimal("800.00"),
    )
    (row,) = report.customers
    assert (row.number, row.name, row.currency) == ("C-1", "Acme", "EUR")
    assert row.balance == Decimal("6300.00")
    assert report.source is source
    assert_ties(report)


@pytest.mark.parametrize(
    ("as_of", "buckets", "total", "cash"),
    [
        # Nothing issued yet.
        ("2024-11-30", None, "0", "0"),
        # O is open and current on its due date, overdue the day after.
        ("2024-12-31", ("1000.00", "0.00", "0.00", "0.00", "0.00"), "1000.00", "0"),
        ("2025-01-01", ("0.00", "1000.00", "0.00", "0.00", "0.00"), "1000.00", "0"),
        # O paid on 01-20; A and B open and current on 02-09 (A's due date).
        ("2025-02-09", ("4000.00", "0.00", "0.00", "0.00", "0.00"), "4000.00", "0"),
        # 03-13: B 400 (17 days late), C 2000 current, D 3200 (the 800 still counts).
        ("2025-03-13", ("5200.00", "400.00", "0.00", "0.00", "0.00"), "5600.00", "0"),
        # 03-15: the reversal dated 03-15 no longer counts: D is 4000 again, 800 unapplied.
        ("2025-03-15", ("6000.00", "400.00", "0.00", "0.00", "0.00"), "6400.00", "800.00"),
        # 06-01: all overdue: D 58 and E 43 days, C 77 and N1 68 days, B 97 days.
        ("2025-06-01", ("0.00", "0.00", "5700.00", "1000.00", "400.00"), "7100.00", "800.00"),
    ],
)
def test_a_past_date_shows_what_was_open_then(
    db: Database, admin: Actor, example: Ledger, as_of, buckets, total, cash
) -> None:
    for source in Source:
        report = aging.aging(db, admin, D(as_of), source=source)
        if buckets is None:
            assert report.currencies == ()
            assert report.customers == ()
            continue
        assert _figures(report) == (buckets, Decimal(total), Decimal(cash)), source
        assert report_map(report) == example.spec.aging(D(as_of))


def test_the_cheaper_source_is_chosen(db: Database, admin: Actor, example: Ledger) -> None:
    today = date.today()
    first = D("2025-01-20")  # the example's first allocation
    # From today on: the maintained columns (nothing to roll back).
    assert aging.choose_source(today, today, first) is Source.MAINTAINED
    assert aging.choose_source(today + timedelta(days=400), today, first) is Source.MAINTAINED
    # In the past: roll back when the date is nearer today than the first allocation...
    assert aging.choose_source(today - timedelta(days=1), today, first) is Source.MAINTAINED
    # ... else the dated ledger (before the first allocation there is nothing else).
    assert aging.choose_source(first + timedelta(days=1), today, first) is Source.LEDGER
    assert aging.choose_source(first - timedelta(days=30), today, first) is Source.LEDGER
    assert aging.choose_source(D("2020-01-01"), today, None) is Source.MAINTAINED
    fast = aging.aging(db, admin, today)
    slow = aging.aging(db, admin, today, source=Source.LEDGER)
    assert fast.source is Source.MAINTAINED
    assert (fast.currencies, fast.customers) == (slow.currencies, slow.customers)
    assert aging.aging(db, admin, D("2025-03-31")).source is Source.LEDGER


def test_customer_aging_and_the_portfolio_agree(
    db: Database, admin: Actor, example: Ledger
) -> None:
    with Ledger(db) as led:
        other = led.customer("C-2", name="Beta", currency="GBP")
        led.invoice(other, "99.99", "2025-03-01", "2025-03-31", currency="GBP")
        led.payment(other, "5.00", "2025-03-02", currency="GBP")
    as_of = D("2025-03-31")
    report = aging.aging(db, admin, as_of)
    assert [f.currency for f in report.currencies] == ["EUR", "GBP"]
    gbp = report.for_currency("GBP")
    assert (gbp.buckets[0], gbp.total, gbp.unapplied_cash, gbp.balance) == (
        Decimal("99.99"),
        Decimal("99.99"),
        Decimal("5.00"),
        Decimal("94.99"),
    )
    assert report.for_currency("USD").total == 0
    assert_ties(report)
    single = aging.customer_aging(db, admin, other, as_of)
    assert single.customers == tuple(r for r in report.customers if r.number == "C-2")
    assert single.currencies == (gbp,)
    only = aging.aging(db, admin, as_of, include_customers=False)
    assert only.customers == ()
    assert only.currencies == report.currencies
    with pytest.raises(NotFound):
        aging.customer_aging(db, admin, 999_999, as_of)


def test_customer_pages_sorted_in_sql(db: Database, admin: Actor, example: Ledger) -> None:
    with Ledger(db) as led:
        for number, amount, due in (
            ("C-2", "300.00", "2025-03-01"),
            ("C-3", "9000.00", "2025-04-30"),
            ("C-4", "300.00", "2024-10-01"),
        ):
            led.invoice(led.customer(number), amount, "2024-09-01", due)
        led.payment(led.customer("C-5"), "50.00", "2025-01-01")  # unapplied cash only
    as_of = D("2025-03-31")
    everyone = aging.aging(db, admin, as_of).customers

    def numbers(**kwargs: Any) -> tuple[list[str], int]:
        page = aging.customer_page(db, admin, as_of, **kwargs)
        assert all(row in everyone for row in page.rows)
        return [r.number for r in page.rows], page.count

    assert numbers() == (["C-1", "C-2", "C-3", "C-4", "C-5"], 5)
    assert numbers(order="total", descending=True, limit=2) == (["C-3", "C-1"], 5)
    # Ties (C-2 and C-4 owe 300.00 each) are broken by customer number.
    assert numbers(order="total", offset=1, limit=2) == (["C-2", "C-4"], 5)
    assert numbers(order="overdue", descending=True, limit=3) == (["C-1", "C-2", "C-4"], 5)
    assert numbers(order="91+", descending=True, limit=1) == (["C-4"], 5)
    assert numbers(order="balance", limit=1) == (["C-5"], 5)
    assert numbers(offset=10) == ([], 5)
    with pytest.raises(ValueError, match="cannot order"):
        aging.customer_page(db, admin, as_of, order="shoe size")


def test_drill_down_lists_the_items_of_a_bucket(
    db: Database, admin: Actor, example: Ledger
) -> None:
    as_of = D("2025-03-31")
    page = aging.bucket_items(db, admin, as_of, "1-30")
    assert [(i.number, i.kind, i.days_past_due, i.signed_open) for i in page.items] == [
        ("C", INVOICE, 15, Decimal("1500.00")),
        ("N1", CREDIT_NOTE, 6, Decimal("-500.00")),
    ]
    assert page.count == 2
    assert page.totals == {"EUR": Decimal("1000.00")}
    current = aging.bucket_items(db, admin, as_of, "current", offset=1, limit=1)
    assert [(i.number, i.open_amount, i.amount) for i in current.items] == [
        ("E", Decimal("1700.00"), Decimal("2000.00"))
    ]
    assert (current.count, current.totals) == (2, {"EUR": Decimal("5700.00")})
    empty = aging.bucket_items(db, admin, as_of, "61-90")
    assert (empty.items, empty.count, empty.totals) == ((), 0, {})
    with pytest.raises(NotFound, match="91\\+"):
        aging.bucket_items(db, admin, as_of, "over 90")


def test_configured_buckets_are_used_and_validated(
    db: Database, admin: Actor, example: Ledger
) -> None:
    assert aging.get_buckets(db) == DEFAULT_BUCKETS
    mine = [["not due", None, 0], ["1-45", 1, 45], ["over 45", 46, None]]
    saved = aging.set_buckets(db, admin, mine)
    assert saved == (Bucket("not due", None, 0), Bucket("1-45", 1, 45), Bucket("over 45", 46, None))
    assert aging.get_buckets(db) == saved
    report = aging.aging(db, admin, D("2025-03-31"))
    assert report.labels == ("not due", "1-45", "over 45")
    assert _figures(report)[0] == ("5700.00", "1400.00", "0.00")
    with db.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.table_name == "app_settings")
        ).all()
        assert [(e.action, e.record_id, e.field) for e in entries] == [
            ("create", "aging_buckets", "value")
        ]
        assert entries[0].old_value is None and "over 45" in (entries[0].new_value or "")
    # A one-off override for one report leaves the setting alone.
    assert aging.aging(db, admin, D("2025-03-31"), DEFAULT_BUCKETS).labels[0] == "current"
    assert aging.get_buckets(db) == saved


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ([["a", None, 0], ["b", 2, None]], "a gap"),
        ([["a", None, 10], ["b", 5, None]], "an overlap"),
        ([["a", 0, 10], ["b", 11, None]], "open below"),
        ([["a", None, 10], ["b", 11, 20]], "open above"),
        ([["a", None, 10], ["b", 11, None], ["c", 12, None]], "only the ends"),
        ([["a", None, 10], ["a", 11, None]], "the same label"),
        ([["a", None, None]], "between 2 and"),
        ([["a", None, "10"], ["b", 11, None]], "whole numbers"),
        ([["", None, 10], ["b", 11, None]], "label is required"),
        ([["a", None, 10, 3], ["b", 11, None]], "expected [label"),
        ([["a", None, 50], ["b", 51, 40], ["c", 41, None]], "after to"),
    ],
)
def test_bad_buckets_are_refused(db: Database, admin: Actor, buckets, message) -> None:
    with pytest.raises(ValidationFailed) as caught:
        aging.set_buckets(db, admin, buckets)
    assert message in str(caught.value)
    assert aging.get_buckets(db) == DEFAULT_BUCKETS


def test_permissions(db: Database, admin: Actor, example: Ledger) -> None:
    colin = add_user(db, admin, "colin", Role.COLLECTOR)
    assert aging.aging(db, colin, D("2025-03-31")).customers  # every role views reports
    with pytest.raises(PermissionDenied):
        aging.set_buckets(db, colin, DEFAULT_BUCKETS)
    maria = add_user(db, admin, "maria", Role.CREDIT_MANAGER)
    aging.set_buckets(db, maria, DEFAULT_BUCKETS)


def test_a_damaged_setting_is_reported(db: Database, admin: Actor) -> None:
    with db.write() as session:
        session.add(AppSetting(key="aging_buckets", value="[[1, 2]]"))
    with pytest.raises(O2CError, match="aging_buckets is damaged"):
        aging.aging(db, admin, D("2025-03-31"))


# ---------------------------------------------------------------------------------------------
# Any ledger, any date (hypothesis)
# ---------------------------------------------------------------------------------------------

BASE = D("2025-01-01")
CURRENCIES = ("EUR", "EUR", "USD")


@st.composite
def ledgers(draw: st.DrawFn) -> dict[str, Any]:
    """A random ledger: invoices and credit notes, payments, allocations (some reversed)."""
    customers = draw(st.integers(1, 3))
    currency = [draw(st.sampled_from(CURRENCIES)) for _ in range(customers)]
    cents = st.integers(1, 500_000).map(lambda c: Decimal(c).scaleb(-2))
    items = draw(
        st.lists(
            st.tuples(
                st.integers(0, customers - 1),
                st.sampled_from([INVOICE, INVOICE, INVOICE, CREDIT_NOTE]),
                cents,
                st.integers(0, 150),  # issue date, days after BASE
                st.integers(-5, 75),  # due date, days after issue
            ),
            min_size=1,
            max_size=10,
        )
    )
    payments = draw(
        st.lists(
            st.tuples(st.integers(0, customers - 1), cents, st.integers(0, 200)),
            max_size=6,
        )
    )
    allocations = draw(
        st.lists(
            st.tuples(
                st.integers(0, 50),  # which invoice (modulo)
                st.sampled_from(["payment", "credit_note", "discount"]),
                st.integers(0, 50),  # which payment / credit note (modulo)
                st.integers(1, 100),  # percent of what is left
                st.integers(0, 60),  # days after the latest of the documents
                st.one_of(st.none(), st.integers(0, 40)),  # reversed that many days later
            ),
            min_size=2,
            max_size=14,
        )
    )
    return {
        "currency": currency,
        "items": items,
        "payments": payments,
        "allocations": allocations,
    }


def build(db: Database, plan: dict[str, Any]) -> LedgerSpec:
    wipe(db)
    with Ledger(db) as led:
        ids = [
            led.customer(f"H-{k}", currency=cur) for k, cur in enumerate(plan["currency"], start=1)
        ]
        currency = dict(zip(ids, plan["currency"], strict=True))
        items = []
        for who, kind, amount, issue, terms in plan["items"]:
            cid = ids[who]
            issue_date = BASE + timedelta(days=issue)
            due = issue_date if kind == CREDIT_NOTE else issue_date + timedelta(days=terms)
            items.append(led._item(kind, cid, amount, issue_date, due, currency[cid], None))
        payments = [
            led.payment(ids[who], amount, BASE + timedelta(days=on), currency=currency[ids[who]])
            for who, amount, on in plan["payments"]
        ]
        invoices = [i for i in items if led.spec.items[i].kind == INVOICE]
        notes = [i for i in items if led.spec.items[i].kind == CREDIT_NOTE]
        for pick, how, source, percent, later, undo in plan["allocations"]:
            if not invoices:
                break
            inv = led.spec.items[invoices[pick % len(invoices)]]
            owner = _owner(inv)
            kwargs: dict[str, Any] = {}
            starts = [inv.issue]
            left = led.spec.maintained_open(inv.id)
            if how == "payment":
                mine = [p for p in payments if _owner(led.spec.payments[p]) == owner]
                if not mine:
                    continue
                pay = led.spec.payments[mine[source % len(mine)]]
                kwargs["payment"] = pay.id
                starts.append(pay.on)
                left = min(left, led.spec.maintained_unapplied(pay.id))
            elif how == "credit_note":
                mine = [n for n in notes if _owner(led.spec.items[n]) == owner]
                if not mine:
                    continue
                note = led.spec.items[mine[source % len(mine)]]
                kwargs["credit_note"] = note.id
                starts.append(note.issue)
                left = min(left, led.spec.maintained_open(note.id))
            amount = (left * percent / 100).quantize(Decimal("0.01"))
            if amount <= 0:
                continue
            on = max(starts) + timedelta(days=later)
            undone = None if undo is None else on + timedelta(days=undo)
            led.allocate(inv.id, amount, on, reversed_on=undone, **kwargs)
    return led.spec


def _owner(thing: ItemSpec | PaymentSpec) -> tuple[int, str]:
    return thing.customer_id, thing.currency


AS_OF = st.one_of(
    st.integers(-10, 300).map(lambda d: BASE + timedelta(days=d)),
    st.integers(0, 3).map(lambda d: date.today() + timedelta(days=d)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=ledgers(), as_of=AS_OF)
def test_any_ledger_any_date_ties_and_matches_the_oracle(
    db: Database, admin: Actor, plan: dict[str, Any], as_of: date
) -> None:
    spec = build(db, plan)
    expected = spec.aging(as_of)
    reports = {s: aging.aging(db, admin, as_of, source=s) for s in Source}
    for source, report in reports.items():
        assert_ties(report)
        assert report_map(report) == expected, source
    # The fast path (maintained columns) and the allocations give identical reports.
    ledger, maintained = reports[Source.LEDGER], reports[Source.MAINTAINED]
    assert (ledger.currencies, ledger.customers) == (maintained.currencies, maintained.customers)
    auto = aging.aging(db, admin, as_of)
    if as_of >= date.today():
        assert auto.source is Source.MAINTAINED
    assert aging.aging(db, admin, as_of, include_customers=False).currencies == auto.currencies
    # Drill-down: each bucket's items add up to the bucket, in both sources.
    for source in Source:
        for k, bucket in enumerate(DEFAULT_BUCKETS):
            page = aging.bucket_items(db, admin, as_of, bucket.label, limit=1000, source=source)
            assert page.count == len(page.items)
            sums: dict[str, Decimal] = {}
            for item in page.items:
                assert bucket.contains(item.days_past_due)
                assert item.open_amount == spec.open_at(spec.items[item.invoice_id], as_of)
                sums[item.currency] = sums.get(item.currency, ZERO) + item.signed_open
            for figures in auto.currencies:
                assert sums.get(figures.currency, ZERO) == figures.buckets[k]
                assert page.totals.get(figures.currency, ZERO) == figures.buckets[k]


def test_report_sessions_get_their_postgresql_settings(db: Database) -> None:
    """Even as the process's first query: the settings depend on the server's version, which
    is known only once connected (they were silently skipped before)."""
    from sqlalchemy import text

    from o2c_desktop.services.aging import reading

    with reading(db) as session:
        if db.kind != "postgresql":
            assert session.execute(text("SELECT 1")).scalar() == 1
            return
        assert session.execute(text("SHOW random_page_cost")).scalar() == "1.1"
        assert session.execute(text("SHOW jit")).scalar() == "off"
