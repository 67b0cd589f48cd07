"""The customer's Ledger tab: aging strip, balance, open items, full history, the customer's
disputes, and the actions on them (payment, dispute, write-off, credit note, reversal).

Every action runs its service off the GUI thread in a dialog; on success the tab emits
`customer_changed`, and the profile reloads everything it shows (this tab included)."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import aging, disputes, ledger_queries
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.apply_credit_note import ApplyCreditNoteDialog
from o2c_desktop.ui.dialogs.dispute_status import (
    STATUS_LABELS,
    DisputeOwnerDialog,
    DisputeStatusDialog,
    reason_label,
)
from o2c_desktop.ui.dialogs.ledger_actions import DisputeDialog, PaymentDialog
from o2c_desktop.ui.dialogs.reverse_allocation import ReverseAllocationDialog, reversible
from o2c_desktop.ui.dialogs.write_off import WriteOffDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

OPEN_COLUMNS = (
    Column("number", "Number", lambda r: r.number),
    Column("kind", "Kind", lambda r: r.kind, lambda r: r.kind.replace("_", " ")),
    Column("issue_date", "Issued", lambda r: r.issue_date, lambda r: formatting.day(r.issue_date)),
    Column("due_date", "Due", lambda r: r.due_date, lambda r: formatting.day(r.due_date)),
    Column(
        "days_past_due",
        "Days past due",
        lambda r: r.days_past_due,
        lambda r: str(r.days_past_due) if r.days_past_due > 0 else "",
        numeric=True,
    ),
    Column(
        "amount", "Amount", lambda r: r.amount, lambda r: formatting.amount(r.amount), numeric=True
    ),
    Column(
        "open_amount",
        "Open",
        lambda r: r.open_amount,
        lambda r: formatting.amount(r.open_amount),
        numeric=True,
    ),
    Column(
        "disputed_amount",
        "Disputed",
        lambda r: r.disputed_amount,
        lambda r: formatting.amount(r.disputed_amount) if r.disputed_amount else "",
        numeric=True,
    ),
)
HISTORY_COLUMNS = (
    Column("date", "Date", lambda r: r.date, lambda r: formatting.day(r.date)),
    Column("entry", "Entry", lambda r: r.entry),
    Column("reference", "Reference", lambda r: r.reference),
    Column("description", "Description", lambda r: r.description),
    Column(
        "change", "Change", lambda r: r.change, lambda r: formatting.amount(r.change), numeric=True
    ),
    Column(
        "balance",
        "Balance",
        lambda r: r.balance,
        lambda r: formatting.amount(r.balance),
        numeric=True,
    ),
)
DISPUTE_COLUMNS = (
    Column("opened_on", "Opened", lambda r: r.opened_on, lambda r: formatting.day(r.opened_on)),
    Column("reason", "Reason", lambda r: r.reason_code, lambda r: reason_label(r.reason_code)),
    Column("items", "Items", lambda r: ", ".join(r.invoice_numbers)),
    Column(
        "amount",
        "Disputed",
        lambda r: r.amount,
        lambda r: formatting.amount(r.amount),
        numeric=True,
    ),
    Column(
        "open_amount",
        "Items open",
        lambda r: r.open_amount,
        lambda r: formatting.amount(r.open_amount),
        numeric=True,
    ),
    Column("owner", "Owner", lambda r: r.owner_name),
    Column("status", "Status", lambda r: r.status, lambda r: STATUS_LABELS.get(r.status, r.status)),
    Column("age", "Age (days)", lambda r: r.age_days, numeric=True),
    Column(
        "resolved_on", "Resolved", lambda r: r.resolved_on, lambda r: formatting.day(r.resolved_on)
    ),
    Column("resolution", "Resolution", lambda r: r.resolution),
)
DISPUTES_SHOWN = 500  # a customer with more has bigger problems; the Disputes area lists all


def _button(text: str, tip: str, allowed: bool, refused: str) -> QPushButton:
    """An action button, disabled with the reason as tooltip for a role that may not use it."""
    button = QPushButton(text)
    button.setEnabled(allowed)
    button.setToolTip(tip if allowed else refused)
    return button


class LedgerTab(QWidget):
    def __init__(self, ctx: UiContext, customer_id: int, parent: Any = None):
        super().__init__(parent)
        self.ctx, self.customer_id = ctx, customer_id
        self.currency = "EUR"
        actor = ctx.actor
        self.strip = QFrame(objectName="agingStrip")
        self.strip.setFrameShape(QFrame.Shape.StyledPanel)
        self.strip_layout = QHBoxLayout(self.strip)
        self.balance = QLabel(objectName="ledgerBalance")
        self.balance.setStyleSheet("font-weight: 600;")

        def refused(permission: Permission) -> str:
            return refusal(actor, permission)

        self.pay_button = _button(
            "Record &payment…",
            "Record a payment, applied to the selected items or by reference (Alt+P)",
            actor.may(Permission.POST_LEDGER),
            refused(Permission.POST_LEDGER),
        )
        self.dispute_button = _button(
            "Raise &dispute…",
            "Dispute an amount of the selected invoice (Alt+D)",
            actor.may(Permission.MANAGE_DISPUTES),
            refused(Permission.MANAGE_DISPUTES),
        )
        self.write_off_button = _button(
            "&Write off…",
            "Write off the open amount of the selected invoices (Alt+W)",
            actor.may(Permission.WRITE_OFF),
            refused(Permission.WRITE_OFF),
        )
        self.credit_button = _button(
            "Apply credi&t note…",
            "Settle open invoices with an open credit note (Alt+T)",
            actor.may(Permission.APPLY_CASH),
            refused(Permission.APPLY_CASH),
        )
        may_reverse = actor.may(Permission.APPLY_CASH) or actor.may(Permission.WRITE_OFF)
        self.reverse_button = _button(
            "Re&verse allocation…",
            "Undo a payment or credit-note application, discount or write-off (Alt+V)",
            may_reverse,
            refused(Permission.APPLY_CASH),
        )
        self._may_credit, self._may_reverse = actor.may(Permission.APPLY_CASH), may_reverse
        actions = QHBoxLayout()
        actions.addWidget(self.balance, 1)
        for button in (
            self.pay_button,
            self.dispute_button,
            self.write_off_button,
            self.credit_button,
            self.reverse_button,
        ):
            actions.addWidget(button)
        self.open_items = TablePanel(OPEN_COLUMNS, "open-items")
        self.open_items.view.setSelectionMode(self.open_items.view.SelectionMode.ExtendedSelection)
        self.history = TablePanel(HISTORY_COLUMNS, "ledger-history")
        self.disputes = TablePanel(DISPUTE_COLUMNS, "disputes")
        may_work = actor.may(Permission.MANAGE_DISPUTES)
        self.dispute_status_button = _button(
            "Change &status…",
            "Move the selected dispute on or resolve it (Alt+S, Enter)",
            may_work,
            refused(Permission.MANAGE_DISPUTES),
        )
        self.dispute_owner_button = _button(
            "Reassi&gn…",
            "Give the selected dispute to someone else (Alt+G)",
            may_work,
            refused(Permission.MANAGE_DISPUTES),
        )
        self.disputes.toolbar.insertWidget(1, self.dispute_status_button)
        self.disputes.toolbar.insertWidget(2, self.dispute_owner_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self._titled("Open items", self.open_items))
        split.addWidget(self._titled("History", self.history))
        split.addWidget(self._titled("Disputes", self.disputes))
        split.setSizes([300, 300, 160])
        layout = QVBoxLayout(self)
        layout.addWidget(self.strip)
        layout.addLayout(actions)
        layout.addWidget(split, 1)
        self.pay_button.clicked.connect(self.record_payment)
        self.dispute_button.clicked.connect(self.raise_dispute)
        self.write_off_button.clicked.connect(self.write_off)
        self.credit_button.clicked.connect(self.apply_credit_note)
        self.reverse_button.clicked.connect(self.reverse_allocation)
        self.dispute_status_button.clicked.connect(self.change_dispute_status)
        self.dispute_owner_button.clicked.connect(self.reassign_dispute)
        self.disputes.activated.connect(lambda _row: self.change_dispute_status())
        self.setTabOrder(self.disputes.filter_edit, self.dispute_status_button)
        self.setTabOrder(self.dispute_status_button, self.dispute_owner_button)
        self.setTabOrder(self.dispute_owner_button, self.disputes.export_button)
        self.history_rows: list[Any] = []
        self.open_rows: list[Any] = []
        self.loaded = False

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(title)
        label.setStyleSheet("font-weight: 600;")
        layout.addWidget(label)
        layout.addWidget(widget)
        return box

    def reload(self) -> None:
        ctx, cid, today = self.ctx, self.customer_id, date.today()
        query = disputes.DisputeQuery(
            statuses=disputes.STATUSES, customer_id=cid, sort_key="opened_on", descending=True
        )

        def load() -> tuple[Any, ...]:
            return (
                aging.customer_aging(ctx.db, ctx.actor, cid, today),
                ledger_queries.balance(ctx.db, ctx.actor, cid, today),
                ledger_queries.open_items(ctx.db, ctx.actor, cid, today),
                ledger_queries.history(ctx.db, ctx.actor, cid),
                disputes.page_disputes(ctx.db, ctx.actor, query, 0, DISPUTES_SHOWN),
            )

        workers.submit(
            load, owner=self, on_done=self._show, on_failed=lambda e: show_error(self, e)
        )

    def _show(self, loaded: tuple[Any, ...]) -> None:
        report, balance, items, history, dispute_rows = loaded
        self.currency = balance.currency
        while self.strip_layout.count():
            widget = self.strip_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        figures = report.currencies[0].buckets if report.currencies else ()
        for bucket, value in zip(report.buckets, figures, strict=False):
            cell = QLabel(f"<small>{bucket.label}</small><br><b>{formatting.amount(value)}</b>")
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.strip_layout.addWidget(cell)
        self.balance.setText(
            f"Open items {formatting.money(balance.open_items_total, balance.currency)}  ·  "
            f"unapplied cash {formatting.money(balance.unapplied_cash, balance.currency)}  ·  "
            f"balance {formatting.money(balance.net_balance, balance.currency)}"
        )
        self.open_rows, self.history_rows = list(items), list(history)
        self.open_items.set_rows(items)
        self.history.set_rows(history)
        self.disputes.set_rows(dispute_rows)
        self._enable_by_content()
        self.loaded = True

    def _enable_by_content(self) -> None:
        """Credit note and reversal need something to work on; say so rather than fail later."""
        credit_notes = self.open_credit_notes()
        self.credit_button.setEnabled(self._may_credit and bool(credit_notes))
        if self._may_credit:
            self.credit_button.setToolTip(
                "Settle open invoices with an open credit note (Alt+T)"
                if credit_notes
                else "No credit note with credit left to apply"
            )
        can_undo = bool(reversible(self.history_rows, self.ctx.actor))
        self.reverse_button.setEnabled(self._may_reverse and can_undo)
        if self._may_reverse:
            self.reverse_button.setToolTip(
                "Undo a payment or credit-note application, discount or write-off (Alt+V)"
                if can_undo
                else "Nothing applied that you may reverse"
            )

    def open_credit_notes(self) -> list[Any]:
        return [r for r in self.open_rows if r.kind == "credit_note" and r.open_amount > 0]

    def selected_items(self) -> list[Any]:
        view = self.open_items.view
        rows = sorted({index.row() for index in view.selectionModel().selectedRows()})
        return [
            self.open_items.proxy.index(r, 0).data(self.open_items.model.ROW_ROLE) for r in rows
        ]

    def record_payment(self) -> None:
        dialog = PaymentDialog(
            self.ctx,
            self.customer_id,
            self.currency,
            [r for r in self.selected_items() if r.kind == "invoice"],
            self,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._done()

    def raise_dispute(self) -> None:
        items = [r for r in self.selected_items() if r.kind == "invoice"]
        if not items:
            show_error(self, "Select the invoice to dispute in the open items first.")
            return
        if DisputeDialog(self.ctx, self.customer_id, items[0], self).exec():
            self._done()

    def _done(self) -> None:
        self.ctx.signals.customer_changed.emit(self.customer_id)

    def write_off(self) -> None:
        items = [r for r in self.selected_items() if r.kind == "invoice" and r.open_amount > 0]
        if not items:
            show_error(self, "Select the open invoices to write off in the open items first.")
            return
        if WriteOffDialog(self.ctx, items, self.currency, self).exec():
            self._done()

    def apply_credit_note(self) -> None:
        notes = self.open_credit_notes()
        picked = [r for r in self.selected_items() if r.kind == "invoice" and r.open_amount > 0]
        invoices = picked or [r for r in self.open_rows if r.kind == "invoice" and r.open_amount]
        if not notes:
            show_error(self, "This customer has no credit note with credit left to apply.")
            return
        if ApplyCreditNoteDialog(self.ctx, notes, invoices, self).exec():
            self._done()

    def reverse_allocation(self) -> None:
        choices = reversible(self.history_rows, self.ctx.actor)
        if not choices:
            show_error(self, "Nothing applied on this account that you may reverse.")
            return
        chosen = self.history.selected_row()
        chosen_id = chosen.allocation_id if chosen is not None else None
        if ReverseAllocationDialog(self.ctx, choices, chosen_id, self).exec():
            self._done()

    def _selected_dispute(self) -> Any:
        row = self.disputes.selected_row()
        if row is None:
            show_error(self, "Select a dispute in the disputes list first.")
            return None
        if not row.is_open:
            show_error(self, "This dispute is closed; raise a new one if the matter comes back.")
            return None
        return row

    def change_dispute_status(self) -> None:
        if not self.ctx.actor.may(Permission.MANAGE_DISPUTES):
            return
        row = self._selected_dispute()
        if row is not None and DisputeStatusDialog(self.ctx, row, self).exec():
            self._done()

    def reassign_dispute(self) -> None:
        row = self._selected_dispute()
        if row is not None and DisputeOwnerDialog(self.ctx, row, self).exec():
            self._done()
