"""A list loaded whole, too long for a QSortFilterProxyModel: sorted and filtered in its own list.

The call list (a few thousand customers per collector, tens of thousands for the team) and a
dunning run (a letter per overdue customer) are computed by their service in one go, so they are
loaded whole; a proxy's per-row Python calls made sorting 300,000 rows take minutes, while
sorting a Python list by the column's value takes milliseconds. `rows` are the rows shown
(filtered, in the chosen order), `all_rows` everything loaded, in the service's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt

from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ListTableModel


def _sort_key(value: Any) -> tuple[bool, Any]:
    """Empty values after the others (ascending), and never compared with them."""
    return (value is None, value if value is not None else 0)


class FilteredListModel(ListTableModel):
    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(columns, parent)
        self.all_rows: list[Any] = []
        self._haystacks: list[str] = []
        self._words: list[str] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def search_fields(self, row: Any) -> Sequence[str | None]:
        """The texts the filter box searches: every column's text unless a subclass narrows it."""
        return [column.display(row) for column in self.columns]

    def _haystack(self, row: Any) -> str:
        return " ".join(text or "" for text in self.search_fields(row)).casefold()

    # -- content ---------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Any]) -> None:
        self.all_rows = list(rows)
        self._haystacks = [self._haystack(row) for row in self.all_rows]
        self._rebuild()

    def set_filter(self, text: str) -> None:
        """Show the rows whose search fields contain every word typed (any case, any order)."""
        self._words = text.casefold().split()
        self._rebuild()

    def replace_rows(self, match: Callable[[Any], bool], change: Callable[[Any], Any]) -> None:
        """Change some rows in place (a claim taken, a letter left out), without filtering or
        sorting again: the rows stay where the user sees them."""
        changed: dict[int, Any] = {}
        for n, row in enumerate(self.all_rows):
            if match(row):
                changed[id(row)] = self.all_rows[n] = change(row)
                self._haystacks[n] = self._haystack(self.all_rows[n])
        for n, row in enumerate(self.rows):
            if id(row) in changed:
                self.rows[n] = changed[id(row)]
                self.dataChanged.emit(self.index(n, 0), self.index(n, len(self.columns) - 1))

    def _rebuild(self) -> None:
        self.beginResetModel()
        self.rows = [
            row
            for row, hay in zip(self.all_rows, self._haystacks, strict=True)
            if all(word in hay for word in self._words)
        ]
        if self._sort is not None:
            self._sort_rows(*self._sort)
        self.endResetModel()

    def _sort_rows(self, column: int, order: Qt.SortOrder) -> None:
        value = self.columns[column].value
        self.rows.sort(
            key=lambda r: _sort_key(value(r)), reverse=order == Qt.SortOrder.DescendingOrder
        )

    # -- Qt model API ----------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """A new order of the same rows: selections and the current row follow their rows."""
        if not 0 <= column < len(self.columns):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        before = [(self.rows[i.row()], i.column()) for i in persistent]
        self._sort = (column, order)
        self._sort_rows(column, order)
        where = {id(row): n for n, row in enumerate(self.rows)}
        self.changePersistentIndexList(
            persistent, [self.index(where[id(row)], c) for row, c in before]
        )
        self.layoutChanged.emit()
