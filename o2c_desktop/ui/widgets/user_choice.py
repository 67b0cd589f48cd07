"""A list to give something to a colleague (an application, a dispute) or to nobody: the active
users, read on a worker, each with their username (two people may share a display name), the
signed-in user marked "me"."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from o2c_desktop.errors import O2CError
from o2c_desktop.models import Role
from o2c_desktop.services import users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext

NOBODY = "Nobody (unassigned)"


def user_text(user: users.UserRow, me: int | None) -> str:
    """ "Clara Clerk (clara)", or "Clara Clerk (clara, me)" for the signed-in user."""
    return f"{user.display_name} ({user.username}{', me' if user.id == me else ''})"


class UserChoice(QComboBox):
    """Off and "Loading users…" until listed; then Nobody first and `chosen_id` selected.
    `roles`: only users holding one of them (None: everyone). `listed` once filled, `failed`
    with the error when the users cannot be read."""

    listed = Signal()
    failed = Signal(object)  # O2CError

    def __init__(
        self,
        ctx: UiContext,
        chosen_id: int | None = None,
        roles: Collection[Role] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.roles = frozenset(roles) if roles is not None else None
        self.loaded = False
        self.addItem("Loading users…", None)
        self.setEnabled(False)
        workers.submit(
            users.list_users,
            ctx.db,
            ctx.actor,
            owner=self,
            on_done=lambda rows: self._fill(rows, chosen_id),
            on_failed=self._failed,
        )

    def _fill(self, rows: list[users.UserRow], chosen_id: int | None) -> None:
        self.clear()
        self.addItem(NOBODY, None)
        me = self.ctx.actor.user_id
        for user in rows:
            if user.active and (self.roles is None or user.roles & self.roles):
                self.addItem(user_text(user, me), user.id)
        self.setCurrentIndex(max(self.findData(chosen_id), 0))
        self.setEnabled(True)
        self.setFocus()
        self.loaded = True
        self.listed.emit()

    def _failed(self, error: O2CError) -> None:
        self.failed.emit(error)
