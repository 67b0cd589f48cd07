"""A table of plain-text rows for statements, drawn straight on the canvas.

Why not platypus's Table: it lays out every cell through its style machinery (about a third of
a one-page statement's time, 0.3 ms per row of a long one); statements need only fixed-height
rows of single-line text. This flowable draws the same look (brand-coloured header repeated on
every page, zebra rows, amounts right-aligned, a bold closing row under a rule) with one text
object per page, and splits between rows; the closing row never stands alone on a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable

PAD_X = 3.5
PAD_BOTTOM = 3.9  # baseline above the row's bottom edge


@dataclass(frozen=True)
class Column:
    width: float
    right: bool = False  # amounts and numbers
    size: float | None = None  # a smaller font for this column's cells (notes)


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]
    bold: bool = False
    colors: Mapping[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Look:
    """Fonts and colours of a table."""

    regular: str
    bold: str
    size: float
    ink: Any
    header_ink: Any
    header_fill: Any
    zebra: Any
    rule: Any

    @property
    def row_height(self) -> float:
        return self.size + 5.4


class RowsTable(Flowable):
    """Header, rows, and an optional closing row (bold, under a rule)."""

    def __init__(
        self,
        columns: Sequence[Column],
        header: Sequence[str],
        rows: Sequence[Row],
        look: Look,
        closing: Row | None = None,
        first_index: int = 0,
    ):
        super().__init__()
        self.columns, self.header, self.rows = columns, header, rows
        self.look, self.closing, self.first_index = look, closing, first_index
        self.width = sum(c.width for c in columns)
        lines = max(len(text.split("\n")) for text in header)
        self.header_height = lines * (look.size + 0.6) + 7.6

    def _height(self) -> float:
        count = len(self.rows) + (1 if self.closing is not None else 0)
        return self.header_height + count * self.look.row_height

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.height = self._height()
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        fits = int((available_height - self.header_height) // self.look.row_height)
        keep = min(fits, len(self.rows))
        if keep == len(self.rows) and self.closing is not None:
            keep -= 1  # the closing row takes at least one row along to the next page
        if keep < 1:
            return []
        args = (self.columns, self.header)
        return [
            RowsTable(*args, self.rows[:keep], self.look, None, self.first_index),
            RowsTable(*args, self.rows[keep:], self.look, self.closing, self.first_index + keep),
        ]

    def draw(self) -> None:
        canvas, look = self.canv, self.look
        top = self._height()
        step = look.row_height
        canvas.saveState()
        canvas.setFillColor(look.header_fill)
        canvas.rect(0, top - self.header_height, self.width, self.header_height, stroke=0, fill=1)
        canvas.setFillColor(look.zebra)
        for k in range(len(self.rows)):
            if (self.first_index + k) % 2:
                y = top - self.header_height - (k + 1) * step
                canvas.rect(0, y, self.width, step, stroke=0, fill=1)
        text = canvas.beginText()
        state: list[Any] = [None, None, None]  # font, size, colour in the text object

        def put(value: str, column: int, baseline: float, font: str, size: float, ink: Any):
            if not value:
                return
            if state[0] != font or state[1] != size:
                text.setFont(font, size)
                state[0], state[1] = font, size
            if state[2] is not ink:
                text.setFillColor(ink)
                state[2] = ink
            left = sum(c.width for c in self.columns[:column])
            spec = self.columns[column]
            x = left + PAD_X
            if spec.right:
                x = left + spec.width - PAD_X - stringWidth(value, font, size)
            text.setTextOrigin(x, baseline)
            text.textOut(value)

        lines = [h.split("\n") for h in self.header]
        most = max(len(parts) for parts in lines)
        header_size = look.size - 0.4
        for column, parts in enumerate(lines):
            for k, part in enumerate(parts):
                # Vertically centred as a block; a one-line heading sits on the last line.
                baseline = top - self.header_height + 4.4 + (len(parts) - 1 - k) * (look.size + 0.6)
                baseline += (most - len(parts)) * (look.size + 0.6) / 2
                put(part, column, baseline, look.bold, header_size, look.header_ink)
        y = top - self.header_height
        for row in self.rows:
            y -= step
            self._put_row(put, row, y)
        if self.closing is not None:
            y -= step
            self._put_row(put, self.closing, y)
        canvas.drawText(text)
        if self.closing is not None:
            canvas.setStrokeColor(look.rule)
            canvas.setLineWidth(0.6)
            canvas.line(0, step, self.width, step)
        canvas.setStrokeColor(look.rule)
        canvas.setLineWidth(0.8)
        canvas.line(0, 0, self.width, 0)
        canvas.restoreState()

    def _put_row(self, put: Any, row: Row, bottom: float) -> None:
        look = self.look
        font = look.bold if row.bold else look.regular
        for column, value in enumerate(row.cells):
            spec = self.columns[column]
            size = spec.size or look.size
            if row.bold:
                size = look.size + 0.4
            ink = row.colors.get(column, look.ink)
            put(value, column, bottom + PAD_BOTTOM, font, size, ink)
