"""Dunning levels: listing, validating, saving and deleting them (Permission.EDIT_SETTINGS).

A level is a days-past-due threshold, a letter template, a channel (letter or e-mail) and a fee.
Thresholds rise strictly with the level, so "the highest level an item reached" is one
comparison per level; `save_level` refuses any change that would break that order.

A fee is an amount in one currency (`fee_currency`): it is charged only on letters in that
currency, and letters in any other currency carry no fee. The app keeps no exchange rates, and
a fee of "40.00" charged as 40 PLN, 40 SEK and 40 GBP alike (what a fee without a currency did)
is three different fees, none of them the one decided. A fee above 0 without its currency is
refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import FieldProblem, NotFound, ValidationFailed
from o2c_desktop.models import DunningLevel
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import DUNNING_CHANNELS
from o2c_desktop.money import is_currency, minor_units, parse_amount
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.dunning.templates import TEMPLATE_FIELDS, one_line, unknown_placeholders
from o2c_desktop.services.field_checks import is_whole
from o2c_desktop.services.stored_rows import audit_change, stale_version_conflict, view_of

MAX_NAME = 80
MAX_TEMPLATE = 10_000
NO_FEE_CURRENCY = "(no currency: charged on no letter)"


@dataclass(frozen=True)
class LevelRow:
    """A level as screens and runs see it: a plain copy of the row, never the live ORM object."""

    id: int
    level: int
    name: str
    days_past_due: int
    template: str
    channel: str
    fee: Decimal
    fee_currency: str | None  # the fee is charged on letters in this currency only
    version: int

    def fee_on(self, currency: str) -> Decimal:
        """The fee a letter in `currency` carries: the level's fee in its own currency, else
        none (no exchange rates: a EUR fee is never charged as the same number of USD)."""
        if self.fee and self.fee_currency == currency:
            return self.fee
        return Decimal("0.00")

    @property
    def fee_text(self) -> str:
        """The fee as lists and the CLI show it ("40.00 EUR"; "" for none). A fee saved before
        fees had a currency says that it is charged on no letter until one is chosen."""
        if not self.fee:
            return ""
        return f"{self.fee:f} {self.fee_currency or NO_FEE_CURRENCY}"


def level_rows(session: Session) -> list[LevelRow]:
    """The levels, lowest first, in an open session."""
    return [
        view_of(LevelRow, x)
        for x in session.scalars(select(DunningLevel).order_by(DunningLevel.level))
    ]


def levels_by_number(session: Session) -> dict[int, LevelRow]:
    """The levels by their number: what a run's letters and items refer to."""
    return {x.level: x for x in level_rows(session)}


def list_levels(db: Database, actor: Actor) -> list[LevelRow]:
    """The levels, lowest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        return level_rows(session)


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


def _fee_currency(raw: Any, fee: Decimal | None, problems: list[FieldProblem]) -> str | None:
    """The fee's currency (upper case), or None for no fee; a fee above 0 needs one, and the
    fee must fit its minor units (no 40.50 JPY)."""
    if raw is not None and not isinstance(raw, str):
        problems.append(FieldProblem("fee_currency", "a currency code such as EUR", value=str(raw)))
        return None
    code = (raw or "").strip().upper() or None
    if code is None:
        if fee:
            problems.append(
                FieldProblem(
                    "fee_currency",
                    "choose the fee's currency: the fee is charged only on letters in it",
                )
            )
        return None
    if not is_currency(code):
        problems.append(FieldProblem("fee_currency", "not a known currency code", value=code))
        return None
    if fee is not None and fee != fee.quantize(Decimal(1).scaleb(-minor_units(code))):
        problems.append(
            FieldProblem(
                "fee", f"{code} has {minor_units(code)} decimal(s)", value=format(fee, "f")
            )
        )
    return code


def _check_level(
    others: Sequence[DunningLevel],
    *,
    level: Any,
    name: Any,
    days_past_due: Any,
    template: Any,
    channel: Any,
    fee: Any,
    fee_currency: Any,
) -> dict[str, Any]:
    """Clean values for a level, or ValidationFailed naming every bad field. `others` are the
    other levels: numbers are unique and thresholds rise strictly with the level."""
    problems: list[FieldProblem] = []
    if not is_whole(level) or level <= 0:
        problems.append(FieldProblem("level", "a whole number of 1 or more", value=str(level)))
    elif any(o.level == level for o in others):
        problems.append(FieldProblem("level", "another level has this number", value=str(level)))
    text = one_line(name) if isinstance(name, str) else ""
    if not text:
        problems.append(FieldProblem("name", "required (it is the letter's title)"))
    elif len(text) > MAX_NAME:
        problems.append(FieldProblem("name", f"longer than {MAX_NAME} characters", value=text[:40]))
    if not is_whole(days_past_due) or days_past_due < 0:
        problems.append(
            FieldProblem("days_past_due", "a whole number of 0 or more", value=str(days_past_due))
        )
    elif is_whole(level) and level > 0:
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
    currency = _fee_currency(fee_currency, amount, problems)
    if problems:
        raise ValidationFailed(problems, "Dunning level")
    return {
        "level": level,
        "name": text,
        "days_past_due": days_past_due,
        "template": body,
        "channel": channel,
        "fee": amount,
        "fee_currency": currency,
    }


def _as_loaded(
    session: Session, row: DunningLevel | None, level_id: int, expected_version: int | None
) -> DunningLevel:
    """The locked level `level_id`, refused unless it is still the version the editor loaded:
    NotFound when it was deleted since, ConflictError (who, when, what) when it was saved."""
    if row is None:
        raise NotFound(f"Dunning level #{level_id} does not exist (deleted by another user?).")
    if expected_version is None:
        raise ValueError("expected_version is required to change a level")
    if row.version != expected_version:
        raise stale_version_conflict(
            session,
            row,
            expected_version,
            what="Dunning level",
            name=f"{row.level} ({row.name})",
            changed_at=row.updated_at,
        )
    return row


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
    fee_currency: str | None = None,
    expected_version: int | None = None,
) -> LevelRow:
    """Create a level (`level_id` None) or change one (with the version the editor loaded).
    Validated against the other levels, audited field by field. `fee_currency` is the fee's
    currency (required with a fee above 0; see the module docstring)."""
    actor.require(Permission.EDIT_SETTINGS)
    with db.write() as session:
        rows = list(session.scalars(select(DunningLevel).with_for_update()))
        current = next((r for r in rows if r.id == level_id), None)
        if level_id is not None:
            current = _as_loaded(session, current, level_id, expected_version)
        values = _check_level(
            [r for r in rows if r.id != level_id],
            level=level,
            name=name,
            days_past_due=days_past_due,
            template=template,
            channel=channel,
            fee=fee,
            fee_currency=fee_currency,
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
                return view_of(LevelRow, current)
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
        audit_change(session, actor, action, current, changes)
        return view_of(LevelRow, current)


def delete_level(db: Database, actor: Actor, level_id: int, expected_version: int) -> None:
    """Remove a level (letters already produced at it keep their level number)."""
    actor.require(Permission.EDIT_SETTINGS)
    with db.write() as session:
        row = session.get(DunningLevel, level_id, with_for_update=True)
        row = _as_loaded(session, row, level_id, expected_version)
        gone = ("level", "name", "days_past_due", "channel", "fee", "fee_currency")
        audit_change(session, actor, audit.DELETE, row, {k: (getattr(row, k), None) for k in gone})
        session.delete(row)
