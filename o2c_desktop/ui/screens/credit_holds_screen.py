"""The Credit holds area: orders waiting on a credit decision, and every other order on request.

The default list is the holds queue: each held order with its customer, amount, when it was held
and all the reasons (over the available credit, customer on hold, items long past due: the
column shows each reason's first words, the tooltip and the panel the whole). A status filter
lists open, rejected, closed or all orders instead, and the search box narrows by order or
customer number or name (both in SQL, on a worker). The table sorts its own rows (a few thousand
at most) and exports what it shows with exact amounts.

Release… (Ctrl+R) and Reject… (Ctrl+J) ask for the reason. Release is enabled only when the
release is within the user's authority (alone, against the customer's exposure after it); when
it is not, its tooltip and the panel say so before anyone types a reason, and a refusal by the
service all the same is shown in the dialog with the reason kept. New order… (Ctrl+N) enters an
order. These keys belong to this screen while it has the focus, even where the window uses the
same key elsewhere (Ctrl+N is also New customer). The panel on the right shows the selected
order in full and its customer's limit, exposure and available credit, read again when the
customer changes anywhere (a decision gave a new limit).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.models.credit import (
    ORDER_CLOSED,
    ORDER_HELD,
    ORDER_OPEN,
    ORDER_REJECTED,
    ORDER_STATUSES,
)
from o2c_desktop.services import orders
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.order_decision import (
    CHECKING,
    REJECT,
    RELEASE,
    OrderDecisionDialog,
    ReleaseCheck,
    release_check,
    release_facts,
)
from o2c_desktop.ui.dialogs.order_entry import OrderEntryDialog, credit_text
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.filtered_list import FilteredListModel
from o2c_desktop.ui.widgets.layouts import STRETCH, scrolling, titled, toolbar
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.shown_rows_export import export_rows_to, export_shown_rows
from o2c_desktop.ui.widgets.table_panel import configure_table

STATUS_LABELS = {
    ORDER_HELD: "Held",
    ORDER_OPEN: "Open",
    ORDER_REJECTED: "Rejected",
    ORDER_CLOSED: "Closed",
}
STATUS_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    ORDER_HELD: ("Held (the holds queue)", (ORDER_HELD,)),
    ORDER_OPEN: ("Open", (ORDER_OPEN,)),
    ORDER_REJECTED: ("Rejected", (ORDER_REJECTED,)),
    ORDER_CLOSED: ("Closed", (ORDER_CLOSED,)),
    "all": ("All orders", ORDER_STATUSES),
}


def reasons_line(order: Any) -> str:
    return "; ".join(order.hold_reasons)


def headline(reason: str) -> str:
    """A hold reason's first words ("exceeds available credit", "customer on hold", "EUR 80.00
    more than 60 days past due"), so that the column shows every reason of an order; the
    tooltip and the panel give them whole, the export too."""
    return reason.split(": ", 1)[0].split(" (", 1)[0]


def reasons_short(order: Any) -> str:
    return "; ".join(headline(reason) for reason in order.hold_reasons)


# Who, how much and why first: the reasons are in view beside the selected order's panel; then
# how long it waits (the queue's order), the rest after.
COLUMNS = (
    Column("number", "Order", lambda r: r.number),
    Column("customer", "Customer", lambda r: r.customer_number),
    Column("customer_name", "Name", lambda r: r.customer_name),
    Column(
        "amount",
        "Amount",
        lambda r: r.amount,
        lambda r: formatting.money(r.amount, r.currency),
        numeric=True,
    ),
    Column(
        "reasons",
        "Hold reasons",
        reasons_line,
        reasons_short,
        tooltip=lambda r: "\n".join(r.hold_reasons),
    ),
    Column("held_at", "Held since", lambda r: r.held_at, lambda r: formatting.moment(r.held_at)),
    Column("order_date", "Ordered", lambda r: r.order_date, lambda r: formatting.day(r.order_date)),
    Column("status", "Status", lambda r: r.status, lambda r: STATUS_LABELS.get(r.status, r.status)),
    Column("decided_by", "Decided by", lambda r: r.decided_by),
    Column(
        "decision_reason",
        "Decision reason",
        lambda r: r.decision_reason,
        tooltip=lambda r: r.decision_reason or "",
    ),
)
WIDTHS = {"number": 95, "customer": 80, "customer_name": 180, "amount": 105, "reasons": 410}
WIDTHS |= {"held_at": 140, "order_date": 95, "status": 65, "decided_by": 110}
EXPORTING = "Exporting orders"
ORDERED = next(n for n, c in enumerate(COLUMNS) if c.key == "order_date")
HELD_AT = next(n for n, c in enumerate(COLUMNS) if c.key == "held_at")
# The file keeps raw values: a Decimal amount with its currency beside it, dates as dates.
EXPORT_COLUMNS = (
    Column("number", "Order", lambda r: r.number),
    Column("customer", "Customer", lambda r: r.customer_number),
    Column("customer_name", "Name", lambda r: r.customer_name),
    Column("order_date", "Ordered", lambda r: r.order_date),
    Column("amount", "Amount", lambda r: r.amount),
    Column("currency", "Currency", lambda r: r.currency),
    Column("status", "Status", lambda r: r.status),
    Column("held_at", "Held since", lambda r: r.held_at),
    Column("reasons", "Hold reasons", reasons_line),
    Column("decided_by", "Decided by", lambda r: r.decided_by),
    Column("decided_at", "Decided at", lambda r: r.decided_at),
    Column("decision_reason", "Decision reason", lambda r: r.decision_reason),
    Column("external_id", "External reference", lambda r: r.external_id),
    Column("entered_by", "Entered by", lambda r: r.entered_by),
)


class OrderDetail(QWidget):
    """The selected order in full, its customer's credit, and (for a held order, to a user who
    may release orders) whether releasing it is within the user's authority. The customer and
    the authority are read on a worker, again when the customer changes anywhere (a decision
    moved the limit) or the credit settings change (authorities); `checked` says they are in."""

    checked = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.order: Any = None
        self.check: ReleaseCheck | None = None  # for the order shown, once read
        self._asked = 0  # the latest read of the credit: only its answer is shown
        self.labels: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, caption in (
            ("order", "Order"),
            ("customer", "Customer"),
            ("amount", "Amount"),
            ("status", "Status"),
            ("held", "Held since"),
            ("reasons", "Hold reasons"),
            ("decision", "Decision"),
            ("entered", "Entered"),
            ("external", "External reference"),
            ("credit", "Customer's credit"),
            ("release", "Release"),
        ):
            label = QLabel(objectName=f"orderDetail_{key}")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.labels[key] = label
            form.addRow(caption, label)
        self.release_row = form.rowCount() - 1
        self.form = form
        self.labels["amount"].setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.placeholder = QLabel("Select an order to see it here.")
        self.placeholder.setStyleSheet("color: #666;")
        body = QWidget()
        body.setLayout(form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(body)
        layout.addStretch(1)
        self.body = body
        self.show_order(None)
        ctx.signals.customer_changed.connect(self._customer_changed)
        ctx.signals.credit_policy_changed.connect(self.load_credit)

    def show_order(self, order: Any) -> None:
        previous = self.order
        self.order = order
        self.placeholder.setVisible(order is None)
        self.body.setVisible(order is not None)
        if order is None:
            self.check = None
            return
        text = self.labels
        text["order"].setText(f"{order.number}, ordered {formatting.day(order.order_date)}")
        text["customer"].setText(f"{order.customer_number} {order.customer_name}")
        text["amount"].setText(formatting.money(order.amount, order.currency))
        text["status"].setText(STATUS_LABELS.get(order.status, order.status))
        text["held"].setText(formatting.moment(order.held_at) or "never held")
        text["reasons"].setText("\n".join(f"• {r}" for r in order.hold_reasons) or "none")
        decision = ""
        if order.decided_at is not None:
            decision = (
                f"{order.decided_by or 'someone'}, {formatting.moment(order.decided_at)}: "
                f"{order.decision_reason or ''}"
            )
        text["decision"].setText(decision or "none yet")
        text["entered"].setText(
            f"{order.entered_by or 'import'}, {formatting.moment(order.created_at)}"
        )
        text["external"].setText(order.external_id or "")
        self.form.setRowVisible(self.release_row, self._releasable(order))
        if order is not previous:  # also after a reload: a decision moved the exposure
            self.load_credit()

    def _releasable(self, order: Any) -> bool:
        return order.status == ORDER_HELD and self.ctx.actor.may(Permission.RELEASE_ORDERS)

    def _customer_changed(self, customer_id: int) -> None:
        if self.order is not None and self.order.customer_id == customer_id:
            self.load_credit()

    def load_credit(self) -> None:
        order = self.order
        if order is None:
            return
        self.check = None
        self.labels["credit"].setText("Loading…")
        self.labels["release"].setText(CHECKING)
        self.checked.emit()
        self._asked += 1
        asked = self._asked
        workers.submit(
            release_facts,
            self.ctx,
            order,
            owner=self,
            on_done=lambda facts: self._credit(asked, order, facts),
            on_failed=lambda error: self._credit(asked, order, error),
        )

    def _credit(self, asked: int, order: Any, facts: Any) -> None:
        if asked != self._asked:
            return  # a newer read (another order, or this one again) is on its way
        if isinstance(facts, O2CError):
            self.check = ReleaseCheck(False, str(facts))
            self.labels["credit"].setText(str(facts))
        else:
            detail, authority = facts
            self.labels["credit"].setText(credit_text(detail))
            if self._releasable(order):
                self.check = release_check(self.ctx, order, detail.exposure, authority)
        self.labels["release"].setText(self.check.text if self.check is not None else "")
        self.checked.emit()


class CreditHoldsScreen(QWidget):
    open_customer = Signal(int)

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.may_release = ctx.actor.may(Permission.RELEASE_ORDERS)
        self.may_enter = ctx.actor.may(Permission.ENTER_ORDERS)
        self.loading = False
        self.limited = False  # the service's row limit was reached
        self._wanted_id: int | None = None  # the order to select after a reload

        self.status_filter = QComboBox(objectName="orderStatusFilter")
        for key, (label, _statuses) in STATUS_FILTERS.items():
            self.status_filter.addItem(label, key)
        self.search = QLineEdit(
            placeholderText="Order or customer number or name…",
            clearButtonEnabled=True,
            objectName="orderSearch",
        )
        self.release_button = QPushButton("Re&lease…")
        self.reject_button = QPushButton("Re&ject…")
        self.new_button = QPushButton("&New order…")
        self.open_button = QPushButton("&Open customer")
        self.export_button = QPushButton("E&xport…")
        self.refresh_button = QPushButton("R&efresh")
        for button, tip, allowed, permission in (
            (
                self.release_button,
                "Release the selected held order (Ctrl+R, Alt+L); needs the authority to grant "
                "the customer's exposure after the release alone",
                self.may_release,
                Permission.RELEASE_ORDERS,
            ),
            (
                self.reject_button,
                "Reject the selected held order (Ctrl+J, Alt+J)",
                self.may_release,
                Permission.RELEASE_ORDERS,
            ),
            (self.new_button, "Enter an order (Ctrl+N)", self.may_enter, Permission.ENTER_ORDERS),
        ):
            button.setToolTip(tip if allowed else refusal(ctx.actor, permission))
        self.release_tip = self.release_button.toolTip()  # when no held order is selected
        self.open_button.setToolTip("Open the customer's profile (Enter, double-click)")
        self.count = QLabel(objectName="orderCount")

        self.model = FilteredListModel(COLUMNS, self)
        self.view = QTableView(objectName="orderTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        for column, spec in enumerate(COLUMNS):
            self.view.setColumnWidth(column, WIDTHS.get(spec.key, 160))
        self._sort_for(ORDER_HELD)
        self.detail = OrderDetail(ctx)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, objectName="holdsSplitter")
        splitter.addWidget(left)
        splitter.addWidget(scrolling(titled("Selected order", self.detail)))
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([1000, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar(self.status_filter, (self.search, 1), self.refresh_button))
        layout.addWidget(splitter, 1)
        layout.addLayout(
            toolbar(
                self.release_button,
                self.reject_button,
                self.new_button,
                self.open_button,
                STRETCH,
                self.count,
                self.export_button,
            )
        )
        self.setTabOrder(self.status_filter, self.search)
        self.setTabOrder(self.search, self.view)

        self.keys: dict[QKeySequence, Callable[[], None]] = {
            QKeySequence("Ctrl+R"): self.release_selected,
            QKeySequence("Ctrl+J"): self.reject_selected,
            QKeySequence("Ctrl+N"): self.new_order,
        }
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.status_filter.currentIndexChanged.connect(lambda _i: self._filter_changed())
        self.view.activated.connect(lambda _index: self.open_selected())
        self.view.selectionModel().currentRowChanged.connect(lambda *_a: self._selection_moved())
        self.model.modelReset.connect(self._selection_moved)
        self.detail.checked.connect(self._enable)
        self.release_button.clicked.connect(self.release_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.new_button.clicked.connect(self.new_order)
        self.open_button.clicked.connect(self.open_selected)
        self.export_button.clicked.connect(self.export)
        self.refresh_button.clicked.connect(self.reload)
        # An order entered, imported or decided anywhere shows here without pressing Refresh.
        self._refresh_timer = QTimer(self, singleShot=True, interval=300)
        self._refresh_timer.timeout.connect(self.reload)
        ctx.signals.orders_changed.connect(self._refresh_timer.start)
        self._enable()
        self.reload()

    # -- keys that win over the window's shortcuts ---------------------------------------------
    def _own_key(self, event: QEvent) -> Callable[[], None] | None:
        if not isinstance(event, QKeyEvent):
            return None
        return self.keys.get(QKeySequence(event.keyCombination()))

    def event(self, event: QEvent) -> bool:
        """Claim this screen's keys before the window's shortcuts see them (Ctrl+N)."""
        if event.type() == QEvent.Type.ShortcutOverride and self._own_key(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        slot = self._own_key(event)
        if slot is None:
            super().keyPressEvent(event)
            return
        event.accept()
        slot()

    # -- loading ---------------------------------------------------------------------------
    def _sort_for(self, status: str) -> None:
        """The queue longest waiting first; other lists newest first (the user may re-sort)."""
        header = self.view.horizontalHeader()
        if status == ORDER_HELD:
            header.setSortIndicator(HELD_AT, Qt.SortOrder.AscendingOrder)
        else:
            header.setSortIndicator(ORDERED, Qt.SortOrder.DescendingOrder)

    def _filter_changed(self) -> None:
        self._sort_for(self.status_filter.currentData())
        self.reload()

    def current_query(self) -> orders.OrderQuery:
        _label, statuses = STATUS_FILTERS[self.status_filter.currentData()]
        return orders.OrderQuery(statuses=statuses, search=self.search.text().strip())

    def reload(self) -> None:
        """Query again (the queue, or the orders the filter asks for), on a worker."""
        self._timer.stop()
        self._refresh_timer.stop()
        selected = self.selected()
        if selected is not None:
            self._wanted_id = selected.id
        query, ctx = self.current_query(), self.ctx
        self.loading = True
        self.count.setText("Loading…")

        def job() -> list[Any]:
            if query.statuses == (ORDER_HELD,) and not query.search:
                return orders.holds_queue(ctx.db, ctx.actor)
            return orders.list_orders(ctx.db, ctx.actor, query)

        workers.submit(
            job,
            owner=self,
            on_done=lambda rows: self._loaded(query, rows),
            on_failed=self._load_failed,
        )

    refresh = reload  # what the window's Refresh calls on every area

    def _loaded(self, query: orders.OrderQuery, rows: list[Any]) -> None:
        if query != self.current_query():
            return  # the filter changed meanwhile: its own query is on its way
        self.loading = False
        self.limited = len(rows) >= query.limit
        self.model.set_rows(rows)
        shown = f"{len(rows):,} orders" + (
            " (the first ones: narrow the search)" if self.limited else ""
        )
        self.count.setText(shown)
        wanted, self._wanted_id = self._wanted_id, None
        row = next((n for n, r in enumerate(self.model.rows) if r.id == wanted), 0)
        if self.model.rows:
            self.view.selectRow(row)
        self._selection_moved()

    def _load_failed(self, error: O2CError) -> None:
        self.loading = False
        self.count.setText("")
        show_error(self, error)

    # -- selection -------------------------------------------------------------------------
    def selected(self) -> Any:
        index = self.view.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def select_order(self, order_id: int) -> bool:
        row = next((n for n, r in enumerate(self.model.rows) if r.id == order_id), None)
        if row is None:
            return False
        self.view.selectRow(row)
        return True

    def _selection_moved(self) -> None:
        self.detail.show_order(self.selected())
        self._enable()

    def _enable(self) -> None:
        row = self.selected()
        held = row is not None and row.status == ORDER_HELD
        check = self.detail.check if held and row is self.detail.order else None
        self.release_button.setEnabled(self.may_release and check is not None and check.allowed)
        if self.may_release and held:  # why not, or what releasing it means
            self.release_button.setToolTip(check.text if check is not None else CHECKING)
        else:
            self.release_button.setToolTip(self.release_tip)
        self.reject_button.setEnabled(self.may_release and held)
        self.new_button.setEnabled(self.may_enter)
        self.open_button.setEnabled(row is not None)

    # -- actions ---------------------------------------------------------------------------
    def _decide(self, action: str) -> OrderDecisionDialog | None:
        """Ctrl+R and Ctrl+J do what the buttons would (nothing when they are disabled)."""
        button = self.release_button if action == RELEASE else self.reject_button
        row = self.selected()
        if row is None or not button.isEnabled():
            return None
        dialog = OrderDecisionDialog(self.ctx, row, action, self)
        self._wanted_id = row.id
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.reload()  # now, rather than after the signal's pause
        return dialog

    def release_selected(self) -> OrderDecisionDialog | None:
        return self._decide(RELEASE)

    def reject_selected(self) -> OrderDecisionDialog | None:
        return self._decide(REJECT)

    def new_order(self) -> OrderEntryDialog | None:
        if not self.may_enter:
            return None
        row = self.selected()
        dialog = OrderEntryDialog(self.ctx, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.saved is not None:
            self._wanted_id = dialog.saved.id
            self.reload()
        elif row is not None:
            self._wanted_id = row.id
        return dialog

    def open_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self.open_customer.emit(row.customer_id)

    def export(self) -> None:
        suggested = f"orders-{date.today().isoformat()}.xlsx"
        export_shown_rows(self, suggested, EXPORTING, EXPORT_COLUMNS, self.model.rows)

    def export_to(self, path: str) -> workers.Task:
        """The rows as filtered and sorted on screen, with exact amounts."""
        return export_rows_to(self, path, EXPORTING, EXPORT_COLUMNS, self.model.rows)
