"""`bulk_insert_columns`: rows given column by column, `Same` for a value every row has, on both
engines (COPY text on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import Same, bulk_insert_columns
from o2c_desktop.models import AuditEntry


def test_same_values_and_lists_arrive_as_given(db: Database) -> None:
    at = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)
    with db.write() as session:
        bulk_insert_columns(
            session,
            AuditEntry.__table__,
            {
                "at": Same(at),
                "user_id": Same(None),
                "username": Same("loader\twith a tab"),
                "action": Same("create"),
                "table_name": Same("invoices"),
                "record_id": ["1", "2", "3"],
                "record_version": Same(1),
                "customer_id": [7, None, 9],
                "field": Same(None),
                "old_value": Same(None),
                "new_value": ["a", "b\nc", "back\\slash"],
            },
        )
    with db.read() as session:
        rows = session.execute(
            select(
                AuditEntry.record_id,
                AuditEntry.at,
                AuditEntry.user_id,
                AuditEntry.username,
                AuditEntry.record_version,
                AuditEntry.customer_id,
                AuditEntry.field,
                AuditEntry.new_value,
            ).order_by(AuditEntry.record_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("1", at, None, "loader\twith a tab", 1, 7, None, "a"),
        ("2", at, None, "loader\twith a tab", 1, None, None, "b\nc"),
        ("3", at, None, "loader\twith a tab", 1, 9, None, "back\\slash"),
    ]
