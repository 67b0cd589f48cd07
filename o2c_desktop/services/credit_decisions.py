"""Deciding a credit application: approve, approve on conditions, or decline, within the
approver's authority and with four eyes, and what a decision changes.

Who may decide (services.credit_authority for the amounts):
- Nobody who had a hand in the application may decide or confirm it: its preparer, its
  submitter, whoever changed its request or figures, whoever sent it to approval (from its audit
  rows), also when one person holds both a clerk's and a manager's role.
- An approval grants at most the requested limit (the limit and the temporary limit alike): the
  checklist was chosen for that amount, so granting more means raising the request first.
- An approval for amount A (the larger of the credit limit and the temporary limit) is final
  when the approver may grant A alone. Above that, when they may grant A with a second approver,
  it is stored awaiting one: a third person (none of the above, nor the first approver) whose
  own authority reaches A confirms it. Otherwise it is refused, naming the
  person, their authority and the amount.
- Declining needs some authority in the application's currency.

A complete decision is one transaction: the application moves to approved, conditionally approved
or declined (credit_applications.set_state_in_session); on an approval the customer gets the
limit, temporary limit, risk class, terms and next review date (audited field by field), or for
a new customer the customer is created from the applicant's details and the application's
documents are filed under it; the customer's timeline gets a note of the decision. A decline
changes nothing on the customer but that note. The decision row keeps the approver(s), reason,
conditions and terms, so the decision letter (services.decision_letters) and any later question
can be answered from it.

An approval awaiting a second approver holds only while the application stays pending approval:
once it is sent back, returned to verification or withdrawn that first approval lapses
(get_decision no longer reports it), and the next time it comes up it is decided afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, PaymentTerms
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    APPROVED,
    CONDITIONALLY_APPROVED,
    DECISION_OUTCOMES,
    DECLINED,
    IN_VERIFICATION,
    OUTCOME_APPROVED,
    OUTCOME_CONDITIONAL,
    OUTCOME_DECLINED,
    PENDING_APPROVAL,
    CreditApplication,
    CreditDecision,
    Document,
)
from o2c_desktop.money import money_text
from o2c_desktop.services import activities, audit, customers
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_applications import (
    EDITABLE_FIELDS,
    TransitionRefused,
    application_in_session,
    locked,
    parse_day,
    parse_money,
    require_view,
    set_state_in_session,
    state_label,
)
from o2c_desktop.services.credit_authority import Authority, authority_of
from o2c_desktop.services.credit_policy import read_policy
from o2c_desktop.services.customer_fields import DEFAULTS, check_limit_decimals, parse_field
from o2c_desktop.services.day_range import add_months
from o2c_desktop.services.field_checks import row_id, text_field
from o2c_desktop.services.scorecards import score_in_session
from o2c_desktop.services.stored_rows import apply_change, audit_change, view_of
from o2c_desktop.services.users import user_names

ZERO = Decimal("0.00")
MAX_TEXT = 2000
ACTIVITY_KIND = "credit"
STATE_OF = {
    OUTCOME_APPROVED: APPROVED,
    OUTCOME_CONDITIONAL: CONDITIONALLY_APPROVED,
    OUTCOME_DECLINED: DECLINED,
}
# What an approval sets on the customer: decision column -> customer field (audit name) and column.
_ON_CUSTOMER = {
    "credit_limit": ("credit_limit", "credit_limit"),
    "risk_class": ("risk_class", "risk_class"),
    "terms_code": ("payment_terms", "payment_terms_code"),
    "next_review_date": ("next_review_date", "next_review_date"),
    "temporary_limit": ("temporary_limit", "temporary_limit"),
    "temporary_until": ("temporary_limit_until", "temporary_limit_until"),
}


@dataclass(frozen=True)
class DecisionInput:
    """What the approver decides. Amounts as Decimal or typed text, dates as `date` or ISO
    text. Left empty: the risk class is the scored one, the terms the requested ones, the next
    review the credit policy's interval for the risk class from today. A decline keeps only the
    reason; only a conditional approval keeps conditions."""

    outcome: str
    reason: str
    credit_limit: Decimal | str | None = None
    temporary_limit: Decimal | str | None = None
    temporary_until: date | str | None = None
    risk_class: str | None = None
    terms_code: str | None = None
    next_review_date: date | str | None = None
    conditions: str | None = None


@dataclass(frozen=True)
class DecisionView:
    id: int
    application_id: int
    outcome: str
    credit_limit: Decimal | None
    temporary_limit: Decimal | None
    temporary_until: date | None
    risk_class: str | None
    terms_code: str | None
    next_review_date: date | None
    conditions: str | None
    reason: str
    first_approver_id: int
    first_at: datetime
    second_approver_id: int | None
    second_at: datetime | None
    complete: bool
    updated_at: datetime
    updated_by_id: int | None
    version: int
    first_approver: str
    second_approver: str | None
    awaiting_second: bool

    @property
    def amount(self) -> Decimal:
        """What the decision grants: the larger of the limit and the temporary limit."""
        return granted(self.credit_limit, self.temporary_limit)


def granted(credit_limit: Decimal | None, temporary_limit: Decimal | None) -> Decimal:
    return max(credit_limit or ZERO, temporary_limit or ZERO)


def approver_names(session: Session, row: CreditDecision) -> tuple[str, ...]:
    """Who approved (or declined): the first approver, then the second one if any."""
    ids = [i for i in (row.first_approver_id, row.second_approver_id) if i]
    names = user_names(session, set(ids))
    return tuple(names.get(i, f"user #{i}") for i in ids)


def _decision_view(session: Session, row: CreditDecision) -> DecisionView:
    names = user_names(session, {row.first_approver_id, row.second_approver_id})
    return view_of(
        DecisionView,
        row,
        first_approver=names.get(row.first_approver_id, f"user #{row.first_approver_id}"),
        second_approver=names.get(row.second_approver_id or 0),
        awaiting_second=not row.complete,
    )


def _decision_values(row: CreditDecision) -> dict[str, Any]:
    skip = {"id", "updated_at", "updated_by_id", "version"}
    return {
        f.name: getattr(row, f.name)
        for f in fields(DecisionView)
        if hasattr(CreditDecision, f.name) and f.name not in skip
    }


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _pending(session: Session, application_id: int, expected_version: int) -> CreditApplication:
    application = locked(session, application_id, expected_version)
    if application.state != PENDING_APPROVAL:
        raise TransitionRefused(
            f"Application {application.number} is {state_label(application.state)}: only an "
            "application pending approval can be decided."
        )
    return application


def _hands_on(session: Session, application: CreditApplication) -> list[tuple[int | None, str]]:
    """Who had a hand in the application, from its audit rows, with what they did: prepared
    or submitted it, changed its request or figures, or sent it to approval."""
    rows = session.execute(
        select(AuditEntry.user_id, AuditEntry.field).where(
            AuditEntry.table_name == CreditApplication.__tablename__,
            AuditEntry.record_id == str(application.id),
            AuditEntry.action == audit.UPDATE,
            or_(
                AuditEntry.field.in_(EDITABLE_FIELDS),
                and_(AuditEntry.field == "state", AuditEntry.new_value == PENDING_APPROVAL),
            ),
        )
    ).all()
    number = application.number
    return [
        (application.prepared_by_id, f"prepared application {number}"),
        (application.submitted_by_id, f"submitted application {number}"),
        *(
            (
                user_id,
                f"sent application {number} to approval"
                if field == "state"
                else f"changed the request or figures of application {number}",
            )
            for user_id, field in rows
        ),
    ]


def _require_four_eyes(
    session: Session,
    actor: Actor,
    application: CreditApplication,
    first_approver_id: int | None = None,
) -> None:
    """Nobody who prepared, submitted, edited or sent the application to approval (nor,
    confirming, the first approver) decides it: someone else must look at it."""
    parts = _hands_on(session, application)
    parts.append((first_approver_id, f"already approved application {application.number}"))
    for user_id, did in parts:
        if user_id and user_id == actor.user_id:
            raise PermissionDenied(
                f"{actor.display_name} {did} and may not decide it too (four eyes): another "
                "approver must."
            )


def four_eyes_refusal(db: Database, actor: Actor, application_id: int) -> str | None:
    """Why `actor` may not decide (or confirm) the application under four eyes, or None: so a
    screen can disable its buttons with the service's own reason instead of letting someone
    fill in a decision that will be refused."""
    require_view(actor)
    with db.read() as session:
        application = application_in_session(session, application_id)
        decision = decision_in_session(session, application.id)
        first = (
            decision.first_approver_id
            if decision is not None
            and not decision.complete
            and decision_holds(decision, application)
            else None
        )
        try:
            _require_four_eyes(session, actor, application, first)
        except PermissionDenied as refused:
            return str(refused)
        return None


def decision_in_session(session: Session, application_id: int) -> CreditDecision | None:
    return session.scalar(
        select(CreditDecision).where(CreditDecision.application_id == application_id)
    )


def decision_holds(row: CreditDecision, application: CreditApplication) -> bool:
    """A complete decision holds; a first approval only while the application is still pending
    approval since it was given (not sent back, returned or withdrawn since)."""
    return row.complete or (
        application.state == PENDING_APPROVAL and row.first_at >= application.state_changed_at
    )


def _current_decision(
    session: Session, actor: Actor, application: CreditApplication
) -> CreditDecision | None:
    """The application's decision awaiting a second approver, if one still holds; one made
    before the application last came to approval has lapsed and is removed (audited)."""
    row = decision_in_session(session, application.id)
    if row is None or decision_holds(row, application):
        return row
    _remove(session, actor, row, application, "lapsed: the application went back to verification")
    return None


def _remove(
    session: Session,
    actor: Actor,
    row: CreditDecision,
    application: CreditApplication,
    why: str,
) -> None:
    changes = {k: (v, None) for k, v in _decision_values(row).items() if v is not None}
    changes["removed"] = (None, why)
    audit_change(session, actor, audit.DELETE, row, changes, customer_id=application.customer_id)
    session.delete(row)
    session.flush()


def _amount(name: str, raw: Any, currency: str, problems: list[FieldProblem]) -> Decimal | None:
    """An amount in the application's currency (at most its decimals), or None when empty."""
    amount = parse_money(name, raw, problems)
    if amount is None:
        return None
    reason = check_limit_decimals(amount, currency)
    if reason:
        problems.append(FieldProblem(name, reason, value=str(amount)))
        return None
    return amount


def _above_request(application: CreditApplication, **amounts: Decimal | None) -> list[FieldProblem]:
    """An approval grants at most the requested limit: the checklist was chosen for that amount
    (a larger one may need a larger checklist, so it is requested and checked first)."""
    requested = application.requested_limit
    return [
        FieldProblem(
            name,
            f"at most the {money_text(requested, application.currency)} requested; to grant "
            "more, raise the requested limit, which re-checks the checklist",
            value=str(amount),
        )
        for name, amount in amounts.items()
        if amount is not None and amount > requested
    ]


def _default_terms(session: Session, application: CreditApplication) -> str:
    if application.requested_terms_code:
        return application.requested_terms_code
    customer = session.get(Customer, application.customer_id) if application.customer_id else None
    return customer.payment_terms_code if customer else DEFAULTS["payment_terms"]


def _checked(
    session: Session, application: CreditApplication, decision: DecisionInput, today: date
) -> dict[str, Any]:
    """The decision row's values, or ValidationFailed naming every problem by field."""
    problems: list[FieldProblem] = []
    outcome = str(decision.outcome or "").strip().lower()
    if outcome not in DECISION_OUTCOMES:
        problems.append(
            FieldProblem("outcome", f"one of {', '.join(DECISION_OUTCOMES)}", value=outcome)
        )
    values: dict[str, Any] = {
        "outcome": outcome,
        "reason": text_field("reason", decision.reason, MAX_TEXT, problems, required="say why"),
    }
    if outcome in (OUTCOME_APPROVED, OUTCOME_CONDITIONAL):
        values.update(_approval_terms(session, application, decision, outcome, today, problems))
    if problems:
        raise ValidationFailed(problems)
    return values


def _approval_terms(
    session: Session,
    application: CreditApplication,
    decision: DecisionInput,
    outcome: str,
    today: date,
    problems: list[FieldProblem],
) -> dict[str, Any]:
    """An approval's limit, temporary limit, risk class, terms, review date and conditions,
    with the defaults filled in; each problem is added to `problems`."""
    currency = application.currency
    limit = _amount("credit_limit", decision.credit_limit, currency, problems)
    if limit is None and not any(p.field == "credit_limit" for p in problems):
        problems.append(FieldProblem("credit_limit", "required for an approval"))
    temporary = _amount("temporary_limit", decision.temporary_limit, currency, problems)
    problems += _above_request(application, credit_limit=limit, temporary_limit=temporary)
    until = parse_day("temporary_until", decision.temporary_until, problems)
    if temporary is not None and until is None:
        problems.append(FieldProblem("temporary_until", "a temporary limit needs its last day"))
    if until is not None and temporary is None:
        problems.append(FieldProblem("temporary_limit", "required with a last day"))
    if until is not None and until <= today:
        problems.append(FieldProblem("temporary_until", "must be after today", until.isoformat()))
    risk = application.risk_class
    if decision.risk_class not in (None, ""):
        try:
            risk = parse_field("risk_class", decision.risk_class)
        except ValueError as exc:
            problems.append(FieldProblem("risk_class", str(exc), value=str(decision.risk_class)))
    if risk is None and not any(p.field == "risk_class" for p in problems):
        problems.append(FieldProblem("risk_class", "required (one of A, B, C, D, E)"))
    terms = (decision.terms_code or "").strip().upper() or _default_terms(session, application)
    if session.get(PaymentTerms, terms) is None:
        problems.append(FieldProblem("terms_code", "unknown payment terms", value=terms))
    review = parse_day("next_review_date", decision.next_review_date, problems)
    if review is None and risk is not None:
        review = add_months(today, read_policy(session).review_months[risk])
    if review is not None and review <= today:
        problems.append(FieldProblem("next_review_date", "must be after today", review.isoformat()))
    conditions = None
    if outcome == OUTCOME_CONDITIONAL:
        conditions = text_field(
            "conditions",
            decision.conditions,
            MAX_TEXT,
            problems,
            required="say on which conditions",
        )
    if application.customer_id is None:
        problems += _new_customer_problems(session, application)
    return {
        "credit_limit": limit,
        "temporary_limit": temporary,
        "temporary_until": until,
        "risk_class": risk,
        "terms_code": terms,
        "next_review_date": review,
        "conditions": conditions,
    }


def _new_customer_problems(session: Session, application: CreditApplication) -> list[FieldProblem]:
    number = application.customer_number
    if not number:
        return [FieldProblem("customer_number", "a new customer needs a number: send it back")]
    if session.scalar(select(Customer.id).where(Customer.number == number)) is not None:
        return [
            FieldProblem(
                "customer_number",
                "a customer already has this number: send the application back to change it",
                value=number,
            )
        ]
    return []


def _refusal(
    actor: Actor, authority: Authority, application: CreditApplication, amount: Decimal
) -> str:
    return (
        f"{actor.display_name} may not approve application {application.number} for "
        f"{money_text(amount, application.currency)}: their approval authority is "
        f"{authority.describe()}."
    )


# ---------------------------------------------------------------------------------------------
# Completing a decision
# ---------------------------------------------------------------------------------------------


def _update_customer(
    session: Session, actor: Actor, customer_id: int, row: CreditDecision
) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise O2CError(f"Customer #{customer_id} of this application was deleted meanwhile.")
    changes: dict[str, tuple[Any, Any]] = {}
    for source, (name, column) in _ON_CUSTOMER.items():
        old, new = getattr(customer, column), getattr(row, source)
        if old != new:
            changes[name] = (old, new)
            setattr(customer, column, new)
    if changes:
        customer.updated_at = utcnow()
        customer.updated_by_id = actor.user_id or None
        session.flush()  # the ORM bumps the customer's version
        audit_change(session, actor, audit.UPDATE, customer, changes, customer_id=customer.id)
    return customer


def _create_customer(
    session: Session, actor: Actor, application: CreditApplication, row: CreditDecision
) -> Customer:
    values = {
        "number": application.customer_number,
        "name": application.applicant_name,
        "legal_name": application.legal_name,
        "tax_id": application.tax_id,
        "segment": application.segment,
        "country": application.country,
        "address_line1": application.address_line1,
        "city": application.city,
        "postcode": application.postcode,
        "email": application.email,
        "phone": application.phone,
        "currency": application.currency,
        "on_hold": False,
        **{name: getattr(row, source) for source, (name, _column) in _ON_CUSTOMER.items()},
    }
    try:
        customer = customers.create_in_session(
            session, actor, customers.ResolvedRefs(session), values
        )
    except IntegrityError:
        raise ValidationFailed(
            [FieldProblem("customer_number", "another customer took this number meanwhile")]
        ) from None
    values = {"customer_id": customer.id}
    apply_change(session, actor, application, values, customer_id=customer.id)
    session.execute(
        update(Document)
        .where(Document.application_id == application.id, Document.customer_id.is_(None))
        .values(customer_id=customer.id)
    )
    return customer


def timeline_text(application: CreditApplication, row: CreditDecision, approvers: str) -> str:
    """The note on the customer's timeline: "Credit limit EUR 80,000.00 approved on CA-000012
    by Maria; risk class B; next review 2027-11-23"."""
    if row.outcome == OUTCOME_DECLINED:
        return f"Credit application {application.number} declined by {approvers}: {row.reason}"
    currency = application.currency
    how = "conditionally approved" if row.outcome == OUTCOME_CONDITIONAL else "approved"
    review = row.next_review_date.isoformat() if row.next_review_date else "none"
    text = (
        f"Credit limit {money_text(row.credit_limit or ZERO, currency)} {how} on "
        f"{application.number} by {approvers}; risk class {row.risk_class}; "
        f"terms {row.terms_code}; next review {review}"
    )
    if row.temporary_limit is not None and row.temporary_until is not None:
        text += (
            f"; temporary limit {money_text(row.temporary_limit, currency)} until "
            f"{row.temporary_until.isoformat()}"
        )
    if row.conditions:
        text += f"; conditions: {row.conditions}"
    return text


def _note(
    session: Session, actor: Actor, application: CreditApplication, row: CreditDecision
) -> None:
    """The decision on the customer's timeline (an activity), audited like a note."""
    customer_id = application.customer_id
    if customer_id is None:
        return
    approvers = " and ".join(approver_names(session, row))
    activities.add_in_session(
        session,
        actor,
        customer_id,
        ACTIVITY_KIND,
        f"Credit decision {application.number}",
        timeline_text(application, row, approvers),
    )


def _complete(
    session: Session, actor: Actor, application: CreditApplication, row: CreditDecision
) -> None:
    """Close the application and carry the decision over to the customer (module docstring)."""
    row.complete = True
    set_state_in_session(session, actor, application, STATE_OF[row.outcome])
    if row.outcome != OUTCOME_DECLINED:
        if application.customer_id is None:
            _create_customer(session, actor, application, row)
        else:
            _update_customer(session, actor, application.customer_id, row)
    _note(session, actor, application, row)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def decide(
    db: Database,
    actor: Actor,
    application_id: int,
    expected_version: int,
    decision: DecisionInput,
    as_of: date | None = None,
) -> DecisionView:
    """Decide an application pending approval (module docstring). Unscored applications are
    scored first, with the active scorecard. Returns the decision: complete, or awaiting a
    second approver (`awaiting_second`), in which case the application stays pending."""
    actor.require(Permission.DECIDE_APPLICATIONS)
    today = as_of or date.today()
    with db.write() as session:
        application = _pending(session, application_id, expected_version)
        _require_four_eyes(session, actor, application)
        existing = _current_decision(session, actor, application)
        if existing is not None:
            first = user_names(session, {existing.first_approver_id}).get(
                existing.first_approver_id, "another approver"
            )
            raise O2CError(
                f"{first} approved application {application.number} already; it awaits a second "
                "approver's confirmation (or send it back)."
            )
        if application.score is None or application.risk_class is None:  # none, or cleared
            score_in_session(session, actor, application, today)
        values = _checked(session, application, decision, today)
        authority = authority_of(session, actor.user_id, actor.roles, application.currency)
        amount = granted(values.get("credit_limit"), values.get("temporary_limit"))
        if values["outcome"] == OUTCOME_DECLINED:
            if authority.alone_max <= 0:
                raise PermissionDenied(
                    f"{actor.display_name} may not decline application {application.number}: "
                    f"their approval authority is {authority.describe()}."
                )
            complete = True
        elif authority.alone_max >= amount:
            complete = True
        elif authority.jointly_max is not None and authority.jointly_max >= amount:
            complete = False
        else:
            raise PermissionDenied(_refusal(actor, authority, application, amount))
        now = utcnow()
        row = CreditDecision(
            application_id=application.id,
            **values,
            first_approver_id=actor.user_id,
            first_at=now,
            complete=False,
            updated_at=now,
            updated_by_id=actor.user_id or None,
        )
        session.add(row)
        session.flush()
        if complete:
            _complete(session, actor, application, row)
            session.flush()
        created = {k: (None, v) for k, v in _decision_values(row).items() if v is not None}
        audit_change(
            session, actor, audit.CREATE, row, created, customer_id=application.customer_id
        )
        return _decision_view(session, row)


def confirm_decision(
    db: Database, actor: Actor, application_id: int, expected_version: int
) -> DecisionView:
    """The second approver confirms an approval above the first approver's own authority: a
    third person whose authority (with a second approver) reaches the amount. Completes it."""
    actor.require(Permission.DECIDE_APPLICATIONS)
    with db.write() as session:
        application = _pending(session, application_id, expected_version)
        row = _current_decision(session, actor, application)
        if row is None or row.complete:
            raise O2CError(
                f"No decision on application {application.number} awaits a second approver."
            )
        _require_four_eyes(session, actor, application, row.first_approver_id)
        authority = authority_of(session, actor.user_id, actor.roles, application.currency)
        amount = granted(row.credit_limit, row.temporary_limit)
        if authority.joint_limit < amount:
            raise PermissionDenied(_refusal(actor, authority, application, amount))
        now = utcnow()
        row.second_approver_id = actor.user_id
        row.second_at = now
        row.updated_at = now
        row.updated_by_id = actor.user_id or None
        _complete(session, actor, application, row)
        session.flush()
        audit_change(
            session,
            actor,
            audit.UPDATE,
            row,
            {
                "second_approver_id": (None, actor.user_id),
                "second_at": (None, now),
                "complete": (False, True),
            },
            customer_id=application.customer_id,
        )
        return _decision_view(session, row)


def send_back(
    db: Database, actor: Actor, application_id: int, expected_version: int, reason: str
) -> None:
    """The approver sends an application pending approval back to verification, with the reason
    (audited); a first approval awaiting confirmation lapses with it."""
    actor.require(Permission.DECIDE_APPLICATIONS)
    problems: list[FieldProblem] = []
    why = text_field("reason", reason, MAX_TEXT, problems, required="say why it goes back")
    if problems:
        raise ValidationFailed(problems)
    with db.write() as session:
        application = _pending(session, application_id, expected_version)
        row = _current_decision(session, actor, application)
        if row is not None:
            _remove(session, actor, row, application, f"sent back: {why}")
        set_state_in_session(session, actor, application, IN_VERIFICATION, why)


def get_decision(db: Database, actor: Actor, application_id: int) -> DecisionView | None:
    """The application's decision (complete, or awaiting a second approver while the application
    is pending approval), or None."""
    require_view(actor)
    application_id = row_id(application_id, "credit application")
    with db.read() as session:
        row = decision_in_session(session, application_id)
        application = session.get(CreditApplication, application_id)
        if row is None or application is None or not decision_holds(row, application):
            return None  # a first approval that lapsed is no decision
        return _decision_view(session, row)


__all__ = [
    "DecisionInput",
    "DecisionView",
    "confirm_decision",
    "decide",
    "get_decision",
    "send_back",
    "timeline_text",
]
