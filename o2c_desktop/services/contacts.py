"""A customer's contacts: who to call, who receives statements. Any role may keep them current."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    FieldProblem,
    NotFound,
    ValidationFailed,
)
from o2c_desktop.models import Contact, Customer
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.customer_fields import EMAIL, parse_field
from o2c_desktop.services.customers import ContactRow
from o2c_desktop.services.stored_rows import audit_change, locked_at_version

FIELDS = ("name", "title", "email", "phone", "is_primary", "receives_statements", "notes")
_LIMITS = {"name": 120, "title": 80, "email": 200, "phone": 40, "notes": 500}


def _clean(raw: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems = []
    for key, value in raw.items():
        if key not in FIELDS:
            problems.append(FieldProblem(key, "no such contact field"))
        elif key in ("is_primary", "receives_statements"):
            try:  # "no" from a file must not count as yes
                values[key] = value if isinstance(value, bool) else parse_field("on_hold", value)
            except ValueError:
                problems.append(FieldProblem(key, "expected yes or no", value=str(value)))
        else:
            text = (value or "").strip() if isinstance(value, str | type(None)) else str(value)
            if len(text) > _LIMITS[key]:
                problems.append(FieldProblem(key, f"longer than {_LIMITS[key]} characters"))
            values[key] = text or None
    if "name" in values and not values["name"]:
        problems.append(FieldProblem("name", "required"))
    if values.get("email") and not EMAIL.match(values["email"]):
        problems.append(FieldProblem("email", "not a valid e-mail address (name@example.com)"))
    if problems:
        raise ValidationFailed(problems)
    return values


def _row(c: Contact) -> ContactRow:
    return ContactRow(
        c.id,
        c.name,
        c.title,
        c.email,
        c.phone,
        c.is_primary,
        c.receives_statements,
        c.notes,
        c.version,
    )


def add_contact(db: Database, actor: Actor, customer_id: int, raw: Mapping[str, Any]) -> ContactRow:
    actor.require(Permission.EDIT_CONTACTS)
    values = _clean({"name": "", **raw})
    with db.write() as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"Customer #{customer_id} no longer exists.")
        contact = Contact(
            customer_id=customer_id,
            updated_at=utcnow(),
            updated_by_id=actor.user_id or None,
            **{"is_primary": False, "receives_statements": False, **values},
        )
        session.add(contact)
        session.flush()
        audit_change(
            session,
            actor,
            audit.CREATE,
            contact,
            {k: (None, v) for k, v in values.items() if v not in (None, False)},
            customer_id=customer_id,
        )
        return _row(contact)


def update_contact(
    db: Database, actor: Actor, contact_id: int, expected_version: int, raw: Mapping[str, Any]
) -> ContactRow:
    actor.require(Permission.EDIT_CONTACTS)
    values = _clean(raw)
    with db.write() as session:
        contact = locked_at_version(
            session, Contact, contact_id, expected_version, what="Contact", name=lambda c: c.name
        )
        changes = {
            k: (getattr(contact, k), v) for k, v in values.items() if getattr(contact, k) != v
        }
        if not changes:
            return _row(contact)
        for key, (_old, new) in changes.items():
            setattr(contact, key, new)
        contact.updated_at = utcnow()
        contact.updated_by_id = actor.user_id or None
        session.flush()
        audit_change(
            session, actor, audit.UPDATE, contact, changes, customer_id=contact.customer_id
        )
        return _row(contact)


def delete_contact(db: Database, actor: Actor, contact_id: int) -> None:
    actor.require(Permission.EDIT_CONTACTS)
    with db.write() as session:
        contact = session.get(Contact, contact_id, with_for_update=True)
        if contact is None:
            return
        audit.record(
            session,
            actor,
            audit.DELETE,
            "contacts",
            contact.id,
            customer_id=contact.customer_id,
            changes={
                k: (getattr(contact, k), None)
                for k in FIELDS
                if getattr(contact, k) not in (None, False)
            },
        )
        session.delete(contact)
