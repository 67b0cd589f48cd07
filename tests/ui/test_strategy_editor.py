"""Settings → Collection strategy on real widgets, on SQLite and PostgreSQL: edit the weights and
bands, save, activate; problems under their field with the input kept; a colleague's save in
between is a conflict that keeps the input and lets Save overwrite. And the Settings dialog:
only managers get the collections tabs; its Save also saves an edited strategy."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QLineEdit

from o2c_desktop.models import Role
from o2c_desktop.services import collection_strategy
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.dialogs.strategy_editor import RowsTable, StrategyTab, spec_for
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.ui.conftest import Boxes

WAIT = 10_000


def open_tab(ctx: UiContext, qtbot) -> StrategyTab:  # type: ignore[no-untyped-def]
    tab = StrategyTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    return tab


def type_into(qtbot, edit: QLineEdit, text: str) -> None:  # type: ignore[no-untyped-def]
    """Replace a line's text the way a user does (so the tab sees an edit)."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def add_band(table: RowsTable, *cells: str) -> None:
    assert table.add_button is not None
    table.add_button.click()
    row = table.table.rowCount() - 1
    for column, text in enumerate(cells):
        table.table.item(row, column).setText(text)


def test_edit_save_and_activate_change_the_active_strategy(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    tab = open_tab(any_ctx, qtbot)
    assert tab.current.id is None  # nothing saved yet: the default rules, to be saved
    assert tab.model.rowCount() == 1
    points = tab.inputs["broken_promise_points"]
    assert points.text() == str(collection_strategy.DEFAULT_RULES.broken_promise_points)
    dpd = tab.inputs["dpd_bands"]
    assert dpd.table.rowCount() == len(collection_strategy.DEFAULT_RULES.dpd_bands)

    type_into(qtbot, points, "55")
    add_band(dpd, "181", "60")
    type_into(qtbot, tab.inputs["fully_disputed_factor"], "0.35")
    assert tab.dirty
    tab.save_button.click()
    qtbot.waitUntil(
        lambda: collection_strategy.active_strategy(any_ctx.db).id is not None, timeout=WAIT
    )
    active = collection_strategy.active_strategy(any_ctx.db)
    assert active.rules.broken_promise_points == 55
    assert active.rules.dpd_bands[-1] == (181, 60)
    assert active.rules.fully_disputed_factor == Decimal("0.35")
    qtbot.waitUntil(lambda: tab.current.id == active.id and not tab.dirty, timeout=WAIT)

    # A second strategy, saved inactive, then activated: the call list follows it.
    tab.new_button.click()
    assert tab.current.id is None and tab.name.text().startswith("Copy of")
    type_into(qtbot, tab.name, "Aggressive")
    type_into(qtbot, tab.inputs["limit_breach_points"], "99")
    dpd = tab.inputs["dpd_bands"]
    dpd.table.setCurrentCell(0, 0)
    dpd.remove_button.click()  # type: ignore[union-attr]
    tab.save_button.click()
    qtbot.waitUntil(
        lambda: any(
            s.name == "Aggressive"
            for s in collection_strategy.list_strategies(any_ctx.db, any_ctx.actor)
        ),
        timeout=WAIT,
    )
    qtbot.waitUntil(
        lambda: tab.current.name == "Aggressive" and tab.current.id is not None, timeout=WAIT
    )
    assert collection_strategy.active_strategy(any_ctx.db).id == active.id  # not active yet
    assert tab.activate_button.isEnabled()
    tab.activate_button.click()
    qtbot.waitUntil(
        lambda: collection_strategy.active_strategy(any_ctx.db).name == "Aggressive",
        timeout=WAIT,
    )
    now = collection_strategy.active_strategy(any_ctx.db)
    assert now.rules.limit_breach_points == 99
    assert now.rules.dpd_bands == (*collection_strategy.DEFAULT_RULES.dpd_bands[1:], (181, 60))
    qtbot.waitUntil(  # the list is read again: the active mark moved
        lambda: (
            {row.name: row.active for row in tab.model.rows}
            == {"Aggressive": True, active.name: False}
        ),
        timeout=WAIT,
    )
    assert tab.current.name == "Aggressive" and not tab.activate_button.isEnabled()


def test_problems_are_shown_by_field_and_the_input_is_kept(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    tab = open_tab(any_ctx, qtbot)
    factor = tab.inputs["promised_not_due_factor"]
    type_into(qtbot, factor, "1.5")  # the service allows 0 to 1
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["promised_not_due_factor"].isVisible(), timeout=WAIT)
    assert "0 to 1" in tab.errors["promised_not_due_factor"].text()
    assert tab.banner.isVisible() and "Not saved" in tab.banner.text()
    assert factor.text() == "1.5"  # kept
    assert tab.dirty
    assert collection_strategy.list_strategies(any_ctx.db, any_ctx.actor) == []

    # Something that is not even a number is refused by the tab, under its table.
    type_into(qtbot, factor, "0.5")
    add_band(tab.inputs["overdue_amount_bands"], "lots", "70")
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["overdue_amount_bands"].isVisible(), timeout=WAIT)
    assert "band 7" in tab.errors["overdue_amount_bands"].text()
    assert not tab.errors["promised_not_due_factor"].isVisible()
    assert collection_strategy.list_strategies(any_ctx.db, any_ctx.actor) == []

    # Bands out of order: the service names the table, the rows stay as typed.
    amounts = tab.inputs["overdue_amount_bands"]
    amounts.table.item(6, 0).setText("500")
    tab.save_button.click()
    qtbot.waitUntil(lambda: "ascending" in tab.errors["overdue_amount_bands"].text(), timeout=WAIT)
    assert amounts.table.item(6, 0).text() == "500"
    assert amounts.table.rowCount() == 7


def test_a_colleagues_save_is_a_conflict_that_keeps_the_input(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    saved = collection_strategy.save_strategy(
        any_ctx.db,
        any_ctx.actor,
        None,
        "Standard",
        collection_strategy.DEFAULT_RULES,
        activate=True,
    )
    tab = open_tab(any_ctx, qtbot)
    assert tab.current.id == saved.id
    collection_strategy.save_strategy(  # someone else, meanwhile
        any_ctx.db,
        any_ctx.actor,
        saved.id,
        "Standard",
        dataclasses.replace(collection_strategy.DEFAULT_RULES, follow_up_due_points=1),
        expected_version=saved.version,
    )
    type_into(qtbot, tab.inputs["follow_up_due_points"], "77")
    tab.save_button.click()
    qtbot.waitUntil(lambda: "changed by" in tab.banner.text(), timeout=WAIT)
    assert tab.inputs["follow_up_due_points"].text() == "77"
    assert collection_strategy.active_strategy(any_ctx.db).rules.follow_up_due_points == 1
    qtbot.waitUntil(lambda: tab.base_version != saved.version, timeout=WAIT)  # rebased
    tab.save_button.click()  # Save again overwrites theirs, as the message says
    qtbot.waitUntil(
        lambda: collection_strategy.active_strategy(any_ctx.db).rules.follow_up_due_points == 77,
        timeout=WAIT,
    )


def test_every_rule_of_the_strategy_has_an_input() -> None:
    rules = collection_strategy.DEFAULT_RULES
    for name, value in rules.__dict__.items():
        spec = spec_for(name, value)
        assert spec is not None, name
    assert spec_for("risk_class_points", rules.risk_class_points).cell_types == (str, int)  # type: ignore[union-attr]
    assert spec_for("overdue_amount_bands", ()).cell_types == (Decimal, int)  # type: ignore[union-attr]


def test_strategy_list_model_passes_modeltester(any_ctx: UiContext, qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    collection_strategy.save_strategy(
        any_ctx.db, any_ctx.actor, None, "One", collection_strategy.DEFAULT_RULES, activate=True
    )
    collection_strategy.save_strategy(
        any_ctx.db, any_ctx.actor, None, "Two", collection_strategy.DEFAULT_RULES
    )
    tab = open_tab(any_ctx, qtbot)
    assert [r.name for r in tab.model.rows] == ["One", "Two"]
    assert tab.current.name == "One"  # the active one is shown first
    qtmodeltester.check(tab.model)


def _settings(ctx: UiContext, qtbot) -> SettingsDialog:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(ctx.db.describe(), None, ctx=ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_only_managers_get_the_collections_tabs(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))
    titles = ("Collection &strategy", "Assignment &rules", "D&unning levels")
    for username, role in (("colin", Role.COLLECTOR), ("clara", Role.CREDIT_CLERK)):
        user = add_user(any_ctx.db, any_ctx.actor, username, role)
        dialog = _settings(UiContext(any_ctx.db, user, AppSignals()), qtbot)
        assert (dialog.strategy, dialog.rules, dialog.levels) == (None, None, None)
        shown = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
        assert not set(titles) & set(shown), username
    maria = add_user(any_ctx.db, any_ctx.actor, "maria", Role.CREDIT_MANAGER)
    dialog = _settings(UiContext(any_ctx.db, maria, AppSignals()), qtbot)
    shown = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert shown[-3:] == list(titles)
    assert dialog.strategy is not None and dialog.strategy.editable
    qtbot.waitUntil(lambda: dialog.levels is not None and dialog.levels.loaded, timeout=WAIT)


def test_settings_save_also_saves_an_edited_strategy(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, monkeypatch: pytest.MonkeyPatch, tmp_path, boxes: Boxes
) -> None:
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))
    dialog = _settings(any_ctx, qtbot)
    tab = dialog.strategy
    assert tab is not None
    qtbot.waitUntil(lambda: tab.loaded and dialog.letterhead.loaded is not None, timeout=WAIT)  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: dialog.mail.loaded is not None, timeout=WAIT)  # type: ignore[union-attr]
    type_into(qtbot, tab.inputs["dispute_waiting_points"], "abc")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    assert dialog.tabs.currentWidget() is tab  # the problem's tab is brought forward
    assert "whole number" in tab.errors["dispute_waiting_points"].text()
    type_into(qtbot, tab.inputs["dispute_waiting_points"], "12")
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        dialog.save()
    assert collection_strategy.active_strategy(any_ctx.db).rules.dispute_waiting_points == 12
