"""Customer orders on credit, and the credit holds that stop them.

An order counts in the customer's exposure while it is open (released, or never held); a held,
rejected or closed one does not (services.exposure). Whether a new order is held is decided
once, when it is entered or imported, on today's figures whatever its order date (the credit
is granted now), by three rules; every rule that applies is kept, one reason per line, so the
holds queue can say why:

1. the customer is on hold ("customer on hold: <its hold reason>");
2. exposure + the order would exceed the limit in force today (credit_policy.effective_limit:
   a temporary limit up to its last day); exactly at the limit is not over it;
3. invoices more than policy.hold_days_past_due days past due are open (their open amount now,
   disputed parts included: a dispute keeps an item out of dunning, not out of credit risk).

A held order waits for someone with RELEASE_ORDERS: releasing needs an approval authority in
the order's currency of at least the customer's exposure after the release
(credit_authority.require_release_authority); rejecting does not. An open order is closed when
it is invoiced (its invoice carries the exposure from then on) or cancelled.

The rules read the customer's facts (`CreditFacts`) for many customers at once, so an import
of 100,000 rows asks the database per chunk of customers, not per row, and applies the same
rules row by row with the exposure growing within the file (order_import). Order numbers are
checked and given out under one lock (`serialize_numbering`), so two clerks entering orders at
the same moment never get the same SO- number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal_column, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import Customer, Invoice, Order, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    ORDER_CLOSED,
    ORDER_HELD,
    ORDER_OPEN,
    ORDER_REJECTED,
    ORDER_STATUSES,
)
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.money import is_currency, money_text, round_money
from o2c_desktop.services import audit, credit_authority
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_policy import CreditPolicy, effective_limit, read_policy
from o2c_desktop.services.customers import search_condition
from o2c_desktop.services.day_range import RANGE_TEXT, in_range
from o2c_desktop.services.exposure import live_orders_condition, refresh_exposure
from o2c_desktop.services.field_checks import row_id, text_field
from o2c_desktop.services.ledger import check_amount
from o2c_desktop.services.search_terms import prefix_upper_bound
from o2c_desktop.services.stored_rows import audit_change, locked_at_version

NUMBER_LENGTH = 40
EXTERNAL_ID_LENGTH = 64
REASON_LENGTH = 500
AUTO_PREFIX = "SO-"  # numbers given to orders entered without one: SO-000001, …
CLOSE_REASONS = ("invoiced", "cancelled")  # what a close dialog offers (any words will do)
VALUE_NAMES = (
    "customer",
    "customer_id",
    "number",
    "order_date",
    "amount",
    "currency",
    "external_id",
)
_CHUNK = 1000  # customer ids per statement (SQLite's bound-parameter limit)
_ZERO_SQL = literal_column("0")  # a literal: SQLite uses the open items' partial index only so
_NUMBERING_LOCK = 0x0C2A_0060  # PostgreSQL advisory lock: "order numbers"


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderView:
    """An order as screens and the command line show it. `hold_reasons`: one per rule that
    held it (empty when it was never held); `decided_*`: who released, rejected or closed it."""

    id: int
    number: str
    customer_id: int
    customer_number: str
    customer_name: str
    order_date: date
    amount: Decimal
    currency: str
    external_id: str | None
    status: str
    hold_reasons: tuple[str, ...]
    held_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    entered_by: str | None
    created_at: datetime
    version: int


@dataclass(frozen=True)
class OrderQuery:
    """What an order list shows; filtered, ordered and limited in SQL. The default is the holds
    queue: held orders, the longest waiting first."""

    statuses: tuple[str, ...] = (ORDER_HELD,)
    customer_id: int | None = None
    search: str = ""
    limit: int = 5000


@dataclass(frozen=True)
class PastDue:
    """Invoices of one currency open more than the policy's days past due."""

    currency: str
    amount: Decimal
    oldest_days: int


@dataclass(frozen=True)
class CreditFacts:
    """What the hold rules read of a customer on the day: its hold, its exposure and the limit
    in force (both in its currency), and what is long past due."""

    customer_id: int
    currency: str
    on_hold: bool
    hold_reason: str | None
    exposure: Decimal
    limit: Decimal
    past_due: tuple[PastDue, ...]
    days_past_due: int  # the policy's threshold, for the reason's wording


# ---------------------------------------------------------------------------------------------
# The hold rules
# ---------------------------------------------------------------------------------------------


def _past_due(
    session: Session, customer_ids: Sequence[int], as_of: date, days: int
) -> dict[int, list[PastDue]]:
    """{customer: [what is open more than `days` days past due at `as_of`, per currency]}: one
    grouped read per chunk of customers over the open items' partial index (which holds every
    column it needs). Open amounts are the maintained ones: allocations cannot be dated after
    today (services.ledger), so they are today's."""
    cutoff = as_of - timedelta(days=days)
    found: dict[int, list[PastDue]] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(
                Invoice.customer_id,
                Invoice.currency,
                money_sum(Invoice.open_amount),
                func.min(Invoice.due_date),
            )
            .where(
                Invoice.customer_id.in_(ids[start : start + _CHUNK]),
                Invoice.open_amount != _ZERO_SQL,
                common(Invoice.kind == INVOICE),  # else SQLite walks every invoice by kind
                Invoice.due_date < cutoff,
                Invoice.issue_date <= as_of,
            )
            .group_by(Invoice.customer_id, Invoice.currency)
            .order_by(Invoice.customer_id, Invoice.currency)
        )
        for customer_id, currency, amount, oldest in rows:
            found.setdefault(customer_id, []).append(
                PastDue(currency, amount, (as_of - oldest).days)
            )
    return found


def _facts(
    customer: Any, past_due: Sequence[PastDue], as_of: date, policy: CreditPolicy
) -> CreditFacts:
    """A customer's facts from its row (an ORM Customer or a row of the same columns)."""
    return CreditFacts(
        customer_id=customer.id,
        currency=customer.currency,
        on_hold=bool(customer.on_hold),
        hold_reason=customer.hold_reason,
        exposure=customer.exposure,
        limit=effective_limit(
            customer.credit_limit,
            customer.temporary_limit,
            customer.temporary_limit_until,
            as_of,
        ),
        past_due=tuple(past_due),
        days_past_due=policy.hold_days_past_due,
    )


def credit_facts_in_session(
    session: Session, customer_ids: Iterable[int], as_of: date, policy: CreditPolicy
) -> dict[int, CreditFacts]:
    """The facts of many customers, a chunk of them per statement (an import's customers)."""
    ids = sorted(set(customer_ids))
    past_due = _past_due(session, ids, as_of, policy.hold_days_past_due)
    facts: dict[int, CreditFacts] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(
                Customer.id,
                Customer.currency,
                Customer.on_hold,
                Customer.hold_reason,
                Customer.exposure,
                Customer.credit_limit,
                Customer.temporary_limit,
                Customer.temporary_limit_until,
            ).where(Customer.id.in_(ids[start : start + _CHUNK]))
        )
        for row in rows:
            facts[row.id] = _facts(row, past_due.get(row.id, ()), as_of, policy)
    return facts


def hold_reasons(facts: CreditFacts, amount: Decimal, exposure: Decimal | None = None) -> list[str]:
    """Why an order of `amount` (in the customer's currency) is held; empty: it is not.
    `exposure` overrides the customer's stored one (an import adds the file's earlier orders)."""
    reasons = []
    if facts.on_hold:
        reasons.append(
            f"customer on hold: {facts.hold_reason}" if facts.hold_reason else "customer on hold"
        )
    current = facts.exposure if exposure is None else exposure
    if current + amount > facts.limit:
        currency = facts.currency
        reasons.append(
            f"exceeds available credit: exposure {money_text(current, currency)} + order "
            f"{money_text(amount, currency)} = {money_text(current + amount, currency)} over "
            f"limit {money_text(facts.limit, currency)}"
        )
    for late in facts.past_due:
        reasons.append(
            f"{money_text(late.amount, late.currency)} more than {facts.days_past_due} days "
            f"past due (oldest {late.oldest_days} days)"
        )
    return reasons


def hold_reasons_in_session(
    session: Session, customer: Customer, amount: Decimal, as_of: date, policy: CreditPolicy
) -> list[str]:
    """Why an order of `amount` for `customer` would be held at `as_of` (empty: it would not),
    on the customer's stored exposure."""
    past_due = _past_due(session, [customer.id], as_of, policy.hold_days_past_due)
    return hold_reasons(_facts(customer, past_due.get(customer.id, ()), as_of, policy), amount)


def reasons_text(reasons: Sequence[str]) -> str | None:
    """How the reasons are stored: one per line (None when the order is not held)."""
    return "\n".join(reasons) if reasons else None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

_decider = aliased(User, name="decider")
_enterer = aliased(User, name="enterer")


def _view_statement() -> Select[Any]:
    """Every OrderView column, the customer's and the users' names joined (one query)."""
    return (
        select(
            Order.id,
            Order.number,
            Order.customer_id,
            Customer.number.label("customer_number"),
            Customer.name.label("customer_name"),
            Order.order_date,
            Order.amount,
            Order.currency,
            Order.external_id,
            Order.status,
            Order.hold_reasons,
            Order.held_at,
            _decider.display_name.label("decided_by"),
            Order.decided_at,
            Order.decision_reason,
            _enterer.display_name.label("entered_by"),
            Order.created_at,
            Order.version,
        )
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(_decider, _decider.id == Order.decided_by_id)
        .outerjoin(_enterer, _enterer.id == Order.entered_by_id)
    )


def _views(rows: Iterable[Any]) -> list[OrderView]:
    views = []
    for row in rows:
        values = dict(row._mapping)
        values["hold_reasons"] = tuple((values["hold_reasons"] or "").splitlines())
        views.append(OrderView(**values))
    return views


def view_in_session(session: Session, order_id: int) -> OrderView:
    """One order as a value, with what the caller's transaction changed of it."""
    session.flush()
    order_id = row_id(order_id, "order")
    found = _views(session.execute(_view_statement().where(Order.id == order_id)))
    if not found:
        raise NotFound(f"Order #{order_id} does not exist (deleted by another user?).")
    return found[0]


def get_order(db: Database, actor: Actor, order_id: int) -> OrderView:
    """One order as it stands now (a dialog reloads it before deciding)."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return view_in_session(session, order_id)


def _list_statement(query: OrderQuery, dialect: str) -> Select[Any]:
    stmt = _view_statement()
    if query.statuses:
        stmt = stmt.where(Order.status.in_(query.statuses))
        if set(query.statuses) <= {ORDER_OPEN, ORDER_HELD}:
            stmt = stmt.where(live_orders_condition())  # the partial index, on SQLite too
    if query.customer_id is not None:
        stmt = stmt.where(Order.customer_id == row_id(query.customer_id, "customer"))
    search = query.search.strip()
    if search:
        matches = [
            (Order.number >= search) & (Order.number < prefix_upper_bound(search)),
            Order.external_id == search,
        ]
        customer_match = search_condition(search, dialect)
        if customer_match is not None:
            matches.append(customer_match)
        stmt = stmt.where(or_(*matches))
    if query.statuses == (ORDER_HELD,):
        return stmt.order_by(Order.held_at, Order.id).limit(query.limit)
    return stmt.order_by(Order.created_at.desc(), Order.id.desc()).limit(query.limit)


def list_orders(db: Database, actor: Actor, query: OrderQuery) -> list[OrderView]:
    """Orders by status, customer and search (an order number prefix, an external id, or the
    customer list's search), the held ones oldest first, the others newest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    unknown = [s for s in query.statuses if s not in ORDER_STATUSES]
    if unknown:
        raise ValidationFailed(
            [FieldProblem("statuses", f"one of {', '.join(ORDER_STATUSES)}", None, unknown[0])]
        )
    with db.read() as session:
        dialect = session.get_bind().dialect.name
        return _views(session.execute(_list_statement(query, dialect)))


def holds_queue(db: Database, actor: Actor) -> list[OrderView]:
    """Every held order, the longest waiting first: the credit department's work list."""
    return list_orders(db, actor, OrderQuery())


# ---------------------------------------------------------------------------------------------
# Entering an order
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    customer: Customer
    number: str
    order_date: date
    amount: Decimal
    currency: str
    external_id: str | None


def _customer(session: Session, values: Mapping[str, Any], problems: list[FieldProblem]) -> Any:
    """The order's customer, locked (PostgreSQL) so that two orders for it entered at once are
    checked one after the other against its exposure, and read afresh: exposure is refreshed by
    a set-based UPDATE that leaves a customer already in the session as it was."""
    customer_id, number = values.get("customer_id"), values.get("customer")
    if customer_id not in (None, ""):
        found = session.get(
            Customer, row_id(customer_id, "customer"), with_for_update=True, populate_existing=True
        )
    elif isinstance(number, str) and number.strip():
        found = session.scalar(
            select(Customer)
            .where(Customer.number == number.strip())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        problems.append(FieldProblem("customer", "required"))
        return None
    if found is None:
        shown = str(customer_id if customer_id not in (None, "") else number)
        problems.append(FieldProblem("customer", "no such customer", value=shown))
    return found


def _order_date(value: Any, problems: list[FieldProblem]) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return date.today()
    day: date | None = None
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            problems.append(FieldProblem("order_date", "not a date (YYYY-MM-DD)", value=value))
            return None
    else:
        problems.append(FieldProblem("order_date", "a date is required", value=str(value)))
        return None
    if not in_range(day):
        problems.append(FieldProblem("order_date", RANGE_TEXT, value=day.isoformat()))
        return None
    return day


def serialize_numbering(session: Session) -> None:
    """PostgreSQL: wait for any other transaction checking or giving order numbers, until it
    commits (SQLite's write transactions are serial already). Taken after the customers' row
    locks and before the orders are written, by order entry and order import alike, so the two
    queue instead of deadlocking."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _NUMBERING_LOCK})


def _number_used(number: str) -> FieldProblem:
    return FieldProblem("number", f"order number {number} is already used", value=number)


def _next_number(session: Session) -> str:
    """The next free SO-nnnnnn number (for orders entered without a number of their own)."""
    width = len(AUTO_PREFIX) + 6
    last = session.scalar(
        select(func.max(Order.number)).where(
            Order.number.like(f"{AUTO_PREFIX}%"), func.length(Order.number) == width
        )
    )
    tail = last[len(AUTO_PREFIX) :] if last else ""
    n = int(tail) + 1 if tail.isdigit() else 1
    while session.scalar(select(Order.id).where(Order.number == f"{AUTO_PREFIX}{n:06d}")):
        n += 1
    return f"{AUTO_PREFIX}{n:06d}"


def _check(session: Session, values: Mapping[str, Any]) -> _Checked:
    problems: list[FieldProblem] = []
    for key in values:
        if key not in VALUE_NAMES:
            problems.append(FieldProblem(str(key), "is not a field of an order"))
    customer = _customer(session, values, problems)
    serialize_numbering(session)
    number = text_field("number", values.get("number"), NUMBER_LENGTH, problems)
    if number and session.scalar(select(Order.id).where(Order.number == number)):
        problems.append(_number_used(number))
    order_date = _order_date(values.get("order_date"), problems)
    raw_currency = values.get("currency")
    currency = str(raw_currency).strip().upper() if raw_currency not in (None, "") else None
    if currency is not None and not is_currency(currency):
        problems.append(FieldProblem("currency", "not an ISO 4217 currency code", value=currency))
        currency = None
    elif customer is not None and currency not in (None, customer.currency):
        problems.append(
            FieldProblem(
                "currency",
                f"an order is in its customer's currency, {customer.currency}",
                value=currency,
            )
        )
        currency = None
    if customer is not None and currency is None:
        currency = customer.currency
    amount = check_amount(values.get("amount"), currency, problems)
    external_id = text_field("external_id", values.get("external_id"), EXTERNAL_ID_LENGTH, problems)
    if problems:
        raise ValidationFailed(problems)
    assert customer is not None and order_date is not None and amount is not None
    assert currency is not None
    return _Checked(
        customer,
        number or _next_number(session),
        order_date,
        round_money(amount, currency),  # exact: 500 -> 500.00, as it is stored and audited
        currency,
        external_id,
    )


def enter_order(db: Database, actor: Actor, values: Mapping[str, Any]) -> OrderView:
    """Enter an order (values: customer (its number) or customer_id, number (blank: the next
    SO- number), order_date (blank: today), amount, currency (blank: the customer's),
    external_id), held with its reasons when a hold rule applies."""
    actor.require(Permission.ENTER_ORDERS)
    with db.write() as session:
        order = enter_in_session(session, actor, values)
        return view_in_session(session, order.id)


def enter_in_session(session: Session, actor: Actor, values: Mapping[str, Any]) -> Order:
    """`enter_order` inside the caller's transaction (no commit): demo data enters many."""
    actor.require(Permission.ENTER_ORDERS)
    checked = _check(session, values)
    customer = checked.customer
    reasons = hold_reasons_in_session(
        session, customer, checked.amount, date.today(), read_policy(session)
    )
    status = ORDER_HELD if reasons else ORDER_OPEN
    order = Order(
        number=checked.number,
        customer_id=customer.id,
        order_date=checked.order_date,
        amount=checked.amount,
        currency=checked.currency,
        external_id=checked.external_id,
        status=status,
        hold_reasons=reasons_text(reasons),
        held_at=utcnow() if reasons else None,
        entered_by_id=actor.user_id or None,
        updated_by_id=actor.user_id or None,
    )
    session.add(order)
    try:
        session.flush()
    except IntegrityError:  # a writer that does not take the numbering lock won the race
        raise ValidationFailed([_number_used(order.number)]) from None
    changes: dict[str, tuple[Any, Any]] = {
        "number": (None, order.number),
        "customer": (None, customer.number),
        "order_date": (None, order.order_date),
        "amount": (None, order.amount),
        "currency": (None, order.currency),
        "status": (None, status),
    }
    if order.external_id:
        changes["external_id"] = (None, order.external_id)
    if reasons:
        changes["hold_reasons"] = (None, order.hold_reasons)
    audit_change(session, actor, audit.CREATE, order, changes, customer_id=customer.id)
    refresh_exposure(session, [customer.id])
    return order


# ---------------------------------------------------------------------------------------------
# Deciding: release, reject, close
# ---------------------------------------------------------------------------------------------


def _locked_order(session: Session, order_id: int, expected_version: int) -> Order:
    return locked_at_version(
        session, Order, order_id, expected_version, what="Order", name=lambda row: row.number
    )


def _decide(
    db: Database,
    actor: Actor,
    order_id: int,
    expected_version: int,
    reason: str,
    move: tuple[str, str],
) -> OrderView:
    """`decide_in_session` from `move`'s first status to its second, in its own unit of work."""
    from_status, to_status = move
    with db.write() as session:
        order = decide_in_session(
            session,
            actor,
            order_id,
            expected_version,
            reason,
            from_status=from_status,
            to_status=to_status,
        )
        return view_in_session(session, order.id)


def decide_in_session(
    session: Session,
    actor: Actor,
    order_id: int,
    expected_version: int,
    reason: str | None,
    *,
    from_status: str,
    to_status: str,
) -> Order:
    """Move an order from `from_status` to `to_status` with a reason, audited, in the caller's
    transaction; releasing (to open) also checks the approval authority against the exposure
    the release makes. The public functions check the permission first."""
    order = _locked_order(session, order_id, expected_version)
    problems: list[FieldProblem] = []
    text = text_field("reason", reason, REASON_LENGTH, problems, required="required")
    if order.status != from_status:
        problems.append(
            FieldProblem(
                "status",
                f"order {order.number} is {order.status}, not {from_status}",
                value=order.status,
            )
        )
    if problems:
        raise ValidationFailed(problems)
    if to_status == ORDER_OPEN:
        customer = session.get(
            Customer, order.customer_id, with_for_update=True, populate_existing=True
        )
        assert customer is not None
        credit_authority.require_release_authority(
            session,
            actor,
            order.currency,
            customer.exposure + order.amount,
            f"order {order.number} of {customer.name} ({customer.number})",
        )
    order.status = to_status
    order.decided_by_id = actor.user_id or None
    order.decided_at = utcnow()
    order.decision_reason = text
    order.updated_by_id = actor.user_id or None
    order.updated_at = order.decided_at
    session.flush()
    audit_change(
        session,
        actor,
        audit.UPDATE,
        order,
        {"status": (from_status, to_status), "decision_reason": (None, text)},
        customer_id=order.customer_id,
    )
    refresh_exposure(session, [order.customer_id])
    return order


def release_order(
    db: Database, actor: Actor, order_id: int, expected_version: int, reason: str
) -> OrderView:
    """Release a held order: it counts in exposure from now on. Needs an approval authority in
    its currency covering the customer's exposure after the release."""
    actor.require(Permission.RELEASE_ORDERS)
    return _decide(db, actor, order_id, expected_version, reason, (ORDER_HELD, ORDER_OPEN))


def reject_order(
    db: Database, actor: Actor, order_id: int, expected_version: int, reason: str
) -> OrderView:
    """Reject a held order (it never counts in exposure)."""
    actor.require(Permission.RELEASE_ORDERS)
    return _decide(db, actor, order_id, expected_version, reason, (ORDER_HELD, ORDER_REJECTED))


def close_order(
    db: Database, actor: Actor, order_id: int, expected_version: int, reason: str = "invoiced"
) -> OrderView:
    """Close an open order: invoiced (its invoice now carries the exposure) or cancelled (or a
    reason in words); it leaves the exposure."""
    actor.require(Permission.ENTER_ORDERS)
    return _decide(db, actor, order_id, expected_version, reason, (ORDER_OPEN, ORDER_CLOSED))
