"""The credit policy setting and the effective credit limit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry
from o2c_desktop.services import credit_policy
from o2c_desktop.services.auth import Actor


def test_defaults_until_someone_saves_a_policy(db: Database) -> None:
    policy = credit_policy.get_policy(db)
    assert policy.hold_days_past_due == 60
    assert policy.financial_statements_months == 15
    assert policy.sla_days["in_verification"] == 5
    assert policy.document_store is None


def test_an_administrator_saves_and_the_change_is_audited(db: Database, admin: Actor) -> None:
    saved = credit_policy.set_policy(
        db, admin, {"hold_days_past_due": 45, "document_store": "  /srv/o2c/documents "}
    )
    assert saved.hold_days_past_due == 45
    assert saved.document_store == "/srv/o2c/documents"
    assert credit_policy.get_policy(db) == saved
    with db.read() as session:
        rows = session.execute(
            select(
                AuditEntry.username, AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value
            ).where(AuditEntry.record_id == credit_policy.SETTING_KEY)
        ).all()
    assert {tuple(r) for r in rows} == {
        (admin.username, "hold_days_past_due", "60", "45"),
        (admin.username, "document_store", None, "/srv/o2c/documents"),
    }


def test_a_manager_may_not_change_the_policy(db: Database, manager: Actor) -> None:
    with pytest.raises(PermissionDenied, match="credit policy"):
        credit_policy.set_policy(db, manager, {"hold_days_past_due": 30})


def test_bad_values_are_refused_by_name_and_nothing_is_saved(db: Database, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        credit_policy.set_policy(
            db,
            admin,
            {
                "hold_days_past_due": -1,
                "sla_days": {"draft": 5},
                "review_months": {"A": 0, "B": 12, "C": 12, "D": 6, "E": 3},
                "colour": "red",
            },
        )
    fields = {p.field for p in caught.value.problems}
    assert fields == {"hold_days_past_due", "sla_days", "review_months.A", "colour"}
    assert credit_policy.get_policy(db) == credit_policy.DEFAULT_POLICY


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 11, 30), Decimal("80000")),  # the last day still has the temporary limit
        (date(2026, 12, 1), Decimal("50000")),  # the day after, the permanent one is back
    ],
)
def test_a_temporary_limit_applies_up_to_and_including_its_last_day(
    as_of: date, expected: Decimal
) -> None:
    limit = credit_policy.effective_limit(
        Decimal("50000"), Decimal("80000"), date(2026, 11, 30), as_of
    )
    assert limit == expected


def test_without_a_temporary_limit_the_permanent_one_applies() -> None:
    assert credit_policy.effective_limit(Decimal("50000"), None, None, date(2026, 1, 1)) == 50000
