"""Logging a collector's call: its outcome, the promise to pay or the dispute it produced, the
follow-up it asks for, and a line on the customer's timeline.

A call, its promise or dispute, its timeline entry and their audit rows are one unit of work:
a dispute the ledger refuses (amounts more than open, say) leaves nothing behind, so the user
corrects the amounts and logs the call once.

Portfolios: someone who may not see every portfolio logs calls (and cancels promises) only for
the customers assigned to them (`portfolios.require_in_portfolio`).

Claims: two people never work one customer at the same time. Logging a call takes or renews the
caller's claim in the same transaction (`claims.hold_in_session`), and while another user's
lease runs the call is refused before anything is written (`claims.ClaimedByOther`, naming them),
whichever screen the call comes from: the Collections screen, a profile, or a script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import (
    Activity,
    Call,
    Contact,
    Customer,
    Invoice,
    Promise,
    PromiseItem,
    User,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import CALL_OUTCOMES, OUTCOME_DISPUTE, OUTCOME_PROMISE
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.money import is_currency
from o2c_desktop.services import audit, claims, disputes, ledger
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.field_checks import is_day, is_whole
from o2c_desktop.services.portfolios import require_in_portfolio
from o2c_desktop.services.promises import PromiseState, statuses_in_session
from o2c_desktop.services.stored_rows import audit_change, stale_version_conflict, view_of

OUTCOME_LABELS: dict[str, str] = {
    "reached": "Reached",
    "no_answer": "No answer",
    "left_message": "Left message",
    "wrong_number": "Wrong number",
    "promise": "Promise to pay",
    "dispute": "Dispute",
    "refused": "Refused to pay",
    "paid_already": "Says already paid",
}
MAX_NOTES = 4000
# A promise further out than this is a payment plan, not a promise: the collector should agree
# instalments instead of parking the customer for months.
MAX_PROMISE_DAYS_AHEAD = 90
MAX_GRACE_DAYS = 30
_SUBJECT_LIMIT = 200


@dataclass(frozen=True)
class PromiseInput:
    amount: Decimal
    promised_on: date
    invoice_ids: tuple[int, ...] = ()
    grace_days: int = 3
    threshold_percent: int = 100
    currency: str | None = None  # None: the customer's currency


@dataclass(frozen=True)
class DisputeInput:
    items: tuple[tuple[int, Decimal], ...]  # (invoice id, disputed amount)
    reason_code: str
    notes: str | None = None


@dataclass(frozen=True)
class CallResult:
    call_id: int
    promise_id: int | None
    dispute_id: int | None


@dataclass(frozen=True)
class CallRow:
    id: int
    customer_id: int
    called_at: datetime
    called_on: date
    user: str | None
    outcome: str
    outcome_label: str
    contact: str | None
    notes: str | None
    follow_up_on: date | None
    promise_id: int | None
    dispute_id: int | None


# The terms of a promise, as checked and as written (the Promise columns of the same names).
_PROMISE_TERMS = ("amount", "currency", "promised_on", "grace_days", "threshold_percent")


@dataclass(frozen=True)
class _CheckedPromise:
    amount: Decimal
    currency: str
    promised_on: date
    grace_days: int
    threshold_percent: int
    invoices: tuple[Invoice, ...]


@dataclass(frozen=True)
class _CheckedCall:
    customer: Customer
    day: date
    notes: str | None
    contact: Contact | None
    follow_up_on: date | None
    promise: _CheckedPromise | None


def _check_promise(
    session: Session, customer: Customer, promise: object, day: date, problems: list[FieldProblem]
) -> _CheckedPromise | None:
    """The promise's fields, each problem named by its PromiseInput field (invoices for
    invoice_ids)."""
    if not isinstance(promise, PromiseInput):
        problems.append(FieldProblem("promise", "not a PromiseInput"))
        return None
    before = len(problems)
    currency = (promise.currency or customer.currency or "").strip().upper()
    if not is_currency(currency):
        problems.append(FieldProblem("currency", "unknown currency code", value=currency))
    amount = ledger.check_amount(promise.amount, currency, problems, "amount")
    last = day + timedelta(days=MAX_PROMISE_DAYS_AHEAD)
    if not is_day(promise.promised_on):
        problems.append(FieldProblem("promised_on", "a date is required"))
    elif promise.promised_on < day:
        problems.append(FieldProblem("promised_on", f"before the day of the call ({day})"))
    elif promise.promised_on > last:
        problems.append(
            FieldProblem(
                "promised_on",
                f"at most {MAX_PROMISE_DAYS_AHEAD} days after the call (by {last}); "
                "agree a payment plan for anything longer",
            )
        )
    if not is_whole(promise.grace_days) or not 0 <= promise.grace_days <= MAX_GRACE_DAYS:
        problems.append(
            FieldProblem("grace_days", f"0 to {MAX_GRACE_DAYS} days", value=str(promise.grace_days))
        )
    threshold = promise.threshold_percent
    if not is_whole(threshold) or not 1 <= threshold <= 100:
        problems.append(FieldProblem("threshold_percent", "1 to 100 (%)", value=str(threshold)))
    invoices = _check_promise_invoices(session, customer, promise.invoice_ids, currency, problems)
    if len(problems) > before or amount is None:
        return None
    return _CheckedPromise(
        amount, currency, promise.promised_on, promise.grace_days, threshold, invoices
    )


def _check_promise_invoices(
    session: Session,
    customer: Customer,
    invoice_ids: object,
    currency: str,
    problems: list[FieldProblem],
) -> tuple[Invoice, ...]:
    """The invoices a promise names: this customer's open invoices, in the promise's currency."""
    ids = list(invoice_ids) if isinstance(invoice_ids, tuple | list) else None
    if ids is None:
        problems.append(FieldProblem("invoices", "a tuple of invoice ids"))
        return ()
    found = {
        i.id: i
        for i in session.scalars(
            select(Invoice).where(Invoice.id.in_([x for x in ids if is_whole(x)]))
        )
    }
    chosen: list[Invoice] = []
    for invoice_id in ids:
        invoice = found.get(invoice_id) if is_whole(invoice_id) else None
        if invoice is None or invoice.kind != INVOICE:
            problems.append(FieldProblem("invoices", "no such invoice", value=str(invoice_id)))
        elif invoice.customer_id != customer.id:
            problems.append(
                FieldProblem("invoices", f"{invoice.number} belongs to another customer")
            )
        elif invoice in chosen:
            problems.append(FieldProblem("invoices", f"{invoice.number} is listed twice"))
        elif invoice.open_amount <= 0:
            problems.append(FieldProblem("invoices", f"{invoice.number} is already settled"))
        elif invoice.currency != currency:
            problems.append(
                FieldProblem(
                    "invoices",
                    f"{invoice.number} is in {invoice.currency}, the promise in {currency}",
                )
            )
        else:
            chosen.append(invoice)
    return tuple(chosen)


def _check_call(
    session: Session,
    actor: Actor,
    customer_id: int,
    outcome: str,
    *,
    notes: str | None,
    contact_id: int | None,
    follow_up_on: date | None,
    promise: PromiseInput | None,
    dispute: DisputeInput | None,
    on: date | None,
) -> _CheckedCall:
    """Everything about a call except the dispute's amounts (raise_dispute checks those). The
    caller's claim on the customer is taken or renewed first: while someone else works the
    customer, their name is the one thing worth telling the user."""
    customer = session.get(Customer, customer_id) if is_whole(customer_id) else None
    if customer is None:
        raise NotFound(f"Customer #{customer_id} no longer exists.")
    require_in_portfolio(session, actor, customer)
    claims.hold_in_session(session, actor, customer.id)
    problems: list[FieldProblem] = []
    today = date.today()
    day = today if on is None else on
    if not is_day(day):
        problems.append(FieldProblem("on", "a date is required", value=str(on)))
        day = today
    elif day > today:
        problems.append(FieldProblem("on", f"after today ({today}); log a call once it happened"))
    if outcome not in CALL_OUTCOMES:
        problems.append(
            FieldProblem("outcome", f"one of {', '.join(CALL_OUTCOMES)}", value=str(outcome))
        )
    text = None
    if notes is not None:
        if not isinstance(notes, str):
            problems.append(FieldProblem("notes", "not text"))
        else:
            text = notes.strip() or None
            if text and len(text) > MAX_NOTES:
                problems.append(FieldProblem("notes", f"longer than {MAX_NOTES} characters"))
    contact = None
    if contact_id is not None:
        contact = session.get(Contact, contact_id) if is_whole(contact_id) else None
        if contact is None or contact.customer_id != customer.id:
            problems.append(
                FieldProblem("contact", "not a contact of this customer", value=str(contact_id))
            )
            contact = None
    if follow_up_on is not None:
        if not is_day(follow_up_on):
            problems.append(FieldProblem("follow_up_on", "a date is required"))
        elif follow_up_on < day:
            problems.append(FieldProblem("follow_up_on", f"before the day of the call ({day})"))
    checked_promise = None
    if outcome == OUTCOME_PROMISE:
        if promise is None:
            problems.append(FieldProblem("promise", "required when the customer promised to pay"))
        else:
            checked_promise = _check_promise(session, customer, promise, day, problems)
    elif promise is not None:
        problems.append(FieldProblem("promise", "only with the outcome 'promise'"))
    if outcome == OUTCOME_DISPUTE:
        if dispute is None:
            problems.append(FieldProblem("dispute", "required when the customer disputes items"))
        elif not isinstance(dispute, DisputeInput):
            problems.append(FieldProblem("dispute", "not a DisputeInput"))
    elif dispute is not None:
        problems.append(FieldProblem("dispute", "only with the outcome 'dispute'"))
    if problems:
        raise ValidationFailed(problems)
    return _CheckedCall(customer, day, text, contact, follow_up_on, checked_promise)


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,f} {currency}"


def _promise_summary(p: _CheckedPromise) -> str:
    terms = [f"grace {p.grace_days} days"]
    if p.threshold_percent != 100:
        terms.append(f"kept at {p.threshold_percent} %")
    line = f"Promised {_money(p.amount, p.currency)} by {p.promised_on} ({', '.join(terms)})"
    if p.invoices:
        line += f" for {', '.join(i.number for i in p.invoices)}"
    return line + "."


def _timeline_body(checked: _CheckedCall, label: str, dispute: disputes.DisputeRow | None) -> str:
    lines = []
    if checked.contact is not None:
        lines.append(f"Spoke to {checked.contact.name}.")
    if checked.notes:
        lines.append(checked.notes)
    if checked.promise is not None:
        lines.append(_promise_summary(checked.promise))
    if dispute is not None:
        numbers = ", ".join(i.invoice_number for i in dispute.items)
        lines.append(
            f"Dispute #{dispute.id} ({dispute.reason_code}) over "
            f"{_money(dispute.amount, dispute.currency)} on {numbers}."
        )
    if checked.follow_up_on is not None:
        lines.append(f"Follow up on {checked.follow_up_on}.")
    return "\n".join(lines) or f"{label}."


def _write_promise(
    session: Session, actor: Actor, customer: Customer, call: Call, p: _CheckedPromise
) -> Promise:
    """The promise, its invoices and its audit row: the audit records the same terms the
    promise is written with."""
    terms = {name: getattr(p, name) for name in _PROMISE_TERMS}
    promise = Promise(
        customer_id=customer.id,
        call_id=call.id,
        made_on=call.called_on,
        made_by_id=actor.user_id or None,
        created_at=call.called_at,
        **terms,
    )
    session.add(promise)
    session.flush()
    for invoice in p.invoices:
        session.add(PromiseItem(promise_id=promise.id, invoice_id=invoice.id))
    changes = {name: (None, value) for name, value in terms.items()}
    changes["call_id"] = (None, call.id)
    if p.invoices:
        changes["invoices"] = (None, "; ".join(i.number for i in p.invoices))
    audit_change(session, actor, audit.CREATE, promise, changes, customer_id=customer.id)
    return promise


def log_call(
    db: Database,
    actor: Actor,
    customer_id: int,
    outcome: str,
    *,
    notes: str | None = None,
    contact_id: int | None = None,
    follow_up_on: date | None = None,
    promise: PromiseInput | None = None,
    dispute: DisputeInput | None = None,
    on: date | None = None,
) -> CallResult:
    """Log a call made on `on` (default today; never a future day). Outcome "promise" needs a
    PromiseInput and records the promise; "dispute" needs a DisputeInput and opens the dispute
    (dated the day of the call, owned by the caller). The customer's timeline gets the call.
    The caller's claim on the customer is taken or renewed; ClaimedByOther (nothing written)
    while another user's claim runs."""
    actor.require(Permission.WORK_COLLECTIONS)
    kwargs: dict[str, Any] = {
        "notes": notes,
        "contact_id": contact_id,
        "follow_up_on": follow_up_on,
        "promise": promise,
        "dispute": dispute,
        "on": on,
    }
    with db.write() as session:
        checked = _check_call(session, actor, customer_id, outcome, **kwargs)
        opened: disputes.DisputeRow | None = None
        if outcome == OUTCOME_DISPUTE and dispute is not None:
            raised = disputes.raise_dispute_in_session(
                session,
                actor,
                checked.customer.id,
                list(dispute.items),
                dispute.reason_code,
                notes=dispute.notes,
                opened_on=checked.day,
            )
            opened = disputes.dispute_row(session, raised)
        label = OUTCOME_LABELS[outcome]
        now = utcnow()
        call = Call(
            customer_id=checked.customer.id,
            user_id=actor.user_id or None,
            called_at=now,
            called_on=checked.day,
            outcome=outcome,
            contact_id=checked.contact.id if checked.contact else None,
            notes=checked.notes,
            follow_up_on=checked.follow_up_on,
            dispute_id=opened.id if opened else None,
        )
        session.add(call)
        session.flush()
        audit.record(
            session,
            actor,
            audit.CREATE,
            "calls",
            call.id,
            customer_id=call.customer_id,
            changes={
                k: (None, v)
                for k, v in {
                    "outcome": outcome,
                    "called_on": call.called_on,
                    "contact_id": call.contact_id,
                    "notes": call.notes,
                    "follow_up_on": call.follow_up_on,
                    "dispute_id": call.dispute_id,
                }.items()
                if v is not None
            },
        )
        made = None
        if checked.promise is not None:
            made = _write_promise(session, actor, checked.customer, call, checked.promise)
        session.add(
            Activity(
                customer_id=call.customer_id,
                kind="call",
                occurred_at=now,
                user_id=actor.user_id or None,
                subject=f"Call: {label}"[:_SUBJECT_LIMIT],
                body=_timeline_body(checked, label, opened),
            )
        )
        return CallResult(call.id, made.id if made else None, call.dispute_id)


def recent_calls(db: Database, actor: Actor, customer_id: int, limit: int = 20) -> list[CallRow]:
    """A customer's latest calls, newest first, with who called, whom they spoke to, and the
    promise the call produced."""
    actor.require(Permission.VIEW_CUSTOMERS)
    if not is_whole(limit) or limit < 1:
        raise ValidationFailed([FieldProblem("limit", "a whole number from 1", value=str(limit))])
    promise_id = select(func.min(Promise.id)).where(Promise.call_id == Call.id).scalar_subquery()
    with db.read() as session:
        rows = session.execute(
            select(Call, User.display_name, Contact.name, promise_id)
            .outerjoin(User, User.id == Call.user_id)
            .outerjoin(Contact, Contact.id == Call.contact_id)
            .where(Call.customer_id == customer_id)
            .order_by(Call.called_at.desc(), Call.id.desc())
            .limit(limit)
        )
        return [
            view_of(
                CallRow,
                call,
                user=user,
                outcome_label=OUTCOME_LABELS.get(call.outcome, call.outcome),
                contact=contact,
                promise_id=promise,
            )
            for call, user, contact, promise in rows
        ]


def cancel_promise(
    db: Database, actor: Actor, promise_id: int, expected_version: int, reason: str
) -> None:
    """Cancel a promise still open today (the customer withdrew it, or it was logged in error).
    A kept or broken promise is history and stays as it is. The reason is kept on the promise
    and in the audit log."""
    actor.require(Permission.WORK_COLLECTIONS)
    with db.write() as session:
        promise = session.get(Promise, promise_id, with_for_update=True)
        if promise is None:
            raise NotFound(f"Promise #{promise_id} does not exist (deleted by another user?).")
        customer = session.get(Customer, promise.customer_id)
        assert customer is not None  # promises are deleted with their customer
        require_in_portfolio(session, actor, customer)
        if promise.version != expected_version:
            raise stale_version_conflict(
                session,
                promise,
                expected_version,
                what="Promise",
                name=f"#{promise.id}",
                changed_at=promise.created_at,
            )
        problems: list[FieldProblem] = []
        text = reason.strip() if isinstance(reason, str) else ""
        if not text:
            problems.append(FieldProblem("reason", "required: why is the promise cancelled?"))
        elif len(text) > MAX_NOTES:
            problems.append(FieldProblem("reason", f"longer than {MAX_NOTES} characters"))
        today = date.today()
        status = next(
            s
            for s in statuses_in_session(
                session, max(today, promise.made_on), customer_ids=[customer.id]
            )
            if s.id == promise.id
        )
        if status.state is not PromiseState.OPEN:
            problems.append(
                FieldProblem(
                    "promise", f"the promise is {status.state}; only an open promise is cancelled"
                )
            )
        if problems:
            raise ValidationFailed(problems)
        before_note = promise.note
        promise.cancelled_on = max(today, promise.made_on)
        promise.note = "\n".join(x for x in (before_note, f"Cancelled: {text}") if x)
        session.flush()
        audit_change(
            session,
            actor,
            audit.UPDATE,
            promise,
            {"cancelled_on": (None, promise.cancelled_on), "note": (before_note, promise.note)},
            customer_id=customer.id,
        )
