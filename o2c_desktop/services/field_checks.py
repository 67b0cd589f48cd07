"""Type checks for values the collections services receive from screens, the CLI and imports:
Python's bool is an int and its datetime is a date, and neither may pass for a whole number or
a day (a checkbox's True is not "1 day of grace", a timestamp is not a business day)."""

from __future__ import annotations

from datetime import date, datetime


def is_whole(value: object) -> bool:
    """A whole number, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_day(value: object) -> bool:
    """A calendar day, and not a datetime."""
    return isinstance(value, date) and not isinstance(value, datetime)
