"""The Invoices area: every item across customers, filtered, sorted and paged in SQL.

Built for 2,000,000 invoices, on SQLite as on PostgreSQL:
- A page is found on `invoices` alone (filters, order, LIMIT/OFFSET), then joined to its 200
  customers. Customer filters (segment, collector, customer number) are `customer_id IN
  (customers that match)`, so the customers table never decides the join order: SQLite, which
  has no statistics, used to start from the customers of a segment and sort their whole
  ledgers (3.5 s for the first overdue page of a segment).
- Open, overdue and disputed views read partial indexes that hold only those items
  (`open_amount <> 0`, `disputed_amount <> 0`, written with a literal zero: SQLite uses a
  partial index only when the query repeats its condition), in due-date order, so the first
  page stops after 200 rows.
- An invoice number search is a prefix range of uq_invoices_kind_number, once per kind (numbers
  compare byte-wise on both engines; on SQLite a LIKE was a scan of every row, 6.8 s).
- Counts read the same indexes and join customers only when a customer filter asks for it.

The disputed amount shown and sorted is the lesser of the disputed and the open amount: after a
partial payment a dispute can cover more than is still open, and what is disputed can never be
more than what is owed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, literal_column, or_, select, union_all

from o2c_desktop.db import Database
from o2c_desktop.db.hints import common
from o2c_desktop.models import Customer, CustomerSearchTerm, Invoice
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.search_terms import MAX_TERM, prefix_upper_bound, words

STATUSES = ("all", "open", "overdue", "disputed", "paid")
SORT_KEYS = (
    "number",
    "kind",
    "customer",
    "issue_date",
    "due_date",
    "days_past_due",
    "amount",
    "open_amount",
    "disputed_amount",
    "currency",
)
# Above every character a number can hold: `p <= number < p + _TOP` is "starts with p".
_TOP = "\U0010ffff"
_ZERO = literal_column("0")


@dataclass(frozen=True)
class InvoiceQuery:
    status: str = "open"
    search: str = ""  # invoice number or customer number prefix
    due_from: date | None = None
    due_to: date | None = None
    collector_id: int | None = None
    segment: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    customer_id: int | None = None
    as_of: date | None = None  # "today" for overdue and days past due; None = date.today()
    sort_key: str = "due_date"
    descending: bool = False


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    kind: str
    number: str
    customer_id: int
    customer_number: str
    customer_name: str
    issue_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    disputed_amount: Decimal  # never more than open_amount
    currency: str
    days_past_due: int


def disputed_open(item: Any = Invoice) -> Any:
    """The disputed part of what is still open: the lesser of the two (portable SQL)."""
    return case(
        (item.disputed_amount < item.open_amount, item.disputed_amount),
        else_=item.open_amount,
    )


def number_prefix(text: str) -> Any:
    """Items whose number starts with `text` (as typed, or upper-cased: numbers are usually
    capitals): one range of uq_invoices_kind_number per kind and spelling."""
    spellings = dict.fromkeys((text, text.upper()))
    return or_(
        *(
            and_(Invoice.kind == kind, Invoice.number >= p, Invoice.number < p + _TOP)
            for p in spellings
            for kind in (INVOICE, CREDIT_NOTE)
        )
    )


def customers_numbered(text: str) -> Select[Any]:
    """The ids of the customers whose number starts with `text` (LIKE, so as each engine
    compares: case-insensitive on SQLite). Candidates come from the customers' search terms,
    which hold every number compacted and folded ("C-000123" -> "c000123") in byte order: a
    prefix of the number is a prefix of that term, and the range is indexed on both engines
    whatever the database's locale (a LIKE on customers.number is a scan of every customer on
    PostgreSQL unless the database's collation is "C")."""
    starts = Customer.number.startswith(text, autoescape=True)
    compact = "".join(words(text))[:MAX_TERM]
    if not compact:
        return select(Customer.id).where(starts)
    candidates = select(CustomerSearchTerm.customer_id).where(
        CustomerSearchTerm.term >= compact, CustomerSearchTerm.term < prefix_upper_bound(compact)
    )
    return select(Customer.id).where(Customer.id.in_(candidates), starts)


def _searched(text: str) -> Any:
    """Items whose number, or whose customer's number, starts with `text`: the ids of both, as
    a UNION of two indexed lookups (an OR of the two conditions was planned as a scan of every
    item on both engines)."""
    return Invoice.id.in_(
        union_all(
            select(Invoice.id).where(number_prefix(text)),
            select(Invoice.id).where(Invoice.customer_id.in_(customers_numbered(text))),
        )
    )


def _customer_filter(query: InvoiceQuery) -> Any | None:
    """The customers a query keeps (segment, collector), as a subquery; None when it keeps all."""
    conditions = []
    if query.collector_id is not None:
        conditions.append(Customer.collector_id == query.collector_id)
    if query.segment:
        conditions.append(Customer.segment == query.segment)
    if not conditions:
        return None
    return select(Customer.id).where(*conditions)


def _filtered(query: InvoiceQuery, stmt: Select[Any], today: date) -> Select[Any]:
    """The query's conditions, on `invoices` only."""
    if query.status in ("open", "overdue"):
        stmt = stmt.where(Invoice.open_amount != _ZERO)
    if query.status == "overdue":
        # `common`: SQLite, without statistics, took kind = 'invoice' (98 % of the items) for
        # selective and walked every invoice in uq_invoices_kind_number (9 s).
        stmt = stmt.where(Invoice.due_date < today, common(Invoice.kind == INVOICE))
    elif query.status == "disputed":
        # Disputed and still owed: a settled item has nothing left in dispute.
        stmt = stmt.where(Invoice.disputed_amount != _ZERO, Invoice.open_amount != _ZERO)
    elif query.status == "paid":
        stmt = stmt.where(Invoice.open_amount == _ZERO)
    elif query.status not in ("all", "open"):
        raise ValueError(f"unknown status {query.status!r}")
    text = query.search.strip()
    if text:
        stmt = stmt.where(_searched(text))
    if query.due_from:
        stmt = stmt.where(Invoice.due_date >= query.due_from)
    if query.due_to:
        stmt = stmt.where(Invoice.due_date <= query.due_to)
    customers = _customer_filter(query)
    if customers is not None:
        stmt = stmt.where(Invoice.customer_id.in_(customers))
    if query.amount_min is not None:
        stmt = stmt.where(Invoice.amount >= query.amount_min)
    if query.amount_max is not None:
        stmt = stmt.where(Invoice.amount <= query.amount_max)
    if query.customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == query.customer_id)
    return stmt


def _order(query: InvoiceQuery) -> list[Any]:
    column = {
        "number": Invoice.number,
        "kind": Invoice.kind,
        "customer": Customer.number,
        "issue_date": Invoice.issue_date,
        "due_date": Invoice.due_date,
        "days_past_due": Invoice.due_date,
        "amount": Invoice.amount,
        "open_amount": Invoice.open_amount,
        "disputed_amount": disputed_open(),
        "currency": Invoice.currency,
    }.get(query.sort_key)
    if column is None:
        raise ValueError(f"cannot sort invoices by {query.sort_key!r}")
    # More days past due means an earlier due date: that sort runs on the due-date index.
    descending = query.descending != (query.sort_key == "days_past_due")
    return [
        column.desc() if descending else column.asc(),
        Invoice.id.desc() if descending else Invoice.id.asc(),
    ]


def _columns() -> list[Any]:
    return [
        Invoice.id,
        Invoice.kind,
        Invoice.number,
        Invoice.customer_id,
        Customer.number,
        Customer.name,
        Invoice.issue_date,
        Invoice.due_date,
        Invoice.amount,
        Invoice.open_amount,
        disputed_open(),
        Invoice.currency,
    ]


def _statement(query: InvoiceQuery, today: date) -> Select[Any]:
    """Every row of the query, in order (export)."""
    stmt = select(*_columns()).join(Customer, Customer.id == Invoice.customer_id)
    return _filtered(query, stmt, today).order_by(*_order(query))


def _page_statement(query: InvoiceQuery, today: date, offset: int, limit: int) -> Select[Any]:
    """One page: the ids found on `invoices` alone (customers joined inside only to sort by
    customer number), then the page's rows with their customers."""
    ids = select(Invoice.id)
    if query.sort_key == "customer":
        ids = ids.join(Customer, Customer.id == Invoice.customer_id)
    page = (
        _filtered(query, ids, today)
        .order_by(*_order(query))
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    return (
        select(*_columns())
        .join(page, page.c.id == Invoice.id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .order_by(*_order(query))
    )


def _row(values: Any, today: date) -> InvoiceRow:
    return InvoiceRow(*values, days_past_due=(today - values[7]).days)


def list_invoices(
    db: Database, actor: Actor, query: InvoiceQuery, offset: int = 0, limit: int = 200
) -> list[InvoiceRow]:
    actor.require(Permission.VIEW_CUSTOMERS)
    today = query.as_of or date.today()
    with db.read() as session:
        rows = session.execute(_page_statement(query, today, offset, limit))
        return [_row(r, today) for r in rows]


def count_invoices(db: Database, actor: Actor, query: InvoiceQuery) -> int:
    """How many rows the query has: on `invoices` alone, through the same indexes as a page."""
    actor.require(Permission.VIEW_CUSTOMERS)
    today = query.as_of or date.today()
    stmt = _filtered(query, select(func.count()).select_from(Invoice), today)
    with db.read() as session:
        return int(session.scalar(stmt) or 0)


def iter_invoices(
    db: Database, actor: Actor, query: InvoiceQuery, batch: int = 5000
) -> Iterator[list[InvoiceRow]]:
    """Every row of the query, streamed in batches (export)."""
    actor.require(Permission.VIEW_CUSTOMERS)
    today = query.as_of or date.today()
    with db.read() as session:
        result = session.execute(
            _statement(query, today).execution_options(yield_per=batch, stream_results=True)
        )
        for part in result.partitions(batch):
            yield [_row(r, today) for r in part]
