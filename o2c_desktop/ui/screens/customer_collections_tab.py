"""The customer profile's Collections tab: the customer's promises (open and recent, with what
has been paid against each), the calls logged, and Log call… (Ctrl+L), the same dialog as on the
Collections screen.

The columns and the activity timeline (calls and notes merged, newest first) live here too: the
Collections screen's work panel (widgets.work_panel) shows the same things the same way.

Log call claims the customer first (on a worker), as the Collections screen's Enter does: while
someone else works the customer, the user is told who and no dialog opens. The claim is kept
until its lease lapses (15 minutes after the claim or the last call logged; the calls service
renews it with each call), not released when the profile closes: a profile may be left open for
hours, so it does not renew the lease, and a release on closing would also drop the claim the
user's Collections screen may hold on the same customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.services import activities, calls, claims, customers, ledger_queries, promises
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.customers import CustomerDetail
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import CallTarget, LogCallDialog, target_from
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.layouts import titled
from o2c_desktop.ui.widgets.messages import show_error, show_info
from o2c_desktop.ui.widgets.table_panel import TablePanel

STATE_LABELS = {"open": "Open", "kept": "Kept", "broken": "Broken", "cancelled": "Cancelled"}
CALLS_SHOWN = 50
NOTES_SHOWN = 20


def _state(row: promises.PromiseStatus) -> str:
    return STATE_LABELS.get(str(row.state), str(row.state))


PROMISE_COLUMNS = (
    Column("made_on", "Made", lambda p: p.made_on, lambda p: formatting.day(p.made_on)),
    Column(
        "promised_on",
        "Pays by",
        lambda p: p.promised_on,
        lambda p: formatting.day(p.promised_on),
        tooltip=lambda p: f"Kept if paid by {formatting.day(p.due_by)} (with grace)",
    ),
    Column(
        "amount", "Amount", lambda p: p.amount, lambda p: formatting.amount(p.amount), numeric=True
    ),
    Column("paid", "Paid", lambda p: p.paid, lambda p: formatting.amount(p.paid), numeric=True),
    Column("currency", "Currency", lambda p: p.currency),
    Column("state", "State", lambda p: str(p.state), _state),
    Column("settled_on", "Settled", lambda p: p.settled_on, lambda p: formatting.day(p.settled_on)),
    Column("items", "Items", lambda p: len(p.item_ids), numeric=True),
)
CALL_COLUMNS = (
    Column("called_at", "When", lambda c: c.called_at, lambda c: formatting.moment(c.called_at)),
    Column("user", "Who", lambda c: c.user),
    Column("outcome", "Outcome", lambda c: c.outcome_label),
    Column("contact", "Spoke to", lambda c: c.contact),
    Column("notes", "Notes", lambda c: c.notes, tooltip=lambda c: c.notes or ""),
    Column(
        "follow_up_on",
        "Follow up",
        lambda c: c.follow_up_on,
        lambda c: formatting.day(c.follow_up_on),
    ),
)


@dataclass(frozen=True)
class ActivityEntry:
    """One line of the work panel's recent activity: a call or a note."""

    at: datetime
    kind: str  # "Call" or the note's kind
    who: str | None
    what: str
    follow_up_on: date | None = None


ACTIVITY_COLUMNS = (
    Column("at", "When", lambda a: a.at, lambda a: formatting.moment(a.at)),
    Column("kind", "Kind", lambda a: a.kind),
    Column("who", "Who", lambda a: a.who),
    Column("what", "What", lambda a: a.what, tooltip=lambda a: a.what),
    Column(
        "follow_up_on",
        "Follow up",
        lambda a: a.follow_up_on,
        lambda a: formatting.day(a.follow_up_on),
    ),
)


def timeline(
    call_rows: list[calls.CallRow], notes: list[activities.ActivityRow]
) -> list[ActivityEntry]:
    """Calls and notes in one list, newest first."""
    entries = [
        ActivityEntry(
            c.called_at,
            "Call",
            c.user,
            " · ".join(x for x in (c.outcome_label, c.contact, c.notes) if x),
            c.follow_up_on,
        )
        for c in call_rows
    ]
    entries += [ActivityEntry(n.occurred_at, n.kind.capitalize(), n.author, n.body) for n in notes]
    return sorted(entries, key=lambda e: e.at, reverse=True)


@dataclass(frozen=True)
class TabData:
    target: CallTarget
    promises: list[promises.PromiseStatus]
    calls: list[calls.CallRow]


def load_tab(
    ctx: UiContext, customer_id: int, as_of: date, detail: CustomerDetail | None
) -> TabData:
    """Everything the tab shows, read on a worker (the profile passes the detail it has)."""
    db, actor = ctx.db, ctx.actor
    if detail is None:
        detail = customers.get_customer(db, actor, customer_id)
    items = ledger_queries.open_items(db, actor, customer_id, as_of)
    return TabData(
        target=target_from(detail, items, as_of),
        promises=promises.customer_promises(db, actor, customer_id, as_of),
        calls=calls.recent_calls(db, actor, customer_id, CALLS_SHOWN),
    )


class CollectionsTab(QWidget):
    def __init__(self, ctx: UiContext, customer_id: int, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx, self.customer_id = ctx, customer_id
        self.target: CallTarget | None = None
        self.loaded = False
        self.claiming = False  # Log call is taking the claim on a worker
        may = ctx.actor.may(Permission.WORK_COLLECTIONS)
        self.log_button = QPushButton("Log &call…", objectName="logCallButton")
        self.log_button.setToolTip(
            "Log a call, a promise or a dispute (Ctrl+L)"
            if may
            else refusal(ctx.actor, Permission.WORK_COLLECTIONS)
        )
        self.log_button.setEnabled(False)  # until the customer's items are known
        self.summary = QLabel(objectName="collectionsSummary")
        self.promises = TablePanel(PROMISE_COLUMNS, "promises")
        self.promises.setObjectName("profilePromises")
        self.promises.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.promises.toolbar.insertWidget(0, self.log_button)
        self.calls = TablePanel(CALL_COLUMNS, "calls")
        self.calls.setObjectName("profileCalls")
        self.calls.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(titled("Promises to pay", self.promises))
        split.addWidget(titled("Calls", self.calls))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self.log_button.clicked.connect(self.log_call)

    def reload(self, detail: CustomerDetail | None = None) -> None:
        workers.submit(
            load_tab,
            self.ctx,
            self.customer_id,
            date.today(),
            detail,
            owner=self,
            on_done=self._show,
            on_failed=lambda e: show_error(self, e),
        )

    def _show(self, data: TabData) -> None:
        self.target = data.target
        self.promises.set_rows(data.promises)
        self.calls.set_rows(data.calls)
        open_ones = [p for p in data.promises if str(p.state) == "open"]
        text = f"{len(open_ones)} open promise(s)"
        if open_ones:
            text += ", next due " + formatting.day(min(p.promised_on for p in open_ones))
        last = max(data.calls, key=lambda c: c.called_at, default=None)
        if last is not None:
            text += f"  ·  last call {formatting.moment(last.called_at)}: {last.outcome_label}"
        self.summary.setText(text)
        self.log_button.setEnabled(self.ctx.actor.may(Permission.WORK_COLLECTIONS))
        self.loaded = True

    def log_call(self) -> None:
        """Ctrl+L / Log call…: claim the customer (off the GUI thread), then the dialog; when
        someone else is working the customer, say who instead."""
        if self.target is None or not self.log_button.isEnabled() or self.claiming:
            return
        self.claiming = True
        self.log_button.setEnabled(False)
        workers.submit(
            claims.hold,
            self.ctx.db,
            self.ctx.actor,
            self.customer_id,
            owner=self,
            on_done=lambda _none: self._claimed(),
            on_failed=self._not_claimed,
        )

    def _claimed(self) -> None:
        self.claiming = False
        self.log_button.setEnabled(True)
        self.open_dialog()

    def _not_claimed(self, error: O2CError) -> None:
        self.claiming = False
        self.log_button.setEnabled(True)
        if isinstance(error, claims.ClaimedByOther):
            show_info(self, str(error), "Customer being worked")
        else:
            show_error(self, error)

    def open_dialog(self) -> LogCallDialog | None:
        """The Log call dialog (the customer claimed); when saved, everything showing the
        customer reloads."""
        if self.target is None:
            return None
        dialog = LogCallDialog(self.ctx, self.target, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.ctx.signals.customer_changed.emit(self.customer_id)
        return dialog
