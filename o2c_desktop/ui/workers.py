"""Run service calls off the GUI thread and hand the result back on it.

Each task opens its own database session (services do), so no session crosses threads. Results
and errors arrive through queued signals; the window never waits on the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from o2c_desktop.errors import Cancelled, O2CError

log = logging.getLogger(__name__)
_running: set[Task] = set()  # keeps tasks (and their emitters) alive until they report


class _Emitter(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(int, int)


class Task(QRunnable):
    """One background call. `fn` receives `task` first when `with_task=True`, to report progress
    (`task.report(done, total)`) and poll `task.cancelled()`."""

    def __init__(self, fn: Callable[..., Any], *args: Any, with_task: bool = False):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.with_task = fn, args, with_task
        self.emitter = _Emitter()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def report(self, done: int, total: int) -> None:
        self.emitter.progress.emit(done, total)

    def run(self) -> None:
        try:
            args = (self, *self.args) if self.with_task else self.args
            result = self.fn(*args)
        except O2CError as exc:
            self.emitter.failed.emit(exc)
        except Exception as exc:
            log.exception("background task failed")
            self.emitter.failed.emit(O2CError(f"Unexpected error: {type(exc).__name__}: {exc}"))
        else:
            self.emitter.done.emit(result)


def submit(
    fn: Callable[..., Any],
    *args: Any,
    owner: QObject | None = None,
    on_done: Callable[[Any], None] | None = None,
    on_failed: Callable[[O2CError], None] | None = None,
    with_task: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Task:
    """Run `fn(*args)` in the pool; `on_done`/`on_failed` run on the GUI thread afterwards,
    unless `owner` (the widget or model that asked) has been deleted in the meantime."""
    task = Task(fn, *args, with_task=with_task)

    def finish(handler: Callable[[Any], None] | None, value: Any) -> None:
        _running.discard(task)
        if handler is not None and (owner is None or shiboken6.isValid(owner)):
            handler(value)

    task.emitter.done.connect(lambda value: finish(on_done, value))
    task.emitter.failed.connect(lambda error: finish(on_failed, error))
    if on_progress is not None:
        task.emitter.progress.connect(on_progress)
    _running.add(task)
    QThreadPool.globalInstance().start(task)
    return task


def wait_for_all(timeout_ms: int = 30_000) -> bool:
    """Block until every task has finished (application exit, tests)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)


def run_with_progress(
    parent: QWidget | None,
    title: str,
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None],
    on_failed: Callable[[O2CError], None],
) -> Task:
    """Long work with a progress bar and a Cancel button; `fn(task, *args)` reports progress."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def progress(done: int, total: int) -> None:
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, max(total, 1)))
        dialog.setLabelText(f"{title}: {done:,} of {total:,}")

    def done(result: Any) -> None:
        dialog.close()
        on_done(result)

    def failed(error: O2CError) -> None:
        dialog.close()
        if not isinstance(error, Cancelled):
            on_failed(error)

    task = submit(fn, *args, with_task=True, on_done=done, on_failed=failed, on_progress=progress)
    dialog.canceled.connect(task.cancel)
    dialog.show()
    return task


def export_in_background(
    parent: QWidget,
    path: str,
    title: str,
    columns: Sequence[Any],
    batches: Callable[[], Iterable[Sequence[Any]]],
    total: int | None,
) -> Task:
    """Export a whole query (not only the rows loaded on screen) with progress and Cancel.

    `batches()` runs on the worker and yields lists of row objects; `columns` turn each row into
    raw values (Decimal, date), so the file keeps exact amounts.
    """
    from o2c_desktop.services.export import export_table
    from o2c_desktop.ui.widgets.messages import show_error, show_info

    headers = [c.title for c in columns]

    def run(task: Task) -> int:
        rows = ([[c.value(row) for c in columns] for row in batch] for batch in batches())
        return export_table(
            path, headers, rows, total=total, progress=task.report, cancelled=task.cancelled
        )

    return run_with_progress(
        parent,
        title,
        run,
        on_done=lambda n: show_info(parent, f"Exported {n:,} rows to {path}."),
        on_failed=lambda error: show_error(parent, error),
    )
