"""A table over a query too big to load: pages fetched in SQL, off the GUI thread, on scroll.

Sorting and filtering never happen in Qt: `sort()` and `set_query()` start a new SQL query
(a proxy model over 300,000 rows took 198 s to sort; ORDER BY takes milliseconds). Each new
query gets a generation number, so pages of an outdated query arriving late are dropped.
The query is any frozen dataclass with `sort_key` and `descending` fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal

from o2c_desktop.ui import workers
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ListTableModel

PAGE_SIZE = 200
_Index = QModelIndex | QPersistentModelIndex


class PagedTableModel(ListTableModel):
    page_loaded = Signal()
    count_known = Signal(int)
    failed = Signal(str)

    def __init__(
        self,
        columns: Sequence[Column],
        query: Any,
        fetch: Callable[[Any, int, int], list[Any]],
        count: Callable[[Any], int],
        parent: Any = None,
    ):
        super().__init__(columns, parent)
        self._fetch, self._count = fetch, count
        self.query = query
        self.total: int | None = None
        self._generation = 0
        self._loading = False
        self._exhausted = True
        self.sort_keys: frozenset[str] | None = None  # None: every column sorts

    # -- queries -----------------------------------------------------------------------------
    def set_query(self, query: Any) -> None:
        """Show another search/filter/order: drop the rows and fetch the first page."""
        self.query = query
        self.refresh()

    def refresh(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self.rows, self.total = [], None
        # Loading already: a view reacting to the reset must not ask for the first page again
        # (it did, through fetchMore, and every row arrived twice).
        self._exhausted, self._loading = False, True
        self.endResetModel()
        self._request_page()
        generation = self._generation
        workers.submit(
            self._count,
            self.query,
            owner=self,
            on_done=lambda n: self._count_arrived(generation, n),
            on_failed=lambda e: self.failed.emit(str(e)),
        )

    def is_loading(self) -> bool:
        return self._loading

    def _request_page(self) -> None:
        self._loading = True
        generation, offset = self._generation, len(self.rows)
        workers.submit(
            self._fetch,
            self.query,
            offset,
            PAGE_SIZE,
            owner=self,
            on_done=lambda page: self._page_arrived(generation, page),
            on_failed=lambda e: self._page_failed(generation, e),
        )

    def _page_arrived(self, generation: int, page: list[Any]) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._exhausted = len(page) < PAGE_SIZE
        if page:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self.rows.extend(page)
            self.endInsertRows()
        self.page_loaded.emit()

    def _page_failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:
            self._loading = False
            self._exhausted = True
            self.failed.emit(str(error))

    def _count_arrived(self, generation: int, total: int) -> None:
        if generation == self._generation:
            self.total = total
            self.count_known.emit(total)

    # -- Qt model API (cells and header: ListTableModel) --------------------------------------
    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._request_page()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        descending = order == Qt.SortOrder.DescendingOrder
        key = self.columns[column].key
        if self.sort_keys is not None and key not in self.sort_keys:
            return  # a column SQL cannot order by: keep the current order
        if (key, descending) != (self.query.sort_key, self.query.descending):
            self.set_query(replace(self.query, sort_key=key, descending=descending))
