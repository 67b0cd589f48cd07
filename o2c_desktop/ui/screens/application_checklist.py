"""An application's Checklist tab: the verification items (from the matching template), their
status and who verified or waived them, and the documents attached to each.

Received, Verify (Ctrl+Shift+V), Reject… and Waive… (managers; with a reason) move the selected
item on;
Attach file… stores a file for it (with its SHA-256, shown below), Open document hands a copy to
the system's viewer. The application cannot go to approval while a required item is neither
verified nor waived: the line above the items says which ones still block it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.models.credit import (
    ITEM_DONE,
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_REJECTED,
    ITEM_VERIFIED,
    ITEM_WAIVED,
)
from o2c_desktop.services import checklists, documents
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.documents import size_text
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_attach import AttachDialog
from o2c_desktop.ui.dialogs.application_reason import ReasonDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.screens.application_texts import ITEM_STATUS_LABELS, label
from o2c_desktop.ui.widgets.layouts import STRETCH, titled, toolbar
from o2c_desktop.ui.widgets.messages import confirm, show_error, show_info
from o2c_desktop.ui.widgets.table_panel import TablePanel

ITEM_COLUMNS = (
    Column("position", "#", lambda i: i.position, numeric=True),
    Column("label", "Item", lambda i: i.label),
    Column("required", "Required", lambda i: i.required),
    Column("quantity", "Qty", lambda i: i.quantity, numeric=True),
    Column(
        "status",
        "Status",
        lambda i: i.status,
        lambda i: label(ITEM_STATUS_LABELS, i.status),
        tooltip=lambda i: (
            f"Waived by {i.waived_by}: {i.waiver_reason} ({i.waiver_authority or 'no authority'})"
            if i.status == ITEM_WAIVED
            else ""
        ),
    ),
    Column(
        "by",
        "Verified / waived by",
        lambda i: i.waived_by if i.status == ITEM_WAIVED else i.verified_by,
    ),
    Column(
        "at",
        "When",
        lambda i: i.waived_at if i.status == ITEM_WAIVED else i.verified_at,
        lambda i: formatting.moment(i.waived_at if i.status == ITEM_WAIVED else i.verified_at),
    ),
    Column("documents", "Files", lambda i: len(i.documents), numeric=True),
    Column(
        "notes",
        "Notes",
        lambda i: i.waiver_reason if i.status == ITEM_WAIVED and not i.notes else i.notes,
    ),
)
DOCUMENT_COLUMNS = (
    Column("filename", "File", lambda d: d.filename),
    Column("description", "Description", lambda d: d.description),
    Column(
        "size",
        "Size",
        lambda d: d.size_bytes,
        lambda d: size_text(d.size_bytes),
        numeric=True,
    ),
    Column("type", "Type", lambda d: d.content_type),
    Column(
        "document_date",
        "Dated",
        lambda d: d.document_date,
        lambda d: formatting.day(d.document_date),
    ),
    Column("expires_on", "Expires", lambda d: d.expires_on, lambda d: formatting.day(d.expires_on)),
    Column("uploaded_by", "Attached by", lambda d: d.uploaded_by),
    Column(
        "uploaded_at",
        "Attached",
        lambda d: d.uploaded_at,
        lambda d: formatting.moment(d.uploaded_at),
    ),
    Column("sha256", "SHA-256", lambda d: d.sha256),
)
# Which statuses each button moves an item on from.
RECEIVABLE = (ITEM_PENDING, ITEM_REJECTED)
VERIFIABLE = (ITEM_PENDING, ITEM_RECEIVED, ITEM_REJECTED)
VERIFY_KEYS = "Ctrl+Shift+V"
REJECTABLE = (ITEM_PENDING, ITEM_RECEIVED, ITEM_VERIFIED)


def blocking(items: list[Any]) -> list[str]:
    """The required items that still keep the application from approval."""
    return [i.label for i in items if i.required and i.status not in ITEM_DONE]


class ChecklistTab(QWidget):
    changed = Signal()  # an item's status or its documents changed

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.application_id: int | None = None
        self.items: list[Any] = []
        self.workable = False  # the application's state lets its checklist be worked
        self.busy = False
        actor = ctx.actor
        self.may_verify = actor.may(Permission.VERIFY_CHECKLIST)
        self.may_waive = actor.may(Permission.WAIVE_CHECKLIST)
        self.summary = QLabel(objectName="checklistSummary")
        self.summary.setWordWrap(True)
        self.item_table = TablePanel(ITEM_COLUMNS, "checklist")
        self.item_table.setObjectName("checklistItems")
        self.item_table.view.setObjectName("checklistItemsView")
        self.item_table.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # the template's order
        self.document_table = TablePanel(DOCUMENT_COLUMNS, "documents")
        self.document_table.setObjectName("itemDocuments")
        self.document_table.view.setObjectName("itemDocumentsView")
        self.hash_label = QLabel(objectName="documentHash")
        self.hash_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hash_label.setStyleSheet("color: #555; font-family: monospace;")
        # Alt letters free of the menu bar's and the application's buttons (editor).
        self.received_button = QPushButton("R&eceived", objectName="itemReceived")
        self.verify_button = QPushButton("&Verify", objectName="itemVerify")
        self.verify_button.setToolTip(f"Verify the selected item ({VERIFY_KEYS})")
        QShortcut(QKeySequence(VERIFY_KEYS), self, self.verify_button.click)
        self.reject_button = QPushButton("Re&ject…", objectName="itemReject")
        self.waive_button = QPushButton("W&aive…", objectName="itemWaive")
        self.attach_button = QPushButton("Attach fi&le…", objectName="attachFile")
        self.open_button = QPushButton("&Open document", objectName="openDocument")
        self.remove_button = QPushButton("Re&move document", objectName="removeDocument")
        for button, permission in (
            (self.received_button, Permission.VERIFY_CHECKLIST),
            (self.verify_button, Permission.VERIFY_CHECKLIST),
            (self.reject_button, Permission.VERIFY_CHECKLIST),
            (self.waive_button, Permission.WAIVE_CHECKLIST),
            (self.attach_button, Permission.VERIFY_CHECKLIST),
            (self.remove_button, Permission.VERIFY_CHECKLIST),
        ):
            if not actor.may(permission):
                button.setToolTip(refusal(actor, permission))
        self.open_button.setToolTip("Open a copy of the selected file in the system's viewer")

        items_box = QWidget()
        items_layout = QVBoxLayout(items_box)
        items_layout.setContentsMargins(0, 0, 0, 0)
        items_layout.addWidget(self.summary)
        items_layout.addWidget(self.item_table, 1)
        items_layout.addLayout(
            toolbar(
                self.received_button,
                self.verify_button,
                self.reject_button,
                self.waive_button,
                self.attach_button,
                STRETCH,
            )
        )
        documents_box = QWidget()
        documents_layout = QVBoxLayout(documents_box)
        documents_layout.setContentsMargins(0, 0, 0, 0)
        documents_layout.addWidget(self.document_table, 1)
        documents_layout.addLayout(
            toolbar((self.hash_label, 1), self.open_button, self.remove_button)
        )
        split = QSplitter(Qt.Orientation.Vertical, objectName="checklistSplit")
        split.addWidget(items_box)
        split.addWidget(titled("Files of the selected item", documents_box))
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        self.item_table.view.selectionModel().currentRowChanged.connect(
            lambda *_a: self._item_chosen()
        )
        self.document_table.view.selectionModel().currentRowChanged.connect(
            lambda *_a: self._document_chosen()
        )
        self.document_table.activated.connect(lambda _d: self.open_document())
        self.received_button.clicked.connect(lambda: self.set_status(ITEM_RECEIVED))
        self.verify_button.clicked.connect(lambda: self.set_status(ITEM_VERIFIED))
        self.reject_button.clicked.connect(self.reject)
        self.waive_button.clicked.connect(self.waive)
        self.attach_button.clicked.connect(self.attach)
        self.open_button.clicked.connect(self.open_document)
        self.remove_button.clicked.connect(self.remove_document)
        self._enable()

    # -- showing ---------------------------------------------------------------------------
    def show_items(self, application_id: int, items: list[Any], workable: bool) -> None:
        """The items as loaded; the item selected before stays selected."""
        chosen = self.selected_item()
        self.application_id = application_id
        self.items = list(items)
        self.workable = workable
        self.item_table.set_rows(self.items)
        left = blocking(self.items)
        required = sum(1 for i in self.items if i.required)
        if not self.items:
            self.summary.setText("No checklist: no template matches this application.")
        elif left:
            self.summary.setText(
                f"{required - len(left)} of {required} required items verified or waived. "
                f"Still needed before approval: {', '.join(left)}."
            )
        else:
            self.summary.setText(f"All {required} required items are verified or waived.")
        self.summary.setStyleSheet("color: #b00020;" if left else "color: #2e7d32;")
        self.select_item(chosen.id if chosen is not None else None)

    def select_item(self, item_id: int | None) -> None:
        rows = self.item_table.visible_rows()
        row = next((n for n, i in enumerate(rows) if i.id == item_id), 0 if rows else -1)
        if row >= 0:
            self.item_table.view.setCurrentIndex(self.item_table.proxy.index(row, 1))
        self._item_chosen()

    def selected_item(self) -> Any:
        return self.item_table.selected_row()

    def selected_document(self) -> Any:
        return self.document_table.selected_row()

    def _item_chosen(self) -> None:
        item = self.selected_item()
        self.document_table.set_rows(item.documents if item is not None else [])
        if item is not None and item.documents:
            self.document_table.view.setCurrentIndex(self.document_table.proxy.index(0, 0))
        self._document_chosen()

    def _document_chosen(self) -> None:
        document = self.selected_document()
        self.hash_label.setText(f"SHA-256 {document.sha256}" if document is not None else "")
        self._enable()

    def _enable(self) -> None:
        item = self.selected_item()
        status = item.status if item is not None else None
        work = self.workable and not self.busy and item is not None
        self.received_button.setEnabled(work and self.may_verify and status in RECEIVABLE)
        self.verify_button.setEnabled(work and self.may_verify and status in VERIFIABLE)
        self.reject_button.setEnabled(work and self.may_verify and status in REJECTABLE)
        self.waive_button.setEnabled(work and self.may_waive and status != ITEM_WAIVED)
        self.attach_button.setEnabled(work and self.may_verify)
        document = self.selected_document() is not None
        self.open_button.setEnabled(document and not self.busy)
        self.remove_button.setEnabled(
            document and self.workable and self.may_verify and not self.busy
        )

    # -- actions ---------------------------------------------------------------------------
    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """A change on a worker; `changed` afterwards, so the editor loads the items again."""
        self.busy = True
        self._enable()

        def done(_value: Any) -> None:
            self.busy = False
            self._enable()
            self.changed.emit()

        def failed(error: O2CError) -> None:
            self.busy = False
            self._enable()
            show_error(self, error)

        workers.submit(lambda: fn(*args, **kwargs), owner=self, on_done=done, on_failed=failed)

    def set_status(self, status: str, notes: str | None = None) -> None:
        item = self.selected_item()
        if item is not None and self.workable:
            self._run(
                checklists.set_item_status,
                self.ctx.db,
                self.ctx.actor,
                item.id,
                item.version,
                status,
                notes,
            )

    def _ask_reason(self, title: str, prompt: str, action: Any) -> None:
        if ReasonDialog(self.ctx, title, prompt, action, self).exec():
            self.changed.emit()

    def reject(self) -> None:
        item = self.selected_item()
        if item is None or not self.workable:
            return
        db, actor = self.ctx.db, self.ctx.actor
        self._ask_reason(
            f"Reject · {item.label}",
            "What is wrong with it? The applicant is asked for it again.",
            lambda reason: checklists.set_item_status(
                db, actor, item.id, item.version, ITEM_REJECTED, reason
            ),
        )

    def waive(self) -> None:
        item = self.selected_item()
        if item is None or not self.workable:
            return
        db, actor = self.ctx.db, self.ctx.actor
        self._ask_reason(
            f"Waive · {item.label}",
            "Why is this item not needed for this applicant? The waiver is recorded with your "
            "name and authority.",
            lambda reason: checklists.waive_item(db, actor, item.id, item.version, reason),
        )

    def attach(self) -> None:
        item = self.selected_item()
        if item is None or self.application_id is None or not self.workable:
            return
        if AttachDialog(self.ctx, self.application_id, item, self).exec():
            self.changed.emit()

    def open_document(self) -> None:
        document = self.selected_document()
        if document is None:
            return

        def opened(path: Any) -> None:
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
                show_info(self, f"No viewer could open the file. A copy is at {path}.")

        workers.submit(
            documents.export_for_viewing,
            self.ctx.db,
            self.ctx.actor,
            document.id,
            owner=self,
            on_done=opened,
            on_failed=lambda error: show_error(self, error),
        )

    def remove_document(self) -> None:
        document = self.selected_document()
        if document is not None and confirm(self, f"Remove the file {document.filename}?"):
            self._run(documents.remove_document, self.ctx.db, self.ctx.actor, document.id)
