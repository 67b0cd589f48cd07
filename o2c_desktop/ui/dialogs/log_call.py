"""Log a call: what happened (digits 1-8 or the arrow keys), notes, a follow-up date, and for a
promise or a dispute what it covers. Used by the Collections screen and the customer profile's
Collections tab, so a call is logged the same way wherever the collector is.

Built for the keyboard: the outcome list has the focus, a digit picks an outcome and moves on to
the field that comes next (the amount for a promise, the items for a dispute, the notes
otherwise), Enter saves from anywhere (Shift+Enter is a new line in the notes), Escape cancels.
"No answer" is two keystrokes: 2, Enter. Problems the service finds are shown next to their
fields and the input stays as typed.

The callers claim the customer before opening the dialog; saving takes or renews that claim too
(calls.log_call), so a customer someone else took meanwhile (the lease ran out while the dialog
was open) is refused with their name in the banner, and the input stays for later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.models.collections import CALL_OUTCOMES, OUTCOME_DISPUTE, OUTCOME_PROMISE
from o2c_desktop.money import parse_amount
from o2c_desktop.services import calls, customers, disputes, ledger_queries
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.customers import ContactRow, CustomerDetail
from o2c_desktop.services.ledger_queries import OpenItemRow
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.dispute_status import reason_label
from o2c_desktop.ui.dialogs.form_support import set_error, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog

OUTCOMES = CALL_OUTCOMES  # in the order the digits 1-8 pick them
PROMISE, DISPUTE = OUTCOME_PROMISE, OUTCOME_DISPUTE
PROMISE_DAYS = 7  # a promise's date defaults to a week from today
CODE_ROLE = Qt.ItemDataRole.UserRole
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
# Where the service's problems go: its field names mapped to the error line under the widget
# holding that input. "amount" is the promise's amount, or a disputed amount (raise_dispute).
FIELD_TARGETS = {
    "outcome": "outcome",
    "notes": "notes",
    "contact": "contact",
    "follow_up_on": "follow_up_on",
    "promise": "amount",
    "currency": "amount",
    "threshold_percent": "amount",
    "promised_on": "promised_on",
    "grace_days": "promised_on",
    "invoices": "promise_items",
    "dispute": "dispute_items",
    "items": "dispute_items",
    "invoice": "dispute_items",
    "opened_on": "dispute_items",
    "reason_code": "reason_code",
}


def outcome_label(code: str) -> str:
    """The service's wording for an outcome (e.g. "No answer")."""
    return calls.OUTCOME_LABELS.get(code, code.replace("_", " ").capitalize())


@dataclass(frozen=True)
class CallTarget:
    """What the dialog needs to know about the customer called: read once by the caller, which
    shows the same items and contacts beside it."""

    customer_id: int
    number: str
    name: str
    currency: str
    items: tuple[OpenItemRow, ...]  # open at `as_of`, invoices and credit notes
    contacts: tuple[ContactRow, ...]
    as_of: date

    @property
    def overdue_items(self) -> tuple[OpenItemRow, ...]:
        """Invoices past due with something open: what a promise normally covers."""
        return tuple(
            i for i in self.items if i.kind == "invoice" and i.days_past_due > 0 and i.open_amount
        )

    @property
    def open_invoices(self) -> tuple[OpenItemRow, ...]:
        """Invoices with something open and not yet disputed: what a dispute may cover."""
        return tuple(
            i for i in self.items if i.kind == "invoice" and i.open_amount - i.disputed_amount > 0
        )


def undisputed(item: OpenItemRow) -> Decimal:
    return item.open_amount - item.disputed_amount


def target_from(detail: CustomerDetail, items: list[OpenItemRow], as_of: date) -> CallTarget:
    return CallTarget(
        customer_id=detail.id,
        number=detail.number,
        name=detail.name,
        currency=detail.currency,
        items=tuple(items),
        contacts=tuple(detail.contacts),
        as_of=as_of,
    )


def load_target(db: Database, actor: Actor, customer_id: int, as_of: date) -> CallTarget:
    """Read what the dialog needs (call it on a worker)."""
    detail = customers.get_customer(db, actor, customer_id)
    items = ledger_queries.open_items(db, actor, customer_id, as_of)
    return target_from(detail, items, as_of)


class LogCallDialog(ActionDialog):
    """`result_value` is the service's CallResult once saved (the dialog is then accepted)."""

    fields = (
        "outcome",
        "contact",
        "notes",
        "follow_up_on",
        "amount",
        "promised_on",
        "promise_items",
        "reason_code",
        "dispute_items",
    )

    def __init__(self, ctx: UiContext, target: CallTarget, parent: Any = None) -> None:
        super().__init__(ctx, parent)
        self.target = target
        self.today = date.today()
        self._amount_typed = False
        self.setWindowTitle(f"Log call · {target.number} {target.name}")
        self.setMinimumWidth(560)

        overdue = sum((undisputed(i) for i in target.overdue_items), Decimal(0))
        summary = QLabel(
            f"<b>{target.number} {target.name}</b> · overdue "
            f"{formatting.money(overdue, target.currency)} on "
            f"{len(target.overdue_items)} item(s)",
            objectName="callSummary",
        )
        self.outcome = QListWidget(objectName="callOutcome")
        self.outcome.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for digit, code in enumerate(OUTCOMES, start=1):
            item = QListWidgetItem(f"{digit}   {outcome_label(code)}")
            item.setData(CODE_ROLE, code)
            self.outcome.addItem(item)
        self.outcome.setCurrentRow(-1)
        self.outcome.setToolTip("Press 1-8 or use the arrow keys")
        self.outcome.setFixedHeight(self.outcome.sizeHintForRow(0) * len(OUTCOMES) + 6)
        self.outcome.installEventFilter(self)

        self.contact = QComboBox(objectName="callContact")
        self.contact.addItem("— nobody in particular —", None)
        for contact in target.contacts:
            text = contact.name + (f" ({contact.title})" if contact.title else "")
            if contact.phone:
                text += f" · {contact.phone}"
            self.contact.addItem(text, contact.id)
            if contact.is_primary:
                self.contact.setCurrentIndex(self.contact.count() - 1)

        self.notes = QPlainTextEdit(objectName="callNotes")
        self.notes.setPlaceholderText("What was said (Enter saves, Shift+Enter for a new line)")
        self.notes.setMaximumHeight(80)
        self.notes.setTabChangesFocus(True)
        self.notes.installEventFilter(self)

        self.follow_up = QDateEdit(calendarPopup=True, objectName="callFollowUp")
        self.follow_up.setMinimumDate(QDate(self.today - timedelta(days=1)))
        self.follow_up.setSpecialValueText("none")  # shown at the minimum: no follow-up
        self.follow_up.setDate(self.follow_up.minimumDate())
        self.follow_up_buttons: list[QPushButton] = []
        follow_row = QHBoxLayout()
        follow_row.addWidget(self.follow_up, 1)
        for days, key in ((1, "Ctrl+1"), (7, "Ctrl+7")):
            button = QPushButton(f"+{days}d", objectName=f"followUp{days}")
            button.setToolTip(f"Follow up {days} day(s) from today ({key})")
            button.setAutoDefault(False)
            button.clicked.connect(lambda _c=False, d=days: self.set_follow_up(d))
            QShortcut(QKeySequence(key), self, lambda d=days: self.set_follow_up(d))
            follow_row.addWidget(button)
            self.follow_up_buttons.append(button)
        clear = QPushButton("None", objectName="followUpNone")
        clear.setAutoDefault(False)
        clear.clicked.connect(lambda: self.set_follow_up(None))
        follow_row.addWidget(clear)

        self.promise_box = self._promise_box()
        self.dispute_box = self._dispute_box()

        form = QFormLayout()
        form.addRow(summary)
        form.addRow("Outcome", with_error(self.outcome, self.errors["outcome"]))
        form.addRow("Spoke to", with_error(self.contact, self.errors["contact"]))
        form.addRow("Notes", with_error(self.notes, self.errors["notes"]))
        follow_box = QWidget()
        follow_box.setLayout(follow_row)
        follow_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Follow up on", with_error(follow_box, self.errors["follow_up_on"]))
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.promise_box)
        layout.addWidget(self.dispute_box)
        self.finish_layout(body)
        self.outcome.itemSelectionChanged.connect(self._outcome_changed)
        self._outcome_changed()
        self.outcome.setFocus()

    # -- sections ------------------------------------------------------------------------------
    def _promise_box(self) -> QGroupBox:
        box = QGroupBox("Promise to pay", objectName="promiseBox")
        self.amount = QLineEdit(objectName="promiseAmount")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.amount.textEdited.connect(self._amount_edited)
        self.promised_on = QDateEdit(
            QDate(self.today + timedelta(days=PROMISE_DAYS)),
            calendarPopup=True,
            objectName="promiseDate",
        )
        self.promise_items = QListWidget(objectName="promiseItems")
        for item in self.target.overdue_items:
            row = QListWidgetItem(
                f"{item.number} · due {formatting.day(item.due_date)} · "
                f"{item.days_past_due} days · open {formatting.amount(undisputed(item))}"
            )
            row.setData(ITEM_ROLE, item)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(Qt.CheckState.Checked)
            self.promise_items.addItem(row)
        self.promise_items.setMaximumHeight(120)
        self.promise_items.itemChanged.connect(lambda _i: self._items_changed())
        form = QFormLayout(box)
        form.addRow(
            f"Amount ({self.target.currency})", with_error(self.amount, self.errors["amount"])
        )
        form.addRow("Pays by", with_error(self.promised_on, self.errors["promised_on"]))
        form.addRow("Items", with_error(self.promise_items, self.errors["promise_items"]))
        self._items_changed()
        return box

    def _dispute_box(self) -> QGroupBox:
        box = QGroupBox("Dispute", objectName="disputeBox")
        self.reason = QComboBox(objectName="callDisputeReason")
        for code in disputes.REASON_CODES:
            self.reason.addItem(reason_label(code), code)
        invoices = self.target.open_invoices
        self.dispute_items = QTableWidget(len(invoices), 3, objectName="disputeItems")
        self.dispute_items.setHorizontalHeaderLabels(["Item", "Open", "Disputed amount"])
        self.dispute_items.verticalHeader().hide()
        self.dispute_items.horizontalHeader().setStretchLastSection(True)
        for row, item in enumerate(invoices):
            number = QTableWidgetItem(f"{item.number} (due {formatting.day(item.due_date)})")
            number.setData(ITEM_ROLE, item)
            number.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            # One invoice: that is the one disputed. Several: the collector picks.
            number.setCheckState(
                Qt.CheckState.Checked if len(invoices) == 1 else Qt.CheckState.Unchecked
            )
            shown = QTableWidgetItem(formatting.amount(undisputed(item)))
            shown.setFlags(Qt.ItemFlag.ItemIsEnabled)
            shown.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            amount = QTableWidgetItem(format(undisputed(item), "f"))
            amount.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.dispute_items.setItem(row, 0, number)
            self.dispute_items.setItem(row, 1, shown)
            self.dispute_items.setItem(row, 2, amount)
        self.dispute_items.resizeColumnsToContents()
        self.dispute_items.setMaximumHeight(140)
        form = QFormLayout(box)
        form.addRow("Reason", with_error(self.reason, self.errors["reason_code"]))
        form.addRow("Items", with_error(self.dispute_items, self.errors["dispute_items"]))
        hint = QLabel("The dispute goes to the customer's ledger and the Disputes list.")
        hint.setStyleSheet("color: #555;")
        form.addRow(hint)
        return box

    # -- keyboard ------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            key, mods = event.key(), event.modifiers()
            if watched is self.outcome and not mods & ~Qt.KeyboardModifier.KeypadModifier:
                text = event.text()
                if len(text) == 1 and "1" <= text <= str(len(OUTCOMES)):
                    self.choose(OUTCOMES[int(text) - 1])
                    return True
                if key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.chosen() is None:
                    # The list's cursor sits on the first row unselected: the first arrow
                    # picks the first (down) or last (up) outcome rather than skip one.
                    self.outcome.setCurrentRow(0 if key == Qt.Key.Key_Down else len(OUTCOMES) - 1)
                    return True
            if (
                watched is self.notes
                and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and not mods & Qt.KeyboardModifier.ShiftModifier
            ):
                self.save()
                return True
        return super().eventFilter(watched, event)

    def choose(self, code: str) -> None:
        """Pick an outcome and go on to the field that comes next."""
        self.outcome.setCurrentRow(OUTCOMES.index(code))
        if code == PROMISE:
            self.amount.setFocus()
            self.amount.selectAll()
        elif code == DISPUTE:
            self.dispute_items.setFocus()
            if self.dispute_items.rowCount():
                self.dispute_items.setCurrentCell(0, 0)
        else:
            self.notes.setFocus()

    def chosen(self) -> str | None:
        item = self.outcome.currentItem()
        return item.data(CODE_ROLE) if item is not None and item.isSelected() else None

    def _outcome_changed(self) -> None:
        code = self.chosen()
        self.promise_box.setVisible(code == PROMISE)
        self.dispute_box.setVisible(code == DISPUTE)
        if code is not None:
            set_error(self.errors["outcome"], None)
        self.adjustSize()

    def set_follow_up(self, days: int | None) -> None:
        if days is None:
            self.follow_up.setDate(self.follow_up.minimumDate())
        else:
            self.follow_up.setDate(QDate(self.today + timedelta(days=days)))

    def follow_up_on(self) -> date | None:
        if self.follow_up.date() == self.follow_up.minimumDate():
            return None
        return self.follow_up.date().toPython()

    # -- promise items and amount ----------------------------------------------------------
    def _amount_edited(self, _text: str) -> None:
        self._amount_typed = True

    def checked_promise_items(self) -> list[OpenItemRow]:
        rows = (self.promise_items.item(r) for r in range(self.promise_items.count()))
        return [r.data(ITEM_ROLE) for r in rows if r.checkState() == Qt.CheckState.Checked]

    def _items_changed(self) -> None:
        """Until the collector types an amount, it follows the items checked."""
        if not self._amount_typed:
            total = sum((undisputed(i) for i in self.checked_promise_items()), Decimal(0))
            self.amount.setText(format(total, "f"))

    def checked_dispute_lines(self) -> list[tuple[OpenItemRow, str]]:
        lines = []
        for row in range(self.dispute_items.rowCount()):
            number = self.dispute_items.item(row, 0)
            if number.checkState() == Qt.CheckState.Checked:
                lines.append((number.data(ITEM_ROLE), self.dispute_items.item(row, 2).text()))
        return lines

    # -- saving ----------------------------------------------------------------------------
    def _clear_errors(self) -> None:
        for label in self.errors.values():
            set_error(label, None)
        self.banner.hide()

    def _refuse(self, problems: dict[str, str]) -> None:
        """Problems found before asking the service (nothing typed that it could parse)."""
        for name, message in problems.items():
            set_error(self.errors[name], message)
        self.banner.setText("Not saved: " + "; ".join(problems.values()))
        self.banner.show()

    def save(self) -> None:
        if not self.buttons.isEnabled():
            return  # saving already
        self._clear_errors()
        code = self.chosen()
        problems: dict[str, str] = {}
        if code is None:
            problems["outcome"] = "choose what happened (keys 1-8)"
        promise: calls.PromiseInput | None = None
        dispute: calls.DisputeInput | None = None
        if code == PROMISE:
            promise = self._promise_input(problems)
        elif code == DISPUTE:
            dispute = self._dispute_input(problems)
        if problems:
            self._refuse(problems)
            return
        assert code is not None
        self.run(
            calls.log_call,
            self.ctx.db,
            self.ctx.actor,
            self.target.customer_id,
            code,
            notes=self.notes.toPlainText().strip() or None,
            contact_id=self.contact.currentData(),
            follow_up_on=self.follow_up_on(),
            promise=promise,
            dispute=dispute,
        )

    def _promise_input(self, problems: dict[str, str]) -> calls.PromiseInput | None:
        try:
            amount = parse_amount(self.amount.text())
        except ValueError as exc:
            problems["amount"] = f"the amount promised: {exc}"
            return None
        return calls.PromiseInput(
            amount=amount,
            promised_on=self.promised_on.date().toPython(),
            invoice_ids=tuple(i.id for i in self.checked_promise_items()),
        )

    def _dispute_input(self, problems: dict[str, str]) -> calls.DisputeInput | None:
        lines = self.checked_dispute_lines()
        if not lines:
            problems["dispute_items"] = "tick the items the customer disputes"
            return None
        items: list[tuple[int, Decimal]] = []
        for item, text in lines:
            try:
                items.append((item.id, parse_amount(text)))
            except ValueError as exc:
                problems["dispute_items"] = f"{item.number}: {exc}"
                return None
        return calls.DisputeInput(
            items=tuple(items),
            reason_code=self.reason.currentData(),
            notes=self.notes.toPlainText().strip() or None,
        )

    def _failed(self, error: O2CError) -> None:
        """Every problem next to the field it is about; the input stays as typed."""
        self.buttons.setEnabled(True)
        if isinstance(error, ValidationFailed):
            shown: dict[str, list[str]] = {}
            disputing = self.chosen() == DISPUTE
            for problem in error.problems:
                if problem.field == "amount":
                    target: str | None = "dispute_items" if disputing else "amount"
                else:
                    target = FIELD_TARGETS.get(problem.field)
                if target is not None:
                    shown.setdefault(target, []).append(problem.message)
            for name, messages in shown.items():
                set_error(self.errors[name], "; ".join(messages))
        self.banner.setText(f"Not saved: {error}")
        self.banner.show()
