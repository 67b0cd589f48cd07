"""Record a payment, raise a dispute; and `ActionDialog`, the base of every Ledger tab dialog.

The other actions have their own modules: write_off, reverse_allocation, apply_credit_note and
dispute_status.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.services import cash_receipts, disputes
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    save_cancel_layout,
    set_error,
    with_error,
)

APPLY_LABELS = {
    "reference": "To the invoice its reference names",
    "oldest-first": "Oldest items first",
    "selected": "To the selected items",
    "none": "Leave unapplied",
}


class ActionDialog(QDialog):
    """Shared: banner, per-field errors, run the service off the GUI thread, close on success."""

    fields: tuple[str, ...] = ()

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.banner = banner()
        self.errors = {name: error_label() for name in self.fields}
        self.result_value: Any = None

    def finish_layout(self, body: Any) -> None:
        """Banner, the form, Save (the default button: Enter) and Cancel (Escape)."""
        self.buttons = save_cancel_layout(self, body, self.save)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setDefault(True)

    def save(self) -> None:
        raise NotImplementedError

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        self.buttons.setEnabled(False)
        for label in self.errors.values():
            set_error(label, None)
        workers.submit(
            lambda: fn(*args, **kwargs), owner=self, on_done=self._done, on_failed=self._failed
        )

    def _done(self, value: Any) -> None:
        self.result_value = value
        self.buttons.setEnabled(True)
        self.accept()

    def _failed(self, error: O2CError) -> None:
        self.buttons.setEnabled(True)
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                target = problem.field if problem.field in self.errors else None
                if target:
                    set_error(self.errors[target], problem.message)
        self.banner.setText(f"Not saved: {error}")
        self.banner.show()


class PaymentDialog(ActionDialog):
    fields = ("date", "amount", "reference", "items")

    def __init__(
        self,
        ctx: UiContext,
        customer_id: int,
        currency: str,
        selected: list[Any],
        parent: Any = None,
    ):
        super().__init__(ctx, parent)
        self.customer_id = customer_id
        self.selected = selected
        self.setWindowTitle("Record payment")
        self.date = QDateEdit(QDate.currentDate(), calendarPopup=True, objectName="paymentDate")
        self.amount = QLineEdit(objectName="paymentAmount")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.method = QComboBox(objectName="paymentMethod")
        self.method.addItems(["bank transfer", "card", "cheque", "cash", "direct debit"])
        self.reference = QLineEdit(objectName="paymentReference")
        self.reference.setPlaceholderText("e.g. the invoice number the customer quoted")
        self.apply = QComboBox(objectName="paymentApply")
        for key, label in APPLY_LABELS.items():
            self.apply.addItem(label, key)
        if selected:
            self.apply.setCurrentIndex(self.apply.findData("selected"))
            total = sum((row.open_amount for row in selected), Decimal(0))
            self.amount.setText(format(total, "f"))
        chosen = ", ".join(row.number for row in selected) or "none selected"
        form = QFormLayout()
        form.addRow("Date", with_error(self.date, self.errors["date"]))
        form.addRow(f"Amount ({currency})", with_error(self.amount, self.errors["amount"]))
        form.addRow("Method", self.method)
        form.addRow("Reference", with_error(self.reference, self.errors["reference"]))
        form.addRow("Apply", self.apply)
        form.addRow("Selected items", with_error(QLabel(chosen), self.errors["items"]))
        self.finish_layout(form)
        self.amount.setFocus()

    def save(self) -> None:
        self.run(
            cash_receipts.receive_payment,
            self.ctx.db,
            self.ctx.actor,
            self.customer_id,
            self.date.date().toPython(),
            self.amount.text().strip(),
            method=self.method.currentText(),
            reference=self.reference.text().strip() or None,
            apply=self.apply.currentData(),
            items=[row.id for row in self.selected],
        )


class DisputeDialog(ActionDialog):
    fields = ("amount", "reason_code", "items")

    def __init__(self, ctx: UiContext, customer_id: int, item: Any, parent: Any = None):
        super().__init__(ctx, parent)
        self.customer_id, self.item = customer_id, item
        self.setWindowTitle(f"Raise a dispute on {item.number}")
        undisputed = item.open_amount - item.disputed_amount
        self.amount = QLineEdit(format(undisputed, "f"), objectName="disputeAmount")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.reason = QComboBox(objectName="disputeReason")
        for code in disputes.REASON_CODES:
            self.reason.addItem(code.replace("_", " ").capitalize(), code)
        self.notes = QPlainTextEdit(objectName="disputeNotes")
        self.notes.setMaximumHeight(80)
        form = QFormLayout()
        form.addRow(
            "Item",
            QLabel(f"{item.number}, open {formatting.money(item.open_amount, item.currency)}"),
        )
        form.addRow("Disputed amount", with_error(self.amount, self.errors["amount"]))
        form.addRow("Reason", with_error(self.reason, self.errors["reason_code"]))
        form.addRow("Notes", self.notes)
        self.finish_layout(form)

    def save(self) -> None:
        self.run(
            disputes.raise_dispute,
            self.ctx.db,
            self.ctx.actor,
            self.customer_id,
            [(self.item.id, self.amount.text().strip())],
            self.reason.currentData(),
            notes=self.notes.toPlainText().strip() or None,
            opened_on=date.today(),
        )
