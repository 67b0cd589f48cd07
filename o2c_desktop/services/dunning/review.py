"""Reviewing a proposed run (Permission.RUN_DUNNING): its letters and their items, leaving a
letter out, or discarding the whole proposal.

Neither change is made while the run is being produced (services.dunning.lease): a letter left
out after the pass read its queue would go out all the same, and a run discarded under a pass
would be left half produced and cancelled."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.db.hints import money_sum
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, ValidationFailed
from o2c_desktop.models import Customer, DunningLetter, DunningLetterItem
from o2c_desktop.models.collections import CHANNEL_EMAIL
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.dunning.items import LetterItemRow, carried_items
from o2c_desktop.services.dunning.lease import refuse_if_producing
from o2c_desktop.services.dunning.levels import level_rows
from o2c_desktop.services.dunning.proposal import LetterProposal
from o2c_desktop.services.dunning.recipients import email_recipients
from o2c_desktop.services.dunning.runs import (
    audit_letter_change,
    cancel_run,
    must_be_proposed,
    open_run,
)
from o2c_desktop.services.stored_rows import stale_version_conflict


def set_included(db: Database, actor: Actor, letter_id: int, included: bool) -> None:
    """Put a proposed letter in or leave it out of the run (audited on the customer)."""
    actor.require(Permission.RUN_DUNNING)
    if not isinstance(included, bool):
        raise ValidationFailed([FieldProblem("included", "yes or no", value=str(included))])
    with db.write() as session:
        letter = session.get(DunningLetter, letter_id, with_for_update=True)
        if letter is None:
            raise NotFound(f"Dunning letter #{letter_id} does not exist.")
        run = open_run(session, letter.run_id)
        must_be_proposed(run, "change its letters")
        refuse_if_producing(session, actor, run, "leave letters out or put them back after it")
        if letter.produced_at is not None:
            raise O2CError(f"Dunning letter #{letter_id} was produced already.")
        if letter.included == included:
            return
        letter.included = included
        audit_letter_change(
            session, actor, letter.id, letter.customer_id, {"included": (not included, included)}
        )


def discard_run(db: Database, actor: Actor, run_id: int, expected_version: int) -> None:
    """Drop a proposal without producing it (the run is kept, marked cancelled)."""
    actor.require(Permission.RUN_DUNNING)
    with db.write() as session:
        run = open_run(session, run_id, lock=True)
        if run.version != expected_version:
            raise stale_version_conflict(
                session,
                run,
                expected_version,
                what="Dunning run",
                name=f"#{run.id}",
                changed_at=run.created_at,
            )
        must_be_proposed(run, "discard it")
        refuse_if_producing(session, actor, run, "it can be discarded once that has finished")
        cancel_run(session, actor, run)


def run_letters(db: Database, actor: Actor, run_id: int) -> tuple[LetterProposal, ...]:
    """A run's letters as proposed (by customer number), to review it again later."""
    actor.require(Permission.RUN_DUNNING)
    with db.read() as session:
        open_run(session, run_id)
        names = {x.level: x.name for x in level_rows(session)}
        counts = (
            select(
                DunningLetterItem.letter_id,
                func.count().label("n"),
                money_sum(DunningLetterItem.open_amount).label("item_total"),
            )
            .join(DunningLetter, DunningLetter.id == DunningLetterItem.letter_id)
            .where(DunningLetter.run_id == run_id)
            .group_by(DunningLetterItem.letter_id)
            .subquery()
        )
        rows = session.execute(
            select(DunningLetter, Customer.number, Customer.name, counts.c.n, counts.c.item_total)
            .join(Customer, Customer.id == DunningLetter.customer_id)
            .outerjoin(counts, counts.c.letter_id == DunningLetter.id)
            .where(DunningLetter.run_id == run_id)
            .order_by(Customer.number, DunningLetter.currency)
        ).all()
        email = {r[0].customer_id for r in rows if r[0].channel == CHANNEL_EMAIL}
        recipients = email_recipients(session, email)
        return tuple(
            LetterProposal(
                x.id,
                x.customer_id,
                number,
                name,
                x.level,
                names.get(x.level, f"Level {x.level}"),
                x.channel,
                x.currency,
                x.overdue,
                x.fee,
                int(n or 0),
                x.included,
                recipients.get(x.customer_id) if x.channel == CHANNEL_EMAIL else None,
                _credits(items, x.overdue),
            )
            for x, number, name, n, items in rows
        )


def _credits(items: Decimal | None, net: Decimal) -> Decimal:
    """The credits netted in a letter: its items less the net it asks for (the letter keeps
    the net; the items keep what each was)."""
    return (items if isinstance(items, Decimal) else Decimal(items or 0)) - net


def letter_items(db: Database, actor: Actor, letter_id: int) -> list[LetterItemRow]:
    """The items a letter carries, oldest due first (as the letter prints them)."""
    actor.require(Permission.RUN_DUNNING)
    with db.read() as session:
        return [i.row for i in carried_items(session, [letter_id]).get(letter_id, [])]
