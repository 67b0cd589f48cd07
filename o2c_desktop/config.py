"""Where things live and which database to open.

The database URL comes from, in order: `--database`, `O2C_DATABASE_URL`, the settings file
written by the Settings dialog, and finally the embedded SQLite file in the user's data folder.
A password never sits in the settings file: the dialog puts it in the OS keyring and
`with_keyring_password` adds it back when the engine is made (libpq's .pgpass works as well).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from o2c_desktop.errors import DatabaseUnavailable

APP_NAME = "o2c-desktop"
APP_AUTHOR = "O2C Desktop"
KEYRING_SERVICE = "o2c-desktop"
ENV_DATABASE_URL = "O2C_DATABASE_URL"


def data_dir() -> Path:
    """Per-user data folder; `O2C_DATA_DIR` moves it (tests, portable installs)."""
    override = os.environ.get("O2C_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    override = os.environ.get("O2C_CONFIG_DIR")
    path = Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'o2c.sqlite3'}"


@dataclass
class Settings:
    """The few settings that are not per-window (those live in QSettings)."""

    database_url: str | None = None

    @staticmethod
    def path() -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> Settings:
        try:
            raw = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(raw, dict):
            return cls()
        return cls(database_url=raw.get("database_url") or None)

    def save(self) -> None:
        if self.database_url and make_url(self.database_url).password:
            raise ValueError("a database password is never written to the settings file")
        self.path().write_text(json.dumps({"database_url": self.database_url}, indent=2), "utf-8")


def resolve_database_url(explicit: str | None = None) -> str:
    return (
        explicit
        or os.environ.get(ENV_DATABASE_URL)
        or Settings.load().database_url
        or default_database_url()
    )


def parse_url(text: str) -> URL:
    """Parse a database URL, refusing anything but SQLite and PostgreSQL with a clear message."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseUnavailable(
            f"Not a database URL: {mask_password(text)!r} "
            "(expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUnavailable(
            f"Unsupported database {url.get_backend_name()!r} in {mask_password(text)}: "
            "O2C Desktop works with SQLite and PostgreSQL"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def mask_password(url: str | URL) -> str:
    """Render a URL for people and logs: the password, if any, becomes ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def keyring_account(url: URL) -> str:
    """Key under which the Settings dialog stores a PostgreSQL password."""
    return f"{url.username}@{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def with_keyring_password(url: URL) -> URL:
    """Add the keyring's password to a PostgreSQL URL that has none (no keyring: unchanged)."""
    if url.get_backend_name() != "postgresql" or url.password or not url.username:
        return url
    try:
        import keyring
        from keyring.errors import KeyringError

        secret = keyring.get_password(KEYRING_SERVICE, keyring_account(url))
    except (ImportError, KeyringError, RuntimeError):
        return url
    return url.set(password=secret) if secret else url


def store_password(url: URL, password: str) -> None:
    """Keep a PostgreSQL password in the OS keyring (the Settings dialog calls this)."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, keyring_account(url), password)


def postgres_url(
    host: str, port: int, database: str, username: str, password: str | None = None
) -> URL:
    """The URL the Settings dialog builds from its fields."""
    return URL.create(
        "postgresql+psycopg",
        username=username or None,
        password=password or None,
        host=host or None,
        port=port,
        database=database or None,
    )
