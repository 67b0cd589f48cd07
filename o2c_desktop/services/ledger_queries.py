"""The read side of a customer's ledger: open items and balance as of any date, and the history.

As of today (or later) the maintained `open_amount` / `unapplied_amount` columns answer at once;
for a past date every figure is computed from the dated allocations (an allocation counts at D
iff dated on or before D and not reversed by D), so a past date shows what was open then. When
something is dated after the as-of date (a post-dated allocation or reversal), the dated
computation is used for "today" too, so both ways always agree.

Balance = open invoices − unallocated credit notes − unapplied cash: what the customer owes net.
Sums are per currency; amounts of different currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.db.types import Money
from o2c_desktop.errors import NotFound
from o2c_desktop.models import (
    Allocation,
    AuditEntry,
    Customer,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
)
from o2c_desktop.models.ledger import (
    ALLOC_CREDIT,
    ALLOC_DISCOUNT,
    ALLOC_PAYMENT,
    ALLOC_WRITE_OFF,
    CREDIT_NOTE,
    INVOICE,
    OPEN_DISPUTE_STATUSES,
)
from o2c_desktop.services.auth import Actor, Permission

ZERO = Decimal(0)


@dataclass(frozen=True)
class OpenItemRow:
    """An item open at the as-of date. Amounts are positive; `kind` gives the sign."""

    id: int
    kind: str
    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal  # at the as-of date
    days_past_due: int  # as-of date − due date (negative: not yet due)
    disputed_amount: Decimal  # at the as-of date, at most open_amount
    currency: str

    @property
    def signed_open(self) -> Decimal:
        return self.open_amount if self.kind == INVOICE else -self.open_amount


@dataclass(frozen=True)
class Balance:
    """What the customer owes net at `as_of`, in `currency`.

    `open_items_total` = open invoices − unallocated credit notes; `unapplied_cash` is shown
    separately and reduces the balance: `net_balance` = open_items_total − unapplied_cash.
    `other_currencies` lists currencies with open amounts that are not in these figures.
    """

    as_of: date
    currency: str
    open_items_total: Decimal
    unapplied_cash: Decimal
    net_balance: Decimal
    other_currencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryRow:
    """One event on the customer's account, in date order, with the running balance.

    entry: "invoice", "credit_note", "payment", "allocation" or "reversal"; `kind` is the
    allocation kind (payment, credit_note, discount, write_off) for the last two. `change` is
    the effect on what the customer owes (applying cash or credit moves nothing: it turns
    unapplied cash into a smaller open item); `balance` runs per currency.
    """

    date: date
    entry: str
    kind: str | None
    reference: str
    description: str
    amount: Decimal
    change: Decimal
    balance: Decimal
    currency: str
    invoice_id: int | None = None
    payment_id: int | None = None
    credit_note_id: int | None = None
    allocation_id: int | None = None


# ---------------------------------------------------------------------------------------------
# SQL building blocks
# ---------------------------------------------------------------------------------------------


def counts_at(as_of: date) -> ColumnElement[bool]:
    """An allocation counts at `as_of` iff dated on or before it and not reversed by then."""
    return and_(
        Allocation.date <= as_of,
        or_(Allocation.reversed_on.is_(None), Allocation.reversed_on > as_of),
    )


def _money(expression: Any) -> Any:
    """Keep SQL arithmetic on money typed as Money (SQLite stores 1/10,000 units as integers)."""
    return type_coerce(expression, Money())


def allocated_at(as_of: date) -> Any:
    """Correlated SQL: what is allocated of the current `Invoice` row at `as_of` (to an invoice,
    or from a credit note)."""
    to_invoice = (
        select(func.coalesce(func.sum(Allocation.amount), 0))
        .where(Allocation.invoice_id == Invoice.id, counts_at(as_of))
        .scalar_subquery()
    )
    from_credit = (
        select(func.coalesce(func.sum(Allocation.amount), 0))
        .where(Allocation.credit_note_id == Invoice.id, counts_at(as_of))
        .scalar_subquery()
    )
    return _money(case((Invoice.kind == INVOICE, to_invoice), else_=from_credit))


def _later_activity(session: Session, customer_id: int, as_of: date) -> bool:
    """Is anything of this customer's allocated or reversed after `as_of`? Then the maintained
    amounts are not those of `as_of`."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Allocation.invoice_id == Invoice.id,
                    Invoice.customer_id == customer_id,
                    or_(Allocation.date > as_of, Allocation.reversed_on > as_of),
                )
            )
        )
    )


def use_maintained(session: Session, customer_id: int, as_of: date) -> bool:
    """True when the maintained open/unapplied amounts are exactly those at `as_of`."""
    return as_of >= date.today() and not _later_activity(session, customer_id, as_of)


def disputed_at(as_of: date) -> Any:
    """Correlated SQL: the disputed amount of the current `Invoice` at `as_of` (disputes opened
    by then and not yet resolved or withdrawn then)."""
    return _money(
        select(func.coalesce(func.sum(DisputeItem.amount), 0))
        .join(Dispute, Dispute.id == DisputeItem.dispute_id)
        .where(
            DisputeItem.invoice_id == Invoice.id,
            Dispute.opened_on <= as_of,
            or_(
                Dispute.status.in_(OPEN_DISPUTE_STATUSES),
                Dispute.resolved_on > as_of,
            ),
        )
        .scalar_subquery()
    )


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"Customer #{customer_id} does not exist (deleted by another user?).")
    return customer


# ---------------------------------------------------------------------------------------------
# Open items and balance
# ---------------------------------------------------------------------------------------------


def open_items_in_session(
    session: Session, customer_id: int, as_of: date, *, dated: bool | None = None
) -> list[OpenItemRow]:
    """The customer's invoices and credit notes open at `as_of`, by due date then number.

    `dated` forces the computation from dated allocations (True) or from the maintained
    amounts (False); None chooses (see `use_maintained`). Tests force both to prove they agree.
    """
    if dated is False or (dated is None and use_maintained(session, customer_id, as_of)):
        open_amount: Any = Invoice.open_amount
        disputed: Any = Invoice.disputed_amount
        still_open: Any = Invoice.open_amount != literal_column("0")  # the partial index
    else:
        allocated = allocated_at(as_of)
        open_amount = _money(Invoice.amount - allocated)
        disputed = disputed_at(as_of)
        still_open = Invoice.amount > allocated
    rows = session.execute(
        select(
            Invoice.id,
            Invoice.kind,
            Invoice.number,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.amount,
            open_amount,
            disputed,
            Invoice.currency,
        )
        .where(Invoice.customer_id == customer_id, Invoice.issue_date <= as_of, still_open)
        .order_by(Invoice.due_date, Invoice.number, Invoice.id)
    )
    # A dispute can cover more than is still open (it was raised before a partial payment):
    # what is disputed of an item is never more than what is open of it.
    return [
        OpenItemRow(
            id=r[0],
            kind=r[1],
            number=r[2],
            issue_date=r[3],
            due_date=r[4],
            amount=r[5],
            open_amount=r[6],
            days_past_due=(as_of - r[4]).days,
            disputed_amount=min(r[7], r[6]),
            currency=r[8],
        )
        for r in rows
    ]


def open_items(db: Database, actor: Actor, customer_id: int, as_of: date) -> list[OpenItemRow]:
    """What was open on `as_of` (past dates from the dated allocations, not today's amounts)."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        _customer(session, customer_id)
        return open_items_in_session(session, customer_id, as_of)


def _sum_by(rows: Iterable[Any]) -> dict[Any, Decimal]:
    totals: dict[Any, Decimal] = defaultdict(lambda: ZERO)
    for *key, value in rows:
        totals[key[0] if len(key) == 1 else tuple(key)] += value or ZERO
    return totals


def balances_in_session(
    session: Session, customer_id: int, as_of: date, *, dated: bool | None = None
) -> dict[str, tuple[Decimal, Decimal]]:
    """{currency: (open items total, unapplied cash)} at `as_of`, aggregated in SQL (`dated` as
    in `open_items_in_session`)."""
    items: dict[Any, Decimal]
    cash: dict[Any, Decimal]
    signed = case((Invoice.kind == INVOICE, Invoice.amount), else_=-Invoice.amount)
    if dated is False or (dated is None and use_maintained(session, customer_id, as_of)):
        signed_open = case(
            (Invoice.kind == INVOICE, Invoice.open_amount), else_=-Invoice.open_amount
        )
        items = _sum_by(
            session.execute(
                select(Invoice.currency, func.sum(_money(signed_open)))
                .where(
                    Invoice.customer_id == customer_id,
                    Invoice.issue_date <= as_of,
                    Invoice.open_amount != literal_column("0"),
                )
                .group_by(Invoice.currency)
            )
        )
        cash = _sum_by(
            session.execute(
                select(Payment.currency, func.sum(Payment.unapplied_amount))
                .where(
                    Payment.customer_id == customer_id,
                    Payment.date <= as_of,
                    Payment.unapplied_amount != literal_column("0"),
                )
                .group_by(Payment.currency)
            )
        )
    else:
        amounts = _sum_by(
            session.execute(
                select(Invoice.currency, func.sum(_money(signed)))
                .where(Invoice.customer_id == customer_id, Invoice.issue_date <= as_of)
                .group_by(Invoice.currency)
            )
        )
        # Allocations reduce an invoice (+) or a credit note (−); both joined to their item.
        to_invoices = _sum_by(
            session.execute(
                select(Invoice.currency, func.sum(Allocation.amount))
                .join(Invoice, Invoice.id == Allocation.invoice_id)
                .where(
                    Invoice.customer_id == customer_id,
                    Invoice.issue_date <= as_of,
                    counts_at(as_of),
                )
                .group_by(Invoice.currency)
            )
        )
        from_credits = _sum_by(
            session.execute(
                select(Invoice.currency, func.sum(Allocation.amount))
                .join(Invoice, Invoice.id == Allocation.credit_note_id)
                .where(
                    Invoice.customer_id == customer_id,
                    Invoice.issue_date <= as_of,
                    counts_at(as_of),
                )
                .group_by(Invoice.currency)
            )
        )
        items = defaultdict(lambda: ZERO)
        for currency in {*amounts, *to_invoices, *from_credits}:
            items[currency] = amounts[currency] - to_invoices[currency] + from_credits[currency]
        received = _sum_by(
            session.execute(
                select(Payment.currency, func.sum(Payment.amount))
                .where(Payment.customer_id == customer_id, Payment.date <= as_of)
                .group_by(Payment.currency)
            )
        )
        applied = _sum_by(
            session.execute(
                select(Payment.currency, func.sum(Allocation.amount))
                .join(Payment, Payment.id == Allocation.payment_id)
                .where(
                    Payment.customer_id == customer_id,
                    Payment.date <= as_of,
                    counts_at(as_of),
                )
                .group_by(Payment.currency)
            )
        )
        cash = defaultdict(lambda: ZERO)
        for currency in {*received, *applied}:
            cash[currency] = received[currency] - applied[currency]
    totals = {
        currency: (items.get(currency, ZERO), cash.get(currency, ZERO))
        for currency in {*items, *cash}
    }
    return {currency: pair for currency, pair in totals.items() if pair != (ZERO, ZERO)}


def balance_in_session(
    session: Session, customer_id: int, as_of: date, currency: str | None = None
) -> Balance:
    customer = _customer(session, customer_id)
    code = currency or customer.currency
    per_currency = balances_in_session(session, customer_id, as_of)
    items, cash = per_currency.get(code, (ZERO, ZERO))
    others = tuple(
        sorted(c for c, (i, u) in per_currency.items() if c != code and (i != 0 or u != 0))
    )
    return Balance(as_of, code, items, cash, items - cash, others)


def balance(
    db: Database, actor: Actor, customer_id: int, as_of: date, currency: str | None = None
) -> Balance:
    """The customer's balance at `as_of` in `currency` (default: the customer's currency)."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return balance_in_session(session, customer_id, as_of, currency)


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------

_ORDER = {"invoice": 0, "credit_note": 0, "payment": 1, "allocation": 2, "reversal": 3}
_ALLOCATION_WORDS = {
    ALLOC_PAYMENT: "Payment applied to",
    ALLOC_CREDIT: "Credit note {credit} applied to",
    ALLOC_DISCOUNT: "Early-payment discount on",
    ALLOC_WRITE_OFF: "Write-off of",
}


def _reversal_reasons(session: Session, customer_id: int) -> dict[str, str]:
    rows = session.execute(
        select(AuditEntry.record_id, AuditEntry.new_value).where(
            AuditEntry.customer_id == customer_id,
            AuditEntry.table_name == "allocations",
            AuditEntry.field == "reversal_reason",
        )
    )
    return {record_id: reason or "" for record_id, reason in rows}


def history_in_session(session: Session, customer_id: int) -> list[HistoryRow]:
    _customer(session, customer_id)
    # Plain rows, not ORM objects: the largest customer has thousands of events, and building
    # an object (identity map, state) for each cost most of the ledger tab's time.
    items = {
        i.id: i
        for i in session.execute(
            select(
                Invoice.id,
                Invoice.kind,
                Invoice.number,
                Invoice.issue_date,
                Invoice.due_date,
                Invoice.amount,
                Invoice.currency,
            ).where(Invoice.customer_id == customer_id)
        )
    }
    payments = {
        p.id: p
        for p in session.execute(
            select(
                Payment.id,
                Payment.date,
                Payment.amount,
                Payment.currency,
                Payment.method,
                Payment.reference,
            ).where(Payment.customer_id == customer_id)
        )
    }
    target = aliased(Invoice)
    allocations = session.execute(
        select(
            Allocation.id,
            Allocation.invoice_id,
            Allocation.credit_note_id,
            Allocation.payment_id,
            Allocation.kind,
            Allocation.amount,
            Allocation.date,
            Allocation.reversed_on,
            Allocation.note,
        )
        .join(target, target.id == Allocation.invoice_id)
        .where(target.customer_id == customer_id)
    ).all()
    reasons = _reversal_reasons(session, customer_id) if allocations else {}

    events: list[tuple[tuple[date, int, int, int], dict[str, Any]]] = []
    for item in items.values():
        sign = 1 if item.kind == INVOICE else -1
        word = "Invoice" if item.kind == INVOICE else "Credit note"
        events.append(
            (
                (item.issue_date, _ORDER[item.kind], 0, item.id),
                {
                    "entry": item.kind,
                    "kind": None,
                    "reference": item.number,
                    "description": f"{word} {item.number}, due {item.due_date.isoformat()}",
                    "amount": item.amount,
                    "change": sign * item.amount,
                    "currency": item.currency,
                    "invoice_id": item.id if item.kind == INVOICE else None,
                    "credit_note_id": item.id if item.kind == CREDIT_NOTE else None,
                },
            )
        )
    for payment in payments.values():
        detail = ", ".join(x for x in (payment.method, payment.reference) if x)
        events.append(
            (
                (payment.date, _ORDER["payment"], 0, payment.id),
                {
                    "entry": "payment",
                    "kind": None,
                    "reference": payment.reference or f"#{payment.id}",
                    "description": "Payment received" + (f" ({detail})" if detail else ""),
                    "amount": payment.amount,
                    "change": -payment.amount,
                    "currency": payment.currency,
                    "payment_id": payment.id,
                },
            )
        )
    for a in allocations:
        invoice = items[a.invoice_id]
        credit = items.get(a.credit_note_id) if a.credit_note_id else None
        words = _ALLOCATION_WORDS[a.kind].format(credit=credit.number if credit else "")
        # Applying cash or credit moves nothing; a discount or a write-off lowers the balance.
        effect = a.amount if a.kind in (ALLOC_DISCOUNT, ALLOC_WRITE_OFF) else ZERO
        common = {
            "kind": a.kind,
            "reference": invoice.number,
            "amount": a.amount,
            "currency": invoice.currency,
            "invoice_id": a.invoice_id,
            "payment_id": a.payment_id,
            "credit_note_id": a.credit_note_id,
            "allocation_id": a.id,
        }
        note = f": {a.note}" if a.kind == ALLOC_WRITE_OFF and a.note else ""
        events.append(
            (
                (a.date, _ORDER["allocation"], 0, a.id),
                {
                    **common,
                    "entry": "allocation",
                    "description": f"{words} {invoice.number}{note}",
                    "change": -effect,
                },
            )
        )
        if a.reversed_on is not None:
            reason = reasons.get(str(a.id))
            events.append(
                (
                    (a.reversed_on, _ORDER["reversal"], 0, a.id),
                    {
                        **common,
                        "entry": "reversal",
                        "description": f"Reversed: {words.lower()} {invoice.number}"
                        + (f" ({reason})" if reason else ""),
                        "change": effect,
                    },
                )
            )
    events.sort(key=lambda e: e[0])
    running: dict[str, Decimal] = defaultdict(lambda: ZERO)
    rows = []
    for (day, *_rest), values in events:
        running[values["currency"]] += values["change"]
        rows.append(HistoryRow(date=day, balance=running[values["currency"]], **values))
    return rows


def history(db: Database, actor: Actor, customer_id: int) -> list[HistoryRow]:
    """Every invoice, credit note, payment, allocation and reversal of a customer in date
    order, with the running balance after each (per currency)."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return history_in_session(session, customer_id)


# ---------------------------------------------------------------------------------------------
# Proof that the maintained amounts equal the allocations
# ---------------------------------------------------------------------------------------------


def recompute_open_amounts(
    session: Session,
    invoice_ids: Iterable[int] | None = None,
    *,
    payment_ids: Iterable[int] | None = None,
) -> dict[tuple[str, int], tuple[Decimal, Decimal]]:
    """Recompute open and unapplied amounts from the non-reversed allocations and return the
    rows whose maintained value differs: {(kind, id): (maintained, recomputed)}, kind being
    "invoice", "credit_note" or "payment". Empty means the ledger is consistent.

    With neither argument every item and payment is checked; with `invoice_ids` only those
    items (and the payments in `payment_ids`, if given).
    """
    active = Allocation.reversed_on.is_(None)
    to_invoice = (
        select(Allocation.invoice_id.label("id"), func.sum(Allocation.amount).label("total"))
        .where(active)
        .group_by(Allocation.invoice_id)
        .subquery()
    )
    from_credit = (
        select(Allocation.credit_note_id.label("id"), func.sum(Allocation.amount).label("total"))
        .where(active, Allocation.credit_note_id.is_not(None))
        .group_by(Allocation.credit_note_id)
        .subquery()
    )
    from_payment = (
        select(Allocation.payment_id.label("id"), func.sum(Allocation.amount).label("total"))
        .where(active, Allocation.payment_id.is_not(None))
        .group_by(Allocation.payment_id)
        .subquery()
    )
    mismatches: dict[tuple[str, int], tuple[Decimal, Decimal]] = {}
    check_items = invoice_ids is not None or payment_ids is None
    check_payments = payment_ids is not None or invoice_ids is None
    if check_items:
        stmt = (
            select(
                Invoice.id,
                Invoice.kind,
                Invoice.amount,
                Invoice.open_amount,
                _money(to_invoice.c.total).label("allocated"),
                _money(from_credit.c.total).label("credited"),
            )
            .outerjoin(to_invoice, to_invoice.c.id == Invoice.id)
            .outerjoin(from_credit, from_credit.c.id == Invoice.id)
        )
        if invoice_ids is not None:
            stmt = stmt.where(Invoice.id.in_(sorted(set(invoice_ids))))
        for item_id, kind, amount, open_amount, allocated, credited in session.execute(stmt):
            expected = amount - ((allocated if kind == INVOICE else credited) or ZERO)
            if kind == INVOICE and credited:
                expected = Decimal("NaN")  # an invoice used as a credit source is itself wrong
            if open_amount != expected:
                mismatches[(kind, item_id)] = (open_amount, expected)
    if check_payments:
        stmt = select(
            Payment.id,
            Payment.amount,
            Payment.unapplied_amount,
            _money(from_payment.c.total).label("applied"),
        ).outerjoin(from_payment, from_payment.c.id == Payment.id)
        if payment_ids is not None:
            stmt = stmt.where(Payment.id.in_(sorted(set(payment_ids))))
        for payment_id, amount, unapplied, applied in session.execute(stmt):
            expected = amount - (applied or ZERO)
            if unapplied != expected:
                mismatches[("payment", payment_id)] = (unapplied, expected)
    return mismatches


def stale_allocation_copies(session: Session) -> list[int]:
    """The allocations whose copies of their invoice (customer, currency, due and issue dates)
    or payment (date) differ from the documents themselves: ids, empty when every writer copied
    right. The reports that roll a date back read the copies (see `Allocation`); the tests check
    them with this after every kind of ledger write."""
    payment = aliased(Payment, name="p")

    def differs(copy: Any, original: Any) -> Any:
        return or_(copy != original, and_(copy.is_(None), original.is_not(None)))

    stmt = (
        select(Allocation.id)
        .join(Invoice, Invoice.id == Allocation.invoice_id)
        .outerjoin(payment, payment.id == Allocation.payment_id)
        .where(
            or_(
                differs(Allocation.customer_id, Invoice.customer_id),
                differs(Allocation.currency, Invoice.currency),
                differs(Allocation.invoice_due_date, Invoice.due_date),
                differs(Allocation.invoice_issue_date, Invoice.issue_date),
                differs(Allocation.payment_date, payment.date),
                and_(Allocation.payment_date.is_not(None), payment.id.is_(None)),
            )
        )
        .order_by(Allocation.id)
    )
    return list(session.scalars(stmt))
