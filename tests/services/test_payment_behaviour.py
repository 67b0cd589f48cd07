"""Payment behaviour: invoices fully paid in a period, days to pay, days late, weighted."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.models import Customer
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.payment_behaviour import average_days_late_in_session, payment_behaviour
from tests.services.test_aging import BASE, Ledger, LedgerSpec, build, build_example, ledgers

D = date.fromisoformat
ZERO = Decimal(0)


def _rows(db: Database, actor: Actor, start: str, end: str) -> list[tuple[Any, ...]]:
    return [
        (
            r.number,
            r.currency,
            r.paid_invoices,
            r.paid_amount,
            r.avg_days_to_pay,
            r.avg_days_late,
            r.weighted_days_late,
        )
        for r in payment_behaviour(db, actor, D(start), D(end))
    ]


def test_the_quarter_example(db: Database, admin: Actor) -> None:
    """test_aging.build_example, Q1 2025. Fully paid in the quarter:
    O 1000.00 issued 12-01, due 12-31, paid 01-20: 50 days to pay, 20 days late;
    A 3000.00 issued 01-10, due 02-09, paid 02-15: 36 days to pay, 6 days late.
    (B and C are partly paid, D's payment was reversed, E still has 1700 open.)
    Means: (50 + 36) / 2 = 43.00 and (20 + 6) / 2 = 13.00;
    weighted: (1000 × 20 + 3000 × 6) / 4000 = 38000 / 4000 = 9.50."""
    build_example(db)
    assert _rows(db, admin, "2025-01-01", "2025-03-31") == [
        (
            "C-1",
            "EUR",
            2,
            Decimal("4000.00"),
            Decimal("43.00"),
            Decimal("13.00"),
            Decimal("9.50"),
        )
    ]
    # February alone: only A.
    assert _rows(db, admin, "2025-02-01", "2025-02-28") == [
        ("C-1", "EUR", 1, Decimal("3000.00"), Decimal("36.00"), Decimal("6.00"), Decimal("6.00"))
    ]
    assert _rows(db, admin, "2025-04-01", "2025-06-30") == []
    # One customer's mean days late inside a unit of work (the scorecard's factor): the same.
    with db.read() as session:
        customer_id = session.scalars(select(Customer.id).where(Customer.number == "C-1")).one()
        late = [
            average_days_late_in_session(session, customer_id, D(start), D(end))
            for start, end in [
                ("2025-01-01", "2025-03-31"),
                ("2025-02-01", "2025-02-28"),
                ("2025-04-01", "2025-06-30"),
            ]
        ]
    assert late == [Decimal("13.00"), Decimal("6.00"), None]


def test_which_allocation_makes_the_paid_date(db: Database, admin: Actor) -> None:
    with Ledger(db) as led:
        c = led.customer("C-1")
        # Paid in two parts: the second (03-05) brings it to zero. 32 days, 3 late.
        two = led.invoice(c, "100.00", "2025-02-01", "2025-03-02")
        led.allocate(two, "40.00", "2025-02-20", payment=led.payment(c, "40.00", "2025-02-20"))
        led.allocate(two, "60.00", "2025-03-05", payment=led.payment(c, "60.00", "2025-03-05"))
        # Paid early: days late is 0, never negative. 10 days to pay.
        early = led.invoice(c, "300.00", "2025-02-10", "2025-03-12")
        led.allocate(early, "300.00", "2025-02-20", payment=led.payment(c, "300.00", "2025-02-20"))
        # Paid, bounced (reversed 02-25), paid again 03-10: paid on 03-10. 38 days, 8 late.
        bounced = led.invoice(c, "200.00", "2025-01-31", "2025-03-02")
        cheque = led.payment(c, "200.00", "2025-02-15")
        led.allocate(bounced, "200.00", "2025-02-15", payment=cheque, reversed_on="2025-02-25")
        led.allocate(
            bounced, "200.00", "2025-03-10", payment=led.payment(c, "200.00", "2025-03-10")
        )
        # Closed by a credit note and a discount: whatever closed it. 20 days, 0 late.
        note = led.credit_note(c, "50.00", "2025-02-21")
        credited = led.invoice(c, "80.00", "2025-02-01", "2025-03-03")
        led.allocate(credited, "50.00", "2025-02-21", credit_note=note)
        led.allocate(credited, "30.00", "2025-02-21", kind="discount")
        # Paid before the period, and after it: not in it.
        led.allocate(
            before := led.invoice(c, "10.00", "2025-01-01", "2025-01-31"),
            "10.00",
            "2025-01-15",
            payment=led.payment(c, "10.00", "2025-01-15"),
        )
        after = led.invoice(c, "20.00", "2025-03-01", "2025-03-31")
        led.allocate(after, "20.00", "2025-04-02", payment=led.payment(c, "20.00", "2025-04-02"))
        # Paid in the period but reversed after it: still paid as of the period's end.
        later = led.invoice(c, "400.00", "2025-02-01", "2025-02-15")
        led.allocate(
            later,
            "400.00",
            "2025-03-15",
            payment=led.payment(c, "400.00", "2025-03-15"),
            reversed_on="2025-04-20",
        )
        # Another customer in another currency gets its own row.
        g = led.customer("C-2", currency="GBP")
        gbp = led.invoice(g, "70.00", "2025-03-01", "2025-03-31", currency="GBP")
        led.allocate(gbp, "70.00", "2025-03-31", payment=led.payment(g, "70.00", "2025-03-31"))
    assert before and note
    # C-1 in 2025-02-01..2025-03-31: two (32, 3), early (10, 0), bounced (38, 8), credited (20, 0),
    # later (42, 28). Days to pay 142 / 5 = 28.40; days late 39 / 5 = 7.80; weighted:
    # (100×3 + 300×0 + 200×8 + 80×0 + 400×28) / 1080 = 13100 / 1080 = 12.1296… → 12.13.
    assert _rows(db, admin, "2025-02-01", "2025-03-31") == [
        ("C-1", "EUR", 5, Decimal("1080.00"), Decimal("28.40"), Decimal("7.80"), Decimal("12.13")),
        ("C-2", "GBP", 1, Decimal("70.00"), Decimal("30.00"), Decimal("0.00"), Decimal("0.00")),
    ]


def test_means_round_half_even(db: Database, admin: Actor) -> None:
    """Eight invoices, one paid a day late: mean days late 1 / 8 = 0.125 → 0.12 (half-even)."""
    with Ledger(db) as led:
        c = led.customer("C-1")
        for k in range(8):
            inv = led.invoice(c, "10.00", "2025-01-01", "2025-01-10")
            on = "2025-01-11" if k == 0 else "2025-01-10"
            led.allocate(inv, "10.00", on, payment=led.payment(c, "10.00", on))
    ((_, _, paid, _, to_pay, late, weighted),) = _rows(db, admin, "2025-01-01", "2025-01-31")
    # days to pay: 10 + 9 × 7 = 73 / 8 = 9.125 → 9.12
    assert (paid, to_pay, late, weighted) == (
        8,
        Decimal("9.12"),
        Decimal("0.12"),
        Decimal("0.12"),
    )


def test_a_period_must_not_end_before_it_starts(db: Database, admin: Actor) -> None:
    with pytest.raises(O2CError, match="after it ends"):
        payment_behaviour(db, admin, D("2025-02-01"), D("2025-01-31"))


def _oracle(spec: LedgerSpec, start: date, end: date) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows: dict[tuple[str, str], list[Any]] = {}
    for item in spec.items.values():
        if item.kind != INVOICE or item.issue > end or spec.open_at(item, end) != 0:
            continue
        counted = [
            a for a in spec.allocations.values() if a.invoice_id == item.id and a.counts_at(end)
        ]
        paid_on = max(a.on for a in counted)
        if paid_on < start:
            continue
        late = max(0, (paid_on - item.due).days)
        acc = rows.setdefault(
            (spec.customers[item.customer_id][0], item.currency), [0, ZERO, 0, 0, ZERO]
        )
        acc[0] += 1
        acc[1] += item.amount
        acc[2] += (paid_on - item.issue).days
        acc[3] += late
        acc[4] += item.amount * late
    cent = Decimal("0.01")
    return {
        key: (
            n,
            amount,
            (Decimal(days) / n).quantize(cent),
            (Decimal(late) / n).quantize(cent),
            (weighted / amount).quantize(cent),
        )
        for key, (n, amount, days, late, weighted) in rows.items()
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=ledgers(),
    period=st.tuples(st.integers(-10, 250), st.integers(0, 90)).map(
        lambda p: (BASE + timedelta(days=p[0]), BASE + timedelta(days=p[0] + p[1]))
    ),
)
def test_any_ledger_matches_the_oracle(
    db: Database, admin: Actor, plan: dict[str, Any], period: tuple[date, date]
) -> None:
    spec = build(db, plan)
    got = {
        (r.number, r.currency): (
            r.paid_invoices,
            r.paid_amount,
            r.avg_days_to_pay,
            r.avg_days_late,
            r.weighted_days_late,
        )
        for r in payment_behaviour(db, admin, *period)
    }
    assert got == _oracle(spec, *period)
