"""The customer's Activity tab: a timeline of notes (calls and statements join it later)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import Activity, Customer, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission

MAX_NOTE = 10_000


@dataclass(frozen=True)
class ActivityRow:
    id: int
    occurred_at: datetime
    kind: str
    author: str | None
    subject: str | None
    body: str


def add_in_session(
    session: Session,
    actor: Actor,
    customer_id: int,
    kind: str,
    subject: str | None,
    body: str,
) -> Activity:
    """Put an entry on the customer's timeline, by the actor, now, audited: a typed note, or
    what a service records there (a credit decision)."""
    entry = Activity(
        customer_id=customer_id,
        kind=kind,
        occurred_at=utcnow(),
        user_id=actor.user_id or None,
        subject=(subject or "").strip() or None,
        body=body,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor,
        audit.CREATE,
        "activities",
        entry.id,
        customer_id=customer_id,
        changes={"body": (None, body)},
    )
    return entry


def add_note(
    db: Database, actor: Actor, customer_id: int, body: str, subject: str | None = None
) -> ActivityRow:
    actor.require(Permission.ADD_NOTE)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed([FieldProblem("body", "a note cannot be empty")])
    if len(body) > MAX_NOTE:
        raise ValidationFailed([FieldProblem("body", f"longer than {MAX_NOTE} characters")])
    with db.write() as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"Customer #{customer_id} no longer exists.")
        note = add_in_session(session, actor, customer_id, "note", subject, body)
        return ActivityRow(
            note.id, note.occurred_at, note.kind, actor.display_name, note.subject, note.body
        )


def list_activities(
    db: Database, actor: Actor, customer_id: int, limit: int = 500
) -> list[ActivityRow]:
    """Newest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.execute(
            select(Activity, User.display_name)
            .outerjoin(User, User.id == Activity.user_id)
            .where(Activity.customer_id == customer_id)
            .order_by(Activity.occurred_at.desc(), Activity.id.desc())
            .limit(limit)
        )
        return [
            ActivityRow(a.id, a.occurred_at, a.kind, name, a.subject, a.body) for a, name in rows
        ]
