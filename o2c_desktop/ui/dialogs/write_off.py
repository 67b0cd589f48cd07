"""Write off the open amount of the invoices picked on the Ledger tab, within one's authority."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QDateEdit, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.money import parse_amount
from o2c_desktop.services import write_offs
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import ERROR_STYLE, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog

MUTED_STYLE = "color: #555;"


class WriteOffDialog(ActionDialog):
    """One amount line per picked invoice (defaulting to its open amount), a date and a reason.

    The user's authority is shown on top and the running total turns red above it; the service
    refuses such a total anyway, and the refusal appears in the banner."""

    fields = ("items", "amount", "on", "reason")

    def __init__(
        self, ctx: UiContext, items: Sequence[Any], currency: str, parent: Any = None
    ) -> None:
        super().__init__(ctx, parent)
        self.items = sorted(items, key=lambda r: (r.due_date, r.number))  # oldest first
        self.currency = currency
        self.authority: write_offs.Authority | None = None
        self.setWindowTitle("Write off")
        self.setMinimumWidth(460)
        self.authority_label = QLabel("Your write-off authority: loading…", objectName="authority")
        self.authority_label.setWordWrap(True)
        self.amounts: list[QLineEdit] = []
        lines = QFormLayout()
        for item in self.items:
            edit = QLineEdit(format(item.open_amount, "f"), objectName=f"writeOff_{item.number}")
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.textChanged.connect(self._update_total)
            self.amounts.append(edit)
            caption = f"{item.number}  (open {formatting.amount(item.open_amount)})"
            if item.disputed_amount:
                caption += f", {formatting.amount(item.disputed_amount)} disputed"
            lines.addRow(caption, edit)
        self.total = QLabel(objectName="writeOffTotal")
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.date = QDateEdit(QDate.currentDate(), calendarPopup=True, objectName="writeOffDate")
        self.reason = QLineEdit(objectName="writeOffReason")
        self.reason.setPlaceholderText("Why, e.g. customer insolvent, small balance left")
        form = QFormLayout()
        form.addRow(f"Amounts ({currency})", with_error(self._box(lines), self.errors["amount"]))
        form.addRow("Total", with_error(self.total, self.errors["items"]))
        form.addRow("Date", with_error(self.date, self.errors["on"]))
        form.addRow("Reason", with_error(self.reason, self.errors["reason"]))
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.authority_label)
        layout.addLayout(form)
        self.finish_layout(body)
        self._update_total()
        (self.amounts[0] if self.amounts else self.reason).setFocus()
        workers.submit(
            write_offs.authority,
            ctx.db,
            ctx.actor,
            owner=self,
            on_done=self._authority_known,
            on_failed=self._authority_failed,
        )

    @staticmethod
    def _box(layout: QFormLayout) -> QWidget:
        box = QWidget()
        box.setLayout(layout)
        layout.setContentsMargins(0, 0, 0, 0)
        return box

    def _authority_known(self, authority: write_offs.Authority) -> None:
        self.authority = authority
        self._update_total()

    def _authority_failed(self, error: O2CError) -> None:
        self.authority_label.setText(str(error))
        self.authority_label.setStyleSheet(ERROR_STYLE)

    def entered_total(self) -> Decimal | None:
        """The sum of the amount fields; None while one of them is not an amount."""
        total = Decimal(0)
        for edit in self.amounts:
            try:
                total += parse_amount(edit.text()) if edit.text().strip() else Decimal(0)
            except ValueError:
                return None
        return total

    def over_authority(self) -> bool:
        total = self.entered_total()
        return bool(self.authority and total is not None and not self.authority.allows(total))

    def _update_total(self) -> None:
        total = self.entered_total()
        self.total.setText("?" if total is None else formatting.money(total, self.currency))
        if self.authority is None:
            return
        text = f"Your write-off authority: {self.authority.text}."
        if self.over_authority():
            text += " This total is above it: someone with more authority must write it off."
        self.authority_label.setText(text)
        self.authority_label.setStyleSheet(ERROR_STYLE if self.over_authority() else MUTED_STYLE)

    def save(self) -> None:
        lines = [
            (item.id, edit.text().strip())
            for item, edit in zip(self.items, self.amounts, strict=True)
            if edit.text().strip()
        ]
        on: date = self.date.date().toPython()
        self.run(
            write_offs.write_off_items,
            self.ctx.db,
            self.ctx.actor,
            lines,
            on,
            self.reason.text().strip(),
        )
