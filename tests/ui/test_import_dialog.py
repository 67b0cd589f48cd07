"""Importing from the GUI: map a foreign layout, preview, dry run, import, re-import no-op."""

from __future__ import annotations

from decimal import Decimal

from o2c_desktop.services import customers, invoices
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.import_dialog import ImportDialog

WAIT = 15_000
CSV = (
    "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount\n"
    "391,0379-NEVHP,0000611365,1/2/2013,2/1/2013,55.94\n"
    "406,8976-AMJEO,0007900770,1/26/2013,2/25/2013,61.74\n"
)


def test_invoices_import_with_mapping_preview_and_dry_run(ctx: UiContext, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ar.csv"
    path.write_text(CSV, encoding="utf-8")
    dialog = ImportDialog(ctx, "invoices")
    qtbot.addWidget(dialog)
    dialog.path.setText(str(path))
    dialog.load_headers()
    for field, column in (
        ("customer", "customerID"),
        ("number", "invoiceNumber"),
        ("issue_date", "InvoiceDate"),
        ("due_date", "DueDate"),
        ("amount", "InvoiceAmount"),
    ):
        combo = dialog.combos[field]
        combo.setCurrentIndex(combo.findData(column))
    dialog.date_format.setText("%m/%d/%Y")
    dialog.create_missing.setChecked(True)
    dialog.show_preview()
    assert dialog.preview_table.rowCount() == 2
    assert "2 rows" in dialog.summary.text()

    dialog.run(dry_run=True)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT)
    assert dialog.report.dry_run
    assert customers.find_customer_id(ctx.db, "0379-NEVHP") is None  # nothing written

    dialog.report = None
    dialog.run(dry_run=False)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT)
    rows = invoices.list_invoices(
        ctx.db, ctx.actor, invoices.InvoiceQuery(status="all", sort_key="number")
    )
    assert [(r.number, r.amount) for r in rows] == [
        ("0000611365", Decimal("55.94")),
        ("0007900770", Decimal("61.74")),
    ]
    dialog.report = None
    dialog.run(dry_run=False)  # the same file again changes nothing
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT)
    assert dialog.report.created == 0 and dialog.report.unchanged == 2


def test_bad_rows_are_listed_and_nothing_is_written(ctx: UiContext, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text("customer,number,issue_date,amount\nNOPE,I-1,2026-13-01,1.234\n", "utf-8")
    dialog = ImportDialog(ctx, "invoices")
    qtbot.addWidget(dialog)
    dialog.path.setText(str(path))
    dialog.load_headers()
    dialog.run(dry_run=False)
    qtbot.waitUntil(lambda: not dialog.problems.isHidden(), timeout=WAIT)
    text = dialog.problems.toPlainText()
    assert "row 2" in text and "issue_date" in text
    assert "Nothing was imported" in dialog.summary.text()
