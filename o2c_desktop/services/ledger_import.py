"""Invoice and payment import from CSV or XLSX: all or nothing, idempotent, fast.

What a file means:

* Invoices: one row per document: customer (customer number), number, issue date, amount, and
  optionally due date, currency and external id. Amounts in the ledger are positive; **a negative
  amount in a file is a credit note** (kind 'credit_note', amount = its absolute value), which is
  how ERP exports list them. A due date missing from the file comes from the customer's payment
  terms for an invoice and is the issue date for a credit note (the credit is available at
  once), as `ledger.post_item_in_session` posts them; an invoice under terms with an early-payment
  discount gets its window. A missing currency is the customer's. Amounts may not carry more
  decimals than the currency has, and are never zero.
* Payments: one row per receipt: customer, date, amount (positive), and optionally reference,
  invoice (an invoice number), currency and external id. A payment naming an invoice of the same
  customer and currency is allocated to it: min(payment, invoice's open amount), dated
  max(payment date, issue date); what is left stays unapplied cash. A payment naming no invoice
  stays unapplied unless `apply="oldest-first"`, which allocates it to the customer's open
  invoices in the same currency, by due date then number (payments taken by date, then row).
* Customers are referenced by customer number. With `create_missing_customers` an unknown number
  becomes a customer named by its number, in the file's currency (its first row's) or EUR, with
  the default terms, audited like a customer import's creation (someone edits it afterwards).

Why it is built this way:

* All or nothing, like the customer import (whose file reading, CSV sniffing, encodings, XLSX
  without float, header normalisation and problem reporting this module calls): every row is
  checked first, and any bad row (unknown customer, unreadable date or amount, duplicate number,
  too many decimals, …) refuses the whole file with one line per problem (row, column, value,
  reason). Nothing is written until every row is known good, then all of it in one transaction.
* Importing the same file again changes nothing. Invoices are keyed by (kind, number): an
  identical row is left alone; a row whose number exists with a different customer, date,
  amount or currency is a problem, never a silent update. Payments have no natural number: they
  are keyed by the file's external id when one is mapped, else by a fingerprint stored in
  `Payment.external_id` ("fp:" + SHA-1 of customer, date, amount, reference, invoice, currency
  and how many identical rows came before it in the file), so two identical payments in one
  file are both kept and the same file imported twice is a no-op. (Consequence: an identical
  payment in a *later* file looks like the earlier one; map an external id to tell them apart.)
* Amounts never pass through float: CSV cells are text parsed to Decimal; XLSX numbers are
  accepted only when the float is exactly the decimal a person typed (`_from_float`).
* A million rows without per-row overhead: cells are validated a column at a time in Python
  over plain strings (each distinct date or currency parsed once); customers are read a chunk
  of distinct numbers at a time, or all at once when the file names many of them; the stored
  invoices a file repeats are found by one join with the file's keys in a temporary table; no
  ORM objects. Invoices and their audit rows are written a column list at a time (COPY text on
  PostgreSQL, one executemany on SQLite), and a load that is big for the table (100,000 rows,
  or a fifth of the rows there are) drops the secondary indexes of `invoices` and `audit_log`
  and builds them again before the commit, in the same transaction (see
  `db.bulk.indexes_rebuilt`: on PostgreSQL readers of those tables wait for the commit).
  Exposure is refreshed once at the end, set-based when many customers were touched. What
  remains is the database's own work, mostly the foreign keys: on PostgreSQL each new invoice
  checks (and share-locks) its customer and user rows, ~25 s per million rows here, which no
  unprivileged session may switch off (dropping the constraints would lock `customers` and
  `users` against everyone). `log` (INFO) gives the time of each phase.
* `progress(done, total)` counts rows checked and rows written (total = twice the rows);
  `cancelled()` is polled between chunks and aborts with `Cancelled`, nothing written.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Select, Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import (
    Same,
    bulk_insert,
    bulk_insert_column_parts,
    bulk_insert_columns,
    estimated_rows,
    indexes_rebuilt,
    worth_rebuilding_indexes,
)
from o2c_desktop.db.gc_pause import gc_paused
from o2c_desktop.errors import Cancelled, FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models import Allocation, AuditEntry, Customer, Invoice, Payment
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.ledger import ALLOC_PAYMENT, CREDIT_NOTE, INVOICE
from o2c_desktop.money import is_currency, minor_units, parse_amount
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.customer_fields import DEFAULTS
from o2c_desktop.services.customer_import import (
    CSV_SUFFIXES,
    MAX_PROBLEMS,
    _amount_text_problem,
    _blank,
    _Columns,
    _decode,
    _delimiter,
    _from_float,
    _norm,
    _read_table,
    _shown,
    _Table,
    _write_creates,
    summary_end,
)
from o2c_desktop.services.customers import ResolvedRefs
from o2c_desktop.services.exposure import refresh_exposure, refresh_exposure_of_everyone
from o2c_desktop.services.terms import Terms, load_terms

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)

INVOICES, PAYMENTS = "invoices", "payments"
KINDS = (INVOICES, PAYMENTS)
APPLY_NONE, APPLY_OLDEST_FIRST = "none", "oldest-first"
LOOKUP_CHUNK = 10_000  # rows checked, and distinct keys looked up, per step
WRITE_CHUNK = 10_000  # rows per bulk insert (and per progress step while writing)
BULK_WRITE_CHUNK = 100_000  # invoices per insert when written column by column
# Distinct customer numbers from which every customer is read in one pass rather than looked
# up a chunk at a time (as a share of the customers there are).
READ_ALL_CUSTOMERS_SHARE = 0.1
EXPOSURE_ALL_AFTER = 20_000  # touched customers from which "all of them" may be cheaper
ANALYZE_AFTER = 10_000  # rows after which PostgreSQL's statistics are refreshed
SQLITE_CACHE_KIB = 512 * 1024  # page cache of a big import's SQLite connection (see _sqlite_cache)
MEMO_SIZE = 100_000  # distinct date / currency cells remembered per column
DEFAULT_CURRENCY = DEFAULTS["currency"]
# Money holds ±9.2e14 (an int64 of 1/10,000 units on SQLite); one document stays well below, so
# sums over many of them do too.
MAX_AMOUNT = Decimal(10) ** 14
CANCELLED = "Import cancelled; nothing was written."


# ---------------------------------------------------------------------------------------------
# Fields, options, report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldInfo:
    """A field a file column can feed. `aliases` are further header names matched by default."""

    name: str
    label: str
    type: str  # text | date | amount | currency
    required: bool = False
    max_length: int | None = None
    aliases: tuple[str, ...] = ()


INVOICE_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("customer", "Customer number", "text", True, 32, ("customer id", "customer no")),
    FieldInfo("number", "Invoice number", "text", True, 40, ("invoice no", "document number")),
    FieldInfo("issue_date", "Issue date", "date", True, aliases=("invoice date",)),
    FieldInfo("due_date", "Due date", "date"),
    FieldInfo("amount", "Amount", "amount", True),
    FieldInfo("currency", "Currency", "currency"),
    FieldInfo("external_id", "External ID", "text", max_length=64),
)
PAYMENT_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("customer", "Customer number", "text", True, 32, ("customer id", "customer no")),
    FieldInfo("date", "Date", "date", True, aliases=("payment date", "value date")),
    FieldInfo("amount", "Amount", "amount", True),
    FieldInfo("reference", "Reference", "text", max_length=80),
    FieldInfo("invoice", "Invoice number", "text", max_length=40, aliases=("invoice no",)),
    FieldInfo("currency", "Currency", "currency"),
    FieldInfo("external_id", "External ID", "text", max_length=64),
)
# Customer orders (services.order_import): read by the same column matching, cell parsing and
# preview as invoices, so the import dialog and `--map` work for them unchanged.
ORDERS = "orders"
ORDER_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("customer", "Customer number", "text", True, 32, ("customer id", "customer no")),
    FieldInfo("number", "Order number", "text", True, 40, ("order no", "order id", "sales order")),
    FieldInfo("order_date", "Order date", "date", True, aliases=("date",)),
    FieldInfo("amount", "Amount", "amount", True, aliases=("order value", "order amount")),
    FieldInfo("currency", "Currency", "currency"),
    FieldInfo("external_id", "External ID", "text", max_length=64),
)
FIELDS: dict[str, tuple[FieldInfo, ...]] = {
    INVOICES: INVOICE_FIELDS,
    PAYMENTS: PAYMENT_FIELDS,
    ORDERS: ORDER_FIELDS,
}
_TITLE = {INVOICES: "invoice", PAYMENTS: "payment", ORDERS: "order"}


@dataclass(frozen=True)
class FileImportOptions:
    """How a file of the ledger's kinds or of orders is read (`o2c-desktop import KIND FILE`)."""

    mapping: Mapping[str, str] = field(default_factory=dict)  # field -> column
    date_format: str | None = None  # strptime format; None: ISO (YYYY-MM-DD)
    decimal_comma: bool = False  # amounts written 1.234,56
    dry_run: bool = False


@dataclass(frozen=True)
class LedgerImportOptions(FileImportOptions):
    """What `o2c-desktop import invoices|payments` takes as options."""

    create_missing_customers: bool = False
    apply: str = APPLY_NONE  # payments: what to do with payments that name no invoice


@dataclass(frozen=True)
class LedgerImportReport:
    """What an import did (or, for a dry run, would do)."""

    kind: str
    file: str
    rows: int
    created: int  # documents: invoices + credit notes, or payments
    unchanged: int
    credit_notes: int = 0
    customers_created: int = 0
    allocations: int = 0
    unapplied: int = 0  # new payments left with unapplied cash
    totals: Mapping[str, Decimal] = field(default_factory=dict)  # currency -> sum created
    ignored_columns: tuple[str, ...] = ()
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the command line or a status bar."""
        if self.kind == INVOICES:
            what = (
                f"{self.created - self.credit_notes:,} invoices and "
                f"{self.credit_notes:,} credit notes created"
            )
        else:
            what = f"{self.created:,} payments created"
        line = f"{self.file}: {self.rows:,} rows: {what}, {self.unchanged:,} unchanged"
        if self.kind == PAYMENTS:
            line += f"; {self.allocations:,} allocations, {self.unapplied:,} with unapplied cash"
        if self.customers_created:
            line += f"; {self.customers_created:,} customers created"
        return line + summary_end(self.totals, self.ignored_columns, self.dry_run)


def parse_mapping(kind: str, items: Iterable[str]) -> dict[str, str]:
    """Turn repeated `--map FIELD=COLUMN` options into {field: column}; a typo stops the import."""
    names = [f.name for f in FIELDS[kind]]
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not name or not column:
            raise O2CError(f"--map {item!r}: expected FIELD=COLUMN, for example amount=Total")
        if name not in names:
            raise O2CError(
                f"--map {item!r}: {name!r} is not a field of {kind}; fields are " + ", ".join(names)
            )
        if name in mapping and mapping[name] != column:
            raise O2CError(f"--map: {name} is mapped twice ({mapping[name]!r} and {column!r})")
        mapping[name] = column
    return mapping


def check_date_format(date_format: str | None) -> None:
    """Refuse a --date-format that cannot read back a full date (a typo, or no year)."""
    if date_format is None:
        return
    sample = date(2001, 2, 3)
    try:
        ok = datetime.strptime(sample.strftime(date_format), date_format).date() == sample
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise O2CError(
            f"--date-format {date_format!r} does not read a full date; "
            "use strptime codes, for example %m/%d/%Y or %d.%m.%Y"
        )


# ---------------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------------


def _header_key(header: str) -> str:
    """The customer import's normalisation, spaces dropped too: 'invoiceNumber', 'Invoice number'
    and 'INVOICE_NUMBER' are the same column."""
    return _norm(header).replace(" ", "")


def match_columns(
    kind: str, headers: Sequence[str], mapping: Mapping[str, str], source: str
) -> _Columns:
    """Which column feeds which field: --map first, then a header equal to a field's name, label
    or alias. Two columns feeding one field are refused (the result would depend on their order);
    a required field without a column stops the import with the file's column names."""
    specs = FIELDS[kind]
    by_key: dict[str, list[int]] = {}
    for position, header in enumerate(headers):
        if header:
            by_key.setdefault(_header_key(header), []).append(position)
    listing = ", ".join(repr(h) for h in headers if h) or "(none)"
    names = {f.name for f in specs}
    index: dict[str, int] = {}
    for fld, column in mapping.items():
        if fld not in names:
            raise O2CError(f"{source}: {fld!r} is not a field of {kind}")
        found = by_key.get(_header_key(column), [])
        if not found:
            raise O2CError(
                f"{source}: --map {fld}={column}: the file has no column {column!r}; "
                f"its columns are {listing}"
            )
        if len(found) > 1:
            raise O2CError(f"{source}: the file has {len(found)} columns named {column!r}")
        index[fld] = found[0]
    mapped = set(index.values())
    for spec in specs:
        if spec.name in index:
            continue
        keys = {_header_key(k) for k in (spec.name, spec.label, *spec.aliases)}
        found = sorted({p for k in keys for p in by_key.get(k, [])} - mapped)
        if len(found) > 1:
            both = " and ".join(repr(headers[p]) for p in found)
            raise O2CError(
                f"{source}: columns {both} would both be read as {spec.name}; "
                f"rename one or choose with --map {spec.name}=COLUMN"
            )
        if found:
            index[spec.name] = found[0]
    missing = [f.name for f in specs if f.required and f.name not in index]
    if missing:
        raise O2CError(
            f"{source}: no column for {', '.join(missing)} (name the columns so or use "
            f"--map FIELD=COLUMN); the file's columns are {listing}"
        )
    used = set(index.values())
    return _Columns(
        index=index,
        names={fld: headers[p] for fld, p in index.items()},
        ignored=tuple(h for p, h in enumerate(headers) if h and p not in used),
        unnamed=frozenset(p for p, h in enumerate(headers) if not h),
    )


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------

_BAD: Any = object()  # a cell that could not be read; its problem is already listed
_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+")
_NOT_PLAIN = re.compile(r"[eE_]")  # Decimal() reads 1e5 and 1_000; a ledger file does not
_FOREIGN_DATE = re.compile(r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")  # 1/15/2024, 15.01.24


def _text_of(raw: Any) -> str:
    """A text field from a CSV or XLSX cell (XLSX may hold a number or a date)."""
    if isinstance(raw, str):
        return raw.strip()
    if raw is None:
        return ""
    if isinstance(raw, bool):
        raise ValueError("expected text, not a yes/no value")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return format(_from_float(raw), "f")
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    return str(raw).strip()


def _text_parser(spec: FieldInfo) -> Callable[[Any], str | None]:
    limit = spec.max_length or 10_000
    required = spec.required

    def parse(raw: Any) -> str | None:
        value = raw.strip() if isinstance(raw, str) else _text_of(raw)
        if not value:
            if required:
                raise ValueError("required")
            return None
        if len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        return value

    return parse


def _memoised(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Dates and currencies repeat a few thousand values over a million rows: remember them."""
    memo: dict[Any, tuple[Any, str | None]] = {}

    def remembered(raw: Any) -> Any:
        # 1, 1.0 and True are equal in Python but not the same cell; CSV cells are all text
        key = raw if raw.__class__ is str else (raw.__class__, raw)
        outcome = memo.get(key)
        if outcome is None:
            try:
                outcome = (parse(raw), None)
            except ValueError as exc:
                outcome = (None, str(exc))
            if len(memo) < MEMO_SIZE:
                memo[key] = outcome
        if outcome[1] is not None:
            raise ValueError(outcome[1])
        return outcome[0]

    return remembered


def _date_parser(spec: FieldInfo, date_format: str | None) -> Callable[[Any], date | None]:
    required = spec.required

    def parse(raw: Any) -> date | None:
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                raise ValueError("required")
            return None
        if not isinstance(raw, str):
            raise ValueError("not a date (a number: format the column as a date or as text)")
        value = raw.strip()
        if date_format is not None:
            try:
                return datetime.strptime(value, date_format).date()
            except ValueError:
                raise ValueError(f"not a date in the format {date_format}") from None
        try:
            return date.fromisoformat(value)
        except ValueError:
            hint = "; for other layouts use --date-format, e.g. %m/%d/%Y"
            raise ValueError(
                "not a date (YYYY-MM-DD)" + (hint if _FOREIGN_DATE.match(value) else "")
            ) from None

    return _memoised(parse)


def _amount_parser(
    spec: FieldInfo, decimal_comma: bool, delimiter: str | None
) -> Callable[[Any], Decimal | None]:
    required = spec.required

    def parse(raw: Any) -> Decimal | None:
        if isinstance(raw, str):
            value = raw.strip()
            if not value:
                if required:
                    raise ValueError("required")
                return None
            if _PLAIN.fullmatch(value) and not (decimal_comma and "." in value):
                amount = Decimal(value)
            else:
                if _NOT_PLAIN.search(value):
                    raise ValueError("not a number")
                if not decimal_comma and _amount_text_problem(value, delimiter):
                    raise ValueError(
                        "a comma in an amount is ambiguous; write it with a decimal point and "
                        "no separators, or use --decimal-comma if the file writes 1.234,56"
                    )
                amount = parse_amount(value, decimal_comma=decimal_comma)
        elif raw is None:
            if required:
                raise ValueError("required")
            return None
        elif isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
            raise ValueError("not a number")
        elif isinstance(raw, float):
            amount = _from_float(raw)
        else:
            amount = Decimal(raw)
        if not amount.is_finite():
            raise ValueError("not a number")
        if abs(amount) >= MAX_AMOUNT:
            raise ValueError(f"too large (at most {MAX_AMOUNT - 1:,})")
        return amount

    return parse


def _currency_parser(spec: FieldInfo) -> Callable[[Any], str | None]:
    def parse(raw: Any) -> str | None:
        code = raw.strip().upper() if isinstance(raw, str) else _text_of(raw).upper()
        if not code:
            return None
        if not is_currency(code):
            raise ValueError("not an ISO 4217 currency code (EUR, USD, GBP …)")
        return code

    return _memoised(parse)


@dataclass
class _Parsed:
    """The file's rows as values in FIELDS order (None: blank or no column; _BAD: refused)."""

    rows: list[tuple[int, tuple[Any, ...]]]
    problems: list[FieldProblem]


class _Refused:
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def _attempt(parse: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        return _Refused(str(exc))


def _parse_column(
    spec: FieldInfo, parse: Callable[[Any], Any], raw: list[Any], text_only: bool, comma: bool
) -> tuple[list[Any], bool]:
    """One column through its parser, a column at a time (a million rows are a few list
    comprehensions, not a few million calls): each distinct cell is parsed once; amounts, nearly
    all distinct, take a fast path for plain decimals. Returns the values, refused cells as
    _Refused, and whether there are any."""
    if spec.type == "amount":
        plain = (_PLAIN_INTEGER if comma else _PLAIN).fullmatch
        if text_only:
            values = [Decimal(x) if plain(x) else None for x in raw]
        else:
            values = [Decimal(x) if x.__class__ is str and plain(x) else None for x in raw]
        refused = False
        for i, value in enumerate(values):  # None: not a plain decimal, the parser decides
            if value is None or not -MAX_AMOUNT < value < MAX_AMOUNT:
                values[i] = outcome = _attempt(parse, raw[i])
                refused = refused or outcome.__class__ is _Refused
        return values, refused
    if text_only and spec.type == "text":  # numbers are nearly all distinct: check in place
        limit = spec.max_length or 10_000
        values = [x.strip() for x in raw]
        odd = [i for i, v in enumerate(values) if not v or len(v) > limit or "\x00" in v]
        for i in odd:
            values[i] = _attempt(parse, raw[i])
        return values, any(values[i].__class__ is _Refused for i in odd)
    if text_only:
        outcomes = {x: _attempt(parse, x) for x in set(raw)}
        values = [outcomes[x] for x in raw]
    else:  # XLSX: 1, 1.0 and True are equal in Python but not the same cell
        keys = [(x.__class__, x) for x in raw]
        outcomes = {k: _attempt(parse, k[1]) for k in set(keys)}
        values = [outcomes[k] for k in keys]
    return values, any(v.__class__ is _Refused for v in outcomes.values())


def _parse_rows(kind: str, table: _Table, columns: _Columns, options: FileImportOptions) -> _Parsed:
    """Every cell through its field's parser; problems collected, not raised (the user fixes the
    whole file once). Blank rows are left out."""
    specs = FIELDS[kind]
    width = len(table.headers)
    first = columns.index[specs[0].name]  # the customer: blank only on odd rows
    text_only = table.delimiter is not None  # CSV: every cell is a string
    rows = [
        (number, cells)
        for number, cells in table.rows
        if (len(cells) > first and cells[first].__class__ is str and cells[first].strip())
        or not all(_blank(c) for c in cells)
    ]
    problems: list[FieldProblem] = []
    stray_positions = sorted(columns.unnamed)
    if stray_positions or any(len(cells) > width for _, cells in rows):
        for number, cells in rows:
            for position in [*stray_positions, *range(width, len(cells))]:
                if position < len(cells) and not _blank(cells[position]):
                    problems.append(
                        FieldProblem(
                            f"column {position + 1}",
                            "a value in a column without a name in row 1 (a stray separator?)",
                            number,
                            _shown(cells[position]),
                        )
                    )
    numbers = [number for number, _ in rows]
    all_cells = [cells for _, cells in rows]
    full = all(len(cells) >= width for cells in all_cells)
    missing = "" if text_only else None
    parsed_columns: list[Any] = []
    for spec in specs:
        position = columns.index.get(spec.name)
        if position is None:
            parsed_columns.append(repeat(None))
            continue
        if spec.type == "text":
            parse: Callable[[Any], Any] = _text_parser(spec)
        elif spec.type == "date":
            parse = _date_parser(spec, options.date_format)
        elif spec.type == "amount":
            parse = _amount_parser(spec, options.decimal_comma, table.delimiter)
        else:
            parse = _currency_parser(spec)
        if full:
            raw = [cells[position] for cells in all_cells]
        else:
            raw = [c[position] if position < len(c) else missing for c in all_cells]
        values, refused = _parse_column(spec, parse, raw, text_only, options.decimal_comma)
        if refused:
            column = columns.names[spec.name]
            for i, value in enumerate(values):
                if value.__class__ is _Refused:
                    problems.append(FieldProblem(column, value.reason, numbers[i], _shown(raw[i])))
                    values[i] = _BAD
        parsed_columns.append(values)
    rows_values = zip(*parsed_columns, strict=False)  # absent fields: repeat(None)
    return _Parsed(list(zip(numbers, rows_values, strict=False)), problems)


# ---------------------------------------------------------------------------------------------
# Reading the database a chunk at a time
# ---------------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _where_in(stmt: Select[Any], column: Any, values: Sequence[Any], postgres: bool) -> Any:
    """`column IN values`, the values bound as one parameter. PostgreSQL: joined as one array,
    as the customer import's `_lookup` does (an IN list of bound parameters is checked item by
    item on a sequential scan). SQLite: a JSON array read by json_each (10,000 expanded IN
    parameters cost more to render than the query takes to run)."""
    if not postgres:
        wanted = select(text("value")).select_from(
            func.json_each(bindparam("wanted", json.dumps(list(values))))
        )
        return stmt.where(column.in_(wanted.scalar_subquery()))
    wanted = (
        func.unnest(bindparam("wanted", list(values), type_=ARRAY(column.type)))
        .table_valued("value")
        .render_derived()
    )
    return stmt.join(wanted, column == wanted.c.value)


@dataclass(eq=False)
class _Customer:
    id: int | None  # None: created by this import (id given when written)
    number: str
    currency: str
    terms: str
    row: int = 0  # the row that creates it


class _Customers:
    """Customers by number, loaded a chunk of distinct numbers at a time; unknown ones created
    (when allowed) on first sight, in the currency of the row that names them first."""

    def __init__(self, session: Session, postgres: bool, create: bool):
        self.session, self.postgres, self.create = session, postgres, create
        self.known: dict[str, _Customer | None] = {}
        self.new: list[_Customer] = []
        self.complete = False  # every customer is in `known`

    def load_all(self) -> None:
        """Read every customer in one pass: cheaper than lookups once a file names a good share
        of them (a million rows name most of 200,000 customers)."""
        table = Customer.__table__
        stmt = select(table.c.id, table.c.number, table.c.currency, table.c.payment_terms_code)
        for cid, number, currency, terms in self.session.execute(stmt):
            self.known[number] = _Customer(cid, number, currency, terms)
        self.complete = True

    def load(self, numbers: Iterable[Any]) -> None:
        """Look up the numbers not seen yet (None and _BAD are skipped)."""
        if self.complete:
            return
        known = self.known
        wanted = sorted({n for n in numbers if n not in known} - {None, _BAD})
        table = Customer.__table__
        for chunk in _chunks(wanted, LOOKUP_CHUNK):
            for n in chunk:
                self.known[n] = None
            stmt = select(table.c.id, table.c.number, table.c.currency, table.c.payment_terms_code)
            for cid, number, currency, terms in self.session.execute(
                _where_in(stmt, table.c.number, chunk, self.postgres)
            ):
                self.known[number] = _Customer(cid, number, currency, terms)

    def get(self, number: str, currency: str | None, row: int) -> _Customer | None:
        found = self.known.get(number)
        if found is None and self.create:
            found = _Customer(None, number, currency or DEFAULT_CURRENCY, DEFAULTS["payment_terms"])
            found.row = row
            self.known[number] = found
            self.new.append(found)
        return found

    def resolve(
        self, number: str, currency: Any, row: int, column: str
    ) -> _Customer | FieldProblem:
        """The customer of a row: known, created (when allowed), or the row's problem."""
        found = self.get(number, currency if currency is not _BAD else None, row)
        if found is None:
            return FieldProblem(
                column,
                "unknown customer (import the customers first, or use --create-missing-customers)",
                row,
                number,
            )
        return found


class _MinorUnits(dict[str, int]):
    def __missing__(self, currency: str) -> int:
        self[currency] = value = min(minor_units(currency), 4)
        return value


_QUANTA = {d: Decimal(1).scaleb(-d) for d in range(5)}


def _in_minor_units(amount: Decimal, currency: str, units: _MinorUnits) -> Decimal | None:
    """The amount with the currency's decimals (12.5 EUR -> 12.50; 12.500 is fine too), or None
    when it has more. Exact: amounts are below MAX_AMOUNT, far inside the decimal context."""
    exact = amount.quantize(_QUANTA[units[currency]])
    return exact if exact == amount else None


def _too_many_decimals(currency: str, units: _MinorUnits) -> str:
    return f"{currency} amounts have at most {units[currency]} decimals"


def _money(amount: Decimal) -> str:
    return format(amount, "f")


# ---------------------------------------------------------------------------------------------
# Shared plumbing: checking, writing, reporting
# ---------------------------------------------------------------------------------------------


class _Run:
    """One import's bookkeeping: progress, cancel, problems and their order."""

    def __init__(
        self,
        kind: str,
        source: str,
        columns: _Columns,
        width: int,
        total: int,
        progress: Progress | None,
        cancelled: Callable[[], bool] | None,
    ):
        self.kind, self.source, self.columns = kind, source, columns
        self.total, self.done = total, 0
        self.progress, self.cancelled = progress, cancelled
        self.position = {columns.names[f]: p for f, p in columns.index.items()}
        self.position.update({f"column {p + 1}": p for p in range(width)})
        self.phases: dict[str, float] = {}
        self._since = time.perf_counter()

    def phase(self, name: str) -> None:
        """Time since the previous phase ended goes to `name` (the log shows where a big
        import's time goes)."""
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._since
        self._since = now

    def tick(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(min(self.done, self.total), self.total)
        self.check_cancel()

    def check_cancel(self) -> None:
        if self.cancelled and self.cancelled():
            raise Cancelled(CANCELLED)

    def column(self, fld: str) -> str:
        return self.columns.names.get(fld, fld)

    def refuse(self, problems: list[FieldProblem]) -> None:
        """Problems listed by row, then left to right as the columns stand in the file."""
        if not problems:
            return
        ordered = sorted(problems, key=lambda p: (p.row or 0, self.position.get(p.field, 0)))
        if len(ordered) > MAX_PROBLEMS:
            rest = len(ordered) - MAX_PROBLEMS
            ordered = [
                *ordered[:MAX_PROBLEMS],
                FieldProblem("…", f"{rest:,} more problems not listed; fix these and retry"),
            ]
        raise ValidationFailed(ordered, source=self.source)


def _lock(session: Session, create_customers: bool, tables: str) -> None:
    """PostgreSQL: other writers of the ledger wait for the import (as on SQLite, where the write
    transaction holds the database lock), so no number can appear between check and insert and
    the reserved ids stay ours. Readers are not blocked."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if create_customers:
        session.execute(text("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE"))
    session.execute(text(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"))


def _reserve_ids(session: Session, table: Any, count: int) -> int:
    """The first of `count` consecutive new ids. PostgreSQL: a block of the id sequence (safe as
    the table is locked: no one else's insert can draw from it meanwhile). SQLite: after the
    largest, under the database's write lock."""
    if count == 0:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
        last = session.scalar(
            text(f"SELECT setval({sequence}, nextval({sequence}) + :n - 1)"), {"n": count}
        )
        return int(last) - count + 1
    return (session.scalar(select(func.max(table.c.id))) or 0) + 1


def _create_customers(
    session: Session, actor: Actor, customers: _Customers, source: str, at: datetime, run: _Run
) -> None:
    """New customers exactly as the customer import creates them (terms, search terms, one audit
    row naming the file and row), named by their number until someone edits them."""
    if not customers.new:
        return
    creates = [
        (c.row, {**DEFAULTS, "number": c.number, "name": c.number, "currency": c.currency})
        for c in customers.new
    ]
    _write_creates(
        session,
        actor,
        ResolvedRefs(session),
        creates,
        source,
        at,
        lambda _n: run.check_cancel(),
        run.cancelled,
    )
    table = Customer.__table__
    numbers = [c.number for c in customers.new]
    postgres = session.get_bind().dialect.name == "postgresql"
    ids: dict[str, int] = {}
    for chunk in _chunks(numbers):
        stmt = select(table.c.number, table.c.id)
        for number, customer_id in session.execute(
            _where_in(stmt, table.c.number, chunk, postgres)
        ):
            ids[number] = customer_id
    for c in customers.new:
        c.id = ids[c.number]


def creation_notes(
    actor: Actor,
    at: datetime,
    table: str,
    ids: Sequence[int],
    customer_ids: Sequence[int | None],
    notes: Sequence[str],
) -> dict[str, Sequence[Any] | Same]:
    """One audit row per record a bulk import created (what, from which file and row), as the
    columns of an `AuditEntry` insert (imports of invoices and of orders)."""
    return {
        "at": Same(at),
        "user_id": Same(actor.user_id or None),
        "username": Same(actor.username),
        "action": Same(audit.CREATE),
        "table_name": Same(table),
        "record_id": [str(i) for i in ids],
        "record_version": Same(1),
        "customer_id": customer_ids,
        "field": Same(None),
        "old_value": Same(None),
        "new_value": notes,
    }


def _audit_row(
    actor: Actor, at: datetime, table: str, record_id: int, customer_id: int, note: str
) -> dict[str, Any]:
    """What `audit.record` adds for a created record, as a dict for a bulk insert."""
    return {
        "at": at,
        "user_id": actor.user_id or None,
        "username": actor.username,
        "action": audit.CREATE,
        "table_name": table,
        "record_id": str(record_id),
        "record_version": 1,
        "customer_id": customer_id,
        "field": None,
        "old_value": None,
        "new_value": note,
    }


def _finish(session: Session, customer_ids: set[int], rows: int, written: str) -> None:
    """Statistics of the tables `written` first (after a big load the planner has none until
    autovacuum comes by, and the exposure refresh is planned on them), then the touched
    customers' exposure: by id, or every customer in one set-based statement when the import
    touched many of them."""
    if rows >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {written}"))
    if len(customer_ids) > EXPOSURE_ALL_AFTER:
        refresh_exposure_of_everyone(session)
        return
    refresh_exposure(session, customer_ids)


@contextmanager
def _sqlite_cache(session: Session, rows: int) -> Iterator[None]:
    """SQLite's page cache is 2 MB by default; a big import's rows and index pages spill it over
    and over. The import's connection gets SQLITE_CACHE_KIB while it runs (measured: 1,000,000
    invoices into 200,000 customers, 287 s with the default cache, 142 s with this one), then
    its own setting again."""
    if rows < ANALYZE_AFTER or session.get_bind().dialect.name != "sqlite":
        yield
        return
    before = int(session.execute(text("PRAGMA cache_size")).scalar() or -2000)
    session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
    try:
        yield
    finally:
        with suppress(SQLAlchemyError):  # a lost connection is discarded with its setting
            session.execute(text(f"PRAGMA cache_size = {before}"))


@gc_paused()
def _run_import(
    db: Database,
    actor: Actor,
    kind: str,
    file: str | Path,
    options: LedgerImportOptions,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> LedgerImportReport:
    """The import, with Python's cyclic collector paused: a million rows are millions of small
    lists and tuples that hold no cycles, and the collector walked them again and again as
    they piled up (measured at 1,000,000 rows: reading the CSV 7.2 s with it, 1.7 s without;
    parsing and checking the rows likewise about twice as fast)."""
    actor.require(Permission.IMPORT_LEDGER)
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    if options.apply not in (APPLY_NONE, APPLY_OLDEST_FIRST):
        raise O2CError(f"--apply {options.apply!r}: expected none or oldest-first")
    check_date_format(options.date_format)
    path = Path(file)
    source = path.name
    started = time.perf_counter()
    table = _read_table(path, cancelled)
    read = time.perf_counter()
    columns = match_columns(kind, table.headers, options.mapping, source)
    parsed = _parse_rows(kind, table, columns, options)
    width = len(table.headers)
    del table  # the raw cells: worth freeing before the database work at a million rows
    count = len(parsed.rows)
    run = _Run(kind, source, columns, width, 2 * count, progress, cancelled)
    run.phases["read file"] = read - started
    run.phases["parse cells"] = time.perf_counter() - read
    run.check_cancel()
    plan_and_write = _invoices if kind == INVOICES else _payments

    if options.dry_run:
        with db.read() as session:
            report = plan_and_write(session, actor, parsed, run, options)
        run.tick(run.total - run.done)
    else:
        try:
            with db.write() as session, _sqlite_cache(session, count):
                report = plan_and_write(session, actor, parsed, run, options)
        except IntegrityError:
            raise O2CError(
                f"{source}: the ledger changed during the import (another user or import); "
                "nothing was written. Import the file again."
            ) from None
    run.phase("commit")
    log.info(
        "%s: %s rows in %.1f s (%s)",
        source,
        f"{count:,}",
        sum(run.phases.values()),
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run.phases.items()),
    )
    return LedgerImportReport(
        **report, file=source, rows=count, ignored_columns=columns.ignored, dry_run=options.dry_run
    )


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------

# Positions in INVOICE_FIELDS
_I_CUSTOMER, _I_NUMBER, _I_ISSUE, _I_DUE, _I_AMOUNT, _I_CURRENCY, _I_EXTERNAL = range(7)
_NO_DISCOUNT = (None, None)
_STATED = {
    (due, currency): frozenset(
        name for name, given in (("due_date", due), ("currency", currency)) if given
    )
    for due in (False, True)
    for currency in (False, True)
}


@dataclass(slots=True)
class _NewInvoice:
    row: int
    customer: _Customer
    kind: str
    number: str
    issue: date
    due: date
    amount: Decimal
    currency: str
    external_id: str | None
    discount: tuple[Decimal | None, date | None]
    stated: frozenset[str]  # due_date, currency: given in the file, not derived


def _existing_invoices(
    session: Session, keys: list[tuple[str, str]], postgres: bool
) -> dict[tuple[str, str], tuple[str, date, date, Decimal, str, str | None]]:
    """Stored (kind, number) -> (customer number, issue, due, amount, currency, external id)."""
    found = {}
    t, c = Invoice.__table__, Customer.__table__
    for kind in (INVOICE, CREDIT_NOTE):
        numbers = [n for k, n in keys if k == kind]
        if not numbers:
            continue
        stmt = (
            select(
                t.c.number,
                c.c.number,
                t.c.issue_date,
                t.c.due_date,
                t.c.amount,
                t.c.currency,
                t.c.external_id,
            )
            .select_from(t)
            .join(c, c.c.id == t.c.customer_id)
            .where(t.c.kind == kind)
        )
        for number, *rest in session.execute(_where_in(stmt, t.c.number, numbers, postgres)):
            found[(kind, number)] = tuple(rest)
    return found  # type: ignore[return-value]


def _stored_invoices(
    session: Session, keys: list[tuple[str, str]], postgres: bool
) -> dict[tuple[str, str], tuple[str, date, date, Decimal, str, str | None]]:
    """`_existing_invoices` for any number of keys: a few thousand are looked up directly; more
    go into a temporary table joined once to the invoices (a million keys in 100 lookups of
    10,000 took 24 s on PostgreSQL; staged, one join)."""
    if len(keys) <= LOOKUP_CHUNK:
        return _existing_invoices(session, keys, postgres)
    t, c = Invoice.__table__, Customer.__table__
    staged = Table(
        "o2c_import_keys",
        MetaData(),
        Column("kind", t.c.kind.type),
        Column("number", t.c.number.type),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    staged.create(connection)
    try:
        bulk_insert_columns(
            session, staged, {"kind": [k for k, _ in keys], "number": [n for _, n in keys]}
        )
        if postgres:
            session.execute(text("ANALYZE o2c_import_keys"))
        stmt = (
            select(
                t.c.kind,
                t.c.number,
                c.c.number,
                t.c.issue_date,
                t.c.due_date,
                t.c.amount,
                t.c.currency,
                t.c.external_id,
            )
            .select_from(staged)
            .join(t, (t.c.kind == staged.c.kind) & (t.c.number == staged.c.number))
            .join(c, c.c.id == t.c.customer_id)
        )
        return {(kind, number): tuple(rest) for kind, number, *rest in session.execute(stmt)}  # type: ignore[misc]
    finally:
        staged.drop(connection)


def _invoice_difference(
    new: _NewInvoice, stored: tuple[str, date, date, Decimal, str, str | None]
) -> str | None:
    """Why a row whose number exists is not the stored document (None: it is the same). Only
    what the file states is compared: a due date or currency derived from the customer is not
    (the customer's terms may have changed since), nor a blank external id."""
    customer, issue, due, amount, currency, external_id = stored
    if (  # the usual case, a re-imported file: the same values, compared as values
        customer == new.customer.number
        and issue == new.issue
        and amount == new.amount
        and ("due_date" not in new.stated or due == new.due)
        and ("currency" not in new.stated or currency == new.currency)
        and (new.external_id is None or external_id == new.external_id)
    ):
        return None
    pairs = [
        ("customer", customer, new.customer.number),
        ("issue date", issue, new.issue),
        ("amount", _money(amount), _money(new.amount)),
    ]
    if "due_date" in new.stated:
        pairs.append(("due date", due, new.due))
    if "currency" in new.stated:
        pairs.append(("currency", currency, new.currency))
    if new.external_id is not None:
        pairs.append(("external id", external_id, new.external_id))
    differ = [(name, old, mine) for name, old, mine in pairs if str(old) != str(mine)]
    if not differ:
        return None
    what = "credit note" if new.kind == CREDIT_NOTE else "invoice"
    return (
        f"{what} {new.number} already exists with "
        + ", ".join(f"{name} {old} (this row: {mine})" for name, old, mine in differ)
        + "; an import never changes a stored document"
    )


def _invoices(
    session: Session,
    actor: Actor,
    parsed: _Parsed,
    run: _Run,
    options: LedgerImportOptions,
) -> dict[str, Any]:
    postgres = session.get_bind().dialect.name == "postgresql"
    if not options.dry_run:
        _lock(session, options.create_missing_customers, "invoices")
    terms = load_terms(session)
    customers = _Customers(session, postgres, options.create_missing_customers)
    any_stored = session.scalar(select(Invoice.id).limit(1)) is not None
    problems = parsed.problems
    units = _MinorUnits()
    due_memo: dict[tuple[str, date], tuple[date, tuple[Decimal | None, date | None]]] = {}
    first_row: dict[tuple[str, str], int] = {}
    col_customer, col_number = run.column("customer"), run.column("number")
    col_amount, col_due = run.column("amount"), run.column("due_date")
    new: list[_NewInvoice] = []
    planned: list[_NewInvoice] = []
    unchanged = 0
    known = customers.known
    named = {v[_I_CUSTOMER] for _, v in parsed.rows}
    if len(named) >= READ_ALL_CUSTOMERS_SHARE * estimated_rows(session, Customer.__table__):
        customers.load_all()
    del named
    run.phase("read customers")
    for chunk in _chunks(parsed.rows, LOOKUP_CHUNK):
        customers.load(v[_I_CUSTOMER] for _, v in chunk)
        for row, v in chunk:
            number_of_customer, number, issue, due, amount, currency, external_id = v
            kind = INVOICE
            if amount is not _BAD:
                if amount < 0:
                    kind, amount = CREDIT_NOTE, -amount
                elif amount == 0:
                    problems.append(
                        FieldProblem(col_amount, "the amount is zero", row, _money(amount))
                    )
                    amount = _BAD
            if number is not _BAD:
                key = (kind, number)
                if key in first_row:
                    what = "credit note" if kind == CREDIT_NOTE else "invoice"
                    problems.append(
                        FieldProblem(
                            col_number,
                            f"the same {what} number is on row {first_row[key]}",
                            row,
                            number,
                        )
                    )
                    number = _BAD
                else:
                    first_row[key] = row
            if number_of_customer is _BAD:
                continue
            customer = known.get(number_of_customer)
            if customer is None:
                customer = customers.resolve(number_of_customer, currency, row, col_customer)
                if customer.__class__ is FieldProblem:
                    problems.append(customer)  # type: ignore[arg-type]
                    continue
            if currency is _BAD:
                continue
            stated = _STATED[(due is not None, currency is not None)]
            currency = currency or customer.currency
            if amount is not _BAD:
                exact = _in_minor_units(amount, currency, units)
                if exact is None:
                    problems.append(
                        FieldProblem(
                            col_amount,
                            _too_many_decimals(currency, units),
                            row,
                            _money(v[_I_AMOUNT]),
                        )
                    )
                    continue
                amount = exact
            if issue is _BAD or due is _BAD or amount is _BAD or number is _BAD:
                continue
            memo_key = (customer.terms, issue)
            derived = due_memo.get(memo_key)
            if derived is None:
                rule: Terms = terms[customer.terms]
                discount = (
                    (rule.discount_percent, rule.discount_until(issue))
                    if rule.discount_percent
                    else (None, None)
                )
                derived = due_memo[memo_key] = (rule.due_date(issue), discount)
            if due is None:
                due = derived[0] if kind == INVOICE else issue
            elif due < issue:
                problems.append(
                    FieldProblem(
                        col_due,
                        f"before the issue date ({issue.isoformat()})",
                        row,
                        due.isoformat(),
                    )
                )
                continue
            planned.append(
                _NewInvoice(
                    row,
                    customer,  # type: ignore[arg-type]
                    kind,
                    number,
                    issue,
                    due,
                    amount,
                    currency,
                    external_id,
                    derived[1] if kind == INVOICE else _NO_DISCOUNT,
                    stated,
                )
            )
        run.tick(len(chunk))
    run.phase("check rows")
    if any_stored and planned:
        stored = _stored_invoices(session, [(p.kind, p.number) for p in planned], postgres)
        for p in planned:
            before = stored.get((p.kind, p.number))
            if before is None:
                new.append(p)
                continue
            reason = _invoice_difference(p, before)
            if reason:
                problems.append(FieldProblem(col_number, reason, p.row, p.number))
            else:
                unchanged += 1
    else:
        new = planned
    del planned
    run.phase("find stored invoices")
    run.refuse(problems)
    if customers.new:
        actor.require(Permission.CREATE_CUSTOMER)
    totals: dict[str, Decimal] = {}
    for p in new:
        signed = p.amount if p.kind == INVOICE else -p.amount
        totals[p.currency] = totals.get(p.currency, Decimal(0)) + signed
    report = {
        "kind": INVOICES,
        "created": len(new),
        "unchanged": unchanged,
        "credit_notes": sum(1 for p in new if p.kind == CREDIT_NOTE),
        "customers_created": len(customers.new),
        "totals": totals,
    }
    if options.dry_run:
        return report
    run.tick(unchanged)
    at = utcnow()
    _create_customers(session, actor, customers, run.source, at, run)
    run.phase("create customers")
    # A load that is big for the table builds its indexes afterwards (see `indexes_rebuilt`):
    # the invoices' and the audit log's, one audit row coming with each invoice.
    items, trail = Invoice.__table__, AuditEntry.__table__
    with (
        indexes_rebuilt(session, items, worth_rebuilding_indexes(session, items, len(new))),
        indexes_rebuilt(session, trail, worth_rebuilding_indexes(session, trail, len(new))),
    ):
        _write_invoice_columns(session, actor, new, run, at)
    run.phase("rebuild indexes")
    _finish(
        session,
        {p.customer.id for p in new if p.customer.id is not None},
        len(new),
        "invoices, audit_log",
    )
    run.phase("statistics and exposure")
    return report


def _write_invoice_columns(
    session: Session, actor: Actor, new: list[_NewInvoice], run: _Run, at: datetime
) -> None:
    """The invoices, then their audit rows, each as one insert of column lists per chunk of
    BULK_WRITE_CHUNK: no dict per row (a million of them cost more than the insert), and on
    PostgreSQL the next chunk is formatted while the server stores the last
    (`bulk_insert_column_parts`)."""
    by = actor.user_id or None
    first = _reserve_ids(session, Invoice.__table__, len(new))
    source = run.source
    chunks = [
        (range(first + start, first + start + len(part)), part, [p.customer.id for p in part])
        for start in range(0, len(new), BULK_WRITE_CHUNK)
        for part in [new[start : start + BULK_WRITE_CHUNK]]
    ]

    def invoices() -> Iterator[dict[str, Sequence[Any] | Same]]:
        for ids, part, customer_ids in chunks:
            run.check_cancel()
            amounts = [p.amount for p in part]
            yield {
                "id": ids,
                "customer_id": customer_ids,
                "kind": [p.kind for p in part],
                "number": [p.number for p in part],
                "issue_date": [p.issue for p in part],
                "due_date": [p.due for p in part],
                "amount": amounts,
                "currency": [p.currency for p in part],
                "external_id": [p.external_id for p in part],
                "open_amount": amounts,
                "disputed_amount": Same(Decimal(0)),
                "discount_percent": [p.discount[0] for p in part],
                "discount_until": [p.discount[1] for p in part],
                "dunning_level": Same(0),
                "created_at": Same(at),
                "created_by_id": Same(by),
                "version": Same(1),
            }
            run.tick(len(part) // 2)

    def notes() -> Iterator[dict[str, Sequence[Any] | Same]]:
        for ids, part, customer_ids in chunks:
            run.check_cancel()
            lines = [
                f"{'credit note' if p.kind == CREDIT_NOTE else 'invoice'} {p.number}: "
                f"{_money(p.amount)} {p.currency}, issued {p.issue}, due {p.due}; "
                f"imported from {source}, row {p.row}"
                for p in part
            ]
            yield creation_notes(actor, at, "invoices", ids, customer_ids, lines)
            run.tick(len(part) - len(part) // 2)

    bulk_insert_column_parts(session, Invoice.__table__, invoices())
    run.phase("write invoices")
    bulk_insert_column_parts(session, AuditEntry.__table__, notes())
    run.phase("write audit rows")


def import_invoices(
    db: Database,
    actor: Actor,
    file: str | Path,
    options: LedgerImportOptions | None = None,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LedgerImportReport:
    """Create invoices and credit notes from a CSV or XLSX file, all or nothing.

    Raises O2CError for a file that cannot be read or mapped, ValidationFailed (one FieldProblem
    per bad cell, nothing written) for bad rows, PermissionDenied, Cancelled.
    """
    return _run_import(
        db, actor, INVOICES, file, options or LedgerImportOptions(), progress, cancelled
    )


# ---------------------------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------------------------

# Positions in PAYMENT_FIELDS
_P_CUSTOMER, _P_DATE, _P_AMOUNT, _P_REFERENCE, _P_INVOICE, _P_CURRENCY, _P_EXTERNAL = range(7)


@dataclass(eq=False, slots=True)
class _OpenInvoice:
    id: int
    customer_id: int
    number: str
    issue: date
    due: date
    open: Decimal
    currency: str
    version: int
    customer_number: str
    touched: bool = False


@dataclass(slots=True)
class _NewPayment:
    row: int
    customer: _Customer
    date: date
    amount: Decimal
    currency: str
    reference: str | None
    invoice: _OpenInvoice | None
    key: str  # stored in external_id
    unapplied: Decimal = Decimal(0)
    allocations: list[tuple[_OpenInvoice, Decimal, date]] = field(default_factory=list)


def fingerprint(
    customer: str,
    day: date,
    amount: Decimal,
    reference: str | None,
    invoice: str | None,
    currency: str | None,
    occurrence: int,
) -> str:
    """The key of a payment whose file has no external id: its values and how many identical
    rows came before it in the file."""
    parts = [
        customer,
        day.isoformat(),
        format(amount.normalize(), "f"),
        reference or "",
        invoice or "",
        currency or "",
        str(occurrence),
    ]
    return "fp:" + hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


_INVOICE_COLUMNS = (
    "id",
    "customer_id",
    "number",
    "issue_date",
    "due_date",
    "open_amount",
    "currency",
    "version",
)


def _invoice_query() -> Select[Any]:
    t, c = Invoice.__table__, Customer.__table__
    return (
        select(*[t.c[name] for name in _INVOICE_COLUMNS], c.c.number)
        .select_from(t)
        .join(c, c.c.id == t.c.customer_id)
        .where(t.c.kind == INVOICE)
    )


class _Invoices:
    """Invoices payments are applied to, one object per invoice whichever way it was found, so
    the open amount left is shared between the payments that name it and oldest-first."""

    def __init__(self, session: Session, postgres: bool):
        self.session, self.postgres = session, postgres
        self.by_id: dict[int, _OpenInvoice] = {}
        self.by_number: dict[str, _OpenInvoice | None] = {}

    def _keep(self, row: Any) -> _OpenInvoice:
        found = self.by_id.get(row[0])
        if found is None:
            found = self.by_id[row[0]] = _OpenInvoice(*row)
        self.by_number[found.number] = found
        return found

    def load_numbers(self, numbers: Iterable[str]) -> None:
        wanted = sorted({n for n in numbers if n not in self.by_number})
        t = Invoice.__table__
        for chunk in _chunks(wanted):
            for n in chunk:
                self.by_number[n] = None
            for row in self.session.execute(
                _where_in(_invoice_query(), t.c.number, chunk, self.postgres)
            ):
                self._keep(row)

    def open_by_customer(self, customer_ids: Iterable[int]) -> dict[int, list[_OpenInvoice]]:
        """Each customer's open invoices, by due date then number."""
        t = Invoice.__table__
        result: dict[int, list[_OpenInvoice]] = {}
        for chunk in _chunks(sorted(set(customer_ids))):
            stmt = _where_in(
                _invoice_query().where(text("invoices.open_amount <> 0")),
                t.c.customer_id,
                chunk,
                self.postgres,
            )
            for row in self.session.execute(stmt):
                found = self._keep(row)
                result.setdefault(found.customer_id, []).append(found)
        for items in result.values():
            items.sort(key=lambda i: (i.due, i.number))
        return result


def _allocate(p: _NewPayment, invoice: _OpenInvoice, amount: Decimal) -> Decimal:
    """Apply up to `amount` of the payment's unapplied cash; returns what was applied."""
    applied = min(amount, invoice.open)
    if applied > 0:
        invoice.open -= applied
        invoice.touched = True
        p.unapplied -= applied
        p.allocations.append((invoice, applied, max(p.date, invoice.issue)))
    return applied


def _payments(
    session: Session,
    actor: Actor,
    parsed: _Parsed,
    run: _Run,
    options: LedgerImportOptions,
) -> dict[str, Any]:
    postgres = session.get_bind().dialect.name == "postgresql"
    if not options.dry_run:
        _lock(session, options.create_missing_customers, "invoices, payments, allocations")
    customers = _Customers(session, postgres, options.create_missing_customers)
    invoices = _Invoices(session, postgres)
    any_stored = session.scalar(select(Payment.id).limit(1)) is not None
    problems = parsed.problems
    units = _MinorUnits()
    occurrences: dict[tuple[Any, ...], int] = {}
    first_row: dict[str, int] = {}
    col_customer, col_amount = run.column("customer"), run.column("amount")
    col_invoice, col_external = run.column("invoice"), run.column("external_id")
    key_column = col_external if "external_id" in run.columns.index else col_customer
    new: list[_NewPayment] = []
    unchanged = 0
    for chunk in _chunks(parsed.rows, LOOKUP_CHUNK):
        customers.load(v[_P_CUSTOMER] for _, v in chunk)
        invoices.load_numbers(v[_P_INVOICE] for _, v in chunk if v[_P_INVOICE] not in (None, _BAD))
        planned: list[_NewPayment] = []
        for row, v in chunk:
            amount, currency, named = v[_P_AMOUNT], v[_P_CURRENCY], v[_P_INVOICE]
            key: str | None = None
            if _BAD not in v:
                key = v[_P_EXTERNAL]
                if key is None:
                    ident = (v[_P_CUSTOMER], v[_P_DATE], amount, v[_P_REFERENCE], named, currency)
                    occurrence = occurrences.get(ident, 0)
                    occurrences[ident] = occurrence + 1
                    key = fingerprint(*ident, occurrence)
                if key in first_row:
                    problems.append(
                        FieldProblem(
                            key_column,
                            f"the same payment (external id {key}) is on row {first_row[key]}",
                            row,
                            v[_P_EXTERNAL],
                        )
                    )
                    key = None
                else:
                    first_row[key] = row
            if amount is not _BAD and amount <= 0:
                problems.append(
                    FieldProblem(
                        col_amount, "a payment amount must be positive", row, _money(amount)
                    )
                )
                amount = _BAD
            if v[_P_CUSTOMER] is _BAD:
                continue
            customer = customers.resolve(v[_P_CUSTOMER], currency, row, col_customer)
            if customer.__class__ is FieldProblem:
                problems.append(customer)  # type: ignore[arg-type]
                continue
            assert isinstance(customer, _Customer)
            if currency is _BAD:
                continue
            currency = currency or customer.currency
            if amount is not _BAD:
                exact = _in_minor_units(amount, currency, units)
                if exact is None:
                    problems.append(
                        FieldProblem(
                            col_amount, _too_many_decimals(currency, units), row, _money(amount)
                        )
                    )
                    amount = _BAD
                else:
                    amount = exact
            invoice = None
            if named not in (None, _BAD):
                invoice = invoices.by_number.get(named)
                if invoice is None:
                    problems.append(FieldProblem(col_invoice, "unknown invoice", row, named))
                elif invoice.customer_number != customer.number:
                    problems.append(
                        FieldProblem(
                            col_invoice,
                            f"invoice {named} is customer {invoice.customer_number}'s, "
                            f"not {customer.number}'s",
                            row,
                            named,
                        )
                    )
                    invoice = None
                elif invoice.currency != currency:
                    problems.append(
                        FieldProblem(
                            col_invoice,
                            f"invoice {named} is in {invoice.currency}, the payment in {currency}",
                            row,
                            named,
                        )
                    )
                    invoice = None
                if invoice is None:
                    continue
            if key is None or amount is _BAD or named is _BAD or v[_P_DATE] is _BAD:
                continue
            planned.append(
                _NewPayment(
                    row,
                    customer,
                    v[_P_DATE],
                    amount,
                    currency,
                    v[_P_REFERENCE],
                    invoice,
                    key,
                    amount,
                )
            )
        if any_stored and planned:
            stored = _existing_payments(session, [p.key for p in planned], postgres)
            for p in planned:
                before = stored.get(p.key)
                if before is None:
                    new.append(p)
                    continue
                reason = None if p.key.startswith("fp:") else _payment_difference(p, before)
                if reason:
                    problems.append(FieldProblem(key_column, reason, p.row, p.key))
                else:
                    unchanged += 1
        else:
            new.extend(planned)
        run.tick(len(chunk))
    run.refuse(problems)
    if customers.new:
        actor.require(Permission.CREATE_CUSTOMER)
    _plan_allocations(new, invoices, options.apply)
    allocations = sum(len(p.allocations) for p in new)
    if allocations:
        actor.require(Permission.APPLY_CASH)
    totals: dict[str, Decimal] = {}
    for p in new:
        totals[p.currency] = totals.get(p.currency, Decimal(0)) + p.amount
    report = {
        "kind": PAYMENTS,
        "created": len(new),
        "unchanged": unchanged,
        "customers_created": len(customers.new),
        "allocations": allocations,
        "unapplied": sum(1 for p in new if p.unapplied > 0),
        "totals": totals,
    }
    if options.dry_run:
        return report
    run.tick(unchanged)
    at = utcnow()
    _create_customers(session, actor, customers, run.source, at, run)
    _write_payments(session, actor, new, run, at)
    _write_open_amounts(session, [i for i in invoices.by_id.values() if i.touched])
    _finish(
        session,
        {p.customer.id for p in new if p.customer.id is not None},
        len(new),
        "invoices, payments, allocations, audit_log",
    )
    return report


def _existing_payments(
    session: Session, keys: list[str], postgres: bool
) -> dict[str, tuple[str, date, Decimal, str, str | None]]:
    """Stored external id -> (customer number, date, amount, currency, reference)."""
    t, c = Payment.__table__, Customer.__table__
    stmt = (
        select(t.c.external_id, c.c.number, t.c.date, t.c.amount, t.c.currency, t.c.reference)
        .select_from(t)
        .join(c, c.c.id == t.c.customer_id)
    )
    return {
        key: tuple(rest)  # type: ignore[misc]
        for key, *rest in session.execute(_where_in(stmt, t.c.external_id, keys, postgres))
    }


def _payment_difference(
    p: _NewPayment, stored: tuple[str, date, Decimal, str, str | None]
) -> str | None:
    customer, day, amount, currency, reference = stored
    pairs = [
        ("customer", customer, p.customer.number),
        ("date", day, p.date),
        ("amount", _money(amount), _money(p.amount)),
        ("currency", currency, p.currency),
        ("reference", reference, p.reference),
    ]
    differ = [(name, old, mine) for name, old, mine in pairs if str(old) != str(mine)]
    if not differ:
        return None
    return (
        f"payment {p.key} already exists with "
        + ", ".join(f"{name} {old} (this row: {mine})" for name, old, mine in differ)
        + "; an import never changes a stored payment"
    )


def _plan_allocations(new: list[_NewPayment], invoices: _Invoices, apply: str) -> None:
    """Payments naming an invoice first (file order), then, with oldest-first, the payments
    naming none (by date, then row) against their customer's open invoices in their currency."""
    unnamed = [p for p in new if p.invoice is None]
    open_lists: dict[int, list[_OpenInvoice]] = {}
    if apply == APPLY_OLDEST_FIRST and unnamed:
        # Loaded before any allocation is planned, so an invoice found both ways is one object.
        open_lists = invoices.open_by_customer(
            p.customer.id for p in unnamed if p.customer.id is not None
        )
    for p in new:
        if p.invoice is not None:
            _allocate(p, p.invoice, p.unapplied)
    if apply != APPLY_OLDEST_FIRST:
        return
    queues: dict[tuple[int, str], list[_OpenInvoice]] = {}
    for customer_id, items in open_lists.items():
        for invoice in items:  # already by due date, then number
            queues.setdefault((customer_id, invoice.currency), []).append(invoice)
    cursor: dict[tuple[int, str], int] = {}  # invoices before it are settled
    for p in sorted(unnamed, key=lambda p: (p.date, p.row)):
        if p.customer.id is None:
            continue
        key = (p.customer.id, p.currency)
        items = queues.get(key, [])
        for position in range(cursor.get(key, 0), len(items)):
            if p.unapplied == 0:
                break
            _allocate(p, items[position], p.unapplied)
            if items[position].open == 0:
                cursor[key] = position + 1


def _write_payments(
    session: Session, actor: Actor, new: list[_NewPayment], run: _Run, at: datetime
) -> None:
    by = actor.user_id or None
    first = _reserve_ids(session, Payment.__table__, len(new))
    source = run.source
    for start in range(0, len(new), WRITE_CHUNK):
        run.check_cancel()
        rows, allocation_rows, audit_rows = [], [], []
        for payment_id, p in enumerate(new[start : start + WRITE_CHUNK], start=first + start):
            customer_id = p.customer.id
            rows.append(
                {
                    "id": payment_id,
                    "customer_id": customer_id,
                    "date": p.date,
                    "amount": p.amount,
                    "currency": p.currency,
                    "method": None,
                    "reference": p.reference,
                    "external_id": p.key,
                    "unapplied_amount": p.unapplied,
                    "created_at": at,
                    "created_by_id": by,
                    "version": 1,
                }
            )
            for invoice, amount, day in p.allocations:
                allocation_rows.append(
                    {
                        "invoice_id": invoice.id,
                        "kind": ALLOC_PAYMENT,
                        "payment_id": payment_id,
                        "credit_note_id": None,
                        "amount": amount,
                        "date": day,
                        "reversed_on": None,
                        "reversed_by_id": None,
                        "note": None,
                        "created_at": at,
                        "created_by_id": by,
                        "customer_id": invoice.customer_id,
                        "currency": invoice.currency,
                        "invoice_due_date": invoice.due,
                        "invoice_issue_date": invoice.issue,
                        "payment_date": p.date,
                    }
                )
            applied = "; ".join(
                f"{_money(amount)} to invoice {invoice.number}"
                for invoice, amount, _ in p.allocations
            )
            audit_rows.append(
                _audit_row(
                    actor,
                    at,
                    "payments",
                    payment_id,
                    customer_id,  # type: ignore[arg-type]
                    f"payment {_money(p.amount)} {p.currency} on {p.date}"
                    + (f", reference {p.reference}" if p.reference else "")
                    + (f", applied {applied}" if applied else "")
                    + (f", unapplied {_money(p.unapplied)}" if p.unapplied else "")
                    + f"; imported from {source}, row {p.row}",
                )
            )
        bulk_insert(session, Payment.__table__, rows)
        bulk_insert(session, Allocation.__table__, allocation_rows)
        bulk_insert(session, AuditEntry.__table__, audit_rows)
        run.tick(len(rows))


_SET_OPEN_AMOUNTS = text(
    "UPDATE invoices SET open_amount = v.open_amount, version = v.version + 1 "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:opens AS numeric[]), CAST(:versions AS integer[]))"
    " AS v(id, open_amount, version) "
    "WHERE invoices.id = v.id AND invoices.version = v.version"
)


def _write_open_amounts(session: Session, touched: list[_OpenInvoice]) -> None:
    """The invoices' maintained open amounts; the version is bumped as an edit's would be, so a
    dialog holding the old one reports a conflict instead of overwriting. PostgreSQL: one
    UPDATE … FROM unnest(arrays) per chunk (100,000 updates: 12.4 s as an executemany, 8.1 s
    so; the rest is index upkeep); SQLite: executemany, in process anyway."""
    if not touched:
        return
    conflict = O2CError(
        "Another user changed some of these invoices during the import; nothing was "
        "written. Import the file again."
    )
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(touched, WRITE_CHUNK):
            result = session.execute(
                _SET_OPEN_AMOUNTS,
                {
                    "ids": [i.id for i in chunk],
                    "opens": [i.open for i in chunk],
                    "versions": [i.version for i in chunk],
                },
            )
            if result.rowcount != len(chunk):
                raise conflict
        return
    t = Invoice.__table__
    stmt = (
        update(t)
        .where(t.c.id == bindparam("key_id"), t.c.version == bindparam("old_version"))
        .values(
            open_amount=bindparam("open", type_=t.c.open_amount.type),
            version=bindparam("new_version", type_=t.c.version.type),
        )
    )
    exact = session.get_bind().dialect.supports_sane_multi_rowcount
    for chunk in _chunks(touched, WRITE_CHUNK):
        params = [
            {"key_id": i.id, "old_version": i.version, "new_version": i.version + 1, "open": i.open}
            for i in chunk
        ]
        result = session.execute(stmt, params)
        if exact and result.rowcount != len(params):
            raise conflict


def import_payments(
    db: Database,
    actor: Actor,
    file: str | Path,
    options: LedgerImportOptions | None = None,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LedgerImportReport:
    """Create payments from a CSV or XLSX file and allocate them, all or nothing (see the module
    docstring). Raises like `import_invoices`."""
    return _run_import(
        db, actor, PAYMENTS, file, options or LedgerImportOptions(), progress, cancelled
    )


def import_ledger(
    db: Database,
    actor: Actor,
    kind: str,
    file: str | Path,
    options: LedgerImportOptions | None = None,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> LedgerImportReport:
    """`import_invoices` or `import_payments` by kind ("invoices" or "payments")."""
    return _run_import(db, actor, kind, file, options or LedgerImportOptions(), progress, cancelled)


# ---------------------------------------------------------------------------------------------
# For the GUI's mapping step and preview
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    row: int
    values: dict[str, str]  # field -> the value as it will be read ("" when blank)
    problems: tuple[str, ...]  # cell problems ("column: reason")


@dataclass(frozen=True)
class LedgerPreview:
    headers: tuple[str, ...]
    mapping: dict[str, str]  # field -> column, as matched (--map first, then by name)
    ignored_columns: tuple[str, ...]
    rows: int  # data rows in the file
    sample: tuple[PreviewRow, ...]
    problems: int  # cell problems in the whole file (the database is not consulted)


HEADER_SAMPLE = 1 << 20  # bytes of a big CSV file read to find its column names


def read_headers(file: str | Path) -> tuple[str, ...]:
    """The file's column names, for the mapping step (raises O2CError for unreadable files).

    A big CSV file is not read whole for this (a million rows take seconds): its first megabyte,
    cut at a line end, goes through the customer import's decoding and delimiter sniffing.
    """
    path = Path(file)
    try:
        small = path.suffix.lower() not in CSV_SUFFIXES or path.stat().st_size <= HEADER_SAMPLE
        if not small:
            with path.open("rb") as f:
                data = f.read(HEADER_SAMPLE)
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\n" not in data:
                small = True
    except OSError:
        small = True  # _read_table says what is wrong
    if small:
        return tuple(_read_table(path, None).headers)
    content = _decode(data[: data.rindex(b"\n") + 1], path.name)
    try:
        first = next(csv.reader(io.StringIO(content, newline=""), delimiter=_delimiter(content)))
    except (csv.Error, StopIteration):
        return tuple(_read_table(path, None).headers)
    return tuple(h.strip() for h in first)


def suggest_mapping(kind: str, headers: Sequence[str]) -> dict[str, str]:
    """The columns matched by name alone (what the mapping step starts from); ambiguous or
    missing fields are left out."""
    result = {}
    keys: dict[str, list[str]] = {}
    for header in headers:
        if header:
            keys.setdefault(_header_key(header), []).append(header)
    for spec in FIELDS[kind]:
        names = {_header_key(k) for k in (spec.name, spec.label, *spec.aliases)}
        found = [h for k in names for h in keys.get(k, [])]
        if len(found) == 1:
            result[spec.name] = found[0]
    return result


def preview(
    kind: str,
    file: str | Path,
    options: LedgerImportOptions | None = None,
    *,
    limit: int = 50,
) -> LedgerPreview:
    """The first rows as they would be read with this mapping and these options, with the cell
    problems of every row; the database checks (customers, duplicates) come with a dry run."""
    options = options or LedgerImportOptions()
    check_date_format(options.date_format)
    path = Path(file)
    table = _read_table(path, None)
    columns = match_columns(kind, table.headers, options.mapping, path.name)
    parsed = _parse_rows(kind, table, columns, options)
    specs = FIELDS[kind]
    by_row: dict[int, list[str]] = {}
    for p in parsed.problems:
        if p.row is not None:
            by_row.setdefault(p.row, []).append(f"{p.field}: {p.message}")
    sample = []
    for number, values in parsed.rows[:limit]:
        shown = {
            spec.name: "" if value is None or value is _BAD else audit.as_text(value) or ""
            for spec, value in zip(specs, values, strict=True)
            if spec.name in columns.index
        }
        sample.append(PreviewRow(number, shown, tuple(by_row.get(number, ()))))
    return LedgerPreview(
        headers=tuple(table.headers),
        mapping=dict(columns.names),
        ignored_columns=columns.ignored,
        rows=len(parsed.rows),
        sample=tuple(sample),
        problems=len(parsed.problems),
    )
