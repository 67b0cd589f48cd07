"""Recording letters produced, in one unit of work per batch: the letters' files, the level
reached on each item, the customers' activity, the e-mails in the delivery log, and the audit.

A letter whose e-mail was not sent keeps its file and is logged as a failed delivery, but
records no level (and no activity), so the next run proposes it again.

Recording takes only the letters still unproduced: their rows are locked and re-read in the
recording transaction, and the UPDATE matches `produced_at IS NULL` as well. A pass that was
taken over after its lease ran out (services.dunning.lease) may still hold letters the other
pass has recorded since; those record nothing a second time (no level, no activity, no audit
row), and are returned so the pass can report them. The item levels are compared with the
invoices' levels as they are now, read (and locked) in the same transaction, so the audit
rows say what really changed. An e-mail sent is always logged in the delivery log: it went
out, whatever became of its letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.models import Activity, DunningLetter, Invoice
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import CHANNEL_EMAIL
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.dunning.items import CarriedItem
from o2c_desktop.services.dunning.production_reads import QueuedLetter
from o2c_desktop.services.dunning.runs import audit_letter_change
from o2c_desktop.services.statement_delivery import (
    DUNNING_KIND,
    DeliveryEntry,
    record_deliveries_in_session,
)

ACTIVITY_KIND = "dunning"


@dataclass(frozen=True)
class WrittenLetter:
    """A letter written to a file (and maybe e-mailed), to be recorded."""

    queued: QueuedLetter
    level_name: str
    items: tuple[CarriedItem, ...]
    path: Path
    sha256: str
    email: tuple[str, bool, str] | None  # recipients, sent, the server's reply or the reason

    @property
    def delivered(self) -> bool:
        return self.email is None or self.email[1]


def record_written(
    db: Database, actor: Actor, as_of: date, written: Sequence[WrittenLetter]
) -> list[WrittenLetter]:
    """Record letters written, in one unit of work (nothing to do for none). Returns the
    letters not recorded because another pass recorded them first (see the module
    docstring)."""
    if not written:
        return []
    now = utcnow()
    letters = DunningLetter.__table__
    invoices = Invoice.__table__
    with db.write() as session:
        unproduced = set(
            session.scalars(
                select(letters.c.id)
                .where(
                    letters.c.id.in_([d.queued.letter_id for d in written]),
                    letters.c.produced_at.is_(None),
                )
                .with_for_update()
            )
        )
        taken = [d for d in written if d.queued.letter_id in unproduced]
        others = [d for d in written if d.queued.letter_id not in unproduced]
        _log_emails(session, actor, as_of, written)
        if not taken:
            return others
        session.execute(
            update(letters)
            .where(letters.c.id == bindparam("b_id"), letters.c.produced_at.is_(None))
            .values(
                file_name=bindparam("b_file"),
                sha256=bindparam("b_sha"),
                produced_at=bindparam("b_at", type_=letters.c.produced_at.type),
            ),
            [
                {
                    "b_id": d.queued.letter_id,
                    "b_file": str(d.path)[:500],
                    "b_sha": d.sha256,
                    "b_at": now if d.delivered else None,
                }
                for d in taken
            ],
        )
        carried = [(d, i) for d in taken if d.delivered for i in d.items]
        levels_now = (
            dict(
                session.execute(
                    select(invoices.c.id, invoices.c.dunning_level)
                    .where(invoices.c.id.in_(sorted({i.row.invoice_id for _d, i in carried})))
                    .with_for_update()
                ).all()
            )
            if carried
            else {}
        )
        raised = [
            (d, i, levels_now[i.row.invoice_id])
            for d, i in carried
            if i.row.invoice_id in levels_now and i.row.level > levels_now[i.row.invoice_id]
        ]
        if raised:
            session.execute(
                update(invoices)
                .where(
                    invoices.c.id == bindparam("b_id"),
                    invoices.c.dunning_level < bindparam("b_level"),
                )
                .values(dunning_level=bindparam("b_level")),
                [{"b_id": i.row.invoice_id, "b_level": i.row.level} for _d, i, _was in raised],
            )
        for d in taken:
            _record_one(session, actor, as_of, d, now)
        for d, i, was in raised:
            audit.record(
                session,
                actor,
                audit.UPDATE,
                "invoices",
                i.row.invoice_id,
                customer_id=d.queued.customer_id,
                changes={"dunning_level": (was, i.row.level)},
            )
    return others


def _log_emails(
    session: Session, actor: Actor, as_of: date, written: Sequence[WrittenLetter]
) -> None:
    """Every e-mail attempted, sent or not, in the statements' delivery log."""
    entries = [
        DeliveryEntry(
            d.queued.customer_id,
            as_of,
            DUNNING_KIND,
            d.path,
            d.sha256,
            CHANNEL_EMAIL,
            "ok" if d.email[1] else "failed",
            d.email[2] or None,
            d.email[0] or None,
        )
        for d in written
        if d.email is not None
    ]
    if entries:
        record_deliveries_in_session(session, actor, entries)


def _record_one(
    session: Session, actor: Actor, as_of: date, d: WrittenLetter, now: datetime
) -> None:
    q = d.queued
    written = {"file_name": (None, str(d.path)), "sha256": (None, d.sha256)}
    if not d.delivered:
        audit_letter_change(session, actor, q.letter_id, q.customer_id, written)
        return
    how = f"e-mailed to {d.email[0]}" if d.email is not None else "letter"
    fee = f", fee {q.fee:f} {q.currency}" if q.fee else ""
    gross = sum((i.row.open_amount for i in d.items), Decimal(0))
    net = (
        f" less {gross - q.overdue:f} {q.currency} unapplied payments/credits, "
        f"{q.overdue:f} {q.currency} due"
        if gross != q.overdue
        else ""
    )
    session.add(
        Activity(
            customer_id=q.customer_id,
            kind=ACTIVITY_KIND,
            occurred_at=now,
            user_id=actor.user_id or None,
            subject=f"Reminder: {d.level_name}"[:200],
            body=(
                f"{d.level_name} (level {q.level}) as of {as_of.isoformat()}: "
                f"{len(d.items)} item(s), {gross:f} {q.currency} overdue{net}{fee}; {how}; "
                f"file {d.path.name}."
            ),
        )
    )
    audit_letter_change(
        session, actor, q.letter_id, q.customer_id, {"produced_at": (None, now), **written}
    )
