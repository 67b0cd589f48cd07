"""What a statement says, computed from the ledger as of the statement date.

Two kinds (domain.md):
- open items: every invoice and credit note open at the date (past dates from the dated
  allocations, as ledger_queries does), plus the payments with cash still unapplied at the date,
  shown as credits; an aging summary with the department's buckets (credit notes in the bucket of
  their due date, unapplied cash beside the buckets, as in services/aging.py); total due = open
  items − unapplied cash.
- activity for a period F..D: the balance at the end of F − 1 (ledger_queries.balances_in_session),
  every invoice, credit note, payment, allocation, discount, write-off and reversal dated in the
  period (ledger_queries.history_in_session) with the running balance, and the closing balance,
  which is the total due at D. The open items at D are read as well, for the aging summary.

The facts are read for a chunk of customers at a time (ledger_reads: one query per kind of fact,
so a batch of thousands costs a few hundred queries, not tens of thousands); one statement is a
chunk of one.

Total due equals the ledger balance to the cent: before a statement is handed out its total is
checked against the balance the aging report computes for the same customer and date
(aging.signed_rows, an independent implementation), and for an activity statement the opening
balance plus the period's movements must come to that too. A difference stops the statement
(an O2CError naming both figures) instead of printing a wrong one.

Currencies are never added together: a customer with items in other currencies than its own gets
one section per currency (its own first, then the others by code), each with its own table, aging,
and total due. The customer's own currency always has a section, even when it is empty (a
zero-balance statement says so rather than being blank).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, ValidationFailed
from o2c_desktop.models import Invoice, Payment
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE
from o2c_desktop.services import aging, ledger_queries
from o2c_desktop.services.aging import Bucket
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.statements import ledger_reads
from o2c_desktop.services.statements.ledger_reads import Addressee, UnappliedPayment

StatementKind = Literal["open-items", "activity"]
KINDS: tuple[StatementKind, ...] = ("open-items", "activity")
ZERO = Decimal("0.00")
PAYMENT = "payment"  # an open line for unapplied cash


@dataclass(frozen=True)
class StatementRequest:
    """Which statement: whose, as of which date, which kind. An activity statement covers
    `period_from`..`as_of`; without `period_from` it starts on the first of `as_of`'s month.
    Open-items statements ignore `period_from`."""

    customer_id: int
    as_of: date
    kind: StatementKind = "open-items"
    period_from: date | None = None

    @property
    def period_start(self) -> date | None:
        if self.kind != "activity":
            return None
        return self.period_from or self.as_of.replace(day=1)


def check_request(request: StatementRequest) -> StatementRequest:
    """Refuse a request that cannot make a statement, naming the field."""
    problems: list[FieldProblem] = []
    if request.kind not in KINDS:
        problems.append(FieldProblem("kind", f"one of {', '.join(KINDS)}", value=str(request.kind)))
    if not isinstance(request.as_of, date) or isinstance(request.as_of, datetime):
        problems.append(FieldProblem("statement date", "must be a date", value=str(request.as_of)))
    elif request.kind == "activity" and request.period_from is not None:
        if not isinstance(request.period_from, date) or isinstance(request.period_from, datetime):
            problems.append(
                FieldProblem("period from", "must be a date", value=str(request.period_from))
            )
        elif request.period_from > request.as_of:
            problems.append(
                FieldProblem(
                    "period from",
                    f"after the statement date {request.as_of.isoformat()}",
                    value=request.period_from.isoformat(),
                )
            )
    if problems:
        raise ValidationFailed(problems, "Statement")
    return request


# ---------------------------------------------------------------------------------------------
# What a statement holds (plain values: the renderer and the tests read them)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenLine:
    """An item open at the statement date. `amount` and `open_amount` are signed as they count
    against the customer: credit notes and unapplied payments negative."""

    kind: str  # "invoice", "credit_note" or "payment"
    document: str
    date: date
    due_date: date | None
    amount: Decimal
    open_amount: Decimal
    days_overdue: int | None  # invoices past their due date; None for credits
    disputed_amount: Decimal

    @property
    def disputed(self) -> bool:
        return self.disputed_amount != 0


@dataclass(frozen=True)
class ActivityLine:
    """One event in the period. `change` is what it did to the balance (a payment applied to
    an invoice changes nothing: cash on account became a smaller invoice); `amount` is the
    event's own amount, shown for the lines that change nothing."""

    date: date
    entry: str  # invoice, credit_note, payment, allocation, reversal
    kind: str | None  # the allocation's kind for allocation and reversal lines
    document: str
    related: str | None  # the credit note applied, for credit-note allocations
    due_date: date | None  # invoices
    method: str | None  # payments
    amount: Decimal
    change: Decimal
    balance: Decimal

    @property
    def debit(self) -> Decimal:
        return self.change if self.change > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.change if self.change < 0 else ZERO


@dataclass(frozen=True)
class AgingSummary:
    """The open items at the statement date by days past due (the department's buckets), the
    unapplied cash beside them, and what that leaves due."""

    labels: tuple[str, ...]
    amounts: tuple[Decimal, ...]
    unapplied_cash: Decimal
    total_due: Decimal

    @property
    def overdue(self) -> Decimal:
        """Every bucket but the first (the first ends at 0 days or later)."""
        return sum(self.amounts[1:], ZERO)


@dataclass(frozen=True)
class CurrencySection:
    """Everything a statement shows in one currency."""

    currency: str
    open_lines: tuple[OpenLine, ...]
    aging: AgingSummary
    total_due: Decimal
    activity: tuple[ActivityLine, ...] = ()
    opening_balance: Decimal | None = None  # activity statements

    @property
    def closing_balance(self) -> Decimal:
        return self.total_due


@dataclass(frozen=True)
class StatementData:
    """A statement's content. `sections[0]` is in the customer's own currency."""

    kind: StatementKind
    as_of: date
    period_from: date | None
    customer: Addressee
    sections: tuple[CurrencySection, ...]
    buckets: tuple[Bucket, ...] = field(repr=False, default=())

    @property
    def primary(self) -> CurrencySection:
        return self.sections[0]

    @property
    def total_due(self) -> Decimal:
        """Due in the customer's currency (other currencies: each section's `total_due`)."""
        return self.primary.total_due

    @property
    def currency(self) -> str:
        return self.primary.currency


# ---------------------------------------------------------------------------------------------
# Reading the ledger
# ---------------------------------------------------------------------------------------------


def _open_lines(
    items: Sequence[ledger_queries.OpenItemRow],
    payments: Sequence[UnappliedPayment],
    currency: str,
) -> tuple[OpenLine, ...]:
    lines = [
        OpenLine(
            kind=i.kind,
            document=i.number,
            date=i.issue_date,
            due_date=i.due_date,
            amount=i.amount if i.kind == INVOICE else -i.amount,
            open_amount=i.signed_open,
            days_overdue=i.days_past_due if i.kind == INVOICE and i.days_past_due > 0 else None,
            disputed_amount=i.disputed_amount,
        )
        for i in items
        if i.currency == currency
    ]
    lines += [
        OpenLine(
            PAYMENT, p.reference or f"#{p.id}", p.date, None, -p.amount, -p.unapplied, None, ZERO
        )
        for p in payments
        if p.currency == currency
    ]
    return tuple(lines)


def _aging(lines: Sequence[OpenLine], buckets: Sequence[Bucket], as_of: date) -> AgingSummary:
    amounts = [ZERO] * len(buckets)
    cash = ZERO
    for line in lines:
        if line.kind == PAYMENT:
            cash -= line.open_amount
            continue
        assert line.due_date is not None
        days = (as_of - line.due_date).days
        for k, bucket in enumerate(buckets):
            if bucket.contains(days):
                amounts[k] += line.open_amount
                break
    total = sum(amounts, ZERO) - cash
    return AgingSummary(tuple(b.label for b in buckets), tuple(amounts), cash, total)


@dataclass(frozen=True)
class _Mentioned:
    """Numbers and due dates of the items, and methods of the payments, a period mentions."""

    items: dict[int, tuple[str, date]]
    methods: dict[int, str | None]


def _activity_rows(
    session: Session, customer_id: int, start: date, as_of: date
) -> tuple[dict[str, list[ledger_queries.HistoryRow]], _Mentioned]:
    """The history rows dated in start..as_of, per currency."""
    rows = [
        r
        for r in ledger_queries.history_in_session(session, customer_id)
        if start <= r.date <= as_of
    ]
    item_ids = {i for r in rows for i in (r.invoice_id, r.credit_note_id) if i is not None}
    payment_ids = {r.payment_id for r in rows if r.entry == PAYMENT and r.payment_id}
    items: dict[int, tuple[str, date]] = {}
    methods: dict[int, str | None] = {}
    if item_ids:
        items = {
            item_id: (number, due)
            for item_id, number, due in session.execute(
                select(Invoice.id, Invoice.number, Invoice.due_date).where(
                    Invoice.id.in_(sorted(item_ids))
                )
            )
        }
    if payment_ids:
        methods = {
            pid: method
            for pid, method in session.execute(
                select(Payment.id, Payment.method).where(Payment.id.in_(sorted(payment_ids)))
            )
        }
    per_currency: dict[str, list[ledger_queries.HistoryRow]] = defaultdict(list)
    for row in rows:
        per_currency[row.currency].append(row)
    return per_currency, _Mentioned(items, methods)


def _activity(
    rows: Sequence[ledger_queries.HistoryRow], mentioned: _Mentioned, opening: Decimal
) -> tuple[ActivityLine, ...]:
    running = opening
    lines = []
    for row in rows:
        running += row.change
        own = row.invoice_id if row.entry == INVOICE else row.credit_note_id
        due = mentioned.items[own][1] if row.entry in (INVOICE, CREDIT_NOTE) and own else None
        related = None
        if row.entry in ("allocation", "reversal") and row.credit_note_id in mentioned.items:
            related = mentioned.items[row.credit_note_id][0]
        method = mentioned.methods.get(row.payment_id) if row.entry == PAYMENT else None
        lines.append(
            ActivityLine(
                row.date,
                row.entry,
                row.kind,
                row.reference,
                related,
                due,
                method,
                row.amount,
                row.change,
                running,
            )
        )
    return tuple(lines)


def _net(pair: tuple[Decimal, Decimal] | None) -> Decimal:
    return ZERO if pair is None else pair[0] - pair[1]


def _statement(
    request: StatementRequest,
    customer: Addressee,
    items: Sequence[ledger_queries.OpenItemRow],
    payments: Sequence[UnappliedPayment],
    ledger: dict[str, Decimal],
    buckets: Sequence[Bucket],
    session: Session,
) -> StatementData:
    """One customer's statement from what the chunk read, checked against the ledger."""
    as_of = request.as_of
    start = request.period_start
    opening: dict[str, tuple[Decimal, Decimal]] = {}
    activity: dict[str, list[ledger_queries.HistoryRow]] = {}
    mentioned = _Mentioned({}, {})
    if start is not None:
        before = start - timedelta(days=1)
        opening = ledger_queries.balances_in_session(session, customer.id, before)
        activity, mentioned = _activity_rows(session, customer.id, start, as_of)
    currencies = {i.currency for i in items} | {p.currency for p in payments} | set(ledger)
    currencies |= set(activity) | {c for c, pair in opening.items() if _net(pair) != 0}
    currencies.discard(customer.currency)
    sections = []
    for currency in (customer.currency, *sorted(currencies)):
        lines = _open_lines(items, payments, currency)
        summary = _aging(lines, buckets, as_of)
        expected = ledger.get(currency, ZERO)
        if summary.total_due != expected:
            raise O2CError(
                f"The statement of {customer.number} as of {as_of.isoformat()} does not tie "
                f"out in {currency}: its items come to {summary.total_due}, the ledger says "
                f"{expected}. Nothing was produced; please report this."
            )
        section = CurrencySection(currency, lines, summary, summary.total_due)
        if start is not None:
            opening_balance = _net(opening.get(currency))
            moves = _activity(activity.get(currency, ()), mentioned, opening_balance)
            closing = moves[-1].balance if moves else opening_balance
            if closing != expected:
                raise O2CError(
                    f"The activity statement of {customer.number} for {start.isoformat()} to "
                    f"{as_of.isoformat()} does not tie out in {currency}: opening "
                    f"{opening_balance} and the period's movements come to {closing}, the "
                    f"ledger says {expected}. Nothing was produced; please report this."
                )
            section = CurrencySection(
                currency, lines, summary, summary.total_due, moves, opening_balance
            )
        sections.append(section)
    return StatementData(request.kind, as_of, start, customer, tuple(sections), tuple(buckets))


def load_statements(
    session: Session,
    customer_ids: Sequence[int],
    as_of: date,
    kind: StatementKind,
    period_from: date | None,
    buckets: Sequence[Bucket],
) -> dict[int, StatementData | O2CError]:
    """The statements of a chunk of customers, read with one query per kind of fact (see
    ledger_reads). A customer that cannot have its statement maps to the error saying why."""
    ids = list(dict.fromkeys(customer_ids))
    customers = ledger_reads.addressees(session, ids)
    known = [cid for cid in ids if cid in customers]
    dated = ledger_reads.dated_customers(session, known, as_of) if known else set()
    items = ledger_reads.open_items(session, known, as_of, dated) if known else {}
    payments = ledger_reads.unapplied_payments(session, known, as_of, dated) if known else {}
    balances = ledger_reads.aging_balances(session, known, as_of) if known else {}
    found: dict[int, StatementData | O2CError] = {}
    for cid in ids:
        customer = customers.get(cid)
        if customer is None:
            found[cid] = NotFound(f"Customer #{cid} does not exist (deleted by another user?).")
            continue
        request = StatementRequest(cid, as_of, kind, period_from)
        try:
            found[cid] = _statement(
                request,
                customer,
                items.get(cid, ()),
                payments.get(cid, ()),
                balances.get(cid, {}),
                buckets,
                session,
            )
        except O2CError as exc:
            found[cid] = exc
    return found


def load_statement(
    session: Session, request: StatementRequest, buckets: Sequence[Bucket]
) -> StatementData:
    """One statement's content, read in the caller's session."""
    request = check_request(request)
    result = load_statements(
        session,
        [request.customer_id],
        request.as_of,
        request.kind,
        request.period_from,
        buckets,
    )[request.customer_id]
    if isinstance(result, O2CError):
        raise result
    return result


@contextmanager
def snapshot(db: Database) -> Iterator[Session]:
    """A read session that sees one moment of the ledger throughout: a statement's items, its
    balances and its tie-out check are separate queries, and a payment posted between two of
    them must not make the statement disagree with itself. SQLite's read transaction in WAL
    mode is such a snapshot already; PostgreSQL needs REPEATABLE READ for it."""
    with db.read() as session:
        if db.kind == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield session


def statement_data(db: Database, actor: Actor, request: StatementRequest) -> StatementData:
    """A statement's content as of its date (for previews, tests and the renderer)."""
    actor.require(Permission.PRINT_STATEMENTS)
    actor.require(Permission.VIEW_CUSTOMERS)
    check_request(request)
    buckets = aging.get_buckets(db)
    with snapshot(db) as session:
        return load_statement(session, request, buckets)
