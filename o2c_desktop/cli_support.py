"""What the command-line commands (report, statements, calllist, dunning) share: dates and
amounts as options and output write them, aligned tables for people, CSV, a progress line, and
Ctrl+C that stops a long run between steps.

Why one module: each command prints for scripts and for people in the same style, so a date
option, an amount or a table reads the same whichever command wrote it. Nothing here imports
ReportLab or the services, so it costs nothing at start-up.
"""

from __future__ import annotations

import csv
import signal
import threading
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, TextIO

from o2c_desktop.errors import O2CError
from o2c_desktop.money import amount_text, money_text


def parse_date(option: str, value: str) -> date:
    """An ISO date (YYYY-MM-DD) or "today", in the years the app accepts (services.day_range:
    a report works out other days from it, and 0001-01-01 would end in an OverflowError);
    anything else is one clear error naming the option."""
    from o2c_desktop.services import day_range  # a few lines, no database: see its docstring

    text = value.strip()
    if text.lower() == "today":
        return date.today()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise O2CError(f"{option} {value!r} is not a date; expected YYYY-MM-DD") from None
    if not day_range.in_range(day):
        raise O2CError(f"{option} {value!r} is out of range; expected {day_range.RANGE_TEXT}")
    return day


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis, so a long name keeps a table narrow."""
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    stream: TextIO,
    *,
    right: Container[int] = (),
) -> None:
    """Columns padded to their widest cell, the columns in `right` (amounts, numbers)
    right-aligned, a dashed line under the header, no trailing blanks."""
    widths = [len(h) for h in header]
    for row in rows:
        for k, cell in enumerate(row):
            widths[k] = max(widths[k], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
            for k, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    stream.write(line(header) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write(line(row) + "\n")


def csv_writer(stream: TextIO) -> Any:
    """A CSV writer with Unix line ends (the csv module writes \\r\\n by default)."""
    return csv.writer(stream, lineterminator="\n")


class Progress:
    """A progress line on stderr, rewritten in place (only on a terminal)."""

    def __init__(self, err: TextIO, what: str):
        self.err, self.what = err, what
        self.shown = err.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.shown:
            print(f"\r{done:,} / {total:,} {self.what}", end="", file=self.err, flush=True)

    def clear(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=self.err, flush=True)


def interruptible() -> tuple[Callable[[], bool], Callable[[], None]]:
    """Ctrl+C asks a long run to stop between steps instead of killing it mid-write; a second
    Ctrl+C interrupts at once. Returns (cancelled, restore)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return stop.is_set, lambda: None
    previous: Any = signal.getsignal(signal.SIGINT)

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    return stop.is_set, lambda: signal.signal(signal.SIGINT, previous)


@contextmanager
def long_run(err: TextIO, what: str) -> Iterator[tuple[Progress, Callable[[], bool]]]:
    """(progress, cancelled) for one long run: a progress line counting `what` and Ctrl+C
    that stops between steps, both undone when the run ends, however it ends."""
    progress = Progress(err, what)
    cancelled, restore = interruptible()
    try:
        yield progress, cancelled
    finally:
        restore()
        progress.clear()


__all__ = [
    "Progress",
    "amount_text",
    "clip",
    "csv_writer",
    "interruptible",
    "long_run",
    "money_text",
    "parse_date",
    "print_table",
]
