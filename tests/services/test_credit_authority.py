"""Approval authority: the seeded role rows, a user's own row over their roles, the highest of
several roles, the rows' validation, audit and conflicts, and the release check (both engines)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Role
from o2c_desktop.services import credit_authority as ca
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user

D = Decimal


def _authority(db: Database, actor: Actor, currency: str = "EUR") -> tuple[Decimal, Decimal | None]:
    found = ca.my_authority(db, actor, currency)
    return found.alone_max, found.jointly_max


def test_seeded_roles(db: Database, admin: Actor, manager: Actor, clerk: Actor) -> None:
    """Credit managers: 50,000 alone, 250,000 jointly in the main currencies; nobody else."""
    assert _authority(db, manager) == (D(50000), D(250000))
    assert _authority(db, manager, "CHF") == (D(50000), D(250000))
    assert _authority(db, manager, "JPY") == (D(0), None)  # not seeded
    assert _authority(db, clerk) == (D(0), None)
    assert _authority(db, admin) == (D(0), None)
    assert ca.my_authority(db, manager, "EUR").source == "role credit manager"
    assert ca.my_authority(db, clerk, "EUR").describe() == "none in EUR (no authority row)"
    assert ca.my_authority(db, manager, "EUR").describe() == (
        "EUR 50,000.00 alone and EUR 250,000.00 with a second approver (role credit manager)"
    )


def test_own_row_wins_and_the_highest_role_counts(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    ca.save_authority(
        db, admin, None, None, {"role": "credit_clerk", "currency": "EUR", "alone_max": "10000"}
    )
    assert _authority(db, clerk) == (D(10000), None)
    both = add_user(db, admin, "bo", Role.CREDIT_CLERK, Role.CREDIT_MANAGER)
    assert _authority(db, both) == (D(50000), D(250000))  # the manager's row is the higher
    # A personal row, even a lower one, wins over the roles.
    ca.save_authority(
        db, admin, None, None, {"username": "maria", "currency": "EUR", "alone_max": "20000.00"}
    )
    own = ca.my_authority(db, manager, "EUR")
    assert (own.alone_max, own.jointly_max, own.source) == (D(20000), None, "own authority")
    assert _authority(db, manager, "USD") == (D(50000), D(250000))  # other currencies: the role


def test_rows_are_validated_by_field(db: Database, admin: Actor, manager: Actor) -> None:
    def problems(values: dict[str, object]) -> set[str]:
        with pytest.raises(ValidationFailed) as caught:
            ca.save_authority(db, admin, None, None, values)
        return {p.field for p in caught.value.problems}

    assert problems({"role": "credit_manager", "user_id": manager.user_id, "currency": "EUR"}) == {
        "role"
    }
    assert problems({"currency": "EUR", "alone_max": "1"}) == {"role"}
    assert problems({"role": "boss", "currency": "EUR"}) == {"role"}
    assert problems({"role": "collector", "currency": "EURO"}) == {"currency"}
    assert problems({"role": "collector", "currency": "EUR", "alone_max": "-1"}) == {"alone_max"}
    assert problems(
        {"role": "collector", "currency": "EUR", "alone_max": "100", "jointly_max": "50"}
    ) == {"jointly_max"}
    assert problems({"role": "collector", "currency": "JPY", "alone_max": "100.5"}) == {"alone_max"}
    assert problems({"role": "collector", "currency": "EUR", "alone_max": 1.5}) == {"alone_max"}
    assert problems({"username": "nobody", "currency": "EUR"}) == {"username"}
    assert problems({"role": "credit_manager", "currency": "EUR"}) == {"currency"}  # seeded
    assert problems({"role": "collector", "currency": "EUR", "limit": "1"}) == {"limit"}


def test_save_update_delete_are_audited_and_guarded(
    db: Database, admin: Actor, manager: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        ca.save_authority(db, manager, None, None, {"role": "collector", "currency": "EUR"})
    row = ca.save_authority(
        db, admin, None, None, {"role": "collector", "currency": "usd", "alone_max": "5000"}
    )
    assert (row.role, row.currency, row.alone_max, row.jointly_max) == (
        "collector",
        "USD",
        D(5000),
        None,
    )
    changed = ca.save_authority(db, admin, row.id, row.version, {"jointly_max": "25000"})
    assert (changed.alone_max, changed.jointly_max, changed.version) == (
        D(5000),
        D(25000),
        row.version + 1,
    )
    with pytest.raises(ConflictError) as caught:
        ca.save_authority(db, admin, row.id, row.version, {"alone_max": "1"})
    assert "jointly_max is now 25000" in str(caught.value)
    with pytest.raises(ConflictError):
        ca.delete_authority(db, admin, row.id, row.version)
    ca.delete_authority(db, admin, row.id, changed.version)
    assert all(v.id != row.id for v in ca.list_authorities(db, admin))
    with db.read() as session:
        audited = session.execute(
            select(AuditEntry.action, AuditEntry.field, AuditEntry.new_value).where(
                AuditEntry.table_name == "approval_authorities",
                AuditEntry.record_id == str(row.id),
            )
        ).all()
    assert ("create", "alone_max", "5000.00") in audited
    assert ("update", "jointly_max", "25000.00") in audited
    assert ("delete", "role", None) in audited


def test_list_shows_roles_then_people(db: Database, admin: Actor, manager: Actor) -> None:
    ca.save_authority(db, admin, None, None, {"user_id": manager.user_id, "currency": "EUR"})
    rows = ca.list_authorities(db, manager)
    assert [r.role for r in rows[:7]] == ["credit_manager"] * 7
    assert (rows[-1].username, rows[-1].role, rows[-1].alone_max) == ("maria", None, D(0))


def test_release_needs_authority_for_the_exposure_after(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, collector: Actor
) -> None:
    with db.read() as session:
        ca.require_release_authority(session, manager, "EUR", D("50000.00"), "order SO-1")
        with pytest.raises(PermissionDenied) as caught:
            ca.require_release_authority(session, manager, "EUR", D("50000.01"), "order SO-1")
        assert str(caught.value) == (
            "Maria may not release order SO-1: it brings the customer's exposure to "
            "EUR 50,000.01, and they may grant EUR 50,000.00 alone (role credit manager)."
        )
        with pytest.raises(PermissionDenied, match=r"EUR 0\.00 alone"):
            ca.require_release_authority(session, clerk, "EUR", D("1.00"), "order SO-2")
        with pytest.raises(PermissionDenied, match="release or reject held orders"):
            ca.require_release_authority(session, collector, "EUR", D("1.00"), "order SO-3")


def test_bad_ids_and_amounts_are_refused_clearly(db: Database, admin: Actor) -> None:
    """An id no row can have (a bool, text, 2**40) is "not found", a user id of that kind a
    problem on the field, NaN or Infinity an amount problem: never a driver error."""
    for bad in (2**40, True, "1"):
        with pytest.raises(NotFound, match="no approval authority"):
            ca.delete_authority(db, admin, bad, 1)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="no approval authority"):
            ca.save_authority(db, admin, bad, 1, {"alone_max": "1"})  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed) as caught:
            ca.save_authority(db, admin, None, None, {"user_id": bad, "currency": "EUR"})
        assert caught.value.for_field("user_id") == ["no such user"]
    values = {"role": "credit_clerk", "currency": "EUR"}
    with pytest.raises(ValidationFailed) as caught:
        ca.save_authority(
            db, admin, None, None, {**values, "alone_max": D("NaN"), "jointly_max": D("Infinity")}
        )
    assert {p.field for p in caught.value.problems} == {"alone_max", "jointly_max"}
    with db.read() as session:
        assert (
            session.scalar(
                select(AuditEntry.id).where(AuditEntry.table_name == "approval_authorities")
            )
            is None
        )
