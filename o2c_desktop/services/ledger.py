"""Posting to the AR ledger and applying cash: invoices, credit notes, payments, allocations,
early-payment discounts, write-offs and reversals.

Every figure follows ../docs/domain.md. The rules this module keeps, so that reports can trust
the rows without re-checking them:

* Amounts are positive Decimals in the currency's minor units; `Invoice.kind` gives the sign.
* `Invoice.open_amount`, `Payment.unapplied_amount` (and a credit note's `open_amount`, its
  unallocated credit) are maintained here, in the same transaction as the allocations that change
  them, and always equal amount − Σ non-reversed allocations (ledger_queries.recompute_open_amounts
  proves it in the tests).
* An allocation counts at date D iff `date <= D` and it was not reversed on or before D. An
  allocation is never dated before its source (payment date, credit-note issue date) nor before
  the invoice's issue date, and never so that any document would be over-allocated at any past
  date: that is what lets every as-of report be computed from the dated rows alone.
* Payments and credit notes apply only to items of the same customer and currency.
* Whoever changes open or unapplied amounts refreshes the customer's exposure in the same
  transaction.

Public functions taking a `Database` are one unit of work each (one commit). The `*_in_session`
helpers do the same work inside a caller's session without committing, so the importer can post
thousands of rows in one transaction; they validate before they change anything (a
`ValidationFailed` leaves the session as it was), and with `refresh=False` they leave the exposure
refresh to the caller (call `exposure.refresh_exposure(session, customer_ids)` once at the end).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import FieldProblem, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import Allocation, AppSetting, Customer, Invoice, Payment, PaymentTerms
from o2c_desktop.models.ledger import (
    ALLOC_CREDIT,
    ALLOC_DISCOUNT,
    ALLOC_PAYMENT,
    ALLOC_WRITE_OFF,
    CREDIT_NOTE,
    INVOICE,
)
from o2c_desktop.money import decimals_of, is_currency, minor_units, parse_amount, round_money
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.exposure import refresh_exposure
from o2c_desktop.services.terms import Terms

APPLY_MODES = ("reference", "none", "oldest-first")
WRITE_OFF_SETTING = "write_off_authority"
# Used when the setting is missing. A role with WRITE_OFF missing from the setting has no limit.
DEFAULT_WRITE_OFF_AUTHORITY: Mapping[str, Decimal] = {"credit_manager": Decimal("1000.00")}
_MAX_NUMBER = 40
_MAX_EXTERNAL_ID = 64
_MAX_METHOD = 20
_MAX_REFERENCE = 80
_MAX_NOTE = 200
# Invoice numbers in a payment reference: "INV-1, INV-2; paid with thanks".
_REFERENCE_SPLIT = re.compile(r"[\s,;]+")

# ---------------------------------------------------------------------------------------------
# Rows returned to screens (plain values, never live ORM objects)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    """An invoice or a credit note as posted (amounts positive; `kind` gives the sign)."""

    id: int
    customer_id: int
    kind: str
    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    open_amount: Decimal
    disputed_amount: Decimal
    discount_percent: Decimal | None
    discount_until: date | None
    external_id: str | None
    version: int

    @property
    def signed_open(self) -> Decimal:
        """What the item adds to the customer's balance: negative for a credit note."""
        return self.open_amount if self.kind == INVOICE else -self.open_amount


@dataclass(frozen=True)
class PaymentRow:
    id: int
    customer_id: int
    date: date
    amount: Decimal
    currency: str
    method: str | None
    reference: str | None
    external_id: str | None
    unapplied_amount: Decimal
    version: int


@dataclass(frozen=True)
class AllocationRow:
    """Part of an invoice settled on a date; `payment_id` or `credit_note_id` names the source
    (neither for a discount or a write-off)."""

    id: int
    kind: str
    invoice_id: int
    invoice_number: str
    payment_id: int | None
    credit_note_id: int | None
    credit_note_number: str | None
    amount: Decimal
    date: date
    reversed_on: date | None
    note: str | None


@dataclass(frozen=True)
class PaymentResult:
    """A recorded payment and the allocations made with it (empty when left unapplied)."""

    payment: PaymentRow
    allocations: tuple[AllocationRow, ...] = ()

    @property
    def applied(self) -> Decimal:
        return sum(
            (a.amount for a in self.allocations if a.kind == ALLOC_PAYMENT), start=Decimal(0)
        )


def item_row(invoice: Invoice) -> ItemRow:
    return ItemRow(
        invoice.id,
        invoice.customer_id,
        invoice.kind,
        invoice.number,
        invoice.issue_date,
        invoice.due_date,
        invoice.amount,
        invoice.currency,
        invoice.open_amount,
        invoice.disputed_amount,
        invoice.discount_percent,
        invoice.discount_until,
        invoice.external_id,
        invoice.version,
    )


def payment_row(payment: Payment) -> PaymentRow:
    return PaymentRow(
        payment.id,
        payment.customer_id,
        payment.date,
        payment.amount,
        payment.currency,
        payment.method,
        payment.reference,
        payment.external_id,
        payment.unapplied_amount,
        payment.version,
    )


def allocation_row(session: Session, allocation: Allocation) -> AllocationRow:
    invoice = session.get(Invoice, allocation.invoice_id)
    credit = session.get(Invoice, allocation.credit_note_id) if allocation.credit_note_id else None
    return AllocationRow(
        allocation.id,
        allocation.kind,
        allocation.invoice_id,
        invoice.number if invoice else "?",
        allocation.payment_id,
        allocation.credit_note_id,
        credit.number if credit else None,
        allocation.amount,
        allocation.date,
        allocation.reversed_on,
        allocation.note,
    )


# ---------------------------------------------------------------------------------------------
# Input checks (collected into one ValidationFailed, so a dialog can mark every field at once)
# ---------------------------------------------------------------------------------------------


def _fmt(value: Decimal) -> str:
    return f"{value:,.{max(2, decimals_of(value))}f}"


def check_amount(
    value: object, currency: str | None, problems: list[FieldProblem], name: str = "amount"
) -> Decimal | None:
    """Parse a positive amount with at most the currency's minor units; None (and a problem)
    when it is not one. Floats are refused: money never passes through binary fractions."""
    if value is None or value == "":
        problems.append(FieldProblem(name, "required"))
        return None
    if isinstance(value, float):
        problems.append(FieldProblem(name, "must be an exact Decimal, not a float"))
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        problems.append(FieldProblem(name, "not an amount", value=str(value)))
        return None
    try:
        amount = parse_amount(value)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), value=str(value)))
        return None
    if not amount.is_finite():
        problems.append(FieldProblem(name, "not a number", value=str(value)))
        return None
    if amount <= 0:
        problems.append(FieldProblem(name, "must be more than zero", value=str(value)))
        return None
    if amount > MONEY_MAX:
        problems.append(FieldProblem(name, f"more than the largest amount {MONEY_MAX}"))
        return None
    if currency and is_currency(currency) and decimals_of(amount) > minor_units(currency):
        problems.append(
            FieldProblem(
                name,
                f"{currency} amounts have at most {minor_units(currency)} decimals",
                value=str(value),
            )
        )
        return None
    return amount


def _check_date(
    value: object, name: str, problems: list[FieldProblem], *, required: bool = True
) -> date | None:
    if value is None:
        if required:
            problems.append(FieldProblem(name, "required"))
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(FieldProblem(name, "not a date (YYYY-MM-DD)", value=str(value)))
    return None


def _check_not_future(day: date | None, name: str, what: str, problems: list[FieldProblem]) -> None:
    """Allocations, write-offs and reversals happen on or before today: the maintained open and
    unapplied amounts are today's, so a future-dated one would make them disagree with the
    dated history until that day."""
    if day is not None and day > _today():
        problems.append(
            FieldProblem(name, f"{day.isoformat()} is after today: {what} cannot be dated ahead")
        )


def _check_text(
    value: object, name: str, limit: int, problems: list[FieldProblem], *, required: bool = False
) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            problems.append(FieldProblem(name, "required"))
        return None
    if len(text) > limit:
        problems.append(FieldProblem(name, f"longer than {limit} characters"))
    return text


def _fail_if(problems: list[FieldProblem]) -> None:
    if problems:
        raise ValidationFailed(problems)


def _today() -> date:
    return date.today()


# ---------------------------------------------------------------------------------------------
# Dated capacity: an allocation must fit at its date and at every later date
# ---------------------------------------------------------------------------------------------


@dataclass
class Capacity:
    """How much of a document (invoice, payment, credit note) is allocated at each date.

    A reversal frees an amount only from its reversal date on. Re-applying that cash with the
    payment's own date would over-allocate the payment between the two dates, so a new
    allocation must fit at its date and at every date after it (`room(d)`); `earliest(...)`
    finds the first date it does, which is how default allocation dates are chosen.
    """

    label: str
    amount: Decimal
    spans: list[tuple[date, date | None, Decimal]] = field(default_factory=list)

    @classmethod
    def load(cls, session: Session, column: Any, doc_id: int, label: str, amount: Decimal):
        rows = session.execute(
            select(Allocation.date, Allocation.reversed_on, Allocation.amount).where(
                column == doc_id
            )
        )
        return cls(label, amount, [(d, r, a) for d, r, a in rows if r is None or r > d])

    def peak_from(self, day: date) -> Decimal:
        """The most that is allocated at any date on or after `day`."""
        running = Decimal(0)
        changes: dict[date, Decimal] = {}
        for start, end, amount in self.spans:
            if end is not None and end <= day:
                continue
            if start <= day:
                running += amount
            else:
                changes[start] = changes.get(start, Decimal(0)) + amount
            if end is not None:
                changes[end] = changes.get(end, Decimal(0)) - amount
        peak = running
        for when in sorted(changes):
            running += changes[when]
            peak = max(peak, running)
        return peak

    def room(self, day: date) -> Decimal:
        return self.amount - self.peak_from(day)

    def releases_after(self, day: date) -> set[date]:
        return {end for _start, end, _amount in self.spans if end is not None and end > day}

    def take(self, day: date, amount: Decimal) -> None:
        self.spans.append((day, None, amount))


def earliest_date(base: date, needs: Sequence[tuple[Capacity, Decimal]]) -> date | None:
    """The first date on or after `base` at which every capacity has room for its amount."""
    candidates = {base}
    for capacity, _amount in needs:
        candidates |= capacity.releases_after(base)
    for day in sorted(candidates):
        if all(capacity.room(day) >= amount for capacity, amount in needs):
            return day
    return None


# ---------------------------------------------------------------------------------------------
# Settings: write-off authority
# ---------------------------------------------------------------------------------------------


def write_off_authority(session: Session) -> dict[str, Decimal]:
    """Write-off limit per role from the "write_off_authority" setting (roles missing from it
    have no limit); the default when the setting is missing is credit manager 1,000.00."""
    row = session.get(AppSetting, WRITE_OFF_SETTING)
    if row is None:
        return dict(DEFAULT_WRITE_OFF_AUTHORITY)
    try:
        raw = json.loads(row.value)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return {str(role): Decimal(str(limit)) for role, limit in raw.items()}
    except (ValueError, ArithmeticError) as exc:
        raise O2CError(
            f"The setting {WRITE_OFF_SETTING!r} is not valid ({exc}); an administrator must "
            'correct it, e.g. {"credit_manager": "1000.00"}.'
        ) from None


def write_off_limit(session: Session, actor: Actor) -> Decimal | None:
    """The largest write-off the actor may post (None: no limit). With several roles the most
    generous one counts."""
    actor.require(Permission.WRITE_OFF)
    limits = write_off_authority(session)
    allowed = [role for role in actor.roles if role in Permission.WRITE_OFF.roles]
    if any(role.value not in limits for role in allowed):
        return None
    return max(limits[role.value] for role in allowed)


# ---------------------------------------------------------------------------------------------
# Posting invoices and credit notes
# ---------------------------------------------------------------------------------------------


def customer_terms(session: Session, customer: Customer) -> Terms | None:
    row = session.get(PaymentTerms, customer.payment_terms_code)
    if row is None:
        return None
    return Terms(row.code, row.net_days, row.end_of_month, row.discount_percent, row.discount_days)


def post_item_in_session(
    session: Session,
    actor: Actor,
    kind: str,
    customer_id: int,
    number: str,
    issue_date: date,
    amount: Decimal | int | str,
    *,
    due_date: date | None = None,
    currency: str | None = None,
    external_id: str | None = None,
    terms: Mapping[str, Terms] | None = None,
    refresh: bool = True,
) -> Invoice:
    """Validate and insert an invoice or credit note (no commit); returns the flushed row.

    Due date: given, else the customer's payment terms from the issue date (a credit note is
    due on its issue date: the credit is available at once). An invoice of a customer whose
    terms carry an early-payment discount gets `discount_percent` and `discount_until`.
    `terms` is an optional {code: Terms} cache for bulk posting (terms.load_terms).
    """
    actor.require(Permission.POST_LEDGER)
    problems: list[FieldProblem] = []
    if kind not in (INVOICE, CREDIT_NOTE):
        raise ValueError(f"unknown item kind {kind!r}")
    label = "invoice" if kind == INVOICE else "credit note"
    customer = session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is None:
        problems.append(FieldProblem("customer", "no such customer", value=str(customer_id)))
    number_text = _check_text(number, "number", _MAX_NUMBER, problems, required=True)
    issued = _check_date(issue_date, "issue_date", problems)
    due = _check_date(due_date, "due_date", problems, required=False)
    code = (currency or (customer.currency if customer else "") or "").strip().upper()
    if not code:
        if customer is not None:
            problems.append(FieldProblem("currency", "required"))
    elif not is_currency(code):
        problems.append(FieldProblem("currency", "unknown currency code", value=code))
    value = check_amount(amount, code, problems)
    ext = _check_text(external_id, "external_id", _MAX_EXTERNAL_ID, problems)
    if issued and due and due < issued:
        problems.append(FieldProblem("due_date", "before the issue date", value=due.isoformat()))
    if number_text and len(number_text) <= _MAX_NUMBER:
        clash = session.scalar(
            select(Invoice.id).where(Invoice.kind == kind, Invoice.number == number_text)
        )
        if clash:
            problems.append(
                FieldProblem("number", f"another {label} already has this number", number_text)
            )
    _fail_if(problems)
    assert customer is not None and issued is not None and value is not None
    assert number_text is not None

    customer_terms_ = (
        terms.get(customer.payment_terms_code) if terms is not None else None
    ) or customer_terms(session, customer)
    discount_percent = discount_until = None
    if kind == INVOICE:
        if due is None:
            due = customer_terms_.due_date(issued) if customer_terms_ else issued
        if customer_terms_ is not None and customer_terms_.discount_until(issued):
            discount_percent = customer_terms_.discount_percent
            discount_until = customer_terms_.discount_until(issued)
    elif due is None:
        due = issued
    item = Invoice(
        customer_id=customer.id,
        kind=kind,
        number=number_text,
        issue_date=issued,
        due_date=due,
        amount=value,
        currency=code,
        external_id=ext,
        open_amount=value,
        disputed_amount=Decimal(0),
        discount_percent=discount_percent,
        discount_until=discount_until,
        created_by_id=actor.user_id or None,
    )
    session.add(item)
    try:
        session.flush()
    except IntegrityError:  # a concurrent post of the same number won the race
        raise ValidationFailed(
            [FieldProblem("number", f"another {label} already has this number", number_text)]
        ) from None
    changes: dict[str, tuple[Any, Any]] = {
        "kind": (None, kind),
        "number": (None, number_text),
        "issue_date": (None, issued),
        "due_date": (None, due),
        "amount": (None, value),
        "currency": (None, code),
    }
    if ext:
        changes["external_id"] = (None, ext)
    if discount_percent is not None:
        changes["discount_percent"] = (None, discount_percent)
        changes["discount_until"] = (None, discount_until)
    audit.record(
        session,
        actor,
        audit.CREATE,
        "invoices",
        item.id,
        customer_id=customer.id,
        record_version=item.version,
        changes=changes,
    )
    if refresh:
        refresh_exposure(session, [customer.id])
    return item


def post_item(
    db: Database,
    actor: Actor,
    kind: str,
    customer_id: int,
    number: str,
    issue_date: date,
    amount: Decimal | int | str,
    *,
    due_date: date | None = None,
    currency: str | None = None,
    external_id: str | None = None,
) -> ItemRow:
    """Post an invoice or a credit note in its own unit of work."""
    actor.require(Permission.POST_LEDGER)
    with db.write() as session:
        item = post_item_in_session(
            session,
            actor,
            kind,
            customer_id,
            number,
            issue_date,
            amount,
            due_date=due_date,
            currency=currency,
            external_id=external_id,
        )
        return item_row(item)


def post_invoice(
    db: Database,
    actor: Actor,
    customer_id: int,
    number: str,
    issue_date: date,
    amount: Decimal | int | str,
    *,
    due_date: date | None = None,
    currency: str | None = None,
    external_id: str | None = None,
) -> ItemRow:
    """Post an invoice (a debit). Currency defaults to the customer's, due date to its terms."""
    return post_item(
        db,
        actor,
        INVOICE,
        customer_id,
        number,
        issue_date,
        amount,
        due_date=due_date,
        currency=currency,
        external_id=external_id,
    )


def post_credit_note(
    db: Database,
    actor: Actor,
    customer_id: int,
    number: str,
    issue_date: date,
    amount: Decimal | int | str,
    *,
    due_date: date | None = None,
    currency: str | None = None,
    external_id: str | None = None,
) -> ItemRow:
    """Post a credit note: a credit on the account until it is applied to invoices."""
    return post_item(
        db,
        actor,
        CREDIT_NOTE,
        customer_id,
        number,
        issue_date,
        amount,
        due_date=due_date,
        currency=currency,
        external_id=external_id,
    )


# ---------------------------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------------------------


def record_payment_in_session(
    session: Session,
    actor: Actor,
    customer_id: int,
    date_: date,
    amount: Decimal | int | str,
    *,
    method: str | None = None,
    reference: str | None = None,
    currency: str | None = None,
    external_id: str | None = None,
    apply: str = "reference",
    refresh: bool = True,
) -> tuple[Payment, list[Allocation]]:
    """Validate and insert a payment, then apply it as asked (no commit).

    apply="reference": to the open invoices of this customer its reference names (each in the
    order named, up to its open amount), else left unapplied; "oldest-first": see
    `apply_oldest_first_in_session`; "none": left unapplied.
    """
    actor.require(Permission.POST_LEDGER)
    problems: list[FieldProblem] = []
    customer = session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is None:
        problems.append(FieldProblem("customer", "no such customer", value=str(customer_id)))
    paid_on = _check_date(date_, "date", problems)
    code = (currency or (customer.currency if customer else "") or "").strip().upper()
    if not code:
        if customer is not None:
            problems.append(FieldProblem("currency", "required"))
    elif not is_currency(code):
        problems.append(FieldProblem("currency", "unknown currency code", value=code))
    value = check_amount(amount, code, problems)
    method_text = _check_text(method, "method", _MAX_METHOD, problems)
    ref = _check_text(reference, "reference", _MAX_REFERENCE, problems)
    ext = _check_text(external_id, "external_id", _MAX_EXTERNAL_ID, problems)
    if apply not in APPLY_MODES:
        problems.append(FieldProblem("apply", f"one of {', '.join(APPLY_MODES)}", value=apply))
    if apply != "none":
        actor.require(Permission.APPLY_CASH)
    if (
        ext
        and len(ext) <= _MAX_EXTERNAL_ID
        and session.scalar(select(Payment.id).where(Payment.external_id == ext))
    ):
        problems.append(FieldProblem("external_id", "another payment has this external id", ext))
    _fail_if(problems)
    assert customer is not None and paid_on is not None and value is not None

    payment = Payment(
        customer_id=customer.id,
        date=paid_on,
        amount=value,
        currency=code,
        method=method_text,
        reference=ref,
        external_id=ext,
        unapplied_amount=value,
        created_by_id=actor.user_id or None,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        audit.CREATE,
        "payments",
        payment.id,
        customer_id=customer.id,
        record_version=payment.version,
        changes={
            k: (None, v)
            for k, v in {
                "date": paid_on,
                "amount": value,
                "currency": code,
                "method": method_text,
                "reference": ref,
                "external_id": ext,
            }.items()
            if v is not None
        },
    )
    allocations: list[Allocation] = []
    if apply == "reference":
        pairs: list[tuple[Invoice | int, Decimal]] = []
        left = payment.unapplied_amount
        for invoice in match_reference_in_session(session, payment):
            if left <= 0:
                break
            part = min(left, invoice.open_amount)
            pairs.append((invoice, part))
            left -= part
        if pairs:
            allocations = allocate_in_session(session, actor, payment, pairs, refresh=False)
    elif apply == "oldest-first":
        allocations = apply_oldest_first_in_session(session, actor, payment, refresh=False)
    if refresh:
        refresh_exposure(session, [customer.id])
    return payment, allocations


def record_payment(
    db: Database,
    actor: Actor,
    customer_id: int,
    date: date,
    amount: Decimal | int | str,
    *,
    method: str | None = None,
    reference: str | None = None,
    currency: str | None = None,
    external_id: str | None = None,
    apply: str = "reference",
) -> PaymentResult:
    """Record cash received and apply it: by default to the invoice its reference names (a
    payment of exactly the discounted amount inside the discount window settles the invoice
    with the discount recorded); over-payments stay as unapplied cash."""
    actor.require(Permission.POST_LEDGER)
    with db.write() as session:
        payment, allocations = record_payment_in_session(
            session,
            actor,
            customer_id,
            date,
            amount,
            method=method,
            reference=reference,
            currency=currency,
            external_id=external_id,
            apply=apply,
        )
        return PaymentResult(
            payment_row(payment), tuple(allocation_row(session, a) for a in allocations)
        )


def match_reference_in_session(session: Session, payment: Payment) -> list[Invoice]:
    """Open invoices of the payment's customer and currency that its reference names, in the
    order named. The reference is read whole and word by word (split at spaces, commas and
    semicolons; trailing dots and colons ignored), case-insensitively."""
    if not payment.reference:
        return []
    words = [payment.reference.strip()]
    words += [w.strip(".:") for w in _REFERENCE_SPLIT.split(payment.reference)]
    wanted: list[str] = []
    for word in words:
        if word and word.upper() not in wanted:
            wanted.append(word.upper())
    found = session.scalars(
        select(Invoice).where(
            Invoice.customer_id == payment.customer_id,
            Invoice.kind == INVOICE,
            Invoice.currency == payment.currency,
            Invoice.open_amount != 0,
            func.upper(Invoice.number).in_(wanted),
        )
    ).all()
    by_number = {invoice.number.upper(): invoice for invoice in found}
    return [by_number[w] for w in wanted if w in by_number]


# ---------------------------------------------------------------------------------------------
# Allocations: payments and credit notes to invoices
# ---------------------------------------------------------------------------------------------


def discount_amount(invoice: Invoice) -> Decimal:
    """The early-payment discount of the whole invoice: amount − amount × (1 − pct/100), the
    discounted price rounded half-even to the currency's minor units (once, at the end)."""
    if not invoice.discount_percent:
        return Decimal(0)
    net = round_money(
        invoice.amount * (1 - Decimal(invoice.discount_percent) / 100), invoice.currency
    )
    return invoice.amount - net


def _discount_note(invoice: Invoice, payment: Payment) -> str:
    """The note of a discount allocation; its ending ties it to the payment that earned it (a
    discount carries no payment_id: that would count it as cash applied)."""
    return f"early-payment discount {invoice.discount_percent or 0:f} %{_earned_by(payment.id)}"


def _earned_by(payment_id: int) -> str:
    return f" with payment #{payment_id}"


def _active_discount(session: Session, invoice_id: int) -> bool:
    return bool(
        session.scalar(
            select(Allocation.id).where(
                Allocation.invoice_id == invoice_id,
                Allocation.kind == ALLOC_DISCOUNT,
                Allocation.reversed_on.is_(None),
            )
        )
    )


@dataclass
class _Source:
    """What allocations are taken from: a payment (cash) or a credit note (credit)."""

    row: Payment | Invoice
    capacity: Capacity

    @property
    def payment(self) -> Payment | None:
        return self.row if isinstance(self.row, Payment) else None

    @property
    def credit_note(self) -> Invoice | None:
        return self.row if isinstance(self.row, Invoice) else None

    @property
    def kind(self) -> str:
        return ALLOC_PAYMENT if isinstance(self.row, Payment) else ALLOC_CREDIT

    @property
    def customer_id(self) -> int:
        return self.row.customer_id

    @property
    def currency(self) -> str:
        return self.row.currency

    @property
    def day(self) -> date:
        return self.row.date if isinstance(self.row, Payment) else self.row.issue_date

    @property
    def available(self) -> Decimal:
        if isinstance(self.row, Payment):
            return self.row.unapplied_amount
        return self.row.open_amount

    def change_available(self, delta: Decimal) -> None:
        if isinstance(self.row, Payment):
            self.row.unapplied_amount += delta
        else:
            self.row.open_amount += delta

    @property
    def label(self) -> str:
        return self.capacity.label

    @property
    def date_word(self) -> str:
        return "payment date" if isinstance(self.row, Payment) else "credit note's issue date"


@dataclass
class _Planned:
    invoice: Invoice
    kind: str
    amount: Decimal
    day: date
    note: str | None = None
    audit_extra: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _payment_source(session: Session, payment: Payment | int) -> _Source:
    row = payment if isinstance(payment, Payment) else _lock(session, Payment, payment)
    if row is None:
        raise ValidationFailed([FieldProblem("payment", "no such payment", value=str(payment))])
    capacity = Capacity.load(
        session, Allocation.payment_id, row.id, f"payment #{row.id}", row.amount
    )
    return _Source(row, capacity)


def _credit_source(session: Session, credit_note: Invoice | int) -> _Source:
    row = credit_note if isinstance(credit_note, Invoice) else _lock(session, Invoice, credit_note)
    if row is None or row.kind != CREDIT_NOTE:
        message = "no such credit note" if row is None else f"{row.number} is not a credit note"
        raise ValidationFailed([FieldProblem("credit_note", message, value=str(credit_note))])
    capacity = Capacity.load(
        session, Allocation.credit_note_id, row.id, f"credit note {row.number}", row.amount
    )
    return _Source(row, capacity)


def _lock(session: Session, model: Any, row_id: object) -> Any:
    """Load a row for update (PostgreSQL row lock; SQLite's write lock is already held)."""
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        return None
    return session.get(model, row_id, with_for_update=True)


def _lock_invoices(session: Session, ids: Iterable[int]) -> dict[int, Invoice]:
    wanted = sorted({i for i in ids if isinstance(i, int) and not isinstance(i, bool)})
    if not wanted:
        return {}
    rows = session.scalars(
        select(Invoice).where(Invoice.id.in_(wanted)).order_by(Invoice.id).with_for_update()
    )
    return {row.id: row for row in rows}


class _Planner:
    """Checks a list of allocations from one source against every rule before any is written,
    and dates them; the capacities it updates as it goes keep several lines on the same
    invoice honest."""

    def __init__(self, session: Session, source: _Source):
        self.session = session
        self.source = source
        self.problems: list[FieldProblem] = []
        self.plan: list[_Planned] = []
        self.open_left: dict[int, Decimal] = {}
        self.capacities: dict[int, Capacity] = {}
        self.available = source.available
        self.discount_taken: set[int] = set()

    def _capacity(self, invoice: Invoice) -> Capacity:
        if invoice.id not in self.capacities:
            self.capacities[invoice.id] = Capacity.load(
                self.session,
                Allocation.invoice_id,
                invoice.id,
                f"invoice {invoice.number}",
                invoice.amount,
            )
        return self.capacities[invoice.id]

    def _problem(self, message: str, name: str = "amount", value: str | None = None) -> None:
        self.problems.append(FieldProblem(name, message, value=value))

    def _check_invoice(self, invoice: Invoice | None, given: object) -> bool:
        src = self.source
        if invoice is None:
            self._problem("no such invoice", "invoice", str(given))
            return False
        if invoice.kind != INVOICE:
            self._problem(
                f"{invoice.number} is a credit note; only invoices can be settled", "invoice"
            )
            return False
        if invoice.customer_id != src.customer_id:
            self._problem(
                f"invoice {invoice.number} belongs to another customer than {src.label}",
                "invoice",
            )
            return False
        if invoice.currency != src.currency:
            self._problem(
                f"invoice {invoice.number} is in {invoice.currency} but {src.label} is in "
                f"{src.currency}; apply only to items of the same currency",
                "invoice",
            )
            return False
        return True

    def add(
        self,
        invoice: Invoice | None,
        given: object,
        raw_amount: object,
        on: date | None,
        settle_discount: bool,
    ) -> None:
        src = self.source
        if not self._check_invoice(invoice, given):
            return
        assert invoice is not None
        amount = check_amount(raw_amount, invoice.currency, self.problems)
        if amount is None:
            return
        open_left = self.open_left.setdefault(invoice.id, invoice.open_amount)
        discount = self._discount(invoice, amount, open_left, settle_discount)
        if discount is None:
            return
        settles = amount + discount
        if settles > open_left:
            self._problem(
                f"{_fmt(amount)} is more than the open amount {_fmt(open_left)} of invoice "
                f"{invoice.number}"
            )
            return
        if amount > self.available:
            word = "unapplied" if src.payment is not None else "unallocated"
            self._problem(
                f"{_fmt(amount)} is more than the {word} {_fmt(self.available)} of {src.label}"
            )
            return
        base = max(src.day, invoice.issue_date)
        capacity = self._capacity(invoice)
        needs = [(src.capacity, amount), (capacity, settles)]
        if on is not None:
            if on < src.day:
                self._problem(
                    f"{on.isoformat()} is before the {src.date_word} {src.day.isoformat()}", "on"
                )
                return
            if on < invoice.issue_date:
                self._problem(
                    f"{on.isoformat()} is before invoice {invoice.number}'s issue date "
                    f"{invoice.issue_date.isoformat()}",
                    "on",
                )
                return
            day = on
            short = [c for c, need in needs if c.room(on) < need]
            if short:
                free = earliest_date(on, needs)
                hint = f"; possible from {free.isoformat()}" if free else ""
                self._problem(
                    f"on {on.isoformat()} {short[0].label} was still allocated elsewhere "
                    f"(reversed later){hint}",
                    "on",
                )
                return
        else:
            found = earliest_date(base, needs)
            if found is None:  # cannot happen when the amounts fit today; kept as a guard
                self._problem(f"no date on which {_fmt(amount)} fits invoice {invoice.number}")
                return
            day = found
        self.plan.append(_Planned(invoice, src.kind, amount, day))
        src.capacity.take(day, amount)
        capacity.take(day, amount)
        if discount:
            assert src.payment is not None
            note = _discount_note(invoice, src.payment)
            self.plan.append(_Planned(invoice, ALLOC_DISCOUNT, discount, day, note))
            capacity.take(day, discount)
            self.discount_taken.add(invoice.id)
        self.open_left[invoice.id] = open_left - settles
        self.available -= amount

    def _discount(
        self, invoice: Invoice, amount: Decimal, open_left: Decimal, settle: bool
    ) -> Decimal | None:
        """The discount this line earns (0 for none), or None after recording a problem.

        Earned automatically when a payment dated inside the window pays exactly the open
        amount less the discount; with `settle` the user grants the difference as discount
        (inside the window, and never more than the terms' discount)."""
        payment = self.source.payment
        full = discount_amount(invoice)
        until = invoice.discount_until
        if payment is None:
            if settle:
                self._problem("only a payment can earn an early-payment discount", "discount")
                return None
            return Decimal(0)
        if full <= 0 or until is None:
            if settle:
                self._problem(f"invoice {invoice.number} has no early-payment discount", "discount")
                return None
            return Decimal(0)
        taken = invoice.id in self.discount_taken or _active_discount(self.session, invoice.id)
        if not settle:
            earned = not taken and payment.date <= until and amount + full == open_left
            return full if earned else Decimal(0)
        if taken:
            self._problem(f"invoice {invoice.number} already has its discount recorded", "discount")
            return None
        if payment.date > until:
            self._problem(
                f"the payment of {payment.date.isoformat()} is after invoice "
                f"{invoice.number}'s discount window (until {until.isoformat()})",
                "discount",
            )
            return None
        difference = open_left - amount
        if difference > full:
            self._problem(
                f"the {_fmt(difference)} left on invoice {invoice.number} is more than its "
                f"discount {_fmt(full)}; leave it open or write it off",
                "discount",
            )
            return None
        return max(difference, Decimal(0))


def _execute(
    session: Session, actor: Actor, source: _Source | None, plan: list[_Planned]
) -> list[Allocation]:
    """Write planned allocations, maintain open/unapplied amounts, and audit (no exposure)."""
    made: list[Allocation] = []
    before_open = {p.invoice.id: p.invoice.open_amount for p in plan}
    before_source = source.available if source else None
    for p in plan:
        allocation = Allocation(
            invoice_id=p.invoice.id,
            kind=p.kind,
            payment_id=source.row.id if source and p.kind == ALLOC_PAYMENT else None,
            credit_note_id=source.row.id if source and p.kind == ALLOC_CREDIT else None,
            amount=p.amount,
            date=p.day,
            note=p.note,
            created_by_id=actor.user_id or None,
            customer_id=p.invoice.customer_id,
            currency=p.invoice.currency,
            invoice_due_date=p.invoice.due_date,
            invoice_issue_date=p.invoice.issue_date,
            payment_date=source.day if source and p.kind == ALLOC_PAYMENT else None,
        )
        session.add(allocation)
        made.append(allocation)
        p.invoice.open_amount -= p.amount
        if source is not None and p.kind in (ALLOC_PAYMENT, ALLOC_CREDIT):
            source.change_available(-p.amount)
    session.flush()
    invoices = {p.invoice.id: p.invoice for p in plan}
    customer_id = next(iter(invoices.values())).customer_id if invoices else None
    for allocation, p in zip(made, plan, strict=True):
        changes: dict[str, tuple[Any, Any]] = {
            "kind": (None, p.kind),
            "invoice": (None, p.invoice.number),
            "amount": (None, p.amount),
            "date": (None, p.day),
        }
        if allocation.payment_id:
            changes["payment"] = (None, allocation.payment_id)
        if allocation.credit_note_id and source and source.credit_note is not None:
            changes["credit_note"] = (None, source.credit_note.number)
        if p.note:
            changes["note"] = (None, p.note)
        changes.update(p.audit_extra)
        audit.record(
            session,
            actor,
            audit.CREATE,
            "allocations",
            allocation.id,
            customer_id=customer_id,
            changes=changes,
        )
    for invoice_id, invoice in invoices.items():
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "invoices",
            invoice_id,
            customer_id=invoice.customer_id,
            record_version=invoice.version,
            changes={"open_amount": (before_open[invoice_id], invoice.open_amount)},
        )
    if source is not None and made and before_source != source.available:
        row = source.row
        name = "unapplied_amount" if source.payment is not None else "open_amount"
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "payments" if source.payment is not None else "invoices",
            row.id,
            customer_id=row.customer_id,
            record_version=row.version,
            changes={name: (before_source, source.available)},
        )
    return made


def _pairs(
    session: Session, pairs: Sequence[tuple[Invoice | int, object]]
) -> list[tuple[Invoice | None, object, object]]:
    locked = _lock_invoices(session, (p[0] for p in pairs if isinstance(p[0], int)))
    resolved: list[tuple[Invoice | None, object, object]] = []
    for target, amount in pairs:
        if isinstance(target, Invoice):
            resolved.append((target, target, amount))
        else:
            found = locked.get(target) if isinstance(target, int) else None
            resolved.append((found, target, amount))
    return resolved


def _allocate_from(
    session: Session,
    actor: Actor,
    source: _Source,
    pairs: Sequence[tuple[Invoice | int, object]],
    on: date | None,
    settle_discount: bool,
    refresh: bool,
) -> list[Allocation]:
    problems: list[FieldProblem] = []
    when = _check_date(on, "on", problems, required=False)
    _check_not_future(when, "on", "an allocation", problems)
    if not pairs:
        problems.append(FieldProblem("invoice", "choose at least one invoice"))
    _fail_if(problems)
    planner = _Planner(session, source)
    for invoice, given, amount in _pairs(session, pairs):
        planner.add(invoice, given, amount, when, settle_discount)
    _fail_if(planner.problems)
    made = _execute(session, actor, source, planner.plan)
    if refresh:
        refresh_exposure(session, [source.customer_id])
    return made


def allocate_in_session(
    session: Session,
    actor: Actor,
    payment: Payment | int,
    pairs: Sequence[tuple[Invoice | int, Decimal | int | str]],
    *,
    on: date | None = None,
    settle_discount: bool = False,
    refresh: bool = True,
) -> list[Allocation]:
    """Allocate a payment to invoices given as (invoice or id, amount) pairs (no commit).

    Partial amounts are fine. Each allocation is dated `on`, or by default max(payment date,
    invoice issue date) — later only if cash freed by a reversal is re-applied, which counts
    from the reversal date. A payment dated inside an invoice's discount window that pays
    exactly its open amount less the discount settles it with a 'discount' allocation;
    `settle_discount=True` grants the discount for a payment that differs a little (inside the
    window, never more than the terms' discount). Returns the allocations made, discounts
    included.
    """
    actor.require(Permission.APPLY_CASH)
    return _allocate_from(
        session, actor, _payment_source(session, payment), pairs, on, settle_discount, refresh
    )


def allocate(
    db: Database,
    actor: Actor,
    payment_id: int,
    pairs: Sequence[tuple[int, Decimal | int | str]],
    on: date | None = None,
    *,
    settle_discount: bool = False,
) -> list[AllocationRow]:
    """Apply a payment to the invoices the user picked, (invoice id, amount) each."""
    actor.require(Permission.APPLY_CASH)
    with db.write() as session:
        made = allocate_in_session(
            session, actor, payment_id, pairs, on=on, settle_discount=settle_discount
        )
        return [allocation_row(session, a) for a in made]


def apply_oldest_first_in_session(
    session: Session,
    actor: Actor,
    payment: Payment | int,
    *,
    refresh: bool = True,
) -> list[Allocation]:
    """Apply a payment's unapplied cash to its customer's open invoices of the same currency,
    earliest due date first (then number): each up to its open amount, until the cash is gone.
    The discount rule applies to each line as in `allocate_in_session`."""
    actor.require(Permission.APPLY_CASH)
    source = _payment_source(session, payment)
    row = source.payment
    assert row is not None
    left = row.unapplied_amount
    if left <= 0:
        return []
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == row.customer_id,
            Invoice.kind == INVOICE,
            Invoice.currency == row.currency,
            Invoice.open_amount != 0,
        )
        .order_by(Invoice.due_date, Invoice.number, Invoice.id)
        .with_for_update()
    ).all()
    pairs: list[tuple[Invoice | int, object]] = []
    for invoice in invoices:
        if left <= 0:
            break
        part = min(left, invoice.open_amount)
        pairs.append((invoice, part))
        left -= part
    if not pairs:
        return []
    return _allocate_from(session, actor, source, pairs, None, False, refresh)


def apply_oldest_first(db: Database, actor: Actor, payment_id: int) -> list[AllocationRow]:
    """Apply a payment's unapplied cash oldest-first (by due date, then number)."""
    actor.require(Permission.APPLY_CASH)
    with db.write() as session:
        made = apply_oldest_first_in_session(session, actor, payment_id)
        return [allocation_row(session, a) for a in made]


def apply_credit_note_in_session(
    session: Session,
    actor: Actor,
    credit_note: Invoice | int,
    pairs: Sequence[tuple[Invoice | int, Decimal | int | str]],
    *,
    on: date | None = None,
    refresh: bool = True,
) -> list[Allocation]:
    """Allocate a credit note's unallocated credit to invoices of the same customer and
    currency (no commit). Dated `on`, or max(credit note issue date, invoice issue date)."""
    actor.require(Permission.APPLY_CASH)
    return _allocate_from(
        session, actor, _credit_source(session, credit_note), pairs, on, False, refresh
    )


def apply_credit_note(
    db: Database,
    actor: Actor,
    credit_note_id: int,
    pairs: Sequence[tuple[int, Decimal | int | str]],
    on: date | None = None,
) -> list[AllocationRow]:
    """Settle invoices with a credit note, (invoice id, amount) each."""
    actor.require(Permission.APPLY_CASH)
    with db.write() as session:
        made = apply_credit_note_in_session(session, actor, credit_note_id, pairs, on=on)
        return [allocation_row(session, a) for a in made]


# ---------------------------------------------------------------------------------------------
# Write-offs
# ---------------------------------------------------------------------------------------------


def write_off_in_session(
    session: Session,
    actor: Actor,
    invoice: Invoice | int,
    amount: Decimal | int | str,
    *,
    on: date | None = None,
    reason: str = "",
    refresh: bool = True,
) -> Allocation:
    """Write off part or all of an invoice's open amount (no commit), dated `on` (default
    today). Needs Permission.WRITE_OFF and an amount within the actor's authority."""
    actor.require(Permission.WRITE_OFF)
    problems: list[FieldProblem] = []
    row = invoice if isinstance(invoice, Invoice) else _lock(session, Invoice, invoice)
    if row is None or row.kind != INVOICE:
        message = "no such invoice" if row is None else f"{row.number} is a credit note"
        raise ValidationFailed([FieldProblem("invoice", message, value=str(invoice))])
    value = check_amount(amount, row.currency, problems)
    day = _check_date(on, "on", problems, required=False) or _today()
    _check_not_future(day, "on", "a write-off", problems)
    why = _check_text(reason, "reason", 2000, problems, required=True)
    _fail_if(problems)
    assert value is not None and why is not None
    limit = write_off_limit(session, actor)
    if limit is not None and value > limit:
        raise PermissionDenied(
            f"{actor.display_name} ({actor.roles_text}) may write off at most {_fmt(limit)} at "
            f"once; {_fmt(value)} needs someone with more authority."
        )
    if value > row.open_amount:
        problems.append(
            FieldProblem(
                "amount",
                f"{_fmt(value)} is more than the open amount {_fmt(row.open_amount)} of "
                f"invoice {row.number}",
            )
        )
    elif day < row.issue_date:
        problems.append(
            FieldProblem(
                "on",
                f"{day.isoformat()} is before invoice {row.number}'s issue date "
                f"{row.issue_date.isoformat()}",
            )
        )
    else:
        capacity = Capacity.load(
            session, Allocation.invoice_id, row.id, f"invoice {row.number}", row.amount
        )
        if capacity.room(day) < value:
            free = earliest_date(day, [(capacity, value)])
            hint = f"; possible from {free.isoformat()}" if free else ""
            problems.append(
                FieldProblem("on", f"on {day.isoformat()} less than that was open{hint}")
            )
    _fail_if(problems)
    planned = _Planned(
        row,
        ALLOC_WRITE_OFF,
        value,
        day,
        why[:_MAX_NOTE],
        {"reason": (None, why), "authority": (None, "no limit" if limit is None else limit)},
    )
    [made] = _execute(session, actor, None, [planned])
    if refresh:
        refresh_exposure(session, [row.customer_id])
    return made


def write_off(
    db: Database,
    actor: Actor,
    invoice_id: int,
    amount: Decimal | int | str,
    on: date | None = None,
    reason: str = "",
) -> AllocationRow:
    """Write off an open amount, with a reason, within the actor's authority (see the
    "write_off_authority" setting); over it, PermissionDenied names the limit."""
    actor.require(Permission.WRITE_OFF)
    with db.write() as session:
        made = write_off_in_session(session, actor, invoice_id, amount, on=on, reason=reason)
        return allocation_row(session, made)


# ---------------------------------------------------------------------------------------------
# Reversals
# ---------------------------------------------------------------------------------------------


def reverse_allocation_in_session(
    session: Session,
    actor: Actor,
    allocation: Allocation | int,
    *,
    on: date | None = None,
    reason: str = "",
    refresh: bool = True,
) -> list[Allocation]:
    """Reverse an allocation from `on` (default today, or its own date if later): the row is
    kept with `reversed_on`, so a past date still shows it as it was. The invoice's open amount
    and the source's unapplied amount come back. Reversing a payment allocation also reverses
    the early-payment discount recorded with it. Returns the reversed rows."""
    problems: list[FieldProblem] = []
    row = (
        allocation if isinstance(allocation, Allocation) else _lock(session, Allocation, allocation)
    )
    if row is None:
        raise ValidationFailed(
            [FieldProblem("allocation", "no such allocation", value=str(allocation))]
        )
    actor.require(Permission.WRITE_OFF if row.kind == ALLOC_WRITE_OFF else Permission.APPLY_CASH)
    when = _check_date(on, "on", problems, required=False)
    _check_not_future(when, "on", "a reversal", problems)
    why = _check_text(reason, "reason", 2000, problems, required=True)
    if row.reversed_on is not None:
        problems.append(
            FieldProblem("allocation", f"already reversed on {row.reversed_on.isoformat()}")
        )
    day = when or max(_today(), row.date)
    if day < row.date:
        problems.append(
            FieldProblem(
                "on", f"{day.isoformat()} is before the allocation's date {row.date.isoformat()}"
            )
        )
    _fail_if(problems)
    assert why is not None
    rows = [row]
    if row.kind == ALLOC_PAYMENT and row.payment_id:
        companions = session.scalars(
            select(Allocation)
            .where(
                Allocation.invoice_id == row.invoice_id,
                Allocation.kind == ALLOC_DISCOUNT,
                Allocation.reversed_on.is_(None),
                Allocation.note.endswith(_earned_by(row.payment_id), autoescape=True),
            )
            .with_for_update()
        ).all()
        rows += [c for c in companions if c.date <= day]
    # Same lock order as allocating: the payment first, then the items by id.
    payment = _lock(session, Payment, row.payment_id) if row.payment_id else None
    item_ids = {r.invoice_id for r in rows} | {r.credit_note_id for r in rows if r.credit_note_id}
    items = _lock_invoices(session, item_ids)
    open_before = {i: item.open_amount for i, item in items.items()}
    unapplied_before = payment.unapplied_amount if payment is not None else None
    for r in rows:
        r.reversed_on = day
        r.reversed_by_id = actor.user_id or None
        items[r.invoice_id].open_amount += r.amount
        if r.kind == ALLOC_PAYMENT and payment is not None:
            payment.unapplied_amount += r.amount
        elif r.kind == ALLOC_CREDIT and r.credit_note_id:
            items[r.credit_note_id].open_amount += r.amount
    session.flush()
    customer_id = items[row.invoice_id].customer_id
    for r in rows:
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "allocations",
            r.id,
            customer_id=customer_id,
            changes={"reversed_on": (None, day), "reversal_reason": (None, why)},
        )
    for item_id, item in items.items():
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "invoices",
            item_id,
            customer_id=customer_id,
            record_version=item.version,
            changes={"open_amount": (open_before[item_id], item.open_amount)},
        )
    if payment is not None:
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "payments",
            payment.id,
            customer_id=customer_id,
            record_version=payment.version,
            changes={"unapplied_amount": (unapplied_before, payment.unapplied_amount)},
        )
    if refresh:
        refresh_exposure(session, [customer_id])
    return rows


def reverse_allocation(
    db: Database,
    actor: Actor,
    allocation_id: int,
    on: date | None = None,
    reason: str = "",
) -> list[AllocationRow]:
    """Undo a cash application, credit-note application, discount or write-off (audited, with
    a reason); returns the reversed allocations (a payment's discount goes with it)."""
    with db.write() as session:
        rows = reverse_allocation_in_session(session, actor, allocation_id, on=on, reason=reason)
        return [allocation_row(session, r) for r in rows]


# ---------------------------------------------------------------------------------------------
# Small reads the screens need around these actions
# ---------------------------------------------------------------------------------------------


def get_payment(db: Database, actor: Actor, payment_id: int) -> PaymentRow | None:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        row = session.get(Payment, payment_id)
        return payment_row(row) if row else None


def get_item(db: Database, actor: Actor, item_id: int) -> ItemRow | None:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        row = session.get(Invoice, item_id)
        return item_row(row) if row else None


def allocations_of_payment(db: Database, actor: Actor, payment_id: int) -> list[AllocationRow]:
    """Every allocation made from a payment, reversed ones included, in date order."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.scalars(
            select(Allocation)
            .where(Allocation.payment_id == payment_id)
            .order_by(Allocation.date, Allocation.id)
        ).all()
        return [allocation_row(session, r) for r in rows]


def allocations_of_item(db: Database, actor: Actor, item_id: int) -> list[AllocationRow]:
    """Every allocation on an invoice, or made from a credit note, in date order."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.scalars(
            select(Allocation)
            .where((Allocation.invoice_id == item_id) | (Allocation.credit_note_id == item_id))
            .order_by(Allocation.date, Allocation.id)
        ).all()
        return [allocation_row(session, r) for r in rows]
