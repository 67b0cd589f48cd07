"""The customer list: type-ahead search, filters, SQL sorting, lazy paging, export."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import customers, users
from o2c_desktop.services.auth import Permission
from o2c_desktop.services.customer_fields import RISK_CLASSES
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.customer_table import COLUMNS, EXPORT_COLUMNS, CustomerTableModel
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table

SEARCH_DELAY_MS = 150


class CustomerListScreen(QWidget):
    open_customer = Signal(int)
    new_customer = Signal()
    first_paint = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = CustomerTableModel(
            lambda q, offset, limit: customers.list_customers(ctx.db, ctx.actor, q, offset, limit),
            lambda q: customers.count_customers(ctx.db, ctx.actor, q),
            self,
        )
        self.search = QLineEdit(
            placeholderText="Search number, name or tax ID  (Ctrl+F)", clearButtonEnabled=True
        )
        self.search.setObjectName("customerSearch")
        self.segment = QComboBox(objectName="segmentFilter")
        self.risk = QComboBox(objectName="riskFilter")
        self.collector = QComboBox(objectName="collectorFilter")
        self.hold = QComboBox(objectName="holdFilter")
        self.new_button = QPushButton("&New customer")
        self.new_button.setToolTip("Ctrl+N")
        self.new_button.setEnabled(ctx.actor.may(Permission.CREATE_CUSTOMER))
        self.export_button = QPushButton("E&xport…")
        self.status = QLabel()
        self.status.setObjectName("customerCount")

        self.view = QTableView()
        self.view.setObjectName("customerTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        # Several customers at once (Ctrl/Shift+click) for bulk actions such as assigning a
        # collector; Enter and double-click still open the current one.
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.AscendingOrder)
        self.view.horizontalHeader().setSectionsMovable(True)
        for column, width in enumerate((100, 300, 120, 130, 160, 120, 120, 90, 70)):
            self.view.setColumnWidth(column, width)

        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        for combo in (self.segment, self.risk, self.collector, self.hold):
            filters.addWidget(combo, 1)
        filters.addWidget(self.new_button)
        filters.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view)
        layout.addWidget(self.status)
        self.setTabOrder(self.search, self.view)

        self._timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _text: self._timer.start())
        self.search.returnPressed.connect(self._enter_from_search)
        for combo in (self.segment, self.risk, self.collector, self.hold):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.view.activated.connect(self._open_index)
        self.new_button.clicked.connect(self.new_customer.emit)
        self.export_button.clicked.connect(self.export)
        self.model.count_known.connect(self._show_count)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.failed.connect(lambda message: show_error(self, message))
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self.search,
            self.search.clear,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        self.view.viewport().installEventFilter(self)
        self._painted = False
        self.filters_loaded = False

        ctx.signals.customer_changed.connect(lambda _id: self.refresh())
        ctx.signals.customers_changed.connect(self.refresh)
        self.load_filter_choices()
        self.apply_filters()

    # -- filters ---------------------------------------------------------------------------
    def load_filter_choices(self) -> None:
        """Fill the filter combos; segments and collectors come from the database, off the
        GUI thread (a DISTINCT over 200,000 customers is not free)."""
        db = self.ctx.db
        workers.submit(
            lambda: (customers.distinct_segments(db), users.list_collectors(db)),
            owner=self,
            on_done=self._fill_filters,
            on_failed=lambda error: show_error(self, error),
        )

    def _fill_filters(self, choices: tuple[list[str], list[users.UserRow]]) -> None:
        segments, collectors = choices
        combos = (self.segment, self.risk, self.collector, self.hold)
        kept = [combo.currentData() for combo in combos]
        for combo in combos:
            combo.blockSignals(True)
            combo.clear()
        self.segment.addItem("All segments", None)
        for segment in segments:
            self.segment.addItem(segment, segment)
        self.risk.addItem("All risk classes", None)
        for code, label in RISK_CLASSES.items():
            self.risk.addItem(label, code)
        self.collector.addItem("All collectors", None)
        for user in collectors:
            self.collector.addItem(user.display_name, user.id)
        self.hold.addItem("On hold or not", None)
        self.hold.addItem("On hold", True)
        self.hold.addItem("Not on hold", False)
        for combo, data in zip(combos, kept, strict=True):
            combo.setCurrentIndex(max(combo.findData(data), 0))
            combo.blockSignals(False)
        self.filters_loaded = True

    def current_query(self) -> customers.CustomerQuery:
        return replace(
            self.model.query,
            search=self.search.text().strip(),
            segment=self.segment.currentData(),
            risk_class=self.risk.currentData(),
            collector_id=self.collector.currentData(),
            on_hold=self.hold.currentData(),
        )

    def apply_filters(self) -> None:
        self._timer.stop()
        self.status.setText("Loading…")
        self.model.set_query(self.current_query())

    def refresh(self) -> None:
        self.model.refresh()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- events ----------------------------------------------------------------------------
    def _enter_from_search(self) -> None:
        """Enter in the search box: apply now, then move to the first hit."""
        if self._timer.isActive() or self.model.query != self.current_query():
            self.apply_filters()
        self.view.setFocus()
        if self.model.rowCount():
            self.view.selectRow(0)

    def _open_index(self, index: Any) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.open_customer.emit(row.id)

    def _show_count(self, total: int) -> None:
        self.status.setText(f"{total:,} customer{'s' if total != 1 else ''}")

    def _page_loaded(self) -> None:
        if (
            self.view.hasFocus()
            and not self.view.currentIndex().isValid()
            and self.model.rowCount()
        ):
            self.view.selectRow(0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            not self._painted
            and watched is self.view.viewport()
            and event.type() == QEvent.Type.Paint
            and self.model.rowCount()
        ):
            self._painted = True
            QTimer.singleShot(0, self.first_paint.emit)
        return super().eventFilter(watched, event)

    # -- export ----------------------------------------------------------------------------
    def export(self) -> None:
        path = ask_export_path(self, f"customers-{date.today().isoformat()}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        """Export every row of the current view (not only the loaded ones), in the background."""
        query, ctx = self.model.query, self.ctx
        return workers.export_in_background(
            self,
            path,
            "Exporting customers",
            COLUMNS + EXPORT_COLUMNS,
            lambda: customers.iter_customers(ctx.db, ctx.actor, query),
            self.model.total,
        )
