"""The scorecard's rules: one `Scorecard` row's JSON (the seeded version 1 is migration 0006's
DEFAULT_SCORECARD), read into typed, bounded values or refused with every problem named by its
path ("factors[2].bands[1].below", indexes from 0).

Three parts:
- `factors`: each a `key` from FACTOR_KEYS (at most once; an administrator may drop a factor),
  a `label`, a `weight` from 1 to 1000, `missing_points` (0–100) for a value not known, and
  `bands` in strictly increasing `below` (decimal strings), the last one's `below` null: a value
  v earns the points (0–100) of the first band with v < below.
- `risk_classes`: `min_score` descending from the best class to the last at 0, classes from A–E:
  a score gets the first class whose min_score it reaches.
- `limit_rule`: per risk class a `net_worth_share` (0–1), a `purchases_terms_factor` (0–100), a
  `cap` (null: none) and a `round_down_to` step (services.scorecards.recommend_limit).

Every number is bounded (band limits within ±10^12, cap and step at most 10^14) and written
plainly: no exponent, no NaN or Infinity. "1e9999999" would otherwise be saved and then stop
every scoring with a decimal overflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.money import decimals_of
from o2c_desktop.services.credit_policy import RISK_CLASSES

FACTOR_KEYS = (
    "years_in_business",
    "current_ratio",
    "debt_to_equity",
    "bureau_score",
    "avg_days_late",
    "broken_promises",
    "trade_references",
)
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_WEIGHT_MAX = Decimal(1000)
_LIMIT_MAX = Decimal(10**12)  # a band's `below`, either sign
_AMOUNT_MAX = Decimal(10**14)  # the cap and the rounding step
_MAX_LABEL = 80
_MISSING: Any = object()  # a setting not given ("required" is said once, by _Reader.mapping)


@dataclass(frozen=True)
class Band:
    """Values below `below` (None: any value left) earn `points`."""

    below: Decimal | None
    points: Decimal


@dataclass(frozen=True)
class FactorRule:
    key: str
    label: str
    weight: Decimal
    missing_points: Decimal
    bands: tuple[Band, ...]

    def points_for(self, value: Decimal | None) -> Decimal:
        if value is None:
            return self.missing_points
        return next(b.points for b in self.bands if b.below is None or value < b.below)


@dataclass(frozen=True)
class RiskBand:
    min_score: Decimal
    risk_class: str


@dataclass(frozen=True)
class LimitRule:
    net_worth_share: Mapping[str, Decimal]
    purchases_terms_factor: Decimal
    cap: Decimal | None
    round_down_to: Decimal


@dataclass(frozen=True)
class Rules:
    factors: tuple[FactorRule, ...]
    risk_classes: tuple[RiskBand, ...]
    limit_rule: LimitRule

    @property
    def total_weight(self) -> Decimal:
        return sum((f.weight for f in self.factors), _ZERO)

    def risk_class_for(self, score: Decimal) -> str:
        return next(r.risk_class for r in self.risk_classes if score >= r.min_score)


class _Reader:
    """Reads a rules document field by field, collecting every problem under its path
    ("factors[2].bands[1].below", indexes from 0) instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def problem(self, where: str, message: str, value: Any = None) -> None:
        shown = None if value is None else str(value)
        self.problems.append(FieldProblem(where, message, value=shown))

    def mapping(self, where: str, raw: Any, required: tuple[str, ...]) -> Mapping[str, Any]:
        if raw is _MISSING:
            return {}
        if not isinstance(raw, Mapping):
            self.problem(where or "rules", "must be an object with " + ", ".join(required))
            return {}
        for key in raw:
            if key not in required:
                self.problem(f"{where}.{key}" if where else str(key), "is not a scorecard setting")
        for key in required:
            if key not in raw:
                self.problem(f"{where}.{key}" if where else key, "required")
        return raw

    def items(self, where: str, raw: Any) -> list[Any]:
        if raw is _MISSING:
            return []
        if not isinstance(raw, list) or not raw:
            self.problem(where, "must be a non-empty list")
            return []
        return raw

    def setting(self, parent: str, raw: Mapping[str, Any], key: str, **bounds: Any) -> Any:
        """The number `raw[key]` (nothing more is said when it is missing: `mapping` did)."""
        return self.number(f"{parent}.{key}", raw.get(key, _MISSING), **bounds)

    def number(
        self,
        where: str,
        raw: Any,
        *,
        low: Decimal | None = None,
        high: Decimal | None = None,
        above: Decimal | None = None,
    ) -> Decimal | None:
        """A decimal from a whole number, a Decimal or a decimal string, written plainly and
        within the bounds; a float is refused (its binary value is not the number typed)."""
        if raw is _MISSING:
            return None
        if isinstance(raw, bool) or raw is None or isinstance(raw, float):
            hint = ' (write it as a string, e.g. "1.5")' if isinstance(raw, float) else ""
            self.problem(where, f"must be a number{hint}", raw)
            return None
        try:
            value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
        except (InvalidOperation, TypeError, ValueError):
            self.problem(where, "must be a number", raw)
            return None
        if not value.is_finite():
            self.problem(where, "must be a number, not NaN or Infinity", raw)
            return None
        if _has_exponent(raw, value):
            self.problem(where, 'must be written without an exponent ("1000000", not "1e6")', raw)
            return None
        too_low = (low is not None and value < low) or (above is not None and value <= above)
        if too_low or (high is not None and value > high):
            self.problem(where, _bounds_text(low, high, above), raw)
            return None
        return value


def _has_exponent(raw: Any, value: Decimal) -> bool:
    """ "1e6" typed, or a JSON number such as 1E+6 (read as Decimal('1E+6'))."""
    exponent = value.as_tuple().exponent
    return (isinstance(raw, str) and "e" in raw.lower()) or (
        isinstance(exponent, int) and exponent > 0
    )


def _bounds_text(low: Decimal | None, high: Decimal | None, above: Decimal | None) -> str:
    """The refusal of a number out of bounds: "must be from 0 to 100", "must be more than 0
    and at most 100000000000000"."""
    if low is not None and high is not None:
        return f"must be from {low} to {high}"
    parts = [
        f"more than {above}" if above is not None else "",
        f"at least {low}" if low is not None else "",
        f"at most {high}" if high is not None else "",
    ]
    return "must be " + " and ".join(p for p in parts if p)


def _factor(reader: _Reader, where: str, raw: Any, seen: set[str]) -> FactorRule | None:
    raw = reader.mapping(where, raw, ("key", "label", "weight", "missing_points", "bands"))
    key = raw.get("key", _MISSING)
    if key is _MISSING:
        pass
    elif key not in FACTOR_KEYS:
        reader.problem(f"{where}.key", f"must be one of {', '.join(FACTOR_KEYS)}", key)
    elif key in seen:
        reader.problem(f"{where}.key", "appears twice; each factor may be used once", key)
    seen.add(str(key))
    label = raw.get("label", "")
    if "label" in raw and (
        not isinstance(label, str) or not label.strip() or len(label.strip()) > _MAX_LABEL
    ):
        reader.problem(f"{where}.label", f"must be a text of 1 to {_MAX_LABEL} characters", label)
    weight = reader.setting(where, raw, "weight", low=_ONE, high=_WEIGHT_MAX)
    missing = reader.setting(where, raw, "missing_points", low=_ZERO, high=_HUNDRED)
    bands: list[Band] = []
    previous: Decimal | None = None
    listed = reader.items(f"{where}.bands", raw.get("bands", _MISSING))
    for k, band_raw in enumerate(listed):
        at = f"{where}.bands[{k}]"
        band_raw = reader.mapping(at, band_raw, ("below", "points"))
        points = reader.setting(at, band_raw, "points", low=_ZERO, high=_HUNDRED)
        last = k == len(listed) - 1
        below = band_raw.get("below")
        if last:
            if below is not None:
                reader.problem(f"{at}.below", "the last band takes every value left: leave empty")
            limit = None
        elif below is None:
            reader.problem(f"{at}.below", "required (only the last band is open-ended)")
            limit = None
        else:
            limit = reader.number(f"{at}.below", below, low=-_LIMIT_MAX, high=_LIMIT_MAX)
            if limit is not None and previous is not None and limit <= previous:
                reader.problem(f"{at}.below", f"must be more than the band before ({previous})")
            previous = limit if limit is not None else previous
        if points is not None:
            bands.append(Band(limit, points))
    if reader.problems or weight is None or missing is None:
        return None
    return FactorRule(str(key), str(label).strip(), weight, missing, tuple(bands))


def _risk_classes(reader: _Reader, raw: Any) -> tuple[RiskBand, ...]:
    classes: list[RiskBand] = []
    listed = reader.items("risk_classes", raw)
    previous: Decimal | None = None
    for k, item in enumerate(listed):
        at = f"risk_classes[{k}]"
        item = reader.mapping(at, item, ("min_score", "class"))
        code = item.get("class", _MISSING)
        if code is _MISSING:
            pass
        elif code not in RISK_CLASSES:
            reader.problem(f"{at}.class", "must be one of A, B, C, D, E", code)
        elif any(c.risk_class == code for c in classes):
            reader.problem(f"{at}.class", "appears twice", code)
        minimum = reader.setting(at, item, "min_score", low=_ZERO, high=_HUNDRED)
        if minimum is None:
            continue
        if previous is not None and minimum >= previous:
            reader.problem(f"{at}.min_score", f"must be less than the class before ({previous})")
        if k == len(listed) - 1 and minimum != 0:
            reader.problem(f"{at}.min_score", "the last class must start at 0 (every score)")
        previous = minimum
        if code in RISK_CLASSES:
            classes.append(RiskBand(minimum, str(code)))
    return tuple(classes)


def _limit_rule(reader: _Reader, raw: Any, classes: tuple[RiskBand, ...]) -> LimitRule | None:
    raw = reader.mapping(
        "limit_rule", raw, ("net_worth_share", "purchases_terms_factor", "cap", "round_down_to")
    )
    shares_raw = raw.get("net_worth_share", {})
    shares: dict[str, Decimal] = {}
    if "net_worth_share" not in raw:
        pass
    elif not isinstance(shares_raw, Mapping):
        reader.problem("limit_rule.net_worth_share", "must give a share (0 to 1) per risk class")
    else:
        for code, share_raw in shares_raw.items():
            at = f"limit_rule.net_worth_share.{code}"
            if code not in RISK_CLASSES:
                reader.problem(at, "not a risk class (A to E)")
                continue
            share = reader.number(at, share_raw, low=_ZERO, high=_ONE)
            if share is not None:
                shares[code] = share
    if isinstance(shares_raw, Mapping) and "net_worth_share" in raw:
        for band in classes:
            if band.risk_class not in shares_raw:
                reader.problem(f"limit_rule.net_worth_share.{band.risk_class}", "required")
    factor = reader.setting("limit_rule", raw, "purchases_terms_factor", low=_ZERO, high=_HUNDRED)
    cap = None
    if raw.get("cap") is not None:
        cap = reader.number("limit_rule.cap", raw.get("cap"), low=_ZERO, high=_AMOUNT_MAX)
    step = reader.setting("limit_rule", raw, "round_down_to", above=_ZERO, high=_AMOUNT_MAX)
    if step is not None and decimals_of(step) > 2:
        reader.problem("limit_rule.round_down_to", "at most 2 decimals", step)
    if factor is None or step is None:
        return None
    return LimitRule(shares, factor, cap, step)


def _json_number(text: str) -> Decimal | str:
    """A JSON number with a fraction as a Decimal (never a float); one with an exponent stays
    as written, for the reader to refuse by its path (as a Decimal, 15e-1 would pass for 1.5)."""
    return text if "e" in text.lower() else Decimal(text)


def parse_rules(raw: Mapping[str, Any] | str) -> Rules:
    """Rules from their JSON (text or already loaded), or ValidationFailed naming every problem
    by its path, e.g. "factors[2].bands[1].below" (indexes count from 0)."""
    reader = _Reader()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw, parse_float=_json_number)
        except ValueError as exc:
            raise ValidationFailed([FieldProblem("rules", f"not valid JSON ({exc})")]) from None
    top = reader.mapping("", raw, ("factors", "risk_classes", "limit_rule"))
    seen: set[str] = set()
    factors = []
    for k, item in enumerate(reader.items("factors", top.get("factors", _MISSING))):
        before = len(reader.problems)
        factor = _factor(reader, f"factors[{k}]", item, seen)
        if factor is not None and len(reader.problems) == before:
            factors.append(factor)
    classes = _risk_classes(reader, top.get("risk_classes", _MISSING))
    rule = _limit_rule(reader, top.get("limit_rule", _MISSING), classes)
    if reader.problems or rule is None:
        raise ValidationFailed(reader.problems or [FieldProblem("rules", "incomplete")])
    return Rules(tuple(factors), classes, rule)


def plain(value: Decimal) -> str:
    """A decimal as typed, without exponent or trailing zeros ("0.15", "1000")."""
    return format(value.normalize(), "f")


def _stored(value: Decimal) -> str:
    """A decimal as the rules keep it: as typed ("1.0", "0.20"), never as a float."""
    return format(value, "f")


def _whole_or_text(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else _stored(value)


def rules_to_dict(rules: Rules) -> dict[str, Any]:
    """The rules as stored: decimals as strings (never floats), weights and points as whole
    numbers where they are whole, as the seeded version 1 writes them."""
    limit = rules.limit_rule
    return {
        "factors": [
            {
                "key": f.key,
                "label": f.label,
                "weight": _whole_or_text(f.weight),
                "missing_points": _whole_or_text(f.missing_points),
                "bands": [
                    {
                        "below": None if b.below is None else _stored(b.below),
                        "points": _whole_or_text(b.points),
                    }
                    for b in f.bands
                ],
            }
            for f in rules.factors
        ],
        "risk_classes": [
            {"min_score": _stored(r.min_score), "class": r.risk_class} for r in rules.risk_classes
        ],
        "limit_rule": {
            "net_worth_share": {k: _stored(v) for k, v in limit.net_worth_share.items()},
            "purchases_terms_factor": _stored(limit.purchases_terms_factor),
            "cap": None if limit.cap is None else _stored(limit.cap),
            "round_down_to": _stored(limit.round_down_to),
        },
    }


__all__ = [
    "FACTOR_KEYS",
    "Band",
    "FactorRule",
    "LimitRule",
    "RiskBand",
    "Rules",
    "parse_rules",
    "plain",
    "rules_to_dict",
]
