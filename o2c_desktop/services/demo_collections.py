"""Demo collections activity for the demo portfolio: the calls of the last six weeks, with their
promises to pay (some kept, some broken, some still open) and follow-ups due, so the call list
of a first start shows every kind of reason and the results screen has figures.

Written straight to the tables like the demo ledger (one audit row per customer saying where
its calls came from), for at most `MAX_CUSTOMERS` customers whatever the portfolio's size.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, literal_column, select

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import advance_sequence
from o2c_desktop.models import (
    Activity,
    AuditEntry,
    Call,
    Contact,
    Customer,
    Invoice,
    Payment,
    Promise,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import (
    OUTCOME_DISPUTE,
    OUTCOME_LEFT_MESSAGE,
    OUTCOME_NO_ANSWER,
    OUTCOME_PAID_ALREADY,
    OUTCOME_PROMISE,
    OUTCOME_REACHED,
    OUTCOME_REFUSED,
    OUTCOME_WRONG_NUMBER,
    PromiseItem,
)
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.services.auth import Actor, Permission

MAX_CUSTOMERS = 5_000  # customers with calls, at most (a 200,000-customer demo stays quick)
SHARE_CALLED = 0.35  # of the customers with something overdue
SHARE_KEPT = 0.85  # of the promises made before a payment that arrived: kept
HISTORY_DAYS = 42
# A dispute needs items and amounts: the demo ledger raises its own, so calls do not.
OUTCOMES = (
    (OUTCOME_NO_ANSWER, 0.28),
    (OUTCOME_LEFT_MESSAGE, 0.17),
    (OUTCOME_REACHED, 0.2),
    (OUTCOME_PROMISE, 0.25),
    (OUTCOME_REFUSED, 0.03),
    (OUTCOME_PAID_ALREADY, 0.05),
    (OUTCOME_WRONG_NUMBER, 0.02),
)
LABELS = {
    OUTCOME_NO_ANSWER: "No answer",
    OUTCOME_LEFT_MESSAGE: "Left message",
    OUTCOME_REACHED: "Reached",
    OUTCOME_PROMISE: "Promise to pay",
    OUTCOME_REFUSED: "Refused to pay",
    OUTCOME_PAID_ALREADY: "Paid already",
    OUTCOME_WRONG_NUMBER: "Wrong number",
    OUTCOME_DISPUTE: "Dispute",
}
NOTES = {
    OUTCOME_NO_ANSWER: "Switchboard rang out.",
    OUTCOME_LEFT_MESSAGE: "Left a voicemail asking for a call back about the overdue items.",
    OUTCOME_REACHED: "Spoke to accounts payable; invoices are in the approval queue.",
    OUTCOME_PROMISE: "Agreed to pay in the next payment run.",
    OUTCOME_REFUSED: "Says cash is tight this month; escalate if nothing arrives.",
    OUTCOME_PAID_ALREADY: "Says it was paid last week; asked for the remittance advice.",
    OUTCOME_WRONG_NUMBER: "Number no longer in service; find a new contact.",
}


@dataclass(frozen=True)
class CollectionsDemoResult:
    calls: int
    promises: int


def _pick(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for outcome, weight in OUTCOMES:
        total += weight
        if roll < total:
            return outcome
    return OUTCOMES[0][0]


def _payment_after(
    payments: Sequence[tuple[date, Decimal]], day: date
) -> tuple[date, Decimal] | None:
    """The first payment after a call: what the customer would have promised, had it been asked."""
    return next((p for p in payments if p[0] > day), None)


def generate_collections(
    db: Database, actor: Actor, seed: int = 1, as_of: date | None = None
) -> CollectionsDemoResult:
    """Add demo calls and promises for customers with overdue items, all or nothing."""
    actor.require(Permission.LOAD_DEMO_DATA)
    as_of = as_of or date.today()
    rng = random.Random(f"o2c-demo-collections-{seed}")
    now = utcnow()
    with db.write() as session:
        overdue = session.execute(
            select(
                Invoice.customer_id,
                Customer.collector_id,
                Invoice.currency,
                func.sum(Invoice.open_amount),
            )
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(
                Invoice.open_amount != literal_column("0"),
                Invoice.kind == INVOICE,
                Invoice.due_date < as_of,
            )
            .group_by(Invoice.customer_id, Customer.collector_id, Invoice.currency)
            .order_by(Invoice.customer_id, Invoice.currency)
        ).all()
        chosen = [row for row in overdue if rng.random() < SHARE_CALLED][:MAX_CUSTOMERS]
        contacts = dict(
            session.execute(
                select(Contact.customer_id, func.min(Contact.id))
                .where(Contact.customer_id.in_([row[0] for row in chosen] or [0]))
                .group_by(Contact.customer_id)
            ).all()
        )
        paid_by: dict[tuple[int, str], list[tuple[date, Decimal]]] = {}
        for customer_id, currency, day, amount in session.execute(
            select(Payment.customer_id, Payment.currency, Payment.date, Payment.amount)
            .where(
                Payment.customer_id.in_([row[0] for row in chosen] or [0]),
                Payment.date > as_of - timedelta(days=HISTORY_DAYS),
                Payment.date <= as_of,
            )
            .order_by(Payment.customer_id, Payment.date, Payment.id)
        ):
            paid_by.setdefault((customer_id, currency), []).append((day, amount))
        first_call = int(session.scalar(select(func.max(Call.id))) or 0) + 1
        first_promise = int(session.scalar(select(func.max(Promise.id))) or 0) + 1
        calls: list[dict[str, object]] = []
        promises: list[dict[str, object]] = []
        items: list[dict[str, object]] = []
        activities: list[dict[str, object]] = []
        audit_rows: list[dict[str, object]] = []
        for customer_id, collector_id, currency, amount in chosen:
            n = rng.choice((1, 1, 2, 2, 3))
            days = sorted(rng.sample(range(1, HISTORY_DAYS), n))
            for k, back in enumerate(days):
                day = as_of - timedelta(days=HISTORY_DAYS - back)
                outcome = _pick(rng)
                last = k == n - 1
                follow = None
                if last and outcome in (OUTCOME_NO_ANSWER, OUTCOME_LEFT_MESSAGE, OUTCOME_REACHED):
                    follow = min(as_of + timedelta(days=rng.randint(0, 5)), day + timedelta(9))
                    follow = max(follow, day)
                call_id = first_call + len(calls)
                at = datetime.combine(day, time(9 + rng.randint(0, 7), rng.randint(0, 59)), UTC)
                calls.append(
                    {
                        "id": call_id,
                        "customer_id": customer_id,
                        "user_id": collector_id,
                        "called_at": at,
                        "called_on": day,
                        "outcome": outcome,
                        "contact_id": contacts.get(customer_id),
                        "notes": NOTES[outcome],
                        "follow_up_on": follow,
                        "dispute_id": None,
                    }
                )
                body = NOTES[outcome]
                if outcome == OUTCOME_PROMISE:
                    paid = _payment_after(paid_by.get((customer_id, currency), ()), day)
                    if paid is not None and rng.random() < SHARE_KEPT:
                        # Kept: the customer paid what it promised, on or before the day.
                        promised = paid[1]
                        promised_on = max(day, paid[0] - timedelta(rng.randint(0, 3)))
                    else:
                        share = Decimal(rng.choice((100, 100, 50, 30))) / 100
                        promised = (amount * share).quantize(Decimal("0.01"))
                        promised_on = day + timedelta(days=rng.randint(3, 14))
                    promise_id = first_promise + len(promises)
                    promises.append(
                        {
                            "id": promise_id,
                            "customer_id": customer_id,
                            "call_id": call_id,
                            "made_on": day,
                            "made_by_id": collector_id,
                            "amount": promised,
                            "currency": currency,
                            "promised_on": promised_on,
                            "grace_days": 3,
                            "threshold_percent": 100,
                            "cancelled_on": None,
                            "note": None,
                            "created_at": at,
                            "version": 1,
                        }
                    )
                    body += f"\nPromised {promised:,.2f} {currency} by {promised_on.isoformat()}."
                activities.append(
                    {
                        "customer_id": customer_id,
                        "kind": "call",
                        "occurred_at": at,
                        "user_id": collector_id,
                        "subject": f"Call: {LABELS[outcome]}",
                        "body": body,
                    }
                )
            audit_rows.append(
                {
                    "at": now,
                    "user_id": actor.user_id or None,
                    "username": actor.username,
                    "action": "create",
                    "table_name": "calls",
                    "record_id": str(customer_id),
                    "record_version": None,
                    "customer_id": customer_id,
                    "field": None,
                    "old_value": None,
                    "new_value": f"demo collections (seed {seed}): {n} calls",
                }
            )
        # Each promise covers the customer's oldest overdue items in its currency.
        if promises:
            oldest = session.execute(
                select(Invoice.customer_id, Invoice.currency, Invoice.id)
                .where(
                    Invoice.customer_id.in_({p["customer_id"] for p in promises}),
                    Invoice.open_amount != literal_column("0"),
                    Invoice.kind == INVOICE,
                    Invoice.due_date < as_of,
                )
                .order_by(Invoice.customer_id, Invoice.due_date, Invoice.id)
            ).all()
            by_key: dict[tuple[object, object], list[int]] = {}
            for customer_id, currency, invoice_id in oldest:
                by_key.setdefault((customer_id, currency), []).append(invoice_id)
            for p in promises:
                for invoice_id in by_key.get((p["customer_id"], p["currency"]), [])[:3]:
                    items.append({"promise_id": p["id"], "invoice_id": invoice_id})
        for table, rows in (
            (Call.__table__, calls),
            (Promise.__table__, promises),
            (PromiseItem.__table__, items),
            (Activity.__table__, activities),
            (AuditEntry.__table__, audit_rows),
        ):
            if rows:
                session.execute(insert(table), rows)
        for table in (Call.__table__, Promise.__table__):  # explicit ids: move sequences past
            advance_sequence(session, table)
        return CollectionsDemoResult(len(calls), len(promises))
