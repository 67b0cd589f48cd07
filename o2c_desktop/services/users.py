"""App users and roles: who is signed in, and the administrator's user management."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    UnknownUser,
    ValidationFailed,
)
from o2c_desktop.models import Role, User, UserRole
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SYSTEM = Actor(0, "system", "O2C Desktop", frozenset({Role.ADMINISTRATOR}))


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """{user id: display name} for the given ids (None and 0 skipped), in one query: how a
    list shows who prepared, verified, owns or collects something."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    email: str | None
    active: bool
    roles: frozenset[Role]
    version: int


def login_name(db: Database) -> str:
    """SQLite: the OS user (or O2C_USER, for a shared workstation); PostgreSQL: session_user."""
    if db.kind == "postgresql":
        with db.read() as session:
            return str(session.execute(text("SELECT session_user")).scalar_one())
    return os.environ.get("O2C_USER") or getpass.getuser()


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.display_name, user.role_set)


def _row(user: User) -> UserRow:
    return UserRow(
        user.id,
        user.username,
        user.display_name,
        user.email,
        user.active,
        user.role_set,
        user.version,
    )


def sign_in(db: Database) -> Actor:
    """Map the login to an app user. The first login into a database without users becomes its
    administrator (that is how a new SQLite file or a new shared database is set up)."""
    name = login_name(db)
    with db.write() as session:
        user = session.scalar(select(User).where(User.username == name))
        if user is None:
            if session.scalar(select(func.count()).select_from(User)):
                raise UnknownUser(
                    f"The login {name!r} has no O2C Desktop account in {db.describe()}. "
                    "Ask an administrator to add you under Administration → Users."
                )
            user = User(
                username=name,
                display_name=name,
                active=True,
                roles=[UserRole(role=Role.ADMINISTRATOR.value)],
            )
            session.add(user)
            session.flush()
            audit.record(
                session,
                _actor(user),
                audit.CREATE,
                "users",
                user.id,
                note=f"first user of this database, made administrator ({name})",
            )
        if not user.active:
            raise UnknownUser(f"The account {name!r} is disabled; ask an administrator.")
        return _actor(user)


def list_users(db: Database, actor: Actor) -> list[UserRow]:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return [_row(u) for u in session.scalars(select(User).order_by(User.display_name))]


def list_collectors(db: Database) -> list[UserRow]:
    """Active users with the collector role: the choices for a customer's collector."""
    with db.read() as session:
        users = session.scalars(
            select(User)
            .join(UserRole)
            .where(UserRole.role == Role.COLLECTOR.value, User.active.is_(True))
            .order_by(User.display_name)
        )
        return [_row(u) for u in users]


def _validate(
    session: Session, username: str, display_name: str, roles: Iterable[Role], user_id: int | None
) -> None:
    problems = []
    if not USERNAME.match(username or ""):
        problems.append(FieldProblem("username", "letters, digits and . _ @ - only, 1–64 long"))
    elif session.scalar(
        select(User.id).where(User.username == username, User.id != (user_id or 0))
    ):
        problems.append(FieldProblem("username", f"{username!r} is already taken"))
    if not (display_name or "").strip():
        problems.append(FieldProblem("display_name", "required"))
    if not set(roles):
        problems.append(FieldProblem("roles", "give the user at least one role"))
    if problems:
        raise ValidationFailed(problems)


def create_user(
    db: Database,
    actor: Actor,
    username: str,
    display_name: str,
    roles: Iterable[Role],
    email: str | None = None,
) -> UserRow:
    actor.require(Permission.MANAGE_USERS)
    roles = frozenset(roles)
    with db.write() as session:
        _validate(session, username, display_name, roles, None)
        user = User(
            username=username,
            display_name=display_name.strip(),
            email=email or None,
            active=True,
            roles=[UserRole(role=r.value) for r in sorted(roles)],
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor,
            audit.CREATE,
            "users",
            user.id,
            record_version=user.version,
            changes={
                "username": (None, username),
                "display_name": (None, display_name),
                "roles": (None, _roles_text(roles)),
                "email": (None, email),
            },
        )
        return _row(user)


def update_user(
    db: Database,
    actor: Actor,
    user_id: int,
    expected_version: int,
    *,
    display_name: str,
    roles: Iterable[Role],
    active: bool,
    email: str | None = None,
) -> UserRow:
    actor.require(Permission.MANAGE_USERS)
    roles = frozenset(roles)
    with db.write() as session:
        user = session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound(f"User #{user_id} no longer exists.")
        if user.version != expected_version:
            since = audit.changes_since(session, "users", user.id, expected_version)
            who, at, values = since or ("another user", user.created_at, {})
            raise ConflictError(
                ConflictDetails("User", user.username, who, f"{at:%Y-%m-%d %H:%M} UTC", values)
            )
        _validate(session, user.username, display_name, roles, user.id)
        removes_admin = Role.ADMINISTRATOR in user.role_set and (
            Role.ADMINISTRATOR not in roles or not active
        )
        if removes_admin and _other_admins(session, user.id) == 0:
            raise ValidationFailed(
                [
                    FieldProblem(
                        "roles",
                        "this is the last active administrator; make someone else one first",
                    )
                ]
            )
        changes = {}
        if user.display_name != display_name.strip():
            changes["display_name"] = (user.display_name, display_name.strip())
            user.display_name = display_name.strip()
        if (user.email or None) != (email or None):
            changes["email"] = (user.email, email or None)
            user.email = email or None
        if user.active != active:
            changes["active"] = (user.active, active)
            user.active = active
        if user.role_set != roles:
            changes["roles"] = (_roles_text(user.role_set), _roles_text(roles))
            user.roles = [UserRole(role=r.value) for r in sorted(roles)]
        if changes:
            flag_modified(user, "display_name")  # a roles-only change must bump the version too
            session.flush()
            audit.record(
                session,
                actor,
                audit.UPDATE,
                "users",
                user.id,
                changes=changes,
                record_version=user.version,
            )
        return _row(user)


def _other_admins(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .join(UserRole)
            .where(
                UserRole.role == Role.ADMINISTRATOR.value, User.active.is_(True), User.id != user_id
            )
        )
        or 0
    )


def _roles_text(roles: Iterable[Role]) -> str:
    return ", ".join(sorted(r.value for r in roles))


def ensure_user(session: Session, username: str, display_name: str, roles: Iterable[Role]) -> User:
    """Get or create a user inside a larger unit of work (demo data, imports)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            username=username,
            display_name=display_name,
            active=True,
            roles=[UserRole(role=r.value) for r in roles],
        )
        session.add(user)
        session.flush()
    return user
