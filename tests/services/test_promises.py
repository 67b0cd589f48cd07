"""Promises to pay: open, kept or broken as payments arrive and days pass (domain.md), computed
in SQL for many customers at once; cancellation, its refusals and conflicts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Promise
from o2c_desktop.services import calls, customers, ledger, promises
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.calls import PromiseInput
from o2c_desktop.services.promises import PromiseState, PromiseStatus

# Payments cannot be dated after today, so the story happens in the recent past.
D = date.today() - timedelta(days=80)


def day(n: int) -> date:
    return D + timedelta(days=n)


def _customer(db: Database, actor: Actor, number: str = "C-1", **values: str) -> int:
    return customers.create_customer(db, actor, {"number": number, "name": number, **values}).id


def _promise(
    db: Database,
    actor: Actor,
    cid: int,
    amount: str,
    promised_on: date,
    *,
    on: date = D,
    **options: object,
) -> int:
    result = calls.log_call(
        db,
        actor,
        cid,
        "promise",
        on=on,
        promise=PromiseInput(Decimal(amount), promised_on, **options),  # type: ignore[arg-type]
    )
    assert result.promise_id is not None
    return result.promise_id


def _pay(db: Database, actor: Actor, cid: int, when: date, amount: str, **kw: str) -> None:
    ledger.record_payment(db, actor, cid, when, Decimal(amount), apply="none", **kw)


def _status(db: Database, promise_id: int, as_of: date) -> PromiseStatus:
    with db.read() as session:
        rows = [s for s in promises.statuses_in_session(session, as_of) if s.id == promise_id]
    assert len(rows) == 1, rows
    return rows[0]


def _state(db: Database, promise_id: int, as_of: date) -> tuple[PromiseState, Decimal]:
    status = _status(db, promise_id, as_of)
    return status.state, status.paid


def test_open_then_kept_when_paid_before_due_by(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    invoice = ledger.post_invoice(db, admin, cid, "A-1", D, Decimal("1000.00"))
    pid = _promise(db, admin, cid, "500.00", day(10), on=day(1), invoice_ids=(invoice.id,))
    _pay(db, admin, cid, day(6), "200.00")
    _pay(db, admin, cid, day(9), "300.00")
    _pay(db, admin, cid, day(20), "100.00")  # after due by: never counted
    assert _state(db, pid, day(5)) == (PromiseState.OPEN, Decimal("0"))
    assert _state(db, pid, day(7)) == (PromiseState.OPEN, Decimal("200.00"))
    kept = _status(db, pid, day(9))
    assert (kept.state, kept.paid, kept.settled_on) == (PromiseState.KEPT, Decimal("500"), day(9))
    later = _status(db, pid, day(40))
    assert (later.state, later.paid, later.settled_on) == (PromiseState.KEPT, 500, day(9))
    assert later.due_by == day(13) and later.made_on == day(1)
    assert later.item_ids == (invoice.id,) and later.threshold_percent == 100
    # Before the promise was made it does not exist.
    with db.read() as session:
        assert promises.statuses_in_session(session, D) == []


def test_partial_payment_below_threshold_is_broken_after_due_by(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    pid = _promise(db, admin, cid, "1000.00", day(10), grace_days=2)
    _pay(db, admin, cid, day(11), "600.00")
    assert _state(db, pid, day(12)) == (PromiseState.OPEN, Decimal("600.00"))
    broken = _status(db, pid, day(13))
    assert (broken.state, broken.paid, broken.settled_on) == (
        PromiseState.BROKEN,
        Decimal("600.00"),
        day(13),
    )
    # The rest arriving late does not mend it.
    _pay(db, admin, cid, day(14), "400.00")
    assert _state(db, pid, day(30)) == (PromiseState.BROKEN, Decimal("600.00"))


def test_threshold_80_percent_is_kept_with_80_percent(db: Database, admin: Actor) -> None:
    kept_cid = _customer(db, admin, "C-1")
    short_cid = _customer(db, admin, "C-2")
    kept = _promise(db, admin, kept_cid, "1000.00", day(10), threshold_percent=80)
    short = _promise(db, admin, short_cid, "1000.00", day(10), threshold_percent=80)
    _pay(db, admin, kept_cid, day(3), "500.00")
    _pay(db, admin, kept_cid, day(5), "300.00")
    _pay(db, admin, short_cid, day(5), "799.99")
    status = _status(db, kept, day(20))
    assert (status.state, status.paid, status.settled_on) == (
        PromiseState.KEPT,
        Decimal("800.00"),
        day(5),
    )
    assert status.required == Decimal("800")
    assert _state(db, short, day(13)) == (PromiseState.OPEN, Decimal("799.99"))
    assert _state(db, short, day(14)) == (PromiseState.BROKEN, Decimal("799.99"))


def test_grace_days_count_payments_up_to_promised_date_plus_grace(
    db: Database, admin: Actor
) -> None:
    on_time = _customer(db, admin, "C-1")
    late = _customer(db, admin, "C-2")
    no_grace = _customer(db, admin, "C-3")
    a = _promise(db, admin, on_time, "100.00", day(10), grace_days=5)
    b = _promise(db, admin, late, "100.00", day(10), grace_days=5)
    c = _promise(db, admin, no_grace, "100.00", day(10), grace_days=0)
    _pay(db, admin, on_time, day(15), "100.00")  # the last day of grace
    _pay(db, admin, late, day(16), "100.00")  # one day too late
    _pay(db, admin, no_grace, day(10), "100.00")  # on the promised day itself
    assert _status(db, a, day(15)).state is PromiseState.KEPT
    assert _status(db, b, day(15)).state is PromiseState.OPEN
    broken = _status(db, b, day(16))
    assert (broken.state, broken.paid, broken.settled_on) == (PromiseState.BROKEN, 0, day(16))
    assert _status(db, c, day(11)).state is PromiseState.KEPT


def test_other_currency_and_earlier_payments_are_not_counted(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    other = _customer(db, admin, "C-2")
    _pay(db, admin, cid, day(1), "100.00")  # before the promise was made
    pid = _promise(db, admin, cid, "100.00", day(10), on=day(2))
    _pay(db, admin, cid, day(3), "100.00", currency="USD")
    _pay(db, admin, other, day(3), "100.00")  # another customer's cash
    assert _state(db, pid, day(20)) == (PromiseState.BROKEN, Decimal("0"))
    # A promise in USD counts the USD payment, and only that.
    usd = _promise(db, admin, cid, "100.00", day(10), on=day(2), currency="USD")
    status = _status(db, usd, day(20))
    assert (status.state, status.paid, status.currency) == (PromiseState.KEPT, 100, "USD")
    # A payment on the day the promise was made counts.
    same_day = _customer(db, admin, "C-3")
    promised = _promise(db, admin, same_day, "50.00", day(10), on=day(4))
    _pay(db, admin, same_day, day(4), "50.00")
    assert _status(db, promised, day(4)).state is PromiseState.KEPT


def test_many_customers_at_once_and_active_from(db: Database, admin: Actor) -> None:
    ids = [_customer(db, admin, f"C-{n}") for n in range(3)]
    old = _promise(db, admin, ids[0], "10.00", day(5))  # broken on day(9)
    kept = _promise(db, admin, ids[1], "10.00", day(20))
    _pay(db, admin, ids[1], day(6), "10.00")
    open_ = _promise(db, admin, ids[2], "10.00", day(30), grace_days=0)
    with db.read() as session:
        everyone = promises.statuses_in_session(session, day(25))
        some = promises.statuses_in_session(session, day(25), customer_ids=ids[1:])
        active = promises.statuses_in_session(session, day(25), active_from=day(15))
        none = promises.statuses_in_session(session, day(25), customer_ids=[])
        # Still open promises count as active even when due before active_from.
        ahead = promises.statuses_in_session(session, day(25), active_from=day(40))
    assert [(s.id, s.state) for s in everyone] == [
        (old, PromiseState.BROKEN),
        (kept, PromiseState.KEPT),
        (open_, PromiseState.OPEN),
    ]
    assert [s.id for s in some] == [kept, open_]
    assert [s.id for s in active] == [kept, open_]
    assert [s.id for s in ahead] == [open_]
    assert none == []


def test_customer_promises_latest_first_and_item_ids(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    a = ledger.post_invoice(db, admin, cid, "A-1", D, Decimal("10.00"))
    b = ledger.post_invoice(db, admin, cid, "A-2", D, Decimal("10.00"))
    first = _promise(db, admin, cid, "5.00", day(5), invoice_ids=(b.id, a.id))
    second = _promise(db, admin, cid, "5.00", day(8))
    rows = promises.customer_promises(db, admin, cid, day(6))
    assert [r.id for r in rows] == [second, first]
    assert rows[1].item_ids == tuple(sorted((a.id, b.id))) and rows[0].item_ids == ()


def test_cancel_open_promise(db: Database, admin: Actor, manager: Actor) -> None:
    today = date.today()
    cid = _customer(db, admin)
    pid = _promise(db, admin, cid, "100.00", today + timedelta(days=10), on=today - timedelta(5))
    version = _status(db, pid, today).version
    with pytest.raises(ValidationFailed) as exc:
        calls.cancel_promise(db, admin, pid, version, "   ")
    assert exc.value.for_field("reason") == ["required: why is the promise cancelled?"]
    calls.cancel_promise(db, manager, pid, version, " customer withdrew it ")
    status = _status(db, pid, today)
    assert (status.state, status.settled_on, status.version) == (
        PromiseState.CANCELLED,
        today,
        version + 1,
    )
    # Dated: before the cancellation it was open.
    assert _status(db, pid, today - timedelta(days=1)).state is PromiseState.OPEN
    with db.read() as session:
        promise = session.get(Promise, pid)
        assert promise is not None and promise.note == "Cancelled: customer withdrew it"
        audited = session.execute(
            select(AuditEntry.field, AuditEntry.new_value, AuditEntry.username).where(
                AuditEntry.table_name == "promises",
                AuditEntry.record_id == str(pid),
                AuditEntry.action == "update",
            )
        ).all()
    assert set(audited) == {
        ("cancelled_on", today.isoformat(), "maria"),
        ("note", "Cancelled: customer withdrew it", "maria"),
    }
    # A stale version is a conflict naming who cancelled it; a cancelled promise stays so.
    with pytest.raises(ConflictError, match="maria") as conflict:
        calls.cancel_promise(db, admin, pid, version, "again")
    assert conflict.value.details.their_values["cancelled_on"] == today.isoformat()
    with pytest.raises(ValidationFailed) as exc:
        calls.cancel_promise(db, admin, pid, version + 1, "again")
    assert "cancelled" in exc.value.for_field("promise")[0]
    with pytest.raises(NotFound):
        calls.cancel_promise(db, admin, 999_999, 1, "gone")


def test_cancel_refuses_kept_promise_and_other_portfolios(
    db: Database, admin: Actor, collector: Actor
) -> None:
    mine = _customer(db, admin, "C-1", collector="colin")
    theirs = _customer(db, admin, "C-2")
    kept = _promise(db, admin, mine, "10.00", day(10))
    _pay(db, admin, mine, day(3), "10.00")
    with pytest.raises(ValidationFailed) as exc:
        calls.cancel_promise(db, collector, kept, 1, "mistake")
    assert exc.value.for_field("promise") == [
        "the promise is kept; only an open promise is cancelled"
    ]
    other = _promise(db, admin, theirs, "10.00", date.today(), on=date.today())
    with pytest.raises(PermissionDenied, match="C-2 is in no collector's portfolio"):
        calls.cancel_promise(db, collector, other, 1, "not mine")
    assert _status(db, other, date.today()).state is PromiseState.OPEN


# One payment keeps at most what it pays for: payments are shared out once per customer and
# currency, in date order, to the promises running on their day, the earliest due first.


def test_one_payment_keeps_only_the_earliest_due_of_overlapping_promises(
    db: Database, admin: Actor
) -> None:
    cid = _customer(db, admin)
    first = _promise(db, admin, cid, "1000.00", day(2), grace_days=3)  # due by day(5)
    second = _promise(db, admin, cid, "1000.00", day(3), grace_days=3)  # due by day(6)
    _pay(db, admin, cid, day(3), "1000.00")
    kept = _status(db, first, day(10))
    assert (kept.state, kept.paid, kept.settled_on) == (PromiseState.KEPT, 1000, day(3))
    broken = _status(db, second, day(10))
    assert (broken.state, broken.paid, broken.settled_on) == (PromiseState.BROKEN, 0, day(7))
    assert _state(db, second, day(6)) == (PromiseState.OPEN, Decimal("0"))


def test_two_payments_keep_both_and_the_rest_flows_on(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    first = _promise(db, admin, cid, "1000.00", day(2), grace_days=3)
    second = _promise(db, admin, cid, "1000.00", day(3), grace_days=3)
    _pay(db, admin, cid, day(3), "600.00")
    _pay(db, admin, cid, day(4), "1400.00")  # 400 completes the first, 1,000 the second
    assert _state(db, first, day(3)) == (PromiseState.OPEN, Decimal("600.00"))
    assert _state(db, second, day(3)) == (PromiseState.OPEN, Decimal("0"))
    a, b = _status(db, first, day(10)), _status(db, second, day(10))
    assert (a.state, a.paid, a.settled_on) == (PromiseState.KEPT, 1000, day(4))
    assert (b.state, b.paid, b.settled_on) == (PromiseState.KEPT, 1000, day(4))


def test_a_promise_takes_only_what_reaches_its_threshold(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    eighty = _promise(db, admin, cid, "999.99", day(2), threshold_percent=80)
    full = _promise(db, admin, cid, "500.00", day(3))
    _pay(db, admin, cid, day(2), "1000.00")  # 800.00 covers 80 % of 999.99; 200.00 flows on
    kept = _status(db, eighty, day(4))
    assert (kept.state, kept.paid, kept.settled_on) == (PromiseState.KEPT, 800, day(2))
    assert _state(db, full, day(4)) == (PromiseState.OPEN, Decimal("200.00"))
    _pay(db, admin, cid, day(5), "300.00")
    status = _status(db, full, day(20))
    assert (status.state, status.paid, status.settled_on) == (PromiseState.KEPT, 500, day(5))
    assert promises.needed(Decimal("999.99"), 80, "EUR") == Decimal("800.00")
    assert promises.needed(Decimal("1001"), 50, "JPY") == Decimal("501")


def test_payments_outside_a_window_or_currency_go_to_the_promises_they_fit(
    db: Database, admin: Actor
) -> None:
    cid = _customer(db, admin)
    early = _promise(db, admin, cid, "100.00", day(9), on=day(1))
    late = _promise(db, admin, cid, "100.00", day(6), on=day(4))  # due first, made later
    _pay(db, admin, cid, day(2), "100.00")  # before `late` was made: only `early` may take it
    _pay(db, admin, cid, day(5), "100.00", currency="USD")  # neither promise's currency
    a, b = _status(db, early, day(20)), _status(db, late, day(20))
    assert (a.state, a.paid, a.settled_on) == (PromiseState.KEPT, 100, day(2))
    assert (b.state, b.paid) == (PromiseState.BROKEN, 0)


def test_equal_due_dates_go_by_id_and_other_customers_share_nothing(
    db: Database, admin: Actor
) -> None:
    cid = _customer(db, admin)
    other = _customer(db, admin, "C-2")
    first = _promise(db, admin, cid, "100.00", day(5))
    second = _promise(db, admin, cid, "100.00", day(5))
    theirs = _promise(db, admin, other, "100.00", day(5))
    _pay(db, admin, cid, day(3), "150.00")
    _pay(db, admin, other, day(3), "100.00")
    with db.read() as session:
        got = {s.id: (s.state, s.paid) for s in promises.statuses_in_session(session, day(9))}
    assert got == {
        first: (PromiseState.KEPT, 100),
        second: (PromiseState.BROKEN, 50),
        theirs: (PromiseState.KEPT, 100),
    }


def test_active_from_still_counts_what_earlier_promises_took(db: Database, admin: Actor) -> None:
    """The earlier promises are read back along the chain of overlapping windows: `oldest`
    takes the first payment, so `middle` takes the second, so `newest` gets nothing. Without
    `oldest`, `middle` would have been covered by the first and the second gone to `newest`."""
    cid = _customer(db, admin)
    oldest = _promise(db, admin, cid, "1000.00", day(6), on=day(0), grace_days=0)
    middle = _promise(db, admin, cid, "1000.00", day(12), on=day(5), grace_days=0)
    newest = _promise(db, admin, cid, "1000.00", day(20), on=day(11), grace_days=0)
    _pay(db, admin, cid, day(5), "1000.00")
    _pay(db, admin, cid, day(11), "1000.00")
    with db.read() as session:
        active = promises.statuses_in_session(session, day(25), active_from=day(15))
        chosen = promises.statuses_in_session(
            session, day(25), customer_ids=[cid], active_from=day(15)
        )
        everything = promises.statuses_in_session(session, day(25))
    assert [(s.id, s.state, s.paid) for s in active] == [(newest, PromiseState.BROKEN, 0)]
    assert chosen == active
    assert [(s.id, s.state) for s in everything] == [
        (oldest, PromiseState.KEPT),
        (middle, PromiseState.KEPT),
        (newest, PromiseState.BROKEN),
    ]


def test_a_cancelled_promise_takes_nothing_from_its_cancellation_day(
    db: Database, admin: Actor, manager: Actor
) -> None:
    today = date.today()
    cid = _customer(db, admin)
    soon = _promise(db, admin, cid, "100.00", today + timedelta(days=2), on=today - timedelta(3))
    later = _promise(db, admin, cid, "100.00", today + timedelta(days=9), on=today - timedelta(3))
    calls.cancel_promise(db, manager, soon, _status(db, soon, today).version, "withdrawn")
    _pay(db, admin, cid, today, "100.00")
    assert _state(db, soon, today) == (PromiseState.CANCELLED, Decimal("0"))
    status = _status(db, later, today)
    assert (status.state, status.paid, status.settled_on) == (PromiseState.KEPT, 100, today)


def test_customer_promises_refuses_a_day_out_of_range(db: Database, admin: Actor) -> None:
    cid = _customer(db, admin)
    with pytest.raises(ValidationFailed) as refused:
        promises.customer_promises(db, admin, cid, date(1, 1, 1))
    assert refused.value.for_field("as_of") == ["a date from 1900-01-01 to 2999-12-31"]
