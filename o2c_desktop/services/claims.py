"""Claims: while a collector works a customer, nobody else gets it from the call list.

A claim is a lease (`CollectionClaim`, one row per customer) that expires: a client that crashes
or loses its connection holds nothing for longer than the lease (15 minutes by default), and
there is no lock to clean up. Taking a claim is one atomic statement on both engines:

    INSERT INTO collection_claims … ON CONFLICT (customer_id) DO UPDATE SET …
    WHERE collection_claims.expires_at < now OR collection_claims.user_id = me

It inserts a new claim, takes over an expired one, or renews the actor's own; when another
user's lease is still running the WHERE leaves the row alone and RETURNING gives no row, which
is how the caller learns it lost. On PostgreSQL two concurrent claims of the same customer
serialise on the row (the second waits for the first to commit, then re-checks the WHERE
against the winner's lease), so exactly one succeeds; SQLite serialises writers anyway.

Time is the database server's on PostgreSQL (`now()`), so collectors' PCs with clocks minutes
apart cannot steal each other's leases; an SQLite file is on one machine, whose clock is used.

A claim is not advisory: `calls.log_call` takes or renews the caller's claim in its own
transaction (`hold_in_session`) and refuses, writing nothing, while someone else's lease runs
(`ClaimedByOther`, naming them and since when). So two collectors never log calls on the same
customer at the same time, whichever screen they log from.

Claims are not audited: a lease changes no business data (it is a "who is on the phone with
them" marker, like a row lock), and a collector takes a few hundred a day.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, or_, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, ValidationFailed
from o2c_desktop.models import CollectionClaim, Customer, User
from o2c_desktop.models.base import UTCDateTime, utcnow
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.field_checks import is_whole
from o2c_desktop.services.portfolios import require_in_portfolio

DEFAULT_LEASE_MINUTES = 15
MAX_LEASE_MINUTES = 24 * 60
_CHUNK = 1000


class ClaimedByOther(O2CError):
    """Someone else holds a running claim on the customer: they are working it now. The message
    names them and since when (local time), so the user knows whom to ask or when to retry."""

    def __init__(self, customer_id: int, holder: str, since: datetime | None) -> None:
        self.customer_id, self.holder, self.since = customer_id, holder, since
        when = f" (since {since.astimezone():%H:%M})" if since is not None else ""
        super().__init__(f"{holder} is working this customer{when}; try again later.")


def now_sql(session: Session) -> Any:
    """The current moment as SQL: the server's clock on PostgreSQL, this machine's on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(func.now(), UTCDateTime())
    return literal(utcnow(), UTCDateTime())


def _lease_end(session: Session, minutes: int) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(func.now() + timedelta(minutes=minutes), UTCDateTime())
    return literal(utcnow() + timedelta(minutes=minutes), UTCDateTime())


def check_minutes(minutes: Any) -> int:
    if not is_whole(minutes):
        raise ValidationFailed([FieldProblem("minutes", "a whole number of minutes")])
    if not 1 <= minutes <= MAX_LEASE_MINUTES:
        raise ValidationFailed(
            [FieldProblem("minutes", f"from 1 to {MAX_LEASE_MINUTES}", value=str(minutes))]
        )
    return minutes


def _check_portfolio(session: Session, actor: Actor, customer_id: int) -> None:
    """A collector claims only customers of their own portfolio; managers any customer."""
    customer = session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is None:
        raise NotFound(f"Customer #{customer_id} does not exist (deleted by another user?).")
    require_in_portfolio(session, actor, customer)


def claim_in_session(session: Session, actor: Actor, customer_id: int, minutes: int) -> bool:
    """The atomic claim (see the module docstring), in the caller's transaction: True when the
    actor now holds the customer (new, taken over after expiry, or renewed)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = CollectionClaim.__table__
    now, until = now_sql(session), _lease_end(session, minutes)
    stmt = insert(table).values(
        customer_id=customer_id, user_id=actor.user_id, claimed_at=now, expires_at=until
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={
            "user_id": stmt.excluded.user_id,
            "claimed_at": stmt.excluded.claimed_at,
            "expires_at": stmt.excluded.expires_at,
        },
        where=or_(table.c.expires_at < now, table.c.user_id == actor.user_id),
    )
    # RETURNING, not rowcount: the driver need not report a row count for an upsert (psycopg 3
    # under SQLAlchemy 2.1 gives -1). A row comes back only when it was inserted or updated.
    return session.execute(stmt.returning(table.c.customer_id)).first() is not None


def hold_in_session(
    session: Session, actor: Actor, customer_id: int, minutes: int = DEFAULT_LEASE_MINUTES
) -> None:
    """Take or renew the actor's claim in the caller's transaction, or raise ClaimedByOther
    naming the holder of the running lease. The caller has checked the customer and the
    portfolio; nothing is written when the claim is refused."""
    if claim_in_session(session, actor, customer_id, minutes):
        return
    table = CollectionClaim.__table__
    row = session.execute(
        select(User.display_name, table.c.claimed_at)
        .join(User, User.id == table.c.user_id)
        .where(table.c.customer_id == customer_id)
    ).first()
    # No row: the lease ran out between the two statements; still not ours in this snapshot.
    raise ClaimedByOther(customer_id, row[0] if row else "Another user", row[1] if row else None)


def hold(
    db: Database, actor: Actor, customer_id: int, minutes: int = DEFAULT_LEASE_MINUTES
) -> None:
    """Claim a customer (renewing one's own claim) before working it, or raise ClaimedByOther
    saying who is working it: what a screen calls before it opens the Log call dialog."""
    actor.require(Permission.WORK_COLLECTIONS)
    check_minutes(minutes)
    with db.write() as session:
        _check_portfolio(session, actor, customer_id)
        hold_in_session(session, actor, customer_id, minutes)


def claim(
    db: Database, actor: Actor, customer_id: int, minutes: int = DEFAULT_LEASE_MINUTES
) -> bool:
    """Claim a customer for `minutes` (renewing one's own claim); False when someone else's
    claim is still running."""
    actor.require(Permission.WORK_COLLECTIONS)
    check_minutes(minutes)
    with db.write() as session:
        _check_portfolio(session, actor, customer_id)
        return claim_in_session(session, actor, customer_id, minutes)


def release_in_session(session: Session, actor: Actor, customer_id: int) -> None:
    """Drop the actor's claim on a customer (someone else's is left alone), and sweep leases
    that have run out so the table stays the size of the work in progress."""
    table = CollectionClaim.__table__
    session.execute(
        delete(table).where(table.c.customer_id == customer_id, table.c.user_id == actor.user_id)
    )
    session.execute(delete(table).where(table.c.expires_at < now_sql(session)))


def release(db: Database, actor: Actor, customer_id: int) -> None:
    """Let go of a customer (done with it, or the window was closed)."""
    actor.require(Permission.WORK_COLLECTIONS)
    with db.write() as session:
        release_in_session(session, actor, customer_id)


def claimed_by_others(
    session: Session, actor: Actor, customer_ids: Collection[int] | None
) -> dict[int, str]:
    """{customer id: display name} of the running claims held by other users (None: of every
    customer, which is the table's handful of running leases)."""
    holders = claim_holders(session, customer_ids)
    return {cid: name for cid, (uid, name) in holders.items() if uid != actor.user_id}


def claim_holders(
    session: Session, customer_ids: Collection[int] | None
) -> dict[int, tuple[int, str]]:
    """{customer id: (user id, display name)} of the running claims (anyone's)."""
    table = CollectionClaim.__table__
    base = (
        select(table.c.customer_id, table.c.user_id, User.display_name)
        .join(User, User.id == table.c.user_id)
        .where(table.c.expires_at > now_sql(session))
    )
    if customer_ids is None:
        return {r[0]: (r[1], r[2]) for r in session.execute(base)}
    ids = sorted(set(customer_ids))
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        for cid, uid, name in session.execute(base.where(table.c.customer_id.in_(part))):
            found[cid] = (uid, name)
    return found


def lease_of(db: Database, customer_id: int) -> tuple[int, datetime] | None:
    """(user id, expiry) of a customer's running claim, if any (for screens and tests)."""
    with db.read() as session:
        table = CollectionClaim.__table__
        row = session.execute(
            select(table.c.user_id, table.c.expires_at).where(
                table.c.customer_id == customer_id, table.c.expires_at > now_sql(session)
            )
        ).first()
        return None if row is None else (row[0], row[1])
