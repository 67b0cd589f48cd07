"""Deciding applications: authority bands (clerk refused, manager 50,000 alone, 50,000.01 with a
second approver, 250,000.01 refused, a user's own row over the role), four eyes (preparer,
submitter, one person with both roles, the first approver confirming), the customer updated or
created in the same transaction with audit rows and a timeline note, temporary limits, defaults,
validation, send-back, and that a refusal writes nothing (both engines)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

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
    Activity,
    AuditEntry,
    CreditApplication,
    CreditDecision,
    Customer,
    Document,
    Role,
)
from o2c_desktop.services import credit_applications as apps
from o2c_desktop.services import credit_authority, customers, scorecards
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.credit_applications import TransitionRefused
from o2c_desktop.services.credit_decisions import (
    DecisionInput,
    confirm_decision,
    decide,
    get_decision,
    send_back,
)
from o2c_desktop.services.day_range import add_months
from tests.conftest import add_user
from tests.services.credit_support import (
    APPLICANT,
    existing_customer,
    limit_change,
    pending,
    tick_checklist,
    version,
)
from tests.services.test_concurrency import _race, _split

D = Decimal
TODAY = date.today()


def approve(limit: str, **more: Any) -> DecisionInput:
    return DecisionInput("approved", "figures and references fine", credit_limit=limit, **more)


def customer_row(db: Database, customer_id: int) -> dict[str, Any]:
    with db.read() as session:
        row = session.get(Customer, customer_id)
        assert row is not None
        return {
            "credit_limit": row.credit_limit,
            "risk_class": row.risk_class,
            "payment_terms_code": row.payment_terms_code,
            "next_review_date": row.next_review_date,
            "temporary_limit": row.temporary_limit,
            "temporary_limit_until": row.temporary_limit_until,
            "version": row.version,
        }


@pytest.fixture
def max_(db: Database, admin: Actor) -> Actor:
    """A second credit manager."""
    return add_user(db, admin, "max", Role.CREDIT_MANAGER)


# ---------------------------------------------------------------------------------------------
# Authority bands
# ---------------------------------------------------------------------------------------------


def test_manager_approves_50000_alone_and_the_customer_changes_with_it(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "50000")
    before = customer_row(db, app.customer_id)  # type: ignore[arg-type]
    decision = decide(db, manager, app.id, app.version, approve("50000"))
    assert (decision.complete, decision.awaiting_second, decision.first_approver) == (
        True,
        False,
        "Maria",
    )
    after = customer_row(db, app.customer_id)  # type: ignore[arg-type]
    # The application was scored on the way (no figures: class E) and its terms defaulted:
    # the requested (customer's) NET30, next review E's 3 months from today.
    assert after == {
        "credit_limit": D("50000.00"),
        "risk_class": decision.risk_class,
        "payment_terms_code": "NET30",
        "next_review_date": add_months(TODAY, 3),
        "temporary_limit": None,
        "temporary_limit_until": None,
        "version": before["version"] + 1,
    }
    assert decision.risk_class == "E"
    assert apps.get_application(db, clerk, app.id).state == "approved"
    with db.read() as session:
        audited = dict(
            session.execute(
                select(AuditEntry.field, AuditEntry.new_value).where(
                    AuditEntry.table_name == "customers",
                    AuditEntry.record_id == str(app.customer_id),
                    AuditEntry.action == "update",
                )
            ).all()
        )
        kind, body = session.execute(
            select(Activity.kind, Activity.body).where(Activity.customer_id == app.customer_id)
        ).one()
    assert audited["credit_limit"] == "50000.00"
    assert audited["risk_class"] == "E"
    assert audited["next_review_date"] == add_months(TODAY, 3).isoformat()
    assert kind == "credit"
    assert body == (
        f"Credit limit EUR 50,000.00 approved on {app.number} by Maria; risk class E; "
        f"terms NET30; next review {add_months(TODAY, 3).isoformat()}"
    )


def test_above_50000_waits_for_a_second_manager(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    app = limit_change(db, admin, clerk, "50000.01")
    first = decide(db, manager, app.id, app.version, approve("50000.01"))
    assert (first.complete, first.awaiting_second) == (False, True)
    assert apps.get_application(db, clerk, app.id).state == "pending_approval"
    assert customer_row(db, app.customer_id)["credit_limit"] == D("0.00")  # type: ignore[arg-type]
    # Not the first approver, not the preparer; and a second decision is refused.
    current = version(db, app.id)
    with pytest.raises(PermissionDenied, match="already approved"):
        confirm_decision(db, manager, app.id, current)
    with pytest.raises(PermissionDenied, match="four eyes"):
        confirm_decision(db, clerk, app.id, current)
    with pytest.raises(O2CError, match="awaits a second approver"):
        decide(db, max_, app.id, current, approve("1000"))
    done = confirm_decision(db, max_, app.id, current)
    assert (done.complete, done.first_approver, done.second_approver) == (True, "Maria", "Max")
    assert customer_row(db, app.customer_id)["credit_limit"] == D("50000.01")  # type: ignore[arg-type]
    assert get_decision(db, clerk, app.id) == done
    with db.read() as session:
        body = session.scalar(select(Activity.body).where(Activity.customer_id == app.customer_id))
    assert "by Maria and Max" in str(body)


def test_above_250000_is_refused_naming_person_authority_and_amount(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "250000.01")
    with pytest.raises(PermissionDenied) as caught:
        decide(db, manager, app.id, app.version, approve("250000.01"))
    assert str(caught.value) == (
        f"Maria may not approve application {app.number} for EUR 250,000.01: their approval "
        "authority is EUR 50,000.00 alone and EUR 250,000.00 with a second approver "
        "(role credit manager)."
    )
    # 250,000.00 exactly is within the joint band.
    assert not decide(db, manager, app.id, app.version, approve("250000")).complete


def test_a_temporary_limit_counts_in_the_amount(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    """40,000 with 60,000 until a later day: the amount is 60,000, above 50,000 alone."""
    app = limit_change(db, admin, clerk, "60000")
    until = TODAY + timedelta(days=90)
    decision = decide(
        db,
        manager,
        app.id,
        app.version,
        approve("40000", temporary_limit="60000", temporary_until=until),
    )
    assert decision.awaiting_second
    confirm_decision(db, max_, app.id, version(db, app.id))
    after = customer_row(db, app.customer_id)  # type: ignore[arg-type]
    assert (after["credit_limit"], after["temporary_limit"], after["temporary_limit_until"]) == (
        D("40000.00"),
        D("60000.00"),
        until,
    )


def test_a_second_approver_needs_authority_for_the_amount(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "200000")
    decide(db, manager, app.id, app.version, approve("200000"))
    small = add_user(db, admin, "sam", Role.CREDIT_CLERK)
    credit_authority.save_authority(
        db, admin, None, None, {"username": "sam", "currency": "EUR", "alone_max": "100000"}
    )
    with pytest.raises(PermissionDenied, match="Sam may not approve"):
        confirm_decision(db, small, app.id, version(db, app.id))


def test_clerk_has_no_authority_to_approve_or_decline(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "1000")
    other_clerk = add_user(db, admin, "carl", Role.CREDIT_CLERK)
    with pytest.raises(PermissionDenied, match=r"none in EUR \(no authority row\)"):
        decide(db, other_clerk, app.id, app.version, approve("1000"))
    with pytest.raises(PermissionDenied, match="may not decline"):
        decide(db, other_clerk, app.id, app.version, DecisionInput("declined", "weak"))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 0


def test_a_users_own_row_overrides_the_role(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    """Maria's own row: 10,000 alone, never jointly: 20,000 is refused; a clerk with an own
    row of 100,000 may approve 80,000 alone."""
    credit_authority.save_authority(
        db, admin, None, None, {"username": "maria", "currency": "EUR", "alone_max": "10000"}
    )
    app = limit_change(db, admin, clerk, "20000")
    with pytest.raises(PermissionDenied, match=r"EUR 10,000\.00 alone \(own authority\)"):
        decide(db, manager, app.id, app.version, approve("20000"))
    senior = add_user(db, admin, "sina", Role.CREDIT_CLERK)
    credit_authority.save_authority(
        db, admin, None, None, {"username": "sina", "currency": "EUR", "alone_max": "100000"}
    )
    assert decide(db, senior, app.id, app.version, approve("20000")).complete


def test_an_approval_grants_at_most_the_requested_limit(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    """10,000 requested (the "Standard" checklist): 250,000 is refused, and so is a temporary
    limit above the request; granting more means raising the request first."""
    app = limit_change(db, admin, clerk, "10000")
    until = TODAY + timedelta(days=30)
    with pytest.raises(ValidationFailed) as caught:
        decide(
            db,
            manager,
            app.id,
            app.version,
            approve("250000", temporary_limit="10000.01", temporary_until=until),
        )
    message = (
        "at most the EUR 10,000.00 requested; to grant more, raise the requested limit, which "
        "re-checks the checklist"
    )
    assert caught.value.for_field("credit_limit") == [message]
    assert caught.value.for_field("temporary_limit") == [message]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 0
    conditional = DecisionInput("conditional", "fine", credit_limit="10001", conditions="x")
    with pytest.raises(ValidationFailed, match=r"at most the EUR 10,000\.00 requested"):
        decide(db, manager, app.id, app.version, conditional)
    assert decide(db, manager, app.id, app.version, approve("10000")).credit_limit == D("10000")


def test_decide_scores_again_once_a_stale_score_was_cleared(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    """Scored B on the applicant's figures; back in verification the figures are removed, which
    clears the stored score: the decision's default risk class is a fresh score's, not the
    stale B: no figures left, only the missing points of bureau 10, days late 9 and promises
    6 -> 25.00, E."""
    app = pending(db, clerk)
    assert scorecards.score_application(db, manager, app.id).risk_class == "B"
    back = apps.return_to_verification(db, clerk, app.id, version(db, app.id), "figures wrong")
    figures = ("current_assets", "current_liabilities", "total_liabilities", "net_worth")
    cleared = {name: "" for name in (*figures, "years_in_business", "bureau_score")}
    edited = apps.update_application(db, clerk, app.id, back.version, cleared)
    assert (edited.score, edited.risk_class) == (None, None)
    again = apps.send_to_approval(db, clerk, app.id, edited.version)
    decision = decide(db, manager, app.id, again.version, approve("1000"))
    assert decision.risk_class == "E"
    with db.read() as session:
        row = session.get(CreditApplication, app.id)
        assert row is not None and (row.risk_class, row.score) == ("E", D("25.00"))


# ---------------------------------------------------------------------------------------------
# Four eyes
# ---------------------------------------------------------------------------------------------


def test_neither_preparer_nor_submitter_decides(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    # Maria prepares and Max submits: neither may decide; Paula may.
    prepared = pending(db, manager, {**APPLICANT, "customer_number": "N-1"}, submitter=max_)
    for who in (manager, max_):
        with pytest.raises(PermissionDenied, match="four eyes"):
            decide(db, who, prepared.id, prepared.version, approve("1000"))
    paula = add_user(db, admin, "paula", Role.CREDIT_MANAGER)
    assert decide(db, paula, prepared.id, prepared.version, approve("1000")).complete


def test_one_person_with_both_roles_cannot_approve_what_they_prepared(
    db: Database, admin: Actor, manager: Actor
) -> None:
    both = add_user(db, admin, "bo", Role.CREDIT_CLERK, Role.CREDIT_MANAGER)
    app = pending(db, both)
    with pytest.raises(PermissionDenied) as caught:
        decide(db, both, app.id, app.version, approve("1000"))
    assert str(caught.value) == (
        f"Bo prepared application {app.number} and may not decide it too (four eyes): another "
        "approver must."
    )
    assert decide(db, manager, app.id, app.version, approve("1000")).complete


def test_whoever_changed_the_request_or_sent_it_to_approval_does_not_decide(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    """Maria raised the requested limit during verification and Max sent the application to
    approval: neither may decide or confirm it; Paula, who did neither, may."""
    app = apps.create_application(db, clerk, APPLICANT)
    app = apps.submit(db, clerk, app.id, app.version)
    app = apps.start_verification(db, clerk, app.id, app.version)
    app = apps.update_application(db, manager, app.id, app.version, {"requested_limit": "90000"})
    tick_checklist(db, app.id)
    app = apps.send_to_approval(db, max_, app.id, version(db, app.id))
    with pytest.raises(PermissionDenied) as edited:
        decide(db, manager, app.id, app.version, approve("1000"))
    assert str(edited.value) == (
        f"Maria changed the request or figures of application {app.number} and may not decide "
        "it too (four eyes): another approver must."
    )
    with pytest.raises(PermissionDenied) as sent:
        decide(db, max_, app.id, app.version, approve("1000"))
    assert str(sent.value) == (
        f"Max sent application {app.number} to approval and may not decide it too (four eyes): "
        "another approver must."
    )
    paula = add_user(db, admin, "paula", Role.CREDIT_MANAGER)
    first = decide(db, paula, app.id, app.version, approve("90000"))
    assert first.awaiting_second
    for who in (manager, max_):
        with pytest.raises(PermissionDenied, match="four eyes"):
            confirm_decision(db, who, app.id, version(db, app.id))
    with db.read() as session:
        assert session.scalar(select(CreditDecision.complete)) is False


# ---------------------------------------------------------------------------------------------
# What a decision does
# ---------------------------------------------------------------------------------------------


def test_approving_a_new_customer_creates_it_in_the_same_transaction(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = pending(db, clerk)
    with db.write() as session:  # a document attached to the application
        session.add(
            Document(
                application_id=app.id,
                filename="accounts.pdf",
                content_type="application/pdf",
                size_bytes=3,
                sha256="0" * 64,
                content=b"pdf",
            )
        )
    decision = decide(
        db,
        manager,
        app.id,
        app.version,
        DecisionInput(
            "conditional",
            "young company",
            credit_limit="45000",
            risk_class="c",
            next_review_date=TODAY + timedelta(days=200),
            conditions="Personal guarantee of the managing director",
        ),
    )
    assert decision.complete and decision.terms_code == "NET45"  # the requested terms
    view = apps.get_application(db, clerk, app.id)
    assert view.state == "conditionally_approved"
    assert view.customer_id is not None
    detail = customers.get_customer(db, clerk, view.customer_id)
    values = detail.values
    assert (values["number"], values["name"], values["legal_name"], values["tax_id"]) == (
        "N-100",
        "Nordlicht Handel",
        "Nordlicht Handel GmbH",
        "DE123456789",
    )
    assert (values["city"], values["country"], values["currency"], values["payment_terms"]) == (
        "Hamburg",
        "DE",
        "EUR",
        "NET45",
    )
    assert (values["credit_limit"], values["risk_class"], values["next_review_date"]) == (
        D("45000.00"),
        "C",
        TODAY + timedelta(days=200),
    )
    with db.read() as session:
        assert session.scalar(select(Document.customer_id)) == view.customer_id
        created = session.scalars(
            select(AuditEntry.field).where(
                AuditEntry.table_name == "customers", AuditEntry.action == "create"
            )
        ).all()
        note = session.scalar(select(Activity.body).where(Activity.customer_id == view.customer_id))
    assert {"number", "name", "credit_limit", "risk_class"} <= set(created)
    assert "conditionally approved" in str(note)
    assert "conditions: Personal guarantee of the managing director" in str(note)


def test_declining_changes_nothing_but_the_timeline(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "30000")
    before = customer_row(db, app.customer_id)  # type: ignore[arg-type]
    decision = decide(
        db,
        manager,
        app.id,
        app.version,
        DecisionInput("declined", "three broken promises", credit_limit="999"),
    )
    assert (decision.outcome, decision.credit_limit, decision.complete) == ("declined", None, True)
    assert customer_row(db, app.customer_id) == before  # type: ignore[arg-type]
    assert apps.get_application(db, clerk, app.id).state == "declined"
    with db.read() as session:
        body = session.scalar(select(Activity.body).where(Activity.customer_id == app.customer_id))
    assert body == f"Credit application {app.number} declined by Maria: three broken promises"
    # A new applicant declined: no customer appears.
    fresh = pending(db, clerk)
    decide(db, manager, fresh.id, fresh.version, DecisionInput("declined", "no figures"))
    assert customers.find_customer_id(db, "N-100") is None


def test_validation_names_every_field(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "1000")
    bad = DecisionInput(
        "conditional",
        " ",
        credit_limit="12.345",
        temporary_limit="500",
        temporary_until=TODAY,
        risk_class="Q",
        terms_code="NET7",
        next_review_date=TODAY - timedelta(days=1),
    )
    with pytest.raises(ValidationFailed) as caught:
        decide(db, manager, app.id, app.version, bad)
    assert {p.field for p in caught.value.problems} == {
        "reason",
        "credit_limit",
        "temporary_until",
        "risk_class",
        "terms_code",
        "next_review_date",
        "conditions",
    }
    with pytest.raises(ValidationFailed) as caught:
        decide(db, manager, app.id, app.version, DecisionInput("maybe", "x"))
    assert caught.value.for_field("outcome")
    with pytest.raises(ValidationFailed) as caught:
        decide(db, manager, app.id, app.version, approve("", temporary_until=TODAY + timedelta(1)))
    assert {p.field for p in caught.value.problems} == {"credit_limit", "temporary_limit"}
    # Nothing was written, not even the score taken on the way.
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 0
        row = session.get(CreditApplication, app.id)
        assert row is not None and row.score is None and row.version == app.version


def test_state_and_version_are_checked(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    draft = apps.create_application(db, clerk, APPLICANT)
    with pytest.raises(TransitionRefused, match="only an application pending approval"):
        decide(db, manager, draft.id, draft.version, approve("1000"))
    app = limit_change(db, admin, clerk, "1000")
    with pytest.raises(ConflictError):
        decide(db, manager, app.id, app.version - 1, approve("1000"))


def test_send_back_lapses_a_first_approval(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    app = limit_change(db, admin, clerk, "60000")
    decide(db, manager, app.id, app.version, approve("60000"))
    with pytest.raises(ValidationFailed):
        send_back(db, max_, app.id, version(db, app.id), "  ")
    send_back(db, max_, app.id, version(db, app.id), "bank reference missing")
    assert get_decision(db, clerk, app.id) is None
    view = apps.get_application(db, clerk, app.id)
    assert view.state == "in_verification"
    again = apps.send_to_approval(db, clerk, app.id, view.version)
    # Decided afresh: Max alone within 50,000 this time.
    assert decide(db, max_, app.id, again.version, approve("50000")).complete
    with db.read() as session:
        reasons = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "credit_applications", AuditEntry.field == "reason"
            )
        ).all()
    assert "bank reference missing" in reasons


def test_a_first_approval_lapses_when_returned_to_verification(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    """Returned by the clerk (credit_applications) instead of sent back: the first approval
    no longer holds once the application comes back."""
    app = limit_change(db, admin, clerk, "60000")
    decide(db, manager, app.id, app.version, approve("60000"))
    back = apps.return_to_verification(db, clerk, app.id, version(db, app.id), "new figures")
    again = apps.send_to_approval(db, clerk, app.id, back.version)
    with pytest.raises(O2CError, match="No decision"):
        confirm_decision(db, max_, app.id, again.version)
    assert decide(db, max_, app.id, version(db, app.id), approve("30000")).complete


def test_a_number_taken_meanwhile_stops_the_whole_decision(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = pending(db, clerk)
    existing_customer(db, admin, "N-100")  # someone created the customer by hand since
    with pytest.raises(ValidationFailed) as caught:
        decide(db, manager, app.id, app.version, approve("1000"))
    assert caught.value.for_field("customer_number")
    assert apps.get_application(db, clerk, app.id).state == "pending_approval"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 0


def test_a_lapsed_first_approval_is_not_reported_as_awaiting(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    """Returned to verification or withdrawn: the first approval no longer awaits anyone."""
    app = limit_change(db, admin, clerk, "60000")
    assert decide(db, manager, app.id, app.version, approve("60000")).awaiting_second
    assert get_decision(db, clerk, app.id) is not None
    back = apps.return_to_verification(db, clerk, app.id, version(db, app.id), "new figures")
    assert get_decision(db, clerk, app.id) is None
    apps.withdraw(db, clerk, app.id, back.version, "customer withdrew")
    assert get_decision(db, clerk, app.id) is None


def test_bad_ids_and_amounts_are_refused_clearly(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    app = limit_change(db, admin, clerk, "1000")
    for bad_id in (2**40, True, "1", 0):
        with pytest.raises(NotFound):
            decide(db, manager, bad_id, 1, approve("1000"))  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            get_decision(db, clerk, bad_id)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            confirm_decision(db, manager, bad_id, 1)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            send_back(db, manager, bad_id, 1, "why")  # type: ignore[arg-type]
    weird = approve(D("NaN"), temporary_limit=D("Infinity"), temporary_until=TODAY + timedelta(9))
    with pytest.raises(ValidationFailed) as caught:
        decide(db, manager, app.id, app.version, weird)
    assert {"credit_limit", "temporary_limit"} <= {p.field for p in caught.value.problems}


def test_two_managers_deciding_at_once_one_wins(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, max_: Actor
) -> None:
    """Both decide the same version at the same moment (queued behind a lock on the
    application): one decision is made, the other gets a ConflictError, no driver error; then
    two second approvers confirm at once: again exactly one."""
    app = limit_change(db, admin, clerk, "60000")
    results = _race(
        db,
        "credit_applications",
        app.id,
        lambda: decide(db, manager, app.id, app.version, approve("60000")),
        lambda: decide(db, max_, app.id, app.version, approve("60000")),
    )
    won, lost = _split(results)
    assert (len(won), len(lost)) == (1, 1), results
    first = results[won[0]]
    assert first.awaiting_second
    paula = add_user(db, admin, "paula", Role.CREDIT_MANAGER)
    third = max_ if first.first_approver == "Maria" else manager
    current = version(db, app.id)
    results = _race(
        db,
        "credit_applications",
        app.id,
        lambda: confirm_decision(db, paula, app.id, current),
        lambda: confirm_decision(db, third, app.id, current),
    )
    won, lost = _split(results)
    assert (len(won), len(lost)) == (1, 1), results
    assert results[won[0]].complete
    assert apps.get_application(db, clerk, app.id).state == "approved"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 1
