"""The call list: who is on it, the score each customer gets from the strategy (worked out by
hand below from DEFAULT_RULES), the reasons and the next action; a strategy change re-ranks;
who may see whose list. Hand-built portfolios, posted through the real services, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied, ValidationFailed
from o2c_desktop.models import Customer, Role
from o2c_desktop.models.collections import (
    OUTCOME_LEFT_MESSAGE,
    OUTCOME_NO_ANSWER,
    OUTCOME_PROMISE,
    OUTCOME_REACHED,
)
from o2c_desktop.services import (
    call_list,
    calls,
    collection_strategy,
    customers,
    disputes,
    ledger,
    orders,
)
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.call_list import CallListRow, day_text, money_text
from tests.conftest import add_user

TODAY = date.today()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def _customer(db: Database, admin: Actor, number: str, collector: str | None, **extra: Any) -> int:
    raw: dict[str, Any] = {"number": number, "name": f"{number} Ltd", **extra}
    if collector:
        raw["collector"] = collector
    return customers.create_customer(db, admin, raw).id


def _invoice(
    db: Database, admin: Actor, cid: int, number: str, amount: str, due: date, **kw: Any
) -> int:
    issued = min(due, TODAY) - timedelta(days=30)
    item = ledger.post_invoice(db, admin, cid, number, issued, Decimal(amount), due_date=due, **kw)
    return item.id


def _promised(db: Database, collector: Actor, cid: int, amount: str, by: date, on: date) -> None:
    """A call on `on` in which the customer promised `amount` by `by`."""
    promise = calls.PromiseInput(Decimal(amount), by)
    calls.log_call(db, collector, cid, OUTCOME_PROMISE, promise=promise, on=on)


def _by_number(rows: list[CallListRow]) -> dict[str, CallListRow]:
    return {r.number: r for r in rows}


@pytest.fixture
def portfolio(db: Database, admin: Actor) -> dict[str, Any]:
    """Colin's customers, one per situation (see the test for each one's score), and one of
    Cora's."""
    colin = add_user(db, admin, "colin", Role.COLLECTOR)
    cora = add_user(db, admin, "cora", Role.COLLECTOR)
    ids: dict[str, int] = {}

    ids["A"] = a = _customer(db, admin, "A", "colin", risk_class="D", credit_limit="1000")
    _invoice(db, admin, a, "A-1", "12400.00", ago(70))
    _invoice(db, admin, a, "A-2", "600.00", ago(5))

    ids["B"] = b = _customer(db, admin, "B", "colin")
    b1 = _invoice(db, admin, b, "B-1", "500.00", ago(10))
    disputes.raise_dispute(db, admin, b, [(b1, Decimal("500.00"))], "pricing", opened_on=ago(3))

    ids["C"] = c = _customer(db, admin, "C", "colin")
    c1 = _invoice(db, admin, c, "C-1", "2000.00", ago(40))
    disputes.raise_dispute(db, admin, c, [(c1, Decimal("800.00"))], "quality", opened_on=ago(3))

    ids["D"] = d = _customer(db, admin, "D", "colin")
    _invoice(db, admin, d, "D-1", "7000.00", TODAY + timedelta(days=10))  # not due yet

    ids["E"] = e = _customer(db, admin, "E", "colin")
    _invoice(db, admin, e, "E-1", "900.00", ago(30))
    ledger.record_payment(db, admin, e, ago(1), Decimal("900.00"), reference="E-1")

    ids["F"] = f = _customer(db, admin, "F", "cora")
    _invoice(db, admin, f, "F-1", "99000.00", ago(200))

    ids["G"] = g = _customer(db, admin, "G", "colin")
    calls.log_call(db, colin, g, OUTCOME_NO_ANSWER, follow_up_on=TODAY, on=ago(1))

    ids["H"] = h = _customer(db, admin, "H", "colin")
    _invoice(db, admin, h, "H-1", "3000.00", ago(20))
    _promised(db, colin, h, "3000.00", by=ago(10), on=ago(15))

    ids["I"] = i = _customer(db, admin, "I", "colin")
    _invoice(db, admin, i, "I-1", "1500.00", ago(10))
    _promised(db, colin, i, "1500.00", by=TODAY + timedelta(days=5), on=ago(1))

    ids["J"] = j = _customer(db, admin, "J", "colin")
    _invoice(db, admin, j, "J-1", "800.00", ago(30))
    _promised(db, colin, j, "800.00", by=ago(1), on=ago(5))

    ids["K"] = k = _customer(db, admin, "K", "colin")
    _invoice(db, admin, k, "K-1", "250.00", ago(20), currency="USD")

    ids["U"] = u = _customer(db, admin, "U", None)  # nobody's
    _invoice(db, admin, u, "U-1", "100.00", ago(3))
    return {"ids": ids, "colin": colin, "cora": cora}


def test_who_is_on_the_list_with_score_reasons_and_action(
    db: Database, portfolio: dict[str, Any]
) -> None:
    colin = portfolio["colin"]
    rows = call_list.call_list(db, colin, TODAY)
    # Not on it: D (nothing due yet), E (paid), F (Cora's), U (nobody's).
    assert [r.number for r in rows] == ["A", "H", "C", "G", "J", "K", "B", "I"]
    got = {
        r.number: (r.score, r.reasons, r.overdue, r.oldest_days_past_due, r.next_action)
        for r in rows
    }
    # A: 13,000 overdue → 30; oldest 70 days → 30; risk D → 20; never reached → 20;
    # exposure 13,000 over the 1,000 limit → 15.
    assert got["A"] == (
        115,
        (
            "EUR 13,000.00 overdue, EUR 12,400.00 over 60 days",
            "over credit limit by EUR 12,000.00",
            "never reached",
            "risk class D",
        ),
        Decimal("13000.00"),
        70,
        "Call: first reminder",
    )
    # H: 3,000 → 10; 20 days → 10; reached 15 days ago (the promise) → 5; broken → 40.
    assert got["H"] == (
        65,
        (
            "EUR 3,000.00 over 14 days",
            f"promise broken {day_text(ago(6), TODAY)}",
            "no contact for 15 days",
        ),
        Decimal("3000.00"),
        20,
        "Call: promise broken",
    )
    # C: 2,000 less 800 disputed = 1,200 → 10; 40 days → 20; never reached → 20; dispute → 10.
    assert got["C"] == (
        60,
        ("EUR 1,200.00 over 30 days", "dispute waiting on us", "never reached"),
        Decimal("1200.00"),
        40,
        "Call: first reminder",
    )
    # G: nothing overdue; the follow-up asked for today → 30; a no-answer is no contact → 20.
    assert got["G"] == (50, ("follow-up due", "never reached"), Decimal("0.00"), 0, "Follow up")
    # J: 800 → 5; 30 days → 10; reached 5 days ago → 0; promise due (within grace) → 25.
    assert got["J"] == (
        40,
        ("EUR 800.00 over 14 days", f"promise of EUR 800.00 due {day_text(ago(1), TODAY)}"),
        Decimal("800.00"),
        30,
        "Call: promise due",
    )
    # K: a EUR customer with only USD overdue: named, not scored by amount; 20 days → 10;
    # never reached → 20.
    assert got["K"] == (
        30,
        ("USD 250.00 overdue too", "never reached"),
        Decimal("0.00"),
        20,
        "Call: first reminder",
    )
    # B: all 500 disputed: (500 → 5, 10 days → 5, never reached → 20) × 0.2 = 6; dispute → 10.
    assert got["B"] == (
        16,
        ("EUR 500.00 overdue, all disputed", "dispute waiting on us", "never reached"),
        Decimal("0.00"),
        10,
        "Work dispute",
    )
    # I: promised in full, not due yet: (1,500 → 10, 10 days → 5) × 0.2 = 3.
    promised_on = day_text(TODAY + timedelta(days=5), TODAY)
    assert got["I"] == (
        3,
        ("EUR 1,500.00 overdue", f"EUR 1,500.00 promised for {promised_on}"),
        Decimal("1500.00"),
        10,
        f"Wait: promised for {promised_on}",
    )
    a = _by_number(rows)["A"]
    assert (a.collector, a.collector_id, a.currency, a.name, a.claimed_by) == (
        "Colin",
        colin.user_id,
        "EUR",
        "A Ltd",
        None,
    )


def test_a_day_ahead_sees_what_falls_due_by_then(db: Database, portfolio: dict[str, Any]) -> None:
    later = TODAY + timedelta(days=11)
    ahead = _by_number(call_list.call_list(db, portfolio["colin"], later))
    assert ahead["D"].overdue == Decimal("7000.00")
    assert ahead["D"].oldest_days_past_due == 1
    # I's promise (day 5, grace to day 8) is no longer "promised, not due" then: it is broken.
    assert ahead["I"].next_action == "Call: promise broken"
    assert f"promise broken {day_text(TODAY + timedelta(days=9), later)}" in ahead["I"].reasons


def test_paying_a_promise_keeps_it(db: Database, admin: Actor, portfolio: dict[str, Any]) -> None:
    h = portfolio["ids"]["H"]
    ledger.record_payment(db, admin, h, ago(12), Decimal("3000.00"), reference="H-1")
    rows = _by_number(call_list.call_list(db, portfolio["colin"], TODAY))
    assert "H" not in rows  # kept, paid, nothing overdue


def test_a_later_call_clears_the_follow_up_and_contact_counts_only_when_reached(
    db: Database, portfolio: dict[str, Any]
) -> None:
    colin, ids = portfolio["colin"], portfolio["ids"]
    calls.log_call(db, colin, ids["G"], OUTCOME_REACHED)  # today, no new follow-up
    calls.log_call(db, colin, ids["C"], OUTCOME_REACHED, on=ago(45))
    calls.log_call(db, colin, ids["C"], OUTCOME_NO_ANSWER, on=ago(3))
    rows = _by_number(call_list.call_list(db, colin, TODAY))
    assert "G" not in rows
    # C: reached 45 days ago (10 points, not 20); the later no-answer is no contact.
    assert rows["C"].score == 50
    assert rows["C"].reasons == (
        "EUR 1,200.00 over 30 days",
        "dispute waiting on us",
        "no contact for 45 days",
    )
    assert rows["C"].next_action == "Call: overdue"
    # A follow-up set for a later day is not due today; one overdue since yesterday is.
    calls.log_call(db, colin, ids["C"], OUTCOME_REACHED, follow_up_on=TODAY + timedelta(days=2))
    calls.log_call(db, colin, ids["K"], OUTCOME_NO_ANSWER, on=ago(2), follow_up_on=ago(1))
    rows = _by_number(call_list.call_list(db, colin, TODAY))
    assert "follow-up due" not in " ".join(rows["C"].reasons)
    assert "called today" in rows["C"].reasons
    lapses = day_text(ago(1) + timedelta(days=call_list.FOLLOW_UP_DAYS), TODAY)
    assert rows["K"].reasons[1] == (
        f"follow-up due since {day_text(ago(1), TODAY)}, lapses after {lapses}"
    )
    assert rows["K"].next_action == "Follow up"


def test_next_customer_skips_customers_called_today(
    db: Database, portfolio: dict[str, Any]
) -> None:
    colin, ids = portfolio["colin"], portfolio["ids"]
    calls.log_call(db, colin, ids["A"], OUTCOME_NO_ANSWER)
    first = call_list.call_list(db, colin, TODAY)[0]
    assert first.number == "A"  # still on top of the list, marked
    assert "called today" in first.reasons
    row = call_list.next_customer(db, colin, TODAY)
    assert row is not None and row.number == "H"
    following = call_list.next_customer(db, colin, TODAY, after=row.customer_id)
    assert following is not None and following.number == "C"


def test_a_strategy_change_re_ranks_the_list(
    db: Database, admin: Actor, manager: Actor, collector: Actor
) -> None:
    big = _customer(db, admin, "BIG", "colin")
    _invoice(db, admin, big, "X-1", "60000.00", ago(5))
    old = _customer(db, admin, "OLD", "colin")
    _invoice(db, admin, old, "Y-1", "500.00", ago(100))
    before = call_list.call_list(db, collector, TODAY)
    # BIG: 45 + 5 + 20 = 70; OLD: 5 + 40 + 20 = 65.
    assert [(r.number, r.score) for r in before] == [("BIG", 70), ("OLD", 65)]
    ageing = dataclasses.replace(
        collection_strategy.DEFAULT_RULES,
        overdue_amount_bands=((Decimal("0.01"), 1),),
        dpd_bands=((1, 1), (91, 200)),
    )
    saved = collection_strategy.save_strategy(db, manager, None, "Age first", ageing)
    assert [r.number for r in call_list.call_list(db, collector, TODAY)] == ["BIG", "OLD"]
    collection_strategy.activate(db, manager, saved.id, saved.version)
    after = call_list.call_list(db, collector, TODAY)
    # OLD: 1 + 200 + 20 = 221; BIG: 1 + 1 + 20 = 22.
    assert [(r.number, r.score) for r in after] == [("OLD", 221), ("BIG", 22)]
    assert after[0].reasons[0] == "EUR 500.00 over 90 days"


def test_ties_go_to_the_larger_overdue_then_the_number(
    db: Database, admin: Actor, collector: Actor
) -> None:
    for number, amount in (("T-2", "2000.00"), ("T-1", "2000.00"), ("T-3", "3000.00")):
        cid = _customer(db, admin, number, "colin")
        _invoice(db, admin, cid, f"I-{number}", amount, ago(20))
    rows = call_list.call_list(db, collector, TODAY)
    assert [(r.number, r.score) for r in rows] == [("T-3", 40), ("T-1", 40), ("T-2", 40)]
    assert [r.number for r in call_list.call_list(db, collector, TODAY, limit=2)] == [
        "T-3",
        "T-1",
    ]


def test_who_sees_which_list(
    db: Database, admin: Actor, manager: Actor, portfolio: dict[str, Any]
) -> None:
    colin, cora = portfolio["colin"], portfolio["cora"]
    assert [r.number for r in call_list.call_list(db, cora, TODAY)] == ["F"]
    with pytest.raises(PermissionDenied, match="see every collector's portfolio"):
        call_list.call_list(db, colin, TODAY, collector_id=cora.user_id)
    with pytest.raises(PermissionDenied):
        call_list.call_list(db, colin, TODAY, team=True)
    with pytest.raises(PermissionDenied):
        call_list.next_customer(db, colin, TODAY, team=True)
    # Asking for one's own list by id is the same as the default.
    assert call_list.call_list(db, colin, TODAY, collector_id=colin.user_id) == (
        call_list.call_list(db, colin, TODAY)
    )
    theirs = call_list.call_list(db, manager, TODAY, collector_id=cora.user_id)
    assert [(r.number, r.collector) for r in theirs] == [("F", "Cora")]
    team = _by_number(call_list.call_list(db, manager, TODAY, team=True))
    assert set(team) == {"A", "B", "C", "F", "G", "H", "I", "J", "K", "U"}
    assert (team["U"].collector_id, team["U"].collector) == (None, None)
    # F: 99,000 → 45; 200 days → 40; never reached → 20.
    team_order = [r.number for r in call_list.call_list(db, manager, TODAY, team=True)]
    assert (team_order[:2], team["F"].score) == (["A", "F"], 105)
    assert call_list.call_list(db, manager, TODAY) == []  # a manager's own portfolio is empty


def test_orders_held_for_credit_put_a_customer_on_the_list(
    db: Database, admin: Actor, collector: Actor
) -> None:
    _customer(db, admin, "Q", "colin", credit_limit="1000")
    assert call_list.call_list(db, collector, TODAY) == []
    for number in ("SO-1", "SO-2"):  # each over the limit: held
        order = orders.enter_order(
            db, admin, {"customer": "Q", "number": number, "amount": Decimal("1500")}
        )
        assert order.status == "held"
    rows = call_list.call_list(db, collector, TODAY)
    assert [(r.number, r.score, r.reasons, r.next_action) for r in rows] == [
        ("Q", 40, ("2 held orders", "never reached"), "Call: orders on hold")
    ]


def test_amounts_and_days_in_reasons() -> None:
    assert money_text(Decimal("12400"), "EUR") == "EUR 12,400.00"
    assert money_text(Decimal("12400.5"), "JPY") == "JPY 12,400"
    assert money_text(Decimal("0.125"), "EUR") == "EUR 0.12"  # half-even
    assert money_text(Decimal("1.5"), "BHD") == "BHD 1.500"
    assert day_text(date(2026, 11, 3), date(2026, 11, 23)) == "3 Nov"
    assert day_text(date(2025, 12, 30), date(2026, 1, 4)) == "30 Dec 2025"


def test_days_past_due_pass_over_an_oldest_item_that_is_all_disputed(
    db: Database, admin: Actor, collector: Actor
) -> None:
    w = _customer(db, admin, "W", "colin")
    w1 = _invoice(db, admin, w, "W-1", "1000.00", ago(80))
    _invoice(db, admin, w, "W-2", "400.00", ago(20))
    disputes.raise_dispute(db, admin, w, [(w1, Decimal("1000.00"))], "pricing", opened_on=ago(2))
    p = _customer(db, admin, "P", "colin")
    p1 = _invoice(db, admin, p, "P-1", "1000.00", ago(80))
    disputes.raise_dispute(db, admin, p, [(p1, Decimal("300.00"))], "pricing", opened_on=ago(2))
    rows = _by_number(call_list.call_list(db, collector, TODAY))
    # W: 400 → 5; 20 days (the undisputed item) → 10; never reached → 20; dispute → 10.
    assert (rows["W"].score, rows["W"].overdue, rows["W"].oldest_days_past_due) == (
        45,
        Decimal("400.00"),
        20,
    )
    assert rows["W"].reasons == (
        "EUR 400.00 over 14 days",
        "dispute waiting on us",
        "never reached",
    )
    # P: 700 undisputed of the 80-day item → 5; 80 days → 30; never reached → 20; dispute → 10.
    assert (rows["P"].score, rows["P"].reasons[0], rows["P"].oldest_days_past_due) == (
        65,
        "EUR 700.00 over 60 days",
        80,
    )


# ---------------------------------------------------------------------------------------------
# Follow-ups: what clears one, when one lapses, and calling back the same day
# ---------------------------------------------------------------------------------------------


def test_a_no_answer_leaves_the_follow_up_standing_a_contact_clears_it(
    db: Database, portfolio: dict[str, Any]
) -> None:
    """G: "no answer, call back today" logged yesterday. Another no-answer today, without a
    follow-up, leaves it standing (nobody was reached); reaching someone clears it."""
    colin, g = portfolio["colin"], portfolio["ids"]["G"]
    calls.log_call(db, colin, g, OUTCOME_NO_ANSWER)
    row = _by_number(call_list.call_list(db, colin, TODAY))["G"]
    assert (row.reasons, row.next_action) == (
        ("follow-up due", "never reached", "called today"),
        "Follow up",
    )
    # A later call asking for its own follow-up replaces it: not due before its day.
    calls.log_call(db, colin, g, OUTCOME_LEFT_MESSAGE, follow_up_on=TODAY + timedelta(days=3))
    assert "G" not in _by_number(call_list.call_list(db, colin, TODAY))
    ahead = TODAY + timedelta(days=3)
    assert _by_number(call_list.call_list(db, colin, ahead))["G"].next_action == "Follow up"
    calls.log_call(db, colin, g, OUTCOME_REACHED)
    assert "G" not in _by_number(call_list.call_list(db, colin, ahead))


def test_a_follow_up_lapses_after_follow_up_days(
    db: Database, admin: Actor, collector: Actor
) -> None:
    days = call_list.FOLLOW_UP_DAYS
    lapsed = _customer(db, admin, "L", "colin")
    last_day = _customer(db, admin, "M", "colin")
    calls.log_call(
        db, collector, lapsed, OUTCOME_NO_ANSWER, on=ago(days + 3), follow_up_on=ago(days + 1)
    )
    calls.log_call(
        db, collector, last_day, OUTCOME_NO_ANSWER, on=ago(days + 2), follow_up_on=ago(days)
    )
    rows = _by_number(call_list.call_list(db, collector, TODAY))
    assert set(rows) == {"M"}
    assert rows["M"].reasons[0] == (
        f"follow-up due since {day_text(ago(days), TODAY)}, lapses after {day_text(TODAY, TODAY)}"
    )


def test_next_customer_comes_back_to_a_call_back_asked_for_today(
    db: Database, admin: Actor, collector: Actor
) -> None:
    """X was called this morning, no answer, "call back this afternoon": a follow-up set today
    and due today. next_customer offers X again (any other customer called today it passes
    by), until X has been called once more."""
    x = _customer(db, admin, "X", "colin")
    _invoice(db, admin, x, "X-1", "9000.00", ago(40))
    y = _customer(db, admin, "Y", "colin")
    _invoice(db, admin, y, "Y-1", "100.00", ago(2))
    z = _customer(db, admin, "Z", "colin")
    _invoice(db, admin, z, "Z-1", "20000.00", ago(60))
    calls.log_call(db, collector, x, OUTCOME_NO_ANSWER, follow_up_on=TODAY)
    calls.log_call(db, collector, z, OUTCOME_NO_ANSWER)  # called today, nothing asked
    row = call_list.next_customer(db, collector, TODAY)
    assert row is not None and row.number == "X"
    calls.log_call(db, collector, x, OUTCOME_NO_ANSWER)  # the call back: no answer again
    row = call_list.next_customer(db, collector, TODAY, after=x)
    assert row is not None and row.number == "Y"
    # Its follow-up still stands for tomorrow's list.
    assert _by_number(call_list.call_list(db, collector, TODAY))["X"].next_action == "Follow up"


# ---------------------------------------------------------------------------------------------
# Last contact: read from the window the strategy needs
# ---------------------------------------------------------------------------------------------


def test_last_contact_beyond_the_window(db: Database, admin: Actor, collector: Actor) -> None:
    """The calls read for the last contact are those of the top days-since-contact band (60
    days by default): an older contact earns that band's points anyway. A customer entered in
    the app since then has all its calls in the window (or they are looked up), so "never
    reached" stays a fact; for an older customer, "no contact for over 60 days"."""
    window = (TODAY - call_list.contact_window(collection_strategy.DEFAULT_RULES, TODAY)).days
    assert window == 60
    old = _customer(db, admin, "OLD", "colin")
    _invoice(db, admin, old, "O-1", "500.00", ago(20))
    new = _customer(db, admin, "NEW", "colin")
    _invoice(db, admin, new, "N-1", "500.00", ago(20))
    quiet = _customer(db, admin, "QUIET", "colin")
    _invoice(db, admin, quiet, "Q-1", "500.00", ago(20))
    for cid in (old, new):
        calls.log_call(db, collector, cid, OUTCOME_REACHED, on=ago(75))
    with db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id.in_([old, quiet]))
            .values(created_at=datetime.now(UTC) - timedelta(days=400))
        )
    rows = _by_number(call_list.call_list(db, collector, TODAY))
    # 500 → 5; 20 days → 10; 60 days or more since contact → 20.
    assert {n: (r.score, r.reasons[-1], r.next_action) for n, r in rows.items()} == {
        "OLD": (35, "no contact for over 60 days", "Call: overdue"),
        "QUIET": (35, "no contact for over 60 days", "Call: overdue"),
        "NEW": (35, "no contact for 75 days", "Call: overdue"),
    }
    fresh = _customer(db, admin, "FRESH", "colin")
    _invoice(db, admin, fresh, "F-1", "500.00", ago(20))
    row = _by_number(call_list.call_list(db, collector, TODAY))["FRESH"]
    assert (row.reasons[-1], row.next_action) == ("never reached", "Call: first reminder")


# ---------------------------------------------------------------------------------------------
# Unapplied cash and credit notes
# ---------------------------------------------------------------------------------------------


def test_unapplied_cash_and_credit_notes_net_against_the_overdue(
    db: Database, admin: Actor, manager: Actor, collector: Actor
) -> None:
    paid = _customer(db, admin, "PAID", "colin")
    _invoice(db, admin, paid, "P-1", "1000.00", ago(70))
    payment = ledger.record_payment(db, admin, paid, ago(2), Decimal("1000.00"), apply="none")
    part = _customer(db, admin, "PART", "colin")
    _invoice(db, admin, part, "R-1", "3000.00", ago(20))
    ledger.post_credit_note(db, admin, part, "CN-1", ago(5), Decimal("1000.00"))
    usd = _customer(db, admin, "USD", "colin")
    _invoice(db, admin, usd, "U-1", "250.00", ago(20), currency="USD")
    ledger.record_payment(db, admin, usd, ago(1), Decimal("300.00"), currency="USD", apply="none")
    other = _customer(db, admin, "OTHER", "colin")  # cash in a currency nothing is overdue in
    _invoice(db, admin, other, "T-1", "800.00", ago(20))
    ledger.record_payment(db, admin, other, ago(1), Decimal("800.00"), currency="USD", apply="none")
    got = {
        r.number: (r.score, r.reasons, r.overdue, r.oldest_days_past_due, r.next_action)
        for r in call_list.call_list(db, collector, TODAY)
    }
    assert got == {
        # Nothing left overdue once the cash is applied: low points, "Apply cash".
        "PAID": (
            call_list.APPLY_CASH_POINTS,
            ("unapplied cash EUR 1,000.00 to apply",),
            Decimal("0.00"),
            0,
            "Apply cash",
        ),
        # 3,000 less the 1,000 credit note: 2,000 → 10; 20 days → 10; never reached → 20.
        "PART": (
            40,
            ("EUR 2,000.00 over 14 days", "credit notes EUR 1,000.00 to apply", "never reached"),
            Decimal("2000.00"),
            20,
            "Call: first reminder",
        ),
        "USD": (
            call_list.APPLY_CASH_POINTS,
            ("unapplied cash USD 300.00 to apply",),
            Decimal("0.00"),
            0,
            "Apply cash",
        ),
        # 800 → 5; 20 days → 10; never reached → 20: USD cash does not pay EUR items.
        "OTHER": (
            35,
            ("EUR 800.00 over 14 days", "never reached"),
            Decimal("800.00"),
            20,
            "Call: first reminder",
        ),
    }
    # The team's list reads the same credits.
    team = _by_number(call_list.call_list(db, manager, TODAY, team=True))
    assert {n: (r.score, r.overdue) for n, r in team.items()} == {
        n: (score, overdue) for n, (score, _, overdue, _, _) in got.items()
    }
    # Applied, the cash is gone from the list with the item it paid.
    ledger.apply_oldest_first(db, admin, payment.payment.id)
    assert "PAID" not in _by_number(call_list.call_list(db, collector, TODAY))


def test_credits_are_taken_off_the_youngest_overdue_first(
    db: Database, admin: Actor, collector: Actor
) -> None:
    """Which items unapplied cash will settle is not known until it is applied: the oldest
    item keeps its age and its band (70 days), the amount is what is left."""
    c = _customer(db, admin, "AGE", "colin")
    _invoice(db, admin, c, "A-1", "1000.00", ago(70))
    _invoice(db, admin, c, "A-2", "5000.00", ago(10))
    ledger.record_payment(db, admin, c, ago(1), Decimal("5500.00"), apply="none")
    (row,) = call_list.call_list(db, collector, TODAY)
    # 500 left → 5; 70 days → 30; never reached → 20.
    assert (row.score, row.reasons[:2], row.overdue, row.oldest_days_past_due) == (
        55,
        ("EUR 500.00 over 60 days", "unapplied cash EUR 5,500.00 to apply"),
        Decimal("500.00"),
        70,
    )


# ---------------------------------------------------------------------------------------------
# Dates out of range
# ---------------------------------------------------------------------------------------------


def test_a_day_out_of_range_is_refused_naming_the_field(
    db: Database, admin: Actor, collector: Actor
) -> None:
    for day in (date(1, 1, 1), date(9999, 12, 31), date(1899, 12, 31), date(3000, 1, 1)):
        with pytest.raises(ValidationFailed) as refused:
            call_list.call_list(db, collector, day)
        assert refused.value.for_field("as_of") == ["a date from 1900-01-01 to 2999-12-31"]
        with pytest.raises(ValidationFailed) as refused:
            call_list.next_customer(db, collector, day)
        assert refused.value.for_field("as_of")
    assert call_list.call_list(db, collector, date(1900, 1, 1)) == []
    assert call_list.call_list(db, collector, date(2999, 12, 31)) == []
