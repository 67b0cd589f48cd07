"""Import invoices, payments or orders from the GUI: choose a file, map its columns, preview,
then check (dry run) or import in the background with a progress bar and Cancel.

Orders are read like the ledger files (services.ledger_import: the same column matching, cell
parsing and preview) and imported by services.order_import, which works out each order's credit
hold; the summary says how many were held, and the holds queue refreshes."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.services import ledger_import, order_import
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext

NOT_IN_FILE = "(not in the file)"


class ImportDialog(QDialog):
    def __init__(self, ctx: UiContext, kind: str, parent: Any = None):
        super().__init__(parent)
        self.ctx, self.kind = ctx, kind
        self.fields = ledger_import.FIELDS[kind]
        self.setWindowTitle(f"Import {kind}")
        self.path = QLineEdit(objectName="importPath")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        self.path.editingFinished.connect(self.load_headers)
        self.combos = {f.name: QComboBox(objectName=f"map_{f.name}") for f in self.fields}
        mapping = QGridLayout()
        for i, spec in enumerate(self.fields):
            label = QLabel(spec.label + ("*" if spec.required else ""))
            mapping.addWidget(label, i // 2, (i % 2) * 2)
            mapping.addWidget(self.combos[spec.name], i // 2, (i % 2) * 2 + 1)
        self.date_format = QLineEdit(objectName="dateFormat")
        self.date_format.setPlaceholderText("ISO (2026-11-22); e.g. %m/%d/%Y for US dates")
        self.decimal_comma = QCheckBox("Amounts are written 1.234,56")
        self.create_missing = QCheckBox("Create customers that do not exist yet")
        self.create_missing.setVisible(kind != ledger_import.ORDERS)  # an order needs a customer
        self.oldest_first = QCheckBox("Apply payments that name no invoice to the oldest items")
        self.oldest_first.setVisible(kind == ledger_import.PAYMENTS)
        options = QFormLayout()
        options.addRow("Date format", self.date_format)
        options.addRow("", self.decimal_comma)
        options.addRow("", self.create_missing)
        options.addRow("", self.oldest_first)
        self.preview_table = QTableWidget(objectName="importPreview")
        self.preview_table.setMinimumHeight(180)
        self.summary = QLabel(objectName="importSummary")
        self.summary.setWordWrap(True)
        self.problems = QPlainTextEdit(objectName="importProblems", readOnly=True)
        self.problems.setMaximumHeight(140)
        self.problems.hide()
        self.preview_button = QPushButton("&Preview")
        self.check_button = QPushButton("&Check (dry run)")
        self.import_button = QPushButton("&Import")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(close)
        row = QHBoxLayout()
        row.addWidget(QLabel("File"))
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(QLabel("Columns"))
        layout.addLayout(mapping)
        layout.addLayout(options)
        layout.addWidget(self.preview_table, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems)
        layout.addLayout(buttons)
        self.preview_button.clicked.connect(self.show_preview)
        self.check_button.clicked.connect(lambda: self.run(dry_run=True))
        self.import_button.clicked.connect(lambda: self.run(dry_run=False))
        close.clicked.connect(self.reject)
        self.report: ledger_import.LedgerImportReport | order_import.OrderImportReport | None = None
        self.resize(1000, 720)

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"Import {self.kind}", "", "CSV or Excel (*.csv *.txt *.xlsx)"
        )
        if path:
            self.path.setText(path)
            self.load_headers()

    def load_headers(self) -> None:
        """Fill the column choices and take the columns whose names match a field."""
        try:
            headers = ledger_import.read_headers(self.path.text())
        except O2CError as exc:
            self.summary.setText(str(exc))
            return
        suggested = ledger_import.suggest_mapping(self.kind, headers)
        for name, combo in self.combos.items():
            combo.clear()
            combo.addItem(NOT_IN_FILE, None)
            for header in headers:
                combo.addItem(header, header)
            combo.setCurrentIndex(max(combo.findData(suggested.get(name)), 0))
        self.summary.setText(f"{len(headers)} columns; check the mapping, then Preview.")

    def options(self, dry_run: bool) -> ledger_import.LedgerImportOptions:
        mapping = {
            name: combo.currentData() for name, combo in self.combos.items() if combo.currentData()
        }
        return ledger_import.LedgerImportOptions(
            mapping=mapping,
            date_format=self.date_format.text().strip() or None,
            decimal_comma=self.decimal_comma.isChecked(),
            create_missing_customers=self.create_missing.isChecked(),
            dry_run=dry_run,
            apply="oldest-first" if self.oldest_first.isChecked() else "none",
        )

    def show_preview(self) -> None:
        try:
            result = ledger_import.preview(self.kind, self.path.text(), self.options(True))
        except O2CError as exc:
            self.summary.setText(str(exc))
            return
        names = [f.name for f in self.fields if f.name in result.mapping]
        self.preview_table.clear()
        self.preview_table.setColumnCount(len(names) + 2)
        self.preview_table.setHorizontalHeaderLabels(["Row", *names, "Problems"])
        self.preview_table.setRowCount(len(result.sample))
        for r, row in enumerate(result.sample):
            cells = [str(row.row), *(row.values.get(n, "") for n in names), "; ".join(row.problems)]
            for c, text in enumerate(cells):
                self.preview_table.setItem(r, c, QTableWidgetItem(text))
        self.preview_table.resizeColumnsToContents()
        self.summary.setText(
            f"{result.rows:,} rows; {result.problems:,} problems in the cells"
            + (
                f"; ignored columns: {', '.join(result.ignored_columns)}"
                if result.ignored_columns
                else ""
            )
        )

    def order_options(self, dry_run: bool) -> order_import.OrderImportOptions:
        ledger = self.options(dry_run)
        return order_import.OrderImportOptions(
            mapping=ledger.mapping,
            date_format=ledger.date_format,
            decimal_comma=ledger.decimal_comma,
            dry_run=dry_run,
        )

    def run(self, dry_run: bool) -> workers.Task:
        ctx, kind, path, options = self.ctx, self.kind, self.path.text(), self.options(dry_run)
        orders_options = self.order_options(dry_run)
        self.problems.hide()

        def work(task: workers.Task) -> Any:
            if kind == ledger_import.ORDERS:
                return order_import.import_orders(
                    ctx.db,
                    ctx.actor,
                    path,
                    orders_options,
                    progress=task.report,
                    cancel=task.cancelled,
                )
            return ledger_import.import_ledger(
                ctx.db,
                ctx.actor,
                kind,
                path,
                options,
                progress=task.report,
                cancelled=task.cancelled,
            )

        return workers.run_with_progress(
            self,
            "Checking" if dry_run else "Importing",
            work,
            on_done=self._done,
            on_failed=self._failed,
        )

    def _done(self, report: Any) -> None:
        self.report = report
        self.summary.setText(report.summary())
        if not report.dry_run:
            self.ctx.signals.customers_changed.emit()
            if self.kind == ledger_import.ORDERS:
                self.ctx.signals.orders_changed.emit()

    def _failed(self, error: O2CError) -> None:
        self.summary.setText(
            "Nothing was imported." if isinstance(error, ValidationFailed) else str(error)
        )
        if isinstance(error, ValidationFailed):
            self.problems.setPlainText(str(error))
            self.problems.show()
