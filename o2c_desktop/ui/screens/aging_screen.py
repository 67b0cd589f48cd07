"""Aging: the portfolio and each customer by days past due, for any as-of date, with drill-down
from a bucket to its items. Customer rows are paged and sorted in SQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import aging
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.buckets_dialog import BucketsDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.paged_table import PagedTableModel
from o2c_desktop.ui.widgets.charts import BarChart, Point
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table


@dataclass(frozen=True)
class AgingQuery:
    as_of: date
    sort_key: str = "number"
    descending: bool = False


@dataclass(frozen=True)
class BucketQuery:
    as_of: date
    bucket: str
    customer_id: int | None
    sort_key: str = "due_date"  # bucket items come oldest due first; no other order
    descending: bool = False


# How long the count waits for the first page before computing the count itself (it never
# should: the first page is asked for before the count, on a pool of several threads).
COUNT_WAIT_S = 600.0


class FirstPageCount:
    """The aging's row count, taken from its first page.

    The model asks for the first page and the count side by side; both are the whole portfolio
    aggregated (seconds at 2,000,000 invoices), and the first page already carries the count
    (a window count over the same aggregation). So the count waits for the first page of its
    query instead of aggregating again. `forget()` drops what is known (the figures may have
    changed: a new date, F5)."""

    def __init__(self, page: Any):
        self._page = page  # (query, offset, limit) -> aging.CustomerPage
        self._known: tuple[Any, int | BaseException] | None = None
        self._changed = threading.Condition()

    def forget(self) -> None:
        with self._changed:
            self._known = None

    def _publish(self, query: Any, value: int | BaseException) -> None:
        with self._changed:
            self._known = (query, value)
            self._changed.notify_all()

    def fetch(self, query: Any, offset: int, limit: int) -> list[Any]:
        try:
            page = self._page(query, offset, limit)
        except BaseException as exc:
            if offset == 0:
                self._publish(query, exc)
            raise
        if offset == 0:
            self._publish(query, page.count)
        return list(page.rows)

    def count(self, query: Any) -> int:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: self._known is not None and self._known[0] == query, COUNT_WAIT_S
            )
            value = self._known[1] if arrived and self._known is not None else None
        if value is None:
            return int(self._page(query, 0, 1).count)
        if isinstance(value, BaseException):
            raise value
        return value


def _money_column(key: str, title: str, pick: Any) -> Column:
    return Column(key, title, pick, lambda r: formatting.amount(pick(r)), numeric=True)


def customer_columns(buckets: tuple[aging.Bucket, ...]) -> tuple[Column, ...]:
    return (
        Column("number", "Number", lambda r: r.number),
        Column("name", "Name", lambda r: r.name),
        Column("collector", "Collector", lambda r: r.collector),
        Column("currency", "Currency", lambda r: r.currency),
        *(
            _money_column(b.label, b.label, lambda r, k=k: r.buckets[k])
            for k, b in enumerate(buckets)
        ),
        _money_column("total", "Total", lambda r: r.total),
        _money_column("unapplied_cash", "Unapplied cash", lambda r: r.unapplied_cash),
    )


ITEM_COLUMNS = (
    Column(
        "customer",
        "Customer",
        lambda r: r.customer_number,
        lambda r: f"{r.customer_number}  {r.customer_name}",
    ),
    Column("number", "Item", lambda r: r.number),
    Column("kind", "Kind", lambda r: r.kind),
    Column("issue_date", "Issued", lambda r: r.issue_date, lambda r: formatting.day(r.issue_date)),
    Column("due_date", "Due", lambda r: r.due_date, lambda r: formatting.day(r.due_date)),
    Column("days_past_due", "Days past due", lambda r: r.days_past_due, numeric=True),
    _money_column("open_amount", "Open", lambda r: r.signed_open),
    Column("currency", "Currency", lambda r: r.currency),
)


class BucketItemsDialog(QDialog):
    """The items behind one bucket figure; their sum is that figure, to the cent."""

    def __init__(self, ctx: UiContext, query: BucketQuery, parent: Any = None):
        super().__init__(parent)
        self.setWindowTitle(f"Items in {query.bucket} as of {formatting.day(query.as_of)}")
        db, actor = ctx.db, ctx.actor

        def fetch(q: BucketQuery, offset: int, limit: int) -> list[Any]:
            return list(
                aging.bucket_items(db, actor, q.as_of, q.bucket, q.customer_id, offset, limit).items
            )

        def count(q: BucketQuery) -> int:
            page = aging.bucket_items(db, actor, q.as_of, q.bucket, q.customer_id, 0, 1)
            totals = "  ·  ".join(f"{formatting.money(v, c)}" for c, v in page.totals.items())
            self.total_label.setText(f"{page.count:,} items, {totals}")
            return page.count

        self.total_label = QLabel(objectName="bucketTotal")
        self.model = PagedTableModel(ITEM_COLUMNS, query, fetch, count, self)
        self.view = QTableView()
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setSortingEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(self.total_label)
        self.resize(1000, 600)
        self.model.refresh()


class AgingScreen(QWidget):
    open_customer = Signal(int)

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.as_of = QDateEdit(QDate.currentDate(), calendarPopup=True, objectName="agingAsOf")
        self.refresh_button = QPushButton("Show")
        self.export_button = QPushButton("E&xport…")
        self.buckets_button = QPushButton("Buckets…")
        self.buckets_button.setEnabled(ctx.actor.may(Permission.EDIT_SETTINGS))
        self.totals = QLabel(objectName="agingTotals")
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.chart = BarChart("Portfolio aging", formatting.amount)
        self.chart.setMaximumHeight(240)
        self.buckets = aging.get_buckets(ctx.db)
        self.columns = customer_columns(self.buckets)
        self.counts = FirstPageCount(
            lambda q, o, n: aging.customer_page(
                ctx.db, ctx.actor, q.as_of, o, n, order=q.sort_key, descending=q.descending
            )
        )
        self.model = PagedTableModel(
            self.columns, AgingQuery(date.today()), self.counts.fetch, self.counts.count, self
        )
        self.model.sort_keys = frozenset(aging.CUSTOMER_ORDERS) | {b.label for b in self.buckets}
        self.view = QTableView(objectName="agingTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        # By customer number, A to Z, as the report prints it (Qt's own default is descending).
        self.view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectItems)
        top = QHBoxLayout()
        top.addWidget(QLabel("As of"))
        top.addWidget(self.as_of)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        top.addWidget(self.buckets_button)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.chart)
        layout.addWidget(self.totals)
        layout.addWidget(
            QLabel("Double-click an amount to see its items; a number opens the customer.")
        )
        layout.addWidget(self.view, 1)
        self.refresh_button.clicked.connect(self.refresh)
        self.as_of.dateChanged.connect(lambda _d: self.refresh())
        self.view.doubleClicked.connect(self._drill)
        self.view.activated.connect(self._drill)
        self.export_button.clicked.connect(self.export)
        self.buckets_button.clicked.connect(self.edit_buckets)
        self.model.failed.connect(lambda message: show_error(self, message))
        self.report: aging.AgingReport | None = None
        self.refresh()

    def edit_buckets(self) -> None:
        if BucketsDialog(self.ctx, self).exec():
            self.reload_buckets()

    def reload_buckets(self) -> None:
        """New bucket definitions mean new columns; then the figures are computed again."""
        self.buckets = aging.get_buckets(self.ctx.db)
        self.columns = customer_columns(self.buckets)
        self.model.beginResetModel()
        self.model.columns = list(self.columns)
        self.model.sort_keys = frozenset(aging.CUSTOMER_ORDERS) | {b.label for b in self.buckets}
        self.model.endResetModel()
        self.refresh()

    def refresh(self) -> None:
        as_of = self.as_of.date().toPython()
        self.counts.forget()
        self.model.set_query(replace(self.model.query, as_of=as_of))
        ctx = self.ctx
        workers.submit(
            lambda: aging.aging(ctx.db, ctx.actor, as_of, include_customers=False),
            owner=self,
            on_done=self._show_totals,
            on_failed=lambda e: show_error(self, e),
        )

    def _show_totals(self, report: aging.AgingReport) -> None:
        self.report = report
        lines = []
        for figures in report.currencies:
            cells = "  ·  ".join(
                f"{b.label} <b>{formatting.amount(v)}</b>"
                for b, v in zip(report.buckets, figures.buckets, strict=True)
            )
            lines.append(
                f"{figures.currency}: {cells}  ·  total <b>"
                f"{formatting.amount(figures.total)}</b>  ·  unapplied cash "
                f"{formatting.amount(figures.unapplied_cash)}"
            )
        self.totals.setText("<br>".join(lines) or "Nothing open at this date.")
        first = report.currencies[0] if report.currencies else None
        self.chart.set_points(
            [
                Point(b.label, v)
                for b, v in zip(report.buckets, first.buckets if first else (), strict=False)
            ]
        )

    def _drill(self, index: Any) -> None:
        row = self.model.row_at(index.row())
        if row is None:
            return
        key = self.columns[index.column()].key
        if key in {b.label for b in self.buckets}:
            BucketItemsDialog(
                self.ctx, BucketQuery(self.model.query.as_of, key, row.customer_id), self
            ).exec()
        elif key in ("number", "name"):
            self.open_customer.emit(row.customer_id)

    def drill_portfolio(self, bucket: str) -> BucketItemsDialog:
        dialog = BucketItemsDialog(
            self.ctx, BucketQuery(self.model.query.as_of, bucket, None), self
        )
        dialog.show()
        return dialog

    def export(self) -> None:
        path = ask_export_path(self, f"aging-{self.model.query.as_of.isoformat()}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        query, ctx = self.model.query, self.ctx

        def batches() -> Any:
            offset = 0
            while True:
                page = aging.customer_page(
                    ctx.db,
                    ctx.actor,
                    query.as_of,
                    offset,
                    5000,
                    order=query.sort_key,
                    descending=query.descending,
                )
                if not page.rows:
                    return
                yield list(page.rows)
                offset += len(page.rows)

        return workers.export_in_background(
            self, path, "Exporting aging", self.columns, batches, self.model.total
        )
