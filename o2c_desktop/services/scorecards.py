"""The scorecard: from an application's figures and the customer's payment record to a score of
0–100, a risk class and a recommended limit, every step shown so anyone can see why.

The rules (services.scorecard_rules: factors with bands and weights, risk classes by minimum
score, the limit rule) are one `Scorecard` row's JSON. The recommended limit is the lower of the
bases the application gives (net worth × the class's `net_worth_share`, when net worth is
positive; expected monthly purchases × the terms' days / 30 × `purchases_terms_factor`), then at
most `cap` (null: none), rounded down to a multiple of `round_down_to`, never negative, 0 when
there is no basis.

The ratios: current assets / current liabilities, unbounded (the top band) for a company with
current assets and no current liabilities; total liabilities / net worth (0 without
liabilities), not known when net worth is not positive.

Arithmetic is Decimal throughout: a factor's weighted points = points × weight / Σ weights (kept
exact), the score = Σ weighted points rounded half-even to 2 decimals once, at the end.

Versions are never edited: saving makes the next version the active one in the same transaction,
and each application keeps the id of the version that scored it with the detail of every factor
(`score_detail`), so a decision can be explained later even after the rules changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    O2CError,
    ValidationFailed,
)
from o2c_desktop.models import Customer, PaymentTerms, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    OPEN_STATES,
    REFERENCE_TRADE,
    ApplicationReference,
    CreditApplication,
    Scorecard,
)
from o2c_desktop.money import amount_text, money_text
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.day_range import add_months
from o2c_desktop.services.field_checks import row_id, text_field
from o2c_desktop.services.payment_behaviour import average_days_late_in_session
from o2c_desktop.services.promises import PromiseState, statuses_in_session
from o2c_desktop.services.scorecard_rules import (
    FACTOR_KEYS,
    LimitRule,
    Rules,
    parse_rules,
    plain,
    rules_to_dict,
)
from o2c_desktop.services.stored_rows import apply_change

GOOD_RATINGS = ("good", "satisfactory")  # a trade reference that counts for the applicant
HISTORY_MONTHS = 12  # the payment record the scorecard looks at
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_UNBOUNDED = Decimal("Infinity")  # a current ratio without current liabilities


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreInputs:
    """What the scorecard looks at. Factor values are None when not known (they earn the
    factor's missing points); `terms_days` is the requested terms' days (None: that basis of the
    recommended limit is not available)."""

    years_in_business: Decimal | None = None
    current_ratio: Decimal | None = None
    debt_to_equity: Decimal | None = None
    bureau_score: Decimal | None = None
    avg_days_late: Decimal | None = None
    broken_promises: Decimal | None = None
    trade_references: Decimal | None = None
    net_worth: Decimal | None = None
    expected_monthly_purchases: Decimal | None = None
    terms_days: int | None = None
    currency: str = "EUR"

    def value(self, key: str) -> Decimal | None:
        return getattr(self, key) if key in FACTOR_KEYS else None


@dataclass(frozen=True)
class FactorResult:
    """One factor's line on the screen: the value, the points it earned (its missing points
    when `missing`), the weight as configured and the weighted points (points × weight / Σ
    weights, unrounded: the score rounds once, at the end)."""

    key: str
    label: str
    value: Decimal | None
    points: Decimal
    weight: Decimal
    weighted: Decimal
    missing: bool


@dataclass(frozen=True)
class ScoreResult:
    scorecard_id: int | None
    version_no: int | None
    factors: tuple[FactorResult, ...]
    score: Decimal
    risk_class: str
    recommended_limit: Decimal
    limit_basis: str


def _grouped(value: Decimal, currency: str) -> str:
    return amount_text(value, currency, grouped=True)


def recommend_limit(rule: LimitRule, risk_class: str, inputs: ScoreInputs) -> tuple[Decimal, str]:
    """(recommended limit, a one-line explanation) by the limit rule (module docstring)."""
    currency = inputs.currency
    bases: list[tuple[Decimal, str]] = []
    if inputs.net_worth is not None and inputs.net_worth > 0:
        share = rule.net_worth_share.get(risk_class, _ZERO)
        value = inputs.net_worth * share
        bases.append(
            (
                value,
                f"net worth {_grouped(inputs.net_worth, currency)} × {plain(share * _HUNDRED)} % "
                f"(class {risk_class}) = {_grouped(value, currency)}",
            )
        )
    if inputs.expected_monthly_purchases is not None and inputs.terms_days is not None:
        monthly = inputs.expected_monthly_purchases
        value = monthly * inputs.terms_days / 30 * rule.purchases_terms_factor
        bases.append(
            (
                value,
                f"monthly purchases {_grouped(monthly, currency)} × {inputs.terms_days}/30 days × "
                f"{plain(rule.purchases_terms_factor)} = {_grouped(value, currency)}",
            )
        )
    if not bases:
        return _ZERO, "No basis: neither a positive net worth nor expected purchases with terms"
    amount, text = min(bases, key=lambda b: b[0])
    amount = min(amount, MONEY_MAX)  # what a money column holds
    basis = text if len(bases) == 1 else "lower of " + " and ".join(t for _, t in bases)
    if rule.cap is not None and amount > rule.cap:
        amount = rule.cap
        basis += f", capped at {_grouped(rule.cap, currency)}"
    step = rule.round_down_to
    rounded = max(_ZERO, (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step)
    if rounded != amount:
        basis += f", rounded down to a multiple of {plain(step)}"
    rounded = rounded.quantize(_CENT)  # a whole multiple of a step with at most 2 decimals
    return rounded, f"{money_text(rounded, currency)}: {basis}"


def evaluate(
    rules: Rules | Mapping[str, Any] | str,
    inputs: ScoreInputs,
    *,
    scorecard_id: int | None = None,
    version_no: int | None = None,
) -> ScoreResult:
    """Score `inputs` by `rules` (module docstring); pure arithmetic, no database."""
    if not isinstance(rules, Rules):
        rules = parse_rules(rules)
    total = rules.total_weight
    lines = []
    for factor in rules.factors:
        value = inputs.value(factor.key)
        points = factor.points_for(value)
        lines.append(
            FactorResult(
                factor.key,
                factor.label,
                value,
                points,
                factor.weight,
                points * factor.weight / total,
                value is None,
            )
        )
    exact = sum((line.weighted for line in lines), _ZERO)
    score = exact.quantize(_CENT, rounding=ROUND_HALF_EVEN)  # points 0–100: so is their mean
    risk_class = rules.risk_class_for(score)
    limit, basis = recommend_limit(rules.limit_rule, risk_class, inputs)
    return ScoreResult(scorecard_id, version_no, tuple(lines), score, risk_class, limit, basis)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def detail_json(result: ScoreResult) -> str:
    """The result as kept on the application (`score_detail`): decimals as exact strings."""
    return json.dumps(
        {
            "scorecard_id": result.scorecard_id,
            "version_no": result.version_no,
            "score": _text(result.score),
            "risk_class": result.risk_class,
            "recommended_limit": _text(result.recommended_limit),
            "limit_basis": result.limit_basis,
            "factors": [
                {
                    "key": f.key,
                    "label": f.label,
                    "value": _text(f.value),
                    "points": _text(f.points),
                    "weight": _text(f.weight),
                    "weighted": _text(f.weighted),
                    "missing": f.missing,
                }
                for f in result.factors
            ],
        }
    )


def stored_result(score_detail: str | None) -> ScoreResult | None:
    """The result an application was scored with, from its `score_detail` (None: not scored,
    or a detail this version cannot read)."""
    if not score_detail:
        return None
    try:
        raw = json.loads(score_detail)

        def number(value: str | None) -> Decimal | None:
            return None if value is None else Decimal(value)

        factors = tuple(
            FactorResult(
                f["key"],
                f["label"],
                number(f["value"]),
                Decimal(f["points"]),
                Decimal(f["weight"]),
                Decimal(f["weighted"]),
                bool(f["missing"]),
            )
            for f in raw["factors"]
        )
        return ScoreResult(
            raw["scorecard_id"],
            raw["version_no"],
            factors,
            Decimal(raw["score"]),
            raw["risk_class"],
            Decimal(raw["recommended_limit"]),
            raw["limit_basis"],
        )
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return None


# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardView:
    id: int
    name: str
    version_no: int
    active: bool
    note: str | None
    created_at: datetime
    created_by: str | None
    rules: dict[str, Any]


def _view(session: Session, row: Scorecard) -> ScorecardView:
    author = session.get(User, row.created_by_id) if row.created_by_id else None
    return ScorecardView(
        row.id,
        row.name,
        row.version_no,
        row.active,
        row.note,
        row.created_at,
        author.display_name if author else None,
        json.loads(row.rules),
    )


def _active_row(session: Session, *, lock: bool = False) -> Scorecard | None:
    stmt = select(Scorecard).where(Scorecard.active.is_(True))
    return session.scalar(stmt.with_for_update() if lock else stmt)


def active_rules(session: Session) -> tuple[Scorecard, Rules]:
    """The active version and its parsed rules, in the caller's unit of work."""
    row = _active_row(session)
    if row is None:
        raise O2CError("There is no active scorecard; an administrator can save one in Settings.")
    try:
        return row, parse_rules(row.rules)
    except ValidationFailed as exc:
        raise O2CError(
            f"Scorecard version {row.version_no} is damaged ({exc}); an administrator can save a "
            "corrected version in Settings."
        ) from None


def active_scorecard(db: Database, actor: Actor) -> ScorecardView:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        row, _rules = active_rules(session)
        return _view(session, row)


def list_versions(db: Database, actor: Actor) -> list[ScorecardView]:
    """Every version, the newest first."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.scalars(select(Scorecard).order_by(Scorecard.version_no.desc())).all()
        return [_view(session, row) for row in rows]


def save_scorecard(
    db: Database,
    actor: Actor,
    rules: Mapping[str, Any],
    note: str | None,
    expected_active_version_no: int,
) -> ScorecardView:
    """Save `rules` as the next version and make it the active one (the old one stays, inactive).
    `expected_active_version_no` is the version the editor started from (0 when there was none):
    if someone saved another since, ConflictError names them and nothing is written."""
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    parsed = parse_rules(rules)
    problems: list[FieldProblem] = []
    note = text_field("note", note, 300, problems)
    if problems:
        raise ValidationFailed(problems)
    with db.write() as session:
        active = _active_row(session, lock=True)
        if (active.version_no if active else 0) != expected_active_version_no:
            raise _replaced(session, active, expected_active_version_no)
        latest = session.scalar(select(func.max(Scorecard.version_no))) or 0
        if active is not None:
            active.active = False
            session.flush()  # one active version at a time (uq_scorecards_active)
            audit.record(
                session,
                actor,
                audit.UPDATE,
                "scorecards",
                active.id,
                changes={"active": (True, False)},
            )
        text = json.dumps(rules_to_dict(parsed), indent=1)
        row = Scorecard(
            name=active.name if active else "Standard scorecard",
            version_no=latest + 1,
            rules=text,
            active=True,
            note=note,
            created_at=utcnow(),
            created_by_id=actor.user_id or None,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor,
            audit.CREATE,
            "scorecards",
            row.id,
            changes={
                "version_no": (None, row.version_no),
                "note": (None, note),
                "rules": (None, text),
            },
        )
        return _view(session, row)


def _replaced(session: Session, active: Scorecard | None, expected: int) -> ConflictError:
    if active is None:
        who, at, now = "another user", utcnow(), "none"
    else:
        author = session.get(User, active.created_by_id) if active.created_by_id else None
        who, at, now = (
            author.username if author else "another user",
            active.created_at,
            str(active.version_no),
        )
    return ConflictError(
        ConflictDetails(
            "Scorecard",
            f"version {expected}",
            who,
            f"{at:%Y-%m-%d %H:%M} UTC",
            {"active version": now},
        )
    )


# ---------------------------------------------------------------------------------------------
# Scoring an application
# ---------------------------------------------------------------------------------------------


def history_start(as_of: date) -> date:
    """The first day of the 12 months up to and including `as_of`."""
    return add_months(as_of, -HISTORY_MONTHS) + timedelta(days=1)


def average_days_late(session: Session, customer_id: int, as_of: date) -> Decimal | None:
    """Mean days late of the customer's invoices fully paid in the 12 months up to `as_of`
    (services.payment_behaviour: the report's definition); None when none was paid."""
    return average_days_late_in_session(session, customer_id, history_start(as_of), as_of)


def broken_promises(session: Session, customer_id: int, as_of: date) -> int:
    """How many of the customer's promises were broken in the 12 months up to `as_of` (their
    first broken day in that period; services.promises decides kept or broken)."""
    start = history_start(as_of)
    return sum(
        1
        for p in statuses_in_session(session, as_of, customer_ids=[customer_id])
        if p.state is PromiseState.BROKEN and p.settled_on is not None and p.settled_on >= start
    )


def _terms_days(session: Session, application: CreditApplication) -> int | None:
    """The requested terms' days (+15 for end of month), else the customer's current terms."""
    code = application.requested_terms_code
    if code is None and application.customer_id is not None:
        customer = session.get(Customer, application.customer_id)
        code = customer.payment_terms_code if customer else None
    terms = session.get(PaymentTerms, code) if code else None
    if terms is None:
        return None
    return terms.net_days + (15 if terms.end_of_month else 0)


def current_ratio(assets: Decimal | None, liabilities: Decimal | None) -> Decimal | None:
    """Current assets / current liabilities; with no current liabilities but some assets the
    ratio is unbounded (Infinity earns the top band), not missing (module docstring)."""
    if assets is None or liabilities is None or liabilities < 0:
        return None
    if liabilities == 0:
        return _UNBOUNDED if assets > 0 else None
    return assets / liabilities


def debt_to_equity(liabilities: Decimal | None, net_worth: Decimal | None) -> Decimal | None:
    """Total liabilities / net worth: 0 without liabilities; not known unless net worth > 0."""
    if liabilities is None or net_worth is None or net_worth <= 0:
        return None
    return liabilities / net_worth


def _whole(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def inputs_in_session(session: Session, application: CreditApplication, as_of: date) -> ScoreInputs:
    """The scorecard's inputs for an application: its own figures, its trade references, and
    for an existing customer the payment record of our own ledger."""
    ratings = list(
        session.scalars(
            select(ApplicationReference.rating).where(
                ApplicationReference.application_id == application.id,
                ApplicationReference.kind == REFERENCE_TRADE,
            )
        )
    )
    good = Decimal(sum(1 for r in ratings if r in GOOD_RATINGS)) if ratings else None
    customer_id = application.customer_id
    return ScoreInputs(
        years_in_business=_whole(application.years_in_business),
        current_ratio=current_ratio(application.current_assets, application.current_liabilities),
        debt_to_equity=debt_to_equity(application.total_liabilities, application.net_worth),
        bureau_score=_whole(application.bureau_score),
        avg_days_late=None
        if customer_id is None
        else average_days_late(session, customer_id, as_of),
        broken_promises=None
        if customer_id is None
        else Decimal(broken_promises(session, customer_id, as_of)),
        trade_references=good,
        net_worth=application.net_worth,
        expected_monthly_purchases=application.expected_monthly_purchases,
        terms_days=_terms_days(session, application),
        currency=application.currency,
    )


def score_in_session(
    session: Session, actor: Actor, application: CreditApplication, as_of: date | None = None
) -> ScoreResult:
    """Score the application with the active scorecard and keep the result on it (score, risk
    class, recommended limit, version, detail), audited; no commit. The caller has checked the
    permission and holds the application's row."""
    as_of = as_of or date.today()
    row, rules = active_rules(session)
    result = evaluate(
        rules,
        inputs_in_session(session, application, as_of),
        scorecard_id=row.id,
        version_no=row.version_no,
    )
    new = {
        "scorecard_id": row.id,
        "score": result.score,
        "risk_class": result.risk_class,
        "recommended_limit": result.recommended_limit,
        "score_detail": detail_json(result),
    }
    apply_change(session, actor, application, new, customer_id=application.customer_id)
    return result


def score_application(
    db: Database, actor: Actor, application_id: int, as_of: date | None = None
) -> ScoreResult:
    """Score an open application (its preparer, or an approver before deciding) and keep the
    result on it. The application's version goes up when the result changed: reload it."""
    if not actor.may(Permission.DECIDE_APPLICATIONS):
        actor.require(Permission.PREPARE_APPLICATIONS)
    with db.write() as session:
        application = session.get(
            CreditApplication, row_id(application_id, "credit application"), with_for_update=True
        )
        if application is None:
            raise NotFound(f"Credit application #{application_id} does not exist.")
        if application.state not in OPEN_STATES:
            raise O2CError(
                f"{application.number} is {application.state.replace('_', ' ')}: its score stays "
                "as it was when it was decided."
            )
        return score_in_session(session, actor, application, as_of)


__all__ = [
    "FACTOR_KEYS",
    "FactorResult",
    "Rules",
    "ScoreInputs",
    "ScoreResult",
    "ScorecardView",
    "active_scorecard",
    "evaluate",
    "list_versions",
    "parse_rules",
    "save_scorecard",
    "score_application",
    "score_in_session",
    "stored_result",
]
