"""Settings → Assignment rules on real widgets, on SQLite and PostgreSQL: add rules through the
dialog, preview who would move, apply (confirmed with the count, off the GUI thread), reorder,
delete; a balance band with its currency; and the bulk "Assign collector…" dialog for selected
customers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from o2c_desktop.models import Role
from o2c_desktop.services import audit, customers, ledger, portfolios, users
from o2c_desktop.services.auth import Actor
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.assignment_rules import (
    AssignmentRulesTab,
    RuleDialog,
    assign_collector_dialog,
)
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.ui.conftest import Boxes
from tests.ui.test_ledger_tab import drive_modal

WAIT = 10_000


def seed(ctx: UiContext) -> dict[str, int]:
    """Two collectors and four customers nobody collects yet."""
    ids = {
        "colin": add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR).user_id,
        "cara": add_user(ctx.db, ctx.actor, "cara", Role.COLLECTOR).user_id,
    }
    for number, segment, country in (
        ("C-100", "Enterprise", "DE"),
        ("C-200", "Retail", "FR"),
        ("C-300", "Retail", "DE"),
        ("C-900", None, "US"),
    ):
        row = customers.create_customer(
            ctx.db,
            ctx.actor,
            {
                "number": number,
                "name": f"Customer {number}",
                "segment": segment,
                "country": country,
            },
        )
        ids[number] = row.id
    return ids


def collectors_of(ctx: UiContext, ids: dict[str, int]) -> dict[str, str | None]:
    """Each customer's collector (username), straight from the database."""
    return {
        number: customers.get_customer(ctx.db, ctx.actor, ids[number]).values["collector"]
        for number in ("C-100", "C-200", "C-300", "C-900")
    }


def open_tab(ctx: UiContext, qtbot) -> AssignmentRulesTab:  # type: ignore[no-untyped-def]
    tab = AssignmentRulesTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded, timeout=WAIT)
    return tab


def add_rule(qtbot, tab: AssignmentRulesTab, fill: Any) -> RuleDialog:  # type: ignore[no-untyped-def]
    before = tab.model.rowCount()

    def interact(dialog: RuleDialog) -> None:
        fill(dialog)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    dialog = drive_modal(qtbot, tab.add_button.click, interact)
    qtbot.waitUntil(lambda: tab.model.rowCount() == before + 1, timeout=WAIT)
    return dialog


def choose(dialog: RuleDialog, username: str) -> None:
    index = dialog.collector.findText(username.title())
    assert index >= 0, username
    dialog.collector.setCurrentIndex(index)


def test_rules_preview_and_apply_change_the_collectors(
    any_ctx: UiContext, qtbot, boxes: Boxes
) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    changed: list[bool] = []
    any_ctx.signals.customers_changed.connect(lambda: changed.append(True))
    tab = open_tab(any_ctx, qtbot)
    assert tab.model.rowCount() == 0 and not tab.apply_button.isEnabled()

    def retail_to_colin(dialog: RuleDialog) -> None:
        choose(dialog, "colin")
        dialog.segment.setCurrentText("Retail")

    def germany_to_cara(dialog: RuleDialog) -> None:
        choose(dialog, "cara")
        qtbot.keyClicks(dialog.region, "de")

    add_rule(qtbot, tab, retail_to_colin)
    add_rule(qtbot, tab, germany_to_cara)
    rules = portfolios.list_rules(any_ctx.db, any_ctx.actor)
    assert [(r.collector, r.segment, r.region) for r in rules] == [
        ("Colin", "Retail", None),
        ("Cara", None, "DE"),
    ]
    assert [tab.model.index(r, 1).data() for r in range(2)] == ["Colin", "Cara"]

    tab.preview_button.click()
    qtbot.waitUntil(lambda: tab.preview is not None, timeout=WAIT)
    assert tab.preview == {ids["colin"]: 2, ids["cara"]: 1}  # C-300 is Retail: the first rule
    assert {row[1]: row[2] for row in tab.preview_model.rows} == {"Colin": 2, "Cara": 1}
    assert "3 customer(s)" in tab.preview_label.text()

    tab.apply_button.click()
    qtbot.waitUntil(lambda: bool(boxes.texts("information")), timeout=WAIT)
    assert any("Assign 3 customers without a collector" in t for t in boxes.texts("question"))
    assert boxes.texts("information") == ["3 customer(s) assigned by the rules."]
    assert tab.applied == 3 and changed
    assert collectors_of(any_ctx, ids) == {
        "C-100": "cara",
        "C-200": "colin",
        "C-300": "colin",
        "C-900": None,
    }
    moves = audit.customer_history(any_ctx.db, any_ctx.actor, ids["C-300"])
    assert any(m.field == "collector" and m.new_value == "colin" for m in moves)

    # Germany first: C-300 (Retail, DE) now goes to Cara, for all customers.
    tab.view.selectRow(1)
    tab.up_button.click()
    qtbot.waitUntil(
        lambda: (
            [r.collector for r in portfolios.list_rules(any_ctx.db, any_ctx.actor)]
            == ["Cara", "Colin"]
        ),
        timeout=WAIT,
    )
    qtbot.waitUntil(lambda: tab.model.index(0, 1).data() == "Cara", timeout=WAIT)
    tab.scope.setCurrentIndex(tab.scope.findData(False))
    tab.preview_button.click()
    qtbot.waitUntil(lambda: tab.preview is not None, timeout=WAIT)
    assert tab.preview == {ids["cara"]: 1}
    tab.apply_button.click()
    qtbot.waitUntil(lambda: len(boxes.texts("information")) == 2, timeout=WAIT)
    assert collectors_of(any_ctx, ids)["C-300"] == "cara"

    # Delete the Retail rule (confirmed).
    tab.view.selectRow(1)
    tab.delete_button.click()
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=WAIT)
    assert [r.collector for r in portfolios.list_rules(any_ctx.db, any_ctx.actor)] == ["Cara"]


def test_rule_problems_are_shown_under_the_field(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    seed(any_ctx)
    tab = open_tab(any_ctx, qtbot)
    dialog = tab.rule_dialog()
    qtbot.addWidget(dialog)
    dialog.show()
    choose(dialog, "colin")
    dialog.number_from.setText("Z-1")
    dialog.number_to.setText("A-1")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.errors["number_to"].isVisible(), timeout=WAIT)
    assert "before number_from" in dialog.errors["number_to"].text()
    assert dialog.number_from.text() == "Z-1" and dialog.isVisible()

    dialog.balance_min.setText("a lot")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.errors["balance_min"].isVisible(), timeout=WAIT)
    assert "not a number" in dialog.errors["balance_min"].text()
    assert portfolios.list_rules(any_ctx.db, any_ctx.actor) == []


def test_a_balance_band_is_saved_with_its_currency(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    day = date.today() - timedelta(days=5)
    ledger.post_invoice(any_ctx.db, any_ctx.actor, ids["C-100"], "I-1", day, Decimal("5000.00"))
    swedish = customers.create_customer(
        any_ctx.db, any_ctx.actor, {"number": "C-950", "name": "Svea AB", "currency": "SEK"}
    ).id
    ledger.post_invoice(any_ctx.db, any_ctx.actor, swedish, "S-1", day, Decimal("5000.00"))
    tab = open_tab(any_ctx, qtbot)

    def band_then_currency(dialog: RuleDialog) -> None:
        choose(dialog, "colin")
        qtbot.keyClicks(dialog.balance_min, "1000")
        save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.click()
        qtbot.waitUntil(lambda: dialog.errors["currency"].isVisible(), timeout=WAIT)
        assert "required with a balance band" in dialog.errors["currency"].text()
        assert dialog.balance_min.text() == "1000"  # the input stays
        qtbot.keyClicks(dialog.currency, "eur")
        qtbot.waitUntil(lambda: save.isEnabled(), timeout=WAIT)
        save.click()

    drive_modal(qtbot, tab.add_button.click, band_then_currency)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=WAIT)
    (rule,) = portfolios.list_rules(any_ctx.db, any_ctx.actor)
    assert (rule.currency, rule.balance_min, rule.balance_max) == ("EUR", Decimal(1000), None)
    headers = [tab.model.headerData(c, Qt.Orientation.Horizontal) for c in range(6)]
    column = headers.index("Currency")
    assert tab.model.index(0, column).data() == "EUR"
    assert tab.rule_dialog(rule).currency.text() == "EUR"  # editing shows it
    # Only C-100 owes EUR 1,000 or more; the customer owing SEK 5,000 is not in the band.
    tab.preview_button.click()
    qtbot.waitUntil(lambda: tab.preview is not None, timeout=WAIT)
    assert tab.preview == {ids["colin"]: 1}


def test_assign_collector_by_hand_in_bulk(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    changed: list[int] = []
    any_ctx.signals.customer_changed.connect(changed.append)
    outcome: list[bool] = []

    def pick_cara(dialog: Any) -> None:
        qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT)
        assert "2 selected customer(s)" in dialog.question.text()
        dialog.collector.setCurrentIndex(dialog.collector.findText("Cara"))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    drive_modal(
        qtbot,
        lambda: outcome.append(
            assign_collector_dialog(None, any_ctx, [ids["C-200"], ids["C-900"]])
        ),
        pick_cara,
    )
    assert outcome == [True]
    assert collectors_of(any_ctx, ids) == {
        "C-100": None,
        "C-200": "cara",
        "C-300": None,
        "C-900": "cara",
    }
    assert sorted(changed) == sorted([ids["C-200"], ids["C-900"]])


def test_a_collector_may_not_assign(any_ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    colin = next(u for u in users.list_collectors(any_ctx.db) if u.username == "colin")
    ctx = UiContext(
        any_ctx.db, Actor(colin.id, colin.username, colin.display_name, colin.roles), AppSignals()
    )
    assert not assign_collector_dialog(None, ctx, [ids["C-100"]])
    assert "may not assign collectors" in boxes.texts("warning")[0]


def test_rule_models_pass_modeltester(any_ctx: UiContext, qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    ids = seed(any_ctx)
    portfolios.save_rule(any_ctx.db, any_ctx.actor, None, collector_id=ids["colin"], region="FR")
    tab = open_tab(any_ctx, qtbot)
    assert tab.model.rowCount() == 1
    qtmodeltester.check(tab.model)
    tab.show_preview({ids["colin"]: 1, None: 0})
    qtmodeltester.check(tab.preview_model)
