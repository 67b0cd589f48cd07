"""Signing in and the administrator's user management."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    UnknownUser,
    ValidationFailed,
)
from o2c_desktop.models import AuditEntry, Role, User
from o2c_desktop.services import audit, users
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user


def _user_audit(db: Database, user_id: int) -> list[AuditEntry]:
    with db.read() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == "users", AuditEntry.record_id == str(user_id))
            .order_by(AuditEntry.id)
        ).all()
        session.expunge_all()
        return list(entries)


def _user_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def _row(db: Database, actor: Actor, user_id: int) -> users.UserRow:
    return next(u for u in users.list_users(db, actor) if u.id == user_id)


def _update(db: Database, actor: Actor, row: users.UserRow, **changes: Any) -> users.UserRow:
    values = {
        "display_name": row.display_name,
        "roles": row.roles,
        "active": row.active,
        "email": row.email,
    }
    values.update(changes)
    return users.update_user(db, actor, row.id, row.version, **values)


# ---------------------------------------------------------------------------------------------
# sign-in
# ---------------------------------------------------------------------------------------------


def test_first_login_becomes_an_audited_administrator(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_USER", "first.admin")
    expected = "first.admin" if db.kind == "sqlite" else users.login_name(db)
    assert users.login_name(db) == expected
    actor = users.sign_in(db)
    assert actor.username == expected
    assert actor.roles == frozenset({Role.ADMINISTRATOR})
    assert actor.user_id > 0
    entries = _user_audit(db, actor.user_id)
    assert len(entries) == 1
    assert entries[0].action == audit.CREATE
    assert entries[0].username == expected
    assert entries[0].user_id == actor.user_id
    assert "administrator" in entries[0].new_value
    # Signing in again finds the same account and creates nothing.
    again = users.sign_in(db)
    assert again == actor
    assert _user_count(db) == 1
    assert len(_user_audit(db, actor.user_id)) == 1


def test_postgres_login_is_the_session_user(db: Database) -> None:
    if db.kind != "postgresql":
        assert users.login_name(db)  # the OS user (or O2C_USER)
        return
    with db.read() as session:
        expected = session.execute(text("SELECT session_user")).scalar_one()
    assert users.login_name(db) == expected


def test_unknown_login_is_refused_once_users_exist(db: Database) -> None:
    row = users.create_user(
        db, users.SYSTEM, "somebody.else", "Somebody Else", [Role.ADMINISTRATOR]
    )
    # The built-in SYSTEM actor has no users row: its audit rows carry its name, no user id.
    entries = _user_audit(db, row.id)
    assert entries
    assert {(e.username, e.user_id) for e in entries} == {("system", None)}
    with pytest.raises(UnknownUser) as caught:
        users.sign_in(db)
    assert users.login_name(db) in str(caught.value)
    assert "administrator" in str(caught.value).lower()
    assert _user_count(db) == 1


def test_second_os_user_on_sqlite_is_refused(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_USER", "alice")
    alice = users.sign_in(sqlite_db)
    assert alice.roles == frozenset({Role.ADMINISTRATOR})
    monkeypatch.setenv("O2C_USER", "bob")
    with pytest.raises(UnknownUser, match="'bob'"):
        users.sign_in(sqlite_db)
    # Once the administrator adds bob, he may sign in, with the roles given.
    add_user(sqlite_db, alice, "bob", Role.COLLECTOR)
    bob = users.sign_in(sqlite_db)
    assert bob.username == "bob"
    assert bob.roles == frozenset({Role.COLLECTOR})


def test_disabled_account_is_refused(db: Database, admin: Actor) -> None:
    deputy = add_user(db, admin, "deputy", Role.ADMINISTRATOR)
    _update(db, deputy, _row(db, deputy, admin.user_id), active=False)
    with pytest.raises(UnknownUser, match="disabled"):
        users.sign_in(db)


def test_disabled_os_user_is_refused_on_sqlite(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_USER", "alice")
    alice = users.sign_in(sqlite_db)
    bob = add_user(sqlite_db, alice, "bob", Role.COLLECTOR)
    _update(sqlite_db, alice, _row(sqlite_db, alice, bob.user_id), active=False)
    monkeypatch.setenv("O2C_USER", "bob")
    with pytest.raises(UnknownUser, match="disabled"):
        users.sign_in(sqlite_db)


# ---------------------------------------------------------------------------------------------
# user management
# ---------------------------------------------------------------------------------------------


def test_create_user_is_audited(db: Database, admin: Actor) -> None:
    row = users.create_user(
        db,
        admin,
        "m.manager",
        " Martha Manager ",
        [Role.CREDIT_MANAGER, Role.COLLECTOR],
        email="martha@example.com",
    )
    assert row.username == "m.manager"
    assert row.display_name == "Martha Manager"
    assert row.roles == frozenset({Role.CREDIT_MANAGER, Role.COLLECTOR})
    assert row.active is True
    assert row.version == 1
    assert _row(db, admin, row.id) == row

    created = {e.field: e for e in _user_audit(db, row.id)}
    assert created["username"].new_value == "m.manager"
    assert created["roles"].new_value == "collector, credit_manager"
    assert created["email"].new_value == "martha@example.com"
    assert all(e.action == audit.CREATE and e.username == admin.username for e in created.values())
    assert all(e.user_id == admin.user_id for e in created.values())


def test_create_user_validation(db: Database, admin: Actor) -> None:
    add_user(db, admin, "taken", Role.COLLECTOR)
    cases = [
        ("bad name", "X", [Role.COLLECTOR], "username"),
        ("", "X", [Role.COLLECTOR], "username"),
        ("x" * 65, "X", [Role.COLLECTOR], "username"),
        ("taken", "X", [Role.COLLECTOR], "username"),
        ("fresh", "   ", [Role.COLLECTOR], "display_name"),
        ("fresh", "Fresh", [], "roles"),
    ]
    before = _user_count(db)
    for username, display, roles, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            users.create_user(db, admin, username, display, roles)
        assert caught.value.for_field(field), (username, caught.value.problems)
    assert _user_count(db) == before


def test_update_user_is_audited_field_by_field(db: Database, admin: Actor) -> None:
    row = users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])
    saved = _update(
        db,
        admin,
        row,
        display_name="Colin Collector",
        roles={Role.COLLECTOR, Role.CREDIT_CLERK},
        email="colin@example.com",
    )
    assert saved.version == row.version + 1
    assert saved.display_name == "Colin Collector"
    assert saved.roles == frozenset({Role.COLLECTOR, Role.CREDIT_CLERK})
    assert saved.email == "colin@example.com"
    assert _row(db, admin, row.id) == saved

    updated = {e.field: e for e in _user_audit(db, row.id) if e.action == audit.UPDATE}
    assert set(updated) == {"display_name", "roles", "email"}
    assert (updated["display_name"].old_value, updated["display_name"].new_value) == (
        "Colin",
        "Colin Collector",
    )
    assert (updated["roles"].old_value, updated["roles"].new_value) == (
        "collector",
        "collector, credit_clerk",
    )
    assert all(e.record_version == saved.version for e in updated.values())


def test_roles_only_change_bumps_the_version(db: Database, admin: Actor) -> None:
    row = users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])
    saved = _update(db, admin, row, roles={Role.CREDIT_MANAGER})
    assert saved.version == row.version + 1
    assert saved.roles == frozenset({Role.CREDIT_MANAGER})
    signed = users.list_collectors(db)
    assert "colin" not in {u.username for u in signed}


def test_noop_update_keeps_the_version_and_writes_no_audit(db: Database, admin: Actor) -> None:
    row = users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])
    before = len(_user_audit(db, row.id))
    same = _update(db, admin, row, display_name=" Colin ")
    assert same.version == row.version
    assert len(_user_audit(db, row.id)) == before


def test_last_administrator_cannot_remove_their_own_admin_role(db: Database, admin: Actor) -> None:
    me = _row(db, admin, admin.user_id)
    with pytest.raises(ValidationFailed) as caught:
        _update(db, admin, me, roles={Role.CREDIT_MANAGER})
    assert "last active administrator" in caught.value.for_field("roles")[0]
    with pytest.raises(ValidationFailed):
        _update(db, admin, me, active=False)
    assert _row(db, admin, admin.user_id).roles == frozenset({Role.ADMINISTRATOR})

    # A disabled second administrator does not count ...
    other = add_user(db, admin, "deputy", Role.ADMINISTRATOR)
    _update(db, admin, _row(db, admin, other.user_id), active=False)
    with pytest.raises(ValidationFailed):
        _update(db, admin, _row(db, admin, admin.user_id), roles={Role.CREDIT_MANAGER})
    # ... an active one does.
    _update(db, admin, _row(db, admin, other.user_id), active=True)
    demoted = _update(db, admin, _row(db, admin, admin.user_id), roles={Role.CREDIT_MANAGER})
    assert demoted.roles == frozenset({Role.CREDIT_MANAGER})


@pytest.mark.parametrize("role", ["manager", "clerk", "collector"])
def test_only_an_administrator_manages_users(
    db: Database, admin: Actor, request: pytest.FixtureRequest, role: str
) -> None:
    actor = request.getfixturevalue(role)
    before = _user_count(db)
    with pytest.raises(PermissionDenied) as caught:
        users.create_user(db, actor, "newbie", "Newbie", [Role.COLLECTOR])
    assert "administrator" in str(caught.value)
    assert "manage users" in str(caught.value)
    with pytest.raises(PermissionDenied):
        _update(db, actor, _row(db, admin, actor.user_id), roles={Role.ADMINISTRATOR})
    assert _user_count(db) == before
    assert _row(db, admin, actor.user_id).roles == actor.roles


def test_update_user_version_conflict(db: Database, admin: Actor) -> None:
    deputy = add_user(db, admin, "deputy", Role.ADMINISTRATOR)
    row = users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])
    _update(db, deputy, row, display_name="Colin by Deputy")
    with pytest.raises(ConflictError) as caught:
        _update(db, admin, row, display_name="Colin by Admin")
    assert caught.value.details.changed_by == "deputy"
    assert caught.value.details.their_values == {"display_name": "Colin by Deputy"}
    assert "deputy" in str(caught.value)
    assert _row(db, admin, row.id).display_name == "Colin by Deputy"


def test_update_of_missing_user(db: Database, admin: Actor) -> None:
    with pytest.raises(NotFound):
        users.update_user(
            db, admin, 99_999, 1, display_name="X", roles={Role.COLLECTOR}, active=True
        )


def test_list_collectors_only_active_collectors(db: Database, admin: Actor) -> None:
    add_user(db, admin, "zed", Role.COLLECTOR)
    add_user(db, admin, "amy", Role.COLLECTOR, Role.CREDIT_CLERK)
    add_user(db, admin, "clerky", Role.CREDIT_CLERK)
    gone = add_user(db, admin, "gone", Role.COLLECTOR)
    _update(db, admin, _row(db, admin, gone.user_id), active=False)
    assert [u.username for u in users.list_collectors(db)] == ["amy", "zed"]


def test_ensure_user_gets_or_creates(db: Database) -> None:
    with db.write() as session:
        first = users.ensure_user(session, "collector01", "Col One", [Role.COLLECTOR]).id
        again = users.ensure_user(session, "collector01", "Other Name", [Role.ADMINISTRATOR]).id
    assert first == again
    assert [u.display_name for u in users.list_collectors(db)] == ["Col One"]
