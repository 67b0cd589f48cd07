"""A small table with a filter box, sortable columns and CSV/XLSX export of what is shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services.export import export_table
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ROW_ROLE, SORT_ROLE, ListTableModel
from o2c_desktop.ui.widgets.layout_memory import fit_columns
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error


def configure_table(view: QTableView) -> None:
    """The house style of every table: sortable, whole-row selection, read-only, compact rows."""
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setStretchLastSection(True)


class TablePanel(QWidget):
    """`export_columns`: what the file gets, when it is not what the screen shows (raw values
    beside their currency, flags the screen shows by colour)."""

    activated = Signal(object)  # the row object under Enter / double-click

    def __init__(
        self,
        columns: Sequence[Column],
        export_name: str,
        parent: Any = None,
        *,
        export_columns: Sequence[Column] | None = None,
    ):
        super().__init__(parent)
        self.export_name = export_name
        self.export_columns = export_columns
        self.model = ListTableModel(columns, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.filter_edit = QLineEdit(placeholderText="Filter…", clearButtonEnabled=True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.export)
        self.toolbar = QHBoxLayout()
        self.toolbar.addWidget(self.filter_edit, 1)
        self.toolbar.addWidget(self.export_button)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        configure_table(self.view)
        self.view.activated.connect(lambda index: self.activated.emit(index.data(ROW_ROLE)))
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self.filter_edit,
            self.filter_edit.clear,
            context=Qt.ShortcutContext.WidgetShortcut,
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.view)

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.model.set_rows(rows)
        fit_columns(self.view)

    def selected_row(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def visible_rows(self) -> list[Any]:
        return [self.proxy.index(r, 0).data(ROW_ROLE) for r in range(self.proxy.rowCount())]

    def export(self) -> None:
        path = ask_export_path(self, f"{self.export_name}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> int:
        """Write the rows as filtered and sorted on screen (small lists: on the GUI thread)."""
        columns = self.export_columns or self.model.columns
        rows = [[c.value(row) for c in columns] for row in self.visible_rows()]
        try:
            return export_table(path, [c.title for c in columns], [rows])
        except O2CError as exc:
            show_error(self, exc)
            return 0
