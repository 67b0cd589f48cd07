"""Undo a cash or credit-note application, a discount or a write-off, from the Ledger tab.

The choices come from the tab's history (allocations without a later reversal row), so no extra
query is needed; the service re-checks everything and writes the audit rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QComboBox, QDateEdit, QFormLayout, QLabel, QLineEdit

from o2c_desktop.services import ledger
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.widgets.messages import confirm


def may_reverse(actor: Actor, kind: str | None) -> bool:
    """A write-off takes the write-off permission to undo; anything else the cash one."""
    return actor.may(Permission.WRITE_OFF if kind == "write_off" else Permission.APPLY_CASH)


def reversible(history: Sequence[Any], actor: Actor) -> list[Any]:
    """The allocation rows of a customer's history still standing that `actor` may undo."""
    reversed_ids = {r.allocation_id for r in history if r.entry == "reversal"}
    return [
        r
        for r in history
        if r.entry == "allocation"
        and r.allocation_id not in reversed_ids
        and may_reverse(actor, r.kind)
    ]


def describe(row: Any) -> str:
    amount = formatting.money(row.amount, row.currency)
    return f"{formatting.day(row.date)} · {row.description} · {amount}"


class ReverseAllocationDialog(ActionDialog):
    fields = ("allocation", "on", "reason")

    def __init__(
        self,
        ctx: UiContext,
        allocations: Sequence[Any],
        chosen_id: int | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.setWindowTitle("Reverse an allocation")
        self.setMinimumWidth(520)
        self.allocations = list(allocations)
        self.allocation = QComboBox(objectName="allocationChoice")
        for row in self.allocations:
            self.allocation.addItem(describe(row), row.allocation_id)
        if chosen_id is not None and self.allocation.findData(chosen_id) >= 0:
            self.allocation.setCurrentIndex(self.allocation.findData(chosen_id))
        self.effect = QLabel(objectName="reversalEffect")
        self.effect.setWordWrap(True)
        self.effect.setStyleSheet("color: #555;")
        self.date = QDateEdit(calendarPopup=True, objectName="reversalDate")
        self.reason = QLineEdit(objectName="reversalReason")
        self.reason.setPlaceholderText("Why, e.g. applied to the wrong invoice")
        form = QFormLayout()
        form.addRow("Allocation", with_error(self.allocation, self.errors["allocation"]))
        form.addRow("", self.effect)
        form.addRow("Reverse on", with_error(self.date, self.errors["on"]))
        form.addRow("Reason", with_error(self.reason, self.errors["reason"]))
        self.finish_layout(form)
        self.allocation.currentIndexChanged.connect(lambda _i: self._chosen())
        self._chosen()
        self.reason.setFocus()

    def chosen(self) -> Any:
        index = self.allocation.currentIndex()
        return self.allocations[index] if 0 <= index < len(self.allocations) else None

    def _chosen(self) -> None:
        row = self.chosen()
        if row is None:
            self.effect.setText("Nothing to reverse.")
            return
        # Never before the allocation's own date (the service refuses that).
        self.date.setDate(QDate(max(date.today(), row.date)))
        self.date.setMinimumDate(QDate(row.date))
        back = formatting.money(row.amount, row.currency)
        if row.kind == "payment":
            text = f"{row.reference} is open {back} more; the payment's cash becomes unapplied."
        elif row.kind == "credit_note":
            text = f"{row.reference} is open {back} more; the credit note's credit comes back."
        else:
            text = f"{row.reference} is open {back} more."
        self.effect.setText(text)

    def save(self) -> None:
        row = self.chosen()
        if row is None:
            return
        question = f"Reverse this allocation?\n\n{describe(row)}\n\n{self.effect.text()}"
        if not confirm(self, question):
            return
        on: date = self.date.date().toPython()
        self.run(
            ledger.reverse_allocation,
            self.ctx.db,
            self.ctx.actor,
            row.allocation_id,
            on,
            self.reason.text().strip(),
        )
