"""The credit areas in the main window: where they sit, Ctrl+Shift+N for a new application
(for the customer shown), Ctrl+N inside the Credit applications area, and the profile's
"New credit application…" and temporary limit."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from o2c_desktop.models import Role
from o2c_desktop.services import credit_decisions
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.main_window import MainWindow
from o2c_desktop.ui.screens.application_editor import ApplicationEditor
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from tests.ui.test_credit_applications_gui import (
    WAIT,
    activate,
    application,
    northwind,
    pending_approval,
    person,
)


def test_credit_areas_and_new_application_keys(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = northwind(ctx)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    activate(qtbot, window)
    areas = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert areas[:4] == ["Customers", "Collections", "Credit applications", "Credit holds"]

    # From a customer's profile, Ctrl+Shift+N: an application for a new limit for them.
    profile = window.open_customer(cid)
    qtbot.waitUntil(lambda: profile.detail is not None, timeout=WAIT)
    assert profile.application_button.isEnabled()
    activate(qtbot, window)
    qtbot.keyClick(
        profile,
        Qt.Key.Key_N,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    area = window.credit_applications
    assert window.stack.currentWidget() is area
    editor = area.tabs.currentWidget()
    assert isinstance(editor, ApplicationEditor) and editor.details.customer_id == cid
    qtbot.waitUntil(
        lambda: editor.details.inputs["applicant_name"].text() == "Northwind Traders", timeout=WAIT
    )
    assert not editor.details.customer_edit.isEnabled()

    # In the area, Ctrl+N is a new application (not a new customer) and Ctrl+W closes its tab.
    assert window.new_action.shortcut() == QKeySequence()
    tabs_before = area.tabs.count()
    qtbot.keyClick(area.tabs.currentWidget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert area.tabs.count() == tabs_before + 1
    qtbot.keyClick(area.tabs.currentWidget(), Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert area.tabs.count() == tabs_before
    window.show_customers()
    assert window.new_action.shortcut() == QKeySequence(QKeySequence.StandardKey.New)

    # The profile's button does the same.
    window.open_customer(cid)
    profile.application_button.click()
    assert window.stack.currentWidget() is area and area.tabs.count() == tabs_before + 1


def test_profile_shows_a_temporary_limit_next_to_the_limit(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    manager = person(ctx, "maria", Role.CREDIT_MANAGER)
    view = application(ctx, "45000")
    view = pending_approval(ctx, view.id, ctx.actor)
    until = date.today() + timedelta(days=60)
    credit_decisions.decide(
        manager.db,
        manager.actor,
        view.id,
        view.version,
        credit_decisions.DecisionInput(
            "approved",
            "seasonal peak",
            credit_limit="30000",
            temporary_limit="45000",
            temporary_until=until,
        ),
    )
    profile = CustomerProfile(ctx, view.customer_id)
    qtbot.addWidget(profile)
    qtbot.waitUntil(lambda: profile.header.limit.text() == "€30,000.00", timeout=WAIT)
    assert not profile.header.temporary.isHidden()
    assert profile.header.temporary.text().startswith("Temporary limit €45,000.00 until ")
