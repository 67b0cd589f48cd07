"""Aging: open items by days past due, for the portfolio or one customer, as of any date.

What counts (domain.md, and the ledger's own rules)
- An allocation counts at D when it is dated on or before D and not reversed by D
  (`reversed_on` empty or after D).
- The open amount at D of an item issued on or before D is its amount less the allocations counting
  at D that reference it: `Allocation.invoice_id` for invoices, `Allocation.credit_note_id` for
  credit notes. Credit notes are open items with a negative sign, bucketed by their due date.
- AR(D) = the aging total = open invoices − open credit notes. Unapplied cash (payments dated on or
  before D less their allocations counting at D) is not part of AR nor of any bucket: it is
  reported beside them, and balance = total − unapplied cash.
- Days past due = D − due date; a bucket holds the items whose days past due lie between its
  bounds (both included). The buckets are a department setting (`aging_buckets`).

Where the figures come from (`Source`): two exact ways, proven equal for any date by the tests
- LEDGER: the dated ledger alone: the amounts of the items issued by D, less every allocation
  counting at D. This is the definition; its cost grows with the ledger up to D.
- MAINTAINED: the `open_amount` / `unapplied_amount` columns kept by the ledger services (only the
  ~15 % of items still open, through the partial index on open items), rolled back to D by the
  dated allocations: those that count now but not yet at D (dated after D) are added back, those
  that counted at D but were reversed since are taken off. They are read with their copies of
  the invoice's customer, currency and dates and of the payment's date (`Allocation`), so
  rolling back is a range of the allocations alone, never a join with every invoice and
  payment (only credit-note allocations, a few, join their note). Its cost grows with the activity
  since D: as of today it is the fast path (nothing to roll back), and it is what a recent past
  date (last month end, a quarter ago) uses too. It relies on the ledger services' rule that the
  maintained columns always equal amount − Σ allocations not reversed.
`source_for` picks the cheaper one (MAINTAINED from today on, and for past dates nearer today
than the first allocation; LEDGER for older dates, and for one customer's past, found through
its customer indexes); `source=` forces one (audits, tests).
Both are sums of signed rows (item amounts, allocation amounts) grouped in SQL with one CASE per
bucket on the due date, so buckets add up to the total by construction and nothing is rounded.

Currencies are never added together: every figure is grouped by currency (a portfolio in EUR and
GBP has a EUR aging and a GBP aging; a customer row is one customer in one currency).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from itertools import pairwise
from typing import Any, NamedTuple

from sqlalchemy import (
    Date,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.db.gc_pause import gc_paused
from o2c_desktop.db.hints import from_units, money_sum, money_units, selective, units_sum
from o2c_desktop.db.types import Money
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import Allocation, AppSetting, Customer, Invoice, Payment, User
from o2c_desktop.models.ledger import CREDIT_NOTE
from o2c_desktop.services import app_settings
from o2c_desktop.services.auth import Actor, Permission

ZERO = Decimal("0.00")  # what an empty sum of money shows
SETTING_KEY = "aging_buckets"
PAGE_SIZE = 200
MAX_BUCKETS = 20
# Bucket bounds stay within a century either way, so the dates derived from them always exist.
MAX_BOUND_DAYS = 36_500
_LABEL_LENGTH = 30


@contextmanager
def reading(db: Database) -> Iterator[Session]:
    """A read session for report queries, with PostgreSQL settings for its transaction only
    (SET LOCAL):
    - jit off: these queries cost enough to trigger JIT compilation, which took ~280 ms and saved
      less at 2,000,000 invoices;
    - random_page_cost 1.1 (SSD): rolling a date back joins the allocations since then to their
      items by primary key; at the default 4.0 PostgreSQL hashes the whole invoices table instead
      (measured at 2,000,000 invoices: 1.5-1.7 s against 0.8-1.2 s for a quarter's KPIs).
    work_mem is left alone: with 64 MB PostgreSQL hashed the 115,000 customer groups instead of
    sorting them, and the portfolio aging took 0.68 s of SQL against 0.59 s with the default
    (the customer rows now always group by sorting: `_group_by_sorting`)."""
    with db.read() as session:
        # The version is known once connected (a fresh process had not, and skipped these).
        version = session.connection().dialect.server_version_info or (0,)
        if db.kind == "postgresql" and version >= (11,):
            session.execute(text("SET LOCAL jit = off"))
            session.execute(text("SET LOCAL random_page_cost = 1.1"))
        yield session


# ---------------------------------------------------------------------------------------------
# Buckets (a department setting)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """Items whose days past due lie in min_days..max_days (both included; None = open)."""

    label: str
    min_days: int | None
    max_days: int | None

    def contains(self, days_past_due: int) -> bool:
        return (self.min_days is None or days_past_due >= self.min_days) and (
            self.max_days is None or days_past_due <= self.max_days
        )

    def due_range(self, as_of: date) -> tuple[date | None, date | None]:
        """The due dates of this bucket's items as of a date: (earliest, latest), None = open."""
        earliest = None if self.max_days is None else as_of - timedelta(days=self.max_days)
        latest = None if self.min_days is None else as_of - timedelta(days=self.min_days)
        return earliest, latest


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("current", None, 0),
    Bucket("1-30", 1, 30),
    Bucket("31-60", 31, 60),
    Bucket("61-90", 61, 90),
    Bucket("91+", 91, None),
)


def validate_buckets(raw: Iterable[Any]) -> tuple[Bucket, ...]:
    """Buckets from [label, min, max] triples (or `Bucket`s), refused unless they cover every
    day past due exactly once: the first open below, the last open above, each next one starting
    the day after the previous one ends, labels unique."""
    problems: list[FieldProblem] = []
    buckets: list[Bucket] = []
    items = list(raw) if not isinstance(raw, str | bytes) else None
    if items is None:
        raise ValidationFailed([FieldProblem(SETTING_KEY, "expected a list of buckets")])
    for number, item in enumerate(items, start=1):
        field = f"bucket {number}"
        if isinstance(item, Bucket):
            item = (item.label, item.min_days, item.max_days)
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 3:
            problems.append(FieldProblem(field, "expected [label, min days, max days]"))
            continue
        label, low, high = item
        if not isinstance(label, str) or not label.strip():
            problems.append(FieldProblem(field, "the label is required"))
            continue
        label = label.strip()
        if len(label) > _LABEL_LENGTH:
            problems.append(FieldProblem(field, f"label longer than {_LABEL_LENGTH} characters"))
        bad = [
            v
            for v in (low, high)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int))
        ]
        if bad:
            problems.append(FieldProblem(field, "days must be whole numbers or empty", value=label))
            continue
        if any(v is not None and abs(v) > MAX_BOUND_DAYS for v in (low, high)):
            problems.append(FieldProblem(field, f"days beyond ±{MAX_BOUND_DAYS}", value=label))
            continue
        if low is not None and high is not None and low > high:
            problems.append(FieldProblem(field, f"from {low} days is after to {high}", value=label))
        buckets.append(Bucket(label, low, high))
    if problems:
        raise ValidationFailed(problems)
    if not 2 <= len(buckets) <= MAX_BUCKETS:
        raise ValidationFailed(
            [FieldProblem(SETTING_KEY, f"between 2 and {MAX_BUCKETS} buckets are needed")]
        )
    labels = [b.label for b in buckets]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        problems.append(FieldProblem(SETTING_KEY, "the same label twice", value=label))
    first, last = buckets[0], buckets[-1]
    if first.min_days is not None:
        problems.append(
            FieldProblem("bucket 1", "the first bucket must be open below", value=first.label)
        )
    if last.max_days is not None:
        problems.append(
            FieldProblem(
                f"bucket {len(buckets)}", "the last bucket must be open above", value=last.label
            )
        )
    for number, (before, after) in enumerate(pairwise(buckets), start=2):
        if before.max_days is None or after.min_days is None:
            problems.append(
                FieldProblem(f"bucket {number}", "only the ends may be open", value=after.label)
            )
        elif after.min_days != before.max_days + 1:
            kind = "a gap" if after.min_days > before.max_days + 1 else "an overlap"
            problems.append(
                FieldProblem(
                    f"bucket {number}",
                    f"{kind} with {before.label!r}: it must start at {before.max_days + 1} days",
                    value=after.label,
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return tuple(buckets)


def _to_json(buckets: Sequence[Bucket]) -> str:
    return json.dumps([[b.label, b.min_days, b.max_days] for b in buckets])


def _read_buckets(session: Session) -> tuple[Bucket, ...]:
    return app_settings.read(
        session,
        SETTING_KEY,
        DEFAULT_BUCKETS,
        validate_buckets,
        "an administrator or credit manager can set the aging buckets again under Settings.",
    )


def get_buckets(db: Database) -> tuple[Bucket, ...]:
    """The department's aging buckets (the default five until someone changes them)."""
    with db.read() as session:
        return _read_buckets(session)


def set_buckets(db: Database, actor: Actor, buckets: Iterable[Any]) -> tuple[Bucket, ...]:
    """Change the aging buckets (validated, audited on app_settings)."""
    actor.require(Permission.EDIT_SETTINGS)
    checked = validate_buckets(buckets)
    value = _to_json(checked)
    with db.write() as session:
        stored = session.get(AppSetting, SETTING_KEY)
        old = stored.value if stored is not None else None
        if old == value:
            return checked
        app_settings.store(session, actor, SETTING_KEY, value, {"value": (old, value)})
    return checked


# ---------------------------------------------------------------------------------------------
# Signed rows: the SQL every figure is summed from
# ---------------------------------------------------------------------------------------------


class Source(Enum):
    """Where open amounts come from (see the module docstring)."""

    LEDGER = "ledger"
    MAINTAINED = "maintained"


def choose_source(as_of: date, today: date | None = None, first: date | None = None) -> Source:
    """Where to read a date's open amounts from: both sources give the same figures, so this only
    decides the cost. From today on, the maintained columns (the corrections are normally
    empty). In the past, rolling the maintained columns back costs the allocations made since D,
    and the dated ledger costs the ledger up to D: roll back unless D is nearer the first
    allocation (`first`) than today."""
    today = today or date.today()
    if as_of >= today or first is None:
        return Source.MAINTAINED
    return Source.LEDGER if (as_of - first) < (today - as_of) else Source.MAINTAINED


def source_for(session: Session, as_of: date, *, one_customer: bool = False) -> Source:
    """`choose_source` with the ledger's first allocation date (one index probe). One customer's
    past is read from the dated ledger: its items and payments are found through their customer
    indexes, whereas rolling back would read everyone's allocations since D."""
    today = date.today()
    if as_of >= today:
        return Source.MAINTAINED
    if one_customer:
        return Source.LEDGER
    return choose_source(as_of, today, session.scalar(select(func.min(Allocation.date))))


def counting_at(as_of: date) -> Any:
    """The allocations that count at a date: dated by then and not reversed by then."""
    return and_(
        Allocation.date <= as_of,
        or_(Allocation.reversed_on.is_(None), Allocation.reversed_on > as_of),
    )


def _is_open() -> Any:
    """`open_amount <> 0` with a literal zero: SQLite uses a partial index only when the query
    repeats its WHERE term exactly, and a bound parameter does not."""
    return Invoice.open_amount != literal_column("0")


def _has_unapplied() -> Any:
    return Payment.unapplied_amount != literal_column("0")


def _signed(kind: Any, amount: Any) -> Any:
    """An item's amount with its sign in AR: credit notes count negative."""
    return case((kind == CREDIT_NOTE, -amount), else_=amount)


def _null_money() -> Any:
    return cast(null(), Money())


@dataclass(frozen=True)
class _Scope:
    """Which items and payments a query reads (all, or one customer's)."""

    customer_id: int | None = None
    currency: str | None = None

    def items(self, stmt: Select[Any], item: Any = Invoice) -> Select[Any]:
        if self.customer_id is not None:
            stmt = stmt.where(item.customer_id == self.customer_id)
        if self.currency is not None:
            stmt = stmt.where(item.currency == self.currency)
        return stmt

    def payments(self, stmt: Select[Any], payment: Any = Payment) -> Select[Any]:
        if self.customer_id is not None:
            stmt = stmt.where(payment.customer_id == self.customer_id)
        if self.currency is not None:
            stmt = stmt.where(payment.currency == self.currency)
        return stmt


def _item_columns(item: Any, amount: Any) -> list[Any]:
    return [
        item.customer_id.label("customer_id"),
        item.currency.label("currency"),
        item.due_date.label("due_date"),
        amount.label("amount"),
        _null_money().label("cash"),
    ]


def _cash_columns(payment: Any, amount: Any) -> list[Any]:
    return [
        payment.customer_id.label("customer_id"),
        payment.currency.label("currency"),
        cast(null(), Date).label("due_date"),
        _null_money().label("amount"),
        amount.label("cash"),
    ]


_BOTH_LINKS = (Allocation.invoice_id, Allocation.credit_note_id)


def _allocation_rows(
    as_of: date,
    scope: _Scope,
    condition: Any,
    sign: int,
    *,
    cash: bool,
    links: Sequence[Any] = _BOTH_LINKS,
) -> list[Select[Any]]:
    """Allocations meeting `condition`, as signed rows on the items (both sides of a credit-note
    allocation, or the `links` given) or, with `cash`, on the payments they draw from. `sign`
    -1 takes them off."""
    rows: list[Select[Any]] = []
    if cash:
        payment = aliased(Payment, name="p")
        amount = Allocation.amount if sign > 0 else -Allocation.amount
        stmt = (
            select(*_cash_columns(payment, amount))
            .select_from(Allocation)
            .join(payment, payment.id == Allocation.payment_id)
            .where(condition, payment.date <= as_of)
        )
        return [scope.payments(stmt, payment)]
    for link in links:
        item = aliased(Invoice, name="i")
        # Taking an allocation off an invoice raises AR; off a credit note, lowers it.
        amount = case(
            (item.kind == CREDIT_NOTE, -Allocation.amount if sign > 0 else Allocation.amount),
            else_=Allocation.amount if sign > 0 else -Allocation.amount,
        )
        stmt = (
            select(*_item_columns(item, amount))
            .select_from(Allocation)
            .join(item, item.id == link)
            .where(condition, item.issue_date <= as_of)
        )
        if link is Allocation.credit_note_id:
            stmt = stmt.where(selective(Allocation.credit_note_id.is_not(None)))
        rows.append(scope.items(stmt, item))
    return rows


def _copied_rows(
    as_of: date, scope: _Scope, condition: Any, sign: int, *, cash: bool
) -> list[Select[Any]]:
    """`_allocation_rows` for rolling the maintained columns back, from the allocations' copies
    of their invoice and payment (`Allocation` docstring): one range of `allocations` gives each
    allocation's part of its invoice (`amount`, on the invoice's due date) and, with `cash`, of
    its payment's unapplied cash (`cash`), where joining them read both whole tables. Only the
    few credit-note allocations join their note. `sign` -1 takes them off."""
    amount = Allocation.amount if sign > 0 else -Allocation.amount
    on_invoice = Allocation.invoice_issue_date <= as_of
    from_payment = Allocation.payment_date <= as_of
    copied = select(
        Allocation.customer_id.label("customer_id"),
        Allocation.currency.label("currency"),
        Allocation.invoice_due_date.label("due_date"),
        (case((on_invoice, amount)) if cash else amount).label("amount"),
        (case((from_payment, amount)) if cash else _null_money()).label("cash"),
    ).where(condition, or_(on_invoice, from_payment) if cash else on_invoice)
    notes = _allocation_rows(
        as_of, scope, condition, sign, cash=False, links=(Allocation.credit_note_id,)
    )
    return [scope.items(copied, Allocation), *notes]


@dataclass(frozen=True)
class Moves:
    """What separates the maintained columns from a date D: the allocations counted now but not
    yet at D (`later`: dated after D, found through ix_allocations_date; None when there are
    none) and those counted at D but reversed since (`undone`: rare, looked up once by id before
    the report's query; None when there are none). As of today both are normally None, and the
    maintained columns are D's figures as they stand."""

    later: Any | None
    undone: Any | None

    @property
    def conditions(self) -> list[Any]:
        return [c for c in (self.later, self.undone) if c is not None]


_MAX_UNDONE_IDS = 500


def moves_since(session: Session, as_of: date) -> Moves:
    later = and_(Allocation.date > as_of, Allocation.reversed_on.is_(None))
    if session.scalar(select(Allocation.id).where(later).limit(1)) is None:
        later = None
    undone_at = and_(Allocation.reversed_on > as_of, Allocation.date <= as_of)
    ids = list(session.scalars(select(Allocation.id).where(undone_at).limit(_MAX_UNDONE_IDS + 1)))
    if not ids:
        return Moves(later, None)
    return Moves(later, Allocation.id.in_(ids) if len(ids) <= _MAX_UNDONE_IDS else undone_at)


def signed_rows(
    session: Session,
    as_of: date,
    source: Source,
    scope: _Scope | None = None,
    *,
    cash: bool = True,
) -> Any:
    """A subquery of rows (customer_id, currency, due_date, amount, cash) whose sums, grouped by
    anything, are the open items (signed, with their due dates) and the unapplied cash at a date."""
    scope = scope or _Scope()
    parts: list[Select[Any]] = []
    if source is Source.LEDGER:
        parts.append(
            scope.items(
                select(*_item_columns(Invoice, _signed(Invoice.kind, Invoice.amount))).where(
                    Invoice.issue_date <= as_of
                )
            )
        )
        parts += _allocation_rows(as_of, scope, counting_at(as_of), -1, cash=False)
        if cash:
            parts.append(
                scope.payments(
                    select(*_cash_columns(Payment, Payment.amount)).where(Payment.date <= as_of)
                )
            )
            parts += _allocation_rows(as_of, scope, counting_at(as_of), -1, cash=True)
        return union_all(*parts).subquery("signed_rows")
    moves = moves_since(session, as_of)
    parts.append(
        scope.items(
            select(*_item_columns(Invoice, _signed(Invoice.kind, Invoice.open_amount))).where(
                _is_open(), Invoice.issue_date <= as_of
            )
        )
    )
    # Counted in the maintained columns but not yet at D: add back. Counted at D but reversed
    # since: take off.
    if moves.later is not None:
        parts += _copied_rows(as_of, scope, moves.later, +1, cash=cash)
    if moves.undone is not None:
        parts += _copied_rows(as_of, scope, moves.undone, -1, cash=cash)
    if cash:
        parts.append(
            scope.payments(
                select(*_cash_columns(Payment, Payment.unapplied_amount)).where(
                    _has_unapplied(), Payment.date <= as_of
                )
            )
        )
    return union_all(*parts).subquery("signed_rows")


def dated_ledger_rows(latest: date) -> Any:
    """LEDGER rows for several dates at once: (currency, issue_date, due_date, alloc_date,
    reversed_on, amount): item amounts (alloc_date NULL) and the allocations taking them down.
    Summed with `at_date(rows, D)` they give the same AR as `signed_rows(D, LEDGER)`, for any
    D up to `latest`, in one pass over the ledger."""
    item_part = select(
        Invoice.currency.label("currency"),
        Invoice.issue_date.label("issue_date"),
        Invoice.due_date.label("due_date"),
        cast(null(), Date).label("alloc_date"),
        cast(null(), Date).label("reversed_on"),
        _signed(Invoice.kind, Invoice.amount).label("amount"),
    ).where(Invoice.issue_date <= latest)
    parts: list[Select[Any]] = [item_part]
    for link in (Allocation.invoice_id, Allocation.credit_note_id):
        item = aliased(Invoice, name="i")
        stmt = (
            select(
                item.currency,
                item.issue_date,
                item.due_date,
                Allocation.date,
                Allocation.reversed_on,
                case((item.kind == CREDIT_NOTE, Allocation.amount), else_=-Allocation.amount),
            )
            .select_from(Allocation)
            .join(item, item.id == link)
            .where(Allocation.date <= latest, item.issue_date <= latest)
        )
        if link is Allocation.credit_note_id:
            stmt = stmt.where(selective(Allocation.credit_note_id.is_not(None)))
        parts.append(stmt)
    return union_all(*parts).subquery("dated_rows")


def rollback_rows(session: Session, earliest: date) -> Any:
    """MAINTAINED rows for several dates from `earliest` on: (currency, issue_date, due_date,
    alloc_date, reversed_on, amount): the open items as maintained (alloc_date NULL) and the
    allocations that may separate them from a date on or after `earliest`, signed as what adding
    them back does to AR. `rolled_back(rows, D)` is each row's part of AR(D)."""
    parts: list[Select[Any]] = [
        select(
            Invoice.currency.label("currency"),
            Invoice.issue_date.label("issue_date"),
            Invoice.due_date.label("due_date"),
            cast(null(), Date).label("alloc_date"),
            cast(null(), Date).label("reversed_on"),
            _signed(Invoice.kind, Invoice.open_amount).label("amount"),
        ).where(_is_open())
    ]
    later = and_(Allocation.date > earliest, Allocation.reversed_on.is_(None))
    undone_at = Allocation.reversed_on > earliest
    ids = list(session.scalars(select(Allocation.id).where(undone_at).limit(_MAX_UNDONE_IDS + 1)))
    if ids:
        undone = Allocation.id.in_(ids) if len(ids) <= _MAX_UNDONE_IDS else undone_at
        later = or_(later, undone)
    # The invoice side from the allocation's copies of its invoice; the credit-note side (few
    # rows) joined to its note.
    parts.append(
        select(
            Allocation.currency,
            Allocation.invoice_issue_date,
            Allocation.invoice_due_date,
            Allocation.date,
            Allocation.reversed_on,
            Allocation.amount,
        ).where(later)
    )
    note = aliased(Invoice, name="i")
    parts.append(
        select(
            note.currency,
            note.issue_date,
            note.due_date,
            Allocation.date,
            Allocation.reversed_on,
            -Allocation.amount,
        )
        .select_from(Allocation)
        .join(note, note.id == Allocation.credit_note_id)
        .where(later, selective(Allocation.credit_note_id.is_not(None)))
    )
    return union_all(*parts).subquery("rollback_rows")


def rolled_back(rows: Any, as_of: date) -> Any:
    """A `rollback_rows` row's part of AR at a date (NULL when it has none)."""
    return case(
        (rows.c.issue_date > as_of, None),
        (rows.c.alloc_date.is_(None), rows.c.amount),
        (and_(rows.c.alloc_date > as_of, rows.c.reversed_on.is_(None)), rows.c.amount),
        (and_(rows.c.alloc_date <= as_of, rows.c.reversed_on > as_of), -rows.c.amount),
        else_=None,
    )


def at_date(rows: Any, as_of: date) -> Any:
    """The condition under which a `dated_ledger_rows` row counts at a date."""
    return and_(
        rows.c.issue_date <= as_of,
        or_(
            rows.c.alloc_date.is_(None),
            and_(
                rows.c.alloc_date <= as_of,
                or_(rows.c.reversed_on.is_(None), rows.c.reversed_on > as_of),
            ),
        ),
    )


def _in_bucket(due_date: Any, bucket: Bucket, as_of: date) -> Any:
    earliest, latest = bucket.due_range(as_of)
    conditions = []
    if earliest is not None:
        conditions.append(due_date >= earliest)
    if latest is not None:
        conditions.append(due_date <= latest)
    return and_(*conditions) if conditions else literal(True)


def bucket_sums(
    rows: Any, buckets: Sequence[Bucket], as_of: date, *, units: bool = False
) -> list[Any]:
    """One SUM per bucket, then the total and the unapplied cash. With `units`, `rows` comes
    from `_in_units` and the sums are integers of 1/10,000 units (see `from_units`)."""
    total = units_sum if units else money_sum
    sums = [
        total(case((_in_bucket(rows.c.due_date, b, as_of), rows.c.amount))).label(f"b{k}")
        for k, b in enumerate(buckets)
    ]
    return [*sums, total(rows.c.amount).label("total"), total(rows.c.cash).label("cash")]


def _in_units(session: Session, rows: Any) -> Any:
    """`signed_rows` with the amounts as integers of 1/10,000 units, scaled once per row (not
    once per sum): summed with `units_sum`, they reach Python as plain integers. SQLite stores
    money so already: its rows are used as they are.

    The OFFSET 0 keeps PostgreSQL from pulling the subquery up into the grouping, where it
    repeated the NUMERIC scaling inside each of the seven sums (measured at 2,000,000 invoices:
    0.49 s against 0.59 s for today's portfolio)."""
    if session.get_bind().dialect.name != "postgresql":
        return rows
    return (
        select(
            rows.c.customer_id,
            rows.c.currency,
            rows.c.due_date,
            money_units(rows.c.amount).label("amount"),
            money_units(rows.c.cash).label("cash"),
        )
        .offset(0)
        .subquery("unit_rows")
    )


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgingFigures:
    """One currency's aging for the portfolio: the buckets (in order), AR and unapplied cash."""

    currency: str
    buckets: tuple[Decimal, ...]
    total: Decimal
    unapplied_cash: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total - self.unapplied_cash


class CustomerAging(NamedTuple):
    """One customer's aging in one currency. A named tuple, not a frozen dataclass: a portfolio
    has 115,000 of them, and a frozen dataclass's __init__ (one object.__setattr__ per field)
    took 0.35 s of the report where a tuple takes a tenth of it."""

    customer_id: int
    number: str
    name: str
    collector: str | None
    currency: str
    buckets: tuple[Decimal, ...]
    total: Decimal
    unapplied_cash: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total - self.unapplied_cash


@dataclass(frozen=True)
class AgingReport:
    """The aging as of a date. `currencies` holds the portfolio per currency (sorted by code);
    `customers` one row per customer and currency with anything open, by customer number."""

    as_of: date
    buckets: tuple[Bucket, ...]
    currencies: tuple[AgingFigures, ...]
    customers: tuple[CustomerAging, ...]
    source: Source

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(b.label for b in self.buckets)

    def for_currency(self, currency: str) -> AgingFigures:
        for figures in self.currencies:
            if figures.currency == currency:
                return figures
        return AgingFigures(currency, tuple(ZERO for _ in self.buckets), ZERO, ZERO)


def _figures(values: Sequence[Any]) -> tuple[tuple[Decimal, ...], Decimal, Decimal]:
    amounts = [ZERO if v is None else v for v in values]
    return tuple(amounts[:-2]), amounts[-2], amounts[-1]


def _nonzero(sums: Sequence[Any]) -> Any:
    """HAVING: some bucket or the unapplied cash is not zero."""
    return or_(*(s != 0 for s in (*sums[:-2], sums[-1])))


CUSTOMER_ORDERS = ("number", "name", "collector", "total", "unapplied_cash", "balance", "overdue")


def _customer_statement(
    session: Session,
    as_of: date,
    buckets: Sequence[Bucket],
    source: Source,
    scope: _Scope,
    order: str = "number",
    descending: bool = False,
    counted: bool = False,
) -> Select[Any]:
    """One row per customer and currency with anything open, in SQL: the signed rows grouped,
    then joined to the customer and its collector, in the order asked for."""
    rows = _in_units(session, signed_rows(session, as_of, source, scope))
    sums = bucket_sums(rows, buckets, as_of, units=True)
    grouped = (
        select(rows.c.customer_id, rows.c.currency, *sums)
        .group_by(rows.c.customer_id, rows.c.currency)
        .having(_nonzero([s.element for s in sums]))
        .subquery("grouped")
    )
    collector = aliased(User, name="collector")
    labels = [b.label for b in buckets]
    columns = {
        "number": Customer.number,
        "name": Customer.name,
        "collector": collector.display_name,
        "total": func.coalesce(grouped.c.total, 0),
        "unapplied_cash": func.coalesce(grouped.c.cash, 0),
        "balance": func.coalesce(grouped.c.total, 0) - func.coalesce(grouped.c.cash, 0),
        # Overdue: every bucket but the first (the first ends at 0 days or later).
        "overdue": func.coalesce(grouped.c.total, 0) - func.coalesce(grouped.c.b0, 0),
        **{label: func.coalesce(grouped.c[f"b{k}"], 0) for k, label in enumerate(labels)},
    }
    if order not in columns:
        raise ValueError(f"cannot order the aging by {order!r}")
    primary = columns[order].desc() if descending else columns[order].asc()
    if order == "collector":
        primary = primary.nulls_last()
    return (
        select(
            grouped.c.customer_id,
            Customer.number,
            Customer.name,
            collector.display_name,
            grouped.c.currency,
            # Integer units: `_to_rows` converts the non-empty ones itself (most buckets of most
            # customers are empty, and 115,000 rows × 7 NUMERIC conversions cost a second).
            *(
                func.coalesce(column, 0)
                for column in (
                    *(grouped.c[f"b{k}"] for k in range(len(buckets))),
                    grouped.c.total,
                    grouped.c.cash,
                )
            ),
            *([func.count().over().label("row_count")] if counted else []),
        )
        .join(Customer, Customer.id == grouped.c.customer_id)
        .outerjoin(collector, collector.id == Customer.collector_id)
        .order_by(primary, Customer.number, grouped.c.currency)
    )


_new_tuple = tuple.__new__


def _group_by_sorting(session: Session) -> None:
    """PostgreSQL: group the customer rows by sorting, not hashing, for the rest of the read
    transaction (SET LOCAL). The planner hashes the 115,000 customer groups in a few batches
    spilled to disk when its estimate of the groups is low (a third of them here); sorting the
    rows by customer instead also hands them to the customer join in its order. Measured at
    2,000,000 invoices: the customer statement's SQL 0.61-1.0 s hashed, 0.53-0.60 s sorted
    (today), 0.87-1.2 s against 0.75-0.97 s 90 days back. The portfolio per currency (a handful
    of groups) keeps hashing: it runs in its own transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_hashagg = off"))


def _to_rows(
    result: Iterable[Any],
) -> tuple[list[CustomerAging], tuple[AgingFigures, ...]]:
    """Rows of `_customer_statement` as values, and the portfolio per currency as the exact sum
    of those rows (so they always tie). Amounts arrive as integer units (`units_sum`, 0 when
    empty): the portfolio adds integers a column at a time in C, and only the non-zero amounts
    become `Decimal` (115,000 rows for a whole portfolio, so this loop is kept plain)."""
    rows: list[CustomerAging] = []
    append = rows.append
    units: dict[str, list[Sequence[int]]] = {}
    for row in result:
        currency = row[4]
        values = row[5:]
        units.setdefault(currency, []).append(values)
        amounts = [from_units(v) if v else ZERO for v in values]
        # tuple.__new__ in C, not the named tuple's generated __new__ (a Python call per row)
        append(
            _new_tuple(
                CustomerAging,
                (
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    currency,
                    tuple(amounts[:-2]),
                    amounts[-2],
                    amounts[-1],
                ),
            )
        )
    portfolio = []
    for currency, values in sorted(units.items()):
        sums = [from_units(sum(column)) for column in zip(*values, strict=True)]
        portfolio.append(AgingFigures(currency, tuple(sums[:-2]), sums[-2], sums[-1]))
    return rows, tuple(portfolio)


def _customer_rows(
    session: Session, as_of: date, buckets: Sequence[Bucket], source: Source, scope: _Scope
) -> tuple[list[CustomerAging], tuple[AgingFigures, ...]]:
    """The customer rows and the portfolio they add up to (see `_to_rows`)."""
    stmt = _customer_statement(session, as_of, buckets, source, scope)
    _group_by_sorting(session)
    # Core execution: the ORM's per-row machinery is of no use for plain columns.
    # fetchall: one call to the driver, not one per row (115,000 rows: 0.9 s row by row).
    with gc_paused():
        return _to_rows(session.connection().execute(stmt).fetchall())


def _currency_rows(
    session: Session, as_of: date, buckets: Sequence[Bucket], source: Source, scope: _Scope
) -> list[AgingFigures]:
    rows = signed_rows(session, as_of, source, scope)
    sums = bucket_sums(rows, buckets, as_of)
    stmt = (
        select(rows.c.currency, *sums)
        .group_by(rows.c.currency)
        .having(_nonzero([s.element for s in sums]))
        .order_by(rows.c.currency)
    )
    result = []
    for currency, *values in session.execute(stmt):
        parts, total, cash = _figures(values)
        result.append(AgingFigures(currency, parts, total, cash))
    return result


def _resolve(
    session: Session,
    as_of: date,
    buckets: Iterable[Any] | None,
    source: Source | None,
    one_customer: bool = False,
) -> tuple[tuple[Bucket, ...], Source]:
    checked = _read_buckets(session) if buckets is None else validate_buckets(buckets)
    return checked, source or source_for(session, as_of, one_customer=one_customer)


def aging(
    db: Database,
    actor: Actor,
    as_of: date,
    buckets: Iterable[Any] | None = None,
    *,
    include_customers: bool = True,
    source: Source | None = None,
) -> AgingReport:
    """The portfolio aging as of a date, per currency, with one row per customer (unless
    `include_customers` is False: the dashboard's chart needs only the portfolio figures).

    `buckets` overrides the department's setting for this report; `source` forces where open
    amounts come from (default: `source_for`)."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        checked, chosen = _resolve(session, as_of, buckets, source)
        if include_customers:
            rows, currencies = _customer_rows(session, as_of, checked, chosen, _Scope())
        else:
            rows = []
            currencies = tuple(_currency_rows(session, as_of, checked, chosen, _Scope()))
        return AgingReport(as_of, checked, currencies, tuple(rows), chosen)


def customer_aging(
    db: Database,
    actor: Actor,
    customer_id: int,
    as_of: date,
    buckets: Iterable[Any] | None = None,
    *,
    source: Source | None = None,
) -> AgingReport:
    """One customer's aging as of a date (its `customers` rows are its currencies)."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"Customer {customer_id} does not exist.")
        checked, chosen = _resolve(session, as_of, buckets, source, one_customer=True)
        rows, currencies = _customer_rows(session, as_of, checked, chosen, _Scope(customer_id))
        return AgingReport(as_of, checked, currencies, tuple(rows), chosen)


@dataclass(frozen=True)
class CustomerPage:
    """One page of the aging's customer rows and how many rows there are in all."""

    as_of: date
    buckets: tuple[Bucket, ...]
    rows: tuple[CustomerAging, ...]
    count: int


def customer_page(
    db: Database,
    actor: Actor,
    as_of: date,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    *,
    order: str = "number",
    descending: bool = False,
    buckets: Iterable[Any] | None = None,
    source: Source | None = None,
) -> CustomerPage:
    """A page of customer rows for a screen, sorted in SQL by a column of `CUSTOMER_ORDERS` or a
    bucket label (ties by customer number): the list never loads every customer."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        checked, chosen = _resolve(session, as_of, buckets, source)
        stmt = _customer_statement(
            session, as_of, checked, chosen, _Scope(), order, descending, counted=True
        )
        _group_by_sorting(session)
        result = session.execute(stmt.offset(offset).limit(limit)).all()
        if result:
            count = result[0].row_count
        else:  # past the end (or nothing at all): count without the page
            count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows, _ = _to_rows(tuple(r)[:-1] for r in result)
        return CustomerPage(as_of, checked, tuple(rows), int(count))


# ---------------------------------------------------------------------------------------------
# Drill-down: the items behind a bucket
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgingItem:
    """An item open at the report date. Amounts are positive as stored; `signed_open` is what
    the item adds to its bucket (negative for a credit note)."""

    invoice_id: int
    customer_id: int
    customer_number: str
    customer_name: str
    kind: str
    number: str
    issue_date: date
    due_date: date
    days_past_due: int
    currency: str
    amount: Decimal
    open_amount: Decimal

    @property
    def signed_open(self) -> Decimal:
        return -self.open_amount if self.kind == CREDIT_NOTE else self.open_amount


@dataclass(frozen=True)
class BucketItems:
    """One page of a bucket's items, with the count and the totals (per currency) of the whole
    bucket: the totals are the bucket's figures in the aging, to the cent."""

    as_of: date
    bucket: Bucket
    items: tuple[AgingItem, ...]
    count: int
    totals: dict[str, Decimal]


def _open_expression(as_of: date, source: Source, moves: Moves | None) -> Any:
    """An item's open amount at a date, as a correlated expression over its allocations."""

    def settled(condition: Any) -> Any:
        # The condition sits in a CASE, not in WHERE: only the link drives the lookup.
        by_link = [
            select(func.coalesce(func.sum(case((condition, Allocation.amount))), 0))
            .where(selective(link == Invoice.id))
            .scalar_subquery()
            for link in (Allocation.invoice_id, Allocation.credit_note_id)
        ]
        return by_link[0] + by_link[1]

    if source is Source.LEDGER or moves is None:
        return Invoice.amount - settled(counting_at(as_of))
    expression = Invoice.open_amount
    if moves.later is not None:
        expression = expression + settled(moves.later)
    if moves.undone is not None:
        expression = expression - settled(moves.undone)
    return expression


def open_at_expression(as_of: date) -> Any:
    """The current `Invoice` row's open amount at a date, from its dated allocations (both
    links: allocations to an invoice, uses of a credit note), as correlated SQL."""
    return _open_expression(as_of, Source.LEDGER, None)


def _candidate_ids(moves: Moves) -> Any:
    """MAINTAINED: the items that can be open at D without reading every item: open now, or
    touched by an allocation dated after D or reversed after D."""
    touched = [
        select(link.label("id")).where(selective(link.is_not(None)), or_(*moves.conditions))
        for link in (Allocation.invoice_id, Allocation.credit_note_id)
    ]
    return union(select(Invoice.id.label("id")).where(_is_open()), *touched)


def bucket_items(
    db: Database,
    actor: Actor,
    as_of: date,
    bucket_label: str,
    customer_id: int | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    *,
    currency: str | None = None,
    buckets: Iterable[Any] | None = None,
    source: Source | None = None,
) -> BucketItems:
    """The items open at a date in one bucket (of the portfolio, or of one customer), oldest due
    date first, one page at a time."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        checked, chosen = _resolve(
            session, as_of, buckets, source, one_customer=customer_id is not None
        )
        bucket = next((b for b in checked if b.label == bucket_label), None)
        if bucket is None:
            labels = ", ".join(b.label for b in checked)
            raise NotFound(f"No aging bucket {bucket_label!r} (the buckets are {labels}).")
        scope = _Scope(customer_id, currency)
        moves = moves_since(session, as_of) if chosen is Source.MAINTAINED else None
        open_amount = _open_expression(as_of, chosen, moves).label("open_amount")
        inner = scope.items(
            select(
                Invoice.id,
                Invoice.customer_id,
                Invoice.kind,
                Invoice.number,
                Invoice.issue_date,
                Invoice.due_date,
                Invoice.currency,
                Invoice.amount,
                open_amount,
            ).where(Invoice.issue_date <= as_of, _in_bucket(Invoice.due_date, bucket, as_of))
        )
        if moves is not None and not moves.conditions:
            # Nothing to roll back: the open items are those open now (the partial index).
            inner = inner.where(_is_open())
        elif moves is not None and bucket.max_days is None and customer_id is None:
            # The oldest bucket reaches back to the first invoice: rather than look at every item
            # ever due that long ago, start from those that can be open at D.
            candidates = _candidate_ids(moves).subquery("candidates")
            inner = inner.join(candidates, candidates.c.id == Invoice.id)
        items = inner.subquery("items")
        stmt = (
            select(
                items,
                Customer.number.label("customer_number"),
                Customer.name.label("customer_name"),
            )
            .join(Customer, Customer.id == items.c.customer_id)
            .where(items.c.open_amount != 0)
            .order_by(items.c.due_date, items.c.kind, items.c.number, items.c.id)
            .offset(offset)
            .limit(limit)
        )
        page = tuple(
            AgingItem(
                r.id,
                r.customer_id,
                r.customer_number,
                r.customer_name,
                r.kind,
                r.number,
                r.issue_date,
                r.due_date,
                (as_of - r.due_date).days,
                r.currency,
                r.amount,
                _money(r.open_amount),
            )
            for r in session.execute(stmt)
        )
        count = session.scalar(
            select(func.count()).select_from(items).where(items.c.open_amount != 0)
        )
        rows = signed_rows(session, as_of, chosen, scope, cash=False)
        totals_stmt = (
            select(rows.c.currency, func.sum(rows.c.amount))
            .where(_in_bucket(rows.c.due_date, bucket, as_of))
            .group_by(rows.c.currency)
            .order_by(rows.c.currency)
        )
        # Only the currencies with something in the bucket (LEDGER rows of settled items sum
        # to zero; MAINTAINED has no rows for them).
        totals = {cur: total for cur, total in session.execute(totals_stmt) if total}
        return BucketItems(as_of, bucket, page, int(count or 0), totals)
