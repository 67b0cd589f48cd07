"""Export the rows a screen shows (as filtered and sorted there) to a workbook or CSV, in the
background with progress and Cancel: the file chooser, then `workers.export_in_background` with
the screen's export columns (raw values: Decimal amounts beside their currency, dates as dates).
Every list screen that holds its rows in a model exports this way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import QWidget

from o2c_desktop.ui import workers
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.messages import ask_export_path


def export_shown_rows(
    parent: QWidget, suggested: str, title: str, columns: Sequence[Column], rows: Sequence[Any]
) -> workers.Task | None:
    """Ask where (`suggested`: the file name offered), then export; None when cancelled."""
    path = ask_export_path(parent, suggested)
    return export_rows_to(parent, path, title, columns, rows) if path else None


def export_rows_to(
    parent: QWidget, path: str, title: str, columns: Sequence[Column], rows: Sequence[Any]
) -> workers.Task:
    """Export `rows` as they are now (a copy: the screen may reload meanwhile) to `path`."""
    shown = list(rows)
    return workers.export_in_background(parent, path, title, columns, lambda: [shown], len(shown))
