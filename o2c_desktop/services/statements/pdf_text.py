"""Text on a statement's or a letter's page: cut to fit, right-aligned, or wrapped to the frame.

Why not Paragraph: a month-end batch sets a few hundred thousand blocks of text, each in one
font; `Text` wraps with simpleSplit and draws one text object, at a fraction of Paragraph's cost,
and cells and page furniture never wrap at all (`fit` cuts them with an ellipsis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

from o2c_desktop.services.statements.layout import MUTED
from o2c_desktop.services.statements.pdf_assets import REGULAR


def fit(text: str, font: str, size: float, width: float) -> str:
    """Cut `text` with an ellipsis so it fits `width` points (cells never wrap)."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def draw_right(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    """`text` ending at `x` (amounts, the company's address block)."""
    canvas.setFont(font, size)
    canvas.drawRightString(x, y, text)


@dataclass(frozen=True)
class Style:
    font: str
    size: float
    leading: float
    color: Any
    space_before: float = 0.0


NOTE = Style(REGULAR, 7.4, 10, MUTED)  # the small print under a table


class Text(Flowable):
    """Plain text wrapped to the frame: what Paragraph does for one font, at a fraction of its
    cost (a batch sets a few hundred thousand of these)."""

    def __init__(self, text: str, style: Style):
        super().__init__()
        self.text, self.style = text, style
        self.lines: list[str] = []

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        self.lines = simpleSplit(self.text, self.style.font, self.style.size, available_width)
        return available_width, self.style.space_before + len(self.lines) * self.style.leading

    def draw(self) -> None:
        style, canvas = self.style, self.canv
        text = canvas.beginText(0, len(self.lines) * style.leading - style.size)
        text.setFont(style.font, style.size, style.leading)
        text.setFillColor(style.color)
        for line in self.lines:
            text.textLine(line)
        canvas.drawText(text)


__all__ = ["NOTE", "Style", "Text", "draw_right", "fit"]
