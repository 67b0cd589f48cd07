"""Column descriptions shared by the table models: title, value, how to show it, alignment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Any], Any]  # raw value: sorting, export
    text: Callable[[Any], str] | None = None  # display text; default str(value)
    numeric: bool = False  # right-aligned

    def display(self, row: Any) -> str:
        raw = self.value(row)
        if self.text is not None:
            return self.text(row)
        if raw is None:
            return ""
        if isinstance(raw, bool):
            return "Yes" if raw else ""
        return str(raw)
