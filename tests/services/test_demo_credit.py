"""Demo credit applications: every open state, references, worked checklists with documents,
decisions by the demo manager, some past their service level; the same for the same seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied
from o2c_desktop.models import (
    ApplicationChecklistItem,
    ApplicationReference,
    CreditApplication,
    CreditDecision,
    Document,
    User,
)
from o2c_desktop.models.credit import ITEM_VERIFIED, OPEN_STATES, PENDING_APPROVAL
from o2c_desktop.services import checklist_instances, demo_credit, demo_data, users
from o2c_desktop.services.auth import Actor
from tests.conftest import make_sqlite_db


def _states(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(session.scalars(select(CreditApplication.state)))


def test_demo_applications_show_the_department_at_work(db: Database, admin: Actor) -> None:
    demo_data.generate(db, admin, 60, seed=5)
    assert demo_credit.generate_applications(db, admin, seed=5) == 30
    states = _states(db)
    assert set(OPEN_STATES) <= set(states)
    assert (states["approved"], states["withdrawn"]) == (3, 1)
    with db.read() as session:
        kinds = Counter(session.scalars(select(CreditApplication.kind)))
        assert kinds == {"limit_change": 25, "new_customer": 5}
        people = {u.username: u for u in session.scalars(select(User))}
        assert {"clara", "maria"} <= set(people)
        assert people["maria"].role_set == {users.Role.CREDIT_MANAGER}
        assert session.scalar(select(func.count()).select_from(ApplicationReference)) == 90
        assert session.scalar(select(func.count()).select_from(Document)) > 0
        verified = session.scalar(
            select(func.count())
            .select_from(ApplicationChecklistItem)
            .where(ApplicationChecklistItem.status == ITEM_VERIFIED)
        )
        assert verified > 0
        decisions = session.scalars(select(CreditDecision)).all()
        assert len(decisions) == 3
        assert {d.first_approver_id for d in decisions} == {people["maria"].id}
        pending = session.scalars(
            select(CreditApplication).where(CreditApplication.state == PENDING_APPROVAL)
        ).all()
        for app in pending:
            assert checklist_instances.blocking_items_in_session(session, app.id) == []
            assert app.score is not None
        late = session.scalar(
            select(func.count())
            .select_from(CreditApplication)
            .where(CreditApplication.due_date < func.current_date())
        )
        assert late > 0


def _outline(db: Database) -> list[tuple[object, ...]]:
    with db.read() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    CreditApplication.number,
                    CreditApplication.kind,
                    CreditApplication.state,
                    CreditApplication.customer_number,
                    CreditApplication.requested_limit,
                    CreditApplication.due_date,
                ).order_by(CreditApplication.number)
            )
        ]


def test_the_same_seed_gives_the_same_applications(tmp_path: Path, sqlite_template: Path) -> None:
    outlines = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        db = make_sqlite_db(sqlite_template, folder)
        admin = users.sign_in(db)
        demo_data.generate(db, admin, 40, seed=2)
        demo_credit.generate_applications(db, admin, seed=9)
        outlines.append(_outline(db))
        db.dispose()
    assert outlines[0] == outlines[1]
    assert len(outlines[0]) == 30


def test_without_customers_only_new_customers_apply_and_it_runs_again(
    db: Database, admin: Actor
) -> None:
    assert demo_credit.generate_applications(db, admin, seed=1) == 5
    assert demo_credit.generate_applications(db, admin, seed=1) == 5
    with db.read() as session:
        numbers = session.scalars(select(CreditApplication.customer_number)).all()
    assert len(set(numbers)) == 10  # the second run found other free numbers
    assert "approved" not in _states(db)


def test_only_an_administrator_loads_demo_data(db: Database, clerk: Actor) -> None:
    with pytest.raises(PermissionDenied):
        demo_credit.generate_applications(db, clerk, seed=1)
