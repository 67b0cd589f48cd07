"""Layout pieces the screens share: a row of controls, a titled pane, a scrolling area.

Written once so the screens' top bars and panes look alike and a change of spacing or title
style is made in one place.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

# A part of `toolbar`: a widget, a caption, (a widget, its share of the spare width), or STRETCH.
STRETCH = None
Part = QWidget | str | tuple[QWidget, int] | None


def toolbar(*parts: Part) -> QHBoxLayout:
    """A row of controls, left to right: a string becomes its caption label, STRETCH pushes what
    follows to the right, (widget, n) takes n shares of the spare width."""
    row = QHBoxLayout()
    for part in parts:
        if part is STRETCH:
            row.addStretch(1)
        elif isinstance(part, str):
            row.addWidget(QLabel(part))
        elif isinstance(part, tuple):
            row.addWidget(*part)
        else:
            row.addWidget(part)
    return row


def titled(title: str, widget: QWidget) -> QWidget:
    """A pane with its name in bold above it (the parts of a work panel or a tab)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(title)
    label.setStyleSheet("font-weight: 600;")
    layout.addWidget(label)
    layout.addWidget(widget)
    return box


def scrolling(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area that gives it the whole width (long forms, lists of
    contacts): it scrolls instead of squeezing its rows."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area
