"""Approval authority: how much credit a person may grant, alone or with a second approver, per
currency, and the rows administrators keep it in.

A user's own row wins over their roles' rows (a senior clerk may get a personal authority that
is not their role's); among their roles the highest counts; no row means no authority, which is
how clerks start (seeded: credit managers alone up to 50,000, jointly up to 250,000, in the main
currencies). The permission to decide or release (services.auth) says who may try; the authority
says up to which amount, and a refusal names the person, their authority and the amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import User
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import ApprovalAuthority
from o2c_desktop.models.users import Role
from o2c_desktop.money import is_currency, money_text
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_applications import parse_money
from o2c_desktop.services.customer_fields import check_limit_decimals
from o2c_desktop.services.field_checks import row_id
from o2c_desktop.services.stored_rows import audit_change, locked_at_version

ZERO = Decimal("0.00")
FIELDS = ("user_id", "username", "role", "currency", "alone_max", "jointly_max")
ROLE_NAMES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Authority:
    """What one person may grant in `currency`: alone up to `alone_max`, with a second approver
    up to `jointly_max` (None: never). `source` says where it comes from ("own authority",
    "role credit manager", "no authority row")."""

    currency: str
    alone_max: Decimal
    jointly_max: Decimal | None
    source: str

    @property
    def joint_limit(self) -> Decimal:
        """The most this person may approve at all, with a second approver if need be."""
        return max(self.alone_max, self.jointly_max or ZERO)

    def describe(self) -> str:
        """What the person may grant, as refusals quote it: "EUR 50,000.00 alone and
        EUR 250,000.00 with a second approver (role credit manager)", or "none in EUR (no
        authority row)"."""
        if self.alone_max <= 0 and not self.jointly_max:
            return f"none in {self.currency} ({self.source})"
        text = f"{money_text(self.alone_max, self.currency)} alone"
        if self.jointly_max is not None and self.jointly_max > self.alone_max:
            text += f" and {money_text(self.jointly_max, self.currency)} with a second approver"
        return f"{text} ({self.source})"


def authority_of(
    session: Session, user_id: int, roles: Iterable[Role | str], currency: str
) -> Authority:
    """The authority of a user with `roles` in `currency` (see the module docstring)."""
    role_names = sorted({str(r) for r in roles})
    rows = session.scalars(
        select(ApprovalAuthority).where(
            ApprovalAuthority.currency == currency,
            or_(ApprovalAuthority.user_id == user_id, ApprovalAuthority.role.in_(role_names)),
        )
    ).all()
    own = [r for r in rows if r.user_id == user_id and user_id]
    if own:
        return Authority(currency, own[0].alone_max, own[0].jointly_max, "own authority")
    by_role = [r for r in rows if r.role is not None]
    if not by_role:
        return Authority(currency, ZERO, None, "no authority row")
    best = max(by_role, key=lambda r: (r.alone_max, r.jointly_max or ZERO))
    joint = [r.jointly_max for r in by_role if r.jointly_max is not None]
    source = "role " + (Role(best.role).label if best.role in ROLE_NAMES else str(best.role))
    return Authority(currency, best.alone_max, max(joint) if joint else None, source)


def my_authority(db: Database, actor: Actor, currency: str) -> Authority:
    """The signed-in user's own authority (shown before they decide)."""
    with db.read() as session:
        return authority_of(session, actor.user_id, actor.roles, currency.upper())


def require_release_authority(
    session: Session, actor: Actor, currency: str, exposure_after: Decimal, what: str
) -> None:
    """Releasing a held order needs the permission and an authority to grant, alone, the
    customer's exposure after the release; `what` names the order in the refusal."""
    actor.require(Permission.RELEASE_ORDERS)
    authority = authority_of(session, actor.user_id, actor.roles, currency)
    if authority.alone_max < exposure_after:
        raise PermissionDenied(
            f"{actor.display_name} may not release {what}: it brings the customer's exposure to "
            f"{money_text(exposure_after, currency)}, and they may grant "
            f"{money_text(authority.alone_max, currency)} alone ({authority.source})."
        )


# ---------------------------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorityView:
    id: int
    user_id: int | None
    username: str | None
    role: str | None
    currency: str
    alone_max: Decimal
    jointly_max: Decimal | None
    version: int


def _view(session: Session, row: ApprovalAuthority) -> AuthorityView:
    user = session.get(User, row.user_id) if row.user_id else None
    return AuthorityView(
        row.id,
        row.user_id,
        user.username if user else None,
        row.role,
        row.currency,
        row.alone_max,
        row.jointly_max,
        row.version,
    )


def list_authorities(db: Database, actor: Actor) -> list[AuthorityView]:
    """Every row: role rows first (by role), then personal ones (by user), each by currency."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.scalars(select(ApprovalAuthority)).all()
        views = [_view(session, row) for row in rows]
    return sorted(views, key=lambda v: (v.role is None, v.role or "", v.username or "", v.currency))


def _subject(values: Mapping[str, Any]) -> str:
    who = f"role {values['role']}" if values.get("role") else f"user #{values.get('user_id')}"
    return f"{who}, {values.get('currency')}"


def _is_user(session: Session, user_id: object) -> bool:
    try:
        return session.get(User, row_id(user_id, "user")) is not None
    except NotFound:  # a bool, text or an id no INTEGER column holds
        return False


def _checked(
    session: Session, raw: Mapping[str, Any], before: Mapping[str, Any], authority_id: int | None
) -> dict[str, Any]:
    """The row's values from the input (given fields over `before`), or ValidationFailed
    naming every problem."""
    problems = [FieldProblem(k, "not an approval authority field") for k in raw if k not in FIELDS]
    merged = {**before, **{k: v for k, v in raw.items() if k in FIELDS}}
    user_id = merged.get("user_id")
    username = merged.pop("username", None)
    known_problems = len(problems)
    if username and "user_id" not in raw:
        user_id = session.scalar(select(User.id).where(User.username == str(username).strip()))
        if user_id is None:
            problems.append(FieldProblem("username", "no user with that username", value=username))
    elif user_id is not None and not _is_user(session, user_id):
        problems.append(FieldProblem("user_id", "no such user", value=str(user_id)))
    role = (str(merged.get("role") or "")).strip() or None
    if (user_id is None) == (role is None) and len(problems) == known_problems:
        problems.append(FieldProblem("role", "give either a user or a role, not both or neither"))
    if role is not None and role not in ROLE_NAMES:
        problems.append(
            FieldProblem("role", f"one of {', '.join(r.value for r in Role)}", value=role)
        )
    currency = str(merged.get("currency") or "").strip().upper()
    known = len(currency) == 3 and is_currency(currency)
    if not known:
        problems.append(FieldProblem("currency", "an ISO currency code (EUR, USD …)", currency))
    failed = len(problems)
    alone = parse_money("alone_max", merged.get("alone_max"), problems)
    if alone is None and not any(p.field == "alone_max" for p in problems[failed:]):
        alone = ZERO  # empty: nothing alone
    jointly = parse_money("jointly_max", merged.get("jointly_max"), problems)
    for name, value in (("alone_max", alone), ("jointly_max", jointly)):
        reason = check_limit_decimals(value, currency) if value is not None and known else None
        if reason:
            problems.append(FieldProblem(name, reason))
    if alone is not None and jointly is not None and jointly < alone:
        problems.append(
            FieldProblem("jointly_max", "at least the amount alone (or empty: never jointly)")
        )
    values = {
        "user_id": user_id if role is None else None,
        "role": role,
        "currency": currency,
        "alone_max": alone,
        "jointly_max": jointly,
    }
    if not problems:
        subject = (
            ApprovalAuthority.user_id == user_id if role is None else ApprovalAuthority.role == role
        )
        clash = session.scalar(
            select(ApprovalAuthority.id).where(
                subject,
                ApprovalAuthority.currency == currency,
                ApprovalAuthority.id != (authority_id or 0),
            )
        )
        if clash:
            problems.append(
                FieldProblem("currency", f"{_subject(values)} has an authority row already")
            )
    if problems:
        raise ValidationFailed(problems)
    return values


def _stored(row: ApprovalAuthority) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "role": row.role,
        "currency": row.currency,
        "alone_max": row.alone_max,
        "jointly_max": row.jointly_max,
    }


def _locked(session: Session, authority_id: int, expected_version: int | None) -> ApprovalAuthority:
    return locked_at_version(
        session,
        ApprovalAuthority,
        authority_id,
        expected_version,
        what="Approval authority",
        name=lambda row: _subject(_stored(row)),
    )


def save_authority(
    db: Database,
    actor: Actor,
    authority_id: int | None,
    expected_version: int | None,
    values: Mapping[str, Any],
) -> AuthorityView:
    """Add a row (`authority_id` None) or change one edited at `expected_version`. `values`:
    `user_id` or `username`, or `role`; `currency`; `alone_max` (empty: 0); `jointly_max`
    (empty: never jointly)."""
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    with db.write() as session:
        if authority_id is None:
            row, before = ApprovalAuthority(), {}
        else:
            row = _locked(session, authority_id, expected_version)
            before = _stored(row)
        checked = _checked(session, values, before, authority_id)
        changes = {k: (before.get(k), v) for k, v in checked.items() if before.get(k) != v}
        if not changes:
            return _view(session, row)
        for key, value in checked.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
        row.updated_by_id = actor.user_id or None
        if authority_id is None:
            session.add(row)
        session.flush()
        action = audit.CREATE if authority_id is None else audit.UPDATE
        audit_change(session, actor, action, row, changes)
        return _view(session, row)


def delete_authority(db: Database, actor: Actor, authority_id: int, expected_version: int) -> None:
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    with db.write() as session:
        row = _locked(session, authority_id, expected_version)
        audit_change(
            session,
            actor,
            audit.DELETE,
            row,
            {k: (v, None) for k, v in _stored(row).items() if v is not None},
        )
        session.delete(row)


__all__ = [
    "Authority",
    "AuthorityView",
    "authority_of",
    "delete_authority",
    "list_authorities",
    "my_authority",
    "require_release_authority",
    "save_authority",
]
