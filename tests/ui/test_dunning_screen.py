"""The Dunning screen and the Dunning levels tab on real widgets, on SQLite and PostgreSQL:
propose a run, leave letters out (Space, the checkbox), export the proposal (CSV/XLSX), produce
the PDFs into a folder on a worker with progress, Cancel; edit a level (a fee with its currency)
with problems under the field."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from o2c_desktop.db import Database
from o2c_desktop.models import Role
from o2c_desktop.services import customers, dunning, ledger, users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.dunning_levels import DunningLevelsTab
from o2c_desktop.ui.screens.dunning_screen import DunningScreen, ProposalModel
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.ui.conftest import Boxes

WAIT = 20_000
TODAY = date.today()


@pytest.fixture(autouse=True)
def own_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Letters and settings go to this test's folders."""
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def any_ctx(db: Database, qtbot, boxes: Boxes) -> Iterator[UiContext]:  # type: ignore[no-untyped-def]
    """The administrator's context on each database engine (the `db` fixture's two params)."""
    context = UiContext(db, users.sign_in(db), AppSignals())
    ensure_levels(context)
    yield context
    workers.wait_for_all()


LEVELS = (  # as migration 0005 seeds them (PostgreSQL test databases are emptied of them)
    (1, "Friendly reminder", 7, "letter", "0", None),
    (2, "Second reminder", 30, "letter", "0", None),
    (3, "Final notice", 60, "letter", "40.00", "EUR"),
)


def ensure_levels(ctx: UiContext) -> None:
    if dunning.list_levels(ctx.db, ctx.actor):
        return
    for level, name, days, channel, fee, fee_currency in LEVELS:
        dunning.save_level(
            ctx.db,
            ctx.actor,
            None,
            level=level,
            name=name,
            days_past_due=days,
            template="Dear {contact_name},\n\nplease pay {overdue} (as of {as_of}).",
            channel=channel,
            fee=Decimal(fee),
            fee_currency=fee_currency,
        )


def overdue_customer(ctx: UiContext, number: str, days: int, amount: str = "250.00") -> int:
    """A customer with one invoice `days` past due today."""
    cid = customers.create_customer(
        ctx.db, ctx.actor, {"number": number, "name": f"Kunde {number}", "country": "DE"}
    ).id
    due = TODAY - timedelta(days=days)
    ledger.post_invoice(
        ctx.db,
        ctx.actor,
        cid,
        f"{number}-1",
        due - timedelta(days=30),
        Decimal(amount),
        due_date=due,
    )
    return cid


def open_screen(ctx: UiContext, qtbot) -> DunningScreen:  # type: ignore[no-untyped-def]
    screen = DunningScreen(ctx)
    qtbot.addWidget(screen)
    screen.resize(1100, 700)
    screen.show()
    return screen


def propose(qtbot, screen: DunningScreen) -> None:  # type: ignore[no-untyped-def]
    screen.proposal = None
    screen.propose_button.click()
    qtbot.waitUntil(lambda: screen.proposal is not None, timeout=WAIT)


def shown_numbers(screen: DunningScreen) -> list[str]:
    return [letter.number for letter in screen.model.rows]


def test_propose_review_and_produce_letters(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, qtmodeltester, tmp_path: Path
) -> None:
    overdue_customer(any_ctx, "D-1", 45, "1000.00")  # level 2 (30 days)
    overdue_customer(any_ctx, "D-2", 10, "200.00")  # level 1 (7 days)
    overdue_customer(any_ctx, "D-3", 20, "300.00")
    overdue_customer(any_ctx, "D-4", 2)  # not overdue enough for any level
    changed: list[int] = []
    any_ctx.signals.customer_changed.connect(changed.append)
    screen = open_screen(any_ctx, qtbot)
    assert not screen.produce_button.isEnabled()
    propose(qtbot, screen)
    proposal = screen.proposal
    assert shown_numbers(screen) == ["D-1", "D-2", "D-3"]
    assert [r.level for r in screen.model.rows] == [2, 1, 1]
    assert f"Run #{proposal.run_id}" in screen.status.text()
    assert "3 of 3 letters to send" in screen.totals.text()
    assert "€1,500.00" in screen.totals.text()
    assert screen.model.index(0, 6).data() == "1,000.00"
    assert screen.model.index(0, 6).data(Qt.ItemDataRole.TextAlignmentRole) is not None
    qtmodeltester.check(screen.model)

    # Space leaves the selected letter out; the checkbox puts a letter back.
    screen.view.setFocus()
    screen.view.selectRow(1)
    qtbot.keyClick(screen.view, Qt.Key.Key_Space)
    assert screen.model.rows[1].included is False
    assert screen.model.index(1, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked

    def included() -> dict[str, bool]:
        letters = dunning.run_letters(any_ctx.db, any_ctx.actor, proposal.run_id)
        return {letter.number: letter.included for letter in letters}

    qtbot.waitUntil(lambda: included() == {"D-1": True, "D-2": False, "D-3": True}, timeout=WAIT)
    # A colleague leaves D-3 out; reload (F5) shows it; the checkbox puts it back.
    d3 = next(r for r in screen.model.rows if r.number == "D-3")
    dunning.set_included(any_ctx.db, any_ctx.actor, d3.letter_id, False)
    screen.reload()
    qtbot.waitUntil(lambda: screen.model.rows[2].included is False, timeout=WAIT)
    assert "1 of 3 letters to send" in screen.totals.text()
    screen.model.setData(
        screen.model.index(2, 0), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole
    )
    qtbot.waitUntil(lambda: included()["D-3"], timeout=WAIT)
    assert "2 of 3 letters to send" in screen.totals.text()
    assert "€1,300.00" in screen.totals.text()

    # Sorting and filtering work on the model's own list.
    screen.view.sortByColumn(6, Qt.SortOrder.DescendingOrder)
    assert shown_numbers(screen) == ["D-1", "D-3", "D-2"]
    screen.filter_edit.setText("d-3")
    qtbot.waitUntil(lambda: shown_numbers(screen) == ["D-3"], timeout=WAIT)
    screen.filter_edit.clear()
    qtbot.waitUntil(lambda: len(shown_numbers(screen)) == 3, timeout=WAIT)

    folder = tmp_path / "letters"
    screen.ask_folder = lambda: str(folder)  # type: ignore[method-assign]
    screen.produce_button.click()
    assert screen.cancel_button.isEnabled() and not screen.propose_button.isEnabled()
    qtbot.waitUntil(lambda: screen.result is not None, timeout=60_000)
    result = screen.result
    assert result.files == 2 and not result.cancelled and not result.failed
    pdfs = sorted(folder.glob("*.pdf"))
    assert len(pdfs) == 2
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert any("D-1" in p.name for p in pdfs) and not any("D-2" in p.name for p in pdfs)
    assert "2 letter(s) written to" in screen.summary.toPlainText()
    assert screen.progress.value() == screen.progress.maximum() == 2
    assert screen.open_button.isEnabled()
    assert not screen.produce_button.isEnabled()  # produced: nothing left to review
    assert len(set(changed)) == 2


def test_production_can_be_cancelled(ctx: UiContext, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for k in range(30):
        overdue_customer(ctx, f"K-{k:02d}", 40)
    screen = open_screen(ctx, qtbot)
    propose(qtbot, screen)
    assert len(screen.model.rows) == 30
    screen.start_production(str(tmp_path / "cancelled"))
    screen.cancel_button.click()  # before the first letters are done
    qtbot.waitUntil(lambda: screen.result is not None, timeout=60_000)
    assert screen.result.cancelled
    assert len(list((tmp_path / "cancelled").glob("*.pdf"))) < 30
    assert "Cancelled" in screen.summary.toPlainText()
    assert screen.produce_button.isEnabled()  # the rest can still be produced


def test_a_collector_may_not_run_dunning(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    colin = add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR)
    screen = open_screen(UiContext(ctx.db, colin, AppSignals()), qtbot)
    assert not screen.propose_button.isEnabled()
    assert "may not run dunning" in screen.propose_button.toolTip()


def test_proposal_model_passes_modeltester_empty_and_sorted(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = ProposalModel()
    qtmodeltester.check(model)
    letters = [
        dunning.LetterProposal(
            n,
            n,
            f"N-{n}",
            f"Name {n}",
            1,
            "Friendly",
            "letter",
            "EUR",
            Decimal(v),
            Decimal(0),
            1,
            True,
            None,
        )
        for n, v in ((1, "5.00"), (2, "50.00"), (3, "0.50"))
    ]
    model.set_rows(letters)
    model.sort(6, Qt.SortOrder.AscendingOrder)
    assert [r.number for r in model.rows] == ["N-3", "N-1", "N-2"]
    qtmodeltester.check(model)


def test_levels_are_edited_with_problems_under_the_field(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    tab = DunningLevelsTab(any_ctx)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    assert [r.level for r in tab.model.rows] == [1, 2, 3]
    assert "{contact_name}" in tab.placeholder_note.text()
    tab.view.selectRow(1)
    assert tab.current.level == 2
    tab.days.setValue(3)  # below level 1's threshold
    tab.fee.setText("12.50")  # and no currency for it
    tab.template.setPlainText("Dear {contact_name}, please pay {overdue} by {deadline}.")
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["template"].isVisible(), timeout=WAIT)
    assert "{deadline}" in tab.errors["template"].text()
    assert "thresholds rise" in tab.errors["days_past_due"].text()
    assert "choose the fee's currency" in tab.errors["fee_currency"].text()
    assert tab.errors["fee_currency"].isVisible()
    assert "no exchange rates" in tab.fee_note.text() and tab.fee_note.isVisible()
    assert tab.template.toPlainText().endswith("{deadline}.")  # kept
    assert dunning.list_levels(any_ctx.db, any_ctx.actor)[1].fee == Decimal("0")

    tab.days.setValue(40)
    tab.fee_currency.setText("sek")
    tab.template.setPlainText("Dear {contact_name}, please pay {overdue}; fee {fee}.")
    tab.save_button.click()
    qtbot.waitUntil(
        lambda: dunning.list_levels(any_ctx.db, any_ctx.actor)[1].days_past_due == 40,
        timeout=WAIT,
    )
    saved = dunning.list_levels(any_ctx.db, any_ctx.actor)[1]
    assert saved.fee == Decimal("12.50") and saved.template.endswith("fee {fee}.")
    assert saved.fee_currency == "SEK"
    qtbot.waitUntil(lambda: tab.model.index(1, 4).data() == "12.50 SEK", timeout=WAIT)
    assert not tab.errors["fee_currency"].isVisible()
    qtbot.waitUntil(lambda: tab.current.version == saved.version, timeout=WAIT)

    # A new level 4 by e-mail.
    tab.new_button.click()
    assert tab.level.value() == 4 and tab.is_new
    tab.channel.setCurrentIndex(tab.channel.findData("email"))
    tab.save_button.click()
    qtbot.waitUntil(lambda: len(dunning.list_levels(any_ctx.db, any_ctx.actor)) == 4, timeout=WAIT)
    assert dunning.list_levels(any_ctx.db, any_ctx.actor)[3].channel == "email"
    qtbot.waitUntil(lambda: len(tab.model.rows) == 4, timeout=WAIT)
    assert tab.current.level == 4 and not tab.is_new  # the saved level is shown
    assert tab.model.index(3, 3).data() == "E-mail (PDF attached)"


def test_the_proposal_is_exported_as_filtered_with_credits_netted(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, boxes: Boxes, tmp_path: Path
) -> None:
    overdue_customer(any_ctx, "E-1", 45, "1000.00")
    overdue_customer(any_ctx, "E-2", 10, "200.00")
    paid_on_account = overdue_customer(any_ctx, "X-1", 40, "500.00")
    ledger.record_payment(any_ctx.db, any_ctx.actor, paid_on_account, TODAY, "200.00", apply="none")
    screen = open_screen(any_ctx, qtbot)
    assert not screen.export_button.isEnabled()  # nothing to export before a proposal
    propose(qtbot, screen)
    assert screen.export_button.isEnabled()
    x1 = next(r for r in screen.model.rows if r.number == "X-1")
    assert (x1.items_overdue, x1.credits, x1.overdue) == (
        Decimal("500.00"),
        Decimal("200.00"),
        Decimal("300.00"),
    )
    assert [screen.model.index(2, c).data() for c in (6, 7, 8)] == ["500.00", "200.00", "300.00"]
    dunning.set_included(any_ctx.db, any_ctx.actor, x1.letter_id, False)
    screen.reload()
    qtbot.waitUntil(lambda: screen.model.rows[2].included is False, timeout=WAIT)
    screen.view.sortByColumn(6, Qt.SortOrder.DescendingOrder)
    screen.filter_edit.setText("e-")
    qtbot.waitUntil(lambda: shown_numbers(screen) == ["E-1", "E-2"], timeout=WAIT)

    target = tmp_path / "proposal.csv"
    screen.export_to(str(target))
    qtbot.waitUntil(lambda: any("Exported 2 rows" in t for t in boxes.texts()), timeout=WAIT)
    with target.open(encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    header = lines[0]
    assert header[:3] == ["Send", "Customer", "Name"]
    assert [line[1] for line in lines[1:]] == ["E-1", "E-2"]  # as filtered and sorted
    e1 = dict(zip(header, lines[1], strict=True))
    assert (e1["Currency"], e1["Overdue items"], e1["Net due"], e1["Level"]) == (
        "EUR",
        "1000.00",
        "1000.00",
        "2",
    )

    # Everything, to Excel: X-1's credits and net due as exact amounts, its tick as it is now.
    screen.filter_edit.clear()
    qtbot.waitUntil(lambda: len(shown_numbers(screen)) == 3, timeout=WAIT)
    workbook_path = tmp_path / "proposal.xlsx"
    screen.export_to(str(workbook_path))
    qtbot.waitUntil(lambda: any("Exported 3 rows" in t for t in boxes.texts()), timeout=WAIT)
    from openpyxl import load_workbook

    sheet = load_workbook(workbook_path, read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    by_number = {r[1]: dict(zip(rows[0], r, strict=False)) for r in rows[1:]}  # no trailing blanks
    x1_row = by_number["X-1"]
    assert x1_row["Send"] == "no"
    assert Decimal(str(x1_row["Overdue items"])) == Decimal("500.00")
    assert Decimal(str(x1_row["Less unapplied payments/credits"])) == Decimal("200.00")
    assert Decimal(str(x1_row["Net due"])) == Decimal("300.00")
    assert Decimal(str(x1_row["Total due"])) == Decimal("300.00")
