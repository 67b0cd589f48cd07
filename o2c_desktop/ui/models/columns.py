"""Column descriptions shared by the table models: title, value, how to show it, alignment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt

RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Any]  # raw value: sorting, export
    text: Callable[[Any], str] | None = None  # display text; default str(value)
    numeric: bool = False  # right-aligned
    tooltip: Callable[[Any], str] | None = None

    def display(self, row: Any) -> str:
        raw = self.value(row)
        if self.text is not None:
            return self.text(row)
        if raw is None:
            return ""
        if isinstance(raw, bool):
            return "Yes" if raw else ""
        return str(raw)


def header_data(
    columns: Sequence[Column], section: int, orientation: Qt.Orientation, role: int
) -> Any:
    """Column titles for a horizontal header, right-aligned over numbers."""
    if orientation == Qt.Orientation.Horizontal and 0 <= section < len(columns):
        if role == Qt.ItemDataRole.DisplayRole:
            return columns[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole and columns[section].numeric:
            return RIGHT
    return None
