"""Dunning: propose a run for a date, review the letters, produce them as PDF (and e-mail).

Propose runs on a worker: the dunning service picks one letter per customer and currency at the
highest level its overdue items reached, leaving out disputed items and customers with an open
promise not yet due, and stores the run. The review table lists the letters; a letter is left out
or put back with its checkbox or Space (several selected rows at once), saved at once. Totals
per currency follow the ticks. "Produce letters…" asks for a folder and writes the PDFs on a
worker with a progress bar and Cancel, then shows the summary (files, e-mailed, failures) and
offers to open the folder, like the statements batch.

A run can hold a letter per overdue customer (tens of thousands at 200,000 customers): the
table model sorts and filters its own list (models.filtered_list; a sort proxy is far too slow).
The production runs like the statements batch (widgets.batch_run).

"Export…" writes the letters as filtered and sorted on screen to CSV or XLSX on a worker, with
exact amounts and their currency (like every table of the app), so a proposal can be reviewed
or signed off outside the app. A letter's overdue items, the unapplied payments and credit notes
netted against them, and the net amount it asks for are separate columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
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
    QLabel,
    QLineEdit,
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
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.filtered_list import FilteredListModel
from o2c_desktop.ui.widgets.batch_run import BatchRun
from o2c_desktop.ui.widgets.layouts import toolbar
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table

_Index = QModelIndex | QPersistentModelIndex

SEND_TIP = "Space or click: leave this letter out, or put it back"
COLUMNS = (
    Column("included", "Send", lambda r: r.included, lambda _r: "", tooltip=lambda _r: SEND_TIP),
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
    Column(
        "items_overdue",
        "Overdue",
        lambda r: r.items_overdue,
        lambda r: formatting.amount(r.items_overdue),
        True,
        tooltip=lambda _r: "What the letter's overdue items add up to",
    ),
    Column(
        "credits",
        "Less credits",
        lambda r: r.credits,
        lambda r: formatting.amount(r.credits) if r.credits else "",
        True,
        tooltip=lambda _r: "Unapplied payments and open credit notes in this currency, netted",
    ),
    Column("overdue", "Net due", lambda r: r.overdue, lambda r: formatting.amount(r.overdue), True),
    Column("fee", "Fee", lambda r: r.fee, lambda r: formatting.amount(r.fee), True),
    Column("item_count", "Items", lambda r: r.item_count, numeric=True),
    Column("recipient", "Recipient", lambda r: r.recipient),
)
INCLUDED = 0
# The file keeps raw values (Decimal amounts, whole numbers) with the currency beside them.
EXPORT_COLUMNS = (
    Column("included", "Send", lambda r: r.included),
    Column("number", "Customer", lambda r: r.number),
    Column("name", "Name", lambda r: r.name),
    Column("level", "Level", lambda r: r.level),
    Column("level_name", "Level name", lambda r: r.level_name),
    Column("channel", "Channel", lambda r: r.channel),
    Column("currency", "Currency", lambda r: r.currency),
    Column("items_overdue", "Overdue items", lambda r: r.items_overdue),
    Column("credits", "Less unapplied payments/credits", lambda r: r.credits),
    Column("overdue", "Net due", lambda r: r.overdue),
    Column("fee", "Fee", lambda r: r.fee),
    Column("total_due", "Total due", lambda r: r.overdue + r.fee),
    Column("item_count", "Items", lambda r: r.item_count),
    Column("recipient", "Recipient", lambda r: r.recipient),
)


class ProposalModel(FilteredListModel):
    """The letters of a run with a checkbox column; `all_rows` every letter of the run."""

    include_toggled = Signal(list, bool)  # letter ids, included

    def __init__(self, parent: Any = None):
        super().__init__(COLUMNS, parent)

    def search_fields(self, row: Any) -> Sequence[str | None]:
        return (row.number, row.name, row.level_name, row.recipient)

    def replace(self, letter_ids: set[Any], included: bool) -> None:
        """Show letters as included or not (after the service saved it, or to undo)."""
        self.replace_rows(
            lambda letter: letter.letter_id in letter_ids and letter.included != included,
            lambda letter: dataclasses.replace(letter, included=included),
        )

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            role == Qt.ItemDataRole.CheckStateRole
            and index.column() == INCLUDED
            and 0 <= index.row() < len(self.rows)
        ):
            included = self.rows[index.row()].included
            return Qt.CheckState.Checked if included else Qt.CheckState.Unchecked
        return super().data(index, role)

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
        f"{code}: {count:,} letter(s), net due {formatting.money(overdue, code)}"
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
        self.export_button = QPushButton("E&xport…")
        self.export_button.setToolTip("The letters as filtered and sorted here, to CSV or Excel")
        self.export_button.setAutoDefault(False)
        top = toolbar("Overdue as of", self.as_of, self.propose_button, (self.status, 1))
        top.addWidget(self.filter_edit)
        top.addWidget(self.export_button)

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
        self.open_button = QPushButton("&Open folder")
        for button in (self.open_button, self.include_button):
            button.setAutoDefault(False)
        self.runner = BatchRun(
            self,
            self.status,
            "dunning",
            "The summary of the letters produced appears here.",
            self._enable,
        )
        self.progress, self.summary = self.runner.progress, self.runner.summary
        self.cancel_button = self.runner.cancel_button
        self.summary.setMaximumHeight(140)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(toolbar((self.totals, 1), self.include_button, self.produce_button))
        bottom_layout.addLayout(toolbar((self.progress, 1), self.cancel_button, self.open_button))
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
        self.open_button.clicked.connect(self.open_folder)
        self.export_button.clicked.connect(self.export)
        self._enable()

    def reload(self) -> None:
        """Read the letters of the run under review again (a colleague may have left some out;
        F5). Nothing to do before a run is proposed (proposing stores a run: only on request)
        or while letters are produced."""
        proposal = self.proposal
        if proposal is None or proposal.run_id is None or self.runner.running:
            self._enable()
            return

        def shown(letters: tuple[Any, ...]) -> None:
            if self.proposal is proposal and not self.runner.running:
                self.proposal = dataclasses.replace(proposal, letters=tuple(letters))
                self.model.set_rows(letters)
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
        running = self.runner.running
        has_letters = bool(self.proposal is not None and self.proposal.letters)
        has_letters = has_letters and not self.produced
        self.propose_button.setEnabled(self.may_run and not running and not self.proposing)
        self.as_of.setEnabled(not running)
        self.include_button.setEnabled(self.may_run and has_letters and not running)
        self.produce_button.setEnabled(
            self.may_run
            and has_letters
            and not running
            and any(letter.included for letter in self.model.all_rows)
        )
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(self.out_dir is not None and self.result is not None)
        self.export_button.setEnabled(bool(self.model.all_rows))
        self.totals.setText(totals_text(self.model.all_rows))

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
        self.model.set_rows(proposal.letters)
        self.view.resizeColumnsToContents()
        skipped = []
        if proposal.skipped_disputed:
            skipped.append(f"{proposal.skipped_disputed:,} left out as disputed")
        if proposal.skipped_promised:
            skipped.append(f"{proposal.skipped_promised:,} with a promise not yet due")
        if proposal.skipped_credited:
            skipped.append(
                f"{proposal.skipped_credited:,} whose unapplied payments/credits cover the overdue"
            )
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
        if not letters or not self.may_run or self.runner.running:
            return
        include = not any(letter.included for letter in letters)
        self.set_included([letter.letter_id for letter in letters], include)

    def set_included(self, letter_ids: list[Any], included: bool) -> None:
        """Show the change at once and save it on a worker; undone if the save fails."""
        if not self.may_run or self.runner.running or self.produced:
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
        if self.proposal is None or self.runner.running:
            return
        folder = self.ask_folder()
        if not folder:
            return
        self.start_production(folder)

    def start_production(self, folder: str) -> None:
        ctx, run_id = self.ctx, self.proposal.run_id
        self.out_dir = folder
        self.result = None
        included = sum(1 for letter in self.model.all_rows if letter.included)

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
            self.result = result
            self.produced = not result.cancelled
            self.runner.finish(result_summary(result, folder), result.cancelled)
            if self.open_button.isEnabled():
                self.open_button.setFocus()
            letters = [letter for letter in self.model.all_rows if letter.included]
            if len(letters) <= 200:  # open profiles show the reminder in their activity
                for customer_id in {letter.customer_id for letter in letters}:
                    ctx.signals.customer_changed.emit(customer_id)

        self.runner.start(
            job,
            done,
            phase="Letters",
            status=f"Producing {included:,} letter(s)…",
            expected=included,
        )

    def open_folder(self) -> None:
        if self.out_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.out_dir))

    # -- export ----------------------------------------------------------------------------
    def export(self) -> None:
        proposal = self.proposal
        name = (
            f"dunning-run-{proposal.run_id}-{proposal.as_of.isoformat()}.xlsx"
            if proposal is not None
            else "dunning-run.xlsx"
        )
        path = ask_export_path(self, name)
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        """The letters as filtered and sorted on screen (with their ticks as they are now)."""
        rows = list(self.model.rows)
        return workers.export_in_background(
            self, path, "Exporting the dunning proposal", EXPORT_COLUMNS, lambda: [rows], len(rows)
        )
