"""Release or reject a held order, with the reason the decision is recorded with.

Releasing needs an approval authority in the order's currency covering the customer's exposure
after the release; the dialog shows the user's authority beside the order, and a refusal by the
service (someone else's authority needed) appears in the banner with the reason kept, so the
user can hand the order on or cancel. After a decision the app-wide signals tell the holds queue
and the customer's open profile to refresh.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit

from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.services import credit_authority, orders
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog

RELEASE, REJECT = "release", "reject"
TITLES = {RELEASE: "Release order", REJECT: "Reject order"}
DONE = {RELEASE: "released", REJECT: "rejected"}
MUTED_STYLE = "color: #555;"


def order_summary(order: Any) -> str:
    """One line naming the order: number, customer, amount, date."""
    return (
        f"{order.number} · {order.customer_number} {order.customer_name} · "
        f"{formatting.money(order.amount, order.currency)} · "
        f"ordered {formatting.day(order.order_date)}"
    )


def reasons_text(order: Any) -> str:
    """The hold reasons as a bulleted list (or a note that there are none)."""
    if not order.hold_reasons:
        return "No hold reasons recorded."
    return "\n".join(f"• {reason}" for reason in order.hold_reasons)


class OrderDecisionDialog(ActionDialog):
    """`action`: RELEASE or REJECT. Enter saves, Escape cancels; the reason is required."""

    fields = ("reason",)

    def __init__(self, ctx: UiContext, order: Any, action: str, parent: Any = None) -> None:
        super().__init__(ctx, parent)
        self.order, self.action = order, action
        self.setWindowTitle(f"{TITLES[action]} {order.number}")
        self.setMinimumWidth(520)
        summary = QLabel(order_summary(order), objectName="orderSummary")
        summary.setWordWrap(True)
        reasons = QLabel(reasons_text(order), objectName="orderHoldReasons")
        reasons.setWordWrap(True)
        self.authority = QLabel(objectName="orderAuthority")
        self.authority.setStyleSheet(MUTED_STYLE)
        self.authority.setWordWrap(True)
        self.reason = QLineEdit(objectName="orderDecisionReason")
        self.reason.setMaxLength(500)
        self.reason.setPlaceholderText(
            "Why, e.g. payment received today, agreed with sales"
            if action == RELEASE
            else "Why, e.g. customer insolvent, order cancelled by sales"
        )
        form = QFormLayout()
        form.addRow("Order", summary)
        form.addRow("Held because", reasons)
        if action == RELEASE:
            form.addRow("", self.authority)
            self.authority.setText(f"Your authority in {order.currency}: loading…")
            workers.submit(
                credit_authority.my_authority,
                ctx.db,
                ctx.actor,
                order.currency,
                owner=self,
                on_done=lambda a: self.authority.setText(f"Your authority: {a.describe()}"),
                on_failed=lambda e: self.authority.setText(str(e)),
            )
        form.addRow("Reason (required)", with_error(self.reason, self.errors["reason"]))
        self.finish_layout(form)
        self.reason.setFocus()

    def save(self) -> None:
        reason = self.reason.text().strip()
        if not reason:  # the service refuses it too; said here without a round trip
            self._failed(
                ValidationFailed([FieldProblem("reason", "a reason is required")], "Order")
            )
            return
        decide = orders.release_order if self.action == RELEASE else orders.reject_order
        self.run(decide, self.ctx.db, self.ctx.actor, self.order.id, self.order.version, reason)

    def _done(self, value: Any) -> None:
        self.ctx.signals.orders_changed.emit()
        self.ctx.signals.customer_changed.emit(self.order.customer_id)
        super()._done(value)

    def _failed(self, error: O2CError) -> None:
        """The refusal in the banner; the reason typed stays, ready to try again or cancel."""
        super()._failed(error)
        if not isinstance(error, ValidationFailed):
            self.banner.setText(f"Not {DONE[self.action]}: {error}")
        self.reason.setFocus()
