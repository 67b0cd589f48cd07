"""Writing off several invoices in one user action, and the authority the user has for it.

`ledger.write_off` writes off one invoice per unit of work. The Ledger tab lets the user pick
several invoices and press Save once, so they are written off here in one transaction: either
all of them or none (a refusal on the third must not leave the first two written off). The
authority ("may write off at most X at once") counts the whole action, not each invoice, or
splitting a selection would get round it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, PermissionDenied, ValidationFailed
from o2c_desktop.models import Invoice
from o2c_desktop.services import ledger
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.exposure import refresh_exposure


@dataclass(frozen=True)
class Authority:
    """What the actor may write off at once: `limit` None means no limit."""

    limit: Decimal | None

    def allows(self, total: Decimal) -> bool:
        return self.limit is None or total <= self.limit

    @property
    def text(self) -> str:
        return "no limit" if self.limit is None else f"up to {self.limit:,.2f} at once"


def authority(db: Database, actor: Actor) -> Authority:
    """The actor's write-off authority from the department setting (PermissionDenied for a
    role without Permission.WRITE_OFF)."""
    actor.require(Permission.WRITE_OFF)
    with db.read() as session:
        return Authority(ledger.write_off_limit(session, actor))


def write_off_items(
    db: Database,
    actor: Actor,
    lines: Sequence[tuple[int, Decimal | int | str]],
    on: date | None = None,
    reason: str = "",
) -> list[ledger.AllocationRow]:
    """Write off (invoice id, amount) lines with one date and reason, in one unit of work.

    Each line follows `ledger.write_off_in_session` (at most its open amount, not before its
    issue date); the total must be within the actor's authority."""
    actor.require(Permission.WRITE_OFF)
    problems: list[FieldProblem] = []
    if not lines:
        problems.append(FieldProblem("items", "choose at least one invoice to write off"))
    if len({invoice_id for invoice_id, _ in lines}) != len(lines):
        problems.append(FieldProblem("items", "an invoice is listed twice"))
    parsed: list[tuple[int, Decimal]] = []
    for invoice_id, raw in lines:
        amount = ledger.check_amount(raw, None, problems)
        if amount is not None:
            parsed.append((invoice_id, amount))
    if problems:
        raise ValidationFailed(problems)
    total = sum((amount for _, amount in parsed), start=Decimal(0))
    with db.write() as session:
        limit = ledger.write_off_limit(session, actor)
        if limit is not None and total > limit:
            raise PermissionDenied(
                f"{actor.display_name} ({actor.roles_text}) may write off at most "
                f"{limit:,.2f} at once; {total:,.2f} needs someone with more authority."
            )
        made = [
            ledger.write_off_in_session(
                session, actor, invoice_id, raw, on=on, reason=reason, refresh=False
            )
            for invoice_id, raw in lines
        ]
        customer_ids = {session.get(Invoice, a.invoice_id).customer_id for a in made}
        refresh_exposure(session, sorted(customer_ids))
        return [ledger.allocation_row(session, a) for a in made]
