"""The Collector results screen on real widgets, on SQLite and PostgreSQL: a row per collector
with the service's figures, the selected collector's months as charts, CSV export, and a
collector who sees only their own row."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from o2c_desktop.models import Role
from o2c_desktop.services import calls, customers, ledger, portfolios
from o2c_desktop.services.auth import Actor
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.screens.collector_results_screen import (
    LAST_MONTH,
    LAST_QUARTER,
    THIS_MONTH,
    CollectorResultsScreen,
    compact,
    period_for,
)
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user

WAIT = 20_000
TODAY = date.today()


def seed(ctx: UiContext) -> dict[str, Actor]:
    """Colin and Cara, a customer each with an overdue invoice; Colin's pays 100.00 today and
    got two calls (one reached), Cara's one unanswered call."""
    colin = add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR)
    cara = add_user(ctx.db, ctx.actor, "cara", Role.COLLECTOR)
    for number, who in (("R-1", colin), ("R-2", cara)):
        cid = customers.create_customer(
            ctx.db, ctx.actor, {"number": number, "name": f"Kunde {number}"}
        ).id
        portfolios.assign(ctx.db, ctx.actor, [cid], who.user_id)
        ledger.post_invoice(
            ctx.db,
            ctx.actor,
            cid,
            f"{number}-1",
            TODAY - timedelta(days=60),
            Decimal("500.00"),
            due_date=TODAY - timedelta(days=30),
        )
        if who is colin:
            ledger.record_payment(
                ctx.db, ctx.actor, cid, TODAY, Decimal("100.00"), apply="oldest-first"
            )
            calls.log_call(ctx.db, colin, cid, "reached", notes="will pay soon")
            calls.log_call(ctx.db, colin, cid, "no_answer")
        else:
            calls.log_call(ctx.db, cara, cid, "no_answer")
    return {"colin": colin, "cara": cara}


def open_screen(ctx: UiContext, qtbot) -> CollectorResultsScreen:  # type: ignore[no-untyped-def]
    screen = CollectorResultsScreen(ctx, today=TODAY)
    qtbot.addWidget(screen)
    screen.resize(1200, 800)
    screen.show()
    screen.loaded = False
    screen.quick.setCurrentIndex(screen.quick.findData(THIS_MONTH))
    qtbot.waitUntil(lambda: screen.loaded, timeout=WAIT)
    return screen


def row_of(screen: CollectorResultsScreen, name: str) -> int:
    for r in range(screen.table.proxy.rowCount()):
        if screen.table.proxy.index(r, 0).data() == name:
            return r
    raise AssertionError(f"no row for {name}")


def test_rows_per_collector_charts_and_csv_export(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, qtmodeltester, tmp_path: Path
) -> None:
    who = seed(any_ctx)
    screen = open_screen(any_ctx, qtbot)
    assert screen.period() == (TODAY.replace(day=1), TODAY)
    by_id = {r.collector_id: r for r in screen.results}
    assert {who["colin"].user_id, who["cara"].user_id} <= set(by_id)
    colin, cara = by_id[who["colin"].user_id], by_id[who["cara"].user_id]
    assert (colin.calls, colin.contacts, colin.contact_rate) == (2, 1, Decimal("50.00"))
    assert colin.cash_collected == Decimal("100.00")
    assert (cara.calls, cara.contacts, cara.cash_collected) == (1, 0, Decimal("0.00"))
    assert screen.currency.currentData() == "EUR"

    proxy = screen.table.proxy
    r = row_of(screen, "Colin")
    assert [proxy.index(r, c).data() for c in (1, 2, 3, 9)] == ["2", "1", "50.00 %", "100.00"]
    assert proxy.index(row_of(screen, "Cara"), 3).data() == "0.00 %"
    qtmodeltester.check(screen.table.model)

    # The chart follows the selected collector: the last month has Colin's 100.00.
    screen.chart_loaded = False
    screen.table.view.selectRow(r)
    qtbot.waitUntil(lambda: screen.chart_loaded, timeout=WAIT)
    assert "Colin" in screen.chart_title.text()
    assert len(screen.months) == 12
    assert screen.months[-1][0] == TODAY.replace(day=1)
    assert screen.cash_chart.points[-1].value == Decimal("100.00")
    assert screen.overdue_chart.points[-1].value == Decimal("400.00")
    screen.chart_loaded = False
    screen.table.view.selectRow(row_of(screen, "Cara"))
    qtbot.waitUntil(lambda: screen.chart_loaded, timeout=WAIT)
    assert screen.chart_title.text().startswith("Cara")
    assert screen.overdue_chart.points[-1].value == Decimal("500.00")

    target = tmp_path / "results.csv"
    assert screen.table.export_to(str(target)) == len(screen.results)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    exported = {row["Collector"]: row for row in rows}
    assert exported["Colin"]["Calls"] == "2"
    assert exported["Colin"]["Contact rate"] == "50.00"
    assert exported["Colin"]["Cash collected"] == "100.00"
    assert exported["Cara"]["Calls"] == "1"
    assert list(rows[0]) == [c.title for c in screen.table.model.columns]


def test_a_collector_sees_only_their_own_row(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    who = seed(any_ctx)
    screen = open_screen(UiContext(any_ctx.db, who["cara"], AppSignals()), qtbot)
    assert [r.collector for r in screen.results] == ["Cara"]
    qtbot.waitUntil(lambda: screen.chart_loaded, timeout=WAIT)
    assert screen.chart_title.text().startswith("Cara")


def test_quick_periods() -> None:
    today = date(2026, 5, 14)
    assert period_for(THIS_MONTH, today) == (date(2026, 5, 1), today)
    assert period_for(LAST_MONTH, today) == (date(2026, 4, 1), date(2026, 4, 30))
    assert period_for(LAST_QUARTER, today) == (date(2026, 1, 1), date(2026, 3, 31))
    assert period_for(LAST_MONTH, date(2026, 1, 3)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert [compact(Decimal(v)) for v in ("950", "1234", "25000", "2500000")] == [
        "950",
        "1.2k",
        "25k",
        "2.5M",
    ]
