"""Collections: the collector's working screen. The call list (scored and ordered by the active
strategy) on the left, the customer being worked on the right: credit header, overdue items,
contacts with their phone numbers, recent calls and notes, open promises.

Keyboard first: Enter takes the next customer off the list (claiming it, releasing the one just
worked), Ctrl+L logs a call. A double-click works a particular customer; selecting a row only
shows it. A collector sees their own portfolio; a manager any collector's or the whole team's.

The list is computed by the service in SQL on a worker; it holds at most a few thousand rows for
a collector (tens of thousands for the whole team), so it is loaded whole, and sorted and
filtered in the model's own list (never through a proxy: the proxy's per-row Python calls are
what made sorting 300,000 rows take minutes).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateEdit,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.config import config_dir
from o2c_desktop.errors import O2CError
from o2c_desktop.services import (
    activities,
    call_list,
    calls,
    claims,
    customers,
    ledger_queries,
    portfolios,
    promises,
    users,
)
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.call_list import CallListRow
from o2c_desktop.services.customers import ContactRow, CustomerDetail
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import CallTarget, LogCallDialog, target_from
from o2c_desktop.ui.models.columns import RIGHT, Column, header_data
from o2c_desktop.ui.models.list_table import ROW_ROLE, SORT_ROLE
from o2c_desktop.ui.screens.customer_collections_tab import (
    ACTIVITY_COLUMNS,
    NOTES_SHOWN,
    PROMISE_COLUMNS,
    ActivityEntry,
    timeline,
    titled,
)
from o2c_desktop.ui.screens.customer_profile import CreditHeader
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel, configure_table

_Index = QModelIndex | QPersistentModelIndex
TEAM, OWN = "team", "own"
CALLS_SHOWN = 20
RENEW_CLAIM_MS = 10 * 60 * 1000  # claims last 15 minutes; renew while the customer is open
STATUS_STYLE = {"info": "color: #555;", "warn": "color: #b00020; font-weight: 600;"}

COLUMNS = (
    Column("score", "Score", lambda r: r.score, numeric=True),
    Column("number", "Number", lambda r: r.number),
    Column("name", "Name", lambda r: r.name),
    Column("collector", "Collector", lambda r: r.collector),
    Column(
        "overdue",
        "Overdue",
        lambda r: r.overdue,
        lambda r: formatting.amount(r.overdue),
        numeric=True,
        tooltip=lambda r: formatting.money(r.overdue, r.currency),
    ),
    Column("oldest", "Oldest (days)", lambda r: r.oldest_days_past_due, numeric=True),
    Column(
        "reasons",
        "Reasons",
        lambda r: "; ".join(r.reasons),
        tooltip=lambda r: "\n".join(r.reasons),
    ),
    Column("next_action", "Next action", lambda r: r.next_action),
    Column("claimed_by", "Claimed by", lambda r: r.claimed_by),
)
EXPORT_COLUMNS = (*COLUMNS, Column("currency", "Currency", lambda r: r.currency))
ITEM_COLUMNS = (
    Column("number", "Number", lambda r: r.number),
    Column("due_date", "Due", lambda r: r.due_date, lambda r: formatting.day(r.due_date)),
    Column("days_past_due", "Days past due", lambda r: r.days_past_due, numeric=True),
    Column(
        "open_amount",
        "Open",
        lambda r: r.open_amount,
        lambda r: formatting.amount(r.open_amount),
        numeric=True,
    ),
    Column(
        "disputed_amount",
        "Disputed",
        lambda r: r.disputed_amount,
        lambda r: formatting.amount(r.disputed_amount) if r.disputed_amount else "",
        numeric=True,
    ),
)


def layout_settings() -> QSettings:
    """The same INI file as the main window's layout (main_window.window_settings)."""
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def tel_url(phone: str) -> str:
    """A dialable tel: URL (RFC 3966) from a number as people write it: "+49 (0)30 123-45"
    becomes "tel:+4930123 45" without the spaces; the "(0)" trunk prefix goes after a +."""
    text = phone.strip()
    if text.startswith("+"):
        text = text.replace("(0)", "")
    digits = re.sub(r"[^0-9*#]", "", text)
    return f"tel:{'+' if text.startswith('+') else ''}{digits}"


def holder(ctx: UiContext, customer_id: int) -> str | None:
    """Who holds the running claim on a customer (for "being worked by …"); on a worker."""
    lease = claims.lease_of(ctx.db, customer_id)
    if lease is None:
        return None
    return next(
        (u.display_name for u in users.list_users(ctx.db, ctx.actor) if u.id == lease[0]), None
    )


def overdue_totals(rows: Sequence[CallListRow]) -> dict[str, Decimal]:
    """Per currency: amounts in different currencies are never added together."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.overdue
    return totals


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


class CallListModel(QAbstractTableModel):
    """The call list, loaded whole; sorting and filtering work on the model's own list.

    `rows` are the rows shown (filtered, in the chosen order); `all_rows` everything loaded in
    the service's order (score, then overdue)."""

    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.all_rows: list[CallListRow] = []
        self.rows: list[CallListRow] = []
        self._haystacks: list[str] = []
        self._filter = ""
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # -- content ---------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[CallListRow]) -> None:
        self.all_rows = list(rows)
        self._haystacks = [
            " ".join(
                x or "" for x in (r.number, r.name, r.collector, " ".join(r.reasons), r.next_action)
            ).casefold()
            for r in self.all_rows
        ]
        self._rebuild()

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().casefold()
        self._rebuild()

    def replace_row(self, customer_id: int, change: Callable[[CallListRow], CallListRow]) -> None:
        """Update one row in place (a claim taken or released), without reloading the list."""
        for rows in (self.all_rows, self.rows):
            for n, row in enumerate(rows):
                if row.customer_id == customer_id:
                    rows[n] = change(row)
        row_number = self.row_of(customer_id)
        if row_number is not None:
            self.dataChanged.emit(
                self.index(row_number, 0), self.index(row_number, len(self.columns) - 1)
            )

    def _rebuild(self) -> None:
        self.beginResetModel()
        words = self._filter.split()
        rows = [
            row
            for row, hay in zip(self.all_rows, self._haystacks, strict=True)
            if all(word in hay for word in words)
        ]
        if self._sort is not None:
            column, order = self._sort
            value = self.columns[column].value
            rows.sort(
                key=lambda r: _sort_key(value(r)),
                reverse=order == Qt.SortOrder.DescendingOrder,
            )
        self.rows = rows
        self.endResetModel()

    def row_at(self, row: int) -> CallListRow | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def row_of(self, customer_id: int) -> int | None:
        for n, row in enumerate(self.rows):
            if row.customer_id == customer_id:
                return n
        return None

    # -- Qt model API ----------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.display(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        if role == SORT_ROLE:
            return column.value(row)
        if role == ROW_ROLE:
            return row
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return header_data(self.columns, section, orientation, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self.columns):
            self._sort = (column, order)
            self._rebuild()


# ---------------------------------------------------------------------------------------------
# The work panel
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkData:
    """Everything the work panel shows about one customer, read on a worker."""

    detail: CustomerDetail
    target: CallTarget
    activity: list[ActivityEntry]
    promises: list[promises.PromiseStatus]


def load_work(ctx: UiContext, customer_id: int, as_of: date) -> WorkData:
    db, actor = ctx.db, ctx.actor
    detail = customers.get_customer(db, actor, customer_id)
    items = ledger_queries.open_items(db, actor, customer_id, as_of)
    recent = calls.recent_calls(db, actor, customer_id, CALLS_SHOWN)
    # The timeline has a line for each call too; the calls come from recent_calls instead.
    notes = [
        n
        for n in activities.list_activities(db, actor, customer_id, NOTES_SHOWN + CALLS_SHOWN)
        if n.kind != "call"
    ][:NOTES_SHOWN]
    return WorkData(
        detail=detail,
        target=target_from(detail, items, as_of),
        activity=timeline(recent, notes),
        promises=promises.customer_promises(db, actor, customer_id, as_of),
    )


class ContactsPanel(QFrame):
    """Who to call: each number as a clickable tel: link (the system's dialer or softphone)
    and a Copy button; the customer's main number first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("contactsPanel")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.links: list[QLabel] = []
        self.copy_buttons: list[QPushButton] = []

    def show_contacts(self, main_phone: str | None, contacts: Sequence[ContactRow]) -> None:
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.links, self.copy_buttons = [], []
        people: list[tuple[str, str | None, str | None]] = []
        if main_phone:
            people.append(("Main number", main_phone, None))
        ordered = sorted(contacts, key=lambda c: (not c.is_primary, c.name.casefold()))
        for contact in ordered:
            who = contact.name + (f" ({contact.title})" if contact.title else "")
            people.append(
                (who + (" ★" if contact.is_primary else ""), contact.phone, contact.email)
            )
        if not people:
            self.grid.addWidget(QLabel("No contacts on file."), 0, 0)
        for row, (who, phone, email) in enumerate(people):
            self.grid.addWidget(QLabel(who), row, 0)
            if phone:
                link = QLabel(f'<a href="{tel_url(phone)}">{phone}</a>')
                link.setObjectName(f"phone{row}")
                link.setToolTip(f"Call {phone} ({tel_url(phone)})")
                link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                link.linkActivated.connect(self.dial)
                copy = QPushButton("Copy", objectName=f"copyPhone{row}")
                copy.setToolTip(f"Copy {phone} to the clipboard")
                copy.clicked.connect(lambda _c=False, p=phone: self.copy(p))
                self.grid.addWidget(link, row, 1)
                self.grid.addWidget(copy, row, 2)
                self.links.append(link)
                self.copy_buttons.append(copy)
            else:
                self.grid.addWidget(QLabel("no phone"), row, 1)
            self.grid.addWidget(QLabel(email or ""), row, 3)
        self.grid.setColumnStretch(3, 1)

    @staticmethod
    def dial(url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))

    @staticmethod
    def copy(phone: str) -> None:
        QGuiApplication.clipboard().setText(phone)


class WorkPanel(QWidget):
    """The customer being worked. `show_data` fills it; the screen decides what to load."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.customer_id: int | None = None
        self.data: WorkData | None = None
        self.status = QLabel(objectName="workStatus")
        self.status.setWordWrap(True)
        self.next_button = QPushButton("&Next customer", objectName="nextCustomer")
        self.next_button.setToolTip("Take the next customer off the call list (Enter)")
        self.log_button = QPushButton("&Log call…", objectName="logCall")
        self.log_button.setToolTip("Log a call, a promise or a dispute (Ctrl+L)")
        self.profile_button = QPushButton("Open &profile", objectName="openProfile")
        self.profile_button.setToolTip("Open the customer's profile in the Customers area")
        actions = QHBoxLayout()
        actions.addWidget(self.status, 1)
        for button in (self.next_button, self.log_button, self.profile_button):
            actions.addWidget(button)
        self.header = CreditHeader()
        self.items = TablePanel(ITEM_COLUMNS, "overdue-items")
        self.items.setObjectName("workItems")
        self.contacts = ContactsPanel()
        contacts_area = QScrollArea()
        contacts_area.setWidgetResizable(True)
        contacts_area.setWidget(self.contacts)
        self.activity = TablePanel(ACTIVITY_COLUMNS, "activity")
        self.activity.setObjectName("workActivity")
        self.promises = TablePanel(PROMISE_COLUMNS, "open-promises")
        self.promises.setObjectName("workPromises")
        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.addWidget(titled("Overdue items", self.items))
        self.top_split.addWidget(titled("Contacts", contacts_area))
        self.bottom_split = QSplitter(Qt.Orientation.Horizontal)
        self.bottom_split.addWidget(titled("Recent activity", self.activity))
        self.bottom_split.addWidget(titled("Open promises", self.promises))
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.top_split)
        self.split.addWidget(self.bottom_split)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.header)
        body.addWidget(self.split, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(actions)
        layout.addWidget(self.body, 1)
        self.body.setEnabled(False)
        self.say("Press Enter for the first customer on the list.")

    def say(self, text: str, kind: str = "info") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(STATUS_STYLE[kind])

    def show_data(self, data: WorkData) -> None:
        self.data = data
        self.customer_id = data.detail.id
        self.header.show_customer(data.detail)
        self.items.set_rows(data.target.overdue_items)
        self.contacts.show_contacts(data.detail.values.get("phone"), data.detail.contacts)
        self.activity.set_rows(data.activity)
        self.promises.set_rows([p for p in data.promises if str(p.state) == "open"])
        self.body.setEnabled(True)


# ---------------------------------------------------------------------------------------------
# The screen
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    as_of: date
    collector_id: int | None
    team: bool


class CollectionsScreen(QWidget):
    open_customer = Signal(int)
    list_loaded = Signal()  # after each (re)load of the call list
    work_loaded = Signal(int)  # the work panel shows this customer

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        actor = ctx.actor
        self.sees_all = actor.may(Permission.VIEW_ALL_PORTFOLIOS)
        self.may_work = actor.may(Permission.WORK_COLLECTIONS)
        self.claimed_id: int | None = None  # the customer this user holds a claim on
        self._list_generation = 0
        self._work_generation = 0
        self.loading = False
        self.work_loading = False
        self._stale = False

        # Top bar
        self.as_of = QDateEdit(QDate.currentDate(), calendarPopup=True, objectName="callAsOf")
        self.as_of.setToolTip("The day the list and the overdue figures are for")
        self.collector = QComboBox(objectName="callCollector")
        if self.sees_all:
            self.collector.addItem("Whole team", TEAM)
        else:
            self.collector.addItem(actor.display_name, OWN)
            self.collector.setEnabled(False)
            self.collector.setToolTip(refusal(actor, Permission.VIEW_ALL_PORTFOLIOS))
        self.count = QLabel(objectName="callCount")
        self.busy = QProgressBar(objectName="callBusy")
        self.busy.setRange(0, 0)  # a busy indicator while the list is computed
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the list again")
        top = QHBoxLayout()
        top.addWidget(QLabel("As of"))
        top.addWidget(self.as_of)
        top.addWidget(QLabel("Portfolio"))
        top.addWidget(self.collector)
        top.addWidget(self.refresh_button)
        top.addWidget(self.busy)
        top.addStretch(1)
        top.addWidget(self.count)

        # The call list
        self.model = CallListModel(COLUMNS, self)
        self.filter_edit = QLineEdit(
            placeholderText="Filter the list…", clearButtonEnabled=True, objectName="callFilter"
        )
        self.export_button = QPushButton("E&xport…")
        self.view = QTableView(objectName="callList")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setToolTip("Enter: next customer · double-click: work this customer")
        for column, width in enumerate((55, 80, 200, 100, 95, 80, 220, 140, 100)):
            self.view.setColumnWidth(column, width)
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.export_button)
        list_layout.addLayout(filter_row)
        list_layout.addWidget(self.view, 1)

        self.work = WorkPanel()
        self.work.log_button.setEnabled(False)
        self.work.profile_button.setEnabled(False)
        if not self.may_work:
            self.work.next_button.setEnabled(False)
            self.work.next_button.setToolTip(refusal(actor, Permission.WORK_COLLECTIONS))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(list_box)
        self.splitter.addWidget(self.work)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)

        # Behaviour
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(
                QKeySequence(key),
                self,
                self._enter,
                context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
            )
        QShortcut(
            QKeySequence("Ctrl+L"),
            self,
            self.log_call,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._reload_timer = QTimer(self, singleShot=True, interval=300)
        self._reload_timer.timeout.connect(self.reload)
        self._preview_timer = QTimer(self, singleShot=True, interval=250)
        self._preview_timer.timeout.connect(self._preview_selected)
        self._renew_timer = QTimer(self, interval=RENEW_CLAIM_MS)
        self._renew_timer.timeout.connect(self._renew_claim)
        self._layout_timer = QTimer(self, singleShot=True, interval=500)
        self._layout_timer.timeout.connect(self.save_layout)
        self.as_of.dateChanged.connect(lambda _d: self._reload_timer.start())
        self.collector.currentIndexChanged.connect(lambda _i: self.reload())
        self.refresh_button.clicked.connect(self.reload)
        self._filter_timer = QTimer(self, singleShot=True, interval=150)
        self._filter_timer.timeout.connect(lambda: self._filter(self.filter_edit.text()))
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.export_button.clicked.connect(self.export)
        self.view.doubleClicked.connect(lambda index: self.work_row(self.model.row_at(index.row())))
        self.view.selectionModel().currentRowChanged.connect(
            lambda *_a: self._preview_timer.start()
        )
        self.model.modelReset.connect(self._count_changed)
        self.work.next_button.clicked.connect(self.next_customer)
        self.work.log_button.clicked.connect(self.log_call)
        self.work.profile_button.clicked.connect(self._open_profile)
        ctx.signals.customer_changed.connect(self._customer_changed)
        ctx.signals.strategy_changed.connect(self.reload)  # a new strategy re-ranks the list
        self.restore_layout()
        for splitter in self._splitters().values():
            splitter.splitterMoved.connect(lambda *_a: self._layout_timer.start())
        self.view.horizontalHeader().sectionResized.connect(lambda *_a: self._layout_timer.start())
        if self.sees_all:
            self._load_collectors()
        self.reload()

    # -- layout ----------------------------------------------------------------------------
    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "splitter": self.splitter,
            "work": self.work.split,
            "work_top": self.work.top_split,
            "work_bottom": self.work.bottom_split,
        }

    def restore_layout(self) -> None:
        settings = layout_settings()
        for key, splitter in self._splitters().items():
            state = settings.value(f"collections/{key}")
            if state is not None:
                splitter.restoreState(state)
        header = settings.value("collections/header")
        if header is not None:
            self.view.horizontalHeader().restoreState(header)
        # Widths and column order are remembered, not the order of the rows: the list opens in
        # the strategy's order (score, then overdue), the order Enter works it in.
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

    def save_layout(self) -> None:
        """Splitters and columns, in the window layout file (also saved as they change)."""
        settings = layout_settings()
        for key, splitter in self._splitters().items():
            settings.setValue(f"collections/{key}", splitter.saveState())
        settings.setValue("collections/header", self.view.horizontalHeader().saveState())
        settings.sync()

    # -- the list --------------------------------------------------------------------------
    def _load_collectors(self) -> None:
        workers.submit(
            portfolios.collectors,
            self.ctx.db,
            owner=self,
            on_done=self._fill_collectors,
            on_failed=lambda e: show_error(self, e),
        )

    def _fill_collectors(self, rows: list[tuple[int, str]]) -> None:
        self.collector.blockSignals(True)
        chosen = self.collector.currentData()
        while self.collector.count() > 1:
            self.collector.removeItem(1)
        for user_id, name in rows:
            self.collector.addItem(name, user_id)
        self.collector.setCurrentIndex(max(self.collector.findData(chosen), 0))
        self.collector.blockSignals(False)

    def query(self) -> ListQuery:
        chosen = self.collector.currentData()
        return ListQuery(
            as_of=self.as_of.date().toPython(),
            collector_id=chosen if isinstance(chosen, int) else None,
            team=chosen == TEAM,
        )

    def reload(self) -> None:
        """Compute the call list again (off the GUI thread) and refresh the work panel."""
        self._reload_timer.stop()
        self._stale = False
        self._list_generation += 1
        generation, query, ctx = self._list_generation, self.query(), self.ctx
        self.loading = True
        self.busy.show()
        self.count.setText("Computing the call list…")
        workers.submit(
            lambda: call_list.call_list(
                ctx.db,
                ctx.actor,
                query.as_of,
                collector_id=query.collector_id,
                team=query.team,
            ),
            owner=self,
            on_done=lambda rows: self._list_arrived(generation, rows),
            on_failed=lambda error: self._list_failed(generation, error),
        )
        if self.work.customer_id is not None:
            self.show_customer(self.work.customer_id)

    refresh = reload  # what the main window's F5 calls on the other screens

    def _list_arrived(self, generation: int, rows: list[CallListRow]) -> None:
        if generation != self._list_generation:
            return  # an older query, overtaken by a newer one
        current = self.work.customer_id
        self.model.set_rows(rows)
        self.loading = False
        self.busy.hide()
        self._select(current)
        self.list_loaded.emit()

    def _list_failed(self, generation: int, error: O2CError) -> None:
        if generation == self._list_generation:
            self.loading = False
            self.busy.hide()
            self.count.setText("The call list could not be computed.")
            show_error(self, error)

    def _count_changed(self) -> None:
        shown, total = self.model.rows, len(self.model.all_rows)
        money = "  ·  ".join(
            formatting.money(value, currency)
            for currency, value in sorted(overdue_totals(shown).items())
        )
        text = f"{len(shown):,} customer{'' if len(shown) == 1 else 's'}"
        text += f" of {total:,}" if len(shown) != total else ""
        self.count.setText(text + (f"  ·  overdue {money}" if money else ""))

    def _filter(self, text: str) -> None:
        current = self.work.customer_id
        self.model.set_filter(text)
        self._select(current)

    def _select(self, customer_id: int | None) -> None:
        """Put the cursor on the customer's row (if listed) without loading it again."""
        row = self.model.row_of(customer_id) if customer_id is not None else None
        if row is None:
            return
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        self.view.selectRow(row)
        self.view.setCurrentIndex(self.model.index(row, 0))
        selection.blockSignals(False)
        self.view.scrollTo(self.model.index(row, 0))

    def selected(self) -> CallListRow | None:
        index = self.view.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def export(self) -> None:
        path = ask_export_path(self, f"call-list-{self.query().as_of.isoformat()}.xlsx")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> workers.Task:
        """The rows as filtered and sorted on screen, with the currency of each amount."""
        rows = list(self.model.rows)
        return workers.export_in_background(
            self, path, "Exporting the call list", EXPORT_COLUMNS, lambda: [rows], len(rows)
        )

    # -- working customers -----------------------------------------------------------------
    def _enter(self) -> None:
        """Enter: the next customer, unless the date or filter box is being typed in."""
        focus = QApplication.focusWidget()
        if focus is self.filter_edit:
            self.view.setFocus()
        elif focus is not None and (focus is self.as_of or self.as_of.isAncestorOf(focus)):
            self.reload()
        else:
            self.next_customer()

    def next_customer(self) -> None:
        """Claim the next customer on the list: the service skips those others are working and
        those called today, and releases the one just worked (`after`). A customer only looked
        at (selected, not claimed) is not skipped: it was not worked."""
        if not self.may_work or not self.work.next_button.isEnabled():
            return
        query, ctx, previous = self.query(), self.ctx, self.claimed_id

        def advance() -> CallListRow | None:
            return call_list.next_customer(
                ctx.db,
                ctx.actor,
                query.as_of,
                collector_id=query.collector_id,
                team=query.team,
                after=previous,
            )

        self.work.next_button.setEnabled(False)
        self.work.say("Finding the next customer…")
        workers.submit(
            advance,
            owner=self,
            on_done=lambda row: self._advanced(previous, row),
            on_failed=self._advance_failed,
        )

    def _advanced(self, previous: int | None, row: CallListRow | None) -> None:
        self.work.next_button.setEnabled(True)
        if row is None:
            if previous is not None:
                self._claim_gone(previous)
            self.work.say("Nobody left to call on this list. Well done.")
            return
        if previous is not None and previous != row.customer_id:
            self._claim_gone(previous)
        self._claimed(row.customer_id)
        self._select(row.customer_id)
        self.show_customer(row.customer_id)

    def _advance_failed(self, error: O2CError) -> None:
        self.work.next_button.setEnabled(True)
        self.work.say(str(error), "warn")
        show_error(self, error)

    def work_row(self, row: CallListRow | None) -> None:
        """Double-click: work this customer, if nobody else is."""
        if row is None:
            return
        if not self.may_work:
            self.show_customer(row.customer_id)
            return
        ctx, previous = self.ctx, self.claimed_id

        def take() -> tuple[bool, str | None]:
            if claims.claim(ctx.db, ctx.actor, row.customer_id):
                if previous is not None and previous != row.customer_id:
                    claims.release(ctx.db, ctx.actor, previous)
                return True, None
            return False, holder(ctx, row.customer_id)

        workers.submit(
            take,
            owner=self,
            on_done=lambda result: self._taken(row, previous, *result),
            on_failed=lambda e: show_error(self, e),
        )

    def _taken(self, row: CallListRow, previous: int | None, taken: bool, who: str | None) -> None:
        if not taken:
            name = who or row.claimed_by or "another collector"
            self.work.say(f"{row.number} {row.name} is being worked by {name}.", "warn")
            self.model.replace_row(row.customer_id, lambda r: replace(r, claimed_by=name))
            self.show_customer(row.customer_id, keep_status=True)
            return
        if previous is not None and previous != row.customer_id:
            self._claim_gone(previous)
        self._claimed(row.customer_id)
        self.show_customer(row.customer_id)

    def _claimed(self, customer_id: int) -> None:
        self.claimed_id = customer_id
        self._renew_timer.start()
        me = self.ctx.actor.display_name
        self.model.replace_row(customer_id, lambda r: replace(r, claimed_by=me))

    def _claim_gone(self, customer_id: int) -> None:
        if self.claimed_id == customer_id:
            self.claimed_id = None
            self._renew_timer.stop()
        self.model.replace_row(customer_id, lambda r: replace(r, claimed_by=None))

    def _renew_claim(self) -> None:
        if self.claimed_id is not None:
            workers.submit(claims.claim, self.ctx.db, self.ctx.actor, self.claimed_id, owner=self)

    def release_claim(self) -> None:
        """Give the customer back to the list (call it when the window closes; unreleased
        claims lapse by themselves after 15 minutes)."""
        if self.claimed_id is not None:
            customer_id, self.claimed_id = self.claimed_id, None
            self._renew_timer.stop()
            with contextlib.suppress(O2CError):  # closing anyway: the lease runs out
                claims.release(self.ctx.db, self.ctx.actor, customer_id)

    def _preview_selected(self) -> None:
        row = self.selected()
        if row is not None and row.customer_id != self.work.customer_id:
            self.show_customer(row.customer_id)

    def show_customer(self, customer_id: int, keep_status: bool = False) -> None:
        """Load the work panel for the customer (off the GUI thread)."""
        self._work_generation += 1
        generation, ctx, as_of = self._work_generation, self.ctx, self.query().as_of
        self.work_loading = True
        self.work.customer_id = customer_id
        self.work.log_button.setEnabled(False)
        workers.submit(
            load_work,
            ctx,
            customer_id,
            as_of,
            owner=self,
            on_done=lambda data: self._work_arrived(generation, data, keep_status),
            on_failed=lambda error: self._work_failed(generation, error),
        )

    def _work_arrived(self, generation: int, data: WorkData, keep_status: bool) -> None:
        if generation != self._work_generation:
            return
        self.work_loading = False
        self.work.show_data(data)
        self.work.log_button.setEnabled(self.may_work)
        self.work.profile_button.setEnabled(True)
        if not keep_status:
            detail = data.detail
            if self.claimed_id == detail.id:
                self.work.say(f"Working {detail.number} {detail.name}: yours for now.")
            else:
                self.work.say(
                    f"Viewing {detail.number} {detail.name}. Double-click it in the list to "
                    "work it."
                )
        self.work_loaded.emit(data.detail.id)

    def _work_failed(self, generation: int, error: O2CError) -> None:
        if generation == self._work_generation:
            self.work_loading = False
            self.work.say(str(error), "warn")

    def _open_profile(self) -> None:
        if self.work.customer_id is not None:
            self.open_customer.emit(self.work.customer_id)

    def log_call(self) -> LogCallDialog | None:
        """Ctrl+L: log a call for the customer in the work panel; afterwards the list (scores
        move), the panel and any open profile of the customer refresh."""
        data = self.work.data
        if data is None or not self.work.log_button.isEnabled():
            return None
        dialog = LogCallDialog(self.ctx, data.target, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            customer_id = data.detail.id
            self.ctx.signals.customer_changed.emit(customer_id)
            self._reload_timer.stop()  # the signal asked for a reload; do it now, once
            self.reload()
            self.view.setFocus()  # Enter goes on to the next customer
        return dialog

    def _customer_changed(self, customer_id: int) -> None:
        """A change elsewhere (payment, dispute, call on a profile): scores may have moved."""
        if self.isVisible():
            self._reload_timer.start()
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()
        if not self.view.hasFocus() and self.focusWidget() is None:
            self.view.setFocus()
