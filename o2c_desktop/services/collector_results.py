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
  (promised_on + grace) falls in F..T, in their state as of T (services.promises): a promise due
  on T itself is still open at T and counts in neither; a cancelled one counts in neither. Counts
  are of promises in any currency (a state is not an amount).
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

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, false, func, or_, select, true, type_coerce
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.db.types import Money
from o2c_desktop.errors import FieldProblem, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    Call,
    Customer,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
    Promise,
    User,
    UserRole,
)
from o2c_desktop.models.collections import CONTACT_OUTCOMES
from o2c_desktop.models.ledger import INVOICE, OPEN_DISPUTE_STATUSES
from o2c_desktop.models.users import Role
from o2c_desktop.money import is_currency
from o2c_desktop.services import kpis, portfolios
from o2c_desktop.services.aging import (
    _Scope,
    open_at_expression,
    reading,
    signed_rows,
    source_for,
)
from o2c_desktop.services.auth import Actor, Permission, refusal
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
        return _default_currency(session)


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
        code = code or _default_currency(session)
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
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
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
    periods = kpis._month_ends(date_to, months)
    with reading(db) as session:
        if collector_id is not None and session.get(User, collector_id) is None:
            raise NotFound(f"User #{collector_id} does not exist.")
        code = code or _default_currency(session)
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


def _default_currency(session: Session) -> str:
    known = kpis._currencies(session)
    return known[0] if known else kpis.DEFAULT_CURRENCY


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
    return kpis.round_ratio(kpis._ratio(Decimal(part), Decimal(whole), kpis.HUNDRED))


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

    _calls(session, periods, only, at)
    _promises_made(session, periods, currency, only, at)
    _promise_states(session, periods, only, at)
    _cash_and_sales(session, periods, currency, only, at)
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


def _calls(session: Session, periods: Sequence[Period], only: Only, at: Any) -> None:
    contact = Call.outcome.in_(CONTACT_OUTCOMES)
    columns = []
    for period in periods:
        inside = _between(Call.called_on, period)
        columns.append(func.count(case((inside, 1))))
        columns.append(func.count(case((and_(inside, contact), 1))))
    stmt = (
        select(Call.user_id, *columns)
        .where(_range(Call.called_on, periods), _only(Call.user_id, only))
        .group_by(Call.user_id)
    )
    for key, *values in session.execute(stmt):
        for k in range(len(periods)):
            sums = at(k, key)
            sums.calls, sums.contacts = int(values[2 * k]), int(values[2 * k + 1])


def _promises_made(
    session: Session, periods: Sequence[Period], currency: str, only: Only, at: Any
) -> None:
    columns = []
    for period in periods:
        inside = _between(Promise.made_on, period)
        columns.append(func.count(case((inside, 1))))
        columns.append(
            money_sum(case((and_(inside, Promise.currency == currency), Promise.amount)))
        )
    stmt = (
        select(Promise.made_by_id, *columns)
        .where(_range(Promise.made_on, periods), _only(Promise.made_by_id, only))
        .group_by(Promise.made_by_id)
    )
    for key, *values in session.execute(stmt):
        for k in range(len(periods)):
            sums = at(k, key)
            sums.promises_made = int(values[2 * k])
            sums.promised_amount = kpis._money(values[2 * k + 1])


def _promise_states(session: Session, periods: Sequence[Period], only: Only, at: Any) -> None:
    """Kept and broken promises by due date, in their state at the end of the last period, from
    services.promises. The candidates (and who made them) come first from the promised dates'
    index: due_by = promised_on + grace lies in the range only if promised_on lies between its
    start less the longest grace and its end. For some collectors only, the states are then
    computed for the candidates' customers alone, not for every promise."""
    first, last = min(s for s, _ in periods), max(e for _, e in periods)
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
    for status in statuses_in_session(session, last, customer_ids=customers, active_from=first):
        if status.id not in makers or status.state not in (PromiseState.KEPT, PromiseState.BROKEN):
            continue
        for k, (start, end) in enumerate(periods):
            if start <= status.due_by <= end:
                sums = at(k, makers[status.id])
                if status.state == PromiseState.KEPT:
                    sums.kept += 1
                else:
                    sums.broken += 1


def _cash_and_sales(
    session: Session, periods: Sequence[Period], currency: str, only: Only, at: Any
) -> None:
    """Payments dated in each period and invoices issued in it, by the customer's collector."""
    cash_columns = [money_sum(case((_between(Payment.date, p), Payment.amount))) for p in periods]
    cash = (
        select(Customer.collector_id, *cash_columns)
        .select_from(Payment)
        .join(Customer, Customer.id == Payment.customer_id)
        .where(
            _range(Payment.date, periods),
            Payment.currency == currency,
            _only(Customer.collector_id, only),
        )
        .group_by(Customer.collector_id)
    )
    for key, *values in session.execute(cash):
        for k in range(len(periods)):
            at(k, key).cash = kpis._money(values[k])
    sales_columns = [
        money_sum(case((_between(Invoice.issue_date, p), Invoice.amount))) for p in periods
    ]
    sales = (
        select(Customer.collector_id, *sales_columns)
        .select_from(Invoice)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            common(Invoice.kind == INVOICE),
            _range(Invoice.issue_date, periods),
            Invoice.currency == currency,
            _only(Customer.collector_id, only),
        )
        .group_by(Customer.collector_id)
    )
    for key, *values in session.execute(sales):
        for k in range(len(periods)):
            at(k, key).sales = kpis._money(values[k])


@dataclass(frozen=True)
class _PortfolioScope(_Scope):
    """The aging's scope (a currency) narrowed to some collectors' customers, inside every part
    of the signed rows, so one collector's aging reads their customers' items by the customer
    indexes rather than everyone's."""

    only: Only = field(default=None)

    def _customers(self) -> Any:
        return select(Customer.id).where(_only(Customer.collector_id, self.only))

    def items(self, stmt: Select[Any], item: Any = Invoice) -> Select[Any]:
        stmt = super().items(stmt, item)
        return stmt if self.only is None else stmt.where(item.customer_id.in_(self._customers()))

    def payments(self, stmt: Select[Any], payment: Any = Payment) -> Select[Any]:
        stmt = super().payments(stmt, payment)
        if self.only is None:
            return stmt
        return stmt.where(payment.customer_id.in_(self._customers()))


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
        key: (kpis._money(total), kpis._money(overdue))
        for key, total, overdue in session.execute(stmt)
    }


def _disputed_overdue(
    session: Session, as_of: date, currency: str, only: Only
) -> dict[Key, Decimal]:
    """The amounts disputed at a date on items overdue then, per collector: kpis'
    disputed_by_currency (disputes opened by D and not resolved by D, each item's capped at its
    open amount at D) narrowed to items due before D and grouped by collector."""
    open_at = and_(
        Dispute.opened_on <= as_of,
        or_(
            Dispute.resolved_on > as_of,
            and_(Dispute.resolved_on.is_(None), Dispute.status.in_(OPEN_DISPUTE_STATUSES)),
        ),
    )
    per_item = (
        select(DisputeItem.invoice_id.label("invoice_id"), func.sum(DisputeItem.amount).label("d"))
        .join(Dispute, Dispute.id == DisputeItem.dispute_id)
        .where(open_at)
        .group_by(DisputeItem.invoice_id)
        .subquery("disputed")
    )
    still_open = open_at_expression(as_of)
    capped = case((per_item.c.d < still_open, per_item.c.d), else_=still_open)
    stmt = (
        select(Customer.collector_id, func.sum(type_coerce(capped, Money())))
        .select_from(per_item)
        .join(Invoice, Invoice.id == per_item.c.invoice_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.issue_date <= as_of,
            Invoice.due_date < as_of,
            Invoice.currency == currency,
            _only(Customer.collector_id, only),
        )
        .group_by(Customer.collector_id)
    )
    return {key: kpis._money(total) for key, total in session.execute(stmt) if total}
