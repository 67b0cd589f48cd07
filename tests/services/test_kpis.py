"""KPIs against hand-computed examples, and against the oracle for any ledger and period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError, PermissionDenied
from o2c_desktop.models import Role
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.services import aging, kpis
from o2c_desktop.services.auth import Actor, Permission
from tests.services.test_aging import BASE, Ledger, LedgerSpec, build, build_example, ledgers

D = date.fromisoformat
ZERO = Decimal(0)


@pytest.fixture
def example(db: Database) -> Ledger:
    return build_example(db)


# ---------------------------------------------------------------------------------------------
# The worked example: Q1 2025, uneven sales (Jan 4000, Feb 2000, Mar 6000)
# ---------------------------------------------------------------------------------------------
#
# The ledger is test_aging.build_example. For F = 2025-01-01, T = 2025-03-31, days = 90:
#
#   credit sales   = A 3000 + B 1000 + C 2000 + D 4000 + E 2000            = 12000.00
#                    (credit notes N1, N2 are not sales; O was issued in December)
#   AR(F−1)        = AR(2024-12-31) = O 1000 (paid only on 2025-01-20)      =  1000.00
#   AR(T)          = B 400 + C 1500 + D 4000 + E 1700 − N1 500              =  7100.00
#                    (D's 800 was reversed on 03-15; N2's 300 on E nets to zero in AR)
#   current AR(T)  = items due on or after 03-31: D 4000 + E 1700           =  5700.00
#
#   DSO            = 7100 / 12000 × 90                     = 53.25
#   best poss. DSO = 5700 / 12000 × 90                     = 42.75
#   ADD            = 53.25 − 42.75                         = 10.50
#   CEI            = (1000 + 12000 − 7100) / (1000 + 12000 − 5700) × 100
#                  = 5900 / 7300 × 100 = 80.8219…           → 80.82
#   countback DSO  : March (31 days, sales 6000): 7100 ≥ 6000 → 31 days, 1100 left;
#                    February (28 days, sales 2000): 1100 < 2000 → 1100 / 2000 × 28 = 15.4
#                    → 31 + 15.4                            = 46.40
#   % overdue      = (7100 − 5700) / 7100 × 100 = 19.7183… → 19.72


def test_quarter_by_hand(db: Database, admin: Actor, example: Ledger) -> None:
    k = kpis.kpis(db, admin, D("2025-01-01"), D("2025-03-31"))
    assert (k.currency, k.days) == ("EUR", 90)
    assert (k.credit_sales, k.ar_opening, k.ar_total, k.ar_current, k.ar_overdue) == (
        Decimal("12000.00"),
        Decimal("1000.00"),
        Decimal("7100.00"),
        Decimal("5700.00"),
        Decimal("1400.00"),
    )
    assert (k.dso, k.best_possible_dso, k.add, k.cei, k.countback_dso, k.percent_overdue) == (
        Decimal("53.25"),
        Decimal("42.75"),
        Decimal("10.50"),
        Decimal("80.82"),
        Decimal("46.40"),
        Decimal("19.72"),
    )
    assert k.disputed_amount == 0
    # The KPIs' AR is the aging total, to the cent.
    assert aging.aging(db, admin, D("2025-03-31")).for_currency("EUR").total == k.ar_total


def test_february_by_hand(db: Database, admin: Actor, example: Ledger) -> None:
    """F = 2025-02-01, T = 2025-02-28, days = 28.

    sales = C 2000; AR(01-31) = A 3000 + B 1000 = 4000; AR(02-28) = B 1000 + C 2000 = 3000
    (A paid 02-15); current AR(02-28) = C 2000 (B was due 02-24).
    DSO = 3000 / 2000 × 28 = 42.00; best = 2000 / 2000 × 28 = 28.00; ADD = 14.00;
    CEI = (4000 + 2000 − 3000) / (4000 + 2000 − 2000) × 100 = 75.00;
    countback: February (28 days, 2000): 3000 ≥ 2000 → 28, 1000 left; January (31 days, 4000):
    1000 / 4000 × 31 = 7.75 → 35.75; % overdue = 1000 / 3000 × 100 = 33.33.
    """
    k = kpis.kpis(db, admin, D("2025-02-01"), D("2025-02-28"))
    assert (k.credit_sales, k.ar_opening, k.ar_total, k.ar_current) == (
        Decimal("2000.00"),
        Decimal("4000.00"),
        Decimal("3000.00"),
        Decimal("2000.00"),
    )
    assert (k.dso, k.best_possible_dso, k.add, k.cei, k.countback_dso, k.percent_overdue) == (
        Decimal("42.00"),
        Decimal("28.00"),
        Decimal("14.00"),
        Decimal("75.00"),
        Decimal("35.75"),
        Decimal("33.33"),
    )


def test_dso_month_by_month(db: Database, admin: Actor, example: Ledger) -> None:
    """Each month its own period: January AR(01-31) 4000 / sales 4000 × 31 = 31.00; February
    3000 / 2000 × 28 = 42.00; March 7100 / 6000 × 31 = 36.6833… → 36.68."""
    points = kpis.dso_series(db, admin, months=3, as_of=D("2025-03-31"))
    assert [(p.month_start, p.month_end, p.credit_sales, p.ar_total, p.dso) for p in points] == [
        (D("2025-01-01"), D("2025-01-31"), Decimal("4000.00"), Decimal("4000.00"), Decimal(31)),
        (D("2025-02-01"), D("2025-02-28"), Decimal("2000.00"), Decimal("3000.00"), Decimal(42)),
        (
            D("2025-03-01"),
            D("2025-03-31"),
            Decimal("6000.00"),
            Decimal("7100.00"),
            Decimal("36.68"),
        ),
    ]
    # The newest month runs to the as-of date; a month without sales has no DSO.
    points = kpis.dso_series(db, admin, months=2, as_of=D("2025-04-10"))
    assert [(p.month_start, p.month_end, p.dso) for p in points] == [
        (D("2025-03-01"), D("2025-03-31"), Decimal("36.68")),
        (D("2025-04-01"), D("2025-04-10"), None),
    ]
    assert len(kpis.dso_series(db, admin, as_of=D("2025-03-31"))) == 12


def test_disputed_amount_counts_the_disputes_open_at_the_end(db: Database, admin: Actor) -> None:
    with Ledger(db) as led:
        c = led.customer("C-1")
        b = led.invoice(c, "1000.00", "2025-01-25")
        c_ = led.invoice(c, "2000.00", "2025-02-14")
        led.dispute(c, [(c_, "200.00")], "2025-03-01")
        led.dispute(
            c, [(b, "100.00")], "2025-02-01", status="resolved_us", resolved_on="2025-03-15"
        )
        led.dispute(c, [(b, "50.00"), (c_, "25.00")], "2025-04-02")
        led.dispute(c, [(b, "7.00")], "2025-02-01", status="withdrawn")
    at = {
        end: kpis.kpis(db, admin, D("2025-01-01"), D(end)).disputed_amount
        for end in ("2025-01-31", "2025-03-10", "2025-03-15", "2025-03-31", "2025-04-02")
    }
    assert at == {
        "2025-01-31": Decimal("0"),
        "2025-03-10": Decimal("300.00"),  # the one resolved on 03-15 still counts on 03-10
        "2025-03-15": Decimal("200.00"),
        "2025-03-31": Decimal("200.00"),
        "2025-04-02": Decimal("275.00"),
    }


def test_several_currencies_are_never_added(db: Database, admin: Actor, example: Ledger) -> None:
    with Ledger(db) as led:
        other = led.customer("C-2", currency="GBP")
        led.invoice(other, "500.00", "2025-03-01", "2025-03-31", currency="GBP")
    period = (D("2025-01-01"), D("2025-03-31"))
    with pytest.raises(O2CError, match="several currencies \\(EUR, GBP\\)"):
        kpis.kpis(db, admin, *period)
    gbp = kpis.kpis(db, admin, *period, currency="GBP")
    # 500 / 500 × 90 = 90.00, all of it current on its due date.
    assert (gbp.credit_sales, gbp.ar_total, gbp.dso, gbp.best_possible_dso, gbp.add) == (
        Decimal("500.00"),
        Decimal("500.00"),
        Decimal("90.00"),
        Decimal("90.00"),
        Decimal("0.00"),
    )
    assert kpis.kpis(db, admin, *period, currency="EUR").dso == Decimal("53.25")
    both = kpis.kpis_by_currency(db, admin, *period)
    assert sorted(both) == ["EUR", "GBP"]
    assert both["GBP"] == gbp
    assert kpis.currencies(db, admin) == ["EUR", "GBP"]
    usd = kpis.kpis(db, admin, *period, currency="USD")
    assert (usd.credit_sales, usd.dso, usd.cei) == (ZERO, None, None)


def test_top_overdue_customers(db: Database, admin: Actor, example: Ledger) -> None:
    with Ledger(db) as led:
        big = led.customer("C-9", name="Big")
        led.invoice(big, "2500.00", "2024-11-01", "2024-12-01")
        led.invoice(big, "100.00", "2025-03-30", "2025-04-29")  # current: not overdue
        small = led.customer("C-5", name="Small")
        led.invoice(small, "1400.00", "2025-02-01", "2025-03-01")
        led.credit_note(led.customer("C-7", name="Credit"), "300.00", "2025-01-05")
    top = kpis.top_overdue(db, admin, D("2025-03-31"), n=2)
    assert [(t.number, t.overdue, t.total) for t in top] == [
        ("C-9", Decimal("2500.00"), Decimal("2600.00")),
        ("C-1", Decimal("1400.00"), Decimal("7100.00")),  # ties with C-5: by number
    ]
    everyone = kpis.top_overdue(db, admin, D("2025-03-31"))
    assert [t.number for t in everyone] == ["C-9", "C-1", "C-5"]  # C-7 owes nothing


def test_empty_portfolio_and_bad_periods(db: Database, admin: Actor) -> None:
    k = kpis.kpis(db, admin, D("2025-01-01"), D("2025-03-31"))
    assert (k.credit_sales, k.ar_total, k.dso, k.cei, k.countback_dso) == (
        ZERO,
        ZERO,
        None,
        None,
        Decimal("0.00"),
    )
    with pytest.raises(O2CError, match="starts \\(2025-04-01\\) after it ends"):
        kpis.kpis(db, admin, D("2025-04-01"), D("2025-03-31"))
    assert kpis.top_overdue(db, admin, D("2025-03-31")) == []


def test_every_role_may_view_the_dashboard(db: Database, admin: Actor) -> None:
    assert Permission.VIEW_REPORTS.roles == frozenset(Role)
    nobody = Actor(999, "nobody", "Nobody", frozenset())
    with pytest.raises(PermissionDenied):
        kpis.kpis(db, nobody, D("2025-01-01"), D("2025-03-31"))


# ---------------------------------------------------------------------------------------------
# The arithmetic alone
# ---------------------------------------------------------------------------------------------


def test_ratios_round_half_even_once_at_the_end() -> None:
    # DSO = 1 / 8 × 1 = 0.125 → 0.12 (half-even; half-up would give 0.13); 3 / 8 = 0.375 → 0.38.
    def dso(ar: str, sales: str, days: int = 1) -> Decimal | None:
        start = D("2025-01-01")
        return kpis.compute_kpis(
            "EUR",
            start,
            start + timedelta(days=days - 1),
            credit_sales=Decimal(sales),
            ar_opening=ZERO,
            ar_total=Decimal(ar),
            ar_current=ZERO,
        ).dso

    assert dso("1", "8") == Decimal("0.12")
    assert dso("3", "8") == Decimal("0.38")
    assert dso("5", "8") == Decimal("0.62")
    # ADD comes from the unrounded figures: 0.125 − 0.0625 = 0.0625 → 0.06.
    k = kpis.compute_kpis(
        "EUR",
        D("2025-01-01"),
        D("2025-01-01"),
        credit_sales=Decimal(16),
        ar_opening=ZERO,
        ar_total=Decimal(2),
        ar_current=Decimal(1),
    )
    assert (k.dso, k.best_possible_dso, k.add) == (
        Decimal("0.12"),
        Decimal("0.06"),
        Decimal("0.06"),
    )
    # Undefined ratios are None, not zero.
    assert dso("5", "0") is None


@pytest.mark.parametrize(
    ("ar", "months", "expected"),
    [
        # 7100 over March 6000 (31 days) and February 2000 (28 days): 31 + 15.4
        ("7100", [("6000", 31), ("2000", 28)], "46.4"),
        # exactly one month's sales: that month's days, and the walk stops
        ("6000", [("6000", 31), ("2000", 28)], "31"),
        # a month without sales adds its days and the walk goes on
        ("100", [("0", 30), ("400", 31)], "37.75"),
        # nothing to count back
        ("0", [("6000", 31)], "0"),
        ("-50", [("6000", 31)], "0"),
        # less than the first month's sales
        ("3000", [("6000", 31)], "15.5"),
    ],
)
def test_countback(ar: str, months: list[tuple[str, int]], expected: str) -> None:
    result = kpis.countback(Decimal(ar), ((Decimal(s), d) for s, d in months))
    assert result == Decimal(expected)


def test_months_walk_back_from_the_date() -> None:
    walk = kpis.month_periods_back(D("2024-03-10"))
    assert [next(walk) for _ in range(3)] == [
        (D("2024-03-01"), D("2024-03-10")),
        (D("2024-02-01"), D("2024-02-29")),
        (D("2024-01-01"), D("2024-01-31")),
    ]


# ---------------------------------------------------------------------------------------------
# Any ledger, any period (hypothesis)
# ---------------------------------------------------------------------------------------------


def _sales(spec: LedgerSpec, start: date, end: date, currency: str) -> Decimal:
    return sum(
        (
            i.amount
            for i in spec.items.values()
            if i.kind == INVOICE and i.currency == currency and start <= i.issue <= end
        ),
        ZERO,
    )


PERIODS = st.tuples(st.integers(-20, 280), st.integers(0, 120)).map(
    lambda p: (BASE + timedelta(days=p[0]), BASE + timedelta(days=p[0] + p[1]))
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=ledgers(), period=PERIODS)
def test_any_ledger_any_period_matches_the_oracle(
    db: Database, admin: Actor, plan: dict[str, Any], period: tuple[date, date]
) -> None:
    spec = build(db, plan)
    start, end = period
    by_currency = kpis.kpis_by_currency(db, admin, start, end)
    for currency in {i.currency for i in spec.items.values()}:
        sales = _sales(spec, start, end, currency)
        opening = spec.ar(start - timedelta(days=1), currency)[0]
        total, current = spec.ar(end, currency)
        k = by_currency.get(currency)
        if k is None:
            assert (sales, opening, total, current) == (ZERO, ZERO, ZERO, ZERO)
            continue
        assert (k.credit_sales, k.ar_opening, k.ar_total, k.ar_current) == (
            sales,
            opening,
            total,
            current,
        )
        expected = kpis.compute_kpis(
            currency,
            start,
            end,
            credit_sales=sales,
            ar_opening=opening,
            ar_total=total,
            ar_current=current,
            countback_days=k.countback_dso,
        )
        assert k == expected
        if sales:
            assert k.dso == (total * ((end - start).days + 1) / sales).quantize(Decimal("0.01"))
    # AR at several dates in one pass per source (the dated ledger, or the maintained columns
    # rolled back) equals the aging total at each date.
    today = date.today()
    dates = [start - timedelta(days=1), end, today, today + timedelta(days=2)]
    for source in (None, *aging.Source):
        ars = kpis.ar_at_dates(db, admin, dates, source)
        for when in dates:
            for currency in {i.currency for i in spec.items.values()}:
                got = ars[when].get(currency, (ZERO, ZERO))
                assert got == spec.ar(when, currency), (source, when)
    for when in dates:
        report = aging.aging(db, admin, when, include_customers=False)
        for currency in {i.currency for i in spec.items.values()}:
            assert report.for_currency(currency).total == spec.ar(when, currency)[0]
