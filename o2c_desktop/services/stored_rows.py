"""From stored rows to what the collections services return and record: a row's view dataclass,
the audit of a change to a versioned row, and the conflict an edit of an older version meets.

One place for each, so promises, assignment rules and strategies are audited under their own
table names and versions in the same way, and a stale edit names who changed the row since,
whichever editor it came from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    ValidationFailed,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.field_checks import row_id

View = TypeVar("View")
Row = TypeVar("Row")


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def view_of(cls: type[View], row: Any, **computed: Any) -> View:
    """A `cls` dataclass with every field `computed` does not give copied from the row's
    attribute of the same name: the view stays in step with the row as fields are added,
    instead of repeating `name=row.name` per field."""
    copied = {name: getattr(row, name) for name in _field_names(cls) if name not in computed}
    return cls(**copied, **computed)


def audit_change(
    session: Session,
    actor: Actor,
    action: str,
    row: Any,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    customer_id: int | None = None,
) -> None:
    """Audit a change to a versioned row under its table's name, id and (new) version: the
    version is what `stale_version_conflict` later looks for."""
    audit.record(
        session,
        actor,
        action,
        row.__tablename__,
        row.id,
        customer_id=customer_id,
        record_version=row.version,
        changes=changes,
    )


def apply_change(
    session: Session,
    actor: Actor,
    row: Any,
    values: Mapping[str, Any],
    *,
    customer_id: int | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Set `values` on a versioned row; when any differs from what it holds, stamp who changed
    it and when, flush (its version moves) and audit old → new. Returns those changes."""
    changes = {k: (getattr(row, k), v) for k, v in values.items() if getattr(row, k) != v}
    if changes:
        for key, (_, new) in changes.items():
            setattr(row, key, new)
        row.updated_at, row.updated_by_id = utcnow(), actor.user_id or None
        session.flush()
        audit_change(session, actor, audit.UPDATE, row, changes, customer_id=customer_id)
    return changes


def stale_version_conflict(
    session: Session,
    row: Any,
    expected_version: int,
    *,
    what: str,
    name: str,
    changed_at: datetime,
) -> ConflictError:
    """The conflict for an edit made against `expected_version` of a row changed since: who
    changed it, when, and their values, from the audit log (else "another user" at
    `changed_at`, the row's own time stamp)."""
    since = audit.changes_since(session, row.__tablename__, row.id, expected_version)
    who, at, values = since or ("another user", changed_at, {})
    return ConflictError(ConflictDetails(what, name, who, f"{at:%Y-%m-%d %H:%M} UTC", values))


def locked_at_version(
    session: Session,
    model: type[Row],
    wanted: object,
    expected_version: int | None,
    *,
    what: str,
    name: Callable[[Row], str],
) -> Row:
    """The `model` row `wanted` (an id from outside: `field_checks.row_id`), locked for the
    change (PostgreSQL) and still at the version the user saw: NotFound when it is gone, a
    ValidationFailed without `expected_version`, else the conflict naming who changed it since.
    `what` names the kind of row ("Order"), `name` the row itself."""
    row = session.get(model, row_id(wanted, what.lower()), with_for_update=True)
    if row is None:
        raise NotFound(f"{what} #{wanted} does not exist (deleted by another user?).")
    if expected_version is None:
        problem = FieldProblem("expected_version", f"required to change a saved {what.lower()}")
        raise ValidationFailed([problem])
    stored: Any = row
    if stored.version != expected_version:
        raise stale_version_conflict(
            session,
            row,
            expected_version,
            what=what,
            name=name(row),
            changed_at=stored.updated_at,
        )
    return row
