"""File → Statements batch…: a month-end run of statements, written to a folder, optionally
combined into one PDF for printing and e-mailed to each customer's statement contacts.

The run happens on a worker (the statements service spreads it across processes) with a
progress bar and Cancel in the dialog itself; the summary stays in the dialog afterwards, so
the failures and their reasons can be read (and copied) at leisure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.money import parse_amount
from o2c_desktop.services import customers, mail_settings, statement_mail, statements, users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.statement_preview import DEFAULT_PATTERN, KIND_CHOICES
from o2c_desktop.ui.widgets.batch_run import BatchRun
from o2c_desktop.ui.widgets.layouts import toolbar
from o2c_desktop.ui.widgets.messages import show_error


def previous_month_end(today: date) -> date:
    """The usual statement date of a month-end run: the last day of the month before."""
    return today.replace(day=1) - timedelta(days=1)


def split_numbers(text: str) -> list[str]:
    """Customer numbers typed or pasted as a list: commas, semicolons, spaces or new lines."""
    for separator in ",;\n\t":
        text = text.replace(separator, " ")
    return list(dict.fromkeys(part for part in text.split(" ") if part))


def customer_ids_for(db: Any, numbers: Sequence[str]) -> tuple[int, ...]:
    """The ids of hand-picked customers; unknown numbers are named, none is silently left out."""
    ids, unknown = [], []
    for number in numbers:
        found = customers.find_customer_id(db, number)
        if found is None:
            unknown.append(number)
        else:
            ids.append(found)
    if unknown:
        raise ValidationFailed(
            [FieldProblem("customer numbers", "no such customer", value=n) for n in unknown],
            "Statements batch",
        )
    return tuple(ids)


@dataclass
class BatchOptions:
    """What the dialog asks for, as plain values (checked before the run starts)."""

    as_of: date
    kind: str
    period_from: date | None
    min_balance: Decimal | None
    segment: str | None
    collector_id: int | None
    numbers: list[str]
    out_dir: Path
    name_pattern: str
    combined: Path | None
    email: bool


@dataclass
class BatchOutcome:
    """The statements run and, when chosen, the e-mails that followed it."""

    selected: int
    batch: statements.BatchResult
    mails: list[statement_mail.SendResult] = field(default_factory=list)
    mail_cancelled: bool = False
    mail_seconds: float = 0.0


def summary_text(outcome: BatchOutcome, emailed: bool) -> str:
    """What the dialog shows when the run ends: counts, speed, and every failure with its reason."""
    batch = outcome.batch
    written = len(batch.files)
    rate = written / batch.seconds if batch.seconds > 0 else 0.0
    lines = [
        ("Cancelled: " if batch.cancelled else "")
        + f"{written:,} of {outcome.selected:,} statements written in {batch.seconds:.1f} s"
        + (f" ({rate:,.0f} per second)" if written else "")
    ]
    if batch.combined is not None:
        lines.append(f"Combined PDF for printing: {batch.combined}")
    if batch.failures:
        lines.append(f"{len(batch.failures):,} statement(s) failed:")
        lines += [f"  customer #{cid}: {reason}" for cid, reason in batch.failures]
    if emailed:
        sent = [m for m in outcome.mails if m.ok]
        failed = [m for m in outcome.mails if not m.ok]
        lines.append(
            f"E-mail: {len(sent):,} sent, {len(failed):,} failed"
            + (" (cancelled before the rest)" if outcome.mail_cancelled else "")
            + f", {outcome.mail_seconds:.1f} s"
        )
        lines += [f"  {m.customer_number}: {m.detail}" for m in failed]
    elif batch.cancelled:
        lines.append("Nothing was e-mailed.")
    return "\n".join(lines)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _date(edit: QDateEdit) -> date:
    value = edit.date()
    return date(value.year(), value.month(), value.day())


class StatementBatchDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: Any = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Statements batch")
        self.outcome: BatchOutcome | None = None
        as_of = previous_month_end(today or date.today())

        # -- the statement ---------------------------------------------------------------
        self.as_of = QDateEdit(_qdate(as_of), objectName="batchDate")
        self.kind = QComboBox(objectName="batchKind")
        for text, value in KIND_CHOICES:
            self.kind.addItem(text, value)
        self.period_from = QDateEdit(_qdate(as_of.replace(day=1)), objectName="batchFrom")
        for edit in (self.as_of, self.period_from):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.from_label = QLabel("From")
        statement_box = QGroupBox("Statement")
        statement_row = QHBoxLayout(statement_box)
        statement_row.addWidget(QLabel("Date"))
        statement_row.addWidget(self.as_of)
        statement_row.addSpacing(16)
        statement_row.addWidget(QLabel("Kind"))
        statement_row.addWidget(self.kind)
        statement_row.addSpacing(16)
        statement_row.addWidget(self.from_label)
        statement_row.addWidget(self.period_from)
        statement_row.addStretch(1)

        # -- which customers -------------------------------------------------------------
        self.use_balance = QCheckBox("Balance of at least", checked=True)
        self.min_balance = QLineEdit("0.01", objectName="minBalance")
        self.min_balance.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.min_balance.setToolTip(
            "At the statement date, in any one of the customer's currencies"
        )
        self.use_segment = QCheckBox("Segment")
        self.segment = QComboBox(objectName="segment")
        self.use_collector = QCheckBox("Collector's portfolio")
        self.collector = QComboBox(objectName="collector")
        self.use_numbers = QCheckBox("Only these customers")
        self.numbers = QLineEdit(objectName="customerNumbers")
        self.numbers.setPlaceholderText("customer numbers, e.g. C-1001, C-1002 C-1005")
        who_box = QGroupBox("Customers (all conditions ticked apply)")
        who = QGridLayout(who_box)
        for row, (check, widget) in enumerate(
            (
                (self.use_balance, self.min_balance),
                (self.use_segment, self.segment),
                (self.use_collector, self.collector),
                (self.use_numbers, self.numbers),
            )
        ):
            who.addWidget(check, row, 0)
            who.addWidget(widget, row, 1, 1, 2 if widget is self.numbers else 1)
            check.toggled.connect(self._enable)
        for narrow in (self.min_balance, self.segment, self.collector):
            narrow.setMinimumWidth(220)
        who.setColumnStretch(2, 1)

        # -- output ------------------------------------------------------------------------
        self.out_dir = QLineEdit(objectName="outDir")
        browse = QPushButton("Browse…")
        browse.setAutoDefault(False)
        browse.clicked.connect(self.browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.out_dir, 1)
        folder_row.addWidget(browse)
        self.pattern = QLineEdit(DEFAULT_PATTERN, objectName="namePattern")
        self.pattern.setToolTip(
            "{customer}: customer number · {name}: customer name · {date}: statement date · "
            "{kind}: open-items or activity · {currency} · {id}"
        )
        self.use_combined = QCheckBox("Also one combined PDF for printing:")
        self.combined = QLineEdit(objectName="combinedPath")
        self.combined.setPlaceholderText("in the output folder: statements-DATE.pdf")
        combined_row = QHBoxLayout()
        combined_row.addWidget(self.use_combined)
        combined_row.addWidget(self.combined, 1)
        self.use_email = QCheckBox("E-mail each statement to the customer's statement contacts")
        self.email_note = QLabel(objectName="emailNote")
        self.email_note.setStyleSheet("color: #666;")
        output_box = QGroupBox("Output")
        output = QFormLayout(output_box)
        output.addRow("Folder", folder_row)
        hint = QLabel("{customer} number, {name}, {date}, {kind}, {currency}, {id}")
        hint.setStyleSheet("color: #666;")
        output.addRow("File names", self.pattern)
        output.addRow("", hint)
        output.addRow("", combined_row)
        output.addRow("", self.use_email)
        output.addRow("", self.email_note)

        # -- running -----------------------------------------------------------------------
        self.status = QLabel(objectName="batchStatus")
        self.runner = BatchRun(
            self, self.status, "batch", "The summary of the run appears here.", self._enable
        )
        self.progress, self.summary = self.runner.progress, self.runner.summary
        self.summary.setMinimumHeight(110)
        self.run_button = QPushButton("&Run", default=True)
        self.cancel_button = self.runner.cancel_button
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        buttons = toolbar((self.status, 1), self.run_button, self.cancel_button, self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(statement_box)
        layout.addWidget(who_box)
        layout.addWidget(output_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary, 1)
        layout.addLayout(buttons)

        self.kind.currentIndexChanged.connect(self._enable)
        self.use_combined.toggled.connect(self._enable)
        self.run_button.clicked.connect(self.run)
        self.close_button.clicked.connect(self.reject)
        self.resize(720, 640)
        self._enable()
        self._load_choices()

    # -- choices, loaded off the GUI thread ------------------------------------------------
    def _load_choices(self) -> None:
        db = self.ctx.db

        def load() -> tuple[list[str], list[Any], mail_settings.MailSettings]:
            return (
                customers.distinct_segments(db),
                users.list_collectors(db),
                mail_settings.load_mail_settings(db),
            )

        def show(loaded: tuple[list[str], list[Any], mail_settings.MailSettings]) -> None:
            segments, collectors, settings = loaded
            self.segment.clear()
            self.segment.addItems(segments)
            self.collector.clear()
            for user in collectors:
                self.collector.addItem(user.display_name, user.id)
            if settings.configured:
                self.email_note.setText(f"Sent through {settings.describe()}")
            else:
                self.email_note.setText("E-mail is not set up: File → Settings → E-mail (SMTP).")
                self.use_email.setChecked(False)
            self.use_email.setEnabled(settings.configured)
            self._enable()

        workers.submit(load, owner=self, on_done=show, on_failed=lambda e: show_error(self, e))

    def _enable(self) -> None:
        running = self.runner.running
        activity = self.kind.currentData() == "activity"
        self.period_from.setEnabled(activity and not running)
        self.from_label.setEnabled(activity)
        self.min_balance.setEnabled(self.use_balance.isChecked())
        self.segment.setEnabled(self.use_segment.isChecked() and self.segment.count() > 0)
        self.collector.setEnabled(self.use_collector.isChecked() and self.collector.count() > 0)
        self.numbers.setEnabled(self.use_numbers.isChecked())
        self.combined.setEnabled(self.use_combined.isChecked())
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the statements", self.out_dir.text()
        )
        if folder:
            self.out_dir.setText(folder)

    # -- the run ---------------------------------------------------------------------------
    def options(self) -> BatchOptions:
        """The dialog's values, or ValidationFailed naming each one that will not do."""
        problems: list[FieldProblem] = []
        min_balance = None
        if self.use_balance.isChecked():
            try:
                min_balance = parse_amount(self.min_balance.text())
            except ValueError as exc:
                problems.append(
                    FieldProblem("balance above", str(exc), value=self.min_balance.text())
                )
        numbers = split_numbers(self.numbers.text()) if self.use_numbers.isChecked() else []
        if self.use_numbers.isChecked() and not numbers:
            problems.append(FieldProblem("only these customers", "type at least one number"))
        if self.use_segment.isChecked() and not self.segment.currentText():
            problems.append(FieldProblem("segment", "no segment to choose"))
        if self.use_collector.isChecked() and self.collector.currentData() is None:
            problems.append(FieldProblem("collector", "no collector to choose"))
        folder = self.out_dir.text().strip()
        if not folder:
            problems.append(FieldProblem("folder", "choose where the statements go"))
        pattern = self.pattern.text().strip()
        if not pattern:
            problems.append(FieldProblem("file names", "required, e.g. {customer}-{date}.pdf"))
        as_of = _date(self.as_of)
        combined = None
        if self.use_combined.isChecked():
            text = self.combined.text().strip()
            combined = Path(text) if text else Path(folder) / f"statements-{as_of}.pdf"
        if problems:
            raise ValidationFailed(problems, "Statements batch")
        return BatchOptions(
            as_of=as_of,
            kind=self.kind.currentData(),
            period_from=_date(self.period_from) if self.kind.currentData() == "activity" else None,
            min_balance=min_balance,
            segment=self.segment.currentText() if self.use_segment.isChecked() else None,
            collector_id=self.collector.currentData() if self.use_collector.isChecked() else None,
            numbers=numbers,
            out_dir=Path(folder),
            name_pattern=pattern,
            combined=combined,
            email=self.use_email.isChecked(),
        )

    def run(self) -> None:
        try:
            options = self.options()
        except ValidationFailed as exc:
            show_error(self, exc)
            return
        ctx, runner = self.ctx, self.runner

        def job(task: workers.Task) -> BatchOutcome:
            picked = customer_ids_for(ctx.db, options.numbers) if options.numbers else None
            selection = statements.BatchSelection(
                min_balance=options.min_balance,
                segment=options.segment,
                collector_id=options.collector_id,
                customer_ids=picked,
            )
            ids = statements.select_customers(ctx.db, selection, options.as_of)
            if not ids:
                raise O2CError("No customer matches the conditions: nothing was written.")
            batch = statements.run_batch(
                ctx.db,
                ctx.actor,
                as_of=options.as_of,
                kind=options.kind,  # type: ignore[arg-type]
                period_from=options.period_from,
                customer_ids=ids,
                out_dir=options.out_dir,
                name_pattern=options.name_pattern,
                combined=options.combined,
                progress=task.report,
                cancelled=task.cancelled,
            )
            outcome = BatchOutcome(len(ids), batch)
            if options.email and not batch.cancelled and batch.files:
                runner.phase = "E-mail"
                started = time.perf_counter()
                settings = mail_settings.load_mail_settings(ctx.db)
                outcome.mails = statement_mail.send_batch(
                    ctx.db,
                    ctx.actor,
                    settings,
                    batch.files,
                    as_of=options.as_of,
                    kind=options.kind,
                    progress=task.report,
                    cancelled=task.cancelled,
                )
                outcome.mail_cancelled = len(outcome.mails) < len(batch.files)
                outcome.mail_seconds = time.perf_counter() - started
            return outcome

        def done(outcome: BatchOutcome) -> None:
            self.outcome = outcome
            runner.finish(summary_text(outcome, options.email), outcome.batch.cancelled)
            for customer_id in {f.customer_id for f in outcome.batch.files}:
                ctx.signals.customer_changed.emit(customer_id)

        runner.start(job, done, phase="Statements", status="Choosing the customers…")

    def reject(self) -> None:
        """Escape or Close while running cancels first; the dialog closes once it stopped."""
        if self.runner.running:
            self.runner.cancel()
            return
        super().reject()
