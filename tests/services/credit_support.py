"""What the credit tests share: an applicant, applications put straight into a state or taken
through the workflow, and checklist items worked directly (the checklist service's own rules
are tested with it, in test_checklists)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy import update

from o2c_desktop.db import Database
from o2c_desktop.models import ApplicationChecklistItem, CreditApplication
from o2c_desktop.models.credit import DRAFT, ITEM_VERIFIED
from o2c_desktop.services import checklists, customers
from o2c_desktop.services import credit_applications as apps
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.credit_applications import ApplicationView

APPLICANT = {
    "customer_number": "N-100",
    "applicant_name": "Nordlicht Handel",
    "legal_name": "Nordlicht Handel GmbH",
    "tax_id": "DE123456789",
    "segment": "Mid-market",
    "country": "DE",
    "address_line1": "Hafenstraße 1",
    "city": "Hamburg",
    "postcode": "20095",
    "email": "ap@nordlicht.example",
    "phone": "+49 40 123456",
    "currency": "EUR",
    "requested_limit": "80000",
    "requested_terms_code": "NET45",
    "net_worth": "500000",
    "current_assets": "160000",
    "current_liabilities": "100000",
    "total_liabilities": "400000",
    "years_in_business": 7,
    "bureau_score": 700,
    "expected_monthly_purchases": "40000",
}


def set_items(db: Database, application_id: int, status: str, *codes: str, **also: object) -> None:
    """Give the application's items (those with `codes`; all without) `status` (and the
    column values `also`: who verified them, say)."""
    with db.write() as session:
        stmt = update(ApplicationChecklistItem).where(
            ApplicationChecklistItem.application_id == application_id
        )
        if codes:
            stmt = stmt.where(ApplicationChecklistItem.code.in_(codes))
        session.execute(stmt.values(status=status, **also))


def tick_checklist(db: Database, application_id: int) -> None:
    """Every checklist item verified."""
    set_items(db, application_id, ITEM_VERIFIED)


def pending(
    db: Database,
    preparer: Actor,
    values: dict[str, Any] | None = None,
    *,
    submitter: Actor | None = None,
) -> ApplicationView:
    """An application taken through the workflow to pending approval."""
    app = apps.create_application(db, preparer, APPLICANT if values is None else values)
    app = apps.submit(db, submitter or preparer, app.id, app.version)
    app = apps.start_verification(db, preparer, app.id, app.version)
    tick_checklist(db, app.id)
    return apps.send_to_approval(db, preparer, app.id, app.version)


def existing_customer(db: Database, admin: Actor, number: str = "K-1") -> int:
    return customers.create_customer(
        db, admin, {"number": number, "name": f"Kunde {number}", "payment_terms": "NET30"}
    ).id


def limit_change(db: Database, admin: Actor, clerk: Actor, limit: str) -> ApplicationView:
    """A limit change of a new customer K-1, pending approval."""
    customer_id = existing_customer(db, admin)
    return pending(db, clerk, {"customer_id": customer_id, "requested_limit": limit})


def version(db: Database, application_id: int) -> int:
    with db.read() as session:
        row = session.get(CreditApplication, application_id)
        assert row is not None
        return row.version


def set_state(db: Database, application_id: int, state: str) -> None:
    """Put an application straight into `state` (no workflow guard on the way)."""
    with db.write() as session:
        row = session.get(CreditApplication, application_id)
        assert row is not None
        row.state = state


def new_application(
    db: Database,
    actor: Actor,
    *,
    state: str = DRAFT,
    customer_number: str | None = None,
) -> int:
    """A EUR 40,000 application (its checklist from the "Standard" template), for an existing
    customer when `customer_number` is given; put straight into `state`: for tests about the
    checklist, not the workflow's guards."""
    values: dict[str, object] = {"requested_limit": "40000"}
    if customer_number is not None:
        values["customer_id"] = customers.create_customer(
            db, actor, {"number": customer_number, "name": f"Customer {customer_number}"}
        ).id
    else:
        values.update(applicant_name="Applicant Ltd", customer_number=f"NEW-{uuid4().hex[:8]}")
    application = apps.create_application(db, actor, values)
    if state != DRAFT:
        set_state(db, application.id, state)
    return application.id


def item_by_code(
    db: Database, actor: Actor, application_id: int, code: str
) -> checklists.ChecklistItemView:
    return next(i for i in checklists.list_items(db, actor, application_id) if i.code == code)
