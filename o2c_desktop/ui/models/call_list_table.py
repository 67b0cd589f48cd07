"""The call list's table: who to call, in the strategy's order, and why.

The columns lead with what a collector decides on (score, customer, overdue, how old, the
reasons and the next action); who works the customer comes last. The list is computed whole by
the call list service, so it is sorted and filtered in the model's own list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from o2c_desktop.services.call_list import CallListRow
from o2c_desktop.ui import formatting
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.filtered_list import FilteredListModel

COLUMNS = (
    Column("score", "Score", lambda r: r.score, numeric=True),
    Column("number", "Customer", lambda r: r.number),
    Column("name", "Name", lambda r: r.name, tooltip=lambda r: r.name),
    Column(
        "overdue",
        "Overdue",
        lambda r: r.overdue,
        lambda r: formatting.amount(r.overdue),
        numeric=True,
        tooltip=lambda r: formatting.money(r.overdue, r.currency),
    ),
    Column(
        "oldest",
        "Days",
        lambda r: r.oldest_days_past_due,
        numeric=True,
        tooltip=lambda r: f"The oldest overdue item is {r.oldest_days_past_due} days past due",
    ),
    Column(
        "reasons",
        "Reasons",
        lambda r: "; ".join(r.reasons),
        tooltip=lambda r: "\n".join(r.reasons),
    ),
    Column("next_action", "Next action", lambda r: r.next_action),
    Column("collector", "Collector", lambda r: r.collector),
    Column("claimed_by", "Claimed by", lambda r: r.claimed_by),
)
# Pixels: the reasons get the room, the name does not stretch (long names: the tooltip).
COLUMN_WIDTHS = (55, 80, 140, 95, 45, 300, 150, 120, 100)
EXPORT_COLUMNS = (*COLUMNS, Column("currency", "Currency", lambda r: r.currency))


def overdue_totals(rows: Sequence[CallListRow]) -> dict[str, Decimal]:
    """Per currency: amounts in different currencies are never added together."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.overdue
    return totals


class CallListModel(FilteredListModel):
    """The call list, loaded whole; `all_rows` in the service's order (score, then overdue)."""

    rows: list[CallListRow]
    all_rows: list[CallListRow]

    def search_fields(self, row: CallListRow) -> Sequence[str | None]:
        return (row.number, row.name, row.collector, " ".join(row.reasons), row.next_action)

    def replace_row(self, customer_id: int, change: Callable[[CallListRow], CallListRow]) -> None:
        """Update one customer's row in place (a claim taken or released)."""
        self.replace_rows(lambda row: row.customer_id == customer_id, change)

    def row_of(self, customer_id: int) -> int | None:
        return next((n for n, r in enumerate(self.rows) if r.customer_id == customer_id), None)
