"""A Settings tab over a list of versioned records that only some users may change: the checklist
templates, the approval authorities and the scorecard versions.

`ListEditorTab` already saves (prepare, save on the worker, problems under their inputs, a
conflict keeps the input). What these tabs also share is written here once: the list is read on
a worker and the saved or wanted record selected again; moving to another row with unsaved
changes asks first; a new record starts unsaved; a save or a delete tells the open screens
through an app signal; and a user who may not change the records still reads every table
(`set_editable`: scrolled, selected and copied, only not edited), with each button's tooltip
saying who may.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.list_editor import ListEditorTab
from o2c_desktop.ui.widgets.messages import confirm

EDIT_TRIGGERS = (
    QAbstractItemView.EditTrigger.DoubleClicked
    | QAbstractItemView.EditTrigger.EditKeyPressed
    | QAbstractItemView.EditTrigger.AnyKeyPressed
)


def set_editable(widget: QWidget, on: bool) -> None:
    """Editable, or read-only but still readable: text and tables are not greyed out, so rows
    can be selected (a factor's bands shown), scrolled and copied. Inputs with nothing to read
    in them (check boxes, lists to choose from) and buttons are disabled instead."""
    tables = [widget] if isinstance(widget, QTableWidget) else widget.findChildren(QTableWidget)
    if isinstance(widget, (QLineEdit, QAbstractSpinBox, QPlainTextEdit)):
        widget.setEnabled(True)
        widget.setReadOnly(not on)
    elif tables:  # a table with its own buttons (strategy_editor.RowsTable and the like)
        for table in tables:
            table.setEditTriggers(
                EDIT_TRIGGERS if on else QAbstractItemView.EditTrigger.NoEditTriggers
            )
            _checkable(table, on)
        for button in widget.findChildren(QPushButton):
            button.setEnabled(on)
    else:
        widget.setEnabled(on)


def _checkable(table: QTableWidget, on: bool) -> None:
    """Check boxes in cells follow too (edit triggers do not stop a click on them); a change of
    flags is not an edit, so the table's signals are held meanwhile."""
    blocked = table.blockSignals(True)
    for row in range(table.rowCount()):
        for column in range(table.columnCount()):
            item = table.item(row, column)
            if item is None or item.data(Qt.ItemDataRole.CheckStateRole) is None:
                continue
            flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
            wanted = flags if on else flags & ~Qt.ItemFlag.ItemIsUserCheckable
            if item.flags() != wanted:
                item.setFlags(wanted)
    table.blockSignals(blocked)


class RecordsTab(ListEditorTab):
    """A subclass builds its form, calls `arrange` and implements `fill` (and `clear_form`),
    ListEditorTab's saving hooks and `_enable`."""

    permission = Permission.EDIT_SETTINGS  # who may change the records
    changed_signal: str | None = None  # the AppSignals signal emitted after a save or delete
    noun = "record"  # "Discard your changes to this record?"
    plural = "records"  # "Cannot load the records: …"
    widest_list = 0.4  # the most of the width the list may take when fitted to its columns

    def __init__(
        self, ctx: UiContext, columns: Sequence[Column], names: tuple[str, str], parent: Any = None
    ):
        """`names`: the object names of the list and of the status line."""
        super().__init__(ctx, ctx.actor.may(self.permission), columns, names, parent)
        self.records: list[Any] = []
        self.is_new = False
        self._fitted = False  # the list was made as wide as its columns

    def buttons(self, *texts: str) -> list[QPushButton]:
        """The tab's buttons: Enter in the form does not press them, and for a user who may not
        change the records the tooltip says who may."""
        made = []
        for text in texts:
            button = QPushButton(text)
            button.setAutoDefault(False)
            if not self.editable:
                button.setToolTip(refusal(self.ctx.actor, self.permission))
            made.append(button)
        return made

    def arrange(self, *args: Any, **kwargs: Any) -> None:
        super().arrange(*args, **kwargs)
        self.splitter = self.findChild(QSplitter)
        # A stable name, for whoever keeps splitter positions.
        self.splitter.setObjectName(f"{self.view.objectName()}Splitter")

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.fit_list)  # once the tab is laid out

    def fit_list(self) -> None:
        """Once the rows are in and the tab is shown: the list as wide as its columns (whatever
        the font), the editor taking the rest, so that what a record matches or who it is for
        is read without scrolling (up to `widest_list` of the width). Done once; the user's drag
        stays."""
        if self._fitted or not self.loaded or not self.isVisible():
            return
        self._fitted = True
        view, header = self.view, self.view.horizontalHeader()  # fitted by show_rows
        last = header.count() - 1
        columns = sum(header.sectionSize(c) for c in range(last))
        columns += max(view.sizeHintForColumn(last), header.sectionSizeHint(last))
        wanted = columns + 2 * view.frameWidth() + view.verticalScrollBar().sizeHint().width()
        left, right = self.splitter.sizes()
        wanted = min(wanted, int((left + right) * self.widest_list))
        if left < wanted:
            self.splitter.setSizes([wanted, left + right - wanted])

    # -- loading ---------------------------------------------------------------------------
    def load(self, select_id: int | None = None) -> None:
        """Read the list again on a worker, then select `select_id` (else the first row)."""
        workers.submit(
            self.fetch_rows,
            owner=self,
            on_done=lambda rows: self._loaded(rows, select_id),
            on_failed=lambda e: self._show_banner(f"Cannot load the {self.plural}: {e}"),
        )

    def _loaded(self, rows: list[Any], select_id: int | None) -> None:
        self.records = list(rows)
        self.show_rows(self.records)
        self.loaded = True
        self.fit_list()
        if not self.records:
            self.current, self.is_new = None, False
            self.clear_form()
            self._enable()
            return
        row = self.row_for(select_id)
        self._select_row(row)
        self.fill(self.records[row])

    def row_for(self, select_id: int | None) -> int:
        """The row to show after a load: the record asked for, else the first."""
        return next((i for i, r in enumerate(self.records) if r.id == select_id), 0)

    def _picked(self, row: int, previous: int) -> None:
        if not 0 <= row < len(self.records):
            return
        if self.records[row] is self.current and not self.is_new:
            return
        if not self.may_discard():
            self._select_row(previous)
            return
        self.fill(self.records[row])

    def may_discard(self) -> bool:
        """No unsaved changes, or the user agrees to lose them."""
        return not self.dirty or confirm(self, f"Discard your changes to this {self.noun}?")

    # -- the form --------------------------------------------------------------------------
    def fill(self, record: Any) -> None:
        """Show a record in the form (with `_filling` set, then `_clean`)."""
        raise NotImplementedError

    def clear_form(self) -> None:
        """Empty the form (the list is empty, or a new record starts from nothing)."""

    def watch(self, *signals: SignalInstance) -> None:
        """Each of these signals of the inputs is an edit (unless the form is being filled)."""
        for signal in signals:
            signal.connect(lambda *_a: self._changed())

    def show_editable(self, widgets: Iterable[QWidget], on: bool) -> None:
        for widget in widgets:
            set_editable(widget, on)

    def begin_new(self, status: str) -> None:
        """The form (filled by the caller) is a new record, unsaved until Save."""
        self.current, self.is_new, self.base_version = None, True, None
        self._clean()
        self.dirty = True
        self.status.setText(status)

    # -- saving and deleting ---------------------------------------------------------------
    def wants_save(self, force: bool) -> bool:
        return (self.dirty or force) and (self.current is not None or self.is_new)

    def _saved(self, record: Any) -> None:
        self._busy(False)
        if record is None:
            return
        self.dirty, self.is_new = False, False
        self.status.setText("Saved.")
        self.load(select_id=record.id)
        self.announce()

    def announce(self) -> None:
        """Tell the open screens that the records changed."""
        if self.changed_signal is not None:
            getattr(self.ctx.signals, self.changed_signal).emit()

    def delete_current(
        self, question: str, deleted: str, delete: Callable[..., Any], delete_button: QPushButton
    ) -> None:
        """After the user agreed to `question`, delete the record shown with the version loaded
        (`delete(db, actor, id, version)` on a worker), then say `deleted` and read the list."""
        record = self.current
        if record is None or not confirm(self, question):
            return
        delete_button.setEnabled(False)

        def done(_none: Any) -> None:
            self.dirty = False
            self.status.setText(deleted)
            self.load()
            self.announce()

        def failed(error: O2CError) -> None:
            self._enable()
            self._show_banner(f"Not deleted: {error}")

        workers.submit(
            delete,
            self.ctx.db,
            self.ctx.actor,
            record.id,
            self.base_version,
            owner=self,
            on_done=done,
            on_failed=failed,
        )


class CreditSettingsTab(RecordsTab):
    """A list of the credit settings (checklist templates, scorecard versions, approval
    authorities): administrators change it, credit staff read it, and a change tells the open
    credit screens."""

    permission = Permission.MANAGE_CREDIT_POLICY
    changed_signal = "credit_policy_changed"
