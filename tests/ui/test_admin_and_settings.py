"""GUI flows for administrators: manage users and roles; database settings with the keyring."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from PySide6.QtWidgets import QDialogButtonBox

from o2c_desktop.config import Settings
from o2c_desktop.models import Role
from o2c_desktop.services import users
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.dialogs.user_edit import UserDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ListTableModel
from o2c_desktop.ui.screens.admin_users import UsersScreen

WAIT = 10_000


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture(autouse=True)
def own_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The settings file these tests write must not leak into other tests."""
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_administrator_adds_a_collector(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    screen = UsersScreen(ctx)
    qtbot.addWidget(screen)
    qtbot.waitUntil(lambda: screen.table.model.rowCount() == 1, timeout=WAIT)
    dialog = UserDialog(ctx, None, screen)
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.username, "colin")
    qtbot.keyClicks(dialog.display_name, "Colin Collector")
    dialog.roles[Role.COLLECTOR].setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: screen.table.model.rowCount() == 2, timeout=WAIT)
    colin = next(u for u in users.list_users(ctx.db, ctx.actor) if u.username == "colin")
    assert colin.roles == frozenset({Role.COLLECTOR})


def test_user_without_a_role_is_refused_next_to_the_roles(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = UserDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "nobody")
    qtbot.keyClicks(dialog.display_name, "No Role")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.errors["roles"].isVisible(), timeout=WAIT)
    assert "at least one role" in dialog.errors["roles"].text()
    assert all(u.username != "nobody" for u in users.list_users(ctx.db, ctx.actor))


def test_list_model_passes_modeltester(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = ListTableModel(
        [Column("a", "A", lambda r: r[0]), Column("b", "B", lambda r: r[1], numeric=True)]
    )
    model.set_rows([("x", 1), ("y", 2)])
    qtmodeltester.check(model)


def test_settings_keep_the_password_in_the_keyring_only(
    qtbot,
    pg_url: str,
    memory_keyring: MemoryKeyring,
    boxes,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy.engine import make_url

    target = make_url(pg_url)
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    dialog.shared.setChecked(True)
    for edit, value in (
        (dialog.host, target.host),
        (dialog.database, target.database),
        (dialog.user, target.username),
    ):
        edit.setText(value or "")
    dialog.port.setValue(target.port or 5432)
    qtbot.keyClicks(dialog.password, "s3cret-pw")
    dialog.save()
    saved = Settings.load().database_url
    assert saved is not None and saved.startswith("postgresql+psycopg://")
    assert "s3cret-pw" not in Settings.path().read_text()
    assert "s3cret-pw" in memory_keyring.secrets.values()


def test_settings_refuse_an_unreachable_server(qtbot, boxes) -> None:  # type: ignore[no-untyped-def]
    before = Settings.load().database_url
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    dialog.shared.setChecked(True)
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(1)
    dialog.user.setText("nobody")
    dialog.save()
    assert "Cannot open the database" in dialog.result.text()
    assert Settings.load().database_url == before
