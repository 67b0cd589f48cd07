"""Add or edit a trade or bank reference of an application, and what it said when checked.

Typed values go to the service as text and are parsed there (like the customer form), so each
problem comes back under the input it names; a colleague's save in between is a conflict that
keeps the input.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QPlainTextEdit, QWidget

from o2c_desktop.errors import ConflictError, O2CError
from o2c_desktop.models.credit import REFERENCE_KINDS, REFERENCE_RATINGS
from o2c_desktop.services import credit_applications
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import not_saved, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.screens.application_texts import money_input

KIND_LABELS = {"trade": "Trade reference", "bank": "Bank reference"}
RATING_LABELS = {"good": "Good", "satisfactory": "Satisfactory", "poor": "Poor"}
TEXT_FIELDS = (
    ("name", "Name*"),
    ("contact_name", "Contact"),
    ("phone", "Phone"),
    ("email", "E-mail"),
    ("years_known", "Years known"),
    ("highest_credit", "Highest credit"),
)


class ReferenceDialog(ActionDialog):
    fields = ("kind", *(name for name, _label in TEXT_FIELDS), "rating", "notes")

    def __init__(
        self,
        ctx: UiContext,
        application_id: int,
        reference: credit_applications.ReferenceView | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.application_id = application_id
        self.reference = reference
        self.base_version = reference.version if reference else None
        self.setWindowTitle("Edit reference" if reference else "Add reference")
        self.setMinimumWidth(480)
        self.kind = QComboBox(objectName="referenceKind")
        for kind in REFERENCE_KINDS:
            self.kind.addItem(KIND_LABELS.get(kind, kind), kind)
        self.inputs: dict[str, QLineEdit] = {}
        for name, _label in TEXT_FIELDS:
            self.inputs[name] = QLineEdit(objectName=f"reference_{name}")
        for name in ("years_known", "highest_credit"):
            self.inputs[name].setAlignment(Qt.AlignmentFlag.AlignRight)
        self.rating = QComboBox(objectName="referenceRating")
        self.rating.addItem("Not checked yet", None)
        for rating in REFERENCE_RATINGS:
            self.rating.addItem(RATING_LABELS.get(rating, rating), rating)
        self.notes = QPlainTextEdit(objectName="referenceNotes")
        self.notes.setTabChangesFocus(True)
        self.notes.setMaximumHeight(80)
        form = QFormLayout()
        form.addRow("Kind", with_error(self.kind, self.errors["kind"]))
        for name, caption in TEXT_FIELDS:
            form.addRow(caption, with_error(self.inputs[name], self.errors[name]))
        form.addRow("Rating", with_error(self.rating, self.errors["rating"]))
        notes: QWidget = with_error(self.notes, self.errors["notes"])
        form.addRow("Notes", notes)
        self.finish_layout(form)
        if reference is not None:
            self._show(reference)
        self.inputs["name"].setFocus()

    def _show(self, reference: credit_applications.ReferenceView) -> None:
        self.kind.setCurrentIndex(max(self.kind.findData(reference.kind), 0))
        for name, _label in TEXT_FIELDS:
            value = getattr(reference, name)
            self.inputs[name].setText(
                money_input(value) if name == "highest_credit" else str(value or "")
            )
        self.rating.setCurrentIndex(max(self.rating.findData(reference.rating), 0))
        self.notes.setPlainText(reference.notes or "")

    def values(self) -> dict[str, Any]:
        """What was typed, as text, for the service to parse."""
        values: dict[str, Any] = {name: edit.text() for name, edit in self.inputs.items()}
        values["kind"] = self.kind.currentData()
        values["rating"] = self.rating.currentData()
        values["notes"] = self.notes.toPlainText()
        return values

    def save(self) -> None:
        db, actor = self.ctx.db, self.ctx.actor
        if self.reference is None:
            self.run(
                credit_applications.add_reference, db, actor, self.application_id, self.values()
            )
        else:
            self.run(
                credit_applications.update_reference,
                db,
                actor,
                self.reference.id,
                self.base_version,
                self.values(),
            )

    def _failed(self, error: O2CError) -> None:
        super()._failed(error)
        if isinstance(error, ConflictError) and self.reference is not None:
            # Their version is the base of the next Save, which then overwrites deliberately.
            self.banner.setText(not_saved(error))
            workers.submit(
                credit_applications.get_application,
                self.ctx.db,
                self.ctx.actor,
                self.application_id,
                owner=self,
                on_done=self._rebase,
            )

    def _rebase(self, view: credit_applications.ApplicationView) -> None:
        reference_id = self.reference.id if self.reference else None
        self.base_version = next(
            (r.version for r in view.references if r.id == reference_id), self.base_version
        )
