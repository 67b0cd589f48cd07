"""Test databases: every test that takes `db` runs on SQLite and on a real PostgreSQL.

Each test run creates its own PostgreSQL database (o2c_test_<pid>_<random>) and drops it at the
end, so parallel runs never collide. With CI=true an unreachable PostgreSQL fails the run; on a
newcomer's machine without a server the PostgreSQL half is reported as skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from o2c_desktop.db import Database, migrate
from o2c_desktop.models import Base, Role
from o2c_desktop.services import users
from o2c_desktop.services.auth import Actor

# CI must be repeatable: the same examples on every run. Locally, hypothesis explores new ones
# (and keeps any failure in .hypothesis/ to replay it first next time).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

PG_ADMIN_URL = os.environ.get(
    "O2C_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KEEP_TABLES = {"alembic_version", "payment_terms"}


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never touch the developer's real data or settings folders."""
    base = tmp_path_factory.mktemp("userdirs")
    old = {k: os.environ.get(k) for k in ("O2C_DATA_DIR", "O2C_CONFIG_DIR", "O2C_DATABASE_URL")}
    os.environ["O2C_DATA_DIR"] = str(base / "data")
    os.environ["O2C_CONFIG_DIR"] = str(base / "config")
    os.environ.pop("O2C_DATABASE_URL", None)
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); set O2C_TEST_PG_URL to run these")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"o2c_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any driver error means "no server here"
        admin.dispose()
        _pg_unavailable(str(exc).splitlines()[0])
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


# Rows the migrations seed into tables that tests may change (the default dunning levels):
# read once from the freshly migrated database, put back after every truncation.
SEEDED_TABLES = (
    "dunning_levels",
    "scorecards",
    "checklist_templates",
    "checklist_template_items",
    "approval_authorities",
)
_seeded_rows: dict[str, list[dict[str, object]]] = {}


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]
    with engine.begin() as conn:
        for name in SEEDED_TABLES:
            if name not in _seeded_rows:
                table = Base.metadata.tables[name]
                _seeded_rows[name] = [dict(r._mapping) for r in conn.execute(table.select())]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        for name, rows in _seeded_rows.items():
            if rows:
                table = Base.metadata.tables[name]
                conn.execute(table.insert(), rows)
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT MAX(id) FROM {name}))"
                    )
                )
    engine.dispose()


def make_sqlite_db(template: Path, folder: Path) -> Database:
    target = folder / "o2c.sqlite3"
    shutil.copy(template, target)
    return Database(f"sqlite:///{target}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        database = make_sqlite_db(sqlite_template, tmp_path)
    else:
        url = request.getfixturevalue("pg_url")
        _truncate_all(url)
        database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """SQLite only: for GUI flows, where the engine makes no difference to what is tested."""
    database = make_sqlite_db(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def admin(db: Database) -> Actor:
    """The first user of the database, made administrator by sign-in."""
    return users.sign_in(db)


def add_user(db: Database, admin: Actor, username: str, *roles: Role) -> Actor:
    """Create a user with roles and return them as an acting user."""
    row = users.create_user(db, admin, username, username.title(), roles)
    return Actor(row.id, row.username, row.display_name, row.roles)


@pytest.fixture
def os_user_tester(monkeypatch: pytest.MonkeyPatch) -> None:
    """For CLI tests: the CLI signs in as the OS user, here always `tester` (not whoever runs the
    tests), so the database's first user, its administrator, has a known name."""
    monkeypatch.setenv("O2C_USER", "tester")


@pytest.fixture
def manager(db: Database, admin: Actor) -> Actor:
    return add_user(db, admin, "maria", Role.CREDIT_MANAGER)


@pytest.fixture
def clerk(db: Database, admin: Actor) -> Actor:
    return add_user(db, admin, "clara", Role.CREDIT_CLERK)


@pytest.fixture
def collector(db: Database, admin: Actor) -> Actor:
    return add_user(db, admin, "colin", Role.COLLECTOR)
