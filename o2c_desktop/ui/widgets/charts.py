"""Small charts drawn with QPainter: bars (aging, top overdue) and a line (DSO by month).

Qt's chart module is not in PySide6-Essentials; these two shapes are all the dashboard needs,
and a painted widget stays fast and prints the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#2e7d32", "#9ccc65", "#fbc02d", "#fb8c00", "#e53935", "#8e24aa", "#3949ab")


@dataclass(frozen=True)
class Point:
    label: str
    value: Decimal


class _Chart(QWidget):
    def __init__(self, title: str, fmt: Callable[[Decimal], str], parent: Any = None):
        super().__init__(parent)
        self.title = title
        self.fmt = fmt
        self.points: list[Point] = []
        self.setMinimumSize(QSize(320, 220))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_points(self, points: Sequence[Point]) -> None:
        self.points = list(points)
        self.setToolTip("\n".join(f"{p.label}: {self.fmt(p.value)}" for p in self.points))
        self.update()

    def _frame(self, painter: QPainter) -> QRectF:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        title_font = QFont(self.font())
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(self.palette().text().color())
        painter.drawText(
            QRectF(8, 4, self.width() - 16, 22), Qt.AlignmentFlag.AlignLeft, self.title
        )
        painter.setFont(self.font())
        return QRectF(12, 32, self.width() - 24, self.height() - 70)


class BarChart(_Chart):
    """Vertical bars with the value above each bar and the label below (aging buckets)."""

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        area = self._frame(painter)
        if not self.points:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No data")
            return
        top = max((p.value for p in self.points), default=Decimal(0))
        scale = float(top) if top > 0 else 1.0
        slot = area.width() / len(self.points)
        for i, point in enumerate(self.points):
            share = max(float(point.value), 0.0) / scale
            height = share * (area.height() - 20)
            bar = QRectF(
                area.left() + i * slot + slot * 0.15, area.bottom() - height, slot * 0.7, height
            )
            painter.fillRect(bar, QColor(PALETTE[min(i, len(PALETTE) - 1)]))
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(bar.left() - 20, bar.top() - 18, bar.width() + 40, 16),
                Qt.AlignmentFlag.AlignCenter,
                self.fmt(point.value),
            )
            painter.drawText(
                QRectF(area.left() + i * slot, area.bottom() + 4, slot, 32),
                Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap,
                point.label,
            )


class HorizontalBarChart(_Chart):
    """Ranked horizontal bars with labels on the left (top overdue customers)."""

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        area = self._frame(painter)
        area.setBottom(self.height() - 8)
        if not self.points:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No data")
            return
        top = max((p.value for p in self.points), default=Decimal(0))
        scale = float(top) if top > 0 else 1.0
        row = area.height() / len(self.points)
        label_width = min(area.width() * 0.4, 220)
        value_width = 90
        for i, point in enumerate(self.points):
            y = area.top() + i * row
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(area.left(), y, label_width - 6, row),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                painter.fontMetrics().elidedText(
                    point.label, Qt.TextElideMode.ElideRight, int(label_width - 6)
                ),
            )
            width = (area.width() - label_width - value_width) * max(float(point.value), 0) / scale
            painter.fillRect(
                QRectF(area.left() + label_width, y + row * 0.2, width, row * 0.6),
                QColor(PALETTE[4]),
            )
            painter.drawText(
                QRectF(area.left() + label_width + width + 4, y, value_width, row),
                Qt.AlignmentFlag.AlignVCenter,
                self.fmt(point.value),
            )


class LineChart(_Chart):
    """A line with dots and month labels (DSO over the last 12 months)."""

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        area = self._frame(painter)
        if not self.points:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No data")
            return
        area.adjust(26, 0, -26, 0)  # room for the first and last labels
        values = [float(p.value) for p in self.points]
        low, high = min(0.0, *values), max(values) or 1.0
        span = (high - low) or 1.0
        step = area.width() / max(len(values) - 1, 1)

        def at(i: int, v: float) -> QPointF:
            return QPointF(
                area.left() + i * step, area.bottom() - (v - low) / span * (area.height() - 20)
            )

        grid = QPen(QColor("#dddddd"))
        painter.setPen(grid)
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        path = QPainterPath(at(0, values[0]))
        for i, v in enumerate(values[1:], start=1):
            path.lineTo(at(i, v))
        painter.setPen(QPen(QColor("#1f4e79"), 2))
        painter.drawPath(path)
        for i, (point, v) in enumerate(zip(self.points, values, strict=True)):
            dot = at(i, v)
            painter.setBrush(QColor("#1f4e79"))
            painter.drawEllipse(dot, 3, 3)
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(dot.x() - 30, dot.y() - 20, 60, 16),
                Qt.AlignmentFlag.AlignCenter,
                self.fmt(point.value),
            )
            painter.drawText(
                QRectF(dot.x() - 30, area.bottom() + 4, 60, 16),
                Qt.AlignmentFlag.AlignCenter,
                point.label,
            )
            painter.setPen(QPen(QColor("#1f4e79"), 2))
