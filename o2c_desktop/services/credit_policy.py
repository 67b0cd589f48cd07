"""The department's credit policy (one `AppSetting` of JSON) and the effective credit limit.

One place for the numbers the credit services share: after how many days past due an order is
held, each application state's service level, how early reviews and expiring documents come up,
how long financial statements stay valid, the review interval per risk class, and where attached
files are kept (in the database unless a store folder is configured).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.models.credit import OPEN_STATES
from o2c_desktop.services import app_settings
from o2c_desktop.services.auth import Actor, Permission

SETTING_KEY = "credit_policy"
RISK_CLASSES = ("A", "B", "C", "D", "E")


def _default_sla() -> dict[str, int]:
    return {"draft": 5, "submitted": 2, "in_verification": 5, "pending_approval": 2}


def _default_intervals() -> dict[str, int]:
    return {"A": 24, "B": 12, "C": 12, "D": 6, "E": 3}


@dataclass(frozen=True)
class CreditPolicy:
    """`sla_days`: calendar days an application may stay in each open state (its due date).
    `review_months`: months from a decision to the customer's next review, per risk class."""

    hold_days_past_due: int = 60
    sla_days: dict[str, int] = field(default_factory=_default_sla)
    review_lead_days: int = 30
    document_lead_days: int = 30
    financial_statements_months: int = 15
    review_months: dict[str, int] = field(default_factory=_default_intervals)
    document_store: str | None = None


DEFAULT_POLICY = CreditPolicy()


def _whole(name: str, value: Any, problems: list[FieldProblem], low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 3650:
        problems.append(
            FieldProblem(name, f"must be a whole number from {low} to 3650", None, str(value))
        )
        return 0
    return value


def validate_policy(raw: dict[str, Any]) -> CreditPolicy:
    """A policy from its JSON form; unknown keys and out-of-range numbers are refused by name."""
    problems: list[FieldProblem] = []
    known = {f.name for f in fields(CreditPolicy)}
    for key in raw:
        if key not in known:
            problems.append(FieldProblem(key, "is not a credit policy setting"))
    values = {**asdict(DEFAULT_POLICY), **{k: v for k, v in raw.items() if k in known}}
    for name in ("hold_days_past_due", "review_lead_days", "document_lead_days"):
        _whole(name, values[name], problems)
    _whole("financial_statements_months", values["financial_statements_months"], problems, 1)
    sla = values["sla_days"]
    if not isinstance(sla, dict) or set(sla) != set(OPEN_STATES):
        problems.append(
            FieldProblem("sla_days", f"needs a number of days for {', '.join(OPEN_STATES)}")
        )
    else:
        for state, days in sla.items():
            _whole(f"sla_days.{state}", days, problems, 1)
    months = values["review_months"]
    if not isinstance(months, dict) or set(months) != set(RISK_CLASSES):
        problems.append(FieldProblem("review_months", "needs a number of months for A to E"))
    else:
        for risk, count in months.items():
            _whole(f"review_months.{risk}", count, problems, 1)
    store = values["document_store"]
    if store is not None and (not isinstance(store, str) or not store.strip()):
        problems.append(FieldProblem("document_store", "must be a folder path or empty"))
    if problems:
        raise ValidationFailed(problems)
    values["document_store"] = store.strip() if store else None
    return CreditPolicy(**values)


def read_policy(session: Session) -> CreditPolicy:
    """The policy in the caller's unit of work (the defaults until someone saves one)."""
    return app_settings.read(
        session,
        SETTING_KEY,
        DEFAULT_POLICY,
        validate_policy,
        "an administrator can set the credit policy again under Settings.",
    )


def get_policy(db: Database) -> CreditPolicy:
    with db.read() as session:
        return read_policy(session)


def set_policy(db: Database, actor: Actor, raw: dict[str, Any]) -> CreditPolicy:
    """Save the policy (validated; audited field by field on app_settings)."""
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    policy = validate_policy(raw)
    new = asdict(policy)
    with db.write() as session:
        old = asdict(read_policy(session))
        changes = {k: (old[k], new[k]) for k in new if old[k] != new[k]}
        if changes:
            value = json.dumps(new, sort_keys=True)
            app_settings.store(session, actor, SETTING_KEY, value, changes)
    return policy


def effective_limit(
    credit_limit: Decimal,
    temporary_limit: Decimal | None,
    temporary_until: date | None,
    as_of: date,
) -> Decimal:
    """The limit that applies on `as_of`: a temporary limit up to and including its last day,
    the permanent one before it was set and after it lapses."""
    if temporary_limit is not None and temporary_until is not None and as_of <= temporary_until:
        return temporary_limit
    return credit_limit
