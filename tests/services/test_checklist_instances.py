"""Which template an application's checklist comes from (segment, currency, amount range,
position, active), which items are required (required_above), and when a changed application
gets a new checklist."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.models import (
    ApplicationChecklistItem,
    AuditEntry,
    ChecklistTemplate,
    ChecklistTemplateItem,
    Document,
)
from o2c_desktop.models.credit import ITEM_RECEIVED, ITEM_VERIFIED, ITEM_WAIVED
from o2c_desktop.services import checklist_instances as ci
from o2c_desktop.services import credit_applications as ca
from o2c_desktop.services.auth import Actor
from tests.services.credit_support import set_items

LARGE, STANDARD = "Large exposure", "Standard"


def _template(
    db: Database,
    name: str,
    position: int,
    items: list[tuple[str, bool, str | None]],
    **match: Any,
) -> int:
    with db.write() as session:
        template = ChecklistTemplate(name=name, position=position, active=True, **match)
        session.add(template)
        session.flush()
        for n, (code, required, above) in enumerate(items, 1):
            session.add(
                ChecklistTemplateItem(
                    template_id=template.id,
                    position=n,
                    code=code,
                    label=code.replace("_", " ").capitalize(),
                    required=required,
                    required_above=None if above is None else Decimal(above),
                )
            )
        return template.id


def _chosen(db: Database, segment: str | None, currency: str | None, amount: str) -> str | None:
    with db.read() as session:
        template = ci.choose_template(
            session, segment=segment, currency=currency, amount=Decimal(amount)
        )
        return template.name if template else None


def _items(db: Database, application_id: int) -> dict[str, tuple[bool, str]]:
    with db.read() as session:
        return {
            i.code: (i.required, i.status)
            for i in session.scalars(
                select(ApplicationChecklistItem)
                .where(ApplicationChecklistItem.application_id == application_id)
                .order_by(ApplicationChecklistItem.position)
            )
        }


def _relabel(db: Database, label: str, **where: object) -> None:
    """An administrator rewords the template items matching `where` (column values)."""
    with db.write() as session:
        session.execute(update(ChecklistTemplateItem).filter_by(**where).values(label=label))


def _new(db: Database, actor: Actor, limit: str, **values: Any) -> ca.ApplicationView:
    return ca.create_application(
        db,
        actor,
        {"applicant_name": "Newco", "customer_number": "N-1", "requested_limit": limit} | values,
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("1", STANDARD), ("249999.99", STANDARD), ("250000", LARGE), ("9000000", LARGE)],
)
def test_the_seeded_templates_split_at_250000(db: Database, amount: str, expected: str) -> None:
    assert _chosen(db, "Retail", "EUR", amount) == expected


def test_segment_currency_and_range_narrow_the_choice_and_position_decides(
    db: Database,
) -> None:
    small = [("signed_application", True, None)]
    _template(db, "Small retail", 0, small, segment="Retail", max_amount=Decimal(50000))
    _template(db, "Swiss", 0, [("tax_id", True, None)], currency="CHF")
    assert _chosen(db, "Retail", "EUR", "50000") == "Small retail"  # both ends included
    assert _chosen(db, "retail ", "EUR", "100") == "Small retail"  # segment without case
    assert _chosen(db, "Retail", "EUR", "50000.01") == STANDARD
    assert _chosen(db, "Enterprise", "EUR", "100") == STANDARD
    assert _chosen(db, None, "EUR", "100") == STANDARD  # a segment-bound template needs one
    assert _chosen(db, "Enterprise", "CHF", "300000") == "Swiss"  # position 0 before Large
    with db.write() as session:
        session.execute(
            update(ChecklistTemplate)
            .where(ChecklistTemplate.name == "Swiss")
            .values(active=False, position=0)
        )
    assert _chosen(db, "Enterprise", "CHF", "300000") == LARGE


def test_no_template_no_checklist(db: Database, admin: Actor, clerk: Actor) -> None:
    with db.write() as session:
        session.execute(update(ChecklistTemplate).values(active=False))
    app = _new(db, clerk, "1000")
    assert app.checklist_template_id is None
    assert _items(db, app.id) == {}
    with db.read() as session:
        assert ci.blocking_items_in_session(session, app.id) == []


def test_items_are_copied_and_required_above_counts_from_its_amount(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    below = _new(db, clerk, "99999.99")
    items = _items(db, below.id)
    assert list(items) == [
        "signed_application",
        "trade_references",
        "bank_reference",
        "financial_statements",
        "tax_id",
        "bureau_report",
        "personal_guarantee",
        "insurance_certificate",
    ]
    assert items["personal_guarantee"] == (False, "pending")
    assert items["bureau_report"] == (False, "pending")
    assert items["signed_application"] == (True, "pending")
    ca.withdraw(db, clerk, below.id, below.version, "retyped")
    at = _new(db, clerk, "100000")
    assert _items(db, at.id)["personal_guarantee"] == (True, "pending")
    with db.read() as session:
        statements = session.scalars(
            select(ApplicationChecklistItem).where(
                ApplicationChecklistItem.application_id == at.id,
                ApplicationChecklistItem.code == "financial_statements",
            )
        ).one()
        assert (statements.quantity, statements.validity_months) == (2, 15)
        assert statements.label == "Last two years' financial statements"


def test_editing_a_template_later_leaves_existing_checklists_alone(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk, "1000")
    _relabel(db, "Signed application (new wording)", code="signed_application")
    with db.read() as session:
        labels = ci.blocking_items_in_session(session, app.id)
    assert labels[0] == "Signed credit application"


def test_a_changed_amount_rechooses_the_checklist_while_nothing_was_worked(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk, "20000")
    with db.read() as session:
        large_id = session.scalar(
            select(ChecklistTemplate.id).where(ChecklistTemplate.name == LARGE)
        )
    bigger = ca.update_application(db, clerk, app.id, app.version, {"requested_limit": "300000"})
    assert bigger.checklist_template_id == large_id
    assert bigger.version == app.version + 1
    assert _items(db, app.id)["insurance_certificate"] == (True, "pending")
    raised = ca.update_application(db, clerk, app.id, bigger.version, {"requested_limit": "600000"})
    assert _items(db, app.id)["personal_guarantee"] == (True, "pending")  # from 500,000
    assert raised.checklist_template_id == large_id


def _work_tax_id(db: Database, application_id: int, worked: str) -> None:
    """Someone has worked the checklist: the tax ID item received, or a file attached to it."""
    if worked == "status":
        set_items(db, application_id, ITEM_RECEIVED, "tax_id")
        return
    with db.write() as session:
        session.add(
            Document(
                application_id=application_id,
                checklist_item_id=_item_ids(db, application_id)["tax_id"],
                filename="vat.pdf",
                content_type="application/pdf",
                size_bytes=3,
                sha256="0" * 64,
                storage="database",
                content=b"pdf",
            )
        )


def _item_ids(db: Database, application_id: int) -> dict[str, int]:
    with db.read() as session:
        return dict(
            session.execute(
                select(ApplicationChecklistItem.code, ApplicationChecklistItem.id).where(
                    ApplicationChecklistItem.application_id == application_id
                )
            ).all()
        )


def _item_audit(db: Database, application_id: int) -> set[tuple[str, str, str, str | None]]:
    """(item code, action, field, new value) of the audit rows on the application's items."""
    ids = {str(i): code for code, i in _item_ids(db, application_id).items()}
    with db.read() as session:
        rows = session.execute(
            select(AuditEntry.record_id, AuditEntry.action, AuditEntry.field, AuditEntry.new_value)
            .where(AuditEntry.table_name == "application_checklist_items")
            .where(AuditEntry.record_id.in_(ids))
        ).all()
    return {(ids[r], action, field, new) for r, action, field, new in rows}


def _template_id(db: Database, name: str) -> int:
    with db.read() as session:
        found = session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.name == name))
        assert found is not None
        return found


@pytest.mark.parametrize("worked", ["status", "document"])
def test_a_worked_checklist_follows_the_new_template_and_keeps_its_work(
    db: Database, admin: Actor, clerk: Actor, worked: str
) -> None:
    """10,000 raised to 1,000,000: the large exposure's checklist, not the standard one with an
    optional personal guarantee; yet the item already worked stays as it is (same row)."""
    app = _new(db, clerk, "10000")
    _work_tax_id(db, app.id, worked)
    before = _items(db, app.id)
    ids = _item_ids(db, app.id)
    bigger = ca.update_application(db, clerk, app.id, app.version, {"requested_limit": "1000000"})
    assert bigger.checklist_template_id == _template_id(db, LARGE)
    assert bigger.version == app.version + 1  # the edit and the checklist: one step
    after = _items(db, app.id)
    flipped = {"bureau_report", "personal_guarantee", "insurance_certificate"}
    assert after == {
        code: (True, status) if code in flipped else (required, status)
        for code, (required, status) in before.items()
    }
    assert after["tax_id"] == before["tax_id"]
    assert after["personal_guarantee"] == (True, "pending")  # Large: required from 500,000
    assert _item_ids(db, app.id) == ids  # kept, not replaced
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == (
            1 if worked == "document" else 0
        )
    assert _item_audit(db, app.id) == {(code, "update", "required", "yes") for code in flipped} | {
        ("trade_references", "update", "quantity", "3")
    }  # Large asks for three
    with db.read() as session:
        checklist = session.execute(
            select(AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.table_name == "credit_applications",
                AuditEntry.field == "checklist",
                AuditEntry.action == "update",
            )
        ).all()
    assert [tuple(row) for row in checklist] == [(STANDARD, LARGE)]


def test_a_worked_checklist_gets_the_required_flags_of_a_new_amount_on_the_same_template(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk, "20000")
    _work_tax_id(db, app.id, "status")
    raised = ca.update_application(db, clerk, app.id, app.version, {"requested_limit": "150000"})
    assert raised.checklist_template_id == app.checklist_template_id
    items = _items(db, app.id)
    assert items["personal_guarantee"] == (True, "pending")  # Standard: from 100,000
    assert items["tax_id"] == (True, ITEM_RECEIVED)
    assert _item_audit(db, app.id) == {("personal_guarantee", "update", "required", "yes")}
    lowered = ca.update_application(db, clerk, app.id, raised.version, {"requested_limit": "5000"})
    assert _items(db, app.id)["personal_guarantee"] == (False, "pending")
    assert lowered.version == raised.version + 1


def test_a_worked_checklist_gains_the_new_templates_missing_items(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    """Items the new template lacks stay (required or optional as they were); its items the
    checklist lacks are added, pending, and audited."""
    huge = _template(
        db,
        "Huge",
        0,
        [("signed_application", True, None), ("site_visit", True, None)],
        min_amount=Decimal(900000),
    )
    app = _new(db, clerk, "10000")
    _work_tax_id(db, app.id, "status")
    before = _items(db, app.id)
    bigger = ca.update_application(db, clerk, app.id, app.version, {"requested_limit": "1000000"})
    assert bigger.checklist_template_id == huge
    assert _items(db, app.id) == {**before, "site_visit": (True, "pending")}
    assert _item_audit(db, app.id) == {
        ("signed_application", "update", "label", "Signed application")  # the new wording
    } | {
        ("site_visit", "create", field, value)
        for field, value in [
            ("application", app.number),
            ("code", "site_visit"),
            ("label", "Site visit"),
            ("required", "yes"),
            ("status", "pending"),
        ]
    }
    with db.read() as session:
        blocking = ci.blocking_items_in_session(session, app.id)
    assert blocking == [  # in the template's order; what the Huge template lacks still counts
        "Signed application",
        "Trade references",
        "Site visit",
        "Bank reference",
        "Last two years' financial statements",
        "Tax ID verified",
    ]


def test_a_verified_item_the_new_template_wants_more_of_is_verified_again(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    """Two trade references verified for 10,000; raised to 300,000 the large exposure's
    template wants three: the item takes the new quantity and label and goes back to received
    (nobody verified three), audited; a verified item asked for no more stays verified."""
    app = _new(db, clerk, "10000")
    _relabel(db, "Three trade references", code="trade_references", quantity=3)
    verified = {"verified_by_id": clerk.user_id, "verified_at": func.now()}
    set_items(db, app.id, ITEM_VERIFIED, "trade_references", "tax_id", **verified)
    ca.update_application(db, clerk, app.id, app.version, {"requested_limit": "300000"})
    with db.read() as session:
        rows = {
            i.code: (i.label, i.quantity, i.status, i.verified_by_id, i.verified_at)
            for i in session.scalars(
                select(ApplicationChecklistItem).where(
                    ApplicationChecklistItem.application_id == app.id
                )
            )
        }
    assert rows["trade_references"] == ("Three trade references", 3, ITEM_RECEIVED, None, None)
    assert rows["tax_id"][2:4] == (ITEM_VERIFIED, clerk.user_id)
    audited = _item_audit(db, app.id)
    assert {(field, new) for code, _, field, new in audited if code == "trade_references"} == {
        ("label", "Three trade references"),
        ("quantity", "3"),
        ("status", "received"),
        ("verified_by_id", None),
        ("verified_at", None),
    }
    assert all(code != "tax_id" for code, *_ in audited)


def test_blocking_items_are_the_required_ones_neither_verified_nor_waived(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk, "20000")
    set_items(db, app.id, ITEM_VERIFIED, "signed_application", "trade_references")
    set_items(db, app.id, ITEM_WAIVED, "tax_id")
    with db.read() as session:
        assert ci.blocking_items_in_session(session, app.id) == [
            "Bank reference",
            "Last two years' financial statements",
        ]
