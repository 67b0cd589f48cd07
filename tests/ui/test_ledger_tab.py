"""The Ledger tab on real widgets: open items, record a payment for selected items, dispute;
write-off (authority, permissions), reversal, credit note and dispute status, on both engines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from o2c_desktop.models import Role
from o2c_desktop.services import audit, customers, disputes, ledger, ledger_queries
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.apply_credit_note import ApplyCreditNoteDialog
from o2c_desktop.ui.dialogs.dispute_status import DisputeStatusDialog
from o2c_desktop.ui.dialogs.ledger_actions import DisputeDialog, PaymentDialog
from o2c_desktop.ui.dialogs.reverse_allocation import ReverseAllocationDialog, reversible
from o2c_desktop.ui.dialogs.write_off import WriteOffDialog
from o2c_desktop.ui.models.list_table import ROW_ROLE
from o2c_desktop.ui.screens.customer_ledger import LedgerTab
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from tests.conftest import add_user

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


# ---------------------------------------------------------------------------------------------
# Write-off, reversal, credit note and disputes on the Ledger tab, on SQLite and PostgreSQL
# ---------------------------------------------------------------------------------------------


def as_user(ctx: UiContext, username: str, role: Role) -> UiContext:
    return UiContext(ctx.db, add_user(ctx.db, ctx.actor, username, role), ctx.signals)


def drive_modal(qtbot, open_it: Callable[[], Any], interact: Callable[[Any], None]) -> Any:  # type: ignore[no-untyped-def]
    """Call `open_it` (a button press that runs a modal dialog) and `interact(dialog)` once the
    dialog is up; a failing interaction closes the dialog so the test fails instead of hanging."""
    seen: list[Any] = []
    errors: list[BaseException] = []
    returned = False

    def poke() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            if not returned:  # no dialog came up: stop polling once `open_it` is back
                QTimer.singleShot(10, poke)
            return
        seen.append(dialog)
        try:
            interact(dialog)
        except BaseException as exc:  # reported after the dialog is closed
            errors.append(exc)
            dialog.reject()

    QTimer.singleShot(0, poke)
    open_it()
    returned = True
    if errors:
        raise errors[0]
    assert seen, "no dialog was opened"
    return seen[0]


def select_rows(panel: Any, keys: Sequence[str]) -> None:
    """Select the rows of a TablePanel whose first column shows one of `keys`."""
    view, proxy = panel.view, panel.proxy
    view.selectionModel().clearSelection()
    for row in range(proxy.rowCount()):
        if proxy.index(row, 0).data() in keys:
            view.selectionModel().select(
                proxy.index(row, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )
            view.selectionModel().setCurrentIndex(
                proxy.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate
            )


def open_ledger(ctx: UiContext, qtbot, customer_id: int) -> LedgerTab:  # type: ignore[no-untyped-def]
    profile = CustomerProfile(ctx, customer_id)
    qtbot.addWidget(profile)
    profile.tabs.setCurrentWidget(profile.ledger)
    qtbot.waitUntil(lambda: profile.ledger.loaded, timeout=WAIT)
    return profile.ledger


def reloaded(qtbot, tab: LedgerTab, action: Callable[[], Any]) -> Any:  # type: ignore[no-untyped-def]
    """Run an action and wait for the tab to show the data again (the profile reloads it)."""
    tab.loaded = False
    result = action()
    qtbot.waitUntil(lambda: tab.loaded, timeout=WAIT)
    return result


def post_customer(ctx: UiContext, number: str, name: str, *invoices: tuple[str, str, int]) -> int:
    cid = customers.create_customer(ctx.db, ctx.actor, {"number": number, "name": name}).id
    for invoice, amount, age in invoices:
        ledger.post_invoice(
            ctx.db, ctx.actor, cid, invoice, date.today() - timedelta(days=age), Decimal(amount)
        )
    return cid


def open_amounts(ctx: UiContext, cid: int) -> dict[str, Decimal]:
    rows = ledger_queries.open_items(ctx.db, ctx.actor, cid, date.today())
    return {r.number: r.open_amount for r in rows}


def test_write_off_within_authority_from_the_tab(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(
        any_ctx, "W-1", "Write Off Ltd", ("WA", "1500.00", 60), ("WB", "300.00", 10)
    )
    manager = as_user(any_ctx, "maria", Role.CREDIT_MANAGER)
    tab = open_ledger(manager, qtbot, cid)
    assert tab.write_off_button.isEnabled()
    select_rows(tab.open_items, ["WA", "WB"])

    def over_then_within(dialog: WriteOffDialog) -> None:
        qtbot.waitUntil(lambda: dialog.authority is not None, timeout=WAIT)
        assert [e.text() for e in dialog.amounts] == ["1500.00", "300.00"]  # the open amounts
        assert "up to 1,000.00 at once" in dialog.authority_label.text()
        assert "above it" in dialog.authority_label.text()  # 1,800.00 is over 1,000.00
        qtbot.keyClicks(dialog.reason, "customer insolvent")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(dialog.banner.isVisible, timeout=WAIT)
        assert "may write off at most 1,000.00 at once; 1,800.00 needs" in dialog.banner.text()
        assert open_amounts(any_ctx, cid) == {"WA": Decimal("1500.00"), "WB": Decimal("300.00")}
        dialog.amounts[0].setText("700.00")
        assert "above it" not in dialog.authority_label.text()
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)  # Enter saves

    dialog = reloaded(
        qtbot, tab, lambda: drive_modal(qtbot, tab.write_off_button.click, over_then_within)
    )
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert open_amounts(any_ctx, cid) == {"WA": Decimal("800.00")}
    assert [r.number for r in tab.open_items.model.rows] == ["WA"]
    assert "balance €800.00" in tab.balance.text()
    writes = [r.description for r in tab.history.model.rows if r.kind == "write_off"]
    assert sorted(writes) == [
        "Write-off of WA: customer insolvent",
        "Write-off of WB: customer insolvent",
    ]


def test_roles_without_the_permission_see_why(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(any_ctx, "W-2", "Collected Co", ("WC", "100.00", 40))
    ledger.record_payment(
        any_ctx.db, any_ctx.actor, cid, date.today(), Decimal("40"), reference="WC"
    )
    collector = as_user(any_ctx, "colin", Role.COLLECTOR)
    tab = open_ledger(collector, qtbot, cid)
    for button in (tab.write_off_button, tab.credit_button, tab.reverse_button, tab.pay_button):
        assert not button.isEnabled()
    assert "may not write off open amounts: that needs the role" in tab.write_off_button.toolTip()
    assert "credit manager" in tab.write_off_button.toolTip()
    assert "may not apply or reverse cash" in tab.reverse_button.toolTip()
    assert tab.dispute_button.isEnabled()  # collectors work disputes
    # The service refuses as well, and the dialog says so instead of failing.
    dialog = WriteOffDialog(collector, tab.open_rows, "EUR")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "may not write off" in dialog.authority_label.text(), timeout=WAIT)
    dialog.reason.setText("x")
    dialog.save()
    qtbot.waitUntil(lambda: "may not write off" in dialog.banner.text(), timeout=WAIT)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert open_amounts(any_ctx, cid) == {"WC": Decimal("60.00")}
    # A clerk may reverse the payment but not a manager's write-off.
    clerk = as_user(any_ctx, "clara", Role.CREDIT_CLERK)
    ledger.write_off(any_ctx.db, any_ctx.actor, item_id(any_ctx, cid, "WC"), "10", None, "goodwill")
    clerk_tab = open_ledger(clerk, qtbot, cid)
    assert [r.kind for r in reversible(clerk_tab.history_rows, clerk.actor)] == ["payment"]


def item_id(ctx: UiContext, cid: int, number: str) -> int:
    rows = ledger_queries.open_items(ctx.db, ctx.actor, cid, date.today())
    return next(r.id for r in rows if r.number == number)


def test_reverse_allocation_restores_the_open_amount(any_ctx: UiContext, qtbot, boxes) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(any_ctx, "R-1", "Reversal AG", ("RA", "400.00", 30), ("RB", "100.00", 5))
    ledger.record_payment(
        any_ctx.db,
        any_ctx.actor,
        cid,
        date.today() - timedelta(days=2),
        Decimal("400.00"),
        reference="RA",
    )
    tab = open_ledger(any_ctx, qtbot, cid)
    assert tab.reverse_button.isEnabled()
    assert open_amounts(any_ctx, cid) == {"RB": Decimal("100.00")}
    applied = next(r for r in tab.history.model.rows if r.entry == "allocation")
    tab.history.view.setCurrentIndex(
        next(
            tab.history.proxy.index(r, 0)
            for r in range(tab.history.proxy.rowCount())
            if tab.history.proxy.index(r, 0).data(ROW_ROLE) is applied
        )
    )

    def reverse(dialog: ReverseAllocationDialog) -> None:
        assert dialog.allocation.currentData() == applied.allocation_id  # the selected one
        assert "RA is open €400.00 more" in dialog.effect.text()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(lambda: dialog.errors["reason"].isVisible(), timeout=WAIT)
        assert dialog.errors["reason"].text() == "required"
        qtbot.keyClicks(dialog.reason, "applied to the wrong invoice")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    reloaded(qtbot, tab, lambda: drive_modal(qtbot, tab.reverse_button.click, reverse))
    assert any("Reverse this allocation?" in text for text in boxes.texts("question"))
    assert open_amounts(any_ctx, cid) == {"RA": Decimal("400.00"), "RB": Decimal("100.00")}
    assert "unapplied cash €400.00" in tab.balance.text()
    assert not tab.reverse_button.isEnabled()  # nothing applied any more
    reversal = [r for r in tab.history.model.rows if r.entry == "reversal"]
    assert [r.description for r in reversal] == [
        "Reversed: payment applied to RA (applied to the wrong invoice)"
    ]
    trail = audit.customer_history(any_ctx.db, any_ctx.actor, cid)
    assert [(a.table, a.record_id, a.new_value) for a in trail if a.field == "reversal_reason"] == [
        ("allocations", str(applied.allocation_id), "applied to the wrong invoice")
    ]
    assert any(
        a.table == "invoices" and a.field == "open_amount" and Decimal(a.new_value) == 400
        for a in trail
    )


def test_apply_credit_note_from_the_tab(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(any_ctx, "K-1", "Credit GmbH", ("KA", "150.00", 50), ("KB", "500.00", 20))
    ledger.post_credit_note(
        any_ctx.db, any_ctx.actor, cid, "CN-9", date.today() - timedelta(days=1), Decimal("200.00")
    )
    tab = open_ledger(any_ctx, qtbot, cid)
    assert tab.credit_button.isEnabled()

    def apply(dialog: ApplyCreditNoteDialog) -> None:
        # Spread oldest first: KA fully, the rest on KB.
        assert [e.text() for e in dialog.amounts] == ["150.00", "50.00"]
        assert "€0.00" in dialog.left.text()
        dialog.amounts[1].setText("30.00")
        assert "€20.00" in dialog.left.text()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    reloaded(qtbot, tab, lambda: drive_modal(qtbot, tab.credit_button.click, apply))
    assert open_amounts(any_ctx, cid) == {"KB": Decimal("470.00"), "CN-9": Decimal("20.00")}
    assert tab.credit_button.isEnabled()  # 20.00 of credit left


def test_escape_closes_a_dialog_without_saving(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(any_ctx, "E-1", "Escape Ltd", ("EA", "90.00", 3))
    tab = open_ledger(any_ctx, qtbot, cid)
    dialog = WriteOffDialog(any_ctx, tab.open_rows, "EUR", tab)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.authority is not None, timeout=WAIT)
    assert dialog.focusWidget() is dialog.amounts[0]
    dialog.reason.setText("not really")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert open_amounts(any_ctx, cid) == {"EA": Decimal("90.00")}


def test_dispute_status_from_the_ledger_tab(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = post_customer(any_ctx, "D-1", "Dispute SA", ("DA", "250.00", 45))
    opened = disputes.raise_dispute(
        any_ctx.db,
        any_ctx.actor,
        cid,
        [(item_id(any_ctx, cid, "DA"), "50")],
        "quality",
        opened_on=date.today() - timedelta(days=7),
    )
    tab = open_ledger(any_ctx, qtbot, cid)
    [row] = tab.disputes.model.rows
    assert (row.id, row.status, row.age_days, row.invoice_numbers) == (
        opened.id,
        "open",
        7,
        ("DA",),
    )
    tab.disputes.view.setFocus()
    tab.disputes.view.setCurrentIndex(tab.disputes.proxy.index(0, 0))

    def resolve(dialog: DisputeStatusDialog) -> None:
        dialog.status.setCurrentIndex(dialog.status.findData("resolved_us"))
        assert dialog.resolution_caption.text() == "Resolution (required)"
        assert not dialog.credit_note.isVisible()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(lambda: dialog.errors["resolution"].isVisible(), timeout=WAIT)
        assert dialog.errors["resolution"].text() == "required to resolve a dispute"
        qtbot.keyClicks(dialog.resolution, "delivery note signed")
        qtbot.keyClick(dialog.resolution, Qt.Key.Key_Return)

    # Enter on the dispute opens the status dialog.
    reloaded(
        qtbot,
        tab,
        lambda: drive_modal(
            qtbot, lambda: qtbot.keyClick(tab.disputes.view, Qt.Key.Key_Return), resolve
        ),
    )
    [row] = tab.disputes.model.rows
    assert (row.status, row.resolution) == ("resolved_us", "delivery note signed")
    assert tab.open_items.model.rows[0].disputed_amount == Decimal("0")


def test_actions_have_keyboard_shortcuts(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Each action has its own Alt+letter (the underlined mnemonic). The offscreen platform
    does not deliver mnemonic key presses, so the keys themselves are checked here; Enter,
    Escape and Enter-on-a-row are driven as real key presses in the other tests."""
    cid = post_customer(any_ctx, "M-1", "Mnemonic Oy", ("MA", "10.00", 5))
    tab = open_ledger(any_ctx, qtbot, cid)
    keys = {
        button.shortcut().toString(): button.text()
        for button in (
            tab.pay_button,
            tab.dispute_button,
            tab.write_off_button,
            tab.credit_button,
            tab.reverse_button,
            tab.dispute_status_button,
            tab.dispute_owner_button,
        )
    }
    assert keys == {
        "Alt+P": "Record &payment…",
        "Alt+D": "Raise &dispute…",
        "Alt+W": "&Write off…",
        "Alt+T": "Apply credi&t note…",
        "Alt+V": "Re&verse allocation…",
        "Alt+S": "Change &status…",
        "Alt+G": "Reassi&gn…",
    }
    assert "(Alt+W)" in tab.write_off_button.toolTip()
