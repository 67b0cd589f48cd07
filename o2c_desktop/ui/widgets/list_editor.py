"""A Settings tab that lists records on the left and edits the selected one on the right.

The collection strategies and the dunning levels are edited this way, and saved the same way:
with the version the user loaded (a colleague's save in between is a conflict that keeps the
input, and the next Save is made against their version), through the tab's own Save button or
the Settings dialog's Save (`prepare` on the GUI thread, `save` on the worker, `show_problems`
when it failed), with each problem the service names shown under its input.

A subclass builds its form, then calls `arrange`, and implements the hooks at the end of the
class: what there is to save, how the service saves and lists, which input a problem names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QLayout,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import ConflictError, O2CError, ValidationFailed
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import banner, not_saved, place_problems, set_error
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ROW_ROLE, ListTableModel
from o2c_desktop.ui.widgets.layouts import toolbar
from o2c_desktop.ui.widgets.table_panel import configure_table


def normalise(text: str) -> str:
    """A problem's field as a comparable key: 'Overdue amount bands, row 2' → 'overdue_amount…'."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class ListEditorTab(QWidget):
    source = ""  # ValidationFailed.source of the problems the tab finds before saving

    def __init__(
        self,
        ctx: UiContext,
        editable: bool,
        columns: Sequence[Column],
        names: tuple[str, str],
        parent: Any = None,
    ):
        """`names`: the object names of the list and of the status line."""
        super().__init__(parent)
        self.ctx = ctx
        self.editable = editable
        self.current: Any = None  # the record shown
        self.base_version: int | None = None
        self.dirty = False
        self.loaded = False
        self._filling = False  # the form is being filled in: not an edit
        self._pending: Any = None
        self._last_error: O2CError | None = None
        self.errors: dict[str, QLabel] = {}
        self.banner = banner()
        self.model = ListTableModel(columns, self)
        self.view = QTableView(objectName=names[0])
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setSortingEnabled(False)
        self.status = QLabel(objectName=names[1])
        self.status.setStyleSheet("color: #666;")

    def arrange(
        self,
        list_buttons: Sequence[QPushButton],
        editor: QLayout,
        save_button: QPushButton,
        sizes: tuple[int, int],
    ) -> None:
        """The list with its buttons under it; the editor with the status and Save under it."""
        self.save_button = save_button
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(toolbar(*list_buttons))
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(editor, 1)
        right_layout.addLayout(toolbar((self.status, 1), save_button))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes(list(sizes))
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, previous: self._picked(current.row(), previous.row())
        )
        save_button.clicked.connect(self.save_clicked)

    # -- the list --------------------------------------------------------------------------
    def show_rows(self, rows: Sequence[Any]) -> None:
        """Fill the list without it counting as the user picking a row."""
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        self.model.set_rows(rows)
        self.view.resizeColumnsToContents()
        selection.blockSignals(False)

    def _select_row(self, row: int) -> None:
        """Put the cursor on a row (-1: on none) without it counting as the user picking it."""
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        if row < 0:
            self.view.clearSelection()
        else:
            self.view.selectRow(row)
        selection.blockSignals(False)

    def selected(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    # -- the form --------------------------------------------------------------------------
    def _clean(self) -> None:
        """The form shows the record as saved: no changes, no problems."""
        self.dirty = False
        for label in self.errors.values():
            set_error(label, None)
        self.banner.hide()
        self._enable()

    def _changed(self) -> None:
        if not self._filling:
            self.dirty = True
            self._enable()

    def _show_banner(self, text: str) -> None:
        set_error(self.banner, text)

    # -- saving (prepare on the GUI thread, save on the worker) ----------------------------
    def prepare(self, force: bool = False) -> None:
        """Read the inputs for save(); nothing pending when untouched (unless forced)."""
        for label in self.errors.values():
            set_error(label, None)
        self._pending = None
        if not self.editable or not self.wants_save(force):
            return
        try:
            self._pending = self.pending_save()
        except ValidationFailed as exc:
            self._pending = exc  # raised by save(), where the dialog's Save sees it

    def save(self) -> Any:
        """Runs on the worker: the service validates, checks the version, audits, commits."""
        pending = self._pending
        if pending is None:
            return None
        try:
            if isinstance(pending, ValidationFailed):
                raise pending
            return self.store(pending)
        except O2CError as exc:
            self._last_error = exc
            raise

    def save_clicked(self) -> None:
        self.banner.hide()
        self.prepare(force=True)
        if self._pending is None:
            self.status.setText("Nothing changed.")
            return
        self._busy(True)
        workers.submit(self.save, owner=self, on_done=self._saved, on_failed=self._failed)

    def _busy(self, busy: bool) -> None:
        for button in self.busy_buttons():
            button.setEnabled(not busy)
        if busy:
            self.status.setText("Saving…")
        else:
            self._enable()

    def _failed(self, error: O2CError) -> None:
        self._busy(False)
        self.status.setText("")
        self.show_problems(error)
        self._show_banner(not_saved(error))
        if isinstance(error, ConflictError):
            self._rebase()

    def _rebase(self) -> None:
        """After a conflict the input stays; the next Save is made against their version."""
        current_id = self.current.id if self.current is not None else None

        def rebased(rows: list[Any]) -> None:
            theirs = next((r for r in rows if r.id == current_id), None)
            if theirs is not None:
                self.base_version = theirs.version

        workers.submit(self.fetch_rows, owner=self, on_done=rebased, on_failed=lambda _e: None)

    def show_problems(self, error: O2CError) -> bool:
        """Put each problem under the input it names; True when the error was this tab's."""
        if error is not self._last_error and not (
            isinstance(error, ValidationFailed) and error.source == self.source
        ):
            return False
        place_problems(self.errors, error, self.field_for)
        return True

    # -- what a tab says -------------------------------------------------------------------
    def _picked(self, row: int, previous: int) -> None:
        """The user moved to another row of the list (back to `previous` to stay)."""
        raise NotImplementedError

    def _enable(self) -> None:
        raise NotImplementedError

    def _saved(self, saved: Any) -> None:
        raise NotImplementedError

    def busy_buttons(self) -> Sequence[QPushButton]:
        """What may not be clicked while a save runs."""
        return (self.save_button,)

    def wants_save(self, force: bool) -> bool:
        """Whether there is something to save (`force`: the tab's own Save was clicked)."""
        raise NotImplementedError

    def pending_save(self) -> Any:
        """What `store` saves, read from the inputs; ValidationFailed for unreadable input."""
        raise NotImplementedError

    def store(self, pending: Any) -> Any:
        """On the worker: save through the service; returns the saved record."""
        raise NotImplementedError

    def fetch_rows(self) -> list[Any]:
        """On the worker: the records as saved now (with their versions)."""
        raise NotImplementedError

    def field_for(self, problem_field: str) -> str | None:
        """The key in `errors` of the input a problem names, or None."""
        raise NotImplementedError
