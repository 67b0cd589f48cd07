"""Settings → the credit tabs on real widgets, on SQLite and PostgreSQL: a checklist template's
item changed and an item added; a new scorecard version (the version number goes up, the old
one stays read-only); an approval authority row for one user; a credit policy value saved with
the dialog's Save. Each is read back from its service; problems are shown under their input with
the input kept; credit staff see the tabs read-only and collectors do not see them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QMenuBar,
    QSplitter,
    QTabBar,
    QWidget,
)

from o2c_desktop.models import Role
from o2c_desktop.services import checklists, credit_authority, credit_policy, scorecards
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.approval_authorities import ApprovalAuthoritiesTab
from o2c_desktop.ui.dialogs.checklist_templates import ChecklistTemplatesTab
from o2c_desktop.ui.dialogs.scorecard_editor import ScorecardTab
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.ui.conftest import Boxes

WAIT = 15_000


@pytest.fixture(autouse=True)
def own_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The dialog's Save also writes this computer's settings file: keep it out of the way."""
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def dialog(any_ctx: UiContext, qtbot) -> Iterator[SettingsDialog]:  # type: ignore[no-untyped-def]
    settings = SettingsDialog("sqlite:///unused.sqlite3", ctx=any_ctx)
    qtbot.addWidget(settings)
    settings.show()
    for tab in (settings.templates, settings.scorecard, settings.authorities):
        qtbot.waitUntil(lambda t=tab: t.loaded and t.current is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: settings.policy.loaded is not None, timeout=WAIT)
    yield settings


def cell(table, row: int, column: int, text: str) -> None:  # type: ignore[no-untyped-def]
    table.item(row, column).setText(text)


def mnemonic_clashes(root: QWidget) -> dict[str, list[str]]:
    """The Alt+letters that more than one visible button, tab or menu title under `root` uses
    (Qt then only moves the focus between them), with the texts that use each."""
    found: dict[str, list[str]] = {}

    def add(text: str) -> None:
        match = re.search(r"&(\w)", text.replace("&&", ""))
        if match:
            found.setdefault(match.group(1).lower(), []).append(text)

    for button in root.findChildren(QAbstractButton):
        if button.isVisible():
            add(button.text())
    for bar in root.findChildren(QTabBar):
        if bar.isVisible():
            for index in range(bar.count()):
                add(bar.tabText(index))
    for menus in root.findChildren(QMenuBar):
        for action in menus.actions():
            add(action.text())
    return {letter: texts for letter, texts in found.items() if len(texts) > 1}


def test_a_template_item_change_and_a_new_item_are_saved(  # type: ignore[no-untyped-def]
    dialog: SettingsDialog, any_ctx: UiContext, qtbot, qtmodeltester
) -> None:
    tab = dialog.templates
    assert isinstance(tab, ChecklistTemplatesTab)
    dialog.tabs.setCurrentWidget(tab)
    qtmodeltester.check(tab.model)
    standard = next(n for n, t in enumerate(tab.templates) if t.name == "Standard")
    tab.view.selectRow(standard)
    assert tab.name.text() == "Standard"
    table = tab.item_table.table
    codes = [table.item(r, 0).text() for r in range(table.rowCount())]
    cell(table, codes.index("trade_references"), 4, "4")  # quantity
    tab.item_table.add_button.click()
    new_row = table.rowCount() - 1
    cell(table, new_row, 1, "Site visit report")
    table.item(new_row, 2).setCheckState(table.item(0, 2).checkState().Unchecked)
    cell(table, new_row, 3, "75000")  # required from 75,000
    assert tab.dirty
    tab.save_button.click()
    qtbot.waitUntil(lambda: not tab.dirty and tab.status.text() == "Saved.", timeout=WAIT)
    saved = next(
        t for t in checklists.list_templates(any_ctx.db, any_ctx.actor) if t.name == "Standard"
    )
    items = {i.code: i for i in saved.items}
    assert items["trade_references"].quantity == 4
    visit = items["site_visit_report"]  # the code made from the label
    assert (visit.label, visit.required, visit.required_above) == (
        "Site visit report",
        False,
        Decimal("75000.00"),
    )
    assert visit.position == len(saved.items)

    # A problem is shown under the items, naming the item; the input stays.
    qtbot.waitUntil(lambda: tab.current is not None and tab.current.version == saved.version)
    cell(table, 0, 1, "")
    cell(table, 1, 4, "0")
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["items"].isVisible(), timeout=WAIT)
    text = tab.errors["items"].text()
    assert "Item 1, label: required" in text and "Item 2, quantity:" in text
    assert table.item(1, 4).text() == "0"


def test_saving_the_scorecard_makes_the_next_version(  # type: ignore[no-untyped-def]
    dialog: SettingsDialog, any_ctx: UiContext, qtbot
) -> None:
    tab = dialog.scorecard
    assert isinstance(tab, ScorecardTab)
    dialog.tabs.setCurrentWidget(tab)
    assert [v.version_no for v in tab.versions] == [1] and tab.current.active
    keys = tab._factor_keys()
    bureau = keys.index("bureau_score")
    cell(tab.factors.table, bureau, 2, "25")  # weight 20 -> 25
    tab.factors.table.setCurrentCell(bureau, 1)
    assert tab.band_table.table.item(0, 0).text() == "400"
    cell(tab.band_table.table, 0, 1, "5")  # below 400: 0 -> 5 points
    tab.factors.table.setCurrentCell(0, 1)  # the bands typed are kept when moving on
    tab.limit["cap"].setText("")
    tab.limit["cap"].textEdited.emit("")  # no cap
    tab.note.setText("Bureau counts more")
    changed: list[bool] = []
    any_ctx.signals.credit_policy_changed.connect(lambda: changed.append(True))
    tab.save_button.click()
    qtbot.waitUntil(lambda: [v.version_no for v in tab.versions] == [2, 1], timeout=WAIT)
    active = scorecards.active_scorecard(any_ctx.db, any_ctx.actor)
    assert (active.version_no, active.note) == (2, "Bureau counts more")
    factor = next(f for f in active.rules["factors"] if f["key"] == "bureau_score")
    assert factor["weight"] == 25 and factor["bands"][0] == {"below": "400", "points": 5}
    assert active.rules["limit_rule"]["cap"] is None
    assert changed and "version 2" in tab.status.text()
    assert tab.current.version_no == 2 and tab.save_button.isEnabled()

    # The old version is shown read-only; it can be the start of a new one.
    tab.view.selectRow(1)
    assert tab.current.version_no == 1 and not tab.save_button.isEnabled()
    assert_read_only_but_readable(tab, qtbot)
    assert tab.copy_button.isEnabled()
    tab.copy_button.click()
    assert tab.save_button.isEnabled() and "version 3" in tab.status.text()


def test_scorecard_problems_name_the_factor_and_band(  # type: ignore[no-untyped-def]
    dialog: SettingsDialog, any_ctx: UiContext, qtbot
) -> None:
    tab = dialog.scorecard
    dialog.tabs.setCurrentWidget(tab)
    cell(tab.band_table.table, 1, 0, "1")  # years in business: below 2, then below 1
    cell(tab.risk_classes.table, 0, 0, "Z")
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["factors"].isVisible(), timeout=WAIT)
    assert "Years in business, band 2, below: must be more than" in tab.errors["factors"].text()
    assert "row 1, class: must be one of A" in tab.errors["risk_classes"].text()
    assert tab.banner.isVisible()
    assert scorecards.active_scorecard(any_ctx.db, any_ctx.actor).version_no == 1
    assert tab.band_table.table.item(1, 0).text() == "1"  # kept


def test_an_authority_row_for_one_user(  # type: ignore[no-untyped-def]
    dialog: SettingsDialog, any_ctx: UiContext, qtbot
) -> None:
    clara = add_user(any_ctx.db, any_ctx.actor, "clara", Role.CREDIT_CLERK)
    tab = dialog.authorities
    assert isinstance(tab, ApprovalAuthoritiesTab)
    dialog.tabs.setCurrentWidget(tab)
    tab._load_users()
    qtbot.waitUntil(lambda: tab.user.findData(clara.user_id) >= 0, timeout=WAIT)
    tab.new_button.click()
    tab.by_user.setChecked(True)
    assert tab.user.isEnabled() and not tab.role.isEnabled()
    tab.user.setCurrentIndex(tab.user.findData(clara.user_id))
    tab.currency.setText("eur")
    tab.alone.setText("2000")
    tab.jointly.setText("1000")  # less than alone: refused under the field
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.errors["jointly_max"].isVisible(), timeout=WAIT)
    assert "at least the amount alone" in tab.errors["jointly_max"].text()
    tab.jointly.setText("8000")
    tab.save_button.click()
    qtbot.waitUntil(lambda: tab.status.text() == "Saved.", timeout=WAIT)
    rows = credit_authority.list_authorities(any_ctx.db, any_ctx.actor)
    mine = [(r.username, r.currency, r.alone_max, r.jointly_max) for r in rows if r.user_id]
    assert mine == [("clara", "EUR", Decimal("2000.00"), Decimal("8000.00"))]
    authority = credit_authority.my_authority(any_ctx.db, clara, "EUR")
    assert (authority.alone_max, authority.source) == (Decimal("2000.00"), "own authority")
    qtbot.waitUntil(lambda: any(r.user_id for r in tab.model.rows), timeout=WAIT)
    assert "User: clara" in [tab.model.index(n, 0).data() for n in range(tab.model.rowCount())]


def test_a_policy_value_is_saved_with_the_dialogs_save(  # type: ignore[no-untyped-def]
    dialog: SettingsDialog, any_ctx: UiContext, qtbot, boxes: Boxes, tmp_path
) -> None:
    tab = dialog.policy
    dialog.tabs.setCurrentWidget(tab)
    tab.numbers["hold_days_past_due"].setValue(45)
    tab.sla["in_verification"].setValue(9)
    tab.review["E"].setValue(2)
    tab.store.setText(str(tmp_path / "documents"))
    changed: list[bool] = []
    any_ctx.signals.credit_policy_changed.connect(lambda: changed.append(True))
    dialog.save()
    qtbot.waitUntil(lambda: boxes.texts("information") != [], timeout=WAIT)
    policy = credit_policy.get_policy(any_ctx.db)
    assert policy.hold_days_past_due == 45
    assert policy.sla_days["in_verification"] == 9 and policy.review_months["E"] == 2
    assert policy.document_store == str(tmp_path / "documents")
    assert changed == [True]


def test_credit_staff_see_the_tabs_read_only_collectors_not_at_all(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot
) -> None:
    maria = add_user(any_ctx.db, any_ctx.actor, "maria", Role.CREDIT_MANAGER)
    settings = SettingsDialog(
        "sqlite:///unused.sqlite3", ctx=UiContext(any_ctx.db, maria, AppSignals())
    )
    qtbot.addWidget(settings)
    tabs = (settings.templates, settings.scorecard, settings.authorities)
    for tab in tabs:
        qtbot.waitUntil(lambda t=tab: t.loaded and t.current is not None, timeout=WAIT)
        assert not tab.save_button.isEnabled()
        assert "administrator" in tab.save_button.toolTip()
    qtbot.waitUntil(lambda: settings.policy.loaded is not None, timeout=WAIT)
    assert not settings.policy.save_button.isEnabled() and not settings.policy.note.isHidden()
    colin = add_user(any_ctx.db, any_ctx.actor, "colin", Role.COLLECTOR)
    plain = SettingsDialog(
        "sqlite:///unused.sqlite3", ctx=UiContext(any_ctx.db, colin, AppSignals())
    )
    qtbot.addWidget(plain)
    assert plain.templates is None and plain.policy is None


def test_new_template_from_the_selected_one_moved_items_then_deleted(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, boxes: Boxes
) -> None:
    tab = ChecklistTemplatesTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    tab.new_button.click()  # starts from the selected template's items
    assert tab.is_new and tab.name.text() == "New template" and tab.position.value() == 3
    tab.name.setText("Public sector")
    tab.segment.setCurrentText("Public sector")
    tab.max_amount.setText("100000")
    table = tab.item_table.table
    table.setCurrentCell(1, 1)
    tab.item_table.up_button.click()  # trade references first
    tab.save_button.click()
    qtbot.waitUntil(lambda: not tab.is_new and tab.current is not None, timeout=WAIT)
    made = next(
        t for t in checklists.list_templates(ctx.db, ctx.actor) if t.name == "Public sector"
    )
    assert (made.segment, made.max_amount, made.position) == (
        "Public sector",
        Decimal("100000.00"),
        3,
    )
    assert [i.code for i in made.items][:2] == ["trade_references", "signed_application"]
    assert tab.current.id == made.id
    tab.delete_button.click()  # confirmed (the boxes fixture answers Yes)
    qtbot.waitUntil(lambda: len(tab.templates) == 2, timeout=WAIT)
    assert [t.name for t in checklists.list_templates(ctx.db, ctx.actor)] == [
        "Large exposure",
        "Standard",
    ]


def test_a_factor_dropped_and_added_back(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    tab = ScorecardTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    table = tab.factors.table
    table.setCurrentCell(tab._factor_keys().index("broken_promises"), 1)
    tab.factors.remove_button.click()
    assert "broken_promises" not in tab._factor_keys()
    tab._fill_factor_menu()
    offered = [a.text() for a in tab.add_factor_menu.actions()]
    assert offered == ["Broken promises"]
    tab.add_factor_menu.actions()[0].trigger()  # back, with the bands it had
    assert tab._factor_keys()[-1] == "broken_promises"
    assert tab.band_table.texts() == [["1", "100"], ["2", "70"], ["4", "40"], ["", "0"]]
    cell(tab.factors.table, len(tab._factor_keys()) - 1, 2, "12")
    tab.save_button.click()
    qtbot.waitUntil(lambda: [v.version_no for v in tab.versions] == [2, 1], timeout=WAIT)
    factor = scorecards.active_scorecard(ctx.db, ctx.actor).rules["factors"][-1]
    assert (factor["key"], factor["label"], factor["weight"]) == (
        "broken_promises",
        "Broken promises",
        12,
    )
    assert factor["bands"][-1] == {"below": None, "points": 0}


def assert_read_only_but_readable(tab: ScorecardTab, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Every factor can be selected to see its bands; nothing can be typed into a table."""
    table = tab.factors.table
    assert table.isEnabled() and tab.band_table.table.isEnabled()
    assert table.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    assert not tab.factors.remove_button.isEnabled() and not tab.add_factor_button.isEnabled()
    bureau = tab._factor_keys().index("bureau_score")
    table.setFocus()
    table.setCurrentCell(bureau, 2)
    assert tab.band_caption.text().startswith("Bureau score:")
    assert tab.band_table.table.item(0, 0).text() == "400"
    weight = table.item(bureau, 2).text()
    qtbot.keyClicks(table, "9")
    assert table.state() != QAbstractItemView.State.EditingState
    assert table.item(bureau, 2).text() == weight and not tab.dirty
    assert tab.limit["cap"].isEnabled() and tab.limit["cap"].isReadOnly()


def test_credit_staff_read_every_factors_bands(any_ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    maria = add_user(any_ctx.db, any_ctx.actor, "maria", Role.CREDIT_MANAGER)
    tab = ScorecardTab(UiContext(any_ctx.db, maria, AppSignals()))
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    assert not tab.save_button.isEnabled()
    assert_read_only_but_readable(tab, qtbot)
    templates = ChecklistTemplatesTab(UiContext(any_ctx.db, maria, AppSignals()))
    qtbot.addWidget(templates)
    templates.show()
    qtbot.waitUntil(lambda: templates.loaded and templates.current is not None, timeout=WAIT)
    items = templates.item_table.table
    assert items.isEnabled() and not templates.item_table.up_button.isEnabled()
    required = items.item(0, 2)  # a check box a click must not change
    assert not required.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert templates.name.isReadOnly() and not templates.dirty


def test_alt_letters_of_the_credit_tabs_are_their_own(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    settings = SettingsDialog("sqlite:///unused.sqlite3", ctx=ctx)
    qtbot.addWidget(settings)
    settings.show()
    assert settings.levels is not None  # every tab there is, the collections ones too
    for tab in (
        settings.database_tab,
        settings.letterhead,
        settings.mail,
        settings.templates,
        settings.scorecard,
        settings.authorities,
        settings.policy,
    ):
        settings.tabs.setCurrentWidget(tab)
        assert mnemonic_clashes(settings) == {}, settings.tabs.tabText(settings.tabs.indexOf(tab))
    qtbot.waitUntil(lambda: settings.templates.loaded, timeout=WAIT)


def test_what_a_template_applies_to_fits_the_list(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    settings = SettingsDialog("sqlite:///unused.sqlite3", ctx=ctx)
    qtbot.addWidget(settings)
    settings.show()
    tab = settings.templates
    settings.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.loaded and tab.current is not None, timeout=WAIT)
    applies = {tab.model.index(n, 1).data(): tab.model.index(n, 2) for n in range(2)}
    assert applies["Large exposure"].data() == "from 250,000.00"
    assert applies["Standard"].data() == "any application"
    tooltip = applies["Large exposure"].data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "any segment · any currency · from 250,000.00"
    header, view = tab.view.horizontalHeader(), tab.view
    needed = sum(
        max(view.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(header.count())
    )
    assert needed <= view.viewport().width()  # every column whole, without scrolling
    assert tab.view.objectName() == "templateList"
    assert tab.findChild(QSplitter, "templateListSplitter") is not None
