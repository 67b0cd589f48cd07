"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_SCALE = 4
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
# The largest amount every engine stores: SQLite keeps 1/10,000 units in a 64-bit integer.
MONEY_MAX = Decimal(2**63 - 1).scaleb(-MONEY_SCALE)
_CENT = Decimal("0.01")


def _tidy(value: Decimal) -> Decimal:
    """Show stored money with two decimals unless it really carries more (3-decimal currencies)."""
    cents = value.quantize(_CENT)
    return cents if cents == value else value.normalize()


class Money(TypeDecorator[Decimal]):
    """An exact amount: NUMERIC(19,4) on PostgreSQL, an integer of 1/10,000 units on SQLite.

    SQLite has no decimal type (its NUMERIC is a float), so amounts are stored scaled as integers:
    sums and comparisons in SQL stay exact, and values come back as `Decimal`. Four decimals cover
    every ISO currency's minor units; a float or a fifth decimal is refused rather than rounded.
    Both engines accept the same range, ±MONEY_MAX (what 64 bits hold at four decimals).
    """

    impl = Numeric(19, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(19, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal, never a float")
        amount = Decimal(value)
        scaled = amount.quantize(_QUANTUM)
        if scaled != amount:
            raise ValueError(f"{amount} has more than {MONEY_SCALE} decimals")
        if abs(scaled) > MONEY_MAX:
            raise ValueError(f"{amount} is out of range (at most {MONEY_MAX} either way)")
        if dialect.name == "sqlite":
            return int(scaled.scaleb(MONEY_SCALE))
        return scaled

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _tidy(Decimal(int(value)).scaleb(-MONEY_SCALE))
        return _tidy(Decimal(value))
