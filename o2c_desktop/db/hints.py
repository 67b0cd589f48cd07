"""SQL that each engine runs best its own way, for the reports over 2,000,000 invoices.

- Planner hints that only SQLite needs: how often a WHERE term is true. SQLite plans without
  statistics (the app runs no ANALYZE), so it guesses how selective each term is, and at
  2,000,000 invoices some guesses cost seconds. `likelihood(term, p)` tells it; other engines
  get the term unchanged (PostgreSQL's statistics need no hint).
- `money_sum`: an exact SUM of money that PostgreSQL computes in integers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from o2c_desktop.db.types import MONEY_SCALE, Money


class _Likelihood(ColumnElement[bool]):
    """A WHERE term with a hint for SQLite's planner: likelihood(term, p), how often it is true.

    - Rare (`selective`): most allocations have no credit note, so ANALYZE records
      credit_note_id as one value (NULL) repeated 1,700,000 times, and SQLite would scan the
      table rather than use ix_allocations_credit_note_id (measured: 0.3 s per lookup against
      0.002 s).
    - Common (`common`): `kind = 'invoice'` is true of 98 % of the items; without statistics
      SQLite takes it for selective and walks uq_invoices_kind_number instead of the issue-date
      range (measured: 0.35 s against 0.05 s per month of credit sales)."""

    inherit_cache = True
    type = NullType()

    def __init__(self, clause: Any, probability: float):
        self.clause = clause
        self.probability = probability


@compiles(_Likelihood)
def _compile_likelihood(element: _Likelihood, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clause, **kw))


@compiles(_Likelihood, "sqlite")
def _compile_likelihood_sqlite(element: _Likelihood, compiler: Any, **kw: Any) -> str:
    return f"likelihood({compiler.process(element.clause, **kw)}, {element.probability})"


def selective(clause: Any) -> Any:
    """A term true of very few rows: use its index."""
    return _Likelihood(clause, 0.0001)


def common(clause: Any) -> Any:
    """A term true of most rows: do not drive the query by it."""
    return _Likelihood(clause, 0.9)


class money_sum(FunctionElement[Any]):
    """SUM of a money expression, exact on both engines. SQLite stores money as integers
    already. PostgreSQL sums NUMERIC in arbitrary precision with a large state per group: the
    portfolio aging's seven sums over 115,000 customers took 134 MB and spilled to disk, and
    the aggregation was most of the report's time. Money has at most four decimals
    (NUMERIC(19,4)), so × 10,000 is an exact integer and summing BIGINTs (in a 128-bit state)
    gives the same total, scaled back by × 0.0001."""

    name = "money_sum"
    inherit_cache = True
    type = Money()


@compiles(money_sum)
def _compile_money_sum(element: money_sum, compiler: Any, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "postgresql")
def _compile_money_sum_postgresql(element: money_sum, compiler: Any, **kw: Any) -> str:
    scale = 10**MONEY_SCALE
    inner = compiler.process(element.clauses, **kw)
    return f"(sum(CAST(({inner}) * {scale} AS BIGINT)) * 0.{'0' * (MONEY_SCALE - 1)}1)"


class money_units(FunctionElement[Any]):
    """A money expression as an integer of 1/10,000 units (exact: money has at most four
    decimals). SQLite stores money so already; PostgreSQL scales its NUMERIC once per row. Summed
    with `units_sum`, the sums arrive as plain integers: converting 115,000 customer rows of
    NUMERIC into `Decimal` in the driver was most of the portfolio aging's Python time."""

    name = "money_units"
    inherit_cache = True
    type = NullType()


@compiles(money_units)
def _compile_money_units(element: money_units, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(money_units, "postgresql")
def _compile_money_units_postgresql(element: money_units, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"CAST(({inner}) * {10**MONEY_SCALE} AS BIGINT)"


class units_sum(FunctionElement[Any]):
    """SUM of `money_units` as an integer. PostgreSQL's sum of BIGINTs is a NUMERIC (the driver
    would build a `Decimal` again): cast back to BIGINT, the range every engine's money has
    (±MONEY_MAX; a larger sum fails loudly on both engines, never rounds)."""

    name = "units_sum"
    inherit_cache = True
    type = NullType()


@compiles(units_sum)
def _compile_units_sum(element: units_sum, compiler: Any, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(units_sum, "postgresql")
def _compile_units_sum_postgresql(element: units_sum, compiler: Any, **kw: Any) -> str:
    return f"CAST(sum({compiler.process(element.clauses, **kw)}) AS BIGINT)"


def from_units(units: int) -> Decimal:
    """Money from 1/10,000 units, shown as the `Money` type shows it (two decimals unless it
    really carries more), without its quantize: the common whole-cent case is one division."""
    cents, rest = divmod(units, 100)
    if not rest:
        return Decimal(cents).scaleb(-2)
    return Decimal(units).scaleb(-MONEY_SCALE).normalize()
