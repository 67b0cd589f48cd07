"""Keys the text boxes share: Ctrl+Enter saves from a multi-line box, where a plain Enter is a
new line (a reason, a note, conditions), so a form can be finished without the mouse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDialog, QPushButton, QWidget

ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class _CtrlEnter(QObject):
    def __init__(self, edit: QWidget, action: Callable[[], Any]) -> None:
        super().__init__(edit)
        self.action = action

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and event.key() in ENTER_KEYS  # type: ignore[attr-defined]
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier  # type: ignore[attr-defined]
        ):
            self.action()
            return True
        return super().eventFilter(watched, event)


def on_ctrl_enter(edit: QWidget, action: Callable[[], Any]) -> None:
    """Ctrl+Enter in `edit` runs `action` (a plain Enter stays a new line)."""
    edit.installEventFilter(_CtrlEnter(edit, action))


def press_default(dialog: QDialog) -> None:
    """Click the dialog's default button (Save), unless it is off (a save under way)."""
    for button in dialog.findChildren(QPushButton):
        if button.isDefault() and button.isEnabled():
            button.click()
            return


def ctrl_enter_saves(edit: QWidget, dialog: QDialog) -> None:
    """Ctrl+Enter in `edit` does what Enter does elsewhere in the dialog: its default button."""
    on_ctrl_enter(edit, lambda: press_default(dialog))
