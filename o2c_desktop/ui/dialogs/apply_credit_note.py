"""Settle open invoices with a credit note's unallocated credit, from the Ledger tab.

The invoices offered are the ones picked in the open items (or, with none picked, every open
invoice), in due-date order; the credit is spread over them oldest first as a suggestion the
user can change line by line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from o2c_desktop.money import parse_amount
from o2c_desktop.services import ledger
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog


def spread(credit: Decimal, open_amounts: Sequence[Decimal]) -> list[Decimal]:
    """Credit spread over the open amounts in order, each up to what is open: 0 once used up."""
    shares = []
    for open_amount in open_amounts:
        share = min(credit, open_amount)
        shares.append(share)
        credit -= share
    return shares


class ApplyCreditNoteDialog(ActionDialog):
    fields = ("invoice", "amount", "on", "credit_note")

    def __init__(
        self,
        ctx: UiContext,
        credit_notes: Sequence[Any],
        invoices: Sequence[Any],
        parent: Any = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.setWindowTitle("Apply a credit note")
        self.setMinimumWidth(480)
        self.credit_notes = list(credit_notes)
        self.all_invoices = sorted(invoices, key=lambda r: (r.due_date, r.number))
        self.invoices: list[Any] = []
        self.amounts: list[QLineEdit] = []
        self.credit_note = QComboBox(objectName="creditNoteChoice")
        for note in self.credit_notes:
            self.credit_note.addItem(
                f"{note.number} · {formatting.money(note.open_amount, note.currency)} to apply",
                note.id,
            )
        self.lines_box = QWidget()
        self.lines = QFormLayout(self.lines_box)
        self.lines.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.lines_box)
        scroll.setMaximumHeight(240)
        self.left = QLabel(objectName="creditLeft")
        self.left.setStyleSheet("color: #555;")
        self.date = QDateEdit(QDate.currentDate(), calendarPopup=True, objectName="creditDate")
        form = QFormLayout()
        form.addRow("Credit note", with_error(self.credit_note, self.errors["credit_note"]))
        form.addRow("Apply to", with_error(scroll, self.errors["invoice"]))
        form.addRow("", with_error(self.left, self.errors["amount"]))
        form.addRow("Date", with_error(self.date, self.errors["on"]))
        self.finish_layout(form)
        self.credit_note.currentIndexChanged.connect(lambda _i: self._fill())
        self._fill()
        self.credit_note.setFocus()

    def chosen(self) -> Any:
        index = self.credit_note.currentIndex()
        return self.credit_notes[index] if 0 <= index < len(self.credit_notes) else None

    def _fill(self) -> None:
        """One line per open invoice in the credit note's currency, credit spread oldest first."""
        while self.lines.rowCount():
            self.lines.removeRow(0)
        self.amounts = []
        note = self.chosen()
        if note is None:
            self.invoices = []
            return
        self.invoices = [r for r in self.all_invoices if r.currency == note.currency]
        shares = spread(note.open_amount, [r.open_amount for r in self.invoices])
        for invoice, share in zip(self.invoices, shares, strict=True):
            edit = QLineEdit(
                format(share, "f") if share else "", objectName=f"apply_{invoice.number}"
            )
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.setPlaceholderText("0.00")
            edit.textChanged.connect(lambda _t: self._update_left())
            self.amounts.append(edit)
            self.lines.addRow(
                f"{invoice.number}  (due {formatting.day(invoice.due_date)}, "
                f"open {formatting.amount(invoice.open_amount)})",
                edit,
            )
        if not self.invoices:
            self.lines.addRow(QLabel(f"No open invoice in {note.currency}."))
        self._update_left()

    def _update_left(self) -> None:
        note = self.chosen()
        if note is None:
            return
        used = Decimal(0)
        for edit in self.amounts:
            try:
                used += parse_amount(edit.text()) if edit.text().strip() else Decimal(0)
            except ValueError:
                self.left.setText("")
                return
        left = note.open_amount - used
        self.left.setText(f"Credit left after this: {formatting.money(left, note.currency)}")

    def save(self) -> None:
        note = self.chosen()
        if note is None:
            return
        pairs = [
            (invoice.id, edit.text().strip())
            for invoice, edit in zip(self.invoices, self.amounts, strict=True)
            if edit.text().strip()
        ]
        on: date = self.date.date().toPython()
        self.run(ledger.apply_credit_note, self.ctx.db, self.ctx.actor, note.id, pairs, on)
