"""Collector results: each collector's calls, contacts, promises, cash and overdue for a period,
in one currency, with CEI; and, for the selected collector, the last twelve months as charts
(cash collected, overdue at month end, promises kept rate), so a manager sees the trend behind a
figure. The table filters, sorts and exports (CSV/XLSX) like every other table.

The figures come from services.collector_results (grouped SQL per collector); a collector
without VIEW_ALL_PORTFOLIOS sees only their own row.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QGridLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import collector_results, kpis
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.screens.dashboard import last_quarter
from o2c_desktop.ui.widgets.charts import LineChart, Point
from o2c_desktop.ui.widgets.layouts import toolbar
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

THIS_MONTH, LAST_MONTH, LAST_QUARTER, CUSTOM = "this_month", "last_month", "last_quarter", "custom"
PERIODS = (
    (THIS_MONTH, "This month"),
    (LAST_MONTH, "Last month"),
    (LAST_QUARTER, "Last quarter"),
    (CUSTOM, "Custom period"),
)
CHART_MONTHS = 12


def period_for(choice: str, today: date) -> tuple[date, date] | None:
    """The dates of a quick pick (this month runs to today); None for a custom period."""
    if choice == THIS_MONTH:
        return today.replace(day=1), today
    if choice == LAST_MONTH:
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if choice == LAST_QUARTER:
        return last_quarter(today)
    return None


def percent_text(value: Decimal | None) -> str:
    """Rates and CEI are percentages already (0–100), rounded by the service."""
    return "n/a" if value is None else f"{formatting.amount(value)} %"


def compact(value: Decimal) -> str:
    """Short chart labels: 1,234 → 1.2k, 2,500,000 → 2.5M (the table has the exact figure)."""
    size = abs(value)
    if size >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if size >= 10_000:
        return f"{value / 1000:.0f}k"
    if size >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def _money(key: str, title: str, tip: str) -> Column:
    return Column(
        key,
        title,
        lambda r: getattr(r, key),
        lambda r: formatting.amount(getattr(r, key)),
        numeric=True,
        tooltip=lambda _r: tip,
    )


def _rate(key: str, title: str, tip: str) -> Column:
    return Column(
        key,
        title,
        lambda r: getattr(r, key),
        lambda r: percent_text(getattr(r, key)),
        numeric=True,
        tooltip=lambda _r: tip,
    )


COLUMNS = (
    Column("collector", "Collector", lambda r: r.collector),
    Column("calls", "Calls", lambda r: r.calls, numeric=True),
    Column("contacts", "Contacts", lambda r: r.contacts, numeric=True),
    _rate("contact_rate", "Contact rate", "Calls in which someone was reached, of all calls"),
    Column("promises_made", "Promises", lambda r: r.promises_made, numeric=True),
    _money("promised_amount", "Promised", "Amount of the promises made in the period"),
    Column("kept", "Kept", lambda r: r.kept, numeric=True),
    Column("broken", "Broken", lambda r: r.broken, numeric=True),
    _rate("kept_rate", "Kept rate", "Kept of kept + broken, among promises due in the period"),
    _money("cash_collected", "Cash collected", "Payments of the portfolio's customers"),
    _money("overdue_start", "Overdue at start", "Undisputed overdue the day before the period"),
    _money("overdue_end", "Overdue at end", "Undisputed overdue on the last day"),
    _rate("cei", "CEI", "Collection effectiveness index over the portfolio"),
)


class CollectorResultsScreen(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.today = today or date.today()
        self.loaded = False
        self.chart_loaded = False
        self.results: list[collector_results.CollectorResult] = []
        self.months: list[tuple[date, collector_results.CollectorResult]] = []
        self._generation = 0
        self._chart_generation = 0
        start, end = period_for(LAST_MONTH, self.today) or (self.today, self.today)
        self.quick = QComboBox(objectName="resultsPeriod")
        for key, label in PERIODS:
            self.quick.addItem(label, key)
        self.quick.setCurrentIndex(self.quick.findData(LAST_MONTH))
        self.date_from = QDateEdit(QDate(start), calendarPopup=True, objectName="resultsFrom")
        self.date_to = QDateEdit(QDate(end), calendarPopup=True, objectName="resultsTo")
        for edit in (self.date_from, self.date_to):
            edit.setDisplayFormat("yyyy-MM-dd")
        self.currency = QComboBox(objectName="resultsCurrency")
        self.currency.setToolTip("Money in one currency at a time; counts include every currency")
        self.show_button = QPushButton("&Show")
        self.status = QLabel(objectName="resultsStatus")
        top = toolbar(
            self.quick,
            self.date_from,
            "to",
            self.date_to,
            self.currency,
            self.show_button,
            (self.status, 1),
        )

        self.table = TablePanel(COLUMNS, "collector-results", self)
        self.table.view.setObjectName("resultsTable")
        self.chart_title = QLabel(objectName="resultsChartTitle")
        self.chart_title.setStyleSheet("font-weight: 600;")
        self.cash_chart = LineChart("Cash collected", compact)
        self.overdue_chart = LineChart("Overdue at month end", compact)
        self.kept_chart = LineChart("Promises kept rate (%)", lambda v: f"{v:.0f}")
        charts_host = QWidget()
        charts = QGridLayout(charts_host)
        charts.setContentsMargins(0, 0, 0, 0)
        charts.addWidget(self.chart_title, 0, 0, 1, 3)
        charts.addWidget(self.cash_chart, 1, 0)
        charts.addWidget(self.overdue_chart, 1, 1)
        charts.addWidget(self.kept_chart, 1, 2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(charts_host)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        charts_host.setMinimumHeight(260)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self.quick.currentIndexChanged.connect(lambda _i: self._quick_picked())
        self.date_from.dateChanged.connect(lambda _d: self._dates_edited())
        self.date_to.dateChanged.connect(lambda _d: self._dates_edited())
        self.show_button.clicked.connect(self.reload)
        self.currency.activated.connect(lambda _i: self.reload())
        self.table.view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._row_picked(current)
        )
        self.reload()

    # -- the period ------------------------------------------------------------------------
    def _quick_picked(self) -> None:
        dates = period_for(self.quick.currentData(), self.today)
        if dates is None:
            return
        for edit, day in zip((self.date_from, self.date_to), dates, strict=True):
            edit.blockSignals(True)
            edit.setDate(QDate(day))
            edit.blockSignals(False)
        self.reload()

    def _dates_edited(self) -> None:
        """Typing a date makes the period a custom one (Show runs it)."""
        self.quick.blockSignals(True)
        self.quick.setCurrentIndex(self.quick.findData(CUSTOM))
        self.quick.blockSignals(False)

    def period(self) -> tuple[date, date]:
        return self.date_from.date().toPython(), self.date_to.date().toPython()

    # -- the table -------------------------------------------------------------------------
    def reload(self) -> None:
        """Compute the figures for the period and currency shown (off the GUI thread)."""
        ctx = self.ctx
        date_from, date_to = self.period()
        wanted = self.currency.currentData()
        self._generation += 1
        generation = self._generation
        self.status.setText("Computing…")

        def load() -> tuple[list[str], str, list[collector_results.CollectorResult]]:
            known = kpis.currencies(ctx.db, ctx.actor)
            chosen = (
                wanted if wanted in known else collector_results.default_currency(ctx.db, ctx.actor)
            )
            rows = collector_results.collector_results(
                ctx.db, ctx.actor, date_from, date_to, currency=chosen
            )
            return known, chosen, rows

        workers.submit(
            load,
            owner=self,
            on_done=lambda loaded: self._show(generation, loaded),
            on_failed=lambda error: self._failed(generation, error),
        )

    def _failed(self, generation: int, error: O2CError) -> None:
        if generation == self._generation:
            self.status.setText("")
            show_error(self, error)

    def _show(
        self,
        generation: int,
        loaded: tuple[list[str], str, list[collector_results.CollectorResult]],
    ) -> None:
        if generation != self._generation:
            return  # a newer period was asked for meanwhile
        known, chosen, rows = loaded
        self.currency.blockSignals(True)
        self.currency.clear()
        for code in sorted({*known, chosen}):
            self.currency.addItem(code, code)
        self.currency.setCurrentIndex(self.currency.findData(chosen))
        self.currency.blockSignals(False)
        selected = self.selected()
        self.results = rows
        self.table.set_rows(rows)
        date_from, date_to = self.period()
        self.status.setText(
            f"{len(rows):,} row(s) · {chosen} · {formatting.day(date_from)} – "
            f"{formatting.day(date_to)}"
        )
        self.loaded = True
        if rows:
            if selected is not None and any(r.collector_id == selected.collector_id for r in rows):
                self.select_collector(selected.collector_id)
            else:
                self.select_first()

    def selected(self) -> collector_results.CollectorResult | None:
        return self.table.selected_row()

    def select_collector(self, collector_id: int | None) -> bool:
        """Select a collector's row (None: the unassigned customers) and chart them."""
        proxy = self.table.proxy
        for r in range(proxy.rowCount()):
            index = proxy.index(r, 0)
            if index.data(self.table.model.ROW_ROLE).collector_id == collector_id:
                self._select(index)
                return True
        return False

    def select_first(self) -> None:
        if self.table.proxy.rowCount():
            self._select(self.table.proxy.index(0, 0))

    def _select(self, index: Any) -> None:
        """Make `index` current; the selection signal charts it (unless it already was)."""
        view = self.table.view
        if view.currentIndex().row() == index.row():
            self._row_picked(index)
        else:
            view.setCurrentIndex(index)

    # -- the chart -------------------------------------------------------------------------
    def _row_picked(self, index: Any) -> None:
        row = index.data(self.table.model.ROW_ROLE) if index.isValid() else None
        if row is None:
            return
        ctx = self.ctx
        _date_from, date_to = self.period()
        currency = self.currency.currentData()
        self._chart_generation += 1
        generation = self._chart_generation
        self.chart_loaded = False
        self.chart_title.setText(f"{row.collector}: loading the last {CHART_MONTHS} months…")

        def shown(months: list[tuple[date, collector_results.CollectorResult]]) -> None:
            if generation == self._chart_generation:
                self.show_months(row.collector, currency, months)

        def failed(error: O2CError) -> None:
            if generation == self._chart_generation:
                self.chart_title.setText(f"{row.collector}: {error}")
                self.show_months(row.collector, currency, [], keep_title=True)

        workers.submit(
            partial(collector_results.monthly_results, currency=currency),
            ctx.db,
            ctx.actor,
            row.collector_id,
            date_to,
            CHART_MONTHS,
            owner=self,
            on_done=shown,
            on_failed=failed,
        )

    def show_months(
        self,
        collector: str,
        currency: str | None,
        months: list[tuple[date, collector_results.CollectorResult]],
        keep_title: bool = False,
    ) -> None:
        self.months = months
        if not keep_title:
            self.chart_title.setText(
                f"{collector}, month by month ({currency or ''}): cash collected, overdue at "
                "month end, promises kept"
            )

        def label(start: date) -> str:
            return start.strftime("%b")

        self.cash_chart.set_points([Point(label(m), r.cash_collected) for m, r in months])
        self.overdue_chart.set_points([Point(label(m), r.overdue_end) for m, r in months])
        self.kept_chart.set_points(
            [Point(label(m), r.kept_rate) for m, r in months if r.kept_rate is not None]
        )
        self.chart_loaded = True
