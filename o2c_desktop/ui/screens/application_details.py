"""An application's Details tab: the applicant, the request and the financial figures.

Typed values go to the service as text and are parsed there (the customer form's parsers), so
each problem the service names is shown under its input. A new application may name an existing
customer (found by number or name as the user types, like the order form's): it is then a limit
change, prefilled from the customer. On a save conflict the input is kept, the banner says who
changed what, and the next Save overwrites deliberately.

An application that may no longer be edited shows its details read-only (not greyed out), with
the amounts grouped in its currency; the payment terms are offered from the start (a worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import ConflictError, O2CError, ValidationFailed
from o2c_desktop.money import known_currencies
from o2c_desktop.services import credit_applications, customers
from o2c_desktop.services.customer_fields import SEGMENTS, countries
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    not_saved,
    place_problems,
    set_error,
    with_error,
)
from o2c_desktop.ui.screens.application_texts import day_input, money_input
from o2c_desktop.ui.widgets.customer_picker import CustomerPicker
from o2c_desktop.ui.widgets.layouts import STRETCH, scrolling, toolbar
from o2c_desktop.ui.widgets.list_editor import normalise

AMOUNTS = frozenset(credit_applications.MONEY_FIELDS)
WHOLE_NUMBERS = frozenset(credit_applications.WHOLE_MAX)
DAYS = frozenset(credit_applications.DAY_FIELDS)
# The form's three columns: (group title, ((field, label), …)). Required fields end in "*".
GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Applicant",
        (
            ("applicant_name", "Name*"),
            ("customer_number", "Customer number"),
            ("legal_name", "Legal name"),
            ("tax_id", "Tax ID"),
            ("segment", "Segment"),
            ("address_line1", "Address"),
            ("postcode", "Postcode"),
            ("city", "City"),
            ("country", "Country"),
            ("email", "E-mail"),
            ("phone", "Phone"),
        ),
    ),
    (
        "Request",
        (
            ("currency", "Currency*"),
            ("requested_limit", "Requested limit*"),
            ("requested_terms_code", "Payment terms"),
            ("requested_temporary_until", "Temporary until"),
        ),
    ),
    (
        "Financial figures",
        (
            ("financials_date", "Figures as of"),
            ("annual_revenue", "Annual revenue"),
            ("net_worth", "Net worth"),
            ("current_assets", "Current assets"),
            ("current_liabilities", "Current liabilities"),
            ("total_liabilities", "Total liabilities"),
            ("years_in_business", "Years in business"),
            ("bureau_score", "Bureau score"),
            ("expected_monthly_purchases", "Expected monthly purchases"),
        ),
    ),
)
LABELS = {name: caption.rstrip("*") for _title, rows in GROUPS for name, caption in rows}
LABELS["notes"] = "Notes"
# From a customer to the applicant fields of a limit change (the service copies them too).
FROM_CUSTOMER = {
    "applicant_name": "name",
    "customer_number": "number",
    "legal_name": "legal_name",
    "tax_id": "tax_id",
    "segment": "segment",
    "address_line1": "address_line1",
    "postcode": "postcode",
    "city": "city",
    "country": "country",
    "email": "email",
    "phone": "phone",
    "currency": "currency",
    "requested_terms_code": "payment_terms",
}


def read_only(widget: QWidget, shown_only: bool) -> None:
    """Shown only: a line or text box is read-only on the window's colour, a list shows its
    choice in the normal text colour (not the greyed-out one of a disabled input)."""
    if isinstance(widget, QLineEdit | QPlainTextEdit):
        widget.setReadOnly(shown_only)
        palette = QPalette()  # nothing set: the window's
        if shown_only:
            palette = widget.palette()
            palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
        widget.setPalette(palette)
        return
    widget.setEnabled(not shown_only)
    palette = widget.palette()
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(
            QPalette.ColorGroup.Disabled, role, palette.color(QPalette.ColorGroup.Active, role)
        )
    widget.setPalette(palette)


class DetailsTab(QWidget):
    """`application_id` None: a new application, created by Save (`created` then says which)."""

    created = Signal(object)  # ApplicationView
    saved = Signal(object)  # ApplicationView

    def __init__(self, ctx: UiContext, customer_id: int | None = None, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.application_id: int | None = None
        self.customer_id = customer_id
        self.base_version: int | None = None
        self.dirty = False
        self.saving = False
        self.editable = True
        self._filling = False
        self._save_when_found = False
        self.banner = banner()
        self.inputs: dict[str, QWidget] = {}
        self.errors = {name: error_label() for name in (*LABELS, "customer")}

        # A new application: the customer it is for, if any.
        self.customer_edit = CustomerPicker(ctx)
        self.customer_edit.setObjectName("field_customer")
        self.customer_edit.setPlaceholderText(
            "Number or name of an existing customer (empty: a new customer)"
        )
        self.customer_note = QLabel(objectName="customerNote")
        self.customer_note.setStyleSheet("color: #555;")
        self.customer_row = QWidget()
        customer_layout = QFormLayout(self.customer_row)
        customer_layout.setContentsMargins(0, 0, 0, 0)
        customer_layout.addRow(
            "For customer", with_error(self.customer_edit, self.errors["customer"])
        )
        customer_layout.addRow("", self.customer_note)

        grid = QGridLayout()
        for column, (title, rows) in enumerate(GROUPS):
            box = QGroupBox(title)
            form = QFormLayout(box)
            for name, caption in rows:
                self.inputs[name] = self._input(name)
                form.addRow(caption, with_error(self.inputs[name], self.errors[name]))
            grid.addWidget(box, 0, column)
        self.notes = QPlainTextEdit(objectName="field_notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setMaximumHeight(90)
        self.notes.setPlaceholderText("Anything the approver should know")
        self.notes.textChanged.connect(self._edited)
        grid.addWidget(QLabel("Notes"), 1, 0, 1, 3)
        grid.addWidget(with_error(self.notes, self.errors["notes"]), 2, 0, 1, 3)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.customer_row)
        body_layout.addLayout(grid)
        body_layout.addStretch(1)

        self.save_button = QPushButton("&Save details", objectName="saveDetails")
        self.save_button.setToolTip("Save the details (Ctrl+S)")
        self.status = QLabel(objectName="detailsStatus")
        self.status.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(scrolling(body), 1)
        layout.addLayout(toolbar((self.status, 1), STRETCH, self.save_button))
        self.save_button.clicked.connect(self.save)
        self.customer_edit.chosen.connect(self._customer_chosen)
        self.customer_edit.editingFinished.connect(self._look_up_customer)
        if customer_id is not None:
            self.customer_edit.setEnabled(False)
            self._load_customer(customer_id)
        else:
            self.set_values({"currency": "EUR"})
        workers.submit(
            customers.payment_terms,
            ctx.db,
            owner=self,
            on_done=self.set_terms,
            on_failed=self._show_error,
        )

    # -- inputs ----------------------------------------------------------------------------
    def _input(self, name: str) -> QWidget:
        widget: QWidget
        if name == "segment":
            widget = QComboBox(editable=True)
            widget.addItems(["", *SEGMENTS])
            widget.currentTextChanged.connect(self._edited)
        elif name == "country":
            widget = QComboBox()
            widget.addItem("", "")
            for code, country in sorted(countries().items(), key=lambda kv: kv[1]):
                widget.addItem(f"{country} ({code})", code)
            widget.currentIndexChanged.connect(self._edited)
        elif name == "requested_terms_code":
            widget = QComboBox()
            widget.addItem("", "")
            widget.currentIndexChanged.connect(self._edited)
        else:
            widget = QLineEdit()
            if name in AMOUNTS or name in WHOLE_NUMBERS:
                widget.setAlignment(Qt.AlignmentFlag.AlignRight)
            if name in AMOUNTS:
                widget.setPlaceholderText("0.00")
            if name in DAYS:
                widget.setPlaceholderText("YYYY-MM-DD")
            if name == "currency":
                widget.setMaxLength(3)
                widget.setCompleter(QCompleter(sorted(known_currencies()), widget))
            widget.textChanged.connect(self._edited)
        widget.setObjectName(f"field_{name}")
        return widget

    def set_terms(self, terms: Sequence[tuple[str, str]]) -> None:
        """The payment terms to offer (loaded with the application, on a worker)."""
        combo = self.inputs["requested_terms_code"]
        assert isinstance(combo, QComboBox)
        chosen = combo.currentData()
        self._filling = True
        combo.clear()
        combo.addItem("", "")
        for code, text in terms:
            combo.addItem(f"{code} – {text}", code)
        combo.setCurrentIndex(max(combo.findData(chosen), 0))
        self._filling = False

    def _edited(self, *_args: Any) -> None:
        if not self._filling:
            self.dirty = True
            self.status.setText("Changed, not saved yet")

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the inputs (not an edit) from stored values: amounts as typed while editable,
        grouped in the currency's decimals when only shown."""
        self._filling = True
        currency = values.get("currency") or self.raw_values().get("currency")
        for name, value in values.items():
            widget = self.inputs.get(name)
            if isinstance(widget, QComboBox):
                index = widget.findData(value or "")
                if index < 0 and widget.isEditable():
                    widget.setEditText(value or "")
                elif index < 0 and value:  # terms not loaded yet: offer the stored code
                    widget.addItem(str(value), value)
                    widget.setCurrentIndex(widget.count() - 1)
                else:
                    widget.setCurrentIndex(max(index, 0))
            elif isinstance(widget, QLineEdit):
                if name in AMOUNTS:
                    widget.setText(
                        money_input(value) if self.editable else formatting.money(value, currency)
                    )
                elif name in DAYS:
                    widget.setText(day_input(value))
                else:
                    widget.setText("" if value is None else str(value))
        if "notes" in values:
            self.notes.setPlainText(values["notes"] or "")
        self._filling = False

    def raw_values(self) -> dict[str, Any]:
        """What the user typed, as text, for the service to parse."""
        values: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            if isinstance(widget, QComboBox):
                values[name] = widget.currentText() if widget.isEditable() else widget.currentData()
            elif isinstance(widget, QLineEdit):
                values[name] = widget.text()
        values["notes"] = self.notes.toPlainText()
        return values

    def show_application(self, view: credit_applications.ApplicationView, editable: bool) -> None:
        """The stored application; input not saved yet is kept (and its base version too, so
        a change by someone else meanwhile is a conflict rather than lost)."""
        self.application_id = view.id
        self.customer_id = view.customer_id
        self.customer_row.hide()
        self.editable = editable
        for widget in (*self.inputs.values(), self.notes):
            read_only(widget, not editable)
        self.save_button.setEnabled(editable)
        if self.dirty or self.saving:
            return
        self.base_version = view.version
        self.set_values({name: getattr(view, name, None) for name in (*LABELS, "notes")})
        self.status.setText("")

    # -- a new application's customer ------------------------------------------------------
    def _customer_chosen(self, customer_id: int | None) -> None:
        """A customer picked from the matches (or the text changed from one picked)."""
        if customer_id is None:
            self.customer_id = None
            self.customer_note.setText("")
        elif customer_id != self.customer_id:
            self._load_customer(customer_id)

    def _look_up_customer(self) -> None:
        """Leaving the line: empty is a new customer; a number typed but not picked is looked
        up (Save straight from the line waits for it)."""
        picker = self.customer_edit
        number = picker.typed_number()
        if not number:
            self.customer_id = None
            self.customer_note.setText("A new customer: the customer is created when approved.")
            return
        if picker.customer_id is not None:
            return
        ctx = self.ctx

        def find() -> customers.CustomerDetail | None:
            found = customers.find_customer_id(ctx.db, number)
            return None if found is None else customers.get_customer(ctx.db, ctx.actor, found)

        workers.submit(
            find,
            owner=self,
            on_done=lambda detail: self._customer_found(detail, number),
            on_failed=self._show_error,
        )

    def _load_customer(self, customer_id: int) -> None:
        workers.submit(
            customers.get_customer,
            self.ctx.db,
            self.ctx.actor,
            customer_id,
            owner=self,
            on_done=self._customer_found,
            on_failed=self._show_error,
        )

    def _customer_found(self, detail: customers.CustomerDetail | None, number: str = "") -> None:
        save_now, self._save_when_found = self._save_when_found, False
        if detail is None:
            self.customer_id = None
            set_error(self.errors["customer"], f"No customer has the number {number}.")
            self.customer_note.setText("")
            return
        set_error(self.errors["customer"], None)
        self.customer_id = detail.id
        picker = self.customer_edit
        if picker.customer_id != detail.id:
            picker.blockSignals(True)
            picker.set_customer(detail.id, detail.number, detail.name, detail.currency)
            picker.blockSignals(False)
        self.customer_note.setText(f"{detail.name}: an application for a new limit.")
        self.set_values(
            {field: detail.values.get(source) for field, source in FROM_CUSTOMER.items()}
        )
        if save_now:
            self.save()

    def _customer_unsettled(self) -> bool:
        """A new application whose customer was typed but not found yet (Ctrl+S straight from
        the line): look it up first; Save follows once it is found."""
        picker = self.customer_edit
        if self.application_id is not None or not picker.isEnabled():
            return False
        if not picker.typed_number():
            self.customer_id = None  # a new customer
            return False
        if picker.customer_id is not None and picker.customer_id == self.customer_id:
            return False
        self._save_when_found = True
        if picker.customer_id is not None:
            self._load_customer(picker.customer_id)  # picked, its details not here yet
        else:
            self._look_up_customer()
        return True

    # -- saving ----------------------------------------------------------------------------
    def save(self) -> None:
        if self.saving or not self.editable or self._customer_unsettled():
            return
        raw = self.raw_values()
        db, actor = self.ctx.db, self.ctx.actor
        self.saving = True
        self.save_button.setEnabled(False)
        self.banner.hide()
        editable = frozenset(credit_applications.EDITABLE_FIELDS)  # what the service takes
        if self.application_id is None:
            # Only what was typed: the service copies the rest from the customer.
            values = {k: v for k, v in raw.items() if k in editable and v not in ("", None)}
            if self.customer_id is not None:
                values["customer_id"] = self.customer_id
            workers.submit(
                credit_applications.create_application,
                db,
                actor,
                values,
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )
        else:
            workers.submit(
                credit_applications.update_application,
                db,
                actor,
                self.application_id,
                self.base_version,
                {k: v for k, v in raw.items() if k in editable},
                owner=self,
                on_done=self._saved,
                on_failed=self._failed,
            )

    def _saved(self, view: credit_applications.ApplicationView) -> None:
        new = self.application_id is None
        self.saving = False
        self.dirty = False
        for label in self.errors.values():
            set_error(label, None)
        self.show_application(view, self.editable)
        self.status.setText("Saved")
        (self.created if new else self.saved).emit(view)

    def _failed(self, error: O2CError) -> None:
        self.saving = False
        self.save_button.setEnabled(self.editable)
        place_problems(self.errors, error, self._field_for)
        if isinstance(error, ValidationFailed):
            self._show_error("Not saved: please correct the fields marked in red.")
        else:
            self._show_error(not_saved(error))
        if isinstance(error, ConflictError):
            self._rebase()

    def _field_for(self, problem_field: str) -> str | None:
        if problem_field in self.errors:
            return problem_field
        if problem_field == "customer_id":
            return "customer"
        wanted = normalise(problem_field)
        return next((name for name, text in LABELS.items() if normalise(text) == wanted), None)

    def _rebase(self) -> None:
        """After a conflict the next Save is made against the other user's version."""
        if self.application_id is None:
            return

        def took(view: credit_applications.ApplicationView) -> None:
            self.base_version = view.version

        workers.submit(
            credit_applications.get_application,
            self.ctx.db,
            self.ctx.actor,
            self.application_id,
            owner=self,
            on_done=took,
            on_failed=self._show_error,
        )

    def _show_error(self, error: O2CError | str) -> None:
        self.banner.setText(str(error))
        self.banner.show()
