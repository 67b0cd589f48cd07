"""Money rules for every layer: Decimal only, the currency's minor units, half-even rounding."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

ZERO = Decimal("0")
# Thousands separators must group by three: "1,234.5" is fine, "12,5" or "1234,56" is refused.
_GROUPED_POINT = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_GROUPED_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$")


@cache
def known_currencies() -> frozenset[str]:
    """ISO 4217 codes babel knows (active ones), so a typo like 'EUD' is refused."""
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in known_currencies()


def minor_units(currency: str) -> int:
    """Decimals of a currency: 2 for EUR/USD, 0 for JPY, 3 for BHD."""
    return get_currency_precision(currency)


@cache
def display_places(currency: str | None) -> int:
    """Decimals to show an amount with: the currency's, or cents for a missing or unknown code
    (a report or letter shows the amount rather than fail)."""
    if not currency:
        return 2
    try:
        return minor_units(currency)
    except Exception:
        return 2


def parse_amount(text: str | Decimal | int, *, decimal_comma: bool = False) -> Decimal:
    """Parse a user-typed or imported amount without ever going through float.

    Accepts grouping spaces/apostrophes and, with `decimal_comma`, "1.234,56". Raises ValueError
    with a short reason when the text is not a number.
    """
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise ValueError("not a number")
        return text
    if isinstance(text, int):
        return Decimal(text)
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    separator, grouped = (".", _GROUPED_COMMA) if decimal_comma else (",", _GROUPED_POINT)
    if separator in cleaned and not grouped.match(cleaned):
        raise ValueError(f"misplaced thousands separator {separator!r}")
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    if not cleaned:
        raise ValueError("empty amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    return value


def decimals_of(value: Decimal) -> int:
    """How many decimals a value carries once trailing zeros are ignored (1.50 -> 1)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def round_money(value: Decimal, currency: str = "EUR") -> Decimal:
    """Round once, at the end of a computation, half-even to the currency's minor units."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def amount_text(value: Decimal, currency: str | None, *, grouped: bool = False) -> str:
    """An amount with exactly the currency's decimals (rounded half-even only if it has more)."""
    rounded = value.quantize(Decimal(1).scaleb(-display_places(currency)), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    return format(rounded, ",f" if grouped else "f")


def money_text(value: Decimal, currency: str) -> str:
    """An amount as a message or summary line writes it, "EUR 12,400.00": the code, then the
    amount grouped with the currency's decimals (English digits: the messages are English)."""
    return f"{currency} {amount_text(value, currency, grouped=True)}"
