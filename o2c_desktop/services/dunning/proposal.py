"""Proposing a dunning run (Permission.RUN_DUNNING): which customers get a letter, at which
level, carrying which items; previewing the same without writing anything.

The rules are the package docstring's (domain.md "Dunning"). All of it is one grouped query
over the open items (joined to the customers' unapplied payments and credit notes, grouped the
same way) and set-based inserts (`INSERT … SELECT` for the letters' items, COPY/executemany for
the letters): 200,000 customers and 300,000 open items never pass through Python objects.

A letter's `overdue` is what it asks for: its items' dunnable amounts less the customer's
unapplied payments and open credit notes in the letter's currency (`credits`). A customer who
has paid (or been credited) as much as is overdue, but whose cash is not yet applied to the
invoices, owes nothing overdue and gets no letter: it is counted in `skipped_credited`.
Credits are netted against the overdue total, not allocated to items (that is cash
application's work): the letter lists every overdue item, then "less unapplied
payments/credits", then the net amount due. The fee is the level's, on letters in the fee's
currency only (levels.LevelRow.fee_on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import Same, bulk_insert_columns
from o2c_desktop.db.hints import money_sum
from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models import Customer, DunningLetter, DunningLetterItem, DunningRun, Invoice
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import CHANNEL_EMAIL, RUN_PROPOSED
from o2c_desktop.services import audit, promises
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.dunning.lease import refuse_if_producing
from o2c_desktop.services.dunning.levels import LevelRow, levels_by_number
from o2c_desktop.services.dunning.overdue import (
    ZERO,
    credits,
    days_past_due,
    overdue_items,
    reached,
    undisputed,
)
from o2c_desktop.services.dunning.recipients import email_recipients
from o2c_desktop.services.dunning.runs import cancel_run
from o2c_desktop.services.field_checks import is_day


@dataclass(frozen=True)
class LetterProposal:
    """One letter of a run (`letter_id` None in a preview that wrote nothing). `recipient` is
    who an e-mail letter goes to (None for paper letters, or when nobody is set up).
    `overdue` is the net amount the letter asks for: its items (`overdue + credits`) less the
    unapplied payments and credit notes netted against them (`credits`)."""

    letter_id: int | None
    customer_id: int
    number: str
    name: str
    level: int
    level_name: str
    channel: str
    currency: str
    overdue: Decimal
    fee: Decimal
    item_count: int
    included: bool
    recipient: str | None
    credits: Decimal = Decimal(0)

    @property
    def items_overdue(self) -> Decimal:
        """What the letter's items add up to, before the credits are netted."""
        return self.overdue + self.credits


@dataclass(frozen=True)
class RunProposal:
    run_id: int | None
    as_of: date
    letters: tuple[LetterProposal, ...]
    skipped_disputed: int
    skipped_promised: int
    skipped_credited: int = 0  # customers whose unapplied payments/credits cover the overdue


@dataclass(frozen=True)
class _Group:
    """A customer's overdue items in one currency, summed in SQL."""

    customer_id: int
    number: str
    name: str
    currency: str
    level: int
    overdue: Decimal  # the items' dunnable amounts, before credits
    credits: Decimal  # unapplied payments and open credit notes in this currency
    items: int
    fresh: bool  # an undisputed item reached a level above the one it was last dunned at
    blocked: bool  # a fully disputed item would have

    @property
    def net(self) -> Decimal:
        """What is left overdue once the credits are netted (0 or less: nothing)."""
        return self.overdue - self.credits


def _groups(session: Session, levels: Sequence[LevelRow], as_of: date) -> list[_Group]:
    """Per customer and currency, the groups where some item reached a level it was not yet
    dunned at, with the customer's credits in that currency: one grouped pass over the open
    overdue items, joined to one over the unapplied payments and open credit notes."""
    free = undisputed()
    level = reached(levels, as_of)
    counted = free > ZERO
    higher = level > Invoice.dunning_level
    grouped = (
        select(
            Invoice.customer_id.label("customer_id"),
            Invoice.currency.label("currency"),
            func.max(case((counted, level), else_=0)).label("level"),
            money_sum(case((counted, free), else_=ZERO)).label("overdue"),
            func.sum(case((counted, 1), else_=0)).label("item_count"),
            func.max(case((and_(counted, higher), 1), else_=0)).label("fresh"),
            func.max(case((and_(~counted, higher), 1), else_=0)).label("blocked"),
        )
        .where(overdue_items(levels, as_of))
        .group_by(Invoice.customer_id, Invoice.currency)
        .having(func.max(case((higher, 1), else_=0)) == 1)
        .subquery("groups")
    )
    g = grouped.c
    credit = credits().subquery("credits")
    cr = credit.c
    rows = session.execute(
        select(
            g.customer_id,
            Customer.number,
            Customer.name,
            g.currency,
            g.level,
            g.overdue,
            cr.credits,
            g.item_count,
            g.fresh,
            g.blocked,
        )
        .join(Customer, Customer.id == g.customer_id)
        .outerjoin(credit, and_(cr.customer_id == g.customer_id, cr.currency == g.currency))
        .order_by(Customer.number, g.currency)
    )
    return [
        _Group(
            cid,
            number,
            name,
            cur,
            int(lv),
            _as_money(overdue),
            _as_money(credit),
            int(n),
            bool(f),
            bool(b),
        )
        for cid, number, name, cur, lv, overdue, credit, n, f, b in rows
    ]


def _as_money(value: Any) -> Decimal:
    """A money sum as it arrives: a Decimal (the Money type), or 0 for an empty sum."""
    return value if isinstance(value, Decimal) else Decimal(value or 0)


def _promised_customers(session: Session, as_of: date) -> set[int]:
    """Customers with a promise to pay still open at `as_of`: made by then, neither kept nor
    cancelled, its day + grace not passed (services.promises, one grouped query)."""
    return {
        p.customer_id
        for p in promises.statuses_in_session(session, as_of, active_from=as_of)
        if p.state == promises.PromiseState.OPEN
    }


@dataclass(frozen=True)
class _Plan:
    letters: list[_Group]
    skipped_disputed: int
    skipped_promised: int
    skipped_credited: int


def _plan(session: Session, levels: Sequence[LevelRow], as_of: date) -> _Plan:
    """Which groups get a letter, and how many customers were skipped for what: a promise
    first (in every currency), then credits covering all that is overdue, then disputes."""
    groups = _groups(session, levels, as_of)
    promised = _promised_customers(session, as_of) if groups else set()
    due = [g for g in groups if g.fresh and g.customer_id not in promised]
    letters = [g for g in due if g.net > 0]
    dunned = {g.customer_id for g in letters}
    held = {g.customer_id for g in groups if g.fresh and g.customer_id in promised}
    credited = {g.customer_id for g in due if g.net <= 0} - dunned
    disputed = {
        g.customer_id
        for g in groups
        if g.blocked
        and g.customer_id not in promised
        and g.customer_id not in dunned
        and g.customer_id not in credited
    }
    return _Plan(letters, len(disputed), len(held), len(credited))


def _check_as_of(as_of: Any) -> date:
    if not is_day(as_of):
        raise ValidationFailed([FieldProblem("as_of", "must be a date", value=str(as_of))])
    if as_of > date.today():
        raise ValidationFailed(
            [
                FieldProblem(
                    "as_of",
                    "a run cannot be dated after today: nothing is overdue on a later date yet",
                    value=as_of.isoformat(),
                )
            ]
        )
    return as_of


def _levels_for_run(session: Session) -> dict[int, LevelRow]:
    levels = levels_by_number(session)
    if not levels:
        raise O2CError(
            "No dunning levels are set up; a credit manager or administrator can add them "
            "under Settings → Dunning."
        )
    return levels


def _proposal(
    plan: _Plan,
    levels: Mapping[int, LevelRow],
    recipients: Mapping[int, str],
    letter_ids: Mapping[tuple[int, str], int],
) -> tuple[LetterProposal, ...]:
    letters = []
    for g in plan.letters:
        level = levels[g.level]
        letters.append(
            LetterProposal(
                letter_ids.get((g.customer_id, g.currency)),
                g.customer_id,
                g.number,
                g.name,
                g.level,
                level.name,
                level.channel,
                g.currency,
                g.net,
                level.fee_on(g.currency),
                g.items,
                True,
                recipients.get(g.customer_id) if level.channel == CHANNEL_EMAIL else None,
                g.credits,
            )
        )
    return tuple(letters)


def _email_customers(plan: _Plan, levels: Mapping[int, LevelRow]) -> set[int]:
    return {g.customer_id for g in plan.letters if levels[g.level].channel == CHANNEL_EMAIL}


def preview_run(db: Database, actor: Actor, as_of: date) -> RunProposal:
    """The letters a run would propose, writing nothing (not even the run): `o2c-desktop
    dunning run --dry-run`."""
    actor.require(Permission.RUN_DUNNING)
    as_of = _check_as_of(as_of)
    with db.read() as session:
        levels = _levels_for_run(session)
        plan = _plan(session, list(levels.values()), as_of)
        recipients = email_recipients(session, _email_customers(plan, levels))
        letters = _proposal(plan, levels, recipients, {})
    return RunProposal(
        None, as_of, letters, plan.skipped_disputed, plan.skipped_promised, plan.skipped_credited
    )


def _supersede(session: Session, actor: Actor) -> None:
    """Cancel the runs still waiting to be produced: a new proposal replaces them. A run being
    produced right now (under an unexpired lease) is not cancelled and the new proposal is
    refused: leaving that run alone beside the new one would remind the customers it has not
    reached yet twice, once from each run."""
    runs = list(
        session.scalars(
            select(DunningRun)
            .where(DunningRun.status == RUN_PROPOSED)
            .order_by(DunningRun.id)
            .with_for_update()
        )
    )
    for run in runs:
        refuse_if_producing(
            session,
            actor,
            run,
            "propose the new run when it has finished (it would replace the run being produced)",
        )
    for run in runs:
        cancel_run(session, actor, run)


def propose_run(db: Database, actor: Actor, as_of: date) -> RunProposal:
    """Propose a dunning run for `as_of`: the run, its letters and their items, written in one
    unit of work for the reviewer (see the package docstring for the rules)."""
    actor.require(Permission.RUN_DUNNING)
    as_of = _check_as_of(as_of)
    with db.write() as session:
        levels = _levels_for_run(session)
        _supersede(session, actor)
        plan = _plan(session, list(levels.values()), as_of)
        run = DunningRun(
            as_of=as_of,
            status=RUN_PROPOSED,
            created_at=utcnow(),
            created_by_id=actor.user_id or None,
        )
        session.add(run)
        session.flush()
        letters = plan.letters
        if letters:
            bulk_insert_columns(
                session,
                DunningLetter.__table__,  # type: ignore[arg-type]
                {
                    "run_id": Same(run.id),
                    "customer_id": [g.customer_id for g in letters],
                    "level": [g.level for g in letters],
                    "currency": [g.currency for g in letters],
                    "overdue": [g.net for g in letters],
                    "fee": [levels[g.level].fee_on(g.currency) for g in letters],
                    "channel": [levels[g.level].channel for g in letters],
                    "included": Same(True),
                },
            )
            _insert_items(session, run.id, list(levels.values()), as_of)
        ids = {
            (cid, currency): letter_id
            for letter_id, cid, currency in session.execute(
                select(DunningLetter.id, DunningLetter.customer_id, DunningLetter.currency).where(
                    DunningLetter.run_id == run.id
                )
            )
        }
        recipients = email_recipients(session, _email_customers(plan, levels))
        audit.record(
            session,
            actor,
            audit.CREATE,
            "dunning_runs",
            run.id,
            record_version=run.version,
            note=(
                f"dunning run as of {as_of.isoformat()} proposed: {len(letters)} letter(s); "
                f"skipped {plan.skipped_disputed} customer(s) for disputes, "
                f"{plan.skipped_promised} for open promises, {plan.skipped_credited} covered by "
                "unapplied payments/credits"
            ),
        )
        proposal = _proposal(plan, levels, recipients, ids)
        return RunProposal(
            run.id,
            as_of,
            proposal,
            plan.skipped_disputed,
            plan.skipped_promised,
            plan.skipped_credited,
        )


def _insert_items(session: Session, run_id: int, levels: Sequence[LevelRow], as_of: date) -> None:
    """Every letter's items, with the level each reached: one INSERT … SELECT joining the run's
    letters to their customers' open overdue items (the same terms as `_groups`)."""
    free = undisputed()
    letter = DunningLetter
    rows = (
        select(
            letter.id,
            Invoice.id,
            reached(levels, as_of),
            days_past_due(session.get_bind().dialect.name, as_of),
            free,
        )
        .select_from(letter)
        .join(
            Invoice,
            and_(Invoice.customer_id == letter.customer_id, Invoice.currency == letter.currency),
        )
        .where(letter.run_id == run_id, overdue_items(levels, as_of), free > ZERO)
    )
    session.execute(
        insert(DunningLetterItem).from_select(
            ["letter_id", "invoice_id", "level", "days_past_due", "open_amount"], rows
        )
    )
