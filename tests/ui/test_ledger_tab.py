"""The Ledger tab on real widgets: open items, record a payment for selected items, dispute."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from o2c_desktop.services import customers, disputes, ledger, ledger_queries
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.ledger_actions import DisputeDialog, PaymentDialog
from o2c_desktop.ui.screens.customer_profile import CustomerProfile

WAIT = 10_000


def test_payment_and_dispute_from_the_ledger_tab(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    customer = customers.create_customer(ctx.db, ctx.actor, {"number": "L-1", "name": "Lambda"})
    today = date.today()
    for number, amount, days in (("INV-A", "100.00", 60), ("INV-B", "250.00", 10)):
        ledger.post_invoice(
            ctx.db, ctx.actor, customer.id, number, today - timedelta(days=days), Decimal(amount)
        )
    profile = CustomerProfile(ctx, customer.id)
    qtbot.addWidget(profile)
    tab = profile.ledger
    qtbot.waitUntil(lambda: tab.loaded and tab.open_items.model.rowCount() == 2, timeout=WAIT)
    assert "350.00" in tab.balance.text()
    assert tab.strip_layout.count() == 5  # one cell per aging bucket

    # Select INV-A and pay it.
    view = tab.open_items.view
    row = next(r for r in range(2) if tab.open_items.proxy.index(r, 0).data() == "INV-A")
    view.selectionModel().select(
        tab.open_items.proxy.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    dialog = PaymentDialog(ctx, customer.id, "EUR", tab.selected_items(), tab)
    qtbot.addWidget(dialog)
    assert dialog.amount.text() == "100.00"
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    open_numbers = [
        r.number for r in ledger_queries.open_items(ctx.db, ctx.actor, customer.id, today)
    ]
    assert open_numbers == ["INV-B"]

    # Dispute part of INV-B.
    item = ledger_queries.open_items(ctx.db, ctx.actor, customer.id, today)[0]
    dispute = DisputeDialog(ctx, customer.id, item, tab)
    qtbot.addWidget(dispute)
    dispute.amount.setText("50.00")
    dispute.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dispute.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    listed = disputes.list_disputes(ctx.db, ctx.actor, customer_id=customer.id)
    assert len(listed) == 1
    tab.reload()
    qtbot.waitUntil(
        lambda: any(r.disputed_amount == Decimal("50.00") for r in tab.open_items.model.rows),
        timeout=WAIT,
    )


def test_a_bad_amount_is_refused_next_to_the_field(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    customer = customers.create_customer(ctx.db, ctx.actor, {"number": "L-2", "name": "Mu"})
    dialog = PaymentDialog(ctx, customer.id, "EUR", [])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.amount.setText("12.345")
    dialog.apply.setCurrentIndex(dialog.apply.findData("none"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "decimals" in dialog.banner.text()
