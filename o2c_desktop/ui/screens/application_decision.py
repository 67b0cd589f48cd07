"""An application's Decision tab: the decision taken (or awaiting its second approver), and the
buttons to take one: Approve…, Conditional…, Decline…, Confirm (the second approver), Send back…
(to verification), and the decision letter as PDF.

The service enforces four eyes and the approval authority; this tab says beforehand what it
will refuse, so nobody is surprised: the buttons are off (their tooltip says why) for whoever
prepared or submitted the application, or confirms their own approval, and for a user without
authority in its currency; the user's authority and what the proposed amount needs (alone, a
second approver, more than they may grant) are shown above the buttons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.models.credit import (
    OUTCOME_APPROVED,
    OUTCOME_CONDITIONAL,
    OUTCOME_DECLINED,
    PENDING_APPROVAL,
)
from o2c_desktop.services import credit_applications, credit_decisions, decision_letters
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.credit_authority import Authority
from o2c_desktop.services.customer_fields import RISK_CLASSES
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.application_reason import ReasonDialog
from o2c_desktop.ui.dialogs.credit_decision import DecisionDialog, authority_note, proposed_amount
from o2c_desktop.ui.dialogs.form_support import BANNER_STYLE
from o2c_desktop.ui.screens.application_texts import OUTCOME_LABELS, label
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import confirm, show_error, show_info

FOUR_EYES = "You prepared or submitted this application: another person must decide it (four eyes)."
OWN_APPROVAL = "You approved it first: a second person must confirm it (four eyes)."
NOT_PENDING = "Only an application pending approval is decided."


APPROVE_KEYS = "Ctrl+Shift+A"


def ask_letter_path(parent: QWidget | None, suggested: str) -> str | None:
    """Where to write the decision letter (patched in tests)."""
    path, _ = QFileDialog.getSaveFileName(parent, "Decision letter", suggested, "PDF (*.pdf)")
    if not path:
        return None
    return path if path.lower().endswith(".pdf") else path + ".pdf"


def awaiting_text(decision: credit_decisions.DecisionView) -> str:
    return (
        f"Stored, not final yet: {decision.first_approver}'s decision is above their own "
        "authority and awaits a second approver with the authority for it (Confirm)."
    )


class DecisionTab(QWidget):
    changed = Signal()  # a decision was taken, confirmed or sent back
    decided = Signal()  # final: the customer's limit changed (or a new customer was created)

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.application: credit_applications.ApplicationView | None = None
        self.decision: credit_decisions.DecisionView | None = None
        self.terms: list[tuple[str, str]] = []
        self.authority: Authority | None = None
        self.four_eyes_reason: str | None = None
        self.may_decide = ctx.actor.may(Permission.DECIDE_APPLICATIONS)
        self.status = QLabel(objectName="decisionStatus")
        self.status.setWordWrap(True)
        self.authority_note = QLabel(objectName="authorityNote")
        self.authority_note.setWordWrap(True)
        self.authority_note.setStyleSheet("color: #555;")
        self.four_eyes = QLabel(FOUR_EYES, objectName="fourEyesNote")
        self.four_eyes.setWordWrap(True)
        self.four_eyes.setStyleSheet(BANNER_STYLE)
        self.values = {
            name: QLabel(objectName=f"decision_{name}")
            for name in (
                "outcome",
                "credit_limit",
                "temporary",
                "risk_class",
                "terms_code",
                "next_review_date",
                "conditions",
                "reason",
                "first",
                "second",
            )
        }
        captions = {
            "outcome": "Outcome",
            "credit_limit": "Credit limit",
            "temporary": "Temporary limit",
            "risk_class": "Risk class",
            "terms_code": "Payment terms",
            "next_review_date": "Next review",
            "conditions": "Conditions",
            "reason": "Reason",
            "first": "Decided by",
            "second": "Confirmed by",
        }
        self.form = QWidget(objectName="decisionForm")
        form = QFormLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        for name, value in self.values.items():
            value.setWordWrap(True)
            form.addRow(captions[name], value)
        self.approve_button = QPushButton("&Approve…", objectName="approve")
        QShortcut(QKeySequence(APPROVE_KEYS), self, self.approve_button.click)
        self.conditional_button = QPushButton("C&onditional…", objectName="approveConditional")
        self.decline_button = QPushButton("&Decline…", objectName="decline")
        self.confirm_button = QPushButton("Co&nfirm", objectName="confirmDecision")
        self.send_back_button = QPushButton("Send &back…", objectName="sendBack")
        self.letter_button = QPushButton("Decision &letter PDF…", objectName="decisionLetter")
        self.tips = {
            self.approve_button: f"Approve, with the limit, terms and next review ({APPROVE_KEYS})",
            self.conditional_button: "Approve on conditions the customer must meet",
            self.decline_button: "Decline, with the reason (the letter quotes it)",
            self.confirm_button: "Second approver: make the stored decision final",
            self.send_back_button: "Back to verification, with the reason",
        }
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.four_eyes)
        layout.addWidget(self.form)
        layout.addStretch(1)
        layout.addWidget(self.authority_note)
        layout.addLayout(
            toolbar(
                self.approve_button,
                self.conditional_button,
                self.decline_button,
                self.confirm_button,
                self.send_back_button,
                STRETCH,
                self.letter_button,
            )
        )
        self.approve_button.clicked.connect(lambda: self.decide(OUTCOME_APPROVED))
        self.conditional_button.clicked.connect(lambda: self.decide(OUTCOME_CONDITIONAL))
        self.decline_button.clicked.connect(lambda: self.decide(OUTCOME_DECLINED))
        self.confirm_button.clicked.connect(self.confirm_decision)
        self.send_back_button.clicked.connect(self.send_back)
        self.letter_button.clicked.connect(self.write_letter)
        self.four_eyes.hide()

    # -- showing ---------------------------------------------------------------------------
    def show_decision(
        self,
        view: credit_applications.ApplicationView,
        decision: credit_decisions.DecisionView | None,
        terms: list[tuple[str, str]],
        authority: Authority | None = None,
        four_eyes: str | None = None,
    ) -> None:
        """`authority`: the user's in the application's currency (None: not known);
        `four_eyes`: the service's reason why the user may not decide it, if any."""
        self.application, self.decision, self.terms = view, decision, terms
        self.authority = authority
        self.four_eyes_reason = four_eyes if four_eyes is not None else self._prepared_text()
        self.four_eyes.setText(self.four_eyes_reason or FOUR_EYES)
        self.four_eyes.setVisible(view.state == PENDING_APPROVAL and bool(self.four_eyes_reason))
        if decision is None:
            self.status.setText(
                "Waiting for a decision."
                if view.state == PENDING_APPROVAL
                else "No decision yet: the application goes to approval once verified."
            )
            self.form.hide()
        else:
            self.form.show()
            self._show_values(view.currency, decision)
            self.status.setText(
                awaiting_text(decision) if decision.awaiting_second else "Final decision."
            )
        self._show_authority()
        self._enable()

    def _prepared_text(self) -> str | None:
        """Four eyes as far as the view tells (preparer, submitter), when the service's fuller
        answer (editors, who sent it to approval) was not loaded."""
        view = self.application
        me = self.ctx.actor.user_id
        prepared = view is not None and me in (view.prepared_by_id, view.submitted_by_id)
        return FOUR_EYES if prepared else None

    def _show_authority(self) -> None:
        """The user's authority and what the amount at stake needs, while it can be decided."""
        view, decision, authority = self.application, self.decision, self.authority
        shown = (
            view is not None
            and view.state == PENDING_APPROVAL
            and self.may_decide
            and authority is not None
        )
        self.authority_note.setVisible(shown)
        if not shown:
            return
        assert view is not None and authority is not None
        if decision is not None and decision.awaiting_second:
            amount, verb = decision.amount, "Confirming"
        else:
            amount, verb = proposed_amount(view), "Approving"
        self.authority_note.setText(authority_note(authority, amount, view.currency, verb))

    def _show_values(self, currency: str, decision: credit_decisions.DecisionView) -> None:
        temporary = ""
        if decision.temporary_limit is not None:
            temporary = formatting.money(decision.temporary_limit, currency)
            if decision.temporary_until is not None:
                temporary += f" until {formatting.day(decision.temporary_until)}"
        texts = {
            "outcome": label(OUTCOME_LABELS, decision.outcome),
            "credit_limit": formatting.money(decision.credit_limit, currency),
            "temporary": temporary,
            "risk_class": RISK_CLASSES.get(decision.risk_class or "", decision.risk_class or ""),
            "terms_code": decision.terms_code or "",
            "next_review_date": formatting.day(decision.next_review_date),
            "conditions": decision.conditions or "",
            "reason": decision.reason,
            "first": f"{decision.first_approver}, {formatting.moment(decision.first_at)}",
            "second": (
                f"{decision.second_approver}, {formatting.moment(decision.second_at)}"
                if decision.second_approver
                else ("awaited" if decision.awaiting_second else "not needed")
            ),
        }
        for name, text in texts.items():
            self.values[name].setText(text)

    def _refusals(self) -> dict[QPushButton, str]:
        """Why each decision button is off now ("" when it is on)."""
        view, decision, authority = self.application, self.decision, self.authority
        if not self.may_decide:
            why = refusal(self.ctx.actor, Permission.DECIDE_APPLICATIONS)
            return dict.fromkeys(self.tips, why)
        if view is None or view.state != PENDING_APPROVAL:
            return dict.fromkeys(self.tips, NOT_PENDING)
        if self.four_eyes_reason:
            return {**dict.fromkeys(self.tips, self.four_eyes_reason), self.send_back_button: ""}
        none = f"You have no approval authority in {view.currency}."
        deciding = (self.approve_button, self.conditional_button, self.decline_button)
        why = dict.fromkeys(self.tips, "")
        for button in deciding:
            if decision is not None:
                why[button] = "Decided already: the decision awaits its second approver."
            elif authority is not None and authority.joint_limit <= 0:
                why[button] = none
            elif authority is not None and button is self.decline_button:
                why[button] = none if authority.alone_max <= 0 else ""
        if decision is None or not decision.awaiting_second:
            why[self.confirm_button] = "No decision awaits a second approver."
        elif decision.first_approver_id == self.ctx.actor.user_id:
            why[self.confirm_button] = OWN_APPROVAL
        elif authority is not None and authority.joint_limit < decision.amount:
            why[self.confirm_button] = (
                f"Confirming {formatting.money(decision.amount, view.currency)} needs more "
                f"authority than yours: {authority.describe()}."
            )
        return why

    def _enable(self) -> None:
        for button, why in self._refusals().items():
            button.setEnabled(not why)
            button.setToolTip(why or self.tips[button])
        decision = self.decision
        self.letter_button.setEnabled(decision is not None and not decision.awaiting_second)

    # -- actions ---------------------------------------------------------------------------
    def decide(self, outcome: str) -> DecisionDialog | None:
        if self.application is None:
            return None
        dialog = DecisionDialog(
            self.ctx, self.application, outcome, self.terms, self, authority=self.authority
        )
        if dialog.exec():
            self._decided(dialog.result_value)
        return dialog

    def _decided(self, decision: credit_decisions.DecisionView) -> None:
        self.changed.emit()
        if decision.awaiting_second:
            show_info(self, awaiting_text(decision))
        else:
            self.decided.emit()

    def confirm_decision(self) -> None:
        view, decision = self.application, self.decision
        if view is None or decision is None:
            return
        if not confirm(
            self,
            f"Confirm {decision.first_approver}'s decision on {view.number} "
            f"({label(OUTCOME_LABELS, decision.outcome).lower()}, "
            f"{formatting.money(decision.credit_limit, view.currency)})?",
        ):
            return
        self.confirm_button.setEnabled(False)

        def failed(error: O2CError) -> None:
            self._enable()
            show_error(self, error)

        workers.submit(
            credit_decisions.confirm_decision,
            self.ctx.db,
            self.ctx.actor,
            view.id,
            view.version,
            owner=self,
            on_done=self._confirmed,
            on_failed=failed,
        )

    def _confirmed(self, _decision: credit_decisions.DecisionView) -> None:
        self.changed.emit()
        self.decided.emit()

    def send_back(self) -> None:
        view = self.application
        if view is None:
            return
        db, actor = self.ctx.db, self.ctx.actor
        dialog = ReasonDialog(
            self.ctx,
            f"Send {view.number} back to verification",
            "What must be checked again? The application returns to verification.",
            lambda reason: credit_decisions.send_back(db, actor, view.id, view.version, reason),
            self,
        )
        if dialog.exec():
            self.changed.emit()

    def write_letter(self) -> None:
        view = self.application
        if view is None:
            return
        path = ask_letter_path(self, f"{view.number}-decision.pdf")
        if not path:
            return

        def written(out: Path) -> None:
            self.letter_button.setEnabled(True)
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(out))):
                show_info(self, f"The letter is written to {out}.")

        def failed(error: O2CError) -> None:
            self.letter_button.setEnabled(True)
            show_error(self, error)

        self.letter_button.setEnabled(False)
        workers.submit(
            decision_letters.write_decision_letter,
            self.ctx.db,
            self.ctx.actor,
            view.id,
            Path(path),
            owner=self,
            on_done=written,
            on_failed=failed,
        )
