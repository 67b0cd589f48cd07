"""The errors a user may meet. Each carries a message meant for people, never a traceback.

Screens and the command line catch `O2CError` and show `str(error)`; anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class O2CError(Exception):
    """Base of every error whose message is fit to show to a user as it is."""


class PermissionDenied(O2CError):
    """The acting user's roles do not allow the action; the message says which role would."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one input field (or one cell of an imported file)."""

    field: str
    message: str
    row: int | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        value = f" (value {self.value!r})" if self.value is not None else ""
        return f"{where}{self.field}{value}: {self.message}"


class ValidationFailed(O2CError):
    """Input that cannot be saved. `problems` lets a dialog show each one next to its field."""

    def __init__(self, problems: list[FieldProblem], source: str | None = None):
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{head}{len(problems)} problem(s), nothing was saved:\n{lines}")

    def for_field(self, name: str) -> list[str]:
        return [p.message for p in self.problems if p.field == name]


@dataclass
class ConflictDetails:
    """Who changed a record since the user loaded it, and what they changed."""

    entity: str
    record: str
    changed_by: str
    changed_at: str
    their_values: dict[str, str] = field(default_factory=dict)


class ConflictError(O2CError):
    """Someone else saved the same record first. The caller keeps the user's input."""

    def __init__(self, details: ConflictDetails):
        self.details = details
        changes = ", ".join(f"{k} is now {v}" for k, v in details.their_values.items())
        super().__init__(
            f"{details.entity} {details.record} was changed by {details.changed_by} "
            f"at {details.changed_at} after you opened it"
            + (f" ({changes})" if changes else "")
            + ". Your input is kept: save again to overwrite their changes, or cancel."
        )


class NotFound(O2CError):
    """A record the user named does not exist (or no longer does)."""


class DatabaseUnavailable(O2CError):
    """The database cannot be reached or opened; the message masks any password."""


class DatabaseTooNew(O2CError):
    """The database schema was written by a newer O2C Desktop than this one."""


class UnknownUser(O2CError):
    """The login (OS user or database role) has no account in this database."""


class Cancelled(O2CError):
    """The user pressed Cancel; the unit of work was rolled back, nothing was written."""

    def __init__(self, message: str = "Cancelled; nothing was changed."):
        super().__init__(message)
