"""Dunning: reminder levels, runs that propose one letter per customer, and producing them.

Levels (edited in the app, Permission.EDIT_SETTINGS): a days-past-due threshold, a letter
template, a channel (letter or e-mail) and a fee. Thresholds rise strictly with the level, so
"the highest level an item reached" is one comparison per level.

A run for a date D (Permission.RUN_DUNNING), domain.md "Dunning":
- Items: open invoices past due at D (D − due date ≥ 1 day, or ≥ the first level's threshold
  when that is 0), issued by D. What is dunned of an item is its open amount less its disputed
  part (`Invoice.disputed_amount`, the sum over disputes still open or in review, capped at the
  open amount); an item disputed in full is left out. Open and disputed amounts are those of
  the ledger as it stands when the run is proposed (the maintained columns, through the
  partial index on open items), never rolled back to D: a run dated last Friday must not remind
  a customer of an invoice paid or disputed since.
- Each item reaches the highest level whose threshold its days past due meet (0: none yet).
- One letter per customer and currency (currencies are never added together: a customer with
  overdue EUR and USD items gets two letters), at the highest level its items reached, carrying
  every overdue undisputed item in that currency with the level each reached.
- A letter is proposed only when some item reached a level higher than the one it was last
  dunned at (`Invoice.dunning_level`, recorded when a letter is produced: the maximum level of
  the item over produced letters, the same as reading DunningLetterItem, without joining every
  earlier run). So a customer whose items were all dunned at their level already gets no new
  letter; once one item climbs a level, or a new item becomes overdue enough to reach level 1,
  the letter lists all its overdue items again.
- A customer with an open promise to pay (not kept, not broken, not cancelled at D; see
  services.promises) is skipped entirely, in every currency. Skipped customers are counted:
  `skipped_promised` (would have had a letter), `skipped_disputed` (would have had one but for
  disputed items, and has none).
All of it is one grouped query over the open items and set-based inserts (`INSERT … SELECT` for
the letters' items, COPY/executemany for the letters): 200,000 customers and 300,000 open items
never pass through Python objects.

Proposing a run supersedes an earlier run still waiting to be produced (it is marked cancelled):
two proposals must not remind the same customer twice. The reviewer may leave letters out
(`set_included`). `produce_run` renders one PDF per included letter (dunning_letters, with the
statements' letterhead) into a folder; a letter whose level's channel is e-mail is also sent,
with the PDF attached, through the statements' SMTP settings and logged in the statements'
delivery log (kind "dunning"). For each letter delivered, in the same unit of work: the letter's
file, SHA-256 and time, the level reached on each item (`Invoice.dunning_level`, audited per
invoice), an Activity on the customer ("Reminder: Second reminder") and an audit row.

A letter is not produced when one of its items changed since the proposal (paid, in part or in
full, or disputed): it is reported and left for the next proposal, which will have the right
figures. A letter whose e-mail could not be sent keeps its file, is logged as a failed delivery
and reported, and records no level, so the next run proposes it again. Cancelling stops between
letters: what was produced is recorded, the run stays proposed, and producing it again carries on
with the letters not yet produced.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import Same, bulk_insert_columns
from o2c_desktop.db.hints import common, money_sum
from o2c_desktop.db.types import MONEY_MAX, Money
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    O2CError,
    ValidationFailed,
)
from o2c_desktop.models import (
    Activity,
    Contact,
    Customer,
    DunningLetter,
    DunningLetterItem,
    DunningLevel,
    DunningRun,
    Invoice,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import (
    CHANNEL_EMAIL,
    DUNNING_CHANNELS,
    RUN_CANCELLED,
    RUN_PRODUCED,
    RUN_PROPOSED,
)
from o2c_desktop.models.ledger import INVOICE
from o2c_desktop.money import parse_amount
from o2c_desktop.services import audit, promises
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.statement_delivery import (
    DUNNING_KIND,
    DeliveryEntry,
    record_deliveries_in_session,
)

ACTIVITY_KIND = "dunning"
MAX_NAME = 80
MAX_TEMPLATE = 10_000
CHUNK = 50  # letters read, and recorded, per unit of work while producing
MAIL_ATTEMPTS = 3
MAIL_BACKOFF_SECONDS = 2.0
_IN_CHUNK = 500  # ids per IN (...) list
_ZERO = literal_column("0")  # literal: SQLite uses a partial index only for its exact term
_NO_CONTACT = (
    'no statement contact: mark a contact "receives statements" or give the customer an '
    "e-mail address"
)

# The placeholders a level's template may use, and what they print.
TEMPLATE_FIELDS: dict[str, str] = {
    "contact_name": "the customer's primary contact (else 'Sir or Madam')",
    "overdue": "the total overdue, with its currency",
    "as_of": "the run's date, in the customer's locale",
    "fee": "the level's reminder fee, with the currency",
    "total_due": "overdue plus fee, with the currency",
    "company_name": "our company name (the letterhead's)",
    "customer_name": "the customer's name",
    "customer_number": "the customer's number",
    "level_name": "this level's name",
}
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
NO_CONTACT_NAME = "Sir or Madam"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelRow:
    id: int
    level: int
    name: str
    days_past_due: int
    template: str
    channel: str
    fee: Decimal
    version: int


@dataclass(frozen=True)
class LetterProposal:
    """One letter of a run (`letter_id` None in a preview that wrote nothing). `recipient` is
    who an e-mail letter goes to (None for paper letters, or when nobody is set up)."""

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


@dataclass(frozen=True)
class RunProposal:
    run_id: int | None
    as_of: date
    letters: tuple[LetterProposal, ...]
    skipped_disputed: int
    skipped_promised: int


@dataclass(frozen=True)
class RunResult:
    """What a production pass did. `files`: PDFs written; `emailed`: e-mails accepted by the
    server; `failed`: one line per letter not delivered, saying why."""

    files: int
    emailed: int
    failed: tuple[str, ...]
    seconds: float
    cancelled: bool

    @property
    def per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class LetterItemRow:
    """An item a letter carries (for reviewing a proposal)."""

    invoice_id: int
    number: str
    issue_date: date
    due_date: date
    days_past_due: int
    open_amount: Decimal
    level: int


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def placeholders(template: str) -> list[str]:
    """The names in braces a template uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))


def unknown_placeholders(template: str) -> list[str]:
    return [name for name in placeholders(template) if name not in TEMPLATE_FIELDS]


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """The template with each known {placeholder} replaced. Never raises: an unknown
    placeholder (or a stray brace) stays as it is typed, visible in the letter, so a template
    saved before a placeholder was withdrawn prints rather than stopping a run."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# ---------------------------------------------------------------------------------------------
# Levels
# ---------------------------------------------------------------------------------------------


def _level_row(level: DunningLevel) -> LevelRow:
    return LevelRow(
        level.id,
        level.level,
        level.name,
        level.days_past_due,
        level.template,
        level.channel,
        level.fee,
        level.version,
    )


def _levels(session: Session) -> list[LevelRow]:
    return [
        _level_row(x) for x in session.scalars(select(DunningLevel).order_by(DunningLevel.level))
    ]


def list_levels(db: Database, actor: Actor) -> list[LevelRow]:
    """The levels, lowest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return _levels(session)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fee(raw: Any, problems: list[FieldProblem]) -> Decimal | None:
    if isinstance(raw, float) or raw is None or isinstance(raw, bool):
        problems.append(FieldProblem("fee", "an amount such as 40.00 is needed", value=str(raw)))
        return None
    try:
        fee = parse_amount(raw) if isinstance(raw, str | int) else Decimal(raw)
    except (ValueError, InvalidOperation, TypeError):
        problems.append(FieldProblem("fee", "not an amount", value=str(raw)))
        return None
    if not fee.is_finite() or fee < 0:
        problems.append(FieldProblem("fee", "must be 0 or more", value=str(raw)))
        return None
    if fee != fee.quantize(Decimal("0.01")):
        problems.append(FieldProblem("fee", "at most two decimals", value=str(raw)))
        return None
    if fee > MONEY_MAX:
        problems.append(FieldProblem("fee", "too large", value=str(raw)))
        return None
    return fee.quantize(Decimal("0.01"))


def _check_level(
    others: Sequence[DunningLevel],
    *,
    level: Any,
    name: Any,
    days_past_due: Any,
    template: Any,
    channel: Any,
    fee: Any,
) -> dict[str, Any]:
    """Clean values for a level, or ValidationFailed naming every bad field. `others` are the
    other levels: numbers are unique and thresholds rise strictly with the level."""
    problems: list[FieldProblem] = []
    if not _whole(level) or level <= 0:
        problems.append(FieldProblem("level", "a whole number of 1 or more", value=str(level)))
    elif any(o.level == level for o in others):
        problems.append(FieldProblem("level", "another level has this number", value=str(level)))
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not text:
        problems.append(FieldProblem("name", "required (it is the letter's title)"))
    elif len(text) > MAX_NAME:
        problems.append(FieldProblem("name", f"longer than {MAX_NAME} characters", text[:40]))
    if not _whole(days_past_due) or days_past_due < 0:
        problems.append(
            FieldProblem("days_past_due", "a whole number of 0 or more", value=str(days_past_due))
        )
    elif _whole(level) and level > 0:
        for o in others:
            if o.level < level and o.days_past_due >= days_past_due:
                problems.append(
                    FieldProblem(
                        "days_past_due",
                        f"must be more than level {o.level}'s {o.days_past_due} days "
                        "(thresholds rise with the level)",
                        value=str(days_past_due),
                    )
                )
            elif o.level > level and o.days_past_due <= days_past_due:
                problems.append(
                    FieldProblem(
                        "days_past_due",
                        f"must be less than level {o.level}'s {o.days_past_due} days "
                        "(thresholds rise with the level)",
                        value=str(days_past_due),
                    )
                )
    body = template.strip() if isinstance(template, str) else ""
    if not body:
        problems.append(FieldProblem("template", "required (it is the letter's text)"))
    elif len(body) > MAX_TEMPLATE:
        problems.append(FieldProblem("template", f"longer than {MAX_TEMPLATE} characters"))
    else:
        unknown = unknown_placeholders(body)
        if unknown:
            known = ", ".join(f"{{{n}}}" for n in TEMPLATE_FIELDS)
            problems.append(
                FieldProblem(
                    "template",
                    "unknown placeholder(s) "
                    + ", ".join(f"{{{n}}}" for n in unknown)
                    + f"; use {known}",
                )
            )
    if channel not in DUNNING_CHANNELS:
        problems.append(
            FieldProblem("channel", f"one of {', '.join(DUNNING_CHANNELS)}", value=str(channel))
        )
    amount = _fee(fee, problems)
    if problems:
        raise ValidationFailed(problems, "Dunning level")
    return {
        "level": level,
        "name": text,
        "days_past_due": days_past_due,
        "template": body,
        "channel": channel,
        "fee": amount,
    }


def _level_conflict(session: Session, row: DunningLevel, expected: int) -> ConflictError:
    since = audit.changes_since(session, "dunning_levels", row.id, expected)
    who, at, values = since or ("another user", row.updated_at, {})
    return ConflictError(
        ConflictDetails(
            "Dunning level", f"{row.level} ({row.name})", who, f"{at:%Y-%m-%d %H:%M} UTC", values
        )
    )


def save_level(
    db: Database,
    actor: Actor,
    level_id: int | None,
    *,
    level: int,
    name: str,
    days_past_due: int,
    template: str,
    channel: str,
    fee: Decimal | int | str,
    expected_version: int | None = None,
) -> LevelRow:
    """Create a level (`level_id` None) or change one (with the version the editor loaded).
    Validated against the other levels, audited field by field."""
    actor.require(Permission.EDIT_SETTINGS)
    with db.write() as session:
        rows = list(session.scalars(select(DunningLevel).with_for_update()))
        current = next((r for r in rows if r.id == level_id), None)
        if level_id is not None:
            if current is None:
                raise NotFound(
                    f"Dunning level #{level_id} does not exist (deleted by another user?)."
                )
            if expected_version is None:
                raise ValueError("expected_version is required to change a level")
            if current.version != expected_version:
                raise _level_conflict(session, current, expected_version)
        values = _check_level(
            [r for r in rows if r.id != level_id],
            level=level,
            name=name,
            days_past_due=days_past_due,
            template=template,
            channel=channel,
            fee=fee,
        )
        if current is None:
            current = DunningLevel(
                **values, updated_at=utcnow(), updated_by_id=actor.user_id or None
            )
            session.add(current)
            action, changes = audit.CREATE, {k: (None, v) for k, v in values.items()}
        else:
            changes = {
                k: (getattr(current, k), v) for k, v in values.items() if getattr(current, k) != v
            }
            if not changes:
                return _level_row(current)
            for key, (_old, new) in changes.items():
                setattr(current, key, new)
            current.updated_at = utcnow()
            current.updated_by_id = actor.user_id or None
            action = audit.UPDATE
        try:
            session.flush()
        except IntegrityError:  # another user saved the same level number a moment ago
            raise ValidationFailed(
                [FieldProblem("level", "another level has this number", value=str(level))],
                "Dunning level",
            ) from None
        audit.record(
            session,
            actor,
            action,
            "dunning_levels",
            current.id,
            record_version=current.version,
            changes=changes,
        )
        return _level_row(current)


def delete_level(db: Database, actor: Actor, level_id: int, expected_version: int) -> None:
    """Remove a level (letters already produced at it keep their level number)."""
    actor.require(Permission.EDIT_SETTINGS)
    with db.write() as session:
        row = session.get(DunningLevel, level_id, with_for_update=True)
        if row is None:
            raise NotFound(f"Dunning level #{level_id} does not exist (deleted by another user?).")
        if row.version != expected_version:
            raise _level_conflict(session, row, expected_version)
        audit.record(
            session,
            actor,
            audit.DELETE,
            "dunning_levels",
            row.id,
            record_version=row.version,
            changes={
                "level": (row.level, None),
                "name": (row.name, None),
                "days_past_due": (row.days_past_due, None),
                "channel": (row.channel, None),
                "fee": (row.fee, None),
            },
        )
        session.delete(row)


# ---------------------------------------------------------------------------------------------
# Proposing a run: the SQL
# ---------------------------------------------------------------------------------------------


def _undisputed() -> Any:
    """What may be dunned of the current invoice: open less disputed (capped at open)."""
    disputed = case(
        (Invoice.disputed_amount > Invoice.open_amount, Invoice.open_amount),
        else_=Invoice.disputed_amount,
    )
    return type_coerce(Invoice.open_amount - disputed, Money())


def _reached(levels: Sequence[LevelRow], as_of: date) -> Any:
    """The highest level the current invoice's days past due reach (0: none)."""
    whens = [
        (Invoice.due_date <= as_of - timedelta(days=x.days_past_due), literal(x.level, Integer))
        for x in sorted(levels, key=lambda x: x.level, reverse=True)
    ]
    return case(*whens, else_=literal(0, Integer))


def _overdue_items(levels: Sequence[LevelRow], as_of: date) -> Any:
    """Open invoices issued by `as_of` and past due at it (or due that day when the first
    threshold is 0 days), through the partial index of open items."""
    first = min(x.days_past_due for x in levels)
    cut = as_of - timedelta(days=min(first, 1))
    return and_(
        Invoice.open_amount != _ZERO,
        Invoice.due_date <= cut,
        common(Invoice.kind == INVOICE),
        common(Invoice.issue_date <= as_of),
    )


def _days_past_due(dialect: str, as_of: date) -> Any:
    """As-of date − due date in whole days, in SQL (SQLite keeps dates as ISO text)."""
    if dialect == "sqlite":
        day = literal(as_of.isoformat())
        return cast(func.julianday(day) - func.julianday(Invoice.due_date), Integer)
    return literal(as_of, Date) - Invoice.due_date


@dataclass(frozen=True)
class _Group:
    """A customer's overdue items in one currency, summed in SQL."""

    customer_id: int
    number: str
    name: str
    currency: str
    level: int
    overdue: Decimal
    items: int
    fresh: bool  # an undisputed item reached a level above the one it was last dunned at
    blocked: bool  # a fully disputed item would have


def _groups(session: Session, levels: Sequence[LevelRow], as_of: date) -> list[_Group]:
    """Per customer and currency, the groups where some item reached a level it was not yet
    dunned at: one grouped pass over the open overdue items."""
    free = _undisputed()
    reached = _reached(levels, as_of)
    counted = free > _ZERO
    higher = reached > Invoice.dunning_level
    grouped = (
        select(
            Invoice.customer_id.label("customer_id"),
            Invoice.currency.label("currency"),
            func.max(case((counted, reached), else_=0)).label("level"),
            money_sum(case((counted, free), else_=_ZERO)).label("overdue"),
            func.sum(case((counted, 1), else_=0)).label("item_count"),
            func.max(case((and_(counted, higher), 1), else_=0)).label("fresh"),
            func.max(case((and_(~counted, higher), 1), else_=0)).label("blocked"),
        )
        .where(_overdue_items(levels, as_of))
        .group_by(Invoice.customer_id, Invoice.currency)
        .having(func.max(case((higher, 1), else_=0)) == 1)
        .subquery("groups")
    )
    g = grouped.c
    rows = session.execute(
        select(
            g.customer_id,
            Customer.number,
            Customer.name,
            g.currency,
            g.level,
            g.overdue,
            g.item_count,
            g.fresh,
            g.blocked,
        )
        .join(Customer, Customer.id == g.customer_id)
        .order_by(Customer.number, g.currency)
    )
    return [
        _Group(cid, number, name, cur, int(level), _as_money(overdue), int(n), bool(f), bool(b))
        for cid, number, name, cur, level, overdue, n, f, b in rows
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


def _recipients(session: Session, customer_ids: Collection[int]) -> dict[int, str]:
    """Who an e-mail letter goes to, as statements are sent (statement_mail.statement_recipients:
    the contacts marked "receives statements", primary first; else the customer's own e-mail),
    for many customers at once."""
    found: dict[int, list[str]] = defaultdict(list)
    ids = sorted(customer_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        part = ids[start : start + _IN_CHUNK]
        for cid, address in session.execute(
            select(Contact.customer_id, Contact.email)
            .where(
                Contact.customer_id.in_(part),
                Contact.receives_statements.is_(True),
                Contact.email.is_not(None),
            )
            .order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)
        ):
            found[cid].append(address)
        for cid, address in session.execute(
            select(Customer.id, Customer.email).where(Customer.id.in_(part))
        ):
            if not _distinct(found.get(cid, ())):
                found[cid] = [address] if address else []
    return {
        cid: ", ".join(_distinct(addresses))
        for cid, addresses in found.items()
        if _distinct(addresses)
    }


def _distinct(addresses: Iterable[str | None]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        text = (address or "").strip()
        if text:
            seen.setdefault(text.lower(), text)
    return list(seen.values())


@dataclass(frozen=True)
class _Plan:
    letters: list[_Group]
    skipped_disputed: int
    skipped_promised: int


def _plan(session: Session, levels: Sequence[LevelRow], as_of: date) -> _Plan:
    groups = _groups(session, levels, as_of)
    promised = _promised_customers(session, as_of) if groups else set()
    letters = [g for g in groups if g.fresh and g.customer_id not in promised]
    dunned = {g.customer_id for g in letters}
    held = {g.customer_id for g in groups if g.fresh and g.customer_id in promised}
    disputed = {
        g.customer_id
        for g in groups
        if g.blocked and g.customer_id not in promised and g.customer_id not in dunned
    }
    return _Plan(letters, len(disputed), len(held))


def _check_as_of(as_of: Any) -> date:
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
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
    levels = _levels(session)
    if not levels:
        raise O2CError(
            "No dunning levels are set up; a credit manager or administrator can add them "
            "under Settings → Dunning."
        )
    return {x.level: x for x in levels}


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
                g.overdue,
                level.fee,
                g.items,
                True,
                recipients.get(g.customer_id) if level.channel == CHANNEL_EMAIL else None,
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
        recipients = _recipients(session, _email_customers(plan, levels))
        letters = _proposal(plan, levels, recipients, {})
    return RunProposal(None, as_of, letters, plan.skipped_disputed, plan.skipped_promised)


def _supersede(session: Session, actor: Actor) -> None:
    """Cancel the runs still waiting to be produced: a new proposal replaces them."""
    for run in session.scalars(
        select(DunningRun).where(DunningRun.status == RUN_PROPOSED).with_for_update()
    ):
        run.status = RUN_CANCELLED
        session.flush()
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "dunning_runs",
            run.id,
            record_version=run.version,
            changes={"status": (RUN_PROPOSED, RUN_CANCELLED)},
        )


def propose_run(db: Database, actor: Actor, as_of: date) -> RunProposal:
    """Propose a dunning run for `as_of`: the run, its letters and their items, written in one
    unit of work for the reviewer (see the module docstring for the rules)."""
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
                    "overdue": [g.overdue for g in letters],
                    "fee": [levels[g.level].fee for g in letters],
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
        recipients = _recipients(session, _email_customers(plan, levels))
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
                f"{plan.skipped_promised} for open promises"
            ),
        )
        proposal = _proposal(plan, levels, recipients, ids)
        return RunProposal(run.id, as_of, proposal, plan.skipped_disputed, plan.skipped_promised)


def _insert_items(session: Session, run_id: int, levels: Sequence[LevelRow], as_of: date) -> None:
    """Every letter's items, with the level each reached: one INSERT … SELECT joining the run's
    letters to their customers' open overdue items (the same terms as `_groups`)."""
    free = _undisputed()
    letter = DunningLetter
    rows = (
        select(
            letter.id,
            Invoice.id,
            _reached(levels, as_of),
            _days_past_due(session.get_bind().dialect.name, as_of),
            free,
        )
        .select_from(letter)
        .join(
            Invoice,
            and_(Invoice.customer_id == letter.customer_id, Invoice.currency == letter.currency),
        )
        .where(letter.run_id == run_id, _overdue_items(levels, as_of), free > _ZERO)
    )
    session.execute(
        insert(DunningLetterItem).from_select(
            ["letter_id", "invoice_id", "level", "days_past_due", "open_amount"], rows
        )
    )


# ---------------------------------------------------------------------------------------------
# Reviewing a run
# ---------------------------------------------------------------------------------------------


def _open_run(session: Session, run_id: int, *, lock: bool = False) -> DunningRun:
    run = session.get(DunningRun, run_id, with_for_update=lock)
    if run is None:
        raise NotFound(f"Dunning run #{run_id} does not exist.")
    return run


def _must_be_proposed(run: DunningRun, doing: str) -> None:
    if run.status == RUN_PRODUCED:
        raise O2CError(f"Dunning run #{run.id} was produced already; cannot {doing}.")
    if run.status == RUN_CANCELLED:
        raise O2CError(
            f"Dunning run #{run.id} was replaced by a newer proposal (or discarded); cannot "
            f"{doing}. Propose the run again."
        )


def set_included(db: Database, actor: Actor, letter_id: int, included: bool) -> None:
    """Put a proposed letter in or leave it out of the run (audited on the customer)."""
    actor.require(Permission.RUN_DUNNING)
    if not isinstance(included, bool):
        raise ValidationFailed([FieldProblem("included", "yes or no", value=str(included))])
    with db.write() as session:
        letter = session.get(DunningLetter, letter_id, with_for_update=True)
        if letter is None:
            raise NotFound(f"Dunning letter #{letter_id} does not exist.")
        _must_be_proposed(_open_run(session, letter.run_id), "change its letters")
        if letter.produced_at is not None:
            raise O2CError(f"Dunning letter #{letter_id} was produced already.")
        if letter.included == included:
            return
        letter.included = included
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "dunning_letters",
            letter.id,
            customer_id=letter.customer_id,
            changes={"included": (not included, included)},
        )


def discard_run(db: Database, actor: Actor, run_id: int, expected_version: int) -> None:
    """Drop a proposal without producing it (the run is kept, marked cancelled)."""
    actor.require(Permission.RUN_DUNNING)
    with db.write() as session:
        run = _open_run(session, run_id, lock=True)
        if run.version != expected_version:
            since = audit.changes_since(session, "dunning_runs", run.id, expected_version)
            who, at, values = since or ("another user", run.created_at, {})
            raise ConflictError(
                ConflictDetails(
                    "Dunning run", f"#{run.id}", who, f"{at:%Y-%m-%d %H:%M} UTC", values
                )
            )
        _must_be_proposed(run, "discard it")
        run.status = RUN_CANCELLED
        session.flush()
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "dunning_runs",
            run.id,
            record_version=run.version,
            changes={"status": (RUN_PROPOSED, RUN_CANCELLED)},
        )


def run_letters(db: Database, actor: Actor, run_id: int) -> tuple[LetterProposal, ...]:
    """A run's letters as proposed (by customer number), to review it again later."""
    actor.require(Permission.RUN_DUNNING)
    with db.read() as session:
        _open_run(session, run_id)
        names = {x.level: x.name for x in _levels(session)}
        counts = (
            select(DunningLetterItem.letter_id, func.count().label("n"))
            .join(DunningLetter, DunningLetter.id == DunningLetterItem.letter_id)
            .where(DunningLetter.run_id == run_id)
            .group_by(DunningLetterItem.letter_id)
            .subquery()
        )
        rows = session.execute(
            select(DunningLetter, Customer.number, Customer.name, counts.c.n)
            .join(Customer, Customer.id == DunningLetter.customer_id)
            .outerjoin(counts, counts.c.letter_id == DunningLetter.id)
            .where(DunningLetter.run_id == run_id)
            .order_by(Customer.number, DunningLetter.currency)
        ).all()
        email = {r[0].customer_id for r in rows if r[0].channel == CHANNEL_EMAIL}
        recipients = _recipients(session, email)
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
            )
            for x, number, name, n in rows
        )


def letter_items(db: Database, actor: Actor, letter_id: int) -> list[LetterItemRow]:
    """The items a letter carries, oldest due first."""
    actor.require(Permission.RUN_DUNNING)
    with db.read() as session:
        return [
            LetterItemRow(*row)
            for row in session.execute(
                select(
                    Invoice.id,
                    Invoice.number,
                    Invoice.issue_date,
                    Invoice.due_date,
                    DunningLetterItem.days_past_due,
                    DunningLetterItem.open_amount,
                    DunningLetterItem.level,
                )
                .join(Invoice, Invoice.id == DunningLetterItem.invoice_id)
                .where(DunningLetterItem.letter_id == letter_id)
                .order_by(Invoice.due_date, Invoice.number)
            )
        ]


# ---------------------------------------------------------------------------------------------
# Producing a run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Queued:
    """A letter waiting to be produced."""

    letter_id: int
    customer_id: int
    number: str
    level: int
    currency: str
    overdue: Decimal
    fee: Decimal
    channel: str

    @property
    def label(self) -> str:
        return f"{self.number} ({self.currency})"


@dataclass(frozen=True)
class _Item:
    invoice_id: int
    number: str
    issue_date: date
    due_date: date
    days_past_due: int
    open_amount: Decimal  # as proposed
    level: int
    now_open: Decimal  # what may be dunned of it now (open less disputed)
    dunned_at: int  # the level it was last dunned at, now


@dataclass(frozen=True)
class _Facts:
    """What a chunk of letters needs from the database, read in one snapshot."""

    addressees: dict[int, Any]
    contacts: dict[int, str]
    items: dict[int, list[_Item]]


@dataclass(frozen=True)
class _Done:
    """A letter written to a file (and maybe e-mailed), to be recorded."""

    queued: _Queued
    level_name: str
    items: tuple[_Item, ...]
    path: Path
    sha256: str
    email: tuple[str, bool, str] | None  # recipients, sent, the server's reply or the reason

    @property
    def delivered(self) -> bool:
        return self.email is None or self.email[1]


def _queue(session: Session, run_id: int) -> list[_Queued]:
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
    return [_Queued(*row) for row in rows]


def _facts(session: Session, chunk: Sequence[_Queued]) -> _Facts:
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
    # Two lookups by key rather than one join: right after a proposal PostgreSQL has no
    # statistics on the new items yet and hashed all 2,000,000 invoices for the join (0.5 s
    # per chunk of 50 letters, measured); by primary key each side is an index probe.
    carried = session.execute(
        select(
            DunningLetterItem.letter_id,
            DunningLetterItem.invoice_id,
            DunningLetterItem.days_past_due,
            DunningLetterItem.open_amount,
            DunningLetterItem.level,
        ).where(DunningLetterItem.letter_id.in_([q.letter_id for q in chunk]))
    ).all()
    invoices = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                Invoice.id,
                Invoice.number,
                Invoice.issue_date,
                Invoice.due_date,
                _undisputed(),
                Invoice.dunning_level,
            ).where(Invoice.id.in_(sorted({r.invoice_id for r in carried})))
        )
    }
    items: dict[int, list[_Item]] = defaultdict(list)
    for letter_id, invoice_id, days, amount, level in carried:
        number, issued, due, now_open, dunned_at = invoices[invoice_id]
        items[letter_id].append(
            _Item(invoice_id, number, issued, due, days, amount, level, now_open, dunned_at)
        )
    for lines in items.values():
        lines.sort(key=lambda i: (i.due_date, i.number))
    return _Facts(ledger_reads.addressees(session, ids), contacts, items)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def template_values(
    customer: Any,
    contact: str | None,
    level_name: str,
    currency: str,
    overdue: Decimal,
    fee: Decimal,
    as_of: date,
    company: str,
) -> dict[str, str]:
    """The placeholders' values for one letter, written the customer's way (numbers and dates
    in its country's locale, as on its statements)."""
    from o2c_desktop.services.dunning_letters import date_text, money_text

    country = customer.country
    return {
        "contact_name": _one_line(contact) if contact else NO_CONTACT_NAME,
        "overdue": money_text(overdue, currency, country),
        "as_of": date_text(as_of, country),
        "fee": money_text(fee, currency, country),
        "total_due": money_text(overdue + fee, currency, country),
        "company_name": _one_line(company),
        "customer_name": _one_line(customer.name),
        "customer_number": customer.number,
        "level_name": level_name,
    }


class _Mailer:
    """One SMTP connection for the run's e-mail letters, through statement_mail (its settings,
    retries and failure rules). Like a statement batch, it stops trying once no session can be
    opened (a bad login, a TLS mismatch, the server unreachable twice in a row): the remaining
    e-mail letters fail at once with that reason instead of each waiting for retries."""

    def __init__(self, settings: Any):
        from o2c_desktop.services import statement_mail

        self.mail = statement_mail
        self.settings = replace(settings, subject_template="{subject}", body_template="{body}")
        self.session = statement_mail.SmtpSession(settings)
        self.down: str | None = None
        self.in_a_row = 0

    def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        pdf: bytes,
        filename: str,
        cancel: Callable[[], bool] | None,
    ) -> tuple[bool, str]:
        if self.down is not None:
            return False, f"not sent: the SMTP server failed for the letters before ({self.down})"
        message = self.mail.build_message(
            self.settings, recipients, {"subject": subject, "body": body}, pdf, filename
        )
        outcome = self.mail.deliver(
            self.session,
            message,
            attempts=MAIL_ATTEMPTS,
            backoff_seconds=MAIL_BACKOFF_SECONDS,
            cancelled=cancel,
        )
        failure = outcome.session_failure
        self.in_a_row = self.in_a_row + 1 if failure is not None else 0
        if failure is not None and (not failure.temporary or self.in_a_row >= self.mail.STOP_AFTER):
            self.down = failure.reason
        return outcome.ok, outcome.detail

    def close(self) -> None:
        self.session.close()


def _mailer(db: Database, actor: Actor, run_id: int, queue: Sequence[_Queued]) -> _Mailer | None:
    """The SMTP connection when some letters go out by e-mail; refused before anything is
    written when no server is set up."""
    emails = sum(1 for q in queue if q.channel == CHANNEL_EMAIL)
    if not emails:
        return None
    actor.require(Permission.PRINT_STATEMENTS)
    from o2c_desktop.services.mail_settings import load_mail_settings

    settings = load_mail_settings(db)
    if not settings.configured:
        raise O2CError(
            f"{emails} letter(s) of dunning run #{run_id} go out by e-mail, but no SMTP server "
            "is set up: a credit manager or administrator can set one under Settings → E-mail "
            "(SMTP), or leave those letters out. Nothing was produced."
        )
    return _Mailer(settings)


def _file_name(q: _Queued, as_of: date, taken: set[str]) -> str:
    """`C0001-2025-06-30-reminder-2-EUR.pdf`, safe on every file system and unique in the run
    (two numbers that differ only in unsafe characters get the letter's id as well)."""
    from o2c_desktop.services.statements.batch import file_name

    values = {"customer": q.number, "date": as_of.isoformat(), "level": q.level, "cur": q.currency}
    name = file_name("{customer}-{date}-reminder-{level}-{cur}.pdf", values)
    if name.lower() in taken:
        name = file_name(
            "{customer}-{date}-reminder-{level}-{cur}-{id}.pdf", {**values, "id": q.letter_id}
        )
    taken.add(name.lower())
    return name


@dataclass
class _Production:
    """One production pass: what it shares between letters and what it has done so far."""

    db: Database
    actor: Actor
    as_of: date
    levels: dict[int, LevelRow]
    letterhead: Any
    folder: Path
    mailer: _Mailer | None
    cancel: Callable[[], bool] | None
    taken: set[str]
    files: int = 0
    emailed: int = 0

    def produce(self, q: _Queued, facts: _Facts) -> _Done | str:
        """Write (and send) one letter; a string says why it was not produced."""
        from o2c_desktop.services import dunning_letters
        from o2c_desktop.services.statements.output import write_pdf

        level = self.levels.get(q.level)
        if level is None:
            return f"{q.label}: level {q.level} was deleted after the proposal; propose again"
        customer = facts.addressees.get(q.customer_id)
        if customer is None:
            return f"{q.label}: the customer was deleted after the proposal"
        items = facts.items.get(q.letter_id, [])
        if not items or any(i.now_open != i.open_amount for i in items):
            return (
                f"{q.label}: left out, its items changed since the proposal (paid or disputed); "
                "the next run proposes what is still overdue"
            )
        values = template_values(
            customer,
            facts.contacts.get(q.customer_id),
            level.name,
            q.currency,
            q.overdue,
            q.fee,
            self.as_of,
            self.letterhead.company_name,
        )
        text = fill_template(level.template, values)
        letter = dunning_letters.Letter(
            self.as_of,
            customer,
            q.level,
            level.name,
            text,
            q.currency,
            tuple(
                dunning_letters.LetterLine(
                    i.number, i.issue_date, i.due_date, i.days_past_due, i.open_amount
                )
                for i in items
            ),
            q.overdue,
            q.fee,
        )
        rendered = dunning_letters.render_letter(letter, self.letterhead)
        path = self.folder / _file_name(q, self.as_of, self.taken)
        write_pdf(path, rendered.pdf)
        self.files += 1
        done = _Done(
            q, level.name, tuple(items), path, hashlib.sha256(rendered.pdf).hexdigest(), None
        )
        if q.channel != CHANNEL_EMAIL or self.mailer is None:
            return done
        from o2c_desktop.services.statement_mail import statement_recipients

        recipients = statement_recipients(self.db, q.customer_id)
        if not recipients:
            sent, detail = False, _NO_CONTACT
        else:
            sent, detail = self.mailer.send(
                recipients,
                f"{level.name}: customer {customer.number}, {values['total_due']} due",
                f"{text}\n\nThe reminder is attached as a PDF.\n",
                rendered.pdf,
                path.name,
                self.cancel,
            )
        self.emailed += int(sent)
        return replace(done, email=(", ".join(recipients), sent, detail))


def _record(db: Database, actor: Actor, as_of: date, done: Sequence[_Done]) -> None:
    """Record letters written in one unit of work: the letters' files, the level reached on
    each item, the customers' activity, the e-mails in the delivery log, and the audit."""
    if not done:
        return
    now = utcnow()
    letters = DunningLetter.__table__
    invoices = Invoice.__table__
    with db.write() as session:
        session.execute(
            update(letters)
            .where(letters.c.id == bindparam("b_id"))
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
                for d in done
            ],
        )
        raised = [(d, i) for d in done if d.delivered for i in d.items if i.level > i.dunned_at]
        if raised:
            session.execute(
                update(invoices)
                .where(
                    invoices.c.id == bindparam("b_id"),
                    invoices.c.dunning_level < bindparam("b_level"),
                )
                .values(dunning_level=bindparam("b_level")),
                [{"b_id": i.invoice_id, "b_level": i.level} for _d, i in raised],
            )
        for d in done:
            _record_one(session, actor, as_of, d, now)
        for d, i in raised:
            audit.record(
                session,
                actor,
                audit.UPDATE,
                "invoices",
                i.invoice_id,
                customer_id=d.queued.customer_id,
                changes={"dunning_level": (i.dunned_at, i.level)},
            )


def _record_one(session: Session, actor: Actor, as_of: date, d: _Done, now: datetime) -> None:
    q = d.queued
    if d.email is not None:
        record_deliveries_in_session(
            session,
            actor,
            [
                DeliveryEntry(
                    q.customer_id,
                    as_of,
                    DUNNING_KIND,
                    d.path,
                    d.sha256,
                    CHANNEL_EMAIL,
                    "ok" if d.email[1] else "failed",
                    d.email[2] or None,
                    d.email[0] or None,
                )
            ],
        )
    if not d.delivered:
        audit.record(
            session,
            actor,
            audit.UPDATE,
            "dunning_letters",
            q.letter_id,
            customer_id=q.customer_id,
            changes={"file_name": (None, str(d.path)), "sha256": (None, d.sha256)},
        )
        return
    how = f"e-mailed to {d.email[0]}" if d.email is not None else "letter"
    fee = f", fee {q.fee:f} {q.currency}" if q.fee else ""
    session.add(
        Activity(
            customer_id=q.customer_id,
            kind=ACTIVITY_KIND,
            occurred_at=now,
            user_id=actor.user_id or None,
            subject=f"Reminder: {d.level_name}"[:200],
            body=(
                f"{d.level_name} (level {q.level}) as of {as_of.isoformat()}: "
                f"{len(d.items)} item(s), {q.overdue:f} {q.currency} overdue{fee}; {how}; "
                f"file {d.path.name}."
            ),
        )
    )
    audit.record(
        session,
        actor,
        audit.UPDATE,
        "dunning_letters",
        q.letter_id,
        customer_id=q.customer_id,
        changes={
            "produced_at": (None, now),
            "file_name": (None, str(d.path)),
            "sha256": (None, d.sha256),
        },
    )


def _finish(
    db: Database, actor: Actor, run_id: int, folder: Path, cancelled: bool, summary: str
) -> None:
    with db.write() as session:
        run = _open_run(session, run_id, lock=True)
        before = {"status": run.status, "out_dir": run.out_dir, "produced_at": run.produced_at}
        run.out_dir = str(folder)[:500]
        if not cancelled and run.status == RUN_PROPOSED:
            run.status = RUN_PRODUCED
            run.produced_at = utcnow()
        session.flush()
        after = {"status": run.status, "out_dir": run.out_dir, "produced_at": run.produced_at}
        changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
        if changes:
            audit.record(
                session,
                actor,
                audit.UPDATE,
                "dunning_runs",
                run.id,
                record_version=run.version,
                changes=changes,
            )
        audit.record(session, actor, audit.UPDATE, "dunning_runs", run.id, note=summary)


def produce_run(
    db: Database,
    actor: Actor,
    run_id: int,
    out_dir: Path | str,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RunResult:
    """Write the run's included letters as PDFs into `out_dir` (and e-mail those of e-mail
    levels), recording each one delivered (see the module docstring). `progress(done, total)`
    after each letter; `cancel()` is asked before each letter: what was produced is kept and
    recorded, the run stays proposed, and producing it again carries on with the rest."""
    actor.require(Permission.RUN_DUNNING)
    from o2c_desktop.services import letterhead
    from o2c_desktop.services.statements.batch import prepare_folder

    started = time.perf_counter()
    with db.read() as session:
        run = _open_run(session, run_id)
        _must_be_proposed(run, "produce it")
        as_of = run.as_of
        levels = {x.level: x for x in _levels(session)}
        queue = _queue(session, run_id)
    folder = prepare_folder(Path(out_dir))
    mailer = _mailer(db, actor, run_id, queue)
    job = _Production(
        db, actor, as_of, levels, letterhead.get_letterhead(db), folder, mailer, cancel, set()
    )
    failed: list[str] = []
    cancelled = False
    finished = 0
    try:
        for start in range(0, len(queue), CHUNK):
            chunk = queue[start : start + CHUNK]
            with db.read() as session:
                facts = _facts(session, chunk)
            pending: list[_Done] = []
            try:
                for q in chunk:
                    if cancel is not None and cancel():
                        cancelled = True
                        break
                    outcome = job.produce(q, facts)
                    if isinstance(outcome, str):
                        failed.append(outcome)
                    else:
                        pending.append(outcome)
                        if outcome.email is not None:  # the log never lags an e-mail sent
                            if not outcome.delivered:
                                failed.append(
                                    f"{q.label}: e-mail not sent: {outcome.email[2]}; the letter "
                                    f"is at {outcome.path}"
                                )
                            _record(db, actor, as_of, pending)
                            pending = []
                    finished += 1
                    if progress is not None:
                        progress(finished, len(queue))
            finally:
                _record(db, actor, as_of, pending)
            if cancelled:
                break
    finally:
        if mailer is not None:
            mailer.close()
    seconds = time.perf_counter() - started
    summary = (
        f"dunning run produced into {folder}: {job.files} file(s), {job.emailed} e-mailed, "
        f"{len(failed)} not delivered" + (", cancelled before the end" if cancelled else "")
    )
    _finish(db, actor, run_id, folder, cancelled, summary)
    return RunResult(job.files, job.emailed, tuple(failed), seconds, cancelled)
