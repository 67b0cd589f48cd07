"""The application editor's guards and dialogs on real widgets (SQLite): the refusal naming the
checklist items that block approval, the decision dialog's checks, a decision that waits for a
second approver and its confirmation, references, a waiver, and the Details tab's problems under
their fields and its save conflict that keeps the input."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog

from o2c_desktop.models import Role
from o2c_desktop.services import checklists, credit_applications, credit_decisions, documents
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_assign import AssignDialog
from o2c_desktop.ui.dialogs.application_reason import ReasonDialog
from o2c_desktop.ui.dialogs.application_reference import ReferenceDialog
from o2c_desktop.ui.dialogs.credit_decision import DecisionDialog
from o2c_desktop.ui.screens import application_decision as decision_tab
from o2c_desktop.ui.screens.application_editor import CHECKLIST, DECISION, ApplicationEditor
from o2c_desktop.ui.screens.credit_applications_screen import CreditApplicationsScreen
from tests.ui.test_credit_applications_gui import (
    WAIT,
    application,
    northwind,
    pending_approval,
    person,
    save,
    state_of,
    status_of,
)
from tests.ui.test_ledger_tab import drive_modal

apps = credit_applications


def open_editor(qtbot, ctx: UiContext, application_id: int) -> ApplicationEditor:  # type: ignore[no-untyped-def]
    editor = ApplicationEditor(ctx, application_id)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitUntil(lambda: editor.application is not None and not editor.loading, timeout=WAIT)
    return editor


def test_send_to_approval_names_the_items_still_pending(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    view = apps.submit(ctx.db, ctx.actor, view.id, view.version)
    view = apps.start_verification(ctx.db, ctx.actor, view.id, view.version)
    editor = open_editor(qtbot, ctx, view.id)
    editor.tabs.setCurrentIndex(CHECKLIST)
    required = [i.label for i in editor.checklist.items if i.required]
    assert required and "Still needed before approval" in editor.checklist.summary.text()

    # The button is off, its tooltip names the items still needed.
    assert not editor.approval_button.isEnabled()
    tip = editor.approval_button.toolTip()
    assert tip.startswith("Still needed before approval:")
    assert all(f"• {label}" in tip for label in required)
    # Should the service still refuse (another user's change meanwhile), the banner says why.
    editor._step(apps.send_to_approval)
    qtbot.waitUntil(lambda: editor.banner.isVisible(), timeout=WAIT)
    text = editor.banner.text()
    assert text.startswith("Not sent to approval: the checklist is not complete.")
    for label in required:
        assert f"• {label}: required, neither verified nor waived" in text
    assert state_of(editor) == "in_verification"


def test_decision_dialog_checks_before_sending(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    manager = person(ctx, "maria", Role.CREDIT_MANAGER)
    view = application(ctx, "9000")
    view = pending_approval(ctx, view.id, ctx.actor)
    dialog = DecisionDialog(manager, view, "conditional", [("NET30", "Net 30 days")])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.credit_limit.text() == "9000.00" and dialog.terms_code.currentData() == "NET30"
    assert dialog.conditions_caption.text() == "Conditions*"

    dialog.credit_limit.setText("12,5")
    dialog.temporary_limit.setText("15000")
    qtbot.keyClick(dialog.temporary_limit, Qt.Key.Key_Return)  # Enter saves
    shown = {name: label.text() for name, label in dialog.errors.items() if not label.isHidden()}
    assert set(shown) == {"credit_limit", "temporary_until", "conditions", "reason"}
    assert "misplaced thousands separator" in shown["credit_limit"]
    assert shown["temporary_until"] == "A temporary limit needs its last day."
    assert dialog.banner.text() == "Not saved: please correct the fields marked in red."
    assert dialog.result() != QDialog.DialogCode.Accepted

    # A decline asks only for the reason: the limits are not read.
    dialog.outcome.setCurrentIndex(dialog.outcome.findData("declined"))
    assert not dialog.credit_limit.isEnabled() and not dialog.conditions.isEnabled()
    decision, problems = dialog.decision()
    assert decision is None and list(problems) == ["reason"]
    dialog.reason.setPlainText("Too much debt")
    decision, problems = dialog.decision()
    assert problems == {} and decision == credit_decisions.DecisionInput(
        "declined", "Too much debt"
    )
    assert apps.get_application(ctx.db, ctx.actor, view.id).state == "pending_approval"


def test_above_own_authority_waits_for_a_second_approver(  # type: ignore[no-untyped-def]
    ctx: UiContext, qtbot, boxes, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Managers may grant 50,000 alone and 250,000 with a second approver: 120,000 is stored,
    said to await a second approver, and a second manager confirms it with Confirm."""
    first = person(ctx, "maria", Role.CREDIT_MANAGER)
    second = person(ctx, "mark", Role.CREDIT_MANAGER)
    view = application(ctx, "120000")
    view = pending_approval(ctx, view.id, ctx.actor)
    editor = open_editor(qtbot, first, view.id)
    editor.tabs.setCurrentIndex(DECISION)

    def approve(dialog: DecisionDialog) -> None:
        dialog.credit_limit.setText("120000")
        dialog.reason.setPlainText("Strong balance sheet")
        save(dialog)

    drive_modal(qtbot, editor.decision.approve_button.click, approve)
    qtbot.waitUntil(lambda: editor.decision.decision is not None, timeout=WAIT)
    assert boxes.texts("information") == [
        "Stored, not final yet: Maria's decision is above their own authority and awaits a "
        "second approver with the authority for it (Confirm)."
    ]
    assert state_of(editor) == "pending_approval"
    assert editor.decision.values["second"].text() == "awaited"
    assert not editor.decision.confirm_button.isEnabled()  # a second person confirms

    other = open_editor(qtbot, second, view.id)
    other.tabs.setCurrentIndex(DECISION)
    assert other.decision.confirm_button.isEnabled()
    assert not other.decision.approve_button.isEnabled()
    other.decision.confirm_button.click()  # the question is answered Yes
    qtbot.waitUntil(lambda: state_of(other) == "approved", timeout=WAIT)
    assert boxes.texts("question")[0].startswith(f"Confirm Maria's decision on {view.number}")
    decision = other.decision.decision
    assert decision is not None and decision.second_approver == "Mark"
    assert decision.credit_limit == Decimal("120000.00")
    assert other.decision.values["second"].text().startswith("Mark, ")

    # The decision letter, as PDF, where the user chose.
    letter = tmp_path / "letter.pdf"
    opened: list[str] = []
    monkeypatch.setattr(decision_tab, "ask_letter_path", lambda _parent, _name: str(letter))
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    assert other.decision.letter_button.isEnabled()
    other.decision.letter_button.click()
    qtbot.waitUntil(lambda: opened == [str(letter)], timeout=WAIT)
    assert letter.read_bytes().startswith(b"%PDF")


def test_references_and_a_waiver_through_their_dialogs(
    ctx: UiContext, qtbot, qtmodeltester
) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    editor = open_editor(qtbot, ctx, view.id)
    tab = editor.references

    def add(dialog: ReferenceDialog) -> None:
        save(dialog)  # no name yet
        qtbot.waitUntil(lambda: dialog.errors["name"].isVisible(), timeout=WAIT)
        assert dialog.errors["name"].text() == "required"
        dialog.inputs["name"].setText("Acme Supplies")
        dialog.inputs["highest_credit"].setText("12000")
        dialog.rating.setCurrentIndex(dialog.rating.findData("good"))
        save(dialog)

    drive_modal(qtbot, tab.add_button.click, add)
    qtbot.waitUntil(lambda: tab.table.model.rowCount() == 1, timeout=WAIT)
    qtmodeltester.check(tab.table.model)
    reference = tab.table.model.rows[0]
    assert (reference.kind, reference.name, reference.rating) == ("trade", "Acme Supplies", "good")
    assert reference.highest_credit == Decimal("12000.00")

    checklist = editor.checklist
    qtmodeltester.check(checklist.item_table.model)
    item = next(i for i in checklist.items if i.required)
    checklist.select_item(item.id)
    assert checklist.waive_button.isEnabled()  # the administrator may waive

    def waive(dialog: ReasonDialog) -> None:
        save(dialog)
        assert dialog.errors["reason"].isVisible()
        dialog.reason.setPlainText("Signed in person at the branch")
        save(dialog)

    drive_modal(qtbot, checklist.waive_button.click, waive)
    qtbot.waitUntil(
        lambda: next(i for i in checklist.items if i.id == item.id).status == "waived",
        timeout=WAIT,
    )
    waived = next(i for i in checklist.items if i.id == item.id)
    assert waived.waiver_reason == "Signed in person at the branch"
    clerk = person(ctx, "clara", Role.CREDIT_CLERK)
    theirs = open_editor(qtbot, clerk, view.id)
    assert not theirs.checklist.waive_button.isEnabled()  # clerks may not waive
    assert "may not waive" in theirs.checklist.waive_button.toolTip()


def test_details_problems_under_fields_and_a_conflict_keeps_the_input(
    ctx: UiContext, qtbot
) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    editor = open_editor(qtbot, ctx, view.id)
    details = editor.details
    details.inputs["requested_limit"].setText("-5")
    details.inputs["years_in_business"].setText("many")
    assert details.dirty
    details.save()
    qtbot.waitUntil(lambda: details.banner.isVisible(), timeout=WAIT)
    assert details.errors["requested_limit"].text() == "cannot be negative"
    assert details.errors["years_in_business"].text() == "a whole number from 0 to 300"
    assert not details.errors["net_worth"].isVisible()

    # A colleague saves first: the conflict says so, the input stays, the next Save wins.
    apps.update_application(ctx.db, ctx.actor, view.id, view.version, {"notes": "their note"})
    details.inputs["requested_limit"].setText("11000")
    details.inputs["years_in_business"].setText("8")
    details.save()
    qtbot.waitUntil(lambda: "was changed by" in details.banner.text(), timeout=WAIT)
    assert details.inputs["requested_limit"].text() == "11000"
    qtbot.waitUntil(lambda: details.base_version != view.version, timeout=WAIT)
    details.save()
    qtbot.waitUntil(lambda: not details.dirty, timeout=WAIT)
    stored = apps.get_application(ctx.db, ctx.actor, view.id)
    assert (stored.requested_limit, stored.years_in_business) == (Decimal("11000.00"), 8)


def test_score_now_shows_each_factor(ctx: UiContext, qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    view = application(
        ctx,
        "60000",
        net_worth="300000",
        current_assets="250000",
        current_liabilities="120000",
        total_liabilities="400000",
        years_in_business="12",
        bureau_score="710",
    )
    editor = open_editor(qtbot, ctx, view.id)
    tab = editor.scorecard
    editor.tabs.setCurrentWidget(tab)
    assert tab.state.text().startswith("Not scored yet")
    tab.score_button.click()
    qtbot.waitUntil(lambda: tab.result is not None, timeout=WAIT)
    result = tab.result
    assert tab.score.text() == str(result.score)
    assert tab.risk.text().startswith(result.risk_class)
    assert tab.basis.text() == result.limit_basis
    model = tab.factors.model
    qtmodeltester.check(model)
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == [
        f.label for f in result.factors
    ]
    ratio = next(r for r, f in enumerate(result.factors) if f.key == "current_ratio")
    assert model.index(ratio, 1).data() == "2.08"  # 250,000 / 120,000, shown to two places
    assert [p.value for p in tab.chart.points] == [f.weighted for f in result.factors]
    # The score is kept with the application: the queue and a new editor show it.
    qtbot.waitUntil(lambda: editor.application.score == result.score, timeout=WAIT)


def test_withdraw_and_assign(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    clerk = person(ctx, "clara", Role.CREDIT_CLERK)
    view = application(ctx, "9000")
    editor = open_editor(qtbot, ctx, view.id)

    def assign(dialog: AssignDialog) -> None:
        qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT)
        names = [dialog.user.itemText(i) for i in range(dialog.user.count())]
        # With the username: two people may share a display name; the user is "me".
        assert names[0] == "Nobody (unassigned)" and "Clara (clara)" in names
        assert f"{ctx.actor.display_name} ({ctx.actor.username}, me)" in names
        dialog.user.setCurrentIndex(dialog.user.findData(clerk.actor.user_id))
        save(dialog)

    drive_modal(qtbot, editor.assign_button.click, assign)
    qtbot.waitUntil(lambda: editor.application.assigned_to == "Clara", timeout=WAIT)
    assert "assigned to Clara" in editor.facts.text()

    def withdraw(dialog: ReasonDialog) -> None:
        dialog.reason.setPlainText("The customer found another supplier")
        save(dialog)

    drive_modal(qtbot, editor.withdraw_button.click, withdraw)
    qtbot.waitUntil(lambda: state_of(editor) == "withdrawn", timeout=WAIT)
    assert not any(
        b.isEnabled() for b in (editor.submit_button, editor.withdraw_button, editor.assign_button)
    )
    assert not editor.details.save_button.isEnabled()
    assert not editor.checklist.received_button.isEnabled()


def test_new_application_for_a_new_customer_or_a_number_typed(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Save straight after typing a customer number looks it up first; an unknown number is
    said under the field; without a customer it is an application for a new customer."""
    cid = northwind(ctx)
    screen = CreditApplicationsScreen(ctx)
    qtbot.addWidget(screen)
    editor = screen.new_application()
    details = editor.details
    details.customer_edit.setText("X-9")
    details.inputs["requested_limit"].setText("5000")
    details.save()
    qtbot.waitUntil(lambda: not details.errors["customer"].isHidden(), timeout=WAIT)
    assert details.errors["customer"].text() == "No customer has the number X-9."
    assert editor.application_id is None

    details.customer_edit.setText("N-1")
    details.save()  # looks N-1 up, fills in the applicant, then saves
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    assert (editor.application.kind, editor.application.customer_id) == ("limit_change", cid)
    assert editor.application.requested_limit == Decimal("5000.00")

    other = screen.new_application()
    form = other.details
    form.inputs["requested_limit"].setText("8000")
    form.save()
    qtbot.waitUntil(lambda: not form.banner.isHidden(), timeout=WAIT)
    assert form.errors["applicant_name"].text() == "required"
    assert form.errors["customer_number"].text() == "required for a new customer"
    form.inputs["applicant_name"].setText("Fresh Start GmbH")
    form.inputs["customer_number"].setText("NEW-1")
    form.save()
    qtbot.waitUntil(lambda: other.application is not None, timeout=WAIT)
    assert (other.application.kind, other.application.customer_id) == ("new_customer", None)
    assert other.tabs.isTabEnabled(CHECKLIST) and other.checklist.items


def test_reject_an_item_and_remove_its_document(ctx: UiContext, qtbot, tmp_path, boxes) -> None:  # type: ignore[no-untyped-def]
    view = application(ctx, "9000")
    item = next(i for i in checklists.list_items(ctx.db, ctx.actor, view.id) if i.required)
    scan = tmp_path / "blurry.png"
    scan.write_bytes(b"\x89PNG not really")
    documents.attach_document(
        ctx.db, ctx.actor, path=scan, application_id=view.id, checklist_item_id=item.id
    )
    editor = open_editor(qtbot, ctx, view.id)
    tab = editor.checklist
    tab.select_item(item.id)
    assert [d.filename for d in tab.document_table.model.rows] == ["blurry.png"]
    assert tab.reject_button.isEnabled() and tab.remove_button.isEnabled()

    def reject(dialog: ReasonDialog) -> None:
        dialog.reason.setPlainText("Unreadable scan")
        save(dialog)

    drive_modal(qtbot, tab.reject_button.click, reject)
    qtbot.waitUntil(lambda: status_of(editor, item.id) == "rejected", timeout=WAIT)
    rejected = next(i for i in tab.items if i.id == item.id)
    assert rejected.notes == "Unreadable scan"
    assert tab.received_button.isEnabled()  # it may come in again

    tab.select_item(item.id)
    tab.remove_button.click()  # the question is answered Yes
    qtbot.waitUntil(
        lambda: next(i for i in tab.items if i.id == item.id).documents == (), timeout=WAIT
    )
    assert boxes.texts("question") == ["Remove the file blurry.png?"]
    assert tab.hash_label.text() == ""
