"""Alembic, driven from the app: upgrade on start-up and by `o2c-desktop db upgrade`.

Before an SQLite file is migrated it is copied aside (with SQLite's online backup, safe in WAL
mode). A database whose revision this app does not know was written by a newer version and is
refused rather than touched.

Start-up must be quick, so when the database is already at `SCHEMA_HEAD` Alembic is not even
imported (it costs ~130 ms); a test keeps `SCHEMA_HEAD` equal to the migrations' head.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from o2c_desktop.db.engine import Database
from o2c_desktop.errors import DatabaseTooNew
from o2c_desktop.paths import package_path

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

SCHEMA_HEAD = "0008_rollback_indexes"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(package_path("migrations")))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads, expected one: {heads}")
    return heads[0]


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_not_newer(db: Database) -> str | None:
    """Return the database's revision, or refuse a database from a newer O2C Desktop."""
    current = current_revision(db)
    if current is None or current == SCHEMA_HEAD:
        return current
    from alembic.script import ScriptDirectory

    if not _known(ScriptDirectory.from_config(alembic_config()), current):
        raise DatabaseTooNew(
            f"The database {db.describe()} was created by a newer O2C Desktop "
            f"(schema {current}); this version knows schemas up to {head_revision()}. "
            "Install the newer version of O2C Desktop to open it."
        )
    return current


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError/CommandError for unknown ids
        return False


def backup_sqlite(db: Database) -> Path | None:
    """Copy the SQLite file aside before a migration; returns the copy's path."""
    path = db.sqlite_path
    if path is None or not path.exists() or path.stat().st_size == 0:
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.before-{head_revision()}-{stamp}.bak")
    source = sqlite3.connect(path)
    try:
        dest = sqlite3.connect(target)
        with dest:
            source.backup(dest)
        dest.close()
    finally:
        source.close()
    return target


def upgrade(db: Database, revision: str = "head") -> Path | None:
    """Bring the schema to `revision`. Returns the backup made, if any (SQLite with data)."""
    current = check_not_newer(db)
    if revision == "head" and current == SCHEMA_HEAD:
        return None
    backup = backup_sqlite(db) if current is not None else None
    _run(db, "upgrade", revision)
    return backup


def downgrade(db: Database, revision: str) -> None:
    _run(db, "downgrade", revision)


def _run(db: Database, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
