"""Payment terms arithmetic: due dates and early-payment discount windows.

NET30: due 30 days after the issue date. EOM30 (end of month): due 30 days after the last day of
the issue month. 2/10N30: due after 30 days, 2 % off when paid within 10 days of issue.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.models import PaymentTerms


@dataclass(frozen=True)
class Terms:
    code: str
    net_days: int
    end_of_month: bool = False
    discount_percent: Decimal | None = None
    discount_days: int | None = None

    def due_date(self, issue_date: date) -> date:
        start = issue_date
        if self.end_of_month:
            start = issue_date.replace(
                day=calendar.monthrange(issue_date.year, issue_date.month)[1]
            )
        return start + timedelta(days=self.net_days)

    def discount_until(self, issue_date: date) -> date | None:
        if not self.discount_percent or self.discount_days is None:
            return None
        return issue_date + timedelta(days=self.discount_days)


def load_terms(session: Session) -> dict[str, Terms]:
    """Every payment terms row, by code (small table: read once per unit of work)."""
    return {
        row.code: Terms(
            row.code, row.net_days, row.end_of_month, row.discount_percent, row.discount_days
        )
        for row in session.scalars(select(PaymentTerms))
    }
