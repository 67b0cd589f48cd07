"""Administration → Users: who may use the app, with which roles."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from o2c_desktop.services import users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.user_edit import UserDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

COLUMNS = (
    Column("username", "Login", lambda u: u.username),
    Column("display_name", "Name", lambda u: u.display_name),
    Column("email", "E-mail", lambda u: u.email),
    Column("roles", "Roles", lambda u: ", ".join(sorted(r.label for r in u.roles))),
    Column("active", "Active", lambda u: u.active),
)


class UsersScreen(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.table = TablePanel(COLUMNS, "users")
        self.add_button = QPushButton("Add user…")
        self.edit_button = QPushButton("Edit…")
        self.table.toolbar.addWidget(self.add_button)
        self.table.toolbar.addWidget(self.edit_button)
        hint = QLabel(
            "On PostgreSQL the login name is the database login of the person; "
            "on the embedded database it is the computer's user name."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.table)
        self.add_button.clicked.connect(self.add)
        self.edit_button.clicked.connect(self.edit)
        self.table.activated.connect(lambda _row: self.edit())
        ctx.signals.users_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        workers.submit(
            users.list_users,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=self.table.set_rows,
            on_failed=lambda e: show_error(self, e),
        )

    def add(self) -> None:
        UserDialog(self.ctx, None, self).exec()

    def edit(self) -> None:
        user = self.table.selected_row()
        if user is not None:
            UserDialog(self.ctx, user, self).exec()
