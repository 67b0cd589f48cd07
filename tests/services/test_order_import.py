"""Order import: holds row by row with the exposure growing within the file, all or nothing with
one line per problem (row, column, value, reason), re-import as a no-op, dry run, mapping and
number formats, XLSX, progress and cancel. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from o2c_desktop.db import Database
from o2c_desktop.errors import Cancelled, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, Order
from o2c_desktop.services import customers, ledger, ledger_import, order_import, orders
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.order_import import OrderImportOptions, import_orders
from tests.services.test_ledger_import import count, write_csv
from tests.services.test_orders import run_together, wait_for_lock_waiters

HEADER = ["customer", "number", "order_date", "amount", "currency", "external_id"]


def exposure(db: Database, number: str) -> Decimal:
    with db.read() as session:
        return session.scalars(select(Customer.exposure).where(Customer.number == number)).one()


@pytest.fixture
def book(db: Database, admin: Actor) -> dict[str, int]:
    """A (limit 10,000, no items), B (USD, on hold), C (limit 100,000, 2,000 open)."""
    a = customers.create_customer(
        db, admin, {"number": "A", "name": "Alpha", "credit_limit": 10000}
    )
    b = customers.create_customer(
        db,
        admin,
        {"number": "B", "name": "Beta", "currency": "USD", "on_hold": True, "hold_reason": "audit"},
    )
    c = customers.create_customer(
        db, admin, {"number": "C", "name": "Gamma", "credit_limit": "100000"}
    )
    ledger.post_invoice(db, admin, c.id, "I-1", date.today(), "2000")
    return {"A": a.id, "B": b.id, "C": c.id}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "orders.csv",
        [
            HEADER,
            ["A", "SO-1", "2026-01-05", "4000", "", ""],
            ["A", "SO-2", "2026-01-06", "5000.00", "EUR", "ERP-2"],
            ["C", "SO-3", "2026-01-06", "1234.56", "", ""],
            ["A", "SO-4", "2026-01-07", "2000", "", ""],  # 9,000 + 2,000 > 10,000: held
            ["A", "SO-5", "2026-01-07", "1000", "", ""],  # 9,000 + 1,000 = 10,000: open
            ["B", "SO-6", "2026-01-08", "10", "USD", ""],  # on hold
        ],
    )


def test_holds_accumulate_within_the_file(
    db: Database, clerk: Actor, book: dict[str, int], good: Path
) -> None:
    report = import_orders(db, clerk, good)
    assert report.summary() == (
        "orders.csv: 6 orders read: 6 entered (2 held), 0 already there; "
        "total 13,234.56 EUR, 10.00 USD"
    )
    found = {o.number: o for o in orders.list_orders(db, clerk, orders.OrderQuery(statuses=()))}
    assert {n: o.status for n, o in found.items()} == {
        "SO-1": "open",
        "SO-2": "open",
        "SO-3": "open",
        "SO-4": "held",
        "SO-5": "open",
        "SO-6": "held",
    }
    assert found["SO-4"].hold_reasons == (
        "exceeds available credit: exposure EUR 9,000.00 + order EUR 2,000.00 = "
        "EUR 11,000.00 over limit EUR 10,000.00",
    )
    assert found["SO-6"].hold_reasons[0] == "customer on hold: audit"
    assert (found["SO-2"].external_id, found["SO-2"].entered_by, found["SO-2"].amount) == (
        "ERP-2",
        "Clara",
        Decimal("5000.00"),
    )
    assert found["SO-1"].order_date == date(2026, 1, 5)
    assert exposure(db, "A") == Decimal("10000.00")
    assert exposure(db, "C") == Decimal("3234.56")
    assert exposure(db, "B") == 0
    with db.read() as session:
        note = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "orders", AuditEntry.record_id == str(found["SO-4"].id)
            )
        ).one()
    assert note.startswith("order SO-4: 2000.00 EUR, dated 2026-01-07; imported from orders.csv")
    assert "held: exceeds available credit" in note
    # The queue takes them like entered ones; the next order entered sees the import's exposure.
    assert [o.number for o in orders.holds_queue(db, clerk)] == ["SO-4", "SO-6"]
    assert orders.enter_order(db, clerk, {"customer": "A", "amount": "0.01"}).status == "held"


def test_reimporting_the_same_file_changes_nothing(
    db: Database, clerk: Actor, book: dict[str, int], good: Path
) -> None:
    import_orders(db, clerk, good)
    before = (count(db, Order), count(db, AuditEntry), exposure(db, "A"))
    again = import_orders(db, clerk, good)
    assert again.summary() == "orders.csv: 6 orders read: 0 entered (0 held), 6 already there"
    assert (count(db, Order), count(db, AuditEntry), exposure(db, "A")) == before


def test_a_stored_number_with_other_content_refuses_the_file(
    db: Database, clerk: Actor, book: dict[str, int], tmp_path: Path
) -> None:
    orders.enter_order(db, clerk, {"customer": "C", "number": "SO-1", "amount": "10"})
    path = write_csv(
        tmp_path / "o.csv",
        [HEADER, ["C", "SO-1", "2026-01-05", "11", "", ""], ["C", "N", "2026-01-05", "1", "", ""]],
    )
    with pytest.raises(ValidationFailed) as exc:
        import_orders(db, clerk, path)
    assert [str(p) for p in exc.value.problems] == [
        "row 2, number (value 'SO-1'): order SO-1 already exists for customer C, amount 10.00 "
        "(this row: C, 11.00); an import never changes a stored order"
    ]
    assert count(db, Order) == 1


def test_any_bad_row_refuses_the_whole_file(
    db: Database, clerk: Actor, book: dict[str, int], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            HEADER,
            ["A", "SO-1", "2026-01-05", "100", "", ""],
            ["NOPE", "SO-2", "2026-01-05", "100", "", ""],
            ["A", "SO-3", "05.01.2026", "100", "", ""],
            ["A", "SO-4", "2026-01-05", "1.234", "", ""],
            ["A", "SO-5", "2026-01-05", "0", "", ""],
            ["A", "SO-6", "2026-01-05", "100", "USD", ""],
            ["A", "SO-1", "2026-01-05", "100", "", ""],
            ["A", "SO-8", "1899-12-31", "-5", "", ""],
            ["A", "", "2026-01-05", "abc", "", ""],
            ["A", "SO-11", "2026-01-05", "NaN", "", ""],
            ["A", "SO-12", "2026-01-05", "Infinity", "", ""],
        ],
    )
    with pytest.raises(ValidationFailed) as exc:
        import_orders(db, clerk, path)
    assert [str(p) for p in exc.value.problems] == [
        "row 3, customer (value 'NOPE'): unknown customer (import the customers first)",
        "row 4, order_date (value '05.01.2026'): not a date (YYYY-MM-DD); for other layouts "
        "use --date-format, e.g. %m/%d/%Y",
        "row 5, amount (value '1.234'): EUR amounts have at most 2 decimals",
        "row 6, amount (value '0'): must be more than zero",
        "row 7, currency (value 'USD'): customer A is in EUR; an order is in its customer's "
        "currency",
        "row 8, number (value 'SO-1'): the same order number is on row 2",
        "row 9, order_date (value '1899-12-31'): a date from 1900-01-01 to 2999-12-31",
        "row 9, amount (value '-5'): must be more than zero",
        "row 10, number (value ''): required",
        "row 10, amount (value 'abc'): not a number",
        "row 11, amount (value 'NaN'): not a number",
        "row 12, amount (value 'Infinity'): not a number",
    ]
    assert str(exc.value).startswith("bad.csv: 12 problem(s), nothing was saved:")
    assert (count(db, Order), exposure(db, "A")) == (0, 0)


def test_dry_run_reports_the_holds_and_writes_nothing(
    db: Database, clerk: Actor, book: dict[str, int], good: Path
) -> None:
    audit_rows = count(db, AuditEntry)
    report = import_orders(db, clerk, good, OrderImportOptions(dry_run=True))
    assert (report.entered, report.held, report.unchanged, report.dry_run) == (6, 2, 0, True)
    assert report.summary().endswith("(dry run: nothing written)")
    assert (count(db, Order), count(db, AuditEntry)) == (0, audit_rows)


def test_mapping_dates_and_decimal_commas(
    db: Database, clerk: Actor, book: dict[str, int], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "erp.csv",
        [
            ["Kunde", "Auftrag", "Datum", "Betrag", "Notiz"],
            ["C", "A-1", "05.01.2026", "1.234,50", "x"],
            ["C", "A-2", "06.01.2026", "7", ""],
        ],
        delimiter=";",
    )
    options = OrderImportOptions(
        mapping=order_import.parse_mapping(
            ["customer=Kunde", "number=Auftrag", "order_date=Datum", "amount=Betrag"]
        ),
        date_format="%d.%m.%Y",
        decimal_comma=True,
    )
    report = import_orders(db, clerk, path, options)
    assert report.summary() == (
        "erp.csv: 2 orders read: 2 entered (0 held), 0 already there; total 1,241.50 EUR; "
        "ignored columns: Notiz"
    )
    assert exposure(db, "C") == Decimal("3241.50")
    with pytest.raises(O2CError, match="'colour' is not a field of orders"):
        order_import.parse_mapping(["colour=Farbe"])
    with pytest.raises(O2CError, match="no column for amount"):
        import_orders(
            db, clerk, write_csv(tmp_path / "x.csv", [["customer", "number", "order_date"]])
        )


def test_xlsx_numbers_are_read_exactly(
    db: Database, clerk: Actor, book: dict[str, int], tmp_path: Path
) -> None:
    book_ = Workbook()
    sheet = book_.active
    assert sheet is not None
    sheet.append(["Customer number", "Order number", "Order date", "Amount"])
    sheet.append(["C", 1001, date(2026, 1, 5), 1234.56])
    sheet.append(["C", "1002", "2026-01-06", 0.1])
    path = tmp_path / "orders.xlsx"
    book_.save(path)
    report = import_orders(db, clerk, path)
    assert (report.entered, report.held) == (2, 0)
    assert exposure(db, "C") == Decimal("3234.66")
    numbers = [o.number for o in orders.list_orders(db, clerk, orders.OrderQuery(statuses=()))]
    assert sorted(numbers) == ["1001", "1002"]


def test_progress_cancel_and_permission(
    db: Database, clerk: Actor, collector: Actor, book: dict[str, int], good: Path
) -> None:
    polls: list[int] = []

    def cancel_while_writing() -> bool:
        polls.append(1)
        return len(polls) > 2  # after the rows were checked

    with pytest.raises(Cancelled):
        import_orders(db, clerk, good, cancel=cancel_while_writing)
    assert count(db, Order) == 0
    seen: list[tuple[int, int]] = []
    import_orders(db, clerk, good, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)
    with pytest.raises(PermissionDenied):
        import_orders(db, collector, good)


def test_the_import_dialog_helpers_know_orders(good: Path) -> None:
    """The GUI's mapping step and preview (ledger_import) read order files too."""
    headers = ledger_import.read_headers(good)
    assert ledger_import.suggest_mapping("orders", headers) == {n: n for n in HEADER}
    shown = ledger_import.preview("orders", good, limit=1)
    assert (shown.rows, shown.problems, shown.sample[0].values["amount"]) == (6, 0, "4000")
    assert [f.name for f in order_import.FIELDS] == HEADER


# ---------------------------------------------------------------------------------------------
# An import and an order entry at the same moment
# ---------------------------------------------------------------------------------------------


def test_an_entry_racing_an_import_for_the_same_customer_queues_behind_it(
    db: Database, clerk: Actor, manager: Actor, book: dict[str, int], good: Path
) -> None:
    """PostgreSQL: a third connection holds the orders table until the import waits for it and
    the entry for customer A waits too, then lets go; locks taken in different orders deadlock
    there (the import's foreign-key check waiting for A, the entry's insert for the table)."""
    holder = db.engine.connect() if db.kind == "postgresql" else None
    if holder is not None:
        holder.execute(text("LOCK TABLE orders IN SHARE MODE"))

    def entry() -> orders.OrderView:
        wait_for_lock_waiters(db, 1)  # the import is under way
        return orders.enter_order(db, manager, {"customer": "A", "amount": "10"})

    def let_go() -> None:
        wait_for_lock_waiters(db, 2)
        if holder is not None:
            holder.commit()

    try:
        imported, entered, _ = run_together(lambda: import_orders(db, clerk, good), entry, let_go)
    finally:
        if holder is not None:
            holder.close()
    assert isinstance(entered, orders.OrderView), entered
    if isinstance(imported, O2CError):
        assert "another user changed these customers at the same moment" in str(imported)
        assert count(db, Order) == 1
    else:
        assert isinstance(imported, order_import.OrderImportReport), imported
        assert (imported.entered, entered.status) == (6, "held")  # after the import's 10,000
        assert exposure(db, "A") == Decimal("10000.00")


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SQLite's writers queue instead
def test_a_deadlock_that_still_happens_is_a_message(
    db: Database, clerk: Actor, book: dict[str, int], good: Path
) -> None:
    """A writer taking the locks the other way round (the orders table, then a customer of the
    file) deadlocks with the import; PostgreSQL ends the import, which says so."""
    with db.engine.connect() as holder:
        holder.execute(text("LOCK TABLE orders IN SHARE MODE"))

        def other_way_round() -> None:
            wait_for_lock_waiters(db, 1)  # the import holds its customers, waits for orders
            holder.execute(text("SELECT id FROM customers WHERE number = 'A' FOR UPDATE"))
            holder.commit()

        imported, _ = run_together(lambda: import_orders(db, clerk, good), other_way_round)
    assert isinstance(imported, O2CError), imported
    assert str(imported) == (
        "orders.csv: another user changed these customers at the same moment; nothing was "
        "imported, try again."
    )
    assert count(db, Order) == 0
