"""The days the app accepts as report dates, list days and periods: years 1900 to 2999.

Why a range at all: a report or a list works out other days from the one it is given (the day
before a period, months back, days past due), and Python's date stops at year 1 and year 9999,
so 0001-01-01 ended in an OverflowError traceback instead of a message. No business date lies
outside these years; one given there is a typo, and it is refused naming the field (services)
or the option (the command line, o2c_desktop.cli_support.parse_date) before any arithmetic.

Nothing here imports the database or other services, so the command line can use it at start-up.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime

from o2c_desktop.errors import FieldProblem, ValidationFailed

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
RANGE_TEXT = f"a date from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"


def in_range(day: date) -> bool:
    """Whether `day` lies in the years the app accepts."""
    return FIRST_DAY <= day <= LAST_DAY


def check_days(**days: object) -> None:
    """Refuse, naming each field, every value that is not a day (a datetime is not one) in the
    years the app accepts: `check_days(date_from=…, date_to=…)`."""
    problems = []
    for name, value in days.items():
        if not isinstance(value, date) or isinstance(value, datetime):
            problems.append(FieldProblem(name, "a date is required", value=str(value)))
        elif not in_range(value):
            problems.append(FieldProblem(name, RANGE_TEXT, value=value.isoformat()))
    if problems:
        raise ValidationFailed(problems)


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the month's last day (2025-11-30 + 3 months
    = 2026-02-28): a statement dated the 31st lapses at the end of a shorter month, not after."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
