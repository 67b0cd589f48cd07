"""Collections: the collector's working screen. The call list (scored and ordered by the active
strategy) on the left, the customer being worked on the right (the work panel): credit header,
overdue items, contacts with their phone numbers, recent calls and notes, open promises.

Keyboard first: Enter takes the next customer off the list (claiming it, releasing the one just
worked), Ctrl+L logs a call. A double-click works a particular customer; selecting a row only
shows it. A collector sees their own portfolio; a manager any collector's or the whole team's.

Only the customer the user holds (claimed by Enter or a double-click) gets a call logged: Log call
is off for a customer only viewed, e.g. one "being worked by Maria", so two people never work one
customer (the calls service refuses it too). The claim is renewed while the customer is worked;
a renewal that fails (the PC slept past the lease and someone else took the customer) is said in
the status line, and the customer is no longer this user's.

The list is computed by the service in SQL on a worker; it holds at most a few thousand rows for
a collector (tens of thousands for the whole team), so it is loaded whole, and sorted and
filtered in the model's own list (models.call_list_table).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateEdit,
    QDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import call_list, claims, portfolios, users
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.call_list import CallListRow
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import LogCallDialog
from o2c_desktop.ui.models.call_list_table import (
    COLUMN_WIDTHS,
    COLUMNS,
    EXPORT_COLUMNS,
    CallListModel,
    overdue_totals,
)
from o2c_desktop.ui.widgets.layout_memory import keep_own_layout, window_settings
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import ask_export_path, show_error
from o2c_desktop.ui.widgets.table_panel import configure_table
from o2c_desktop.ui.widgets.work_panel import WorkData, WorkPanel, load_work, tel_url

__all__ = ["CollectionsScreen", "tel_url"]  # tel_url: the work panel's, for its callers

TEAM, OWN = "team", "own"
RENEW_CLAIM_MS = 10 * 60 * 1000  # claims last 15 minutes; renew while the customer is open
# The layout's group in the settings file. Bumped when the panes or columns change: a layout
# saved by an older version (a narrow list, the contacts beside the items) is not restored.
LAYOUT_GROUP = "collections_v2"
OLD_LAYOUT_GROUPS = ("collections",)
# Until the user moves them: the call list gets 45 % of the width (room for the reasons); the
# work panel's overdue items, contacts, and activity with promises share its height 2:1:2.
DEFAULT_SHARES = {"splitter": (45, 55), "work": (2, 1, 2)}


def holder(ctx: UiContext, customer_id: int) -> str | None:
    """Who holds the running claim on a customer (for "being worked by …"); on a worker."""
    lease = claims.lease_of(ctx.db, customer_id)
    if lease is None:
        return None
    return next(
        (u.display_name for u in users.list_users(ctx.db, ctx.actor) if u.id == lease[0]), None
    )


@dataclass(frozen=True)
class ListQuery:
    as_of: date
    collector_id: int | None
    team: bool

    def portfolio(self) -> dict[str, Any]:
        """Whose customers: the call list service's keyword arguments."""
        return {"collector_id": self.collector_id, "team": self.team}


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
        # However long the text ("1,234 customers · overdue …"), it never widens the screen
        # (and with it the window's minimum): it is cut, and the tooltip has it whole.
        self.count.setMinimumWidth(1)
        self.busy = QProgressBar(objectName="callBusy")
        self.busy.setRange(0, 0)  # a busy indicator while the list is computed
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the list again")
        top = toolbar(
            "As of",
            self.as_of,
            "Portfolio",
            self.collector,
            self.refresh_button,
            self.busy,
            STRETCH,
            self.count,
        )

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
        for column, width in enumerate(COLUMN_WIDTHS):
            self.view.setColumnWidth(column, width)
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addLayout(toolbar((self.filter_edit, 1), self.export_button))
        list_layout.addWidget(self.view, 1)

        self.work = WorkPanel()
        self._enable_log_call(False)
        self.work.profile_button.setEnabled(False)
        if not self.may_work:
            self.work.next_button.setEnabled(False)
            self.work.next_button.setToolTip(refusal(actor, Permission.WORK_COLLECTIONS))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(list_box)
        self.splitter.addWidget(self.work)
        self._unsized: list[str] = []  # splitters with no layout saved: DEFAULT_SHARES when shown

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)

        # Behaviour
        for key, slot in (
            (Qt.Key.Key_Return, self._enter),
            (Qt.Key.Key_Enter, self._enter),
            ("Ctrl+L", self.log_call),
        ):
            QShortcut(
                QKeySequence(key), self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut
            )
        self._reload_timer = QTimer(self, singleShot=True, interval=300)
        self._reload_timer.timeout.connect(self.reload)
        self._preview_timer = QTimer(self, singleShot=True, interval=250)
        self._preview_timer.timeout.connect(self._preview_selected)
        self._renew_timer = QTimer(self, interval=RENEW_CLAIM_MS)
        self._renew_timer.timeout.connect(self._renew_claim)
        self._layout_timer = QTimer(self, singleShot=True, interval=500)
        self._layout_timer.timeout.connect(self.save_layout)
        keep_own_layout(self)  # its splitters and columns: save_layout / restore_layout
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
            "work_bottom": self.work.bottom_split,
        }

    def restore_layout(self) -> None:
        settings = window_settings()
        settings.beginGroup(LAYOUT_GROUP)
        for key, splitter in self._splitters().items():
            state = settings.value(key)
            if state is not None:
                splitter.restoreState(state)
            elif key in DEFAULT_SHARES:
                self._unsized.append(key)
        header = settings.value("header")
        if header is not None:
            self.view.horizontalHeader().restoreState(header)
        # Widths and column order are remembered, not the order of the rows: the list opens in
        # the strategy's order (score, then overdue), the order Enter works it in.
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

    def save_layout(self) -> None:
        """Splitters and columns, in the window layout file (also saved as they change)."""
        settings = window_settings()
        for old in OLD_LAYOUT_GROUPS:
            settings.remove(old)
        settings.beginGroup(LAYOUT_GROUP)
        for key, splitter in self._splitters().items():
            if key not in self._unsized:  # not shown yet: the defaults again next time
                settings.setValue(key, splitter.saveState())
        settings.setValue("header", self.view.horizontalHeader().saveState())
        settings.endGroup()
        settings.sync()

    def _size_by_default(self) -> None:
        """The splitters no layout was saved for, in DEFAULT_SHARES. Once shown, when they
        know their length (Qt's own split follows the panes' size hints: a narrow list)."""
        for key in self._unsized:
            splitter, parts = self._splitters()[key], DEFAULT_SHARES[key]
            total = sum(splitter.sizes())
            splitter.setSizes([total * part // sum(parts) for part in parts])
        self._unsized = []

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
            lambda: call_list.call_list(ctx.db, ctx.actor, query.as_of, **query.portfolio()),
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
        self.count.setToolTip(self.count.text())

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
                ctx.db, ctx.actor, query.as_of, after=previous, **query.portfolio()
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

    def _claim_gone(self, customer_id: int, holder: str | None = None) -> None:
        """The user no longer holds the customer (released, or lost to `holder`)."""
        if self.claimed_id == customer_id:
            self.claimed_id = None
            self._renew_timer.stop()
        if self.work.customer_id == customer_id:
            self._enable_log_call(False)
        self.model.replace_row(customer_id, lambda r: replace(r, claimed_by=holder))

    def _renew_claim(self) -> None:
        """Renew the lease on the customer being worked (every RENEW_CLAIM_MS). A renewal can
        fail: after a sleep longer than the lease another collector may have taken the customer
        (or it was reassigned, or deleted); then the screen must stop saying "yours"."""
        customer_id = self.claimed_id
        if customer_id is None:
            return
        workers.submit(
            claims.hold,
            self.ctx.db,
            self.ctx.actor,
            customer_id,
            owner=self,
            on_failed=lambda error: self._claim_lost(customer_id, error),
        )

    def _claim_lost(self, customer_id: int, error: O2CError) -> None:
        """A renewal failed: warn, forget the claim and switch Log call off."""
        if self.claimed_id != customer_id:
            return  # the user moved on meanwhile
        holder = error.holder if isinstance(error, claims.ClaimedByOther) else None
        self._claim_gone(customer_id, holder)
        data, who = self.work.data, "The customer"
        if data is not None and data.detail.id == customer_id:
            who = f"{data.detail.number} {data.detail.name}"
        self.work.say(f"{who} is no longer yours: {error}", "warn")

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

    def _enable_log_call(self, enabled: bool) -> None:
        """Log call is for the customer the user holds; the tooltip says why it is off."""
        self.work.log_button.setEnabled(enabled)
        if enabled:
            tip = "Log a call, a promise or a dispute (Ctrl+L)"
        elif not self.may_work:
            tip = refusal(self.ctx.actor, Permission.WORK_COLLECTIONS)
        else:
            tip = (
                "Work the customer first (double-click it in the list, or Enter for the next "
                "one): calls are logged only for the customer you are working"
            )
        self.work.log_button.setToolTip(tip)

    def show_customer(self, customer_id: int, keep_status: bool = False) -> None:
        """Load the work panel for the customer (off the GUI thread)."""
        self._work_generation += 1
        generation, ctx, as_of = self._work_generation, self.ctx, self.query().as_of
        self.work_loading = True
        self.work.customer_id = customer_id
        self._enable_log_call(False)
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
        self._enable_log_call(self.may_work and self.claimed_id == data.detail.id)
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
        """Ctrl+L: log a call for the customer being worked (the one the user holds); afterwards
        the list (scores move), the panel and any open profile of the customer refresh. On a
        customer only viewed, the status line says how to work it instead."""
        data = self.work.data
        if data is None or self.work_loading:
            return None
        if self.claimed_id != data.detail.id or not self.work.log_button.isEnabled():
            if self.may_work:
                self.work.say(
                    f"Viewing {data.detail.number} {data.detail.name}: double-click it in the "
                    "list to work it before logging a call.",
                    "warn",
                )
            return None
        dialog = LogCallDialog(self.ctx, data.target, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            customer_id = data.detail.id
            self.ctx.signals.customer_changed.emit(customer_id)
            self._reload_timer.stop()  # the signal asked for a reload; do it now, once
            self.reload()
            self.view.setFocus()  # Enter goes on to the next customer
        else:
            # Not saved, perhaps because the claim was lost meanwhile: check it now.
            self._renew_claim()
        return dialog

    def _customer_changed(self, customer_id: int) -> None:
        """A change elsewhere (payment, dispute, call on a profile): scores may have moved."""
        if self.isVisible():
            self._reload_timer.start()
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._unsized:
            self._size_by_default()
        if self._stale:
            self.reload()
        if not self.view.hasFocus() and self.focusWidget() is None:
            self.view.setFocus()
