"""Collection strategies: the default when none is saved, validation naming each field, saving
and activating (exactly one active, audited, versioned), conflicts and permissions."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, CollectionStrategy
from o2c_desktop.services import collection_strategy as cs
from o2c_desktop.services.auth import Actor


def _problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


def _audit_count(db: Database, record_id: int | None = None) -> int:
    stmt = select(func.count()).where(AuditEntry.table_name == "collection_strategies")
    if record_id is not None:
        stmt = stmt.where(AuditEntry.record_id == str(record_id))
    with db.read() as session:
        return int(session.scalar(stmt) or 0)


def _save_changed(
    db: Database, manager: Actor, strategy: cs.Strategy, **changes: Any
) -> cs.Strategy:
    """Save the strategy again under its name, as version `strategy.version` saw it, with the
    default rules changed as given."""
    rules = dataclasses.replace(cs.DEFAULT_RULES, **changes)
    return cs.save_strategy(
        db, manager, strategy.id, strategy.name, rules, expected_version=strategy.version
    )


def test_default_rules_until_a_strategy_is_active(db: Database, manager: Actor) -> None:
    strategy = cs.active_strategy(db)
    assert (strategy.id, strategy.name, strategy.active, strategy.version) == (
        None,
        "Default",
        True,
        0,
    )
    assert strategy.rules == cs.DEFAULT_RULES
    # Saved but not activated: the default still orders the list.
    cs.save_strategy(db, manager, None, "Draft", cs.DEFAULT_RULES)
    assert cs.active_strategy(db).id is None


def test_bands_give_the_points_of_the_highest_threshold_reached() -> None:
    rules = cs.DEFAULT_RULES
    assert [rules.dpd_points(d) for d in (None, 0, 1, 14, 15, 60, 61, 90, 91, 400)] == [
        0,
        0,
        5,
        5,
        10,
        20,
        30,
        30,
        40,
        40,
    ]
    assert rules.amount_points(Decimal("0")) == 0
    assert rules.amount_points(Decimal("0.01")) == 5
    assert rules.amount_points(Decimal("9999.99")) == 20
    assert rules.amount_points(Decimal("10000")) == 30
    # Never reached counts as the top band of days since contact.
    assert rules.contact_points(None) == 20
    assert rules.contact_points(13) == 0
    assert rules.contact_points(45) == 10
    assert rules.risk_points("E") == 30
    assert rules.risk_points(None) == 0
    no_contact_bands = dataclasses.replace(rules, days_since_contact=())
    assert no_contact_bands.contact_points(None) == 0


def test_rules_round_trip_through_json_exactly() -> None:
    rules = dataclasses.replace(
        cs.DEFAULT_RULES,
        overdue_amount_bands=((Decimal("0.005"), 1), (Decimal("2500.50"), 7)),
        fully_disputed_factor=Decimal("0.35"),
    )
    text = rules.to_json()
    stored = json.loads(text)
    assert stored["overdue_amount_bands"] == [["0.005", 1], ["2500.50", 7]]
    assert stored["fully_disputed_factor"] == "0.35"
    assert stored["risk_class_points"] == {"A": 0, "B": 5, "C": 10, "D": 20, "E": 30}
    assert cs.rules_from_json(text) == rules


def test_missing_keys_take_the_default(db: Database) -> None:
    rules = cs.parse_rules({"follow_up_due_points": 55, "risk_class_points": {"E": 99}})
    assert rules.follow_up_due_points == 55
    assert rules.risk_class_points == (("E", 99),)
    assert rules.dpd_bands == cs.DEFAULT_RULES.dpd_bands


def test_validation_names_every_field_and_saves_nothing(db: Database, manager: Actor) -> None:
    bad: dict[str, Any] = {
        "overdue_amount_bands": [["5000", 10], ["1000", 20]],
        "dpd_bands": [[0, 5]],
        "days_since_contact": [[10, -1]],
        "risk_class_points": {"F": 3},
        "broken_promise_points": True,
        "broken_promise_days": 0,
        "limit_breach_points": 1001,
        "fully_disputed_factor": "1.5",
        "promised_not_due_factor": 0.2,
        "follow_up_points": 5,
    }
    with pytest.raises(ValidationFailed) as exc:
        cs.save_strategy(db, manager, None, "  ", bad)
    problems = _problems(exc)
    assert problems == {
        "name": "required",
        "follow_up_points": "no such rule",
        "overdue_amount_bands": (
            "band 2: from 1000 must be more than the band before (5000): bands go in "
            "ascending order"
        ),
        "dpd_bands": "band 1: days must be a whole number from 1 to 36500",
        "days_since_contact": "band 1: points must be a whole number from 0 to 1000",
        "risk_class_points": "risk classes are A, B, C, D, E",
        "broken_promise_points": "points must be a whole number from 0 to 1000",
        "broken_promise_days": "days must be a whole number from 1 to 36500",
        "limit_breach_points": "points must be a whole number from 0 to 1000",
        "fully_disputed_factor": "a decimal from 0 to 1 (0.2 = a fifth)",
        "promised_not_due_factor": "a decimal from 0 to 1, as text or Decimal",
    }
    with pytest.raises(ValidationFailed) as exc:
        cs.parse_rules({"overdue_amount_bands": [["12.34567", 1], ["x", 2], [0, 3]]})
    assert [p.message for p in exc.value.problems] == [
        "band 1: at most 4 decimals",
        "band 2: the amount is not a number",
        "band 3: the amount must be more than zero",
    ]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CollectionStrategy)) == 0
    assert _audit_count(db) == 0


def test_damaged_stored_rules_are_one_clear_error() -> None:
    with pytest.raises(O2CError, match="rules are damaged"):
        cs.rules_from_json('{"dpd_bands": "lots"}')
    with pytest.raises(O2CError, match="rules are damaged"):
        cs.rules_from_json("not json")


def test_save_activate_and_exactly_one_active(db: Database, manager: Actor) -> None:
    eager = dataclasses.replace(cs.DEFAULT_RULES, dpd_bands=((1, 50),))
    first = cs.save_strategy(db, manager, None, " Eager ", eager, activate=True)
    assert (first.name, first.active, first.version, first.rules) == ("Eager", True, 1, eager)
    assert cs.active_strategy(db) == first
    second = cs.save_strategy(db, manager, None, "Calm", cs.DEFAULT_RULES)
    assert not second.active and cs.active_strategy(db).id == first.id

    now_active = cs.activate(db, manager, second.id, second.version)
    assert now_active.active and now_active.version == 2
    listed = {s.name: s for s in cs.list_strategies(db, manager)}
    assert [(n, s.active) for n, s in sorted(listed.items())] == [
        ("Calm", True),
        ("Eager", False),
    ]
    assert listed["Eager"].version == 2  # switched off: a change of its own
    assert cs.active_strategy(db).id == second.id

    # Editing the active strategy keeps it active and bumps the version.
    edited = _save_changed(db, manager, now_active, follow_up_due_points=99)
    assert (edited.active, edited.version, edited.rules.follow_up_due_points) == (True, 3, 99)
    assert cs.active_strategy(db).rules.follow_up_due_points == 99

    cs.deactivate_all(db, manager)
    assert cs.active_strategy(db).id is None
    with db.read() as session:
        entries = session.execute(
            select(AuditEntry.record_id, AuditEntry.field, AuditEntry.new_value)
            .where(AuditEntry.table_name == "collection_strategies")
            .order_by(AuditEntry.id)
        ).all()
    assert (str(first.id), "name", "Eager") in entries
    assert (str(second.id), "active", "yes") in entries
    assert (str(first.id), "active", "no") in entries
    assert (str(second.id), "active", "no") in entries


def test_stale_version_is_a_conflict_and_keeps_the_row(db: Database, manager: Actor) -> None:
    saved = cs.save_strategy(db, manager, None, "One", cs.DEFAULT_RULES)
    _save_changed(db, manager, saved, limit_breach_points=1)
    with pytest.raises(ConflictError) as exc:
        cs.save_strategy(
            db, manager, saved.id, "One b", cs.DEFAULT_RULES, expected_version=saved.version
        )
    assert exc.value.details.changed_by == manager.username
    assert "rules" in exc.value.details.their_values
    with pytest.raises(ConflictError):
        cs.activate(db, manager, saved.id, saved.version)
    with pytest.raises(ValidationFailed) as missing:
        cs.save_strategy(db, manager, saved.id, "One", cs.DEFAULT_RULES)
    assert _problems(missing) == {
        "expected_version": "required to change a saved collection strategy"
    }
    with pytest.raises(NotFound):
        cs.activate(db, manager, saved.id + 100, 1)
    only = cs.list_strategies(db, manager)
    assert [(s.name, s.version, s.rules.limit_breach_points) for s in only] == [("One", 2, 1)]


def test_names_are_unique(db: Database, manager: Actor) -> None:
    cs.save_strategy(db, manager, None, "Same", cs.DEFAULT_RULES)
    other = cs.save_strategy(db, manager, None, "Other", cs.DEFAULT_RULES)
    with pytest.raises(ValidationFailed) as exc:
        cs.save_strategy(db, manager, None, "Same", cs.DEFAULT_RULES)
    assert _problems(exc) == {"name": "another strategy already has this name"}
    with pytest.raises(ValidationFailed):
        cs.save_strategy(db, manager, other.id, "Same", cs.DEFAULT_RULES, expected_version=1)
    with pytest.raises(ValidationFailed) as long:
        cs.save_strategy(db, manager, None, "x" * 81, cs.DEFAULT_RULES)
    assert _problems(long) == {"name": "at most 80 characters"}


def test_deleting_the_active_strategy_brings_back_the_default(db: Database, manager: Actor) -> None:
    saved = cs.save_strategy(db, manager, None, "Gone", cs.DEFAULT_RULES, activate=True)
    assert cs.active_strategy(db).id == saved.id
    cs.delete_strategy(db, manager, saved.id, saved.version)
    assert cs.active_strategy(db).id is None
    assert cs.list_strategies(db, manager) == []
    assert _audit_count(db, saved.id) >= 3  # created (name, rules, active), deleted


def test_only_managers_edit_strategies(
    db: Database, manager: Actor, collector: Actor, clerk: Actor
) -> None:
    saved = cs.save_strategy(db, manager, None, "Ours", cs.DEFAULT_RULES)
    for actor in (collector, clerk):
        with pytest.raises(PermissionDenied, match="edit collection strategies"):
            cs.save_strategy(db, actor, None, "Mine", cs.DEFAULT_RULES)
        with pytest.raises(PermissionDenied):
            cs.activate(db, actor, saved.id, saved.version)
        with pytest.raises(PermissionDenied):
            cs.delete_strategy(db, actor, saved.id, saved.version)
    # Collectors may see how their list is scored.
    assert [s.name for s in cs.list_strategies(db, collector)] == ["Ours"]
    assert cs.active_strategy(db).id is None
