"""The Invoices area on real widgets: filters run in SQL, Enter opens the customer, export."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt

from o2c_desktop.models import Invoice
from o2c_desktop.services import customers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from o2c_desktop.ui.screens.invoices import InvoicesScreen

WAIT = 10_000


def seed(ctx: UiContext) -> int:
    customer = customers.create_customer(ctx.db, ctx.actor, {"number": "K-9", "name": "Kappa"})
    today = date.today()
    with ctx.db.write() as session:
        for i, (due, open_) in enumerate([(-40, "120.00"), (15, "80.00"), (-5, "0")]):
            session.add(
                Invoice(
                    customer_id=customer.id,
                    kind="invoice",
                    number=f"I-{i}",
                    issue_date=today - timedelta(days=60),
                    due_date=today + timedelta(days=due),
                    amount=Decimal("120.00"),
                    open_amount=Decimal(open_),
                    currency="EUR",
                )
            )
    return customer.id


def test_filters_sort_and_open_customer(ctx: UiContext, qtbot, qtmodeltester, tmp_path) -> None:  # type: ignore[no-untyped-def]
    customer_id = seed(ctx)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    screen: InvoicesScreen = window.invoices
    qtbot.waitUntil(lambda: screen.model.rowCount() == 2 and screen.filters_loaded, timeout=WAIT)
    qtmodeltester.check(screen.model)
    assert screen.model.index(0, 0).data() == "I-0"  # open items, earliest due first
    assert screen.model.index(0, 5).data() == "40"  # days past due
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("overdue"))
    qtbot.waitUntil(
        lambda: screen.model.rowCount() == 1 and screen.model.query.status == "overdue",
        timeout=WAIT,
    )
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("all"))
    qtbot.waitUntil(lambda: screen.model.rowCount() == 3, timeout=WAIT)
    qtbot.keyClicks(screen.amount_min, "100")
    qtbot.waitUntil(
        lambda: screen.model.query.amount_min == Decimal("100") and screen.model.rowCount() == 3,
        timeout=WAIT,
    )

    target = tmp_path / "items.csv"
    screen.export_to(str(target))
    qtbot.waitUntil(target.exists, timeout=WAIT)
    qtbot.wait(200)
    with target.open(encoding="utf-8-sig") as handle:
        assert len(list(csv.reader(handle))) == 4

    areas = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(areas.index("Invoices"))
    assert window.stack.currentWidget() is screen
    screen.view.setFocus()
    screen.view.setCurrentIndex(screen.model.index(0, 0))
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: isinstance(window.customer_tabs.currentWidget(), CustomerProfile), timeout=WAIT
    )
    assert window.customer_tabs.currentWidget().customer_id == customer_id
    assert window.stack.currentIndex() == 0  # switched to the Customers area
