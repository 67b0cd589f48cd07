"""The call list: which customers a collector (or the team) should call on a day, and in what
order, each with its score and the reasons it is on the list.

Who is on it (each is enough)
- an overdue balance: invoices due before the day with something open (disputed parts are
  left out of the overdue figure, domain.md; a customer whose overdue is all disputed stays on
  the list, scored down by the strategy's `fully_disputed_factor`);
- a promise to pay falling due (due today or within its grace days), or broken within the
  strategy's `broken_promise_days` with nobody reached since;
- a follow-up due: a call asked for one on or before the day, and no later call reached
  someone or asked for its own (a "no answer" leaves it standing); one not done within
  FOLLOW_UP_DAYS (30) of its day lapses, and its reason says when;
- disputes waiting on us (open or in review);
- orders held for credit (`held_orders`).
The strategy (services.collection_strategy) scores each one; the list is ordered by score, then
overdue amount, then customer number. Everything else about a customer (risk class, days since
contact, credit limit) only adds points: it never puts a customer on the list by itself.

Figures
- What is open is what is open now (the ledger's maintained amounts, read through the partial
  index on open items); the day decides what is overdue and which promises and follow-ups are
  due. The list is a work list for today (or a day ahead), not a report of a past date.
- Amounts are in the customer's currency (as exposure is): the app has no exchange rates.
  Overdue items in another currency are named in the reasons but not scored.
- Unapplied cash and open credit notes (domain.md: they reduce the balance) are netted against
  the overdue amount of their currency, which is what is scored and shown, and named in the
  reasons ("unapplied cash EUR 1,000.00 to apply"). A customer they cover entirely stays on the
  list with APPLY_CASH_POINTS (and any task's points) and the next action "Apply cash": until
  it is applied the items stay overdue in the aging and in dunning, so it is work for someone,
  but after everyone who owes money.
- Days past due are those of the oldest overdue item with an undisputed part (credits not yet
  applied settle no item in particular: they leave the ages as they are).
- Days since contact: the calls read are those of the top days-since-contact band (and of the
  broken promises still shown): an older contact scores that band anyway. So a customer with no
  contact in it reads "no contact for over 60 days" (default bands); "never reached" (and "Call:
  first reminder") is said of a customer entered in the app since the window began, whose
  calls all lie in it or are looked up.

How it scales (200,000 customers, 300,000 open items, 50 collectors, 1,250,000 calls a year):
a handful of grouped queries, each restricted to the collector's customers in SQL
(`customer_id IN (their customers)`) and reading indexes made for them: overdue sums per
customer from the covering partial index of open items, disputed parts from the partial index
of disputed items, unapplied cash and credit notes from their partial indexes, disputes by
customer, promises through services.promises, and only the calls of the last weeks: the last
contacts of the contact window, the follow-ups of the last FOLLOW_UP_DAYS, so the years of
calls behind them cost nothing. The calls, and the promises, disputes and credits, are read in
two more sessions on two more threads while the overdue sums are read. Money stays in integer
units until it is shown; scoring and the reasons are plain Python over the rows that come back,
with the cyclic garbage collector paused. Measured at that size with a year of calls (and the
100,000 promises they made) on this project's 2-core machine, PostgreSQL: a collector's list in
about 0.25 s, the whole team's (80,000 customers) in about 1.6 to 2.0 s (reading every call
ever logged, it was 2.5 to 2.8 s after one year, and growing).

Claims (services.claims): `next_customer` walks the list in order and claims the first customer
nobody else holds, so two collectors working from the same list never get the same customer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.db.gc_pause import gc_paused
from o2c_desktop.db.hints import common, from_units, money_units, units_sum
from o2c_desktop.db.types import MONEY_SCALE
from o2c_desktop.errors import NotFound
from o2c_desktop.models import Call, Customer, Dispute, Invoice, Order, Payment, Promise, User
from o2c_desktop.models.collections import CONTACT_OUTCOMES
from o2c_desktop.models.credit import ORDER_HELD
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE, OPEN_DISPUTE_STATUSES
from o2c_desktop.money import money_text
from o2c_desktop.services import claims, promises
from o2c_desktop.services.aging import reading
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.collection_strategy import StrategyRules, active_strategy_in_session
from o2c_desktop.services.day_range import check_days
from o2c_desktop.services.exposure import live_orders_condition
from o2c_desktop.services.promises import PromiseState
from o2c_desktop.services.users import user_names

ZERO = Decimal("0.00")  # what an empty sum of money shows
_CHUNK = 1000
# A follow-up not done within this many days of its day lapses: the list stops reading it.
FOLLOW_UP_DAYS = 30
# The points of a customer whose overdue items unapplied cash or credit notes cover: applying
# them is a few minutes' work, worth doing but after anyone who owes money.
APPLY_CASH_POINTS = 5
_ZERO_SQL = literal_column("0")  # a literal: SQLite uses the partial indexes only for it
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class CallListRow:
    """One customer on the list: its score, why it is there, and what to do."""

    customer_id: int
    number: str
    name: str
    collector_id: int | None
    collector: str | None
    currency: str
    score: int
    reasons: tuple[str, ...]
    overdue: Decimal  # undisputed overdue, in `currency`
    oldest_days_past_due: int
    next_action: str
    claimed_by: str | None  # who holds a running claim on it (anyone, the actor too)


@dataclass(slots=True)
class _Facts:
    """Everything the score and the reasons of one customer are made of. Money is kept in
    integers of 1/10,000 units (as SQL sums it) until a figure is shown: tens of thousands of
    customers, most of whose amounts are only compared."""

    customer_id: int
    number: str
    name: str
    collector_id: int | None
    currency: str
    risk_class: str | None
    over_limit: int | None  # units of exposure above a non-zero credit limit; None: within
    # Entered in the app since the calls read for the last contact begin (entered_since()).
    entered_recently: bool
    overdue: int = 0  # undisputed overdue, customer's currency, before credits
    gross: int = 0  # overdue with the disputed parts, customer's currency
    bands: list[int] | None = None  # undisputed overdue reaching each dpd band
    oldest_due: date | None = None  # oldest overdue item with an undisputed part (any currency)
    oldest_due_any: date | None = None  # oldest overdue item, disputed or not
    other_currencies: dict[str, int] | None = None  # undisputed overdue in other currencies
    # {currency: (unapplied cash, open credit notes)} in the currencies something is overdue in
    credits: dict[str, tuple[int, int]] | None = None
    disputes_waiting: int = 0
    last_contact: date | None = None
    last_call: date | None = None
    follow_up_on: date | None = None
    follow_up_untried: bool = False  # no call since the one that asked for the follow-up
    broken_on: date | None = None
    due_promise: tuple[date, Decimal, str] | None = None  # promised on, left to pay, currency
    promised_not_due: Decimal = ZERO  # left to pay on open promises not yet due, own currency
    next_promise_on: date | None = None
    held_orders: int = 0


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def day_text(day: date, as_of: date) -> str:
    """A day as the reasons show it, "3 Nov", with the year when it is not the list's year."""
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == as_of.year else f"{text} {day.year}"


# ---------------------------------------------------------------------------------------------
# Scope and permissions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """Whose customers: one collector's (collector_id) or everyone's (None)."""

    collector_id: int | None

    def customers(self) -> Any:
        """SQL: the ids of the customers in scope (None: no restriction)."""
        if self.collector_id is None:
            return None
        return select(Customer.id).where(Customer.collector_id == self.collector_id)

    def restrict(self, stmt: Any, customer_id: Any) -> Any:
        ids = self.customers()
        return stmt if ids is None else stmt.where(customer_id.in_(ids))


def _scope(actor: Actor, collector_id: int | None, team: bool) -> _Scope:
    actor.require(Permission.WORK_COLLECTIONS)
    if team:
        if collector_id is not None:
            raise ValueError("either one collector's list or the team's, not both")
        actor.require(Permission.VIEW_ALL_PORTFOLIOS)
        return _Scope(None)
    if collector_id is None or collector_id == actor.user_id:
        return _Scope(actor.user_id)
    actor.require(Permission.VIEW_ALL_PORTFOLIOS)
    return _Scope(collector_id)


# ---------------------------------------------------------------------------------------------
# Facts, in a few grouped queries
# ---------------------------------------------------------------------------------------------


def _overdue_sums(
    session: Session, scope: _Scope, as_of: date, thresholds: Sequence[int], entered: datetime
) -> Any:
    """Per customer and currency: what is overdue (disputed parts included), the oldest due
    date, and what is overdue by each days-past-due band, in units; joined to the customer.

    Everything it reads of an item is in ix_invoices_open_items, so it is one pass over that
    partial index (index-only on PostgreSQL); the disputed parts, which are not in it, come from
    `_disputed_items`. No OFFSET 0 fence as in the aging: PostgreSQL then sees that the index
    is in customer order, groups with an incremental sort and merge-joins the customers (measured
    at 200,000 customers: 0.26 s against 0.34 s with the fence, which hashed and spilled)."""
    item = scope.restrict(
        select(
            Invoice.customer_id.label("customer_id"),
            Invoice.currency.label("currency"),
            Invoice.due_date.label("due_date"),
            money_units(Invoice.open_amount).label("units"),
        ).where(
            Invoice.open_amount != _ZERO_SQL,
            common(Invoice.kind == INVOICE),
            Invoice.due_date < as_of,
            Invoice.issue_date <= as_of,
        ),
        Invoice.customer_id,
    )
    rows = item.subquery("item")
    bands = [
        units_sum(case((rows.c.due_date <= as_of - timedelta(days=t), rows.c.units))).label(
            f"band{k}"
        )
        for k, t in enumerate(thresholds)
    ]
    grouped = (
        select(
            rows.c.customer_id,
            rows.c.currency,
            units_sum(rows.c.units).label("gross"),
            func.min(rows.c.due_date).label("oldest"),
            *bands,
        )
        .group_by(rows.c.customer_id, rows.c.currency)
        .subquery("overdue")
    )
    columns = [grouped.c.currency, grouped.c.gross, grouped.c.oldest]
    columns += [grouped.c[f"band{k}"] for k in range(len(thresholds))]
    return session.connection().execute(
        select(*_customer_columns(entered), *columns).join(
            grouped, grouped.c.customer_id == Customer.id
        )
    )


def _disputed_items(session: Session, scope: _Scope, as_of: date) -> Any:
    """The overdue items with a disputed part (about 1 % of the open ones, through the partial
    index ix_invoices_disputed_due): (customer, currency, due date, disputed part, fully)."""
    part = case(
        (Invoice.disputed_amount < Invoice.open_amount, Invoice.disputed_amount),
        else_=Invoice.open_amount,
    )
    stmt = scope.restrict(
        select(
            Invoice.customer_id,
            Invoice.currency,
            Invoice.due_date,
            money_units(part),
            Invoice.disputed_amount >= Invoice.open_amount,
        ).where(
            Invoice.disputed_amount != _ZERO_SQL,
            Invoice.open_amount != _ZERO_SQL,
            common(Invoice.kind == INVOICE),
            Invoice.due_date < as_of,
            Invoice.issue_date <= as_of,
        ),
        Invoice.customer_id,
    )
    return session.connection().execute(stmt)


def _oldest_undisputed(
    session: Session, customer_ids: Collection[int], as_of: date
) -> dict[int, date]:
    """The oldest overdue item not wholly disputed, per customer, for the few customers whose
    oldest item is wholly disputed."""
    ids = sorted(customer_ids)
    found: dict[int, date] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(Invoice.customer_id, func.min(Invoice.due_date))
            .where(
                Invoice.customer_id.in_(ids[start : start + _CHUNK]),
                Invoice.open_amount != _ZERO_SQL,
                common(Invoice.kind == INVOICE),
                Invoice.due_date < as_of,
                Invoice.issue_date <= as_of,
                Invoice.disputed_amount < Invoice.open_amount,
            )
            .group_by(Invoice.customer_id)
        )
        found.update({cid: day for cid, day in session.connection().execute(stmt)})
    return found


def entered_since(rules: StrategyRules, as_of: date) -> datetime:
    """From when a customer counts as entered since the calls read for the last contact begin
    (contact_window): the day after, at 00:00 UTC, a day's margin for the time zones (a
    customer's calls are dated by the business day, its entry by UTC)."""
    return datetime.combine(contact_window(rules, as_of) + timedelta(days=1), time(), tzinfo=UTC)


def _customer_columns(entered: datetime) -> list[Any]:
    over = case(
        (
            and_(Customer.credit_limit > _ZERO_SQL, Customer.exposure > Customer.credit_limit),
            money_units(Customer.exposure - Customer.credit_limit),
        )
    )
    return [
        Customer.id.label("cid"),
        Customer.number,
        Customer.name,
        Customer.collector_id,
        Customer.currency.label("customer_currency"),
        Customer.risk_class,
        over.label("over_limit"),
        (Customer.created_at >= entered).label("entered_recently"),
    ]


def _new_facts(r: Any) -> _Facts:
    return _Facts(
        r.cid,
        r.number,
        r.name,
        r.collector_id,
        r.customer_currency,
        r.risk_class,
        r.over_limit,
        bool(r.entered_recently),
    )


def _overdue_facts(
    session: Session, scope: _Scope, as_of: date, thresholds: Sequence[int], entered: datetime
) -> dict[int, _Facts]:
    """Facts of every customer in scope with overdue items: amounts net of the disputed parts
    (per band too), oldest due dates, whether it was `entered` since. Rows are fetched at once
    (psycopg's fetchall, not a call per row) and unpacked as tuples: the team's list reads
    80,000 of them."""
    facts: dict[int, _Facts] = {}
    # Overdue in a currency other than the customer's: {(customer, currency): units}.
    others: dict[tuple[int, str], int] = {}
    for row in _overdue_sums(session, scope, as_of, thresholds, entered).all():
        cid, number, name, collector, own, risk, over, recent, currency, gross, oldest, *bands = row
        f = facts.get(cid)
        if f is None:
            f = facts[cid] = _Facts(cid, number, name, collector, own, risk, over, bool(recent))
        if currency == own:
            f.gross = f.overdue = gross
            f.bands = [b or 0 for b in bands]
        else:
            others[(cid, currency)] = gross
        if f.oldest_due_any is None or oldest < f.oldest_due_any:
            f.oldest_due = f.oldest_due_any = oldest
    cutoffs = [as_of - timedelta(days=t) for t in thresholds]
    unsure: set[int] = set()
    for cid, currency, due, part, fully in _disputed_items(session, scope, as_of):
        f = facts.get(cid)
        if f is None:
            continue
        if currency == f.currency and f.bands is not None:
            f.overdue -= part
            for k, cutoff in enumerate(cutoffs):
                if due <= cutoff:
                    f.bands[k] -= part
        elif (cid, currency) in others:
            others[(cid, currency)] -= part
        if fully and due == f.oldest_due_any:
            unsure.add(cid)  # the oldest item is wholly disputed: look further
    for (cid, currency), units in others.items():
        if units:
            f = facts[cid]
            if f.other_currencies is None:
                f.other_currencies = {}
            f.other_currencies[currency] = units
    if unsure:
        oldest_kept = _oldest_undisputed(session, unsure, as_of)
        for cid in unsure:
            facts[cid].oldest_due = oldest_kept.get(cid)
    return facts


def _disputes_waiting(session: Session, scope: _Scope) -> dict[int, int]:
    stmt = scope.restrict(
        select(Dispute.customer_id, func.count()).where(Dispute.status.in_(OPEN_DISPUTE_STATUSES)),
        Dispute.customer_id,
    ).group_by(Dispute.customer_id)
    return {cid: int(n) for cid, n in session.connection().execute(stmt)}


@dataclass(frozen=True, slots=True)
class _FollowUp:
    """A follow-up standing for a customer: its day, and whether anyone called since the call
    that asked for it."""

    day: date
    untried: bool


def _follow_ups(session: Session, scope: _Scope, as_of: date) -> dict[int, _FollowUp]:
    """Customers with a follow-up due on `as_of`: the latest call that asked for one on a day
    from `as_of` − FOLLOW_UP_DAYS to `as_of`, not cleared since. Only a later call (logged
    after it, dated by `as_of`) that reached someone (CONTACT_OUTCOMES) or asked for its own
    follow-up clears it: a "no answer" logged without one leaves it standing, since the
    customer still has to be reached.

    A follow-up not done within FOLLOW_UP_DAYS of its day lapses (the reason says when): it is
    not read any more. So the calls read are a range of ix_calls_follow_up_on (a month of
    follow-ups), of which each customer's latest (an earlier one is cleared by it: it asks for
    its own), and that call's later calls, a range of ix_calls_customer_id_called_at (a
    correlated subquery, run per remaining call: as a join, PostgreSQL hashed every call ever
    logged), however many years of calls there are."""
    asked = scope.restrict(
        select(
            Call.id,
            Call.customer_id,
            Call.called_at,
            Call.follow_up_on,
            func.row_number()
            .over(partition_by=Call.customer_id, order_by=(Call.called_at.desc(), Call.id.desc()))
            .label("latest"),
        ).where(
            Call.follow_up_on >= as_of - timedelta(days=FOLLOW_UP_DAYS),
            Call.follow_up_on <= as_of,
            Call.called_on <= as_of,
        ),
        Call.customer_id,
    ).subquery("asked")
    later = aliased(Call, name="later")
    # Per asked call: NULL when nobody called since, 1 when someone did without clearing it,
    # 2 when a later call cleared it.
    since = (
        select(
            func.max(
                case(
                    (later.outcome.in_(CONTACT_OUTCOMES) | later.follow_up_on.is_not(None), 2),
                    else_=1,
                )
            )
        )
        .where(
            later.customer_id == asked.c.customer_id,
            later.called_at >= asked.c.called_at,  # the index range; the next line the order
            (later.called_at > asked.c.called_at) | (later.id > asked.c.id),
            later.called_on <= as_of,
        )
        .scalar_subquery()
    )
    stmt = select(asked.c.customer_id, asked.c.follow_up_on, since).where(asked.c.latest == 1)
    return {
        cid: _FollowUp(day, state is None)
        for cid, day, state in session.connection().execute(stmt).all()
        if state != 2
    }


def contact_window(rules: StrategyRules, as_of: date) -> date:
    """The first day whose calls the list reads for the last contact: far enough back for the
    top days-since-contact band (an older contact scores that band anyway) and for the broken
    promises it still shows (a contact since the break clears one)."""
    top = max((t for t, _ in rules.days_since_contact), default=0)
    return as_of - timedelta(days=max(top, rules.broken_promise_days))


def _call_dates(
    session: Session, scope: _Scope, as_of: date, window: date
) -> dict[int, tuple[date | None, date | None]]:
    """{customer: (last day someone was reached, last day anyone called)} from `window` to
    `as_of`. Only the calls of those days are read (through ix_calls_user_id_called_on), contacts
    and the day's own calls ("called today"): a year of calls is 1,250,000 rows, the window a
    sixth of them, whatever the years before hold."""
    contact = Call.outcome.in_(CONTACT_OUTCOMES)
    # Every call's user is a user or nobody: naming them turns ix_calls_user_id_called_on into
    # a range of days per user (PostgreSQL otherwise reads the whole index for the days).
    users = list(session.connection().scalars(select(User.id)))
    stmt = scope.restrict(
        select(
            Call.customer_id,
            func.max(case((contact, Call.called_on))),
            func.max(Call.called_on),
        ).where(
            Call.user_id.in_(users) | Call.user_id.is_(None),
            Call.called_on >= window,
            Call.called_on <= as_of,
            contact | (Call.called_on == as_of),
        ),
        Call.customer_id,
    ).group_by(Call.customer_id)
    rows = session.connection().execute(stmt).all()  # fetched at once: 60,000 rows
    return {cid: (contact, call) for cid, contact, call in rows}


def _older_contacts(
    session: Session, customer_ids: Collection[int], as_of: date, window: date, entered: datetime
) -> dict[int, date]:
    """The last contact before `window`, for the customers entered since `entered` (whose calls
    all lie in the window unless logged for days before the customer was entered): "never
    reached" is then a fact, not a guess. Usually a few customers, looked up by id; after a
    migration that entered the whole portfolio at once (42,000 at 200,000 customers in the
    benchmark), one grouped query over the customers entered since: 42 chunks of 1,000 ids
    cost 0.46 s on PostgreSQL, mostly compiling the IN lists."""
    ids = sorted(customer_ids)
    stmt = select(Call.customer_id, func.max(Call.called_on)).where(
        Call.outcome.in_(CONTACT_OUTCOMES), Call.called_on < window, Call.called_on <= as_of
    )
    if len(ids) <= _CHUNK:
        stmt = stmt.where(Call.customer_id.in_(ids))
    else:
        stmt = stmt.join(Customer, Customer.id == Call.customer_id).where(
            Customer.created_at >= entered
        )
    wanted = set(ids)
    rows = session.connection().execute(stmt.group_by(Call.customer_id))
    return {cid: day for cid, day in rows if cid in wanted}


def _credits(session: Session, scope: _Scope, as_of: date) -> dict[tuple[int, str], list[int]]:
    """{(customer, currency): [unapplied cash, open credit notes]} in units, dated by `as_of`:
    money the customer already has with us that settles overdue items once applied. Grouped
    sums over two partial indexes, read alone: ix_payments_unapplied (about 1 % of payments)
    and the credit notes in ix_invoices_open_items."""
    cash = scope.restrict(
        select(
            Payment.customer_id, Payment.currency, units_sum(money_units(Payment.unapplied_amount))
        )
        .where(Payment.unapplied_amount != _ZERO_SQL, Payment.date <= as_of)
        .group_by(Payment.customer_id, Payment.currency),
        Payment.customer_id,
    )
    notes = scope.restrict(
        select(Invoice.customer_id, Invoice.currency, units_sum(money_units(Invoice.open_amount)))
        .where(
            Invoice.open_amount != _ZERO_SQL,
            # Not what drives the read: SQLite would walk every credit note ever issued through
            # uq_invoices_kind_number instead of the open items' partial index.
            common(Invoice.kind == CREDIT_NOTE),
            Invoice.issue_date <= as_of,
        )
        .group_by(Invoice.customer_id, Invoice.currency),
        Invoice.customer_id,
    )
    found: dict[tuple[int, str], list[int]] = {}
    for k, stmt in enumerate((cash, notes)):
        for cid, currency, units in session.connection().execute(stmt).all():
            if units:
                found.setdefault((cid, currency), [0, 0])[k] = units
    return found


def held_orders(session: Session, scope_customers: Any, as_of: date) -> dict[int, int]:
    """{customer: orders held for credit} (restricted to `scope_customers`, SQL of customer ids
    or None): they put the customer on the list with the strategy's `held_order_points`. Read
    through the partial index of open and held orders, which is small whatever the history."""
    stmt = (
        select(Order.customer_id, func.count())
        .where(live_orders_condition(), Order.status == literal_column(f"'{ORDER_HELD}'"))
        .group_by(Order.customer_id)
    )
    if scope_customers is not None:
        stmt = stmt.where(Order.customer_id.in_(scope_customers))
    return {customer_id: count for customer_id, count in session.execute(stmt)}


# ---------------------------------------------------------------------------------------------
# Promises
# ---------------------------------------------------------------------------------------------


@dataclass
class _PromiseFacts:
    """What a customer's promises add: the latest promise broken (the day it broke), the
    earliest one falling due, and what open promises not yet due still cover, per currency."""

    broken_on: date | None = None
    due: tuple[date, Decimal, str] | None = None  # promised on, left to pay, currency
    not_due: dict[str, Decimal] = field(default_factory=dict)
    next_promised_on: date | None = None

    def broken_counts(self, last_contact: date | None) -> bool:
        """A broken promise is a reason to call until someone at the customer is reached."""
        return self.broken_on is not None and (
            last_contact is None or last_contact < self.broken_on
        )


def _promise_customers(
    session: Session, scope: _Scope, as_of: date, since: date
) -> list[int] | None:
    """The collector's customers with a promise that may matter on the day (made by then, not
    cancelled, due since `since` or later), so that promise states are computed for those few
    (None for the team list: everyone's)."""
    if scope.collector_id is None:
        return None
    stmt = scope.restrict(
        select(Promise.customer_id)
        .where(
            Promise.made_on <= as_of,
            Promise.cancelled_on.is_(None) | (Promise.cancelled_on > as_of),
            promises.due_by_sql() >= since,
        )
        .distinct(),
        Promise.customer_id,
    )
    return sorted(session.connection().scalars(stmt))


def _promise_facts(
    session: Session, scope: _Scope, as_of: date, rules: StrategyRules
) -> dict[int, _PromiseFacts]:
    since = as_of - timedelta(days=rules.broken_promise_days)
    ids = _promise_customers(session, scope, as_of, min(since, as_of))
    if ids is not None and not ids:
        return {}
    statuses = promises.statuses_in_session(session, as_of, customer_ids=ids, active_from=since)
    latest: dict[int, Any] = {}
    found: dict[int, _PromiseFacts] = {}
    for p in statuses:
        if p.state is PromiseState.CANCELLED:
            continue
        seen = latest.get(p.customer_id)
        if seen is None or (p.made_on, p.id) > (seen.made_on, seen.id):
            latest[p.customer_id] = p
        if p.state is not PromiseState.OPEN:
            continue
        info = found.setdefault(p.customer_id, _PromiseFacts())
        left = max(p.amount - p.paid, ZERO)
        if p.promised_on > as_of:
            info.not_due[p.currency] = info.not_due.get(p.currency, ZERO) + left
            if info.next_promised_on is None or p.promised_on < info.next_promised_on:
                info.next_promised_on = p.promised_on
        elif info.due is None or p.promised_on < info.due[0]:
            info.due = (p.promised_on, left, p.currency)
    for cid, p in latest.items():
        if p.state is PromiseState.BROKEN and p.settled_on is not None and p.settled_on > since:
            found.setdefault(cid, _PromiseFacts()).broken_on = p.settled_on
    return found


# ---------------------------------------------------------------------------------------------
# Score, reasons, next action
# ---------------------------------------------------------------------------------------------


def _money(units: int) -> Decimal:
    return from_units(units) if units else ZERO


class _Scorer:
    """A strategy's rules made ready for scoring tens of thousands of customers: thresholds as
    sorted lists (bisect), amounts in units (compared without building a `Decimal`)."""

    def __init__(self, rules: StrategyRules, as_of: date):
        self.rules, self.as_of = rules, as_of
        self.amount_at = [int(a.scaleb(MONEY_SCALE)) for a, _ in rules.overdue_amount_bands]
        self.amount_points = [p for _, p in rules.overdue_amount_bands]
        self.dpd_at = [t for t, _ in rules.dpd_bands]
        self.dpd_points = [p for _, p in rules.dpd_bands]
        self.contact_at = [t for t, _ in rules.days_since_contact]
        self.contact_points = [p for _, p in rules.days_since_contact]
        self.risk = dict(rules.risk_class_points)
        self.window = contact_window(rules, as_of)
        self.beyond_window = f"no contact for over {(as_of - self.window).days} days"
        self.days: dict[date, str] = {}

    def never_reached(self, f: _Facts) -> bool:
        """Nobody reached, as far as the calls read tell: none in the window, and the customer
        entered since it opened (its older contacts, logged for days before, were looked up).
        Of an older customer without a contact in the window, only "for over N days" is
        known."""
        return f.last_contact is None and f.entered_recently

    def day(self, day: date) -> str:
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = day_text(day, self.as_of)
        return text

    @staticmethod
    def band(thresholds: list[Any], value: Any) -> int:
        """Index of the highest band `value` reaches; -1 below the first."""
        return bisect_right(thresholds, value) - 1

    def amount_reason(self, f: _Facts, left: int, k: int) -> str:
        """ "EUR 12,400.00 over 60 days": the overdue amount (less the customer's unapplied
        cash and credit notes), and the part in the oldest band reached (`k`) when that says
        more. Which items the credits will settle is not known until they are applied, so they
        are taken off the youngest first: the part in a band is at most what is left."""
        total = money_text(_money(left), f.currency)
        if k < 0 or self.dpd_at[k] <= 1:
            return f"{total} overdue"
        over = self.dpd_at[k] - 1
        part = f.bands[k] if f.bands is not None and k < len(f.bands) else left
        if part >= left:
            return f"{total} over {over} days"
        return f"{total} overdue, {money_text(_money(part), f.currency)} over {over} days"

    def score(self, f: _Facts) -> tuple[int, tuple[str, ...], str, int, Decimal, int]:
        """(score, reasons, next action, oldest days past due, overdue shown, the same in
        units) of one customer."""
        rules, as_of = self.rules, self.as_of
        fully_disputed = f.gross > 0 and f.overdue <= 0 and not f.other_currencies
        credits = f.credits
        others = f.other_currencies
        if credits is None:  # most customers: nothing to net
            left = f.overdue if f.overdue > 0 else 0
            covered = False
        else:
            cash, notes = credits.get(f.currency, (0, 0))
            left = max(f.overdue - cash - notes, 0)  # undisputed overdue the credits leave
            if others:
                others = {c: u - sum(credits.get(c, (0, 0))) for c, u in others.items()}
                others = {c: u for c, u in others.items() if u > 0}
            covered = (f.overdue > 0 or bool(f.other_currencies)) and not left and not others
        overdue = _money(left)
        oldest = f.oldest_due or (f.oldest_due_any if fully_disputed else None)
        dpd = (as_of - oldest).days if oldest is not None and not covered else None
        k = self.band(self.dpd_at, dpd) if dpd is not None else -1
        promised = not fully_disputed and left > 0 and f.promised_not_due >= overdue
        broken, follow_up = f.broken_on is not None, f.follow_up_on is not None

        reasons: list[str] = []
        if left > 0:
            reasons.append(self.amount_reason(f, left, k))
        if fully_disputed:
            reasons.append(f"{money_text(_money(f.gross), f.currency)} overdue, all disputed")
        if others:
            for currency, units in sorted(others.items()):
                reasons.append(f"{money_text(_money(units), currency)} overdue too")
        if credits is not None:
            for currency, (cash_units, note_units) in sorted(credits.items()):
                if cash_units:
                    cash_text = money_text(_money(cash_units), currency)
                    reasons.append(f"unapplied cash {cash_text} to apply")
                if note_units:
                    notes_text = money_text(_money(note_units), currency)
                    reasons.append(f"credit notes {notes_text} to apply")
        if f.broken_on is not None:
            reasons.append(f"promise broken {self.day(f.broken_on)}")
        if f.due_promise is not None:
            on, due_left, currency = f.due_promise
            reasons.append(f"promise of {money_text(due_left, currency)} due {self.day(on)}")
        if promised and f.next_promise_on is not None:
            reasons.append(
                f"{money_text(f.promised_not_due, f.currency)} promised for "
                f"{self.day(f.next_promise_on)}"
            )
        if f.follow_up_on is not None:
            if f.follow_up_on >= as_of:
                reasons.append("follow-up due")
            else:
                lapses = self.day(f.follow_up_on + timedelta(days=FOLLOW_UP_DAYS))
                reasons.append(
                    f"follow-up due since {self.day(f.follow_up_on)}, lapses after {lapses}"
                )
        if f.disputes_waiting:
            reasons.append(
                "dispute waiting on us"
                if f.disputes_waiting == 1
                else f"{f.disputes_waiting} disputes waiting on us"
            )
        if f.held_orders:
            reasons.append(f"{f.held_orders} held order{'s' if f.held_orders > 1 else ''}")
        if f.over_limit is not None:
            reasons.append(f"over credit limit by {money_text(_money(f.over_limit), f.currency)}")
        contact = risk = 0
        if not covered:  # nobody owes anything once the credits are applied: no chasing
            if f.last_contact is None:
                contact_days = None
                contact = self.contact_points[-1] if self.contact_points else 0
            else:
                contact_days = (as_of - f.last_contact).days
                c = self.band(self.contact_at, contact_days)
                contact = self.contact_points[c] if c >= 0 else 0
            if contact:
                reasons.append(
                    f"no contact for {contact_days} days"
                    if contact_days is not None
                    else "never reached"
                    if self.never_reached(f)
                    else self.beyond_window
                )
            risk = self.risk.get(f.risk_class or "", 0)
            if risk:
                reasons.append(f"risk class {f.risk_class}")
        if f.last_call is not None and f.last_call >= as_of:
            reasons.append("called today")

        if covered:
            chase = APPLY_CASH_POINTS
        else:
            a = self.band(self.amount_at, f.gross if fully_disputed else left)
            chase = (
                (self.amount_points[a] if a >= 0 else 0)
                + (self.dpd_points[k] if k >= 0 else 0)
                + risk
                + contact
            )
        chase += rules.limit_breach_points if f.over_limit is not None else 0
        factor = (
            rules.fully_disputed_factor
            if fully_disputed
            else rules.promised_not_due_factor
            if promised
            else None
        )
        if factor is not None:  # half-even, once
            chase = int((chase * factor).to_integral_value())
        tasks = (
            (rules.broken_promise_points if broken else 0)
            + (rules.promise_due_points if f.due_promise is not None else 0)
            + (rules.follow_up_due_points if follow_up else 0)
            + (rules.dispute_waiting_points if f.disputes_waiting else 0)
            + (rules.held_order_points if f.held_orders else 0)
        )

        if broken:
            action = "Call: promise broken"
        elif follow_up:
            action = "Follow up"
        elif f.due_promise is not None:
            action = "Call: promise due"
        elif f.held_orders:
            action = "Call: orders on hold"
        elif promised and f.next_promise_on is not None:
            action = f"Wait: promised for {self.day(f.next_promise_on)}"
        elif left > 0 or others:
            action = "Call: first reminder" if self.never_reached(f) else "Call: overdue"
        elif covered:
            action = "Apply cash"
        elif f.disputes_waiting or fully_disputed:
            action = "Work dispute"
        else:
            action = "Review"
        return chase + tasks, tuple(reasons), action, dpd or 0, overdue, left


# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------


def _customer_rows(session: Session, ids: Iterable[int], entered: datetime) -> list[Any]:
    wanted = sorted(ids)
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        rows += (
            session.connection()
            .execute(
                select(*_customer_columns(entered)).where(
                    Customer.id.in_(wanted[start : start + _CHUNK])
                )
            )
            .all()
        )
    return rows


@dataclass(frozen=True)
class _Calls:
    """What the calls add: follow-ups due, and the last contact and call."""

    follow_ups: dict[int, _FollowUp]
    dates: dict[int, tuple[date | None, date | None]]


@dataclass(frozen=True)
class _Others:
    """What promises, disputes and unapplied money add."""

    disputes: dict[int, int]
    promised: dict[int, _PromiseFacts]
    credits: dict[tuple[int, str], list[int]]


def _read_calls(db: Database, scope: _Scope, as_of: date, rules: StrategyRules) -> _Calls:
    with reading(db) as session:
        return _Calls(
            _follow_ups(session, scope, as_of),
            _call_dates(session, scope, as_of, contact_window(rules, as_of)),
        )


def _read_others(db: Database, scope: _Scope, as_of: date, rules: StrategyRules) -> _Others:
    with reading(db) as session:
        return _Others(
            _disputes_waiting(session, scope),
            _promise_facts(session, scope, as_of, rules),
            _credits(session, scope, as_of),
        )


def _gather(
    db: Database, session: Session, scope: _Scope, as_of: date, rules: StrategyRules
) -> dict[int, _Facts]:
    """Every customer on the list with its facts. The calls, and the promises, disputes and
    unapplied money, are read in two more sessions on two more threads while this one reads the
    overdue amounts: on PostgreSQL each query's server time then overlaps the others' Python
    (measured for the team's list at 200,000 customers and a year of calls: about 0.2 s less
    than one side thread, 0.5 s less than none). The sessions' snapshots are moments apart,
    which a work list can bear."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="call-list") as pool:
        calls_read = pool.submit(_read_calls, db, scope, as_of, rules)
        others_read = pool.submit(_read_others, db, scope, as_of, rules)
        entered = entered_since(rules, as_of)
        facts = _overdue_facts(session, scope, as_of, [t for t, _ in rules.dpd_bands], entered)
        called, others = calls_read.result(), others_read.result()
    follow_ups, calls = called.follow_ups, called.dates
    disputes, promised, credits = others.disputes, others.promised, others.credits
    held = held_orders(session, scope.customers(), as_of)
    wanted = set(disputes) | set(follow_ups) | set(held)
    for cid, info in promised.items():
        if info.due is not None or info.broken_counts(calls.get(cid, (None, None))[0]):
            wanted.add(cid)
    for r in _customer_rows(session, wanted - facts.keys(), entered):
        facts[r.cid] = _new_facts(r)
    window = contact_window(rules, as_of)
    credited = {cid for cid, _ in credits}
    recent: list[int] = []
    for cid, f in facts.items():
        f.disputes_waiting = disputes.get(cid, 0)
        follow_up = follow_ups.get(cid)
        if follow_up is not None:
            f.follow_up_on, f.follow_up_untried = follow_up.day, follow_up.untried
        f.last_contact, f.last_call = calls.get(cid, (None, None))
        if f.last_contact is None and f.entered_recently:
            recent.append(cid)
        f.held_orders = held.get(cid, 0)
        if cid in credited:
            _add_credits(f, credits)
        info = promised.get(cid)
        if info is not None:
            f.broken_on = info.broken_on if info.broken_counts(f.last_contact) else None
            f.due_promise = info.due
            f.promised_not_due = info.not_due.get(f.currency, ZERO)
            f.next_promise_on = info.next_promised_on
    if recent:
        for cid, day in _older_contacts(session, recent, as_of, window, entered).items():
            facts[cid].last_contact = day
    return facts


def _add_credits(f: _Facts, credits: dict[tuple[int, str], list[int]]) -> None:
    """The customer's unapplied cash and open credit notes in the currencies something is
    overdue in (its own, if anything is, and the others it has overdue items in)."""
    currencies = [f.currency] if f.gross > 0 else []
    currencies += list(f.other_currencies or ())
    for currency in currencies:
        found = credits.get((f.customer_id, currency))
        if found is not None:
            if f.credits is None:
                f.credits = {}
            f.credits[currency] = (found[0], found[1])


@dataclass(frozen=True)
class _Ranked:
    """The list, and the customers someone already called on the day (`next_customer` passes
    them by), but those whose follow-up is due and nobody has called since the call that asked
    for it: "no answer, call back this afternoon" is set today and due today."""

    rows: list[CallListRow]
    called: frozenset[int]


def _rows(db: Database, session: Session, scope: _Scope, as_of: date) -> _Ranked:
    """Score and order everyone on the list. The facts and sort keys die when this returns, so
    only the rows are left for the cyclic collector to look at once it runs again."""
    rules = active_strategy_in_session(session).rules
    scorer = _Scorer(rules, as_of)
    facts = _gather(db, session, scope, as_of, rules)
    names = user_names(session, (f.collector_id for f in facts.values()))
    holders = claims.claim_holders(session, None)
    unsorted: list[CallListRow] = []
    keys = []
    for f in facts.values():
        score, reasons, action, dpd, overdue, units = scorer.score(f)
        holder = holders.get(f.customer_id)
        keys.append((-score, -units, f.number, len(unsorted)))
        unsorted.append(
            CallListRow(
                f.customer_id,
                f.number,
                f.name,
                f.collector_id,
                names.get(f.collector_id) if f.collector_id is not None else None,
                f.currency,
                score,
                reasons,
                overdue,
                dpd,
                action,
                holder[1] if holder else None,
            )
        )
    keys.sort()
    called = frozenset(
        f.customer_id
        for f in facts.values()
        if f.last_call is not None
        and f.last_call >= as_of
        and not (f.follow_up_untried and f.follow_up_on is not None and f.follow_up_on <= as_of)
    )
    return _Ranked([unsorted[k[-1]] for k in keys], called)


def _ranked(db: Database, session: Session, scope: _Scope, as_of: date) -> _Ranked:
    # Tens of thousands of small objects for the team's list: the cyclic collector would walk
    # them again and again while they are built.
    with gc_paused():
        return _rows(db, session, scope, as_of)


def call_list(
    db: Database,
    actor: Actor,
    as_of: date,
    *,
    collector_id: int | None = None,
    team: bool = False,
    limit: int | None = None,
) -> list[CallListRow]:
    """The list for a day: the actor's own portfolio by default, another collector's
    (`collector_id`) or the whole team's (`team`, every customer, assigned or not) for those
    who may see every portfolio. Ordered by score, then overdue amount, then customer number."""
    scope = _scope(actor, collector_id, team)
    check_days(as_of=as_of)
    with reading(db) as session:
        if scope.collector_id is not None and session.get(User, scope.collector_id) is None:
            raise NotFound(f"User #{scope.collector_id} does not exist.")
        rows = _ranked(db, session, scope, as_of).rows
    return rows[:limit] if limit is not None else rows


def next_customer(
    db: Database,
    actor: Actor,
    as_of: date,
    *,
    collector_id: int | None = None,
    team: bool = False,
    after: int | None = None,
    lease_minutes: int = claims.DEFAULT_LEASE_MINUTES,
) -> CallListRow | None:
    """Claim and return the first customer on the list that nobody else holds, skipping
    `after` (the customer just worked, whose claim is released) and customers already called
    on the day, unless a follow-up is due that nobody has called for since it was asked (a call
    back later the same day). None when every one is taken or done."""
    scope = _scope(actor, collector_id, team)
    check_days(as_of=as_of)
    claims.check_minutes(lease_minutes)
    if after is not None:
        claims.release(db, actor, after)
    with reading(db) as session:
        ranked = _ranked(db, session, scope, as_of)
        taken = claims.claimed_by_others(session, actor, None)
    for row in ranked.rows:
        if row.customer_id == after or row.customer_id in taken:
            continue
        if row.customer_id in ranked.called:
            continue
        with db.write() as session:
            won = claims.claim_in_session(session, actor, row.customer_id, lease_minutes)
        if won:
            return replace(row, claimed_by=actor.display_name)
    return None
