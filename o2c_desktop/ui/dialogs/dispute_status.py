"""Work a dispute: move its status on (a resolution text to resolve it), or give it to someone.

Used by the Disputes screen and by the disputes section of a customer's Ledger tab. Both
dialogs send the version the user saw, so a colleague's change in between is a clear conflict.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QLabel,
    QLineEdit,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import disputes, users
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog

STATUS_LABELS = {
    "open": "Open",
    "in_review": "In review",
    "resolved_customer": "Resolved in the customer's favour",
    "resolved_us": "Resolved in our favour",
    "withdrawn": "Withdrawn",
}
NEEDS_RESOLUTION = ("resolved_customer", "resolved_us")


def reason_label(code: str) -> str:
    return code.replace("_", " ").capitalize()


def summary(row: disputes.DisputeListRow) -> str:
    items = ", ".join(row.invoice_numbers) or "no items"
    return (
        f"{reason_label(row.reason_code)} · {formatting.money(row.amount, row.currency)} on "
        f"{items} · opened {formatting.day(row.opened_on)} · "
        f"owner {row.owner_name or 'nobody'} · {STATUS_LABELS.get(row.status, row.status)}"
    )


def _summary_label(row: disputes.DisputeListRow) -> QLabel:
    label = QLabel(summary(row), objectName="disputeSummary")
    label.setWordWrap(True)
    label.setStyleSheet("color: #555;")
    return label


class DisputeStatusDialog(ActionDialog):
    fields = ("status", "resolution", "resolved_on", "credit_note")

    def __init__(self, ctx: UiContext, row: disputes.DisputeListRow, parent: Any = None) -> None:
        super().__init__(ctx, parent)
        self.row = row
        self.setWindowTitle(f"Dispute #{row.id} · {row.customer_number} {row.customer_name}")
        self.setMinimumWidth(500)
        self.status = QComboBox(objectName="disputeStatus")
        for status, label in STATUS_LABELS.items():
            if status != row.status:
                self.status.addItem(label, status)
        self.resolution = QLineEdit(objectName="disputeResolution")
        self.resolution.setPlaceholderText("What was agreed, e.g. price list 2024 confirmed")
        self.resolved_on = QDateEdit(QDate.currentDate(), calendarPopup=True)
        self.resolved_on.setObjectName("disputeResolvedOn")
        self.resolved_on.setMinimumDate(QDate(row.opened_on))
        self.credit_note = QCheckBox(
            f"Post and apply a credit note for {formatting.money(row.amount, row.currency)}",
            objectName="disputeCreditNote",
        )
        may_credit = ctx.actor.may(Permission.POST_LEDGER) and ctx.actor.may(Permission.APPLY_CASH)
        self.credit_note.setEnabled(may_credit)
        self.credit_note.setToolTip(
            "The credit note settles the disputed amount of "
            + (", ".join(row.invoice_numbers) or "the disputed invoices")
            if may_credit
            else refusal(ctx.actor, Permission.POST_LEDGER)
        )
        self.resolution_caption = QLabel("Resolution")
        form = QFormLayout()
        form.addRow(_summary_label(row))
        form.addRow("New status", with_error(self.status, self.errors["status"]))
        form.addRow(self.resolution_caption, with_error(self.resolution, self.errors["resolution"]))
        form.addRow("Resolved on", with_error(self.resolved_on, self.errors["resolved_on"]))
        form.addRow("", with_error(self.credit_note, self.errors["credit_note"]))
        self.finish_layout(form)
        self.status.currentIndexChanged.connect(lambda _i: self._status_chosen())
        self._status_chosen()
        self.status.setFocus()

    def _status_chosen(self) -> None:
        status = self.status.currentData()
        closing = status in disputes.CLOSED_STATUSES
        self.resolution.setEnabled(closing)
        self.resolved_on.setEnabled(closing)
        self.resolution_caption.setText(
            "Resolution (required)" if status in NEEDS_RESOLUTION else "Resolution"
        )
        self.credit_note.setVisible(status == disputes.RESOLVED_FOR_CUSTOMER)
        if status != disputes.RESOLVED_FOR_CUSTOMER:
            self.credit_note.setChecked(False)

    def save(self) -> None:
        status = self.status.currentData()
        closing = status in disputes.CLOSED_STATUSES
        resolved_on: date | None = self.resolved_on.date().toPython() if closing else None
        self.run(
            disputes.set_status,
            self.ctx.db,
            self.ctx.actor,
            self.row.id,
            self.row.version,
            status,
            resolution=self.resolution.text().strip() if closing else None,
            resolved_on=resolved_on,
            credit_note=self.credit_note.isChecked(),
        )


class DisputeOwnerDialog(ActionDialog):
    """Give the dispute to another active user, or to nobody for now."""

    fields = ("owner",)

    def __init__(self, ctx: UiContext, row: disputes.DisputeListRow, parent: Any = None) -> None:
        super().__init__(ctx, parent)
        self.row = row
        self.setWindowTitle(f"Reassign dispute #{row.id} · {row.customer_number}")
        self.setMinimumWidth(460)
        self.owner = QComboBox(objectName="disputeOwner")
        self.owner.addItem("Loading users…", None)
        self.owner.setEnabled(False)
        form = QFormLayout()
        form.addRow(_summary_label(row))
        form.addRow("Owner", with_error(self.owner, self.errors["owner"]))
        self.finish_layout(form)
        self.loaded = False
        workers.submit(
            users.list_users,
            ctx.db,
            ctx.actor,
            owner=self,
            on_done=self._fill,
            on_failed=self._failed_loading,
        )

    def _fill(self, rows: list[users.UserRow]) -> None:
        self.owner.clear()
        self.owner.addItem("Nobody (unassigned)", None)
        for user in rows:
            if user.active:
                me = " (me)" if user.id == self.ctx.actor.user_id else ""
                self.owner.addItem(f"{user.display_name}{me}", user.id)
        current = self.owner.findData(self.row.owner_id)
        self.owner.setCurrentIndex(max(current, 0))
        self.owner.setEnabled(True)
        self.owner.setFocus()
        self.loaded = True

    def _failed_loading(self, error: O2CError) -> None:
        self.banner.setText(f"Cannot list the users: {error}")
        self.banner.show()

    def save(self) -> None:
        if not self.loaded:
            return
        self.run(
            disputes.reassign,
            self.ctx.db,
            self.ctx.actor,
            self.row.id,
            self.row.version,
            self.owner.currentData(),
        )
