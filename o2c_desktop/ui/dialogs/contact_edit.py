"""Add or edit a contact person."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QLineEdit,
)

from o2c_desktop.errors import ConflictError, O2CError, ValidationFailed
from o2c_desktop.services import contacts
from o2c_desktop.services.customers import ContactRow
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    save_cancel_layout,
    set_error,
    with_error,
)

LABELS = {
    "name": "Name*",
    "title": "Role / title",
    "email": "E-mail",
    "phone": "Phone",
    "notes": "Notes",
}


class ContactDialog(QDialog):
    def __init__(
        self,
        ctx: UiContext,
        customer_id: int,
        contact: ContactRow | None = None,
        parent: Any = None,
    ):
        super().__init__(parent)
        self.ctx, self.customer_id, self.contact = ctx, customer_id, contact
        self.base_version = contact.version if contact else None
        self.setWindowTitle("Edit contact" if contact else "New contact")
        self.banner = banner()
        self.edits = {name: QLineEdit(objectName=f"contact_{name}") for name in LABELS}
        self.errors = {name: error_label() for name in LABELS}
        self.primary = QCheckBox("Primary contact")
        self.statements = QCheckBox("Receives statements")
        form = QFormLayout()
        for name, label in LABELS.items():
            form.addRow(label, with_error(self.edits[name], self.errors[name]))
        form.addRow("", self.primary)
        form.addRow("", self.statements)
        self.buttons = save_cancel_layout(self, form, self.save)
        if contact:
            for name in LABELS:
                self.edits[name].setText(getattr(contact, name) or "")
            self.primary.setChecked(contact.is_primary)
            self.statements.setChecked(contact.receives_statements)

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {name: edit.text() for name, edit in self.edits.items()}
        values["is_primary"] = self.primary.isChecked()
        values["receives_statements"] = self.statements.isChecked()
        return values

    def save(self) -> None:
        self.buttons.setEnabled(False)
        db, actor = self.ctx.db, self.ctx.actor
        if self.contact is None:
            workers.submit(
                contacts.add_contact,
                db,
                actor,
                self.customer_id,
                self.values(),
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )
        else:
            workers.submit(
                contacts.update_contact,
                db,
                actor,
                self.contact.id,
                self.base_version,
                self.values(),
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )

    def _saved(self, _row: ContactRow) -> None:
        self.buttons.setEnabled(True)
        self.accept()

    def _failed(self, error: O2CError) -> None:
        self.buttons.setEnabled(True)
        for label in self.errors.values():
            set_error(label, None)
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                if problem.field in self.errors:
                    set_error(self.errors[problem.field], problem.message)
            text = "Not saved: please correct the fields marked in red."
        elif isinstance(error, ConflictError):
            text = str(error)
            self.base_version = self._current_version()
        else:
            text = f"Not saved: {error}"
        self.banner.setText(text)
        self.banner.show()

    def _current_version(self) -> int | None:
        from o2c_desktop.services import customers

        detail = customers.get_customer(self.ctx.db, self.ctx.actor, self.customer_id)
        match = [c for c in detail.contacts if self.contact and c.id == self.contact.id]
        return match[0].version if match else self.base_version
