"""The migrations: one head, empty -> head on both engines, down and up again, models == schema,
refusing a database from a newer version, and the SQLite copy made before migrating."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from o2c_desktop.db import Database, migrate
from o2c_desktop.errors import DatabaseTooNew
from o2c_desktop.models import Base, Customer, PaymentTerms
from o2c_desktop.paths import package_path
from o2c_desktop.services import customers, users
from tests.conftest import PG_ADMIN_URL, _pg_unavailable

SEEDED_TERMS = {"COD", "NET15", "NET30", "NET45", "NET60", "NET90", "EOM30", "2/10N30"}
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def fresh_pg() -> Iterator[Database]:
    """A brand-new, empty PostgreSQL database, dropped afterwards."""
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"o2c_migr_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any driver error means "no server here"
        admin.dispose()
        _pg_unavailable(str(exc).splitlines()[0])
    db = Database(make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'new' / 'folder' / 'o2c.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"fresh_{'pg' if request.param == 'postgresql' else 'sqlite'}")


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _terms(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(PaymentTerms.code)))


def test_single_head_and_an_unbroken_chain() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    heads = script.get_heads()
    assert heads == [migrate.head_revision()]
    assert heads[0] == migrate.SCHEMA_HEAD
    assert len(script.get_bases()) == 1
    chain = list(script.walk_revisions("base", "heads"))
    assert chain[0].revision == heads[0]
    assert chain[-1].down_revision is None
    for newer, older in itertools.pairwise(chain):
        assert newer.down_revision == older.revision
    for revision in chain:
        assert callable(revision.module.upgrade)
        assert callable(revision.module.downgrade)


def test_upgrade_from_empty_to_head(fresh: Database) -> None:
    assert migrate.current_revision(fresh) is None
    assert migrate.check_not_newer(fresh) is None
    assert migrate.upgrade(fresh) is None  # nothing to copy: there was no schema
    assert migrate.current_revision(fresh) == migrate.head_revision()
    assert _tables(fresh) == MODEL_TABLES | {"alembic_version"}
    assert set(_terms(fresh)) == SEEDED_TERMS
    with fresh.read() as session:
        net30 = session.get(PaymentTerms, "NET30")
        skonto = session.get(PaymentTerms, "2/10N30")
        assert (net30.net_days, net30.end_of_month) == (30, False)
        assert (skonto.discount_percent, skonto.discount_days) == (2, 10)
    # Already at head: a second upgrade does nothing and copies nothing.
    assert migrate.upgrade(fresh) is None
    assert sorted(_terms(fresh)) == sorted(SEEDED_TERMS)


def test_models_match_the_migrated_schema(fresh: Database) -> None:
    migrate.upgrade(fresh)
    assert _differences(fresh) == []


def test_down_to_base_and_up_again(fresh: Database) -> None:
    migrate.upgrade(fresh)
    tables = _tables(fresh)
    admin = users.sign_in(fresh)
    customers.create_customer(fresh, admin, {"number": "C-1", "name": "Acme"})

    migrate.downgrade(fresh, "base")
    assert migrate.current_revision(fresh) is None
    assert _tables(fresh) <= {"alembic_version"}

    migrate.upgrade(fresh)
    assert migrate.current_revision(fresh) == migrate.head_revision()
    assert _tables(fresh) == tables
    assert _differences(fresh) == []
    assert sorted(_terms(fresh)) == sorted(SEEDED_TERMS)  # seeded once, not twice
    with fresh.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_database_from_a_newer_version_is_refused_and_untouched(fresh: Database) -> None:
    migrate.upgrade(fresh)
    admin = users.sign_in(fresh)
    customers.create_customer(fresh, admin, {"number": "C-1", "name": "Acme"})
    with fresh.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999_from_the_future'"))
    before_files = set(fresh.sqlite_path.parent.iterdir()) if fresh.sqlite_path else set()

    for action in (migrate.upgrade, migrate.check_not_newer):
        with pytest.raises(DatabaseTooNew) as caught:
            action(fresh)
        message = str(caught.value)
        assert "0999_from_the_future" in message
        assert "newer" in message
        assert migrate.head_revision() in message

    assert migrate.current_revision(fresh) == "0999_from_the_future"
    assert customers.find_customer_id(fresh, "C-1") is not None
    assert _tables(fresh) == MODEL_TABLES | {"alembic_version"}
    if fresh.sqlite_path:
        assert set(fresh.sqlite_path.parent.iterdir()) == before_files  # no copy, no new file


def test_backup_sqlite_makes_a_readable_copy_with_the_data(fresh_sqlite: Database) -> None:
    migrate.upgrade(fresh_sqlite)
    admin = users.sign_in(fresh_sqlite)
    customers.create_customer(fresh_sqlite, admin, {"number": "C-1", "name": "Zürich AG"})
    # The customer may still sit in the WAL file: the backup must include it anyway.
    copy = migrate.backup_sqlite(fresh_sqlite)
    assert copy is not None and copy.exists()
    assert copy != fresh_sqlite.sqlite_path
    assert copy.parent == fresh_sqlite.sqlite_path.parent
    assert f".before-{migrate.head_revision()}-" in copy.name
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT number, name FROM customers").fetchall() == [
            ("C-1", "Zürich AG")
        ]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            migrate.head_revision(),
        )
    finally:
        conn.close()
    # The copy opens as an O2C database in its own right.
    copied = Database(f"sqlite:///{copy}")
    try:
        assert migrate.current_revision(copied) == migrate.head_revision()
        assert customers.find_customer_id(copied, "C-1") is not None
    finally:
        copied.dispose()


def test_backup_sqlite_skips_what_it_cannot_copy(tmp_path: Path, fresh_pg: Database) -> None:
    assert migrate.backup_sqlite(fresh_pg) is None
    missing = Database(f"sqlite:///{tmp_path / 'missing.sqlite3'}")
    assert migrate.backup_sqlite(missing) is None
    (tmp_path / "empty.sqlite3").touch()
    empty = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert migrate.backup_sqlite(empty) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3"]


NEXT_REVISION = '''"""probe: a later revision, for the upgrade-with-backup test"""
import sqlalchemy as sa
from alembic import op

revision = "0002_probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe_0002", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("probe_0002")
'''


def test_upgrading_an_older_sqlite_file_keeps_a_copy(
    fresh_sqlite: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file at the current head meets a newer app (simulated with a copy of the migrations plus
    one more revision): the upgrade first copies the file aside, then migrates it."""
    migrate.upgrade(fresh_sqlite)
    admin = users.sign_in(fresh_sqlite)
    customers.create_customer(fresh_sqlite, admin, {"number": "C-1", "name": "Acme"})
    old_head = migrate.head_revision()

    scripts = tmp_path / "migrations"
    shutil.copytree(package_path("migrations"), scripts)
    (scripts / "versions" / "0002_probe.py").write_text(
        NEXT_REVISION.replace("{head}", old_head), encoding="utf-8"
    )

    def newer_config() -> Config:
        config = Config()
        config.set_main_option("script_location", str(scripts))
        return config

    monkeypatch.setattr(migrate, "alembic_config", newer_config)
    monkeypatch.setattr(migrate, "SCHEMA_HEAD", "0002_probe")

    copy = migrate.upgrade(fresh_sqlite)
    assert copy is not None and copy.exists()
    assert migrate.current_revision(fresh_sqlite) == "0002_probe"
    assert "probe_0002" in _tables(fresh_sqlite)
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (old_head,)
        assert conn.execute("SELECT number FROM customers").fetchall() == [("C-1",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "probe_0002" not in tables
    finally:
        conn.close()
    assert customers.find_customer_id(fresh_sqlite, "C-1") is not None


def test_allocation_copies_are_filled_from_their_documents(fresh: Database) -> None:
    """0007 adds the allocations' copies of their invoice and payment; rows made before it get
    them from the documents (here: made at head, the columns dropped by a downgrade, then the
    upgrade fills them again)."""
    from datetime import date
    from decimal import Decimal

    from o2c_desktop.models import Allocation
    from o2c_desktop.services import ledger, ledger_queries

    migrate.upgrade(fresh)
    admin = users.sign_in(fresh)
    customer = customers.create_customer(
        fresh, admin, {"number": "C-1", "name": "Acme", "currency": "USD"}
    ).id
    invoice = ledger.post_invoice(
        fresh, admin, customer, "INV-1", date(2024, 3, 1), Decimal("100.00")
    )
    ledger.record_payment(
        fresh, admin, customer, date(2024, 3, 20), Decimal("60.00"), reference="INV-1"
    )
    migrate.downgrade(fresh, "0006_credit")
    migrate.upgrade(fresh)
    with fresh.read() as session:
        [row] = session.scalars(select(Allocation)).all()
        assert (
            row.customer_id,
            row.currency,
            row.invoice_due_date,
            row.invoice_issue_date,
            row.payment_date,
        ) == (customer, "USD", invoice.due_date, date(2024, 3, 1), date(2024, 3, 20))
        assert ledger_queries.stale_allocation_copies(session) == []
