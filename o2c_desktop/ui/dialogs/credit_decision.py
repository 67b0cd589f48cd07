"""Decide a credit application: approve, approve with conditions, or decline.

The limit is prefilled with the scorecard's recommendation (else the amount requested; never more
than requested, which the service refuses), a temporary limit asked for (the requested limit
until the requested day) as such, the risk class with the score's, the terms with those
requested. The user's authority is shown with what the amount typed needs (`authority_note`).
Problems are shown under their inputs before anything is sent; the service checks the rest (four
eyes, the approver's authority) and its refusal is shown on top of the form, naming the person,
their authority and the amount. Ctrl+Enter in the conditions or the reason saves.

A decision above the approver's own authority but within their joint authority is stored and
waits for a second approver: the caller says so when `result_value.awaiting_second`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit

from o2c_desktop.errors import O2CError, PermissionDenied
from o2c_desktop.models.credit import (
    DECISION_OUTCOMES,
    OUTCOME_CONDITIONAL,
    OUTCOME_DECLINED,
)
from o2c_desktop.services import credit_applications, credit_decisions
from o2c_desktop.services.credit_authority import Authority
from o2c_desktop.services.customer_fields import RISK_CLASSES
from o2c_desktop.ui import formatting
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import BANNER_STYLE, set_error, with_error
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.screens.application_texts import (
    OUTCOME_LABELS,
    day_input,
    label,
    money_input,
    parse_day,
    parse_limit,
)
from o2c_desktop.ui.widgets.keys import ctrl_enter_saves

NOT_ALLOWED_STYLE = (
    "background: #fdecea; border: 1px solid #b00020; border-radius: 4px; "
    "padding: 6px; color: #5f0010;"
)
LIMIT_FIELDS = ("credit_limit", "temporary_limit", "temporary_until")


def proposed_limits(
    application: credit_applications.ApplicationView,
) -> tuple[Decimal, Decimal | None]:
    """The limit and temporary limit a decision starts from: the recommendation capped at the
    amount requested (an approval grants at most that); a temporary limit when one was asked
    for (the requested limit until the requested day)."""
    requested, recommended = application.requested_limit, application.recommended_limit
    limit = requested if recommended is None else min(recommended, requested)
    temporary = requested if application.requested_temporary_until is not None else None
    return limit, temporary


def proposed_amount(application: credit_applications.ApplicationView) -> Decimal:
    """What approving as proposed grants: the larger of the two limits (as the service counts)."""
    return credit_decisions.granted(*proposed_limits(application))


def authority_note(authority: Authority, amount: Decimal, currency: str, verb: str) -> str:
    """The user's authority and what `amount` needs of it, e.g. "Your authority: EUR 50,000.00
    alone and … Approving €84,000.00 needs a second approver." """
    mine = f"Your authority: {authority.describe()}."
    what = f"{verb} {formatting.money(amount, currency)}"
    if authority.joint_limit <= 0:
        return f"{mine} You cannot approve; another approver must decide."
    if amount <= authority.alone_max:
        return f"{mine} {what} is within your own authority."
    if authority.jointly_max is not None and amount <= authority.jointly_max:
        if verb == "Confirming":
            return f"{mine} {what} is within your authority with the first approver."
        return f"{mine} {what} needs a second approver to confirm it."
    return (
        f"{mine} {what} is more than you may grant, even with a second approver: "
        "grant less, or leave it to someone with more authority."
    )


class DecisionDialog(ActionDialog):
    fields = (
        "outcome",
        "credit_limit",
        "temporary_limit",
        "temporary_until",
        "risk_class",
        "terms_code",
        "next_review_date",
        "conditions",
        "reason",
    )

    def __init__(
        self,
        ctx: UiContext,
        application: credit_applications.ApplicationView,
        outcome: str,
        terms: list[tuple[str, str]],
        parent: Any = None,
        *,
        authority: Authority | None = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.application = application
        self.authority = authority
        currency = application.currency
        self.setWindowTitle(f"Decide {application.number} · {application.applicant_name}")
        self.setMinimumWidth(560)
        summary = QLabel(
            f"Requested {formatting.money(application.requested_limit, currency)}"
            + (
                f" · recommended {formatting.money(application.recommended_limit, currency)}"
                if application.recommended_limit is not None
                else " · not scored"
            )
            + (
                f" · current limit {formatting.money(application.current_limit, currency)}"
                if application.current_limit is not None
                else ""
            ),
            objectName="decisionSummary",
        )
        summary.setWordWrap(True)
        summary.setStyleSheet("color: #555;")
        self.outcome = QComboBox(objectName="decisionOutcome")
        for code in DECISION_OUTCOMES:
            self.outcome.addItem(label(OUTCOME_LABELS, code), code)
        self.outcome.setCurrentIndex(max(self.outcome.findData(outcome), 0))
        limit, temporary = proposed_limits(application)
        self.credit_limit = QLineEdit(money_input(limit), objectName="decisionLimit")
        self.temporary_limit = QLineEdit(
            money_input(temporary), objectName="decisionTemporaryLimit"
        )
        self.temporary_limit.setPlaceholderText("optional")
        self.temporary_until = QLineEdit(objectName="decisionTemporaryUntil")
        self.temporary_until.setPlaceholderText("YYYY-MM-DD: its last day")
        self.temporary_until.setText(day_input(application.requested_temporary_until))
        for edit in (self.credit_limit, self.temporary_limit):
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.risk_class = QComboBox(objectName="decisionRiskClass")
        self.risk_class.addItem("", None)
        for code, text in RISK_CLASSES.items():
            self.risk_class.addItem(text, code)
        self.risk_class.setCurrentIndex(max(self.risk_class.findData(application.risk_class), 0))
        self.terms_code = QComboBox(objectName="decisionTerms")
        self.terms_code.addItem("", None)
        for code, text in terms:
            self.terms_code.addItem(f"{code} – {text}", code)
        self.terms_code.setCurrentIndex(
            max(self.terms_code.findData(application.requested_terms_code), 0)
        )
        self.next_review_date = QLineEdit(objectName="decisionNextReview")
        self.next_review_date.setPlaceholderText("YYYY-MM-DD (empty: from the risk class)")
        self.conditions = QPlainTextEdit(objectName="decisionConditions")
        self.conditions.setTabChangesFocus(True)
        self.conditions.setMaximumHeight(70)
        self.reason = QPlainTextEdit(objectName="decisionReason")
        self.reason.setTabChangesFocus(True)
        self.reason.setMaximumHeight(70)
        for edit in (self.conditions, self.reason):
            ctrl_enter_saves(edit, self)
        self.conditions_caption = QLabel("Conditions")
        self.authority_note = QLabel(objectName="decisionAuthority")
        self.authority_note.setWordWrap(True)
        self.authority_note.setStyleSheet("color: #555;")
        self.authority_note.setVisible(authority is not None)
        form = QFormLayout()
        form.addRow(summary)
        form.addRow(self.authority_note)
        form.addRow("Outcome", with_error(self.outcome, self.errors["outcome"]))
        form.addRow(
            f"Credit limit ({currency})", with_error(self.credit_limit, self.errors["credit_limit"])
        )
        form.addRow(
            f"Temporary limit ({currency})",
            with_error(self.temporary_limit, self.errors["temporary_limit"]),
        )
        form.addRow(
            "Temporary until", with_error(self.temporary_until, self.errors["temporary_until"])
        )
        form.addRow("Risk class", with_error(self.risk_class, self.errors["risk_class"]))
        form.addRow("Payment terms", with_error(self.terms_code, self.errors["terms_code"]))
        form.addRow(
            "Next review", with_error(self.next_review_date, self.errors["next_review_date"])
        )
        form.addRow(self.conditions_caption, with_error(self.conditions, self.errors["conditions"]))
        form.addRow("Reason*", with_error(self.reason, self.errors["reason"]))
        self.finish_layout(form)
        self.outcome.currentIndexChanged.connect(lambda _i: self._outcome_chosen())
        for edit in (self.credit_limit, self.temporary_limit):
            edit.textChanged.connect(lambda _t: self._show_authority())
        self._outcome_chosen()
        (self.reason if outcome == OUTCOME_DECLINED else self.credit_limit).setFocus()

    def _outcome_chosen(self) -> None:
        declining = self.outcome.currentData() == OUTCOME_DECLINED
        for name in (*LIMIT_FIELDS, "risk_class", "terms_code", "next_review_date"):
            getattr(self, name).setEnabled(not declining)
        conditional = self.outcome.currentData() == OUTCOME_CONDITIONAL
        self.conditions.setEnabled(not declining)
        self.conditions_caption.setText("Conditions*" if conditional else "Conditions")
        self._show_authority()

    def _show_authority(self) -> None:
        """What the limits typed need of the user's authority (a decline: some authority)."""
        authority = self.authority
        if authority is None:
            return
        currency = self.application.currency
        if self.outcome.currentData() == OUTCOME_DECLINED:
            may = authority.alone_max > 0
            self.authority_note.setText(
                f"Your authority: {authority.describe()}."
                + ("" if may else " Declining needs some authority: another approver must.")
            )
            return
        try:
            amounts = [parse_limit(e.text()) for e in (self.credit_limit, self.temporary_limit)]
        except ValueError:
            return  # said under the input on Save
        amount = credit_decisions.granted(*amounts)
        self.authority_note.setText(authority_note(authority, amount, currency, "Approving"))

    def decision(self) -> tuple[credit_decisions.DecisionInput | None, dict[str, str]]:
        """The decision as typed, or the problems by input (nothing is sent while there are)."""
        outcome = self.outcome.currentData()
        problems: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        for name, parse in (
            ("credit_limit", parse_limit),
            ("temporary_limit", parse_limit),
            ("temporary_until", parse_day),
            ("next_review_date", parse_day),
        ):
            try:
                parsed[name] = parse(getattr(self, name).text())
            except ValueError as exc:
                problems[name] = str(exc)
        reason = self.reason.toPlainText().strip()
        conditions = self.conditions.toPlainText().strip() or None
        if not reason:
            problems["reason"] = "Say why: the reason is kept with the decision and the letter."
        if outcome == OUTCOME_DECLINED:  # the limits and terms are not asked for
            if not reason:
                return None, {"reason": problems["reason"]}
            return credit_decisions.DecisionInput(outcome=outcome, reason=reason), {}
        if outcome == OUTCOME_CONDITIONAL and not conditions:
            problems["conditions"] = "A conditional approval needs its conditions."
        if "credit_limit" not in problems and parsed.get("credit_limit") is None:
            problems["credit_limit"] = "Give the limit to grant."
        temporary, until = parsed.get("temporary_limit"), parsed.get("temporary_until")
        if "temporary_limit" not in problems and "temporary_until" not in problems:
            if temporary is not None and until is None:
                problems["temporary_until"] = "A temporary limit needs its last day."
            elif until is not None and temporary is None:
                problems["temporary_limit"] = "Give the temporary limit, or clear its last day."
        if problems:
            return None, problems
        limit: Decimal = parsed["credit_limit"]
        return (
            credit_decisions.DecisionInput(
                outcome=outcome,
                reason=reason,
                credit_limit=limit,
                temporary_limit=temporary,
                temporary_until=until,
                risk_class=self.risk_class.currentData(),
                terms_code=self.terms_code.currentData(),
                next_review_date=parsed.get("next_review_date"),
                conditions=conditions,
            ),
            {},
        )

    def save(self) -> None:
        decision, problems = self.decision()
        for name, error in self.errors.items():
            set_error(error, problems.get(name))
        if decision is None:
            self.banner.setStyleSheet(BANNER_STYLE)
            self.banner.setText("Not saved: please correct the fields marked in red.")
            self.banner.show()
            return
        self.run(
            credit_decisions.decide,
            self.ctx.db,
            self.ctx.actor,
            self.application.id,
            self.application.version,
            decision,
        )

    def _failed(self, error: O2CError) -> None:
        super()._failed(error)
        self.banner.setStyleSheet(BANNER_STYLE)
        if isinstance(error, PermissionDenied):
            self.banner.setText(f"Not allowed: {error}")
            self.banner.setStyleSheet(NOT_ALLOWED_STYLE)
