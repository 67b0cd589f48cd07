"""Logging calls: every outcome, the promise or dispute a call produces, the timeline entry and
audit rows, the portfolio rule, the claim a call takes (refused while someone else works the
customer), and validation that names each field and writes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    Activity,
    AuditEntry,
    Call,
    CollectionClaim,
    Dispute,
    Promise,
    PromiseItem,
    Role,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import CALL_OUTCOMES
from o2c_desktop.services import activities, calls, claims, contacts, customers, disputes, ledger
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.calls import OUTCOME_LABELS, DisputeInput, PromiseInput
from tests.conftest import add_user

TODAY = date.today()
D = TODAY - timedelta(days=30)


def _customer(db: Database, actor: Actor, number: str = "C-1", **values: str) -> int:
    return customers.create_customer(db, actor, {"number": number, "name": number, **values}).id


def _count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def book(db: Database, admin: Actor, collector: Actor) -> dict[str, Any]:
    """Colin's customer with two open invoices (A-1 1000, A-2 500) and a contact."""
    cid = _customer(db, admin, collector="colin")
    a = ledger.post_invoice(db, admin, cid, "A-1", D, Decimal("1000.00"))
    b = ledger.post_invoice(db, admin, cid, "A-2", D, Decimal("500.00"))
    contact = contacts.add_contact(db, admin, cid, {"name": "Pat Payables"})
    return {"cid": cid, "a": a.id, "b": b.id, "contact": contact.id}


def test_every_plain_outcome_is_logged_with_timeline_and_audit(
    db: Database, collector: Actor, book: dict[str, Any]
) -> None:
    cid = book["cid"]
    plain = [o for o in CALL_OUTCOMES if o not in ("promise", "dispute")]
    for n, outcome in enumerate(plain):
        result = calls.log_call(
            db,
            collector,
            cid,
            outcome,
            notes=f"  try {n} " if n else None,
            contact_id=book["contact"] if outcome == "reached" else None,
            follow_up_on=TODAY + timedelta(days=n) if n % 2 else None,
        )
        assert result.promise_id is None and result.dispute_id is None
    rows = calls.recent_calls(db, collector, cid, limit=50)
    assert [r.outcome for r in rows] == plain[::-1]  # newest first
    assert [r.outcome_label for r in rows] == [OUTCOME_LABELS[o] for o in plain[::-1]]
    by_outcome = {r.outcome: r for r in rows}
    reached = by_outcome["reached"]
    assert (reached.user, reached.contact, reached.notes, reached.called_on) == (
        "Colin",
        "Pat Payables",
        None,
        TODAY,
    )
    assert by_outcome["no_answer"].notes == "try 1"
    assert by_outcome["no_answer"].follow_up_on == TODAY + timedelta(days=1)
    assert len(calls.recent_calls(db, collector, cid, limit=2)) == 2
    timeline = activities.list_activities(db, collector, cid)
    assert [(a.kind, a.subject) for a in timeline] == [
        ("call", f"Call: {OUTCOME_LABELS[o]}") for o in plain[::-1]
    ]
    by_subject = {a.subject: a for a in timeline}
    assert by_subject["Call: Reached"].body == "Spoke to Pat Payables."
    assert by_subject["Call: Reached"].author == "Colin"
    assert (
        by_subject["Call: No answer"].body
        == "try 1\nFollow up on " + str(TODAY + timedelta(days=1)) + "."
    )
    with db.read() as session:
        audited = session.execute(
            select(AuditEntry.record_id, AuditEntry.field, AuditEntry.new_value).where(
                AuditEntry.table_name == "calls", AuditEntry.customer_id == cid
            )
        ).all()
    outcomes = {(r, v) for r, f, v in audited if f == "outcome"}
    assert outcomes == {(str(r.id), r.outcome) for r in rows}
    assert (str(reached.id), "contact_id", str(book["contact"])) in audited


def test_promise_call_records_the_promise_and_its_items(
    db: Database, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a, b = book["cid"], book["a"], book["b"]
    result = calls.log_call(
        db,
        collector,
        cid,
        "promise",
        notes="will pay after the board meets",
        on=TODAY - timedelta(days=2),
        promise=PromiseInput(
            Decimal("1200.00"), TODAY + timedelta(days=5), (b, a), threshold_percent=90
        ),
    )
    assert result.promise_id is not None and result.dispute_id is None
    with db.read() as session:
        promise = session.get(Promise, result.promise_id)
        assert promise is not None
        assert (
            promise.call_id,
            promise.made_on,
            promise.amount,
            promise.currency,
            promise.grace_days,
            promise.threshold_percent,
            promise.made_by_id,
        ) == (
            result.call_id,
            TODAY - timedelta(days=2),
            Decimal("1200.00"),
            "EUR",
            3,
            90,
            collector.user_id,
        )
        items = set(session.scalars(select(PromiseItem.invoice_id)))
        audited = dict(
            session.execute(
                select(AuditEntry.field, AuditEntry.new_value).where(
                    AuditEntry.table_name == "promises",
                    AuditEntry.record_id == str(result.promise_id),
                )
            ).all()
        )
    assert items == {a, b}
    assert audited["amount"] == "1200.00" and audited["invoices"] == "A-2; A-1"
    assert audited["call_id"] == str(result.call_id)
    row = calls.recent_calls(db, collector, cid)[0]
    assert (row.promise_id, row.outcome_label) == (result.promise_id, "Promise to pay")
    body = activities.list_activities(db, collector, cid)[0].body
    assert body == (
        "will pay after the board meets\n"
        f"Promised 1,200.00 EUR by {TODAY + timedelta(days=5)} (grace 3 days, kept at 90 %) "
        "for A-2, A-1."
    )


def test_dispute_call_opens_the_dispute(
    db: Database, admin: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a = book["cid"], book["a"]
    result = calls.log_call(
        db,
        collector,
        cid,
        "dispute",
        notes="says the price is wrong",
        dispute=DisputeInput(((a, Decimal("150.00")),), "pricing", notes="price list 2024"),
    )
    assert result.dispute_id is not None and result.promise_id is None
    listed = disputes.list_disputes(db, admin, customer_id=cid)
    assert [
        (d.id, d.amount, d.reason_code, d.owner_name, d.notes, d.opened_on) for d in listed
    ] == [(result.dispute_id, Decimal("150.00"), "pricing", "Colin", "price list 2024", TODAY)]
    with db.read() as session:
        call = session.get(Call, result.call_id)
        assert call is not None and call.dispute_id == result.dispute_id
    assert calls.recent_calls(db, collector, cid)[0].dispute_id == result.dispute_id
    body = activities.list_activities(db, collector, cid)[0].body
    assert f"Dispute #{result.dispute_id} (pricing) over 150.00 EUR on A-1." in body
    assert _count(db, AuditEntry, AuditEntry.table_name == "disputes") >= 1
    assert _count(db, AuditEntry, AuditEntry.table_name == "calls") >= 1


def test_dispute_the_ledger_refuses_writes_nothing(
    db: Database, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a = book["cid"], book["a"]

    def log_dispute(amount: str, **kw: Any) -> None:
        dispute = DisputeInput(((a, Decimal(amount)),), "pricing")
        calls.log_call(db, collector, cid, "dispute", dispute=dispute, **kw)

    with pytest.raises(ValidationFailed) as exc:
        log_dispute("1000.01")
    assert "more than invoice A-1's open amount" in exc.value.for_field("amount")[0]
    with pytest.raises(ValidationFailed) as exc:
        log_dispute("10", follow_up_on=TODAY - timedelta(days=1))
    assert exc.value.for_field("follow_up_on") == [f"before the day of the call ({TODAY})"]
    assert _count(db, Dispute) == 0
    assert _count(db, Call) == 0
    assert _count(db, Activity) == 0


def test_collectors_log_calls_only_for_their_own_portfolio(
    db: Database, admin: Actor, collector: Actor, manager: Actor, clerk: Actor, book: dict[str, Any]
) -> None:
    ann = add_user(db, admin, "ann", Role.COLLECTOR)
    anns = _customer(db, admin, "C-2", collector="ann")
    nobodys = _customer(db, admin, "C-3")
    with pytest.raises(PermissionDenied, match="C-2 is in Ann's portfolio"):
        calls.log_call(db, collector, anns, "no_answer")
    with pytest.raises(PermissionDenied, match="C-3 is in no collector's portfolio"):
        calls.log_call(db, collector, nobodys, "no_answer")
    with pytest.raises(PermissionDenied):
        calls.log_call(db, clerk, anns, "no_answer")
    assert _count(db, Call) == 0
    calls.log_call(db, ann, anns, "no_answer")
    claims.release(db, ann, anns)  # done with the customer: free for someone else
    calls.log_call(db, manager, anns, "left_message")  # sees every portfolio
    calls.log_call(db, collector, book["cid"], "reached")
    assert [r.user for r in calls.recent_calls(db, collector, anns)] == ["Maria", "Ann"]
    with pytest.raises(NotFound):
        calls.log_call(db, manager, 999_999, "no_answer")


def _set_lease(db: Database, customer_id: int, **values: Any) -> None:
    """Move a claim's times (a lease that ran out, one taken long ago)."""
    with db.write() as session:
        session.execute(
            update(CollectionClaim)
            .where(CollectionClaim.customer_id == customer_id)
            .values(**values)
        )


def test_a_call_is_refused_while_someone_else_works_the_customer(
    db: Database, collector: Actor, manager: Actor, book: dict[str, Any]
) -> None:
    cid = book["cid"]
    assert claims.claim(db, manager, cid)  # Maria is on the phone with them
    since = utcnow() - timedelta(minutes=3)
    _set_lease(db, cid, claimed_at=since)
    held = claims.lease_of(db, cid)
    promise = PromiseInput(Decimal("100.00"), TODAY + timedelta(days=3), (book["a"],))
    with pytest.raises(claims.ClaimedByOther) as exc:
        calls.log_call(db, collector, cid, "promise", notes="will pay", promise=promise)
    assert str(exc.value) == (
        f"Maria is working this customer (since {since.astimezone():%H:%M}); try again later."
    )
    assert (exc.value.holder, exc.value.customer_id) == ("Maria", cid)
    # Nothing written, and Maria's lease is as it was.
    assert _count(db, Call) == 0
    assert _count(db, Promise) == 0
    assert _count(db, Activity, Activity.kind == "call") == 0
    assert _count(db, AuditEntry, AuditEntry.table_name.in_(("calls", "promises"))) == 0
    assert claims.lease_of(db, cid) == held
    # Refused even when the input is wrong too: who holds the customer is what matters.
    with pytest.raises(claims.ClaimedByOther):
        calls.log_call(db, collector, cid, "sang")


def test_a_call_renews_the_callers_claim_or_takes_a_free_or_expired_one(
    db: Database, collector: Actor, manager: Actor, book: dict[str, Any]
) -> None:
    cid = book["cid"]
    # No claim: the call takes one.
    assert claims.lease_of(db, cid) is None
    calls.log_call(db, collector, cid, "no_answer")
    lease = claims.lease_of(db, cid)
    assert lease is not None and lease[0] == collector.user_id
    # Her own claim, about to run out: the call renews it for the full lease.
    _set_lease(db, cid, expires_at=utcnow() + timedelta(minutes=1))
    calls.log_call(db, collector, cid, "reached")
    renewed = claims.lease_of(db, cid)
    assert renewed is not None and renewed[0] == collector.user_id
    assert renewed[1] > utcnow() + timedelta(minutes=claims.DEFAULT_LEASE_MINUTES - 2)
    # Maria's claim ran out (her client crashed): Colin's call takes the customer over.
    claims.release(db, collector, cid)
    assert claims.claim(db, manager, cid)
    _set_lease(db, cid, expires_at=utcnow() - timedelta(seconds=1))
    calls.log_call(db, collector, cid, "left_message")
    taken = claims.lease_of(db, cid)
    assert taken is not None and taken[0] == collector.user_id
    assert [r.outcome for r in calls.recent_calls(db, collector, cid)] == [
        "left_message",
        "reached",
        "no_answer",
    ]
    assert claims.claim(db, manager, cid) is False  # Colin holds it now


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


def test_validation_names_each_field_and_writes_nothing(
    db: Database, admin: Actor, collector: Actor, book: dict[str, Any]
) -> None:
    cid, a, b = book["cid"], book["a"], book["b"]
    other = _customer(db, admin, "C-2")
    foreign = ledger.post_invoice(db, admin, other, "B-1", D, Decimal("10.00")).id
    foreign_contact = contacts.add_contact(db, admin, other, {"name": "Someone"}).id
    usd = ledger.post_invoice(db, admin, cid, "U-1", D, Decimal("10.00"), currency="USD").id
    paid = ledger.post_invoice(db, admin, cid, "P-1", D, Decimal("10.00")).id
    ledger.record_payment(db, admin, cid, D, Decimal("10.00"), reference="P-1")

    def promise(**change: Any) -> PromiseInput:
        values: dict[str, Any] = {"amount": Decimal("100"), "promised_on": TODAY, **change}
        return PromiseInput(**values)

    day_90 = TODAY + timedelta(days=90)
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("sang", {}, "outcome", "one of reached, no_answer"),
        ("reached", {"notes": "x" * 4001}, "notes", "longer than 4000 characters"),
        ("reached", {"follow_up_on": TODAY - timedelta(1)}, "follow_up_on", "before the day"),
        ("reached", {"contact_id": foreign_contact}, "contact", "not a contact of this customer"),
        ("reached", {"on": TODAY + timedelta(1)}, "on", "after today"),
        ("reached", {"promise": promise()}, "promise", "only with the outcome 'promise'"),
        ("reached", {"dispute": DisputeInput(((a, Decimal(1)),), "pricing")}, "dispute", "only"),
        ("promise", {}, "promise", "required when the customer promised to pay"),
        ("dispute", {}, "dispute", "required when the customer disputes items"),
        ("promise", {"promise": promise(amount=Decimal(0))}, "amount", "more than zero"),
        ("promise", {"promise": promise(amount=Decimal("1.001"))}, "amount", "at most 2 decimals"),
        ("promise", {"promise": promise(amount=1.5)}, "amount", "not a float"),
        ("promise", {"promise": promise(currency="EUD")}, "currency", "unknown currency"),
        (
            "promise",
            {"promise": promise(promised_on=TODAY - timedelta(1))},
            "promised_on",
            "before the day of the call",
        ),
        (
            "promise",
            {"promise": promise(promised_on=day_90 + timedelta(1))},
            "promised_on",
            f"at most 90 days after the call (by {day_90})",
        ),
        ("promise", {"promise": promise(grace_days=31)}, "grace_days", "0 to 30 days"),
        ("promise", {"promise": promise(grace_days=-1)}, "grace_days", "0 to 30 days"),
        ("promise", {"promise": promise(threshold_percent=0)}, "threshold_percent", "1 to 100"),
        ("promise", {"promise": promise(threshold_percent=101)}, "threshold_percent", "1 to 100"),
        ("promise", {"promise": promise(invoice_ids=(foreign,))}, "invoices", "B-1 belongs to"),
        ("promise", {"promise": promise(invoice_ids=(a, a))}, "invoices", "A-1 is listed twice"),
        ("promise", {"promise": promise(invoice_ids=(paid,))}, "invoices", "already settled"),
        ("promise", {"promise": promise(invoice_ids=(usd,))}, "invoices", "U-1 is in USD"),
        ("promise", {"promise": promise(invoice_ids=(999_999,))}, "invoices", "no such invoice"),
    ]
    for outcome, kwargs, field, message in cases:
        with pytest.raises(ValidationFailed) as exc:
            calls.log_call(db, collector, cid, outcome, **kwargs)
        assert message in _problems(exc).get(field, ""), (outcome, kwargs, exc.value)
    # Several problems are reported together.
    with pytest.raises(ValidationFailed) as exc:
        calls.log_call(
            db,
            collector,
            cid,
            "promise",
            notes="x" * 4001,
            promise=promise(grace_days=40, invoice_ids=(b, foreign)),
        )
    assert set(_problems(exc)) == {"notes", "grace_days", "invoices"}
    assert _count(db, Call) == 0
    assert _count(db, Promise) == 0
    assert _count(db, Activity) == 0
    assert _count(db, AuditEntry, AuditEntry.table_name.in_(("calls", "promises"))) == 0
    with pytest.raises(ValidationFailed, match="limit"):
        calls.recent_calls(db, collector, cid, limit=0)
