"""Remembered layout: the column widths and order of every table and the sizes of every splitter
that has an objectName, kept in the window layout file under that name.

Only what the user changed (dragged a column edge or moved a column, dragged a splitter) is
saved; a table whose widths were remembered is no longer fitted to its contents on each load
(`fit_columns`), so the user's widths stay. The order of the rows is not remembered: each list
opens in its own order (most urgent first, the template's order), whatever was clicked last.

Widgets created after the window (an application's tabs, a customer's profile) are restored by
whoever creates them (`restore_layouts(widget)`) and saved when they close (`save_layouts`). A
screen that keeps its own layout marks itself with `keep_own_layout` and is left alone.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QHeaderView, QSplitter, QTableView, QTreeView, QWidget

from o2c_desktop.config import config_dir

GROUP = "layout"
OWN_LAYOUT = "o2cOwnLayout"  # on a widget: it (and what is inside) saves its own layout
RESTORED = "o2cLayoutRestored"  # on a table: its widths came from the file, leave them
CHANGED = "o2cLayoutChanged"  # on a table or splitter: the user changed it this session
WATCHED = "o2cLayoutWatched"


def window_settings() -> QSettings:
    """Window layout lives beside the settings file (an INI), not in the registry/dconf."""
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def keep_own_layout(widget: QWidget) -> None:
    widget.setProperty(OWN_LAYOUT, True)


def _header(view: QWidget) -> QHeaderView:
    return view.horizontalHeader() if isinstance(view, QTableView) else view.header()


def _remembered(root: QWidget) -> list[QWidget]:
    """The named tables and splitters in `root` (itself included), but those inside a widget
    that keeps its own layout."""
    found = [
        w
        for kind in (QTableView, QTreeView, QSplitter)
        for w in [root, *root.findChildren(kind)]
        if isinstance(w, kind) and w.objectName()
    ]

    def own(widget: QWidget | None) -> bool:
        while widget is not None:
            if widget.property(OWN_LAYOUT):
                return True
            widget = widget.parentWidget()
        return False

    return [w for w in dict.fromkeys(found) if not own(w)]


def _key(widget: QWidget) -> str:
    kind = "splitter" if isinstance(widget, QSplitter) else "header"
    return f"{GROUP}/{kind}/{widget.objectName()}"


def _watch(widget: QWidget) -> None:
    """Mark the widget changed when the user (not the code) resizes or moves something."""
    if widget.property(WATCHED):
        return
    widget.setProperty(WATCHED, True)

    def changed(*_args: object) -> None:
        widget.setProperty(CHANGED, True)

    if isinstance(widget, QSplitter):
        widget.splitterMoved.connect(changed)  # emitted for the user's drags only
        return
    header = _header(widget)

    def resized(*_args: object) -> None:
        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:  # a drag, not a fit
            changed()

    header.sectionResized.connect(resized)
    header.sectionMoved.connect(changed)
    header.sectionHandleDoubleClicked.connect(changed)


def restore_layouts(root: QWidget, settings: QSettings | None = None) -> None:
    """Put back what was saved for the named tables and splitters in `root`."""
    settings = settings or window_settings()
    for widget in _remembered(root):
        _watch(widget)
        state = settings.value(_key(widget))
        if state is None:
            continue
        if isinstance(widget, QSplitter):
            widget.restoreState(state)
            continue
        header = _header(widget)
        if settings.value(_key(widget) + "_columns") != str(header.count()):
            continue  # saved by a version with other columns
        # Widths and order of the columns, not the order of the rows: the saved sort indicator
        # is put back to the list's own before the view sorts by it (no reload in between).
        section, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        sorting = widget.isSortingEnabled()
        widget.setSortingEnabled(False)
        header.restoreState(state)
        header.setSortIndicator(section, order)
        widget.setSortingEnabled(sorting)
        widget.setProperty(RESTORED, True)


def save_layouts(root: QWidget, settings: QSettings | None = None) -> None:
    """Save the named tables and splitters in `root` the user changed."""
    settings = settings or window_settings()
    for widget in _remembered(root):
        if not widget.property(CHANGED):
            continue
        if isinstance(widget, QSplitter):
            settings.setValue(_key(widget), widget.saveState())
        else:
            header = _header(widget)
            settings.setValue(_key(widget), header.saveState())
            settings.setValue(_key(widget) + "_columns", str(header.count()))
    settings.sync()


def remember(widget: QWidget) -> None:
    """Save this table or splitter at the next save, as if the user had changed it."""
    widget.setProperty(CHANGED, True)


def fit_columns(view: QTableView) -> None:
    """Columns as wide as their contents, unless the user's widths were restored or changed."""
    if not (view.property(RESTORED) or view.property(CHANGED)):
        view.resizeColumnsToContents()
