"""The dashboard's figures for a period F..T: DSO, best possible DSO, ADD, CEI, countback DSO,
% overdue and the disputed amount; DSO month by month; the customers most overdue.

Definitions are domain.md's, to the letter:
- credit sales = Σ amounts of invoices (kind 'invoice') issued in F..T; days = T − F + 1;
- AR(D) = the aging total at D (open invoices − open credit notes; unapplied cash is not AR);
  current AR(T) = the open amount at T of items with days past due ≤ 0 (due on or after T),
  whatever the aging buckets are set to;
- DSO = AR(T) / credit sales × days; best possible DSO = current AR(T) / credit sales × days;
  ADD = DSO − best possible DSO; CEI = (AR(F−1) + sales − AR(T)) / (AR(F−1) + sales − current
  AR(T)) × 100; countback DSO walks back calendar months from T (see `countback`).
- % overdue = (AR(T) − current AR(T)) / AR(T) × 100. Disputed amount = the items' disputed
  amounts of the disputes open at T (opened by T, not resolved by T), each item's capped at its
  open amount at T.
Sums are exact (SQL over exact money); ratios are computed in Decimal from the exact sums and
rounded half-even to 2 decimals once, at the end. A ratio whose denominator is zero is None.

Currencies are never mixed: every figure exists per currency (`kpis_by_currency`); `kpis` returns
one currency's figures and, given none, refuses a portfolio that has several.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.db.types import Money
from o2c_desktop.errors import O2CError
from o2c_desktop.models import Customer, Dispute, DisputeItem, Invoice, User
from o2c_desktop.models.ledger import INVOICE, OPEN_DISPUTE_STATUSES
from o2c_desktop.services.aging import (
    Source,
    at_date,
    dated_ledger_rows,
    open_at_expression,
    reading,
    rollback_rows,
    rolled_back,
    signed_rows,
    source_for,
)
from o2c_desktop.services.auth import Actor, Permission

ZERO = Decimal("0.00")  # what an empty sum of money shows
HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
DEFAULT_CURRENCY = "EUR"


def round_ratio(value: Decimal | None) -> Decimal | None:
    """Half-even to 2 decimals, once, at the end."""
    return None if value is None else value.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def ratio(numerator: Decimal, denominator: Decimal, factor: Decimal | int) -> Decimal | None:
    """numerator / denominator × factor, unrounded; None when the denominator is zero."""
    if denominator == 0:
        return None
    return numerator * Decimal(factor) / denominator


def money_or_zero(value: Decimal | None) -> Decimal:
    """A SQL sum of money as the figures show it: an empty sum (NULL) is 0.00."""
    return ZERO if value is None else value


# ---------------------------------------------------------------------------------------------
# Sums in SQL
# ---------------------------------------------------------------------------------------------


def ar_at(
    session: Session, dates: Iterable[date], source: Source | None = None
) -> dict[date, dict[str, tuple[Decimal, Decimal]]]:
    """AR(D) and current AR(D) per currency for each date, exactly as the aging has them, in at
    most two passes: the dates `source_for` reads from the dated ledger in one, the others
    (today on, recent past) by rolling the maintained columns back in the other."""
    wanted = sorted(set(dates))
    result: dict[date, dict[str, tuple[Decimal, Decimal]]] = {d: {} for d in wanted}
    by_source: dict[Source, list[date]] = {}
    for as_of in wanted:
        by_source.setdefault(source or source_for(session, as_of), []).append(as_of)
    for chosen, group in by_source.items():
        if chosen is Source.LEDGER:
            rows = dated_ledger_rows(max(group))

            def value(as_of: date, rows: Any = rows) -> Any:
                return case((at_date(rows, as_of), rows.c.amount))

        else:
            rows = rollback_rows(session, min(group))

            def value(as_of: date, rows: Any = rows) -> Any:
                return rolled_back(rows, as_of)

        columns = []
        for as_of in group:
            columns.append(money_sum(value(as_of)))
            columns.append(money_sum(case((rows.c.due_date >= as_of, value(as_of)))))
        stmt = select(rows.c.currency, *columns).group_by(rows.c.currency)
        for currency, *values in session.execute(stmt):
            for k, as_of in enumerate(group):
                total, current = money_or_zero(values[2 * k]), money_or_zero(values[2 * k + 1])
                if total or current:
                    result[as_of][currency] = (total, current)
    return result


def ar_at_dates(
    db: Database, actor: Actor, dates: Iterable[date], source: Source | None = None
) -> dict[date, dict[str, tuple[Decimal, Decimal]]]:
    """AR and current AR per currency at each date (the aging totals), in as few passes as
    possible: for charts and checks."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        return ar_at(session, dates, source)


def credit_sales_by_currency(session: Session, date_from: date, date_to: date) -> dict[str, Any]:
    stmt = (
        select(Invoice.currency, func.sum(Invoice.amount))
        .where(
            common(Invoice.kind == INVOICE),
            Invoice.issue_date >= date_from,
            Invoice.issue_date <= date_to,
        )
        .group_by(Invoice.currency)
    )
    return {cur: money_or_zero(total) for cur, total in session.execute(stmt)}


def disputed_rows(as_of: date) -> Any:
    """A subquery of the invoices disputed at D (customer_id, currency, due_date, amount): the
    disputes open at D (opened by D and not resolved by D; a dispute with no resolution date
    counts while its status is open or in review), their items' disputed amounts per invoice
    issued by D, each capped at the invoice's open amount at D: a dispute raised before a
    partial payment can cover more than is still owed, and what is disputed is never more than
    what is open. Grouped by currency it is the KPIs' disputed amount; by customer or due date,
    a portfolio's (collector_results)."""
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
    return (
        select(
            Invoice.customer_id.label("customer_id"),
            Invoice.currency.label("currency"),
            Invoice.due_date.label("due_date"),
            type_coerce(capped, Money()).label("amount"),
        )
        .select_from(per_item)
        .join(Invoice, Invoice.id == per_item.c.invoice_id)
        .where(Invoice.issue_date <= as_of)
        .subquery("disputed_rows")
    )


def disputed_by_currency(session: Session, as_of: date) -> dict[str, Decimal]:
    """The disputed amount at D per currency (see `disputed_rows`)."""
    rows = disputed_rows(as_of)
    stmt = select(rows.c.currency, func.sum(rows.c.amount)).group_by(rows.c.currency)
    return {cur: money_or_zero(total) for cur, total in session.execute(stmt)}


# ---------------------------------------------------------------------------------------------
# Countback
# ---------------------------------------------------------------------------------------------


def month_periods_back(as_of: date) -> Iterable[tuple[date, date]]:
    """Calendar months walking back from a date: first the 1st of its month to the date itself,
    then each whole month before it."""
    end = as_of
    while True:
        start = end.replace(day=1)
        yield start, end
        end = start - timedelta(days=1)


def countback(ar: Decimal, monthly_sales: Iterable[tuple[Decimal, int]]) -> Decimal:
    """Countback DSO from AR and (sales, days) of each month walking back from T: while the AR
    left covers the month's sales, add its days and take its sales off; then add (AR left /
    that month's sales) × its days and stop. Nothing is left to count once the AR left is zero
    (or below: a credit balance has no days outstanding), so the walk also ends there."""
    days = ZERO
    left = ar
    for sales, month_days in monthly_sales:
        if left <= 0:
            break
        if left >= sales:
            days += month_days
            left -= sales
        else:
            days += left * month_days / sales
            break
    return days


def _countback_by_currency(
    session: Session, as_of: date, ar: dict[str, Decimal]
) -> dict[str, Decimal]:
    """Walk back month by month (one indexed range query per month) until every currency's AR is
    counted. AR never exceeds the invoices issued by T, so the walk ends; it also stops at the
    earliest invoice."""
    earliest = session.scalar(
        select(func.min(Invoice.issue_date)).where(common(Invoice.kind == INVOICE))
    )
    pending = {cur for cur, value in ar.items() if value > 0}
    months: list[tuple[dict[str, Decimal], int]] = []
    if earliest is not None and pending:
        for start, end in month_periods_back(as_of):
            if end < earliest:
                break
            sales = credit_sales_by_currency(session, start, end)
            months.append((sales, (end - start).days + 1))
            for cur in list(pending):
                if sum((m.get(cur, ZERO) for m, _ in months), ZERO) >= ar[cur]:
                    pending.discard(cur)
            if not pending:
                break
    return {
        cur: countback(value, ((m.get(cur, ZERO), d) for m, d in months))
        for cur, value in ar.items()
    }


# ---------------------------------------------------------------------------------------------
# KPIs for a period
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpis:
    """One currency's KPIs for F..T. Amounts exact; ratios rounded half-even to 2 decimals (None
    when undefined: no credit sales, a zero CEI denominator, no AR)."""

    currency: str
    date_from: date
    date_to: date
    days: int
    credit_sales: Decimal
    ar_opening: Decimal
    ar_total: Decimal
    ar_current: Decimal
    disputed_amount: Decimal
    dso: Decimal | None
    best_possible_dso: Decimal | None
    add: Decimal | None
    cei: Decimal | None
    countback_dso: Decimal | None
    percent_overdue: Decimal | None

    @property
    def ar_overdue(self) -> Decimal:
        return self.ar_total - self.ar_current


def compute_kpis(
    currency: str,
    date_from: date,
    date_to: date,
    *,
    credit_sales: Decimal,
    ar_opening: Decimal,
    ar_total: Decimal,
    ar_current: Decimal,
    disputed_amount: Decimal = ZERO,
    countback_days: Decimal | None = None,
) -> Kpis:
    """The ratios from the exact sums (pure arithmetic, rounded once at the end)."""
    days = (date_to - date_from).days + 1
    dso = ratio(ar_total, credit_sales, days)
    best = ratio(ar_current, credit_sales, days)
    add = None if dso is None or best is None else dso - best
    cei = ratio(
        ar_opening + credit_sales - ar_total, ar_opening + credit_sales - ar_current, HUNDRED
    )
    overdue = ratio(ar_total - ar_current, ar_total, HUNDRED)
    return Kpis(
        currency,
        date_from,
        date_to,
        days,
        credit_sales,
        ar_opening,
        ar_total,
        ar_current,
        disputed_amount,
        round_ratio(dso),
        round_ratio(best),
        round_ratio(add),
        round_ratio(cei),
        round_ratio(countback_days),
        round_ratio(overdue),
    )


def _check_period(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise O2CError(
            f"The period starts ({date_from.isoformat()}) after it ends ({date_to.isoformat()})."
        )


def kpis_by_currency(db: Database, actor: Actor, date_from: date, date_to: date) -> dict[str, Kpis]:
    """Every currency's KPIs for F..T (the currencies with sales, AR or disputes), by code."""
    actor.require(Permission.VIEW_REPORTS)
    _check_period(date_from, date_to)
    with reading(db) as session:
        return _kpis_by_currency(session, date_from, date_to)


def _kpis_by_currency(session: Session, date_from: date, date_to: date) -> dict[str, Kpis]:
    sales = credit_sales_by_currency(session, date_from, date_to)
    day_before = date_from - timedelta(days=1)
    ars = ar_at(session, (day_before, date_to))
    opening, closing = ars[day_before], ars[date_to]
    disputed = disputed_by_currency(session, date_to)
    currencies = sorted(set(sales) | set(opening) | set(closing) | set(disputed))
    ar_total = {cur: closing.get(cur, (ZERO, ZERO))[0] for cur in currencies}
    countbacks = _countback_by_currency(session, date_to, ar_total)
    result = {}
    for cur in currencies:
        total, current = closing.get(cur, (ZERO, ZERO))
        result[cur] = compute_kpis(
            cur,
            date_from,
            date_to,
            credit_sales=sales.get(cur, ZERO),
            ar_opening=opening.get(cur, (ZERO, ZERO))[0],
            ar_total=total,
            ar_current=current,
            disputed_amount=disputed.get(cur, ZERO),
            countback_days=countbacks.get(cur),
        )
    return result


def currencies(db: Database, actor: Actor) -> list[str]:
    """The portfolio's currencies, the most customers first: the dashboard's currency choice."""
    actor.require(Permission.VIEW_REPORTS)
    with reading(db) as session:
        return currencies_in_session(session)


def currencies_in_session(session: Session) -> list[str]:
    """`currencies` in the caller's session."""
    count = func.count(Customer.id)
    stmt = (
        select(Customer.currency)
        .group_by(Customer.currency)
        .order_by(count.desc(), Customer.currency)
    )
    return list(session.scalars(stmt))


def default_currency_in_session(session: Session) -> str:
    """The currency reported when none is chosen and the figures do not decide: the one most
    customers have, EUR in an empty database (there is no department reporting currency)."""
    known = currencies_in_session(session)
    return known[0] if known else DEFAULT_CURRENCY


def _pick(
    by_currency: dict[str, Any], currency: str | None, session: Session
) -> tuple[str, Any | None]:
    """The currency to report: the one asked for, else the only one there is."""
    if currency is not None:
        return currency, by_currency.get(currency)
    if len(by_currency) > 1:
        raise O2CError(
            "The portfolio has items in several currencies ("
            + ", ".join(sorted(by_currency))
            + "); choose one, figures in different currencies are never added together."
        )
    if by_currency:
        only = next(iter(by_currency))
        return only, by_currency[only]
    return default_currency_in_session(session), None


def kpis(
    db: Database, actor: Actor, date_from: date, date_to: date, currency: str | None = None
) -> Kpis:
    """The KPIs for F..T in one currency (given, or the portfolio's only one)."""
    actor.require(Permission.VIEW_REPORTS)
    _check_period(date_from, date_to)
    with reading(db) as session:
        by_currency = _kpis_by_currency(session, date_from, date_to)
        chosen, found = _pick(by_currency, currency, session)
        if found is not None:
            return found
        return compute_kpis(
            chosen,
            date_from,
            date_to,
            credit_sales=ZERO,
            ar_opening=ZERO,
            ar_total=ZERO,
            ar_current=ZERO,
            countback_days=ZERO,
        )


# ---------------------------------------------------------------------------------------------
# Charts: DSO month by month, the most overdue customers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DsoPoint:
    """One calendar month as its own period: DSO = AR at its end / its sales × its days."""

    month_start: date
    month_end: date
    credit_sales: Decimal
    ar_total: Decimal
    dso: Decimal | None


def last_months(as_of: date, months: int) -> list[tuple[date, date]]:
    """The last `months` calendar months, oldest first; the newest ends at `as_of`."""
    periods = []
    for start, end in month_periods_back(as_of):
        periods.append((start, end))
        if len(periods) == months:
            break
    return periods[::-1]


def dso_series(
    db: Database,
    actor: Actor,
    months: int = 12,
    as_of: date | None = None,
    currency: str | None = None,
) -> list[DsoPoint]:
    """DSO of each of the last `months` calendar months (oldest first), each month its own period;
    the newest month runs from its 1st to `as_of` (default today). One currency: the one given,
    else the portfolio's only one."""
    actor.require(Permission.VIEW_REPORTS)
    as_of = as_of or date.today()
    periods = last_months(as_of, months)
    with reading(db) as session:
        sales_by_month = [credit_sales_by_currency(session, s, e) for s, e in periods]
        ars = ar_at(session, [end for _, end in periods])
        seen = {cur for m in sales_by_month for cur in m} | {c for a in ars.values() for c in a}
        chosen, _ = _pick(dict.fromkeys(seen, True), currency, session)
        points = []
        for (start, end), sales in zip(periods, sales_by_month, strict=True):
            month_sales = sales.get(chosen, ZERO)
            ar = ars[end].get(chosen, (ZERO, ZERO))[0]
            dso = ratio(ar, month_sales, (end - start).days + 1)
            points.append(DsoPoint(start, end, month_sales, ar, round_ratio(dso)))
        return points


@dataclass(frozen=True)
class OverdueCustomer:
    """A customer's overdue amount (open items with days past due ≥ 1, credit notes netted) and
    AR in one currency."""

    customer_id: int
    number: str
    name: str
    collector: str | None
    currency: str
    overdue: Decimal
    total: Decimal


def top_overdue_by_currency(
    db: Database, actor: Actor, as_of: date | None = None, n: int = 10
) -> dict[str, list[OverdueCustomer]]:
    """Per currency, the `n` customers with the largest overdue amount at a date, largest first
    (ties by customer number)."""
    actor.require(Permission.VIEW_REPORTS)
    as_of = as_of or date.today()
    with reading(db) as session:
        return _top_overdue(session, as_of, n)


def _top_overdue(session: Session, as_of: date, n: int) -> dict[str, list[OverdueCustomer]]:
    rows = signed_rows(session, as_of, source_for(session, as_of), cash=False)
    overdue = func.sum(case((rows.c.due_date < as_of, rows.c.amount)))
    grouped = (
        select(
            rows.c.customer_id,
            rows.c.currency,
            overdue.label("overdue"),
            func.sum(rows.c.amount).label("total"),
        )
        .group_by(rows.c.customer_id, rows.c.currency)
        .having(overdue > 0)
        .subquery("grouped")
    )
    ranked = (
        select(
            grouped,
            Customer.number,
            Customer.name,
            User.display_name.label("collector"),
            func.row_number()
            .over(
                partition_by=grouped.c.currency,
                order_by=(grouped.c.overdue.desc(), Customer.number),
            )
            .label("rank"),
        )
        .join(Customer, Customer.id == grouped.c.customer_id)
        .outerjoin(User, User.id == Customer.collector_id)
        .subquery("ranked")
    )
    stmt = select(ranked).where(ranked.c.rank <= n).order_by(ranked.c.currency, ranked.c.rank)
    result: dict[str, list[OverdueCustomer]] = {}
    for r in session.execute(stmt):
        result.setdefault(r.currency, []).append(
            OverdueCustomer(
                r.customer_id,
                r.number,
                r.name,
                r.collector,
                r.currency,
                money_or_zero(r.overdue),
                money_or_zero(r.total),
            )
        )
    return result


def top_overdue(
    db: Database, actor: Actor, as_of: date | None = None, n: int = 10, currency: str | None = None
) -> list[OverdueCustomer]:
    """The `n` customers with the largest overdue amount at a date, largest first, in one
    currency (given, or the portfolio's only one)."""
    actor.require(Permission.VIEW_REPORTS)
    as_of = as_of or date.today()
    with reading(db) as session:
        by_currency = _top_overdue(session, as_of, n)
        _, found = _pick(by_currency, currency, session)
        return found or []
