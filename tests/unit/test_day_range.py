"""Calendar arithmetic the credit services share (services.day_range)."""

from __future__ import annotations

from datetime import date

import pytest

from o2c_desktop.services.day_range import add_months


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 3, 31), 15, date(2026, 6, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),  # the scorecard's 12 months back
        (date(2025, 1, 15), -12, date(2024, 1, 15)),
    ],
)
def test_add_months_clamps_to_the_end_of_a_shorter_month(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected
