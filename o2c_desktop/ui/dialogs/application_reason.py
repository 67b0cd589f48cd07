"""Ask for a reason, then run the action that needs it: withdraw an application, return it to
verification, send it back, reject or waive a checklist item. The reason goes into the audit
trail, so it is required unless the action says otherwise; a refusal stays in the dialog.
Ctrl+Enter in the reason saves (Enter is a new line there), Escape cancels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QPlainTextEdit

from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import set_error, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.widgets.keys import ctrl_enter_saves


class ReasonDialog(ActionDialog):
    fields = ("reason",)

    def __init__(
        self,
        ctx: UiContext,
        title: str,
        prompt: str,
        action: Callable[[str], Any],
        parent: Any = None,
        *,
        required: bool = True,
    ) -> None:
        super().__init__(ctx, parent)
        self.action = action
        self.required = required
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        self.reason = QPlainTextEdit(objectName="reasonText")
        self.reason.setTabChangesFocus(True)  # Tab to the buttons, Enter (in them) to save
        self.reason.setMaximumHeight(110)
        self.reason.setPlaceholderText("Ctrl+Enter saves")
        ctrl_enter_saves(self.reason, self)
        explanation = QLabel(prompt)
        explanation.setWordWrap(True)
        form = QFormLayout()
        form.addRow(explanation)
        form.addRow(
            "Reason" + ("*" if required else ""), with_error(self.reason, self.errors["reason"])
        )
        self.finish_layout(form)
        self.reason.setFocus()

    def text(self) -> str:
        return self.reason.toPlainText().strip()

    def save(self) -> None:
        if self.required and not self.text():
            set_error(self.errors["reason"], "Please give a reason: it is kept with the change.")
            return
        self.run(self.action, self.text())
