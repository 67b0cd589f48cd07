"""What producing a run reads: the letters still to produce, and per chunk of them everything
the letters need (addressees, contact names, their items as proposed and as they are now, the
customers' unapplied payments and credit notes now), in one snapshot per chunk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.models import Contact, Customer, DunningLetter
from o2c_desktop.services.dunning.items import CarriedItem, carried_items
from o2c_desktop.services.dunning.overdue import credits_of


@dataclass(frozen=True)
class QueuedLetter:
    """A letter waiting to be produced."""

    letter_id: int
    customer_id: int
    number: str
    level: int
    currency: str
    overdue: Decimal  # the net amount the letter asks for (its items less credits)
    fee: Decimal
    channel: str

    @property
    def label(self) -> str:
        return f"{self.number} ({self.currency})"


@dataclass(frozen=True)
class LetterFacts:
    """What a chunk of letters needs from the database, read in one snapshot."""

    addressees: dict[int, Any]
    contacts: dict[int, str]
    items: dict[int, list[CarriedItem]]
    credits: dict[tuple[int, str], Decimal]  # unapplied payments + credit notes, by currency


def read_queue(session: Session, run_id: int) -> list[QueuedLetter]:
    """The run's included letters not produced yet, by customer number and currency."""
    rows = session.execute(
        select(
            DunningLetter.id,
            DunningLetter.customer_id,
            Customer.number,
            DunningLetter.level,
            DunningLetter.currency,
            DunningLetter.overdue,
            DunningLetter.fee,
            DunningLetter.channel,
        )
        .join(Customer, Customer.id == DunningLetter.customer_id)
        .where(
            DunningLetter.run_id == run_id,
            DunningLetter.included.is_(True),
            DunningLetter.produced_at.is_(None),
        )
        .order_by(Customer.number, DunningLetter.currency)
    )
    return [QueuedLetter(*row) for row in rows]


def read_facts(session: Session, chunk: Sequence[QueuedLetter]) -> LetterFacts:
    """Addressees, contact names (primary first), items (oldest due first) and credits now of
    a chunk."""
    from o2c_desktop.services.statements import ledger_reads

    ids = sorted({q.customer_id for q in chunk})
    contacts: dict[int, str] = {}
    for cid, name in session.execute(
        select(Contact.customer_id, Contact.name)
        .where(Contact.customer_id.in_(ids))
        .order_by(
            Contact.customer_id,
            Contact.is_primary.desc(),
            Contact.receives_statements.desc(),
            Contact.id,
        )
    ):
        contacts.setdefault(cid, name)
    items = carried_items(session, [q.letter_id for q in chunk])
    return LetterFacts(
        ledger_reads.addressees(session, ids), contacts, items, credits_of(session, ids)
    )
