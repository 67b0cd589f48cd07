"""The department's reviews: customers whose periodic review is due, whose temporary limit runs
out, or whose documents (insurance, financial statements) lapse soon, earliest first.

"Start review" opens a review application prefilled from the customer (credit_queue.start_review);
"Open customer" shows the profile; a lapsing document's application opens with Enter.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.services import credit_queue
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.screens.application_texts import REVIEW_KIND_LABELS, label
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

COLUMNS = (
    Column("due", "Due", lambda r: r.due, lambda r: formatting.day(r.due)),
    Column("kind", "Kind", lambda r: r.kind, lambda r: label(REVIEW_KIND_LABELS, r.kind)),
    Column("customer", "Customer", lambda r: r.customer_number),
    Column("name", "Name", lambda r: r.customer_name),
    Column("detail", "Detail", lambda r: r.detail),
)


class ReviewsTab(QWidget):
    open_customer = Signal(int)
    open_application = Signal(int)
    loaded = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.loading = False
        self.table = TablePanel(COLUMNS, "credit-reviews")
        self.table.setObjectName("reviewList")
        self.table.view.setObjectName("reviewListView")
        self.table.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.count = QLabel(objectName="reviewCount")
        self.start_button = QPushButton("&Start review", objectName="startReview")
        may_prepare = ctx.actor.may(Permission.PREPARE_APPLICATIONS)
        self.start_button.setToolTip(
            "Open a review application for the selected customer"
            if may_prepare
            else refusal(ctx.actor, Permission.PREPARE_APPLICATIONS)
        )
        self.customer_button = QPushButton("Open c&ustomer", objectName="reviewCustomer")
        self.application_button = QPushButton("Open &application", objectName="reviewApplication")
        self.application_button.setToolTip("The application the lapsing document belongs to")
        self.refresh_button = QPushButton("Refresh")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(
            toolbar(
                self.start_button,
                self.customer_button,
                self.application_button,
                STRETCH,
                self.count,
                self.refresh_button,
            )
        )
        self.table.activated.connect(lambda _row: self.open_selected())
        self.table.view.selectionModel().currentRowChanged.connect(lambda *_a: self._enable())
        self.table.model.modelReset.connect(self._enable)
        self.start_button.clicked.connect(self.start_review)
        self.customer_button.clicked.connect(self._open_customer)
        self.application_button.clicked.connect(self._open_application)
        self.refresh_button.clicked.connect(self.reload)
        self._enable()
        self.reload()

    def reload(self) -> None:
        self.loading = True
        self.count.setText("Loading…")
        workers.submit(
            credit_queue.review_queue,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=self._arrived,
            on_failed=self._failed,
        )

    refresh = reload

    def _arrived(self, rows: list[credit_queue.ReviewItem]) -> None:
        self.table.set_rows(rows)
        if rows:
            self.table.view.setCurrentIndex(self.table.proxy.index(0, 0))
        self.loading = False
        self.count.setText(f"{len(rows):,} review{'' if len(rows) == 1 else 's'} coming up")
        self.loaded.emit()

    def _failed(self, error: O2CError) -> None:
        self.loading = False
        self.count.setText("The reviews could not be loaded.")
        show_error(self, error)

    def selected(self) -> credit_queue.ReviewItem | None:
        return self.table.selected_row()

    def _enable(self) -> None:
        row = self.selected()
        self.start_button.setEnabled(
            row is not None and self.ctx.actor.may(Permission.PREPARE_APPLICATIONS)
        )
        self.customer_button.setEnabled(row is not None)
        self.application_button.setEnabled(row is not None and row.application_id is not None)

    def open_selected(self) -> None:
        """Enter: a lapsing document's application, else the customer."""
        row = self.selected()
        if row is not None and row.application_id is not None:
            self.open_application.emit(row.application_id)
        elif row is not None:
            self.open_customer.emit(row.customer_id)

    def _open_customer(self) -> None:
        row = self.selected()
        if row is not None:
            self.open_customer.emit(row.customer_id)

    def _open_application(self) -> None:
        row = self.selected()
        if row is not None and row.application_id is not None:
            self.open_application.emit(row.application_id)

    def start_review(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.start_button.setEnabled(False)

        def done(view: Any) -> None:
            self._enable()
            self.ctx.signals.applications_changed.emit()
            self.open_application.emit(view.id)

        def failed(error: O2CError) -> None:
            self._enable()
            show_error(self, error)

        workers.submit(
            credit_queue.start_review,
            self.ctx.db,
            self.ctx.actor,
            row.customer_id,
            owner=self,
            on_done=done,
            on_failed=failed,
        )
