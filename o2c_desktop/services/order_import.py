"""Order import from CSV or XLSX (`o2c-desktop import orders FILE`): all or nothing, idempotent,
with the credit holds worked out row by row.

A file has one row per order: customer (customer number), number, order date, amount, and
optionally currency (it must be the customer's: an order is in its customer's currency) and
external id. The file is read exactly as `import invoices` reads one (services.ledger_import:
column matching and `--map`, `--date-format`, `--decimal-comma`, XLSX without float, one line
per problem naming row, column, value and reason); any bad row refuses the whole file and
nothing is written.

Importing the same file again changes nothing: orders are keyed by number, and a row whose
number exists for the same customer and amount is left alone ("already there"); the same number
with another customer or amount is a problem, never a silent update.

Holds (services.orders) are evaluated on today's figures in file order, with the exposure
growing within the file: each order that is not held counts for the next ones of its customer,
so the third order of a customer can be held when the first two use up the limit. Orders and
their audit rows are written a column list at a time (COPY on PostgreSQL), in one transaction,
with the exposure of the customers whose open orders grew refreshed at the end. On PostgreSQL
the import first locks the file's customers (in id order), the order numbers and the orders
table, the order in which an order entry takes them, so the two queue instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import Same, bulk_insert_columns, estimated_rows
from o2c_desktop.errors import FieldProblem, O2CError
from o2c_desktop.models import AuditEntry, Customer, Order
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import ORDER_HELD, ORDER_OPEN
from o2c_desktop.services import ledger_import
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_policy import read_policy
from o2c_desktop.services.customer_import import summary_end
from o2c_desktop.services.day_range import RANGE_TEXT, in_range
from o2c_desktop.services.exposure import refresh_exposure, refresh_exposure_of_everyone
from o2c_desktop.services.ledger_import import (
    _BAD,
    ANALYZE_AFTER,
    EXPOSURE_ALL_AFTER,
    LOOKUP_CHUNK,
    ORDER_FIELDS,
    ORDERS,
    READ_ALL_CUSTOMERS_SHARE,
    WRITE_CHUNK,
    FileImportOptions,
    _chunks,
    _Customer,
    _Customers,
    _in_minor_units,
    _lock,
    _MinorUnits,
    _parse_rows,
    _read_table,
    _reserve_ids,
    _Run,
    _too_many_decimals,
    _where_in,
    check_date_format,
    creation_notes,
    match_columns,
)
from o2c_desktop.services.orders import (
    credit_facts_in_session,
    hold_reasons,
    reasons_text,
    serialize_numbering,
)

Progress = Callable[[int, int], None]
FIELDS = ORDER_FIELDS
_LOCK_RACES = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure


@dataclass(frozen=True)
class OrderImportOptions(FileImportOptions):
    """What `o2c-desktop import orders` takes as options: those of every ledger file."""


@dataclass(frozen=True)
class OrderImportReport:
    """What an import did (or, for a dry run, would do)."""

    file: str
    rows: int
    entered: int
    held: int
    unchanged: int
    totals: Mapping[str, Decimal] = field(default_factory=dict)  # currency -> sum entered
    ignored_columns: tuple[str, ...] = ()
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the command line or a status bar."""
        return (
            f"{self.file}: {self.rows:,} orders read: {self.entered:,} entered "
            f"({self.held:,} held), {self.unchanged:,} already there"
        ) + summary_end(self.totals, self.ignored_columns, self.dry_run)


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Repeated `--map FIELD=COLUMN` options as {field: column}; a typo stops the import."""
    return ledger_import.parse_mapping(ORDERS, items)


@dataclass(slots=True)
class _NewOrder:
    row: int
    customer: _Customer
    number: str
    order_date: date
    amount: Decimal
    external_id: str | None
    reasons: list[str] = field(default_factory=list)


def _stored_orders(
    session: Session, numbers: Sequence[str], postgres: bool
) -> dict[str, tuple[str, Decimal]]:
    """Stored order number -> (customer number, amount), for the numbers a file names."""
    found: dict[str, tuple[str, Decimal]] = {}
    o, c = Order.__table__, Customer.__table__
    for chunk in _chunks(numbers, LOOKUP_CHUNK):
        stmt = (
            select(o.c.number, c.c.number, o.c.amount)
            .select_from(o)
            .join(c, c.c.id == o.c.customer_id)
        )
        for number, customer, amount in session.execute(
            _where_in(stmt, o.c.number, chunk, postgres)
        ):
            found[number] = (customer, amount)
    return found


def _checked_rows(
    session: Session, rows: list[Any], run: _Run, problems: list[FieldProblem]
) -> list[_NewOrder]:
    """Each row against the database: a known customer, its currency, a number once in the
    file, an amount above zero with the currency's decimals, a date in the years the app
    accepts. Problems are collected, not raised (the user fixes the whole file once)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    customers = _Customers(session, postgres, create=False)
    named = {values[0] for _, values in rows}
    if len(named) >= READ_ALL_CUSTOMERS_SHARE * estimated_rows(session, Customer.__table__):
        customers.load_all()
    col = run.column
    units = _MinorUnits()
    first_row: dict[str, int] = {}
    planned: list[_NewOrder] = []
    for chunk in _chunks(rows, LOOKUP_CHUNK):
        customers.load(values[0] for _, values in chunk)
        for row, (number_of_customer, number, day, amount, currency, external_id) in chunk:
            if number is not _BAD:
                if number in first_row:
                    problems.append(
                        FieldProblem(
                            col("number"),
                            f"the same order number is on row {first_row[number]}",
                            row,
                            number,
                        )
                    )
                    number = _BAD
                else:
                    first_row[number] = row
            if day is not _BAD and not in_range(day):
                problems.append(FieldProblem(col("order_date"), RANGE_TEXT, row, day.isoformat()))
                day = _BAD
            if number_of_customer is _BAD:
                continue
            customer = customers.known.get(number_of_customer)
            if customer is None:
                problems.append(
                    FieldProblem(
                        col("customer"),
                        "unknown customer (import the customers first)",
                        row,
                        number_of_customer,
                    )
                )
                continue
            if currency is _BAD:
                continue
            if currency is not None and currency != customer.currency:
                problems.append(
                    FieldProblem(
                        col("currency"),
                        f"customer {customer.number} is in {customer.currency}; an order is in "
                        "its customer's currency",
                        row,
                        currency,
                    )
                )
                continue
            if amount is not _BAD:
                exact = _in_minor_units(amount, customer.currency, units) if amount > 0 else None
                if exact is None:
                    reason = (
                        _too_many_decimals(customer.currency, units)
                        if amount > 0
                        else "must be more than zero"
                    )
                    problems.append(FieldProblem(col("amount"), reason, row, format(amount, "f")))
                amount = _BAD if exact is None else exact
            if number is _BAD or day is _BAD or amount is _BAD:
                continue
            planned.append(_NewOrder(row, customer, number, day, amount, external_id))
        run.tick(len(chunk))
    return planned


def _new_orders(
    session: Session, planned: list[_NewOrder], run: _Run, problems: list[FieldProblem]
) -> tuple[list[_NewOrder], int]:
    """The planned orders not stored yet, and how many are (the same number, customer and
    amount); a stored number with other content is a problem."""
    postgres = session.get_bind().dialect.name == "postgresql"
    stored = _stored_orders(session, [p.number for p in planned], postgres) if planned else {}
    new: list[_NewOrder] = []
    unchanged = 0
    for p in planned:
        before = stored.get(p.number)
        if before is None:
            new.append(p)
        elif before == (p.customer.number, p.amount):
            unchanged += 1
        else:
            customer, amount = before
            problems.append(
                FieldProblem(
                    run.column("number"),
                    f"order {p.number} already exists for customer {customer}, amount "
                    f"{format(amount, 'f')} (this row: {p.customer.number}, "
                    f"{format(p.amount, 'f')}); an import never changes a stored order",
                    p.row,
                    p.number,
                )
            )
    return new, unchanged


def _lock_for_writing(session: Session, planned: list[_NewOrder]) -> None:
    """PostgreSQL: the file's customers row by row in id order, then the order numbers, then
    the orders table: the order in which an order entry takes them (its customer, the numbers,
    its insert). Taken the other way round, the import's foreign-key checks waited for a
    customer an entry had locked while the entry's insert waited for the import's table."""
    if session.get_bind().dialect.name != "postgresql":
        return
    customers = Customer.__table__
    ids = sorted({p.customer.id for p in planned if p.customer.id is not None})
    for chunk in _chunks(ids, LOOKUP_CHUNK):  # ascending chunks: id order over all of them
        stmt = _where_in(select(customers.c.id), customers.c.id, chunk, postgres=True)
        session.execute(stmt.order_by(customers.c.id).with_for_update(of=customers)).all()
    serialize_numbering(session)
    _lock(session, False, "orders")


@contextmanager
def _lock_races_explained(file_name: str) -> Iterator[None]:
    """A deadlock or serialization failure PostgreSQL still ends the import with (another
    writer taking its locks in another order) as what it is, not as a lost database."""
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _LOCK_RACES:
            raise
        raise O2CError(
            f"{file_name}: another user changed these customers at the same moment; nothing "
            "was imported, try again."
        ) from None


def _hold(session: Session, new: list[_NewOrder], as_of: date) -> None:
    """The hold rules row by row in file order, each order not held counting in its customer's
    exposure for the rows after it."""
    facts = credit_facts_in_session(
        session,
        {p.customer.id for p in new if p.customer.id is not None},
        as_of,
        read_policy(session),
    )
    exposure = {customer_id: f.exposure for customer_id, f in facts.items()}
    for p in new:
        customer_id = p.customer.id
        assert customer_id is not None
        p.reasons = hold_reasons(facts[customer_id], p.amount, exposure[customer_id])
        if not p.reasons:
            exposure[customer_id] += p.amount


def _write(session: Session, actor: Actor, new: list[_NewOrder], run: _Run) -> None:
    """The orders and one audit row each (what, from which file and row, open or held and
    why), a column list per field."""
    at = utcnow()
    by = actor.user_id or None
    first = _reserve_ids(session, Order.__table__, len(new))
    for start in range(0, len(new), WRITE_CHUNK):
        run.check_cancel()
        part = new[start : start + WRITE_CHUNK]
        ids = [first + start + i for i in range(len(part))]
        customer_ids = [p.customer.id for p in part]
        held = [bool(p.reasons) for p in part]
        bulk_insert_columns(
            session,
            Order.__table__,
            {
                "id": ids,
                "number": [p.number for p in part],
                "customer_id": customer_ids,
                "order_date": [p.order_date for p in part],
                "amount": [p.amount for p in part],
                "currency": [p.customer.currency for p in part],
                "external_id": [p.external_id for p in part],
                "status": [ORDER_HELD if h else ORDER_OPEN for h in held],
                "hold_reasons": [reasons_text(p.reasons) for p in part],
                "held_at": [at if h else None for h in held],
                "entered_by_id": Same(by),
                "created_at": Same(at),
                "updated_at": Same(at),
                "updated_by_id": Same(by),
                "version": Same(1),
            },
        )
        notes = [
            f"order {p.number}: {format(p.amount, 'f')} {p.customer.currency}, dated "
            f"{p.order_date}; imported from {run.source}, row {p.row}; "
            + (f"held: {'; '.join(p.reasons)}" if p.reasons else "open")
            for p in part
        ]
        bulk_insert_columns(
            session,
            AuditEntry.__table__,
            creation_notes(actor, at, "orders", ids, customer_ids, notes),
        )
        run.tick(len(part))
    opened = {p.customer.id for p in new if not p.reasons and p.customer.id is not None}
    if len(new) >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE orders, audit_log"))
    if len(opened) > EXPOSURE_ALL_AFTER:
        refresh_exposure_of_everyone(session)
    else:
        refresh_exposure(session, opened)


def _import(
    session: Session, actor: Actor, parsed: Any, run: _Run, dry_run: bool
) -> dict[str, Any]:
    problems = parsed.problems
    planned = _checked_rows(session, parsed.rows, run, problems)
    if not dry_run:
        _lock_for_writing(session, planned)
    new, unchanged = _new_orders(session, planned, run, problems)
    run.refuse(problems)
    _hold(session, new, date.today())
    totals: dict[str, Decimal] = {}
    for p in new:
        totals[p.customer.currency] = totals.get(p.customer.currency, Decimal(0)) + p.amount
    if not dry_run:
        run.tick(unchanged)
        _write(session, actor, new, run)
    return {
        "entered": len(new),
        "held": sum(1 for p in new if p.reasons),
        "unchanged": unchanged,
        "totals": totals,
    }


def import_orders(
    db: Database,
    actor: Actor,
    path: str | Path,
    options: OrderImportOptions | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> OrderImportReport:
    """Import a file of orders (see the module docstring). `progress(done, total)` counts rows
    checked and rows written; `cancel()` is polled between chunks and aborts with Cancelled,
    nothing written."""
    actor.require(Permission.ENTER_ORDERS)
    options = options or OrderImportOptions()
    check_date_format(options.date_format)
    file = Path(path)
    table = _read_table(file, cancel)
    columns = match_columns(ORDERS, table.headers, options.mapping, file.name)
    parsed = _parse_rows(ORDERS, table, columns, options)
    width = len(table.headers)
    del table
    count = len(parsed.rows)
    run = _Run(ORDERS, file.name, columns, width, 2 * count, progress, cancel)
    run.check_cancel()
    if options.dry_run:
        with db.read() as session:
            report = _import(session, actor, parsed, run, dry_run=True)
        run.tick(run.total - run.done)
    else:
        try:
            with db.write() as session, _lock_races_explained(file.name):
                report = _import(session, actor, parsed, run, dry_run=False)
        except IntegrityError:
            raise O2CError(
                f"{file.name}: orders changed during the import (another user or import); "
                "nothing was written. Import the file again."
            ) from None
    return OrderImportReport(
        file=file.name,
        rows=count,
        ignored_columns=columns.ignored,
        dry_run=options.dry_run,
        **report,
    )
