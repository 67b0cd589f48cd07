"""The application queue (a clerk's own and the department's, filters, order, age and lateness)
and the review queue (periodic reviews, ending temporary limits, lapsing documents), and
starting a review."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import ApplicationChecklistItem, CreditApplication, Customer, Document
from o2c_desktop.models.credit import (
    APPROVED,
    DECLINED,
    DRAFT,
    IN_VERIFICATION,
    KIND_REVIEW,
    SUBMITTED,
    WITHDRAWN,
)
from o2c_desktop.services import credit_applications as ca
from o2c_desktop.services import credit_policy, customers
from o2c_desktop.services import credit_queue as cq
from o2c_desktop.services.auth import Actor

AS_OF = date(2025, 6, 15)


def day(n: int) -> date:
    return AS_OF + timedelta(days=n)


def _new(db: Database, actor: Actor, number: str, name: str, limit: str = "20000") -> int:
    return ca.create_application(
        db, actor, {"applicant_name": name, "customer_number": number, "requested_limit": limit}
    ).id


def _set(db: Database, application_id: int, **values: Any) -> None:
    with db.write() as session:
        session.execute(
            update(CreditApplication).where(CreditApplication.id == application_id).values(**values)
        )


def _noon(on: date) -> datetime:
    """Midday of a local day, as the aware time stamp the database keeps."""
    return datetime.combine(on, time(12)).astimezone(UTC)


def _numbers(rows: list[cq.QueueRow]) -> list[str]:
    return [r.number for r in rows]


@pytest.fixture
def queue(db: Database, admin: Actor, clerk: Actor, manager: Actor) -> dict[str, int]:
    """CA-000001 clara's, unassigned; CA-000002 maria's, given to clara; CA-000003 clara's,
    given to maria; CA-000004 clara's, withdrawn. Due dates set by hand (AS_OF is "today")."""
    one = _new(db, clerk, "N-1", "Alpha Newco")
    two = _new(db, manager, "N-2", "Beta 100% Steel")
    three = _new(db, clerk, "N-3", "Gamma Foods")
    four = _new(db, clerk, "N-4", "Delta Gone")
    for app_id, assignee in ((two, clerk), (three, manager)):
        app = ca.get_application(db, admin, app_id)
        ca.assign(db, admin, app_id, app.version, assignee.user_id)
    app = ca.get_application(db, admin, four)
    ca.withdraw(db, clerk, four, app.version, "duplicate")
    _set(db, one, due_date=day(3), state_changed_at=_noon(day(-14)))
    _set(db, two, due_date=day(-2), state_changed_at=_noon(day(-5)))
    _set(db, three, due_date=day(3), state_changed_at=_noon(day(0)))
    return {"one": one, "two": two, "three": three, "four": four}


def test_the_department_sees_every_open_application_most_urgent_first(
    db: Database, clerk: Actor, queue: dict[str, int]
) -> None:
    rows = cq.application_queue(db, clerk, cq.QueueQuery(), as_of=AS_OF)
    assert _numbers(rows) == ["CA-000002", "CA-000001", "CA-000003"]  # due date, then number
    by_number = {r.number: r for r in rows}
    two = by_number["CA-000002"]
    assert (two.applicant_name, two.kind, two.state, two.currency) == (
        "Beta 100% Steel",
        "new_customer",
        DRAFT,
        "EUR",
    )
    assert (two.assigned_to, two.prepared_by, two.requested_limit) == (
        "Clara",
        "Maria",
        Decimal("20000.00"),
    )
    assert (two.age_in_state_days, two.due_date, two.overdue) == (5, day(-2), True)
    one = by_number["CA-000001"]
    assert (one.age_in_state_days, one.overdue, one.assigned_to) == (14, False, None)
    assert by_number["CA-000003"].age_in_state_days == 0


def test_mine_is_assigned_to_me_or_prepared_by_me_while_nobody_is_assigned(
    db: Database, clerk: Actor, manager: Actor, admin: Actor, queue: dict[str, int]
) -> None:
    mine = cq.QueueQuery(scope="mine")
    assert _numbers(cq.application_queue(db, clerk, mine, as_of=AS_OF)) == [
        "CA-000002",
        "CA-000001",
    ]
    assert _numbers(cq.application_queue(db, manager, mine, as_of=AS_OF)) == ["CA-000003"]
    assert cq.application_queue(db, admin, mine, as_of=AS_OF) == []


def test_states_search_and_overdue_filter_in_sql(
    db: Database, clerk: Actor, queue: dict[str, int]
) -> None:
    def numbers(**query: Any) -> list[str]:
        return _numbers(cq.application_queue(db, clerk, cq.QueueQuery(**query), as_of=AS_OF))

    assert numbers(states=(WITHDRAWN,)) == ["CA-000004"]
    assert numbers(states=(DRAFT, WITHDRAWN)) == [
        "CA-000002",
        "CA-000001",
        "CA-000003",
        "CA-000004",
    ]
    assert numbers(states=(SUBMITTED,)) == []
    assert numbers(search="gamma") == ["CA-000003"]
    assert numbers(search="ca-000001") == ["CA-000001"]
    assert numbers(search="N-2") == ["CA-000002"]
    assert numbers(search="100%") == ["CA-000002"]  # a LIKE wildcard is taken literally
    assert numbers(search="newco alpha") == ["CA-000001"]  # every word must match
    assert numbers(search="alpha gamma") == []
    assert numbers(overdue_only=True) == ["CA-000002"]
    assert numbers(overdue_only=True, scope="mine", search="beta") == ["CA-000002"]
    assert numbers(limit=1) == ["CA-000002"]


def test_the_queue_is_the_credit_offices(
    db: Database, clerk: Actor, collector: Actor, queue: dict[str, int]
) -> None:
    with pytest.raises(PermissionDenied, match="may not see credit applications"):
        cq.application_queue(db, collector, cq.QueueQuery())
    with pytest.raises(PermissionDenied):
        cq.review_queue(db, collector)
    with pytest.raises(ValidationFailed) as caught:
        cq.application_queue(db, clerk, cq.QueueQuery(scope="team", states=("lost",)))
    assert {p.field for p in caught.value.problems} == {"scope", "states"}


# ---------------------------------------------------------------------------------------------
# Reviews
# ---------------------------------------------------------------------------------------------


def _customer(db: Database, actor: Actor, number: str, **extra: Any) -> int:
    values = {"number": number, "name": f"{number} Ltd", "credit_limit": "10000", **extra}
    return customers.create_customer(db, actor, values).id


def _temporary(db: Database, customer_id: int, amount: str, until: date) -> None:
    with db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(temporary_limit=Decimal(amount), temporary_limit_until=until)
        )


def _application_in(db: Database, actor: Actor, customer_id: int, state: str) -> int:
    app = ca.create_application(db, actor, {"customer_id": customer_id, "requested_limit": "5000"})
    _set(db, app.id, state=state, due_date=None)
    return app.id


def _document(
    db: Database,
    expires: date,
    *,
    application_id: int | None = None,
    code: str | None = None,
    customer_id: int | None = None,
    name: str = "file.pdf",
) -> int:
    with db.write() as session:
        item_id = None
        if code is not None:
            item_id = session.scalar(
                select(ApplicationChecklistItem.id).where(
                    ApplicationChecklistItem.application_id == application_id,
                    ApplicationChecklistItem.code == code,
                )
            )
        document = Document(
            application_id=application_id,
            checklist_item_id=item_id,
            customer_id=customer_id,
            filename=name,
            content_type="application/pdf",
            size_bytes=4,
            sha256="a" * 64,
            storage="database",
            content=b"%PDF",
            expires_on=expires,
        )
        session.add(document)
        session.flush()
        return document.id


def _kinds(items: list[cq.ReviewItem]) -> list[tuple[str, str, date]]:
    return [(i.kind, i.customer_number, i.due) for i in items]


def test_reviews_come_up_within_the_lead_unless_one_is_under_way(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    _customer(db, admin, "R-1", next_review_date=day(30), risk_class="B")
    _customer(db, admin, "R-2", next_review_date=day(31))
    _customer(db, admin, "R-3", next_review_date=day(-100))
    busy = _customer(db, admin, "R-4", next_review_date=day(5))
    _customer(db, admin, "R-5")
    _application_in(db, clerk, busy, IN_VERIFICATION)
    items = cq.review_queue(db, clerk, as_of=AS_OF)
    assert _kinds(items) == [
        ("review_due", "R-3", day(-100)),
        ("review_due", "R-1", day(30)),
    ]
    assert items[1].detail == "Periodic review (risk class B, limit EUR 10,000.00)"
    assert (items[1].application_id, items[1].document_id) == (None, None)
    credit_policy.set_policy(db, admin, {"review_lead_days": 31})
    assert [i.customer_number for i in cq.review_queue(db, clerk, as_of=AS_OF)] == [
        "R-3",
        "R-1",
        "R-2",
    ]


def test_temporary_limits_come_up_before_they_end_and_for_a_week_after(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    for number, until in (("T-1", day(-8)), ("T-2", day(-7)), ("T-3", day(30)), ("T-4", day(31))):
        _temporary(db, _customer(db, admin, number), "25000", until)
    items = cq.review_queue(db, clerk, as_of=AS_OF)
    assert _kinds(items) == [
        ("temporary_limit_expiring", "T-2", day(-7)),
        ("temporary_limit_expiring", "T-3", day(30)),
    ]
    assert items[0].detail == "Temporary limit EUR 25,000.00 ends; then EUR 10,000.00 applies"


def test_documents_come_up_before_they_lapse(db: Database, admin: Actor, clerk: Actor) -> None:
    c1 = _customer(db, admin, "D-1")
    c2 = _customer(db, admin, "D-2")
    c3 = _customer(db, admin, "D-3")
    approved = _application_in(db, clerk, c1, APPROVED)
    insured = _document(
        db, day(20), application_id=approved, code="insurance_certificate", name="policy.pdf"
    )
    _document(db, day(31), application_id=approved, code="financial_statements")
    withdrawn = _application_in(db, clerk, c2, WITHDRAWN)
    _document(db, day(5), application_id=withdrawn, code="insurance_certificate")
    declined = _application_in(db, clerk, c2, DECLINED)
    _document(db, day(5), application_id=declined, code="insurance_certificate")
    # Statements replaced by newer ones (on a later application) no longer come up.
    old = _application_in(db, clerk, c3, APPROVED)
    _document(db, day(10), application_id=old, code="financial_statements", name="fs2023.pdf")
    new = _application_in(db, clerk, c3, APPROVED)
    _document(db, day(400), application_id=new, code="financial_statements", name="fs2024.pdf")
    loose = _document(db, day(-3), customer_id=c2, name="guarantee.pdf")
    no_customer = ca.create_application(
        db, clerk, {"applicant_name": "Newco", "customer_number": "N-1", "requested_limit": "9"}
    )
    _document(db, day(1), application_id=no_customer.id, code="tax_id")
    # Replaced by a document filed under the customer itself (its application has none).
    c4 = _customer(db, admin, "D-4")
    _document(db, day(12), application_id=_application_in(db, clerk, c4, APPROVED), code="tax_id")
    _document(db, day(300), application_id=no_customer.id, code="tax_id", customer_id=c4)
    # A later document on a withdrawn application replaces nothing.
    c5 = _customer(db, admin, "D-5")
    kept = _application_in(db, clerk, c5, APPROVED)
    _document(db, day(14), application_id=kept, code="insurance_certificate")
    gone = _application_in(db, clerk, c5, WITHDRAWN)
    _document(db, day(300), application_id=gone, code="insurance_certificate")
    items = cq.review_queue(db, clerk, as_of=AS_OF)
    assert _kinds(items) == [
        ("document_expiring", "D-2", day(-3)),
        ("document_expiring", "D-5", day(14)),
        ("document_expiring", "D-1", day(20)),
    ]
    assert (items[0].document_id, items[0].application_id) == (loose, None)
    assert items[0].detail == f"Document (guarantee.pdf) expired {day(-3).isoformat()}"
    assert (items[2].document_id, items[2].application_id) == (insured, approved)
    assert items[2].detail == (
        f"Credit insurance certificate (policy.pdf) expires {day(20).isoformat()}"
    )
    credit_policy.set_policy(db, admin, {"document_lead_days": 31})
    assert len(cq.review_queue(db, clerk, as_of=AS_OF)) == 4


def test_start_review_prefills_from_the_customer_and_takes_it_off_the_queue(
    db: Database, admin: Actor, clerk: Actor
) -> None:
    cid = _customer(db, admin, "R-1", next_review_date=day(3), segment="Retail", country="FR")
    assert len(cq.review_queue(db, clerk, as_of=AS_OF)) == 1
    review = cq.start_review(db, clerk, cid)
    assert (review.kind, review.state, review.customer_id, review.number) == (
        KIND_REVIEW,
        DRAFT,
        cid,
        "CA-000001",
    )
    assert (review.requested_limit, review.current_limit) == (
        Decimal("10000.00"),
        Decimal("10000.00"),
    )
    assert (review.applicant_name, review.segment, review.country, review.currency) == (
        "R-1 Ltd",
        "Retail",
        "FR",
        "EUR",
    )
    assert review.checklist_template_id is not None
    assert cq.review_queue(db, clerk, as_of=AS_OF) == []
    with pytest.raises(ValidationFailed, match="CA-000001"):
        cq.start_review(db, clerk, cid)


def test_a_review_may_confirm_no_credit_but_needs_a_customer(
    db: Database, admin: Actor, clerk: Actor, collector: Actor
) -> None:
    cid = _customer(db, admin, "R-0", credit_limit="0")
    assert cq.start_review(db, clerk, cid).requested_limit == Decimal("0.00")
    with pytest.raises(NotFound):
        cq.start_review(db, clerk, cid + 100)
    for bad in (True, str(cid), 2**40):  # not a driver error: PostgreSQL refuses 2**40
        with pytest.raises(NotFound):
            cq.start_review(db, clerk, bad)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        cq.start_review(db, collector, cid)
