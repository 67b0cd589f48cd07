"""Credit applications: creating and editing them (parsing, validation by field, copying from
the customer), every allowed and refused workflow move, the checklist guard on the way to
approval, service-level due dates, references, assignment, permissions and version conflicts."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    ApplicationReference,
    AuditEntry,
    CreditApplication,
)
from o2c_desktop.models.credit import (
    APPLICATION_STATES,
    APPROVED,
    CLOSED_STATES,
    CONDITIONALLY_APPROVED,
    DECLINED,
    DRAFT,
    IN_VERIFICATION,
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_REJECTED,
    ITEM_VERIFIED,
    ITEM_WAIVED,
    OPEN_STATES,
    PENDING_APPROVAL,
    SUBMITTED,
    WITHDRAWN,
)
from o2c_desktop.models.users import Role
from o2c_desktop.services import credit_applications as ca
from o2c_desktop.services import credit_decisions, credit_policy, customers, scorecards
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user
from tests.services.credit_support import set_items

TODAY = date.today()


def _customer(db: Database, actor: Actor, number: str = "C-1", **extra: Any) -> int:
    values = {
        "number": number,
        "name": f"{number} Trading",
        "legal_name": f"{number} Trading GmbH",
        "tax_id": "DE123456789",
        "segment": "Retail",
        "country": "DE",
        "address_line1": "Hauptstr. 1",
        "city": "Berlin",
        "postcode": "10115",
        "email": "ap@c1.example",
        "phone": "+49 30 1234",
        "currency": "EUR",
        "payment_terms": "NET60",
        "credit_limit": "20000",
        **extra,
    }
    return customers.create_customer(db, actor, values).id


def _new(db: Database, actor: Actor, number: str = "N-1", **values: Any) -> ca.ApplicationView:
    return ca.create_application(
        db,
        actor,
        {"applicant_name": f"{number} Newco", "customer_number": number, "requested_limit": "20000"}
        | values,
    )


def _problems(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in caught.value.problems}


def _to(db: Database, actor: Actor, app: ca.ApplicationView, state: str) -> ca.ApplicationView:
    """Drive an application along the main path up to `state` (an open state, or withdrawn)."""
    if state == WITHDRAWN:
        return ca.withdraw(db, actor, app.id, app.version, "changed their mind")
    path = [SUBMITTED, IN_VERIFICATION, PENDING_APPROVAL]
    for step in path[: path.index(state) + 1] if state in path else []:
        if step == SUBMITTED:
            app = ca.submit(db, actor, app.id, app.version)
        elif step == IN_VERIFICATION:
            app = ca.start_verification(db, actor, app.id, app.version)
        else:
            set_items(db, app.id, ITEM_VERIFIED)
            app = ca.send_to_approval(db, actor, app.id, app.version)
    assert app.state == state
    return app


def _audit(db: Database, application_id: int, field: str) -> list[tuple[str | None, str | None]]:
    with db.read() as session:
        return [
            (row.old_value, row.new_value)
            for row in session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.table_name == "credit_applications",
                    AuditEntry.record_id == str(application_id),
                    AuditEntry.field == field,
                )
                .order_by(AuditEntry.id)
            )
        ]


# ---------------------------------------------------------------------------------------------
# Creating
# ---------------------------------------------------------------------------------------------


def test_a_limit_change_copies_the_applicant_from_the_customer(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    cid = _customer(db, admin)
    app = ca.create_application(db, clerk, {"customer_id": cid, "requested_limit": "35000"})
    assert (app.number, app.kind, app.state, app.customer_id) == (
        "CA-000001",
        "limit_change",
        DRAFT,
        cid,
    )
    assert (app.customer_number, app.applicant_name, app.legal_name, app.tax_id) == (
        "C-1",
        "C-1 Trading",
        "C-1 Trading GmbH",
        "DE123456789",
    )
    assert (app.segment, app.country, app.address_line1, app.city, app.postcode) == (
        "Retail",
        "DE",
        "Hauptstr. 1",
        "Berlin",
        "10115",
    )
    assert (app.email, app.phone, app.currency, app.requested_terms_code) == (
        "ap@c1.example",
        "+49 30 1234",
        "EUR",
        "NET60",
    )
    assert app.requested_limit == Decimal("35000.00")
    assert (app.customer_name, app.current_limit) == ("C-1 Trading", Decimal("20000.00"))
    assert (app.prepared_by, app.prepared_by_id, app.submitted_by, app.assigned_to) == (
        "Clara",
        clerk.user_id,
        None,
        None,
    )
    assert app.due_date == TODAY + timedelta(days=5)  # the default service level of a draft
    assert (app.age_in_state_days, app.overdue, app.version) == (0, False, 1)
    assert app.checklist_template_id is not None
    assert _audit(db, app.id, "state") == [(None, DRAFT)]
    assert _audit(db, app.id, "checklist") == [(None, "Standard")]


def test_given_values_win_over_the_customers_and_numbers_count_up(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    cid = _customer(db, admin)
    first = _new(db, clerk)
    second = ca.create_application(
        db,
        clerk,
        {
            "customer_id": cid,
            "requested_limit": Decimal("40000.50"),
            "applicant_name": "C-1 Trading (Berlin branch)",
            "requested_terms_code": "net30",
            "years_in_business": 12,
            "bureau_score": "640",
            "net_worth": "-1,500.25",
            "financials_date": date(2024, 12, 31),
            "requested_temporary_until": "31.03.2025",
        },
    )
    assert (first.number, second.number) == ("CA-000001", "CA-000002")
    assert (first.kind, first.currency, first.requested_terms_code) == (
        "new_customer",
        "EUR",
        "NET30",
    )
    assert second.applicant_name == "C-1 Trading (Berlin branch)"
    assert second.requested_terms_code == "NET30"
    assert (second.years_in_business, second.bureau_score) == (12, 640)
    assert second.net_worth == Decimal("-1500.25")
    assert (second.financials_date, second.requested_temporary_until) == (
        date(2024, 12, 31),
        date(2025, 3, 31),
    )


def test_bad_values_are_named_field_by_field_and_nothing_is_saved(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ca.create_application(
            db,
            clerk,
            {
                "applicant_name": "  ",
                "customer_number": "",
                "requested_limit": "0",
                "currency": "EURO",
                "requested_terms_code": "NET999",
                "annual_revenue": "-5",
                "current_assets": "12.345",
                "years_in_business": 301,
                "bureau_score": "1001",
                "financials_date": date(1899, 12, 31),
                "requested_temporary_until": "tomorrow",
                "email": "not-an-address",
                "colour": "red",
            },
        )
    problems = _problems(caught)
    assert set(problems) == {
        "applicant_name",
        "customer_number",
        "requested_limit",
        "currency",
        "requested_terms_code",
        "annual_revenue",
        "current_assets",
        "years_in_business",
        "bureau_score",
        "financials_date",
        "requested_temporary_until",
        "email",
        "colour",
    }
    assert problems["applicant_name"] == "required"
    assert problems["requested_limit"] == "must be more than zero"
    assert problems["annual_revenue"] == "cannot be negative"
    assert problems["years_in_business"] == "a whole number from 0 to 300"
    assert problems["bureau_score"] == "a whole number from 0 to 1000"
    assert "1900" in problems["financials_date"]
    assert problems["colour"] == "no such application field"
    with db.read() as session:
        assert session.scalar(select(CreditApplication.id)) is None


def test_amounts_get_the_currencys_decimals_and_never_floats(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _new(db, clerk, currency="JPY", requested_limit="1000.50", annual_revenue=12.5)
    problems = _problems(caught)
    assert problems["requested_limit"] == "JPY amounts have at most 0 decimals"
    assert problems["annual_revenue"] == "must be an exact Decimal, not a float"
    assert _new(db, clerk, currency="JPY", requested_limit="1000000").requested_limit == Decimal(
        "1000000"
    )


@pytest.mark.parametrize("raw", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")])
def test_an_amount_that_is_no_number_is_named_not_a_traceback(
    db: Database, admin: Actor, clerk: Actor, raw: Decimal
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _new(db, clerk, requested_limit=raw, net_worth=raw.copy_negate())
    assert _problems(caught) == {"requested_limit": "not a number", "net_worth": "not a number"}
    app = _new(db, clerk)
    with pytest.raises(ValidationFailed) as caught:
        ca.add_reference(db, clerk, app.id, {"kind": "trade", "name": "T", "highest_credit": raw})
    assert _problems(caught) == {"highest_credit": "not a number"}


def test_a_new_customers_number_must_be_free_of_customers_and_open_applications(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    _customer(db, admin, "C-1")
    with pytest.raises(ValidationFailed) as caught:
        _new(db, clerk, "C-1")
    assert _problems(caught) == {"customer_number": "a customer already has this number"}
    with pytest.raises(ValidationFailed) as caught:
        ca.create_application(
            db, clerk, {"applicant_name": "Nameless number", "requested_limit": "100"}
        )
    assert _problems(caught) == {"customer_number": "required for a new customer"}
    first = _new(db, clerk, "N-1")
    with pytest.raises(ValidationFailed) as caught:
        _new(db, clerk, "N-1")
    assert "CA-000001" in _problems(caught)["customer_number"]
    ca.withdraw(db, clerk, first.id, first.version, "duplicate")
    assert _new(db, clerk, "N-1").number == "CA-000002"


def test_the_number_is_checked_again_at_submission(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk, "N-7")
    _customer(db, admin, "N-7")  # somebody created the customer meanwhile
    with pytest.raises(ValidationFailed) as caught:
        ca.submit(db, clerk, app.id, app.version)
    assert _problems(caught) == {"customer_number": "a customer already has this number"}
    assert ca.get_application(db, clerk, app.id).state == DRAFT


def test_one_open_application_per_customer(db: Database, admin: Actor, clerk: Actor) -> None:
    cid = _customer(db, admin)
    first = ca.create_application(db, clerk, {"customer_id": cid, "requested_limit": "30000"})
    with pytest.raises(ValidationFailed) as caught:
        ca.create_application(db, clerk, {"customer_id": cid, "requested_limit": "50000"})
    assert "CA-000001 (draft)" in _problems(caught)["customer_id"]
    ca.withdraw(db, clerk, first.id, first.version, "wrong amount")
    again = ca.create_application(db, clerk, {"customer_id": cid, "requested_limit": "50000"})
    assert again.number == "CA-000002"


def test_a_limit_change_stays_the_customers(db: Database, admin: Actor, clerk: Actor) -> None:
    cid = _customer(db, admin)
    with pytest.raises(ValidationFailed) as caught:
        ca.create_application(
            db,
            clerk,
            {
                "customer_id": cid,
                "requested_limit": "1000",
                "currency": "USD",
                "customer_number": "X",
            },
        )
    assert set(_problems(caught)) == {"currency", "customer_number"}
    with pytest.raises(ValidationFailed) as caught:
        ca.create_application(db, clerk, {"customer_id": 999, "requested_limit": "1000"})
    assert _problems(caught) == {"customer_id": "no such customer"}


def test_collectors_may_neither_prepare_nor_see_applications(
    db: Database, admin: Actor, clerk: Actor, collector: Actor
) -> None:
    with pytest.raises(PermissionDenied, match="prepare credit applications"):
        _new(db, collector)
    app = _new(db, clerk)
    with pytest.raises(PermissionDenied, match="may not see credit applications"):
        ca.get_application(db, collector, app.id)
    with pytest.raises(NotFound):
        ca.get_application(db, clerk, app.id + 100)


def test_the_view_carries_every_column_of_the_tables() -> None:
    view_fields = {f.name for f in dataclasses.fields(ca.ApplicationView)}
    assert set(CreditApplication.__table__.columns.keys()) <= view_fields
    reference_fields = {f.name for f in dataclasses.fields(ca.ReferenceView)}
    assert set(ApplicationReference.__table__.columns.keys()) == reference_fields
    assert set(ca.EDITABLE_FIELDS) <= set(CreditApplication.__table__.columns.keys())


# ---------------------------------------------------------------------------------------------
# Editing
# ---------------------------------------------------------------------------------------------


def test_edits_are_saved_audited_and_versioned(db: Database, admin: Actor, clerk: Actor) -> None:
    app = _new(db, clerk)
    edited = ca.update_application(
        db, clerk, app.id, app.version, {"annual_revenue": "1,250,000", "requested_limit": "20000"}
    )
    assert edited.annual_revenue == Decimal("1250000.00")
    assert edited.version == app.version + 1
    assert _audit(db, app.id, "annual_revenue") == [(None, "1250000.00")]
    assert _audit(db, app.id, "requested_limit") == [(None, "20000.00")]  # only on creation
    same = ca.update_application(db, clerk, app.id, edited.version, {"requested_limit": "20000"})
    assert same.version == edited.version


def test_a_stale_edit_names_who_changed_it(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    app = _new(db, clerk)
    ca.update_application(db, manager, app.id, app.version, {"bureau_score": 700})
    with pytest.raises(ConflictError, match="maria") as caught:
        ca.update_application(db, clerk, app.id, app.version, {"bureau_score": 650})
    assert caught.value.details.their_values == {"bureau_score": "700"}
    with pytest.raises(ConflictError):
        ca.submit(db, clerk, app.id, app.version)
    with pytest.raises(ConflictError):
        ca.withdraw(db, clerk, app.id, app.version, "stale")


@pytest.mark.parametrize("state", [DRAFT, SUBMITTED, IN_VERIFICATION])
def test_editable_while_prepared_and_verified(
    db: Database, admin: Actor, clerk: Actor, state: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), state)
    edited = ca.update_application(db, clerk, app.id, app.version, {"notes": "Called the CFO"})
    assert (edited.notes, edited.state) == ("Called the CFO", state)


@pytest.mark.parametrize("state", [PENDING_APPROVAL, WITHDRAWN])
def test_not_editable_at_the_approvers_desk_or_when_closed(
    db: Database, admin: Actor, clerk: Actor, state: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), state)
    with pytest.raises(ValidationFailed) as caught:
        ca.update_application(db, clerk, app.id, app.version, {"notes": "late"})
    assert "state" in _problems(caught)
    with pytest.raises(ValidationFailed):
        ca.add_reference(db, clerk, app.id, {"kind": "bank", "name": "Late Bank"})


# ---------------------------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------------------------


def test_the_main_path_records_submitter_and_audits_every_move(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    app = _new(db, clerk)
    submitted = ca.submit(db, clerk, app.id, app.version)
    assert (submitted.state, submitted.submitted_by, submitted.submitted_by_id) == (
        SUBMITTED,
        "Clara",
        clerk.user_id,
    )
    assert submitted.submitted_at is not None
    verifying = ca.start_verification(db, manager, app.id, submitted.version)
    assert verifying.assigned_to == "Maria"  # taken by whoever starts verifying
    set_items(db, app.id, ITEM_VERIFIED)
    pending = ca.send_to_approval(db, manager, app.id, verifying.version)
    back = ca.return_to_verification(db, manager, app.id, pending.version, "tax ID unreadable")
    assert back.state == IN_VERIFICATION
    assert _audit(db, app.id, "state") == [
        (None, DRAFT),
        (DRAFT, SUBMITTED),
        (SUBMITTED, IN_VERIFICATION),
        (IN_VERIFICATION, PENDING_APPROVAL),
        (PENDING_APPROVAL, IN_VERIFICATION),
    ]
    assert _audit(db, app.id, "reason") == [(None, "tax ID unreadable")]


@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdrawn_from_every_open_state_with_a_reason(
    db: Database, admin: Actor, clerk: Actor, state: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), state)
    with pytest.raises(ValidationFailed) as caught:
        ca.withdraw(db, clerk, app.id, app.version, "   ")
    assert "reason" in _problems(caught)
    gone = ca.withdraw(db, clerk, app.id, app.version, "customer went elsewhere")
    assert (gone.state, gone.due_date, gone.overdue) == (WITHDRAWN, None, False)
    assert _audit(db, app.id, "reason") == [(None, "customer went elsewhere")]
    with pytest.raises(ca.TransitionRefused, match="closed"):
        ca.withdraw(db, clerk, app.id, gone.version, "again")


def test_return_to_verification_needs_a_reason(db: Database, admin: Actor, clerk: Actor) -> None:
    app = _to(db, clerk, _new(db, clerk), PENDING_APPROVAL)
    with pytest.raises(ValidationFailed) as caught:
        ca.return_to_verification(db, clerk, app.id, app.version, "")
    assert "reason" in _problems(caught)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (start, target)
        for start in (*OPEN_STATES, WITHDRAWN)
        for target in APPLICATION_STATES
        if target not in ca.ALLOWED_TRANSITIONS.get(start, ())
    ],
)
def test_every_move_not_allowed_is_refused(
    db: Database, admin: Actor, clerk: Actor, start: str, target: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), start)
    with pytest.raises(ca.TransitionRefused, match=app.number), db.write() as session:
        row = session.get(CreditApplication, app.id)
        ca.set_state_in_session(session, clerk, row, target)
    assert ca.get_application(db, clerk, app.id).version == app.version


@pytest.mark.parametrize("decided", [APPROVED, CONDITIONALLY_APPROVED, DECLINED])
def test_decisions_close_an_application_pending_approval(
    db: Database, admin: Actor, clerk: Actor, manager: Actor, decided: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), PENDING_APPROVAL)
    with db.write() as session:
        row = session.get(CreditApplication, app.id)
        ca.set_state_in_session(session, manager, row, decided)
    closed = ca.get_application(db, clerk, app.id)
    assert (closed.state, closed.due_date, closed.version) == (decided, None, app.version + 1)
    assert _audit(db, app.id, "state")[-1] == (PENDING_APPROVAL, decided)
    for target in APPLICATION_STATES:
        with pytest.raises(ca.TransitionRefused), db.write() as session:
            row = session.get(CreditApplication, app.id)
            ca.set_state_in_session(session, manager, row, target)


def test_shortcuts_through_the_public_functions_are_refused(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk)
    with pytest.raises(ca.TransitionRefused, match="draft"):
        ca.start_verification(db, clerk, app.id, app.version)
    with pytest.raises(ca.TransitionRefused):
        ca.send_to_approval(db, clerk, app.id, app.version)
    with pytest.raises(ca.TransitionRefused):
        ca.return_to_verification(db, clerk, app.id, app.version, "why")


@pytest.mark.parametrize("status", [ITEM_PENDING, ITEM_RECEIVED, ITEM_REJECTED])
def test_a_required_item_not_done_keeps_it_from_approval(
    db: Database, admin: Actor, clerk: Actor, status: str
) -> None:
    app = _to(db, clerk, _new(db, clerk), IN_VERIFICATION)
    set_items(db, app.id, ITEM_VERIFIED)
    set_items(db, app.id, status, "bank_reference", "tax_id")
    with pytest.raises(ValidationFailed) as caught:
        ca.send_to_approval(db, clerk, app.id, app.version)
    assert [p.message for p in caught.value.problems] == [
        "Bank reference: required, neither verified nor waived",
        "Tax ID verified: required, neither verified nor waived",
    ]
    assert {p.field for p in caught.value.problems} == {"checklist"}
    assert ca.get_application(db, clerk, app.id).state == IN_VERIFICATION


def test_verified_or_waived_items_let_it_pass_and_optional_ones_never_block(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _to(db, clerk, _new(db, clerk), IN_VERIFICATION)
    set_items(db, app.id, ITEM_VERIFIED)
    set_items(db, app.id, ITEM_WAIVED, "bank_reference")
    set_items(db, app.id, ITEM_PENDING, "bureau_report", "insurance_certificate")  # optional
    moved = ca.send_to_approval(db, clerk, app.id, app.version)
    assert moved.state == PENDING_APPROVAL


def test_due_dates_follow_the_service_level_of_each_state(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    credit_policy.set_policy(
        db,
        admin,
        {"sla_days": {"draft": 10, "submitted": 1, "in_verification": 7, "pending_approval": 3}},
    )
    app = _new(db, clerk)
    assert app.due_date == TODAY + timedelta(days=10)
    app = ca.submit(db, clerk, app.id, app.version)
    assert app.due_date == TODAY + timedelta(days=1)
    app = ca.start_verification(db, clerk, app.id, app.version)
    assert app.due_date == TODAY + timedelta(days=7)
    set_items(db, app.id, ITEM_VERIFIED)
    app = ca.send_to_approval(db, clerk, app.id, app.version)
    assert app.due_date == TODAY + timedelta(days=3)
    assert [new for _old, new in _audit(db, app.id, "due_date")] == [
        (TODAY + timedelta(days=days)).isoformat() for days in (1, 7, 3)
    ]


def test_age_in_state_and_overdue_come_from_the_state_change(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk)
    with db.write() as session:
        row = session.get(CreditApplication, app.id)
        row.state_changed_at = row.state_changed_at - timedelta(days=9)
        row.due_date = TODAY - timedelta(days=4)
    aged = ca.get_application(db, clerk, app.id)
    assert (aged.age_in_state_days, aged.overdue) == (9, True)
    submitted = ca.submit(db, clerk, app.id, aged.version)
    assert (submitted.age_in_state_days, submitted.overdue) == (0, False)


# ---------------------------------------------------------------------------------------------
# Assignment and references
# ---------------------------------------------------------------------------------------------


def test_assign_to_an_office_user_and_back_to_nobody(
    db: Database, admin: Actor, clerk: Actor, collector: Actor, manager: Actor
) -> None:
    app = _new(db, clerk)
    given = ca.assign(db, clerk, app.id, app.version, manager.user_id)
    assert (given.assigned_to, given.assigned_to_id) == ("Maria", manager.user_id)
    with pytest.raises(ValidationFailed, match="works no credit applications"):
        ca.assign(db, clerk, app.id, given.version, collector.user_id)
    with pytest.raises(ValidationFailed, match="no active user"):
        ca.assign(db, clerk, app.id, given.version, 9999)
    with pytest.raises(ConflictError):
        ca.assign(db, clerk, app.id, app.version, None)
    cleared = ca.assign(db, clerk, app.id, given.version, None)
    assert cleared.assigned_to is None
    assert _audit(db, app.id, "assigned_to_id") == [
        (None, str(manager.user_id)),
        (str(manager.user_id), None),
    ]


def test_references_are_added_checked_and_removed(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    app = _new(db, clerk)
    trade = ca.add_reference(
        db,
        clerk,
        app.id,
        {
            "kind": "Trade",
            "name": " Steel Supplies AG ",
            "contact_name": "Petra Paul",
            "email": "petra@steel.example",
            "years_known": "6",
            "highest_credit": "25,000",
        },
    )
    assert (trade.kind, trade.name, trade.years_known, trade.highest_credit) == (
        "trade",
        "Steel Supplies AG",
        6,
        Decimal("25000.00"),
    )
    bank = ca.add_reference(db, clerk, app.id, {"kind": "bank", "name": "Hausbank"})
    assert [r.name for r in ca.get_application(db, clerk, app.id).references] == [
        "Steel Supplies AG",
        "Hausbank",
    ]
    rated = ca.update_reference(db, manager, trade.id, trade.version, {"rating": "Good"})
    assert (rated.rating, rated.version) == ("good", trade.version + 1)
    with pytest.raises(ConflictError, match="maria"):
        ca.update_reference(db, clerk, trade.id, trade.version, {"rating": "poor"})
    with pytest.raises(ValidationFailed) as caught:
        ca.update_reference(
            db,
            clerk,
            rated.id,
            rated.version,
            {"rating": "excellent", "kind": "", "highest_credit": "1.001", "years_known": -1},
        )
    assert set(_problems(caught)) == {"rating", "kind", "highest_credit", "years_known"}
    with pytest.raises(ValidationFailed) as caught:
        ca.add_reference(db, clerk, app.id, {"kind": "friend", "colour": "red"})
    assert set(_problems(caught)) == {"kind", "name", "colour"}
    ca.remove_reference(db, clerk, bank.id, bank.version)
    assert [r.name for r in ca.get_application(db, clerk, app.id).references] == [
        "Steel Supplies AG"
    ]
    with pytest.raises(NotFound):
        ca.remove_reference(db, clerk, bank.id, bank.version)
    with db.read() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.table_name == "application_references")
            .distinct()
        ).all()
    assert set(actions) == {"create", "update", "delete"}


@pytest.mark.parametrize("bad", [True, "1", 2**40, 1.0])
def test_an_id_that_cannot_be_a_row_is_not_found(
    db: Database, admin: Actor, clerk: Actor, bad: Any
) -> None:
    """Not a driver error: PostgreSQL refuses 2**40 for an INTEGER column."""
    app = _new(db, clerk)
    calls: list[Callable[[], object]] = [
        lambda: ca.get_application(db, clerk, bad),
        lambda: ca.update_application(db, clerk, bad, 1, {"notes": "x"}),
        lambda: ca.submit(db, clerk, bad, 1),
        lambda: ca.withdraw(db, clerk, bad, 1, "why"),
        lambda: ca.assign(db, clerk, bad, 1, None),
        lambda: ca.assign(db, clerk, app.id, app.version, bad),
        lambda: ca.add_reference(db, clerk, bad, {"kind": "bank", "name": "B"}),
        lambda: ca.update_reference(db, clerk, bad, 1, {"name": "B"}),
        lambda: ca.remove_reference(db, clerk, bad, 1),
        lambda: ca.create_application(db, clerk, {"customer_id": bad, "requested_limit": "1"}),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert ca.get_application(db, clerk, app.id).version == app.version


def test_only_the_credit_office_touches_references(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = _new(db, clerk)
    colin = add_user(db, admin, "colin2", Role.COLLECTOR)
    with pytest.raises(PermissionDenied):
        ca.add_reference(db, colin, app.id, {"kind": "bank", "name": "Bank"})


# ---------------------------------------------------------------------------------------------
# A stored score and a first approval do not outlive what they were based on
# ---------------------------------------------------------------------------------------------

_SCORE = ("score", "risk_class", "recommended_limit", "score_detail", "scorecard_id")


def _scored(db: Database, actor: Actor, application_id: int) -> ca.ApplicationView:
    scorecards.score_application(db, actor, application_id)
    view = ca.get_application(db, actor, application_id)
    assert all(getattr(view, name) is not None for name in _SCORE)
    return view


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("net_worth", "600000"),
        ("years_in_business", 9),
        ("bureau_score", "650"),
        ("expected_monthly_purchases", "1000"),
        ("requested_terms_code", "NET60"),
    ],
)
def test_a_change_the_scorecard_reads_clears_the_stored_score(
    db: Database, admin: Actor, clerk: Actor, field: str, value: Any
) -> None:
    app = _new(db, clerk, net_worth="500000", years_in_business=7, bureau_score=700)
    scored = _scored(db, clerk, app.id)
    kept = ca.update_application(
        db, clerk, app.id, scored.version, {"notes": "called the CFO", "requested_limit": "25000"}
    )
    assert [getattr(kept, n) for n in _SCORE] == [getattr(scored, n) for n in _SCORE]
    edited = ca.update_application(db, clerk, app.id, kept.version, {field: value})
    assert [getattr(edited, n) for n in _SCORE] == [None] * len(_SCORE)
    assert edited.version == kept.version + 1  # the edit and the cleared score: one step
    assert _audit(db, app.id, "score")[-1] == (format(scored.score, "f"), None)
    assert _audit(db, app.id, "risk_class")[-1] == (scored.risk_class, None)


def test_a_trade_reference_change_clears_the_stored_score(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    app = _new(db, clerk)
    bank = ca.add_reference(db, clerk, app.id, {"kind": "bank", "name": "Hausbank"})
    scored = _scored(db, clerk, app.id)
    ca.update_reference(db, manager, bank.id, bank.version, {"rating": "good"})
    assert ca.get_application(db, clerk, app.id).score == scored.score  # bank: not scored
    trade = ca.add_reference(db, clerk, app.id, {"kind": "trade", "name": "Steel AG"})
    assert ca.get_application(db, clerk, app.id).score is None
    _scored(db, clerk, app.id)
    rated = ca.update_reference(db, manager, trade.id, trade.version, {"rating": "good"})
    assert ca.get_application(db, clerk, app.id).score is None
    _scored(db, clerk, app.id)
    ca.remove_reference(db, clerk, rated.id, rated.version)
    assert ca.get_application(db, clerk, app.id).score is None
    cleared = [pair for pair in _audit(db, app.id, "score") if pair[1] is None]
    assert len(cleared) == 3


@pytest.mark.parametrize("leave", [WITHDRAWN, IN_VERIFICATION])
def test_a_first_approval_awaiting_its_second_goes_when_the_application_leaves_approval(
    db: Database, admin: Actor, clerk: Actor, manager: Actor, leave: str
) -> None:
    app = _to(db, clerk, _new(db, clerk, requested_limit="60000"), PENDING_APPROVAL)
    approval = credit_decisions.DecisionInput("approved", "figures fine", credit_limit="60000")
    assert credit_decisions.decide(db, manager, app.id, app.version, approval).awaiting_second
    version = ca.get_application(db, clerk, app.id).version
    if leave == WITHDRAWN:
        ca.withdraw(db, clerk, app.id, version, "went elsewhere")
    else:
        ca.return_to_verification(db, clerk, app.id, version, "went elsewhere")
    assert credit_decisions.get_decision(db, clerk, app.id) is None
    with db.read() as session:
        removed = {
            row.field: (row.old_value, row.new_value)
            for row in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.table_name == "credit_decisions", AuditEntry.action == "delete"
                )
            )
        }
    assert removed["credit_limit"] == ("60000.00", None)
    assert removed["first_approver_id"] == (str(manager.user_id), None)
    assert removed["removed"] == (None, f"{leave.replace('_', ' ')}: went elsewhere")


def test_states_are_the_models() -> None:
    assert set(ca.ALLOWED_TRANSITIONS) == set(OPEN_STATES)
    targets = {t for moves in ca.ALLOWED_TRANSITIONS.values() for t in moves}
    assert set(CLOSED_STATES) <= targets


# ---------------------------------------------------------------------------------------------
# Two clerks at the same moment
# ---------------------------------------------------------------------------------------------


def _race(db: Database, jobs: list[Callable[[], str]]) -> list[str]:
    """Run the jobs in threads started together. On PostgreSQL a third connection first holds
    the applications' advisory lock until every thread waits for it, so the race is real; on
    SQLite the write lock (BEGIN IMMEDIATE) queues them anyway."""
    results: list[str] = []
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], str]) -> None:
        barrier.wait()
        try:
            results.append(job())
        except ValidationFailed as exc:
            results.append(f"refused: {exc.problems[0].message}")

    holder = db.engine.connect() if db.kind == "postgresql" else None
    if holder is not None:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ca._ADVISORY_LOCK})
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    if holder is not None:
        deadline = time.monotonic() + 10
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event = 'advisory'"
        )
        while holder.execute(waiting).scalar_one() < len(jobs):
            holder.commit()  # a new statistics snapshot; the session-level lock stays held
            assert time.monotonic() < deadline, "the clerks never queued on the lock"
            time.sleep(0.02)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ca._ADVISORY_LOCK})
        holder.close()
    for thread in threads:
        thread.join(30)
    return sorted(results)


def test_simultaneous_applications_get_distinct_numbers_and_one_per_customer(
    db: Database, admin: Actor, clerk: Actor, manager: Actor
) -> None:
    cid = _customer(db, admin)

    def limit_change(actor: Actor) -> Callable[[], str]:
        return lambda: (
            ca.create_application(
                db, actor, {"customer_id": cid, "requested_limit": "30000"}
            ).number
        )

    def newco(actor: Actor, number: str) -> Callable[[], str]:
        return lambda: _new(db, actor, number).number

    results = _race(db, [limit_change(clerk), limit_change(manager)])
    assert results[0] == "CA-000001"
    assert results[1].startswith("refused: C-1 already has open application CA-000001")
    results = _race(db, [newco(clerk, "N-1"), newco(manager, "N-1"), newco(admin, "N-2")])
    assert results[:2] == ["CA-000002", "CA-000003"]
    assert results[2].startswith("refused: open application CA-00000")
