"""Settings → Dunning levels: the reminder levels a dunning run chooses from.

A level is reached when a customer's oldest overdue item is at least its days-past-due threshold
overdue; it names the letter's title, its text (a template with placeholders such as
{contact_name} and {overdue}), how it is sent (letter or e-mail) and a fee in one currency: the
fee is charged only on letters in that currency, and letters in other currencies get none (the
app keeps no exchange rates; the note beside the fee says so, so nobody expects 40 EUR to turn
into 40 PLN). The levels are listed on the left; the selected one is edited on the right and
saved with the version the user loaded, so a colleague's save in between is a conflict that
keeps the input. The dunning service validates (thresholds rising with the level, known
placeholders only, a fee's currency, …) and each problem is shown under its field. Listing,
saving and conflicts work as on the strategy tab (widgets.list_editor).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.models.collections import CHANNEL_EMAIL, CHANNEL_LETTER
from o2c_desktop.money import known_currencies, parse_amount
from o2c_desktop.services import dunning
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, with_error
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.list_editor import ListEditorTab, normalise
from o2c_desktop.ui.widgets.messages import confirm

SOURCE = "Dunning levels"
FIELDS = ("level", "name", "days_past_due", "channel", "fee", "fee_currency", "template")
CHANNEL_LABELS = {CHANNEL_LETTER: "Letter (PDF to print)", CHANNEL_EMAIL: "E-mail (PDF attached)"}
ALIASES = {
    "days": "days_past_due",
    "threshold": "days_past_due",
    "text": "template",
    "currency": "fee_currency",
}
FEE_NOTE = (
    "Charged only on letters in this currency; letters in other currencies get no fee "
    "(there are no exchange rates)."
)
COLUMNS = (
    Column("level", "Level", lambda r: r.level, numeric=True),
    Column("name", "Name", lambda r: r.name),
    Column("days_past_due", "From days overdue", lambda r: r.days_past_due, numeric=True),
    Column("channel", "Channel", lambda r: r.channel, lambda r: CHANNEL_LABELS.get(r.channel, "")),
    Column(
        "fee",
        "Fee",
        lambda r: r.fee,
        lambda r: (
            f"{formatting.amount(r.fee)} {r.fee_currency or dunning.NO_FEE_CURRENCY}"
            if r.fee
            else ""
        ),
        numeric=True,
    ),
)


class DunningLevelsTab(ListEditorTab):
    """The levels and the editor of the selected one. Saves through its own buttons, and with
    the Settings dialog's Save when the level shown has unsaved changes."""

    source = SOURCE

    def __init__(self, ctx: UiContext, parent: Any = None):
        editable = ctx.actor.may(Permission.EDIT_SETTINGS)
        super().__init__(ctx, editable, COLUMNS, ("dunningLevelTable", "levelStatus"), parent)
        self.levels: list[Any] = []
        self.is_new = False  # the form holds a level not saved yet (`current` is None)

        self.new_button = QPushButton("&New level")
        self.delete_button = QPushButton("&Delete level")
        self.save_button = QPushButton("Sa&ve level")
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
        self.fee.setToolTip("Added to letters in the fee's currency")
        self.fee_currency = QLineEdit(objectName="levelFeeCurrency")
        self.fee_currency.setMaxLength(3)
        self.fee_currency.setMaximumWidth(70)
        self.fee_currency.setPlaceholderText("EUR")
        self.fee_currency.setToolTip("The fee's currency (ISO code): " + FEE_NOTE)
        self.fee_currency.setCompleter(QCompleter(sorted(known_currencies()), self.fee_currency))
        self.fee_note = QLabel(FEE_NOTE, objectName="levelFeeNote")
        self.fee_note.setStyleSheet("color: #666;")
        self.fee_note.setWordWrap(True)
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

        form = QFormLayout()
        form.addRow("Level", with_error(self.level, self.errors["level"]))
        form.addRow("Name", with_error(self.name, self.errors["name"]))
        form.addRow("Reached from", with_error(self.days, self.errors["days_past_due"]))
        form.addRow("Channel", with_error(self.channel, self.errors["channel"]))
        form.addRow("Fee", self._fee_row())
        form.addRow("Letter text", with_error(self.template, self.errors["template"]))
        form.addRow("", self.placeholder_note)
        self.arrange((self.new_button, self.delete_button), form, self.save_button, (440, 560))

        for signal in (
            self.level.valueChanged,
            self.days.valueChanged,
            self.channel.currentIndexChanged,
            self.name.textEdited,
            self.fee.textEdited,
            self.fee_currency.textEdited,
            self.template.textChanged,
        ):
            signal.connect(lambda *_a: self._changed())
        self.new_button.clicked.connect(self.new_level)
        self.delete_button.clicked.connect(self.delete_level)
        self._enable()
        self.load()

    def _fee_row(self) -> QWidget:
        """The fee, its currency beside it, and the note that other currencies pay none; each
        input with its own error line under it."""
        inputs = QHBoxLayout()
        inputs.setContentsMargins(0, 0, 0, 0)
        inputs.addWidget(self.fee)
        inputs.addWidget(self.fee_currency)
        inputs.addWidget(self.fee_note, 1)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addLayout(inputs)
        layout.addWidget(self.errors["fee"])
        layout.addWidget(self.errors["fee_currency"])
        return box

    # -- loading ---------------------------------------------------------------------------
    def load(self, select_level: int | None = None) -> None:
        workers.submit(
            self.fetch_rows,
            owner=self,
            on_done=lambda rows: self._loaded(rows, select_level),
            on_failed=lambda e: self._show_banner(f"Cannot load the dunning levels: {e}"),
        )

    def _loaded(self, rows: list[Any], select_level: int | None) -> None:
        self.levels = sorted(rows, key=lambda r: r.level)
        self.show_rows(self.levels)
        self.loaded = True
        if not self.levels:
            self.current, self.is_new = None, False
            self._clear_form()
            self._enable()
            return
        row = next((i for i, r in enumerate(self.levels) if r.level == select_level), 0)
        self._select_row(row)
        self.fill(self.levels[row])

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
        self.fee_currency.clear()
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
        self.fee_currency.setText(level.fee_currency or "")
        self.template.setPlainText(level.template)
        self._filling = False
        self._clean()

    def _enable(self) -> None:
        editing = self.current is not None or self.is_new
        widgets = (
            self.level,
            self.name,
            self.days,
            self.channel,
            self.fee,
            self.fee_currency,
            self.template,
        )
        for widget in widgets:
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
            "fee_currency": self.fee_currency.text().strip().upper() or None,
        }

    # -- saving (ListEditorTab's hooks) ----------------------------------------------------
    def wants_save(self, force: bool) -> bool:
        return (self.dirty or force) and (self.current is not None or self.is_new)

    def pending_save(self) -> tuple[int | None, dict[str, Any], int | None]:
        values = self.values()
        if self.is_new:
            return None, values, None
        return self.current.id, values, self.base_version

    def store(self, pending: tuple[int | None, dict[str, Any], int | None]) -> Any:
        level_id, values, version = pending
        return dunning.save_level(
            self.ctx.db, self.ctx.actor, level_id, **values, expected_version=version
        )

    def fetch_rows(self) -> list[Any]:
        return dunning.list_levels(self.ctx.db, self.ctx.actor)

    def field_for(self, problem_field: str) -> str | None:
        key = normalise(problem_field)
        key = ALIASES.get(key, key)
        if key in FIELDS:
            return key
        return next((f for f in FIELDS if key.startswith(f + "_")), None)

    def _saved(self, level: Any) -> None:
        self.dirty = False
        self.status.setText("Saved.")
        self.load(select_level=getattr(level, "level", self.level.value()))

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
