"""Writing one department-wide setting (an `AppSetting` row of JSON) with its audit record.

Aging buckets, the letterhead and the SMTP settings each validate their own value and work out
their own field-level changes; storing the row and auditing it is the same for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.models import AppSetting
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor

T = TypeVar("T")


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


def read(session: Session, key: str, default: T, parse: Callable[[Any], T], who_fixes: str) -> T:
    """The setting `key` parsed from its JSON by `parse` (`default` until someone saves it).
    A stored value `parse` refuses is damaged: the message names the setting and says who can
    set it again (`who_fixes`, e.g. "an administrator can set the credit policy again under
    Settings."), instead of a traceback on every screen that reads it."""
    stored = session.get(AppSetting, key)
    if stored is None:
        return default
    try:
        return parse(json.loads(stored.value))
    except (TypeError, ValueError, ValidationFailed) as exc:
        raise O2CError(f"The setting {key} is damaged ({exc}); {who_fixes}") from None
