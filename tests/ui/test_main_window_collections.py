"""The main window's collections areas and the bulk "Assign collector…" of the customer list."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel
from sqlalchemy import select

from o2c_desktop.models import Customer, Role
from o2c_desktop.services import customers
from o2c_desktop.ui import main_window as main_window_module
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.main_window import MainWindow
from tests.conftest import add_user

WAIT = 10_000


def test_collections_areas_follow_the_working_day(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    areas = [window.nav.item(i).text() for i in range(window.nav.count())]
    # A collector's day starts on Collections, right after the customers.
    assert areas[:2] == ["Customers", "Collections"]
    assert {"Dunning", "Collector results"} <= set(areas)
    window.nav.setCurrentRow(areas.index("Dunning"))
    assert window.stack.currentWidget() is window.dunning


def test_assign_collector_takes_every_selected_customer(
    ctx: UiContext, qtbot, monkeypatch, boxes
) -> None:  # type: ignore[no-untyped-def]
    ids = [
        customers.create_customer(ctx.db, ctx.actor, {"number": f"A-{n}", "name": f"Acme {n}"}).id
        for n in range(1, 4)
    ]
    colin = add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    view = window.customer_list.view
    qtbot.waitUntil(lambda: window.customer_list.model.rowCount() == 3, timeout=WAIT)

    # Nothing selected: a hint, no dialog.
    view.clearSelection()
    window.assign_collector()
    assert boxes.texts("information") == ["Select one or more customers in the list first."]

    asked: list[list[int]] = []

    def accept(_parent: Any, context: UiContext, chosen: list[int]) -> bool:
        asked.append(sorted(chosen))
        from o2c_desktop.services import portfolios

        portfolios.assign(context.db, context.actor, chosen, colin.user_id)
        return True

    monkeypatch.setattr(main_window_module, "assign_collector_dialog", accept)
    selection = view.selectionModel()
    for row in (0, 2):  # Ctrl+click two rows
        selection.select(
            window.customer_list.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    window.assign_collector()
    picked = sorted(window.customer_list.model.row_at(r).id for r in (0, 2))
    assert asked == [picked]
    with ctx.db.read() as session:
        assigned = dict(session.execute(select(Customer.id, Customer.collector_id)).all())
    assert [assigned[i] for i in picked] == [colin.user_id, colin.user_id]
    assert [assigned[i] for i in ids if i not in picked] == [None]


def test_assign_collector_is_greyed_out_for_a_collector(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    colin = add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR)
    window = MainWindow(UiContext(ctx.db, colin, ctx.signals))
    qtbot.addWidget(window)
    action = next(a for a in window.menuBar().actions()[1].menu().actions() if "Assign" in a.text())
    assert not action.isEnabled()
