"""Form rows with an error line under each field, and a banner for whole-form messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLayout, QVBoxLayout, QWidget

from o2c_desktop.errors import ConflictError, ValidationFailed

ERROR_STYLE = "color: #b00020;"
BANNER_STYLE = (
    "background: #fff4e5; border: 1px solid #f0a020; border-radius: 4px; "
    "padding: 6px; color: #5a3800;"
)


def error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def with_error(widget: QWidget, error: QLabel) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(1)
    layout.addWidget(widget)
    layout.addWidget(error)
    return box


def banner() -> QLabel:
    label = QLabel()
    label.setObjectName("banner")
    label.setStyleSheet(BANNER_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def set_error(label: QLabel, message: str | None) -> None:
    label.setText(message or "")
    label.setVisible(bool(message))


def place_problems(
    errors: Mapping[str, QLabel], error: Exception, field_for: Callable[[str], str | None]
) -> None:
    """Each problem of a ValidationFailed under the input it names, the other lines cleared.

    `field_for` maps the field as the service spells it ('Days past due', 'dpd_bands[2]') to the
    key of an input's error line; problems it does not place are left to the banner."""
    messages: dict[str, list[str]] = {}
    if isinstance(error, ValidationFailed):
        for problem in error.problems:
            key = field_for(problem.field)
            if key in errors:
                messages.setdefault(key, []).append(problem.message)
    for key, label in errors.items():
        set_error(label, "\n".join(messages.get(key, ())))


def not_saved(error: Exception) -> str:
    """The banner's text after a failed save: a conflict names who changed what since."""
    return str(error) if isinstance(error, ConflictError) else f"Not saved: {error}"


def save_cancel_layout(dialog: QDialog, body: QWidget | QLayout, save: object) -> QDialogButtonBox:
    """Banner on top, the form, then Save (Enter) and Cancel (Escape): every edit dialog."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(save)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(dialog.banner)  # type: ignore[attr-defined]
    if isinstance(body, QLayout):
        layout.addLayout(body)
    else:
        layout.addWidget(body)
    layout.addWidget(buttons)
    return buttons
