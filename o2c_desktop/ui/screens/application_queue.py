"""The credit applications queue: the department's or my own, by state, overdue only, a search.

The service filters in SQL (credit_queue.application_queue, on a worker); the few hundred rows a
queue holds are sorted on screen and exported as shown, with each amount's currency and the
overdue flag beside them. Overdue rows (past their service level) are red. Enter or a double-click
opens an application, Ctrl+N starts a new one. The columns fit their contents at the first load
(unless the user's widths were remembered).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.models.credit import APPLICATION_STATES, CLOSED_STATES, OPEN_STATES
from o2c_desktop.services import credit_queue
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ListTableModel
from o2c_desktop.ui.screens.application_texts import KIND_LABELS, STATE_LABELS, label
from o2c_desktop.ui.widgets.layout_memory import fit_columns
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

OVERDUE = QColor("#b00020")
COLUMNS = (
    Column("number", "Number", lambda r: r.number),
    Column("applicant", "Applicant", lambda r: r.applicant_name),
    Column("kind", "Kind", lambda r: r.kind, lambda r: label(KIND_LABELS, r.kind)),
    Column("state", "State", lambda r: r.state, lambda r: label(STATE_LABELS, r.state)),
    Column(
        "requested",
        "Requested",
        lambda r: r.requested_limit,
        lambda r: formatting.money(r.requested_limit, r.currency),
        numeric=True,
    ),
    Column("assigned", "Assigned", lambda r: r.assigned_to),
    Column("age", "Age in state (days)", lambda r: r.age_in_state_days, numeric=True),
    Column(
        "due",
        "Due",
        lambda r: r.due_date,
        lambda r: formatting.day(r.due_date),
        tooltip=lambda r: "Past its service level" if r.overdue else "",
    ),
    Column("score", "Score", lambda r: r.score, numeric=True),
    Column("risk", "Risk", lambda r: r.risk_class),
    Column("prepared", "Prepared by", lambda r: r.prepared_by),
    Column("customer", "Customer", lambda r: r.customer_number),
)
# The file: the amounts' currency and the overdue flag (red on screen) in columns of their own.
EXPORT_AFTER = {
    "requested": Column("currency", "Currency", lambda r: r.currency),
    "due": Column("overdue", "Overdue", lambda r: r.overdue),
}
EXPORT_COLUMNS = tuple(
    c for column in COLUMNS for c in (column, EXPORT_AFTER.get(column.key)) if c is not None
)
# The state filter: what each choice lists. Default: the applications still being worked.
STATE_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open": ("Open (all open states)", OPEN_STATES),
    **{state: (text, (state,)) for state, text in STATE_LABELS.items()},
    "closed": ("All closed", CLOSED_STATES),
    "all": ("All states", APPLICATION_STATES),
}
DEPARTMENT, MINE = "department", "mine"


class QueueModel(ListTableModel):
    """The queue's rows; an overdue application is shown in red, bold."""

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole):
            row = self.row_at(index.row()) if index.isValid() else None
            if row is None or not row.overdue:
                return None
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(OVERDUE)
            font = QFont()
            font.setBold(True)
            return font
        return super().data(index, role)


class ApplicationQueue(QWidget):
    open_application = Signal(int)
    new_application = Signal()
    loaded = Signal()  # after each (re)load

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.loading = False
        self._generation = 0
        self._fitted = False  # the columns fit the first rows loaded
        self.scope = QComboBox(objectName="queueScope")
        self.scope.addItem("Department", DEPARTMENT)
        self.scope.addItem("My queue", MINE)
        self.scope.setToolTip(
            "The department's applications, or those prepared by or assigned to me"
        )
        self.state_filter = QComboBox(objectName="queueState")
        for key, (text, _states) in STATE_FILTERS.items():
            self.state_filter.addItem(text, key)
        self.overdue_only = QCheckBox("O&verdue only", objectName="queueOverdue")
        self.search = QLineEdit(
            placeholderText="Number, applicant or customer…",
            clearButtonEnabled=True,
            objectName="queueSearch",
        )
        self.new_button = QPushButton("&New application…", objectName="newApplication")
        may_prepare = ctx.actor.may(Permission.PREPARE_APPLICATIONS)
        self.new_button.setEnabled(may_prepare)
        self.new_button.setToolTip(
            "Start an application (Ctrl+N)"
            if may_prepare
            else refusal(ctx.actor, Permission.PREPARE_APPLICATIONS)
        )
        self.open_button = QPushButton("&Open", objectName="openApplication")
        self.open_button.setToolTip("Open the selected application (Enter, double-click)")
        self.refresh_button = QPushButton("Refresh")
        self.count = QLabel(objectName="queueCount")

        self.table = TablePanel(COLUMNS, "credit-applications", export_columns=EXPORT_COLUMNS)
        self.table.setObjectName("applicationQueue")
        self.model = QueueModel(COLUMNS, self.table)
        self.table.model = self.model  # the panel's sorting proxy and export read this model
        self.table.proxy.setSourceModel(self.model)
        self.table.filter_edit.hide()  # the search runs in the service instead
        self.view = self.table.view
        self.view.setObjectName("applicationQueueView")
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the service's: most urgent first
        self.table.toolbar.insertWidget(0, self.count, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(
            toolbar(
                "Queue",
                self.scope,
                "State",
                self.state_filter,
                self.overdue_only,
                (self.search, 1),
                self.refresh_button,
            )
        )
        layout.addWidget(self.table, 1)
        layout.addLayout(toolbar(self.new_button, self.open_button, STRETCH))
        self.setTabOrder(self.scope, self.state_filter)
        self.setTabOrder(self.state_filter, self.overdue_only)
        self.setTabOrder(self.overdue_only, self.search)
        self.setTabOrder(self.search, self.view)

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        for combo in (self.scope, self.state_filter):
            combo.currentIndexChanged.connect(lambda _i: self.reload())
        self.overdue_only.toggled.connect(lambda _on: self.reload())
        self.refresh_button.clicked.connect(self.reload)
        self.table.activated.connect(self._activated)
        self.open_button.clicked.connect(self.open_selected)
        self.new_button.clicked.connect(self.new_application)
        self.reload()

    def query(self) -> credit_queue.QueueQuery:
        _text, states = STATE_FILTERS[self.state_filter.currentData()]
        return credit_queue.QueueQuery(
            scope=self.scope.currentData(),
            states=states,
            search=self.search.text().strip(),
            overdue_only=self.overdue_only.isChecked(),
        )

    def reload(self) -> None:
        """Ask the service again (off the GUI thread); an older answer arriving late is dropped."""
        self._search_timer.stop()
        self._generation += 1
        generation, query, ctx = self._generation, self.query(), self.ctx
        self.loading = True
        self.count.setText("Loading…")
        workers.submit(
            credit_queue.application_queue,
            ctx.db,
            ctx.actor,
            query,
            owner=self,
            on_done=lambda rows: self._arrived(generation, rows),
            on_failed=lambda error: self._failed(generation, error),
        )

    refresh = reload

    def _arrived(self, generation: int, rows: list[credit_queue.QueueRow]) -> None:
        if generation != self._generation:
            return
        chosen = self.selected()
        self.model.set_rows(rows)
        if rows and not self._fitted:
            self._fitted = True
            fit_columns(self.view)
        self.loading = False
        overdue = sum(1 for r in rows if r.overdue)
        self.count.setText(
            f"{len(rows):,} application{'' if len(rows) == 1 else 's'}"
            + (f", {overdue:,} overdue" if overdue else "")
        )
        if chosen is not None:
            self.select(chosen.id)
        if not self.view.currentIndex().isValid() and rows:
            self.view.setCurrentIndex(self.table.proxy.index(0, 0))  # Enter opens it at once
        self.loaded.emit()

    def _failed(self, generation: int, error: O2CError) -> None:
        if generation == self._generation:
            self.loading = False
            self.count.setText("The queue could not be loaded.")
            show_error(self, error)

    def rows_shown(self) -> list[credit_queue.QueueRow]:
        return self.table.visible_rows()

    def selected(self) -> credit_queue.QueueRow | None:
        return self.table.selected_row()

    def select(self, application_id: int) -> None:
        for n, row in enumerate(self.table.visible_rows()):
            if row.id == application_id:
                self.view.setCurrentIndex(self.table.proxy.index(n, 0))
                return

    def _activated(self, row: Any) -> None:
        if row is not None:
            self.open_application.emit(row.id)

    def open_selected(self) -> None:
        self._activated(self.selected())
