"""Disputes: a customer contests an amount on one or more invoices.

A dispute never changes what the customer owes: it sets `Invoice.disputed_amount` (the sum of
its items over disputes still open or in review), which dunning and the collector's overdue
figure leave out. Only a resolution in the customer's favour with a credit note moves money, and
it does so through the ledger (a credit note, allocated to the disputed invoices).

Statuses: open ⇄ in_review → resolved_customer | resolved_us | withdrawn. A closed dispute is
final (raise a new one if the matter comes back), so a credit note can never be granted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    ValidationFailed,
)
from o2c_desktop.models import Customer, Dispute, DisputeItem, Invoice, User
from o2c_desktop.models.ledger import (
    CREDIT_NOTE,
    DISPUTE_STATUSES,
    INVOICE,
    OPEN_DISPUTE_STATUSES,
)
from o2c_desktop.services import audit, ledger
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.exposure import refresh_exposure

REASON_CODES = ("pricing", "quantity", "quality", "not_received", "duplicate", "terms", "other")
STATUSES = DISPUTE_STATUSES
CLOSED_STATUSES = tuple(s for s in DISPUTE_STATUSES if s not in OPEN_DISPUTE_STATUSES)
RESOLVED_FOR_CUSTOMER = "resolved_customer"
_NEEDS_RESOLUTION = ("resolved_customer", "resolved_us")


@dataclass(frozen=True)
class DisputeItemRow:
    invoice_id: int
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True)
class DisputeRow:
    id: int
    customer_id: int
    reason_code: str
    owner_id: int | None
    owner_name: str | None
    status: str
    opened_on: date
    resolved_on: date | None
    resolution: str | None
    amount: Decimal
    currency: str
    notes: str | None
    version: int
    items: tuple[DisputeItemRow, ...]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISPUTE_STATUSES


def _rows(session: Session, disputes: Sequence[Dispute]) -> list[DisputeRow]:
    if not disputes:
        return []
    ids = [d.id for d in disputes]
    items: dict[int, list[DisputeItemRow]] = {i: [] for i in ids}
    currencies: dict[int, str] = {}
    lines = session.execute(
        select(
            DisputeItem.dispute_id, Invoice.id, Invoice.number, DisputeItem.amount, Invoice.currency
        )
        .join(Invoice, Invoice.id == DisputeItem.invoice_id)
        .where(DisputeItem.dispute_id.in_(ids))
        .order_by(DisputeItem.dispute_id, Invoice.number)
    )
    for dispute_id, invoice_id, number, amount, currency in lines:
        items[dispute_id].append(DisputeItemRow(invoice_id, number, amount))
        currencies[dispute_id] = currency
    owner_ids = {d.owner_id for d in disputes if d.owner_id}
    owners = (
        {
            user_id: name
            for user_id, name in session.execute(
                select(User.id, User.display_name).where(User.id.in_(owner_ids))
            )
        }
        if owner_ids
        else {}
    )
    return [
        DisputeRow(
            id=d.id,
            customer_id=d.customer_id,
            reason_code=d.reason_code,
            owner_id=d.owner_id,
            owner_name=owners.get(d.owner_id) if d.owner_id else None,
            status=d.status,
            opened_on=d.opened_on,
            resolved_on=d.resolved_on,
            resolution=d.resolution,
            amount=d.amount,
            currency=currencies.get(d.id, ""),
            notes=d.notes,
            version=d.version,
            items=tuple(items[d.id]),
        )
        for d in disputes
    ]


def refresh_disputed_amounts(session: Session, invoices: Iterable[Invoice]) -> dict[int, Decimal]:
    """Set each invoice's `disputed_amount` to the sum of its items over open disputes (through
    the ORM, so the invoice's version moves with it); returns {invoice id: old amount} of those
    that changed."""
    rows = list(invoices)
    if not rows:
        return {}
    session.flush()
    totals = {
        invoice_id: total
        for invoice_id, total in session.execute(
            select(DisputeItem.invoice_id, func.sum(DisputeItem.amount))
            .join(Dispute, Dispute.id == DisputeItem.dispute_id)
            .where(
                DisputeItem.invoice_id.in_([r.id for r in rows]),
                Dispute.status.in_(OPEN_DISPUTE_STATUSES),
            )
            .group_by(DisputeItem.invoice_id)
        )
    }
    changed: dict[int, Decimal] = {}
    for invoice in rows:
        new = totals.get(invoice.id) or Decimal(0)
        if invoice.disputed_amount != new:
            changed[invoice.id] = invoice.disputed_amount
            invoice.disputed_amount = new
    return changed


def _audit_disputed(
    session: Session, actor: Actor, invoices: dict[int, Invoice], changed: dict[int, Decimal]
) -> None:
    session.flush()
    for invoice_id, old in changed.items():
        invoice = invoices[invoice_id]
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "invoices",
            invoice_id,
            customer_id=invoice.customer_id,
            record_version=invoice.version,
            changes={"disputed_amount": (old, invoice.disputed_amount)},
        )


def raise_dispute(
    db: Database,
    actor: Actor,
    customer_id: int,
    items: Sequence[tuple[int, Decimal | int | str]],
    reason_code: str,
    owner_id: int | None = None,
    notes: str | None = None,
    opened_on: date | None = None,
) -> DisputeRow:
    """Open a dispute over amounts of one or more invoices of one customer and currency.

    Each amount is at most what is open and not already disputed on that invoice. The owner
    defaults to the user raising it."""
    actor.require(Permission.MANAGE_DISPUTES)
    problems: list[FieldProblem] = []
    with db.write() as session:
        customer = session.get(Customer, customer_id) if isinstance(customer_id, int) else None
        if customer is None:
            problems.append(FieldProblem("customer", "no such customer", value=str(customer_id)))
        if reason_code not in REASON_CODES:
            problems.append(
                FieldProblem("reason_code", f"one of {', '.join(REASON_CODES)}", str(reason_code))
            )
        owner = owner_id if owner_id is not None else (actor.user_id or None)
        if owner is not None:
            user = session.get(User, owner) if isinstance(owner, int) else None
            if user is None or not user.active:
                problems.append(FieldProblem("owner", "no active user", value=str(owner)))
        opened = opened_on or date.today()
        note_text = (notes or "").strip() or None
        if not items:
            problems.append(FieldProblem("items", "choose at least one invoice"))
        ids = [i for i, _ in items if isinstance(i, int)]
        invoices = {
            i.id: i
            for i in session.scalars(
                select(Invoice).where(Invoice.id.in_(ids)).order_by(Invoice.id).with_for_update()
            )
        }
        lines: list[tuple[Invoice, Decimal]] = []
        seen: set[int] = set()
        for invoice_id, raw in items:
            invoice = invoices.get(invoice_id) if isinstance(invoice_id, int) else None
            if invoice is None or invoice.kind != INVOICE:
                problems.append(FieldProblem("invoice", "no such invoice", value=str(invoice_id)))
                continue
            if customer is not None and invoice.customer_id != customer.id:
                problems.append(
                    FieldProblem("invoice", f"{invoice.number} belongs to another customer")
                )
                continue
            if invoice.id in seen:
                problems.append(FieldProblem("invoice", f"{invoice.number} is listed twice"))
                continue
            seen.add(invoice.id)
            amount = ledger.check_amount(raw, invoice.currency, problems)
            if amount is None:
                continue
            free = invoice.open_amount - invoice.disputed_amount
            if amount > free:
                problems.append(
                    FieldProblem(
                        "amount",
                        f"{amount:,.2f} is more than invoice {invoice.number}'s open amount "
                        f"{invoice.open_amount:,.2f}"
                        + (
                            f" less {invoice.disputed_amount:,.2f} already disputed"
                            if invoice.disputed_amount
                            else ""
                        ),
                    )
                )
                continue
            if opened < invoice.issue_date:
                problems.append(
                    FieldProblem("opened_on", f"before invoice {invoice.number} was issued")
                )
                continue
            lines.append((invoice, amount))
        if len({invoice.currency for invoice, _ in lines}) > 1:
            problems.append(
                FieldProblem("items", "a dispute covers invoices of one currency; raise one each")
            )
        if problems:
            raise ValidationFailed(problems)
        assert customer is not None
        dispute = Dispute(
            customer_id=customer.id,
            reason_code=reason_code,
            owner_id=owner,
            status="open",
            opened_on=opened,
            amount=sum((amount for _, amount in lines), start=Decimal(0)),
            notes=note_text,
            created_by_id=actor.user_id or None,
        )
        session.add(dispute)
        session.flush()
        for invoice, amount in lines:
            session.add(DisputeItem(dispute_id=dispute.id, invoice_id=invoice.id, amount=amount))
        touched = {invoice.id: invoice for invoice, _ in lines}
        changed = refresh_disputed_amounts(session, touched.values())
        audit.record(
            session,
            actor,
            audit.CREATE,
            "disputes",
            dispute.id,
            customer_id=customer.id,
            record_version=dispute.version,
            changes={
                "reason_code": (None, reason_code),
                "owner_id": (None, owner),
                "opened_on": (None, opened),
                "amount": (None, dispute.amount),
                "items": (None, "; ".join(f"{i.number}: {a:f}" for i, a in lines)),
                **({"notes": (None, note_text)} if note_text else {}),
            },
        )
        _audit_disputed(session, actor, touched, changed)
        return _rows(session, [dispute])[0]


def _conflict(session: Session, dispute: Dispute, expected_version: int) -> ConflictError:
    since = audit.changes_since(session, "disputes", dispute.id, expected_version)
    who, at, values = since or ("another user", dispute.created_at, {})
    return ConflictError(
        ConflictDetails("Dispute", f"#{dispute.id}", who, f"{at:%Y-%m-%d %H:%M} UTC", values)
    )


def _credit_note_number(session: Session, dispute: Dispute) -> str:
    base = f"DSP-{dispute.id}"
    number, n = base, 1
    while session.scalar(
        select(Invoice.id).where(Invoice.kind == CREDIT_NOTE, Invoice.number == number)
    ):
        n += 1
        number = f"{base}-{n}"
    return number


def set_status(
    db: Database,
    actor: Actor,
    dispute_id: int,
    expected_version: int,
    status: str,
    resolution: str | None = None,
    resolved_on: date | None = None,
    credit_note: bool = False,
    credit_note_number: str | None = None,
) -> DisputeRow:
    """Move a dispute on: open ⇄ in_review, or close it (resolved_customer, resolved_us,
    withdrawn; a resolution text is required for the two resolutions). `resolved_on` defaults
    to today. With `credit_note=True` a resolution in the customer's favour posts a credit note
    for the disputed amount (number `credit_note_number`, default DSP-<id>) dated `resolved_on`
    and applies it to the disputed invoices (up to what is still open on each; any rest stays
    as credit on the account) — that needs the ledger permissions too."""
    actor.require(Permission.MANAGE_DISPUTES)
    if credit_note:
        actor.require(Permission.POST_LEDGER)
        actor.require(Permission.APPLY_CASH)
    with db.write() as session:
        dispute = session.get(Dispute, dispute_id, with_for_update=True)
        if dispute is None:
            raise NotFound(f"Dispute #{dispute_id} does not exist (deleted by another user?).")
        if dispute.version != expected_version:
            raise _conflict(session, dispute, expected_version)
        problems: list[FieldProblem] = []
        if status not in DISPUTE_STATUSES:
            problems.append(FieldProblem("status", f"one of {', '.join(DISPUTE_STATUSES)}", status))
        if dispute.status in CLOSED_STATUSES:
            problems.append(
                FieldProblem(
                    "status",
                    f"the dispute is closed ({dispute.status.replace('_', ' ')}); raise a new "
                    "one if the matter comes back",
                )
            )
        closing = status in CLOSED_STATUSES
        text = (resolution or "").strip() or None
        if closing and status in _NEEDS_RESOLUTION and not text:
            problems.append(FieldProblem("resolution", "required to resolve a dispute"))
        if not closing and (text or resolved_on):
            problems.append(
                FieldProblem("resolution", "only when resolving or withdrawing the dispute")
            )
        day = resolved_on or date.today()
        if closing and day < dispute.opened_on:
            problems.append(
                FieldProblem("resolved_on", f"before it was opened on {dispute.opened_on}")
            )
        if credit_note and status != RESOLVED_FOR_CUSTOMER:
            problems.append(
                FieldProblem("credit_note", "only when resolving in the customer's favour")
            )
        if problems:
            raise ValidationFailed(problems)
        if status == dispute.status:
            return _rows(session, [dispute])[0]
        before = {
            "status": dispute.status,
            "resolution": dispute.resolution,
            "resolved_on": dispute.resolved_on,
        }
        lines = session.execute(
            select(Invoice, DisputeItem.amount)
            .join(DisputeItem, DisputeItem.invoice_id == Invoice.id)
            .where(DisputeItem.dispute_id == dispute.id)
            .order_by(Invoice.id)
            .with_for_update(of=Invoice)
        ).all()
        credit_text = None
        if credit_note:
            credit_text = _grant_credit_note(
                session, actor, dispute, [(i, a) for i, a in lines], day, credit_note_number
            )
        dispute.status = status
        if closing:
            dispute.resolved_on = day
            dispute.resolution = " ".join(x for x in (text, credit_text) if x) or None
        touched = {invoice.id: invoice for invoice, _ in lines}
        changed = refresh_disputed_amounts(session, touched.values())
        session.flush()
        after = {
            "status": dispute.status,
            "resolution": dispute.resolution,
            "resolved_on": dispute.resolved_on,
        }
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "disputes",
            dispute.id,
            customer_id=dispute.customer_id,
            record_version=dispute.version,
            changes={k: (before[k], after[k]) for k in after if before[k] != after[k]},
        )
        _audit_disputed(session, actor, touched, changed)
        return _rows(session, [dispute])[0]


def _grant_credit_note(
    session: Session,
    actor: Actor,
    dispute: Dispute,
    lines: list[tuple[Invoice, Decimal]],
    day: date,
    number: str | None,
) -> str:
    """Post the credit note of a dispute resolved for the customer and apply it; returns the
    sentence added to the resolution."""
    currency = lines[0][0].currency
    note = ledger.post_item_in_session(
        session,
        actor,
        CREDIT_NOTE,
        dispute.customer_id,
        number or _credit_note_number(session, dispute),
        day,
        dispute.amount,
        currency=currency,
        refresh=False,
    )
    pairs: list[tuple[Invoice | int, Any]] = [
        (invoice, min(amount, invoice.open_amount))
        for invoice, amount in lines
        if min(amount, invoice.open_amount) > 0
    ]
    if pairs:
        ledger.apply_credit_note_in_session(session, actor, note, pairs, refresh=False)
    refresh_exposure(session, [dispute.customer_id])
    return f"Credit note {note.number} for {dispute.amount:f} {currency}."


def get_dispute(db: Database, actor: Actor, dispute_id: int) -> DisputeRow:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        dispute = session.get(Dispute, dispute_id)
        if dispute is None:
            raise NotFound(f"Dispute #{dispute_id} does not exist (deleted by another user?).")
        return _rows(session, [dispute])[0]


def list_disputes(
    db: Database, actor: Actor, customer_id: int | None = None, open_only: bool = True
) -> list[DisputeRow]:
    """Disputes, oldest first (a work list): one customer's or everyone's, open ones only by
    default."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        stmt = select(Dispute).order_by(Dispute.opened_on, Dispute.id)
        if customer_id is not None:
            stmt = stmt.where(Dispute.customer_id == customer_id)
        if open_only:
            stmt = stmt.where(Dispute.status.in_(OPEN_DISPUTE_STATUSES))
        return _rows(session, session.scalars(stmt).all())
