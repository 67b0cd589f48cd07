"""The Log call dialog on real widgets, on SQLite and PostgreSQL: a few keystrokes per call,
the service's problems next to their fields with the input kept, a promise and a dispute
recorded (the dispute in the ledger's dispute list), and the profile's Ctrl+L, which claims the
customer first (and says who works it when someone else does)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from o2c_desktop.models import Role
from o2c_desktop.services import (
    calls,
    claims,
    contacts,
    customers,
    disputes,
    ledger,
    promises,
)
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import LogCallDialog, load_target
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from tests.ui.conftest import Boxes
from tests.ui.test_ledger_tab import as_user

WAIT = 15_000


@pytest.fixture
def colin(any_ctx: UiContext) -> UiContext:
    return as_user(any_ctx, "colin", Role.COLLECTOR)


def make_customer(ctx: UiContext) -> int:
    """Colin's customer with two overdue invoices, one not yet due, and a primary contact."""
    cid = customers.create_customer(
        ctx.db, ctx.actor, {"number": "K-1", "name": "Kappa Tools", "collector": "colin"}
    ).id
    today = date.today()
    for number, amount, days in (("K1", "300.00", 40), ("K2", "150.50", 12), ("K3", "80.00", -5)):
        due = today - timedelta(days=days)
        ledger.post_invoice(
            ctx.db, ctx.actor, cid, number, due - timedelta(days=30), Decimal(amount), due_date=due
        )
    contacts.add_contact(
        ctx.db, ctx.actor, cid, {"name": "Otto", "phone": "0301", "is_primary": True}
    )
    return cid


def open_dialog(qtbot, ctx: UiContext, cid: int) -> LogCallDialog:  # type: ignore[no-untyped-def]
    dialog = LogCallDialog(ctx, load_target(ctx.db, ctx.actor, cid, date.today()))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def drive_after_claim(
    qtbot, open_it: Callable[[], None], interact: Callable[[LogCallDialog], None]
) -> LogCallDialog:  # type: ignore[no-untyped-def]
    """Like drive_modal, for a dialog that comes up only once the claim is taken on a worker:
    `open_it` returns at once, so the dialog is waited for (and must come up)."""
    seen: list[LogCallDialog] = []
    errors: list[BaseException] = []
    polls = [WAIT // 10]

    def poke() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            polls[0] -= 1
            if polls[0] > 0:
                QTimer.singleShot(10, poke)
            return
        seen.append(dialog)  # type: ignore[arg-type]
        try:
            interact(dialog)  # type: ignore[arg-type]
        except BaseException as exc:  # reported after the dialog is closed
            errors.append(exc)
            dialog.reject()  # type: ignore[attr-defined]

    QTimer.singleShot(0, poke)
    open_it()
    qtbot.waitUntil(lambda: bool(seen) and not seen[0].isVisible(), timeout=WAIT)
    if errors:
        raise errors[0]
    return seen[0]


def saved(qtbot, dialog: LogCallDialog) -> calls.CallResult:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    return dialog.result_value


def test_no_answer_in_two_keystrokes_with_a_follow_up(
    any_ctx: UiContext, colin: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    dialog = open_dialog(qtbot, colin, cid)
    assert dialog.focusWidget() is dialog.outcome
    assert dialog.contact.currentText().startswith("Otto")  # the primary contact
    assert [dialog.outcome.item(r).text()[:1] for r in range(8)] == list("12345678")
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_2)
    assert dialog.chosen() == "no_answer"
    assert dialog.focusWidget() is dialog.notes
    assert not dialog.promise_box.isVisible() and not dialog.dispute_box.isVisible()
    dialog.follow_up_buttons[0].click()  # +1d
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return)
    result = saved(qtbot, dialog)
    assert result.promise_id is None and result.dispute_id is None
    logged = calls.recent_calls(colin.db, colin.actor, cid)
    assert [(c.outcome, c.follow_up_on, c.contact, c.user) for c in logged] == [
        ("no_answer", date.today() + timedelta(days=1), "Otto", "Colin")
    ]


def test_arrow_keys_and_notes_on_several_lines(any_ctx: UiContext, colin: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    dialog = open_dialog(qtbot, colin, cid)
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)
    assert dialog.chosen() == "reached"
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)
    assert dialog.chosen() == "no_answer"
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Up)
    assert dialog.chosen() == "reached"
    assert dialog.focusWidget() is dialog.outcome  # arrows stay on the list
    dialog.notes.setFocus()
    qtbot.keyClicks(dialog.notes, "Talked to AP")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(dialog.notes, "will call back")
    assert dialog.result() != QDialog.DialogCode.Accepted  # Shift+Enter is a new line
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return)
    saved(qtbot, dialog)
    (call,) = calls.recent_calls(colin.db, colin.actor, cid)
    assert (call.outcome, call.notes, call.follow_up_on) == (
        "reached",
        "Talked to AP\nwill call back",
        None,
    )


def test_a_call_on_a_customer_someone_took_meanwhile_is_refused_and_kept(
    any_ctx: UiContext, colin: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    dialog = open_dialog(qtbot, colin, cid)
    maria = as_user(any_ctx, "maria", Role.CREDIT_MANAGER)
    claims.hold(maria.db, maria.actor, cid)  # while Colin types, Maria takes the customer
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_1)
    qtbot.keyClicks(dialog.notes, "spoke to AP")
    qtbot.keyClick(dialog.notes, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=WAIT)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "Not saved: Maria is working this customer (since " in dialog.banner.text()
    assert dialog.notes.toPlainText() == "spoke to AP"  # kept for when Maria is done
    assert calls.recent_calls(colin.db, colin.actor, cid) == []


def test_problems_show_next_to_the_fields_and_the_input_stays(
    any_ctx: UiContext, colin: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    dialog = open_dialog(qtbot, colin, cid)
    # Nothing chosen: said next to the outcome, nothing sent.
    dialog.save()
    assert dialog.errors["outcome"].isVisible()
    assert "1-8" in dialog.errors["outcome"].text()
    assert calls.recent_calls(colin.db, colin.actor, cid) == []

    qtbot.keyClick(dialog.outcome, Qt.Key.Key_5)
    assert dialog.errors["outcome"].isHidden()
    assert dialog.amount.text() == "450.50"  # K1 + K2; K3 is not due
    # Untick K2: the amount follows the items until one is typed.
    dialog.promise_items.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert dialog.amount.text() == "300.00"
    dialog.amount.clear()
    qtbot.keyClicks(dialog.amount, "12.345")
    dialog.promised_on.setDate(dialog.promised_on.date().addDays(200))
    qtbot.keyClicks(dialog.notes, "pays after the audit")
    qtbot.keyClick(dialog.amount, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=WAIT)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.errors["amount"].isVisible()
    assert "decimals" in dialog.errors["amount"].text()
    assert dialog.errors["promised_on"].isVisible()
    assert "90 days" in dialog.errors["promised_on"].text()
    # Everything typed is still there.
    assert dialog.amount.text() == "12.345"
    assert dialog.notes.toPlainText() == "pays after the audit"
    assert dialog.chosen() == "promise"
    assert calls.recent_calls(colin.db, colin.actor, cid) == []
    # A text that is no amount at all is refused before asking the service.
    dialog.amount.setText("twelve")
    dialog.save()
    assert "not a number" in dialog.errors["amount"].text()

    # Corrected: saved.
    dialog.amount.setText("300.00")
    dialog.promised_on.setDate(dialog.promised_on.date().addDays(-190))
    dialog.save()
    result = saved(qtbot, dialog)
    (made,) = promises.customer_promises(colin.db, colin.actor, cid, date.today())
    assert made.id == result.promise_id
    assert (made.amount, made.promised_on) == (Decimal("300.00"), date.today() + timedelta(days=17))
    k1 = next(i for i in dialog.target.items if i.number == "K1")
    assert made.item_ids == (k1.id,)


def test_a_dispute_from_the_call_goes_to_the_ledger(
    any_ctx: UiContext, colin: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    dialog = open_dialog(qtbot, colin, cid)
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_6)
    assert dialog.dispute_box.isVisible() and not dialog.promise_box.isVisible()
    assert dialog.focusWidget() is dialog.dispute_items
    assert dialog.dispute_items.rowCount() == 3  # every open invoice, K3 (not due) too
    assert dialog.reason.findData("pricing") >= 0  # the dispute reason codes
    # Nothing ticked: said next to the items.
    qtbot.keyClick(dialog.dispute_items, Qt.Key.Key_Return)
    assert "tick" in dialog.errors["dispute_items"].text()
    dialog.dispute_items.item(0, 0).setCheckState(Qt.CheckState.Checked)
    dialog.dispute_items.item(0, 2).setText("500.00")  # more than K1's open 300.00
    dialog.reason.setCurrentIndex(dialog.reason.findData("quality"))
    dialog.save()
    qtbot.waitUntil(lambda: dialog.errors["dispute_items"].isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=WAIT)
    assert "more than invoice K1" in dialog.errors["dispute_items"].text()
    assert disputes.list_disputes(colin.db, colin.actor, customer_id=cid) == []
    dialog.dispute_items.item(0, 2).setText("120.00")
    dialog.save()
    result = saved(qtbot, dialog)
    (dispute,) = disputes.list_disputes(colin.db, colin.actor, customer_id=cid)
    assert dispute.id == result.dispute_id
    assert (dispute.reason_code, dispute.amount) == ("quality", Decimal("120.00"))
    (call,) = calls.recent_calls(colin.db, colin.actor, cid)
    assert (call.outcome, call.dispute_id) == ("dispute", dispute.id)


def test_ctrl_l_on_the_profile_logs_a_call(any_ctx: UiContext, colin: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    profile = CustomerProfile(colin, cid)
    qtbot.addWidget(profile)
    profile.show()
    qtbot.waitExposed(profile)
    profile.activateWindow()
    tab = profile.collections
    qtbot.waitUntil(lambda: tab.loaded, timeout=WAIT)
    assert profile.tabs.tabText(profile.tabs.indexOf(tab)) == "Collect&ions"
    assert tab.log_button.isEnabled() and "Ctrl+L" in tab.log_button.toolTip()
    assert tab.calls.model.rowCount() == 0
    changed: list[int] = []
    colin.signals.customer_changed.connect(changed.append)

    def refused(dialog: LogCallDialog) -> None:
        qtbot.keyClick(dialog.outcome, Qt.Key.Key_7)
        qtbot.keyClicks(dialog.notes, "says the goods were late")
        qtbot.keyClick(dialog.notes, Qt.Key.Key_Return)

    bar = profile.tabs.tabBar()  # on the Overview tab: Ctrl+L works anywhere on the profile
    assert profile.tabs.currentIndex() == 0
    bar.setFocus()
    assert claims.lease_of(colin.db, cid) is None
    dialog = drive_after_claim(
        qtbot,
        lambda: qtbot.keyClick(bar, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier),
        refused,
    )
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert changed == [cid]
    # Ctrl+L claimed the customer for Colin; the claim stays until its lease runs out.
    lease = claims.lease_of(colin.db, cid)
    assert lease is not None and lease[0] == colin.actor.user_id
    qtbot.waitUntil(lambda: tab.calls.model.rowCount() == 1, timeout=WAIT)
    row = tab.calls.model.rows[0]
    assert (row.outcome_label, row.notes) == ("Refused to pay", "says the goods were late")
    # Escape cancels without logging anything.
    dialog = drive_after_claim(
        qtbot, tab.log_button.click, lambda d: qtbot.keyClick(d.outcome, Qt.Key.Key_Escape)
    )
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert len(calls.recent_calls(colin.db, colin.actor, cid)) == 1


def test_ctrl_l_on_the_profile_says_who_works_the_customer(
    any_ctx: UiContext, colin: UiContext, qtbot, boxes: Boxes
) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(any_ctx)
    maria = as_user(any_ctx, "maria", Role.CREDIT_MANAGER)
    claims.hold(maria.db, maria.actor, cid)  # Maria is on the phone with them
    profile = CustomerProfile(colin, cid)
    qtbot.addWidget(profile)
    profile.show()
    qtbot.waitExposed(profile)
    tab = profile.collections
    qtbot.waitUntil(lambda: tab.loaded, timeout=WAIT)
    opened: list[QWidget] = []

    def close_any_dialog() -> None:  # a dialog that should not come up must not hang the test
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            opened.append(dialog)
            dialog.close()

    watch = QTimer(profile, interval=20, timeout=close_any_dialog)
    watch.start()
    tab.log_button.click()
    qtbot.waitUntil(lambda: bool(boxes.texts("information") or opened), timeout=WAIT)
    watch.stop()
    assert opened == []  # no dialog came up
    (said,) = boxes.texts("information")
    assert said.startswith("Maria is working this customer (since ")
    assert said.endswith("; try again later.")
    assert tab.log_button.isEnabled() and not tab.claiming
    assert calls.recent_calls(colin.db, colin.actor, cid) == []
    assert claims.lease_of(colin.db, cid)[0] == maria.actor.user_id  # type: ignore[index]
    # Maria is done: Colin's Log call now claims the customer and opens the dialog.
    claims.release(maria.db, maria.actor, cid)
    dialog = drive_after_claim(
        qtbot, tab.log_button.click, lambda d: qtbot.keyClick(d.outcome, Qt.Key.Key_Escape)
    )
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert claims.lease_of(colin.db, cid)[0] == colin.actor.user_id  # type: ignore[index]
