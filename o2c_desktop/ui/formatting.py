"""Numbers, money and dates in the user's locale (babel), right-aligned by the table models."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

_locale = Locale("en", "US")


def set_locale(name: str) -> None:
    """Use a locale such as 'de_DE' (Qt's QLocale name); 'C' or unknown keeps en_US."""
    global _locale
    try:
        _locale = (
            Locale.parse(name.replace("-", "_")) if name and name != "C" else Locale("en", "US")
        )
    except (UnknownLocaleError, ValueError):
        _locale = Locale("en", "US")


def locale_name() -> str:
    return str(_locale)


def money(value: Decimal | None, currency: str | None = None) -> str:
    if value is None:
        return ""
    if currency:
        return format_currency(value, currency, locale=_locale, currency_digits=True)
    return format_decimal(value, format="#,##0.00", locale=_locale)


def amount(value: Decimal | None) -> str:
    """An amount without currency symbol, two decimals, grouped (table cells)."""
    return "" if value is None else format_decimal(value, format="#,##0.00", locale=_locale)


def percent(fraction: Decimal | None) -> str:
    return "" if fraction is None else format_percent(fraction, format="#,##0.0%", locale=_locale)


def day(value: date | None) -> str:
    return "" if value is None else format_date(value, format="medium", locale=_locale)


def moment(value: datetime | None) -> str:
    """A UTC timestamp shown in the computer's local time."""
    if value is None:
        return ""
    local = value.astimezone()
    return f"{format_date(local.date(), format='medium', locale=_locale)} {local:%H:%M}"
