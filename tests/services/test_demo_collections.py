"""The demo collections activity: calls and promises that the call list and results can use."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied
from o2c_desktop.models import Activity, Call, Customer, Promise, PromiseItem
from o2c_desktop.services import call_list, demo_data, promises
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.demo_collections import generate_collections
from o2c_desktop.services.demo_ledger import generate_ledger

AS_OF = date(2026, 3, 31)


def test_demo_calls_and_promises_feed_the_call_list(db: Database, admin: Actor) -> None:
    demo_data.generate(db, admin, 200, seed=3)
    generate_ledger(db, admin, 4000, seed=7, as_of=AS_OF)
    result = generate_collections(db, admin, seed=1, as_of=AS_OF)
    assert result.calls > 20 and result.promises > 3
    with db.read() as session:
        calls = session.scalars(select(Call)).all()
        assert len(calls) == result.calls
        assert session.scalar(select(func.count()).select_from(Promise)) == result.promises
        assert session.scalar(select(func.count()).select_from(PromiseItem)) >= result.promises
        # Every call is on its customer's timeline, by the customer's collector, in the past.
        assert session.scalar(
            select(func.count()).select_from(Activity).where(Activity.kind == "call")
        ) == len(calls)
        collectors = dict(session.execute(select(Customer.id, Customer.collector_id)).all())
        assert all(c.user_id == collectors[c.customer_id] for c in calls)
        assert all(AS_OF - timedelta(days=42) <= c.called_on < AS_OF for c in calls)
        states = {p.state for p in promises.statuses_in_session(session, AS_OF)}
        someone = calls[0].customer_id
    assert {promises.PromiseState.BROKEN, promises.PromiseState.KEPT} <= states
    # The call list of that day knows about the promises and follow-ups.
    rows = call_list.call_list(db, admin, AS_OF, team=True)
    reasons = " ".join(" ".join(r.reasons) for r in rows)
    assert "promise" in reasons and "follow-up" in reasons.lower()
    # New rows after the demo get fresh ids (PostgreSQL sequences moved past the explicit ids).
    with db.write() as session:
        session.add(Call(customer_id=someone, called_on=AS_OF, outcome="reached"))


def test_only_administrators_load_demo_collections(db: Database, collector: Actor) -> None:
    with pytest.raises(PermissionDenied):
        generate_collections(db, collector)
