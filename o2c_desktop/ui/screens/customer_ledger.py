"""The customer's Ledger tab: aging strip, balance, open items, full history, and actions."""

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

from o2c_desktop.services import aging, ledger_queries
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.ledger_actions import DisputeDialog, PaymentDialog
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


class LedgerTab(QWidget):
    def __init__(self, ctx: UiContext, customer_id: int, parent: Any = None):
        super().__init__(parent)
        self.ctx, self.customer_id = ctx, customer_id
        self.currency = "EUR"
        self.strip = QFrame(objectName="agingStrip")
        self.strip.setFrameShape(QFrame.Shape.StyledPanel)
        self.strip_layout = QHBoxLayout(self.strip)
        self.balance = QLabel(objectName="ledgerBalance")
        self.balance.setStyleSheet("font-weight: 600;")
        self.pay_button = QPushButton("Record &payment…")
        self.dispute_button = QPushButton("Raise &dispute…")
        self.pay_button.setEnabled(ctx.actor.may(Permission.POST_LEDGER))
        self.dispute_button.setEnabled(ctx.actor.may(Permission.MANAGE_DISPUTES))
        actions = QHBoxLayout()
        actions.addWidget(self.balance, 1)
        actions.addWidget(self.pay_button)
        actions.addWidget(self.dispute_button)
        self.open_items = TablePanel(OPEN_COLUMNS, "open-items")
        self.open_items.view.setSelectionMode(self.open_items.view.SelectionMode.ExtendedSelection)
        self.history = TablePanel(HISTORY_COLUMNS, "ledger-history")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self._titled("Open items", self.open_items))
        split.addWidget(self._titled("History", self.history))
        layout = QVBoxLayout(self)
        layout.addWidget(self.strip)
        layout.addLayout(actions)
        layout.addWidget(split, 1)
        self.pay_button.clicked.connect(self.record_payment)
        self.dispute_button.clicked.connect(self.raise_dispute)
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

        def load() -> tuple[Any, ...]:
            return (
                aging.customer_aging(ctx.db, ctx.actor, cid, today),
                ledger_queries.balance(ctx.db, ctx.actor, cid, today),
                ledger_queries.open_items(ctx.db, ctx.actor, cid, today),
                ledger_queries.history(ctx.db, ctx.actor, cid),
            )

        workers.submit(
            load, owner=self, on_done=self._show, on_failed=lambda e: show_error(self, e)
        )

    def _show(self, loaded: tuple[Any, ...]) -> None:
        report, balance, items, history = loaded
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
        self.open_items.set_rows(items)
        self.history.set_rows(history)
        self.loaded = True

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
            self.ctx.signals.customer_changed.emit(self.customer_id)

    def raise_dispute(self) -> None:
        items = [r for r in self.selected_items() if r.kind == "invoice"]
        if not items:
            show_error(self, "Select the invoice to dispute in the open items first.")
            return
        if DisputeDialog(self.ctx, self.customer_id, items[0], self).exec():
            self.ctx.signals.customer_changed.emit(self.customer_id)
