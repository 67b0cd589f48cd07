"""Add or edit an app user and their roles (administrators only)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QLineEdit,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.models.users import Role
from o2c_desktop.services import users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    save_cancel_layout,
    set_error,
    with_error,
)


class UserDialog(QDialog):
    def __init__(self, ctx: UiContext, user: users.UserRow | None = None, parent: Any = None):
        super().__init__(parent)
        self.ctx, self.user = ctx, user
        self.setWindowTitle(f"Edit user {user.username}" if user else "New user")
        self.banner = banner()
        self.username = QLineEdit(objectName="user_username")
        self.display_name = QLineEdit(objectName="user_display_name")
        self.email = QLineEdit(objectName="user_email")
        self.active = QCheckBox("Active (may sign in)")
        self.roles = {role: QCheckBox(role.label.capitalize()) for role in Role}
        self.errors = {k: error_label() for k in ("username", "display_name", "roles")}
        form = QFormLayout()
        form.addRow("Login name*", with_error(self.username, self.errors["username"]))
        form.addRow("Display name*", with_error(self.display_name, self.errors["display_name"]))
        form.addRow("E-mail", self.email)
        for role, box in self.roles.items():
            form.addRow("Roles" if role == Role.COLLECTOR else "", box)
        form.addRow("", self.errors["roles"])
        form.addRow("", self.active)
        self.buttons = save_cancel_layout(self, form, self.save)
        self.active.setChecked(True)
        if user:
            self.username.setText(user.username)
            self.username.setReadOnly(True)
            self.display_name.setText(user.display_name)
            self.email.setText(user.email or "")
            self.active.setChecked(user.active)
            for role, box in self.roles.items():
                box.setChecked(role in user.roles)

    def save(self) -> None:
        roles = [role for role, box in self.roles.items() if box.isChecked()]
        self.buttons.setEnabled(False)
        db, actor = self.ctx.db, self.ctx.actor
        if self.user is None:
            workers.submit(
                users.create_user,
                db,
                actor,
                self.username.text().strip(),
                self.display_name.text(),
                roles,
                self.email.text().strip() or None,
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )
        else:
            user, name, active = self.user, self.display_name.text(), self.active.isChecked()
            email = self.email.text().strip() or None
            workers.submit(
                lambda: users.update_user(
                    db,
                    actor,
                    user.id,
                    user.version,
                    display_name=name,
                    roles=roles,
                    active=active,
                    email=email,
                ),
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )

    def _saved(self, _row: users.UserRow) -> None:
        self.buttons.setEnabled(True)
        self.ctx.signals.users_changed.emit()
        self.accept()

    def _failed(self, error: O2CError) -> None:
        self.buttons.setEnabled(True)
        for label in self.errors.values():
            set_error(label, None)
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                if problem.field in self.errors:
                    set_error(self.errors[problem.field], problem.message)
        self.banner.setText(f"Not saved: {error}")
        self.banner.show()
