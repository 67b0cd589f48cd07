"""Collections: portfolios (assignment rules), strategies, calls, promises to pay, claims on a
customer while a collector works it, and dunning (levels, runs, letters and the items they
carried).

A promise's state (open, kept, broken) is not stored: it follows from the payments dated up to
its date + grace and from today's date (see services.promises), so it changes "by itself" as
payments arrive and days pass, on every database and without a scheduler. Only a cancellation
is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from o2c_desktop.db.types import Money
from o2c_desktop.models.base import Base, UTCDateTime, utcnow

# Call outcomes, in the order the log-a-call dialog offers them (digits 1-8 pick one).
OUTCOME_REACHED = "reached"
OUTCOME_NO_ANSWER = "no_answer"
OUTCOME_LEFT_MESSAGE = "left_message"
OUTCOME_WRONG_NUMBER = "wrong_number"
OUTCOME_PROMISE = "promise"
OUTCOME_DISPUTE = "dispute"
OUTCOME_REFUSED = "refused"
OUTCOME_PAID_ALREADY = "paid_already"
CALL_OUTCOMES = (
    OUTCOME_REACHED,
    OUTCOME_NO_ANSWER,
    OUTCOME_LEFT_MESSAGE,
    OUTCOME_WRONG_NUMBER,
    OUTCOME_PROMISE,
    OUTCOME_DISPUTE,
    OUTCOME_REFUSED,
    OUTCOME_PAID_ALREADY,
)
# Outcomes in which someone at the customer was spoken to (the contact rate's numerator).
CONTACT_OUTCOMES = (
    OUTCOME_REACHED,
    OUTCOME_PROMISE,
    OUTCOME_DISPUTE,
    OUTCOME_REFUSED,
    OUTCOME_PAID_ALREADY,
)

CHANNEL_LETTER, CHANNEL_EMAIL = "letter", "email"
DUNNING_CHANNELS = (CHANNEL_LETTER, CHANNEL_EMAIL)
RUN_PROPOSED, RUN_PRODUCED, RUN_CANCELLED = "proposed", "produced", "cancelled"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class CollectionStrategy(Base):
    """Weighted rules that score and order the call list, as JSON (see
    services.collection_strategy for the schema). Exactly one is active."""

    __tablename__ = "collection_strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    rules: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        # At most one active strategy, even when two managers activate at the same moment.
        Index(
            "uq_collection_strategies_active",
            "active",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )


class AssignmentRule(Base):
    """Which collector gets a customer: the first rule (by position) whose every given condition
    matches. Region is the customer's country code."""

    __tablename__ = "assignment_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    collector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    segment: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(2))
    number_from: Mapped[str | None] = mapped_column(String(32))
    number_to: Mapped[str | None] = mapped_column(String(32))
    # A balance band is in one currency: it matches only customers whose currency this is.
    currency: Mapped[str | None] = mapped_column(String(3))
    balance_min: Mapped[Decimal | None] = mapped_column(Money)
    balance_max: Mapped[Decimal | None] = mapped_column(Money)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Call(Base):
    """A logged call (or attempt) with its outcome and the follow-up it asks for."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    called_on: Mapped[date] = mapped_column(Date)  # the business day, for per-day figures
    outcome: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(f"outcome IN ({_in(CALL_OUTCOMES)})", name="outcome_known"),
        Index("ix_calls_customer_id_called_at", "customer_id", "called_at"),
        Index("ix_calls_user_id_called_on", "user_id", "called_on"),
        Index("ix_calls_follow_up_on", "follow_up_on"),
    )


class Promise(Base):
    """A promise to pay `amount` by `promised_on`; kept when payments dated from `made_on` up to
    `promised_on` + `grace_days` cover `threshold_percent` of it, broken when that day passes."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    made_on: Mapped[date] = mapped_column(Date)
    made_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    promised_on: Mapped[date] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer, default=3)
    threshold_percent: Mapped[int] = mapped_column(Integer, default=100)
    cancelled_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("grace_days >= 0", name="grace_not_negative"),
        CheckConstraint(
            "threshold_percent > 0 AND threshold_percent <= 100", name="threshold_in_range"
        ),
        Index("ix_promises_customer_id_promised_on", "customer_id", "promised_on"),
        Index("ix_promises_promised_on", "promised_on"),
    )


class PromiseItem(Base):
    """An invoice a promise covers."""

    __tablename__ = "promise_items"

    promise_id: Mapped[int] = mapped_column(
        ForeignKey("promises.id", ondelete="CASCADE"), primary_key=True
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)

    __table_args__ = (Index("ix_promise_items_invoice_id", "invoice_id"),)


class CollectionClaim(Base):
    """A collector working a customer: a lease that expires, so a crashed client's claim lapses.
    One row per customer; claiming is an atomic insert-or-take-over-if-expired."""

    __tablename__ = "collection_claims"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DunningLevel(Base):
    """A reminder level: reached when an item is at least `days_past_due` overdue."""

    __tablename__ = "dunning_levels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(80))
    days_past_due: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8), default=CHANNEL_LETTER)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # The fee is charged on letters in this currency only (no exchange rates); NULL: no fee.
    fee_currency: Mapped[str | None] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint(f"channel IN ({_in(DUNNING_CHANNELS)})", name="channel_known"),
        CheckConstraint("level > 0", name="level_positive"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
    )


class DunningRun(Base):
    """A dunning run for a date: proposed (letters to review), then produced."""

    __tablename__ = "dunning_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=RUN_PROPOSED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    produced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    out_dir: Mapped[str | None] = mapped_column(String(500))
    # Who is producing the letters right now, until when: a second producer is refused, and a
    # crashed one's lease runs out.
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    producing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint(
            f"status IN ({_in((RUN_PROPOSED, RUN_PRODUCED, RUN_CANCELLED))})", name="status_known"
        ),
    )


class DunningLetter(Base):
    """One customer's letter in a run, at the highest level its items reached."""

    __tablename__ = "dunning_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("dunning_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    overdue: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    channel: Mapped[str] = mapped_column(String(8))
    included: Mapped[bool] = mapped_column(Boolean, default=True)  # the reviewer may leave it out
    file_name: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    produced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_dunning_letters_run_id", "run_id"),
        Index("ix_dunning_letters_customer_id", "customer_id"),
    )


class DunningLetterItem(Base):
    """An item a letter carried, with the level it reached: the item's dunning history."""

    __tablename__ = "dunning_letter_items"

    letter_id: Mapped[int] = mapped_column(
        ForeignKey("dunning_letters.id", ondelete="CASCADE"), primary_key=True
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    days_past_due: Mapped[int] = mapped_column(Integer)
    open_amount: Mapped[Decimal] = mapped_column(Money)

    __table_args__ = (Index("ix_dunning_letter_items_invoice_id", "invoice_id"),)
