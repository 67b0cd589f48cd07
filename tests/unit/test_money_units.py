"""Money as integer units (o2c_desktop.db.hints): the reports' fast path must give exactly the
values, and the very same display, as the `Money` column type."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from o2c_desktop.db.hints import from_units
from o2c_desktop.db.types import MONEY_MAX, MONEY_SCALE, Money


class _Dialect:
    """Just enough of a dialect for Money.process_result_value on SQLite (integer units)."""

    name = "sqlite"


def _as_money(units: int) -> Decimal:
    value = Money().process_result_value(units, _Dialect())  # type: ignore[arg-type]
    assert value is not None
    return value


EDGES = [0, 1, -1, 10, -10, 50, 99, 100, -100, 150, 12345, -12345, 10_000, -5, 2**63 - 1]


@pytest.mark.parametrize("units", EDGES + [-u for u in EDGES])
def test_units_convert_as_the_money_type_does(units: int) -> None:
    converted = from_units(units)
    expected = _as_money(units)
    assert converted == expected
    # Same exponent, so the same text on screen and in exports ('1.50', not '1.5000').
    assert str(converted) == str(expected)


def test_random_units_convert_as_the_money_type_does() -> None:
    rng = random.Random(42)
    for _ in range(20_000):
        units = rng.choice([rng.randint(-(10**12), 10**12), rng.randint(-(10**9), 10**9) * 100])
        assert str(from_units(units)) == str(_as_money(units)), units


def test_the_largest_amount_survives() -> None:
    assert from_units(int(MONEY_MAX.scaleb(MONEY_SCALE))) == MONEY_MAX
    assert from_units(1_234_567) == Decimal("123.4567")
    assert str(from_units(1_234_500)) == "123.45"
    assert str(from_units(0)) == "0.00"
