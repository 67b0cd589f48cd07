"""The Collections screen on real widgets, on SQLite and PostgreSQL: Enter takes the next customer
(claimed), Ctrl+L logs a promise that shows in the work panel and on the profile's Collections
tab; a collector sees only their own portfolio, a manager any; a customer someone else holds
says who and gets no call logged; a claim lost while away is noticed; the list sorts, filters
and exports."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog
from sqlalchemy import update

from o2c_desktop.models import CollectionClaim, Role
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import claims, contacts, customers, ledger, promises
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.log_call import LogCallDialog
from o2c_desktop.ui.screens.collections_screen import CollectionsScreen, tel_url
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from tests.ui.test_ledger_tab import as_user, drive_modal

WAIT = 15_000


@dataclass
class Portfolio:
    colin: UiContext  # collector: Alpha, Beta (overdue) and Delta (nothing due)
    cara: UiContext  # collector: Gamma
    maria: UiContext  # credit manager
    ids: dict[str, int]


def customer(ctx: UiContext, number: str, name: str, collector: str, *items: tuple) -> int:
    """A customer of `collector` with invoices (number, amount, days past due)."""
    cid = customers.create_customer(
        ctx.db, ctx.actor, {"number": number, "name": name, "collector": collector}
    ).id
    today = date.today()
    for invoice, amount, days in items:
        due = today - timedelta(days=days)
        ledger.post_invoice(
            ctx.db, ctx.actor, cid, invoice, due - timedelta(days=30), amount, due_date=due
        )
    return cid


def seed(ctx: UiContext) -> Portfolio:
    colin = as_user(ctx, "colin", Role.COLLECTOR)
    cara = as_user(ctx, "cara", Role.COLLECTOR)
    maria = as_user(ctx, "maria", Role.CREDIT_MANAGER)
    ids = {
        "alpha": customer(ctx, "A-1", "Alpha Mills", "colin", ("A1", Decimal("1000.00"), 75)),
        "beta": customer(ctx, "B-1", "Beta Foods", "colin", ("B1", Decimal("200.00"), 5)),
        "gamma": customer(ctx, "G-1", "Gamma Steel", "cara", ("G1", Decimal("500.00"), 40)),
        "delta": customer(ctx, "D-1", "Delta Retail", "colin", ("D1", Decimal("90.00"), -10)),
    }
    contacts.add_contact(
        ctx.db,
        ctx.actor,
        ids["alpha"],
        {"name": "Petra Payables", "phone": "+49 (0)30 1234-567", "is_primary": True},
    )
    return Portfolio(colin, cara, maria, ids)


def numbers(screen: CollectionsScreen) -> list[str]:
    return [row.number for row in screen.model.rows]


def open_screen(qtbot, ctx: UiContext) -> CollectionsScreen:  # type: ignore[no-untyped-def]
    screen = CollectionsScreen(ctx)
    qtbot.addWidget(screen)
    screen.resize(1400, 800)
    screen.show()
    qtbot.waitExposed(screen)
    screen.activateWindow()
    qtbot.waitUntil(lambda: not screen.loading, timeout=WAIT)
    return screen


def test_next_customer_log_a_promise_see_it_on_the_profile(
    any_ctx: UiContext,
    qtbot,
    qtmodeltester,  # type: ignore[no-untyped-def]
) -> None:
    world = seed(any_ctx)
    colin, alpha, beta = world.colin, world.ids["alpha"], world.ids["beta"]
    screen = open_screen(qtbot, colin)
    # Colin's overdue customers, the oldest and biggest first; Delta owes nothing yet.
    assert numbers(screen) == ["A-1", "B-1"]
    qtmodeltester.check(screen.model)
    assert "2 customers" in screen.count.text()
    assert "1,200.00" in screen.count.text()  # total overdue, in the currency
    assert not screen.collector.isEnabled()  # a collector works their own list
    overdue = screen.model.index(0, 3)
    assert overdue.data() == "1,000.00"
    assert overdue.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight

    # Selecting a row only shows the customer.
    screen.view.setFocus()
    screen.view.selectRow(0)
    qtbot.waitUntil(lambda: "Viewing A-1" in screen.work.status.text(), timeout=WAIT)
    assert screen.claimed_id is None and claims.lease_of(colin.db, alpha) is None
    assert not screen.work.log_button.isEnabled()  # only the customer worked gets a call
    assert "Work the customer first" in screen.work.log_button.toolTip()

    # Enter: the first customer, claimed and shown.
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: screen.claimed_id == alpha and not screen.work_loading, timeout=WAIT)
    assert screen.work.data is not None and screen.work.data.detail.id == alpha
    lease = claims.lease_of(colin.db, alpha)
    assert lease is not None and lease[0] == colin.actor.user_id
    assert "yours" in screen.work.status.text()
    assert screen.work.log_button.isEnabled()
    assert screen.work.header.limit.text()  # the credit header is filled in
    assert [r.number for r in screen.work.items.model.rows] == ["A1"]
    assert screen.work.items.model.rows[0].days_past_due == 75
    assert [link.text() for link in screen.work.contacts.links] == [
        '<a href="tel:+49301234567">+49 (0)30 1234-567</a>'
    ]
    assert screen.model.rows[0].claimed_by == "Colin"

    # Ctrl+L, 5 (promise), an amount, Enter.
    changed: list[int] = []
    colin.signals.customer_changed.connect(changed.append)

    def promise(dialog: LogCallDialog) -> None:
        qtbot.keyClick(dialog.outcome, Qt.Key.Key_5)
        assert dialog.chosen() == "promise"
        assert dialog.promise_box.isVisible() and not dialog.dispute_box.isVisible()
        assert dialog.focusWidget() is dialog.amount
        assert dialog.amount.text() == "1000.00"  # prefilled with the overdue
        assert dialog.promised_on.date().toPython() == date.today() + timedelta(days=7)
        assert [i.number for i in dialog.checked_promise_items()] == ["A1"]
        qtbot.keyClicks(dialog.amount, "600")
        qtbot.keyClick(dialog.amount, Qt.Key.Key_Return)

    dialog = drive_modal(
        qtbot,
        lambda: qtbot.keyClick(screen.view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier),
        promise,
    )
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_value.promise_id is not None
    assert changed == [alpha]  # an open profile of Alpha refreshes
    made = promises.customer_promises(colin.db, colin.actor, alpha, date.today())
    assert [(p.amount, str(p.state), len(p.item_ids)) for p in made] == [
        (Decimal("600.00"), "open", 1)
    ]
    # The work panel shows the promise and the call; the list was computed again.
    qtbot.waitUntil(
        lambda: [p.amount for p in screen.work.promises.model.rows] == [Decimal("600.00")],
        timeout=WAIT,
    )
    qtbot.waitUntil(
        lambda: any("Promise to pay" in a.what for a in screen.work.activity.model.rows),
        timeout=WAIT,
    )
    qtbot.waitUntil(lambda: not screen.loading, timeout=WAIT)
    assert set(numbers(screen)) <= {"A-1", "B-1"}

    # The profile's Collections tab lists it too.
    profile = CustomerProfile(colin, alpha)
    qtbot.addWidget(profile)
    tab = profile.collections
    qtbot.waitUntil(lambda: tab.loaded and tab.promises.model.rowCount() == 1, timeout=WAIT)
    qtmodeltester.check(tab.promises.model)
    row = tab.promises.model.rows[0]
    assert (row.amount, row.paid, str(row.state)) == (Decimal("600.00"), Decimal("0"), "open")
    assert tab.promises.model.index(0, 5).data() == "Open"
    assert [c.outcome_label for c in tab.calls.model.rows] == ["Promise to pay"]
    assert "1 open promise" in tab.summary.text()

    # Enter again: on to Beta; Alpha is released. (Offscreen, nothing gives the window back
    # its activation when the dialog closes, as a window manager does.)
    screen.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is screen, timeout=WAIT)
    assert screen.view.hasFocus()  # where the screen put it after logging the call
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: screen.work.data is not None and screen.work.data.detail.id == beta, timeout=WAIT
    )
    assert screen.claimed_id == beta
    assert claims.lease_of(colin.db, alpha) is None
    assert claims.lease_of(colin.db, beta) is not None
    screen.release_claim()
    assert claims.lease_of(colin.db, beta) is None


def test_a_collector_sees_their_own_list_a_manager_any(
    any_ctx: UiContext,
    qtbot,
    tmp_path,
    qtmodeltester,  # type: ignore[no-untyped-def]
) -> None:
    world = seed(any_ctx)
    cara = open_screen(qtbot, world.cara)
    assert numbers(cara) == ["G-1"]
    assert cara.collector.count() == 1 and cara.collector.currentText() == "Cara"
    assert "may not see every collector" in cara.collector.toolTip()

    manager = open_screen(qtbot, world.maria)
    assert manager.collector.isEnabled()
    assert manager.collector.currentText() == "Whole team"
    assert sorted(numbers(manager)) == ["A-1", "B-1", "G-1"]
    assert {r.collector for r in manager.model.rows} == {"Colin", "Cara"}
    qtbot.waitUntil(lambda: manager.collector.count() == 3, timeout=WAIT)  # + both collectors
    manager.collector.setCurrentIndex(manager.collector.findText("Colin"))
    qtbot.waitUntil(
        lambda: not manager.loading and numbers(manager) == ["A-1", "B-1"], timeout=WAIT
    )

    # Sorted, filtered and exported in the model's own list.
    qtmodeltester.check(manager.model)
    manager.view.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by number, Z-A
    assert numbers(manager) == ["B-1", "A-1"]
    qtbot.keyClicks(manager.filter_edit, "alpha")
    qtbot.waitUntil(lambda: numbers(manager) == ["A-1"], timeout=WAIT)
    assert manager.count.text().startswith("1 customer of 2")
    target = tmp_path / "calls.csv"
    manager.export_to(str(target))
    qtbot.waitUntil(lambda: target.exists() and target.stat().st_size > 0, timeout=WAIT)
    workers.wait_for_all()
    with target.open(encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][:4] == ["Score", "Customer", "Name", "Overdue"]
    assert [line[1] for line in lines[1:]] == ["A-1"]
    assert lines[1][lines[0].index("Overdue")] == "1000.00"
    assert lines[1][lines[0].index("Currency")] == "EUR"


def test_a_customer_someone_else_works_says_who(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    world = seed(any_ctx)
    alpha, beta = world.ids["alpha"], world.ids["beta"]
    assert claims.claim(world.maria.db, world.maria.actor, alpha)
    screen = open_screen(qtbot, world.colin)
    row = screen.model.row_of(alpha)
    assert row is not None
    screen.work_row(screen.model.row_at(row))
    qtbot.waitUntil(lambda: "being worked by Maria" in screen.work.status.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: not screen.work_loading, timeout=WAIT)
    assert screen.claimed_id is None
    assert claims.lease_of(world.colin.db, alpha)[0] == world.maria.actor.user_id  # type: ignore[index]
    # Maria's customer is shown, but no call can be logged on it: Ctrl+L says how to work it.
    assert screen.work.data is not None and screen.work.data.detail.id == alpha
    assert not screen.work.log_button.isEnabled()
    screen.view.setFocus()
    qtbot.keyClick(screen.view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.activeModalWidget() is None
    assert "double-click it in the list to work it" in screen.work.status.text()
    assert screen.log_call() is None
    # Enter skips the customer Maria holds.
    screen.view.setFocus()
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: screen.claimed_id == beta, timeout=WAIT)
    # A double-click on a free customer takes it (and lets go of the one before).
    qtbot.waitUntil(lambda: not screen.loading and not screen.work_loading, timeout=WAIT)
    claims.release(world.maria.db, world.maria.actor, alpha)
    screen.work_row(screen.model.row_at(screen.model.row_of(alpha)))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: screen.claimed_id == alpha, timeout=WAIT)
    assert claims.lease_of(world.colin.db, beta) is None
    screen.release_claim()


def test_a_claim_lost_while_away_is_noticed(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The PC slept longer than the lease and Maria took the customer meanwhile: the next
    renewal says so, forgets the claim and switches Log call off."""
    world = seed(any_ctx)
    colin, maria, alpha = world.colin, world.maria, world.ids["alpha"]
    screen = open_screen(qtbot, colin)
    screen.view.setFocus()
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: screen.claimed_id == alpha and not screen.work_loading, timeout=WAIT)
    assert screen.work.log_button.isEnabled()
    # A renewal in time keeps the customer.
    screen._renew_claim()
    workers.wait_for_all()
    qtbot.wait(50)  # the renewal's result is delivered on the GUI thread
    assert screen.claimed_id == alpha and screen.work.log_button.isEnabled()
    # Asleep past the lease; Maria takes the customer.
    with colin.db.write() as session:
        session.execute(
            update(CollectionClaim)
            .where(CollectionClaim.customer_id == alpha)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert claims.claim(maria.db, maria.actor, alpha)
    assert "yours" in screen.work.status.text()
    screen._renew_timer.timeout.emit()  # the timer fires on waking up
    qtbot.waitUntil(lambda: screen.claimed_id is None, timeout=WAIT)
    status = screen.work.status.text()
    assert status.startswith("A-1 Alpha Mills is no longer yours: Maria is working this customer")
    assert not screen.work.log_button.isEnabled()
    assert not screen._renew_timer.isActive()
    assert screen.model.rows[screen.model.row_of(alpha)].claimed_by == "Maria"  # type: ignore[index]
    assert claims.lease_of(colin.db, alpha)[0] == maria.actor.user_id  # type: ignore[index]
    assert screen.log_call() is None  # Ctrl+L: no dialog
    screen.release_claim()  # nothing of Colin's to release: Maria keeps it
    assert claims.lease_of(colin.db, alpha)[0] == maria.actor.user_id  # type: ignore[index]


def test_phone_numbers_copy_and_dial(any_ctx: UiContext, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = seed(any_ctx)
    screen = open_screen(qtbot, world.colin)
    screen.show_customer(world.ids["alpha"])
    qtbot.waitUntil(lambda: bool(screen.work.contacts.copy_buttons), timeout=WAIT)
    assert "Viewing A-1" in screen.work.status.text()  # shown, not claimed
    assert screen.claimed_id is None
    screen.work.contacts.copy_buttons[0].click()
    assert QGuiApplication.clipboard().text() == "+49 (0)30 1234-567"
    dialled: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: dialled.append(url.toString()))
    screen.work.contacts.links[0].linkActivated.emit(tel_url("+49 (0)30 1234-567"))
    assert dialled == ["tel:+49301234567"]


def test_tel_urls() -> None:
    assert tel_url("+49 (0)30 1234-567") == "tel:+49301234567"
    assert tel_url("030 / 123 45") == "tel:03012345"
    assert tel_url("+1 (555) 010-9999") == "tel:+15550109999"


def test_splitters_and_columns_are_remembered(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    world = seed(any_ctx)
    first = open_screen(qtbot, world.colin)
    first.view.setColumnWidth(2, 333)
    first.splitter.setSizes([420, 960])
    sizes = first.splitter.sizes()
    first.view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    first.save_layout()
    second = open_screen(qtbot, world.colin)
    assert second.view.columnWidth(2) == 333
    assert second.splitter.sizes() == sizes
    # The rows open in the strategy's order again, whatever order was last clicked.
    assert second.view.horizontalHeader().sortIndicatorSection() == 0
    assert numbers(second) == ["A-1", "B-1"]
