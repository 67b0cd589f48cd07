"""Audit rows, written in the same transaction as the change they describe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.models import AuditEntry
from o2c_desktop.models.base import utcnow
from o2c_desktop.services.auth import Actor, Permission

CREATE, UPDATE, DELETE = "create", "update", "delete"


def as_text(value: Any) -> str | None:
    """How a value is kept in the log: exact (Decimal as typed), dates ISO, booleans yes/no."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def record(
    session: Session,
    actor: Actor,
    action: str,
    table: str,
    record_id: object,
    *,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    customer_id: int | None = None,
    record_version: int | None = None,
    note: str | None = None,
) -> None:
    """Add one audit row per changed field (or one row for the whole record when no fields)."""
    at = utcnow()
    common = {
        "at": at,
        "user_id": actor.user_id or None,  # SYSTEM (id 0) is no users row
        "username": actor.username,
        "action": action,
        "table_name": table,
        "record_id": str(record_id),
        "customer_id": customer_id,
        "record_version": record_version,
    }
    if not changes:
        session.add(AuditEntry(**common, field=None, old_value=None, new_value=note))
        return
    for field, (old, new) in changes.items():
        session.add(
            AuditEntry(**common, field=field, old_value=as_text(old), new_value=as_text(new))
        )


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    username: str
    action: str
    table: str
    record_id: str
    field: str | None
    old_value: str | None
    new_value: str | None


def customer_history(
    db: Database, actor: Actor, customer_id: int, limit: int = 2000
) -> list[AuditRow]:
    """Everything that happened to a customer and its contacts and notes, newest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.customer_id == customer_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
        return [
            AuditRow(
                r.at,
                r.username,
                r.action,
                r.table_name,
                r.record_id,
                r.field,
                r.old_value,
                r.new_value,
            )
            for r in rows
        ]


def changes_since(
    session: Session, table: str, record_id: object, version: int
) -> tuple[str, datetime, dict[str, str]] | None:
    """Who last changed a record after `version`, when, and each field's newest value since."""
    rows = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.table_name == table,
            AuditEntry.record_id == str(record_id),
            AuditEntry.record_version > version,
        )
        .order_by(AuditEntry.id)
    ).all()
    if not rows:
        return None
    values = {r.field: r.new_value or "(empty)" for r in rows if r.field}
    return rows[-1].username, rows[-1].at, values
