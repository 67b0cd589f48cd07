"""Settings → Company & letterhead: what every statement says about us (name, address, bank,
contact for queries, logo, footer). A department setting: only a credit manager or an
administrator may change it; everyone else sees it read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.services import letterhead
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, set_error, with_error

LINE_FIELDS = (
    "company_name",
    "country",
    "phone",
    "email",
    "website",
    "tax_id",
    "bank_name",
    "iban",
    "bic",
    "contact_name",
    "contact_phone",
    "contact_email",
    "footer_text",
)
_BY_LABEL = {label: name for name, label in letterhead.LABELS.items()}
READ_ONLY_NOTE = "Only a credit manager or an administrator can change these settings."


def field_of(problem_field: str) -> str | None:
    """Which input a letterhead problem belongs to ("Address line 2" → address_lines)."""
    if problem_field.startswith("Address"):
        return "address_lines"
    return _BY_LABEL.get(problem_field, problem_field if problem_field in LINE_FIELDS else None)


class LetterheadTab(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editable = ctx.actor.may(Permission.EDIT_SETTINGS)
        self.loaded: letterhead.Letterhead | None = None
        self._pending: dict[str, Any] = {}
        self.inputs: dict[str, QLineEdit] = {
            name: QLineEdit(objectName=f"lh_{name}") for name in LINE_FIELDS
        }
        self.inputs["country"].setMaxLength(2)
        self.inputs["country"].setPlaceholderText("GB")
        self.inputs["iban"].setPlaceholderText("GB82 WEST 1234 5698 7654 32")
        self.address = QPlainTextEdit(objectName="lh_address_lines")
        self.address.setPlaceholderText("up to 4 lines")
        self.address.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 14)
        self.logo_path = QLineEdit(objectName="lh_logo_path")
        self.logo_path.setPlaceholderText("the logo shipped with O2C Desktop")
        self.logo_preview = QLabel(objectName="logoPreview")
        self.logo_preview.setFixedSize(120, 48)
        self.logo_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.errors = {name: error_label() for name in (*LINE_FIELDS, "address_lines", "logo_path")}

        def row(form: QFormLayout, name: str, widget: QWidget | None = None) -> None:
            form.addRow(
                letterhead.LABELS[name], with_error(widget or self.inputs[name], self.errors[name])
            )

        company = QGroupBox("Company")
        company_form = QFormLayout(company)
        row(company_form, "company_name")
        row(company_form, "address_lines", self.address)
        for name in ("country", "phone", "email", "website", "tax_id"):
            row(company_form, name)

        bank = QGroupBox("Bank details (printed on the remittance slip)")
        bank_form = QFormLayout(bank)
        for name in ("bank_name", "iban", "bic"):
            row(bank_form, name)
        contact = QGroupBox("Contact for queries")
        contact_form = QFormLayout(contact)
        for name, label in (
            ("contact_name", "Name"),
            ("contact_phone", "Phone"),
            ("contact_email", "E-mail"),
        ):
            contact_form.addRow(label, with_error(self.inputs[name], self.errors[name]))

        browse = QPushButton("Choose…")
        default = QPushButton("Default")
        browse.clicked.connect(self.choose_logo)
        default.clicked.connect(lambda: self.logo_path.clear())
        self.logo_path.textChanged.connect(self._show_logo)
        logo_row = QHBoxLayout()
        logo_row.addWidget(self.logo_path, 1)
        logo_row.addWidget(browse)
        logo_row.addWidget(default)
        logo_box = QGroupBox("Logo and footer")
        logo_form = QFormLayout(logo_box)
        logo_inputs = QWidget()
        logo_inputs_layout = QVBoxLayout(logo_inputs)
        logo_inputs_layout.setContentsMargins(0, 0, 0, 0)
        logo_inputs_layout.addLayout(logo_row)
        logo_inputs_layout.addWidget(self.logo_preview)
        logo_form.addRow("Logo", with_error(logo_inputs, self.errors["logo_path"]))
        logo_form.addRow(
            "Footer", with_error(self.inputs["footer_text"], self.errors["footer_text"])
        )

        right = QVBoxLayout()
        right.addWidget(bank)
        right.addWidget(contact)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addWidget(company, 1)
        columns.addLayout(right, 1)
        self.note = QLabel(READ_ONLY_NOTE if not self.editable else "")
        self.note.setStyleSheet("color: #666;")
        self.note.setVisible(not self.editable)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(columns)
        layout.addWidget(logo_box)
        layout.addStretch(1)
        for widget in (*self.inputs.values(), self.address, self.logo_path, browse, default):
            widget.setEnabled(False)  # until loaded (and for good when not editable)
        self._editors = (*self.inputs.values(), self.address, self.logo_path, browse, default)
        self.load()

    def load(self) -> None:
        workers.submit(
            letterhead.get_letterhead,
            self.ctx.db,
            owner=self,
            on_done=self.fill,
            on_failed=self._load_failed,
        )

    def _load_failed(self, error: O2CError) -> None:
        self.note.setText(f"Cannot load the settings: {error}")
        self.note.show()

    def fill(self, head: letterhead.Letterhead) -> None:
        self.loaded = head
        for name, edit in self.inputs.items():
            edit.setText(getattr(head, name) or "")
        self.address.setPlainText("\n".join(head.address_lines))
        self.logo_path.setText(head.logo_path or "")
        self._show_logo()
        for widget in self._editors:
            widget.setEnabled(self.editable)

    def _show_logo(self) -> None:
        path = self.logo_path.text().strip()
        file = Path(path) if path else letterhead.DEFAULT_LETTERHEAD.logo_file()
        pixmap = QPixmap(str(file))
        if pixmap.isNull():
            self.logo_preview.setText("(no image)")
        else:
            self.logo_preview.setPixmap(
                pixmap.scaled(
                    self.logo_preview.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    def choose_logo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Logo for the letterhead", self.logo_path.text(), "Images (*.png *.jpg *.jpeg)"
        )
        if path:
            self.logo_path.setText(path)

    def values(self) -> dict[str, Any]:
        """The fields as the service takes them (it trims and checks)."""
        raw: dict[str, Any] = {name: edit.text() for name, edit in self.inputs.items()}
        raw["address_lines"] = self.address.toPlainText().splitlines()
        raw["logo_path"] = self.logo_path.text().strip() or None
        return raw

    def save(self) -> letterhead.Letterhead | None:
        """Runs on the worker: save when editable and loaded (an unchanged letterhead writes
        nothing); ConflictError when someone else saved since the tab was filled."""
        if not self.editable or self.loaded is None:
            return None
        return letterhead.set_letterhead(
            self.ctx.db, self.ctx.actor, self._pending, expected=self.loaded
        )

    def prepare(self) -> None:
        """Read the fields on the GUI thread, before the worker saves them."""
        self._pending = self.values()
        for label in self.errors.values():
            set_error(label, None)

    def show_problems(self, error: O2CError) -> bool:
        """Put each problem under its field; True when the error was about this tab."""
        if not isinstance(error, ValidationFailed) or error.source != "Letterhead":
            return False
        for problem in error.problems:
            name = field_of(problem.field)
            if name in self.errors:
                set_error(self.errors[name], problem.message)
        return True
