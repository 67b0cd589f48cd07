"""The audit log: who changed which field of which record, when, from what to what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c_desktop.models.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    """One changed field (or a whole-record event when `field` is None).

    `customer_id` ties entries on a customer's contacts and notes to the customer, so the History
    tab is one indexed query. `username` is copied so the log still reads after a user is renamed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(10))
    table_name: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(40))
    record_version: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_log_customer_id_at", "customer_id", "at"),
        Index("ix_audit_log_table_name_record_id", "table_name", "record_id"),
    )
