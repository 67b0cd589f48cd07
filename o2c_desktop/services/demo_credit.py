"""Demo credit applications, so a first start shows the credit department at work: about 25
limit changes over demo customers and 5 new-customer applications, in every open state, with
trade and bank references, checklists partly worked (items received, verified, one waived),
a few attached documents, scores on those at the approver's desk, a few decided by the manager,
one withdrawn, and some past their service level.

Unlike the demo ledger (written straight to the tables for speed) these few dozen applications
go through the same service functions a clerk's clicks do: their audit trail, checklists,
documents and decisions are exactly what real work leaves behind. Only the clock is faked:
`_backdate` moves an application's time in its state (and its due date) into the past, which
no service may do.

Deterministic per seed: the same customers, amounts and states for the same seed and portfolio.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.models import CreditApplication, Customer, Role
from o2c_desktop.models.credit import (
    DRAFT,
    IN_VERIFICATION,
    ITEM_VERIFIED,
    OPEN_STATES,
    PENDING_APPROVAL,
    SUBMITTED,
    WITHDRAWN,
)
from o2c_desktop.services import (
    checklists,
    credit_applications,
    credit_decisions,
    documents,
    scorecards,
    users,
)
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_applications import ApplicationView
from o2c_desktop.services.credit_authority import authority_of
from o2c_desktop.services.demo_data import FIRST, LAST, _company_name

LIMIT_CHANGES = 25
NEW_CUSTOMERS = 5
DECIDED = "decided"  # approved by the manager (a plan entry, not a state)
# What the 30 applications end up as, before shuffling.
PLAN = (
    [DRAFT] * 5
    + [SUBMITTED] * 5
    + [IN_VERIFICATION] * 9
    + [PENDING_APPROVAL] * 7
    + [DECIDED] * 3
    + [WITHDRAWN] * 1
)
# Checklist items the demo leaves pending on applications still being verified.
_LEFT_OPEN = ("bank_reference", "financial_statements", "insurance_certificate", "tax_id")
_TRADE_NAMES = ("Nordic Steel Supply", "Rhein Logistik", "Atlas Packaging", "Iberia Components")
_BANKS = ("Hausbank AG", "First Commercial Bank", "Banque Populaire", "Nordea")


@dataclass(frozen=True)
class _People:
    clerk: Actor
    manager: Actor


def _actor(row: Any) -> Actor:
    return Actor(row.id, row.username, row.display_name, frozenset(row.roles))


def _people(db: Database, actor: Actor) -> _People:
    """Clara (credit clerk) and Maria (credit manager), created when missing."""
    found = {u.username: u for u in users.list_users(db, actor)}
    wanted = {
        "clara": ("Clara Clerk", Role.CREDIT_CLERK),
        "maria": ("Maria Manager", Role.CREDIT_MANAGER),
    }
    for username, (name, role) in wanted.items():
        if username not in found:
            found[username] = users.create_user(db, actor, username, name, [role])
    return _People(_actor(found["clara"]), _actor(found["maria"]))


def _candidates(db: Database, count: int, rng: random.Random) -> list[int]:
    """Demo customers without an open application, picked by the seed from the first 2,000."""
    with db.read() as session:
        busy = select(CreditApplication.customer_id).where(
            CreditApplication.state.in_(OPEN_STATES), CreditApplication.customer_id.is_not(None)
        )
        ids = list(
            session.scalars(
                select(Customer.id)
                .where(Customer.id.not_in(busy))
                .order_by(Customer.id)
                .limit(2000)
            )
        )
    return sorted(rng.sample(ids, min(count, len(ids))))


def _free_number(db: Database, seed: int, n: int) -> str:
    """A customer number no customer or application uses (NEW-<seed>-<n>, then -b, -c …)."""
    base = f"NEW-{seed}-{n:02d}"
    with db.read() as session:
        taken = set(
            session.scalars(
                select(CreditApplication.customer_number).where(
                    CreditApplication.customer_number.like(f"{base}%")
                )
            )
        ) | set(session.scalars(select(Customer.number).where(Customer.number.like(f"{base}%"))))
    suffix = 0
    number = base
    while number in taken:
        suffix += 1
        number = f"{base}-{chr(ord('a') + suffix - 1)}"
    return number


def _round(amount: int) -> Decimal:
    """Demo amounts in whole thousands (integer arithmetic, never floats)."""
    return Decimal(amount // 1000 * 1000)


def _financials(rng: random.Random, limit: Decimal) -> dict[str, Any]:
    revenue = _round(int(limit) * rng.randint(8, 40))
    assets = _round(int(revenue) * rng.randint(10, 35) // 100)
    liabilities = _round(int(assets) * rng.randint(40, 120) // 100)
    net_worth = _round(int(revenue) * rng.randint(-5, 30) // 100)
    return {
        "financials_date": date(date.today().year - 1, 12, 31),
        "annual_revenue": revenue,
        "net_worth": net_worth,
        "current_assets": assets,
        "current_liabilities": liabilities,
        "total_liabilities": liabilities + _round(int(revenue) * rng.randint(0, 20) // 100),
        "years_in_business": rng.randint(1, 60),
        "bureau_score": rng.choice([None, rng.randint(380, 900)]),
        "expected_monthly_purchases": _round(int(limit) * rng.randint(20, 60) // 100),
    }


def _manager_may_grant(db: Database, people: _People, currency: str) -> Decimal:
    with db.read() as session:
        manager = people.manager
        return authority_of(session, manager.user_id, manager.roles, currency).alone_max


def _create(
    db: Database,
    people: _People,
    rng: random.Random,
    customer_id: int | None,
    seed: int,
    n: int,
    *,
    decided: bool,
) -> ApplicationView:
    """One application as Clara prepares it; one to be decided asks for no more than Maria
    may grant alone."""
    if customer_id is not None:
        with db.read() as session:
            customer = session.get(Customer, customer_id)
            assert customer is not None
            current, currency = customer.credit_limit, customer.currency
        limit = max(Decimal(5000), _round(int(current) * rng.randint(110, 200) // 100))
        if decided:
            limit = min(limit, max(Decimal(1000), _manager_may_grant(db, people, currency)))
        values: dict[str, Any] = {"customer_id": customer_id}
    else:
        limit = _round(rng.randint(10, 120) * 1000)
        country = rng.choice(["DE", "FR", "NL", "AT"])
        values = {
            "customer_number": _free_number(db, seed, n),
            "applicant_name": _company_name(rng, country),
            "country": country,
            "segment": rng.choice(["Small business", "Mid-market", "Distributor"]),
            "email": f"finance{n}@applicant.example",
            "currency": "EUR",
            "requested_terms_code": "NET30",
        }
    values |= {"requested_limit": limit, **_financials(rng, limit)}
    if rng.random() < 0.3:
        values["notes"] = rng.choice(
            [
                "Seasonal peak expected in Q4; asked for a higher limit ahead of it.",
                "New distribution contract signed; volumes double from next quarter.",
                "Sales asked us to speed this up.",
            ]
        )
    return credit_applications.create_application(db, people.clerk, values)


def _references(db: Database, people: _People, rng: random.Random, app: ApplicationView) -> None:
    for kind, name in (
        ("trade", rng.choice(_TRADE_NAMES)),
        ("trade", f"{rng.choice(LAST)} & {rng.choice(LAST)}"),
        ("bank", rng.choice(_BANKS)),
    ):
        credit_applications.add_reference(
            db,
            people.clerk,
            app.id,
            {
                "kind": kind,
                "name": name,
                "contact_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "phone": f"+49 30 {rng.randrange(100000, 999999)}",
                "years_known": rng.randint(1, 15),
                "highest_credit": _round(rng.randint(5, 80) * 1000) if kind == "trade" else None,
            },
        )


def _rate_references(db: Database, people: _People, rng: random.Random, app_id: int) -> None:
    for ref in credit_applications.get_application(db, people.clerk, app_id).references:
        rating = rng.choices(["good", "satisfactory", "poor"], weights=[6, 3, 1])[0]
        credit_applications.update_reference(
            db, people.clerk, ref.id, ref.version, {"rating": rating}
        )


def _demo_file(folder: Path, app: ApplicationView, code: str) -> Path:
    """A small text file standing in for a scanned document."""
    path = folder / f"{app.number}-{code}.txt"
    path.write_text(
        f"Demo document for {app.applicant_name} ({app.number}): {code.replace('_', ' ')}.\n",
        encoding="utf-8",
    )
    return path


def _work_checklist(
    db: Database,
    people: _People,
    rng: random.Random,
    app: ApplicationView,
    folder: Path,
    *,
    complete: bool,
) -> None:
    """Verify the checklist (all required items when `complete`, else some left open), with a
    document attached to the financial statements and, now and then, a waived item."""
    items = checklists.list_items(db, people.clerk, app.id)
    waive = rng.random() < 0.3
    for item in items:
        if not item.required and rng.random() < 0.6:
            continue
        if not complete and item.code in _LEFT_OPEN and rng.random() < 0.6:
            continue
        version = item.version
        if item.code == "financial_statements":
            documents.attach_document(
                db,
                people.clerk,
                path=_demo_file(folder, app, item.code),
                application_id=app.id,
                checklist_item_id=item.id,
                description="Annual accounts",
                document_date=date(date.today().year - 1, 12, 31),
            )
            version = next(
                i.version
                for i in checklists.list_items(db, people.clerk, app.id)
                if i.id == item.id
            )
            if not complete and rng.random() < 0.5:
                continue  # received, not verified yet
        if waive and item.code == "bank_reference":
            checklists.waive_item(
                db,
                people.manager,
                item.id,
                version,
                "Long-standing customer; bank confirmed by phone",
            )
            continue
        checklists.set_item_status(db, people.clerk, item.id, version, ITEM_VERIFIED)


def _backdate(db: Database, app_id: int, days: int) -> None:
    """Demo only: pretend the application entered its state `days` ago (its due date moves
    with it, so some fall past their service level)."""
    with db.write() as session:
        row = session.get(CreditApplication, app_id)
        assert row is not None
        row.state_changed_at = row.state_changed_at - timedelta(days=days)
        if row.due_date is not None:
            row.due_date = row.due_date - timedelta(days=days)


def _decide(db: Database, people: _People, app: ApplicationView) -> bool:
    """Maria approves what lies within her own authority; True when she did."""
    if _manager_may_grant(db, people, app.currency) < app.requested_limit:
        return False
    current = credit_applications.get_application(db, people.manager, app.id)
    credit_decisions.decide(
        db,
        people.manager,
        app.id,
        current.version,
        credit_decisions.DecisionInput(
            outcome="approved",
            reason="Financials and references support the requested limit.",
            credit_limit=app.requested_limit,
        ),
    )
    return True


def _advance(
    db: Database,
    people: _People,
    rng: random.Random,
    app: ApplicationView,
    target: str,
    folder: Path,
) -> None:
    clerk = people.clerk
    if target == WITHDRAWN:
        credit_applications.withdraw(
            db, clerk, app.id, app.version, "The customer withdrew the request."
        )
        return
    if target == DRAFT:
        return
    app = credit_applications.submit(db, clerk, app.id, app.version)
    if target == SUBMITTED:
        return
    app = credit_applications.start_verification(db, clerk, app.id, app.version)
    _rate_references(db, people, rng, app.id)
    _work_checklist(db, people, rng, app, folder, complete=target != IN_VERIFICATION)
    if target == IN_VERIFICATION:
        return
    app = credit_applications.get_application(db, clerk, app.id)
    app = credit_applications.send_to_approval(db, clerk, app.id, app.version)
    scorecards.score_application(db, clerk, app.id)
    if target == DECIDED:
        _decide(db, people, app)


def generate_applications(db: Database, actor: Actor, seed: int) -> int:
    """Add the demo applications (module docstring); returns how many were created."""
    actor.require(Permission.LOAD_DEMO_DATA)
    rng = random.Random(seed)
    people = _people(db, actor)
    customer_ids: list[int | None] = list(_candidates(db, LIMIT_CHANGES, rng))
    targets = list(PLAN)
    rng.shuffle(targets)
    # Decisions need a customer (and an amount within the manager's authority, see _create):
    # the decided ones go to limit changes first, then the order of work is shuffled.
    targets.sort(key=lambda target: target != DECIDED)
    subjects = customer_ids + [None] * NEW_CUSTOMERS
    plan = [
        (subject, PENDING_APPROVAL if subject is None and target == DECIDED else target)
        for subject, target in zip(subjects, targets, strict=False)
    ]
    rng.shuffle(plan)
    created = 0
    with tempfile.TemporaryDirectory(prefix="o2c-demo-") as tmp:
        folder = Path(tmp)
        for n, (customer_id, target) in enumerate(plan, 1):
            app = _create(db, people, rng, customer_id, seed, n, decided=target == DECIDED)
            _references(db, people, rng, app)
            app = credit_applications.get_application(db, people.clerk, app.id)
            _advance(db, people, rng, app, target, folder)
            created += 1
            if target in OPEN_STATES and rng.random() < 0.35:
                _backdate(db, app.id, rng.randint(1, 12))
    return created
