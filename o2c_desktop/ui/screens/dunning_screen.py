"""Dunning: propose a run for a date, review the letters, produce them as PDF (and e-mail).

Propose runs on a worker: the dunning service picks one letter per customer and currency at the
highest level its overdue items reached, leaving out disputed items and customers with an open
promise not yet due, and stores the run. The review table lists the letters; a letter is left out
or put back with its checkbox or Space (several selected rows at once), saved at once. Totals
per currency follow the ticks. "Produce letters…" asks for a folder and writes the PDFs on a
worker with a progress bar and Cancel, then shows the summary (files, e-mailed, failures) and
offers to open the folder, like the statements batch.

A run can hold a letter per overdue customer (tens of thousands at 200,000 customers): the
table model sorts and filters its own list (a sort proxy over that many rows is far too slow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import dunning
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.dunning_levels import CHANNEL_LABELS
from o2c_desktop.ui.models.columns import RIGHT, Column, header_data
from o2c_desktop.ui.models.list_table import ROW_ROLE, SORT_ROLE
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import configure_table

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = (
    Column("included", "Send", lambda r: r.included, lambda _r: ""),
    Column("number", "Customer", lambda r: r.number),
    Column("name", "Name", lambda r: r.name),
    Column(
        "level",
        "Level",
        lambda r: r.level,
        lambda r: f"{r.level} · {r.level_name}",
    ),
    Column(
        "channel",
        "Channel",
        lambda r: r.channel,
        lambda r: CHANNEL_LABELS.get(r.channel, r.channel).split(" (")[0],
    ),
    Column("currency", "Currency", lambda r: r.currency),
    Column("overdue", "Overdue", lambda r: r.overdue, lambda r: formatting.amount(r.overdue), True),
    Column("fee", "Fee", lambda r: r.fee, lambda r: formatting.amount(r.fee), True),
    Column("item_count", "Items", lambda r: r.item_count, numeric=True),
    Column("recipient", "Recipient", lambda r: r.recipient),
)
INCLUDED = 0


def _sort_value(value: Any) -> Any:
    return (value is None, value if value is not None else 0)


class ProposalModel(QAbstractTableModel):
    """The letters of a run: a checkbox column, sorting and filtering of its own list."""

    include_toggled = Signal(list, bool)  # letter ids, included

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.columns = list(COLUMNS)
        self.letters: list[Any] = []  # every letter of the run
        self.rows: list[Any] = []  # those shown, in the order shown
        self._filter = ""
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # -- content ---------------------------------------------------------------------------
    def set_letters(self, letters: Sequence[Any]) -> None:
        self.letters = list(letters)
        self._rebuild()

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._rebuild()

    def _matches(self, letter: Any) -> bool:
        if not self._filter:
            return True
        return any(
            self._filter in str(value).lower()
            for value in (letter.number, letter.name, letter.level_name, letter.recipient or "")
        )

    def _rebuild(self) -> None:
        self.beginResetModel()
        self.rows = [letter for letter in self.letters if self._matches(letter)]
        if self._sort is not None:
            self._sort_rows(*self._sort)
        self.endResetModel()

    def _sort_rows(self, column: int, order: Qt.SortOrder) -> None:
        key = self.columns[column].value
        self.rows.sort(
            key=lambda r: _sort_value(key(r)), reverse=order == Qt.SortOrder.DescendingOrder
        )

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        before = [(self.rows[i.row()], i.column()) for i in persistent]
        self._sort = (column, order)
        self._sort_rows(column, order)
        where = {id(letter): n for n, letter in enumerate(self.rows)}
        self.changePersistentIndexList(
            persistent, [self.index(where[id(letter)], c) for letter, c in before]
        )
        self.layoutChanged.emit()

    def replace(self, letter_ids: set[Any], included: bool) -> None:
        """Show letters as included or not (after the service saved it, or to undo)."""

        def changed(letter: Any) -> Any:
            if letter.letter_id in letter_ids and letter.included != included:
                return dataclasses.replace(letter, included=included)
            return letter

        self.letters = [changed(letter) for letter in self.letters]
        for n, letter in enumerate(self.rows):
            if letter.letter_id in letter_ids:
                self.rows[n] = changed(letter)
                first, last = self.index(n, 0), self.index(n, len(self.columns) - 1)
                self.dataChanged.emit(first, last)

    # -- Qt model API ----------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == INCLUDED:
            return Qt.CheckState.Checked if row.included else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            return column.display(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == INCLUDED:
            return "Space or click: leave this letter out, or put it back"
        if role == SORT_ROLE:
            value = column.value(row)
            return "" if value is None else (float(value) if column.numeric else str(value))
        if role == ROW_ROLE:
            return row
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == INCLUDED:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != INCLUDED:
            return False
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value, 2, True)
        row = self.rows[index.row()]
        if row.included != checked:
            self.include_toggled.emit([row.letter_id], checked)
        return True

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return header_data(self.columns, section, orientation, role)


def totals_text(letters: Sequence[Any]) -> str:
    """What the included letters add up to, per currency (amounts are never added across)."""
    included = [letter for letter in letters if letter.included]
    if not letters:
        return ""
    per: dict[str, tuple[int, Decimal, Decimal]] = {}
    for letter in included:
        count, overdue, fees = per.get(letter.currency, (0, Decimal(0), Decimal(0)))
        per[letter.currency] = (count + 1, overdue + letter.overdue, fees + letter.fee)
    parts = [
        f"{code}: {count:,} letter(s), overdue {formatting.money(overdue, code)}"
        + (f", fees {formatting.money(fees, code)}" if fees else "")
        for code, (count, overdue, fees) in sorted(per.items())
    ]
    head = f"{len(included):,} of {len(letters):,} letters to send"
    return head + (" · " + " · ".join(parts) if parts else "")


def result_summary(result: Any, out_dir: str) -> str:
    lines = [
        ("Cancelled: " if result.cancelled else "")
        + f"{result.files:,} letter(s) written to {out_dir} in {result.seconds:.1f} s",
    ]
    if result.emailed:
        lines.append(f"{result.emailed:,} e-mailed to the customers.")
    if result.failed:
        lines.append(f"{len(result.failed):,} failed:")
        lines += [f"  {reason}" for reason in result.failed]
    if result.cancelled:
        lines.append("The letters not written yet stay in the run: produce it again to finish.")
    return "\n".join(lines)


class _SpaceToggles(QObject):
    """Space on the review table ticks or unticks every selected letter."""

    def __init__(self, toggle: Callable[[], None], parent: QObject):
        super().__init__(parent)
        self.toggle = toggle

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            self.toggle()
            return True
        return False


class DunningScreen(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.may_run = ctx.actor.may(Permission.RUN_DUNNING)
        self.proposal: Any = None
        self.result: Any = None
        self.out_dir: str | None = None
        self.proposing = False
        self.produced = False  # the run's letters were all written: nothing left to review
        self.task: workers.Task | None = None

        self.as_of = QDateEdit(QDate(today or date.today()), objectName="dunningDate")
        self.as_of.setCalendarPopup(True)
        self.as_of.setDisplayFormat("yyyy-MM-dd")
        self.propose_button = QPushButton("&Propose run")
        self.propose_button.setToolTip(
            "One letter per customer and currency at the highest level reached; disputed items "
            "and customers with an open promise not yet due are left out"
            if self.may_run
            else refusal(ctx.actor, Permission.RUN_DUNNING)
        )
        self.filter_edit = QLineEdit(
            placeholderText="Filter…", clearButtonEnabled=True, objectName="dunningFilter"
        )
        self.status = QLabel(objectName="dunningStatus")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Overdue as of"))
        top.addWidget(self.as_of)
        top.addWidget(self.propose_button)
        top.addWidget(self.status, 1)
        top.addWidget(self.filter_edit)

        self.model = ProposalModel(self)
        self.view = QTableView(objectName="dunningTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self._space = _SpaceToggles(self.toggle_selected, self.view)
        self.view.installEventFilter(self._space)
        self.totals = QLabel(objectName="dunningTotals")
        self.totals.setWordWrap(True)

        self.include_button = QPushButton("&Include / leave out")
        self.include_button.setToolTip("Space: tick or untick the selected letters")
        self.produce_button = QPushButton("P&roduce letters…")
        self.cancel_button = QPushButton("Cancel")
        self.open_button = QPushButton("&Open folder")
        for button in (self.cancel_button, self.open_button, self.include_button):
            button.setAutoDefault(False)
        self.progress = QProgressBar(objectName="dunningProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v of %m")
        self.summary = QPlainTextEdit(objectName="dunningSummary", readOnly=True)
        self.summary.setPlaceholderText("The summary of the letters produced appears here.")
        self.summary.setMaximumHeight(140)
        actions = QHBoxLayout()
        actions.addWidget(self.totals, 1)
        actions.addWidget(self.include_button)
        actions.addWidget(self.produce_button)
        run_row = QHBoxLayout()
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.open_button)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(actions)
        bottom_layout.addLayout(run_row)
        bottom_layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self.propose_button.clicked.connect(self.propose)
        self._filter_timer = QTimer(self, singleShot=True, interval=200)
        self._filter_timer.timeout.connect(lambda: self.model.set_filter(self.filter_edit.text()))
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.model.include_toggled.connect(self.set_included)
        self.model.modelReset.connect(self._enable)
        self.include_button.clicked.connect(self.toggle_selected)
        self.produce_button.clicked.connect(self.produce)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self.open_folder)
        self._enable()

    def reload(self) -> None:
        """Read the letters of the run under review again (a colleague may have left some out;
        F5). Nothing to do before a run is proposed (proposing stores a run: only on request)
        or while letters are produced."""
        proposal = self.proposal
        if proposal is None or proposal.run_id is None or self.task is not None:
            self._enable()
            return

        def shown(letters: tuple[Any, ...]) -> None:
            if self.proposal is proposal and self.task is None:
                self.proposal = dataclasses.replace(proposal, letters=tuple(letters))
                self.model.set_letters(letters)
                self._enable()

        workers.submit(
            dunning.run_letters,
            self.ctx.db,
            self.ctx.actor,
            proposal.run_id,
            owner=self,
            on_done=shown,
            on_failed=lambda error: self.status.setText(str(error)),
        )

    def _enable(self) -> None:
        running = self.task is not None
        has_letters = bool(self.proposal is not None and self.proposal.letters)
        has_letters = has_letters and not self.produced
        self.propose_button.setEnabled(self.may_run and not running and not self.proposing)
        self.as_of.setEnabled(not running)
        self.include_button.setEnabled(self.may_run and has_letters and not running)
        self.produce_button.setEnabled(
            self.may_run
            and has_letters
            and not running
            and any(letter.included for letter in self.model.letters)
        )
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(self.out_dir is not None and self.result is not None)
        self.totals.setText(totals_text(self.model.letters))

    # -- propose ---------------------------------------------------------------------------
    def propose(self) -> None:
        as_of = self.as_of.date().toPython()
        self.proposing = True
        self.status.setText("Proposing…")
        self.result, self.out_dir = None, None
        self.summary.clear()
        self._enable()
        workers.submit(
            dunning.propose_run,
            self.ctx.db,
            self.ctx.actor,
            as_of,
            owner=self,
            on_done=self.show_proposal,
            on_failed=self._propose_failed,
        )

    def _propose_failed(self, error: O2CError) -> None:
        self.proposing = False
        self.status.setText("")
        self._enable()
        show_error(self, error)

    def show_proposal(self, proposal: Any) -> None:
        self.proposing = False
        self.produced = False
        self.proposal = proposal
        self.model.set_letters(proposal.letters)
        self.view.resizeColumnsToContents()
        skipped = []
        if proposal.skipped_disputed:
            skipped.append(f"{proposal.skipped_disputed:,} left out as disputed")
        if proposal.skipped_promised:
            skipped.append(f"{proposal.skipped_promised:,} with a promise not yet due")
        self.status.setText(
            f"Run #{proposal.run_id} for {formatting.day(proposal.as_of)}: "
            f"{len(proposal.letters):,} letter(s)"
            + (f"; {', '.join(skipped)}" if skipped else "")
            + ("" if proposal.letters else " — nobody to remind.")
        )
        self._enable()
        if proposal.letters:
            self.view.setFocus()
            self.view.setCurrentIndex(self.model.index(0, 1))

    # -- include / leave out ---------------------------------------------------------------
    def selected_letters(self) -> list[Any]:
        rows = sorted({index.row() for index in self.view.selectionModel().selectedIndexes()})
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return [self.model.rows[r] for r in rows if 0 <= r < len(self.model.rows)]

    def toggle_selected(self) -> None:
        """Tick or untick the selected letters: all left out when any was included."""
        letters = self.selected_letters()
        if not letters or not self.may_run or self.task is not None:
            return
        include = not any(letter.included for letter in letters)
        self.set_included([letter.letter_id for letter in letters], include)

    def set_included(self, letter_ids: list[Any], included: bool) -> None:
        """Show the change at once and save it on a worker; undone if the save fails."""
        if not self.may_run or self.task is not None or self.produced:
            return
        ids = set(letter_ids)
        self.model.replace(ids, included)
        self._enable()
        ctx = self.ctx

        def job() -> None:
            for letter_id in letter_ids:
                dunning.set_included(ctx.db, ctx.actor, letter_id, included)

        def failed(error: O2CError) -> None:
            self.model.replace(ids, not included)
            self._enable()
            show_error(self, error)

        workers.submit(job, owner=self, on_done=lambda _n: None, on_failed=failed)

    # -- produce ---------------------------------------------------------------------------
    def ask_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Folder for the reminder letters", "")

    def produce(self) -> None:
        if self.proposal is None or self.task is not None:
            return
        folder = self.ask_folder()
        if not folder:
            return
        self.start_production(folder)

    def start_production(self, folder: str) -> None:
        ctx, run_id = self.ctx, self.proposal.run_id
        self.out_dir = folder
        self.result = None
        self.summary.clear()
        included = sum(1 for letter in self.model.letters if letter.included)
        self.progress.setMaximum(max(included, 1))
        self.progress.setValue(0)
        self.status.setText(f"Producing {included:,} letter(s)…")

        def job(task: workers.Task) -> Any:
            Path(folder).mkdir(parents=True, exist_ok=True)
            return dunning.produce_run(
                ctx.db,
                ctx.actor,
                run_id,
                Path(folder),
                progress=task.report,
                cancel=task.cancelled,
            )

        def done(result: Any) -> None:
            self.task = None
            self.result = result
            self.produced = not result.cancelled
            self.summary.setPlainText(result_summary(result, folder))
            self.status.setText("Cancelled." if result.cancelled else "Done.")
            self._enable()
            if self.open_button.isEnabled():
                self.open_button.setFocus()
            letters = [letter for letter in self.model.letters if letter.included]
            if len(letters) <= 200:  # open profiles show the reminder in their activity
                for customer_id in {letter.customer_id for letter in letters}:
                    ctx.signals.customer_changed.emit(customer_id)

        def failed(error: O2CError) -> None:
            self.task = None
            self.status.setText("Stopped.")
            self.summary.setPlainText(str(error))
            self._enable()
            show_error(self, error)

        self.task = workers.submit(
            job,
            owner=self,
            with_task=True,
            on_done=done,
            on_failed=failed,
            on_progress=self._progress,
        )
        self._enable()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.status.setText(f"Letters: {done:,} of {total:,}")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def open_folder(self) -> None:
        if self.out_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.out_dir))
