"""Settings → Dunning levels: the reminder levels a dunning run chooses from.

A level is reached when a customer's oldest overdue item is at least its days-past-due threshold
overdue; it names the letter's title, its text (a template with placeholders such as
{contact_name} and {overdue}), how it is sent (letter or e-mail) and a fee. The levels are listed
on the left; the selected one is edited on the right and saved with the version the user loaded,
so a colleague's save in between is a conflict that keeps the input. The dunning service
validates (thresholds rising with the level, known placeholders only, …) and each problem is
shown under its field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import ConflictError, FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models.collections import CHANNEL_EMAIL, CHANNEL_LETTER
from o2c_desktop.money import parse_amount
from o2c_desktop.services import dunning
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import banner, error_label, set_error, with_error
from o2c_desktop.ui.dialogs.strategy_editor import normalise
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ROW_ROLE, ListTableModel
from o2c_desktop.ui.widgets.messages import confirm
from o2c_desktop.ui.widgets.table_panel import configure_table

SOURCE = "Dunning levels"
FIELDS = ("level", "name", "days_past_due", "channel", "fee", "template")
CHANNEL_LABELS = {CHANNEL_LETTER: "Letter (PDF to print)", CHANNEL_EMAIL: "E-mail (PDF attached)"}
ALIASES = {"days": "days_past_due", "threshold": "days_past_due", "text": "template"}
COLUMNS = (
    Column("level", "Level", lambda r: r.level, numeric=True),
    Column("name", "Name", lambda r: r.name),
    Column("days_past_due", "From days overdue", lambda r: r.days_past_due, numeric=True),
    Column("channel", "Channel", lambda r: r.channel, lambda r: CHANNEL_LABELS.get(r.channel, "")),
    Column("fee", "Fee", lambda r: r.fee, lambda r: formatting.amount(r.fee), numeric=True),
)


def field_of(problem_field: str) -> str | None:
    key = normalise(problem_field)
    key = ALIASES.get(key, key)
    if key in FIELDS:
        return key
    return next((f for f in FIELDS if key.startswith(f + "_")), None)


class DunningLevelsTab(QWidget):
    """The levels and the editor of the selected one. Saves through its own buttons, and with
    the Settings dialog's Save when the level shown has unsaved changes."""

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editable = ctx.actor.may(Permission.EDIT_SETTINGS)
        self.levels: list[Any] = []
        self.current: Any = None  # the LevelRow shown; None with `is_new` for a new level
        self.is_new = False
        self.base_version: int | None = None
        self.dirty = False
        self.loaded = False
        self._filling = False
        self._pending: Any = None
        self._last_error: O2CError | None = None

        self.banner = banner()
        self.model = ListTableModel(COLUMNS, self)
        self.view = QTableView(objectName="dunningLevelTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setSortingEnabled(False)
        self.new_button = QPushButton("&New level")
        self.delete_button = QPushButton("&Delete level")
        self.save_button = QPushButton("&Save level")
        for button in (self.new_button, self.delete_button, self.save_button):
            button.setAutoDefault(False)
            if not self.editable:
                button.setToolTip(refusal(ctx.actor, Permission.EDIT_SETTINGS))

        self.level = QSpinBox(objectName="levelNumber")
        self.level.setRange(1, 99)
        self.name = QLineEdit(objectName="levelName")
        self.name.setMaxLength(80)
        self.days = QSpinBox(objectName="levelDays")
        self.days.setRange(0, 3650)
        self.days.setSuffix(" days past due")
        self.channel = QComboBox(objectName="levelChannel")
        for value, label in CHANNEL_LABELS.items():
            self.channel.addItem(label, value)
        self.fee = QLineEdit(objectName="levelFee")
        self.fee.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.fee.setPlaceholderText("0.00")
        self.fee.setMaximumWidth(140)
        self.fee.setToolTip("Added to the letter, in the customer's currency")
        self.template = QPlainTextEdit(objectName="levelTemplate")
        self.template.setMinimumHeight(180)
        known = dunning.TEMPLATE_FIELDS
        self.placeholder_note = QLabel(
            "Placeholders: " + ", ".join(f"{{{name}}}" for name in known),
            objectName="levelPlaceholders",
        )
        self.placeholder_note.setToolTip("\n".join(f"{{{k}}}: {v}" for k, v in known.items()))
        self.placeholder_note.setStyleSheet("color: #666;")
        self.placeholder_note.setWordWrap(True)
        self.errors = {name: error_label() for name in FIELDS}
        self.status = QLabel(objectName="levelStatus")
        self.status.setStyleSheet("color: #666;")

        form = QFormLayout()
        form.addRow("Level", with_error(self.level, self.errors["level"]))
        form.addRow("Name", with_error(self.name, self.errors["name"]))
        form.addRow("Reached from", with_error(self.days, self.errors["days_past_due"]))
        form.addRow("Channel", with_error(self.channel, self.errors["channel"]))
        form.addRow("Fee", with_error(self.fee, self.errors["fee"]))
        form.addRow("Letter text", with_error(self.template, self.errors["template"]))
        form.addRow("", self.placeholder_note)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(form, 1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.status, 1)
        save_row.addWidget(self.save_button)
        right_layout.addLayout(save_row)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, 1)
        left_buttons = QHBoxLayout()
        left_buttons.addWidget(self.new_button)
        left_buttons.addWidget(self.delete_button)
        left_layout.addLayout(left_buttons)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([440, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        for signal in (
            self.level.valueChanged,
            self.days.valueChanged,
            self.channel.currentIndexChanged,
            self.name.textEdited,
            self.fee.textEdited,
            self.template.textChanged,
        ):
            signal.connect(lambda *_a: self._changed())
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, previous: self._picked(current.row(), previous.row())
        )
        self.new_button.clicked.connect(self.new_level)
        self.delete_button.clicked.connect(self.delete_level)
        self.save_button.clicked.connect(self.save_clicked)
        self._enable()
        self.load()

    # -- loading ---------------------------------------------------------------------------
    def load(self, select_level: int | None = None) -> None:
        workers.submit(
            dunning.list_levels,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=lambda rows: self._loaded(rows, select_level),
            on_failed=lambda e: self._show_banner(f"Cannot load the dunning levels: {e}"),
        )

    def _loaded(self, rows: list[Any], select_level: int | None) -> None:
        self.levels = sorted(rows, key=lambda r: r.level)
        self._set_rows()
        self.loaded = True
        if not self.levels:
            self.current, self.is_new = None, False
            self._clear_form()
            self._enable()
            return
        row = next((i for i, r in enumerate(self.levels) if r.level == select_level), 0)
        self._select_row(row)
        self.fill(self.levels[row])

    def _set_rows(self) -> None:
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        self.model.set_rows(self.levels)
        self.view.resizeColumnsToContents()
        selection.blockSignals(False)

    def _select_row(self, row: int) -> None:
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        if row < 0:
            self.view.clearSelection()
        else:
            self.view.selectRow(row)
        selection.blockSignals(False)

    def _picked(self, row: int, previous: int) -> None:
        if not 0 <= row < len(self.levels):
            return
        if self.levels[row] is self.current and not self.is_new:
            return
        if self.dirty and not confirm(self, "Discard your changes to this level?"):
            self._select_row(previous)
            return
        self.fill(self.levels[row])

    # -- the form --------------------------------------------------------------------------
    def _clear_form(self) -> None:
        self._filling = True
        self.level.setValue(1)
        self.name.clear()
        self.days.setValue(0)
        self.channel.setCurrentIndex(0)
        self.fee.clear()
        self.template.clear()
        self._filling = False

    def fill(self, level: Any) -> None:
        self._filling = True
        self.current, self.is_new = level, False
        self.base_version = level.version
        self.level.setValue(level.level)
        self.name.setText(level.name)
        self.days.setValue(level.days_past_due)
        self.channel.setCurrentIndex(max(self.channel.findData(level.channel), 0))
        self.fee.setText(format(level.fee, "f") if level.fee else "")
        self.template.setPlainText(level.template)
        self._filling = False
        self._clean()

    def _clean(self) -> None:
        self.dirty = False
        for label in self.errors.values():
            set_error(label, None)
        self.banner.hide()
        self._enable()

    def _changed(self) -> None:
        if not self._filling:
            self.dirty = True

    def _enable(self) -> None:
        editing = self.current is not None or self.is_new
        for widget in (self.level, self.name, self.days, self.channel, self.fee, self.template):
            widget.setEnabled(self.editable and editing)
        self.new_button.setEnabled(self.editable and self.loaded)
        self.delete_button.setEnabled(self.editable and self.current is not None)
        self.save_button.setEnabled(self.editable and editing)

    def new_level(self) -> None:
        if self.dirty and not confirm(self, "Discard your changes to this level?"):
            return
        last = self.levels[-1] if self.levels else None
        self._select_row(-1)
        self._clear_form()
        self._filling = True
        self.level.setValue(last.level + 1 if last else 1)
        self.days.setValue(last.days_past_due + 30 if last else 7)
        if last is not None:
            self.channel.setCurrentIndex(max(self.channel.findData(last.channel), 0))
            self.template.setPlainText(last.template)
        self.name.setText(f"Reminder {self.level.value()}")
        self._filling = False
        self.current, self.is_new, self.base_version = None, True, None
        self._clean()
        self.dirty = True
        self.status.setText("New level: Save level to add it.")
        self.name.setFocus()
        self.name.selectAll()

    def values(self) -> dict[str, Any]:
        fee_text = self.fee.text().strip()
        try:
            fee = parse_amount(fee_text) if fee_text else Decimal("0")
        except ValueError as exc:
            raise ValidationFailed(
                [FieldProblem("fee", str(exc), value=fee_text)], SOURCE
            ) from None
        return {
            "level": self.level.value(),
            "name": self.name.text().strip(),
            "days_past_due": self.days.value(),
            "template": self.template.toPlainText(),
            "channel": self.channel.currentData(),
            "fee": fee,
        }

    # -- saving (prepare on the GUI thread, save on the worker) ----------------------------
    def prepare(self, force: bool = False) -> None:
        for label in self.errors.values():
            set_error(label, None)
        self._pending = None
        if not self.editable or not (self.dirty or force):
            return
        if self.current is None and not self.is_new:
            return
        try:
            values = self.values()
        except ValidationFailed as exc:
            self._pending = exc
            return
        level_id = None if self.is_new else self.current.id
        self._pending = (level_id, values, None if self.is_new else self.base_version)

    def save(self) -> Any:
        """Runs on the worker: the dunning service validates, checks the version, audits."""
        pending = self._pending
        if pending is None:
            return None
        try:
            if isinstance(pending, ValidationFailed):
                raise pending
            level_id, values, version = pending
            return dunning.save_level(
                self.ctx.db, self.ctx.actor, level_id, **values, expected_version=version
            )
        except O2CError as exc:
            self._last_error = exc
            raise

    def save_clicked(self) -> None:
        self.banner.hide()
        self.prepare(force=True)
        if self._pending is None:
            return
        self.save_button.setEnabled(False)
        self.status.setText("Saving…")
        workers.submit(self.save, owner=self, on_done=self._saved, on_failed=self._failed)

    def _saved(self, level: Any) -> None:
        self.dirty = False
        self.status.setText("Saved.")
        self.load(select_level=getattr(level, "level", self.level.value()))

    def _failed(self, error: O2CError) -> None:
        self._enable()
        self.status.setText("")
        self.show_problems(error)
        self._show_banner(str(error) if isinstance(error, ConflictError) else f"Not saved: {error}")
        if isinstance(error, ConflictError):
            self._rebase()

    def _rebase(self) -> None:
        """After a conflict the input stays; the next Save is made against their version."""
        level_id = self.current.id if self.current is not None else None

        def rebased(rows: list[Any]) -> None:
            theirs = next((r for r in rows if r.id == level_id), None)
            if theirs is not None:
                self.base_version = theirs.version

        workers.submit(
            dunning.list_levels,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=rebased,
            on_failed=lambda _e: None,
        )

    def show_problems(self, error: O2CError) -> bool:
        if error is not self._last_error and not (
            isinstance(error, ValidationFailed) and error.source == SOURCE
        ):
            return False
        if isinstance(error, ValidationFailed):
            messages: dict[str, list[str]] = {}
            for problem in error.problems:
                key = field_of(problem.field)
                if key is not None:
                    messages.setdefault(key, []).append(problem.message)
            for key, texts in messages.items():
                set_error(self.errors[key], "\n".join(texts))
        return True

    def delete_level(self) -> None:
        level = self.current
        if level is None or not confirm(
            self, f"Delete dunning level {level.level} “{level.name}”?"
        ):
            return
        self.delete_button.setEnabled(False)

        def done(_none: Any) -> None:
            self.dirty = False
            self.status.setText(f"Level {level.level} deleted.")
            self.load()

        workers.submit(
            dunning.delete_level,
            self.ctx.db,
            self.ctx.actor,
            level.id,
            self.base_version,
            owner=self,
            on_done=done,
            on_failed=self._failed,
        )

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def selected(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None
