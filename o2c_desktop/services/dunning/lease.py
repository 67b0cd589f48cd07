"""Who is producing a run right now: a lease on the run (`DunningRun.producer_id` until
`producing_until`), so a run is never produced by two passes at once.

Producing takes minutes (thousands of PDFs, e-mails with retries). Two passes of the same run
(a double click, a second window, the scheduled CLI job while a manager produces from the app)
would each read the same letters as "not produced yet" and write, e-mail and record every one
of them twice; and a new proposal cancelling the run while it is produced would let the next
run remind the same customers again. So:

- `take` locks the run row (FOR UPDATE; SQLite's writers queue anyway), checks it is still
  proposed, refuses while another pass's lease has not run out ("Dunning run #12 is being
  produced by Maria since 10:42; …"), and takes the lease for `LEASE`. One write transaction:
  of two passes started at the same moment exactly one gets the run.
- `keep` renews it while the pass works (at most every `RENEW_SECONDS`, between letters), with
  one UPDATE that matches only while the lease is still the one this pass set: a pass that
  stalled past its lease and was taken over stops instead of carrying on beside the new one.
- `release` ends it when the pass ends: finished, cancelled or failed.
- `refuse_if_producing` is what proposing (which would cancel the run), discarding and
  changing a letter check: none of them may change a run under an unexpired lease.

A crashed program releases nothing: its lease runs out by itself after `LEASE`, and the run
can be produced again (carrying on with the letters not recorded yet). The end of the lease
this pass set is its token: `producer_id` alone cannot tell two windows of the same user
apart. Time is the database server's on PostgreSQL (PCs' clocks may differ by minutes), this
machine's for an SQLite file (which lives on one machine).

Taking and releasing the lease are audited on the run (who produced it, from when: the
refusal's "since" is read from that row); renewals are not: they only move the end of a lease
already recorded, once a minute, and change no business data (as collection claims).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, type_coerce, update
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.models import AuditEntry, DunningRun, User
from o2c_desktop.models.base import UTCDateTime, utcnow
from o2c_desktop.models.collections import RUN_PROPOSED
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.dunning.runs import must_be_proposed, open_run
from o2c_desktop.services.stored_rows import audit_change

LEASE = timedelta(minutes=10)
RENEW_SECONDS = 60.0  # a pass renews its lease at most this often (between letters)


class RunBeingProduced(O2CError):
    """Another pass holds an unexpired lease on the run: it is being produced right now."""


class LeaseLost(O2CError):
    """This pass's lease ran out and another pass took the run over: stop, the other goes on."""


@dataclass
class Lease:
    """A pass's hold on a run. `until` is the end this pass set last: its token."""

    run_id: int
    as_of: date
    producer_id: int | None
    until: datetime
    renewed: float = field(default_factory=time.monotonic)  # monotonic time of the last renewal


def db_now(session: Session) -> datetime:
    """The current moment: the server's clock on PostgreSQL (clock_timestamp, not now(): a
    transaction may have waited for the run's lock since it began), this machine's on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        moment = session.scalar(select(type_coerce(func.clock_timestamp(), UTCDateTime())))
        assert moment is not None
        return moment
    return utcnow()


def _producing(run: DunningRun, now: datetime) -> bool:
    return run.producing_until is not None and run.producing_until > now


def _busy(session: Session, actor: Actor, run: DunningRun, then: str) -> RunBeingProduced:
    """'Dunning run #12 is being produced by Maria since 10:42; <then>' (local times)."""
    if run.producer_id is not None and run.producer_id == actor.user_id:
        who = "you (in another window, or a scheduled job)"
    else:
        name = (
            session.scalar(select(User.display_name).where(User.id == run.producer_id))
            if run.producer_id is not None
            else None
        )
        who = name or "another user"
    since = session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.table_name == DunningRun.__tablename__,
            AuditEntry.record_id == str(run.id),
            AuditEntry.field == "producer_id",
        )
    )
    when = f" since {since.astimezone():%H:%M}" if since is not None else ""
    assert run.producing_until is not None
    free = run.producing_until.astimezone()
    return RunBeingProduced(
        f"Dunning run #{run.id} is being produced by {who}{when}; {then}. (If that has stopped "
        f"without finishing, the run is free again from {free:%H:%M}.)"
    )


def refuse_if_producing(session: Session, actor: Actor, run: DunningRun, then: str) -> None:
    """Refuse a change of `run` (locked by the caller) while a pass is producing it."""
    if _producing(run, db_now(session)):
        raise _busy(session, actor, run, then)


def take(db: Database, actor: Actor, run_id: int) -> Lease:
    """The lease on a proposed run for this pass, or RunBeingProduced (see the module
    docstring). NotFound / O2CError for a run that is missing, produced or replaced."""
    with db.write() as session:
        run = open_run(session, run_id, lock=True)
        must_be_proposed(run, "produce it")
        now = db_now(session)
        if _producing(run, now):
            raise _busy(session, actor, run, "try again when it has finished")
        before = (run.producer_id, run.producing_until)
        run.producer_id = actor.user_id or None
        run.producing_until = now + LEASE
        session.flush()
        audit_change(
            session,
            actor,
            audit.UPDATE,
            run,
            {
                "producer_id": (before[0], run.producer_id),
                "producing_until": (before[1], run.producing_until),
            },
        )
        return Lease(run.id, run.as_of, run.producer_id, run.producing_until)


def keep(db: Database, lease: Lease, *, force: bool = False) -> None:
    """Renew the lease when it is due (or `force`); LeaseLost when another pass has taken the
    run over since (or it was produced or cancelled meanwhile)."""
    if not force and time.monotonic() - lease.renewed < RENEW_SECONDS:
        return
    runs = DunningRun.__table__
    with db.write() as session:
        until = db_now(session) + LEASE
        taken = session.execute(
            update(runs)
            .where(
                runs.c.id == lease.run_id,
                runs.c.status == RUN_PROPOSED,
                runs.c.producing_until == lease.until,
            )
            .values(producing_until=until)
        ).rowcount
        if not taken:
            run = session.get(DunningRun, lease.run_id)
            name = (
                session.scalar(select(User.display_name).where(User.id == run.producer_id))
                if run is not None and run.producer_id is not None
                else None
            )
            raise LeaseLost(
                f"Dunning run #{lease.run_id} was taken over by {name or 'another pass'} after "
                f"this one stopped renewing its claim for {LEASE.seconds // 60} minutes; "
                "stopped here (what was produced is kept and recorded)."
            )
    lease.until, lease.renewed = until, time.monotonic()


def holds(run: DunningRun, lease: Lease) -> bool:
    """Whether `run` (read in the caller's transaction) is still under this pass's lease."""
    return run.producing_until == lease.until and run.producer_id == lease.producer_id


def release_in_session(session: Session, actor: Actor, run: DunningRun, lease: Lease) -> bool:
    """End the lease on `run` (locked by the caller) if this pass still holds it, audited;
    False when another pass has taken it over (theirs is left alone)."""
    if not holds(run, lease):
        return False
    before = (run.producer_id, run.producing_until)
    run.producer_id = None
    run.producing_until = None
    session.flush()
    audit_change(
        session,
        actor,
        audit.UPDATE,
        run,
        {"producer_id": (before[0], None), "producing_until": (before[1], None)},
    )
    return True


def release(db: Database, actor: Actor, lease: Lease) -> None:
    """End the lease after a pass that failed (a finished or cancelled one ends it while
    recording its summary)."""
    with db.write() as session:
        release_in_session(session, actor, open_run(session, lease.run_id, lock=True), lease)
