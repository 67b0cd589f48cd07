"""Message boxes and the export file chooser, in one place so tests can patch them."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from o2c_desktop.errors import PermissionDenied


def show_error(parent: QWidget | None, error: Exception | str, title: str = "O2C Desktop") -> None:
    text = str(error)
    if isinstance(error, PermissionDenied):
        QMessageBox.warning(parent, "Not allowed", text)
    else:
        QMessageBox.critical(parent, title, text)


def show_info(parent: QWidget | None, text: str, title: str = "O2C Desktop") -> None:
    QMessageBox.information(parent, title, text)


def confirm(parent: QWidget | None, text: str, title: str = "O2C Desktop") -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


def ask_export_path(parent: QWidget | None, suggested: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export", suggested, "Excel workbook (*.xlsx);;CSV (*.csv)"
    )
    if not path:
        return None
    if not path.lower().endswith((".csv", ".xlsx")):
        path += ".xlsx"
    return path
