"""Portfolios: assignment rules (first match by position wins), their preview and set-based
application with one audit row per moved customer, balance bands in one currency compared with
the customer's balance, bulk hand assignment, validation and conflicts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import AssignmentRule, AuditEntry, Customer, Role, User
from o2c_desktop.services import customers, ledger, portfolios, users
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user

D = date.today() - timedelta(days=10)


def _customer(db: Database, actor: Actor, number: str, **values: str) -> int:
    return customers.create_customer(db, actor, {"number": number, "name": number, **values}).id


def _collectors(db: Database, *numbers: str) -> dict[str, str | None]:
    """Each customer's collector (username) by customer number."""
    with db.read() as session:
        rows = session.execute(
            select(Customer.number, User.username).outerjoin(User, User.id == Customer.collector_id)
        ).all()
    return {n: u for n, u in rows if not numbers or n in numbers}


def _collector_audit(db: Database) -> list[tuple[str, str | None, str | None, int | None]]:
    with db.read() as session:
        rows = session.execute(
            select(
                Customer.number,
                AuditEntry.old_value,
                AuditEntry.new_value,
                AuditEntry.record_version,
            )
            .join(Customer, Customer.id == AuditEntry.customer_id)
            .where(
                AuditEntry.table_name == "customers",
                AuditEntry.field == "collector",
                AuditEntry.action == "update",
            )
            .order_by(AuditEntry.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def team(db: Database, admin: Actor, collector: Actor) -> dict[str, Actor]:
    return {
        "ann": add_user(db, admin, "ann", Role.COLLECTOR),
        "bob": add_user(db, admin, "bob", Role.COLLECTOR),
        "colin": collector,
    }


@pytest.fixture
def book(db: Database, admin: Actor, team: dict[str, Actor]) -> dict[str, int]:
    """Seven customers: segments, countries, balances (EUR); C-200 already Colin's."""
    ids = {
        "C-001": _customer(db, admin, "C-001", segment="retail", country="DE"),
        "C-002": _customer(db, admin, "C-002", segment="retail", country="FR"),
        "C-003": _customer(db, admin, "C-003", segment="wholesale", country="DE"),
        "C-004": _customer(db, admin, "C-004", segment="wholesale", country="FR"),
        "C-120": _customer(db, admin, "C-120", country="US"),
        "c-130": _customer(db, admin, "c-130", country="US"),  # lower case: after "C-150"
        "C-200": _customer(db, admin, "C-200", collector="colin"),
    }
    ledger.post_invoice(db, admin, ids["C-003"], "I-3", D, Decimal("5000.00"))
    ledger.post_invoice(db, admin, ids["C-004"], "I-4", D, Decimal("500.00"))
    return ids


def _rules(db: Database, manager: Actor, team: dict[str, Actor]) -> list[portfolios.RuleRow]:
    ann, bob, colin = (team[n].user_id for n in ("ann", "bob", "colin"))
    return [
        portfolios.save_rule(db, manager, None, collector_id=ann, segment="retail", region="de"),
        portfolios.save_rule(
            db,
            manager,
            None,
            collector_id=bob,
            segment="wholesale",
            currency="eur",
            balance_min="1000",
        ),
        portfolios.save_rule(db, manager, None, collector_id=colin, region="DE"),
        portfolios.save_rule(
            db, manager, None, collector_id=bob, number_from=" C-100", number_to="C-150"
        ),
    ]


def test_rules_first_match_wins_preview_and_apply_with_audit(
    db: Database, manager: Actor, team: dict[str, Actor], book: dict[str, int]
) -> None:
    rules = _rules(db, manager, team)
    assert [(r.position, r.collector, r.region, r.number_from) for r in rules] == [
        (1, "Ann", "DE", None),
        (2, "Bob", None, None),
        (3, "Colin", "DE", None),
        (4, "Bob", None, "C-100"),
    ]
    assert portfolios.list_rules(db, manager) == rules
    ann, bob, colin = (team[n].user_id for n in ("ann", "bob", "colin"))
    assert portfolios.preview_rules(db, manager) == {ann: 1, bob: 2}
    before = _collectors(db)
    assert before["C-001"] is None  # preview wrote nothing
    assert portfolios.apply_rules(db, manager) == 3
    assert _collectors(db) == {
        "C-001": "ann",  # rule 1 before rule 3
        "C-002": None,  # no rule: stays as it was
        "C-003": "bob",  # balance EUR 5,000 in rule 2's band
        "C-004": None,  # EUR 500 below it
        "C-120": "bob",
        "c-130": None,  # byte order: "c-130" > "C-150"
        "C-200": "colin",  # no rule takes it away
    }
    audited = _collector_audit(db)
    assert [(n, old, new) for n, old, new, _ in audited] == [
        ("C-001", None, "ann"),
        ("C-003", None, "bob"),
        ("C-120", None, "bob"),
    ]
    c001 = customers.get_customer(db, manager, book["C-001"])
    assert audited[0][3] == c001.version == 2
    assert c001.collector_name == "Ann"
    # Applying again changes nothing.
    assert portfolios.preview_rules(db, manager) == {}
    assert portfolios.apply_rules(db, manager) == 0
    # Moving the region rule first: it now wins for C-001 and C-003.
    region_rule = rules[2]
    moved = portfolios.save_rule(
        db,
        manager,
        region_rule.id,
        collector_id=colin,
        region="DE",
        position=1,
        expected_version=region_rule.version,
    )
    assert (moved.position, moved.version) == (1, 2)
    assert [r.id for r in portfolios.list_rules(db, manager)][:2] == [rules[0].id, moved.id]
    portfolios.save_rule(
        db,
        manager,
        rules[0].id,
        collector_id=ann,
        segment="retail",
        region="DE",
        position=2,
        expected_version=rules[0].version,
    )
    assert portfolios.preview_rules(db, manager) == {colin: 2}
    assert portfolios.preview_rules(db, manager, only_unassigned=True) == {}
    assert portfolios.apply_rules(db, manager, only_unassigned=True) == 0
    assert portfolios.apply_rules(db, manager) == 2
    assert _collectors(db, "C-001", "C-003") == {"C-001": "colin", "C-003": "colin"}
    assert [(n, old, new) for n, old, new, _ in _collector_audit(db)[3:]] == [
        ("C-001", "ann", "colin"),
        ("C-003", "bob", "colin"),
    ]


def test_only_unassigned_and_catch_all_rule(
    db: Database, manager: Actor, team: dict[str, Actor], book: dict[str, int]
) -> None:
    ann = team["ann"].user_id
    portfolios.save_rule(db, manager, None, collector_id=ann)  # no conditions: everyone
    assert portfolios.preview_rules(db, manager, only_unassigned=True) == {ann: 6}
    assert portfolios.preview_rules(db, manager) == {ann: 7}
    assert portfolios.apply_rules(db, manager, only_unassigned=True) == 6
    assert _collectors(db)["C-200"] == "colin"
    band = portfolios.save_rule(
        db,
        manager,
        None,
        collector_id=team["bob"].user_id,
        currency="EUR",
        balance_max="600",
        position=1,
    )
    assert band.position == 1 and band.balance_max == Decimal("600")
    assert band.currency == "EUR"
    # Ties on position: the older rule first (ann's catch-all was created first, position 1).
    assert portfolios.preview_rules(db, manager) == {ann: 1}
    assert portfolios.apply_rules(db, manager) == 1
    assert _collectors(db)["C-200"] == "ann"


def test_assign_in_bulk_is_audited_and_moves_the_version(
    db: Database, admin: Actor, manager: Actor, team: dict[str, Actor], book: dict[str, int]
) -> None:
    colin = team["colin"].user_id
    detail = customers.get_customer(db, manager, book["C-001"])
    chosen = [book["C-001"], book["C-002"], book["C-200"], book["C-001"]]
    assert portfolios.assign(db, manager, chosen, colin) == 2  # C-200 is Colin's already
    assert _collectors(db, "C-001", "C-002", "C-200") == {
        "C-001": "colin",
        "C-002": "colin",
        "C-200": "colin",
    }
    assert [(n, old, new) for n, old, new, _ in _collector_audit(db)] == [
        ("C-001", None, "colin"),
        ("C-002", None, "colin"),
    ]
    # Someone who opened C-001 before the assignment gets a conflict naming it.
    with pytest.raises(ConflictError, match="maria") as exc:
        customers.update_customer(db, admin, book["C-001"], detail.version, {"name": "Renamed"})
    assert exc.value.details.their_values == {"Collector": "colin"}
    # Unassigning.
    assert portfolios.assign(db, manager, [book["C-002"]], None) == 1
    assert _collectors(db, "C-002") == {"C-002": None}
    assert _collector_audit(db)[-1][:3] == ("C-002", "colin", None)
    assert portfolios.assign(db, manager, [], colin) == 0


def test_assign_refusals_write_nothing(
    db: Database, admin: Actor, manager: Actor, collector: Actor, book: dict[str, int]
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        portfolios.assign(db, manager, [book["C-001"], 999_999], collector.user_id)
    assert "1 of the chosen customers no longer exist" in exc.value.for_field("customers")[0]
    with pytest.raises(ValidationFailed) as exc:
        portfolios.assign(db, manager, [book["C-001"]], manager.user_id)
    assert exc.value.for_field("collector") == ["no active user with the collector role"]
    with pytest.raises(PermissionDenied):
        portfolios.assign(db, collector, [book["C-001"]], collector.user_id)
    with pytest.raises(PermissionDenied):
        portfolios.apply_rules(db, collector)
    with pytest.raises(PermissionDenied):
        portfolios.preview_rules(db, collector)
    assert _collectors(db, "C-001") == {"C-001": None}
    assert _collector_audit(db) == []


def test_rule_validation_names_each_field(
    db: Database, admin: Actor, manager: Actor, team: dict[str, Actor], clerk: Actor
) -> None:
    ann = team["ann"]
    gone = add_user(db, admin, "gone", Role.COLLECTOR)
    row = next(u for u in users.list_users(db, admin) if u.id == gone.user_id)
    users.update_user(
        db,
        admin,
        gone.user_id,
        row.version,
        display_name="Gone",
        roles=[Role.COLLECTOR],
        active=False,
    )
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"collector_id": manager.user_id}, "collector", "collector role"),
        ({"collector_id": gone.user_id}, "collector", "no active user"),
        ({"collector_id": 999_999}, "collector", "no active user"),
        ({"number_from": "C-9", "number_to": "C-1"}, "number_to", "before number_from 'C-9'"),
        ({"balance_min": "100", "balance_max": "99.99"}, "balance_max", "less than balance_min"),
        ({"balance_min": "-1"}, "balance_min", "must not be negative"),
        ({"balance_max": 1.5}, "balance_max", "exact Decimal"),
        ({"balance_max": "1.00001"}, "balance_max", "at most 4 decimals"),
        ({"balance_min": "100"}, "currency", "required with a balance band"),
        ({"balance_max": Decimal(0)}, "currency", "required with a balance band"),
        ({"currency": "EUD", "balance_min": "1"}, "currency", "not an ISO currency code"),
        ({"currency": "EURO"}, "currency", "longer than 3 characters"),
        ({"region": "XX"}, "region", "not an ISO country code"),
        ({"region": "DEU"}, "region", "longer than 2 characters"),
        ({"segment": "s" * 41}, "segment", "longer than 40 characters"),
        ({"number_from": "n" * 33}, "number_from", "longer than 32 characters"),
        ({"position": 0}, "position", "a whole number from 1"),
    ]
    for change, field, message in cases:
        args: dict[str, Any] = {"collector_id": ann.user_id, **change}
        with pytest.raises(ValidationFailed) as exc:
            portfolios.save_rule(db, manager, None, **args)
        problems = {p.field: p.message for p in exc.value.problems}
        assert message in problems.get(field, ""), (change, exc.value)
    with pytest.raises(PermissionDenied):
        portfolios.save_rule(db, clerk, None, collector_id=ann.user_id)
    assert portfolios.list_rules(db, manager) == []
    # Zero is a valid lower bound; the currency is upper-cased.
    rule = portfolios.save_rule(
        db, manager, None, collector_id=ann.user_id, currency=" sek", balance_min=0
    )
    assert (rule.balance_min, rule.currency) == (Decimal("0"), "SEK")
    # A currency without a band: every customer in that currency.
    alone = portfolios.save_rule(db, manager, None, collector_id=ann.user_id, currency="USD")
    assert (alone.currency, alone.balance_min, alone.balance_max) == ("USD", None, None)


def test_rule_conflicts_and_delete(
    db: Database, admin: Actor, manager: Actor, team: dict[str, Actor], book: dict[str, int]
) -> None:
    ann, bob = team["ann"].user_id, team["bob"].user_id
    rule = portfolios.save_rule(db, manager, None, collector_id=ann, segment="retail")
    portfolios.save_rule(
        db, admin, rule.id, collector_id=bob, segment="retail", expected_version=rule.version
    )
    with pytest.raises(ConflictError) as exc:
        portfolios.save_rule(
            db, manager, rule.id, collector_id=ann, segment="x", expected_version=rule.version
        )
    assert exc.value.details.their_values == {"collector_id": str(bob)}
    with pytest.raises(ConflictError):
        portfolios.delete_rule(db, manager, rule.id, rule.version)
    with pytest.raises(NotFound):
        portfolios.save_rule(db, manager, 999_999, collector_id=ann, expected_version=1)
    unchanged = portfolios.save_rule(
        db, manager, rule.id, collector_id=bob, segment="retail", expected_version=2
    )
    assert unchanged.version == 2  # nothing changed, nothing written
    portfolios.delete_rule(db, manager, rule.id, 2)
    portfolios.delete_rule(db, manager, rule.id, 2)  # already gone: nothing to do
    assert portfolios.list_rules(db, manager) == []
    with db.read() as session:
        assert session.get(AssignmentRule, rule.id) is None
        actions = session.scalars(
            select(AuditEntry.action)
            .where(
                AuditEntry.table_name == "assignment_rules",
                AuditEntry.record_id == str(rule.id),
            )
            .distinct()
        ).all()
    assert set(actions) == {"create", "update", "delete"}
    assert portfolios.apply_rules(db, manager) == 0  # no rules: nothing happens


def test_visible_portfolios_and_collectors(
    db: Database, manager: Actor, clerk: Actor, team: dict[str, Actor]
) -> None:
    assert portfolios.visible_collector_ids(manager) is None
    assert portfolios.visible_collector_ids(team["ann"]) == frozenset({team["ann"].user_id})
    assert portfolios.visible_collector_ids(clerk) == frozenset({clerk.user_id})
    assert portfolios.collectors(db) == [
        (team["ann"].user_id, "Ann"),
        (team["bob"].user_id, "Bob"),
        (team["colin"].user_id, "Colin"),
    ]


def test_a_balance_band_is_in_its_currency_and_compares_the_balance(
    db: Database, admin: Actor, manager: Actor, team: dict[str, Actor]
) -> None:
    """ "Balance ≥ 100,000 EUR → Bob" catches the customer owing EUR 100,000, not the one owing
    SEK 100,000; the balance is open invoices − open credit notes − unapplied cash in the
    customer's currency (items in another currency and exposure's open orders left out)."""
    ann, bob = team["ann"].user_id, team["bob"].user_id
    ids = {
        "E-1": _customer(db, admin, "E-1", currency="EUR"),
        "S-1": _customer(db, admin, "S-1", currency="SEK"),
        "E-2": _customer(db, admin, "E-2", currency="EUR"),
        "E-3": _customer(db, admin, "E-3", currency="EUR"),
        "E-4": _customer(db, admin, "E-4", currency="EUR"),
    }
    big = Decimal("100000.00")
    ledger.post_invoice(db, admin, ids["E-1"], "E1-1", D, big)
    ledger.post_invoice(db, admin, ids["S-1"], "S1-1", D, big)
    # E-2: 120,000 of invoices, less a 15,000 credit note and 10,000 of unapplied cash, is
    # 95,000: under the band though its invoices alone are over it.
    ledger.post_invoice(db, admin, ids["E-2"], "E2-1", D, Decimal("120000.00"))
    ledger.post_credit_note(db, admin, ids["E-2"], "E2-C", D, Decimal("15000.00"))
    ledger.record_payment(db, admin, ids["E-2"], D, Decimal("10000.00"), apply="none")
    # E-3: 60,000 EUR and 60,000 USD: 60,000 in its currency, whatever the USD is worth.
    ledger.post_invoice(db, admin, ids["E-3"], "E3-1", D, Decimal("60000.00"))
    ledger.post_invoice(db, admin, ids["E-3"], "E3-2", D, Decimal("60000.00"), currency="USD")
    # E-4: owes nothing, but its exposure says 500,000 (as open orders would make it).
    with db.write() as session:
        session.execute(
            update(Customer).where(Customer.id == ids["E-4"]).values(exposure=Decimal(500000))
        )
    portfolios.save_rule(db, manager, None, collector_id=bob, currency="EUR", balance_min=big)
    assert portfolios.preview_rules(db, manager) == {bob: 1}
    assert portfolios.apply_rules(db, manager) == 1
    assert _collectors(db, *ids) == {
        "E-1": "bob",
        "S-1": None,  # SEK 100,000 is not EUR 100,000
        "E-2": None,
        "E-3": None,
        "E-4": None,
    }
    # A band just under it, 90,000 to 99,999.99 EUR: E-2 (95,000), not E-1.
    portfolios.save_rule(
        db,
        manager,
        None,
        collector_id=ann,
        currency="EUR",
        balance_min="90000",
        balance_max="99999.99",
    )
    assert portfolios.preview_rules(db, manager) == {ann: 1}
    # SEK customers from SEK 50,000 go to Ann too; the EUR bands leave them alone.
    portfolios.save_rule(db, manager, None, collector_id=ann, currency="SEK", balance_min="50000")
    assert portfolios.apply_rules(db, manager) == 2
    assert _collectors(db, *ids) == {
        "E-1": "bob",
        "S-1": "ann",
        "E-2": "ann",
        "E-3": None,
        "E-4": None,
    }
    # Paid down to 40,000: E-2 now falls in a "from 0 to 50,000 EUR" band.
    ledger.record_payment(db, admin, ids["E-2"], D, Decimal("55000.00"), apply="none")
    portfolios.save_rule(
        db, manager, None, collector_id=bob, currency="EUR", balance_max="50000", position=1
    )
    assert portfolios.preview_rules(db, manager, only_unassigned=True) == {bob: 1}  # E-4: 0
    assert portfolios.apply_rules(db, manager) == 2
    assert _collectors(db, "E-2", "E-3", "E-4") == {"E-2": "bob", "E-3": None, "E-4": "bob"}


def test_a_band_saved_without_currency_matches_nobody(
    db: Database, admin: Actor, manager: Actor, team: dict[str, Actor]
) -> None:
    """A rule stored before a band needed a currency compares no amounts across currencies: it
    matches nobody until someone names its currency."""
    cid = _customer(db, admin, "E-1", currency="EUR")
    ledger.post_invoice(db, admin, cid, "E1-1", D, Decimal("5000.00"))
    with db.write() as session:
        session.add(
            AssignmentRule(position=1, collector_id=team["bob"].user_id, balance_min=Decimal(1000))
        )
    assert portfolios.preview_rules(db, manager) == {}
    assert portfolios.apply_rules(db, manager) == 0
