"""Amounts and dates on a statement, written the way the customer's country writes them.

The locale comes from the customer's country: babel's first official language of the territory
("DE" → de_DE, "CH" → de_CH, "FR" → fr_FR), en_US when the country is missing or unknown. Only
numbers and dates follow it; the words on the statement stay in the app's language (English), so
dates are numeric with a four-digit year (31.03.2025, 3/31/2025) and never half translated.
Amounts show exactly the currency's minor units, rounded half-even only if a value carries more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import parse_pattern as parse_date_pattern
from babel.languages import get_official_languages
from babel.numbers import parse_pattern as parse_number_pattern

from o2c_desktop.money import display_places

FALLBACK_LOCALE = "en_US"


@cache
def locale_for_country(country: str | None) -> str:
    """The babel locale id for a customer's ISO country code (en_US if none fits)."""
    code = (country or "").strip().upper()
    if len(code) != 2:
        return FALLBACK_LOCALE
    languages = get_official_languages(code, de_facto=True)
    for language in languages:
        try:
            return str(Locale.parse(f"{language}_{code}"))
        except (UnknownLocaleError, ValueError):
            continue
    return FALLBACK_LOCALE


@dataclass(frozen=True)
class Formats:
    """Formatting for one locale; patterns are parsed once and kept (a statement formats a few
    hundred values, a batch hundreds of thousands)."""

    locale_id: str
    locale: Locale = field(repr=False, compare=False)
    _date_pattern: Any = field(repr=False, compare=False)
    _number_patterns: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)

    def money(self, value: Decimal, currency: str) -> str:
        """1234.5 EUR → "1.234,50" (de_DE), "1,234.50" (en_US); never "-0,00"."""
        places = display_places(currency)
        pattern = self._number_patterns.get(places)
        if pattern is None:
            text = "#,##0" + ("." + "0" * places if places else "")
            pattern = self._number_patterns[places] = parse_number_pattern(text)
        quantum = Decimal(1).scaleb(-places)
        rounded = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
        if rounded == 0:
            rounded = abs(rounded)
        return str(pattern.apply(rounded, self.locale))

    def date(self, day: date) -> str:
        """The locale's short date with a four-digit year: 31.03.2025, 3/31/2025, 2025-03-31."""
        return str(self._date_pattern.apply(day, self.locale))


@cache
def formats(locale_id: str) -> Formats:
    """Formats for a babel locale id (cached per process)."""
    locale = Locale.parse(locale_id)
    short = locale.date_formats["short"].pattern
    four_digit_year = re.sub(r"y+", "y", short)
    return Formats(locale_id, locale, parse_date_pattern(four_digit_year))


def formats_for_country(country: str | None) -> Formats:
    return formats(locale_for_country(country))
