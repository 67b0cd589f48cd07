"""Type checks for values the collections services receive from screens, the CLI and imports:
Python's bool is an int and its datetime is a date, and neither may pass for a whole number or
a day (a checkbox's True is not "1 day of grace", a timestamp is not a business day)."""

from __future__ import annotations

from datetime import date, datetime

from o2c_desktop.errors import FieldProblem, NotFound


def is_whole(value: object) -> bool:
    """A whole number, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_day(value: object) -> bool:
    """A calendar day, and not a datetime."""
    return isinstance(value, date) and not isinstance(value, datetime)


ROW_ID_MAX = 2**31 - 1  # the INTEGER primary keys of both engines' tables


def row_id(value: object, what: str) -> int:
    """`value` as the id of a `what` row, or NotFound naming it: a bool, text, a fraction or a
    number outside the id column's range would otherwise reach the database as a driver error
    (PostgreSQL refuses 2**40 for an INTEGER column with a traceback, not a "not found")."""
    if is_whole(value) and 0 < value <= ROW_ID_MAX:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    raise NotFound(f"There is no {what} {value!r}.")


def text_field(
    name: str, raw: object, limit: int, problems: list[FieldProblem], *, required: str = ""
) -> str | None:
    """`raw` as trimmed text, None when empty. Added to `problems`, naming the field: longer
    than `limit` characters, or empty while `required` (what to tell the user then)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        if required:
            problems.append(FieldProblem(name, required))
        return None
    if len(text) > limit:
        problems.append(FieldProblem(name, f"longer than {limit:,} characters", value=text[:40]))
        return None
    return text
