"""One credit application: who and what it is on top, the workflow buttons, and the Details,
References, Checklist, Scorecard and Decision tabs.

The buttons follow the state and the user's permissions: Submit (draft, Ctrl+Shift+S), Start
verification (submitted), Send to approval (in verification; off while a required checklist item
is neither verified nor waived, its tooltip names them, as does the banner should the service
still refuse), Return to verification…, Withdraw… and Assign…. Each change runs on a worker and
is announced with `applications_changed`, which makes every open view of applications (this one
too) load again; a final decision also announces the customer (`customer_changed`), so an open
profile shows the new limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.models.credit import (
    DRAFT,
    IN_VERIFICATION,
    KIND_NEW_CUSTOMER,
    OPEN_STATES,
    PENDING_APPROVAL,
    SUBMITTED,
)
from o2c_desktop.services import (
    checklists,
    credit_applications,
    credit_authority,
    credit_decisions,
    customers,
)
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_assign import AssignDialog
from o2c_desktop.ui.dialogs.application_reason import ReasonDialog
from o2c_desktop.ui.dialogs.form_support import banner
from o2c_desktop.ui.screens.application_checklist import ChecklistTab, blocking
from o2c_desktop.ui.screens.application_decision import DecisionTab
from o2c_desktop.ui.screens.application_details import DetailsTab
from o2c_desktop.ui.screens.application_references import ReferencesTab
from o2c_desktop.ui.screens.application_scorecard import ScorecardTab
from o2c_desktop.ui.screens.application_texts import KIND_LABELS, STATE_LABELS, label
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar

# While verification goes on, the applicant's figures and the checklist may still be worked.
WORKABLE_STATES = (DRAFT, SUBMITTED, IN_VERIFICATION)
DETAILS, REFERENCES, CHECKLIST, SCORECARD, DECISION = range(5)
BLOCKING_FIELD = "checklist"  # send_to_approval names each item that blocks it under this field
SUBMIT_KEYS = "Ctrl+Shift+S"
APPROVAL_TIP = "Every required checklist item must be verified or waived first"


@dataclass(frozen=True)
class Loaded:
    """Everything the editor shows, read on a worker in one go."""

    application: credit_applications.ApplicationView
    items: list[Any]  # checklists.ChecklistItemView
    decision: credit_decisions.DecisionView | None
    terms: list[tuple[str, str]]
    authority: credit_authority.Authority  # the user's, in the application's currency
    four_eyes: str | None  # why the user may not decide it (four eyes), or None


def load(ctx: UiContext, application_id: int) -> Loaded:
    db, actor = ctx.db, ctx.actor
    application = credit_applications.get_application(db, actor, application_id)
    return Loaded(
        application=application,
        items=checklists.list_items(db, actor, application_id),
        decision=credit_decisions.get_decision(db, actor, application_id),
        terms=customers.payment_terms(db),
        authority=credit_authority.my_authority(db, actor, application.currency),
        four_eyes=credit_decisions.four_eyes_refusal(db, actor, application_id),
    )


def refusal_text(error: O2CError) -> str:
    """A refused step as the banner says it: each problem on its own line, the checklist items
    that block approval by their label."""
    if not isinstance(error, ValidationFailed):
        return f"Not done: {error}"
    if all(p.field == BLOCKING_FIELD for p in error.problems):
        lines = "\n".join(f"• {p.message}" for p in error.problems)
        return f"Not sent to approval: the checklist is not complete.\n{lines}"
    lines = "\n".join(f"• {p.field}: {p.message}" for p in error.problems)
    return f"Not done:\n{lines}"


class ApplicationEditor(QWidget):
    title_changed = Signal(str)
    created = Signal(int)  # a new application was saved: its id
    open_customer = Signal(int)
    loaded = Signal()  # after each load

    def __init__(
        self,
        ctx: UiContext,
        application_id: int | None = None,
        customer_id: int | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.application_id = application_id
        self.application: credit_applications.ApplicationView | None = None
        self.busy = False
        self.loading = False
        self._announce_decision = False
        actor = ctx.actor

        self.title = QLabel("New credit application", objectName="applicationTitle")
        self.title.setStyleSheet("font-size: 15pt; font-weight: 600;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = QLabel(objectName="applicationState")
        self.state.setStyleSheet("font-size: 12pt; font-weight: 600;")
        self.facts = QLabel(objectName="applicationFacts")
        self.facts.setWordWrap(True)
        self.facts.setStyleSheet("color: #555;")
        self.banner = banner()

        # Alt letters free of the menu bar's (F, C, R, H) and of every tab's buttons.
        self.submit_button = QPushButton("S&ubmit", objectName="submitApplication")
        self.verify_button = QPushButton("Start ver&ification", objectName="startVerification")
        self.approval_button = QPushButton("Send to a&pproval", objectName="sendToApproval")
        self.return_button = QPushButton("Re&turn to verification…", objectName="returnToVerify")
        self.withdraw_button = QPushButton("&Withdraw…", objectName="withdrawApplication")
        self.assign_button = QPushButton("Assi&gn…", objectName="assignApplication")
        self.customer_button = QPushButton("Open customer", objectName="applicationCustomer")
        self.refresh_button = QPushButton("Refresh")
        self.permission = {
            self.submit_button: Permission.PREPARE_APPLICATIONS,
            self.verify_button: Permission.VERIFY_CHECKLIST,
            self.approval_button: Permission.PREPARE_APPLICATIONS,
            self.return_button: Permission.PREPARE_APPLICATIONS,
            self.withdraw_button: Permission.PREPARE_APPLICATIONS,
            self.assign_button: Permission.PREPARE_APPLICATIONS,
        }
        self.submit_button.setToolTip(f"Submit the application for verification ({SUBMIT_KEYS})")
        self.approval_button.setToolTip(APPROVAL_TIP)
        for button, permission in self.permission.items():
            if not actor.may(permission):
                button.setToolTip(refusal(actor, permission))

        self.tabs = QTabWidget(objectName="applicationTabs")
        self.details = DetailsTab(ctx, customer_id)
        self.references = ReferencesTab(ctx)
        self.checklist = ChecklistTab(ctx)
        self.scorecard = ScorecardTab(ctx)
        self.decision = DecisionTab(ctx)
        for widget, title in (
            (self.details, "Details"),
            (self.references, "References"),
            (self.checklist, "Checklist"),
            (self.scorecard, "Scorecard"),
            (self.decision, "Decision"),
        ):
            self.tabs.addTab(widget, title)

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar((self.title, 1), self.state))
        layout.addWidget(self.facts)
        layout.addLayout(
            toolbar(
                self.submit_button,
                self.verify_button,
                self.approval_button,
                self.return_button,
                self.withdraw_button,
                self.assign_button,
                STRETCH,
                self.customer_button,
                self.refresh_button,
            )
        )
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

        self.submit_button.clicked.connect(lambda: self._step(credit_applications.submit))
        self.verify_button.clicked.connect(
            lambda: self._step(credit_applications.start_verification)
        )
        self.approval_button.clicked.connect(
            lambda: self._step(credit_applications.send_to_approval)
        )
        self.return_button.clicked.connect(self.return_to_verification)
        self.withdraw_button.clicked.connect(self.withdraw)
        self.assign_button.clicked.connect(self.assign)
        self.customer_button.clicked.connect(self._open_customer)
        self.refresh_button.clicked.connect(self.reload)
        self.details.created.connect(self._created)
        self.details.saved.connect(lambda _view: self._changed())
        self.references.changed.connect(self._changed)
        self.checklist.changed.connect(self._changed)
        self.scorecard.scored.connect(lambda _result: self._changed())
        self.decision.changed.connect(self._changed)
        self.decision.decided.connect(self._decided)
        QShortcut(
            QKeySequence.StandardKey.Save,
            self,
            self.details.save,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(QKeySequence(SUBMIT_KEYS), self, self.submit_button.click)
        self._reload_timer = QTimer(self, singleShot=True, interval=0)
        self._reload_timer.timeout.connect(self.reload)
        ctx.signals.applications_changed.connect(self._reload_timer.start)

        if application_id is None:
            for index in range(1, self.tabs.count()):
                self.tabs.setTabEnabled(index, False)
            self._enable()
            self.facts.setText(
                "Fill in the details and save: the checklist comes from the matching template."
            )
        else:
            self._enable()
            self.reload()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        if self.application_id is None:
            return
        self._reload_timer.stop()
        self.loading = True
        application_id, ctx = self.application_id, self.ctx
        workers.submit(
            lambda: load(ctx, application_id),
            owner=self,
            on_done=self._show,
            on_failed=self._load_failed,
        )

    def _load_failed(self, error: O2CError) -> None:
        self.loading = False
        self.say(f"Cannot load the application: {error}")

    def _show(self, loaded: Loaded) -> None:
        view = loaded.application
        self.application = view
        self.loading = False
        workable = view.state in WORKABLE_STATES
        may_prepare = self.ctx.actor.may(Permission.PREPARE_APPLICATIONS)
        title = f"{view.number} · {view.applicant_name}"
        self.title.setText(f"{title} · {label(KIND_LABELS, view.kind)}")
        self.state.setText(label(STATE_LABELS, view.state))
        self.state.setStyleSheet(
            "font-size: 12pt; font-weight: 600;" + (" color: #b00020;" if view.overdue else "")
        )
        self.facts.setText(self._facts(view))
        self.details.set_terms(loaded.terms)
        self.details.show_application(view, workable and may_prepare)
        self.references.show_application(view, workable and may_prepare)
        self.checklist.show_items(view.id, loaded.items, workable)
        self.scorecard.show_application(view, view.state in OPEN_STATES)
        self.decision.show_decision(
            view, loaded.decision, loaded.terms, loaded.authority, loaded.four_eyes
        )
        self._enable()
        self.title_changed.emit(title)
        if self._announce_decision:
            self._announce_decision = False
            if view.customer_id is not None:
                self.ctx.signals.customer_changed.emit(view.customer_id)
            if view.kind == KIND_NEW_CUSTOMER:
                self.ctx.signals.customers_changed.emit()
        self.loaded.emit()

    @staticmethod
    def _facts(view: credit_applications.ApplicationView) -> str:
        currency = view.currency
        parts = [f"Requested {formatting.money(view.requested_limit, currency)}"]
        if view.current_limit is not None:
            parts.append(f"current limit {formatting.money(view.current_limit, currency)}")
        if view.customer_name:
            parts.append(f"customer {view.customer_number} {view.customer_name}")
        parts.append(f"prepared by {view.prepared_by}")
        if view.submitted_by:
            parts.append(f"submitted by {view.submitted_by}")
        parts.append(f"assigned to {view.assigned_to or 'nobody'}")
        if view.state in OPEN_STATES:
            days = view.age_in_state_days
            parts.append(f"{days} day{'' if days == 1 else 's'} in this state")
            if view.due_date is not None:
                parts.append(
                    f"due {formatting.day(view.due_date)}" + (" (OVERDUE)" if view.overdue else "")
                )
        return " · ".join(parts)

    def _enable(self) -> None:
        view, actor = self.application, self.ctx.actor
        state = view.state if view is not None else None
        allowed = {
            self.submit_button: state == DRAFT,
            self.verify_button: state == SUBMITTED,
            self.approval_button: state == IN_VERIFICATION,
            self.return_button: state == PENDING_APPROVAL,
            self.withdraw_button: state in OPEN_STATES,
            self.assign_button: state in OPEN_STATES,
        }
        for button, by_state in allowed.items():
            button.setEnabled(by_state and not self.busy and actor.may(self.permission[button]))
        left = blocking(self.checklist.items) if state == IN_VERIFICATION else []
        if left:  # the service would refuse it: say which items first
            self.approval_button.setEnabled(False)
            self.approval_button.setToolTip(
                "Still needed before approval:\n" + "\n".join(f"• {item}" for item in left)
            )
        elif actor.may(Permission.PREPARE_APPLICATIONS):
            self.approval_button.setToolTip(APPROVAL_TIP)
        self.customer_button.setEnabled(view is not None and view.customer_id is not None)
        self.refresh_button.setEnabled(view is not None)

    # -- changes ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _changed(self) -> None:
        """Something of the application changed: every view of applications loads again."""
        self.ctx.signals.applications_changed.emit()

    def _created(self, view: credit_applications.ApplicationView) -> None:
        self.application_id = view.id
        for index in range(self.tabs.count()):
            self.tabs.setTabEnabled(index, True)
        self.created.emit(view.id)
        self._changed()

    def _decided(self) -> None:
        self._announce_decision = True  # after the load: the customer's id (new customers too)

    def _unsaved_details(self) -> bool:
        if self.details.dirty:
            self.say("The details have changes not saved yet: save them first (Ctrl+S).")
            self.tabs.setCurrentIndex(DETAILS)
            return True
        return False

    def _step(self, fn: Any) -> None:
        """A workflow step with the version the user saw (a colleague's change is a conflict)."""
        view = self.application
        if view is None or self.busy or self._unsaved_details():
            return
        self.busy = True
        self._enable()

        def done(_view: Any) -> None:
            self.busy = False
            self.say("")
            self._changed()

        def failed(error: O2CError) -> None:
            self.busy = False
            self._enable()
            self.say(refusal_text(error))

        workers.submit(
            fn,
            self.ctx.db,
            self.ctx.actor,
            view.id,
            view.version,
            owner=self,
            on_done=done,
            on_failed=failed,
        )

    def _with_reason(self, title: str, prompt: str, fn: Any) -> None:
        view = self.application
        if view is None or self._unsaved_details():
            return
        db, actor = self.ctx.db, self.ctx.actor
        dialog = ReasonDialog(
            self.ctx,
            f"{title} {view.number}",
            prompt,
            lambda reason: fn(db, actor, view.id, view.version, reason),
            self,
        )
        if dialog.exec():
            self.say("")
            self._changed()

    def return_to_verification(self) -> None:
        self._with_reason(
            "Return to verification:",
            "What must be checked again before approval?",
            credit_applications.return_to_verification,
        )

    def withdraw(self) -> None:
        self._with_reason(
            "Withdraw",
            "Why is the application withdrawn? It is closed and stays in the history.",
            credit_applications.withdraw,
        )

    def assign(self) -> None:
        if self.application is None or self._unsaved_details():
            return
        if AssignDialog(self.ctx, self.application, self).exec():
            self._changed()

    def _open_customer(self) -> None:
        if self.application is not None and self.application.customer_id is not None:
            self.open_customer.emit(self.application.customer_id)
