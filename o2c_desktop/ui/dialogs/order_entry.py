"""Enter a customer order on credit: the customer (type-ahead on number or name, or given by the
screen that opened the dialog), the order's number, date, amount, currency and an outside
reference. The orders service decides whether it is open (it counts in exposure) or held (over
the available credit, customer on hold, items long past due); the dialog then says which, and
why, in plain words.

The customer's limit, exposure and available credit are shown as soon as a customer is chosen,
so the user sees before saving that an order will be held. The customer line is the shared
type-ahead (widgets.customer_picker).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QCompleter, QDateEdit, QFormLayout, QLabel, QLineEdit, QStyle

from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models.credit import ORDER_HELD
from o2c_desktop.money import known_currencies, parse_amount
from o2c_desktop.services import customers, orders
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import set_error, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.widgets.customer_picker import CustomerPicker
from o2c_desktop.ui.widgets.list_editor import normalise
from o2c_desktop.ui.widgets.messages import show_info

# How the orders service may name a field, and the input it belongs to.
ALIASES = {
    "customer_id": "customer",
    "customer_number": "customer",
    "date": "order_date",
    "order_number": "number",
    "external_reference": "external_id",
    "reference": "external_id",
}


def fits(edit: QLineEdit, text: str) -> int:
    """A width that shows `text` whole in `edit` (its frame and margins added)."""
    margins = edit.textMargins()
    frame = 2 * edit.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth)
    inner = 12  # the line edit's own side margins, and room for the cursor
    return (
        edit.fontMetrics().horizontalAdvance(text)
        + margins.left()
        + margins.right()
        + frame
        + inner
    )


def outcome_text(order: Any) -> str:
    """What became of a new order, in plain words."""
    who = f"{order.customer_number} {order.customer_name}"
    amount = formatting.money(order.amount, order.currency)
    if order.status == ORDER_HELD:
        reasons = "\n".join(f"• {reason}" for reason in order.hold_reasons) or "• (no reason given)"
        return (
            f"Order {order.number} for {who} ({amount}) is ON CREDIT HOLD:\n{reasons}\n\n"
            "It does not count in the exposure until someone with authority releases it on the "
            "Credit holds screen (or rejects it)."
        )
    return (
        f"Order {order.number} for {who} ({amount}) is open: it passed the credit check and "
        "now counts in the customer's exposure."
    )


def credit_text(detail: Any) -> str:
    """The customer's credit situation in one line (with the hold flag when set)."""
    currency = detail.currency
    text = (
        f"Limit {formatting.money(detail.credit_limit, currency)} · exposure "
        f"{formatting.money(detail.exposure, currency)} · available "
        f"{formatting.money(detail.available_credit, currency)}"
    )
    if detail.values.get("on_hold"):
        reason = detail.values.get("hold_reason")
        text += " · ON HOLD" + (f" ({reason})" if reason else "")
    return text


class OrderEntryDialog(ActionDialog):
    fields = ("customer", "number", "order_date", "amount", "currency", "external_id")

    def __init__(self, ctx: UiContext, parent: Any = None, customer_id: int | None = None):
        super().__init__(ctx, parent)
        self.setWindowTitle("New order")
        self.setMinimumWidth(560)
        self.saved: Any = None
        self.customer = CustomerPicker(ctx)
        self.customer.setObjectName("orderCustomer")
        self.credit = QLabel(objectName="orderCustomerCredit")
        self.credit.setWordWrap(True)
        self.credit.setStyleSheet("color: #555;")
        self.number = QLineEdit(objectName="orderNumber")
        self.number.setMaxLength(40)
        self.number.setPlaceholderText("blank: the next SO- number")
        self.order_date = QDateEdit(QDate(date.today()), objectName="orderDate")
        self.order_date.setCalendarPopup(True)
        self.order_date.setDisplayFormat("yyyy-MM-dd")
        self.amount = QLineEdit(objectName="orderAmount")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.amount.setPlaceholderText("0.00")
        self.currency = QLineEdit(objectName="orderCurrency")
        self.currency.setMaxLength(3)
        self.currency.setPlaceholderText("the customer's")
        self.currency.setFixedWidth(fits(self.currency, self.currency.placeholderText()))
        self.currency.setToolTip("An order must be in the customer's currency")
        self.currency.setCompleter(QCompleter(sorted(known_currencies()), self.currency))
        self.external_id = QLineEdit(objectName="orderExternalId")
        self.external_id.setMaxLength(64)
        self.external_id.setPlaceholderText("e.g. the order's number in the ERP or web shop")
        form = QFormLayout()
        form.addRow("Customer*", with_error(self.customer, self.errors["customer"]))
        form.addRow("", self.credit)
        form.addRow("Order number", with_error(self.number, self.errors["number"]))
        form.addRow("Order date", with_error(self.order_date, self.errors["order_date"]))
        form.addRow("Amount*", with_error(self.amount, self.errors["amount"]))
        form.addRow("Currency", with_error(self.currency, self.errors["currency"]))
        form.addRow("External reference", with_error(self.external_id, self.errors["external_id"]))
        self.finish_layout(form)
        self.customer.chosen.connect(self._customer_chosen)
        if customer_id is not None:
            self.customer.setEnabled(False)
            self._load_customer(customer_id, prefill=True)
            self.number.setFocus()
        else:
            self.customer.setFocus()

    # -- the customer ----------------------------------------------------------------------
    def _load_customer(self, customer_id: int, prefill: bool = False) -> None:
        self.credit.setText("Loading the customer's credit…")
        workers.submit(
            customers.get_customer,
            self.ctx.db,
            self.ctx.actor,
            customer_id,
            owner=self,
            on_done=lambda detail: self._customer_loaded(detail, prefill),
            on_failed=self._customer_failed,
        )

    def _customer_loaded(self, detail: Any, prefill: bool) -> None:
        if prefill:
            self.customer.blockSignals(True)
            self.customer.set_customer(detail.id, detail.number, detail.name, detail.currency)
            self.customer.blockSignals(False)
            self.customer.setEnabled(True)
        if self.customer.customer_id != detail.id:
            return  # another customer was picked meanwhile
        self.credit.setText(credit_text(detail))
        self.currency.setText(detail.currency)

    def _customer_failed(self, error: O2CError) -> None:
        self.customer.setEnabled(True)
        self.credit.setText("")
        set_error(self.errors["customer"], str(error))

    def _customer_chosen(self, customer_id: int | None) -> None:
        set_error(self.errors["customer"], None)
        if customer_id is None:
            self.credit.setText("")
            return
        self.currency.setText(self.customer.currency or "")
        self._load_customer(customer_id)

    # -- saving ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The order as typed; ValidationFailed naming each input that cannot be read."""
        problems: list[FieldProblem] = []
        values: dict[str, Any] = dict(self.customer.value())
        if not values:
            problems.append(FieldProblem("customer", "choose a customer"))
        amount_text = self.amount.text().strip()
        try:
            values["amount"] = parse_amount(amount_text)
        except ValueError as exc:
            problems.append(FieldProblem("amount", str(exc), value=amount_text))
        if problems:
            raise ValidationFailed(problems, "Order")
        values.update(
            number=self.number.text().strip() or None,
            order_date=self.order_date.date().toPython(),
            currency=self.currency.text().strip().upper() or None,
            external_id=self.external_id.text().strip() or None,
        )
        return values

    def save(self) -> None:
        try:
            values = self.values()
        except ValidationFailed as exc:
            self._failed(exc)
            return
        self.run(orders.enter_order, self.ctx.db, self.ctx.actor, values)

    def _failed(self, error: O2CError) -> None:
        """Each problem under the input it names (however the service spells the field)."""
        super()._failed(error)
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                key = normalise(problem.field)
                key = ALIASES.get(key, key)
                if key in self.errors and problem.field not in self.errors:
                    label = self.errors[key]
                    set_error(label, "\n".join(filter(None, (label.text(), problem.message))))

    def _done(self, order: Any) -> None:
        self.saved = order
        self.ctx.signals.orders_changed.emit()
        self.ctx.signals.customer_changed.emit(order.customer_id)
        show_info(self, outcome_text(order), "Order entered")
        super()._done(order)
