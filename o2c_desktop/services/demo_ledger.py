"""A realistic demo ledger for the customers already in the database.

Twenty-four months of invoices before `as_of`, skewed towards big customers, with due dates from
each customer's payment terms, settled by payments that follow the customer's risk class (A pays
early or on time, E very late) and pay runs (one payment settles several invoices), so that about
85 % of the invoices are paid and 15 % open at `as_of`. Around that: partial payments, credit
notes (about 2 % of the invoices, some applied, some partly, some still open), early-payment
discounts for 2/10N30 customers who paid in the window, short payments written off, payments
applied to the wrong invoice and reversed (cash left unapplied), payments on account, and disputes
on about 1 % of the open invoices (reason codes and statuses; `disputed_amount` maintained).

Everything follows the ledger's arithmetic: an invoice's `open_amount` is its amount less its
non-reversed allocations, a payment's `unapplied_amount` likewise, a payment's allocation is dated
max(payment date, issue date), and no historical date ever sees an item or a payment
over-allocated. Exposure is refreshed at the end.

Fast enough for benchmarks (2,000,000 invoices in minutes): amounts are integer cents until a row
is built, rows are plain dicts bulk-inserted (COPY on PostgreSQL) in chunks of about 50,000
invoices with explicit ids, and everything happens in one transaction, so a cancelled or failed
run leaves the database as it was. Invoice numbers (INV-0000001, continuing after the existing
ones) follow the issue dates across all customers, as an ERP would number them; credit notes are
numbered CN-0000001 in the order they are made. The same seed, customers and `as_of` give the same
ledger, row for row.

Audit: one row per customer that received a ledger (table "ledger", the counts and the seed), so a
customer's History tab says where its items came from, without one audit row per invoice.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import advance_sequence, bulk_insert
from o2c_desktop.errors import Cancelled, O2CError
from o2c_desktop.models import (
    Allocation,
    AuditEntry,
    Customer,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
)
from o2c_desktop.models.base import utcnow
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
from o2c_desktop.services.exposure import refresh_exposure
from o2c_desktop.services.terms import Terms, load_terms

Progress = Callable[[int, int], None]

CHUNK = 50_000  # invoices per bulk insert (bounds memory; customers are never split)
SQLITE_CACHE_KIB = 512 * 1024  # page cache while loading (the default is 2 MB)
ANALYZE_AFTER = 10_000  # invoices after which PostgreSQL's statistics are refreshed
LEDGER_TABLES = ("invoices", "payments", "allocations", "disputes", "dispute_items")
PG_INDEX_MEMORY = "256MB"  # maintenance_work_mem for building the indexes after the load
HISTORY_DAYS = 730
INVOICE_PREFIX, CREDIT_PREFIX = "INV-", "CN-"

# Share of a customer's invoices open at as_of, by risk class (mix of the demo customers: ~15 %).
OPEN_TARGET = {"A": 0.08, "B": 0.12, "C": 0.165, "D": 0.22, "E": 0.36}
# Days paid after the due date: mean, standard deviation, least, most.
LATENESS = {
    "A": (-5, 4, -15, 0),
    "B": (2, 6, -10, 20),
    "C": (10, 10, -5, 45),
    "D": (28, 18, 0, 100),
    "E": (70, 35, 10, 200),
}
# Share of invoices paid much later than usual (lost invoice, internal approval, cash squeeze).
STRAGGLERS = {"A": 0.01, "B": 0.03, "C": 0.05, "D": 0.08, "E": 0.1}
TAKES_DISCOUNT = {"A": 0.85, "B": 0.6, "C": 0.3, "D": 0.1, "E": 0.0}
UTILIZATION = {"A": 0.35, "B": 0.45, "C": 0.55, "D": 0.7, "E": 0.85}
REASONS = (
    ("pricing", 30),
    ("quantity", 15),
    ("quality", 15),
    ("not_received", 12),
    ("duplicate", 5),
    ("terms", 8),
    ("other", 15),
)
METHODS = (("bank_transfer", 80), ("direct_debit", 10), ("cheque", 5), ("card", 5))
RESOLUTIONS = {
    "resolved_us": "Delivery and prices confirmed; the customer pays in full.",
    "withdrawn": "Withdrawn by the customer.",
}
# Disputes on invoices still open: most are being worked, a few were settled without a credit.
OPEN_ITEM_DISPUTES = (("open", 50), ("in_review", 35), ("resolved_us", 10), ("withdrawn", 5))
CREDIT_NOTE_SHARE = 0.02
DISPUTE_SHARE = 0.012  # of open invoices; ~85 % of those disputes are open or in review
MAX_INVOICES_PER_PAYMENT = 30


@dataclass(frozen=True)
class LedgerDemoResult:
    customers: int  # customers that received invoices
    invoices: int
    credit_notes: int
    payments: int
    allocations: int
    open_invoices: int  # invoices with an open amount at as_of
    disputes: int
    as_of: date


@dataclass(frozen=True)
class _Customer:
    id: int
    risk: str
    terms: str
    currency: str
    limit_cents: int
    collector_id: int | None


class _Item:
    """One invoice (or credit note) while its customer's ledger is being built."""

    __slots__ = (
        "amount",
        "applied",
        "discount",
        "disputed",
        "due",
        "id",
        "in_dispute",
        "issue",
        "number",
        "open",
        "pay",
    )

    def __init__(self, id_: int, number: str, issue: int, due: int, amount: int) -> None:
        self.id = id_
        self.number = number
        self.issue = issue
        self.due = due
        self.amount = amount
        self.open = amount  # cents not (or no longer) allocated
        self.pay: int | None = None  # the day the customer settles it (None: still open)
        self.discount = False
        self.applied = 0  # for a credit note: cents allocated to invoices
        self.disputed = 0
        self.in_dispute = False


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _number_after(session: Session, kind: str, prefix: str) -> int:
    """The highest number used so far with this prefix and digits only (0 if none)."""
    rows = session.scalars(
        select(Invoice.number)
        .where(Invoice.kind == kind, Invoice.number.like(f"{prefix}%"))
        .order_by(func.length(Invoice.number).desc(), Invoice.number.desc())
        .limit(100)
    )
    for number in rows:
        tail = number[len(prefix) :]
        if tail.isdigit():
            return int(tail)
    return 0


def _next_id(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.max(column))) or 0) + 1


class _Builder:
    """Builds each customer's ledger as rows, and flushes them in chunks."""

    def __init__(
        self, session: Session, actor: Actor, seed: int, as_of: date, terms: dict[str, Terms]
    ) -> None:
        self.session = session
        self.seed = seed
        self.as_of = as_of.toordinal()
        self.terms = terms
        self.user_id = actor.user_id or None
        self.username = actor.username
        self.now = utcnow()
        self.rng = random.Random(f"o2c-demo-ledger-{seed}")
        self.next_item = _next_id(session, Invoice.id)
        self.next_payment = _next_id(session, Payment.id)
        self.next_allocation = _next_id(session, Allocation.id)
        self.next_dispute = _next_id(session, Dispute.id)
        self.open_carry = 0  # open invoices still owed to the portfolio's share (or too many)
        self.next_credit_number = _number_after(session, CREDIT_NOTE, CREDIT_PREFIX) + 1
        self._dates: dict[int, date] = {}
        self._due: dict[tuple[str, int], int] = {}
        self._runs: dict[tuple[int, int], int] = {}
        self.invoice_rows: list[dict[str, Any]] = []
        self.payment_rows: list[dict[str, Any]] = []
        self.allocation_rows: list[dict[str, Any]] = []
        self.dispute_rows: list[dict[str, Any]] = []
        self.item_rows: list[dict[str, Any]] = []
        self.audit_rows: list[dict[str, Any]] = []
        self.customers = self.invoices = self.credit_notes = self.payments = 0
        self.allocations = self.open_invoices = self.disputes = 0

    # -- small conversions, cached: only ~800 distinct days occur ---------------------------

    def day(self, ordinal: int) -> date:
        found = self._dates.get(ordinal)
        if found is None:
            found = self._dates[ordinal] = date.fromordinal(ordinal)
        return found

    @staticmethod
    def money(cents: int) -> Decimal:
        return Decimal(cents).scaleb(-2)

    def due_day(self, terms: Terms, issue: int) -> int:
        key = (terms.code, issue)
        found = self._due.get(key)
        if found is None:
            found = self._due[key] = terms.due_date(self.day(issue)).toordinal()
        return found

    def run_day(self, schedule: int, ordinal: int) -> int:
        """The customer's next pay run on or after a day: schedule 0-4 weekly on that weekday,
        5 on the 15th and the last day of the month, 6 any working day."""
        key = (schedule, ordinal)
        found = self._runs.get(key)
        if found is not None:
            return found
        d = self.day(ordinal)
        if schedule < 5:
            found = ordinal + (schedule - d.weekday()) % 7
        elif schedule == 5:
            if d.day <= 15:
                found = ordinal + 15 - d.day
            else:
                following = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
                found = following.toordinal() - 1
            found = _working_day_before(found)
            if found < ordinal:
                found = _working_day_after(ordinal)
        else:
            found = _working_day_after(ordinal)
        self._runs[key] = found
        return found

    def run_day_before(self, schedule: int, ordinal: int) -> int:
        """The customer's last pay run on or before a day (see `run_day`)."""
        key = (-1 - schedule, ordinal)
        found = self._runs.get(key)
        if found is not None:
            return found
        d = self.day(ordinal)
        if schedule < 5:
            found = ordinal - (d.weekday() - schedule) % 7
        elif schedule == 5:
            last = (d.replace(day=28) + timedelta(days=4)).replace(day=1).toordinal() - 1
            found = ordinal if ordinal == last else ordinal - d.day + (15 if d.day >= 15 else 0)
            found = _working_day_before(found)
        else:
            found = _working_day_before(ordinal)
        self._runs[key] = found
        return found

    # -- one customer ----------------------------------------------------------------------------

    def customer(self, c: _Customer, issues: Sequence[int], numbers: list[str]) -> None:
        rng = self.rng
        as_of = self.as_of
        terms = self.terms[c.terms]
        risk = c.risk
        n = len(issues)
        target = OPEN_TARGET[risk]
        expected_open = max(1.0, n * target)
        limit = max(c.limit_cents, 200_000)
        average = limit * UTILIZATION[risk] * rng.uniform(0.6, 1.4) / expected_open
        average = min(max(average, limit * 0.004, 5_000), limit * 0.6)
        schedule = _weighted_index(rng, (6, 6, 6, 6, 6, 4.5, 7.5))  # weekly runs, twice a month…
        method = _weighted(rng, METHODS)
        take_discount = TAKES_DISCOUNT[risk] if terms.discount_percent else 0.0
        mean_late, sd_late, least, most = LATENESS[risk]
        stragglers = STRAGGLERS[risk]

        invoices: list[_Item] = []
        natural_open = 0
        for k in range(n):
            issue = issues[k]
            item = _Item(
                self.next_item,
                numbers[k],
                issue,
                self.due_day(terms, issue),
                max(500, int(average * rng.lognormvariate(-0.18, 0.6))),
            )
            self.next_item += 1
            if take_discount and rng.random() < take_discount:
                item.discount = True
                pay = issue + rng.randint(2, terms.discount_days or 10)
                while pay > issue + 1 and _is_weekend(pay):
                    pay -= 1
            else:
                late = min(max(round(rng.gauss(mean_late, sd_late)), least), most)
                if rng.random() < stragglers:
                    late += rng.randint(15, 90)
                planned = max(item.due + late, issue + 1)
                pay = self.run_day(schedule, planned)
                if late <= 0:  # on time: the pay run before the due date
                    before = self.run_day_before(schedule, planned)
                    if before > issue:
                        pay = before
            if pay <= as_of:
                item.pay = pay
            else:
                natural_open += 1
            invoices.append(item)

        # Invoices left open although due to be paid: collection cases, mostly recent ones. A
        # customer with more recent (not yet due) invoices than its share carries the surplus over
        # to the next ones, so the portfolio lands on its share.
        wanted = n * target
        wanted = int(wanted) + (rng.random() < wanted - int(wanted))
        extra = wanted - natural_open + self.open_carry
        candidates = [i for i in invoices if i.pay is not None]
        extra = min(max(extra, 0), len(candidates))
        self.open_carry += wanted - natural_open - extra
        if extra:
            for item in heapq.nlargest(
                extra,
                candidates,
                key=lambda i: rng.random() ** (1.0 / (0.05 + math.exp((i.due - as_of) / 150))),
            ):
                item.pay = None

        credit_notes: list[_Item] = []
        intents: dict[int, list[tuple[_Item, int, bool]]] = {}  # pay day -> (invoice, cents, final)
        for item in invoices:
            remaining = item.amount
            if item.issue < as_of and rng.random() < CREDIT_NOTE_SHARE:
                remaining -= self.credit_note(c, item, credit_notes)
            if remaining <= 0:
                continue
            if item.pay is None:
                if item.issue < as_of and rng.random() < 0.2:  # part paid, rest still open
                    part = max(1, int(remaining * rng.uniform(0.2, 0.8)))
                    when = _working_day_in(rng, item.issue + 1, min(as_of, item.issue + 90))
                    intents.setdefault(when, []).append((item, part, False))
                continue
            pay = item.pay
            if item.discount and remaining == item.amount:
                cents = _percent(item.amount, terms.discount_percent)
                if 0 < cents < remaining:
                    self.allocate(
                        c, item, ALLOC_DISCOUNT, cents, pay, note="early-payment discount"
                    )
                    remaining -= cents
            elif remaining > 2_000 and rng.random() < 0.005:
                cents = rng.randint(1, min(2_500, remaining // 20))
                self.allocate(
                    c, item, ALLOC_WRITE_OFF, cents, pay, note="short payment (bank charges)"
                )
                remaining -= cents
            elif pay - item.issue >= 4 and rng.random() < 0.04:  # paid in two instalments
                part = max(1, int(remaining * rng.uniform(0.3, 0.7)))
                intents.setdefault(_working_day_in(rng, item.issue + 1, pay - 1), []).append(
                    (item, part, False)
                )
                remaining -= part
            intents.setdefault(pay, []).append((item, remaining, True))

        payments = self.payments_for(c, intents, method)
        if rng.random() < 0.04:  # cash on account, no remittance advice yet
            when = _working_day_before(as_of - rng.randint(0, 45))
            cents = max(100, int(average * rng.uniform(0.3, 1.5)))
            self.payment_row(c, when, cents, cents, method, "on account, no remittance advice")
            payments += 1

        open_invoices = [i for i in invoices if i.open > 0]
        self.open_invoices += len(open_invoices)
        disputes = self.disputes_for(c, invoices, open_invoices)

        for item in invoices:
            self.invoice_rows.append(self.item_row(c, item, INVOICE, terms))
        for item in credit_notes:
            self.invoice_rows.append(self.item_row(c, item, CREDIT_NOTE, None))
        self.invoices += n
        self.credit_notes += len(credit_notes)
        self.customers += 1
        self.audit_rows.append(
            {
                "at": self.now,
                "user_id": self.user_id,
                "username": self.username,
                "action": "create",
                "table_name": "ledger",
                "record_id": str(c.id),
                "record_version": None,
                "customer_id": c.id,
                "field": None,
                "old_value": None,
                "new_value": f"demo ledger (seed {self.seed}): {n} invoices, "
                f"{len(credit_notes)} credit notes, {payments} payments, "
                f"{len(open_invoices)} open, {disputes} disputes",
            }
        )

    def credit_note(self, c: _Customer, invoice: _Item, notes: list[_Item]) -> int:
        """A credit note on an invoice; returns the cents applied to it (all, part or none)."""
        rng = self.rng
        when = min(self.as_of, invoice.issue + rng.randint(1, 30))
        full = rng.random() < 0.1  # a return or a duplicate: the whole invoice
        cents = invoice.amount if full else max(100, int(invoice.amount * rng.uniform(0.05, 0.4)))
        cents = min(cents, invoice.amount)
        note = _Item(
            self.next_item,
            f"{CREDIT_PREFIX}{self.next_credit_number:07d}",
            when,
            when,
            cents,
        )
        self.next_item += 1
        self.next_credit_number += 1
        notes.append(note)
        still_open = invoice.pay is None or invoice.pay >= when
        mode = rng.random()
        applied = 0
        if still_open and mode < 0.6:
            applied = cents
        elif still_open and mode < 0.78:
            applied = max(1, int(cents * rng.uniform(0.3, 0.7)))
        if applied:
            self.allocate(c, invoice, ALLOC_CREDIT, applied, max(when, invoice.issue), credit=note)
        if rng.random() < 0.3:  # the dispute this credit note settled
            opened = rng.randint(invoice.issue, when)
            reason = rng.choice(("duplicate", "not_received")) if full else _weighted(rng, REASONS)
            self.dispute_row(
                c,
                reason,
                "resolved_customer",
                opened,
                when,
                f"Credit note {note.number}",
                [(invoice, cents)],
            )
        return applied

    def allocate(
        self,
        c: _Customer,
        invoice: _Item,
        kind: str,
        cents: int,
        when: int,
        *,
        payment: tuple[int, int] | None = None,  # the payment's id and day
        credit: _Item | None = None,
        reversed_on: int | None = None,
        note: str | None = None,
    ) -> None:
        self.allocation_rows.append(
            {
                "id": self.next_allocation,
                "invoice_id": invoice.id,
                "kind": kind,
                "payment_id": payment[0] if payment else None,
                "credit_note_id": credit.id if credit else None,
                "amount": self.money(cents),
                "date": self.day(when),
                "reversed_on": self.day(reversed_on) if reversed_on else None,
                "reversed_by_id": self.user_id if reversed_on else None,
                "note": note,
                "created_at": self.now,
                "created_by_id": self.user_id,
                "customer_id": c.id,
                "currency": c.currency,
                "invoice_due_date": self.day(invoice.due),
                "invoice_issue_date": self.day(invoice.issue),
                "payment_date": self.day(payment[1]) if payment else None,
            }
        )
        self.next_allocation += 1
        self.allocations += 1
        if reversed_on is None:
            invoice.open -= cents
            if credit is not None:
                credit.applied += cents

    def payments_for(
        self, c: _Customer, intents: dict[int, list[tuple[_Item, int, bool]]], method: str
    ) -> int:
        """One payment per pay day (split when long), settling every invoice due that day."""
        rng = self.rng
        as_of = self.as_of
        count = 0
        for when in sorted(intents):
            parts = intents[when]
            for start in range(0, len(parts), MAX_INVOICES_PER_PAYMENT):
                group = parts[start : start + MAX_INVOICES_PER_PAYMENT]
                payment_id = self.next_payment
                total = unapplied = 0
                for invoice, cents, final in group:
                    reversed_on = None
                    # Applied to the wrong invoice and reversed: the cash waits, unapplied.
                    if final and as_of - 60 <= when < as_of and rng.random() < 0.006:
                        reversed_on = min(as_of, when + rng.randint(2, 15))
                        unapplied += cents
                    self.allocate(
                        c,
                        invoice,
                        ALLOC_PAYMENT,
                        cents,
                        max(when, invoice.issue),
                        payment=(payment_id, when),
                        reversed_on=reversed_on,
                    )
                    total += cents
                if rng.random() < 0.01:  # paid a little too much
                    extra = rng.randint(100, max(100, total // 50))
                    total += extra
                    unapplied += extra
                first = group[0][0].number
                reference = f"Remittance {first}" + (
                    f" +{len(group) - 1}" if len(group) > 1 else ""
                )
                self.payment_row(c, when, total, unapplied, method, reference)
                count += 1
        return count

    def payment_row(
        self, c: _Customer, when: int, cents: int, unapplied: int, method: str, reference: str
    ) -> None:
        self.payment_rows.append(
            {
                "id": self.next_payment,
                "customer_id": c.id,
                "date": self.day(when),
                "amount": self.money(cents),
                "currency": c.currency,
                "method": method,
                "reference": reference,
                "external_id": None,
                "unapplied_amount": self.money(unapplied),
                "created_at": self.now,
                "created_by_id": self.user_id,
                "version": 1,
            }
        )
        self.next_payment += 1
        self.payments += 1

    def disputes_for(self, c: _Customer, invoices: list[_Item], open_items: list[_Item]) -> int:
        rng = self.rng
        as_of = self.as_of
        count = 0
        for item in open_items:
            if item.in_dispute or rng.random() >= DISPUTE_SHARE:
                continue
            covered = [item]
            if rng.random() < 0.15:
                other = rng.choice(open_items)
                if not other.in_dispute and other is not item:
                    covered.append(other)
            status = _weighted(rng, OPEN_ITEM_DISPUTES)
            low = max(item.issue, min(item.due - 5, as_of))
            opened = rng.randint(low, as_of)
            resolved = rng.randint(opened, as_of) if status in RESOLUTIONS else None
            parts = []
            for inv in covered:
                inv.in_dispute = True
                cents = inv.open if rng.random() < 0.65 else max(1, int(inv.open * rng.random()))
                parts.append((inv, cents))
                if status in OPEN_DISPUTE_STATUSES:
                    inv.disputed += cents
            self.dispute_row(
                c, _weighted(rng, REASONS), status, opened, resolved, RESOLUTIONS.get(status), parts
            )
            count += 1
        for item in invoices:  # settled disputes on paid invoices
            pay = item.pay
            if pay is None or pay - item.issue < 3 or rng.random() >= 0.003:
                continue
            opened = rng.randint(item.issue + 1, pay - 1)
            status = "resolved_us" if rng.random() < 0.7 else "withdrawn"
            cents = item.amount if rng.random() < 0.5 else max(1, int(item.amount * rng.random()))
            self.dispute_row(
                c,
                _weighted(rng, REASONS),
                status,
                opened,
                rng.randint(opened, pay),
                RESOLUTIONS[status],
                [(item, cents)],
            )
            count += 1
        return count

    def dispute_row(
        self,
        c: _Customer,
        reason: str,
        status: str,
        opened: int,
        resolved: int | None,
        resolution: str | None,
        parts: list[tuple[_Item, int]],
    ) -> None:
        dispute_id = self.next_dispute
        self.next_dispute += 1
        self.disputes += 1
        self.dispute_rows.append(
            {
                "id": dispute_id,
                "customer_id": c.id,
                "reason_code": reason,
                "owner_id": c.collector_id,
                "status": status,
                "opened_on": self.day(opened),
                "resolved_on": self.day(resolved) if resolved else None,
                "resolution": resolution,
                "amount": self.money(sum(cents for _, cents in parts)),
                "notes": None,
                "created_at": self.now,
                "created_by_id": self.user_id,
                "version": 1,
            }
        )
        self.item_rows.extend(
            {"dispute_id": dispute_id, "invoice_id": inv.id, "amount": self.money(cents)}
            for inv, cents in parts
        )

    def item_row(self, c: _Customer, item: _Item, kind: str, terms: Terms | None) -> dict[str, Any]:
        discount = terms.discount_percent if terms is not None else None
        return {
            "id": item.id,
            "customer_id": c.id,
            "kind": kind,
            "number": item.number,
            "issue_date": self.day(item.issue),
            "due_date": self.day(item.due),
            "amount": self.money(item.amount),
            "currency": c.currency,
            "external_id": None,
            "open_amount": self.money(item.open if kind == INVOICE else item.amount - item.applied),
            "disputed_amount": self.money(item.disputed),
            "discount_percent": discount,
            "discount_until": (
                self.day(item.issue + (terms.discount_days or 0))
                if terms is not None and discount
                else None
            ),
            "dunning_level": 0,
            "created_at": self.now,
            "created_by_id": self.user_id,
            "version": 1,
        }

    # -- writing ---------------------------------------------------------------------------------

    def pending(self) -> int:
        return len(self.invoice_rows)

    def flush(self) -> None:
        session = self.session
        for table, rows in (
            (Invoice.__table__, self.invoice_rows),
            (Payment.__table__, self.payment_rows),
            (Allocation.__table__, self.allocation_rows),
            (Dispute.__table__, self.dispute_rows),
            (DisputeItem.__table__, self.item_rows),
            (AuditEntry.__table__, self.audit_rows),
        ):
            bulk_insert(session, table, rows)
            rows.clear()


def _is_weekend(ordinal: int) -> bool:
    return ordinal % 7 in (6, 0)  # date.fromordinal(n).weekday() == (n - 1) % 7


def _working_day_before(ordinal: int) -> int:
    while _is_weekend(ordinal):
        ordinal -= 1
    return ordinal


def _working_day_after(ordinal: int) -> int:
    while _is_weekend(ordinal):
        ordinal += 1
    return ordinal


def _working_day_in(rng: random.Random, low: int, high: int) -> int:
    """A random day in low..high, moved back to a working day when that stays in the range."""
    day = rng.randint(low, high)
    working = _working_day_before(day)
    return working if working >= low else day


def _weighted_index(rng: random.Random, weights: tuple[float, ...]) -> int:
    return rng.choices(range(len(weights)), weights=weights)[0]


def _percent(cents: int, percent: Decimal | None) -> int:
    """percent % of an amount in cents, rounded half-even to the cent."""
    if not percent:
        return 0
    return int((Decimal(cents) * percent / 100).quantize(Decimal(1), ROUND_HALF_EVEN))


def _load_customers(session: Session) -> list[_Customer]:
    rows = session.execute(
        select(
            Customer.id,
            Customer.risk_class,
            Customer.payment_terms_code,
            Customer.currency,
            Customer.credit_limit,
            Customer.collector_id,
        ).order_by(Customer.id)
    )
    return [
        _Customer(
            cid,
            risk if risk in OPEN_TARGET else "C",
            terms,
            currency,
            int((limit or 0) * 100),
            collector,
        )
        for cid, risk, terms, currency, limit, collector in rows
    ]


def _plan(
    rng: random.Random, customers: list[_Customer], total: int, as_of: int
) -> tuple[list[int], array[int]]:
    """How many invoices each customer gets (skewed: bigger limits, more invoices; exactly
    `total` in all) and their issue days (sorted per customer, working days only)."""
    weights = [
        max(c.limit_cents / 100, 2_000.0) ** 0.6 * rng.lognormvariate(0, 1.1) for c in customers
    ]
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    short = total - sum(counts)
    by_remainder = sorted(range(len(counts)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    first = as_of - HISTORY_DAYS + 1
    issues = array("i")
    for n in counts:
        # Some customers joined during the two years; business grows a little over time.
        start = rng.randint(0, HISTORY_DAYS - 60) if rng.random() < 0.1 else 0
        span = HISTORY_DAYS - start
        days = []
        for _ in range(n):
            day = first + start + min(span - 1, int(span * rng.random() ** 0.95))
            if _is_weekend(day):
                day = _working_day_before(day)
                if day < first:
                    day = _working_day_after(first)
            days.append(min(day, as_of))
        days.sort()
        issues.extend(days)
    return counts, issues


def generate_ledger(
    db: Database,
    actor: Actor,
    invoices: int,
    seed: int = 1,
    as_of: date | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LedgerDemoResult:
    """Add about `invoices` demo invoices (exactly that many, plus credit notes) with their
    payments, allocations and disputes to the existing customers, all or nothing."""
    actor.require(Permission.LOAD_DEMO_DATA)
    if invoices < 0:
        raise ValueError("the number of invoices cannot be negative")
    as_of = as_of or date.today()
    with db.write() as session, _big_cache(session):
        customers = _load_customers(session)
        if invoices and not customers:
            raise O2CError("There are no customers to invoice; generate customers first.")
        builder = _Builder(session, actor, seed, as_of, load_terms(session))
        if invoices == 0:
            return _result(builder, as_of)
        counts, issues = _plan(
            random.Random(f"o2c-demo-plan-{seed}"), customers, invoices, builder.as_of
        )
        # Numbers follow the issue dates over all customers (stable: ties by customer order).
        first_number = _number_after(session, INVOICE, INVOICE_PREFIX) + 1
        rank = array("i", bytes(4 * invoices))
        for position, index in enumerate(sorted(range(invoices), key=issues.__getitem__)):
            rank[index] = position
        existing = int(session.scalar(select(func.count()).select_from(Invoice)) or 0)
        with _indexes_built_after(
            session,
            LEDGER_TABLES[:3],
            worth_it=invoices >= CHUNK and invoices >= existing,  # at least doubles the ledger
        ):
            offset = 0
            for customer, n in zip(customers, counts, strict=True):
                if n == 0:
                    continue
                numbers = [
                    f"{INVOICE_PREFIX}{first_number + rank[i]:07d}"
                    for i in range(offset, offset + n)
                ]
                builder.customer(customer, issues[offset : offset + n], numbers)
                offset += n
                if builder.pending() >= CHUNK:
                    if cancelled and cancelled():
                        raise Cancelled("Demo ledger cancelled; nothing was added.")
                    builder.flush()
                    if progress:
                        progress(offset, invoices)
            builder.flush()
            if cancelled and cancelled():
                raise Cancelled("Demo ledger cancelled; nothing was added.")
        for table in (Invoice, Payment, Allocation, Dispute):
            advance_sequence(session, table.__table__)
        refresh_exposure(session, None)
        if session.connection().dialect.name == "postgresql" and invoices >= ANALYZE_AFTER:
            # Fresh statistics, so the planner knows the tables are big from the first query on
            # (autovacuum would get there, a little later).
            session.execute(text(f"ANALYZE {', '.join(LEDGER_TABLES)}, customers"))
        if progress:
            progress(invoices, invoices)
        return _result(builder, as_of)


@contextmanager
def _indexes_built_after(
    session: Session, tables: tuple[str, ...], worth_it: bool
) -> Iterator[None]:
    """Drop the tables' plain (non-unique) indexes for the load and build them again at the end,
    which is several times faster than keeping them up to date row by row. DDL is part of the
    transaction on both engines, so a rollback brings the indexes back as they were. (On
    PostgreSQL, DROP INDEX locks the table until commit: readers of these tables wait for the load,
    which is why this is done only when the load at least doubles the ledger.)"""
    connection = session.connection()
    if not worth_it:
        yield
        return
    if connection.dialect.name == "sqlite":
        names = ", ".join(f"'{t}'" for t in tables)
        indexes = connection.exec_driver_sql(
            "SELECT '\"' || name || '\"', sql FROM sqlite_master WHERE type = 'index' "
            f"AND sql IS NOT NULL AND tbl_name IN ({names}) "
            "AND upper(sql) NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
        ).all()
    else:
        names = ", ".join(f"'{t}'::regclass" for t in tables)
        indexes = connection.exec_driver_sql(
            "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            f"WHERE x.indrelid IN ({names}) AND NOT x.indisunique AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            "ORDER BY 1"
        ).all()
    for name, _ in indexes:
        connection.exec_driver_sql(f"DROP INDEX {name}")
    yield
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_MEMORY}'")
    for _, sql in indexes:
        connection.exec_driver_sql(sql)


@contextmanager
def _big_cache(session: Session) -> Iterator[None]:
    """SQLite: a bigger page cache while loading, for the indexes (2 MB by default, so random
    inserts into a large index go to the file again and again); the connection's own afterwards."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _result(builder: _Builder, as_of: date) -> LedgerDemoResult:
    return LedgerDemoResult(
        builder.customers,
        builder.invoices,
        builder.credit_notes,
        builder.payments,
        builder.allocations,
        builder.open_invoices,
        builder.disputes,
        as_of,
    )


__all__ = ["CHUNK", "LedgerDemoResult", "generate_ledger"]
