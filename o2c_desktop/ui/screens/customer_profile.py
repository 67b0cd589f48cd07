"""A customer's credit profile: the credit picture on top, then Overview, Contacts, Activity,
Ledger, Collections and History tabs. Later issues add more tabs through `add_tab`.

"New credit application…" asks the window (signal `new_application`) to open an application
for a new limit, in the Credit applications area.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import activities, audit, contacts, customers, statement_delivery
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.customer_fields import BY_NAME, FIELDS, RISK_CLASSES
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.contact_edit import ContactDialog
from o2c_desktop.ui.dialogs.customer_edit import CustomerDialog
from o2c_desktop.ui.dialogs.statement_preview import StatementPreview
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.screens.customer_collections_tab import CollectionsTab
from o2c_desktop.ui.screens.customer_ledger import LedgerTab
from o2c_desktop.ui.widgets.messages import confirm, show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

CONTACT_COLUMNS = (
    Column("name", "Name", lambda c: c.name),
    Column("title", "Role", lambda c: c.title),
    Column("phone", "Phone", lambda c: c.phone),
    Column("email", "E-mail", lambda c: c.email),
    Column("is_primary", "Primary", lambda c: c.is_primary),
    Column("receives_statements", "Statements", lambda c: c.receives_statements),
    Column("notes", "Notes", lambda c: c.notes),
)
DELIVERY_COLUMNS = (
    Column("at", "When", lambda d: d.produced_at, lambda d: formatting.moment(d.produced_at)),
    Column("who", "Who", lambda d: d.produced_by),
    Column(
        "date",
        "Statement date",
        lambda d: d.statement_date,
        lambda d: formatting.day(d.statement_date),
    ),
    Column("kind", "Kind", lambda d: d.kind),
    Column("channel", "Channel", lambda d: d.channel),
    Column("result", "Result", lambda d: d.result),
    Column("file", "File", lambda d: d.file_name.replace("\\", "/").rsplit("/", 1)[-1]),
    Column("sha256", "SHA-256", lambda d: d.sha256, lambda d: (d.sha256 or "")[:12]),
    Column("recipient", "Recipient", lambda d: d.recipient),
    Column("detail", "Detail", lambda d: d.detail),
)
HISTORY_COLUMNS = (
    Column("at", "When", lambda a: a.at, lambda a: formatting.moment(a.at)),
    Column("user", "Who", lambda a: a.username),
    Column("action", "Action", lambda a: a.action),
    Column("table", "Record", lambda a: f"{a.table} #{a.record_id}"),
    Column("field", "Field", lambda a: BY_NAME[a.field].label if a.field in BY_NAME else a.field),
    Column("old", "Old value", lambda a: a.old_value),
    Column("new", "New value", lambda a: a.new_value),
)


def _label(text: str = "", object_name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if object_name:
        label.setObjectName(object_name)
    return label


class CreditHeader(QFrame):
    """Limit, exposure, available credit, utilization bar, risk class, terms, hold."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = _label(object_name="customerTitle")
        self.title.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.limit = _label(object_name="creditLimit")
        self.exposure = _label(object_name="exposure")
        self.available = _label(object_name="availableCredit")
        self.risk = _label(object_name="riskClass")
        self.terms = _label(object_name="paymentTerms")
        self.hold = _label(object_name="holdState")
        self.temporary = _label(object_name="temporaryLimit")
        self.temporary.setStyleSheet("color: #1f4e79;")
        self.temporary.hide()
        self.utilization = QProgressBar(objectName="utilizationBar")
        self.utilization.setRange(0, 100)
        self.utilization.setFormat("%p% used")
        grid = QGridLayout(self)
        grid.addWidget(self.title, 0, 0, 1, 6)
        for column, (caption, widget) in enumerate(
            (
                ("Credit limit", self.limit),
                ("Exposure", self.exposure),
                ("Available", self.available),
                ("Risk class", self.risk),
                ("Payment terms", self.terms),
                ("Status", self.hold),
            )
        ):
            caption_label = QLabel(caption)
            caption_label.setStyleSheet("color: #666;")
            grid.addWidget(caption_label, 1, column)
            grid.addWidget(widget, 2, column)
            widget.setStyleSheet("font-size: 12pt;")
        grid.addWidget(self.temporary, 3, 0, 1, 6)
        grid.addWidget(self.utilization, 4, 0, 1, 6)

    def show_customer(self, detail: customers.CustomerDetail) -> None:
        currency = detail.currency
        self.title.setText(f"{detail.name}  ·  {detail.number}")
        self.limit.setText(formatting.money(detail.credit_limit, currency))
        self._show_temporary(detail)
        self.exposure.setText(formatting.money(detail.exposure, currency))
        self.available.setText(formatting.money(detail.available_credit, currency))
        self.available.setStyleSheet(
            "font-size: 12pt;" + (" color: #b00020;" if detail.available_credit < 0 else "")
        )
        self.risk.setText(RISK_CLASSES.get(detail.values["risk_class"] or "", "not rated"))
        self.terms.setText(detail.payment_terms_text)
        on_hold = detail.values["on_hold"]
        reason = detail.values["hold_reason"]
        self.hold.setText(("ON HOLD" + (f": {reason}" if reason else "")) if on_hold else "Active")
        self.hold.setStyleSheet(
            "font-size: 12pt;" + (" color: #b00020; font-weight: 600;" if on_hold else "")
        )
        used = detail.utilization
        self.utilization.setEnabled(used is not None)
        percent = 0 if used is None else int(min(used * 100, 100))
        self.utilization.setValue(percent)
        self.utilization.setFormat(
            "no credit limit" if used is None else f"{formatting.percent(used)} used"
        )
        over = used is not None and used > 1
        self.utilization.setStyleSheet(
            "QProgressBar::chunk { background: %s; }"
            % ("#c62828" if over else "#f9a825" if percent >= 80 else "#2e7d32")
        )

    def _show_temporary(self, detail: customers.CustomerDetail) -> None:
        """A temporary limit next to the credit limit, with its last day, while it applies
        (or is still to come); gone once it lapsed."""
        limit, until = detail.temporary_limit, detail.temporary_limit_until
        shown = limit is not None and until is not None and until >= date.today()
        self.temporary.setVisible(shown)
        self.temporary.setText(
            f"Temporary limit {formatting.money(limit, detail.currency)} "
            f"until {formatting.day(until)} (its last day)"
            if shown
            else ""
        )


class CustomerProfile(QWidget):
    title_changed = Signal(str)
    closed = Signal()
    new_application = Signal(int)  # the customer's id: open a limit-change application

    def __init__(self, ctx: UiContext, customer_id: int, parent: Any = None):
        super().__init__(parent)
        self.ctx, self.customer_id = ctx, customer_id
        self.detail: customers.CustomerDetail | None = None
        self.header = CreditHeader()
        self.tabs = QTabWidget(objectName="profileTabs")

        # Overview
        self.overview = QWidget()
        self.fields = {spec.name: _label(object_name=f"value_{spec.name}") for spec in FIELDS}
        forms = QHBoxLayout()
        for names in (FIELDS[:8], FIELDS[8:14], FIELDS[14:]):
            form = QFormLayout()
            for spec in names:
                form.addRow(spec.label, self.fields[spec.name])
            forms.addLayout(form)
        self.edit_button = QPushButton("&Edit…")
        self.edit_button.setToolTip("Ctrl+E")
        self.statement_button = QPushButton("&Statement…")
        self.statement_button.setToolTip(
            "Preview, save, print or e-mail a statement (Ctrl+Shift+S)"
        )
        self.application_button = QPushButton("New credit a&pplication…")
        self.application_button.setObjectName("newCreditApplication")
        may_prepare = ctx.actor.may(Permission.PREPARE_APPLICATIONS)
        self.application_button.setEnabled(may_prepare)
        self.application_button.setToolTip(
            "Apply for a new credit limit for this customer"
            if may_prepare
            else refusal(ctx.actor, Permission.PREPARE_APPLICATIONS)
        )
        self.delete_button = QPushButton("Delete customer")
        self.delete_button.setVisible(ctx.actor.may(Permission.DELETE_CUSTOMER))
        self.stamp = _label()
        self.stamp.setStyleSheet("color: #666;")
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.statement_button)
        buttons.addWidget(self.application_button)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.stamp)
        overview_layout = QVBoxLayout(self.overview)
        overview_layout.addLayout(forms)
        overview_layout.addStretch(1)
        overview_layout.addLayout(buttons)
        self.tabs.addTab(self.overview, "&Overview")

        # Contacts
        self.contacts = TablePanel(CONTACT_COLUMNS, "contacts")
        self.add_contact = QPushButton("Add contact…")
        self.edit_contact = QPushButton("Edit…")
        self.remove_contact = QPushButton("Remove")
        for button in (self.add_contact, self.edit_contact, self.remove_contact):
            self.contacts.toolbar.addWidget(button)
            button.setEnabled(ctx.actor.may(Permission.EDIT_CONTACTS))
        self.tabs.addTab(self.contacts, "&Contacts")

        # Activity
        self.activity_tab = QWidget()
        self.timeline = QListWidget(objectName="timeline")
        self.timeline.setWordWrap(True)
        self.note_edit = QPlainTextEdit(objectName="noteEdit")
        self.note_edit.setPlaceholderText("Write a note… (Ctrl+Enter adds it)")
        self.note_edit.setMaximumHeight(90)
        self.add_note_button = QPushButton("Add &note")
        self.add_note_button.setEnabled(ctx.actor.may(Permission.ADD_NOTE))
        # Statements produced for the customer: their own table (sortable, filterable,
        # exportable) under the notes, rather than mixed into the timeline of notes.
        self.deliveries = TablePanel(DELIVERY_COLUMNS, "statement-deliveries")
        self.deliveries.setObjectName("statementDeliveries")
        self.deliveries.toolbar.insertWidget(0, QLabel("Statements produced"))
        self.deliveries.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first
        activity_split = QSplitter(Qt.Orientation.Vertical)
        activity_split.addWidget(self.timeline)
        activity_split.addWidget(self.deliveries)
        activity_split.setStretchFactor(0, 3)
        activity_split.setStretchFactor(1, 2)
        activity_layout = QVBoxLayout(self.activity_tab)
        activity_layout.addWidget(activity_split, 1)
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.add_note_button)
        activity_layout.addLayout(note_row)
        self.tabs.addTab(self.activity_tab, "&Activity")

        # Ledger
        self.ledger = LedgerTab(ctx, customer_id)
        self.tabs.addTab(self.ledger, "&Ledger")

        # Collections: promises, calls, Log call… (Ctrl+L anywhere on the profile; it claims the
        # customer first, so nobody else works it meanwhile: see customer_collections_tab)
        self.collections = CollectionsTab(ctx, customer_id)
        self.tabs.addTab(self.collections, "Collect&ions")

        # History
        self.history = TablePanel(HISTORY_COLUMNS, "history")
        self.tabs.addTab(self.history, "&History")

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)

        self.edit_button.clicked.connect(self.edit)
        self.statement_button.clicked.connect(self.open_statement)
        self.delete_button.clicked.connect(self.delete)
        self.application_button.clicked.connect(lambda: self.new_application.emit(self.customer_id))
        self.add_contact.clicked.connect(self.new_contact)
        self.edit_contact.clicked.connect(self.change_contact)
        self.contacts.activated.connect(lambda _row: self.change_contact())
        self.remove_contact.clicked.connect(self.delete_contact)
        self.add_note_button.clicked.connect(self.add_note)
        self.note_edit.installEventFilter(self)
        QShortcut(
            QKeySequence("Ctrl+E"),
            self,
            self.edit,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence("Ctrl+Shift+S"),
            self,
            self.open_statement,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence("Ctrl+L"),
            self,
            self.collections.log_call,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        ctx.signals.customer_changed.connect(self._maybe_reload)
        self.reload()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+Enter in the note box adds the note (a plain Enter is a new line)."""
        if (
            watched is self.note_edit
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.add_note()
            return True
        return super().eventFilter(watched, event)

    def add_tab(self, widget: QWidget, title: str) -> None:
        """Where the Ledger, Applications and Calls tabs plug in."""
        self.tabs.addTab(widget, title)

    # -- loading ---------------------------------------------------------------------------
    def _maybe_reload(self, customer_id: int) -> None:
        if customer_id == self.customer_id:
            self.reload()

    def reload(self) -> None:
        ctx, cid = self.ctx, self.customer_id

        def load() -> tuple[Any, Any, Any, Any]:
            return (
                customers.get_customer(ctx.db, ctx.actor, cid),
                activities.list_activities(ctx.db, ctx.actor, cid),
                audit.customer_history(ctx.db, ctx.actor, cid),
                statement_delivery.deliveries_for_customer(ctx.db, cid),
            )

        workers.submit(
            load, owner=self, on_done=self._show, on_failed=lambda e: show_error(self, e)
        )

    def _show(
        self, loaded: tuple[customers.CustomerDetail, list[Any], list[Any], list[Any]]
    ) -> None:
        detail, notes, history, deliveries = loaded
        self.detail = detail
        self.header.show_customer(detail)
        for spec in FIELDS:
            value = detail.values.get(spec.name)
            if spec.name == "collector":
                text = detail.collector_name or ""
            elif spec.name == "credit_limit":
                text = formatting.money(value, detail.currency)
            elif spec.name == "payment_terms":
                text = detail.payment_terms_text
            elif spec.name == "risk_class":
                text = RISK_CLASSES.get(value or "", "")
            elif spec.name == "next_review_date":
                text = formatting.day(value)
            elif isinstance(value, bool):
                text = "Yes" if value else "No"
            else:
                text = "" if value is None else str(value)
            self.fields[spec.name].setText(text)
        self.stamp.setText(
            f"Last changed {formatting.moment(detail.updated_at)}"
            + (f" by {detail.updated_by}" if detail.updated_by else "")
        )
        self.contacts.set_rows(detail.contacts)
        self.timeline.clear()
        for note in notes:
            item = QListWidgetItem(
                f"{formatting.moment(note.occurred_at)} · {note.author or ''}"
                f" · {note.kind}\n{note.body}"
            )
            self.timeline.addItem(item)
        self.history.set_rows(history)
        self.deliveries.set_rows(deliveries)
        self.ledger.reload()
        self.collections.reload(detail)
        self.title_changed.emit(f"{detail.number} {detail.name}")

    # -- actions ---------------------------------------------------------------------------
    def edit(self) -> None:
        if self.detail is None:
            return
        dialog = CustomerDialog(self.ctx, self.detail, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.ctx.signals.customer_changed.emit(self.customer_id)

    def open_statement(self) -> StatementPreview | None:
        """Customer → Statement…: the preview dialog (modeless, so the profile stays usable)."""
        if self.detail is None:
            return None
        dialog = StatementPreview(self.ctx, self.customer_id, self.detail.number, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def delete(self) -> None:
        if self.detail is None or not confirm(
            self,
            f"Delete customer {self.detail.number} {self.detail.name}? "
            "Its history stays in the audit log.",
        ):
            return
        try:
            customers.delete_customer(
                self.ctx.db, self.ctx.actor, self.customer_id, self.detail.version
            )
        except O2CError as exc:
            show_error(self, exc)
            return
        self.ctx.signals.customers_changed.emit()
        self.closed.emit()

    def new_contact(self) -> None:
        if ContactDialog(self.ctx, self.customer_id, None, self).exec():
            self.ctx.signals.customer_changed.emit(self.customer_id)

    def change_contact(self) -> None:
        contact = self.contacts.selected_row()
        if contact is not None and ContactDialog(self.ctx, self.customer_id, contact, self).exec():
            self.ctx.signals.customer_changed.emit(self.customer_id)

    def delete_contact(self) -> None:
        contact = self.contacts.selected_row()
        if contact is None or not confirm(self, f"Remove the contact {contact.name}?"):
            return
        try:
            contacts.delete_contact(self.ctx.db, self.ctx.actor, contact.id)
        except O2CError as exc:
            show_error(self, exc)
            return
        self.ctx.signals.customer_changed.emit(self.customer_id)

    def add_note(self) -> None:
        text = self.note_edit.toPlainText()
        self.add_note_button.setEnabled(False)

        def done(_row: Any) -> None:
            self.add_note_button.setEnabled(True)
            self.note_edit.clear()
            self.ctx.signals.customer_changed.emit(self.customer_id)

        def failed(error: O2CError) -> None:
            self.add_note_button.setEnabled(True)
            show_error(self, error)

        workers.submit(
            activities.add_note,
            self.ctx.db,
            self.ctx.actor,
            self.customer_id,
            text,
            owner=self,
            on_done=done,
            on_failed=failed,
        )
