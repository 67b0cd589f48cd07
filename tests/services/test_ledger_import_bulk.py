"""The invoice import's paths for big files, on small files: the thresholds are lowered so that
every import here reads all customers at once, finds stored invoices through a temporary
table, drops and rebuilds the indexes of `invoices` and `audit_log`, and refreshes exposure
set-based. What comes out must be what the small-file path gives (tests/services/
test_ledger_import.py holds the same files' expected figures), on both engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select, type_coerce

from o2c_desktop.db import Database, bulk
from o2c_desktop.db.types import Money
from o2c_desktop.errors import Cancelled, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer, Invoice
from o2c_desktop.services import ledger_import
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.exposure import exposure_expression
from o2c_desktop.services.ledger_import import LedgerImportOptions, import_invoices
from tests.services.test_ledger_import import (
    INVOICE_HEADER,
    add_customer,
    count,
    exposure,
    invoice_file,
    invoices,
    problems_of,
    write_csv,
)


@pytest.fixture(autouse=True)
def big_file_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "REBUILD_INDEXES_FROM_ROWS", 1)
    monkeypatch.setattr(ledger_import, "LOOKUP_CHUNK", 2)
    monkeypatch.setattr(ledger_import, "READ_ALL_CUSTOMERS_SHARE", 0)
    monkeypatch.setattr(ledger_import, "EXPOSURE_ALL_AFTER", 0)


@pytest.fixture
def book(db: Database, admin: Actor) -> dict[str, int]:
    return {
        "C-1": add_customer(db, admin, "C-1").id,
        "C-2": add_customer(db, admin, "C-2", "USD", "EOM30").id,
        "C-3": add_customer(db, admin, "C-3", "EUR", "2/10N30").id,
    }


def index_names(db: Database) -> dict[str, set[str]]:
    with db.engine.connect() as conn:
        found = inspect(conn)
        return {
            t: {i["name"] for i in found.get_indexes(t) if not i.get("unique")}
            for t in ("invoices", "audit_log")
        }


def expected_indexes() -> dict[str, set[str]]:
    return {
        t.name: {str(i.name) for i in t.indexes} for t in (Invoice.__table__, AuditEntry.__table__)
    }


def test_big_path_writes_what_the_small_path_writes(db, admin, book, tmp_path):
    report = import_invoices(db, admin, invoice_file(tmp_path))
    assert (report.rows, report.created, report.credit_notes) == (4, 4, 1)
    items = invoices(db)
    first = items[("invoice", "0001001")]
    assert (first.customer_id, first.due_date, first.amount, first.open_amount) == (
        book["C-1"],
        date(2024, 2, 14),
        Decimal("1234.50"),
        Decimal("1234.50"),
    )
    discounted = items[("invoice", "0001003")]
    assert (discounted.discount_percent, discounted.discount_until) == (
        Decimal(2),
        date(2024, 2, 11),
    )
    assert items[("credit_note", "CN-7")].due_date == date(2024, 1, 31)
    assert (first.disputed_amount, first.dunning_level, first.version) == (Decimal(0), 0, 1)
    assert exposure(db, book["C-1"]) == Decimal("1034.50")
    assert exposure(db, book["C-2"]) == Decimal("99.99")
    assert exposure(db, book["C-3"]) == Decimal("1000.00")
    with db.read() as session:
        notes = list(
            session.scalars(
                select(AuditEntry.new_value)
                .where(AuditEntry.table_name == "invoices")
                .order_by(AuditEntry.id)
            )
        )
    assert notes[0] == (
        "invoice 0001001: 1234.50 EUR, issued 2024-01-15, due 2024-02-14; "
        "imported from invoices.csv, row 2"
    )
    assert len(notes) == 4
    # The indexes dropped for the load are all back.
    assert index_names(db) == expected_indexes()


def test_reimport_through_the_staged_keys_is_a_no_op_and_changes_are_refused(
    db, admin, book, tmp_path
):
    path = invoice_file(tmp_path)
    import_invoices(db, admin, path)
    before = (count(db, Invoice), count(db, AuditEntry))
    report = import_invoices(db, admin, path)
    assert (report.created, report.unchanged) == (0, 4)
    assert (count(db, Invoice), count(db, AuditEntry)) == before
    changed = write_csv(
        tmp_path / "changed.csv",
        [
            INVOICE_HEADER,
            ["C-1", "0001001", "2024-01-15", "", "1234.60", ""],
            ["C-2", "0001002", "2024-01-20", "", "99.99", ""],
            ["C-2", "CN-7", "2024-01-31", "", "-200", "USD"],
            ["C-1", "0001009", "2024-01-31", "", "5", ""],
        ],
    )
    with pytest.raises(ValidationFailed) as exc:
        import_invoices(db, admin, changed)
    assert problems_of(exc) == [
        "row 2, number (value '0001001'): invoice 0001001 already exists with amount 1234.50 "
        "(this row: 1234.60); an import never changes a stored document",
        "row 4, number (value 'CN-7'): credit note CN-7 already exists with customer C-1 "
        "(this row: C-2), currency EUR (this row: USD); an import never changes a stored "
        "document",
    ]
    assert count(db, Invoice) == 4


def test_a_cancel_after_the_indexes_were_dropped_leaves_them_and_writes_nothing(
    db, admin, book, tmp_path, monkeypatch
):
    monkeypatch.setattr(ledger_import, "BULK_WRITE_CHUNK", 3)
    rows = [INVOICE_HEADER] + [["C-1", f"X-{i}", "2024-01-15", "", "1.00", ""] for i in range(9)]
    path = write_csv(tmp_path / "nine.csv", rows)
    seen: list[int] = []
    audit_before = count(db, AuditEntry)
    with pytest.raises(Cancelled, match="nothing was written"):
        import_invoices(
            db,
            admin,
            path,
            progress=lambda done, _total: seen.append(done),
            cancelled=lambda: bool(seen) and seen[-1] > 9,  # after the first chunk is written
        )
    assert (count(db, Invoice), count(db, AuditEntry)) == (0, audit_before)
    assert index_names(db) == expected_indexes()
    assert import_invoices(db, admin, path).created == 9


def test_text_that_copy_must_escape_round_trips(db, admin, book, tmp_path):
    awkward = ["tab\there", "back\\slash", "\\N", "line\nbreak", "cr\rhere"]
    rows = [[*INVOICE_HEADER, "external_id"]] + [
        ["C-1", f"E-{k}", "2024-01-15", "", "1.00", "", text] for k, text in enumerate(awkward)
    ]
    import_invoices(db, admin, write_csv(tmp_path / "awkward.csv", rows))
    stored = {i.number: i.external_id for i in invoices(db).values()}
    assert stored == {f"E-{k}": text for k, text in enumerate(awkward)}


def test_new_customers_and_set_based_exposure_agree_with_the_definition(db, admin, book, tmp_path):
    path = write_csv(
        tmp_path / "mixed.csv",
        [
            INVOICE_HEADER,
            ["C-1", "M-1", "2024-01-15", "", "100.00", ""],
            ["C-1", "M-2", "2024-01-15", "", "50.00", "USD"],  # not in C-1's currency
            ["NEW-1", "M-3", "2024-01-15", "", "70.00", "GBP"],
            ["NEW-1", "M-4", "2024-01-16", "", "-20.00", "GBP"],
        ],
    )
    report = import_invoices(db, admin, path, LedgerImportOptions(create_missing_customers=True))
    assert report.customers_created == 1
    with db.read() as session:
        stored = dict(session.execute(select(Customer.number, Customer.exposure)).all())
        defined = dict(
            session.execute(
                select(Customer.number, type_coerce(exposure_expression(), Money()))
            ).all()
        )
    assert stored["C-1"] == Decimal("100.00")  # the USD item is left out of a EUR exposure
    assert stored["NEW-1"] == Decimal("50.00")
    assert stored == defined
