"""The Disputes area: every dispute across customers, as a work list filtered, sorted and paged
in SQL (tens of thousands of disputes stay in the database), exportable.

Enter or a double-click opens the customer's profile; Change status and Reassign work the
selected dispute. After a change the list re-queries and the customer's open profile refreshes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import disputes, users
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.dispute_status import (
    STATUS_LABELS,
    DisputeOwnerDialog,
    DisputeStatusDialog,
    reason_label,
)
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.paged_table import PagedTableModel
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table

COLUMNS = (
    Column("customer", "Customer", lambda r: r.customer_number),
    Column("customer_name", "Name", lambda r: r.customer_name),
    Column("opened_on", "Opened", lambda r: r.opened_on, lambda r: formatting.day(r.opened_on)),
    Column("reason", "Reason", lambda r: r.reason_code, lambda r: reason_label(r.reason_code)),
    Column(
        "amount",
        "Disputed",
        lambda r: r.amount,
        lambda r: formatting.amount(r.amount),
        numeric=True,
        tooltip=lambda r: "Items: " + ", ".join(r.invoice_numbers),
    ),
    Column(
        "open_amount",
        "Items open",
        lambda r: r.open_amount,
        lambda r: formatting.amount(r.open_amount),
        numeric=True,
        tooltip=lambda r: "What is still open of the disputed invoices",
    ),
    Column("currency", "Currency", lambda r: r.currency),
    Column("owner", "Owner", lambda r: r.owner_name),
    Column(
        "status",
        "Status",
        lambda r: r.status,
        lambda r: STATUS_LABELS.get(r.status, r.status),
        tooltip=lambda r: r.resolution or "",
    ),
    Column("age", "Age (days)", lambda r: r.age_days, numeric=True),
    Column(
        "resolved_on", "Resolved", lambda r: r.resolved_on, lambda r: formatting.day(r.resolved_on)
    ),
)
EXPORT_COLUMNS = (
    *COLUMNS,
    Column("items", "Items", lambda r: ", ".join(r.invoice_numbers)),
    Column("resolution", "Resolution", lambda r: r.resolution),
    Column("notes", "Notes", lambda r: r.notes),
)
# Status filter: what each choice lists. Default: the disputes still being worked.
STATUS_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "active": ("Open and in review", disputes.OPEN_DISPUTE_STATUSES),
    **{status: (label, (status,)) for status, label in STATUS_LABELS.items()},
    "closed": ("All closed", disputes.CLOSED_STATUSES),
    "all": ("All disputes", disputes.STATUSES),
}
ANYONE, MINE, NOBODY = "anyone", "mine", "nobody"


class DisputesScreen(QWidget):
    open_customer = Signal(int)

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = PagedTableModel(
            COLUMNS,
            disputes.DisputeQuery(),
            lambda q, offset, limit: disputes.page_disputes(ctx.db, ctx.actor, q, offset, limit),
            lambda q: disputes.count_disputes(ctx.db, ctx.actor, q),
            self,
        )
        self.model.sort_keys = frozenset(disputes.SORT_KEYS)
        self.status_filter = QComboBox(objectName="disputeStatusFilter")
        for key, (label, _statuses) in STATUS_FILTERS.items():
            self.status_filter.addItem(label, key)
        self.reason_filter = QComboBox(objectName="disputeReasonFilter")
        self.reason_filter.addItem("All reasons", None)
        for code in disputes.REASON_CODES:
            self.reason_filter.addItem(reason_label(code), code)
        self.owner_filter = QComboBox(objectName="disputeOwnerFilter")
        self.owner_filter.addItem("Anyone's", ANYONE)
        self.owner_filter.addItem("Mine", MINE)
        self.owner_filter.addItem("Nobody's (unassigned)", NOBODY)
        self.search = QLineEdit(
            placeholderText="Customer number or name…",
            clearButtonEnabled=True,
            objectName="disputeSearch",
        )
        self.status_button = QPushButton("Change &status…")
        self.owner_button = QPushButton("Reassi&gn…")
        self.open_button = QPushButton("&Open customer")
        self.export_button = QPushButton("E&xport…")
        may_work = ctx.actor.may(Permission.MANAGE_DISPUTES)
        for button, tip in (
            (self.status_button, "Move the selected dispute on or resolve it (Alt+S)"),
            (self.owner_button, "Give the selected dispute to someone else (Alt+G)"),
        ):
            button.setToolTip(tip if may_work else refusal(ctx.actor, Permission.MANAGE_DISPUTES))
        self.open_button.setToolTip("Open the customer's profile (Enter, double-click)")
        self.count = QLabel(objectName="disputeCount")

        self.view = QTableView(objectName="disputeTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.horizontalHeader().setSortIndicator(2, Qt.SortOrder.AscendingOrder)
        for column, width in enumerate((80, 210, 95, 95, 90, 90, 65, 110, 150, 75, 95)):
            self.view.setColumnWidth(column, width)

        filters = QHBoxLayout()
        filters.addWidget(self.status_filter)
        filters.addWidget(self.reason_filter)
        filters.addWidget(self.owner_filter)
        filters.addWidget(self.search, 1)
        actions = QHBoxLayout()
        for button in (self.status_button, self.owner_button, self.open_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.count)
        actions.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(actions)
        self.setTabOrder(self.status_filter, self.reason_filter)
        self.setTabOrder(self.reason_filter, self.owner_filter)
        self.setTabOrder(self.owner_filter, self.search)
        self.setTabOrder(self.search, self.view)

        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        for combo in (self.status_filter, self.reason_filter, self.owner_filter):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.view.activated.connect(lambda _index: self.open_selected())
        self.view.selectionModel().currentRowChanged.connect(lambda *_a: self._enable())
        self.model.modelReset.connect(self._enable)
        self.status_button.clicked.connect(self.change_status)
        self.owner_button.clicked.connect(self.reassign)
        self.open_button.clicked.connect(self.open_selected)
        self.export_button.clicked.connect(self.export)
        self.model.count_known.connect(lambda n: self.count.setText(f"{n:,} disputes"))
        self.model.failed.connect(lambda message: show_error(self, message))
        # A dispute raised or resolved on a Ledger tab shows here without pressing F5.
        self._refresh_timer = QTimer(self, singleShot=True, interval=300)
        self._refresh_timer.timeout.connect(self.refresh)
        ctx.signals.customer_changed.connect(lambda _cid: self._refresh_timer.start())
        self._load_owners()
        self.apply_filters()
        self._enable()

    # -- filters ---------------------------------------------------------------------------
    def _load_owners(self) -> None:
        workers.submit(
            users.list_users,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=self._fill_owners,
            on_failed=lambda e: show_error(self, e),
        )

    def _fill_owners(self, rows: list[users.UserRow]) -> None:
        self.owner_filter.blockSignals(True)
        chosen = self.owner_filter.currentData()
        while self.owner_filter.count() > 3:
            self.owner_filter.removeItem(3)
        for user in rows:
            if user.active and user.id != self.ctx.actor.user_id:
                self.owner_filter.addItem(user.display_name, user.id)
        self.owner_filter.setCurrentIndex(max(self.owner_filter.findData(chosen), 0))
        self.owner_filter.blockSignals(False)

    def current_query(self) -> disputes.DisputeQuery:
        owner = self.owner_filter.currentData()
        _label, statuses = STATUS_FILTERS[self.status_filter.currentData()]
        return replace(
            self.model.query,
            statuses=statuses,
            reason_code=self.reason_filter.currentData(),
            owner_id=self.ctx.actor.user_id
            if owner == MINE
            else (owner if isinstance(owner, int) else None),
            unassigned=owner == NOBODY,
            search=self.search.text().strip(),
        )

    def apply_filters(self) -> None:
        self._timer.stop()
        self.count.setText("Loading…")
        self.model.set_query(self.current_query())

    def refresh(self) -> None:
        self.model.refresh()

    # -- actions ---------------------------------------------------------------------------
    def selected(self) -> disputes.DisputeListRow | None:
        index = self.view.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def _enable(self) -> None:
        row = self.selected()
        may_work = self.ctx.actor.may(Permission.MANAGE_DISPUTES)
        self.status_button.setEnabled(may_work and row is not None and row.is_open)
        self.owner_button.setEnabled(may_work and row is not None and row.is_open)
        self.open_button.setEnabled(row is not None)

    def open_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self.open_customer.emit(row.customer_id)

    def _work(self, dialog: QDialog, row: disputes.DisputeListRow) -> None:
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.ctx.signals.customer_changed.emit(row.customer_id)
            self._refresh_timer.stop()  # the signal asked for a refresh; do it now, once
            self.refresh()

    def change_status(self) -> None:
        row = self.selected()
        if row is not None and row.is_open:
            self._work(DisputeStatusDialog(self.ctx, row, self), row)

    def reassign(self) -> None:
        row = self.selected()
        if row is not None and row.is_open:
            self._work(DisputeOwnerDialog(self.ctx, row, self), row)

    def export(self) -> None:
        path = ask_export_path(self, f"disputes-{date.today().isoformat()}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        query, ctx = self.model.query, self.ctx
        return workers.export_in_background(
            self,
            path,
            "Exporting disputes",
            EXPORT_COLUMNS,
            lambda: disputes.iter_disputes(ctx.db, ctx.actor, query),
            self.model.total,
        )
