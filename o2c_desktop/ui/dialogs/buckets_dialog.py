"""Settings → Aging buckets: labels and day ranges, validated by the aging service."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.services import aging
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import banner, save_cancel_layout


class BucketsDialog(QDialog):
    """One row per bucket: label, from day, to day (blank = open-ended)."""

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Aging buckets")
        self.banner = banner()
        self.table = QTableWidget(0, 3, objectName="bucketTable")
        self.table.setHorizontalHeaderLabels(["Label", "From day", "To day"])
        for bucket in aging.get_buckets(ctx.db):
            self.add_row(bucket.label, bucket.min_days, bucket.max_days)
        add = QPushButton("Add row")
        remove = QPushButton("Remove row")
        add.clicked.connect(lambda: self.add_row("", None, None))
        remove.clicked.connect(lambda: self.table.removeRow(self.table.currentRow()))
        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        side = QHBoxLayout()
        side.addWidget(add)
        side.addWidget(remove)
        self.buttons = save_cancel_layout(self, body, self.save)
        self.layout().insertLayout(2, side)
        self.resize(480, 360)

    def add_row(self, label: str, low: int | None, high: int | None) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, value in enumerate((label, low, high)):
            self.table.setItem(row, column, QTableWidgetItem("" if value is None else str(value)))

    def rows(self) -> list[list[Any]]:
        def cell(r: int, c: int) -> Any:
            item = self.table.item(r, c)
            text = item.text().strip() if item else ""
            if c == 0:
                return text
            return int(text) if text.lstrip("-").isdigit() else (text or None)

        return [[cell(r, 0), cell(r, 1), cell(r, 2)] for r in range(self.table.rowCount())]

    def save(self) -> None:
        try:
            aging.set_buckets(self.ctx.db, self.ctx.actor, self.rows())
        except O2CError as exc:  # ValidationFailed / PermissionDenied carry the reason
            self.banner.setText(f"Not saved: {exc}")
            self.banner.show()
            return
        self.accept()
