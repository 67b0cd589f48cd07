"""Customer credit profiles: the list (search, filter, sort, page, export), detail, create, edit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    any_,
    case,
    delete,
    func,
    insert,
    intersect,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from o2c_desktop.models import Customer, CustomerSearchTerm, PaymentTerms, Role, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.money import money_text
from o2c_desktop.services import audit, credit_authority
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_policy import effective_limit
from o2c_desktop.services.customer_fields import (
    BY_NAME,
    CREDIT_FIELDS,
    DEFAULTS,
    FIELDS,
    check_limit_decimals,
    parse_field,
)
from o2c_desktop.services.search_terms import prefix_upper_bound, terms_for, words
from o2c_desktop.services.stored_rows import audit_change

PAGE_SIZE = 200
# Stored attribute of each editable field (the rest are stored under their own name).
STORED_COLUMN = {"payment_terms": "payment_terms_code", "collector": "collector_id"}


# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------

SORT_KEYS = (
    "number",
    "name",
    "segment",
    "risk_class",
    "collector",
    "credit_limit",
    "exposure",
    "utilization",
    "on_hold",
)


@dataclass(frozen=True)
class CustomerQuery:
    """What the customer list shows: a search, filters and an order. Everything runs in SQL."""

    search: str = ""
    segment: str | None = None
    risk_class: str | None = None
    collector_id: int | None = None
    on_hold: bool | None = None
    sort_key: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class CustomerRow:
    id: int
    number: str
    name: str
    segment: str | None
    risk_class: str | None
    collector: str | None
    currency: str
    credit_limit: Decimal
    exposure: Decimal
    on_hold: bool

    @property
    def utilization(self) -> Decimal | None:
        """Exposure / credit limit as a fraction (None when there is no limit)."""
        if not self.credit_limit:
            return None
        return self.exposure / self.credit_limit


_collector = aliased(User)


def _utilization_sql() -> Any:
    return case(
        (Customer.credit_limit > 0, Customer.exposure * literal(1.0) / Customer.credit_limit),
        else_=None,
    )


class _ArrayOf(ColumnElement[Any]):
    """PostgreSQL's ARRAY(subquery), so `id = ANY(ARRAY(...))` runs the term scan once."""

    inherit_cache = True

    def __init__(self, subquery: Any):
        self.subquery = subquery
        self.type = ARRAY(Integer)


@compiles(_ArrayOf)
def _compile_array_of(element: _ArrayOf, compiler: Any, **kw: Any) -> str:
    return f"ARRAY({compiler.process(element.subquery, **kw)})"


def search_condition(search: str, dialect: str) -> Any:
    """Customers having, for every word typed, a term that starts with it.

    On PostgreSQL a plain `IN (subquery)` lets the planner walk the whole sort index probing each
    customer (measured 265 ms for "nor" at 200,000 customers); `= ANY(ARRAY(subquery))` collects
    the ids first and fetches only those (about 50 ms). SQLite's planner does that by itself.
    """
    selects = [
        select(CustomerSearchTerm.customer_id).where(
            CustomerSearchTerm.term >= word, CustomerSearchTerm.term < prefix_upper_bound(word)
        )
        for word in words(search)
    ]
    if not selects:
        return None
    ids = selects[0] if len(selects) == 1 else intersect(*selects)
    if dialect == "postgresql":
        return Customer.id == any_(_ArrayOf(ids))
    return Customer.id.in_(ids)


def _filtered(query: CustomerQuery, stmt: Select[Any], dialect: str) -> Select[Any]:
    condition = search_condition(query.search, dialect)
    if condition is not None:
        stmt = stmt.where(condition)
    if query.segment:
        stmt = stmt.where(Customer.segment == query.segment)
    if query.risk_class:
        stmt = stmt.where(Customer.risk_class == query.risk_class)
    if query.collector_id is not None:
        stmt = stmt.where(Customer.collector_id == query.collector_id)
    if query.on_hold is not None:
        stmt = stmt.where(Customer.on_hold.is_(query.on_hold))
    return stmt


_NULLABLE_SORT_KEYS = frozenset({"segment", "risk_class", "collector", "utilization"})


def _order(query: CustomerQuery) -> list[Any]:
    column = {
        "number": Customer.number,
        "name": Customer.name,
        "segment": Customer.segment,
        "risk_class": Customer.risk_class,
        "collector": _collector.display_name,
        "credit_limit": Customer.credit_limit,
        "exposure": Customer.exposure,
        "utilization": _utilization_sql(),
        "on_hold": Customer.on_hold,
    }.get(query.sort_key)
    if column is None:
        raise ValueError(f"cannot sort customers by {query.sort_key!r}")
    primary = column.desc() if query.descending else column.asc()
    tiebreak = Customer.id.desc() if query.descending else Customer.id.asc()
    # Empty values go last in both directions, but only columns that can be empty say so:
    # DESC NULLS LAST on a NOT NULL column stops PostgreSQL reading its index backwards
    # (measured: number descending 134 ms -> 0.2 ms at 200,000 customers).
    if query.sort_key in _NULLABLE_SORT_KEYS:
        primary = primary.nulls_last()
    return [primary, tiebreak]


def _list_statement(query: CustomerQuery, dialect: str) -> Select[Any]:
    stmt = select(
        Customer.id,
        Customer.number,
        Customer.name,
        Customer.segment,
        Customer.risk_class,
        _collector.display_name,
        Customer.currency,
        Customer.credit_limit,
        Customer.exposure,
        Customer.on_hold,
    ).outerjoin(_collector, _collector.id == Customer.collector_id)
    return _filtered(query, stmt, dialect).order_by(*_order(query))


def list_customers(
    db: Database, actor: Actor, query: CustomerQuery, offset: int = 0, limit: int = PAGE_SIZE
) -> list[CustomerRow]:
    """One page of the customer list, in the query's order."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        rows = session.execute(_list_statement(query, db.kind).offset(offset).limit(limit))
        return [CustomerRow(*row) for row in rows]


def count_customers(db: Database, actor: Actor, query: CustomerQuery) -> int:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        stmt = _filtered(query, select(func.count(Customer.id)).select_from(Customer), db.kind)
        return int(session.scalar(stmt) or 0)


def iter_customers(
    db: Database, actor: Actor, query: CustomerQuery, batch: int = 5000
) -> Iterator[list[CustomerRow]]:
    """Every row of a query in batches (for export), streamed rather than loaded at once."""
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        result = session.execute(
            _list_statement(query, db.kind).execution_options(yield_per=batch, stream_results=True)
        )
        for part in result.partitions(batch):
            yield [CustomerRow(*row) for row in part]


def distinct_segments(db: Database) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(Customer.segment)
                .where(Customer.segment.is_not(None))
                .distinct()
                .order_by(Customer.segment)
            )
        )


def payment_terms(db: Database) -> list[tuple[str, str]]:
    with db.read() as session:
        return [
            (t.code, t.description)
            for t in session.scalars(
                select(PaymentTerms).order_by(PaymentTerms.net_days, PaymentTerms.code)
            )
        ]


# ---------------------------------------------------------------------------------------------
# One customer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    title: str | None
    email: str | None
    phone: str | None
    is_primary: bool
    receives_statements: bool
    notes: str | None
    version: int


@dataclass(frozen=True)
class CustomerDetail:
    id: int
    version: int
    values: dict[str, Any]  # every editable field, by field name (collector = username)
    collector_name: str | None
    payment_terms_text: str
    exposure: Decimal
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    contacts: list[ContactRow] = field(default_factory=list)
    temporary_limit: Decimal | None = None
    temporary_limit_until: date | None = None

    @property
    def number(self) -> str:
        return self.values["number"]

    @property
    def name(self) -> str:
        return self.values["name"]

    @property
    def currency(self) -> str:
        return self.values["currency"]

    @property
    def credit_limit(self) -> Decimal:
        return self.values["credit_limit"]

    @property
    def effective_limit(self) -> Decimal:
        """Today's limit: the temporary one up to its last day, else the permanent one."""
        return effective_limit(
            self.credit_limit, self.temporary_limit, self.temporary_limit_until, date.today()
        )

    @property
    def available_credit(self) -> Decimal:
        return self.effective_limit - self.exposure

    @property
    def utilization(self) -> Decimal | None:
        limit = self.effective_limit
        return self.exposure / limit if limit else None


def _stored_values(session: Session, customer: Customer) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name == "collector":
            values["collector"] = (
                session.get(User, customer.collector_id).username if customer.collector_id else None
            )
        else:
            values[spec.name] = getattr(customer, STORED_COLUMN.get(spec.name, spec.name))
    return values


def _detail(session: Session, customer: Customer) -> CustomerDetail:
    collector = session.get(User, customer.collector_id) if customer.collector_id else None
    updater = session.get(User, customer.updated_by_id) if customer.updated_by_id else None
    terms = session.get(PaymentTerms, customer.payment_terms_code)
    contacts = [
        ContactRow(
            c.id,
            c.name,
            c.title,
            c.email,
            c.phone,
            c.is_primary,
            c.receives_statements,
            c.notes,
            c.version,
        )
        for c in customer.contacts
    ]
    return CustomerDetail(
        id=customer.id,
        version=customer.version,
        values=_stored_values(session, customer),
        collector_name=collector.display_name if collector else None,
        payment_terms_text=terms.description if terms else customer.payment_terms_code,
        exposure=customer.exposure,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        updated_by=updater.display_name if updater else None,
        contacts=contacts,
        temporary_limit=customer.temporary_limit,
        temporary_limit_until=customer.temporary_limit_until,
    )


def get_customer(db: Database, actor: Actor, customer_id: int) -> CustomerDetail:
    actor.require(Permission.VIEW_CUSTOMERS)
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"Customer #{customer_id} does not exist (deleted by another user?).")
        return _detail(session, customer)


def find_customer_id(db: Database, number: str) -> int | None:
    with db.read() as session:
        return session.scalar(select(Customer.id).where(Customer.number == number))


# ---------------------------------------------------------------------------------------------
# Create, edit, delete
# ---------------------------------------------------------------------------------------------


def parse_values(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Parse every given field; unknown field names are problems too (a typo must not vanish)."""
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, value in raw.items():
        if name not in BY_NAME:
            problems.append(FieldProblem(name, "no such customer field"))
            continue
        try:
            values[name] = parse_field(name, value)
        except ValueError as exc:
            problems.append(
                FieldProblem(name, str(exc), value=None if value is None else str(value))
            )
    return values, problems


class ResolvedRefs:
    """Looks up payment terms and collectors once per unit of work (imports check many rows)."""

    def __init__(self, session: Session):
        self.session = session
        self.terms = set(session.scalars(select(PaymentTerms.code)))
        self._users: dict[str, int | None] = {}

    def collector_id(self, username: str) -> int | None:
        if username not in self._users:
            self._users[username] = self.session.scalar(
                select(User.id).where(User.username == username, User.active.is_(True))
            )
        return self._users[username]


def check_values(
    refs: ResolvedRefs,
    values: Mapping[str, Any],
    merged: Mapping[str, Any],
    customer_id: int | None,
) -> list[FieldProblem]:
    """Rules across fields and against the database: terms exist, collector exists, decimals."""
    problems = []
    for required in ("currency", "payment_terms"):  # they have defaults, but never blank
        if required in values and not values[required]:
            problems.append(FieldProblem(required, "required"))
    if values.get("payment_terms") and values["payment_terms"] not in refs.terms:
        problems.append(
            FieldProblem(
                "payment_terms",
                f"unknown payment terms; one of {', '.join(sorted(refs.terms))}",
                value=values["payment_terms"],
            )
        )
    if values.get("collector") and refs.collector_id(values["collector"]) is None:
        problems.append(
            FieldProblem(
                "collector", "no active user with that username", value=values["collector"]
            )
        )
    if {"credit_limit", "currency"} & values.keys() and merged.get("currency"):
        reason = check_limit_decimals(merged.get("credit_limit") or Decimal(0), merged["currency"])
        if reason:
            problems.append(FieldProblem("credit_limit", reason))
    if "number" in values:
        clash = refs.session.scalar(
            select(Customer.id).where(
                Customer.number == values["number"], Customer.id != (customer_id or 0)
            )
        )
        if clash:
            problems.append(
                FieldProblem(
                    "number", "another customer already has this number", value=values["number"]
                )
            )
    return problems


def require_field_permissions(actor: Actor, changed: set[str]) -> None:
    if changed & CREDIT_FIELDS:
        actor.require(Permission.EDIT_CREDIT_TERMS)
    if "collector" in changed:
        actor.require(Permission.ASSIGN_COLLECTOR)
    if changed - CREDIT_FIELDS - {"collector"}:
        actor.require(Permission.EDIT_CUSTOMER_DETAILS)


def _apply(customer: Customer, values: Mapping[str, Any], refs: ResolvedRefs) -> None:
    for name, value in values.items():
        if name == "collector":
            customer.collector_id = refs.collector_id(value) if value else None
        else:
            setattr(customer, STORED_COLUMN.get(name, name), value)


def write_search_terms(session: Session, customer_id: int, values: Mapping[str, Any]) -> None:
    session.execute(delete(CustomerSearchTerm).where(CustomerSearchTerm.customer_id == customer_id))
    terms = terms_for(
        values["number"], [values.get("name"), values.get("legal_name")], values.get("tax_id")
    )
    if terms:
        session.execute(
            insert(CustomerSearchTerm),
            [{"term": t, "customer_id": customer_id} for t in sorted(terms)],
        )


def create_in_session(
    session: Session, actor: Actor, refs: ResolvedRefs, values: Mapping[str, Any]
) -> Customer:
    """Insert a validated customer with its audit rows and search terms (no commit)."""
    now = utcnow()
    customer = Customer(
        created_at=now,
        updated_at=now,
        created_by_id=actor.user_id or None,
        updated_by_id=actor.user_id or None,
        exposure=Decimal(0),
    )
    _apply(customer, values, refs)
    session.add(customer)
    session.flush()
    write_search_terms(session, customer.id, values)
    audit_change(
        session,
        actor,
        audit.CREATE,
        customer,
        {k: (None, v) for k, v in values.items() if v not in (None, "")},
        customer_id=customer.id,
    )
    return customer


def create_customer(db: Database, actor: Actor, raw: Mapping[str, Any]) -> CustomerDetail:
    """Create a customer from typed input. A clerk's new customer starts without credit terms
    beyond the defaults: giving a limit or risk class needs a credit manager."""
    actor.require(Permission.CREATE_CUSTOMER)
    values, problems = parse_values(raw)
    for spec in FIELDS:
        if (
            spec.required
            and spec.name not in values
            and not any(p.field == spec.name for p in problems)
        ):
            problems.append(FieldProblem(spec.name, "required"))
    merged = {**DEFAULTS, **{k: v for k, v in values.items() if v is not None or k not in DEFAULTS}}
    nondefault = {k for k, v in merged.items() if v not in (None, "") and DEFAULTS.get(k) != v}
    require_field_permissions(actor, nondefault | {"name"})
    with db.write() as session:
        refs = ResolvedRefs(session)
        problems += check_values(refs, merged, merged, None)
        if problems:
            raise ValidationFailed(problems)
        try:
            customer = create_in_session(session, actor, refs, merged)
        except IntegrityError:
            raise ValidationFailed(
                [FieldProblem("number", "another customer already has this number")]
            ) from None
        return _detail(session, customer)


def update_customer(
    db: Database, actor: Actor, customer_id: int, expected_version: int, raw: Mapping[str, Any]
) -> CustomerDetail:
    """Save edits made on version `expected_version`. If someone saved in between, raise a
    ConflictError naming them and what they changed; nothing is written."""
    values, problems = parse_values(raw)
    with db.write() as session:
        # Row lock on PostgreSQL (SQLite has BEGIN IMMEDIATE): a concurrent save waits, then
        # sees the new version and gets a ConflictError instead of a StaleDataError.
        customer = session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise NotFound(f"Customer #{customer_id} was deleted by another user.")
        if customer.version != expected_version:
            raise _conflict(session, customer, expected_version)
        before = _stored_values(session, customer)
        changed = {k: v for k, v in values.items() if before.get(k) != v}
        require_field_permissions(actor, set(changed) | {p.field for p in problems})
        refs = ResolvedRefs(session)
        problems += check_values(refs, changed, {**before, **changed}, customer.id)
        if problems:
            raise ValidationFailed(problems)
        if not changed:
            return _detail(session, customer)
        require_limit_authority(session, actor, customer, {**before, **changed}, changed)
        _apply(customer, changed, refs)
        customer.updated_at = utcnow()
        customer.updated_by_id = actor.user_id or None
        session.flush()
        if {"number", "name", "legal_name", "tax_id"} & changed.keys():
            write_search_terms(session, customer.id, {**before, **changed})
        audit_change(
            session,
            actor,
            audit.UPDATE,
            customer,
            {k: (before.get(k), v) for k, v in changed.items()},
            customer_id=customer.id,
        )
        return _detail(session, customer)


def require_limit_authority(
    session: Session,
    actor: Actor,
    customer: Customer,
    merged: Mapping[str, Any],
    changed: Mapping[str, Any],
) -> None:
    """Raising a customer's credit limit on the form needs the approval authority to grant the
    new limit alone, in the customer's currency; otherwise the form would be a way round the
    authority bands, four eyes and the checklist of a credit application (services.
    credit_decisions). Lowering is always allowed; a change of currency counts as a new limit.
    (A temporary limit is not on the form: only a decision sets one.) Administrators are
    exempt: they assign the authorities themselves, and every change is audited anyway.
    Imports and new customers (the initial data load) are not checked."""
    if Role.ADMINISTRATOR in actor.roles or not ({"credit_limit", "currency"} & changed.keys()):
        return
    limit, currency = merged.get("credit_limit") or Decimal(0), merged["currency"]
    if limit <= (customer.credit_limit if currency == customer.currency else 0):
        return
    authority = credit_authority.authority_of(session, actor.user_id, actor.roles, currency)
    if authority.alone_max < limit:
        raise PermissionDenied(
            f"{actor.display_name} may not raise the credit limit of {customer.number} to "
            f"{money_text(limit, currency)}: their approval authority is "
            f"{authority.describe()}. Use a credit application."
        )


def _conflict(session: Session, customer: Customer, expected_version: int) -> ConflictError:
    since = audit.changes_since(session, "customers", customer.id, expected_version)
    updater = session.get(User, customer.updated_by_id) if customer.updated_by_id else None
    who, at, values = since or (
        updater.username if updater else "another user",
        customer.updated_at,
        {},
    )
    labels = {BY_NAME[k].label if k in BY_NAME else k: v for k, v in values.items()}
    return ConflictError(
        ConflictDetails("Customer", customer.number, who, f"{at:%Y-%m-%d %H:%M} UTC", labels)
    )


def delete_customer(db: Database, actor: Actor, customer_id: int, expected_version: int) -> None:
    actor.require(Permission.DELETE_CUSTOMER)
    with db.write() as session:
        customer = session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            return
        if customer.version != expected_version:
            raise _conflict(session, customer, expected_version)
        before = _stored_values(session, customer)
        audit.record(
            session,
            actor,
            audit.DELETE,
            "customers",
            customer.id,
            customer_id=customer.id,
            changes={k: (v, None) for k, v in before.items() if v not in (None, "")},
        )
        session.delete(customer)
