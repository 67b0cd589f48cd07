"""Collection strategies: the weighted rules that score and order the call list.

A strategy is a set of points, in bands, for what makes a customer worth calling today: how much
is overdue and how long, the risk class, a broken promise, a promise falling due, a follow-up the
collector scheduled, disputes waiting on us, a credit limit exceeded, how long since anyone spoke
to the customer (and, when orders exist, held orders). The call list (services.call_list) adds
up the points per customer; managers edit the rules in the app, and the next list is ordered by
the new ones: nothing is stored per customer, so a change re-ranks at once.

Bands are (threshold, points) pairs in ascending order; a value earns the points of the highest
threshold it reaches (none below the first). Amount thresholds are in the customer's own
currency: the app has no exchange rates, so "10,000" means EUR 10,000 for a EUR customer and
USD 10,000 for a USD one.

Two factors lower a customer whose overdue amount needs no chasing today: all of it is disputed
(`fully_disputed_factor`), or open promises not yet due cover it (`promised_not_due_factor`).
They scale the overdue-driven points (amount, days past due, risk class, days since contact,
credit limit) but not the tasks (a follow-up, a promise due or broken, a dispute to work): the
collector asked to be reminded, so the reminder keeps its weight.

Stored as JSON text in `CollectionStrategy.rules`; keys missing from a stored strategy take the
default's value (a strategy saved before a rule existed keeps working). At most one strategy is
active; with none, `DEFAULT_RULES` apply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models import CollectionStrategy
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.field_checks import is_whole
from o2c_desktop.services.stored_rows import audit_change, locked_at_version

RISK_CLASSES = ("A", "B", "C", "D", "E")
MAX_POINTS = 1000
MAX_BANDS = 20
MAX_DAYS = 36_500
MAX_NAME = 80
DEFAULT_NAME = "Default"

AmountBands = tuple[tuple[Decimal, int], ...]
DayBands = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class StrategyRules:
    """The weights of a strategy (see the module docstring for how they combine).

    - overdue_amount_bands: (minimum undisputed overdue amount, points), customer's currency.
    - dpd_bands: (minimum days past due of the oldest undisputed overdue item, points).
    - risk_class_points: (risk class, points) pairs; classes not listed earn nothing.
    - broken_promise_points: the latest promise was broken within `broken_promise_days` and
      nobody has reached the customer since.
    - promise_due_points: an open promise falls due today or is within its grace days.
    - days_since_contact: (minimum days since someone was reached, points); a customer never
      reached counts as the top band.
    - limit_breach_points: exposure above a (non-zero) credit limit.
    - follow_up_due_points: the latest call asked for a follow-up on or before the day.
    - dispute_waiting_points: disputes open or in review (waiting on us).
    - held_order_points: orders held for credit (orders do not exist yet: always 0 of them).
    - fully_disputed_factor / promised_not_due_factor: 0..1, see the module docstring.
    """

    overdue_amount_bands: AmountBands
    dpd_bands: DayBands
    risk_class_points: tuple[tuple[str, int], ...]
    broken_promise_points: int
    broken_promise_days: int
    promise_due_points: int
    days_since_contact: DayBands
    limit_breach_points: int
    follow_up_due_points: int
    dispute_waiting_points: int
    held_order_points: int
    fully_disputed_factor: Decimal
    promised_not_due_factor: Decimal

    def amount_points(self, amount: Decimal) -> int:
        return band_points(self.overdue_amount_bands, amount)

    def dpd_points(self, days: int | None) -> int:
        return 0 if days is None else band_points(self.dpd_bands, days)

    def contact_points(self, days: int | None) -> int:
        """Points for days since the last contact; None (never reached) is the top band."""
        if days is None:
            return self.days_since_contact[-1][1] if self.days_since_contact else 0
        return band_points(self.days_since_contact, days)

    def risk_points(self, risk_class: str | None) -> int:
        return dict(self.risk_class_points).get(risk_class or "", 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts and factors as strings (exact), bands as [threshold, points]."""
        data = asdict(self)
        data["overdue_amount_bands"] = [[format(a, "f"), p] for a, p in self.overdue_amount_bands]
        data["dpd_bands"] = [list(b) for b in self.dpd_bands]
        data["days_since_contact"] = [list(b) for b in self.days_since_contact]
        data["risk_class_points"] = dict(self.risk_class_points)
        data["fully_disputed_factor"] = format(self.fully_disputed_factor, "f")
        data["promised_not_due_factor"] = format(self.promised_not_due_factor, "f")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def band_points(bands: Sequence[tuple[Any, int]], value: Any) -> int:
    """The points of the highest band whose threshold `value` reaches (0 below the first)."""
    points = 0
    for threshold, band in bands:
        if value < threshold:
            break
        points = band
    return points


DEFAULT_RULES = StrategyRules(
    overdue_amount_bands=(
        (Decimal("0.01"), 5),
        (Decimal("1000"), 10),
        (Decimal("5000"), 20),
        (Decimal("10000"), 30),
        (Decimal("50000"), 45),
        (Decimal("100000"), 60),
    ),
    dpd_bands=((1, 5), (15, 10), (31, 20), (61, 30), (91, 40)),
    risk_class_points=(("A", 0), ("B", 5), ("C", 10), ("D", 20), ("E", 30)),
    broken_promise_points=40,
    broken_promise_days=30,
    promise_due_points=25,
    days_since_contact=((14, 5), (30, 10), (60, 20)),
    limit_breach_points=15,
    follow_up_due_points=30,
    dispute_waiting_points=10,
    held_order_points=20,
    fully_disputed_factor=Decimal("0.2"),
    promised_not_due_factor=Decimal("0.2"),
)

_FIELDS = tuple(f.name for f in fields(StrategyRules))
_POINTS = (
    "broken_promise_points",
    "promise_due_points",
    "limit_breach_points",
    "follow_up_due_points",
    "dispute_waiting_points",
    "held_order_points",
)
_FACTORS = ("fully_disputed_factor", "promised_not_due_factor")


# ---------------------------------------------------------------------------------------------
# Validation: from the JSON shape (or a StrategyRules) to checked rules
# ---------------------------------------------------------------------------------------------


def _points(name: str, value: Any, problems: list[FieldProblem], where: str = "") -> int | None:
    if not is_whole(value) or not 0 <= value <= MAX_POINTS:
        problems.append(
            FieldProblem(
                name, f"{where}points must be a whole number from 0 to {MAX_POINTS}", str(value)
            )
        )
        return None
    return int(value)


def _amount(name: str, value: Any, problems: list[FieldProblem], where: str) -> Decimal | None:
    if isinstance(value, float | bool):
        problems.append(FieldProblem(name, f"{where}amounts are exact decimals", str(value)))
        return None
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        problems.append(FieldProblem(name, f"{where}the amount is not a number", str(value)))
        return None
    if amount <= 0 or amount > MONEY_MAX:
        problems.append(FieldProblem(name, f"{where}the amount must be more than zero", str(value)))
        return None
    if amount != amount.quantize(Decimal("0.0001")):
        problems.append(FieldProblem(name, f"{where}at most 4 decimals", str(value)))
        return None
    return amount


def _days(
    name: str, value: Any, problems: list[FieldProblem], where: str, least: int
) -> int | None:
    if not is_whole(value) or not least <= value <= MAX_DAYS:
        problems.append(
            FieldProblem(
                name, f"{where}days must be a whole number from {least} to {MAX_DAYS}", str(value)
            )
        )
        return None
    return int(value)


def _bands(
    name: str, raw: Any, problems: list[FieldProblem], *, amounts: bool, least: int = 1
) -> tuple[tuple[Any, int], ...] | None:
    """[[threshold, points], …] with thresholds strictly ascending."""
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        problems.append(FieldProblem(name, "expected a list of [from, points] bands"))
        return None
    if len(raw) > MAX_BANDS:
        problems.append(FieldProblem(name, f"at most {MAX_BANDS} bands"))
        return None
    checked: list[tuple[Any, int]] = []
    before = len(problems)
    for number, band in enumerate(raw, start=1):
        where = f"band {number}: "
        if isinstance(band, str | bytes) or not isinstance(band, Sequence) or len(band) != 2:
            problems.append(FieldProblem(name, f"{where}expected [from, points]"))
            continue
        threshold = (
            _amount(name, band[0], problems, where)
            if amounts
            else _days(name, band[0], problems, where, least)
        )
        points = _points(name, band[1], problems, where)
        if threshold is None or points is None:
            continue
        if checked and threshold <= checked[-1][0]:
            problems.append(
                FieldProblem(
                    name,
                    f"{where}from {threshold} must be more than the band before "
                    f"({checked[-1][0]}): bands go in ascending order",
                )
            )
            continue
        checked.append((threshold, points))
    return tuple(checked) if len(problems) == before else None


def _risk_points(raw: Any, problems: list[FieldProblem]) -> tuple[tuple[str, int], ...] | None:
    name = "risk_class_points"
    pairs = list(raw.items()) if isinstance(raw, Mapping) else raw
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        problems.append(FieldProblem(name, "expected points per risk class (A to E)"))
        return None
    checked: dict[str, int] = {}
    before = len(problems)
    for pair in pairs:
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            problems.append(FieldProblem(name, "expected (risk class, points) pairs"))
            continue
        risk, points = pair
        if risk not in RISK_CLASSES:
            problems.append(
                FieldProblem(name, f"risk classes are {', '.join(RISK_CLASSES)}", str(risk))
            )
            continue
        if risk in checked:
            problems.append(FieldProblem(name, "the same risk class twice", str(risk)))
            continue
        value = _points(name, points, problems, f"class {risk}: ")
        if value is not None:
            checked[risk] = value
    if len(problems) != before:
        return None
    return tuple(sorted(checked.items()))


def _factor(name: str, raw: Any, problems: list[FieldProblem]) -> Decimal | None:
    if isinstance(raw, float | bool):
        problems.append(FieldProblem(name, "a decimal from 0 to 1, as text or Decimal", str(raw)))
        return None
    try:
        value = Decimal(str(raw).strip()) if isinstance(raw, str | int | Decimal) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not 0 <= value <= 1:
        problems.append(FieldProblem(name, "a decimal from 0 to 1 (0.2 = a fifth)", str(raw)))
        return None
    if value != value.quantize(Decimal("0.01")):
        problems.append(FieldProblem(name, "at most 2 decimals", str(raw)))
        return None
    return value


def parse_rules(raw: StrategyRules | Mapping[str, Any]) -> StrategyRules:
    """Checked rules from their JSON shape (a mapping, as `to_dict` writes it) or from a
    `StrategyRules` built by a screen. Keys left out take the default's value; unknown keys and
    every bad value are refused together, each naming its field."""
    data = raw.to_dict() if isinstance(raw, StrategyRules) else raw
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldProblem("rules", "expected the rules as a JSON object")])
    problems = [FieldProblem(str(key), "no such rule") for key in data if key not in _FIELDS]
    merged = {**DEFAULT_RULES.to_dict(), **{k: v for k, v in data.items() if k in _FIELDS}}
    values: dict[str, Any] = {
        "overdue_amount_bands": _bands(
            "overdue_amount_bands", merged["overdue_amount_bands"], problems, amounts=True
        ),
        "dpd_bands": _bands("dpd_bands", merged["dpd_bands"], problems, amounts=False),
        "days_since_contact": _bands(
            "days_since_contact", merged["days_since_contact"], problems, amounts=False, least=0
        ),
        "risk_class_points": _risk_points(merged["risk_class_points"], problems),
        "broken_promise_days": _days(
            "broken_promise_days", merged["broken_promise_days"], problems, "", 1
        ),
    }
    for name in _POINTS:
        values[name] = _points(name, merged[name], problems)
    for name in _FACTORS:
        values[name] = _factor(name, merged[name], problems)
    if problems:
        raise ValidationFailed(problems)
    return StrategyRules(**values)


def rules_from_json(text: str) -> StrategyRules:
    """Rules as stored; a damaged row is one clear error, never a traceback."""
    try:
        return parse_rules(json.loads(text))
    except (ValueError, ValidationFailed) as exc:
        raise O2CError(
            f"A collection strategy's rules are damaged ({exc}); a credit manager can save "
            "the strategy again under Collections → Strategies."
        ) from None


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A saved strategy, or the built-in default (id None, version 0) when none is active."""

    id: int | None
    name: str
    rules: StrategyRules
    active: bool
    version: int


DEFAULT_STRATEGY = Strategy(None, DEFAULT_NAME, DEFAULT_RULES, True, 0)


def _strategy(row: CollectionStrategy) -> Strategy:
    return Strategy(row.id, row.name, rules_from_json(row.rules), row.active, row.version)


def active_strategy_in_session(session: Session) -> Strategy:
    row = session.scalar(
        select(CollectionStrategy)
        .where(CollectionStrategy.active.is_(True))
        .order_by(CollectionStrategy.id)
        .limit(1)
    )
    return DEFAULT_STRATEGY if row is None else _strategy(row)


def active_strategy(db: Database) -> Strategy:
    """The strategy that orders the call list: the active one, else the default rules."""
    with db.read() as session:
        return active_strategy_in_session(session)


def list_strategies(db: Database, actor: Actor) -> list[Strategy]:
    """Every saved strategy, by name. Anyone who works the list may see how it is scored."""
    actor.require(Permission.WORK_COLLECTIONS)
    with db.read() as session:
        rows = session.scalars(select(CollectionStrategy).order_by(CollectionStrategy.name))
        return [_strategy(r) for r in rows]


def _locked(session: Session, strategy_id: int, expected_version: int | None) -> CollectionStrategy:
    return locked_at_version(
        session,
        CollectionStrategy,
        strategy_id,
        expected_version,
        what="Collection strategy",
        name=lambda row: repr(row.name),
    )


def _deactivate_others(session: Session, actor: Actor, keep_id: int) -> None:
    """Exactly one active strategy: the others lose the flag (locked, versioned, audited)."""
    others = session.scalars(
        select(CollectionStrategy)
        .where(CollectionStrategy.active.is_(True), CollectionStrategy.id != keep_id)
        .order_by(CollectionStrategy.id)
        .with_for_update()
    ).all()
    for other in others:
        other.active = False
        other.updated_at = utcnow()
        other.updated_by_id = actor.user_id or None
    session.flush()
    for other in others:
        audit_change(session, actor, audit.UPDATE, other, {"active": (True, False)})


def _check_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ValidationFailed([FieldProblem("name", "required")])
    if len(text) > MAX_NAME:
        raise ValidationFailed(
            [FieldProblem("name", f"at most {MAX_NAME} characters", value=text[:20] + "…")]
        )
    return text


def save_strategy(
    db: Database,
    actor: Actor,
    strategy_id: int | None,
    name: str,
    rules: StrategyRules | Mapping[str, Any],
    *,
    expected_version: int | None = None,
    activate: bool = False,
) -> Strategy:
    """Create (strategy_id None) or change a strategy; `activate` makes it the one in use (the
    previously active one is switched off in the same unit of work)."""
    actor.require(Permission.MANAGE_STRATEGIES)
    problems: list[FieldProblem] = []
    try:
        text = _check_name(name)
    except ValidationFailed as exc:
        problems += exc.problems
        text = ""
    try:
        checked = parse_rules(rules)
    except ValidationFailed as exc:
        problems += exc.problems
    if problems:
        raise ValidationFailed(problems)
    value = checked.to_json()
    with db.write() as session:
        clash = session.scalar(
            select(CollectionStrategy.id).where(
                CollectionStrategy.name == text, CollectionStrategy.id != (strategy_id or 0)
            )
        )
        if clash:
            raise ValidationFailed(
                [FieldProblem("name", "another strategy already has this name", value=text)]
            )
        if activate:
            # Off first: the unique index allows one active row at any moment of the flush.
            _deactivate_others(session, actor, strategy_id or 0)
        if strategy_id is None:
            row = CollectionStrategy()
            session.add(row)
            before: dict[str, Any] = {"name": None, "rules": None, "active": None}
        else:
            row = _locked(session, strategy_id, expected_version)
            before = {"name": row.name, "rules": row.rules, "active": row.active}
        row.name, row.rules, row.active = text, value, bool(row.active) or activate
        row.updated_at, row.updated_by_id = utcnow(), actor.user_id or None
        try:
            session.flush()
        except IntegrityError:  # a concurrent save of the same name won the race
            raise ValidationFailed(
                [FieldProblem("name", "another strategy already has this name", value=text)]
            ) from None
        after = {"name": row.name, "rules": row.rules, "active": row.active}
        changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
        if changes:
            action = audit.CREATE if strategy_id is None else audit.UPDATE
            audit_change(session, actor, action, row, changes)
        return Strategy(row.id, row.name, checked, row.active, row.version)


def activate(db: Database, actor: Actor, strategy_id: int, expected_version: int) -> Strategy:
    """Make a saved strategy the one that orders the call list (the next list uses it)."""
    actor.require(Permission.MANAGE_STRATEGIES)
    with db.write() as session:
        row = _locked(session, strategy_id, expected_version)
        if not row.active:
            # Off first: the unique index allows one active row at any moment of the flush.
            _deactivate_others(session, actor, row.id)
            row.active = True
            row.updated_at, row.updated_by_id = utcnow(), actor.user_id or None
            session.flush()
            audit_change(session, actor, audit.UPDATE, row, {"active": (False, True)})
        return _strategy(row)


def deactivate_all(db: Database, actor: Actor) -> None:
    """Go back to the default rules (no saved strategy active)."""
    actor.require(Permission.MANAGE_STRATEGIES)
    with db.write() as session:
        _deactivate_others(session, actor, 0)


def delete_strategy(db: Database, actor: Actor, strategy_id: int, expected_version: int) -> None:
    """Delete a strategy; deleting the active one puts the default rules back in use."""
    actor.require(Permission.MANAGE_STRATEGIES)
    with db.write() as session:
        row = _locked(session, strategy_id, expected_version)
        changes = {"name": (row.name, None), "rules": (row.rules, None)}
        audit_change(session, actor, audit.DELETE, row, changes)
        session.delete(row)


__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_STRATEGY",
    "Strategy",
    "StrategyRules",
    "activate",
    "active_strategy",
    "active_strategy_in_session",
    "band_points",
    "deactivate_all",
    "delete_strategy",
    "list_strategies",
    "parse_rules",
    "rules_from_json",
    "save_strategy",
]
