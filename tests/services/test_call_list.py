"""The call list: who is on it, the score each customer gets from the strategy (worked out by
hand below from DEFAULT_RULES), the reasons and the next action; a strategy change re-ranks;
who may see whose list. Hand-built portfolios, posted through the real services, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied
from o2c_desktop.models import Role
from o2c_desktop.models.collections import OUTCOME_NO_ANSWER, OUTCOME_PROMISE, OUTCOME_REACHED
from o2c_desktop.services import (
    call_list,
    calls,
    collection_strategy,
    customers,
    disputes,
    ledger,
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
    calls.log_call(
        db,
        colin,
        h,
        OUTCOME_PROMISE,
        promise=calls.PromiseInput(Decimal("3000.00"), ago(10)),
        on=ago(15),
    )

    ids["I"] = i = _customer(db, admin, "I", "colin")
    _invoice(db, admin, i, "I-1", "1500.00", ago(10))
    calls.log_call(
        db,
        colin,
        i,
        OUTCOME_PROMISE,
        promise=calls.PromiseInput(Decimal("1500.00"), TODAY + timedelta(days=5)),
        on=ago(1),
    )

    ids["J"] = j = _customer(db, admin, "J", "colin")
    _invoice(db, admin, j, "J-1", "800.00", ago(30))
    calls.log_call(
        db,
        colin,
        j,
        OUTCOME_PROMISE,
        promise=calls.PromiseInput(Decimal("800.00"), ago(1)),
        on=ago(5),
    )

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
    assert rows["K"].reasons[1] == f"follow-up due since {day_text(ago(1), TODAY)}"
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


def test_held_orders_hook_puts_a_customer_on_the_list(
    db: Database, admin: Actor, collector: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = _customer(db, admin, "Q", "colin")
    assert call_list.call_list(db, collector, TODAY) == []
    monkeypatch.setattr(call_list, "held_orders", lambda session, scope, as_of: {quiet: 2})
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
