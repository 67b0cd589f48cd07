"""The Collections screen's work panel: the customer being worked. Credit header, overdue items,
who to call (each number a tel: link with a Copy button), recent calls and notes, open promises.

The contacts sit under the overdue items across the panel's whole width: a name with its role and
a full phone number with its links need more room than a column beside the items leaves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.services import activities, calls, customers, ledger_queries, promises
from o2c_desktop.services.customers import ContactRow, CustomerDetail
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import CallTarget, target_from
from o2c_desktop.ui.screens.customer_collections_tab import (
    ACTIVITY_COLUMNS,
    NOTES_SHOWN,
    PROMISE_COLUMNS,
    ActivityEntry,
    timeline,
)
from o2c_desktop.ui.screens.customer_ledger import OPEN_COLUMNS
from o2c_desktop.ui.screens.customer_profile import CreditHeader
from o2c_desktop.ui.widgets.layouts import scrolling, titled, toolbar
from o2c_desktop.ui.widgets.table_panel import TablePanel

CALLS_SHOWN = 20
STATUS_STYLE = {"info": "color: #555;", "warn": "color: #b00020; font-weight: 600;"}
# The overdue items as the customer's Ledger tab shows its open items, without what a collector
# does not talk about (kind, issue date, original amount).
ITEM_COLUMNS = tuple(
    c
    for c in OPEN_COLUMNS
    if c.key in ("number", "due_date", "days_past_due", "open_amount", "disputed_amount")
)


def tel_url(phone: str) -> str:
    """A dialable tel: URL (RFC 3966) from a number as people write it: "+49 (0)30 123-45"
    becomes "tel:+4930123 45" without the spaces; the "(0)" trunk prefix goes after a +."""
    text = phone.strip()
    if text.startswith("+"):
        text = text.replace("(0)", "")
    digits = re.sub(r"[^0-9*#]", "", text)
    return f"tel:{'+' if text.startswith('+') else ''}{digits}"


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


def shrinks_to_one_line(view: QAbstractScrollArea, line: int) -> None:
    """Let a pane of the work panel's splitter shrink to a line of content (`line` pixels plus
    a table's header): three panes stacked must not make the window taller than two did."""
    header = view.horizontalHeader().sizeHint().height() if isinstance(view, QTableView) else 0
    view.setMinimumHeight(header + line + 2 * view.frameWidth())


class ContactsPanel(QFrame):
    """Who to call, a line each: name and role, the number as a clickable tel: link (the
    system's dialer or softphone) with a Copy button, the e-mail; the main number first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("contactsPanel")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.grid.setHorizontalSpacing(12)
        self.links: list[QLabel] = []
        self.copy_buttons: list[QPushButton] = []

    def show_contacts(self, main_phone: str | None, contacts: Sequence[ContactRow]) -> None:
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for row in range(self.grid.rowCount()):
            self.grid.setRowStretch(row, 0)
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
        self.grid.setRowStretch(max(len(people), 1), 1)  # the lines stay together at the top

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
        self.header = CreditHeader()
        self.items = TablePanel(ITEM_COLUMNS, "overdue-items")
        self.items.setObjectName("workItems")
        self.contacts = ContactsPanel()
        self.activity = TablePanel(ACTIVITY_COLUMNS, "activity")
        self.activity.setObjectName("workActivity")
        self.promises = TablePanel(PROMISE_COLUMNS, "open-promises")
        self.promises.setObjectName("workPromises")
        contacts_area = scrolling(self.contacts)
        shrinks_to_one_line(contacts_area, self.fontMetrics().height() + 16)
        for panel in (self.items, self.activity, self.promises):
            shrinks_to_one_line(panel.view, panel.view.verticalHeader().defaultSectionSize())
        self.bottom_split = QSplitter(Qt.Orientation.Horizontal)
        self.bottom_split.addWidget(titled("Recent activity", self.activity))
        self.bottom_split.addWidget(titled("Open promises", self.promises))
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(titled("Overdue items", self.items))
        self.split.addWidget(titled("Contacts", contacts_area))
        self.split.addWidget(self.bottom_split)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.header)
        body.addWidget(self.split, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(
            toolbar((self.status, 1), self.next_button, self.log_button, self.profile_button)
        )
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
