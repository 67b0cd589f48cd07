"""The Disputes area on real widgets, on SQLite and PostgreSQL: filters run in SQL, status and
owner changes through the dialogs, Enter opens the customer, export of the whole query."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from o2c_desktop.models import Role
from o2c_desktop.services import disputes, ledger_queries
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.dispute_status import DisputeOwnerDialog, DisputeStatusDialog
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from o2c_desktop.ui.screens.disputes_screen import DisputesScreen
from tests.ui.test_ledger_tab import as_user, drive_modal, item_id, post_customer

WAIT = 10_000


def seed(ctx: UiContext) -> dict[str, int]:
    """Three customers, four disputes: two open (one the collector's), one in review that
    nobody owns, one withdrawn; the others are the administrator's."""
    today = date.today()
    north = post_customer(
        ctx, "N-1", "Northwind Traders", ("N1", "400.00", 50), ("N2", "100.00", 20)
    )
    south = post_customer(ctx, "S-1", "Southwind Supply", ("S1", "900.00", 30))
    east = post_customer(ctx, "E-1", "Eastern Goods", ("E1", "60.00", 10))
    colin = as_user(ctx, "colin", Role.COLLECTOR).actor

    def raise_(cid: int, number: str, amount: str, reason: str, days: int, owner: int | None):
        return disputes.raise_dispute(
            ctx.db,
            ctx.actor,
            cid,
            [(item_id(ctx, cid, number), amount)],
            reason,
            owner_id=owner,
            opened_on=today - timedelta(days=days),
        )

    a = raise_(north, "N1", "40.00", "pricing", 12, None)
    b = raise_(south, "S1", "90.00", "quality", 5, colin.user_id)
    c = raise_(east, "E1", "60.00", "pricing", 8, None)
    c = disputes.set_status(ctx.db, ctx.actor, c.id, c.version, "in_review")
    c = disputes.reassign(ctx.db, ctx.actor, c.id, c.version, None)
    d = raise_(north, "N2", "10.00", "duplicate", 9, None)
    disputes.set_status(ctx.db, ctx.actor, d.id, d.version, "withdrawn")
    return {"north": north, "south": south, "a": a.id, "b": b.id, "c": c.id, "d": d.id}


def shown(screen: DisputesScreen) -> list[int]:
    return [row.id for row in screen.model.rows]


def wait_for(qtbot, screen: DisputesScreen, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(
        lambda: (
            not screen.model.is_loading()
            and shown(screen) == ids
            and screen.model.total == len(ids)
        ),
        timeout=WAIT,
    )


def test_filters_and_resolve_with_a_credit_note(any_ctx: UiContext, qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    screen = DisputesScreen(any_ctx)
    qtbot.addWidget(screen)
    # Default: open and in review, oldest first.
    wait_for(qtbot, screen, [ids["a"], ids["c"], ids["b"]])
    qtmodeltester.check(screen.model)
    assert screen.count.text() == "3 disputes"
    first = screen.model.rows[0]
    assert (first.customer_number, first.customer_name, first.age_days) == (
        "N-1",
        "Northwind Traders",
        12,
    )
    assert screen.model.index(0, 5).data() == "400.00"  # what is open of the disputed item
    assert screen.model.index(0, 8).data() == "Open"

    screen.reason_filter.setCurrentIndex(screen.reason_filter.findData("pricing"))
    wait_for(qtbot, screen, [ids["a"], ids["c"]])
    screen.owner_filter.setCurrentIndex(screen.owner_filter.findData("nobody"))
    wait_for(qtbot, screen, [ids["c"]])
    screen.owner_filter.setCurrentIndex(screen.owner_filter.findData("mine"))
    wait_for(qtbot, screen, [ids["a"]])
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("in_review"))
    wait_for(qtbot, screen, [])
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("all"))
    screen.reason_filter.setCurrentIndex(0)
    screen.owner_filter.setCurrentIndex(screen.owner_filter.findData("anyone"))
    qtbot.keyClicks(screen.search, "northw")
    wait_for(qtbot, screen, [ids["a"], ids["d"]])  # Northwind's, the withdrawn one too
    screen.search.clear()
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("active"))
    qtbot.waitUntil(lambda: screen.owner_filter.count() > 3, timeout=WAIT)  # users loaded
    screen.owner_filter.setCurrentIndex(screen.owner_filter.findText("Colin"))
    wait_for(qtbot, screen, [ids["b"]])

    # Resolve Southwind's dispute in the customer's favour, with a credit note.
    screen.view.setCurrentIndex(screen.model.index(0, 0))
    assert screen.status_button.isEnabled()

    def resolve(dialog: DisputeStatusDialog) -> None:
        dialog.status.setCurrentIndex(dialog.status.findData("resolved_customer"))
        assert dialog.credit_note.isEnabled()
        dialog.credit_note.setChecked(True)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(lambda: dialog.errors["resolution"].isVisible(), timeout=WAIT)
        qtbot.keyClicks(dialog.resolution, "goods were damaged")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    changed: list[int] = []
    any_ctx.signals.customer_changed.connect(changed.append)
    dialog = drive_modal(qtbot, screen.status_button.click, resolve)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert changed == [ids["south"]]  # an open profile refreshes
    wait_for(qtbot, screen, [])  # no longer open: gone from Colin's work list
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("resolved_customer"))
    wait_for(qtbot, screen, [ids["b"]])
    row = screen.model.rows[0]
    assert row.resolution.startswith("goods were damaged Credit note DSP-")
    assert row.resolved_on == date.today()
    assert not screen.status_button.isEnabled()  # closed: nothing more to do
    open_now = ledger_queries.open_items(any_ctx.db, any_ctx.actor, ids["south"], date.today())
    assert {(r.number, r.open_amount, r.disputed_amount) for r in open_now} == {
        ("S1", Decimal("810.00"), Decimal("0"))
    }


def test_reassign_and_export(any_ctx: UiContext, qtbot, tmp_path, boxes) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    screen = DisputesScreen(any_ctx)
    qtbot.addWidget(screen)
    screen.owner_filter.setCurrentIndex(screen.owner_filter.findData("mine"))
    wait_for(qtbot, screen, [ids["a"]])
    row = screen.model.rows[0]
    dialog = DisputeOwnerDialog(any_ctx, row, screen)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT)
    assert dialog.owner.currentText() == f"{any_ctx.actor.display_name} (me)"
    dialog.owner.setCurrentIndex(dialog.owner.findText("Colin"))
    dialog.save()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    screen.refresh()
    wait_for(qtbot, screen, [])  # Colin's now
    # A stale copy of the row is a conflict, shown in the dialog, nothing overwritten.
    stale = DisputeOwnerDialog(any_ctx, row, screen)
    qtbot.addWidget(stale)
    qtbot.waitUntil(lambda: stale.loaded, timeout=WAIT)
    stale.owner.setCurrentIndex(0)
    stale.save()
    qtbot.waitUntil(lambda: "was changed by" in stale.banner.text(), timeout=WAIT)
    assert disputes.get_dispute(any_ctx.db, any_ctx.actor, ids["a"]).owner_name == "Colin"

    screen.owner_filter.setCurrentIndex(screen.owner_filter.findData("anyone"))
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("all"))
    wait_for(qtbot, screen, [ids["a"], ids["d"], ids["c"], ids["b"]])
    target = tmp_path / "disputes.csv"
    screen.export_to(str(target))
    qtbot.waitUntil(lambda: any("Exported 4 rows" in t for t in boxes.texts()), timeout=WAIT)
    with target.open(encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][:3] == ["Customer", "Name", "Opened"]
    assert [line[0] for line in lines[1:]] == ["N-1", "N-1", "E-1", "S-1"]
    assert lines[1][lines[0].index("Items")] == "N1"
    assert lines[2][lines[0].index("Status")] == "withdrawn"


def test_enter_opens_the_customer(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    window = MainWindow(any_ctx)
    qtbot.addWidget(window)
    window.show()
    areas = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert areas.index("Disputes") == areas.index("Invoices") + 1
    window.nav.setCurrentRow(areas.index("Disputes"))
    screen = window.disputes
    assert window.stack.currentWidget() is screen
    wait_for(qtbot, screen, [ids["a"], ids["c"], ids["b"]])
    screen.view.setFocus()
    qtbot.keyClick(screen.view, Qt.Key.Key_Home)  # keyboard only: the first row, then down
    qtbot.keyClick(screen.view, Qt.Key.Key_Down)
    assert screen.selected().id == ids["c"]
    assert screen.status_button.isEnabled() and screen.open_button.isEnabled()
    qtbot.keyClick(screen.view, Qt.Key.Key_Down)
    assert screen.selected().customer_id == ids["south"]
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: isinstance(window.customer_tabs.currentWidget(), CustomerProfile), timeout=WAIT
    )
    assert window.customer_tabs.currentWidget().customer_id == ids["south"]
    assert window.stack.currentIndex() == 0  # switched to the Customers area
