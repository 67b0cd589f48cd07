"""Create or edit a customer, with validation next to each field and a clear save conflict.

Input is parsed with the same `parse_field` the services use, so what the dialog accepts the
service accepts. On a conflict (someone saved first) the dialog keeps everything typed, says who
changed what, and takes their version as the new base: saving again overwrites deliberately.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QFormLayout,
    QGridLayout,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from o2c_desktop.errors import ConflictError, O2CError, ValidationFailed
from o2c_desktop.money import known_currencies
from o2c_desktop.services import customers, users
from o2c_desktop.services.auth import Permission
from o2c_desktop.services.customer_fields import (
    BY_NAME,
    CREDIT_FIELDS,
    FIELDS,
    RISK_CLASSES,
    SEGMENTS,
    countries,
    parse_field,
)
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    save_cancel_layout,
    set_error,
    with_error,
)

LEFT = ("number", "name", "legal_name", "tax_id", "segment", "currency", "email", "phone")
RIGHT = (
    "credit_limit",
    "risk_class",
    "payment_terms",
    "collector",
    "on_hold",
    "hold_reason",
    "next_review_date",
)
ADDRESS = ("address_line1", "address_line2", "postcode", "city", "country")


class CustomerDialog(QDialog):
    def __init__(
        self, ctx: UiContext, detail: customers.CustomerDetail | None = None, parent: Any = None
    ):
        super().__init__(parent)
        self.ctx = ctx
        self.customer_id = detail.id if detail else None
        self.base_version = detail.version if detail else None
        self.saved: customers.CustomerDetail | None = None
        self.setWindowTitle(f"Edit customer {detail.number}" if detail else "New customer")
        self.banner = banner()
        self.inputs: dict[str, QWidget] = {}
        self.errors = {spec.name: error_label() for spec in FIELDS}
        self._build_inputs()

        grid = QGridLayout()
        for column, names in enumerate((LEFT, RIGHT, ADDRESS)):
            form = QFormLayout()
            for name in names:
                form.addRow(
                    BY_NAME[name].label + ("*" if BY_NAME[name].required else ""),
                    with_error(self.inputs[name], self.errors[name]),
                )
            grid.addLayout(form, 0, column)
        body = QWidget()
        body.setLayout(grid)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(body)

        self.buttons = save_cancel_layout(self, scroll, self.save)
        self.resize(1150, 520)

        if detail:
            self.set_values(detail.values)
        else:
            self.set_values(
                {
                    "payment_terms": "NET30",
                    "currency": "EUR",
                    "credit_limit": None,
                    "on_hold": False,
                }
            )
        self._apply_permissions()
        self.inputs["number" if detail is None else "name"].setFocus()

    # -- widgets ---------------------------------------------------------------------------
    def _build_inputs(self) -> None:
        for spec in FIELDS:
            widget: QWidget
            if spec.name == "segment":
                widget = QComboBox(editable=True)
                widget.addItems(["", *SEGMENTS])
            elif spec.name == "risk_class":
                widget = QComboBox()
                widget.addItem("", "")
                for code, label in RISK_CLASSES.items():
                    widget.addItem(label, code)
            elif spec.name == "payment_terms":
                widget = QComboBox()
                for code, text in customers.payment_terms(self.ctx.db):
                    widget.addItem(f"{code} – {text}", code)
            elif spec.name == "collector":
                widget = QComboBox()
                widget.addItem("(none)", "")
                for user in users.list_collectors(self.ctx.db):
                    widget.addItem(f"{user.display_name} ({user.username})", user.username)
            elif spec.name == "country":
                widget = QComboBox()
                widget.addItem("", "")
                for code, name in sorted(countries().items(), key=lambda kv: kv[1]):
                    widget.addItem(f"{name} ({code})", code)
            elif spec.name == "on_hold":
                widget = QCheckBox("Orders are held")
            else:
                widget = QLineEdit()
                if spec.max_length:
                    widget.setMaxLength(spec.max_length)
                if spec.name == "currency":
                    widget.setMaxLength(3)
                    widget.setCompleter(QCompleter(sorted(known_currencies()), widget))
                if spec.name == "credit_limit":
                    widget.setAlignment(Qt.AlignmentFlag.AlignRight)
                    widget.setPlaceholderText("0.00")
                if spec.name == "next_review_date":
                    widget.setPlaceholderText("YYYY-MM-DD")
                widget.editingFinished.connect(lambda n=spec.name: self.check_field(n))
            widget.setObjectName(f"field_{spec.name}")
            self.inputs[spec.name] = widget

    def _apply_permissions(self) -> None:
        actor = self.ctx.actor
        rules = {name: Permission.EDIT_CREDIT_TERMS for name in CREDIT_FIELDS}
        rules["collector"] = Permission.ASSIGN_COLLECTOR
        for name, permission in rules.items():
            if not actor.may(permission):
                self.inputs[name].setEnabled(False)
                self.inputs[name].setToolTip(
                    f"Only a {' or '.join(sorted(r.label for r in permission.roles))} "
                    "may change this"
                )

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            widget = self.inputs.get(name)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                index = widget.findData(value or "")
                if index < 0 and widget.isEditable():
                    widget.setEditText(value or "")
                else:
                    widget.setCurrentIndex(max(index, 0))
            elif isinstance(widget, QLineEdit):
                widget.setText(
                    ""
                    if value is None
                    else format(value, "f")
                    if name == "credit_limit"
                    else str(value)
                )

    def raw_values(self) -> dict[str, Any]:
        """What the user typed, as text (checkbox as bool), for the service to parse."""
        values: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            if isinstance(widget, QCheckBox):
                values[name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                values[name] = widget.currentText() if widget.isEditable() else widget.currentData()
            elif isinstance(widget, QLineEdit):
                values[name] = widget.text()
        return values

    def check_field(self, name: str) -> bool:
        try:
            parse_field(name, self.raw_values()[name])
        except ValueError as exc:
            set_error(self.errors[name], str(exc))
            return False
        set_error(self.errors[name], None)
        return True

    # -- saving ----------------------------------------------------------------------------
    def save(self) -> None:
        if not all([self.check_field(spec.name) for spec in FIELDS]):
            self._show_banner("Please correct the fields marked in red.")
            return
        raw = self.raw_values()
        if self.customer_id is not None:
            allowed = {n for n in raw if self.inputs[n].isEnabled()}
            raw = {n: v for n, v in raw.items() if n in allowed}
        self.buttons.setEnabled(False)
        self.banner.hide()
        db, actor = self.ctx.db, self.ctx.actor
        if self.customer_id is None:
            workers.submit(
                customers.create_customer,
                db,
                actor,
                raw,
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )
        else:
            workers.submit(
                customers.update_customer,
                db,
                actor,
                self.customer_id,
                self.base_version,
                raw,
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )

    def _saved(self, detail: customers.CustomerDetail) -> None:
        self.saved = detail
        self.buttons.setEnabled(True)
        self.accept()

    def _failed(self, error: O2CError) -> None:
        self.buttons.setEnabled(True)
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                if problem.field in self.errors:
                    set_error(self.errors[problem.field], problem.message)
            self._show_banner("Not saved: please correct the fields marked in red.")
        elif isinstance(error, ConflictError):
            self._show_banner(str(error))
            self._rebase()
        else:
            self._show_banner(f"Not saved: {error}")

    def _rebase(self) -> None:
        """After a conflict, the next Save is made against the other user's version."""
        if self.customer_id is None:
            return
        try:
            current = customers.get_customer(self.ctx.db, self.ctx.actor, self.customer_id)
        except O2CError as exc:
            self._show_banner(str(exc))
            return
        self.base_version = current.version

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()
