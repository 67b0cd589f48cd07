"""A long run on a worker, shown in place: a progress bar, a status line, Cancel, and a summary
that stays afterwards so failures and their reasons can be read (and copied) at leisure.

The statements batch and the production of dunning letters run this way. The owner lays out
`progress`, `summary` and `cancel_button`, starts the job and says what its result means; the
run keeps the bar, the status line and the buttons in step, and reports a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QPushButton, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.ui import workers
from o2c_desktop.ui.widgets.messages import show_error


class BatchRun:
    """One run at a time; `phase` names what `task.report` counts ("Letters", "E-mail")."""

    def __init__(
        self,
        owner: QWidget,
        status: QLabel,
        name: str,
        placeholder: str,
        enable: Callable[[], None],
    ) -> None:
        """`name` prefixes the widgets' object names; `enable` updates the owner's buttons
        whenever a run starts or ends."""
        self.owner, self.status, self.enable = owner, status, enable
        self.task: workers.Task | None = None
        self.phase = ""
        self.progress = QProgressBar(objectName=f"{name}Progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v of %m")
        self.summary = QPlainTextEdit(objectName=f"{name}Summary", readOnly=True)
        self.summary.setPlaceholderText(placeholder)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.task is not None

    def start(
        self,
        job: Callable[[workers.Task], Any],
        on_done: Callable[[Any], None],
        *,
        phase: str,
        status: str,
        expected: int = 1,
    ) -> None:
        """Run `job(task)` on a worker. `on_done(result)` runs on the GUI thread once the run is
        over and calls `finish` with the summary; a failure is shown and summarised here."""
        self.phase = phase
        self.summary.clear()
        self.progress.setMaximum(max(expected, 1))
        self.progress.setValue(0)
        self.status.setText(status)

        def done(result: Any) -> None:
            self.task = None
            on_done(result)

        self.task = workers.submit(
            job,
            owner=self.owner,
            with_task=True,
            on_done=done,
            on_failed=self._failed,
            on_progress=self._progress,
        )
        self.enable()

    def finish(self, summary: str, cancelled: bool) -> None:
        """The run's outcome, for `on_done` to report."""
        self.summary.setPlainText(summary)
        self.status.setText("Cancelled." if cancelled else "Done.")
        self.enable()

    def cancel(self) -> None:
        """Ask the job to stop; it stops at its next check and reports what it did."""
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.status.setText(f"{self.phase}: {done:,} of {total:,}")

    def _failed(self, error: O2CError) -> None:
        self.task = None
        self.status.setText("Stopped.")
        self.summary.setPlainText(str(error))
        self.enable()
        show_error(self.owner, error)
