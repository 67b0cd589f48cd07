"""The findings of the UI review of the credit application screens, each on real widgets
(SQLite): quitting with details not saved, the decision buttons and the authority they need,
the queue's columns and export, payment terms for a new application, the decision dialog's
prefill, the scorecard's wording, Alt letters and Ctrl keys, remembered layout, read-only
details, the customer picker, refreshes, Ctrl+Enter in reasons, the assign list, the collections
count that widened the window, and the references' amounts in the application's currency."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractButton, QDialog, QLineEdit, QMessageBox, QSplitter

from o2c_desktop.models import Role
from o2c_desktop.services import (
    checklists,
    credit_applications,
    credit_authority,
    credit_decisions,
)
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_reason import ReasonDialog
from o2c_desktop.ui.dialogs.credit_decision import DecisionDialog
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.screens.application_checklist import ITEM_COLUMNS
from o2c_desktop.ui.screens.application_details import DetailsTab
from o2c_desktop.ui.screens.application_editor import (
    APPROVAL_TIP,
    CHECKLIST,
    DECISION,
    REFERENCES,
    SCORECARD,
)
from o2c_desktop.ui.screens.application_queue import ApplicationQueue
from o2c_desktop.ui.screens.collections_screen import CollectionsScreen
from o2c_desktop.ui.screens.credit_applications_screen import CreditApplicationsScreen
from o2c_desktop.ui.widgets import layout_memory
from o2c_desktop.ui.widgets.table_panel import TablePanel
from tests.ui.test_application_editor import open_editor
from tests.ui.test_credit_applications_gui import (
    WAIT,
    activate,
    application,
    northwind,
    pending_approval,
    person,
    state_of,
)
from tests.ui.test_ledger_tab import drive_modal

apps = credit_applications
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture(autouse=True)
def own_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test its own window.ini: layouts saved by one do not reach another."""
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))


# 1 ---------------------------------------------------------------------------------------------
def test_quitting_asks_when_details_are_not_saved(ctx: UiContext, qtbot, boxes) -> None:  # type: ignore[no-untyped-def]
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    window.new_application()
    editor = window.credit_applications.tabs.currentWidget()
    qtbot.keyClicks(editor.details.inputs["requested_limit"], "5000")
    assert editor.details.dirty
    window.show_customers()

    boxes.answer = QMessageBox.StandardButton.No
    assert not window.close()  # Ctrl+Q is File > Quit: close()
    assert window.isVisible()
    assert "Quit and lose the changes?" in boxes.texts("question")[-1]
    assert window.credit_applications.tabs.currentWidget() is editor  # shown to the user

    boxes.answer = QMessageBox.StandardButton.Yes
    assert window.close()


# 2, 3 ------------------------------------------------------------------------------------------
def test_whoever_changed_the_request_sees_the_decision_buttons_off(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Four eyes beyond preparer and submitter: a manager who raised the requested limit may
    not decide, and the buttons say so before she fills in a decision."""
    sam = person(ctx, "sam", Role.CREDIT_MANAGER)
    view = application(ctx, "30000")
    view = credit_applications.update_application(
        sam.db, sam.actor, view.id, view.version, {"requested_limit": "40000"}
    )
    pending_approval(ctx, view.id, ctx.actor)
    tab = open_editor(qtbot, sam, view.id).decision
    for button in (tab.approve_button, tab.conditional_button, tab.decline_button):
        assert not button.isEnabled()
        assert "changed the request or figures" in button.toolTip()


def test_decision_buttons_follow_four_eyes_and_authority(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """root prepared it and has no authority row; Maria and Mark may grant 50,000 alone and
    250,000 with a second approver; Carl (clerk) has no authority."""
    maria = person(ctx, "maria", Role.CREDIT_MANAGER)
    mark = person(ctx, "mark", Role.CREDIT_MANAGER)
    carl = person(ctx, "carl", Role.CREDIT_MANAGER)
    view = application(ctx, "84000")
    view = pending_approval(ctx, view.id, ctx.actor)
    # Carl is a manager with a personal row of no authority in EUR.
    credit_authority.save_authority(
        ctx.db,
        ctx.actor,
        None,
        None,
        {"user_id": carl.actor.user_id, "currency": "EUR", "alone_max": "0"},
    )

    preparing = open_editor(qtbot, ctx, view.id)
    preparer = preparing.decision
    for button in (preparer.approve_button, preparer.decline_button):
        assert not button.isEnabled() and "four eyes" in button.toolTip()

    none = open_editor(qtbot, carl, view.id).decision
    for button in (none.approve_button, none.conditional_button, none.decline_button):
        assert not button.isEnabled()
        assert button.toolTip() == "You have no approval authority in EUR."

    first = open_editor(qtbot, maria, view.id)
    first.tabs.setCurrentIndex(DECISION)
    tab = first.decision
    assert tab.approve_button.isEnabled() and tab.decline_button.isEnabled()
    note = tab.authority_note.text()
    assert note.startswith(
        "Your authority: EUR 50,000.00 alone and EUR 250,000.00 with a second approver "
        "(role credit manager)."
    )
    assert "Approving €84,000.00 needs a second approver to confirm it." in note

    credit_decisions.decide(
        maria.db,
        maria.actor,
        view.id,
        view.version,
        credit_decisions.DecisionInput("approved", "solid", credit_limit="84000"),
    )
    first.reload()
    qtbot.waitUntil(lambda: tab.decision is not None, timeout=WAIT)
    assert not tab.approve_button.isEnabled()
    assert not tab.confirm_button.isEnabled() and "already approved" in tab.confirm_button.toolTip()
    preparing.reload()
    qtbot.waitUntil(lambda: preparer.decision is not None, timeout=WAIT)
    assert not preparer.confirm_button.isEnabled()
    assert "four eyes" in preparer.confirm_button.toolTip()

    second = open_editor(qtbot, mark, view.id).decision
    assert second.confirm_button.isEnabled()
    assert "Confirming €84,000.00 is within your authority" in second.authority_note.text()


def test_the_authority_note_says_when_an_amount_is_beyond_anyone(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    maria = person(ctx, "maria", Role.CREDIT_MANAGER)
    view = pending_approval(ctx, application(ctx, "500000").id, ctx.actor)
    tab = open_editor(qtbot, maria, view.id).decision
    assert "Approving €500,000.00 is more than you may grant" in tab.authority_note.text()

    dialog = DecisionDialog(maria, view, "approved", [], authority=tab.authority)
    qtbot.addWidget(dialog)
    assert "more than you may grant" in dialog.authority_note.text()
    dialog.credit_limit.setText("40000")
    assert "Approving €40,000.00 is within your own authority." in dialog.authority_note.text()


# 4, 11 -----------------------------------------------------------------------------------------
def test_queue_columns_fit_and_export_has_currency_and_overdue(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, tmp_path
) -> None:
    long_name = "Fresh Start Gesellschaft mit beschränkter Haftung & Co. KG"
    apps.create_application(
        ctx.db,
        ctx.actor,
        {
            "customer_number": "NEW-1",
            "applicant_name": long_name,
            "currency": "PLN",
            "requested_limit": "40000",
        },
    )
    queue = ApplicationQueue(ctx)
    qtbot.addWidget(queue)
    queue.show()
    qtbot.waitUntil(lambda: not queue.loading and bool(queue.rows_shown()), timeout=WAIT)
    applicant = 1
    width = queue.view.fontMetrics().horizontalAdvance(long_name)
    assert queue.view.columnWidth(applicant) >= width

    path = tmp_path / "queue.csv"
    queue.table.export_to(str(path))
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, row = list(csv.reader(handle))[:2]
    assert header[header.index("Requested") + 1] == "Currency"
    assert header[header.index("Due") + 1] == "Overdue"
    assert row[header.index("Requested")] == "40000.00" and row[header.index("Currency")] == "PLN"
    assert row[header.index("Overdue")] == "no"


# 5, 14, 15 -------------------------------------------------------------------------------------
def test_new_application_offers_terms_and_finds_customers_by_name(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = northwind(ctx)
    details = DetailsTab(ctx)
    qtbot.addWidget(details)
    details.show()
    terms = details.inputs["requested_terms_code"]
    qtbot.waitUntil(lambda: terms.count() > 2, timeout=WAIT)  # before any customer is named

    picker = details.customer_edit
    picker.setFocus()
    qtbot.keyClicks(picker, "northw")  # by name, as the order form finds customers
    qtbot.waitUntil(lambda: picker.names.stringList() != [], timeout=WAIT)
    assert picker.names.stringList() == ["N-1 · Northwind Traders"]
    picker.pick_text("N-1 · Northwind Traders")
    qtbot.waitUntil(
        lambda: details.inputs["applicant_name"].text() == "Northwind Traders", timeout=WAIT
    )
    assert details.customer_id == cid and "a new limit" in details.customer_note.text()


def test_details_not_editable_are_read_only_with_grouped_amounts(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "31400000", country="DE")
    view = pending_approval(ctx, view.id, ctx.actor)
    editor = open_editor(qtbot, ctx, view.id)
    limit = editor.details.inputs["requested_limit"]
    assert isinstance(limit, QLineEdit)
    assert limit.isEnabled() and limit.isReadOnly()
    assert limit.text() == formatting.money(Decimal("31400000"), "EUR") == "€31,400,000.00"
    country = editor.details.inputs["country"]
    palette = country.palette()
    assert palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text) == palette.color(
        QPalette.ColorGroup.Active, QPalette.ColorRole.Text
    )


# 6 ---------------------------------------------------------------------------------------------
def test_decision_prefills_a_requested_temporary_limit(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    until = date.today() + timedelta(days=90)
    view = application(ctx, "45000", requested_temporary_until=until.isoformat())
    view = pending_approval(ctx, view.id, ctx.actor)
    dialog = DecisionDialog(ctx, view, "approved", [])
    qtbot.addWidget(dialog)
    assert dialog.temporary_limit.text() == "45000.00"
    assert dialog.temporary_until.text() == until.isoformat()
    dialog.reason.setPlainText("Seasonal peak")
    decision, problems = dialog.decision()
    assert problems == {} and decision is not None
    assert decision.temporary_limit == Decimal("45000.00") and decision.temporary_until == until


# 7 ---------------------------------------------------------------------------------------------
def test_scorecard_says_how_missing_and_unbounded_figures_count(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = application(
        ctx,
        "30000",
        net_worth="300000",
        current_assets="250000",
        current_liabilities="0",
        years_in_business="12",
    )
    editor = open_editor(qtbot, ctx, view.id)
    editor.tabs.setCurrentIndex(SCORECARD)
    tab = editor.scorecard
    tab.score_button.click()
    qtbot.waitUntil(lambda: tab.result is not None, timeout=WAIT)
    factors = tab.result.factors
    bureau = next(f for f in factors if f.key == "bureau_score")
    assert bureau.missing
    text = tab.state.text()
    assert "count no points" not in text
    assert text.startswith("Not given, scored with the scorecard's points for a missing figure:")
    assert bureau.label in text
    ratio = next(n for n, f in enumerate(factors) if f.key == "current_ratio")
    assert tab.factors.model.index(ratio, 1).data() == "∞ (no current liabilities)"


# 8 ---------------------------------------------------------------------------------------------
def mnemonics(window: MainWindow) -> list[str]:
    """The Alt letters of the menu bar and of every button and check box shown."""
    texts = [a.text() for a in window.menuBar().actions()]
    texts += [b.text() for b in window.findChildren(QAbstractButton) if b.isVisible()]
    return [m.group(1).lower() for t in texts if (m := re.search(r"&([^&])", t))]


def test_alt_letters_are_unique_and_workflow_keys(ctx: UiContext, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    activate(qtbot, window)
    window.show_applications()
    area = window.credit_applications
    for index in (0, 1):
        area.tabs.setCurrentIndex(index)
        letters = mnemonics(window)
        assert len(letters) == len(set(letters)), letters
    editor = area.open_application(view.id)
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    for index in range(editor.tabs.count()):
        editor.tabs.setCurrentIndex(index)
        letters = mnemonics(window)
        assert len(letters) == len(set(letters)), (editor.tabs.tabText(index), letters)

    # Ctrl+Shift+S submits, Ctrl+Shift+V verifies the selected item, Ctrl+Shift+A approves.
    editor.tabs.setCurrentIndex(CHECKLIST)
    assert "Ctrl+Shift+S" in editor.submit_button.toolTip()
    qtbot.keyClick(
        editor,
        Qt.Key.Key_S,
        CTRL_SHIFT,
    )
    qtbot.waitUntil(lambda: state_of(editor) == "submitted", timeout=WAIT)
    item = editor.checklist.selected_item()
    assert "Ctrl+Shift+V" in editor.checklist.verify_button.toolTip()
    qtbot.keyClick(
        editor.checklist.item_table.view,
        Qt.Key.Key_V,
        CTRL_SHIFT,
    )
    qtbot.waitUntil(
        lambda: any(i.id == item.id and i.status == "verified" for i in editor.checklist.items),
        timeout=WAIT,
    )


def test_ctrl_shift_a_approves_in_the_decision_tab(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    maria = person(ctx, "maria", Role.CREDIT_MANAGER)
    view = pending_approval(ctx, application(ctx, "9000").id, ctx.actor)
    window = MainWindow(maria)
    qtbot.addWidget(window)
    activate(qtbot, window)
    window.show_applications()
    editor = window.credit_applications.open_application(view.id)
    qtbot.waitUntil(lambda: editor.application is not None and not editor.loading, timeout=WAIT)
    editor.tabs.setCurrentIndex(DECISION)
    assert "Ctrl+Shift+A" in editor.decision.approve_button.toolTip()
    seen: list[str] = []

    def look(dialog: QDialog) -> None:
        seen.append(dialog.windowTitle())
        dialog.reject()

    drive_modal(
        qtbot,
        lambda: qtbot.keyClick(
            editor.decision,
            Qt.Key.Key_A,
            CTRL_SHIFT,
        ),
        look,
    )
    assert seen and seen[0].startswith(f"Decide {view.number}")


# 13 --------------------------------------------------------------------------------------------
def test_tables_and_splitters_are_remembered(ctx: UiContext, qtbot, boxes) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    queue = window.credit_applications.queue
    qtbot.waitUntil(lambda: not queue.loading, timeout=WAIT)
    queue.view.setColumnWidth(1, 333)
    layout_memory.remember(queue.view)  # as a drag on the header does
    editor = window.credit_applications.open_application(view.id)
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    editor.tabs.setCurrentIndex(CHECKLIST)
    split = editor.checklist.findChild(QSplitter, "checklistSplit")
    split.setSizes([100, 400])
    sizes = split.sizes()
    layout_memory.remember(split)
    assert window.close()

    again = MainWindow(ctx)
    qtbot.addWidget(again)
    again.show()
    queue = again.credit_applications.queue
    qtbot.waitUntil(lambda: not queue.loading and bool(queue.rows_shown()), timeout=WAIT)
    assert queue.view.columnWidth(1) == 333  # not fitted to the contents over it
    assert queue.view.horizontalHeader().sortIndicatorSection() == -1  # the service's order
    editor = again.credit_applications.open_application(view.id)
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    editor.tabs.setCurrentIndex(CHECKLIST)
    qtbot.wait(50)
    assert editor.checklist.findChild(QSplitter, "checklistSplit").sizes() == sizes


# 16 --------------------------------------------------------------------------------------------
def test_a_policy_change_reloads_the_reviews(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = CreditApplicationsScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: not screen.reviews.loading, timeout=WAIT)
    reloads: list[int] = []
    screen.reviews.loaded.connect(lambda: reloads.append(1))
    ctx.signals.credit_policy_changed.emit()
    qtbot.waitUntil(lambda: reloads != [], timeout=WAIT)


# 17 --------------------------------------------------------------------------------------------
def test_ctrl_enter_saves_a_reason(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    given: list[str] = []
    dialog = ReasonDialog(ctx, "Withdraw", "Why?", given.append)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.reason, "Found another")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)  # a new line
    qtbot.keyClicks(dialog.reason, "supplier")
    assert given == [] and dialog.isVisible()
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    assert given == ["Found another\nsupplier"]


def test_ctrl_enter_in_the_decision_reason_saves(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    maria = person(ctx, "maria", Role.CREDIT_MANAGER)
    view = pending_approval(ctx, application(ctx, "9000").id, ctx.actor)
    dialog = DecisionDialog(maria, view, "approved", [])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.reason, "Twelve years in business")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT)
    assert apps.get_application(ctx.db, ctx.actor, view.id).state == "approved"


# 19 --------------------------------------------------------------------------------------------
def test_the_collections_count_never_widens_the_window(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = CollectionsScreen(ctx)
    qtbot.addWidget(screen)
    screen.show()
    qtbot.waitUntil(lambda: not screen.loading, timeout=WAIT)
    before = screen.minimumSizeHint().width()
    amounts = "  ·  ".join(["€1,234,567.89"] * 20)  # wider than any screen
    screen.count.setText(f"12,345 customers of 23,456  ·  overdue {amounts}")
    screen.layout().activate()
    assert screen.minimumSizeHint().width() <= before
    assert screen.width() < 2000


# 20 --------------------------------------------------------------------------------------------
def test_reference_amounts_in_the_application_currency(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = apps.create_application(
        ctx.db,
        ctx.actor,
        {
            "customer_number": "NEW-1",
            "applicant_name": "Kansai Trading",
            "currency": "JPY",
            "requested_limit": "9000000",
        },
    )
    apps.add_reference(
        ctx.db,
        ctx.actor,
        view.id,
        {"kind": "trade", "name": "Kyoto Supply", "highest_credit": "1500000"},
    )
    editor = open_editor(qtbot, ctx, view.id)
    editor.tabs.setCurrentIndex(REFERENCES)
    model = editor.references.table.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=WAIT)
    column = [c.key for c in model.columns].index("highest_credit")
    assert model.index(0, column).data() == formatting.money(Decimal("1500000"), "JPY")
    assert model.index(0, column).data() == "¥1,500,000"


def test_checklists_still_block_until_done(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """9: Send to approval comes on once every required item is verified or waived."""
    view = application(ctx, "9000")
    view = apps.submit(ctx.db, ctx.actor, view.id, view.version)
    view = apps.start_verification(ctx.db, ctx.actor, view.id, view.version)
    editor = open_editor(qtbot, ctx, view.id)
    assert not editor.approval_button.isEnabled()
    for item in checklists.list_items(ctx.db, ctx.actor, view.id):
        if item.required:
            checklists.waive_item(ctx.db, ctx.actor, item.id, item.version, "known customer")
    editor.reload()
    qtbot.waitUntil(lambda: editor.approval_button.isEnabled(), timeout=WAIT)
    assert editor.approval_button.toolTip() == APPROVAL_TIP


def test_only_what_the_user_changed_is_saved(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Columns fitted by the code are fitted again next time; a splitter or column the user
    moved is kept (a window's layout file holds nothing else)."""
    panel = TablePanel(ITEM_COLUMNS, "items")
    panel.view.setObjectName("itemsView")
    split = QSplitter(objectName="itemsSplit")
    split.addWidget(panel)
    split.addWidget(QLineEdit())
    qtbot.addWidget(split)
    layout_memory.restore_layouts(split)
    panel.set_rows([])  # fitted by the code: not the user's widths
    panel.view.setColumnWidth(1, 250)
    layout_memory.save_layouts(split)
    settings = layout_memory.window_settings()
    assert settings.value("layout/header/itemsView") is None
    assert settings.value("layout/splitter/itemsSplit") is None

    split.splitterMoved.emit(120, 1)  # what a drag of the handle sends
    panel.view.horizontalHeader().sectionMoved.emit(1, 1, 2)  # a column dragged elsewhere
    layout_memory.save_layouts(split)
    settings = layout_memory.window_settings()
    assert settings.value("layout/splitter/itemsSplit") is not None
    assert settings.value("layout/header/itemsView_columns") == str(len(ITEM_COLUMNS))
