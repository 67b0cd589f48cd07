"""GUI flows on real widgets: search, open a profile, create, edit, conflict, refused action."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

from o2c_desktop.models import Role
from o2c_desktop.services import activities, customers, users
from o2c_desktop.services.auth import Actor
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.customer_edit import CustomerDialog
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.models.customer_table import CustomerTableModel
from o2c_desktop.ui.screens.customer_profile import CustomerProfile

WAIT = 10_000


def make_customers(ctx: UiContext) -> list[customers.CustomerDetail]:
    rows = [
        {
            "number": "C-001",
            "name": "Zürich Uhren AG",
            "credit_limit": "50000",
            "segment": "Retail",
            "tax_id": "CHE123456789",
        },
        {
            "number": "C-002",
            "name": "Łukasz Budowa Sp. z o.o.",
            "credit_limit": "1000.50",
            "segment": "Enterprise",
            "on_hold": True,
        },
        {"number": "C-003", "name": "Acme Steel Ltd", "credit_limit": "0", "segment": "Retail"},
    ]
    return [customers.create_customer(ctx.db, ctx.actor, row) for row in rows]


@pytest.fixture
def window(ctx: UiContext, qtbot) -> MainWindow:  # type: ignore[no-untyped-def]
    make_customers(ctx)
    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(
        lambda: win.customer_list.model.rowCount() == 3 and win.customer_list.filters_loaded,
        timeout=WAIT,
    )
    return win


def test_list_shows_customers_sorted_by_name_with_count(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    model = window.customer_list.model
    names = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert names == ["Acme Steel Ltd", "Zürich Uhren AG", "Łukasz Budowa Sp. z o.o."]
    qtbot.waitUntil(lambda: window.customer_list.status.text() == "3 customers", timeout=WAIT)
    limit = model.index(names.index("Zürich Uhren AG"), 5)
    assert limit.data() == "50,000.00"
    assert limit.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight


def test_type_ahead_search_folds_accents(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = window.customer_list
    qtbot.keyClicks(screen.search, "lukasz")
    qtbot.waitUntil(
        lambda: screen.model.rowCount() == 1 and not screen.model.is_loading(), timeout=WAIT
    )
    assert screen.model.index(0, 0).data() == "C-002"
    screen.search.clear()
    qtbot.keyClicks(screen.search, "che1234")  # a tax ID prefix
    qtbot.waitUntil(
        lambda: screen.model.rowCount() == 1 and screen.model.index(0, 0).data() == "C-001",
        timeout=WAIT,
    )


def test_filters_and_sorting_run_in_sql(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = window.customer_list
    screen.hold.setCurrentIndex(screen.hold.findData(True))
    qtbot.waitUntil(lambda: screen.model.rowCount() == 1, timeout=WAIT)
    assert screen.model.index(0, 0).data() == "C-002"
    screen.hold.setCurrentIndex(0)
    screen.segment.setCurrentIndex(screen.segment.findData("Retail"))
    qtbot.waitUntil(lambda: screen.model.rowCount() == 2, timeout=WAIT)
    screen.view.sortByColumn(5, Qt.SortOrder.DescendingOrder)  # credit limit, high first
    qtbot.waitUntil(
        lambda: (
            screen.model.query.sort_key == "credit_limit"
            and screen.model.rowCount() == 2
            and screen.model.index(0, 0).data() == "C-001"
        ),
        timeout=WAIT,
    )


def test_customer_model_passes_modeltester(ctx: UiContext, qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    make_customers(ctx)
    model = CustomerTableModel(
        lambda q, o, n: customers.list_customers(ctx.db, ctx.actor, q, o, n),
        lambda q: customers.count_customers(ctx.db, ctx.actor, q),
    )
    model.refresh()
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=WAIT)
    qtmodeltester.check(model)


def test_lazy_fetching_pages_through_a_long_list(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    from o2c_desktop.services import demo_data

    demo_data.generate(ctx.db, ctx.actor, 450, seed=5)
    model = CustomerTableModel(
        lambda q, o, n: customers.list_customers(ctx.db, ctx.actor, q, o, n),
        lambda q: customers.count_customers(ctx.db, ctx.actor, q),
    )
    model.refresh()
    qtbot.waitUntil(lambda: model.rowCount() == customers.PAGE_SIZE, timeout=WAIT)
    assert model.canFetchMore()
    while model.canFetchMore() or model.is_loading():
        model.fetchMore()
        qtbot.wait(20)
    assert model.rowCount() == 450
    assert model.total == 450
    assert len({row.id for row in model.rows}) == 450


def test_open_profile_shows_credit_header_and_tabs(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = window.customer_list
    row = next(r for r in range(3) if screen.model.index(r, 0).data() == "C-002")
    screen.view.setFocus()
    screen.view.setCurrentIndex(screen.model.index(row, 1))
    qtbot.keyClick(screen.view, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            isinstance(window.customer_tabs.currentWidget(), CustomerProfile)
            and window.customer_tabs.currentWidget().detail is not None
        ),
        timeout=WAIT,
    )
    profile: CustomerProfile = window.customer_tabs.currentWidget()
    assert profile.header.limit.text() == "€1,000.50"
    assert "ON HOLD" in profile.header.hold.text()
    assert [profile.tabs.tabText(i) for i in range(profile.tabs.count())] == [
        "&Overview",
        "&Contacts",
        "&Activity",
        "&Ledger",
        "Collect&ions",
        "&History",
    ]
    assert window.customer_tabs.tabText(window.customer_tabs.currentIndex()).startswith("C-002")
    assert profile.history.model.rowCount() > 0  # the create was audited


def test_create_customer_through_the_dialog(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = CustomerDialog(ctx)
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.inputs["number"], "N-100")
    qtbot.keyClicks(dialog.inputs["name"], "Nordwind Logistik GmbH")
    qtbot.keyClicks(dialog.inputs["credit_limit"], "12345678901.23")
    qtbot.keyClicks(dialog.inputs["email"], "ap@nordwind.example")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=WAIT)
    stored = customers.get_customer(ctx.db, ctx.actor, dialog.saved.id)
    assert stored.credit_limit == Decimal("12345678901.23")
    assert stored.values["email"] == "ap@nordwind.example"


def test_validation_is_shown_next_to_the_field(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    make_customers(ctx)
    dialog = CustomerDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.inputs["number"], "C-001")  # taken
    qtbot.keyClicks(dialog.inputs["name"], "Duplicate")
    qtbot.keyClicks(dialog.inputs["email"], "not-an-email")
    qtbot.keyClicks(dialog.inputs["credit_limit"], "-5")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert "e-mail" in dialog.errors["email"].text()
    assert "negative" in dialog.errors["credit_limit"].text()
    assert dialog.result() == 0
    dialog.inputs["email"].clear()
    dialog.inputs["credit_limit"].clear()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.errors["number"].isVisible(), timeout=WAIT)
    assert "already has this number" in dialog.errors["number"].text()
    assert dialog.saved is None


def test_edit_conflict_names_the_other_user_and_keeps_input(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    first = make_customers(ctx)[0]
    other_row = users.create_user(
        ctx.db, ctx.actor, "maria", "Maria Manager", [Role.CREDIT_MANAGER]
    )
    maria = Actor(other_row.id, other_row.username, other_row.display_name, other_row.roles)
    dialog = CustomerDialog(ctx, customers.get_customer(ctx.db, ctx.actor, first.id))
    qtbot.addWidget(dialog)
    dialog.show()
    # Maria saves first, while our dialog is open.
    customers.update_customer(ctx.db, maria, first.id, first.version, {"credit_limit": "40000"})
    limit: QLineEdit = dialog.inputs["credit_limit"]
    limit.clear()
    qtbot.keyClicks(limit, "75000")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    assert "maria" in dialog.banner.text()
    assert "Credit limit is now 40000.00" in dialog.banner.text()
    assert limit.text() == "75000"  # the typed input survives
    assert customers.get_customer(ctx.db, ctx.actor, first.id).credit_limit == Decimal("40000")
    # Saving again is a deliberate overwrite of Maria's change.
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=WAIT)
    assert customers.get_customer(ctx.db, ctx.actor, first.id).credit_limit == Decimal("75000")


def test_collector_is_refused_with_the_reason(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    first = make_customers(ctx)[0]
    row = users.create_user(ctx.db, ctx.actor, "colin", "Colin Collector", [Role.COLLECTOR])
    colin = UiContext(ctx.db, Actor(row.id, row.username, row.display_name, row.roles), ctx.signals)
    dialog = CustomerDialog(colin, customers.get_customer(ctx.db, ctx.actor, first.id))
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.inputs["credit_limit"].isEnabled()  # greyed out …
    assert "credit manager" in dialog.inputs["credit_limit"].toolTip()
    dialog.inputs["name"].clear()
    qtbot.keyClicks(dialog.inputs["name"], "Renamed by a collector")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    # … and refused by the service, which says why.
    assert "may not edit customer details" in dialog.banner.text()
    assert "credit clerk" in dialog.banner.text()
    assert customers.get_customer(ctx.db, ctx.actor, first.id).name == "Zürich Uhren AG"


def test_add_note_from_the_activity_tab(window: MainWindow, ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    customer_id = window.customer_list.model.rows[0].id
    profile = window.open_customer(customer_id)
    qtbot.waitUntil(lambda: profile.detail is not None, timeout=WAIT)
    profile.tabs.setCurrentWidget(profile.activity_tab)
    qtbot.keyClicks(profile.note_edit, "Promised to pay on Friday")
    qtbot.keyClick(profile.note_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: profile.timeline.count() == 1, timeout=WAIT)
    assert "Promised to pay on Friday" in profile.timeline.item(0).text()
    assert [a.body for a in activities.list_activities(ctx.db, ctx.actor, customer_id)] == [
        "Promised to pay on Friday"
    ]


def test_export_current_view_to_csv_and_xlsx(window: MainWindow, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    screen = window.customer_list
    qtbot.keyClicks(screen.search, "zur")
    qtbot.waitUntil(
        lambda: screen.model.rowCount() == 1 and screen.model.query.search == "zur", timeout=WAIT
    )
    target = tmp_path / "view.csv"
    screen.export_to(str(target))
    qtbot.waitUntil(target.exists, timeout=WAIT)
    qtbot.wait(200)
    with target.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["Number", "Name"]
    assert rows[1][:2] == ["C-001", "Zürich Uhren AG"]
    assert rows[1][5] == "50000.00"
    xlsx = tmp_path / "view.xlsx"
    screen.export_to(str(xlsx))
    qtbot.waitUntil(xlsx.exists, timeout=WAIT)
    qtbot.wait(300)
    sheet = load_workbook(xlsx).active
    assert sheet.max_row == 2
    assert sheet.cell(2, 2).value == "Zürich Uhren AG"


def test_keyboard_shortcuts_and_remembered_layout(
    window: MainWindow, ctx: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    window.customer_list.view.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.customer_list.search.hasFocus()
    window.resize(window.width(), 500)  # the offscreen screen is 800 px wide: vary the height
    window.customer_list.view.setColumnWidth(1, 333)
    window.close()
    again = MainWindow(ctx)
    qtbot.addWidget(again)
    assert again.height() == 500
    assert again.customer_list.view.columnWidth(1) == 333
