"""Release or reject a held order, with the reason the decision is recorded with.

Releasing needs an approval authority in the order's currency covering, alone, the customer's
exposure after the release (the amount with a second approver does not apply to orders). The
dialog reads the user's authority and the customer's exposure when it opens and says whether
they suffice; when they do not, Save stays disabled and its tooltip says why (the holds screen
disables its Release button the same way, with `release_check`). A refusal by the service all
the same (the exposure or the authority changed meanwhile) appears in the banner with the
reason kept, so the user can hand the order on or cancel. Enter or Ctrl+Enter saves. After a
decision the app-wide signals tell the holds queue and the customer's open profile to refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtWidgets import QDialogButtonBox, QFormLayout, QLabel, QLineEdit

from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.services import credit_authority, customers, orders
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.widgets.keys import ctrl_enter_saves

RELEASE, REJECT = "release", "reject"
TITLES = {RELEASE: "Release order", REJECT: "Reject order"}
DONE = {RELEASE: "released", REJECT: "rejected"}
MUTED_STYLE = "color: #555;"
SHORT_STYLE = "color: #b00020;"
CHECKING = "Checking your authority and the customer's exposure…"


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


@dataclass(frozen=True)
class ReleaseCheck:
    """Whether the signed-in user may release an order, and the sentence that says why."""

    allowed: bool
    text: str


def release_facts(ctx: UiContext, order: Any) -> tuple[Any, Any]:
    """On a worker: the customer (its exposure now) and the user's authority in the order's
    currency, or None when the user may not release orders at all."""
    detail = customers.get_customer(ctx.db, ctx.actor, order.customer_id)
    if not ctx.actor.may(Permission.RELEASE_ORDERS):
        return detail, None
    return detail, credit_authority.my_authority(ctx.db, ctx.actor, order.currency)


def release_check(ctx: UiContext, order: Any, exposure: Decimal, authority: Any) -> ReleaseCheck:
    """The rule the orders service applies on release (the amount alone covers the exposure
    after it, held orders not counting before), said before the user types a reason."""
    if authority is None:
        return ReleaseCheck(False, refusal(ctx.actor, Permission.RELEASE_ORDERS))
    currency = order.currency
    after = exposure + order.amount
    facts = (
        f"releasing brings the customer's exposure to {formatting.money(after, currency)}; "
        f"you may grant {formatting.money(authority.alone_max, currency)} alone "
        f"({authority.source})"
    )
    if authority.alone_max >= after:
        return ReleaseCheck(True, f"Within your authority: {facts}.")
    return ReleaseCheck(
        False,
        f"Above your authority: {facts}. Someone who may grant more must release it "
        "(or reject it).",
    )


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
            form.addRow("Authority", self.authority)
        form.addRow("Reason (required)", with_error(self.reason, self.errors["reason"]))
        self.finish_layout(form)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        ctrl_enter_saves(self.reason, self)  # as in the other reason boxes
        self.check: ReleaseCheck | None = None
        if action == RELEASE:
            self._show_check(None)
            workers.submit(
                release_facts,
                ctx,
                order,
                owner=self,
                on_done=self._facts_loaded,
                on_failed=lambda e: self._show_check(
                    ReleaseCheck(False, f"Cannot check your authority: {e}")
                ),
            )
        self.reason.setFocus()

    def _facts_loaded(self, facts: tuple[Any, Any]) -> None:
        detail, authority = facts
        self._show_check(release_check(self.ctx, self.order, detail.exposure, authority))

    def _show_check(self, check: ReleaseCheck | None) -> None:
        """Save only when the release is within the user's authority (known)."""
        self.check = check
        text = CHECKING if check is None else check.text
        self.authority.setText(text)
        short = check is not None and not check.allowed
        self.authority.setStyleSheet(SHORT_STYLE if short else MUTED_STYLE)
        self.save_button.setEnabled(check is not None and check.allowed)
        self.save_button.setToolTip("" if check is not None and check.allowed else text)

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
