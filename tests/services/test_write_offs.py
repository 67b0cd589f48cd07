"""Writing off several invoices in one action: all or nothing, the total within authority."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import PermissionDenied, ValidationFailed
from o2c_desktop.models import Allocation, AuditEntry, Customer
from o2c_desktop.services import customers, ledger, ledger_queries, write_offs
from o2c_desktop.services.auth import Actor

D = date(2024, 3, 1)


def _setup(db: Database, admin: Actor) -> tuple[int, int, int]:
    cid = customers.create_customer(db, admin, {"number": "W-1", "name": "Whiskey"}).id
    a = ledger.post_invoice(db, admin, cid, "W-A", D, Decimal("600.00")).id
    b = ledger.post_invoice(db, admin, cid, "W-B", D + timedelta(days=3), Decimal("700.00")).id
    return cid, a, b


def _write_offs(db: Database) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.kind == "write_off")
        )


def test_authority_is_read_for_the_dialog(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    assert write_offs.authority(db, manager).limit == Decimal("1000.00")
    assert write_offs.authority(db, manager).text == "up to 1,000.00 at once"
    assert write_offs.authority(db, admin).limit is None
    assert write_offs.authority(db, admin).allows(Decimal("1e9"))
    with pytest.raises(PermissionDenied, match="may not write off"):
        write_offs.authority(db, clerk)


def test_several_invoices_in_one_unit_of_work(
    db: Database, admin: Actor, manager: Actor, clerk: Actor
) -> None:
    cid, a, b = _setup(db, admin)
    # The total counts: 600 + 500 is over the manager's 1,000 though each line is under it.
    with pytest.raises(PermissionDenied, match=r"at most 1,000\.00 at once; 1,100\.00"):
        write_offs.write_off_items(db, manager, [(a, "600"), (b, "500")], D, "small balances")
    with pytest.raises(PermissionDenied):
        write_offs.write_off_items(db, clerk, [(a, "1")], D, "x")
    # A bad second line leaves the first one unwritten too.
    with pytest.raises(ValidationFailed, match="before invoice W-B's issue date"):
        write_offs.write_off_items(db, manager, [(a, "10"), (b, "10")], D, "rounding")
    with pytest.raises(ValidationFailed, match="reason"):
        write_offs.write_off_items(db, manager, [(a, "10")], D, "  ")
    with pytest.raises(ValidationFailed, match="listed twice"):
        write_offs.write_off_items(db, manager, [(a, "1"), (a, "1")], D, "x")
    with pytest.raises(ValidationFailed, match="choose at least one"):
        write_offs.write_off_items(db, manager, [], D, "x")
    assert _write_offs(db) == 0

    day = D + timedelta(days=5)
    made = write_offs.write_off_items(db, manager, [(a, "600.00"), (b, "400")], day, "insolvent")
    assert [(r.invoice_number, r.amount, r.date, r.note) for r in made] == [
        ("W-A", Decimal("600.00"), day, "insolvent"),
        ("W-B", Decimal("400"), day, "insolvent"),
    ]
    open_items = ledger_queries.open_items(db, admin, cid, date.today())
    assert [(r.number, r.open_amount) for r in open_items] == [("W-B", Decimal("300.00"))]
    with db.read() as session:
        assert session.get(Customer, cid).exposure == Decimal("300.00")
        reasons = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "allocations", AuditEntry.field == "reason"
            )
        ).all()
        assert reasons == ["insolvent", "insolvent"]
        assert ledger_queries.recompute_open_amounts(session) == {}
        assert ledger_queries.stale_allocation_copies(session) == []
