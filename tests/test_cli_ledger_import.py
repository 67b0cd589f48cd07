"""`o2c-desktop import invoices|payments`: the IBM sample end to end, and one clear line per
problem. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from o2c_desktop.cli import EXIT_ERROR, main
from o2c_desktop.db import Database
from o2c_desktop.models import Allocation, AuditEntry, Customer, Invoice, Payment
from o2c_desktop.services import customers

ROOT = Path(__file__).resolve().parent.parent
IBM = ROOT.parent / "shared" / "data" / "ibm-accounts-receivable.csv"
IBM_INVOICES = [
    "--map", "customer=customerID",
    "--map", "number=invoiceNumber",
    "--map", "issue_date=InvoiceDate",
    "--map", "due_date=DueDate",
    "--map", "amount=InvoiceAmount",
    "--date-format", "%m/%d/%Y",
    "--create-missing-customers",
]  # fmt: skip
IBM_PAYMENTS = [
    "--map", "customer=customerID",
    "--map", "date=SettledDate",
    "--map", "amount=InvoiceAmount",
    "--map", "invoice=invoiceNumber",
    "--date-format", "%m/%d/%Y",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2C_USER", "tester")


def cli_url(db: Database) -> str:
    if db.kind == "sqlite":
        return f"sqlite:///{db.sqlite_path}"
    return db.url.render_as_string(hide_password=False)


def run(db: Database, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--database", cli_url(db), "import", *argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err


def write_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def counts(db: Database) -> tuple[int, ...]:
    return tuple(count(db, m) for m in (Customer, Invoice, Payment, Allocation, AuditEntry))


# ---------------------------------------------------------------------------------------------
# The IBM "Accounts Receivable" sample: US dates, leading-zero numbers, options only
# ---------------------------------------------------------------------------------------------


def ibm_rows() -> list[dict[str, str]]:
    if not IBM.exists():
        pytest.skip(f"the IBM sample is not at {IBM}")
    with IBM.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def us_date(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def open_at(db: Database, day: date) -> Decimal:
    """Open AR at `day` from the dated rows (domain.md): amounts issued by then, less the
    allocations dated by then and not reversed by then."""
    with db.read() as session:
        issued = session.scalar(
            select(func.coalesce(func.sum(Invoice.amount), 0)).where(Invoice.issue_date <= day)
        )
        settled = session.scalar(
            select(func.coalesce(func.sum(Allocation.amount), 0))
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(
                Invoice.issue_date <= day,
                Allocation.date <= day,
                (Allocation.reversed_on.is_(None)) | (Allocation.reversed_on > day),
            )
        )
    return Decimal(issued) - Decimal(settled)


def test_ibm_sample_end_to_end(db, admin, capsys):
    rows = ibm_rows()
    total = sum(Decimal(r["InvoiceAmount"]) for r in rows)
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_customer[r["customerID"]] += Decimal(r["InvoiceAmount"])
    assert (len(rows), len(by_customer), total) == (2466, 100, Decimal("147703.18"))
    ignored = "countryCode, PaperlessDate, Disputed, SettledDate, PaperlessBill, DaysToSettle, "

    # Invoices, creating the customers (EUR: the file names no currency)
    code, out, err = run(db, capsys, "invoices", str(IBM), *IBM_INVOICES)
    assert (code, err) == (0, "")
    assert out == (
        "ibm-accounts-receivable.csv: 2,466 rows: 2,466 invoices and 0 credit notes created, "
        "0 unchanged; 100 customers created; total 147,703.18 EUR; ignored columns: "
        + ignored
        + "DaysLate"
    )
    with db.read() as session:
        stored = session.execute(
            select(Customer.number, func.sum(Invoice.amount), func.sum(Invoice.open_amount))
            .join(Invoice, Invoice.customer_id == Customer.id)
            .group_by(Customer.number)
        ).all()
        people = session.execute(select(Customer.number, Customer.name, Customer.currency)).all()
        first = session.execute(
            select(Invoice.__table__).where(Invoice.number == "0000611365")
        ).one()
        exposures = {n: e for n, e in session.execute(select(Customer.number, Customer.exposure))}
    assert {n: (a, o) for n, a, o in stored} == {n: (t, t) for n, t in by_customer.items()}
    assert exposures == dict(by_customer)
    assert all(name == number and currency == "EUR" for number, name, currency in people)
    assert (first.kind, first.issue_date, first.due_date, first.amount, first.currency) == (
        "invoice",
        date(2013, 1, 2),
        date(2013, 2, 1),
        Decimal("55.94"),
        "EUR",
    )
    assert first.customer_id == customers.find_customer_id(db, "0379-NEVHP")

    # The same file again: nothing changes
    before = counts(db)
    code, out, _ = run(db, capsys, "invoices", str(IBM), *IBM_INVOICES)
    assert code == 0
    assert "0 invoices and 0 credit notes created, 2,466 unchanged;" in out
    assert counts(db) == before == (100, 2466, 0, 0, 1 + 100 + 2466)

    # Payments: the settled date and amount of each invoice settle it
    code, out, err = run(db, capsys, "payments", str(IBM), *IBM_PAYMENTS)
    assert (code, err) == (0, "")
    assert out == (
        "ibm-accounts-receivable.csv: 2,466 rows: 2,466 payments created, 0 unchanged; "
        "2,466 allocations, 0 with unapplied cash; total 147,703.18 EUR; ignored columns: "
        "countryCode, PaperlessDate, InvoiceDate, DueDate, Disputed, PaperlessBill, "
        "DaysToSettle, DaysLate"
    )
    with db.read() as session:
        assert session.scalar(select(func.sum(Invoice.open_amount))) == 0
        assert session.scalar(select(func.sum(Payment.unapplied_amount))) == 0
        assert session.scalar(select(func.sum(Allocation.amount))) == total
        assert set(session.scalars(select(Customer.exposure))) == {Decimal(0)}
        settled = {
            number: day
            for number, day in session.execute(
                select(Invoice.number, Allocation.date).join(
                    Allocation, Allocation.invoice_id == Invoice.id
                )
            )
        }
    assert settled == {r["invoiceNumber"]: us_date(r["SettledDate"]) for r in rows}

    # Open AR as of past dates, from the dated allocations, agrees with the file to the cent
    for day in (date(2012, 6, 30), date(2012, 12, 31), date(2013, 6, 30)):
        expected = sum(
            (
                Decimal(r["InvoiceAmount"])
                for r in rows
                if us_date(r["InvoiceDate"]) <= day < us_date(r["SettledDate"])
            ),
            Decimal(0),
        )
        assert open_at(db, day) == expected

    before = counts(db)
    code, out, _ = run(db, capsys, "payments", str(IBM), *IBM_PAYMENTS)
    assert code == 0
    assert "0 payments created, 2,466 unchanged; 0 allocations" in out
    assert counts(db) == before


def test_ibm_sample_without_creating_customers_is_refused_whole(db, admin, capsys):
    ibm_rows()
    options = [o for o in IBM_INVOICES if o != "--create-missing-customers"]
    code, out, err = run(db, capsys, "invoices", str(IBM), *options)
    assert (code, out) == (EXIT_ERROR, "")
    lines = err.splitlines()
    assert (
        lines[0] == "o2c-desktop: ibm-accounts-receivable.csv: 1001 problem(s), nothing was saved:"
    )
    assert lines[1] == (
        "  row 2, customerID (value '0379-NEVHP'): unknown customer (import the customers "
        "first, or use --create-missing-customers)"
    )
    assert lines[-1] == "  …: 1,466 more problems not listed; fix these and retry"
    assert "Traceback" not in err
    assert count(db, Invoice) == 0


# ---------------------------------------------------------------------------------------------
# Options and failures
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def c1(db, admin) -> int:
    return customers.create_customer(
        db, admin, {"number": "C-1", "name": "One", "currency": "EUR"}
    ).id


def test_bad_file_prints_one_line_per_problem(db, c1, tmp_path, capsys):
    path = write_csv(
        tmp_path / "bad.csv",
        [
            ["customer", "number", "issue_date", "amount"],
            ["C-1", "1", "2024-01-15", "10"],
            ["C-9", "2", "2024-01-15", "10"],
            ["C-1", "1", "2024-13-01", "1O"],
        ],
    )
    code, out, err = run(db, capsys, "invoices", str(path))
    assert (code, out) == (EXIT_ERROR, "")
    assert err.splitlines() == [
        "o2c-desktop: bad.csv: 4 problem(s), nothing was saved:",
        "  row 3, customer (value 'C-9'): unknown customer (import the customers first, or use "
        "--create-missing-customers)",
        "  row 4, number (value '1'): the same invoice number is on row 2",
        "  row 4, issue_date (value '2024-13-01'): not a date (YYYY-MM-DD)",
        "  row 4, amount (value '1O'): not a number",
    ]
    assert count(db, Invoice) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--map", "total=Amount"], "'total' is not a field of invoices"),
        (["--map", "amount"], "expected FIELD=COLUMN"),
        (["--date-format", "%d/%m"], "--date-format '%d/%m' does not read a full date"),
        (["--map", "amount=Sum"], "the file has no column 'Sum'"),
    ],
)
def test_bad_options_give_one_clear_line(db, c1, tmp_path, capsys, argv, message):
    path = write_csv(tmp_path / "i.csv", [["customer", "number", "issue_date", "amount"]])
    code, out, err = run(db, capsys, "invoices", str(path), *argv)
    assert (code, out) == (EXIT_ERROR, "")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("o2c-desktop: ") and message in err


def test_missing_and_unreadable_files(db, admin, tmp_path, capsys):
    code, _, err = run(db, capsys, "payments", str(tmp_path / "nope.csv"))
    assert code == EXIT_ERROR and "nope.csv: no such file" in err
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    code, _, err = run(db, capsys, "invoices", str(tmp_path / "old.xls"))
    assert code == EXIT_ERROR and "old Excel format" in err
    assert "Traceback" not in err


def test_dry_run_decimal_comma_and_apply(db, c1, tmp_path, capsys):
    invoices_file = write_csv(
        tmp_path / "rechnungen.csv",
        [
            ["Kunde", "Nummer", "Datum", "Betrag"],
            ["C-1", "R-1", "02.01.2024", "1.000,00"],
            ["C-1", "R-2", "03.01.2024", "250,50"],
        ],
        delimiter=";",
    )
    options = [
        "--map", "customer=Kunde",
        "--map", "number=Nummer",
        "--map", "issue_date=Datum",
        "--map", "amount=Betrag",
        "--date-format", "%d.%m.%Y",
        "--decimal-comma",
    ]  # fmt: skip
    code, out, _ = run(db, capsys, "invoices", str(invoices_file), *options, "--dry-run")
    assert (code, out) == (
        0,
        "rechnungen.csv: 2 rows: 2 invoices and 0 credit notes created, 0 unchanged; "
        "total 1,250.50 EUR (dry run: nothing written)",
    )
    assert count(db, Invoice) == 0
    assert run(db, capsys, "invoices", str(invoices_file), *options)[0] == 0

    payments_file = write_csv(
        tmp_path / "bank.csv", [["customer", "date", "amount"], ["C-1", "2024-02-01", "1100"]]
    )
    code, out, _ = run(db, capsys, "payments", str(payments_file), "--apply", "oldest-first")
    assert code == 0
    assert out == (
        "bank.csv: 1 rows: 1 payments created, 0 unchanged; 2 allocations, "
        "0 with unapplied cash; total 1,100.00 EUR"
    )
    with db.read() as session:
        opened = {n: a for n, a in session.execute(select(Invoice.number, Invoice.open_amount))}
    assert opened == {"R-1": Decimal("0.00"), "R-2": Decimal("150.50")}


def test_payments_without_apply_stay_unapplied(db, c1, tmp_path, capsys):
    path = write_csv(
        tmp_path / "bank.csv", [["customer", "date", "amount"], ["C-1", "2024-02-01", "10"]]
    )
    code, out, _ = run(db, capsys, "payments", str(path))
    assert code == 0 and "0 allocations, 1 with unapplied cash" in out
