"""The applications queue and the reviews on real widgets, on SQLite and PostgreSQL: the
department's queue or my own, by state, overdue only, a search; overdue rows marked; export of
what is shown; the Reviews tab starts a review application for a customer due for one."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from sqlalchemy import update

from o2c_desktop.models import CreditApplication, Customer, Role
from o2c_desktop.services import credit_applications, customers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.screens.application_editor import ApplicationEditor
from o2c_desktop.ui.screens.application_queue import ApplicationQueue
from o2c_desktop.ui.screens.credit_applications_screen import CreditApplicationsScreen
from tests.ui.test_credit_applications_gui import WAIT, person

apps = credit_applications


def seed(ctx: UiContext) -> tuple[UiContext, dict[str, str]]:
    """Four applications: the clerk's draft for Northwind, the administrator's submitted one
    for a new customer, Southwind's in verification and past its due date, Eastern's withdrawn.
    Returns the clerk's context and the numbers by letter."""
    clerk = person(ctx, "clara", Role.CREDIT_CLERK)
    db, admin = ctx.db, ctx.actor
    ids = {}
    for number, name in (
        ("N-1", "Northwind Traders"),
        ("S-1", "Southwind Supply"),
        ("E-1", "Eastern Goods"),
    ):
        ids[number] = customers.create_customer(db, admin, {"number": number, "name": name}).id
    a = apps.create_application(
        db, clerk.actor, {"customer_id": ids["N-1"], "requested_limit": "10000"}
    )
    b = apps.create_application(
        db,
        admin,
        {
            "customer_number": "NEW-1",
            "applicant_name": "Fresh Start GmbH",
            "currency": "EUR",
            "requested_limit": "5000",
        },
    )
    b = apps.submit(db, admin, b.id, b.version)
    c = apps.create_application(db, admin, {"customer_id": ids["S-1"], "requested_limit": "25000"})
    c = apps.submit(db, admin, c.id, c.version)
    c = apps.start_verification(db, admin, c.id, c.version)
    with db.write() as session:
        session.execute(
            update(CreditApplication)
            .where(CreditApplication.id == c.id)
            .values(due_date=date.today() - timedelta(days=3))
        )
    d = apps.create_application(db, admin, {"customer_id": ids["E-1"], "requested_limit": "7000"})
    apps.withdraw(db, admin, d.id, d.version, "the customer no longer needs it")
    return clerk, {"a": a.number, "b": b.number, "c": c.number, "d": d.number}


def numbers(queue: ApplicationQueue) -> list[str]:
    return [row.number for row in queue.rows_shown()]


def shows(qtbot, queue: ApplicationQueue, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not queue.loading and numbers(queue) == expected, timeout=WAIT)


def test_queue_filters_mark_overdue_and_export(  # type: ignore[no-untyped-def]
    any_ctx: UiContext, qtbot, qtmodeltester, tmp_path: Path
) -> None:
    clerk, n = seed(any_ctx)
    queue = ApplicationQueue(clerk)
    qtbot.addWidget(queue)
    # The department's open applications, the most urgent (earliest due) first: Southwind's is
    # past due, a submitted one is due in 2 days, a draft in 5 (the default service levels).
    shows(qtbot, queue, [n["c"], n["b"], n["a"]])
    qtmodeltester.check(queue.model)
    assert queue.count.text() == "3 applications, 1 overdue"
    first = queue.model.index(0, 0)
    assert isinstance(first.data(Qt.ItemDataRole.ForegroundRole), QBrush)  # overdue: red
    assert queue.model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole) is None
    assert [r.overdue for r in queue.rows_shown()] == [True, False, False]
    assert queue.model.index(0, 3).data() == "In verification"
    assert queue.model.index(0, 4).data() == "€25,000.00"
    assert queue.model.index(0, 4).data(Qt.ItemDataRole.TextAlignmentRole) is not None

    queue.overdue_only.setChecked(True)
    shows(qtbot, queue, [n["c"]])
    queue.overdue_only.setChecked(False)
    queue.state_filter.setCurrentIndex(queue.state_filter.findData("submitted"))
    shows(qtbot, queue, [n["b"]])
    queue.state_filter.setCurrentIndex(queue.state_filter.findData("closed"))
    shows(qtbot, queue, [n["d"]])
    assert queue.model.index(0, 3).data() == "Withdrawn"
    queue.state_filter.setCurrentIndex(queue.state_filter.findData("all"))
    shows(qtbot, queue, [n["c"], n["b"], n["a"], n["d"]])  # closed ones have no due date
    qtbot.keyClicks(queue.search, "south")
    shows(qtbot, queue, [n["c"]])
    queue.search.clear()
    queue.state_filter.setCurrentIndex(queue.state_filter.findData("open"))
    queue.scope.setCurrentIndex(queue.scope.findData("mine"))
    shows(qtbot, queue, [n["a"]])  # prepared by the clerk, assigned to nobody

    out = tmp_path / "queue.csv"
    assert queue.table.export_to(str(out)) == 1
    with out.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["Number", "Applicant", "Kind", "State"]
    assert rows[1][:5] == [n["a"], "Northwind Traders", "limit_change", "draft", "10000.00"]


def test_reviews_start_a_review_application(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A customer whose review is due shows on the Reviews tab; Start review opens a review
    application for it in a tab of its own."""
    customer = customers.create_customer(
        ctx.db, ctx.actor, {"number": "R-1", "name": "Review Me Ltd", "credit_limit": "15000"}
    )
    with ctx.db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id == customer.id)
            .values(next_review_date=date.today() + timedelta(days=5))
        )
    screen = CreditApplicationsScreen(ctx)
    qtbot.addWidget(screen)
    reviews = screen.reviews
    screen.tabs.setCurrentWidget(reviews)
    qtbot.waitUntil(
        lambda: not reviews.loading and reviews.table.model.rowCount() == 1, timeout=WAIT
    )
    row = reviews.table.model.rows[0]
    assert (row.kind, row.customer_number) == ("review_due", "R-1")
    assert reviews.table.model.index(0, 1).data() == "Review due"
    reviews.table.view.setCurrentIndex(reviews.table.proxy.index(0, 0))
    assert reviews.start_button.isEnabled() and not reviews.application_button.isEnabled()
    reviews.start_button.click()
    qtbot.waitUntil(
        lambda: isinstance(screen.tabs.currentWidget(), ApplicationEditor), timeout=WAIT
    )
    editor = screen.tabs.currentWidget()
    qtbot.waitUntil(lambda: editor.application is not None, timeout=WAIT)
    assert (editor.application.kind, editor.application.customer_id) == ("review", customer.id)
    assert editor.application.requested_limit == 15000
    assert editor.title.text().endswith("Review")
    # The queue shows it too (the applications_changed signal).
    qtbot.waitUntil(lambda: [r.kind for r in screen.queue.rows_shown()] == ["review"], timeout=WAIT)
