"""The statement delivery log: who produced which statement for whom, and how it went out.

Every statement written to a file, printed or e-mailed leaves a row (with the file's SHA-256, so
the document a customer received can be proven later) and an audit entry on the customer, in
the same unit of work. A failed e-mail or file is logged too: nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.models import Customer, StatementDelivery, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.statements import CHANNELS
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission

STATEMENT_KINDS = ("open-items", "activity")
DUNNING_KIND = "dunning"  # a reminder letter (services.dunning) goes through the same log
DELIVERY_KINDS = (*STATEMENT_KINDS, DUNNING_KIND)
_RESULT = re.compile(r"^[a-z][a-z_-]{0,19}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_FILE = 500
_MAX_RECIPIENT = 320
_MAX_DETAIL = 4000


@dataclass(frozen=True)
class DeliveryRow:
    """One line of a customer's delivery log, as screens show it."""

    id: int
    customer_id: int
    produced_at: datetime
    produced_by: str | None
    statement_date: date
    kind: str
    file_name: str
    sha256: str | None
    channel: str
    result: str
    detail: str | None
    recipient: str | None


@dataclass(frozen=True)
class DeliveryEntry:
    """What `record_deliveries` writes for one statement (a batch writes many at once)."""

    customer_id: int
    statement_date: date
    kind: str
    file: Path
    sha256: str | None
    channel: str
    result: str
    detail: str | None = None
    recipient: str | None = None


def _problems(entry: DeliveryEntry, where: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []

    def bad(name: str, message: str, value: object) -> None:
        problems.append(FieldProblem(f"{where}{name}", message, value=str(value)))

    if not isinstance(entry.statement_date, date) or isinstance(entry.statement_date, datetime):
        bad("statement_date", "must be a date", entry.statement_date)
    if entry.kind not in DELIVERY_KINDS:
        bad("kind", f"one of {', '.join(DELIVERY_KINDS)}", entry.kind)
    if entry.channel not in CHANNELS:
        bad("channel", f"one of {', '.join(CHANNELS)}", entry.channel)
    if not isinstance(entry.result, str) or not _RESULT.match(entry.result):
        bad("result", "a short lower-case word such as ok, failed or retrying", entry.result)
    if entry.sha256 and not _SHA256.match(entry.sha256):
        bad("sha256", "64 lower-case hexadecimal digits", entry.sha256)
    if not str(entry.file) or len(str(entry.file)) > _MAX_FILE:
        bad("file", f"required, at most {_MAX_FILE} characters", entry.file)
    if entry.recipient and len(entry.recipient) > _MAX_RECIPIENT:
        bad("recipient", f"at most {_MAX_RECIPIENT} characters", entry.recipient[:40])
    return problems


def record_deliveries_in_session(
    session: Session, actor: Actor, entries: Sequence[DeliveryEntry]
) -> list[int]:
    """Validate and add log rows plus one audit row each (no commit); returns the new ids."""
    actor.require(Permission.PRINT_STATEMENTS)
    problems: list[FieldProblem] = []
    for number, entry in enumerate(entries, start=1):
        problems += _problems(entry, f"delivery {number}: " if len(entries) > 1 else "")
    wanted = {e.customer_id for e in entries}
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(sorted(wanted)))))
    for missing in sorted(wanted - known):
        problems.append(FieldProblem("customer", "no such customer", value=str(missing)))
    if problems:
        raise ValidationFailed(problems, "Statement delivery log")
    now = utcnow()
    rows = [
        StatementDelivery(
            customer_id=e.customer_id,
            produced_at=now,
            produced_by_id=actor.user_id or None,
            statement_date=e.statement_date,
            kind=e.kind,
            file_name=str(e.file),
            sha256=e.sha256 or None,
            channel=e.channel,
            result=e.result,
            detail=(e.detail or None) and e.detail[:_MAX_DETAIL],
            recipient=e.recipient or None,
        )
        for e in entries
    ]
    session.add_all(rows)
    session.flush()
    for row in rows:
        to = f" to {row.recipient}" if row.recipient else ""
        audit.record(
            session,
            actor,
            audit.CREATE,
            "statement_deliveries",
            row.id,
            customer_id=row.customer_id,
            note=(
                f"{_document(row.kind)} {row.statement_date.isoformat()}: {row.channel}{to} "
                f"{row.result} ({Path(row.file_name).name}"
                + (f", sha256 {row.sha256[:12]}…" if row.sha256 else "")
                + ")"
            ),
        )
    return [row.id for row in rows]


def _document(kind: str) -> str:
    return "reminder letter" if kind == DUNNING_KIND else f"{kind} statement"


def record_deliveries(db: Database, actor: Actor, entries: Sequence[DeliveryEntry]) -> list[int]:
    """Log several deliveries in one unit of work (a batch logs a chunk of customers at once)."""
    actor.require(Permission.PRINT_STATEMENTS)
    if not entries:
        return []
    with db.write() as session:
        return record_deliveries_in_session(session, actor, entries)


def record_delivery(
    db: Database,
    actor: Actor,
    *,
    customer_id: int,
    statement_date: date,
    kind: str,
    file: Path,
    sha256: str,
    channel: str,
    result: str,
    detail: str | None = None,
    recipient: str | None = None,
) -> int:
    """Log one statement written, printed or e-mailed (ok or not); returns the row's id."""
    entry = DeliveryEntry(
        customer_id, statement_date, kind, Path(file), sha256, channel, result, detail, recipient
    )
    [row_id] = record_deliveries(db, actor, [entry])
    return row_id


def deliveries_for_customer(db: Database, customer_id: int, limit: int = 200) -> list[DeliveryRow]:
    """A customer's delivery log, newest first (for its Activity tab)."""
    who = aliased(User)
    with db.read() as session:
        rows = session.execute(
            select(StatementDelivery, who.display_name)
            .outerjoin(who, who.id == StatementDelivery.produced_by_id)
            .where(StatementDelivery.customer_id == customer_id)
            .order_by(StatementDelivery.produced_at.desc(), StatementDelivery.id.desc())
            .limit(limit)
        )
        return [
            DeliveryRow(
                d.id,
                d.customer_id,
                d.produced_at,
                name,
                d.statement_date,
                d.kind,
                d.file_name,
                d.sha256,
                d.channel,
                d.result,
                d.detail,
                d.recipient,
            )
            for d, name in rows
        ]
