"""Attach a file to a checklist item: the file, what it is, its date and when it lapses.

The service stores it (in the database or the configured store) with its SHA-256, size and type.
A document date lets the service work out the expiry from the item's validity (financial
statements: 15 months); an explicit expiry wins. Both are optional.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QFormLayout, QLineEdit, QPushButton, QWidget

from o2c_desktop.services import documents
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import set_error, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.screens.application_texts import parse_day
from o2c_desktop.ui.widgets.layouts import toolbar


def choose_file(parent: QWidget | None) -> str | None:
    """The system's file chooser (patched in tests)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Attach a file", "", "Any file (*)")
    return path or None


class AttachDialog(ActionDialog):
    fields = ("path", "description", "document_date", "expires_on")

    def __init__(
        self,
        ctx: UiContext,
        application_id: int,
        item: Any,
        parent: Any = None,
    ) -> None:
        """`item`: the checklist item (checklists.ChecklistItemView) the file is evidence for."""
        super().__init__(ctx, parent)
        self.application_id = application_id
        self.item = item
        self.setWindowTitle(f"Attach a file · {item.label}")
        self.setMinimumWidth(560)
        self.path = QLineEdit(objectName="attachPath")
        self.path.setPlaceholderText("The file to attach")
        self.browse = QPushButton("&Browse…", objectName="attachBrowse")
        self.description = QLineEdit(objectName="attachDescription")
        self.description.setMaxLength(300)
        self.document_date = QLineEdit(objectName="attachDocumentDate")
        self.document_date.setPlaceholderText("YYYY-MM-DD (optional)")
        self.expires_on = QLineEdit(objectName="attachExpiresOn")
        self.expires_on.setPlaceholderText("YYYY-MM-DD (optional: from the document date)")
        file_row = QWidget()
        file_row.setLayout(toolbar((self.path, 1), self.browse))
        file_row.layout().setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("File*", with_error(file_row, self.errors["path"]))
        form.addRow("Description", with_error(self.description, self.errors["description"]))
        form.addRow("Document date", with_error(self.document_date, self.errors["document_date"]))
        form.addRow("Expires on", with_error(self.expires_on, self.errors["expires_on"]))
        self.finish_layout(form)
        self.browse.clicked.connect(self._browse)
        self.path.setFocus()

    def _browse(self) -> None:
        chosen = choose_file(self)
        if chosen:
            self.path.setText(chosen)
            if not self.description.text():
                self.description.setText(Path(chosen).name)

    def save(self) -> None:
        problems: dict[str, str] = {}
        text = self.path.text().strip()
        path = Path(text).expanduser() if text else None
        if path is None:
            problems["path"] = "Choose the file to attach."
        elif not path.is_file():
            problems["path"] = f"There is no file {path}."
        days = {}
        for name in ("document_date", "expires_on"):
            try:
                days[name] = parse_day(getattr(self, name).text())
            except ValueError as exc:
                problems[name] = str(exc)
        for name, label in self.errors.items():
            set_error(label, problems.get(name))
        if problems or path is None:
            return
        self.run(
            documents.attach_document,
            self.ctx.db,
            self.ctx.actor,
            path=path,
            application_id=self.application_id,
            checklist_item_id=self.item.id,
            description=self.description.text().strip() or None,
            document_date=days["document_date"],
            expires_on=days["expires_on"],
        )
