"""Collector results against a hand-built March 2025 (F = 03-01, T = 03-31, F−1 = 02-28), on
SQLite and PostgreSQL: every figure computed by hand below, CEI too, and who may see what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import Call, Customer, Promise, Role
from o2c_desktop.services import aging, kpis
from o2c_desktop.services import collector_results as cr
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user
from tests.services.test_aging import Ledger

D = date.fromisoformat
F, T = D("2025-03-01"), D("2025-03-31")


@dataclass(frozen=True)
class World:
    ann: Actor
    bob: Actor
    cara: Actor
    manager: Actor


def _call(led: Ledger, user: Actor | None, customer: int, on: str, outcome: str) -> None:
    led._session.add(
        Call(
            customer_id=customer,
            user_id=user.user_id if user else None,
            called_on=D(on),
            outcome=outcome,
        )
    )


def _promise(
    led: Ledger,
    user: Actor,
    customer: int,
    made: str,
    amount: str,
    promised: str,
    *,
    grace: int = 3,
    currency: str = "EUR",
    cancelled: str | None = None,
) -> None:
    led._session.add(
        Promise(
            customer_id=customer,
            made_on=D(made),
            made_by_id=user.user_id,
            amount=Decimal(amount),
            currency=currency,
            promised_on=D(promised),
            grace_days=grace,
            threshold_percent=100,
            cancelled_on=D(cancelled) if cancelled else None,
        )
    )


def build(db: Database, admin: Actor, manager: Actor) -> World:
    """The ledger, calls and promises the hand computations below are about.

    Ann (EUR): A1 inv1 1000 (issued 01-10, due 02-09), paid 600 on 03-10; inv2 500 (03-05, due
    04-04). A2 inv3 300 (02-01, due 03-03) with 100 disputed since 03-15; credit note CN1 50
    (02-20, due 02-20, unapplied); a payment of 25 on 02-15 (unapplied).
    Ann (GBP): G1 inv7 700 (01-05, due 02-04); a payment of 200 on 03-12 (unapplied).
    Bob: B1 inv4 2000 (2024-12-01, due 12-31), paid in full on 03-20; inv5 800 (03-10, due 03-20).
    Unassigned: U1 inv6 100 (01-01, due 01-31).
    Cara: a collector with nothing. Maria (a manager) made one call."""
    ann = add_user(db, admin, "ann", Role.COLLECTOR)
    bob = add_user(db, admin, "bob", Role.COLLECTOR)
    cara = add_user(db, admin, "cara", Role.COLLECTOR)
    with Ledger(db) as led:
        a1 = led.customer("A1", collector=ann.user_id)
        a2 = led.customer("A2", collector=ann.user_id)
        g1 = led.customer("G1", collector=ann.user_id, currency="GBP")
        b1 = led.customer("B1", collector=bob.user_id)
        u1 = led.customer("U1")

        inv1 = led.invoice(a1, "1000", "2025-01-10", "2025-02-09")
        led.invoice(a1, "500", "2025-03-05", "2025-04-04")
        p1 = led.payment(a1, "600", "2025-03-10")
        led.allocate(inv1, "600", "2025-03-10", payment=p1)
        inv3 = led.invoice(a2, "300", "2025-02-01", "2025-03-03")
        led.credit_note(a2, "50", "2025-02-20", "2025-02-20")
        led.payment(a2, "25", "2025-02-15")
        led.dispute(a2, [(inv3, "100")], "2025-03-15")
        led.invoice(g1, "700", "2025-01-05", "2025-02-04", currency="GBP")
        led.payment(g1, "200", "2025-03-12", currency="GBP")

        inv4 = led.invoice(b1, "2000", "2024-12-01", "2024-12-31")
        p2 = led.payment(b1, "2000", "2025-03-20")
        led.allocate(inv4, "2000", "2025-03-20", payment=p2)
        led.invoice(b1, "800", "2025-03-10", "2025-03-20")

        led.invoice(u1, "100", "2025-01-01", "2025-01-31")

        # Ann: 5 calls in March, 3 of them contacts; one before and one after the period.
        for on, outcome in (
            ("2025-03-02", "reached"),
            ("2025-03-03", "no_answer"),
            ("2025-03-04", "left_message"),
            ("2025-03-05", "promise"),
            ("2025-03-06", "dispute"),
            ("2025-02-27", "reached"),
            ("2025-04-01", "reached"),
        ):
            _call(led, ann, a1, on, outcome)
        # Bob: 3 calls, 2 contacts.
        for on, outcome in (
            ("2025-03-10", "wrong_number"),
            ("2025-03-11", "refused"),
            ("2025-03-12", "paid_already"),
        ):
            _call(led, bob, b1, on, outcome)
        _call(led, manager, u1, "2025-03-15", "reached")
        _call(led, None, u1, "2025-03-16", "no_answer")

        # Ann's promises.
        _promise(led, ann, a2, "2025-02-01", "100", "2025-02-20")  # due 02-23: broken, before F
        _promise(led, ann, a2, "2025-02-20", "200", "2025-03-01")  # due 03-04: broken
        _promise(led, ann, a1, "2025-03-05", "600", "2025-03-07")  # due 03-10: kept (600 03-10)
        _promise(led, ann, a2, "2025-03-25", "300", "2025-04-10")  # due 04-13: open
        _promise(led, ann, g1, "2025-03-06", "150", "2025-03-14", grace=0, currency="GBP")  # kept
        # Bob's promises.
        _promise(led, bob, b1, "2025-03-11", "1000", "2025-03-15")  # due 03-18: broken
        _promise(led, bob, b1, "2025-03-12", "2000", "2025-03-18")  # due 03-21: kept (03-20)
        _promise(led, bob, b1, "2025-03-21", "500", "2025-04-02")  # due 04-05: after T
        _promise(led, bob, b1, "2025-03-01", "400", "2025-03-05", cancelled="2025-03-04")
    return World(ann, bob, cara, manager)


@pytest.fixture
def world(db: Database, admin: Actor, manager: Actor) -> World:
    return build(db, admin, manager)


def _by_name(rows: list[cr.CollectorResult]) -> dict[str, cr.CollectorResult]:
    return {r.collector: r for r in rows}


# ---------------------------------------------------------------------------------------------
# March 2025 by hand
# ---------------------------------------------------------------------------------------------
#
# Ann, EUR
#   calls 5, contacts 3 (reached, promise, dispute)                       → 60.00 %
#   promises made in March: 600 (A1), 300 (A2), GBP 150 → count 3, EUR amount 900.00
#   due in March: 03-04 broken, 03-10 kept, GBP 03-14 kept (02-23 and 04-13 are outside)
#                                                          → 2 kept, 1 broken → 66.67 %
#   cash: 600 on 03-10 (the 25 on 02-15 is before F)                        =  600.00
#   AR(02-28) = inv1 1000 + inv3 300 − CN1 50                              = 1250.00
#   overdue at 02-28 = inv1 1000 − CN1 50 (inv3 is due 03-03)               =  950.00
#   AR(03-31) = inv1 400 + inv2 500 + inv3 300 − CN1 50                    = 1150.00
#   current AR(03-31) = inv2 500 (due 04-04)
#   overdue at 03-31 = 400 + 300 − 50 = 650, less 100 disputed on inv3      =  550.00
#   sales = inv2 500; CEI = (1250 + 500 − 1150) / (1250 + 500 − 500) × 100 = 600 / 1250 = 48.00
# Bob, EUR
#   calls 3, contacts 2 → 66.67 %; promises 4 (the cancelled one was made too), 3900.00;
#   kept 1 (03-21), broken 1 (03-18); 04-05 is after T, the cancelled one counts in neither
#   → 50.00 %; cash 2000.00; overdue 2000.00 → 800.00 (inv5 due 03-20)
#   CEI = (2000 + 800 − 800) / (2000 + 800 − 0) × 100 = 71.428… → 71.43
# (unassigned): U1 100 overdue throughout; one call without a user, not a contact → 0.00 %;
#   CEI = (100 + 0 − 100) / (100 + 0 − 0) = 0.00
# Maria (manager): one call, a contact. Cara: nothing at all (rates and CEI undefined).


def test_march_by_hand(db: Database, admin: Actor, world: World) -> None:
    rows = cr.collector_results(db, admin, F, T)
    assert [r.collector for r in rows] == ["Ann", "Bob", "Cara", "Maria", "(unassigned)"]
    by = _by_name(rows)
    expected = {  # field: (Ann, Bob)
        "collector_id": (world.ann.user_id, world.bob.user_id),
        "collector": ("Ann", "Bob"),
        "calls": (5, 3),
        "contacts": (3, 2),
        "contact_rate": (Decimal("60.00"), Decimal("66.67")),
        "promises_made": (3, 4),
        "promised_amount": (Decimal("900.00"), Decimal("3900.00")),
        "kept": (2, 1),
        "broken": (1, 1),
        "kept_rate": (Decimal("66.67"), Decimal("50.00")),
        "cash_collected": (Decimal("600.00"), Decimal("2000.00")),
        "overdue_start": (Decimal("950.00"), Decimal("2000.00")),
        "overdue_end": (Decimal("550.00"), Decimal("800.00")),
        "cei": (Decimal("48.00"), Decimal("71.43")),
    }
    for k, name in enumerate(("Ann", "Bob")):
        assert by[name] == cr.CollectorResult(**{f: pair[k] for f, pair in expected.items()})
    assert by["(unassigned)"] == cr.CollectorResult(
        None, "(unassigned)", 1, 0, Decimal("0.00"), 0, Decimal("0.00"), 0, 0, None,
        Decimal("0.00"), Decimal("100.00"), Decimal("100.00"), Decimal("0.00"),
    )  # fmt: skip
    assert by["Cara"] == cr.CollectorResult(
        world.cara.user_id, "Cara", 0, 0, None, 0, Decimal("0.00"), 0, 0, None,
        Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), None,
    )  # fmt: skip
    maria = by["Maria"]
    assert (maria.collector_id, maria.calls, maria.contacts, maria.contact_rate) == (
        world.manager.user_id,
        1,
        1,
        Decimal("100.00"),
    )
    assert (maria.overdue_end, maria.cei) == (Decimal("0.00"), None)


def test_rows_add_up_to_the_department(db: Database, admin: Actor, world: World) -> None:
    """The portfolio rows cover every customer: their overdue at T plus the 100 disputed on an
    overdue item is the KPIs' overdue AR; their cash is every EUR payment of March."""
    rows = cr.collector_results(db, admin, F, T)
    k = kpis.kpis(db, admin, F, T, "EUR")
    assert sum((r.overdue_end for r in rows), Decimal(0)) + Decimal(100) == k.ar_overdue
    assert sum((r.cash_collected for r in rows), Decimal(0)) == Decimal("2600.00")
    assert sum(r.calls for r in rows) == 10


def test_cei_is_the_kpi_formula_over_the_portfolio(
    db: Database, admin: Actor, world: World
) -> None:
    """With every customer moved to Bob, his CEI is the department's (kpis) CEI."""
    with db.write() as session:
        session.execute(update(Customer).values(collector_id=world.bob.user_id))
    bob = _by_name(cr.collector_results(db, admin, F, T))["Bob"]
    # AR(02-28) 1250 + 2000 + 100 = 3350; sales 500 + 800 = 1300; AR(03-31) 1150 + 800 + 100
    # = 2050; current 500 → (3350 + 1300 − 2050) / (3350 + 1300 − 500) = 2600 / 4150 = 62.65
    assert bob.cei == Decimal("62.65") == kpis.kpis(db, admin, F, T, "EUR").cei
    # A reassignment moves the history: Ann's cash of March is now Bob's.
    assert bob.cash_collected == Decimal("2600.00")
    assert _by_name(cr.collector_results(db, admin, F, T))["Ann"].calls == 5


def test_other_currency(db: Database, admin: Actor, world: World) -> None:
    """GBP: only G1's money; counts stay currency-free. CEI = (700 + 0 − 700) / 700 = 0."""
    ann = _by_name(cr.collector_results(db, admin, F, T, currency="gbp"))["Ann"]
    assert (ann.calls, ann.promises_made, ann.kept, ann.broken) == (5, 3, 2, 1)
    assert (ann.promised_amount, ann.cash_collected) == (Decimal("150.00"), Decimal("200.00"))
    assert (ann.overdue_start, ann.overdue_end, ann.cei) == (
        Decimal("700.00"),
        Decimal("700.00"),
        Decimal("0.00"),
    )
    # EUR is the default: four customers have it, one has GBP.
    assert cr.default_currency(db, admin) == "EUR"
    assert cr.collector_results(db, admin, F, T) == cr.collector_results(
        db, admin, F, T, currency="EUR"
    )


def test_monthly_results(db: Database, admin: Actor, world: World) -> None:
    """Ann, January to March. February: the call of 02-27; promises of 02-01 (100) and 02-20
    (200); the one due 02-23 broken; the 25 paid on 02-15; overdue at 01-31 nothing (inv1 is due
    02-09), at 02-28 950; CEI = (1000 + 300 − 1250) / (1000 + 300 − 300) = 5.00. January: sales
    1000 all current at 01-31: (0 + 1000 − 1000) / (0 + 1000 − 1000) is undefined."""
    months = cr.monthly_results(db, admin, world.ann.user_id, T, 3)
    assert [start for start, _ in months] == [D("2025-01-01"), D("2025-02-01"), D("2025-03-01")]
    jan, feb, mar = (r for _, r in months)
    assert mar == _by_name(cr.collector_results(db, admin, F, T))["Ann"]
    assert feb == cr.CollectorResult(
        world.ann.user_id, "Ann", 1, 1, Decimal("100.00"), 2, Decimal("300.00"), 0, 1,
        Decimal("0.00"), Decimal("25.00"), Decimal("0.00"), Decimal("950.00"), Decimal("5.00"),
    )  # fmt: skip
    assert (jan.calls, jan.cash_collected, jan.overdue_start, jan.overdue_end, jan.cei) == (
        0,
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        None,
    )
    # A month cut short: the newest month ends at date_to.
    (only,) = cr.monthly_results(db, admin, world.ann.user_id, D("2025-03-05"), 1)
    assert only[0] == F
    assert (only[1].calls, only[1].contacts) == (4, 2)
    assert only[1].overdue_end == Decimal("1250.00")  # 1000 + 300 − 50: inv3 due 03-03


def test_monthly_for_the_unassigned(db: Database, admin: Actor, world: World) -> None:
    (start, row), = cr.monthly_results(db, admin, None, T, 1)  # fmt: skip
    assert (start, row.collector, row.calls, row.overdue_end) == (
        F,
        "(unassigned)",
        1,
        Decimal("100.00"),
    )


def test_recent_period_from_the_maintained_columns(db: Database, admin: Actor) -> None:
    """Near today the aging reads the maintained open amounts and rolls them back (source
    MAINTAINED); the figures are the same as from the dated ledger. T = today, F = today − 20.

    inv A 1000 (issued T−60, due T−30), 400 of it paid at T−10; inv B 200 (T−500, due T−470)
    paid at T−400, so the ledger's first allocation is old and F−1 is rolled back too.
    overdue at F−1 = 1000, at T = 600; cash = 400; CEI = (1000 + 0 − 600) / (1000 + 0 − 0) = 40."""
    today = date.today()
    ann = add_user(db, admin, "ann", Role.COLLECTOR)
    with Ledger(db) as led:
        x = led.customer("X1", collector=ann.user_id)
        a = led.invoice(x, "1000", today - timedelta(days=60), today - timedelta(days=30))
        pay = led.payment(x, "400", today - timedelta(days=10))
        led.allocate(a, "400", today - timedelta(days=10), payment=pay)
        b = led.invoice(x, "200", today - timedelta(days=500), today - timedelta(days=470))
        old = led.payment(x, "200", today - timedelta(days=400))
        led.allocate(b, "200", today - timedelta(days=400), payment=old)
    date_from = today - timedelta(days=20)
    with db.read() as session:
        assert aging.source_for(session, today) is aging.Source.MAINTAINED
        assert aging.source_for(session, date_from - timedelta(days=1)) is aging.Source.MAINTAINED
    row = _by_name(cr.collector_results(db, admin, date_from, today))["Ann"]
    assert (row.cash_collected, row.overdue_start, row.overdue_end, row.cei) == (
        Decimal("400.00"),
        Decimal("1000.00"),
        Decimal("600.00"),
        Decimal("40.00"),
    )


# ---------------------------------------------------------------------------------------------
# Who may see what, and bad input
# ---------------------------------------------------------------------------------------------


def test_a_collector_sees_only_their_own_row(db: Database, admin: Actor, world: World) -> None:
    everyone = _by_name(cr.collector_results(db, admin, F, T))
    assert cr.collector_results(db, world.ann, F, T) == [everyone["Ann"]]
    assert cr.collector_results(db, world.cara, F, T) == [everyone["Cara"]]
    assert cr.monthly_results(db, world.ann, world.ann.user_id, T, 1)[0][1] == everyone["Ann"]
    with pytest.raises(PermissionDenied, match="may not see every collector's portfolio"):
        cr.monthly_results(db, world.ann, world.bob.user_id, T)
    with pytest.raises(PermissionDenied, match="sees only their own results"):
        cr.monthly_results(db, world.ann, None, T)
    # A manager sees everyone, and anyone's months.
    assert _by_name(cr.collector_results(db, world.manager, F, T)) == everyone
    assert cr.monthly_results(db, world.manager, world.bob.user_id, T, 1)[0][1] == everyone["Bob"]


def test_no_role_no_report(db: Database, admin: Actor, world: World) -> None:
    nobody = Actor(admin.user_id, admin.username, "Nobody", frozenset())
    with pytest.raises(PermissionDenied, match="may not view AR reports"):
        cr.collector_results(db, nobody, F, T)
    with pytest.raises(PermissionDenied, match="may not view AR reports"):
        cr.monthly_results(db, nobody, world.ann.user_id, T)


def test_bad_input(db: Database, admin: Actor, world: World) -> None:
    with pytest.raises(ValidationFailed) as period:
        cr.collector_results(db, admin, T, F)
    assert period.value.for_field("date_from")
    with pytest.raises(ValidationFailed) as code:
        cr.collector_results(db, admin, F, T, currency="EUD")
    assert code.value.for_field("currency") == ["unknown currency code"]
    with pytest.raises(ValidationFailed) as months:
        cr.monthly_results(db, admin, world.ann.user_id, T, 0)
    assert months.value.for_field("months")
    with pytest.raises(NotFound):
        cr.monthly_results(db, admin, 999_999, T)


def test_empty_database(db: Database, admin: Actor) -> None:
    """No collectors, no customers: the unassigned row alone, all zeros, in EUR."""
    assert cr.collector_results(db, admin, F, T) == [
        cr.CollectorResult(
            None, "(unassigned)", 0, 0, None, 0, Decimal("0.00"), 0, 0, None,
            Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), None,
        )
    ]  # fmt: skip
    assert cr.default_currency(db, admin) == "EUR"


def test_figures_are_plain_values(db: Database, admin: Actor, world: World) -> None:
    """Frozen, and money as Decimal with cents (never float)."""
    row = cr.collector_results(db, admin, F, T)[0]
    with pytest.raises(AttributeError):
        row.calls = 0  # type: ignore[misc]
    for value in (row.promised_amount, row.cash_collected, row.overdue_start, row.overdue_end):
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2


# ---------------------------------------------------------------------------------------------
# Kept rate: each promise in its final state (the day after its due_by)
# ---------------------------------------------------------------------------------------------


def test_a_promise_due_on_the_last_day_counts_in_its_final_state(
    db: Database, admin: Actor, world: World
) -> None:
    """Ann's promise of 300 (A2, made 03-25) moved to be due on T (03-31), never paid: at T it
    was still open, but its final state is broken, in the March table and in March on the chart
    alike (the chart's states used to be those at the chart's end, the table's those at T)."""
    with db.write() as session:
        session.execute(
            update(Promise)
            .where(Promise.made_on == D("2025-03-25"))
            .values(promised_on=D("2025-03-31"), grace_days=0)
        )
    ann = _by_name(cr.collector_results(db, admin, F, T))["Ann"]
    assert (ann.kept, ann.broken, ann.kept_rate) == (2, 2, Decimal("50.00"))
    months = dict(cr.monthly_results(db, admin, world.ann.user_id, D("2025-04-30"), 2))
    assert months[F] == ann
    assert (months[D("2025-04-01")].kept, months[D("2025-04-01")].broken) == (0, 0)


def test_promises_not_final_yet_count_in_neither(db: Database, admin: Actor) -> None:
    """A period up to today: a promise due yesterday is final (kept, paid on time), one due today
    is not, though it is paid already, nor is one due tomorrow."""
    today = date.today()
    ann = add_user(db, admin, "ann", Role.COLLECTOR)
    with Ledger(db) as led:
        x = led.customer("X1", collector=ann.user_id)
        made = (today - timedelta(days=10)).isoformat()
        for days in (-1, 0, 1):
            due = (today + timedelta(days=days)).isoformat()
            _promise(led, ann, x, made, "100", due, grace=0)
        led.payment(x, "300", today - timedelta(days=2))
    row = _by_name(cr.collector_results(db, admin, today - timedelta(days=20), today))["Ann"]
    assert (row.promises_made, row.kept, row.broken, row.kept_rate) == (
        3,
        1,
        0,
        Decimal("100.00"),
    )


def test_dates_out_of_range_are_refused_naming_the_field(db: Database, admin: Actor) -> None:
    """Year 1 used to end in an OverflowError (the day before F); years 1900 to 2999 pass."""
    with pytest.raises(ValidationFailed) as refused:
        cr.collector_results(db, admin, date(1, 1, 1), date(1, 2, 1))
    assert refused.value.for_field("date_from") == ["a date from 1900-01-01 to 2999-12-31"]
    assert refused.value.for_field("date_to") == ["a date from 1900-01-01 to 2999-12-31"]
    with pytest.raises(ValidationFailed) as refused:
        cr.collector_results(db, admin, F, date(9999, 12, 31))
    assert refused.value.for_field("date_to")
    with pytest.raises(ValidationFailed) as refused:
        cr.monthly_results(db, admin, None, date(1, 3, 1), 3)
    assert refused.value.for_field("date_to")
    with pytest.raises(ValidationFailed) as refused:
        cr.collector_results(db, admin, F, "2025-03-31")  # type: ignore[arg-type]
    assert refused.value.for_field("date_to") == ["a date is required"]
    first = cr.collector_results(db, admin, date(1900, 1, 1), date(1900, 1, 31))
    assert [r.collector for r in first] == ["(unassigned)"]
    assert len(cr.monthly_results(db, admin, None, date(1900, 2, 1), 3)) == 3
