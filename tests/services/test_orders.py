"""Orders and credit holds: each hold rule alone and together, the limit boundary, temporary
limits, releasing within and above authority, rejecting, closing, validation, conflicts and the
holds queue. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, Order, Role
from o2c_desktop.services import (
    credit_policy,
    customers,
    demo_data,
    demo_ledger,
    demo_orders,
    disputes,
    ledger,
    orders,
)
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.orders import OrderQuery
from tests.conftest import add_user

TODAY = date.today()
OVER = "exceeds available credit"


def _customer(db: Database, admin: Actor, number: str = "C-1", **values: Any) -> int:
    raw = {"number": number, "name": f"{number} GmbH", "credit_limit": "50000", **values}
    return customers.create_customer(db, admin, raw).id


def _exposure(db: Database, customer_id: int) -> Decimal:
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer.exposure


def _enter(db: Database, actor: Actor, customer_id: int, amount: str, **values: Any) -> Any:
    return orders.enter_order(db, actor, {"customer_id": customer_id, "amount": amount, **values})


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


@pytest.fixture
def cid(db: Database, admin: Actor) -> int:
    """A customer with a 50,000 limit and exposure 41,000 (an invoice not yet due)."""
    customer_id = _customer(db, admin)
    ledger.post_invoice(db, admin, customer_id, "I-1", TODAY - timedelta(days=5), "41000")
    return customer_id


# ---------------------------------------------------------------------------------------------
# The hold rules
# ---------------------------------------------------------------------------------------------


def test_order_within_credit_is_open_and_counts_in_exposure(
    db: Database, clerk: Actor, cid: int
) -> None:
    order = _enter(db, clerk, cid, "9000", number="SO-9", order_date="2024-02-29")
    assert (order.status, order.hold_reasons, order.held_at) == ("open", (), None)
    assert (order.number, order.order_date, order.amount, order.currency) == (
        "SO-9",
        date(2024, 2, 29),
        Decimal("9000.00"),
        "EUR",
    )
    assert (order.customer_number, order.customer_name, order.entered_by) == (
        "C-1",
        "C-1 GmbH",
        "Clara",
    )
    assert _exposure(db, cid) == Decimal("50000.00")  # exactly at the limit


def test_exactly_at_the_limit_is_not_held_a_cent_over_is(
    db: Database, clerk: Actor, cid: int
) -> None:
    assert _enter(db, clerk, cid, "9000.00").status == "open"
    held = _enter(db, clerk, cid, "0.01")
    assert held.status == "held"
    assert held.hold_reasons == (
        "exceeds available credit: exposure EUR 50,000.00 + order EUR 0.01 = EUR 50,000.01 "
        "over limit EUR 50,000.00",
    )
    assert held.held_at is not None
    assert _exposure(db, cid) == Decimal("50000.00")  # a held order does not count


def test_over_the_limit_alone(db: Database, clerk: Actor, cid: int) -> None:
    order = _enter(db, clerk, cid, "12000")
    assert order.hold_reasons == (
        "exceeds available credit: exposure EUR 41,000.00 + order EUR 12,000.00 = "
        "EUR 53,000.00 over limit EUR 50,000.00",
    )


def test_customer_on_hold_alone(db: Database, admin: Actor, clerk: Actor) -> None:
    customer_id = _customer(
        db, admin, on_hold="yes", hold_reason="bankruptcy filing", credit_limit="1000000"
    )
    order = _enter(db, clerk, customer_id, "10")
    assert (order.status, order.hold_reasons) == ("held", ("customer on hold: bankruptcy filing",))
    assert _exposure(db, customer_id) == 0


def test_items_long_past_due_alone_disputed_amounts_count(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    customer_id = _customer(db, admin, credit_limit="1000000")
    old = ledger.post_invoice(
        db, admin, customer_id, "I-OLD", TODAY - timedelta(days=123), "3000",
        due_date=TODAY - timedelta(days=93),
    )  # fmt: skip
    ledger.post_invoice(
        db, admin, customer_id, "I-61", TODAY - timedelta(days=90), "400",
        due_date=TODAY - timedelta(days=61),
    )  # fmt: skip
    ledger.post_invoice(  # exactly 60 days past due: not "more than 60"
        db, admin, customer_id, "I-60", TODAY - timedelta(days=90), "700",
        due_date=TODAY - timedelta(days=60),
    )  # fmt: skip
    ledger.post_credit_note(  # credit notes are not past due
        db, admin, customer_id, "CN-1", TODAY - timedelta(days=200), "50"
    )
    disputes.raise_dispute(db, admin, customer_id, [(old.id, Decimal("1000"))], "pricing")
    order = _enter(db, clerk, customer_id, "100")
    assert (order.status, order.hold_reasons) == (
        "held",
        ("EUR 3,400.00 more than 60 days past due (oldest 93 days)",),
    )


def test_the_policy_sets_the_days_past_due(db: Database, admin: Actor, clerk: Actor) -> None:
    customer_id = _customer(db, admin, credit_limit="1000000")
    ledger.post_invoice(
        db, admin, customer_id, "I-OLD", TODAY - timedelta(days=120), "3000",
        due_date=TODAY - timedelta(days=93),
    )  # fmt: skip
    credit_policy.set_policy(db, admin, {"hold_days_past_due": 93})
    assert _enter(db, clerk, customer_id, "100").status == "open"
    credit_policy.set_policy(db, admin, {"hold_days_past_due": 92})
    assert _enter(db, clerk, customer_id, "100").hold_reasons == (
        "EUR 3,000.00 more than 92 days past due (oldest 93 days)",
    )


def test_every_reason_together_audited_one_per_line(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    customer_id = _customer(db, admin, on_hold="yes", hold_reason="legal", credit_limit="1000")
    ledger.post_invoice(
        db, admin, customer_id, "I-OLD", TODAY - timedelta(days=100), "800",
        due_date=TODAY - timedelta(days=70),
    )  # fmt: skip
    order = _enter(db, clerk, customer_id, "500", external_id="ERP-77")
    assert order.hold_reasons == (
        "customer on hold: legal",
        "exceeds available credit: exposure EUR 800.00 + order EUR 500.00 = EUR 1,300.00 "
        "over limit EUR 1,000.00",
        "EUR 800.00 more than 60 days past due (oldest 70 days)",
    )
    with db.read() as session:
        trail = {
            e.field: e.new_value
            for e in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.table_name == "orders", AuditEntry.record_id == str(order.id)
                )
            )
        }
    assert trail["status"] == "held"
    assert trail["external_id"] == "ERP-77"
    assert trail["hold_reasons"] == "\n".join(order.hold_reasons)
    assert trail["amount"] == "500.00"


def test_temporary_limit_counts_up_to_its_last_day(db: Database, admin: Actor) -> None:
    customer_id = _customer(db, admin, credit_limit="10000")
    until = TODAY + timedelta(days=3)
    with db.write() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.temporary_limit, customer.temporary_limit_until = Decimal("30000"), until
    policy = credit_policy.get_policy(db)
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None

        def reasons(as_of: date) -> list[str]:
            return orders.hold_reasons_in_session(
                session, customer, Decimal("20000"), as_of, policy
            )

        assert reasons(until) == []
        assert reasons(until + timedelta(days=1)) == [
            "exceeds available credit: exposure EUR 0.00 + order EUR 20,000.00 = "
            "EUR 20,000.00 over limit EUR 10,000.00"
        ]
    assert (
        orders.enter_order(db, admin, {"customer": "C-1", "amount": Decimal("20000")}).status
        == "open"
    )  # today: the temporary limit is in force


# ---------------------------------------------------------------------------------------------
# Validation and permissions
# ---------------------------------------------------------------------------------------------


def test_every_problem_is_named_by_field(db: Database, clerk: Actor, cid: int) -> None:
    _enter(db, clerk, cid, "1", number="SO-1")
    with pytest.raises(ValidationFailed) as exc:
        orders.enter_order(
            db,
            clerk,
            {
                "customer_id": cid,
                "number": "SO-1",
                "order_date": "1899-12-31",
                "amount": "1.234",
                "currency": "USD",
                "colour": "red",
            },
        )
    problems = _problems(exc)
    assert set(problems) == {"number", "order_date", "amount", "currency", "colour"}
    assert problems["number"] == "order number SO-1 is already used"
    assert "1900-01-01 to 2999-12-31" in problems["order_date"]
    assert "EUR" in problems["currency"]
    assert problems["amount"] == "EUR amounts have at most 2 decimals"
    for values, name, words in (
        ({"customer": "NOPE", "amount": "1"}, "customer", "no such customer"),
        ({"amount": "1"}, "customer", "required"),
        ({"customer_id": cid, "amount": "0"}, "amount", "more than zero"),
        ({"customer_id": cid, "amount": 1.5}, "amount", "float"),
        ({"customer_id": cid, "amount": "1", "order_date": "31.12.2024"}, "order_date", "date"),
        ({"customer_id": cid, "amount": "1", "number": "X" * 41}, "number", "longer than 40"),
        ({"customer_id": cid, "amount": "1", "currency": "EUD"}, "currency", "ISO 4217"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            orders.enter_order(db, clerk, values)
        assert words in _problems(exc)[name], values


def test_numbers_and_dates_default_and_amounts_may_be_typed(
    db: Database, clerk: Actor, cid: int
) -> None:
    first = orders.enter_order(db, clerk, {"customer": "C-1", "amount": "1,000.50"})
    second = orders.enter_order(db, clerk, {"customer": " C-1 ", "amount": 2, "currency": "eur"})
    assert (first.number, second.number) == ("SO-000001", "SO-000002")
    assert (first.order_date, first.amount, second.amount) == (
        TODAY,
        Decimal("1000.50"),
        Decimal("2.00"),
    )


def test_who_may_enter_release_and_close(
    db: Database, admin: Actor, collector: Actor, clerk: Actor, cid: int
) -> None:
    with pytest.raises(PermissionDenied):
        _enter(db, collector, cid, "1")
    held = _enter(db, clerk, cid, "20000")
    with pytest.raises(PermissionDenied):
        orders.release_order(db, collector, held.id, held.version, "ok")
    with pytest.raises(PermissionDenied):
        orders.reject_order(db, collector, held.id, held.version, "no")
    assert orders.holds_queue(db, collector)[0].id == held.id  # everyone may look


# ---------------------------------------------------------------------------------------------
# Release, reject, close
# ---------------------------------------------------------------------------------------------


def test_release_within_authority(db: Database, admin: Actor, manager: Actor, clerk: Actor) -> None:
    customer_id = _customer(db, admin, on_hold="yes", hold_reason="review", credit_limit="100000")
    ledger.post_invoice(db, admin, customer_id, "I-1", TODAY, "41000")
    held = _enter(db, clerk, customer_id, "9000")
    assert held.status == "held"
    released = orders.release_order(db, manager, held.id, held.version, "  cleared by phone  ")
    assert (released.status, released.decided_by, released.decision_reason) == (
        "open",
        "Maria",
        "cleared by phone",
    )
    assert released.decided_at is not None and released.version == held.version + 1
    assert released.hold_reasons == held.hold_reasons  # why it was held stays on record
    assert _exposure(db, customer_id) == Decimal("50000.00")  # exactly the manager's 50,000


def test_release_above_authority_is_refused_naming_the_amount(
    db: Database, manager: Actor, clerk: Actor, cid: int
) -> None:
    held = _enter(db, clerk, cid, "12000")
    for actor in (manager, clerk):
        with pytest.raises(PermissionDenied) as exc:
            orders.release_order(db, actor, held.id, held.version, "good customer")
        assert "53,000" in str(exc.value), str(exc.value)
    assert orders.get_order(db, clerk, held.id).status == "held"
    assert _exposure(db, cid) == Decimal("41000.00")


def test_reject_needs_a_reason_and_a_held_order(
    db: Database, manager: Actor, clerk: Actor, cid: int
) -> None:
    held = _enter(db, clerk, cid, "12000")
    with pytest.raises(ValidationFailed) as exc:
        orders.reject_order(db, manager, held.id, held.version, "  ")
    assert _problems(exc) == {"reason": "required"}
    rejected = orders.reject_order(db, clerk, held.id, held.version, "no credit")
    assert (rejected.status, rejected.decided_by, rejected.decision_reason) == (
        "rejected",
        "Clara",
        "no credit",
    )
    assert _exposure(db, cid) == Decimal("41000.00")
    with pytest.raises(ValidationFailed) as exc:
        orders.release_order(db, manager, held.id, rejected.version, "changed my mind")
    assert "is rejected, not held" in _problems(exc)["status"]
    open_order = _enter(db, clerk, cid, "1")
    with pytest.raises(ValidationFailed):
        orders.reject_order(db, manager, open_order.id, open_order.version, "no")


def test_close_takes_an_open_order_out_of_exposure(db: Database, clerk: Actor, cid: int) -> None:
    order = _enter(db, clerk, cid, "5000")
    assert _exposure(db, cid) == Decimal("46000.00")
    closed = orders.close_order(db, clerk, order.id, order.version)
    assert (closed.status, closed.decision_reason) == ("closed", "invoiced")
    assert _exposure(db, cid) == Decimal("41000.00")
    held = _enter(db, clerk, cid, "20000")
    with pytest.raises(ValidationFailed):
        orders.close_order(db, clerk, held.id, held.version, "cancelled")
    with db.read() as session:
        changes = [
            (e.field, e.old_value, e.new_value)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.table_name == "orders", AuditEntry.record_id == str(order.id))
                .where(AuditEntry.action == "update")
                .order_by(AuditEntry.id)
            )
        ]
    assert changes == [("status", "open", "closed"), ("decision_reason", None, "invoiced")]


def test_a_stale_version_is_a_conflict_naming_who(
    db: Database, manager: Actor, clerk: Actor, cid: int
) -> None:
    held = _enter(db, clerk, cid, "20000")
    orders.reject_order(db, clerk, held.id, held.version, "no credit")
    with pytest.raises(ConflictError) as exc:
        orders.reject_order(db, manager, held.id, held.version, "no")
    assert "clara" in str(exc.value).lower()
    with pytest.raises(NotFound):
        orders.release_order(db, manager, 999_999, 1, "x")


# ---------------------------------------------------------------------------------------------
# The holds queue and the order list
# ---------------------------------------------------------------------------------------------


def test_holds_queue_oldest_first_and_list_filters(
    db: Database, admin: Actor, clerk: Actor, cid: int
) -> None:
    other = _customer(db, admin, "D-2", name="Dachdecker Nord", credit_limit="0")
    first = _enter(db, clerk, other, "10", number="N-100")
    _enter(db, clerk, cid, "100", number="N-200")  # open
    second = _enter(db, clerk, cid, "20000", number="N-300", external_id="PO-5")
    assert [o.id for o in orders.holds_queue(db, clerk)] == [first.id, second.id]

    def numbers(**query: Any) -> list[str]:
        return [o.number for o in orders.list_orders(db, clerk, OrderQuery(**query))]

    assert numbers(statuses=("open", "held")) == ["N-300", "N-200", "N-100"]
    assert numbers(statuses=("open",)) == ["N-200"]
    assert numbers(statuses=(), customer_id=cid) == ["N-300", "N-200"]
    assert numbers(statuses=(), search="N-1") == ["N-100"]
    assert numbers(statuses=(), search="PO-5") == ["N-300"]
    assert numbers(statuses=(), search="dachd") == ["N-100"]
    assert numbers(statuses=(), limit=1) == ["N-300"]
    with pytest.raises(ValidationFailed):
        numbers(statuses=("lost",))


# ---------------------------------------------------------------------------------------------
# Demo orders
# ---------------------------------------------------------------------------------------------


def test_demo_orders_show_every_kind_of_hold_and_decision(db: Database, admin: Actor) -> None:
    demo_data.generate(db, admin, 300, 3)
    demo_ledger.generate_ledger(db, admin, 3000, 3)
    assert demo_orders.generate_orders(db, admin, 3) == 300
    rows = orders.list_orders(db, admin, OrderQuery(statuses=()))
    assert len(rows) == 300
    kinds = {
        "on hold": sum(any(r.startswith("customer on hold") for r in o.hold_reasons) for o in rows),
        "over": sum(any(r.startswith(OVER) for r in o.hold_reasons) for o in rows),
        "past due": sum(any("days past due" in r for r in o.hold_reasons) for o in rows),
    }
    assert all(n >= 25 for n in kinds.values()), kinds
    decided = [o for o in rows if o.decided_by == "Maria Manager"]
    assert {o.status for o in decided} == {"open", "rejected"}
    assert all(o.decision_reason and o.hold_reasons for o in decided)
    with pytest.raises(PermissionDenied):
        demo_orders.generate_orders(db, add_user(db, admin, "cleo", Role.CREDIT_CLERK), 3)


# ---------------------------------------------------------------------------------------------
# Ids and amounts from outside
# ---------------------------------------------------------------------------------------------


def test_ids_that_cannot_be_rows_are_not_found(
    db: Database, manager: Actor, clerk: Actor, cid: int
) -> None:
    held = _enter(db, clerk, cid, "20000")
    for bad in (2**40, -1, 0, True, str(held.id), 1.0):
        with pytest.raises(NotFound):
            orders.get_order(db, clerk, bad)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            orders.reject_order(db, manager, bad, held.version, "no")  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            orders.list_orders(db, clerk, OrderQuery(customer_id=bad))  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            _enter(db, clerk, bad, "1")  # type: ignore[arg-type]
    assert orders.get_order(db, clerk, held.id).status == "held"


def test_amounts_that_are_not_numbers_are_named(db: Database, clerk: Actor, cid: int) -> None:
    for amount in ("NaN", "sNaN", "Infinity", "-inf", Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValidationFailed) as exc:
            _enter(db, clerk, cid, amount)
        assert _problems(exc) == {"amount": "not a number"}, amount
    assert orders.list_orders(db, clerk, OrderQuery(statuses=())) == []


# ---------------------------------------------------------------------------------------------
# Two clerks at the same moment
# ---------------------------------------------------------------------------------------------


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads released together: each one's result, or the exception it
    raised. A job still running after a minute fails the test (a hang) instead of the run."""
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except Exception as exc:
            results[index] = exc

    threads = [
        threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a job hangs"
    return results


def wait_for_lock_waiters(db: Database, count: int) -> None:
    """PostgreSQL: until `count` connections of this database wait for a lock (so a race is
    set up for sure); SQLite: a moment (its writers queue on the database lock)."""
    if db.kind != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 10
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    with db.engine.connect() as probe:
        while probe.execute(waiting).scalar_one() < count:
            probe.commit()  # a new statistics snapshot
            assert time.monotonic() < deadline, f"never {count} waiting for a lock"
            time.sleep(0.02)


def test_two_clerks_entering_at_once_get_distinct_numbers(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    first, second = _customer(db, admin, "C-1"), _customer(db, admin, "C-2")

    def forty(actor: Actor, customer_id: int) -> Callable[[], list[str]]:
        return lambda: [_enter(db, actor, customer_id, "10").number for _ in range(40)]

    results = run_together(forty(clerk, first), forty(manager, second))
    assert all(isinstance(r, list) for r in results), results
    assert sorted(results[0] + results[1]) == [f"SO-{n:06d}" for n in range(1, 81)]


def test_the_same_number_entered_at_once_is_refused_once(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    first, second = _customer(db, admin, "C-1"), _customer(db, admin, "C-2")
    results = run_together(
        lambda: _enter(db, clerk, first, "10", number="PO-1"),
        lambda: _enter(db, manager, second, "10", number="PO-1"),
    )
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(refused) == 1, results
    assert [(p.field, p.message) for p in refused[0].problems] == [
        ("number", "order number PO-1 is already used")
    ]
    assert [r.number for r in results if isinstance(r, orders.OrderView)] == ["PO-1"]


def test_a_number_taken_between_check_and_insert_is_a_field_problem(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    """Another writer (an import, a script) inserts the number after the entry checked it and
    commits while the entry's insert waits for it."""
    first, second = _customer(db, admin, "C-1"), _customer(db, admin, "C-2")
    with db.engine.connect() as holder:
        holder.execute(
            Order.__table__.insert().values(
                number="PO-1", customer_id=second, order_date=TODAY, amount=1, currency="EUR"
            )
        )
        results = run_together(
            lambda: _enter(db, clerk, first, "10", number="PO-1"),
            lambda: (wait_for_lock_waiters(db, 1), holder.commit()),
        )
    assert isinstance(results[0], ValidationFailed), results
    assert [(p.field, p.message) for p in results[0].problems] == [
        ("number", "order number PO-1 is already used")
    ]
