"""Claims: a lease per customer taken atomically, so two collectors never work the same
customer at once; expired leases (a crashed client) are taken over; the call list's
`next_customer` skips what others hold. On SQLite and PostgreSQL, with real threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import update

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, PermissionDenied, ValidationFailed
from o2c_desktop.models import CollectionClaim, Role
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import call_list, claims, customers, ledger
from o2c_desktop.services.auth import Actor
from tests.conftest import add_user

TODAY = date.today()


def _customer(db: Database, admin: Actor, number: str, collector: str | None = None) -> int:
    raw = {"number": number, "name": f"Customer {number}"}
    if collector:
        raw["collector"] = collector
    return customers.create_customer(db, admin, raw).id


def _overdue(db: Database, admin: Actor, cid: int, number: str, amount: str, days: int) -> None:
    ledger.post_invoice(
        db,
        admin,
        cid,
        number,
        TODAY - timedelta(days=days + 30),
        Decimal(amount),
        due_date=TODAY - timedelta(days=days),
    )


def _expire(db: Database, customer_id: int) -> None:
    """What a crashed client leaves behind: a lease whose time is up."""
    with db.write() as session:
        session.execute(
            update(CollectionClaim)
            .where(CollectionClaim.customer_id == customer_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_claim_renew_release(db: Database, admin: Actor, manager: Actor) -> None:
    cid = _customer(db, admin, "C-1")
    assert claims.claim(db, manager, cid) is True
    assert claims.claim(db, admin, cid) is False  # Maria's lease is running
    assert claims.claim(db, manager, cid, minutes=30) is True  # her own: renewed
    held = claims.lease_of(db, cid)
    assert held is not None and held[0] == manager.user_id
    assert timedelta(minutes=29) < held[1] - utcnow() <= timedelta(minutes=30)
    with db.read() as session:
        assert claims.claimed_by_others(session, admin, [cid]) == {cid: "Maria"}
        assert claims.claimed_by_others(session, manager, [cid]) == {}
        assert claims.claimed_by_others(session, admin, None) == {cid: "Maria"}
    claims.release(db, admin, cid)  # not hers to release: nothing happens
    assert claims.claim(db, admin, cid) is False
    claims.release(db, manager, cid)
    assert claims.lease_of(db, cid) is None
    assert claims.claim(db, admin, cid) is True


def test_an_expired_claim_is_taken_over(db: Database, admin: Actor, manager: Actor) -> None:
    cid = _customer(db, admin, "C-1")
    assert claims.claim(db, manager, cid)
    _expire(db, cid)
    assert claims.lease_of(db, cid) is None
    with db.read() as session:
        assert claims.claimed_by_others(session, admin, [cid]) == {}
    assert claims.claim(db, admin, cid) is True
    held = claims.lease_of(db, cid)
    assert held is not None and held[0] == admin.user_id
    assert claims.claim(db, manager, cid) is False


def test_hold_takes_renews_or_says_who_holds_the_customer(
    db: Database, admin: Actor, manager: Actor, collector: Actor
) -> None:
    cid = _customer(db, admin, "C-1", "colin")
    claims.hold(db, manager, cid)  # free: taken
    with pytest.raises(claims.ClaimedByOther, match=r"^Maria is working this customer \(since "):
        claims.hold(db, collector, cid)
    claims.hold(db, manager, cid, minutes=30)  # her own: renewed
    held = claims.lease_of(db, cid)
    assert held is not None and held[0] == manager.user_id
    _expire(db, cid)
    claims.hold(db, collector, cid)  # ran out: taken over
    assert claims.lease_of(db, cid)[0] == collector.user_id  # type: ignore[index]
    other = _customer(db, admin, "C-2")
    with pytest.raises(PermissionDenied):
        claims.hold(db, collector, other)
    assert claims.lease_of(db, other) is None


def test_claims_check_rights_customer_and_lease(
    db: Database, admin: Actor, collector: Actor
) -> None:
    mine = _customer(db, admin, "C-1", "colin")
    theirs = _customer(db, admin, "C-2")
    assert claims.claim(db, collector, mine)
    with pytest.raises(PermissionDenied, match="only the customers of their own portfolio"):
        claims.claim(db, collector, theirs)
    with pytest.raises(NotFound):
        claims.claim(db, admin, theirs + 99)
    for minutes in (0, 24 * 60 + 1, True):
        with pytest.raises(ValidationFailed):
            claims.claim(db, admin, theirs, minutes=minutes)  # type: ignore[arg-type]
    assert claims.lease_of(db, theirs) is None


def test_one_customer_claimed_at_once_by_many_wins_once(db: Database, admin: Actor) -> None:
    """Eight sessions claim the same customers at the same moment, round after round: each
    round exactly one of them gets it."""
    actors = [add_user(db, admin, f"mgr{k}", Role.CREDIT_MANAGER) for k in range(8)]
    ids = [_customer(db, admin, f"C-{n}") for n in range(10)]
    barrier = threading.Barrier(len(actors))
    wins: dict[int, list[int]] = {cid: [] for cid in ids}
    lock = threading.Lock()

    def work(k: int) -> None:
        for cid in ids:
            barrier.wait(timeout=60)
            if claims.claim(db, actors[k], cid):
                with lock:
                    wins[cid].append(k)

    _in_threads(len(actors), work)
    assert all(len(winners) == 1 for winners in wins.values()), wins
    for cid, winners in wins.items():
        held = claims.lease_of(db, cid)
        assert held is not None and held[0] == actors[winners[0]].user_id


def test_next_customer_never_gives_two_sessions_the_same_customer(
    db: Database, admin: Actor
) -> None:
    """Eight collectors' sessions work the same list of 100 customers (the team's list) for
    many rounds: each round a session moves on to its next customer. At no moment do two of
    them hold the same customer, and each always gets one."""
    workers = [add_user(db, admin, f"mgr{k}", Role.CREDIT_MANAGER) for k in range(8)]
    ids = []
    for n in range(100):
        cid = _customer(db, admin, f"C-{n:03d}")
        _overdue(db, admin, cid, f"I-{n:03d}", str(100 + n), 5 + n % 40)
        ids.append(cid)
    rounds = 50
    holding: dict[int, int] = {}  # customer -> session currently working it
    lock = threading.Lock()
    got: list[list[int]] = [[] for _ in workers]

    def work(k: int) -> None:
        previous = None
        for _ in range(rounds):
            if previous is not None:
                with lock:  # done with it before asking for the next one
                    assert holding.pop(previous) == k
            row = call_list.next_customer(db, workers[k], TODAY, team=True, after=previous)
            assert row is not None
            with lock:
                other = holding.get(row.customer_id)
                assert other is None, f"customer {row.number} given to {k} and {other}"
                holding[row.customer_id] = k
            assert row.claimed_by == workers[k].display_name
            got[k].append(row.customer_id)
            previous = row.customer_id

    _in_threads(len(workers), work)
    assert all(len(g) == rounds for g in got)
    # Moving on never hands back the customer just worked.
    assert all(a != b for g in got for a, b in pairwise(g))
    assert {cid for g in got for cid in g} <= set(ids)
    with db.read() as session:
        held = claims.claim_holders(session, None)
    assert {cid: uid for cid, (uid, _) in held.items()} == {
        g[-1]: workers[k].user_id for k, g in enumerate(got)
    }


def test_next_customer_skips_claims_of_others_until_they_expire(
    db: Database, admin: Actor, manager: Actor
) -> None:
    top = _customer(db, admin, "C-TOP")
    _overdue(db, admin, top, "I-1", "90000", 100)
    low = _customer(db, admin, "C-LOW")
    _overdue(db, admin, low, "I-2", "10", 2)
    assert claims.claim(db, manager, top)  # Maria is on the phone with the top customer
    listed = call_list.call_list(db, admin, TODAY, team=True)
    assert [(r.number, r.claimed_by) for r in listed] == [("C-TOP", "Maria"), ("C-LOW", None)]
    row = call_list.next_customer(db, admin, TODAY, team=True)
    assert row is not None and row.number == "C-LOW"
    # Her client crashes: the lease runs out, and the top customer is given out again.
    _expire(db, top)
    again = call_list.next_customer(db, admin, TODAY, team=True, after=row.customer_id)
    assert again is not None and again.number == "C-TOP"
    assert claims.lease_of(db, low) is None  # released when moving on
    third = call_list.next_customer(db, admin, TODAY, team=True, after=top)
    assert third is not None and third.number == "C-LOW"
    fourth = call_list.next_customer(db, manager, TODAY, team=True)
    assert fourth is not None and fourth.number == "C-TOP"  # released by the move on
    # Nobody left for the admin: the one just worked is `after`, the other is Maria's.
    assert call_list.next_customer(db, admin, TODAY, team=True, after=low) is None
