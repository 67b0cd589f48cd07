"""Credit: applications for a new customer or a limit change, their references and verification
checklists (from templates), attached documents, versioned scorecards, approval authorities, the
decisions taken, and customer orders with their credit holds.

What can be computed is not stored: an application's age in state follows from
`state_changed_at`, a document's review from `expires_on`, a customer's effective limit from its
temporary limit and expiry (see services.credit_policy), the holds queue from the orders' status.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, deferred, mapped_column

from o2c_desktop.db.types import Money
from o2c_desktop.models.base import Base, UTCDateTime, utcnow

# Application kinds and states (the workflow is in services.credit_applications).
KIND_NEW_CUSTOMER, KIND_LIMIT_CHANGE, KIND_REVIEW = "new_customer", "limit_change", "review"
APPLICATION_KINDS = (KIND_NEW_CUSTOMER, KIND_LIMIT_CHANGE, KIND_REVIEW)
DRAFT = "draft"
SUBMITTED = "submitted"
IN_VERIFICATION = "in_verification"
PENDING_APPROVAL = "pending_approval"
APPROVED = "approved"
CONDITIONALLY_APPROVED = "conditionally_approved"
DECLINED = "declined"
WITHDRAWN = "withdrawn"
APPLICATION_STATES = (
    DRAFT,
    SUBMITTED,
    IN_VERIFICATION,
    PENDING_APPROVAL,
    APPROVED,
    CONDITIONALLY_APPROVED,
    DECLINED,
    WITHDRAWN,
)
OPEN_STATES = (DRAFT, SUBMITTED, IN_VERIFICATION, PENDING_APPROVAL)
CLOSED_STATES = (APPROVED, CONDITIONALLY_APPROVED, DECLINED, WITHDRAWN)

REFERENCE_TRADE, REFERENCE_BANK = "trade", "bank"
REFERENCE_KINDS = (REFERENCE_TRADE, REFERENCE_BANK)
REFERENCE_RATINGS = ("good", "satisfactory", "poor")

ITEM_PENDING = "pending"
ITEM_RECEIVED = "received"
ITEM_VERIFIED = "verified"
ITEM_REJECTED = "rejected"
ITEM_WAIVED = "waived"
ITEM_STATUSES = (ITEM_PENDING, ITEM_RECEIVED, ITEM_VERIFIED, ITEM_REJECTED, ITEM_WAIVED)
ITEM_DONE = (ITEM_VERIFIED, ITEM_WAIVED)  # what lets a required item pass to approval

STORAGE_DATABASE, STORAGE_STORE = "database", "store"

OUTCOME_APPROVED = "approved"
OUTCOME_CONDITIONAL = "conditional"
OUTCOME_DECLINED = "declined"
DECISION_OUTCOMES = (OUTCOME_APPROVED, OUTCOME_CONDITIONAL, OUTCOME_DECLINED)

ORDER_OPEN = "open"  # released or never held: counts in exposure
ORDER_HELD = "held"
ORDER_REJECTED = "rejected"
ORDER_CLOSED = "closed"  # invoiced (its invoice now carries the exposure) or cancelled
ORDER_STATUSES = (ORDER_OPEN, ORDER_HELD, ORDER_REJECTED, ORDER_CLOSED)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class _Edited:
    """Who changed a row last, and when; the version guards against lost updates."""

    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class CreditApplication(_Edited, Base):
    """A request for credit: for a new customer (the customer is created when approved) or a
    new limit for an existing one (also a periodic review). Applicant details and financial
    figures are kept as submitted, so a decision can always be explained later."""

    __tablename__ = "credit_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24), default=DRAFT, index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # Applicant (for a new customer; copied from the customer for a limit change)
    customer_number: Mapped[str | None] = mapped_column(String(32))
    applicant_name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(40))
    segment: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Request
    currency: Mapped[str] = mapped_column(String(3))
    requested_limit: Mapped[Decimal] = mapped_column(Money)
    requested_terms_code: Mapped[str | None] = mapped_column(ForeignKey("payment_terms.code"))
    requested_temporary_until: Mapped[date | None] = mapped_column(Date)
    # Financial figures
    financials_date: Mapped[date | None] = mapped_column(Date)
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money)
    net_worth: Mapped[Decimal | None] = mapped_column(Money)
    current_assets: Mapped[Decimal | None] = mapped_column(Money)
    current_liabilities: Mapped[Decimal | None] = mapped_column(Money)
    total_liabilities: Mapped[Decimal | None] = mapped_column(Money)
    years_in_business: Mapped[int | None] = mapped_column(Integer)
    bureau_score: Mapped[int | None] = mapped_column(Integer)
    expected_monthly_purchases: Mapped[Decimal | None] = mapped_column(Money)
    notes: Mapped[str | None] = mapped_column(Text)
    # Verification and scoring
    checklist_template_id: Mapped[int | None] = mapped_column(ForeignKey("checklist_templates.id"))
    scorecard_id: Mapped[int | None] = mapped_column(ForeignKey("scorecards.id"))
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    risk_class: Mapped[str | None] = mapped_column(String(1))
    recommended_limit: Mapped[Decimal | None] = mapped_column(Money)
    score_detail: Mapped[str | None] = mapped_column(Text)  # JSON: each factor's value, points
    # People and times (four eyes: neither preparer nor submitter may approve)
    prepared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_date: Mapped[date | None] = mapped_column(Date)  # service level for the current state

    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(APPLICATION_KINDS)})", name="kind"),
        CheckConstraint(f"state IN ({_in(APPLICATION_STATES)})", name="state"),
        CheckConstraint("requested_limit >= 0", name="requested_limit"),
    )


class ApplicationReference(_Edited, Base):
    """A trade or bank reference given by the applicant, and what it said when checked."""

    __tablename__ = "application_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("credit_applications.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    years_known: Mapped[int | None] = mapped_column(Integer)
    highest_credit: Mapped[Decimal | None] = mapped_column(Money)
    rating: Mapped[str | None] = mapped_column(String(12))  # REFERENCE_RATINGS, once checked
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint(f"kind IN ({_in(REFERENCE_KINDS)})", name="kind"),)


class ChecklistTemplate(_Edited, Base):
    """Which verification items an application needs: the first active template (by position)
    whose segment, currency and amount range match the application (empty = any)."""

    __tablename__ = "checklist_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))
    min_amount: Mapped[Decimal | None] = mapped_column(Money)
    max_amount: Mapped[Decimal | None] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ChecklistTemplateItem(Base):
    """One item of a template. `required_above`: optional below that requested amount, required
    from it (a personal guarantee above 100,000). `quantity`: how many (trade references: 3).
    `validity_months`: documents for it lapse that long after their date (financial
    statements: 15)."""

    __tablename__ = "checklist_template_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("checklist_templates.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    required_above: Mapped[Decimal | None] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    validity_months: Mapped[int | None] = mapped_column(Integer)


class ApplicationChecklistItem(_Edited, Base):
    """An application's copy of a template item (so editing a template never changes a checklist
    already worked), with its status and who verified or waived it."""

    __tablename__ = "application_checklist_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("credit_applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    validity_months: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=ITEM_PENDING)
    notes: Mapped[str | None] = mapped_column(Text)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiver_reason: Mapped[str | None] = mapped_column(String(500))
    waiver_authority: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (CheckConstraint(f"status IN ({_in(ITEM_STATUSES)})", name="status"),)


class Document(Base):
    """An attached file: its bytes in the database (`content`) or in the configured document
    store (`store_path`, named by hash), always with its SHA-256, size and type, so a file changed
    on disk is noticed before anyone relies on it. `expires_on` raises a review before it lapses."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_applications.id", ondelete="CASCADE"), index=True
    )
    checklist_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("application_checklist_items.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage: Mapped[str] = mapped_column(String(12), default=STORAGE_DATABASE)
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    store_path: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(String(300))
    document_date: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Scorecard(Base):
    """One version of the scorecard (factors, bands, weights, risk classes, limit rule as JSON;
    see services.scorecards). Rows are never edited: saving makes the next version and makes it
    the active one, so every application's score can be explained with the version it used."""

    __tablename__ = "scorecards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    version_no: Mapped[int] = mapped_column(Integer)
    rules: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("version_no", name="uq_scorecards_version_no"),
        Index(
            "uq_scorecards_active",
            "active",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )


class ApprovalAuthority(_Edited, Base):
    """How much credit a user, or everyone with a role, may grant in one currency: alone up to
    `alone_max`, and together with a second approver up to `jointly_max` (none: never). A user's
    own row wins over their roles' rows; among roles the highest counts."""

    __tablename__ = "approval_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    alone_max: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    jointly_max: Mapped[Decimal | None] = mapped_column(Money)

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name="subject"),
        CheckConstraint("alone_max >= 0", name="alone_max"),
        UniqueConstraint("user_id", "role", "currency", name="uq_approval_authorities_subject"),
    )


class CreditDecision(_Edited, Base):
    """The decision on an application. Above the first approver's own authority it waits for a
    second approver (`complete` false) and the application stays pending approval; when complete,
    the customer was updated (or created) in the same transaction."""

    __tablename__ = "credit_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("credit_applications.id", ondelete="CASCADE"), unique=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    temporary_limit: Mapped[Decimal | None] = mapped_column(Money)
    temporary_until: Mapped[date | None] = mapped_column(Date)
    risk_class: Mapped[str | None] = mapped_column(String(1))
    terms_code: Mapped[str | None] = mapped_column(ForeignKey("payment_terms.code"))
    next_review_date: Mapped[date | None] = mapped_column(Date)
    conditions: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    first_approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    second_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    second_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        CheckConstraint(f"outcome IN ({_in(DECISION_OUTCOMES)})", name="outcome"),
        CheckConstraint(
            "second_approver_id IS NULL OR second_approver_id <> first_approver_id",
            name="two_people",
        ),
    )


class Order(_Edited, Base):
    """A customer order on credit. Open orders count in exposure; an order that would exceed the
    available credit, or for a customer on hold or with items long past due, is held (with the
    reasons) until someone with authority releases or rejects it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    external_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=ORDER_OPEN)
    hold_reasons: Mapped[str | None] = mapped_column(Text)  # one reason per line
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ORDER_STATUSES)})", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        # The exposure sums and the holds queue read only the few open and held orders.
        Index(
            "ix_orders_open_by_customer",
            "customer_id",
            "status",
            postgresql_where=text("status IN ('open', 'held')"),
            sqlite_where=text("status IN ('open', 'held')"),
        ),
    )
