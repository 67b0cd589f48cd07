"""Demo orders for the demo portfolio: a few hundred orders of the last three weeks, most of them
open, about a tenth held for each kind of reason (customer on hold, over the available credit,
items long past due), and a few of the held ones already released or rejected by the credit
manager "maria", so the holds queue and the order list of a first start show every case.

Orders go through the same service code as orders typed in (services.orders: the hold rules,
audit, exposure), in one transaction; the same seed gives the same orders. Reasons that need
something the portfolio lacks (no customer on hold, no ledger with old items) are left out.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common
from o2c_desktop.errors import PermissionDenied
from o2c_desktop.models import Customer, Invoice, Order, Role
from o2c_desktop.models.credit import ORDER_HELD, ORDER_OPEN, ORDER_REJECTED
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.money import round_money
from o2c_desktop.services import users
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_policy import read_policy
from o2c_desktop.services.orders import decide_in_session, enter_in_session

ORDERS = 300
SHARE_PER_REASON = 0.1  # of the orders, held for each kind of reason
DECIDED = 8  # held orders maria has already released or rejected
MANAGER = ("maria", "Maria Manager")
PREFIX = "DEMO-"
_CANDIDATES = 200  # customers drawn from per kind


def _manager(session: Session) -> Actor:
    """The credit manager who decides held demo orders (created if missing)."""
    user = users.ensure_user(session, *MANAGER, [Role.CREDIT_MANAGER])
    roles = frozenset(Role(r.role) for r in user.roles)
    return Actor(user.id, user.username, user.display_name, roles)


def _customers(session: Session, where: Any, limit: int = _CANDIDATES) -> list[Customer]:
    return list(
        session.scalars(select(Customer).where(where).order_by(Customer.number).limit(limit))
    )


def _long_past_due(session: Session, days: int) -> list[Customer]:
    """Customers with invoices open more than `days` days past due (a demo ledger has them)."""
    late = (
        select(Invoice.customer_id)
        .where(
            Invoice.open_amount != literal_column("0"),  # the open items' partial index
            common(Invoice.kind == INVOICE),
            Invoice.due_date < date.today() - timedelta(days=days),
        )
        .distinct()
    )
    return _customers(session, Customer.id.in_(late) & Customer.on_hold.is_(False))


def _amount(rng: random.Random, most: Decimal, currency: str) -> Decimal:
    """A round-ish amount up to `most` (at least 10)."""
    share = Decimal(rng.randint(5, 60)) / 100
    return max(round_money(most * share, currency), Decimal(10))


def _plan(session: Session, rng: random.Random) -> list[tuple[Customer, str]]:
    """(customer, kind) for each order: held for a reason, or within the customer's credit."""
    policy = read_policy(session)
    on_hold = _customers(session, Customer.on_hold.is_(True))
    past_due = _long_past_due(session, policy.hold_days_past_due)
    excluded = {c.id for c in past_due}
    healthy = [
        c
        for c in _customers(
            session,
            Customer.on_hold.is_(False)
            & (Customer.credit_limit > Customer.exposure + Decimal(1000)),
            limit=2000,
        )
        if c.id not in excluded
    ]
    if not healthy:
        return []
    per_reason = int(ORDERS * SHARE_PER_REASON)
    plan: list[tuple[Customer, str]] = []
    for kind, pool in (("on_hold", on_hold), ("past_due", past_due), ("over", healthy)):
        if pool:
            plan += [(rng.choice(pool), kind) for _ in range(per_reason)]
    plan += [(rng.choice(healthy), "within") for _ in range(ORDERS - len(plan))]
    rng.shuffle(plan)
    return plan


def _enter(
    session: Session, actor: Actor, rng: random.Random, plan: list[tuple[Customer, str]]
) -> list[Order]:
    today = date.today()
    first = int(session.scalar(select(func.count()).select_from(Order)) or 0) + 1
    entered = []
    for n, (customer, kind) in enumerate(plan, start=first):
        session.refresh(customer)  # its exposure moves with every order entered
        available = customer.credit_limit - customer.exposure
        if kind == "over":
            extra = _amount(rng, Decimal(20000), customer.currency)
            amount = max(available, Decimal(0)) + extra
        elif kind == "within":
            if available < 20:
                continue
            amount = _amount(rng, min(available, Decimal(50000)), customer.currency)
        else:
            amount = _amount(rng, Decimal(20000), customer.currency)
        values = {
            "customer_id": customer.id,
            "number": f"{PREFIX}{n:06d}",
            "order_date": today - timedelta(days=rng.randint(0, 20)),
            "amount": amount,
            "external_id": f"ERP-{rng.randint(100000, 999999)}" if rng.random() < 0.5 else None,
        }
        entered.append(enter_in_session(session, actor, values))
    return entered


REJECTED = "No prepayment received; customer informed"
RELEASED = "Confirmed by phone; payment plan agreed"
ABOVE_AUTHORITY = "Above my authority; asked for a prepayment instead"


def _decide(session: Session, manager: Actor, rng: random.Random, held: list[Order]) -> None:
    """Maria rejects some held orders and releases others (within her authority; above it
    she rejects them too)."""

    def move(order: Order, reason: str, to_status: str) -> None:
        decide_in_session(
            session,
            manager,
            order.id,
            order.version,
            reason,
            from_status=ORDER_HELD,
            to_status=to_status,
        )

    for order in rng.sample(held, min(DECIDED, len(held))):
        if rng.random() < 0.3:
            move(order, REJECTED, ORDER_REJECTED)
            continue
        try:
            move(order, RELEASED, ORDER_OPEN)
        except PermissionDenied:
            move(order, ABOVE_AUTHORITY, ORDER_REJECTED)


def generate_orders(db: Database, actor: Actor, seed: int) -> int:
    """Add the demo orders (see the module docstring); returns how many were entered."""
    actor.require(Permission.LOAD_DEMO_DATA)
    rng = random.Random(seed)
    with db.write() as session:
        plan = _plan(session, rng)
        entered = _enter(session, actor, rng, plan)
        held = [o for o in entered if o.status == ORDER_HELD]
        _decide(session, _manager(session), rng, held)
        return len(entered)
