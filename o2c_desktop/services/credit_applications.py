"""Credit applications: preparing one, its trade and bank references, and its workflow up to the
approver's desk.

States: draft → submitted → in verification → pending approval → approved / conditionally
approved / declined (the decision is services.credit_decisions'), back from pending approval to
in verification, and withdrawn from any open state. `set_state_in_session` is the one place that
moves an application: it checks `ALLOWED_TRANSITIONS`, stamps `state_changed_at`, sets the
service-level `due_date` (today + the credit policy's days for the new state; none once closed)
and audits the move, so every caller (these functions, decisions, send-back) gets the same rules.

An application is edited while it is being prepared or verified (draft, submitted, in
verification); from pending approval on, what the approver sees stays as it was sent. Values are
parsed like the customer form's (services.customer_fields): text as typed, or already typed
values (Decimal, int, date) — never floats for money.

A limit change (or review) copies the applicant's details from the customer; one customer has at
most one open application at a time, and a new customer's number may be neither a customer's nor
another open application's (checked at creation and again at submission). On PostgreSQL these
checks and the next "CA-000001" number run under one transaction-scoped advisory lock, so two
clerks saving at the same moment cannot both pass them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    ApplicationReference,
    CreditApplication,
    CreditDecision,
    Customer,
    PaymentTerms,
    User,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    APPROVED,
    CONDITIONALLY_APPROVED,
    DECLINED,
    DRAFT,
    IN_VERIFICATION,
    KIND_LIMIT_CHANGE,
    KIND_NEW_CUSTOMER,
    KIND_REVIEW,
    OPEN_STATES,
    PENDING_APPROVAL,
    REFERENCE_KINDS,
    REFERENCE_RATINGS,
    REFERENCE_TRADE,
    SUBMITTED,
    WITHDRAWN,
)
from o2c_desktop.money import decimals_of, is_currency, minor_units, parse_amount
from o2c_desktop.services import audit, checklist_instances
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_policy import read_policy
from o2c_desktop.services.customer_fields import DEFAULTS, parse_field
from o2c_desktop.services.day_range import RANGE_TEXT, in_range
from o2c_desktop.services.field_checks import is_whole, row_id, text_field
from o2c_desktop.services.stored_rows import (
    apply_change,
    audit_change,
    locked_at_version,
    stale_version_conflict,
    view_of,
)
from o2c_desktop.services.users import user_names

ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    DRAFT: (SUBMITTED, WITHDRAWN),
    SUBMITTED: (IN_VERIFICATION, WITHDRAWN),
    IN_VERIFICATION: (PENDING_APPROVAL, WITHDRAWN),
    PENDING_APPROVAL: (APPROVED, CONDITIONALLY_APPROVED, DECLINED, IN_VERIFICATION, WITHDRAWN),
}
EDITABLE_STATES = (DRAFT, SUBMITTED, IN_VERIFICATION)

# Field -> the customer field whose parser (and maximum length) it shares.
_LIKE_CUSTOMER = {
    "customer_number": "number",
    "applicant_name": "name",
    "legal_name": "legal_name",
    "tax_id": "tax_id",
    "segment": "segment",
    "country": "country",
    "address_line1": "address_line1",
    "city": "city",
    "postcode": "postcode",
    "email": "email",
    "phone": "phone",
    "currency": "currency",
    "requested_terms_code": "payment_terms",
}
# The field groups by kind of value, also read by the details screen to format its inputs.
DAY_FIELDS = ("requested_temporary_until", "financials_date")
MONEY_FIELDS = (
    "requested_limit",
    "annual_revenue",
    "net_worth",
    "current_assets",
    "current_liabilities",
    "total_liabilities",
    "expected_monthly_purchases",
)
_MAY_BE_NEGATIVE = frozenset({"net_worth"})
WHOLE_MAX = {"years_in_business": 300, "bureau_score": 1000}
EDITABLE_FIELDS: tuple[str, ...] = (
    *_LIKE_CUSTOMER,
    "requested_limit",
    "requested_temporary_until",
    "financials_date",
    "annual_revenue",
    "net_worth",
    "current_assets",
    "current_liabilities",
    "total_liabilities",
    "years_in_business",
    "bureau_score",
    "expected_monthly_purchases",
    "notes",
)
# A limit change copies these from the customer's columns when they are not given.
_FROM_CUSTOMER = {**_LIKE_CUSTOMER, "requested_terms_code": "payment_terms_code"}
_CHECKLIST_INPUTS = frozenset({"requested_limit", "segment", "currency"})
# The application's fields a score depends on (services.scorecards.inputs_in_session reads
# them, and the annual revenue beside them): a change to any of them makes a stored score stale.
SCORE_INPUTS = frozenset(
    {*MONEY_FIELDS, "years_in_business", "bureau_score", "requested_terms_code", "currency"}
) - {"requested_limit"}
_SCORE_COLUMNS = ("score", "risk_class", "recommended_limit", "score_detail", "scorecard_id")
_ADVISORY_LOCK = 0x0C2A_0006  # "credit applications": numbers and open-application checks


class TransitionRefused(O2CError):
    """The application's state does not allow the move asked for; the message says what would."""


def state_label(state: str) -> str:
    return state.replace("_", " ")


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceView:
    id: int
    application_id: int
    kind: str
    name: str
    contact_name: str | None
    phone: str | None
    email: str | None
    years_known: int | None
    highest_credit: Decimal | None
    rating: str | None
    notes: str | None
    updated_at: datetime
    updated_by_id: int | None
    version: int


@dataclass(frozen=True)
class ApplicationView:
    """An application as stored, with the names of the people on it, where it stands against
    its service level, and the customer's limit today (None for a new customer)."""

    id: int
    number: str
    kind: str
    state: str
    customer_id: int | None
    customer_number: str | None
    applicant_name: str
    legal_name: str | None
    tax_id: str | None
    segment: str | None
    country: str | None
    address_line1: str | None
    city: str | None
    postcode: str | None
    email: str | None
    phone: str | None
    currency: str
    requested_limit: Decimal
    requested_terms_code: str | None
    requested_temporary_until: date | None
    financials_date: date | None
    annual_revenue: Decimal | None
    net_worth: Decimal | None
    current_assets: Decimal | None
    current_liabilities: Decimal | None
    total_liabilities: Decimal | None
    years_in_business: int | None
    bureau_score: int | None
    expected_monthly_purchases: Decimal | None
    notes: str | None
    checklist_template_id: int | None
    scorecard_id: int | None
    score: Decimal | None
    risk_class: str | None
    recommended_limit: Decimal | None
    score_detail: str | None
    prepared_by_id: int | None
    submitted_by_id: int | None
    assigned_to_id: int | None
    created_at: datetime
    submitted_at: datetime | None
    state_changed_at: datetime
    due_date: date | None
    updated_at: datetime
    updated_by_id: int | None
    version: int
    prepared_by: str
    submitted_by: str | None
    assigned_to: str | None
    age_in_state_days: int
    overdue: bool
    customer_name: str | None
    current_limit: Decimal | None
    references: tuple[ReferenceView, ...]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def editable(self) -> bool:
        return self.state in EDITABLE_STATES

    @property
    def next_states(self) -> tuple[str, ...]:
        return ALLOWED_TRANSITIONS.get(self.state, ())


def age_in_state(state_changed_at: datetime, as_of: date) -> int:
    """Whole days since the application entered its state, counted in local calendar days
    (the day a clerk sees on the wall, not the UTC one)."""
    return max(0, (as_of - state_changed_at.astimezone().date()).days)


def is_overdue(due_date: date | None, as_of: date) -> bool:
    return due_date is not None and due_date < as_of


def application_view(
    session: Session, application: CreditApplication, as_of: date | None = None
) -> ApplicationView:
    today = as_of or date.today()
    names = user_names(
        session,
        {application.prepared_by_id, application.submitted_by_id, application.assigned_to_id},
    )
    customer = session.get(Customer, application.customer_id) if application.customer_id else None
    references = session.scalars(
        select(ApplicationReference)
        .where(ApplicationReference.application_id == application.id)
        .order_by(ApplicationReference.kind.desc(), ApplicationReference.id)
    )
    return view_of(
        ApplicationView,
        application,
        prepared_by=names.get(application.prepared_by_id or 0, "O2C Desktop"),
        submitted_by=names.get(application.submitted_by_id or 0),
        assigned_to=names.get(application.assigned_to_id or 0),
        age_in_state_days=age_in_state(application.state_changed_at, today),
        overdue=is_overdue(application.due_date, today),
        customer_name=customer.name if customer else None,
        current_limit=customer.credit_limit if customer else None,
        references=tuple(view_of(ReferenceView, r) for r in references),
    )


def require_view(actor: Actor) -> None:
    """Applications hold a customer's financials: only the credit office sees them (collectors
    do not)."""
    if not (
        actor.may(Permission.PREPARE_APPLICATIONS) or actor.may(Permission.DECIDE_APPLICATIONS)
    ):
        roles = " or ".join(sorted(r.label for r in Permission.PREPARE_APPLICATIONS.roles))
        raise PermissionDenied(
            f"{actor.display_name} ({actor.roles_text}) may not see credit applications: "
            f"that needs the role {roles}."
        )


def get_application(db: Database, actor: Actor, application_id: int) -> ApplicationView:
    require_view(actor)
    with db.read() as session:
        return application_view(session, application_in_session(session, application_id))


# ---------------------------------------------------------------------------------------------
# Parsing and checking values
# ---------------------------------------------------------------------------------------------


def _shown(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_money(
    name: str, raw: Any, problems: list[FieldProblem], *, negative: bool = False
) -> Decimal | None:
    """An amount typed or given as Decimal/int; None when empty. Zero and up (below zero too
    when `negative`), at most four decimals; the currency's decimals are checked later, once the
    currency is known."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, float):
        problems.append(FieldProblem(name, "must be an exact Decimal, not a float"))
        return None
    if isinstance(raw, bool) or not isinstance(raw, Decimal | int | str):
        problems.append(FieldProblem(name, "not an amount", value=str(raw)))
        return None
    try:
        amount = parse_amount(raw)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), value=str(raw)))
        return None
    if not amount.is_finite():  # Decimal("NaN") or Infinity given as a value
        problems.append(FieldProblem(name, "not a number", value=str(raw)))
        return None
    if amount < 0 and not negative:
        problems.append(FieldProblem(name, "cannot be negative", value=str(raw)))
    elif abs(amount) > MONEY_MAX or decimals_of(amount) > 4:
        problems.append(FieldProblem(name, "not an amount this app can store", value=str(raw)))
    else:
        # "60000" and a stored 60000.00 are the same amount: keep cents so audit rows read alike.
        return amount.quantize(Decimal("0.01")) if decimals_of(amount) <= 2 else amount
    return None


def parse_whole(name: str, raw: Any, high: int, problems: list[FieldProblem]) -> int | None:
    """A whole number from 0 to `high` (typed or int; never a bool); None when empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value: int | None = raw if is_whole(raw) else None
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        value = int(raw.strip())  # ASCII only: "²" is a digit to Python, not to int()
    if value is None or not 0 <= value <= high:
        problems.append(FieldProblem(name, f"a whole number from 0 to {high}", value=str(raw)))
        return None
    return value


def parse_day(name: str, raw: Any, problems: list[FieldProblem]) -> date | None:
    """A day typed (YYYY-MM-DD, DD.MM.YYYY) or given as a date, in the years the app accepts;
    None when empty."""
    try:
        day = parse_field("next_review_date", raw)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), value=_shown(raw)))
        return None
    if day is not None and not in_range(day):
        problems.append(FieldProblem(name, RANGE_TEXT, value=day.isoformat()))
        return None
    return day


def _parse_one(name: str, raw: Any, problems: list[FieldProblem]) -> Any:
    if name in _LIKE_CUSTOMER:
        try:
            return parse_field(_LIKE_CUSTOMER[name], raw)
        except ValueError as exc:
            problems.append(FieldProblem(name, str(exc), value=_shown(raw)))
            return None
    if name in DAY_FIELDS:
        return parse_day(name, raw, problems)
    if name in MONEY_FIELDS:
        return parse_money(name, raw, problems, negative=name in _MAY_BE_NEGATIVE)
    if name in WHOLE_MAX:
        return parse_whole(name, raw, WHOLE_MAX[name], problems)
    return (str(raw).strip() or None) if raw is not None else None  # notes


def parse_values(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Parse every given field; an unknown name is a problem too (a typo must not vanish)."""
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, value in raw.items():
        if name not in EDITABLE_FIELDS:
            problems.append(FieldProblem(name, "no such application field"))
            continue
        before = len(problems)
        parsed = _parse_one(name, value, problems)
        if len(problems) == before:
            values[name] = parsed
    return values, problems


def _open_application(
    session: Session, *, customer_id: int | None = None, number: str | None = None, but: int = 0
) -> CreditApplication | None:
    """Another open application of the customer, or for the new customer number."""
    stmt = select(CreditApplication).where(
        CreditApplication.state.in_(OPEN_STATES), CreditApplication.id != but
    )
    if customer_id is not None:
        stmt = stmt.where(CreditApplication.customer_id == customer_id)
    else:
        stmt = stmt.where(
            CreditApplication.customer_number == number,
            CreditApplication.kind == KIND_NEW_CUSTOMER,
        )
    return session.scalars(stmt.order_by(CreditApplication.id).limit(1)).first()


def _number_problems(session: Session, number: str | None, but: int) -> list[FieldProblem]:
    """A new customer's number: given, and neither a customer's nor another open
    application's."""
    if not number:
        return [FieldProblem("customer_number", "required for a new customer")]
    if session.scalar(select(Customer.id).where(Customer.number == number)) is not None:
        return [FieldProblem("customer_number", "a customer already has this number", None, number)]
    other = _open_application(session, number=number, but=but)
    if other is not None:
        return [
            FieldProblem(
                "customer_number",
                f"open application {other.number} ({state_label(other.state)}) is for this "
                "customer number already",
                None,
                number,
            )
        ]
    return []


def _check(
    session: Session,
    merged: Mapping[str, Any],
    changed: Mapping[str, Any],
    *,
    kind: str,
    customer: Customer | None,
    application_id: int = 0,
) -> list[FieldProblem]:
    """Rules across fields and against the database, for the values after the change."""
    problems: list[FieldProblem] = []
    if not merged.get("applicant_name"):
        problems.append(FieldProblem("applicant_name", "required"))
    currency = merged.get("currency")
    if not currency:
        problems.append(FieldProblem("currency", "required"))
    elif customer is not None and "currency" in changed and currency != customer.currency:
        problems.append(
            FieldProblem(
                "currency",
                f"a limit for {customer.number} is in its currency {customer.currency}",
                None,
                currency,
            )
        )
    limit = merged.get("requested_limit")
    if limit is None:
        problems.append(FieldProblem("requested_limit", "required"))
    elif limit <= 0 and kind != KIND_REVIEW:
        problems.append(FieldProblem("requested_limit", "must be more than zero", None, str(limit)))
    if currency and is_currency(currency) and ({"currency", *MONEY_FIELDS} & changed.keys()):
        for name in MONEY_FIELDS:
            amount = merged.get(name)
            if amount is not None and decimals_of(amount) > minor_units(currency):
                problems.append(
                    FieldProblem(
                        name, f"{currency} amounts have at most {minor_units(currency)} decimals"
                    )
                )
    terms = changed.get("requested_terms_code")
    if terms and session.get(PaymentTerms, terms) is None:
        known = ", ".join(session.scalars(select(PaymentTerms.code).order_by(PaymentTerms.code)))
        problems.append(
            FieldProblem(
                "requested_terms_code", f"unknown payment terms; one of {known}", None, terms
            )
        )
    if customer is not None:
        if "customer_number" in changed and merged.get("customer_number") != customer.number:
            problems.append(
                FieldProblem(
                    "customer_number",
                    f"this application is for customer {customer.number}; its number is changed "
                    "on the customer",
                    None,
                    _shown(merged.get("customer_number")),
                )
            )
    elif "customer_number" in changed:
        problems += _number_problems(session, merged.get("customer_number"), application_id)
    return problems


def _combined(parsed: list[FieldProblem], checked: list[FieldProblem]) -> list[FieldProblem]:
    """The parsing problems, then the rule problems of fields that parsed (one message per
    field is enough: an empty name is "required" once, not twice)."""
    failed = {p.field for p in parsed}
    return parsed + [p for p in checked if p.field not in failed]


# ---------------------------------------------------------------------------------------------
# Loading under lock
# ---------------------------------------------------------------------------------------------


def serialize_applications(session: Session) -> None:
    """PostgreSQL: wait for any other transaction numbering or checking applications (SQLite's
    write transactions are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})


def application_in_session(
    session: Session, application_id: int, *, lock: bool = False
) -> CreditApplication:
    """The application (row-locked with `lock`), or NotFound for an id that is none."""
    wanted = row_id(application_id, "credit application")
    application = session.get(CreditApplication, wanted, with_for_update=lock)
    if application is None:
        raise NotFound(
            f"Credit application #{application_id} does not exist (deleted by another user?)."
        )
    return application


def locked(session: Session, application_id: int, expected_version: int) -> CreditApplication:
    """The application, row-locked (PostgreSQL) and still at the version the user saw; else a
    ConflictError naming who changed it since."""
    return locked_at_version(
        session,
        CreditApplication,
        application_id,
        expected_version,
        what="Credit application",
        name=lambda row: row.number,
    )


def _touch(application: CreditApplication, actor: Actor, now: datetime | None = None) -> None:
    application.updated_at = now or utcnow()
    application.updated_by_id = actor.user_id or None


def clear_score(application: CreditApplication) -> dict[str, tuple[Any, Any]]:
    """Forget a stored score whose inputs just changed (a decision scores the application
    again); returns the changes for the caller's audit row."""
    changes = {
        name: (getattr(application, name), None)
        for name in _SCORE_COLUMNS
        if getattr(application, name) is not None
    }
    for name in changes:
        setattr(application, name, None)
    return changes


# ---------------------------------------------------------------------------------------------
# Create and edit
# ---------------------------------------------------------------------------------------------


def _next_number(session: Session) -> str:
    """CA-000001, CA-000002, … (longer once past a million): one more than the highest."""
    last = session.scalar(
        select(CreditApplication.number)
        .where(CreditApplication.number.like("CA-%"))
        .order_by(func.length(CreditApplication.number).desc(), CreditApplication.number.desc())
        .limit(1)
    )
    digits = last[3:] if last else "0"
    return f"CA-{(int(digits) if digits.isdigit() else 0) + 1:06d}"


def _customer_for(
    session: Session, customer_id: Any, problems: list[FieldProblem]
) -> Customer | None:
    customer = session.get(Customer, row_id(customer_id, "customer"))
    if customer is None:
        problems.append(FieldProblem("customer_id", "no such customer", None, str(customer_id)))
        return None
    other = _open_application(session, customer_id=customer.id)
    if other is not None:
        problems.append(
            FieldProblem(
                "customer_id",
                f"{customer.number} already has open application {other.number} "
                f"({state_label(other.state)}); work on that one or withdraw it first",
            )
        )
    return customer


def create_in_session(
    session: Session,
    actor: Actor,
    raw: Mapping[str, Any],
    *,
    kind: str,
    customer_id: int | None = None,
) -> CreditApplication:
    """Validate and insert an application with its checklist and audit rows (no commit)."""
    actor.require(Permission.PREPARE_APPLICATIONS)
    serialize_applications(session)
    values, problems = parse_values(raw)
    customer = None
    if kind != KIND_NEW_CUSTOMER:
        customer = _customer_for(session, customer_id, problems)
        if customer is None:  # nothing to copy from: the other fields would only add noise
            raise ValidationFailed([p for p in problems if p.field == "customer_id"])
    merged: dict[str, Any] = {name: None for name in EDITABLE_FIELDS}
    if customer is not None:
        merged.update({k: getattr(customer, c) for k, c in _FROM_CUSTOMER.items()})
    else:
        merged.update(currency=DEFAULTS["currency"], requested_terms_code=DEFAULTS["payment_terms"])
    merged.update(values)
    # Currency (the customer's, or a new customer's) and a new customer's number are always
    # checked on creation, given or not.
    checked = {**values, "currency": merged["currency"]}
    if kind == KIND_NEW_CUSTOMER:
        checked["customer_number"] = merged["customer_number"]
    problems = _combined(problems, _check(session, merged, checked, kind=kind, customer=customer))
    if problems:
        raise ValidationFailed(problems)
    now, today = utcnow(), date.today()
    policy = read_policy(session)
    application = CreditApplication(
        number=_next_number(session),
        kind=kind,
        state=DRAFT,
        customer_id=customer.id if customer else None,
        **merged,
        prepared_by_id=actor.user_id or None,
        created_at=now,
        state_changed_at=now,
        due_date=today + timedelta(days=policy.sla_days[DRAFT]),
        updated_at=now,
        updated_by_id=actor.user_id or None,
    )
    session.add(application)
    checklist_instances.instantiate_in_session(session, application)
    session.flush()
    changes: dict[str, tuple[Any, Any]] = {
        "number": (None, application.number),
        "kind": (None, kind),
        "state": (None, DRAFT),
        **{k: (None, v) for k, v in merged.items() if v not in (None, "")},
        "checklist": (
            None,
            checklist_instances.template_name(session, application.checklist_template_id),
        ),
    }
    audit_change(
        session, actor, audit.CREATE, application, changes, customer_id=application.customer_id
    )
    return application


def create_application(db: Database, actor: Actor, values: Mapping[str, Any]) -> ApplicationView:
    """A new draft application: for an existing customer's limit (`customer_id` given; the
    applicant's details, currency and terms come from the customer unless given) or for a new
    customer. Its checklist comes from the matching template in the same transaction."""
    raw = dict(values)
    customer_id = raw.pop("customer_id", None)
    kind = KIND_NEW_CUSTOMER if customer_id is None else KIND_LIMIT_CHANGE
    with db.write() as session:
        application = create_in_session(session, actor, raw, kind=kind, customer_id=customer_id)
        return application_view(session, application)


def _not_editable(application: CreditApplication) -> ValidationFailed:
    return ValidationFailed(
        [
            FieldProblem(
                "state",
                f"application {application.number} is {state_label(application.state)}; only "
                "applications in draft, submitted or in verification can be changed",
            )
        ]
    )


def update_application(
    db: Database,
    actor: Actor,
    application_id: int,
    expected_version: int,
    values: Mapping[str, Any],
) -> ApplicationView:
    """Save edits made on version `expected_version` (ConflictError if someone saved since).

    When the requested limit, segment or currency changes, the checklist follows the template
    that matches now (checklist_instances.rechoose_in_session: replaced while nobody has worked
    it, else its items and their work kept). A change to a figure the scorecard reads clears the
    stored score, so nobody decides on a stale one."""
    actor.require(Permission.PREPARE_APPLICATIONS)
    parsed, problems = parse_values(values)
    with db.write() as session:
        application = locked(session, application_id, expected_version)
        if application.state not in EDITABLE_STATES:
            raise _not_editable(application)
        before = {name: getattr(application, name) for name in EDITABLE_FIELDS}
        changed = {k: v for k, v in parsed.items() if before[k] != v}
        customer = (
            session.get(Customer, application.customer_id) if application.customer_id else None
        )
        if changed.keys() & {"customer_number"} and customer is None:
            serialize_applications(session)
        problems = _combined(
            problems,
            _check(
                session,
                {**before, **changed},
                changed,
                kind=application.kind,
                customer=customer,
                application_id=application.id,
            ),
        )
        if problems:
            raise ValidationFailed(problems)
        if not changed:
            return application_view(session, application)
        audited: dict[str, tuple[Any, Any]] = {k: (before[k], v) for k, v in changed.items()}
        with session.no_autoflush:  # the edit, the score and the checklist: one version step
            for name, value in changed.items():
                setattr(application, name, value)
            if changed.keys() & SCORE_INPUTS:
                audited.update(clear_score(application))
            _touch(application, actor)
            if changed.keys() & _CHECKLIST_INPUTS:
                replaced = checklist_instances.rechoose_in_session(session, actor, application)
                if replaced is not None:
                    old, new = (checklist_instances.template_name(session, t) for t in replaced)
                    audited["checklist"] = (old, new)
        session.flush()
        audit_change(
            session, actor, audit.UPDATE, application, audited, customer_id=application.customer_id
        )
        return application_view(session, application)


# ---------------------------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------------------------


def check_transition(application: CreditApplication, new_state: str) -> None:
    """TransitionRefused unless ALLOWED_TRANSITIONS has the move; the message lists the moves
    there are."""
    old = application.state
    allowed = ALLOWED_TRANSITIONS.get(old, ())
    if new_state not in allowed:
        where = (
            f"from {state_label(old)} it can go to {', '.join(map(state_label, allowed))}"
            if allowed
            else "it is closed"
        )
        raise TransitionRefused(
            f"Application {application.number} is {state_label(old)} and cannot be moved to "
            f"{state_label(new_state)}: {where}."
        )


def set_state_in_session(
    session: Session,
    actor: Actor,
    application: CreditApplication,
    new_state: str,
    reason: str | None = None,
) -> None:
    """Move an application to `new_state` (the one place that does): refused with
    TransitionRefused unless ALLOWED_TRANSITIONS has the move; stamps state_changed_at, sets the
    service-level due date (none once closed), records the submitter on submission, and audits
    "state" old → new (with the reason, when one is given). Permissions are the caller's."""
    check_transition(application, new_state)
    old = application.state
    now = utcnow()
    changes: dict[str, tuple[Any, Any]] = {"state": (old, new_state)}
    due = None
    if new_state in OPEN_STATES:
        due = date.today() + timedelta(days=read_policy(session).sla_days[new_state])
    if due != application.due_date:
        changes["due_date"] = (application.due_date, due)
    application.state = new_state
    application.state_changed_at = now
    application.due_date = due
    if new_state == SUBMITTED:
        changes["submitted_by_id"] = (application.submitted_by_id, actor.user_id or None)
        application.submitted_by_id = actor.user_id or None
        application.submitted_at = now
    if reason:
        changes["reason"] = (None, reason)
    _touch(application, actor, now)
    session.flush()
    audit_change(
        session, actor, audit.UPDATE, application, changes, customer_id=application.customer_id
    )


def _reason(reason: str | None, what: str) -> str:
    problems: list[FieldProblem] = []
    why = f"say why the application is {what}"
    text_ = text_field("reason", reason, 2000, problems, required=why)
    if problems or text_ is None:
        raise ValidationFailed(problems)
    return text_


def _move(
    db: Database,
    actor: Actor,
    application_id: int,
    expected_version: int,
    new_state: str,
    reason: str | None = None,
) -> ApplicationView:
    actor.require(Permission.PREPARE_APPLICATIONS)
    with db.write() as session:
        application = locked(session, application_id, expected_version)
        check_transition(application, new_state)
        if new_state == SUBMITTED and application.kind == KIND_NEW_CUSTOMER:
            serialize_applications(session)
            problems = _number_problems(session, application.customer_number, application.id)
            if problems:
                raise ValidationFailed(problems)
        if new_state == PENDING_APPROVAL:
            blocking = checklist_instances.blocking_items_in_session(session, application.id)
            if blocking:
                raise ValidationFailed(
                    [
                        FieldProblem("checklist", f"{label}: required, neither verified nor waived")
                        for label in blocking
                    ]
                )
        taken = new_state == IN_VERIFICATION and application.assigned_to_id is None
        if taken:
            application.assigned_to_id = actor.user_id or None
        leaves_approval = application.state == PENDING_APPROVAL
        set_state_in_session(session, actor, application, new_state, reason)
        if leaves_approval:
            _drop_first_approval(session, actor, application, f"{state_label(new_state)}: {reason}")
        if taken and application.assigned_to_id is not None:
            audit_change(
                session,
                actor,
                audit.UPDATE,
                application,
                {"assigned_to_id": (None, application.assigned_to_id)},
                customer_id=application.customer_id,
            )
        return application_view(session, application)


def _drop_first_approval(
    session: Session, actor: Actor, application: CreditApplication, why: str
) -> None:
    """A first approval still awaiting its second approver ends with the application's stay at
    the approver's desk: it is deleted (audited), so none is left behind on a withdrawn
    application or confirmed after the figures were reworked."""
    row = session.scalar(
        select(CreditDecision).where(
            CreditDecision.application_id == application.id, CreditDecision.complete.is_(False)
        )
    )
    if row is None:
        return
    skip = {"id", "application_id", "complete", "updated_at", "updated_by_id", "version"}
    changes: dict[str, tuple[Any, Any]] = {
        column.key: (getattr(row, column.key), None)
        for column in CreditDecision.__table__.columns
        if column.key not in skip and getattr(row, column.key) is not None
    }
    changes["removed"] = (None, why)
    audit_change(session, actor, audit.DELETE, row, changes, customer_id=application.customer_id)
    session.delete(row)


def submit(
    db: Database, actor: Actor, application_id: int, expected_version: int
) -> ApplicationView:
    """Draft → submitted: the preparer hands it to verification. A new customer's number is
    checked again (a customer or another application may have taken it meanwhile)."""
    return _move(db, actor, application_id, expected_version, SUBMITTED)


def start_verification(
    db: Database, actor: Actor, application_id: int, expected_version: int
) -> ApplicationView:
    """Submitted → in verification. Whoever starts verifying an unassigned application takes
    it (it moves to their own queue)."""
    return _move(db, actor, application_id, expected_version, IN_VERIFICATION)


def send_to_approval(
    db: Database, actor: Actor, application_id: int, expected_version: int
) -> ApplicationView:
    """In verification → pending approval; refused (naming each) while a required checklist
    item is neither verified nor waived."""
    return _move(db, actor, application_id, expected_version, PENDING_APPROVAL)


def return_to_verification(
    db: Database, actor: Actor, application_id: int, expected_version: int, reason: str
) -> ApplicationView:
    """Pending approval → in verification, with the reason (audited)."""
    why = _reason(reason, "returned to verification")
    return _move(db, actor, application_id, expected_version, IN_VERIFICATION, why)


def withdraw(
    db: Database, actor: Actor, application_id: int, expected_version: int, reason: str
) -> ApplicationView:
    """Any open state → withdrawn, with the reason (audited). Final."""
    why = _reason(reason, "withdrawn")
    return _move(db, actor, application_id, expected_version, WITHDRAWN, why)


def assign(
    db: Database, actor: Actor, application_id: int, expected_version: int, user_id: int | None
) -> ApplicationView:
    """Give an open application to a user of the credit office to work (None: to nobody; it
    then shows on its preparer's own queue)."""
    actor.require(Permission.PREPARE_APPLICATIONS)
    with db.write() as session:
        application = locked(session, application_id, expected_version)
        problems: list[FieldProblem] = []
        if application.state not in OPEN_STATES:
            problems.append(
                FieldProblem(
                    "assigned_to",
                    f"application {application.number} is {state_label(application.state)}",
                )
            )
        if user_id is not None:
            user = session.get(User, row_id(user_id, "user"))
            if user is None or not user.active:
                problems.append(FieldProblem("assigned_to", "no active user", None, str(user_id)))
            elif not user.role_set & Permission.PREPARE_APPLICATIONS.roles:
                problems.append(
                    FieldProblem(
                        "assigned_to",
                        f"{user.display_name} works no credit applications (no credit clerk, "
                        "credit manager or administrator role)",
                    )
                )
        if problems:
            raise ValidationFailed(problems)
        apply_change(
            session,
            actor,
            application,
            {"assigned_to_id": user_id},
            customer_id=application.customer_id,
        )
        return application_view(session, application)


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------

_REFERENCE_FIELDS = (
    "kind",
    "name",
    "contact_name",
    "phone",
    "email",
    "years_known",
    "highest_credit",
    "rating",
    "notes",
)


def _choice(name: str, raw: Any, choices: tuple[str, ...], problems: list[FieldProblem]) -> Any:
    value = str(raw).strip().lower() if raw is not None else ""
    if value and value not in choices:
        problems.append(FieldProblem(name, f"one of {', '.join(choices)}", None, str(raw)))
    return value or None


def _parse_reference(
    raw: Mapping[str, Any], currency: str
) -> tuple[dict[str, Any], list[FieldProblem]]:
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, value in raw.items():
        if name == "kind":
            values[name] = _choice(name, value, REFERENCE_KINDS, problems)
        elif name == "rating":
            values[name] = _choice(name, value, REFERENCE_RATINGS, problems)
        elif name in ("name", "contact_name"):
            values[name] = text_field(name, value, 200 if name == "name" else 120, problems)
        elif name in ("phone", "email"):
            try:
                values[name] = parse_field(name, value)
            except ValueError as exc:
                problems.append(FieldProblem(name, str(exc), None, _shown(value)))
        elif name == "years_known":
            values[name] = parse_whole(name, value, 300, problems)
        elif name == "highest_credit":
            amount = parse_money(name, value, problems)
            if amount is not None and decimals_of(amount) > minor_units(currency):
                problems.append(
                    FieldProblem(
                        name, f"{currency} amounts have at most {minor_units(currency)} decimals"
                    )
                )
            values[name] = amount
        elif name == "notes":
            values[name] = text_field(name, value, 10_000, problems)
        else:
            problems.append(FieldProblem(name, "no such reference field"))
    return values, problems


def _editable_application(session: Session, application_id: int) -> CreditApplication:
    application = application_in_session(session, application_id, lock=True)
    if application.state not in EDITABLE_STATES:
        raise _not_editable(application)
    return application


def _trade_reference_changed(
    session: Session, actor: Actor, application: CreditApplication, *kinds: str | None
) -> None:
    """Trade references count in the score: one added, changed or removed clears the stored
    score (audited on the application, in the reference's transaction)."""
    if REFERENCE_TRADE in kinds:
        cleared = dict.fromkeys(_SCORE_COLUMNS)
        apply_change(session, actor, application, cleared, customer_id=application.customer_id)


def add_reference(
    db: Database, actor: Actor, application_id: int, values: Mapping[str, Any]
) -> ReferenceView:
    """A trade or bank reference the applicant gave (kind and name required); its rating is
    filled in once it has been checked."""
    actor.require(Permission.PREPARE_APPLICATIONS)
    with db.write() as session:
        application = _editable_application(session, application_id)
        parsed, problems = _parse_reference(values, application.currency)
        for required in ("kind", "name"):
            if not parsed.get(required) and not any(p.field == required for p in problems):
                problems.append(FieldProblem(required, "required"))
        if problems:
            raise ValidationFailed(problems)
        reference = ApplicationReference(
            application_id=application.id,
            **parsed,
            updated_at=utcnow(),
            updated_by_id=actor.user_id or None,
        )
        session.add(reference)
        session.flush()
        changes = {
            "application": (None, application.number),
            **{k: (None, v) for k, v in parsed.items() if v is not None},
        }
        audit_change(
            session, actor, audit.CREATE, reference, changes, customer_id=application.customer_id
        )
        _trade_reference_changed(session, actor, application, reference.kind)
        return view_of(ReferenceView, reference)


def _locked_reference(
    session: Session, reference_id: int, expected_version: int
) -> tuple[ApplicationReference, CreditApplication]:
    wanted = row_id(reference_id, "reference")
    reference = session.get(ApplicationReference, wanted, with_for_update=True)
    if reference is None:
        raise NotFound(f"Reference #{reference_id} does not exist (deleted by another user?).")
    application = _editable_application(session, reference.application_id)
    if reference.version != expected_version:
        raise stale_version_conflict(
            session,
            reference,
            expected_version,
            what="Reference",
            name=f"{reference.name} ({application.number})",
            changed_at=reference.updated_at,
        )
    return reference, application


def update_reference(
    db: Database,
    actor: Actor,
    reference_id: int,
    expected_version: int,
    values: Mapping[str, Any],
) -> ReferenceView:
    actor.require(Permission.PREPARE_APPLICATIONS)
    if "rating" in values:
        actor.require(Permission.VERIFY_CHECKLIST)
    with db.write() as session:
        reference, application = _locked_reference(session, reference_id, expected_version)
        parsed, problems = _parse_reference(values, application.currency)
        for required in ("kind", "name"):
            if required in parsed and not parsed[required]:
                problems.append(FieldProblem(required, "required"))
        if problems:
            raise ValidationFailed(problems)
        kind_before = reference.kind
        if apply_change(session, actor, reference, parsed, customer_id=application.customer_id):
            _trade_reference_changed(session, actor, application, kind_before, reference.kind)
        return view_of(ReferenceView, reference)


def remove_reference(db: Database, actor: Actor, reference_id: int, expected_version: int) -> None:
    actor.require(Permission.PREPARE_APPLICATIONS)
    with db.write() as session:
        reference, application = _locked_reference(session, reference_id, expected_version)
        changes = {
            "application": (application.number, None),
            **{
                k: (getattr(reference, k), None)
                for k in _REFERENCE_FIELDS
                if getattr(reference, k) is not None
            },
        }
        audit_change(
            session, actor, audit.DELETE, reference, changes, customer_id=application.customer_id
        )
        _trade_reference_changed(session, actor, application, reference.kind)
        session.delete(reference)
