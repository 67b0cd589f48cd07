"""Customer credit profiles: create, edit (audit, conflicts, permissions), delete, and the list."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import Activity, AuditEntry, Contact, Customer, CustomerSearchTerm, Role
from o2c_desktop.services import activities, audit, contacts, customers, users
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.customers import CustomerQuery
from tests.conftest import add_user

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _audit(db: Database, table: str, record_id: int) -> list[AuditEntry]:
    with db.read() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table, AuditEntry.record_id == str(record_id))
            .order_by(AuditEntry.id)
        ).all()
        session.expunge_all()
        return list(entries)


def _by_field(entries: list[AuditEntry], action: str) -> dict[str | None, AuditEntry]:
    return {e.field: e for e in entries if e.action == action}


def _create(db: Database, actor: Actor, number: str = "C-1", **fields: Any):
    return customers.create_customer(db, actor, {"number": number, "name": "Acme", **fields})


def _all(db: Database, actor: Actor, query: CustomerQuery) -> list[customers.CustomerRow]:
    return customers.list_customers(db, actor, query, offset=0, limit=10_000)


def _search(db: Database, actor: Actor, text: str) -> list[str]:
    rows = _all(db, actor, CustomerQuery(search=text, sort_key="number"))
    assert customers.count_customers(db, actor, CustomerQuery(search=text)) == len(rows)
    return [r.number for r in rows]


# ---------------------------------------------------------------------------------------------
# create
# ---------------------------------------------------------------------------------------------


def test_create_with_required_fields_only_applies_defaults(db: Database, clerk: Actor) -> None:
    started = datetime.now(UTC)
    detail = customers.create_customer(db, clerk, {"number": " C-100 ", "name": " Acme GmbH "})
    assert detail.number == "C-100"  # trimmed
    assert detail.name == "Acme GmbH"
    assert detail.version == 1
    assert detail.values["payment_terms"] == "NET30"
    assert detail.payment_terms_text == "Net 30 days"
    assert detail.currency == "EUR"
    assert detail.credit_limit == Decimal("0")
    assert isinstance(detail.credit_limit, Decimal)
    assert detail.values["on_hold"] is False
    assert detail.values["risk_class"] is None
    assert detail.values["collector"] is None
    assert detail.exposure == Decimal("0")
    assert detail.updated_by == "Clara"
    assert detail.created_at.tzinfo is not None
    assert started - timedelta(seconds=1) <= detail.created_at <= datetime.now(UTC)
    assert detail.contacts == []

    assert customers.find_customer_id(db, "C-100") == detail.id
    again = customers.get_customer(db, clerk, detail.id)
    assert again.values == detail.values

    created = _by_field(_audit(db, "customers", detail.id), audit.CREATE)
    assert created["number"].new_value == "C-100"
    assert created["name"].new_value == "Acme GmbH"
    assert created["currency"].new_value == "EUR"
    assert all(e.username == "clara" and e.user_id == clerk.user_id for e in created.values())
    assert all(e.customer_id == detail.id and e.old_value is None for e in created.values())
    assert "email" not in created  # empty fields are not logged


def test_create_stores_every_field(db: Database, manager: Actor, admin: Actor) -> None:
    add_user(db, admin, "colin", Role.COLLECTOR)
    detail = customers.create_customer(
        db,
        manager,
        {
            "number": "C-200",
            "name": "Zürich Instruments AG",
            "legal_name": "Zürich Instruments Aktiengesellschaft",
            "tax_id": "che-123.456.789",
            "segment": "Enterprise",
            "risk_class": "b",
            "payment_terms": "net60",
            "currency": "chf",
            "credit_limit": "250'000.50",
            "on_hold": "yes",
            "hold_reason": "Overdue",
            "collector": "colin",
            "email": "ap@zurich.example",
            "phone": "+41 44 000 00 00",
            "address_line1": "Bahnhofstrasse 1",
            "city": "Zürich",
            "postcode": "8001",
            "country": "ch",
            "next_review_date": "31.12.2030",
        },
    )
    values = customers.get_customer(db, manager, detail.id).values
    assert values["tax_id"] == "CHE-123.456.789"
    assert values["risk_class"] == "B"
    assert values["payment_terms"] == "NET60"
    assert values["currency"] == "CHF"
    assert values["credit_limit"] == Decimal("250000.50")
    assert values["on_hold"] is True
    assert values["collector"] == "colin"
    assert values["country"] == "CH"
    assert values["next_review_date"] == date(2030, 12, 31)
    assert detail.collector_name == "Colin"
    assert detail.payment_terms_text == "Net 60 days"


def test_required_fields_are_named(db: Database, clerk: Actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        customers.create_customer(db, clerk, {"name": "   "})
    assert caught.value.for_field("number") == ["required"]
    assert caught.value.for_field("name") == ["required"]
    assert "nothing was saved" in str(caught.value)
    assert _count(db, Customer) == 0


def test_duplicate_number_is_refused_naming_the_field(db: Database, clerk: Actor) -> None:
    first = _create(db, clerk, "C-1")
    with pytest.raises(ValidationFailed) as caught:
        customers.create_customer(db, clerk, {"number": "C-1", "name": "Other"})
    assert caught.value.for_field("number")
    assert "already" in caught.value.for_field("number")[0]
    assert _count(db, Customer) == 1
    assert customers.get_customer(db, clerk, first.id).name == "Acme"


INVALID = [
    ({"credit_limit": "-1"}, "credit_limit", "negative"),
    ({"credit_limit": "12.34567"}, "credit_limit", "decimals"),
    ({"credit_limit": "lots"}, "credit_limit", "not a number"),
    ({"credit_limit": 12.5}, "credit_limit", "float"),
    ({"currency": "JPY", "credit_limit": "1000.5"}, "credit_limit", "JPY"),
    ({"credit_limit": "1000.505"}, "credit_limit", "EUR amounts have at most 2"),
    ({"email": "ap@nowhere"}, "email", "e-mail"),
    ({"email": "two words@example.com"}, "email", "e-mail"),
    ({"currency": "EUD"}, "currency", "ISO 4217"),
    ({"payment_terms": "NET7"}, "payment_terms", "unknown payment terms"),
    ({"collector": "ghost"}, "collector", "no active user"),
    ({"country": "XX"}, "country", "country"),
    ({"risk_class": "Z"}, "risk_class", "A, B, C, D, E"),
    ({"on_hold": "maybe"}, "on_hold", "yes or no"),
    ({"next_review_date": "31.02.2030"}, "next_review_date", "not a date"),
    ({"name": "x" * 201}, "name", "longer than 200"),
    ({"colour": "red"}, "colour", "no such customer field"),
]


def test_invalid_input_is_refused_and_nothing_saved(db: Database, manager: Actor) -> None:
    for fields, field, reason in INVALID:
        with pytest.raises(ValidationFailed) as caught:
            customers.create_customer(db, manager, {"number": "C-9", "name": "Acme", **fields})
        messages = caught.value.for_field(field)
        assert messages, (fields, caught.value.problems)
        assert any(reason in m for m in messages), (fields, messages)
    assert _count(db, Customer) == 0
    assert _count(db, AuditEntry, AuditEntry.table_name == "customers") == 0
    # The same values are refused on update as well, leaving the record as it was.
    detail = _create(db, manager, "C-10", credit_limit="100")
    for fields, field, reason in INVALID:
        if field == "name":
            continue
        with pytest.raises(ValidationFailed) as caught:
            customers.update_customer(db, manager, detail.id, detail.version, fields)
        assert any(reason in m for m in caught.value.for_field(field)), fields
    assert customers.get_customer(db, manager, detail.id).values == detail.values


def test_credit_limit_beyond_the_money_column_is_a_validation_problem(
    db: Database, manager: Actor
) -> None:
    """A limit no money column can hold must be refused politely, not crash the save."""
    with pytest.raises(ValidationFailed) as caught:
        customers.create_customer(
            db, manager, {"number": "C-9", "name": "Acme", "credit_limit": "1000000000000000"}
        )
    assert any("too large" in m for m in caught.value.for_field("credit_limit"))
    assert _count(db, Customer) == 0
    largest = _create(db, manager, credit_limit="922337203685477.58")
    assert largest.credit_limit == Decimal("922337203685477.58")


def test_every_problem_is_reported_at_once(db: Database, manager: Actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        customers.create_customer(
            db,
            manager,
            {"name": "Acme", "email": "nope", "currency": "XXQ", "payment_terms": "NET7"},
        )
    fields = {p.field for p in caught.value.problems}
    assert {"number", "email", "currency", "payment_terms"} <= fields


def test_limit_decimals_follow_the_currency(db: Database, manager: Actor) -> None:
    cases = [
        ("JPY", "1000000", Decimal("1000000")),
        ("EUR", "1 000.50", Decimal("1000.50")),
        ("BHD", "1.234", Decimal("1.234")),
        ("EUR", "1,000,000.00", Decimal("1000000")),
        ("USD", Decimal("99.99"), Decimal("99.99")),
    ]
    for n, (currency, limit, stored) in enumerate(cases):
        detail = _create(db, manager, f"C-{n}", currency=currency, credit_limit=limit)
        assert detail.credit_limit == stored
        assert customers.get_customer(db, manager, detail.id).credit_limit == stored


def test_changing_currency_to_jpy_rechecks_the_existing_limit(db: Database, manager: Actor) -> None:
    detail = _create(db, manager, credit_limit="1000.50")
    with pytest.raises(ValidationFailed) as caught:
        customers.update_customer(db, manager, detail.id, detail.version, {"currency": "JPY"})
    assert caught.value.for_field("credit_limit")
    assert customers.get_customer(db, manager, detail.id).currency == "EUR"


def test_inactive_user_cannot_be_assigned_as_collector(
    db: Database, admin: Actor, manager: Actor
) -> None:
    row = users.create_user(db, admin, "gone", "Gone Away", [Role.COLLECTOR])
    users.update_user(
        db, admin, row.id, row.version, display_name="Gone Away", roles=row.roles, active=False
    )
    with pytest.raises(ValidationFailed) as caught:
        _create(db, manager, collector="gone")
    assert caught.value.for_field("collector")


# ---------------------------------------------------------------------------------------------
# update: audit, no-op, conflicts
# ---------------------------------------------------------------------------------------------


def test_update_writes_one_audit_row_per_changed_field(db: Database, manager: Actor) -> None:
    detail = _create(db, manager, credit_limit="40000", city="Bern")
    started = datetime.now(UTC)
    saved = customers.update_customer(
        db,
        manager,
        detail.id,
        detail.version,
        {"credit_limit": "45000", "risk_class": "B", "city": "Basel", "name": "Acme"},
    )
    finished = datetime.now(UTC)
    assert saved.version == detail.version + 1
    assert saved.credit_limit == Decimal("45000")
    assert saved.values["city"] == "Basel"
    assert saved.updated_by == "Maria"

    updates = [e for e in _audit(db, "customers", detail.id) if e.action == audit.UPDATE]
    assert sorted(e.field for e in updates) == ["city", "credit_limit", "risk_class"]
    by_field = {e.field: e for e in updates}
    # Amounts are logged exactly (the stored 40000.00 and the typed 45000).
    assert Decimal(by_field["credit_limit"].old_value) == Decimal("40000")
    assert Decimal(by_field["credit_limit"].new_value) == Decimal("45000")
    assert (by_field["risk_class"].old_value, by_field["risk_class"].new_value) == (None, "B")
    assert (by_field["city"].old_value, by_field["city"].new_value) == ("Bern", "Basel")
    for entry in updates:
        assert entry.user_id == manager.user_id
        assert entry.username == "maria"
        assert entry.table_name == "customers"
        assert entry.record_id == str(detail.id)
        assert entry.customer_id == detail.id
        assert entry.record_version == saved.version
        assert entry.at.tzinfo is not None
        assert started - timedelta(seconds=1) <= entry.at <= finished + timedelta(seconds=1)

    history = audit.customer_history(db, manager, detail.id)
    assert {h.field for h in history if h.action == audit.UPDATE} == {
        "city",
        "credit_limit",
        "risk_class",
    }
    assert history[0].action == audit.UPDATE  # newest first


def test_noop_update_writes_nothing_and_keeps_the_version(db: Database, manager: Actor) -> None:
    detail = _create(db, manager, credit_limit="50000.00", city="Bern", email="a@b.example")
    audit_before = _count(db, AuditEntry)
    same = customers.update_customer(
        db,
        manager,
        detail.id,
        detail.version,
        {
            "number": "C-1",
            "name": " Acme ",
            "credit_limit": "50000",
            "city": "Bern",
            "email": "a@b.example",
            "on_hold": "no",
            "phone": "",
        },
    )
    assert same.version == detail.version
    assert same.updated_at == detail.updated_at
    assert _count(db, AuditEntry) == audit_before
    # ... and the unchanged version is still the one to save from.
    customers.update_customer(db, manager, detail.id, detail.version, {"city": "Thun"})


def test_second_save_from_the_same_version_is_a_conflict(
    db: Database, manager: Actor, clerk: Actor
) -> None:
    detail = _create(db, manager, credit_limit="40000", city="Bern")
    loaded_by_clerk = customers.get_customer(db, clerk, detail.id)
    loaded_by_manager = customers.get_customer(db, manager, detail.id)
    assert loaded_by_clerk.version == loaded_by_manager.version

    customers.update_customer(
        db, manager, detail.id, loaded_by_manager.version, {"credit_limit": "45000"}
    )
    audit_before = _count(db, AuditEntry)
    with pytest.raises(ConflictError) as caught:
        customers.update_customer(
            db, clerk, detail.id, loaded_by_clerk.version, {"city": "Basel", "phone": "123"}
        )
    details = caught.value.details
    assert details.changed_by == "maria"
    assert details.record == "C-1"
    assert details.their_values == {"Credit limit": "45000.00"}
    assert "maria" in str(caught.value)
    assert "Credit limit is now 45000" in str(caught.value)
    assert "UTC" in details.changed_at

    now = customers.get_customer(db, clerk, detail.id)
    assert now.values["city"] == "Bern"
    assert now.values["phone"] is None
    assert now.credit_limit == Decimal("45000")
    assert now.version == loaded_by_clerk.version + 1
    assert _count(db, AuditEntry) == audit_before

    # Saving again from the new version is how the user overwrites: it works.
    saved = customers.update_customer(db, clerk, detail.id, now.version, {"city": "Basel"})
    assert saved.values["city"] == "Basel"


def test_conflict_reports_the_newest_value_of_each_field(db: Database, manager: Actor) -> None:
    detail = _create(db, manager, credit_limit="100")
    v2 = customers.update_customer(db, manager, detail.id, detail.version, {"credit_limit": "200"})
    customers.update_customer(db, manager, detail.id, v2.version, {"credit_limit": "300"})
    with pytest.raises(ConflictError) as caught:
        customers.update_customer(db, manager, detail.id, detail.version, {"city": "X"})
    assert caught.value.details.their_values == {"Credit limit": "300.00"}


def test_renaming_updates_the_search_index(db: Database, clerk: Actor) -> None:
    detail = _create(db, clerk, name="Alpine Steel")
    assert _search(db, clerk, "alpine") == ["C-1"]
    customers.update_customer(db, clerk, detail.id, detail.version, {"name": "Baltic Paper"})
    assert _search(db, clerk, "alpine") == []
    assert _search(db, clerk, "balt pap") == ["C-1"]
    assert _count(db, CustomerSearchTerm, CustomerSearchTerm.term == "alpine") == 0


def test_changing_the_number_to_a_taken_one_is_refused(db: Database, clerk: Actor) -> None:
    _create(db, clerk, "C-1")
    second = _create(db, clerk, "C-2")
    with pytest.raises(ValidationFailed) as caught:
        customers.update_customer(db, clerk, second.id, second.version, {"number": "C-1"})
    assert caught.value.for_field("number")
    assert customers.get_customer(db, clerk, second.id).number == "C-2"


def test_update_of_a_deleted_customer_is_not_found(db: Database, admin: Actor) -> None:
    detail = _create(db, admin)
    customers.delete_customer(db, admin, detail.id, detail.version)
    with pytest.raises(NotFound):
        customers.update_customer(db, admin, detail.id, detail.version, {"city": "X"})
    with pytest.raises(NotFound):
        customers.get_customer(db, admin, detail.id)


# ---------------------------------------------------------------------------------------------
# permissions
# ---------------------------------------------------------------------------------------------


def test_collector_cannot_change_the_credit_limit(
    db: Database, manager: Actor, collector: Actor
) -> None:
    detail = _create(db, manager, credit_limit="1000")
    audit_before = _count(db, AuditEntry)
    with pytest.raises(PermissionDenied) as caught:
        customers.update_customer(db, collector, detail.id, detail.version, {"credit_limit": "9"})
    message = str(caught.value)
    assert "Colin" in message
    assert "credit manager" in message
    assert "administrator" in message
    assert "credit limit" in message
    assert customers.get_customer(db, collector, detail.id).credit_limit == Decimal("1000")
    assert _count(db, AuditEntry) == audit_before


def test_collector_cannot_create_or_edit_details(
    db: Database, manager: Actor, collector: Actor
) -> None:
    with pytest.raises(PermissionDenied, match="create customers"):
        _create(db, collector, "C-5")
    detail = _create(db, manager)
    with pytest.raises(PermissionDenied, match="credit clerk"):
        customers.update_customer(db, collector, detail.id, detail.version, {"name": "Renamed"})
    assert customers.get_customer(db, collector, detail.id).name == "Acme"


def test_clerk_creates_customers_but_not_their_credit_terms(db: Database, clerk: Actor) -> None:
    for extra in ({"credit_limit": "5000"}, {"risk_class": "C"}, {"payment_terms": "NET60"}):
        with pytest.raises(PermissionDenied, match="credit manager"):
            _create(db, clerk, "C-7", **extra)
    assert _count(db, Customer) == 0
    # Defaults given explicitly are not credit decisions.
    detail = _create(db, clerk, "C-7", credit_limit="0", payment_terms="NET30", on_hold="no")
    edited = customers.update_customer(
        db, clerk, detail.id, detail.version, {"name": "Acme Two", "city": "Graz"}
    )
    assert edited.values["city"] == "Graz"
    with pytest.raises(PermissionDenied):
        customers.update_customer(db, clerk, detail.id, edited.version, {"credit_limit": "1"})
    with pytest.raises(PermissionDenied, match="assign collectors"):
        customers.update_customer(db, clerk, detail.id, edited.version, {"collector": "clara"})
    with pytest.raises(PermissionDenied):
        customers.update_customer(db, clerk, detail.id, edited.version, {"on_hold": True})


def test_manager_sets_credit_terms(db: Database, manager: Actor, admin: Actor) -> None:
    add_user(db, admin, "colin", Role.COLLECTOR)
    detail = _create(
        db, manager, credit_limit="35000", risk_class="D", collector="colin", on_hold=True
    )
    assert detail.credit_limit == Decimal("35000")
    assert detail.values["risk_class"] == "D"
    saved = customers.update_customer(
        db, manager, detail.id, detail.version, {"credit_limit": "40000.25", "on_hold": False}
    )
    assert saved.credit_limit == Decimal("40000.25")
    assert saved.values["on_hold"] is False


def test_raising_a_limit_on_the_form_needs_the_authority_to_grant_it_alone(
    db: Database, admin: Actor, manager: Actor
) -> None:
    """Maria (credit manager: EUR 50,000 alone) may not give 5,000,000 on the customer form: that
    is a credit application's decision. Up to 50,000 and any lowering she may; an administrator
    may; a change of currency counts as a new limit (no authority in JPY)."""
    detail = _create(db, admin, credit_limit="10000")
    audit_before = _count(db, AuditEntry)
    with pytest.raises(PermissionDenied) as caught:
        customers.update_customer(
            db, manager, detail.id, detail.version, {"credit_limit": "5000000", "city": "Bern"}
        )
    assert str(caught.value) == (
        "Maria may not raise the credit limit of C-1 to EUR 5,000,000.00: their approval "
        "authority is EUR 50,000.00 alone and EUR 250,000.00 with a second approver (role "
        "credit manager). Use a credit application."
    )
    assert _count(db, AuditEntry) == audit_before
    assert customers.get_customer(db, manager, detail.id).version == detail.version
    with pytest.raises(PermissionDenied, match=r"none in JPY \(no authority row\)"):
        customers.update_customer(db, manager, detail.id, detail.version, {"currency": "JPY"})
    up = customers.update_customer(
        db, manager, detail.id, detail.version, {"credit_limit": "50000"}
    )
    down = customers.update_customer(db, manager, detail.id, up.version, {"credit_limit": "1"})
    assert down.credit_limit == Decimal("1.00")
    by_admin = customers.update_customer(
        db, admin, detail.id, down.version, {"credit_limit": "5000000"}
    )
    assert by_admin.credit_limit == Decimal("5000000.00")


def test_collector_adds_notes_and_contacts(db: Database, manager: Actor, collector: Actor) -> None:
    detail = _create(db, manager)
    note = activities.add_note(db, collector, detail.id, "Promised to pay Friday")
    contact = contacts.add_contact(db, collector, detail.id, {"name": "Ann Payable"})
    assert note.author == "Colin"
    assert [a.body for a in activities.list_activities(db, collector, detail.id)] == [
        "Promised to pay Friday"
    ]
    assert [c.id for c in customers.get_customer(db, collector, detail.id).contacts] == [contact.id]


# ---------------------------------------------------------------------------------------------
# delete
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "clerk", "collector"])
def test_only_an_administrator_deletes(
    db: Database, admin: Actor, request: pytest.FixtureRequest, role: str
) -> None:
    actor = request.getfixturevalue(role)
    detail = _create(db, admin)
    with pytest.raises(PermissionDenied) as caught:
        customers.delete_customer(db, actor, detail.id, detail.version)
    assert "administrator" in str(caught.value)
    assert customers.find_customer_id(db, "C-1") == detail.id


def test_delete_is_audited_and_removes_dependents(db: Database, admin: Actor) -> None:
    detail = _create(db, admin, name="Baltic Paper", city="Riga", credit_limit="500")
    other = _create(db, admin, "C-2", name="Baltic Timber")
    contacts.add_contact(db, admin, detail.id, {"name": "Ann"})
    activities.add_note(db, admin, detail.id, "hello")
    customers.delete_customer(db, admin, detail.id, detail.version)

    assert customers.find_customer_id(db, "C-1") is None
    assert _count(db, Contact, Contact.customer_id == detail.id) == 0
    assert _count(db, Activity, Activity.customer_id == detail.id) == 0
    assert _count(db, CustomerSearchTerm, CustomerSearchTerm.customer_id == detail.id) == 0
    assert _search(db, admin, "baltic") == ["C-2"]
    assert customers.get_customer(db, admin, other.id).name == "Baltic Timber"

    deleted = _by_field(_audit(db, "customers", detail.id), audit.DELETE)
    assert deleted["name"].old_value == "Baltic Paper"
    assert deleted["name"].new_value is None
    assert deleted["city"].old_value == "Riga"
    assert Decimal(deleted["credit_limit"].old_value) == Decimal("500")
    assert all(e.username == admin.username for e in deleted.values())
    history = audit.customer_history(db, admin, detail.id)
    assert history[0].action == audit.DELETE


def test_delete_from_a_stale_version_is_a_conflict(db: Database, admin: Actor) -> None:
    detail = _create(db, admin)
    customers.update_customer(db, admin, detail.id, detail.version, {"city": "Oslo"})
    with pytest.raises(ConflictError) as caught:
        customers.delete_customer(db, admin, detail.id, detail.version)
    assert caught.value.details.changed_by == admin.username
    assert customers.find_customer_id(db, "C-1") == detail.id
    customers.delete_customer(db, admin, 987_654, 1)  # already gone: nothing to do


# ---------------------------------------------------------------------------------------------
# the list: search
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(db: Database, admin: Actor) -> Actor:
    rows = [
        ("C-000101", "Zürich Instruments AG", "Zürich Instruments Aktiengesellschaft", "CHE-101"),
        ("C-000102", "Łukasz Trading", "Łukasz Nowak Sp. z o.o.", "PL 527 000 11 22"),
        ("C-000103", "Nordic Steel", None, "SE556677"),
        ("C-000104", "Nordic Foods", None, None),
        ("C-000105", "Alpine Steel", None, "AT U123"),
        ("C-000106", "Łódź Machinery", None, None),
        ("X-2000", "Ödön & Søn", None, "DK 4455"),
        ("C-000108", "Straße Bau", "Großhandel Straße GmbH", "DE 811 222 333"),
    ]
    for number, name, legal, tax in rows:
        customers.create_customer(
            db, admin, {"number": number, "name": name, "legal_name": legal, "tax_id": tax}
        )
    return admin


SEARCHES = [
    ("C-000103", ["C-000103"]),
    ("c000103", ["C-000103"]),
    ("000103", ["C-000103"]),
    (
        "C-00010",
        ["C-000101", "C-000102", "C-000103", "C-000104", "C-000105", "C-000106", "C-000108"],
    ),
    ("x-2", ["X-2000"]),
    ("nordic", ["C-000103", "C-000104"]),
    ("NOR", ["C-000103", "C-000104"]),
    ("steel", ["C-000103", "C-000105"]),
    ("ste", ["C-000103", "C-000105"]),
    ("nordic steel", ["C-000103"]),
    ("steel nordic", ["C-000103"]),
    ("  Nordic,   STEEL!  ", ["C-000103"]),
    ("nordic alpine", []),
    ("zurich", ["C-000101"]),
    ("Zürich", ["C-000101"]),
    ("ZURICH instr", ["C-000101"]),
    ("aktiengesell", ["C-000101"]),
    ("lukasz", ["C-000102"]),
    ("łukasz", ["C-000102"]),
    ("nowak", ["C-000102"]),
    ("lodz", ["C-000106"]),
    ("odon son", ["X-2000"]),
    ("strasse", ["C-000108"]),
    ("grosshandel", ["C-000108"]),
    ("che-101", ["C-000101"]),
    ("CHE101", ["C-000101"]),
    ("527", ["C-000102"]),
    ("pl527000", ["C-000102"]),
    ("de811222333", ["C-000108"]),
    ("se556677", ["C-000103"]),
    ("nothing", []),
]


def test_search(db: Database, searchable: Actor) -> None:
    found = {search: _search(db, searchable, search) for search, _ in SEARCHES}
    assert found == dict(SEARCHES)


def test_empty_or_punctuation_search_lists_everyone(db: Database, searchable: Actor) -> None:
    assert len(_search(db, searchable, "")) == 8
    assert len(_search(db, searchable, " - , ")) == 8


def test_search_combines_with_filters(db: Database, searchable: Actor, manager: Actor) -> None:
    nordic = _all(db, searchable, CustomerQuery(search="nordic"))
    steel = next(r for r in nordic if r.name == "Nordic Steel")
    detail = customers.get_customer(db, manager, steel.id)
    customers.update_customer(db, manager, steel.id, detail.version, {"segment": "Retail"})
    query = CustomerQuery(search="nordic", segment="Retail")
    assert [r.name for r in _all(db, searchable, query)] == ["Nordic Steel"]
    assert customers.count_customers(db, searchable, query) == 1


# ---------------------------------------------------------------------------------------------
# the list: filters, sorting, paging, streaming
# ---------------------------------------------------------------------------------------------

# number, name, segment, risk, collector, limit, exposure, on hold
PORTFOLIO = [
    ("P-01", "Orion Optics", "Enterprise", "B", "carl", "20000", "5000", False),
    ("P-02", "Harbor Foods", "Small business", "B", "anna", "20000", "25000", True),
    ("P-03", "Nordic Steel", "Mid-market", "C", None, "100000", "10000", False),
    ("P-04", "Delta Paper", None, None, "bert", "100000", "0", False),
    ("P-05", "Alpine Glass", "Distributor", "D", "anna", "0", "500", True),
    ("P-06", "Baltic Timber", None, "E", None, "75000", "75000", False),
    ("P-07", "Keystone Dairy", "Enterprise", "A", "carl", "500000", "250000", False),
    ("P-08", "Eagle Motors", "Retail", "A", "bert", "250000", "50000", False),
    ("P-09", "Crown Solar", "Mid-market", None, "anna", "50000", "100", True),
    ("P-10", "Falcon Marine", "Retail", "C", None, "0", "0", False),
]


@pytest.fixture
def portfolio(db: Database, admin: Actor) -> dict[str, Any]:
    collectors = {
        name: add_user(db, admin, name, Role.COLLECTOR) for name in ("carl", "anna", "bert")
    }
    ids = {}
    for number, name, segment, risk, collector, limit, exposure, hold in PORTFOLIO:
        detail = customers.create_customer(
            db,
            admin,
            {
                "number": number,
                "name": name,
                "segment": segment,
                "risk_class": risk,
                "collector": collector,
                "credit_limit": limit,
                "on_hold": hold,
            },
        )
        ids[number] = detail.id
        # Exposure is kept by the ledger services; set it directly here.
        with db.write() as session:
            session.execute(
                update(Customer)
                .where(Customer.id == detail.id)
                .values(exposure=Decimal(exposure), version=Customer.version)
            )
    return {"actor": admin, "ids": ids, "collectors": collectors}


def _expected_value(row: tuple[Any, ...], key: str, collectors: dict[str, Actor]) -> Any:
    number, name, segment, risk, collector, limit, exposure, hold = row
    limit_d, exposure_d = Decimal(limit), Decimal(exposure)
    return {
        "number": number,
        "name": name,
        "segment": segment,
        "risk_class": risk,
        "collector": collectors[collector].display_name if collector else None,
        "credit_limit": limit_d,
        "exposure": exposure_d,
        "utilization": exposure_d / limit_d if limit_d else None,
        "on_hold": hold,
    }[key]


def _expected_order(
    portfolio: dict[str, Any], key: str, descending: bool, rows: list[tuple[Any, ...]] = PORTFOLIO
) -> list[str]:
    """Nulls last in both directions; ties broken by id in the same direction."""
    ids = portfolio["ids"]
    valued = [(_expected_value(r, key, portfolio["collectors"]), ids[r[0]], r[0]) for r in rows]
    present = [v for v in valued if v[0] is not None]
    missing = [v for v in valued if v[0] is None]
    present.sort(key=lambda v: (v[0], v[1]), reverse=descending)
    missing.sort(key=lambda v: v[1], reverse=descending)
    return [v[2] for v in present + missing]


def test_every_sort_key_orders_the_list(db: Database, portfolio: dict[str, Any]) -> None:
    actor = portfolio["actor"]
    for key in customers.SORT_KEYS:
        for descending in (False, True):
            query = CustomerQuery(sort_key=key, descending=descending)
            expected = _expected_order(portfolio, key, descending)
            got = [r.number for r in _all(db, actor, query)]
            assert got == expected, (key, descending)
            # A page from the middle is the same slice of that order.
            page = customers.list_customers(db, actor, query, offset=3, limit=4)
            assert [r.number for r in page] == expected[3:7], (key, descending)


def test_sorting_is_not_just_insertion_order(portfolio: dict[str, Any]) -> None:
    """Guard for the test above: each key's expected order really differs from P-01..P-10."""
    insertion = [r[0] for r in PORTFOLIO]
    for key in customers.SORT_KEYS:
        if key == "number":
            continue
        assert _expected_order(portfolio, key, False) != insertion, key


def test_unknown_sort_key_is_refused(db: Database, admin: Actor) -> None:
    with pytest.raises(ValueError, match="sort"):
        customers.list_customers(db, admin, CustomerQuery(sort_key="colour"))


FILTERS = [
    (CustomerQuery(segment="Retail"), {"P-08", "P-10"}),
    (CustomerQuery(segment="Mid-market"), {"P-03", "P-09"}),
    (CustomerQuery(risk_class="B"), {"P-01", "P-02"}),
    (CustomerQuery(on_hold=True), {"P-02", "P-05", "P-09"}),
    (
        CustomerQuery(on_hold=False),
        {"P-01", "P-03", "P-04", "P-06", "P-07", "P-08", "P-10"},
    ),
    (CustomerQuery(risk_class="A", segment="Retail"), {"P-08"}),
    (CustomerQuery(on_hold=True, risk_class="B"), {"P-02"}),
    (CustomerQuery(search="steel", segment="Retail"), set()),
    (CustomerQuery(search="s", on_hold=False), {"P-03"}),
    (CustomerQuery(search="s"), {"P-03", "P-09"}),
]


def test_filters(db: Database, portfolio: dict[str, Any]) -> None:
    actor = portfolio["actor"]
    for query, expected in FILTERS:
        assert {r.number for r in _all(db, actor, query)} == expected, query
        assert customers.count_customers(db, actor, query) == len(expected), query


def test_filter_by_collector(db: Database, portfolio: dict[str, Any]) -> None:
    actor = portfolio["actor"]
    anna = portfolio["collectors"]["anna"]
    query = CustomerQuery(collector_id=anna.user_id, sort_key="number")
    rows = _all(db, actor, query)
    assert [r.number for r in rows] == ["P-02", "P-05", "P-09"]
    assert {r.collector for r in rows} == {"Anna"}
    assert customers.count_customers(db, actor, query) == 3


def test_row_values_and_utilization(db: Database, portfolio: dict[str, Any]) -> None:
    rows = {r.number: r for r in _all(db, portfolio["actor"], CustomerQuery())}
    harbor = rows["P-02"]
    assert harbor.name == "Harbor Foods"
    assert harbor.currency == "EUR"
    assert harbor.credit_limit == Decimal("20000")
    assert harbor.exposure == Decimal("25000")
    assert isinstance(harbor.exposure, Decimal)
    assert harbor.utilization == Decimal("1.25")
    assert harbor.on_hold is True
    assert harbor.collector == "Anna"
    assert rows["P-05"].utilization is None  # no limit
    assert rows["P-03"].collector is None


def test_paging_covers_the_count_exactly(db: Database, portfolio: dict[str, Any]) -> None:
    actor = portfolio["actor"]
    for page_size, query in itertools.product(
        (1, 3, 4, 200),
        (
            CustomerQuery(sort_key="credit_limit", descending=True),
            CustomerQuery(on_hold=False, sort_key="name"),
        ),
    ):
        total = customers.count_customers(db, actor, query)
        pages, offset = [], 0
        while True:
            page = customers.list_customers(db, actor, query, offset=offset, limit=page_size)
            assert len(page) <= page_size
            if not page:
                break
            pages.extend(page)
            offset += page_size
        assert len(pages) == total
        assert len({r.id for r in pages}) == total
        assert [r.id for r in pages] == [r.id for r in _all(db, actor, query)]
    assert customers.list_customers(db, actor, CustomerQuery(), offset=10, limit=5) == []


def test_iter_customers_streams_every_row_in_order(db: Database, portfolio: dict[str, Any]) -> None:
    actor = portfolio["actor"]
    query = CustomerQuery(sort_key="exposure", descending=True)
    batches = list(customers.iter_customers(db, actor, query, batch=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    streamed = [r.number for batch in batches for r in batch]
    assert streamed == [r.number for r in _all(db, actor, query)]
    assert len(streamed) == customers.count_customers(db, actor, query)
    filtered = [
        r for b in customers.iter_customers(db, actor, CustomerQuery(on_hold=True)) for r in b
    ]
    assert {r.number for r in filtered} == {"P-02", "P-05", "P-09"}


def test_segments_and_payment_terms_choices(db: Database, portfolio: dict[str, Any]) -> None:
    assert customers.distinct_segments(db) == [
        "Distributor",
        "Enterprise",
        "Mid-market",
        "Retail",
        "Small business",
    ]
    terms = customers.payment_terms(db)
    codes = [code for code, _ in terms]
    assert codes[0] == "COD"
    assert {"NET15", "NET30", "NET60", "EOM30", "2/10N30"} <= set(codes)
    assert dict(terms)["NET30"] == "Net 30 days"
