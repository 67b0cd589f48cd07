"""Checklist templates (administrators) and the items of an application (clerks verify, managers
waive), on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictError,
    NotFound,
    O2CError,
    PermissionDenied,
    ValidationFailed,
)
from o2c_desktop.models import (
    ChecklistTemplateItem,
)
from o2c_desktop.models.credit import (
    IN_VERIFICATION,
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_REJECTED,
    ITEM_VERIFIED,
    ITEM_WAIVED,
    PENDING_APPROVAL,
)
from o2c_desktop.services import checklists
from o2c_desktop.services.audit import changes_since
from o2c_desktop.services.auth import Actor
from tests.services.credit_support import item_by_code, new_application, set_state

ITEMS = [
    {"label": "Signed credit application"},
    {"code": "trade_refs", "label": "Trade references", "quantity": 3},
    {"label": "Insurance certificate", "required": False, "validity_months": "12"},
    {"label": "Personal guarantee", "required": False, "required_above": "100000"},
]


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def test_the_seeded_templates_are_listed_in_the_order_they_are_tried(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    templates = checklists.list_templates(db, clerk)
    assert [t.name for t in templates] == ["Large exposure", "Standard"]
    large, standard = templates
    assert large.min_amount == Decimal("250000.00") and standard.min_amount is None
    assert [i.position for i in standard.items] == list(range(1, 9))
    guarantee = next(i for i in standard.items if i.code == "personal_guarantee")
    assert (guarantee.required, guarantee.required_above) == (False, Decimal("100000.00"))
    statements = next(i for i in standard.items if i.code == "financial_statements")
    assert (statements.quantity, statements.validity_months) == (2, 15)


def test_who_may_list_and_who_may_edit_templates(
    db: Database, collector: Actor, manager: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        checklists.list_templates(db, collector)
    with pytest.raises(PermissionDenied, match="checklist templates"):
        checklists.save_template(db, manager, None, None, {"name": "Mine"}, ITEMS)


def test_an_administrator_creates_a_template_and_it_is_audited(db: Database, admin: Actor) -> None:
    saved = checklists.save_template(
        db,
        admin,
        None,
        None,
        {
            "name": "  Public   sector ",
            "segment": "Public sector",
            "currency": "eur",
            "max_amount": "100,000",
        },
        ITEMS,
    )
    assert saved.name == "Public sector"
    assert (saved.position, saved.active, saved.version) == (3, True, 1)
    assert (saved.currency, saved.min_amount, saved.max_amount) == (
        "EUR",
        None,
        Decimal("100000.00"),
    )
    assert [i.code for i in saved.items] == [
        "signed_credit_application",
        "trade_refs",
        "insurance_certificate",
        "personal_guarantee",
    ]
    assert [(i.required, i.quantity, i.validity_months) for i in saved.items] == [
        (True, 1, None),
        (True, 3, None),
        (False, 1, 12),
        (False, 1, None),
    ]
    assert saved.items[3].required_above == Decimal("100000.00")
    assert checklists.list_templates(db, admin)[-1] == saved
    with db.read() as session:
        who, _at, values = changes_since(session, "checklist_templates", saved.id, 0) or (
            None,
            None,
            {},
        )
    assert who == admin.username
    assert values["name"] == "Public sector"
    assert "trade_refs: Trade references (required, ×3)" in values["items"]
    assert "personal_guarantee: Personal guarantee (optional from 100000.00)" in values["items"]


def test_every_problem_is_named_at_once_and_nothing_is_saved(db: Database, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        checklists.save_template(
            db,
            admin,
            None,
            None,
            {
                "name": "STANDARD",
                "position": 0,
                "segment": "S" * 41,
                "currency": "EUX",
                "min_amount": "500",
                "max_amount": "100",
                "colour": "red",
            },
            [
                {"code": "a", "label": "One"},
                {"code": "a", "label": ""},
                {"code": "9x", "label": "Three", "quantity": 0, "validity_months": 121},
                {"label": "Four", "required": True, "required_above": "1000"},
                {"label": "Five", "required": False, "required_above": "-1", "size": 3},
            ],
        )
    problems = {(p.field, p.row) for p in caught.value.problems}
    assert problems == {
        ("name", None),
        ("position", None),
        ("segment", None),
        ("currency", None),
        ("max_amount", None),
        ("colour", None),
        ("code", 2),
        ("label", 2),
        ("code", 3),
        ("quantity", 3),
        ("validity_months", 3),
        ("required_above", 4),
        ("required_above", 5),
        ("size", 5),
    }
    message = str(caught.value)
    assert "another template has this name" in message
    assert "row 2, code (value 'a'): item 1 has the same code" in message
    assert "a whole number from 1 to 20" in message
    assert "a whole number from 1 to 120 or empty" in message
    assert len(checklists.list_templates(db, admin)) == 2


def test_an_empty_item_list_is_refused(db: Database, admin: Actor) -> None:
    with pytest.raises(ValidationFailed, match="at least one item"):
        checklists.save_template(db, admin, None, None, {"name": "Empty"}, [])


def test_saving_replaces_the_items_and_a_stale_editor_meets_a_conflict(
    db: Database, admin: Actor
) -> None:
    other = Actor(admin.user_id, "other.admin", "Other Admin", admin.roles)
    first = checklists.save_template(db, admin, None, None, {"name": "Retail"}, ITEMS)
    second = checklists.save_template(
        db,
        other,
        first.id,
        first.version,
        {"min_amount": "1000"},
        [{"code": "tax_id", "label": "Tax ID verified"}],
    )
    assert second.version == first.version + 1
    assert second.name == "Retail" and second.min_amount == Decimal("1000.00")
    assert [i.code for i in second.items] == ["tax_id"]
    with db.read() as session:
        left = session.scalar(
            select(func.count(ChecklistTemplateItem.id)).where(
                ChecklistTemplateItem.template_id == first.id
            )
        )
    assert left == 1
    with pytest.raises(ConflictError, match=r"was changed by other\.admin") as caught:
        checklists.save_template(db, admin, first.id, first.version, {"name": "Retail 2"}, ITEMS)
    assert "min_amount" in caught.value.details.their_values
    unchanged = checklists.save_template(
        db, admin, second.id, second.version, {}, [{"code": "tax_id", "label": "Tax ID verified"}]
    )
    assert unchanged == second  # nothing changed: same version, no audit


def test_a_used_template_cannot_be_deleted_but_can_be_deactivated(
    db: Database, admin: Actor
) -> None:
    unused = checklists.save_template(db, admin, None, None, {"name": "Unused"}, ITEMS)
    checklists.delete_template(db, admin, unused.id, unused.version)
    assert [t.name for t in checklists.list_templates(db, admin)] == ["Large exposure", "Standard"]
    with db.read() as session:
        assert (
            session.scalar(
                select(func.count(ChecklistTemplateItem.id)).where(
                    ChecklistTemplateItem.template_id == unused.id
                )
            )
            == 0
        )
    new_application(db, admin)
    standard = checklists.list_templates(db, admin)[1]
    with pytest.raises(ValidationFailed, match=r"1 application\(s\) used it \(CA-000001\)"):
        checklists.delete_template(db, admin, standard.id, standard.version)
    off = checklists.save_template(
        db, admin, standard.id, standard.version, {"active": False}, None
    )
    assert off.active is False
    assert [i.code for i in off.items] == [i.code for i in standard.items]


# ---------------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------------


def test_a_clerk_verifies_an_item_and_leaving_verified_clears_who_and_when(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    application_id = new_application(db, admin, customer_number="C-1")
    items = checklists.list_items(db, clerk, application_id)
    assert len(items) == 8 and {i.status for i in items} == {ITEM_PENDING}
    tax = item_by_code(db, clerk, application_id, "tax_id")
    verified = checklists.set_item_status(
        db, clerk, tax.id, tax.version, ITEM_VERIFIED, notes="Checked in the VIES register"
    )
    assert verified.status == ITEM_VERIFIED
    assert verified.verified_by == "Clara" and verified.verified_at is not None
    assert verified.notes == "Checked in the VIES register"
    assert verified.version == tax.version + 1
    again = checklists.set_item_status(db, clerk, tax.id, verified.version, ITEM_RECEIVED)
    assert again.status == ITEM_RECEIVED
    assert (again.verified_by, again.verified_at) == (None, None)
    assert again.notes == "Checked in the VIES register"  # None keeps the notes
    with db.read() as session:
        who, _at, values = changes_since(
            session, "application_checklist_items", tax.id, tax.version
        ) or (None, None, {})
    assert who == clerk.username
    assert values["status"] == ITEM_RECEIVED and values["verified_by_id"] == "(empty)"


def test_a_collector_may_not_touch_the_checklist(
    db: Database, admin: Actor, collector: Actor
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, admin, application_id, "tax_id")
    with pytest.raises(PermissionDenied):
        checklists.list_items(db, collector, application_id)
    with pytest.raises(PermissionDenied, match="verify checklist items"):
        checklists.set_item_status(db, collector, item.id, item.version, ITEM_VERIFIED)


def test_only_a_manager_waives_and_the_waiver_records_their_authority(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    application_id = new_application(db, admin)
    bureau = item_by_code(db, clerk, application_id, "bureau_report")
    with pytest.raises(PermissionDenied, match="waive"):
        checklists.waive_item(db, clerk, bureau.id, bureau.version, "Not needed")
    with pytest.raises(ValidationFailed, match="reason: required"):
        checklists.waive_item(db, manager, bureau.id, bureau.version, "   ")
    with pytest.raises(ValidationFailed, match="waive an item with a reason"):
        checklists.set_item_status(db, manager, bureau.id, bureau.version, ITEM_WAIVED)
    waived = checklists.waive_item(
        db, manager, bureau.id, bureau.version, "Long-standing customer, paid on time 10 years"
    )
    assert waived.status == ITEM_WAIVED and waived.done
    assert waived.waived_by == "Maria" and waived.waived_at is not None
    assert waived.waiver_authority == "credit manager"
    assert waived.waiver_reason == "Long-standing customer, paid on time 10 years"
    with pytest.raises(O2CError, match="already waived"):
        checklists.waive_item(db, manager, waived.id, waived.version, "Again")
    with pytest.raises(PermissionDenied, match="waive"):
        checklists.set_item_status(db, clerk, waived.id, waived.version, ITEM_PENDING)
    with pytest.raises(ValidationFailed, match="goes back to pending first"):
        checklists.set_item_status(db, manager, waived.id, waived.version, ITEM_VERIFIED)
    undone = checklists.set_item_status(db, manager, waived.id, waived.version, ITEM_PENDING)
    assert undone.status == ITEM_PENDING and not undone.done
    assert (undone.waived_by, undone.waiver_reason, undone.waiver_authority) == (None, None, None)


def test_waiving_a_verified_item_clears_the_verification(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "bank_reference")
    item = checklists.set_item_status(db, clerk, item.id, item.version, ITEM_VERIFIED)
    waived = checklists.waive_item(db, manager, item.id, item.version, "Bank closed")
    assert (waived.verified_by, waived.verified_at) == (None, None)


def test_the_checklist_is_frozen_once_the_application_awaits_approval(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    application_id = new_application(db, admin, state=IN_VERIFICATION)
    item = item_by_code(db, clerk, application_id, "tax_id")
    item = checklists.set_item_status(db, clerk, item.id, item.version, ITEM_REJECTED, "Wrong ID")
    assert item.status == ITEM_REJECTED
    set_state(db, application_id, PENDING_APPROVAL)
    with pytest.raises(O2CError, match="CA-000001 is pending approval: its checklist can change"):
        checklists.set_item_status(db, clerk, item.id, item.version, ITEM_VERIFIED)
    with pytest.raises(O2CError, match="pending approval"):
        checklists.waive_item(db, manager, item.id, item.version, "Fine")


def test_a_stale_item_version_is_a_conflict_naming_who_changed_it(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "tax_id")
    checklists.set_item_status(db, manager, item.id, item.version, ITEM_RECEIVED)
    with pytest.raises(ConflictError, match="was changed by maria"):
        checklists.set_item_status(db, clerk, item.id, item.version, ITEM_VERIFIED)


def test_bad_status_and_unknown_items_are_refused(db: Database, admin: Actor, clerk: Actor) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "tax_id")
    with pytest.raises(ValidationFailed, match="one of pending, received, verified, rejected"):
        checklists.set_item_status(db, clerk, item.id, item.version, "done")
    with pytest.raises(O2CError, match="#999999 does not exist"):
        checklists.set_item_status(db, clerk, 999_999, 1, ITEM_VERIFIED)
    with pytest.raises(O2CError, match="#999999 does not exist"):
        checklists.list_items(db, clerk, 999_999)


@pytest.mark.parametrize("bad", [True, "1", 2**40, 0])
def test_an_id_that_cannot_be_a_row_is_not_found(
    db: Database, admin: Actor, manager: Actor, bad: object
) -> None:
    """Not a driver error: PostgreSQL refuses 2**40 for an INTEGER column."""
    calls = [
        lambda: checklists.list_items(db, manager, bad),  # type: ignore[arg-type]
        lambda: checklists.set_item_status(db, manager, bad, 1, ITEM_VERIFIED),  # type: ignore[arg-type]
        lambda: checklists.waive_item(db, manager, bad, 1, "known customer"),  # type: ignore[arg-type]
        lambda: checklists.save_template(db, admin, bad, 1, {"name": "X"}, None),  # type: ignore[arg-type]
        lambda: checklists.delete_template(db, admin, bad, 1),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
