"""Bulk inserts for demo data and imports: COPY on PostgreSQL, executemany on SQLite, and
dropping a table's secondary indexes around a load that is big for the table.

Measured on this kind of machine (architecture.md): COPY ~250k rows/s against ~7k rows/s for ORM
`add_all`. Rows must carry database-ready values (Decimal, date, aware datetime, bool), which both
paths accept; on SQLite they still pass through the column types (money becomes scaled integers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Dialect, Index, Table, func, insert, select, text
from sqlalchemy.orm import Session

# A load this big (rows), or this big a share of the table's rows, builds the secondary indexes
# afterwards instead of maintaining them row by row (see `indexes_rebuilt`).
REBUILD_INDEXES_FROM_ROWS = 100_000
REBUILD_INDEXES_FROM_SHARE = 0.2
# PostgreSQL: memory for building an index in one sort (the default 64 MB spills to disk for
# a few million rows). Set for the loading transaction only.
INDEX_BUILD_MEMORY = "256MB"


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0].keys())
    raw = connection.connection.driver_connection
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


_COPY_SPECIALS = ("\\", "\t", "\n", "\r")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_column(values: list[Any]) -> list[str]:
    """One column as COPY text fields: NULL as \\N, text escaped only when the column holds a
    character that needs it (checked once for the whole column), money never as a float."""
    kinds = {v.__class__ for v in values} - {type(None)}
    if not kinds:
        return ["\\N"] * len(values)
    if len(kinds) > 1:
        raise TypeError(f"a column mixes {sorted(k.__name__ for k in kinds)}")
    kind = kinds.pop()
    if kind is str:
        present = [v for v in values if v is not None]
        sample = "\x00".join(present)
        if any(c in sample for c in _COPY_SPECIALS):
            return ["\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values]
        return ["\\N" if v is None else v for v in values]
    if kind is bool:
        return ["\\N" if v is None else ("t" if v else "f") for v in values]
    if kind is int:
        return ["\\N" if v is None else str(v) for v in values]
    if kind is Decimal:
        return ["\\N" if v is None else format(v, "f") for v in values]
    if kind is date or kind is datetime:
        return ["\\N" if v is None else v.isoformat() for v in values]
    raise TypeError(f"cannot COPY a {kind.__name__}")


@dataclass(frozen=True)
class Same:
    """A column's value for every row of a `bulk_insert_columns` call (converted once)."""

    value: Any


def _processed(values: Sequence[Any], process: Any, rows: int) -> list[Any]:
    """A column through its type's bind processor. A column of few distinct values (dates,
    currencies, kinds) is converted once per value: a million dates through SQLite's date
    processor took 8 s, through a dict of the 365 distinct ones a fraction of that."""
    if isinstance(values, Same):
        return [process(values.value) if process is not None else values.value] * rows
    if process is None:
        return list(values)
    distinct = set(values)
    if len(distinct) * 8 <= len(values):
        converted = {v: process(v) for v in distinct}
        return list(map(converted.__getitem__, values))
    return list(map(process, values))


def bulk_insert_columns(
    session: Session, table: Table, columns: Mapping[str, Sequence[Any] | Same]
) -> None:
    """Insert rows given column by column (a list per column, all the same length, or `Same`
    for a value every row has): the fast path for a million-row import, with no dict per row.
    Values go through the columns' types as in any insert (money is checked and, on SQLite,
    scaled to an integer), then to the driver in one call: COPY text on PostgreSQL (formatted a
    column at a time: 2,000,000 rows through psycopg's `write_row` took a minute),
    `executemany` on SQLite's own cursor."""
    bulk_insert_column_parts(session, table, [columns])


def bulk_insert_column_parts(
    session: Session, table: Table, parts: Iterable[Mapping[str, Sequence[Any] | Same]]
) -> None:
    """`bulk_insert_columns` for rows that come in parts (the chunks of a million-row import),
    as one insert. On PostgreSQL that is one COPY fed by psycopg's background writer thread: the
    server stores one part while Python formats the next, where a COPY per part did one after
    the other (measured at 1,000,000 invoices into 2,000,000: the server's share alone is 18.5
    s, Python's about 9 s). `parts` may be a generator: it is asked for the next part only once
    the last one is queued, so it can check for a cancel and report progress in between."""
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.driver_connection
    postgres = dialect.name == "postgresql"
    with ExitStack() as stack:
        copy = None
        first: list[str] | None = None
        for columns in parts:
            names = list(columns)
            rows = _row_count(columns)
            if rows == 0:
                continue
            if first is None:
                first = names
                quoted = ", ".join(f'"{c}"' for c in names)
                marks = ", ".join("?" * len(names))
            elif names != first:
                raise ValueError(f"parts with different columns: {first} and {names}")
            prepared = _prepared(table, dialect, columns, rows)
            if not postgres:
                raw.executemany(
                    f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})',
                    zip(*prepared, strict=True),
                )
                continue
            if copy is None:
                cursor = stack.enter_context(raw.cursor())
                copy = stack.enter_context(
                    cursor.copy(
                        f'COPY "{table.name}" ({quoted}) FROM STDIN',
                        writer=QueuedLibpqWriter(cursor),
                    )
                )
            # A `Same` column is formatted once (a million timestamps through isoformat took a
            # second).
            text_columns = [
                _copy_column(values[:1]) * rows
                if isinstance(columns[name], Same)
                else _copy_column(values)
                for name, values in zip(names, prepared, strict=True)
            ]
            copy.write("\n".join(map("\t".join, zip(*text_columns, strict=True))) + "\n")


def _row_count(columns: Mapping[str, Sequence[Any] | Same]) -> int:
    lengths = {len(v) for v in columns.values() if not isinstance(v, Same)}
    if not columns or not lengths:
        return 0
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop()


def _prepared(
    table: Table, dialect: Dialect, columns: Mapping[str, Sequence[Any] | Same], rows: int
) -> list[list[Any]]:
    """Each column through its type's bind processor (the same list given for two columns is
    converted once)."""
    done: dict[int, list[Any]] = {}
    prepared: list[list[Any]] = []
    for name, values in columns.items():
        process = table.c[name].type._cached_bind_processor(dialect)
        key = id(values)
        if key not in done or isinstance(values, Same):
            done[key] = _processed(values, process, rows)
        prepared.append(done[key])
    return prepared


def advance_sequence(session: Session, table: Table, column: str = "id") -> None:
    """After inserting explicit ids on PostgreSQL, move the serial sequence past them."""
    if session.connection().dialect.name != "postgresql":
        return
    session.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
            f"COALESCE((SELECT MAX({column}) FROM {table.name}), 0) + 1, false)"
        )
    )


def estimated_rows(session: Session, table: Table) -> int:
    """Roughly how many rows a table has, without counting them: PostgreSQL's planner estimate
    (counted when there is none yet), SQLite's largest integer id (ids are not reused)."""
    if session.connection().dialect.name == "postgresql":
        estimate = session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": table.name},
        )
        if estimate is not None and estimate >= 0:
            return int(estimate)
        return int(session.scalar(select(func.count()).select_from(table)) or 0)
    return int(session.scalar(select(func.max(table.c.id))) or 0)


def worth_rebuilding_indexes(session: Session, table: Table, new_rows: int) -> bool:
    """Is a load of `new_rows` big enough, for the table, to build its indexes afterwards?
    Building an index sorts every row once; maintaining it costs a random B-tree insertion per
    new row and index. At 2,000,000 invoices and nine index structures, a 1,000,000-row COPY
    took 50 s with the indexes kept and 3.3 s without (plus their build)."""
    if new_rows >= REBUILD_INDEXES_FROM_ROWS:
        return True
    if new_rows == 0:
        return False
    return new_rows >= REBUILD_INDEXES_FROM_SHARE * estimated_rows(session, table)


def secondary_indexes(table: Table) -> list[Index]:
    """The table's declared indexes (`Index`, not primary keys or unique constraints, which
    check the rows as they come in), by name."""
    return sorted(table.indexes, key=lambda index: str(index.name))


@contextmanager
def indexes_rebuilt(session: Session, table: Table, enabled: bool = True) -> Iterator[None]:
    """Drop the table's secondary indexes for the block and build them again after it, inside
    the caller's transaction (DDL is transactional on both engines): if the block or a build
    fails, the rollback brings the indexes back as they were, and nothing is half-done.

    The cost is on PostgreSQL: DROP INDEX locks the table against readers until the commit, so
    a big import makes the invoice list and reports wait for it (on SQLite, readers keep their
    snapshot). The block must not need the indexes (a bulk insert does not)."""
    if not enabled:
        yield
        return
    indexes = secondary_indexes(table)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
    for index in indexes:
        index.drop(connection)
    yield
    for index in indexes:
        index.create(connection)
