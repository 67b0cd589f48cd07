"""Money columns keep Decimal amounts exactly, on SQLite (scaled integers) and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.exc import StatementError

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import bulk_insert
from o2c_desktop.db.types import MONEY_MAX, Money
from o2c_desktop.models import Customer
from o2c_desktop.models.base import utcnow

EXACT_VALUES = [
    Decimal("12345678901.23"),
    Decimal("0.01"),
    Decimal("0.0001"),
    Decimal("-0.01"),
    Decimal("-12345678901.23"),
    Decimal("1.2345"),
    Decimal("0.125"),
    Decimal("0"),
    Decimal("922337203685477.5807"),  # the largest amount SQLite's 64-bit integer can hold
    Decimal("-922337203685477.5807"),
]


@contextmanager
def _probe_table(database: Database) -> Iterator[Table]:
    """A throw-away table with one Money column (dropped again, PostgreSQL's db is shared)."""
    metadata = MetaData()
    table = Table(
        f"money_probe_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("amount", Money),
    )
    metadata.create_all(database.engine)
    try:
        yield table
    finally:
        metadata.drop_all(database.engine)


@pytest.fixture
def probe(db: Database) -> Iterator[Table]:
    with _probe_table(db) as table:
        yield table


def _store_and_load(db: Database, table: Table, value: object) -> Decimal:
    with db.write() as session:
        new_id = session.execute(insert(table).values(amount=value)).inserted_primary_key[0]
    with db.read() as session:
        return session.scalar(select(table.c.amount).where(table.c.id == new_id))


@pytest.mark.parametrize("value", EXACT_VALUES, ids=str)
def test_decimal_round_trips_exactly(db: Database, probe: Table, value: Decimal) -> None:
    loaded = _store_and_load(db, probe, value)
    assert isinstance(loaded, Decimal)
    assert loaded == value
    # Comparing in SQL is exact too: the stored value equals the bound one.
    with db.read() as session:
        assert session.scalar(select(func.count()).where(probe.c.amount == value)) == 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("12345678901.23"), "12345678901.23"),
        (Decimal("5"), "5.00"),
        (Decimal("0.1"), "0.10"),
        (Decimal("-7.5"), "-7.50"),
        (Decimal("1.234"), "1.234"),
        (Decimal("1.2345"), "1.2345"),
        (Decimal("1.23450"), "1.2345"),
        (7, "7.00"),
    ],
)
def test_loaded_amounts_show_cents_unless_they_carry_more(
    db: Database, probe: Table, value: object, shown: str
) -> None:
    assert str(_store_and_load(db, probe, value)) == shown


@pytest.mark.parametrize("value", [MONEY_MAX, -MONEY_MAX], ids=str)
def test_the_largest_amount_round_trips_on_both_engines(
    db: Database, probe: Table, value: Decimal
) -> None:
    assert _store_and_load(db, probe, value) == value


@pytest.mark.parametrize(
    "value", [Decimal("999999999999999.9999"), -MONEY_MAX - Decimal("0.0001")], ids=str
)
def test_amounts_beyond_the_range_are_refused_on_both_engines(
    db: Database, probe: Table, value: Decimal
) -> None:
    """One range everywhere: what SQLite's 64-bit integer holds, also enforced on PostgreSQL."""
    with pytest.raises(StatementError) as caught:
        _store_and_load(db, probe, value)
    assert "out of range" in str(caught.value.orig)


def test_float_is_refused(db: Database, probe: Table) -> None:
    with pytest.raises(StatementError) as caught:
        _store_and_load(db, probe, 0.1)
    assert isinstance(caught.value.orig, TypeError)
    assert "never a float" in str(caught.value.orig)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(probe)) == 0


@pytest.mark.parametrize("value", ["0.00001", "12.34567", "-0.00005"])
def test_fifth_decimal_is_refused_not_rounded(db: Database, probe: Table, value: str) -> None:
    with pytest.raises(StatementError) as caught:
        _store_and_load(db, probe, Decimal(value))
    assert isinstance(caught.value.orig, ValueError)
    assert "more than 4 decimals" in str(caught.value.orig)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(probe)) == 0


def test_null_stays_null(db: Database, probe: Table) -> None:
    assert _store_and_load(db, probe, None) is None


def test_sqlite_stores_scaled_integers(sqlite_db: Database) -> None:
    """On SQLite the raw column holds 1/10,000 units as an INTEGER (so SUM is exact in SQL)."""
    with _probe_table(sqlite_db) as probe:
        _store_and_load(sqlite_db, probe, Decimal("12.34"))
        _store_and_load(sqlite_db, probe, Decimal("-0.0001"))
        with sqlite_db.read() as session:
            rows = session.execute(
                text(f'SELECT amount, typeof(amount) FROM "{probe.name}" ORDER BY id')
            ).all()
    assert [tuple(r) for r in rows] == [(123400, "integer"), (-1, "integer")]


def test_sum_of_ten_thousand_cents_is_exactly_one_hundred(db: Database) -> None:
    now = utcnow()
    rows = [
        {
            "id": i,
            "number": f"S{i:05d}",
            "name": f"Sum test {i}",
            "payment_terms_code": "NET30",
            "currency": "EUR",
            "credit_limit": Decimal("0.01"),
            "exposure": Decimal("0.03") if i % 2 else Decimal("-0.01"),
            "on_hold": False,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i in range(1, 10_001)
    ]
    with db.write() as session:
        bulk_insert(session, Customer.__table__, rows)
    with db.read() as session:
        count, total, exposure, top, bottom = session.execute(
            select(
                func.count(Customer.id),
                func.sum(Customer.credit_limit),
                func.sum(Customer.exposure),
                func.max(Customer.exposure),
                func.min(Customer.exposure),
            )
        ).one()
        loaded = session.scalars(select(Customer.credit_limit)).all()
    assert count == 10_000
    assert isinstance(total, Decimal)
    assert total == Decimal("100.00")
    assert str(total) == "100.00"
    assert exposure == Decimal("100.00")  # 5,000 × 0.03 − 5,000 × 0.01
    assert (top, bottom) == (Decimal("0.03"), Decimal("-0.01"))
    assert isinstance(top, Decimal)
    assert sum(loaded, Decimal(0)) == Decimal("100.00")
    assert all(isinstance(v, Decimal) for v in loaded)


def test_orm_attribute_round_trips(db: Database) -> None:
    """Through the mapped Customer class (not just Core), with comparisons done in SQL."""
    now = utcnow()
    with db.write() as session:
        session.add(
            Customer(
                number="M-1",
                name="Money AG",
                payment_terms_code="NET30",
                currency="EUR",
                credit_limit=Decimal("12345678901.23"),
                exposure=Decimal("-0.01"),
                created_at=now,
                updated_at=now,
            )
        )
    with db.read() as session:
        customer = session.scalar(select(Customer).where(Customer.number == "M-1"))
        assert customer.credit_limit == Decimal("12345678901.23")
        assert customer.exposure == Decimal("-0.01")
        over = session.scalar(
            select(func.count()).where(Customer.credit_limit > Decimal("12345678901.22"))
        )
        under = session.scalar(
            select(func.count()).where(Customer.credit_limit > Decimal("12345678901.23"))
        )
    assert (over, under) == (1, 0)
