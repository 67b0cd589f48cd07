"""An application's References tab: the trade and bank references the applicant gave, and what
each said when checked (its rating, which the scorecard counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.services import credit_applications
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_reference import (
    KIND_LABELS,
    RATING_LABELS,
    ReferenceDialog,
)
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.screens.application_texts import label
from o2c_desktop.ui.widgets.messages import confirm, show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel


def columns(currency: Callable[[], str | None]) -> tuple[Column, ...]:
    """The references' columns; amounts in the application's `currency()` (its decimals)."""
    return (
        Column("kind", "Kind", lambda r: r.kind, lambda r: label(KIND_LABELS, r.kind)),
        Column("name", "Name", lambda r: r.name),
        Column("contact", "Contact", lambda r: r.contact_name),
        Column("phone", "Phone", lambda r: r.phone),
        Column("email", "E-mail", lambda r: r.email),
        Column("years", "Years known", lambda r: r.years_known, numeric=True),
        Column(
            "highest_credit",
            "Highest credit",
            lambda r: r.highest_credit,
            lambda r: formatting.money(r.highest_credit, currency()),
            numeric=True,
        ),
        Column(
            "rating", "Rating", lambda r: r.rating, lambda r: label(RATING_LABELS, r.rating) or "—"
        ),
        Column("notes", "Notes", lambda r: r.notes),
    )


class ReferencesTab(QWidget):
    changed = Signal()  # a reference was added, edited or removed

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.application: credit_applications.ApplicationView | None = None
        self.editable = False
        self.table = TablePanel(columns(self.currency), "references")
        self.table.setObjectName("referenceList")
        self.table.view.setObjectName("referenceListView")
        self.add_button = QPushButton("A&dd reference…", objectName="addReference")
        self.edit_button = QPushButton("&Edit…", objectName="editReference")
        self.remove_button = QPushButton("Remo&ve", objectName="removeReference")
        for button in (self.add_button, self.edit_button, self.remove_button):
            self.table.toolbar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.add_button.clicked.connect(self.add)
        self.edit_button.clicked.connect(self.edit)
        self.table.activated.connect(lambda _row: self.edit())
        self.remove_button.clicked.connect(self.remove)
        self.table.view.selectionModel().currentRowChanged.connect(lambda *_a: self._enable())
        self.table.model.modelReset.connect(self._enable)
        self._enable()

    def currency(self) -> str | None:
        return self.application.currency if self.application is not None else None

    def show_application(self, view: credit_applications.ApplicationView, editable: bool) -> None:
        self.application = view
        self.editable = editable
        self.table.set_rows(view.references)
        self._enable()

    def _enable(self) -> None:
        chosen = self.table.selected_row() is not None
        self.add_button.setEnabled(self.editable)
        self.edit_button.setEnabled(self.editable and chosen)
        self.remove_button.setEnabled(self.editable and chosen)

    def add(self) -> None:
        self._edit(None)

    def edit(self) -> None:
        reference = self.table.selected_row()
        if reference is not None:
            self._edit(reference)

    def _edit(self, reference: credit_applications.ReferenceView | None) -> None:
        if self.application is None or not self.editable:
            return
        if ReferenceDialog(self.ctx, self.application.id, reference, self).exec():
            self.changed.emit()

    def remove(self) -> None:
        reference = self.table.selected_row()
        if reference is None or not confirm(self, f"Remove the reference {reference.name}?"):
            return

        def failed(error: O2CError) -> None:
            show_error(self, error)

        workers.submit(
            credit_applications.remove_reference,
            self.ctx.db,
            self.ctx.actor,
            reference.id,
            reference.version,
            owner=self,
            on_done=lambda _none: self.changed.emit(),
            on_failed=failed,
        )
