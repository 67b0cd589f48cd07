"""Customer import from CSV or XLSX: the customer number is the key, the whole file or nothing.

Why it is built this way:

* A credit department imports whole portfolios from an ERP export. Half an import is worse than
  none (nobody knows which half), so every row is checked first and a file with any bad row is
  refused with one line per problem, in spreadsheet terms (row 2 is the first data row, columns
  named as in the file). Everything is then written in one transaction.
* Cells go through `customer_fields.parse_field`, so the importer accepts exactly what the edit
  dialog accepts and says so in the same words. Amounts never pass through float: CSV cells are
  text, and XLSX numbers (binary floats in the file) are only accepted when the float is the exact
  decimal a person typed, i.e. at most 15 significant digits as Excel shows them.
* Importing the same file twice changes nothing: values are compared with what is stored, and a
  customer is only updated (version bumped, audited field by field) when a value differs.
* 200,000 rows must import in well under a minute, so existing customers are loaded in chunks,
  updates run as executemany, and new customers, their search terms and audit rows are
  bulk-inserted (COPY on PostgreSQL). Updates are audited field by field like an edit in the
  dialog; a new customer gets one "create" row naming the file and row (see `_write_creates`).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import Select, String, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import bulk_insert
from o2c_desktop.errors import Cancelled, FieldProblem, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, CustomerSearchTerm, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.customer_fields import BY_NAME, DEFAULTS, FIELDS, parse_field
from o2c_desktop.services.customers import (
    STORED_COLUMN,
    ResolvedRefs,
    check_values,
    require_field_permissions,
)
from o2c_desktop.services.search_terms import terms_for

Progress = Callable[[int, int], None]
T = TypeVar("T")

CHUNK = 2000  # customers looked up / written per statement batch
MEMO_SIZE = 1000  # parse outcomes remembered per column (see _parse_rows)
ANALYZE_AFTER = 10_000  # new customers after which PostgreSQL's statistics are refreshed
MAX_PROBLEMS = 1000  # a file with the wrong column mapped fails on every row; list a readable part
CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DELIMITERS = (",", ";", "\t")
EXCEL_DIGITS = 15  # Excel keeps and shows 15 significant digits; more means binary float noise
# Fields that cannot be empty and parse a blank cell to None: a new customer gets the default
# (as in the New dialog), an existing one keeps what it has. So a file that created a customer
# with blank terms re-imports as unchanged, and a blank never switches a CHF customer to EUR.
_KEPT_WHEN_BLANK = frozenset({"payment_terms", "currency"})
_SEARCHED = frozenset({"name", "legal_name", "tax_id"})
# What openpyxl raises on a damaged or foreign file (its XML errors are SyntaxError subclasses).
_BROKEN_XLSX = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    SyntaxError,
)


# ---------------------------------------------------------------------------------------------
# What the caller gets back, and the --map option
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    file: str
    rows: int
    created: int
    updated: int
    unchanged: int
    ignored_columns: tuple[str, ...] = ()
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the command line or a status bar."""
        return (
            f"{self.file}: {self.rows:,} rows: {self.created:,} created, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged"
        ) + summary_end({}, self.ignored_columns, self.dry_run)


def summary_end(
    totals: Mapping[str, Decimal], ignored_columns: Sequence[str], dry_run: bool
) -> str:
    """How every import's summary line ends: the totals per currency, the columns it did not
    read, and whether it was only a dry run."""
    end = ""
    if totals:
        end += "; total " + ", ".join(
            f"{format(amount, ',f')} {currency}" for currency, amount in sorted(totals.items())
        )
    if ignored_columns:
        end += "; ignored columns: " + ", ".join(ignored_columns)
    if dry_run:
        end += " (dry run: nothing written)"
    return end


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Turn repeated `--map FIELD=COLUMN` options into {field: column}.

    A typo in a field name must stop the import: otherwise the column would be silently ignored
    and the customers imported without it.
    """
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not name or not column:
            raise O2CError(f"--map {item!r}: expected FIELD=COLUMN, for example credit_limit=Limit")
        if name not in BY_NAME:
            raise O2CError(
                f"--map {item!r}: {name!r} is not a customer field; fields are "
                + ", ".join(f.name for f in FIELDS)
            )
        if name in mapping and mapping[name] != column:
            raise O2CError(f"--map: {name} is mapped twice ({mapping[name]!r} and {column!r})")
        mapping[name] = column
    return mapping


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The file as cells: the header row and each data row with its spreadsheet row number."""

    headers: list[str]
    rows: list[tuple[int, Sequence[Any]]]
    delimiter: str | None  # None for XLSX


def _read_table(path: Path, cancelled: Callable[[], bool] | None) -> _Table:
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | XLSX_SUFFIXES:
        hint = " (old Excel format: save it as .xlsx or .csv)" if suffix == ".xls" else ""
        raise O2CError(f"{name}: not a CSV or XLSX file{hint}")
    if not path.exists():
        raise O2CError(f"{name}: no such file ({path})")
    if not path.is_file():
        raise O2CError(f"{name}: not a file ({path})")
    try:
        if path.stat().st_size == 0:
            raise O2CError(f"{name}: the file is empty")
        if suffix in XLSX_SUFFIXES:
            return _read_xlsx(path, cancelled)
        return _read_csv(path)
    except OSError as exc:
        raise O2CError(f"{name}: cannot read the file: {exc.strerror or exc}") from None


def _decode(data: bytes, name: str) -> str:
    """UTF-8 with or without BOM, UTF-16 as Excel's "Unicode text" writes it, else Windows-1252
    (what Excel on Windows writes for "CSV" in Western Europe)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise O2CError(f"{name}: not valid UTF-16 text") from None
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise O2CError(f"{name}: not valid UTF-8 text (byte {exc.start})") from None
    if b"\x00" in data:
        raise O2CError(f"{name}: not a text (CSV) file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise O2CError(
            f"{name}: neither UTF-8 nor Windows-1252 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: csv.Sniffer on a sample, checked against the header line.

    The Sniffer prefers the comma when in doubt; a semicolon file with decimal commas in every
    row can fool it. The header row holds no amounts, so whichever delimiter splits the header
    into more columns wins when the Sniffer's choice does not split it at all.
    """
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    header_line = text[: text.find("\n")] if "\n" in text else text
    counts = {d: header_line.count(d) for d in DELIMITERS}
    try:
        chosen = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        chosen = ""
    if counts.get(chosen, 0) > 0:
        return chosen
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(path: Path) -> _Table:
    name = path.name
    content = _decode(path.read_bytes(), name)
    if not content.strip():
        raise O2CError(f"{name}: the file is empty")
    delimiter = _delimiter(content)
    try:
        records = list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise O2CError(f"{name}: not a readable CSV file: {exc}") from None
    headers = [h.strip() for h in records[0]]
    rows = [(number, cells) for number, cells in enumerate(records[1:], start=2)]
    return _Table(headers, rows, delimiter)


def _read_xlsx(path: Path, cancelled: Callable[[], bool] | None) -> _Table:
    """The first (active) sheet; read-only and cached values (formulas as last calculated)."""
    name = path.name
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except _BROKEN_XLSX:
        raise O2CError(f"{name}: not a readable XLSX workbook") from None
    try:
        sheet = workbook.active or workbook.worksheets[0]
        # Some writers store a wrong used range; without it openpyxl reads what is there.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        cells = sheet.iter_rows(values_only=True)  # type: ignore[union-attr]
        first = next(cells, None)
        if first is None:
            raise O2CError(f"{name}: the file is empty")
        headers = ["" if h is None else str(h).strip() for h in first]
        rows: list[tuple[int, Sequence[Any]]] = []
        for number, row in enumerate(cells, start=2):
            rows.append((number, row))
            if number % CHUNK == 0 and cancelled and cancelled():
                raise Cancelled("Import cancelled; nothing was written.")
        return _Table(headers, rows, None)
    except _BROKEN_XLSX as exc:
        raise O2CError(f"{name}: not a readable XLSX workbook ({exc})") from None
    finally:
        workbook.close()


# ---------------------------------------------------------------------------------------------
# Columns and cells
# ---------------------------------------------------------------------------------------------


def _norm(header: str) -> str:
    """'Credit_Limit ', 'credit limit' and 'CREDIT-LIMIT' are the same column name."""
    return " ".join(header.replace("_", " ").replace("-", " ").split()).casefold()


@dataclass(frozen=True)
class _Columns:
    index: dict[str, int]  # field -> column position
    names: dict[str, str]  # field -> column name as in the file
    ignored: tuple[str, ...]
    unnamed: frozenset[int]  # positions with a blank header


def _match_columns(headers: list[str], mapping: Mapping[str, str], name: str) -> _Columns:
    """Which column feeds which field: --map first, then a header equal to the field's name or
    label. Two columns feeding one field would make the result depend on column order, so that
    is refused."""
    by_norm: dict[str, list[int]] = {}
    for position, header in enumerate(headers):
        if header:
            by_norm.setdefault(_norm(header), []).append(position)
    listing = ", ".join(repr(h) for h in headers if h) or "(none)"
    index: dict[str, int] = {}
    for fld, column in mapping.items():
        if fld not in BY_NAME:
            raise O2CError(f"{name}: {fld!r} is not a customer field")
        found = by_norm.get(_norm(column), [])
        if not found:
            raise O2CError(
                f"{name}: --map {fld}={column}: the file has no column {column!r}; "
                f"its columns are {listing}"
            )
        if len(found) > 1:
            raise O2CError(f"{name}: the file has {len(found)} columns named {column!r}")
        index[fld] = found[0]
    mapped = set(index.values())
    for spec in FIELDS:
        if spec.name in index:
            continue
        found = sorted(
            {p for key in {_norm(spec.name), _norm(spec.label)} for p in by_norm.get(key, [])}
            - mapped
        )
        if len(found) > 1:
            both = " and ".join(repr(headers[p]) for p in found)
            raise O2CError(
                f"{name}: columns {both} would both be read as {spec.name}; "
                f"rename one or choose with --map {spec.name}=COLUMN"
            )
        if found:
            index[spec.name] = found[0]
    if "number" not in index:
        raise O2CError(
            f"{name}: no column for the customer number (name a column 'number' or use "
            f"--map number=COLUMN); the file's columns are {listing}"
        )
    used = set(index.values())
    return _Columns(
        index=index,
        names={fld: headers[p] for fld, p in index.items()},
        ignored=tuple(h for p, h in enumerate(headers) if h and p not in used),
        unnamed=frozenset(p for p, h in enumerate(headers) if not h),
    )


def _shown(raw: Any) -> str | None:
    """A cell as the problem line quotes it."""
    if raw is None:
        return None
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    if isinstance(raw, float):
        return repr(raw)
    return str(raw)


def _significant_digits(value: Decimal) -> int:
    return len(value.normalize().as_tuple().digits)


def _from_float(value: float) -> Decimal:
    """The decimal a person typed into Excel, or a refusal when the float is not one.

    XLSX stores numbers as binary floats. A typed 12345678901.23 comes back as the float nearest
    to it, whose shortest repr is again "12345678901.23": that is taken. A formula result like
    0.1 + 0.2 = 0.30000000000000004 has more digits than Excel keeps (15); taking it would import
    binary noise, rounding it would be a guess, so the cell is refused.
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a number")
    if value.is_integer() and abs(value) < 10**EXCEL_DIGITS:
        return Decimal(int(value))
    candidate = Decimal(repr(value))
    if float(candidate) != value or _significant_digits(candidate) > EXCEL_DIGITS:
        raise ValueError(
            f"the cell holds the binary fraction {value!r}, not an exact amount; "
            "round it in the sheet (ROUND) or format the column as text"
        )
    return candidate


def _amount_text_problem(value: str, delimiter: str | None) -> str | None:
    """Refuse a comma that is probably a decimal comma although it groups by three.

    `parse_amount` refuses "1234,56" or "12,5" itself, but takes "1,234" as one thousand two
    hundred and thirty-four. In a semicolon-separated file (what Excel writes in most of Europe)
    that most likely means one point two three four, so there a comma needs a decimal point
    beside it ("1,234.00") to count as a thousands separator.
    """
    if delimiter == ";" and "," in value and "." not in value:
        return "a comma in an amount is ambiguous; write it with a decimal point and no separators"
    return None


def _cell_input(fld: str, raw: Any, delimiter: str | None) -> Any:
    """Turn a CSV or XLSX cell into input for `parse_field` (raises ValueError with the reason)."""
    if isinstance(raw, str):
        if fld == "credit_limit":
            reason = _amount_text_problem(raw, delimiter)
            if reason:
                raise ValueError(reason)
        return raw
    if raw is None or isinstance(raw, bool | int | Decimal):
        return raw
    if isinstance(raw, float):
        return _from_float(raw)
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    return str(raw)


@dataclass
class _Row:
    """One data row, parsed. Fields whose cell could not be parsed are in `failed`, not values."""

    row: int
    cells: Sequence[Any]
    values: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    @property
    def number(self) -> str | None:
        return self.values.get("number")

    def shown(self, columns: _Columns, fld: str) -> str | None:
        """The cell of a field as the problem line quotes it (None without such a column)."""
        position = columns.index.get(fld)
        if position is None or position >= len(self.cells):
            return None
        return _shown(self.cells[position])


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _parse_cell(fld: str, raw: Any, delimiter: str | None) -> Any:
    """One cell through the dialog's parser, after what only a file can get wrong."""
    return parse_field(fld, _cell_input(fld, raw, delimiter))


def _parse_rows(
    table: _Table, columns: _Columns, problems: list[FieldProblem]
) -> tuple[list[_Row], int]:
    """Parse every cell; collect problems instead of stopping at the first (the user fixes the
    whole file once). Returns the parsed rows, blank rows left out, and the number of rows.

    Columns like currency, country or segment repeat a handful of values over 200,000 rows, so
    each field remembers the outcome for up to MEMO_SIZE distinct cells (keyed with the cell's
    type: 1, 1.0 and True are equal in Python but not the same input).
    """
    parsed: list[_Row] = []
    first_row: dict[str, int] = {}
    width = len(table.headers)
    fields = list(columns.index.items())
    memo: dict[str, dict[tuple[type, Any], tuple[Any, str | None]]] = {f: {} for f, _ in fields}
    for number, cells in table.rows:
        if all(_blank(c) for c in cells):
            continue
        row = _Row(number, cells)
        for position in [*columns.unnamed, *range(width, len(cells))]:
            if position < len(cells) and not _blank(cells[position]):
                problems.append(
                    FieldProblem(
                        f"column {position + 1}",
                        "a value in a column without a name in row 1 (a stray separator?)",
                        number,
                        _shown(cells[position]),
                    )
                )
        for fld, position in fields:
            raw = cells[position] if position < len(cells) else None
            remembered = memo[fld]
            key = (type(raw), raw)
            outcome = remembered.get(key)
            if outcome is None:
                try:
                    outcome = (_parse_cell(fld, raw, table.delimiter), None)
                except ValueError as exc:
                    outcome = (None, str(exc))
                if len(remembered) < MEMO_SIZE:
                    remembered[key] = outcome
            value, error = outcome
            if error is None:
                row.values[fld] = value
            else:
                row.failed.add(fld)
                problems.append(FieldProblem(columns.names[fld], error, number, _shown(raw)))
        if row.number is not None:
            if row.number in first_row:
                row.failed.add("number")
                problems.append(
                    FieldProblem(
                        columns.names["number"],
                        f"the same customer number is on row {first_row[row.number]}",
                        number,
                        row.shown(columns, "number"),
                    )
                )
            else:
                first_row[row.number] = number
        parsed.append(row)
    return parsed, len(parsed)


# ---------------------------------------------------------------------------------------------
# Deciding what to do (reads only), then doing it
# ---------------------------------------------------------------------------------------------


@dataclass
class _Update:
    id: int
    version: int
    before: dict[str, Any]
    changed: dict[str, Any]


@dataclass
class _Plan:
    refs: ResolvedRefs
    creates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row, values)
    updates: list[_Update] = field(default_factory=list)
    unchanged: int = 0
    problems: list[FieldProblem] = field(default_factory=list)
    # field -> (row, column) where a change to it first appears, for the permission message
    needs: dict[str, tuple[int, str]] = field(default_factory=dict)
    first_create: int | None = None


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored_column(fld: str) -> str:
    return STORED_COLUMN.get(fld, fld)


def _located(
    problems: Iterable[FieldProblem], row: _Row, columns: _Columns
) -> Iterator[FieldProblem]:
    """check_values speaks of fields; the user needs the row and the column as in the file."""
    for p in problems:
        fld = p.field
        if fld not in columns.names and fld == "credit_limit" and "currency" in columns.names:
            fld = "currency"  # the limit is stored, the currency in this row makes it wrong
        yield FieldProblem(
            columns.names.get(fld, fld),
            p.message,
            row.row,
            row.shown(columns, fld) if fld in columns.index else p.value,
        )


def _plan(
    session: Session,
    rows: list[_Row],
    columns: _Columns,
    problems: list[FieldProblem],
    tick: Callable[[int], None],
) -> _Plan:
    """Compare every row with the stored customer (loaded a chunk at a time) and decide: create,
    update (which fields) or leave alone. Nothing is written here, so a dry run uses it as is."""
    refs = ResolvedRefs(session)
    plan = _Plan(refs, problems=problems)
    usernames = {r.id: r.username for r in session.execute(select(User.id, User.username))}
    present = [spec.name for spec in FIELDS if spec.name in columns.index and spec.name != "number"]
    names = [spec.name for spec in FIELDS]
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(rows):
        numbers = [r.number for r in chunk if r.number is not None and "number" not in r.failed]
        found: dict[str, tuple[int, int, dict[str, Any]]] = {}
        for rec in session.execute(_lookup(numbers, postgres)):
            before = dict(zip(names, rec[2:], strict=True))
            if before["collector"] is not None:
                before["collector"] = usernames.get(before["collector"])
            found[before["number"]] = (rec[0], rec[1], before)
        for row in chunk:
            if row.number is None or "number" in row.failed:
                continue
            if row.number in found:
                customer_id, version, before = found[row.number]
                _plan_update(plan, refs, row, columns, customer_id, version, before, present)
            else:
                _plan_create(plan, refs, row, columns)
        tick(len(chunk))
    return plan


def _lookup(numbers: list[str], postgres: bool) -> Select[Any]:
    """The stored customers with these numbers: id, version, then every field in FIELDS order.

    On PostgreSQL the numbers are joined as one array: a 2,000-item IN list of bound parameters
    is checked item by item on every row whenever the planner picks a sequential scan, which it
    does right after a bulk load (no statistics yet): re-importing 200,000 rows took 197 s, 9 s
    with the join.
    """
    table = Customer.__table__
    stmt = select(
        table.c.id, table.c.version, *[table.c[_stored_column(spec.name)] for spec in FIELDS]
    )
    if not postgres:
        return stmt.where(table.c.number.in_(numbers))
    wanted = (
        func.unnest(bindparam("numbers", numbers, type_=ARRAY(String)))
        .table_valued("number")
        .render_derived()
    )
    return stmt.join(wanted, table.c.number == wanted.c.number)


def _plan_create(plan: _Plan, refs: ResolvedRefs, row: _Row, columns: _Columns) -> None:
    """A new customer: blanks in defaulted fields take the default, as in the New dialog."""
    given = {k: v for k, v in row.values.items() if v is not None or k not in DEFAULTS}
    merged = {**DEFAULTS, **given}
    count = len(plan.problems)
    if "name" not in merged and "name" not in row.failed:
        plan.problems.append(
            FieldProblem(
                "name", "required for a new customer (the file has no name column)", row.row
            )
        )
    attempted = {k for k, v in merged.items() if v not in (None, "") and DEFAULTS.get(k) != v}
    for fld in attempted | row.failed | {"name"}:
        if fld not in plan.needs:
            plan.needs[fld] = (row.row, columns.names.get(fld, fld))
    if plan.first_create is None:
        plan.first_create = row.row
    checked = {k: v for k, v in merged.items() if k != "number"}
    plan.problems.extend(_located(check_values(refs, checked, merged, None), row, columns))
    if not row.failed and len(plan.problems) == count:
        plan.creates.append((row.row, merged))


def _plan_update(
    plan: _Plan,
    refs: ResolvedRefs,
    row: _Row,
    columns: _Columns,
    customer_id: int,
    version: int,
    before: dict[str, Any],
    present: list[str],
) -> None:
    """An existing customer: only the fields the file has a column for, and only if different."""
    count = len(plan.problems)
    changed = {
        f: row.values[f]
        for f in present
        if f in row.values
        and before[f] != row.values[f]
        and not (row.values[f] is None and f in _KEPT_WHEN_BLANK)
    }
    for fld in changed.keys() | row.failed:
        if fld not in plan.needs:
            plan.needs[fld] = (row.row, columns.names.get(fld, fld))
    plan.problems.extend(
        _located(check_values(refs, changed, {**before, **changed}, customer_id), row, columns)
    )
    if row.failed or len(plan.problems) != count:
        return
    if changed:
        plan.updates.append(_Update(customer_id, version, before, changed))
    else:
        plan.unchanged += 1


def _require_permissions(actor: Actor, plan: _Plan, source: str) -> None:
    """The same rules as creating and editing one customer, applied to what the file changes.
    The message names the first row that needs the missing right."""
    try:
        if plan.first_create is not None:
            actor.require(Permission.CREATE_CUSTOMER)
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"{source}: row {plan.first_create} is a new customer: {exc}"
        ) from None
    for spec in FIELDS:
        if spec.name not in plan.needs:
            continue
        try:
            require_field_permissions(actor, {spec.name})
        except PermissionDenied as exc:
            row, column = plan.needs[spec.name]
            raise PermissionDenied(f"{source}: row {row}, column {column!r}: {exc}") from None


def _audit_row(
    actor: Actor,
    at: datetime,
    action: str,
    customer_id: int,
    version: int,
    fld: str | None,
    old: Any,
    new: Any,
) -> dict[str, Any]:
    """The row `audit.record` would add for one field (or, without a field, for the whole
    record with `new` as its note), as a dict for a bulk insert."""
    return {
        "at": at,
        "user_id": actor.user_id or None,
        "username": actor.username,
        "action": action,
        "table_name": "customers",
        "record_id": str(customer_id),
        "record_version": version,
        "customer_id": customer_id,
        "field": fld,
        "old_value": audit.as_text(old),
        "new_value": audit.as_text(new),
    }


def _term_rows(customer_id: int, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Search terms exactly as `customers.write_search_terms` computes them (folding the name
    once when the legal name repeats it: the set is the same, the import measurably faster)."""
    name, legal_name = values.get("name"), values.get("legal_name")
    names = [name] if legal_name == name else [name, legal_name]
    terms = terms_for(values["number"], names, values.get("tax_id"))
    return [{"term": t, "customer_id": customer_id} for t in sorted(terms)]


def _reserve_ids(session: Session, count: int) -> list[int]:
    """Ids for new customers. PostgreSQL: from the id sequence, so a concurrent insert can never
    take one of them. SQLite: after the largest, safe because the write transaction holds the
    database's write lock (BEGIN IMMEDIATE)."""
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ids = session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('customers', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(int(i) for i in ids)
    first = (session.scalar(select(func.max(Customer.id))) or 0) + 1
    return list(range(first, first + count))


def _update_statement(fields: tuple[str, ...]) -> Any:
    """UPDATE of the given fields plus version and signature, for executemany. The version in
    WHERE guards against a lost update, as the ORM's version counter does for a dialog edit."""
    table = Customer.__table__
    sets: dict[Any, Any] = {
        table.c[_stored_column(f)]: bindparam(f"v_{f}", type_=table.c[_stored_column(f)].type)
        for f in fields
    }
    sets[table.c.version] = bindparam("new_version", type_=table.c.version.type)
    sets[table.c.updated_at] = bindparam("at", type_=table.c.updated_at.type)
    sets[table.c.updated_by_id] = bindparam("by", type_=table.c.updated_by_id.type)
    return (
        update(table)
        .where(
            table.c.id == bindparam("key_id", type_=table.c.id.type),
            table.c.version == bindparam("old_version", type_=table.c.version.type),
        )
        .values(sets)
    )


def _write_updates(
    session: Session,
    actor: Actor,
    refs: ResolvedRefs,
    updates: list[_Update],
    at: datetime,
    tick: Callable[[int], None],
    cancelled: Callable[[], bool] | None,
) -> None:
    """Updates as executemany, one statement per set of changed fields (a file usually changes
    the same few columns on every row, so there are few). Setting only what changed keeps
    untouched indexes untouched: 200,000 rows took half as long as setting every column."""
    statements: dict[tuple[str, ...], Any] = {}
    exact_rowcount = session.get_bind().dialect.supports_sane_multi_rowcount
    for chunk in _chunks(updates):
        if cancelled and cancelled():
            raise Cancelled("Import cancelled; nothing was written.")
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        audit_rows, term_rows, retermed = [], [], []
        for u in chunk:
            key = tuple(sorted(u.changed))
            item: dict[str, Any] = {
                "key_id": u.id,
                "old_version": u.version,
                "new_version": u.version + 1,
                "at": at,
                "by": actor.user_id or None,
            }
            for f, value in u.changed.items():
                if f == "collector":
                    value = refs.collector_id(value) if value else None
                item[f"v_{f}"] = value
            groups.setdefault(key, []).append(item)
            audit_rows += [
                _audit_row(actor, at, audit.UPDATE, u.id, u.version + 1, f, u.before[f], new)
                for f, new in u.changed.items()
            ]
            if _SEARCHED & u.changed.keys():
                retermed.append(u.id)
                term_rows += _term_rows(u.id, {**u.before, **u.changed})
        for key, params in groups.items():
            if key not in statements:
                statements[key] = _update_statement(key)
            result = session.execute(statements[key], params)
            if exact_rowcount and result.rowcount != len(params):
                raise O2CError(
                    "Another user changed some of these customers during the import; "
                    "nothing was written. Import the file again."
                )
        if retermed:
            session.execute(
                delete(CustomerSearchTerm).where(CustomerSearchTerm.customer_id.in_(retermed))
            )
            bulk_insert(session, CustomerSearchTerm.__table__, term_rows)
        bulk_insert(session, AuditEntry.__table__, audit_rows)
        tick(len(chunk))


def _write_creates(
    session: Session,
    actor: Actor,
    refs: ResolvedRefs,
    creates: list[tuple[int, dict[str, Any]]],
    source: str,
    at: datetime,
    tick: Callable[[int], None],
    cancelled: Callable[[], bool] | None,
) -> None:
    """Bulk inserts of the customers and their search terms, as `customers.create_in_session`
    writes them, and one "create" audit row per customer naming the file and row.

    The New dialog audits each field given. Here that would be one row per non-empty cell,
    3.6 million for 200,000 customers of 18 columns, and most of the import's time. A single row
    loses nothing: a field's value at creation is its first later audited old value or, if it
    never changed, its value now; and the row says where the customer came from.
    """
    ids = _reserve_ids(session, len(creates))
    by = actor.user_id or None
    for start in range(0, len(creates), CHUNK):
        if cancelled and cancelled():
            raise Cancelled("Import cancelled; nothing was written.")
        rows, term_rows, audit_rows = [], [], []
        for customer_id, (line, values) in zip(
            ids[start : start + CHUNK], creates[start : start + CHUNK], strict=True
        ):
            row: dict[str, Any] = {"id": customer_id}
            for spec in FIELDS:
                value = values.get(spec.name)
                if spec.name == "collector":
                    row["collector_id"] = refs.collector_id(value) if value else None
                else:
                    row[_stored_column(spec.name)] = value
            row.update(
                exposure=Decimal(0),
                created_at=at,
                created_by_id=by,
                updated_at=at,
                updated_by_id=by,
                version=1,
            )
            rows.append(row)
            term_rows += _term_rows(customer_id, values)
            audit_rows.append(
                _audit_row(
                    actor,
                    at,
                    audit.CREATE,
                    customer_id,
                    1,
                    None,
                    None,
                    f"imported from {source}, row {line}",
                )
            )
        bulk_insert(session, Customer.__table__, rows)
        bulk_insert(session, CustomerSearchTerm.__table__, term_rows)
        bulk_insert(session, AuditEntry.__table__, audit_rows)
        tick(len(rows))


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


def import_customers(
    db: Database,
    actor: Actor,
    file: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ImportReport:
    """Create and update customers from a CSV or XLSX file, all or nothing.

    Raises O2CError for a file that cannot be read, ValidationFailed (one FieldProblem per bad
    cell, nothing written) for bad rows, PermissionDenied when the file changes what the actor
    may not, Cancelled when `cancelled()` turns true. `progress(done, total)` counts work units:
    every row is checked once and (unless a dry run) written once, so a GUI can show one bar.
    """
    actor.require(Permission.IMPORT_CUSTOMERS)
    path = Path(file)
    source = path.name
    table = _read_table(path, cancelled)
    columns = _match_columns(table.headers, mapping or {}, source)
    problems: list[FieldProblem] = []
    rows, count = _parse_rows(table, columns, problems)
    width = len(table.headers)
    total = count if dry_run else 2 * count
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)
        if cancelled and cancelled():
            raise Cancelled("Import cancelled; nothing was written.")

    # Problems are listed by row, then left to right as the columns stand in the file.
    position = {columns.names[f]: p for f, p in columns.index.items()}
    position.update({f"column {p + 1}": p for p in range(width)})

    def check(session: Session) -> _Plan:
        plan = _plan(session, rows, columns, problems, tick)
        _require_permissions(actor, plan, source)
        if plan.problems:
            ordered = sorted(plan.problems, key=lambda p: (p.row or 0, position.get(p.field, 0)))
            if len(ordered) > MAX_PROBLEMS:
                rest = len(ordered) - MAX_PROBLEMS
                ordered = [
                    *ordered[:MAX_PROBLEMS],
                    FieldProblem("…", f"{rest:,} more problems not listed; fix these and retry"),
                ]
            raise ValidationFailed(ordered, source=source)
        return plan

    if dry_run:
        with db.read() as session:
            plan = check(session)
    else:
        with db.write() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:
                # Other writers wait for the import (as they do on SQLite): no customer can
                # change between our comparison and our update, no number appear twice.
                session.execute(text("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE"))
            plan = check(session)
            at = utcnow()
            _write_updates(session, actor, plan.refs, plan.updates, at, tick, cancelled)
            tick(plan.unchanged)
            _write_creates(session, actor, plan.refs, plan.creates, source, at, tick, cancelled)
            if postgres and len(plan.creates) >= ANALYZE_AFTER:
                # A big load leaves the planner without statistics until autovacuum comes by;
                # the customer list and the next import would plan for an empty table till then.
                session.execute(text("ANALYZE customers, customer_search_terms"))
    return ImportReport(
        file=source,
        rows=count,
        created=len(plan.creates),
        updated=len(plan.updates),
        unchanged=plan.unchanged,
        ignored_columns=columns.ignored,
        dry_run=dry_run,
    )
