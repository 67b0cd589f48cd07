"""The statement delivery log: every statement produced, for whom, by whom, and how it went out.

One row per statement file written, printed or e-mailed (a batch of 2,000 customers that is also
e-mailed leaves 4,000 rows). The SHA-256 of the file proves later which document the customer
received; the file itself may be moved or deleted, the log stays.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c_desktop.models.base import Base, UTCDateTime, utcnow

CHANNEL_FILE, CHANNEL_PRINT, CHANNEL_EMAIL = "file", "print", "email"
CHANNELS = (CHANNEL_FILE, CHANNEL_PRINT, CHANNEL_EMAIL)
RESULT_OK, RESULT_FAILED, RESULT_RETRYING = "ok", "failed", "retrying"


class StatementDelivery(Base):
    """A statement produced for a customer and where it went (file, printer, e-mail)."""

    __tablename__ = "statement_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A deleted customer takes its log along; the audit log keeps the record of the deletion.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    produced_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    statement_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    result: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(String(320))

    __table_args__ = (
        CheckConstraint("channel IN ('file', 'print', 'email')", name="channel_known"),
        Index("ix_statement_deliveries_customer_id_produced_at", "customer_id", "produced_at"),
        Index("ix_statement_deliveries_statement_date", "statement_date"),
    )
