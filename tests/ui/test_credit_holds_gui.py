"""The Credit holds screen and the order dialogs on real widgets: an order entered over the
limit is held and shown with its reasons; a manager releases it with a reason; a clerk's release
is refused with the authority message and the reason kept; Ctrl+J rejects; Ctrl+N opens the order
dialog even where the window uses Ctrl+N; orders imported through the import dialog; the table
model passes Qt's model tester; the export keeps exact amounts. The release and refusal flows
run on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialogButtonBox, QMainWindow, QSplitter

from o2c_desktop.models import Role
from o2c_desktop.models.credit import ORDER_HELD, ORDER_OPEN, ORDER_REJECTED
from o2c_desktop.services import credit_authority, customers, orders
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.import_dialog import ImportDialog
from o2c_desktop.ui.dialogs.order_decision import OrderDecisionDialog
from o2c_desktop.ui.dialogs.order_entry import OrderEntryDialog
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.screens.credit_holds_screen import COLUMNS, CreditHoldsScreen
from tests.conftest import add_user
from tests.ui.conftest import Boxes
from tests.ui.test_credit_applications_gui import activate
from tests.ui.test_credit_settings_gui import mnemonic_clashes
from tests.ui.test_ledger_tab import drive_modal

WAIT = 15_000
OVER = "exceeds available credit"


def customer(ctx: UiContext, number: str = "C-1", limit: str = "1000", **values: Any) -> int:
    raw = {"number": number, "name": f"{number} Trading", "credit_limit": limit, **values}
    return customers.create_customer(ctx.db, ctx.actor, raw).id


def held_order(ctx: UiContext, customer_id: int, number: str, amount: str) -> Any:
    order = orders.enter_order(
        ctx.db, ctx.actor, {"customer_id": customer_id, "number": number, "amount": amount}
    )
    assert order.status == ORDER_HELD
    return order


def as_user(ctx: UiContext, username: str, role: Role) -> UiContext:
    return UiContext(ctx.db, add_user(ctx.db, ctx.actor, username, role), ctx.signals)


def open_screen(ctx: UiContext, qtbot, rows: int) -> CreditHoldsScreen:  # type: ignore[no-untyped-def]
    screen = CreditHoldsScreen(ctx)
    qtbot.addWidget(screen)
    screen.resize(1300, 600)
    screen.show()
    qtbot.waitUntil(lambda: not screen.loading and screen.model.rowCount() == rows, timeout=WAIT)
    return screen


def column(key: str) -> int:
    return next(n for n, c in enumerate(COLUMNS) if c.key == key)


def numbers(screen: CreditHoldsScreen) -> list[str]:
    return [row.number for row in screen.model.rows]


def save(dialog: Any) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()


def test_an_order_over_the_limit_is_held_and_queued_with_its_reasons(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    cid = customer(ctx, limit="1000", on_hold="yes", hold_reason="cheque bounced")
    screen = open_screen(ctx, qtbot, 0)
    dialog = OrderEntryDialog(ctx, screen, customer_id=cid)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.currency.text() == "EUR", timeout=WAIT)
    assert "Limit" in dialog.credit.text() and "ON HOLD (cheque bounced)" in dialog.credit.text()
    qtbot.keyClicks(dialog.number, "SO-77")
    qtbot.keyClicks(dialog.amount, "1,500.25")
    save(dialog)
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=WAIT)
    told = boxes.texts("information")[-1]
    assert "SO-77" in told and "ON CREDIT HOLD" in told
    assert "customer on hold: cheque bounced" in told and OVER in told

    # The screen hears orders_changed and shows the order with every reason.
    qtbot.waitUntil(lambda: numbers(screen) == ["SO-77"], timeout=WAIT)
    row = screen.model.rows[0]
    assert row.amount == Decimal("1500.25") and row.status == ORDER_HELD
    reasons_cell = screen.model.index(0, column("reasons"))
    # Each reason's first words, so that every reason fits the column; the tooltip has them whole.
    assert reasons_cell.data() == f"customer on hold; {OVER}"
    assert "cheque bounced" in reasons_cell.data(Qt.ItemDataRole.ToolTipRole)
    assert "over limit" in reasons_cell.data(Qt.ItemDataRole.ToolTipRole)
    amount_cell = screen.model.index(0, column("amount"))
    assert amount_cell.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    screen.view.selectRow(0)
    assert OVER in screen.detail.labels["reasons"].text()
    qtbot.waitUntil(lambda: "Limit" in screen.detail.labels["credit"].text(), timeout=WAIT)


def test_customer_is_found_as_the_user_types(ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    customer(ctx, "C-100", limit="90000")
    other = customer(ctx, "D-200", limit="5000", currency="USD")
    dialog = OrderEntryDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    dialog.customer.setFocus()
    qtbot.keyClicks(dialog.customer, "D-2")
    qtbot.waitUntil(lambda: dialog.customer.names.stringList() == ["D-200 · D-200 Trading"])
    popup = dialog.customer.completer().popup()
    qtbot.waitUntil(popup.isVisible, timeout=WAIT)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert dialog.customer.customer_id == other
    qtbot.waitUntil(lambda: "$" in dialog.credit.text(), timeout=WAIT)
    assert dialog.currency.text() == "USD"
    qtbot.keyClicks(dialog.amount, "abc")
    save(dialog)  # unreadable amount: said under the field, nothing sent
    assert dialog.errors["amount"].isVisible() and dialog.saved is None
    dialog.amount.clear()
    qtbot.keyClicks(dialog.amount, "100")
    save(dialog)
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=WAIT)
    assert dialog.saved.status == ORDER_OPEN and dialog.saved.number.startswith("SO-")
    assert "is open" in boxes.texts("information")[-1]


def test_a_manager_releases_with_a_reason(any_ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    cid = customer(any_ctx, limit="1000")
    order = held_order(any_ctx, cid, "SO-1", "4000")
    maria = as_user(any_ctx, "maria", Role.CREDIT_MANAGER)  # alone up to 50,000 EUR (seeded)
    screen = open_screen(maria, qtbot, 1)
    screen.view.selectRow(0)
    qtbot.waitUntil(screen.release_button.isEnabled, timeout=WAIT)
    assert "Within your authority" in screen.detail.labels["release"].text()
    changed: list[int] = []
    maria.signals.customer_changed.connect(changed.append)

    def release(dialog: Any) -> None:
        assert isinstance(dialog, OrderDecisionDialog)
        qtbot.waitUntil(lambda: "alone" in dialog.authority.text(), timeout=WAIT)
        qtbot.keyClicks(dialog.reason, "Paid in advance")
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)  # Enter saves

    drive_modal(qtbot, screen.release_selected, release)
    now = orders.get_order(any_ctx.db, any_ctx.actor, order.id)
    assert (now.status, now.decision_reason, now.decided_by) == (
        ORDER_OPEN,
        "Paid in advance",
        "Maria",
    )
    assert changed == [cid]
    qtbot.waitUntil(lambda: not screen.loading and numbers(screen) == [], timeout=WAIT)
    screen.status_filter.setCurrentIndex(screen.status_filter.findData(ORDER_OPEN))
    qtbot.waitUntil(lambda: numbers(screen) == ["SO-1"], timeout=WAIT)
    assert not screen.release_button.isEnabled()  # an open order has nothing to release


def test_release_is_disabled_above_the_users_authority_alone(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    cid = customer(any_ctx, limit="1000")
    order = held_order(any_ctx, cid, "SO-2", "1200")
    clara = as_user(any_ctx, "clara", Role.CREDIT_CLERK)  # may release, but has no authority
    screen = open_screen(clara, qtbot, 1)
    screen.view.setFocus()
    screen.view.selectRow(0)
    qtbot.waitUntil(lambda: screen.detail.check is not None, timeout=WAIT)
    assert not screen.release_button.isEnabled() and screen.reject_button.isEnabled()
    tip = screen.release_button.toolTip()
    assert "Above your authority" in tip and "€1,200.00" in tip
    assert "€0.00 alone (no authority row)" in tip and "second approver" not in tip
    assert screen.detail.labels["release"].text() == tip
    qtbot.keyClick(screen.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert screen.release_selected() is None  # Ctrl+R does what the button would: nothing

    # The dialog, were it opened, says the same and offers no Save (Ctrl+Enter neither).
    dialog = OrderDecisionDialog(clara, order, "release")
    qtbot.addWidget(dialog)
    activate(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=WAIT)
    saving = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not saving.isEnabled() and saving.toolTip() == tip
    qtbot.keyClicks(dialog.reason, "Sales director asked")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    workers.wait_for_all()
    assert dialog.isVisible() and not dialog.banner.isVisible()
    assert orders.get_order(any_ctx.db, any_ctx.actor, order.id).status == ORDER_HELD


def test_a_refusal_after_the_authority_changed_keeps_the_reason(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    cid = customer(any_ctx, limit="1000")
    order = held_order(any_ctx, cid, "SO-2", "1200")
    maria = as_user(any_ctx, "maria", Role.CREDIT_MANAGER)
    dialog = OrderDecisionDialog(maria, order, "release")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.check.allowed, timeout=WAIT)
    assert "Within your authority" in dialog.authority.text()
    assert "second approver" not in dialog.authority.text()  # not for releasing orders
    # Meanwhile an administrator lowers the managers' authority below the exposure after it.
    row = next(
        r
        for r in credit_authority.list_authorities(any_ctx.db, any_ctx.actor)
        if r.role == Role.CREDIT_MANAGER.value and r.currency == "EUR"
    )
    values = {"role": row.role, "currency": "EUR", "alone_max": "100", "jointly_max": "100"}
    credit_authority.save_authority(any_ctx.db, any_ctx.actor, row.id, row.version, values)
    qtbot.keyClicks(dialog.reason, "Sales director asked")
    save(dialog)
    qtbot.waitUntil(dialog.banner.isVisible, timeout=WAIT)
    text = dialog.banner.text()
    assert "Not released" in text and "Maria may not release order SO-2" in text
    assert "EUR 1,200.00" in text and "EUR 100.00 alone" in text
    assert dialog.reason.text() == "Sales director asked" and dialog.isVisible()  # kept
    assert orders.get_order(any_ctx.db, any_ctx.actor, order.id).status == ORDER_HELD


def test_ctrl_enter_in_the_reason_saves(ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    cid = customer(ctx, limit="100")
    order = held_order(ctx, cid, "SO-8", "500")
    dialog = OrderDecisionDialog(ctx, order, "reject")
    qtbot.addWidget(dialog)
    activate(qtbot, dialog)  # a shortcut reaches the active window only
    qtbot.keyClicks(dialog.reason, "Customer cancelled")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=WAIT)
    assert orders.get_order(ctx.db, ctx.actor, order.id).status == ORDER_REJECTED


def test_the_panel_follows_a_change_of_the_customer(ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    cid = customer(ctx, limit="1000")
    held_order(ctx, cid, "SO-9", "4000")
    other = customer(ctx, "C-2", limit="10")
    screen = open_screen(ctx, qtbot, 1)
    screen.view.selectRow(0)
    credit = screen.detail.labels["credit"]
    qtbot.waitUntil(lambda: "Limit €1,000.00" in credit.text(), timeout=WAIT)
    detail = customers.get_customer(ctx.db, ctx.actor, cid)
    customers.update_customer(ctx.db, ctx.actor, cid, detail.version, {"credit_limit": "5000"})
    ctx.signals.customer_changed.emit(other)  # someone else's: nothing to read again
    workers.wait_for_all()
    assert "Limit €1,000.00" in credit.text()
    ctx.signals.customer_changed.emit(cid)  # e.g. a credit decision gave a new limit
    qtbot.waitUntil(lambda: "Limit €5,000.00" in credit.text(), timeout=WAIT)


def test_reject_with_ctrl_j_and_a_required_reason(ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    cid = customer(ctx, limit="100")
    held_order(ctx, cid, "SO-3", "500")
    held_order(ctx, cid, "SO-4", "700")
    screen = open_screen(ctx, qtbot, 2)
    assert numbers(screen) == ["SO-3", "SO-4"]  # longest waiting first
    screen.view.setFocus()
    screen.view.selectRow(1)

    def reject(dialog: Any) -> None:
        assert "Reject order SO-4" in dialog.windowTitle()
        save(dialog)  # no reason yet: refused under the field, nothing sent
        assert dialog.errors["reason"].isVisible()
        qtbot.keyClicks(dialog.reason, "Customer cancelled")
        save(dialog)

    drive_modal(
        qtbot,
        lambda: qtbot.keyClick(screen.view, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier),
        reject,
    )
    qtbot.waitUntil(lambda: not screen.loading and numbers(screen) == ["SO-3"], timeout=WAIT)
    rejected = orders.list_orders(ctx.db, ctx.actor, orders.OrderQuery(statuses=(ORDER_REJECTED,)))
    assert [(o.number, o.decision_reason) for o in rejected] == [("SO-4", "Customer cancelled")]


def test_ctrl_n_opens_the_order_dialog_before_the_windows_new_customer(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    new_customer: list[bool] = []
    action = QAction("New customer", window)
    action.setShortcut(QKeySequence.StandardKey.New)
    action.triggered.connect(lambda: new_customer.append(True))
    window.addAction(action)
    screen = CreditHoldsScreen(ctx)
    window.setCentralWidget(screen)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: not screen.loading, timeout=WAIT)
    screen.search.setFocus()

    def seen(dialog: Any) -> None:
        assert isinstance(dialog, OrderEntryDialog)
        dialog.reject()

    drive_modal(
        qtbot,
        lambda: qtbot.keyClick(screen.search, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier),
        seen,
    )
    assert new_customer == []


def test_orders_import_through_the_dialog(ctx: UiContext, qtbot, boxes: Boxes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    customer(ctx, "C-9", limit="1000")
    path = tmp_path / "orders.csv"
    path.write_text(
        "Cust;Order no;Date;Value\nC-9;PO-1;01/03/2026;600,00\nC-9;PO-2;02/03/2026;700,00\n",
        encoding="utf-8",
    )
    changed: list[bool] = []
    ctx.signals.orders_changed.connect(lambda: changed.append(True))
    dialog = ImportDialog(ctx, "orders")
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Import orders" and dialog.create_missing.isHidden()
    dialog.path.setText(str(path))
    dialog.load_headers()
    for field, column in (("customer", "Cust"), ("order_date", "Date"), ("amount", "Value")):
        combo = dialog.combos[field]
        combo.setCurrentIndex(combo.findData(column))
    assert dialog.combos["number"].currentData() == "Order no"  # matched by name
    dialog.date_format.setText("%d/%m/%Y")
    dialog.decimal_comma.setChecked(True)
    dialog.show_preview()
    assert dialog.preview_table.rowCount() == 2 and "2 rows" in dialog.summary.text()
    dialog.run(dry_run=True)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT)
    assert dialog.report.dry_run and orders.holds_queue(ctx.db, ctx.actor) == []
    dialog.report = None
    dialog.run(dry_run=False)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=WAIT)
    assert (dialog.report.entered, dialog.report.held) == (2, 1)
    assert "1 held" in dialog.summary.text() and changed == [True]
    listed = orders.list_orders(ctx.db, ctx.actor, orders.OrderQuery(statuses=("open", "held")))
    assert sorted((o.number, o.status, o.amount) for o in listed) == [
        ("PO-1", ORDER_OPEN, Decimal("600.00")),
        ("PO-2", ORDER_HELD, Decimal("700.00")),
    ]


def test_model_and_export(ctx: UiContext, qtbot, qtmodeltester, boxes: Boxes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cid = customer(ctx, limit="10", on_hold="yes")
    held_order(ctx, cid, "SO-5", "1234.56")
    held_order(ctx, cid, "SO-6", "0.01")
    screen = open_screen(ctx, qtbot, 2)
    qtmodeltester.check(screen.model)
    screen.view.sortByColumn(column("amount"), Qt.SortOrder.DescendingOrder)
    assert numbers(screen) == ["SO-5", "SO-6"]
    qtbot.keyClicks(screen.search, "SO-6")
    qtbot.waitUntil(lambda: not screen.loading and numbers(screen) == ["SO-6"], timeout=WAIT)
    screen.search.clear()
    qtbot.waitUntil(lambda: not screen.loading and len(numbers(screen)) == 2, timeout=WAIT)
    target = tmp_path / "orders.csv"
    screen.export_to(str(target))
    workers.wait_for_all()
    qtbot.waitUntil(lambda: boxes.texts("information") != [], timeout=WAIT)
    with target.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0][:6] == ["Order", "Customer", "Name", "Ordered", "Amount", "Currency"]
    assert [(r[0], r[4], r[5]) for r in rows[1:]] == [
        ("SO-5", "1234.56", "EUR"),
        ("SO-6", "0.01", "EUR"),
    ]


def test_alt_letters_are_unique_in_the_window_and_alt_l_releases(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    cid = customer(ctx, limit="1000")
    held_order(ctx, cid, "SO-10", "4000")
    maria = as_user(ctx, "maria", Role.CREDIT_MANAGER)
    window = MainWindow(maria)
    qtbot.addWidget(window)
    window.resize(1400, 850)
    activate(qtbot, window)
    screen = window.credit_holds
    window.show_area(screen)
    qtbot.waitUntil(lambda: not screen.loading and numbers(screen) == ["SO-10"], timeout=WAIT)
    screen.view.setFocus()
    screen.view.selectRow(0)
    qtbot.waitUntil(screen.release_button.isEnabled, timeout=WAIT)
    reasons = column("reasons")  # in view whole, beside the selected order's panel
    left = screen.view.columnViewportPosition(reasons)
    assert left >= 0 and left + screen.view.columnWidth(reasons) <= screen.view.viewport().width()
    # An Alt+letter used twice only moves the focus between its owners (C&redit, &Release…).
    assert mnemonic_clashes(window) == {}

    def release(dialog: Any) -> None:
        assert isinstance(dialog, OrderDecisionDialog) and dialog.action == "release"
        dialog.reject()

    def alt_l() -> None:
        qtbot.keyClick(screen.view, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)
        qtbot.wait(400)  # the button is pressed with its short animation, then the dialog runs

    drive_modal(qtbot, alt_l, release)


def test_layout_names_and_the_currency_hint_shown_whole(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = CreditHoldsScreen(ctx)
    qtbot.addWidget(screen)
    # Stable names: the window keeps each named table's columns and splitter between starts.
    assert screen.view.objectName() == "orderTable"
    assert screen.findChild(QSplitter, "holdsSplitter") is not None
    qtbot.waitUntil(lambda: not screen.loading, timeout=WAIT)

    dialog = OrderEntryDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    currency = dialog.currency
    hint = currency.fontMetrics().horizontalAdvance(currency.placeholderText())
    assert currency.placeholderText() == "the customer's" and currency.width() >= hint + 10
