"""Collector performance for a period F..T (both days included): what each collector did (calls,
promises) and what happened to their portfolio (cash, overdue, CEI). Also month by month, for
one collector's chart.

Definitions (a row per collector; figures in SQL, grouped by collector, never per customer in
Python)
- calls = `Call` rows logged by the collector (`user_id`) with `called_on` in F..T; contacts =
  those whose outcome is in CONTACT_OUTCOMES (someone at the customer was spoken to);
  contact rate = contacts / calls × 100.
- promises made = `Promise` rows `made_by` the collector with `made_on` in F..T: their count (any
  currency) and their amount (the report's currency only).
- kept rate = kept / (kept + broken) × 100 among the promises made by the collector whose due_by
  (promised_on + grace) falls in F..T, each judged by its final state: as it stood the day after
  its due_by (services.promises; no later payment changes it), whatever T is. So a promise due
  on T counts like one due on F, a period's rate is the same whenever it is asked, and the
  table's period and the chart's month agree. Promises due today or later are not final yet and
  count in neither; a cancelled one counts in neither. Counts are of promises in any currency (a
  state is not an amount).
- portfolio = the customers whose collector is the collector TODAY (`customers.collector_id`):
  there is no assignment history, so a reassignment moves the customer's whole history (cash,
  overdue, sales) to the new collector, for past periods too.
- cash collected = the amounts of the payments of portfolio customers dated F..T.
- overdue at start / end = the open amount at F−1 / at T of the portfolio's items with days past
  due > 0 (due before that date; credit notes net, as in the aging), less the amounts disputed
  at that date on those items (disputes open then, each item's capped at its open amount):
  domain.md leaves disputed amounts out of the collector's overdue figure (never out of AR).
- CEI = domain.md's (AR(F−1) + credit sales − AR(T)) / (AR(F−1) + credit sales − current AR(T))
  × 100 over the portfolio: its AR at F−1 and at T (the aging total: disputes included), its
  invoices issued in F..T, and its items due on or after T. The arithmetic is kpis.compute_kpis.
Ratios are rounded half-even to 2 decimals once, at the end, and are None when their denominator
is zero. Open amounts come from aging.signed_rows (the aging's own SQL: the same figures as the
aging report at any date), scoped to the report's currency and, for one collector, to their
customers.

Currencies are never added together: money figures are in one currency (`currency`, by default
the one most customers have: kpis has no department reporting currency); counts are not money
and count every currency.

Rows: every user with the collector role, every other user with a portfolio or with calls or
promises in the period (so the rows add up to the department's figures), and "(unassigned)"
(customers without a collector, calls and promises without a user), sorted by collector name
with "(unassigned)" last. Who may see what: VIEW_REPORTS; without VIEW_ALL_PORTFOLIOS only one's
own row (and one's own months).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Select, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session, join

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.errors import FieldProblem, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import Call, Customer, Invoice, Payment, Promise, User, UserRole
from o2c_desktop.models.collections import CONTACT_OUTCOMES
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.models.users import Role
from o2c_desktop.money import is_currency
from o2c_desktop.services import kpis, portfolios
from o2c_desktop.services.aging import _Scope, reading, signed_rows, source_for
from o2c_desktop.services.auth import Actor, Permission, refusal
from o2c_desktop.services.day_range import check_days
from o2c_desktop.services.field_checks import is_whole
from o2c_desktop.services.promises import PromiseState, statuses_in_session

ZERO = Decimal("0.00")  # what an empty sum of money shows
UNASSIGNED = "(unassigned)"
MAX_MONTHS = 120

# A row's key: the collector's user id, None for "(unassigned)".
Key = int | None
# Which rows a query computes: None = every row, else these keys.
Only = frozenset[Key] | None


@dataclass(frozen=True)
class CollectorResult:
    """One collector's figures for a period. Money in the report's currency (exact); rates and
    CEI in percent, rounded half-even to 2 decimals, None when undefined (no calls, no promise
    kept or broken, a zero CEI denominator)."""

    collector_id: int | None
    collector: str
    calls: int
    contacts: int
    contact_rate: Decimal | None
    promises_made: int
    promised_amount: Decimal
    kept: int
    broken: int
    kept_rate: Decimal | None
    cash_collected: Decimal
    overdue_start: Decimal
    overdue_end: Decimal
    cei: Decimal | None


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def default_currency(db: Database, actor: Actor) -> str:
    """The currency the report uses when none is given: the one most customers have (the
    dashboard's first choice), EUR in an empty database."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        return kpis.default_currency_in_session(session)


def collector_results(
    db: Database,
    actor: Actor,
    date_from: date,
    date_to: date,
    *,
    currency: str | None = None,
) -> list[CollectorResult]:
    """Every collector's figures for F..T (see the module docstring), sorted by name with
    "(unassigned)" last; without VIEW_ALL_PORTFOLIOS, the actor's own row only."""
    actor.require(Permission.VIEW_REPORTS)
    _check_period(date_from, date_to)
    code = _check_currency(currency)
    only = _visible(actor)
    with reading(db) as session:
        code = code or kpis.default_currency_in_session(session)
        (figures,) = _figures(session, [(date_from, date_to)], code, only)
        keys = set(figures) | ({None, *_collector_ids(session)} if only is None else set(only))
        names = _names(session, keys)
        results = [
            _result(key, names[key], figures.get(key), code, date_from, date_to) for key in keys
        ]
    return sorted(results, key=_order)


def monthly_results(
    db: Database,
    actor: Actor,
    collector_id: int | None,
    date_to: date,
    months: int = 12,
    *,
    currency: str | None = None,
) -> list[tuple[date, CollectorResult]]:
    """One collector's figures for each of the last `months` calendar months, oldest first, as
    (first day of the month, figures); the newest month runs from its 1st to `date_to`.
    `collector_id` None = the unassigned customers. Without VIEW_ALL_PORTFOLIOS only one's own."""
    actor.require(Permission.VIEW_REPORTS)
    check_days(date_to=date_to)
    if not is_whole(months) or not 1 <= months <= MAX_MONTHS:
        raise ValidationFailed(
            [FieldProblem("months", f"a whole number from 1 to {MAX_MONTHS}", value=str(months))]
        )
    code = _check_currency(currency)
    visible = _visible(actor)
    if visible is not None and collector_id not in visible:
        raise PermissionDenied(
            refusal(actor, Permission.VIEW_ALL_PORTFOLIOS)
            + " Without it, a collector sees only their own results."
        )
    periods = kpis.last_months(date_to, months)
    with reading(db) as session:
        if collector_id is not None and session.get(User, collector_id) is None:
            raise NotFound(f"User #{collector_id} does not exist.")
        code = code or kpis.default_currency_in_session(session)
        names = _names(session, {collector_id})
        by_period = _figures(session, periods, code, frozenset({collector_id}))
        return [
            (
                start,
                _result(collector_id, names[collector_id], f.get(collector_id), code, start, end),
            )
            for (start, end), f in zip(periods, by_period, strict=True)
        ]


# ---------------------------------------------------------------------------------------------
# Checks and rows
# ---------------------------------------------------------------------------------------------


def _check_period(date_from: date, date_to: date) -> None:
    check_days(date_from=date_from, date_to=date_to)
    if date_from > date_to:
        raise ValidationFailed(
            [
                FieldProblem(
                    "date_from",
                    f"the period starts after it ends ({date_to.isoformat()})",
                    value=date_from.isoformat(),
                )
            ]
        )


def _check_currency(currency: str | None) -> str | None:
    if currency is None:
        return None
    code = currency.strip().upper()
    if not is_currency(code):
        raise ValidationFailed([FieldProblem("currency", "unknown currency code", value=currency)])
    return code


def _visible(actor: Actor) -> Only:
    """Every row for those who may see every portfolio; else one's own."""
    own = portfolios.visible_collector_ids(actor)
    return None if own is None else frozenset[Key](own)


def _collector_ids(session: Session) -> list[int]:
    """Users with the collector role (active ones, as a customer's collector choices; a former
    collector reappears as soon as they have figures)."""
    stmt = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.COLLECTOR.value, User.active.is_(True))
    )
    return list(session.scalars(stmt))


def _names(session: Session, keys: Collection[Key]) -> dict[Key, str]:
    ids = [k for k in keys if k is not None]
    names: dict[Key, str] = {None: UNASSIGNED}
    if ids:
        stmt = select(User.id, User.display_name).where(User.id.in_(ids))
        names.update({user_id: name for user_id, name in session.execute(stmt)})
    return {k: names.get(k, f"user #{k}") for k in keys}


def _order(row: CollectorResult) -> tuple[bool, str, int]:
    return (row.collector_id is None, row.collector.casefold(), row.collector_id or 0)


@dataclass
class _Sums:
    """One row's exact sums for one period, before the ratios."""

    calls: int = 0
    contacts: int = 0
    promises_made: int = 0
    promised_amount: Decimal = ZERO
    kept: int = 0
    broken: int = 0
    cash: Decimal = ZERO
    sales: Decimal = ZERO
    ar_opening: Decimal = ZERO
    ar_total: Decimal = ZERO
    ar_current: Decimal = ZERO
    overdue_start: Decimal = ZERO
    overdue_end: Decimal = ZERO


def _result(
    key: Key, name: str, sums: _Sums | None, currency: str, date_from: date, date_to: date
) -> CollectorResult:
    s = sums or _Sums()
    cei = kpis.compute_kpis(
        currency,
        date_from,
        date_to,
        credit_sales=s.sales,
        ar_opening=s.ar_opening,
        ar_total=s.ar_total,
        ar_current=s.ar_current,
    ).cei
    return CollectorResult(
        collector_id=key,
        collector=name,
        calls=s.calls,
        contacts=s.contacts,
        contact_rate=_rate(s.contacts, s.calls),
        promises_made=s.promises_made,
        promised_amount=s.promised_amount,
        kept=s.kept,
        broken=s.broken,
        kept_rate=_rate(s.kept, s.kept + s.broken),
        cash_collected=s.cash,
        overdue_start=s.overdue_start,
        overdue_end=s.overdue_end,
        cei=cei,
    )


def _rate(part: int, whole: int) -> Decimal | None:
    return kpis.round_ratio(kpis.ratio(Decimal(part), Decimal(whole), kpis.HUNDRED))


# ---------------------------------------------------------------------------------------------
# The sums, in SQL, grouped by collector, one column per period
# ---------------------------------------------------------------------------------------------

Period = tuple[date, date]


def _figures(
    session: Session, periods: Sequence[Period], currency: str, only: Only
) -> list[dict[Key, _Sums]]:
    """Each period's sums per row key. Every query covers all the periods at once (a CASE per
    period over the whole range), so twelve months cost what one period does, except AR: one
    aging pass per distinct date (month ends are shared: the end of one month is the day before
    the next)."""
    result: list[dict[Key, _Sums]] = [{} for _ in periods]

    def at(k: int, key: Key) -> _Sums:
        return result[k].setdefault(key, _Sums())

    _counts_and_amounts(session, periods, currency, only, at)
    _promise_states(session, periods, only, at, date.today())
    days = sorted({s - timedelta(days=1) for s, _ in periods} | {e for _, e in periods})
    for day in days:
        ar = _ar_at(session, day, currency, only)
        disputed = _disputed_overdue(session, day, currency, only)
        overdue = {
            key: ar.get(key, (ZERO, ZERO))[1] - disputed.get(key, ZERO)
            for key in set(ar) | set(disputed)
        }
        for k, (start, end) in enumerate(periods):
            if day == start - timedelta(days=1):
                for key, (total, _late) in ar.items():
                    at(k, key).ar_opening = total
                for key, value in overdue.items():
                    at(k, key).overdue_start = value
            if day == end:
                for key, (total, late) in ar.items():
                    sums = at(k, key)
                    sums.ar_total, sums.ar_current = total, total - late
                for key, value in overdue.items():
                    at(k, key).overdue_end = value
    return result


def _only(column: Any, only: Only) -> Any:
    """`column` restricted to the wanted keys (None = no restriction: a true condition)."""
    if only is None:
        return true()
    ids = sorted(k for k in only if k is not None)
    conditions = [column.in_(ids)] if ids else []
    if None in only:
        conditions.append(column.is_(None))
    return or_(*conditions) if conditions else false()


def _between(column: Any, period: Period) -> Any:
    return and_(column >= period[0], column <= period[1])


def _range(column: Any, periods: Sequence[Period]) -> Any:
    return _between(column, (min(s for s, _ in periods), max(e for _, e in periods)))


# A figure of `_Sums` per period: its SQL, given the condition "in the period".
_Measure = Callable[[Any], Any]


def _count(*conditions: Any) -> _Measure:
    """How many rows (meeting `conditions`) lie in the period."""
    return lambda inside: func.count(case((and_(inside, *conditions), 1)))


def _amount(amount: Any, *conditions: Any) -> _Measure:
    """The sum of `amount` over the rows (meeting `conditions`) in the period."""
    return lambda inside: money_sum(case((and_(inside, *conditions), amount)))


def _per_period(
    session: Session,
    periods: Sequence[Period],
    only: Only,
    at: Any,
    key: Any,
    day: Any,
    *conditions: Any,
    joined: Any = None,
    **measures: _Measure,
) -> None:
    """Set each period's `measures` (named by their `_Sums` fields) of every row key, from one
    query grouped by `key` over the rows whose `day` lies in any period (a CASE per period and
    measure). `joined`: the FROM clause when `key` is in another table than `day`."""
    columns = [measure(_between(day, p)) for p in periods for measure in measures.values()]
    stmt = select(key, *columns)
    if joined is not None:
        stmt = stmt.select_from(joined)
    stmt = stmt.where(_range(day, periods), *conditions, _only(key, only)).group_by(key)
    width = len(measures)
    for row_key, *values in session.execute(stmt):
        for k in range(len(periods)):
            sums = at(k, row_key)
            for name, value in zip(measures, values[k * width : (k + 1) * width], strict=True):
                setattr(sums, name, ZERO if value is None else value)  # an empty sum is NULL


def _counts_and_amounts(
    session: Session, periods: Sequence[Period], currency: str, only: Only, at: Any
) -> None:
    """Calls and contacts by who called; promises made (any currency) and their amount (the
    report's currency) by who made them; payments (cash) and invoices issued (sales) by the
    customer's collector."""
    per_period = partial(_per_period, session, periods, only, at)
    contact = Call.outcome.in_(CONTACT_OUTCOMES)
    per_period(Call.user_id, Call.called_on, calls=_count(), contacts=_count(contact))
    per_period(
        Promise.made_by_id,
        Promise.made_on,
        promises_made=_count(),
        promised_amount=_amount(Promise.amount, Promise.currency == currency),
    )
    per_period(
        Customer.collector_id,
        Payment.date,
        Payment.currency == currency,
        joined=join(Payment, Customer, Customer.id == Payment.customer_id),
        cash=_amount(Payment.amount),
    )
    per_period(
        Customer.collector_id,
        Invoice.issue_date,
        common(Invoice.kind == INVOICE),
        Invoice.currency == currency,
        joined=join(Invoice, Customer, Customer.id == Invoice.customer_id),
        sales=_amount(Invoice.amount),
    )


def _promise_states(
    session: Session, periods: Sequence[Period], only: Only, at: Any, today: date
) -> None:
    """Kept and broken promises by due date, each in its final state (the module docstring).

    A promise's share of the payments is settled the day after its due_by (services.promises
    shares payments in date order), and a promise is cancelled only while it is open
    (calls.cancel_promise), so on or before its due_by: the states on `judged_on`, the day after
    the last final due date, are every candidate's states the day after its own due_by. Promises
    due today or later are left out. The candidates (and who made them) come first from the
    promised dates' index: due_by = promised_on + grace lies in the range only if promised_on
    lies between its start less the longest grace and its end. For some collectors only, the
    states are then computed for the candidates' customers alone, not for every promise."""
    first = min(s for s, _ in periods)
    last = min(max(e for _, e in periods), today - timedelta(days=1))
    if last < first:
        return
    judged_on = last + timedelta(days=1)
    longest_grace = session.scalar(select(func.max(Promise.grace_days))) or 0
    candidates = session.execute(
        select(Promise.id, Promise.made_by_id, Promise.customer_id).where(
            Promise.promised_on >= first - timedelta(days=longest_grace),
            Promise.promised_on <= last,
            Promise.made_on <= last,
            _only(Promise.made_by_id, only),
        )
    ).all()
    if not candidates:
        return
    makers: dict[int, Key] = {promise_id: maker for promise_id, maker, _ in candidates}
    customers = None if only is None else {customer for *_, customer in candidates}
    for status in statuses_in_session(
        session, judged_on, customer_ids=customers, active_from=first
    ):
        if status.id not in makers or status.state not in (PromiseState.KEPT, PromiseState.BROKEN):
            continue
        if status.due_by > last:
            continue  # due today or later: not final yet
        for k, (start, end) in enumerate(periods):
            if start <= status.due_by <= end:
                sums = at(k, makers[status.id])
                if status.state == PromiseState.KEPT:
                    sums.kept += 1
                else:
                    sums.broken += 1


@dataclass(frozen=True)
class _PortfolioScope(_Scope):
    """The aging's scope (a currency) narrowed to some collectors' customers, inside every part
    of the signed rows, so one collector's aging reads their customers' items by the customer
    indexes rather than everyone's."""

    only: Only = field(default=None)

    def items(self, stmt: Select[Any], item: Any = Invoice) -> Select[Any]:
        return _in_portfolio(super().items(stmt, item), item.customer_id, self.only)

    def payments(self, stmt: Select[Any], payment: Any = Payment) -> Select[Any]:
        return _in_portfolio(super().payments(stmt, payment), payment.customer_id, self.only)


def _in_portfolio(stmt: Select[Any], customer_id: Any, only: Only) -> Select[Any]:
    """`stmt` kept to the wanted collectors' customers (by `customer_id`, through its index)."""
    if only is None:
        return stmt
    return stmt.where(
        customer_id.in_(select(Customer.id).where(_only(Customer.collector_id, only)))
    )


def _ar_at(
    session: Session, as_of: date, currency: str, only: Only
) -> dict[Key, tuple[Decimal, Decimal]]:
    """(AR, overdue AR) at a date per collector: the aging's signed rows (open items, credit
    notes negative) of one currency, summed by the customer's collector; overdue = due before
    the date (days past due > 0), so current AR = AR − overdue."""
    rows = signed_rows(
        session,
        as_of,
        source_for(session, as_of),
        _PortfolioScope(currency=currency, only=only),
        cash=False,
    )
    stmt = (
        select(
            Customer.collector_id,
            money_sum(rows.c.amount),
            money_sum(case((rows.c.due_date < as_of, rows.c.amount))),
        )
        .select_from(rows)
        .join(Customer, Customer.id == rows.c.customer_id)
        .group_by(Customer.collector_id)
    )
    return {
        key: (kpis.money_or_zero(total), kpis.money_or_zero(overdue))
        for key, total, overdue in session.execute(stmt)
    }


def _disputed_overdue(
    session: Session, as_of: date, currency: str, only: Only
) -> dict[Key, Decimal]:
    """The amounts disputed at a date on items overdue then, per collector: kpis'
    `disputed_rows` (each item's capped at its open amount at D) narrowed to items due before D
    in the report's currency, grouped by collector. The wanted collectors are a condition on
    the joined customer, not an IN list of their customers: the planners then start from the
    collector's customers (ix_customers_collector_id) and their invoices."""
    rows = kpis.disputed_rows(as_of)
    stmt = (
        select(Customer.collector_id, func.sum(rows.c.amount))
        .select_from(rows)
        .join(Customer, Customer.id == rows.c.customer_id)
        .where(
            rows.c.due_date < as_of,
            rows.c.currency == currency,
            _only(Customer.collector_id, only),
        )
        .group_by(Customer.collector_id)
    )
    return {key: kpis.money_or_zero(total) for key, total in session.execute(stmt) if total}
