"""Give an application to a colleague (or to nobody): it then shows in their "My queue". Each
person is offered with their username, as two may share a display name."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout

from o2c_desktop.errors import O2CError
from o2c_desktop.models import Role
from o2c_desktop.services import credit_applications
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.widgets.user_choice import UserChoice

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
        self.user = UserChoice(ctx, application.assigned_to_id, CREDIT_ROLES)
        self.user.setObjectName("assignUser")
        self.user.failed.connect(self._not_listed)
        form = QFormLayout()
        form.addRow("Assign to", with_error(self.user, self.errors["assigned_to"]))
        self.finish_layout(form)

    @property
    def loaded(self) -> bool:
        return self.user.loaded

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
