"""Settings → Collection strategy: the weighted rules that score and order the call list.

The strategies are listed with the active one marked; the selected one is edited in place: its
points and factors in a form, its bands (overdue amount, days past due, days since contact, …)
in small tables where rows are added and removed. Save sends the version the user loaded, so a
colleague's save in between is a conflict that keeps the input; Activate makes the call list use
it (a change to the active strategy re-ranks every collector's list on its next load).

The form is built from the fields of the strategy's rules (a frozen dataclass owned by
services.collection_strategy), so a rule added there shows up here without a change: numbers get
a line, sequences of (threshold, points) pairs get a band table, mappings (risk class → points)
get a two-column table with fixed keys. What the service refuses is shown under the field it
names; what cannot even be read as a number is refused here, the same way, before saving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.money import parse_amount
from o2c_desktop.services import collection_strategy
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, with_error
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.layouts import scrolling
from o2c_desktop.ui.widgets.list_editor import ListEditorTab, normalise
from o2c_desktop.ui.widgets.messages import confirm

SOURCE = "Collection strategy"
# Friendlier names for the rules the strategy service is expected to have; any other field is
# shown under its own name, humanised.
LABELS = {
    "overdue_amount_bands": "Overdue amount (in the customer's currency)",
    "dpd_bands": "Days past due (oldest overdue item)",
    "days_past_due_bands": "Days past due (oldest overdue item)",
    "risk_class_points": "Risk class",
    "broken_promise_points": "Promise broken",
    "broken_promise_days": "A broken promise counts for (days)",
    "promise_due_points": "Promise due (today or in its grace days)",
    "held_order_points": "Orders held for credit",
    "days_since_contact": "Days since last contact (never contacted: top band)",
    "days_since_contact_bands": "Days since last contact (never contacted: top band)",
    "limit_breach_points": "Over the credit limit",
    "follow_up_due_points": "Follow-up due",
    "dispute_waiting_points": "Dispute waiting on us",
    "fully_disputed_factor": "Factor when all overdue is disputed",
    "promised_not_due_factor": "Factor when promised, not yet due",
}
BAND_COLUMNS = {
    "overdue_amount_bands": ("From amount", "Points"),
    "dpd_bands": ("From day", "Points"),
    "days_past_due_bands": ("From day", "Points"),
    "days_since_contact": ("From day", "Points"),
    "days_since_contact_bands": ("From day", "Points"),
    "risk_class_points": ("Risk class", "Points"),
}
SCALAR, FLAG, BANDS, MAPPING = "scalar", "flag", "bands", "mapping"
NUMBER_ALIGNMENT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def humanise(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def parse_cell(text: str, kind: type) -> Any:
    """Text typed into a cell as the type the rules hold; ValueError with a short reason."""
    text = text.strip()
    if kind is bool:
        return text.lower() in ("1", "yes", "true", "y")
    if kind is int:
        try:
            return int(text.replace(",", ""))
        except ValueError:
            raise ValueError("a whole number is needed") from None
    if kind is Decimal:
        return parse_amount(text)
    if kind is float:
        return float(parse_amount(text))
    return text


@dataclass(frozen=True)
class FieldSpec:
    """How one rule is edited: its kind, the cell types, and how a row becomes a value."""

    name: str
    label: str
    kind: str
    cell_types: tuple[type, ...] = ()
    titles: tuple[str, ...] = ()
    make_row: Callable[[Sequence[Any]], Any] = tuple
    as_list: bool = False  # the rules keep this sequence as a list, not a tuple


def _cells_of(element: Any) -> tuple[tuple[type, ...], tuple[str, ...], Callable[..., Any]]:
    if dataclasses.is_dataclass(element) and not isinstance(element, type):
        names = [f.name for f in dataclasses.fields(element)]
        kinds = tuple(type(getattr(element, n)) for n in names)
        element_type = type(element)
        return kinds, tuple(humanise(n) for n in names), lambda cells: element_type(*cells)
    kinds = tuple(type(v) for v in element)
    return kinds, ("From", "Points", "Value 3", "Value 4")[: len(kinds)], tuple


def spec_for(name: str, sample: Any, other: Any = None) -> FieldSpec | None:
    """The editor for a rule, from its value (or the default's when the value is empty)."""
    label = LABELS.get(name, humanise(name))
    if isinstance(sample, bool):
        return FieldSpec(name, label, FLAG, (bool,))
    if isinstance(sample, int | Decimal | float):
        return FieldSpec(name, label, SCALAR, (type(sample),))
    if isinstance(sample, Mapping):
        items = list(sample.items()) or list((other or {}).items())
        value_type = type(items[0][1]) if items else int
        titles = BAND_COLUMNS.get(name, ("Key", "Points"))
        return FieldSpec(name, label, MAPPING, (str, value_type), titles)
    if isinstance(sample, tuple | list):
        first = next(iter(sample), None)
        if first is None and other:
            first = next(iter(other), None)
        if first is None:
            kinds, titles, make = (Decimal, int), ("From", "Points"), tuple
        else:
            kinds, titles, make = _cells_of(first)
        titles = BAND_COLUMNS.get(name, titles) if len(kinds) == 2 else titles
        return FieldSpec(name, label, BANDS, kinds, titles, make, isinstance(sample, list))
    return None  # a kind of rule this form does not edit: kept as it is


class RowsTable(QWidget):
    """A small editable table with Add row / Remove row (bands), or fixed keys (mappings)."""

    def __init__(self, spec: FieldSpec, on_change: Callable[[], None], parent: Any = None):
        super().__init__(parent)
        self.spec = spec
        self.table = QTableWidget(0, len(spec.titles), objectName=f"rule_{spec.name}")
        self.table.setHorizontalHeaderLabels(list(spec.titles))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(130)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.itemChanged.connect(lambda _item: on_change())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.add_button: QPushButton | None = None
        self.remove_button: QPushButton | None = None
        if spec.kind == BANDS:
            self.add_button = QPushButton("Add row")
            self.remove_button = QPushButton("Remove row")
            for button in (self.add_button, self.remove_button):
                button.setAutoDefault(False)
            self.add_button.clicked.connect(lambda: self.add_row(()))
            self.add_button.clicked.connect(on_change)
            self.remove_button.clicked.connect(self.remove_row)
            self.remove_button.clicked.connect(on_change)
            buttons = QHBoxLayout()
            buttons.addWidget(self.add_button)
            buttons.addWidget(self.remove_button)
            buttons.addStretch(1)
            layout.addLayout(buttons)

    def set_value(self, value: Any) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        if self.spec.kind == MAPPING:
            for key, points in dict(value).items():
                self.add_row((key, points))
        else:
            for element in value:
                cells = (
                    [getattr(element, f.name) for f in dataclasses.fields(element)]
                    if dataclasses.is_dataclass(element)
                    else list(element)
                )
                self.add_row(cells)
        self.table.blockSignals(False)

    def add_row(self, cells: Sequence[Any]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column in range(self.table.columnCount()):
            item = QTableWidgetItem(fmt(cells[column]) if column < len(cells) else "")
            kind = self.spec.cell_types[column] if column < len(self.spec.cell_types) else str
            if kind in (int, Decimal, float):
                item.setTextAlignment(NUMBER_ALIGNMENT)
            if self.spec.kind == MAPPING and column == 0:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, column, item)
        if not cells:
            self.table.setCurrentCell(row, 0)
            self.table.editItem(self.table.item(row, 0))

    def remove_row(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            row = self.table.rowCount() - 1
        if row >= 0:
            self.table.removeRow(row)

    def texts(self) -> list[list[str]]:
        def text(r: int, c: int) -> str:
            item = self.table.item(r, c)
            return item.text() if item is not None else ""

        return [
            [text(r, c) for c in range(self.table.columnCount())]
            for r in range(self.table.rowCount())
        ]

    def value(self, problems: list[FieldProblem]) -> Any:
        """The rows as the rules hold them; unreadable cells are added to `problems`."""
        rows: list[Any] = []
        for number, texts in enumerate(self.texts(), start=1):
            if self.spec.kind == BANDS and not any(t.strip() for t in texts):
                continue  # an empty row added and never filled: ignored
            cells: list[Any] = []
            for column, (text, kind) in enumerate(zip(texts, self.spec.cell_types, strict=False)):
                if self.spec.kind == MAPPING and column == 0:
                    cells.append(text)
                    continue
                try:
                    cells.append(parse_cell(text, kind))
                except ValueError as exc:
                    problems.append(
                        FieldProblem(
                            self.spec.name,
                            f"band {number}, {self.spec.titles[column].lower()}: {exc}",
                            value=text,
                        )
                    )
            rows.append(cells)
        if self.spec.kind == MAPPING:
            return {cells[0]: cells[1] for cells in rows if len(cells) == 2}
        made = [self.spec.make_row(cells) for cells in rows if len(cells) == len(self.spec.titles)]
        return made if self.spec.as_list else tuple(made)


STRATEGY_COLUMNS = (
    Column("name", "Strategy", lambda s: s.name if s.id is not None else f"{s.name} (not saved)"),
    Column("active", "Active", lambda s: s.active, lambda s: "Active" if s.active else ""),
)


class StrategyTab(ListEditorTab):
    """The strategies and the editor of the selected one. Saves through its own buttons, and
    with the Settings dialog's Save when it has unsaved changes."""

    source = SOURCE

    def __init__(self, ctx: UiContext, parent: Any = None):
        editable = ctx.actor.may(Permission.MANAGE_STRATEGIES)
        super().__init__(
            ctx, editable, STRATEGY_COLUMNS, ("strategyList", "strategyStatus"), parent
        )
        self.strategies: list[Any] = []  # `current`: the one edited (id None: not saved yet)
        self.specs: list[FieldSpec] = []
        self.inputs: dict[str, Any] = {}

        self.view.setMinimumWidth(220)
        self.new_button = QPushButton("&New strategy")
        self.new_button.setToolTip("A new strategy starting from the selected one's rules")
        self.activate_button = QPushButton("&Activate")
        self.activate_button.setToolTip("The call list is ordered by the active strategy")
        self.save_button = QPushButton("Sa&ve strategy")
        for button in (self.new_button, self.activate_button, self.save_button):
            button.setAutoDefault(False)
            if not self.editable:
                button.setToolTip(refusal(ctx.actor, Permission.MANAGE_STRATEGIES))
        self.status.setWordWrap(True)

        self.name = QLineEdit(objectName="strategyName")
        self.name.setMaxLength(80)
        self.name.textEdited.connect(lambda _t: self._changed())
        self.errors["name"] = error_label()
        self.form_host = QWidget()
        self.form_layout = QVBoxLayout(self.form_host)
        self.form_layout.setContentsMargins(0, 0, 0, 0)
        name_row = QFormLayout()
        name_row.addRow("Name", with_error(self.name, self.errors["name"]))
        editor = QVBoxLayout()
        editor.addLayout(name_row)
        editor.addWidget(scrolling(self.form_host), 1)
        self.arrange((self.new_button, self.activate_button), editor, self.save_button, (240, 640))

        self.new_button.clicked.connect(self.new_strategy)
        self.activate_button.clicked.connect(self.activate_selected)
        self._enable()
        self.load()

    # -- loading ---------------------------------------------------------------------------
    def load(self, select_id: int | None = None) -> None:
        ctx = self.ctx

        def job() -> tuple[list[Any], Any]:
            return (
                collection_strategy.list_strategies(ctx.db, ctx.actor),
                collection_strategy.active_strategy(ctx.db),
            )

        workers.submit(
            job,
            owner=self,
            on_done=lambda loaded: self._loaded(loaded, select_id),
            on_failed=lambda e: self._show_banner(f"Cannot load the strategies: {e}"),
        )

    def _loaded(self, loaded: tuple[list[Any], Any], select_id: int | None) -> None:
        saved, active = loaded
        self.strategies = list(saved) or [active]  # none saved yet: the default, to save
        self.show_rows(self.strategies)
        wanted = (
            select_id
            if select_id is not None
            else next((s.id for s in self.strategies if s.active), self.strategies[0].id)
        )
        row = next((i for i, s in enumerate(self.strategies) if s.id == wanted), 0)
        self._select_row(row)
        self.fill(self.strategies[row])
        self.loaded = True
        self._enable()

    def _picked(self, row: int, previous: int) -> None:
        if not 0 <= row < len(self.strategies) or self.strategies[row] is self.current:
            return
        target = self.strategies[row]
        if self.dirty and not confirm(
            self, f"Discard your changes to the strategy “{self.name.text()}”?"
        ):
            self._select_row(previous)
            return
        if self.current is not None and self.current.id is None and not self.current.active:
            # a new strategy left unsaved: it leaves the list
            self.strategies = [s for s in self.strategies if s is not self.current]
            self.show_rows(self.strategies)
            self._select_row(next(i for i, s in enumerate(self.strategies) if s is target))
        self.fill(target)

    # -- the form --------------------------------------------------------------------------
    def _build_form(self, rules: Any) -> None:
        """One input per rule; rebuilt only when the rules' fields differ from the last ones."""
        default = collection_strategy.DEFAULT_RULES
        specs = []
        for f in dataclasses.fields(rules):
            spec = spec_for(f.name, getattr(rules, f.name), getattr(default, f.name, None))
            if spec is not None:
                specs.append(spec)
        if [s.name for s in specs] == [s.name for s in self.specs]:
            return
        while self.form_layout.count():
            item = self.form_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.specs, self.inputs = specs, {}
        self.errors = {"name": self.errors["name"]}
        scalars = QGroupBox("Points and factors")
        scalar_form = QFormLayout(scalars)
        tables = QGridLayout()
        placed = 0
        for spec in specs:
            error = self.errors.setdefault(spec.name, error_label())
            if spec.kind == FLAG:
                check = QCheckBox(objectName=f"rule_{spec.name}")
                check.toggled.connect(lambda _on: self._changed())
                self.inputs[spec.name] = check
                scalar_form.addRow(spec.label, with_error(check, error))
            elif spec.kind == SCALAR:
                edit = QLineEdit(objectName=f"rule_{spec.name}")
                edit.setAlignment(Qt.AlignmentFlag.AlignRight)
                edit.setMaximumWidth(140)
                edit.textEdited.connect(lambda _t: self._changed())
                self.inputs[spec.name] = edit
                scalar_form.addRow(spec.label, with_error(edit, error))
            else:
                table = RowsTable(spec, self._changed)
                self.inputs[spec.name] = table
                box = QGroupBox(spec.label)
                box_layout = QVBoxLayout(box)
                box_layout.addWidget(with_error(table, error))
                tables.addWidget(box, placed // 2, placed % 2)
                placed += 1
        note = QLabel(
            "A customer scores the points of the highest band it reaches in each table, plus "
            "the points that apply to it; the factors then scale the score down. Amounts are in "
            "the customer's own currency."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        self.form_layout.addWidget(note)
        self.form_layout.addWidget(scalars)
        tables_host = QWidget()
        tables_host.setLayout(tables)
        self.form_layout.addWidget(tables_host)
        self.form_layout.addStretch(1)

    def fill(self, strategy: Any) -> None:
        """Show a strategy's name and rules; the input is clean afterwards."""
        self._filling = True
        self.current = strategy
        self.base_version = strategy.version if strategy.id is not None else None
        self._build_form(strategy.rules)
        self.name.setText(strategy.name)
        for spec in self.specs:
            value = getattr(strategy.rules, spec.name)
            widget = self.inputs[spec.name]
            if spec.kind == FLAG:
                widget.setChecked(bool(value))
            elif spec.kind == SCALAR:
                widget.setText(fmt(value))
            else:
                widget.set_value(value)
        self._filling = False
        self._clean()
        self.status.setText(self._describe(strategy))

    def _describe(self, strategy: Any) -> str:
        if strategy.id is None:
            return "Not saved yet: Save to keep it" + (
                " (it becomes the active strategy)." if strategy.active else "."
            )
        return "The call list is ordered by this strategy." if strategy.active else ""

    def _enable(self) -> None:
        has = self.current is not None
        for widget in (self.name, *self._input_widgets()):
            widget.setEnabled(self.editable and has)
        self.new_button.setEnabled(self.editable and has)
        self.save_button.setEnabled(self.editable and has)
        self.activate_button.setEnabled(
            self.editable and has and self.current.id is not None and not self.current.active
        )

    def _input_widgets(self) -> list[QWidget]:
        return list(self.inputs.values())

    def values(self) -> tuple[str, Any]:
        """The name and the rules as typed; ValidationFailed naming each unreadable input."""
        problems: list[FieldProblem] = []
        changes: dict[str, Any] = {}
        for spec in self.specs:
            widget = self.inputs[spec.name]
            if spec.kind == FLAG:
                changes[spec.name] = widget.isChecked()
            elif spec.kind == SCALAR:
                try:
                    changes[spec.name] = parse_cell(widget.text(), spec.cell_types[0])
                except ValueError as exc:
                    problems.append(FieldProblem(spec.name, str(exc), value=widget.text()))
            else:
                changes[spec.name] = widget.value(problems)
        if problems:
            raise ValidationFailed(problems, SOURCE)
        return self.name.text().strip(), dataclasses.replace(self.current.rules, **changes)

    # -- new, activate ---------------------------------------------------------------------
    def new_strategy(self) -> None:
        if self.current is None:
            return
        if self.dirty and not confirm(self, "Discard your changes to the selected strategy?"):
            return
        names = {s.name for s in self.strategies}
        name, n = f"Copy of {self.current.name}", 2
        while name in names:
            name, n = f"Copy of {self.current.name} ({n})", n + 1
        fresh = dataclasses.replace(self.current, id=None, name=name, active=False, version=1)
        self.strategies = [*self.strategies, fresh]
        self.show_rows(self.strategies)
        self._select_row(len(self.strategies) - 1)
        self.fill(fresh)
        self.dirty = True  # a new strategy is something to save
        self.name.setFocus()
        self.name.selectAll()

    def activate_selected(self) -> None:
        strategy = self.current
        if strategy is None or strategy.id is None or strategy.active:
            return
        if self.dirty and not confirm(
            self, "Activate the strategy as last saved? Your unsaved changes are discarded."
        ):
            return
        self._busy(True)
        workers.submit(
            collection_strategy.activate,
            self.ctx.db,
            self.ctx.actor,
            strategy.id,
            self.base_version,
            owner=self,
            on_done=lambda saved: self._saved(saved, "Activated: the call list now follows it."),
            on_failed=self._failed,
        )

    # -- saving (ListEditorTab's hooks) ----------------------------------------------------
    def wants_save(self, force: bool) -> bool:
        if self.current is None:
            return False
        return self.dirty or (force and self.current.id is None)

    def pending_save(self) -> tuple[Any, ...]:
        name, rules = self.values()
        first = not any(s.id is not None for s in self.strategies)
        return (
            self.current.id,
            name,
            rules,
            self.base_version,
            first or (self.current.id is None and self.current.active),
        )

    def store(self, pending: tuple[Any, ...]) -> Any:
        strategy_id, name, rules, version, activate = pending
        return collection_strategy.save_strategy(
            self.ctx.db,
            self.ctx.actor,
            strategy_id,
            name,
            rules,
            expected_version=version,
            activate=activate,
        )

    def fetch_rows(self) -> list[Any]:
        return collection_strategy.list_strategies(self.ctx.db, self.ctx.actor)

    def busy_buttons(self) -> tuple[QPushButton, ...]:
        return (self.save_button, self.activate_button, self.new_button)

    def _saved(self, strategy: Any, message: str = "Saved.") -> None:
        self._busy(False)
        if strategy is None:
            return
        self.dirty = False
        self.load(select_id=strategy.id)
        self.banner.hide()
        self.status.setText(message)
        self.ctx.signals.strategy_changed.emit()

    def field_for(self, problem_field: str) -> str | None:
        """Which input a problem names: the rule's own name, its label, or either with a row
        or index after it ('dpd_bands[1]', 'Risk class: E')."""
        key = normalise(problem_field)
        if key in ("name", "strategy_name", "strategy"):
            return "name"
        candidates = sorted(self.specs, key=lambda s: -len(s.name))
        for spec in candidates:
            for known in (spec.name, normalise(spec.label), normalise(humanise(spec.name))):
                if key == known or key.startswith(known + "_"):
                    return spec.name
        return None
