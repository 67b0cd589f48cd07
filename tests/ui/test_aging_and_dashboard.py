"""Aging and dashboard screens on real widgets, over a ledger made with the ledger services."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from o2c_desktop.services import customers, ledger
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.screens.aging_screen import AgingScreen
from o2c_desktop.ui.screens.dashboard import DashboardScreen, last_quarter

WAIT = 15_000


def seed(ctx: UiContext) -> None:
    today = date.today()
    for number, invoices in (
        ("AG-1", [("A1", "100.00", 5), ("A2", "40.00", 75)]),
        ("AG-2", [("B1", "300.00", 100)]),
    ):
        customer = customers.create_customer(
            ctx.db, ctx.actor, {"number": number, "name": f"Aging {number}"}
        )
        for inv, amount, age in invoices:
            ledger.post_invoice(
                ctx.db, ctx.actor, customer.id, inv, today - timedelta(days=age), Decimal(amount)
            )


def test_aging_screen_ties_and_drills_down(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    seed(ctx)
    screen = AgingScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(
        lambda: screen.report is not None and screen.model.rowCount() == 2, timeout=WAIT
    )
    figures = screen.report.currencies[0]
    assert figures.total == Decimal("440.00")
    assert sum(figures.buckets) == figures.total
    # By customer number, A to Z, as the report prints it.
    assert (screen.model.query.sort_key, screen.model.query.descending) == ("number", False)
    assert [r.number for r in screen.model.rows] == ["AG-1", "AG-2"]
    rows = {r.number: r for r in screen.model.rows}
    assert rows["AG-1"].total == Decimal("140.00")
    assert "440.00" in screen.totals.text()
    # Drill into the customer's "31-60" bucket (A2: 75 days old, NET30 -> 45 days past due).
    column = next(i for i, c in enumerate(screen.columns) if c.key == "31-60")
    dialog = screen.drill_portfolio("31-60")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1, timeout=WAIT)
    assert dialog.model.rows[0].number == "A2"
    assert rows["AG-1"].buckets[column - 4] == Decimal("40.00")


def test_dashboard_shows_kpis_and_charts(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    seed(ctx)
    screen = DashboardScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: screen.loaded, timeout=WAIT)
    # AR at the end of the period (the last full quarter): only invoices issued by then count.
    _start, end = last_quarter(date.today())
    issued = [(Decimal("100.00"), 5), (Decimal("40.00"), 75), (Decimal("300.00"), 100)]
    expected = sum(
        (a for a, age in issued if date.today() - timedelta(days=age) <= end), Decimal(0)
    )
    assert screen.tiles["ar_total"].value.text() == f"€{expected:,.2f}"
    assert len(screen.aging_chart.points) == 5
    assert len(screen.dso_chart.points) == 12
    assert [p.label.split()[0] for p in screen.top_chart.points][:1] == ["AG-2"]


def test_dashboard_without_a_ledger_says_so(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = DashboardScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: screen.loaded, timeout=WAIT)
    assert "No ledger yet" in screen.status.text()


def test_buckets_are_edited_and_the_aging_follows(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    from o2c_desktop.ui.dialogs.buckets_dialog import BucketsDialog

    seed(ctx)
    screen = AgingScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: screen.report is not None, timeout=WAIT)
    dialog = BucketsDialog(ctx, screen)
    qtbot.addWidget(dialog)
    while dialog.table.rowCount():
        dialog.table.removeRow(0)
    for label, low, high in (("not due", None, 0), ("late", 1, 60), ("very late", 61, None)):
        dialog.add_row(label, low, high)
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    screen.reload_buckets()
    qtbot.waitUntil(
        lambda: screen.report is not None and len(screen.report.buckets) == 3, timeout=WAIT
    )
    assert [c.key for c in screen.columns][4:7] == ["not due", "late", "very late"]
    assert sum(screen.report.currencies[0].buckets) == Decimal("440.00")


def test_a_gap_in_the_buckets_is_refused(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    from o2c_desktop.ui.dialogs.buckets_dialog import BucketsDialog

    dialog = BucketsDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.table.item(1, 2).setText("20")  # 1-20, then 31-60: days 21-30 belong nowhere
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "Not saved" in dialog.banner.text()


def test_the_aging_count_comes_with_the_first_page(ctx: UiContext, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The portfolio is aggregated once per refresh: the row count is the first page's."""
    from o2c_desktop.services import aging

    seed(ctx)
    calls: list[tuple[int, int]] = []
    real = aging.customer_page

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((args[3], args[4]))  # offset, limit
        return real(*args, **kwargs)

    monkeypatch.setattr(aging, "customer_page", counted)
    screen = AgingScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: screen.model.total == 2 and screen.model.rowCount() == 2, timeout=WAIT)
    # Only first pages (the view's initial sort and the screen's refresh): no count of its own.
    assert calls and set(calls) == {(0, 200)}
    # A new date: the figures are aggregated again, once, and the count follows them.
    calls.clear()
    customer = customers.create_customer(ctx.db, ctx.actor, {"number": "AG-3", "name": "Third"})
    ledger.post_invoice(
        ctx.db, ctx.actor, customer.id, "C1", date.today() - timedelta(days=3), Decimal("9.00")
    )
    screen.refresh()
    qtbot.waitUntil(lambda: screen.model.total == 3 and screen.model.rowCount() == 3, timeout=WAIT)
    assert calls == [(0, 200)]
