"""A customer's contacts and notes: any role keeps them, every change shows in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, ValidationFailed
from o2c_desktop.models import Activity, AuditEntry, Contact
from o2c_desktop.services import activities, audit, contacts, customers
from o2c_desktop.services.auth import Actor


@pytest.fixture
def customer_id(db: Database, admin: Actor) -> int:
    return customers.create_customer(db, admin, {"number": "C-1", "name": "Acme"}).id


def _count(db: Database, model: type, *where: object) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _contact_history(db: Database, actor: Actor, customer_id: int) -> list[audit.AuditRow]:
    return [h for h in audit.customer_history(db, actor, customer_id) if h.table == "contacts"]


# ---------------------------------------------------------------------------------------------
# contacts
# ---------------------------------------------------------------------------------------------


def test_add_contact_is_audited_on_the_customer(
    db: Database, collector: Actor, customer_id: int
) -> None:
    row = contacts.add_contact(
        db,
        collector,
        customer_id,
        {
            "name": " Ann Payable ",
            "title": "AP clerk",
            "email": "ann@acme.example",
            "phone": "+49 30 1234",
            "is_primary": True,
        },
    )
    assert row.name == "Ann Payable"
    assert row.is_primary is True
    assert row.receives_statements is False
    assert row.version == 1
    detail = customers.get_customer(db, collector, customer_id)
    assert detail.contacts == [row]

    history = _contact_history(db, collector, customer_id)
    by_field = {h.field: h for h in history}
    assert set(by_field) == {"name", "title", "email", "phone", "is_primary"}
    assert by_field["name"].new_value == "Ann Payable"
    assert by_field["is_primary"].new_value == "yes"
    assert all(h.action == audit.CREATE and h.username == "colin" for h in history)
    assert all(h.record_id == str(row.id) for h in history)


def test_update_contact_is_audited_with_old_and_new(
    db: Database, collector: Actor, manager: Actor, customer_id: int
) -> None:
    row = contacts.add_contact(db, collector, customer_id, {"name": "Ann", "phone": "111"})
    saved = contacts.update_contact(
        db, manager, row.id, row.version, {"phone": "222", "receives_statements": True}
    )
    assert saved.version == row.version + 1
    assert saved.phone == "222"
    assert saved.receives_statements is True

    updates = [h for h in _contact_history(db, manager, customer_id) if h.action == audit.UPDATE]
    assert {(h.field, h.old_value, h.new_value) for h in updates} == {
        ("phone", "111", "222"),
        ("receives_statements", "no", "yes"),
    }
    assert {h.username for h in updates} == {"maria"}
    with db.read() as session:
        versions = set(
            session.scalars(
                select(AuditEntry.record_version).where(
                    AuditEntry.table_name == "contacts", AuditEntry.action == audit.UPDATE
                )
            )
        )
    assert versions == {saved.version}


def test_noop_contact_update_keeps_version(
    db: Database, collector: Actor, customer_id: int
) -> None:
    row = contacts.add_contact(db, collector, customer_id, {"name": "Ann", "phone": "111"})
    before = _count(db, AuditEntry)
    same = contacts.update_contact(db, collector, row.id, row.version, {"phone": " 111 "})
    assert same.version == row.version
    assert _count(db, AuditEntry) == before


def test_delete_contact_is_audited(db: Database, collector: Actor, customer_id: int) -> None:
    row = contacts.add_contact(
        db, collector, customer_id, {"name": "Ann", "email": "ann@acme.example"}
    )
    contacts.delete_contact(db, collector, row.id)
    assert customers.get_customer(db, collector, customer_id).contacts == []
    assert _count(db, Contact) == 0
    deleted = [h for h in _contact_history(db, collector, customer_id) if h.action == "delete"]
    assert {(h.field, h.old_value, h.new_value) for h in deleted} == {
        ("name", "Ann", None),
        ("email", "ann@acme.example", None),
    }
    assert _contact_history(db, collector, customer_id)[0].action == audit.DELETE
    contacts.delete_contact(db, collector, row.id)  # already gone: nothing happens


def test_contact_conflict(db: Database, collector: Actor, manager: Actor, customer_id: int) -> None:
    row = contacts.add_contact(db, collector, customer_id, {"name": "Ann", "phone": "111"})
    contacts.update_contact(db, manager, row.id, row.version, {"phone": "222"})
    before = _count(db, AuditEntry)
    with pytest.raises(ConflictError) as caught:
        contacts.update_contact(db, collector, row.id, row.version, {"title": "Boss"})
    assert caught.value.details.changed_by == "maria"
    assert caught.value.details.their_values == {"phone": "222"}
    assert "maria" in str(caught.value)
    current = customers.get_customer(db, collector, customer_id).contacts[0]
    assert (current.title, current.phone, current.version) == (None, "222", row.version + 1)
    assert _count(db, AuditEntry) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "Ann", "email": "ann@"}, "email"),
        ({"name": "Ann", "email": "ann at acme.example"}, "email"),
        ({"name": "   "}, "name"),
        ({"title": "no name given"}, "name"),
        ({"name": "Ann", "phone": "1" * 41}, "phone"),
        ({"name": "Ann", "shoe_size": "44"}, "shoe_size"),
    ],
)
def test_contact_validation(
    db: Database, collector: Actor, customer_id: int, raw: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        contacts.add_contact(db, collector, customer_id, raw)
    assert caught.value.for_field(field), caught.value.problems
    assert _count(db, Contact) == 0


def test_update_contact_validates_email_and_name(
    db: Database, collector: Actor, customer_id: int
) -> None:
    row = contacts.add_contact(db, collector, customer_id, {"name": "Ann"})
    with pytest.raises(ValidationFailed) as caught:
        contacts.update_contact(db, collector, row.id, row.version, {"email": "nope"})
    assert caught.value.for_field("email")
    with pytest.raises(ValidationFailed) as caught:
        contacts.update_contact(db, collector, row.id, row.version, {"name": ""})
    assert caught.value.for_field("name") == ["required"]
    assert customers.get_customer(db, collector, customer_id).contacts == [row]


def test_contact_for_missing_customer_or_contact(db: Database, collector: Actor) -> None:
    with pytest.raises(NotFound):
        contacts.add_contact(db, collector, 424_242, {"name": "Ann"})
    with pytest.raises(NotFound):
        contacts.update_contact(db, collector, 424_242, 1, {"name": "Ann"})


# ---------------------------------------------------------------------------------------------
# notes
# ---------------------------------------------------------------------------------------------


def test_notes_are_listed_newest_first(
    db: Database, collector: Actor, manager: Actor, customer_id: int
) -> None:
    started = datetime.now(UTC)
    first = activities.add_note(db, collector, customer_id, "first call", subject=" Call ")
    second = activities.add_note(db, manager, customer_id, "  second: promised Friday  ")
    third = activities.add_note(db, collector, customer_id, "third")
    listed = activities.list_activities(db, collector, customer_id)
    assert [a.id for a in listed] == [third.id, second.id, first.id]
    assert [a.body for a in listed] == ["third", "second: promised Friday", "first call"]
    assert [a.author for a in listed] == ["Colin", "Maria", "Colin"]
    assert listed[2].subject == "Call"
    assert listed[1].subject is None
    assert all(a.kind == "note" for a in listed)
    assert all(started - timedelta(seconds=1) <= a.occurred_at <= datetime.now(UTC) for a in listed)
    assert listed[0].occurred_at >= listed[1].occurred_at >= listed[2].occurred_at
    assert [a.id for a in activities.list_activities(db, collector, customer_id, limit=2)] == [
        third.id,
        second.id,
    ]

    notes = [
        h for h in audit.customer_history(db, collector, customer_id) if h.table == "activities"
    ]
    assert [h.new_value for h in notes] == ["third", "second: promised Friday", "first call"]
    assert all(h.field == "body" and h.action == audit.CREATE for h in notes)


def test_notes_of_other_customers_are_not_listed(
    db: Database, admin: Actor, customer_id: int
) -> None:
    other = customers.create_customer(db, admin, {"number": "C-2", "name": "Other"}).id
    activities.add_note(db, admin, other, "elsewhere")
    assert activities.list_activities(db, admin, customer_id) == []


@pytest.mark.parametrize("body", ["", "   ", "\n\t", None])
def test_empty_note_is_refused(
    db: Database, collector: Actor, customer_id: int, body: str | None
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        activities.add_note(db, collector, customer_id, body)  # type: ignore[arg-type]
    assert caught.value.for_field("body") == ["a note cannot be empty"]
    assert _count(db, Activity) == 0


def test_overlong_note_is_refused(db: Database, collector: Actor, customer_id: int) -> None:
    with pytest.raises(ValidationFailed):
        activities.add_note(db, collector, customer_id, "x" * (activities.MAX_NOTE + 1))
    activities.add_note(db, collector, customer_id, "x" * activities.MAX_NOTE)
    assert _count(db, Activity) == 1


def test_note_for_missing_customer(db: Database, collector: Actor) -> None:
    with pytest.raises(NotFound):
        activities.add_note(db, collector, 424_242, "hello")
    assert _count(db, Activity) == 0


def test_history_is_newest_first_across_tables(
    db: Database, manager: Actor, customer_id: int
) -> None:
    detail = customers.get_customer(db, manager, customer_id)
    contacts.add_contact(db, manager, customer_id, {"name": "Ann"})
    customers.update_customer(db, manager, customer_id, detail.version, {"city": "Oslo"})
    activities.add_note(db, manager, customer_id, "done")
    history = audit.customer_history(db, manager, customer_id)
    tables = [h.table for h in history if h.action != audit.CREATE or h.table != "customers"]
    assert tables == ["activities", "customers", "contacts"]
    assert history == sorted(history, key=lambda h: h.at, reverse=True)
    assert len(audit.customer_history(db, manager, customer_id, limit=2)) == 2
