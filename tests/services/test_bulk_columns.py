"""`bulk_insert_columns`: rows given column by column, `Same` for a value every row has, on both
engines (COPY text on PostgreSQL, executemany on SQLite); `bulk_insert_column_parts`: the same in
parts, as one insert (one COPY on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import Same, bulk_insert_column_parts, bulk_insert_columns
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


def _notes(ids: list[int], at: datetime) -> dict[str, object]:
    return {
        "at": Same(at),
        "username": Same("loader"),
        "action": Same("create"),
        "table_name": Same("invoices"),
        "record_id": [str(i) for i in ids],
        "new_value": [f"note {i}" for i in ids],
    }


def _stored(db: Database) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.execute(
            select(AuditEntry.record_id, AuditEntry.new_value).order_by(AuditEntry.id)
        ).all()
    return [tuple(r) for r in rows]


def test_parts_arrive_as_one_insert_in_order_and_a_generator_is_asked_part_by_part(
    db: Database,
) -> None:
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    asked: list[int] = []

    def parts():
        for first in (1, 4, 7):
            asked.append(first)
            yield _notes([first, first + 1, first + 2], at)
        yield _notes([], at)  # an empty part is skipped

    with db.write() as session:
        bulk_insert_column_parts(session, AuditEntry.__table__, parts())
    assert asked == [1, 4, 7]
    assert _stored(db) == [(str(i), f"note {i}") for i in range(1, 10)]


def test_a_failure_between_parts_writes_nothing(db: Database) -> None:
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def parts():
        yield _notes([1, 2], at)
        raise RuntimeError("cancelled between parts")

    with pytest.raises(RuntimeError, match="between parts"), db.write() as session:
        bulk_insert_column_parts(session, AuditEntry.__table__, parts())
    assert _stored(db) == []


def test_parts_must_have_the_same_columns(db: Database) -> None:
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    other = _notes([3], at)
    del other["new_value"]
    with pytest.raises(ValueError, match="different columns"), db.write() as session:
        bulk_insert_column_parts(session, AuditEntry.__table__, [_notes([1, 2], at), other])
    assert _stored(db) == []
