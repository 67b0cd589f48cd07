"""Give an application to a colleague (or to nobody): it then shows in their "My queue"."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout

from o2c_desktop.errors import O2CError
from o2c_desktop.models import Role
from o2c_desktop.services import credit_applications, users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog

# Who works applications: collectors do not, so they are not offered.
CREDIT_ROLES = frozenset({Role.CREDIT_CLERK, Role.CREDIT_MANAGER, Role.ADMINISTRATOR})


class AssignDialog(ActionDialog):
    fields = ("assigned_to",)

    def __init__(
        self, ctx: UiContext, application: credit_applications.ApplicationView, parent: Any = None
    ) -> None:
        super().__init__(ctx, parent)
        self.application = application
        self.setWindowTitle(f"Assign {application.number} · {application.applicant_name}")
        self.setMinimumWidth(420)
        self.user = QComboBox(objectName="assignUser")
        self.user.addItem("Loading users…", None)
        self.user.setEnabled(False)
        self.loaded = False
        form = QFormLayout()
        form.addRow("Assign to", with_error(self.user, self.errors["assigned_to"]))
        self.finish_layout(form)
        workers.submit(
            users.list_users,
            ctx.db,
            ctx.actor,
            owner=self,
            on_done=self._fill,
            on_failed=self._not_listed,
        )

    def _fill(self, rows: list[users.UserRow]) -> None:
        self.user.clear()
        self.user.addItem("Nobody (unassigned)", None)
        for user in rows:
            if user.active and user.roles & CREDIT_ROLES:
                me = " (me)" if user.id == self.ctx.actor.user_id else ""
                self.user.addItem(f"{user.display_name}{me}", user.id)
        self.user.setCurrentIndex(max(self.user.findData(self.application.assigned_to_id), 0))
        self.user.setEnabled(True)
        self.user.setFocus()
        self.loaded = True

    def _not_listed(self, error: O2CError) -> None:
        self.banner.setText(f"Cannot list the users: {error}")
        self.banner.show()

    def save(self) -> None:
        if self.loaded:
            self.run(
                credit_applications.assign,
                self.ctx.db,
                self.ctx.actor,
                self.application.id,
                self.application.version,
                self.user.currentData(),
            )
