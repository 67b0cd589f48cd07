"""Which database to open, and keeping its password out of files and messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError
from sqlalchemy.engine import make_url

from o2c_desktop import config
from o2c_desktop.config import (
    ENV_DATABASE_URL,
    KEYRING_SERVICE,
    Settings,
    keyring_account,
    mask_password,
    parse_url,
    resolve_database_url,
    store_password,
    with_keyring_password,
)
from o2c_desktop.db import Database
from o2c_desktop.errors import DatabaseUnavailable


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class BrokenKeyring(MemoryKeyring):
    """A keyring that is locked or whose daemon is gone."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("the keyring is locked")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# masking and parsing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://alice:secret@db.example:5432/o2c",
            "postgresql+psycopg://alice:***@db.example:5432/o2c",
        ),
        (
            "postgresql+psycopg://alice:p%40ss%3Aw%2Frd@db.example/o2c",
            "postgresql+psycopg://alice:***@db.example/o2c",
        ),
        ("postgresql+psycopg://alice@db.example/o2c", "postgresql+psycopg://alice@db.example/o2c"),
        ("sqlite:////tmp/o2c.sqlite3", "sqlite:////tmp/o2c.sqlite3"),
        ("this is not a url", "<unparsable URL>"),
    ],
)
def test_mask_password(url: str, shown: str) -> None:
    assert mask_password(url) == shown
    assert mask_password(make_url(url) if "://" in url else url) == shown


def test_mask_password_never_fails_nor_leaks() -> None:
    """Whatever people type (a bad port, say), masking gives a string without the password."""
    for text in (
        "postgresql+psycopg://alice:secret@db.example:port/o2c",
        "postgresql+psycopg://alice:secret@[::1/o2c",
        "secret",
    ):
        shown = mask_password(text)
        assert "secret" not in shown


@pytest.mark.parametrize(
    ("text", "backend", "driver"),
    [
        ("sqlite:////tmp/x.sqlite3", "sqlite", "pysqlite"),
        ("sqlite://", "sqlite", "pysqlite"),
        ("postgresql://alice@db/o2c", "postgresql", "psycopg"),
        ("postgresql+psycopg2://alice@db/o2c", "postgresql", "psycopg"),
        ("postgresql+psycopg://alice@db/o2c", "postgresql", "psycopg"),
    ],
)
def test_parse_url_accepts_sqlite_and_postgresql(text: str, backend: str, driver: str) -> None:
    url = parse_url(text)
    # PostgreSQL always goes through psycopg 3 (a bare "postgresql://" may already mean it).
    assert (url.get_backend_name(), url.get_driver_name()) == (backend, driver)
    if backend == "postgresql":
        assert (url.username, url.host, url.database) == ("alice", "db", "o2c")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("mysql://alice:secret@db/o2c", "SQLite and PostgreSQL"),
        ("oracle+oracledb://alice:secret@db/o2c", "SQLite and PostgreSQL"),
        ("not a url with secret inside", "Not a database URL"),
        ("", "Not a database URL"),
        ("postgresql+psycopg://alice:secret@db.example:port/o2c", "Not a database URL"),
    ],
)
def test_parse_url_refusals_are_clear_and_masked(text: str, reason: str) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        parse_url(text)
    message = str(caught.value)
    assert reason in message
    assert "secret" not in message
    assert "\n" not in message


def test_database_describe_masks_the_password() -> None:
    db = Database("postgresql+psycopg://alice:secret@db.example:5432/o2c")
    try:
        assert "secret" not in db.describe()
        assert "secret" not in repr(db)
        assert "***" in db.describe()
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# settings and precedence
# ---------------------------------------------------------------------------------------------


def test_dirs_follow_their_environment_overrides(user_dirs: Path) -> None:
    assert config.config_dir() == user_dirs / "config"
    assert config.data_dir() == user_dirs / "data"
    assert (user_dirs / "config").is_dir()
    assert (user_dirs / "data").is_dir()
    assert Settings.path() == user_dirs / "config" / "settings.json"
    assert config.default_database_url() == f"sqlite:///{user_dirs / 'data' / 'o2c.sqlite3'}"


def test_settings_round_trip(user_dirs: Path) -> None:
    assert Settings.load() == Settings(database_url=None)
    Settings(database_url="postgresql+psycopg://alice@db.example/o2c").save()
    raw = json.loads(Settings.path().read_text(encoding="utf-8"))
    assert raw == {"database_url": "postgresql+psycopg://alice@db.example/o2c"}
    assert Settings.load().database_url == "postgresql+psycopg://alice@db.example/o2c"
    Settings(database_url=None).save()
    assert Settings.load().database_url is None


def test_settings_refuse_to_store_a_password(user_dirs: Path) -> None:
    Settings(database_url="sqlite:////tmp/before.sqlite3").save()
    with pytest.raises(ValueError, match="password"):
        Settings(database_url="postgresql+psycopg://alice:secret@db/o2c").save()
    text = Settings.path().read_text(encoding="utf-8")
    assert "secret" not in text
    assert Settings.load().database_url == "sqlite:////tmp/before.sqlite3"


@pytest.mark.parametrize("content", ["{not json", "[]", '{"database_url": ""}', ""])
def test_unreadable_settings_fall_back_to_defaults(user_dirs: Path, content: str) -> None:
    Settings.path().write_text(content, encoding="utf-8")
    assert Settings.load().database_url is None  # '[]' is JSON, but not settings


def test_resolve_database_url_precedence(user_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = config.default_database_url()
    assert resolve_database_url() == default

    Settings(database_url="sqlite:////tmp/from-settings.sqlite3").save()
    assert resolve_database_url() == "sqlite:////tmp/from-settings.sqlite3"

    monkeypatch.setenv(ENV_DATABASE_URL, "sqlite:////tmp/from-env.sqlite3")
    assert resolve_database_url() == "sqlite:////tmp/from-env.sqlite3"

    assert resolve_database_url("sqlite:////tmp/explicit.sqlite3") == (
        "sqlite:////tmp/explicit.sqlite3"
    )

    monkeypatch.setenv(ENV_DATABASE_URL, "")
    assert resolve_database_url() == "sqlite:////tmp/from-settings.sqlite3"
    Settings(database_url=None).save()
    assert resolve_database_url() == default
    assert resolve_database_url(None) == default


# ---------------------------------------------------------------------------------------------
# the keyring
# ---------------------------------------------------------------------------------------------


def test_keyring_account() -> None:
    assert keyring_account(make_url("postgresql+psycopg://alice@db.example:5433/o2c")) == (
        "alice@db.example:5433/o2c"
    )
    assert keyring_account(make_url("postgresql+psycopg://alice@/o2c")) == (
        "alice@localhost:5432/o2c"
    )


def test_with_keyring_password_adds_the_stored_password(memory_keyring: MemoryKeyring) -> None:
    url = make_url("postgresql+psycopg://alice@db.example:5433/o2c")
    assert with_keyring_password(url) == url  # nothing stored yet
    store_password(url, "s3cret")
    assert memory_keyring.passwords == {(KEYRING_SERVICE, "alice@db.example:5433/o2c"): "s3cret"}
    with_password = with_keyring_password(url)
    assert with_password.password == "s3cret"
    assert (with_password.username, with_password.host, with_password.port) == (
        "alice",
        "db.example",
        5433,
    )
    # Another server, database or user has its own entry.
    assert with_keyring_password(url.set(database="other")).password is None
    assert with_keyring_password(url.set(username="bob")).password is None
    assert with_keyring_password(url.set(port=5432)).password is None


def test_with_keyring_password_leaves_other_urls_alone(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password(KEYRING_SERVICE, "alice@db.example:5432/o2c", "from-keyring")
    typed = make_url("postgresql+psycopg://alice:typed@db.example/o2c")
    assert with_keyring_password(typed).password == "typed"  # a typed password wins
    no_user = make_url("postgresql+psycopg://db.example/o2c")
    assert with_keyring_password(no_user) == no_user
    sqlite = make_url("sqlite:////tmp/o2c.sqlite3")
    assert with_keyring_password(sqlite) == sqlite


def test_broken_keyring_means_no_password_not_a_crash() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        url = make_url("postgresql+psycopg://alice@db.example/o2c")
        assert with_keyring_password(url) == url
    finally:
        keyring.set_keyring(previous)


def test_engine_gets_the_keyring_password_but_describe_hides_it(
    memory_keyring: MemoryKeyring,
) -> None:
    url = make_url("postgresql+psycopg://alice@db.example:5433/o2c")
    store_password(url, "s3cret")
    db = Database("postgresql+psycopg://alice@db.example:5433/o2c")  # no connection is made
    try:
        assert db.engine.url.password == "s3cret"
        assert "s3cret" not in db.describe()
        assert "s3cret" not in repr(db)
    finally:
        db.dispose()
