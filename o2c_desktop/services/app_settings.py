"""Writing one department-wide setting (an `AppSetting` row of JSON) with its audit record.

Aging buckets, the letterhead and the SMTP settings each validate their own value and work out
their own field-level changes; storing the row and auditing it is the same for all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from o2c_desktop.models import AppSetting
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor


def store(
    session: Session, actor: Actor, key: str, value: str, changes: dict[str, tuple[Any, Any]]
) -> None:
    """Create or update the setting `key` with `value` (left alone if unchanged) and audit
    `changes` (nothing is audited when there are none), in the caller's unit of work."""
    stored = session.get(AppSetting, key)
    if stored is None:
        session.add(
            AppSetting(
                key=key, value=value, updated_at=utcnow(), updated_by_id=actor.user_id or None
            )
        )
    elif stored.value != value:
        stored.value = value
        stored.updated_at = utcnow()
        stored.updated_by_id = actor.user_id or None
    if changes:
        action = audit.CREATE if stored is None else audit.UPDATE
        audit.record(session, actor, action, "app_settings", key, changes=changes)
