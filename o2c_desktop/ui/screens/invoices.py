"""The Invoices area: every item across customers, filtered and sorted in SQL, exportable."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.money import parse_amount
from o2c_desktop.services import customers, invoices, users
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.paged_table import PagedTableModel
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table

COLUMNS = (
    Column("number", "Number", lambda r: r.number),
    Column("kind", "Kind", lambda r: r.kind, lambda r: r.kind.replace("_", " ")),
    Column(
        "customer",
        "Customer",
        lambda r: r.customer_number,
        lambda r: f"{r.customer_number}  {r.customer_name}",
    ),
    Column("issue_date", "Issued", lambda r: r.issue_date, lambda r: formatting.day(r.issue_date)),
    Column("due_date", "Due", lambda r: r.due_date, lambda r: formatting.day(r.due_date)),
    Column(
        "days_past_due",
        "Days past due",
        lambda r: r.days_past_due,
        lambda r: str(r.days_past_due) if r.open_amount and r.days_past_due > 0 else "",
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
    Column("currency", "Currency", lambda r: r.currency),
)
STATUS_LABELS = {
    "open": "Open items",
    "overdue": "Overdue",
    "disputed": "Disputed",
    "paid": "Paid",
    "all": "All items",
}


def _optional_date(placeholder: str) -> tuple[QCheckBox, QDateEdit]:
    box = QCheckBox(placeholder)
    edit = QDateEdit(calendarPopup=True)
    edit.setDate(QDate.currentDate())
    edit.setEnabled(False)
    box.toggled.connect(edit.setEnabled)
    return box, edit


class InvoicesScreen(QWidget):
    open_customer = Signal(int)

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = PagedTableModel(
            COLUMNS,
            invoices.InvoiceQuery(),
            lambda q, offset, limit: invoices.list_invoices(ctx.db, ctx.actor, q, offset, limit),
            lambda q: invoices.count_invoices(ctx.db, ctx.actor, q),
            self,
        )
        self.status_filter = QComboBox(objectName="statusFilter")
        for key, label in STATUS_LABELS.items():
            self.status_filter.addItem(label, key)
        self.search = QLineEdit(
            placeholderText="Invoice or customer number…",
            clearButtonEnabled=True,
            objectName="invoiceSearch",
        )
        self.due_from_box, self.due_from = _optional_date("Due from")
        self.due_to_box, self.due_to = _optional_date("to")
        self.collector = QComboBox(objectName="invoiceCollector")
        self.segment = QComboBox(objectName="invoiceSegment")
        self.amount_min = QLineEdit(placeholderText="Amount from", objectName="amountMin")
        self.amount_max = QLineEdit(placeholderText="to", objectName="amountMax")
        for edit in (self.amount_min, self.amount_max):
            edit.setMaximumWidth(110)
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.export_button = QPushButton("E&xport…")
        self.status = QLabel(objectName="invoiceCount")

        self.view = QTableView(objectName="invoiceTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.horizontalHeader().setSortIndicator(4, Qt.SortOrder.AscendingOrder)
        for column, width in enumerate((120, 90, 300, 100, 100, 100, 120, 120, 100, 70)):
            self.view.setColumnWidth(column, width)

        row1 = QHBoxLayout()
        for widget in (self.status_filter, self.search, self.collector, self.segment):
            row1.addWidget(widget, 1)
        row1.addWidget(self.export_button)
        row2 = QHBoxLayout()
        for widget in (
            self.due_from_box,
            self.due_from,
            self.due_to_box,
            self.due_to,
            self.amount_min,
            self.amount_max,
        ):
            row2.addWidget(widget)
        row2.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.view)
        layout.addWidget(self.status)

        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(self.apply_filters)
        for edit in (self.search, self.amount_min, self.amount_max):
            edit.textChanged.connect(lambda _t: self._timer.start())
        for combo in (self.status_filter, self.collector, self.segment):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        for box in (self.due_from_box, self.due_to_box):
            box.toggled.connect(lambda _on: self.apply_filters())
        for edit in (self.due_from, self.due_to):
            edit.dateChanged.connect(lambda _d: self.apply_filters())
        self.view.activated.connect(self._open)
        self.export_button.clicked.connect(self.export)
        self.model.count_known.connect(lambda n: self.status.setText(f"{n:,} items"))
        self.model.failed.connect(lambda message: show_error(self, message))
        self.filters_loaded = False
        self._load_choices()
        self.apply_filters()

    def _load_choices(self) -> None:
        db = self.ctx.db
        workers.submit(
            lambda: (customers.distinct_segments(db), users.list_collectors(db)),
            owner=self,
            on_done=self._fill_choices,
            on_failed=lambda e: show_error(self, e),
        )

    def _fill_choices(self, choices: tuple[list[str], list[users.UserRow]]) -> None:
        segments, collectors = choices
        for combo in (self.collector, self.segment):
            combo.blockSignals(True)
            combo.clear()
        self.collector.addItem("All collectors", None)
        for user in collectors:
            self.collector.addItem(user.display_name, user.id)
        self.segment.addItem("All segments", None)
        for segment in segments:
            self.segment.addItem(segment, segment)
        for combo in (self.collector, self.segment):
            combo.blockSignals(False)
        self.filters_loaded = True

    def current_query(self) -> invoices.InvoiceQuery:
        def amount(edit: QLineEdit) -> Decimal | None:
            try:
                value = parse_amount(edit.text()) if edit.text().strip() else None
            except ValueError:
                edit.setStyleSheet("color: #b00020;")
                return None
            edit.setStyleSheet("")
            return value

        def day(box: QCheckBox, edit: QDateEdit) -> date | None:
            return edit.date().toPython() if box.isChecked() else None

        return replace(
            self.model.query,
            status=self.status_filter.currentData(),
            search=self.search.text().strip(),
            collector_id=self.collector.currentData(),
            segment=self.segment.currentData(),
            due_from=day(self.due_from_box, self.due_from),
            due_to=day(self.due_to_box, self.due_to),
            amount_min=amount(self.amount_min),
            amount_max=amount(self.amount_max),
        )

    def apply_filters(self) -> None:
        self._timer.stop()
        self.status.setText("Loading…")
        self.model.set_query(self.current_query())

    def refresh(self) -> None:
        self.model.refresh()

    def _open(self, index: Any) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.open_customer.emit(row.customer_id)

    def export(self) -> None:
        path = ask_export_path(self, f"invoices-{date.today().isoformat()}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        query, ctx = self.model.query, self.ctx
        return workers.export_in_background(
            self,
            path,
            "Exporting invoices",
            COLUMNS,
            lambda: invoices.iter_invoices(ctx.db, ctx.actor, query),
            self.model.total,
        )
