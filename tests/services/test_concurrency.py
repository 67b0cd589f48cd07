"""Two users saving at the same moment: exactly one wins, the other gets a ConflictError.

Each thread has its own session (as the app has one per user action). To make the race real
rather than lucky, a third connection first locks the customer (PostgreSQL: the row; SQLite: the
database's write lock), both threads start from the same expected version behind a barrier and
queue up on that lock, and only then is it released.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text

from o2c_desktop.db import Database
from o2c_desktop.db import engine as engine_module
from o2c_desktop.errors import ConflictError, NotFound, O2CError
from o2c_desktop.models import AuditEntry, Customer, Role
from o2c_desktop.services import contacts, customers, users
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user


def _waiting_on_locks(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND application_name = 'o2c-desktop'"
            )
        ).scalar_one()


@contextmanager
def _lock_held(db: Database, table: str, record_id: int) -> Iterator[Callable[[int], None]]:
    """Hold a lock that the services must wait for; yields `wait_for(n)` waiters."""
    if db.kind == "postgresql":
        holder = create_engine(db.url)
        conn = holder.connect()
        conn.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": record_id})

        def wait_for(n: int) -> None:
            deadline = time.monotonic() + 10
            while _waiting_on_locks(db) < n:
                assert time.monotonic() < deadline, "the writers never queued on the lock"
                time.sleep(0.02)

        try:
            yield wait_for
        finally:
            conn.rollback()
            conn.close()
            holder.dispose()
    else:
        raw = sqlite3.connect(db.sqlite_path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")

        def wait_for(_n: int) -> None:
            time.sleep(0.3)  # SQLite cannot tell who waits; give both threads time to queue

        try:
            yield wait_for
        finally:
            raw.execute("ROLLBACK")
            raw.close()


def _race(db: Database, table: str, record_id: int, *calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in parallel threads, all queued behind one lock; return results/errors."""
    barrier = threading.Barrier(len(calls) + 1)
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait(timeout=10)
        try:
            results[i] = call()
        except Exception as exc:  # collected and checked by the test
            results[i] = exc

    with _lock_held(db, table, record_id) as wait_for:
        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
        for t in threads:
            t.start()
        barrier.wait(timeout=10)
        wait_for(len(calls))
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    return results


def _split(results: list[Any]) -> tuple[list[int], list[int]]:
    won = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    lost = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    for i in lost:
        assert isinstance(results[i], ConflictError), repr(results[i])
    return won, lost


def test_two_users_save_the_same_customer(db: Database, admin: Actor, manager: Actor) -> None:
    detail = customers.create_customer(
        db, admin, {"number": "C-1", "name": "Acme", "credit_limit": "100"}
    )
    actors = [admin, manager]
    limits = ["1000", "2000"]
    results = _race(
        db,
        "customers",
        detail.id,
        *[
            (
                lambda a=a, lim=lim: customers.update_customer(
                    db, a, detail.id, detail.version, {"credit_limit": lim}
                )
            )
            for a, lim in zip(actors, limits, strict=True)
        ],
    )
    won, lost = _split(results)
    assert len(won) == 1 and len(lost) == 1, results
    winner, loser = won[0], lost[0]
    conflict: ConflictError = results[loser]
    assert conflict.details.changed_by == actors[winner].username
    assert conflict.details.their_values == {"Credit limit": f"{limits[winner]}.00"}

    final = customers.get_customer(db, admin, detail.id)
    assert final.version == detail.version + 1
    assert final.credit_limit == Decimal(limits[winner])
    with db.read() as session:
        updaters = set(
            session.scalars(select(AuditEntry.username).where(AuditEntry.action == "update"))
        )
        versions = session.scalar(select(func.count()).select_from(Customer))
    assert updaters == {actors[winner].username}
    assert versions == 1


def test_many_users_race_exactly_one_wins(db: Database, admin: Actor) -> None:
    detail = customers.create_customer(db, admin, {"number": "C-1", "name": "Acme"})
    clerks = [add_user(db, admin, f"clerk{i}", Role.CREDIT_CLERK) for i in range(4)]
    results = _race(
        db,
        "customers",
        detail.id,
        *[
            (
                lambda c=c: customers.update_customer(
                    db, c, detail.id, detail.version, {"city": c.username}
                )
            )
            for c in clerks
        ],
    )
    won, lost = _split(results)
    assert len(won) == 1 and len(lost) == 3, results
    city = customers.get_customer(db, admin, detail.id).values["city"]
    assert city == clerks[won[0]].username
    assert {results[i].details.changed_by for i in lost} == {clerks[won[0]].username}


def test_two_users_save_the_same_contact(db: Database, admin: Actor, manager: Actor) -> None:
    customer = customers.create_customer(db, admin, {"number": "C-1", "name": "Acme"})
    row = contacts.add_contact(db, admin, customer.id, {"name": "Ann"})
    results = _race(
        db,
        "contacts",
        row.id,
        lambda: contacts.update_contact(db, admin, row.id, row.version, {"phone": "111"}),
        lambda: contacts.update_contact(db, manager, row.id, row.version, {"phone": "222"}),
    )
    won, lost = _split(results)
    assert len(won) == 1 and len(lost) == 1, results
    current = customers.get_customer(db, admin, customer.id).contacts[0]
    assert current.phone == ("111", "222")[won[0]]
    assert current.version == row.version + 1


def test_two_administrators_save_the_same_user(db: Database, admin: Actor) -> None:
    deputy = add_user(db, admin, "deputy", Role.ADMINISTRATOR)
    target = users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])

    def rename(actor: Actor, name: str) -> Callable[[], Any]:
        return lambda: users.update_user(
            db, actor, target.id, target.version, display_name=name, roles=target.roles, active=True
        )

    results = _race(db, "users", target.id, rename(admin, "By Admin"), rename(deputy, "By Deputy"))
    won, lost = _split(results)
    assert len(won) == 1 and len(lost) == 1, results
    names = {u.id: u.display_name for u in users.list_users(db, admin)}
    assert names[target.id] == ("By Admin", "By Deputy")[won[0]]


# ---------------------------------------------------------------------------------------------
# SQLite: writers take the lock at BEGIN, readers never wait (WAL)
# ---------------------------------------------------------------------------------------------


def test_sqlite_write_begins_immediate_and_reads_do_not(sqlite_db: Database) -> None:
    statements: list[str] = []

    @event.listens_for(sqlite_db.engine, "before_cursor_execute")
    def _log(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.strip().upper())

    with sqlite_db.write() as session:
        session.execute(select(1))
    assert "BEGIN IMMEDIATE" in statements
    statements.clear()
    with sqlite_db.read() as session:
        session.execute(select(1))
    assert "BEGIN" in statements
    assert "BEGIN IMMEDIATE" not in statements


def test_sqlite_open_write_blocks_other_writers_but_not_readers(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = users.sign_in(sqlite_db)
    customers.create_customer(sqlite_db, admin, {"number": "C-1", "name": "Acme"})
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    impatient = Database(sqlite_db.url)
    try:
        assert sqlite_db.kind == "sqlite"
        with sqlite_db.write() as session:
            # Only a read so far: a deferred BEGIN would not hold the write lock yet.
            assert session.scalar(select(func.count()).select_from(Customer)) == 1

            raw = sqlite3.connect(sqlite_db.sqlite_path, timeout=0.1, isolation_level=None)
            try:
                started = time.monotonic()
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
                assert time.monotonic() - started < 3
                # WAL: reading still works while the write transaction is open.
                assert raw.execute("SELECT count(*) FROM customers").fetchone() == (1,)
            finally:
                raw.close()

            started = time.monotonic()
            with pytest.raises(O2CError, match="busy"), impatient.write() as other:
                other.execute(select(1))
            assert time.monotonic() - started < 3

            with impatient.read() as reader:
                assert reader.scalar(select(Customer.name)) == "Acme"
            assert customers.list_customers(impatient, admin, customers.CustomerQuery())

        # Once the first unit of work has committed, the other writer gets through.
        with impatient.write() as other:
            other.execute(text("UPDATE customers SET city = 'Oslo'"))
        with sqlite_db.read() as reader:
            assert reader.scalar(select(Customer.city)) == "Oslo"
    finally:
        impatient.dispose()


def test_sqlite_read_transaction_does_not_block_a_writer(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        session.execute(select(func.count()).select_from(Customer))
        raw = sqlite3.connect(sqlite_db.sqlite_path, timeout=0.1, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        finally:
            raw.close()


def test_sqlite_journal_is_wal(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        timeout = session.execute(text("PRAGMA busy_timeout")).scalar_one()
    assert timeout == engine_module.SQLITE_BUSY_TIMEOUT_MS


def test_delete_racing_an_update_never_leaks_a_database_error(
    db: Database, admin: Actor, manager: Actor
) -> None:
    detail = customers.create_customer(db, admin, {"number": "C-1", "name": "Acme"})
    results = _race(
        db,
        "customers",
        detail.id,
        lambda: customers.delete_customer(db, admin, detail.id, detail.version),
        lambda: customers.update_customer(db, manager, detail.id, detail.version, {"city": "X"}),
    )
    deleted, updated = results
    if isinstance(deleted, Exception):  # the update won: the delete saw a newer version
        assert isinstance(deleted, ConflictError), repr(deleted)
        assert not isinstance(updated, Exception), repr(updated)
        assert customers.get_customer(db, admin, detail.id).values["city"] == "X"
    else:  # the delete won: the update finds the customer gone
        assert isinstance(updated, NotFound), repr(updated)
        assert customers.find_customer_id(db, "C-1") is None
