"""The customer record's editable fields: labels, parsing and validation, in one place.

The edit dialog, the importer and the services all parse input through `parse_field`, so a value
that one of them accepts, every one accepts, and the messages read the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from babel import Locale

from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.money import decimals_of, is_currency, minor_units, parse_amount

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RISK_CLASSES = {
    "A": "A – minimal risk",
    "B": "B – low risk",
    "C": "C – moderate risk",
    "D": "D – high risk",
    "E": "E – severe risk",
}
SEGMENTS = ("Enterprise", "Mid-market", "Small business", "Public sector", "Distributor", "Retail")
TRUE_WORDS = {"yes", "y", "true", "1", "x", "on", "hold"}
FALSE_WORDS = {"no", "n", "false", "0", "", "off"}


@cache
def countries() -> dict[str, str]:
    """ISO 3166 alpha-2 codes and their English names (babel's territory list)."""
    return {k: v for k, v in Locale("en").territories.items() if len(k) == 2 and k.isalpha()}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    parse: Callable[[str], Any]
    required: bool = False
    max_length: int | None = None
    credit: bool = False  # changing it needs the credit-terms permission


def _text(value: str) -> str | None:
    return value.strip() or None


def _upper(value: str) -> str | None:
    return value.strip().upper() or None


def _email(value: str) -> str | None:
    value = value.strip()
    if value and not EMAIL.match(value):
        raise ValueError("not a valid e-mail address (name@example.com)")
    return value or None


def _currency(value: str) -> str | None:
    code = value.strip().upper()
    if code and not is_currency(code):
        raise ValueError("not an ISO 4217 currency code (EUR, USD, GBP …)")
    return code or None


def _country(value: str) -> str | None:
    code = value.strip().upper()
    if code and code not in countries():
        raise ValueError("not an ISO country code (DE, FR, US …)")
    return code or None


def _risk(value: str) -> str | None:
    code = value.strip().upper()[:1] if value.strip() else ""
    if code and code not in RISK_CLASSES:
        raise ValueError("risk class is one of A, B, C, D, E")
    return code or None


def _limit(value: str) -> Decimal:
    amount = parse_amount(value) if value.strip() else Decimal(0)
    if amount < 0:
        raise ValueError("the credit limit cannot be negative")
    if decimals_of(amount) > 4:
        raise ValueError("too many decimals")
    if amount > MONEY_MAX:
        raise ValueError(f"too large; at most {int(MONEY_MAX):,}")
    # "60000" and a stored 60000.00 are the same limit: keep cents so audit rows read alike.
    return amount.quantize(Decimal("0.01")) if decimals_of(amount) <= 2 else amount


def _bool(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("expected yes or no")


def _date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    for fmt in ("%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (YYYY-MM-DD)")


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("number", "Customer number", _text, required=True, max_length=32),
    FieldSpec("name", "Name", _text, required=True, max_length=200),
    FieldSpec("legal_name", "Legal name", _text, max_length=200),
    FieldSpec("tax_id", "Tax ID", _upper, max_length=40),
    FieldSpec("segment", "Segment", _text, max_length=40),
    FieldSpec("risk_class", "Risk class", _risk, credit=True),
    FieldSpec("payment_terms", "Payment terms", _upper, max_length=16, credit=True),
    FieldSpec("currency", "Currency", _currency),
    FieldSpec("credit_limit", "Credit limit", _limit, credit=True),
    FieldSpec("on_hold", "On hold", _bool, credit=True),
    FieldSpec("hold_reason", "Hold reason", _text, max_length=200, credit=True),
    FieldSpec("collector", "Collector", _text, max_length=64),
    FieldSpec("email", "E-mail", _email, max_length=200),
    FieldSpec("phone", "Phone", _text, max_length=40),
    FieldSpec("address_line1", "Address line 1", _text, max_length=200),
    FieldSpec("address_line2", "Address line 2", _text, max_length=200),
    FieldSpec("city", "City", _text, max_length=100),
    FieldSpec("postcode", "Postcode", _text, max_length=20),
    FieldSpec("country", "Country", _country),
    FieldSpec("next_review_date", "Next review date", _date, credit=True),
)
BY_NAME = {f.name: f for f in FIELDS}
CREDIT_FIELDS = frozenset(f.name for f in FIELDS if f.credit)
DEFAULTS: dict[str, Any] = {
    "payment_terms": "NET30",
    "currency": "EUR",
    "credit_limit": Decimal(0),
    "on_hold": False,
}


def parse_field(name: str, raw: Any) -> Any:
    """Turn typed or imported input into the stored value; raises ValueError with the reason.

    Values that are already of the stored type (Decimal, bool, date) pass through the same checks.
    """
    spec = BY_NAME[name]
    if raw is None:
        text = ""
    elif isinstance(raw, bool):
        text = "yes" if raw else "no"
    elif isinstance(raw, Decimal | int):
        text = format(Decimal(raw), "f")
    elif isinstance(raw, date):
        text = raw.isoformat()
    elif isinstance(raw, float):
        raise ValueError("amounts must be given as text or Decimal, never as float")
    else:
        text = str(raw)
    if spec.max_length is not None and len(text.strip()) > spec.max_length:
        raise ValueError(f"longer than {spec.max_length} characters")
    value = spec.parse(text)
    if spec.required and value is None:
        raise ValueError("required")
    return value


def check_limit_decimals(limit: Decimal, currency: str) -> str | None:
    """A limit may not carry more decimals than its currency has (JPY none, EUR two)."""
    if decimals_of(limit) > minor_units(currency):
        return f"{currency} amounts have at most {minor_units(currency)} decimals"
    return None
