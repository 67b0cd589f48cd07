"""The credit application flow on real widgets (SQLite): a clerk creates an application for an
existing customer in the editor, works the checklist (with an attached file and its SHA-256),
submits it and sends it to approval; a manager, in a context of their own on the same database,
approves it within their authority, and the customer's profile shows the new limit. The preparer
who tries to decide it is refused (four eyes)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from o2c_desktop.models import Role
from o2c_desktop.services import checklists, credit_applications, customers
from o2c_desktop.services.auth import Actor
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_attach import AttachDialog
from o2c_desktop.ui.dialogs.credit_decision import DecisionDialog
from o2c_desktop.ui.screens.application_editor import CHECKLIST, DECISION, ApplicationEditor
from o2c_desktop.ui.screens.credit_applications_screen import CreditApplicationsScreen
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.ui.test_ledger_tab import drive_modal

WAIT = 15_000


def person(ctx: UiContext, username: str, role: Role) -> UiContext:
    """Another user on the same database, in a window of their own (their own app signals)."""
    return UiContext(ctx.db, add_user(ctx.db, ctx.actor, username, role), AppSignals())


def northwind(ctx: UiContext, limit: str = "20000") -> int:
    detail = customers.create_customer(
        ctx.db,
        ctx.actor,
        {"number": "N-1", "name": "Northwind Traders", "credit_limit": limit, "city": "Bremen"},
    )
    return detail.id


def application(ctx: UiContext, limit: str, **values: Any) -> credit_applications.ApplicationView:
    """An application for Northwind (created here) of `limit`, with any other `values`."""
    return credit_applications.create_application(
        ctx.db, ctx.actor, {"customer_id": northwind(ctx), "requested_limit": limit, **values}
    )


def activate(qtbot, widget: Any) -> None:  # type: ignore[no-untyped-def]
    """Shown and the active window: keyboard shortcuts only reach an active window."""
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget, timeout=WAIT)


def state_of(editor: ApplicationEditor) -> str | None:
    return editor.application.state if editor.application is not None else None


def status_of(editor: ApplicationEditor, item_id: int) -> str:
    return next(i.status for i in editor.checklist.items if i.id == item_id)


def save(dialog: QDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()  # type: ignore[attr-defined]


def step(qtbot, editor: ApplicationEditor, button: Any, state: str) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.text()
    button.click()
    qtbot.waitUntil(lambda: state_of(editor) == state and not editor.busy, timeout=WAIT)


def create_in_editor(qtbot, screen: CreditApplicationsScreen, number: str, limit: str):  # type: ignore[no-untyped-def]
    """Ctrl+N, the customer's number (the applicant fills in from it), the limit, Save."""
    qtbot.keyClick(screen.queue.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    editor = screen.tabs.currentWidget()
    assert isinstance(editor, ApplicationEditor) and editor.application_id is None
    details = editor.details
    qtbot.keyClicks(details.customer_edit, number)
    qtbot.keyClick(details.customer_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: details.inputs["applicant_name"].text() != "", timeout=WAIT)
    for name, text in (
        ("requested_limit", limit),
        ("net_worth", "300000"),
        ("current_assets", "250000"),
        ("current_liabilities", "120000"),
        ("years_in_business", "12"),
    ):
        qtbot.keyClicks(details.inputs[name], text)
    qtbot.keyClick(
        details.inputs["years_in_business"], Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier
    )
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    return editor


def work_checklist(qtbot, editor: ApplicationEditor, upload: Path) -> str:  # type: ignore[no-untyped-def]
    """Received and Verify on every required item; a file attached to the first. Returns the
    SHA-256 the tab shows for the file."""
    tab = editor.checklist
    editor.tabs.setCurrentIndex(CHECKLIST)
    required = [i.id for i in tab.items if i.required]
    assert required, "the template gives required items"
    qtbot.waitUntil(lambda: tab.item_table.view.isVisible(), timeout=WAIT)

    tab.select_item(required[0])

    def attach(dialog: AttachDialog) -> None:
        qtbot.keyClicks(dialog.path, str(upload))
        qtbot.keyClicks(dialog.document_date, "2026-01-31")
        save(dialog)

    drive_modal(qtbot, tab.attach_button.click, attach)
    qtbot.waitUntil(lambda: status_of(editor, required[0]) == "received", timeout=WAIT)
    tab.select_item(required[0])
    qtbot.waitUntil(lambda: tab.hash_label.text() != "", timeout=WAIT)
    shown = tab.hash_label.text()

    for item_id in required:
        tab.select_item(item_id)
        if status_of(editor, item_id) == "pending":
            tab.received_button.click()
            qtbot.waitUntil(lambda i=item_id: status_of(editor, i) == "received", timeout=WAIT)
            tab.select_item(item_id)
        assert tab.verify_button.isEnabled()
        tab.verify_button.click()
        qtbot.waitUntil(lambda i=item_id: status_of(editor, i) == "verified", timeout=WAIT)
    assert "All" in tab.summary.text()
    return shown


def test_apply_verify_approve_and_see_the_new_limit(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, tmp_path: Path, boxes, monkeypatch
) -> None:
    cid = northwind(ctx)
    clerk = person(ctx, "clara", Role.CREDIT_CLERK)
    manager = person(ctx, "maria", Role.CREDIT_MANAGER)
    upload = tmp_path / "signed-application.pdf"
    upload.write_bytes(b"%PDF-1.4 signed by Northwind " * 40)

    # The clerk: a new application for Northwind, from the queue (Ctrl+N).
    screen = CreditApplicationsScreen(clerk)
    qtbot.addWidget(screen)
    activate(qtbot, screen)
    editor = create_in_editor(qtbot, screen, "N-1", "40000")
    view = editor.application
    assert view is not None
    assert (view.kind, view.customer_id, view.applicant_name) == (
        "limit_change",
        cid,
        "Northwind Traders",
    )
    assert view.requested_limit == Decimal("40000.00") and view.city == "Bremen"
    assert view.number in editor.title.text()
    assert editor.state.text() == "Draft"
    qtbot.waitUntil(lambda: screen.tabs.tabText(screen.tabs.currentIndex()) != "New application")

    sha = hashlib.sha256(upload.read_bytes()).hexdigest()
    assert sha in work_checklist(qtbot, editor, upload)
    editor.checklist.select_item(next(i.id for i in editor.checklist.items if i.required))
    documents = editor.checklist.document_table.model.rows
    assert [(d.filename, d.sha256, d.size_bytes) for d in documents] == [
        ("signed-application.pdf", sha, upload.stat().st_size)
    ]
    opened: list[str] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    editor.checklist.open_button.click()  # a verified copy, handed to the system's viewer
    qtbot.waitUntil(lambda: opened != [], timeout=WAIT)
    assert Path(opened[0]).read_bytes() == upload.read_bytes()

    step(qtbot, editor, editor.submit_button, "submitted")
    step(qtbot, editor, editor.verify_button, "in_verification")
    step(qtbot, editor, editor.approval_button, "pending_approval")
    assert not editor.banner.isVisible()
    # The queue followed (the applications_changed signal), with the state and the assignee.
    qtbot.waitUntil(
        lambda: [r.state for r in screen.queue.rows_shown()] == ["pending_approval"],
        timeout=WAIT,
    )
    assert screen.queue.rows_shown()[0].assigned_to == "Clara"

    # The manager, elsewhere: the customer's profile, and the application from the queue.
    profile = CustomerProfile(manager, cid)
    qtbot.addWidget(profile)
    qtbot.waitUntil(lambda: profile.header.limit.text() == "€20,000.00", timeout=WAIT)
    theirs = CreditApplicationsScreen(manager)
    qtbot.addWidget(theirs)
    theirs.show()
    qtbot.waitUntil(lambda: len(theirs.queue.rows_shown()) == 1, timeout=WAIT)
    theirs.queue.view.setCurrentIndex(theirs.queue.table.proxy.index(0, 0))
    qtbot.keyClick(theirs.queue.view, Qt.Key.Key_Return)
    approver = theirs.tabs.currentWidget()
    assert isinstance(approver, ApplicationEditor)
    qtbot.waitUntil(lambda: state_of(approver) == "pending_approval", timeout=WAIT)
    approver.tabs.setCurrentIndex(DECISION)
    assert not approver.decision.four_eyes.isVisible()
    assert approver.decision.approve_button.isEnabled()

    def approve(dialog: DecisionDialog) -> None:
        dialog.credit_limit.clear()
        qtbot.keyClicks(dialog.credit_limit, "40000")
        qtbot.keyClicks(dialog.reason, "Twelve years in business, pays on time")
        save(dialog)

    drive_modal(qtbot, approver.decision.approve_button.click, approve)
    qtbot.waitUntil(lambda: state_of(approver) == "approved", timeout=WAIT)
    decision = approver.decision.decision
    assert decision is not None and not decision.awaiting_second
    assert (decision.credit_limit, decision.first_approver) == (Decimal("40000.00"), "Maria")
    assert approver.decision.values["outcome"].text() == "Approved"
    assert approver.decision.letter_button.isEnabled()
    # The profile open in the manager's window shows the new limit without pressing F5.
    qtbot.waitUntil(lambda: profile.header.limit.text() == "€40,000.00", timeout=WAIT)
    assert customers.get_customer(ctx.db, ctx.actor, cid).credit_limit == Decimal("40000.00")
    assert boxes.shown == []


def test_the_preparer_cannot_approve_and_escape_cancels(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Four eyes: the manager who prepared and sent the application is told so on the tab, its
    decision buttons are off (the tooltip says why), and should the dialog be reached anyway the
    service's refusal is shown in it; Escape cancels, nothing is decided."""
    cid = northwind(ctx)
    manager = person(ctx, "maria", Role.CREDIT_MANAGER)
    db, actor = manager.db, manager.actor
    view = credit_applications.create_application(
        db, actor, {"customer_id": cid, "requested_limit": "30000"}
    )
    view = pending_approval(manager, view.id, ctx.actor)
    editor = ApplicationEditor(manager, view.id)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitUntil(lambda: state_of(editor) == "pending_approval", timeout=WAIT)
    editor.tabs.setCurrentIndex(DECISION)
    tab = editor.decision
    assert tab.four_eyes.isVisible()
    for button in (tab.approve_button, tab.conditional_button, tab.decline_button):
        assert not button.isEnabled() and "four eyes" in button.toolTip()
    assert tab.send_back_button.isEnabled()

    def try_to_approve(dialog: DecisionDialog) -> None:
        assert dialog.credit_limit.text() == "30000.00"  # not scored: the amount requested
        qtbot.keyClicks(dialog.reason, "Looks fine to me")
        save(dialog)
        qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
        assert dialog.banner.text().startswith("Not allowed: Maria prepared application")
        assert "four eyes" in dialog.banner.text()
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    dialog = drive_modal(qtbot, lambda: tab.decide("approved"), try_to_approve)
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert credit_applications.get_application(db, actor, view.id).state == "pending_approval"


def pending_approval(
    ctx: UiContext, application_id: int, waiver: Actor
) -> credit_applications.ApplicationView:
    """Through the services: every required item waived by `waiver`, then submitted, verified
    and sent to approval by the context's user."""
    db, actor = ctx.db, ctx.actor
    for item in checklists.list_items(db, actor, application_id):
        if item.required:
            checklists.waive_item(db, waiver, item.id, item.version, "known customer")
    view = credit_applications.get_application(db, actor, application_id)
    for move in (
        credit_applications.submit,
        credit_applications.start_verification,
        credit_applications.send_to_approval,
    ):
        view = move(db, actor, application_id, view.version)
    return view
