"""The credit department's work lists: applications by state (a clerk's own, or everyone's),
and the reviews coming up (customers due for their periodic review, temporary limits about to
end, documents about to lapse).

Both are filtered and sorted in SQL, with no query per row: the application queue stays quick at
50,000 applications (the state filter and, for "mine", the assignee go through their indexes),
the review queue at 200,000 customers (three set-based queries, whatever the portfolio's size).
Age in state and lateness are plain arithmetic on the fetched rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import (
    ApplicationChecklistItem,
    CreditApplication,
    Customer,
    Document,
    User,
)
from o2c_desktop.models.credit import (
    APPLICATION_STATES,
    DECLINED,
    KIND_REVIEW,
    OPEN_STATES,
    WITHDRAWN,
)
from o2c_desktop.money import money_text
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.credit_applications import (
    ApplicationView,
    age_in_state,
    application_view,
    create_in_session,
    is_overdue,
    require_view,
)
from o2c_desktop.services.credit_policy import read_policy
from o2c_desktop.services.field_checks import row_id
from o2c_desktop.services.search_terms import words

SCOPES = ("department", "mine")
REVIEW_DUE, TEMPORARY_LIMIT_EXPIRING, DOCUMENT_EXPIRING = (
    "review_due",
    "temporary_limit_expiring",
    "document_expiring",
)
# A temporary limit stays on the queue this many days after it ended (someone should notice).
TEMPORARY_LIMIT_GRACE_DAYS = 7
_SKIPPED_DOCUMENT_STATES = (WITHDRAWN, DECLINED)


# ---------------------------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueQuery:
    """`scope` "mine": assigned to the actor, or prepared by them while nobody is assigned.
    `search`: every word typed must appear in the number, applicant or customer number."""

    scope: str = "department"
    states: tuple[str, ...] = OPEN_STATES
    search: str = ""
    overdue_only: bool = False
    limit: int = 10_000


@dataclass(frozen=True)
class QueueRow:
    id: int
    number: str
    kind: str
    applicant_name: str
    customer_number: str | None
    state: str
    currency: str
    requested_limit: Decimal
    assigned_to: str | None
    prepared_by: str | None
    age_in_state_days: int
    due_date: date | None
    overdue: bool
    score: Decimal | None
    risk_class: str | None
    version: int
    customer_id: int | None = None
    assigned_to_id: int | None = None


_assignee = aliased(User, name="assignee")
_preparer = aliased(User, name="preparer")


def _check_query(query: QueueQuery) -> None:
    problems = []
    if query.scope not in SCOPES:
        problems.append(FieldProblem("scope", f"one of {', '.join(SCOPES)}", None, query.scope))
    unknown = [s for s in query.states if s not in APPLICATION_STATES]
    if unknown:
        problems.append(FieldProblem("states", "unknown application state", None, unknown[0]))
    if problems:
        raise ValidationFailed(problems)


def _search(text: str) -> list[Any]:
    """One condition per word typed: found in the number, the applicant's name or the customer
    number (case-insensitive, LIKE characters taken literally)."""
    conditions = []
    for word in words(text):
        conditions.append(
            or_(
                *(
                    func.lower(column).contains(word, autoescape=True)
                    for column in (
                        CreditApplication.number,
                        CreditApplication.applicant_name,
                        CreditApplication.customer_number,
                    )
                )
            )
        )
    return conditions


def _queue_statement(query: QueueQuery, actor: Actor, as_of: date) -> Any:
    stmt = (
        select(
            CreditApplication.id,
            CreditApplication.number,
            CreditApplication.kind,
            CreditApplication.applicant_name,
            CreditApplication.customer_number,
            CreditApplication.state,
            CreditApplication.currency,
            CreditApplication.requested_limit,
            _assignee.display_name,
            _preparer.display_name,
            CreditApplication.state_changed_at,
            CreditApplication.due_date,
            CreditApplication.score,
            CreditApplication.risk_class,
            CreditApplication.version,
            CreditApplication.customer_id,
            CreditApplication.assigned_to_id,
        )
        .outerjoin(_assignee, _assignee.id == CreditApplication.assigned_to_id)
        .outerjoin(_preparer, _preparer.id == CreditApplication.prepared_by_id)
    )
    if set(query.states) != set(APPLICATION_STATES):
        stmt = stmt.where(CreditApplication.state.in_(query.states))
    if query.scope == "mine":
        me = actor.user_id or -1
        stmt = stmt.where(
            or_(
                CreditApplication.assigned_to_id == me,
                and_(
                    CreditApplication.assigned_to_id.is_(None),
                    CreditApplication.prepared_by_id == me,
                ),
            )
        )
    if query.overdue_only:
        stmt = stmt.where(CreditApplication.due_date < as_of)
    stmt = stmt.where(*_search(query.search))
    return stmt.order_by(
        CreditApplication.due_date.asc().nulls_last(), CreditApplication.number
    ).limit(query.limit)


def application_queue(
    db: Database, actor: Actor, query: QueueQuery, as_of: date | None = None
) -> list[QueueRow]:
    """The applications of the query, by due date (the most urgent first), then number."""
    require_view(actor)
    _check_query(query)
    today = as_of or date.today()
    with db.read() as session:
        rows = session.execute(_queue_statement(query, actor, today)).all()
    return [
        QueueRow(
            id=r[0],
            number=r[1],
            kind=r[2],
            applicant_name=r[3],
            customer_number=r[4],
            state=r[5],
            currency=r[6],
            requested_limit=r[7],
            assigned_to=r[8],
            prepared_by=r[9],
            age_in_state_days=age_in_state(r[10], today),
            due_date=r[11],
            overdue=is_overdue(r[11], today),
            score=r[12],
            risk_class=r[13],
            version=r[14],
            customer_id=r[15],
            assigned_to_id=r[16],
        )
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# Reviews
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """Something the department should look at by `due`: a customer's periodic review, the end
    of a temporary limit, or a document's expiry (then `application_id` / `document_id` say
    which)."""

    kind: str
    customer_id: int
    customer_number: str
    customer_name: str
    due: date
    detail: str
    application_id: int | None = None
    document_id: int | None = None


def _no_open_application() -> Any:
    return ~exists().where(
        CreditApplication.customer_id == Customer.id, CreditApplication.state.in_(OPEN_STATES)
    )


def _reviews_due(session: Session, until: date) -> list[ReviewItem]:
    rows = session.execute(
        select(
            Customer.id,
            Customer.number,
            Customer.name,
            Customer.next_review_date,
            Customer.risk_class,
            Customer.credit_limit,
            Customer.currency,
        ).where(Customer.next_review_date <= until, _no_open_application())
    )
    return [
        ReviewItem(
            REVIEW_DUE,
            cid,
            number,
            name,
            due,
            f"Periodic review (risk class {risk or '–'}, limit {money_text(limit, currency)})",
        )
        for cid, number, name, due, risk, limit, currency in rows
    ]


def _temporary_limits(session: Session, since: date, until: date) -> list[ReviewItem]:
    rows = session.execute(
        select(
            Customer.id,
            Customer.number,
            Customer.name,
            Customer.temporary_limit_until,
            Customer.temporary_limit,
            Customer.credit_limit,
            Customer.currency,
        ).where(
            Customer.temporary_limit.is_not(None),
            Customer.temporary_limit_until.between(since, until),
            _no_open_application(),
        )
    )
    return [
        ReviewItem(
            TEMPORARY_LIMIT_EXPIRING,
            cid,
            number,
            name,
            until_day,
            f"Temporary limit {money_text(temporary, currency)} ends; then "
            f"{money_text(limit, currency)} applies",
        )
        for cid, number, name, until_day, temporary, limit, currency in rows
    ]


def _newer_for_same_item(item: Any) -> Any:
    """SQL: a document of the same customer, for a checklist item of the same code, that expires
    later than `Document` (and whose application was not withdrawn or declined): it replaced
    `Document`. Two routes, each through an index (documents.customer_id, or the customer's
    applications and their documents), instead of a walk along the expiry index per document:
    that took 25 s for 2,500 lapsing documents among 20,000 on SQLite."""
    newer = aliased(Document, name="newer")
    newer_item = aliased(ApplicationChecklistItem, name="newer_item")
    newer_application = aliased(CreditApplication, name="newer_application")
    same_item_later = and_(
        newer_item.id == newer.checklist_item_id,
        newer_item.code == item.code,
        newer.expires_on > Document.expires_on,
    )
    by_customer = exists(
        select(newer.id)
        .join(newer_item, same_item_later)
        .outerjoin(newer_application, newer_application.id == newer.application_id)
        .where(
            newer.customer_id == Customer.id,
            or_(
                newer_application.id.is_(None),
                newer_application.state.not_in(_SKIPPED_DOCUMENT_STATES),
            ),
        )
    )
    by_application = exists(
        select(newer.id)
        .select_from(newer_application)
        .join(newer, newer.application_id == newer_application.id)
        .join(newer_item, same_item_later)
        .where(
            newer_application.customer_id == Customer.id,
            newer_application.state.not_in(_SKIPPED_DOCUMENT_STATES),
        )
    )
    return or_(by_customer, by_application)


def _documents(session: Session, until: date, as_of: date) -> list[ReviewItem]:
    """Documents lapsing by `until`, of a known customer (their own, or their application's),
    unless their application was withdrawn or declined, or a document for the same checklist
    item code of the same customer expires later (the newer one replaced it)."""
    application = aliased(CreditApplication, name="application")
    item = aliased(ApplicationChecklistItem, name="item")
    owner = func.coalesce(Document.customer_id, application.customer_id)
    rows = session.execute(
        select(
            Document.id,
            Document.application_id,
            Document.filename,
            Document.description,
            Document.expires_on,
            item.label,
            Customer.id,
            Customer.number,
            Customer.name,
        )
        .select_from(Document)
        .outerjoin(application, application.id == Document.application_id)
        .outerjoin(item, item.id == Document.checklist_item_id)
        .join(Customer, Customer.id == owner)
        .where(
            Document.expires_on <= until,
            or_(application.id.is_(None), application.state.not_in(_SKIPPED_DOCUMENT_STATES)),
            or_(item.id.is_(None), ~_newer_for_same_item(item)),
        )
    )
    items = []
    for doc_id, app_id, filename, description, expires, label, cid, number, name in rows:
        what = label or description or "Document"
        verb = "expired" if expires < as_of else "expires"
        items.append(
            ReviewItem(
                DOCUMENT_EXPIRING,
                cid,
                number,
                name,
                expires,
                f"{what} ({filename}) {verb} {expires.isoformat()}",
                application_id=app_id,
                document_id=doc_id,
            )
        )
    return items


def review_queue(db: Database, actor: Actor, as_of: date | None = None) -> list[ReviewItem]:
    """What comes up for review by the credit policy's lead times, earliest first: periodic
    reviews due within `review_lead_days` (customers with an open application are being
    reviewed already and are left out, as are their ending temporary limits), temporary limits
    ending within that lead (or ended in the last week), and documents lapsing within
    `document_lead_days`."""
    require_view(actor)
    today = as_of or date.today()
    with db.read() as session:
        policy = read_policy(session)
        review_until = today + timedelta(days=policy.review_lead_days)
        items = (
            _reviews_due(session, review_until)
            + _temporary_limits(
                session, today - timedelta(days=TEMPORARY_LIMIT_GRACE_DAYS), review_until
            )
            + _documents(session, today + timedelta(days=policy.document_lead_days), today)
        )
    return sorted(items, key=lambda i: (i.due, i.customer_number, i.kind, i.document_id or 0))


def start_review(db: Database, actor: Actor, customer_id: int) -> ApplicationView:
    """A "review" application for the customer, prefilled from it, asking for the limit it has
    now (the clerk changes it if the review suggests another)."""
    with db.write() as session:
        customer = session.get(Customer, row_id(customer_id, "customer"))
        if customer is None:
            raise NotFound(f"Customer #{customer_id} does not exist (deleted by another user?).")
        application = create_in_session(
            session,
            actor,
            {"requested_limit": customer.credit_limit},
            kind=KIND_REVIEW,
            customer_id=customer.id,
        )
        return application_view(session, application)
