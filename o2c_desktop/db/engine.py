"""One `Database` per open connection target: the engine plus short-lived sessions.

A session lives for one user action (one unit of work) and is never shared between threads.
Writes on SQLite start with BEGIN IMMEDIATE, so two writers queue for the lock at the start of a
transaction instead of failing half-way; reads start a plain (deferred) transaction and, in WAL
mode, never wait for a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from o2c_desktop.config import mask_password, parse_url, with_keyring_password
from o2c_desktop.errors import DatabaseUnavailable, O2CError

SQLITE_BUSY_TIMEOUT_MS = 15_000
_WRITE = "o2c_write"


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        path = Path(url.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"Cannot create the folder for {path}: {exc.strerror}"
            ) from None
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event below decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        with_keyring_password(url),
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "o2c-desktop"},
    )


class Database:
    """The connection target of this process: engine, session factories, and a few facts."""

    def __init__(self, url: str | URL):
        self.url = parse_url(url) if isinstance(url, str) else url
        self.kind = self.url.get_backend_name()
        self.engine = (
            _sqlite_engine(self.url) if self.kind == "sqlite" else _postgres_engine(self.url)
        )
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Database({self.describe()})"

    def describe(self) -> str:
        """The URL as people may see it: password masked."""
        return mask_password(self.url)

    @property
    def sqlite_path(self) -> Path | None:
        if self.kind == "sqlite" and self.url.database and self.url.database != ":memory:":
            return Path(self.url.database)
        return None

    def check_connection(self) -> None:
        """Connect once, turning any driver failure into one clear, password-free line."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            raise DatabaseUnavailable(
                f"Cannot open the database {self.describe()}: {_first_line(exc)}"
            ) from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; whatever happens, nothing it did is committed."""
        with _translated(self), self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commits once if the block succeeds, rolls back if it raises."""
        with _translated(self), self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


_COLLISIONS = ("40P01", "40001")  # deadlock detected, serialization failure


def _first_line(exc: DBAPIError) -> str:
    message = str(exc.orig) if exc.orig is not None else str(exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


@contextmanager
def _translated(db: Database) -> Iterator[None]:
    """Turn lost connections, lock time-outs and collisions with another user's transaction
    (PostgreSQL's deadlock 40P01 and serialization failure 40001, which abort only this
    transaction) into messages a user can act on."""
    try:
        yield
    except OperationalError as exc:
        detail = _first_line(exc)
        if getattr(exc.orig, "sqlstate", None) in _COLLISIONS:
            raise O2CError(
                "Another user changed the same data at the same moment; nothing was saved. "
                "Try again."
            ) from None
        if "locked" in detail or "busy" in detail:
            raise O2CError(
                "The database is busy with another user's change; try again in a moment."
            ) from None
        raise DatabaseUnavailable(f"Lost the database {db.describe()}: {detail}") from None
