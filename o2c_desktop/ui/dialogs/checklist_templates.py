"""Settings → Checklist templates: which verification items a credit application needs.

An application gets the items of the first active template, by position, whose segment,
currency and amount range match it (empty: any). The templates are listed on the left in that
order; the selected one is edited on the right: its name, position, what it matches, whether it
is active, and its items (code, label, required, required from an amount, how many, how many
months a document for it stays valid) in a table where items are added, removed and moved.

Saving replaces the template's item list as a whole, with the version the user loaded (a
colleague's save in between is a conflict that keeps the input); applications keep the copy of
the items they were given. A template that applications used cannot be deleted, only
deactivated; the service says so. Saving, listing and conflicts work as on the other list tabs
(widgets.records_tab); only administrators may change templates, credit staff read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.money import known_currencies
from o2c_desktop.services import checklists
from o2c_desktop.services.customer_fields import SEGMENTS
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, set_error, with_error
from o2c_desktop.ui.dialogs.strategy_editor import BANDS, FieldSpec, RowsTable, fmt
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.list_editor import normalise
from o2c_desktop.ui.widgets.records_tab import CreditSettingsTab

SOURCE = "Checklist template"
FIELDS = ("name", "position", "segment", "currency", "min_amount", "max_amount", "active")
ITEM_FIELDS = ("code", "label", "required", "required_above", "quantity", "validity_months")
ITEM_TITLES = ("Code", "Label", "Required", "Required from", "Quantity", "Valid (months)")
REQUIRED = ITEM_FIELDS.index("required")


def _range_text(template: Any) -> str:
    low, high = template.min_amount, template.max_amount
    if low is None and high is None:
        return "any amount"
    if high is None:
        return f"from {formatting.amount(low)}"
    if low is None:
        return f"below {formatting.amount(high)}"
    return f"{formatting.amount(low)} – {formatting.amount(high)}"


def applies_text(template: Any) -> str:
    """What a template matches in the list: only what it restricts (the column stays narrow);
    the tooltip says it in full."""
    parts = [template.segment, template.currency]
    if template.min_amount is not None or template.max_amount is not None:
        parts.append(_range_text(template))
    return " · ".join(p for p in parts if p) or "any application"


def applies_tooltip(template: Any) -> str:
    return " · ".join(
        (
            template.segment or "any segment",
            template.currency or "any currency",
            _range_text(template),
        )
    )


COLUMNS = (
    Column("position", "Pos.", lambda t: t.position, numeric=True),
    Column("name", "Template", lambda t: t.name),
    Column(
        "matches",
        "Applies to",
        lambda t: (t.segment or "", t.currency or "", t.min_amount or 0),
        applies_text,
        tooltip=applies_tooltip,
    ),
    Column("items", "Items", lambda t: len(t.items), numeric=True),
    Column("active", "Active", lambda t: t.active, lambda t: "Active" if t.active else "off"),
)


def item_problem(problem: Any) -> str:
    """ "Item 3, quantity: a whole number from 1 to 20" (the service numbers items from 1)."""
    where = f"Item {problem.row}, " if problem.row is not None else ""
    name = problem.field
    if name in ITEM_FIELDS:
        name = ITEM_TITLES[ITEM_FIELDS.index(name)].lower()
    return f"{where}{name}: {problem.message}"


class ItemsTable(RowsTable):
    """The template's items: text cells, and a check box for Required. Rows move up and down
    (an item's position is its row)."""

    def __init__(self, on_change: Any, parent: Any = None) -> None:
        spec = FieldSpec("items", "Items", BANDS, (str,) * len(ITEM_TITLES), ITEM_TITLES)
        super().__init__(spec, on_change, parent)
        self.table.setObjectName("templateItems")
        self.table.setMinimumHeight(220)
        header = self.table.horizontalHeader()
        for column in range(len(ITEM_TITLES)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ITEM_FIELDS.index("label"), QHeaderView.ResizeMode.Stretch)
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        buttons = self.layout().itemAt(1).layout()  # Add item, Remove item, stretch
        for n, (button, step) in enumerate(((self.up_button, -1), (self.down_button, 1))):
            button.setAutoDefault(False)
            button.clicked.connect(lambda _c=False, s=step: self.move(s))
            button.clicked.connect(on_change)
            buttons.insertWidget(2 + n, button)
        if self.add_button is not None:
            self.add_button.setText("Add item")
        if self.remove_button is not None:
            self.remove_button.setText("Remove item")

    def add_row(self, cells: Sequence[Any]) -> None:
        super().add_row(cells)
        row = self.table.rowCount() - 1
        required = bool(cells[REQUIRED]) if len(cells) > REQUIRED else True
        item = QTableWidgetItem()
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsUserCheckable
        )
        item.setCheckState(Qt.CheckState.Checked if required else Qt.CheckState.Unchecked)
        self.table.setItem(row, REQUIRED, item)
        for column in (3, 4, 5):
            cell = self.table.item(row, column)
            if cell is not None:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if not cells:
            self.table.item(row, ITEM_FIELDS.index("quantity")).setText("1")

    def set_items(self, items: Sequence[Any]) -> None:
        self.set_value(
            [
                [
                    item.code,
                    item.label,
                    item.required,
                    fmt(item.required_above),
                    item.quantity,
                    fmt(item.validity_months),
                ]
                for item in items
            ]
        )

    def move(self, step: int) -> None:
        row = self.table.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.table.rowCount():
            return
        self.table.blockSignals(True)
        for column in range(self.table.columnCount()):
            above, below = self.table.takeItem(row, column), self.table.takeItem(target, column)
            self.table.setItem(row, column, below)
            self.table.setItem(target, column, above)
        self.table.blockSignals(False)
        self.table.setCurrentCell(target, self.table.currentColumn())

    def items(self) -> list[dict[str, Any]]:
        """The items as the service takes them (text as typed; it parses and names problems)."""
        result = []
        for row, texts in enumerate(self.texts()):
            if not any(t.strip() for n, t in enumerate(texts) if n != REQUIRED):
                continue  # an empty row added and never filled: ignored
            values: dict[str, Any] = dict(zip(ITEM_FIELDS, (t.strip() for t in texts), strict=True))
            checked = self.table.item(row, REQUIRED).checkState() == Qt.CheckState.Checked
            values["required"] = checked
            values["quantity"] = values["quantity"] or "1"
            result.append(values)
        return result


class ChecklistTemplatesTab(CreditSettingsTab):
    """The templates and the editor of the selected one; saves through its own buttons and with
    the Settings dialog's Save when the template shown has unsaved changes."""

    source = SOURCE
    noun, plural = "template", "checklist templates"

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(ctx, COLUMNS, ("templateList", "templateStatus"), parent)
        self.new_button, self.delete_button, self.save_button = self.buttons(
            "&New template", "&Delete template", "Sa&ve template"
        )

        self.name = QLineEdit(objectName="templateName")
        self.name.setMaxLength(checklists.MAX_NAME)
        self.position = QSpinBox(objectName="templatePosition")
        self.position.setRange(1, 10_000)
        self.position.setMaximumWidth(100)
        self.position.setToolTip("Templates are tried in this order; the first that matches wins")
        self.segment = QComboBox(objectName="templateSegment", editable=True)
        self.segment.addItems(["", *SEGMENTS])
        self.segment.lineEdit().setPlaceholderText("any segment")
        self.currency = QLineEdit(objectName="templateCurrency")
        self.currency.setMaxLength(3)
        self.currency.setMaximumWidth(80)
        self.currency.setPlaceholderText("any")
        self.currency.setCompleter(QCompleter(sorted(known_currencies()), self.currency))
        self.min_amount = QLineEdit(objectName="templateMinAmount")
        self.max_amount = QLineEdit(objectName="templateMaxAmount")
        for edit in (self.min_amount, self.max_amount):
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.setMaximumWidth(160)
            edit.setPlaceholderText("any")
        self.active = QCheckBox("Chosen for new applications", objectName="templateActive")
        self.item_table = ItemsTable(self._changed)
        self.errors = {name: error_label() for name in (*FIELDS, "items")}

        amounts = QHBoxLayout()
        amounts.setContentsMargins(0, 0, 0, 0)
        amounts.addWidget(with_error(self.min_amount, self.errors["min_amount"]))
        amounts.addWidget(with_error(self.max_amount, self.errors["max_amount"]))
        amounts.addStretch(1)
        form = QFormLayout()
        form.addRow("Name", with_error(self.name, self.errors["name"]))
        form.addRow("Position", with_error(self.position, self.errors["position"]))
        form.addRow("Segment", with_error(self.segment, self.errors["segment"]))
        form.addRow("Currency", with_error(self.currency, self.errors["currency"]))
        form.addRow("Requested amount from / below", amounts)
        form.addRow("Active", with_error(self.active, self.errors["active"]))
        items_box = QGroupBox("Items (Required from: optional below that requested amount)")
        items_layout = QVBoxLayout(items_box)
        items_layout.addWidget(with_error(self.item_table, self.errors["items"]))
        editor = QVBoxLayout()
        editor.addLayout(form)
        editor.addWidget(items_box, 1)
        self.arrange((self.new_button, self.delete_button), editor, self.save_button, (360, 760))

        self.watch(
            self.name.textEdited,
            self.position.valueChanged,
            self.segment.currentTextChanged,
            self.currency.textEdited,
            self.min_amount.textEdited,
            self.max_amount.textEdited,
            self.active.toggled,
        )
        self.new_button.clicked.connect(self.new_template)
        self.delete_button.clicked.connect(self.delete_template)
        self._enable()
        self.load()

    @property
    def templates(self) -> list[Any]:
        return self.records

    # -- the form --------------------------------------------------------------------------
    def clear_form(self) -> None:
        self._filling = True
        for edit in (self.name, self.currency, self.min_amount, self.max_amount):
            edit.clear()
        self.segment.setCurrentText("")
        self.position.setValue(1)
        self.active.setChecked(True)
        self.item_table.set_items(())
        self._filling = False

    def fill(self, template: Any) -> None:
        self._filling = True
        self.current, self.is_new = template, False
        self.base_version = template.version
        self.name.setText(template.name)
        self.position.setValue(template.position)
        self.segment.setCurrentText(template.segment or "")
        self.currency.setText(template.currency or "")
        self.min_amount.setText(fmt(template.min_amount))
        self.max_amount.setText(fmt(template.max_amount))
        self.active.setChecked(template.active)
        self.item_table.set_items(template.items)
        self._filling = False
        self._clean()

    def _enable(self) -> None:
        editing = self.current is not None or self.is_new
        self.show_editable(
            (
                self.name,
                self.position,
                self.segment,
                self.currency,
                self.min_amount,
                self.max_amount,
                self.active,
                self.item_table,
            ),
            self.editable and editing,
        )
        self.new_button.setEnabled(self.editable and self.loaded)
        self.delete_button.setEnabled(self.editable and self.current is not None)
        self.save_button.setEnabled(self.editable and editing)

    def new_template(self) -> None:
        """A new template starting from the selected one's items (most differ in a few)."""
        if not self.may_discard():
            return
        source = self.current
        self._select_row(-1)
        self.clear_form()
        self._filling = True
        names = {t.name for t in self.templates}
        name, n = "New template", 2
        while name in names:
            name, n = f"New template ({n})", n + 1
        self.name.setText(name)
        self.position.setValue(max((t.position for t in self.templates), default=0) + 1)
        if source is not None:
            self.item_table.set_items(source.items)
        self._filling = False
        self.begin_new("New template: Save template to add it.")
        self.name.setFocus()
        self.name.selectAll()

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.text().strip(),
            "position": self.position.value(),
            "segment": self.segment.currentText().strip() or None,
            "currency": self.currency.text().strip().upper() or None,
            "min_amount": self.min_amount.text().strip() or None,
            "max_amount": self.max_amount.text().strip() or None,
            "active": self.active.isChecked(),
        }

    # -- saving (ListEditorTab's hooks) ----------------------------------------------------
    def pending_save(self) -> tuple[Any, ...]:
        template_id = None if self.is_new else self.current.id
        version = None if self.is_new else self.base_version
        return template_id, version, self.values(), self.item_table.items()

    def store(self, pending: tuple[Any, ...]) -> Any:
        template_id, version, values, items = pending
        return checklists.save_template(
            self.ctx.db, self.ctx.actor, template_id, version, values, items
        )

    def fetch_rows(self) -> list[Any]:
        return checklists.list_templates(self.ctx.db, self.ctx.actor)

    def field_for(self, problem_field: str) -> str | None:
        key = normalise(problem_field)
        if key in FIELDS:
            return key
        return "items" if key in (*ITEM_FIELDS, "items", "item") else None

    def show_problems(self, error: O2CError) -> bool:
        """Template fields under their inputs; item problems under the table, by item number."""
        if not super().show_problems(error):
            return False
        if isinstance(error, ValidationFailed):
            lines = [item_problem(p) for p in error.problems if self.field_for(p.field) == "items"]
            set_error(self.errors["items"], "\n".join(lines))
        return True

    def delete_template(self) -> None:
        template = self.current
        if template is not None:
            self.delete_current(
                f"Delete the checklist template “{template.name}”?",
                f"Template “{template.name}” deleted.",
                checklists.delete_template,
                self.delete_button,
            )
