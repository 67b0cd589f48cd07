"""Dashboard: the department's numbers for a period (DSO, best possible DSO, ADD, CEI,
countback DSO, % overdue, disputed) and three charts: aging, DSO by month, top 10 overdue."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import aging, kpis
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.widgets.charts import BarChart, HorizontalBarChart, LineChart, Point
from o2c_desktop.ui.widgets.messages import show_error

TILES = (
    ("dso", "DSO", "days"),
    ("best_possible_dso", "Best possible DSO", "days"),
    ("add", "ADD", "days"),
    ("cei", "CEI", "%"),
    ("countback_dso", "Countback DSO", "days"),
    ("percent_overdue", "Overdue", "%"),
    ("disputed_amount", "Disputed", "money"),
    ("ar_total", "AR", "money"),
)


def last_quarter(today: date) -> tuple[date, date]:
    """The last full calendar quarter before today."""
    first_this = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = first_this - timedelta(days=1)
    return date(end.year, end.month - 2, 1), end


class Tile(QFrame):
    def __init__(self, title: str, parent: Any = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.value = QLabel("–")
        self.value.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight)
        caption = QLabel(title)
        caption.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.addWidget(caption)
        layout.addWidget(self.value)


class DashboardScreen(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        start, end = last_quarter(date.today())
        self.date_from = QDateEdit(QDate(start), calendarPopup=True, objectName="kpiFrom")
        self.date_to = QDateEdit(QDate(end), calendarPopup=True, objectName="kpiTo")
        self.currency = QComboBox(objectName="kpiCurrency")
        self.currency.setToolTip("Figures in different currencies are never added together")
        self.show_button = QPushButton("Show")
        self.status = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Period"))
        top.addWidget(self.date_from)
        top.addWidget(QLabel("to"))
        top.addWidget(self.date_to)
        top.addWidget(self.currency)
        top.addWidget(self.show_button)
        top.addWidget(self.status, 1)
        self.tiles = {key: Tile(title) for key, title, _unit in TILES}
        tiles = QGridLayout()
        for i, (key, _title, _unit) in enumerate(TILES):
            tiles.addWidget(self.tiles[key], i // 4, i % 4)
        self.aging_chart = BarChart("Aging by bucket (today)", formatting.amount)
        self.dso_chart = LineChart("DSO, last 12 months", lambda v: f"{v:.0f}")
        self.top_chart = HorizontalBarChart("Top 10 overdue customers", formatting.amount)
        charts = QGridLayout()
        charts.addWidget(self.aging_chart, 0, 0)
        charts.addWidget(self.dso_chart, 0, 1)
        charts.addWidget(self.top_chart, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(tiles)
        layout.addLayout(charts, 1)
        self.show_button.clicked.connect(self.refresh)
        self.currency.activated.connect(lambda _i: self.refresh())
        self.loaded = False
        self.refresh()

    def refresh(self) -> None:
        ctx = self.ctx
        date_from, date_to = self.date_from.date().toPython(), self.date_to.date().toPython()
        today = date.today()
        wanted = self.currency.currentData()
        self.status.setText("Computing…")

        def load() -> tuple[Any, ...]:
            known = kpis.currencies(ctx.db, ctx.actor)
            if not known:
                return known, None, None, [], []
            chosen = wanted if wanted in known else ("EUR" if "EUR" in known else known[0])
            return (
                known,
                kpis.kpis(ctx.db, ctx.actor, date_from, date_to, chosen),
                aging.aging(ctx.db, ctx.actor, today, include_customers=False),
                kpis.dso_series(ctx.db, ctx.actor, 12, today, chosen),
                kpis.top_overdue(ctx.db, ctx.actor, today, 10, chosen),
            )

        workers.submit(load, owner=self, on_done=self._show, on_failed=self._failed)

    def _failed(self, error: Exception) -> None:
        self.status.setText("")
        show_error(self, error)

    def _show(self, loaded: tuple[Any, ...]) -> None:
        known, figures, report, series, top = loaded
        self.loaded = True
        self.currency.blockSignals(True)
        self.currency.clear()
        for code in known:
            self.currency.addItem(code, code)
        if figures is not None:
            self.currency.setCurrentIndex(self.currency.findData(figures.currency))
        self.currency.blockSignals(False)
        if figures is None:
            self.status.setText("No ledger yet: import invoices and payments to see figures.")
            return
        self.status.setText(
            f"{figures.currency}, {formatting.day(figures.date_from)} – "
            f"{formatting.day(figures.date_to)} ({figures.days} days)"
        )
        for key, _title, unit in TILES:
            value: Decimal | None = getattr(figures, key)
            if value is None:
                text = "n/a"
            elif unit == "money":
                text = formatting.money(value, figures.currency)
            elif unit == "%":
                text = f"{formatting.amount(value)} %"
            else:
                text = formatting.amount(value)
            self.tiles[key].value.setText(text)
        first = next((c for c in report.currencies if c.currency == figures.currency), None)
        self.aging_chart.set_points(
            [
                Point(b.label, v)
                for b, v in zip(report.buckets, first.buckets if first else (), strict=False)
            ]
        )
        self.dso_chart.set_points(
            [Point(p.month_start.strftime("%b"), p.dso or Decimal(0)) for p in series]
        )
        self.top_chart.set_points([Point(f"{c.number} {c.name}", c.overdue) for c in top])
