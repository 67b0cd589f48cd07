"""`o2c-desktop report aging|kpis|payment-behaviour`: exact JSON shapes, CSV, aligned tables,
one clear line for a bad date. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from tests.cli_support import cli_output, run_cli
from tests.services.test_aging import Ledger, build_example

BUCKETS = {
    "current": "5700.00",
    "1-30": "1000.00",
    "31-60": "400.00",
    "61-90": "0.00",
    "91+": "0.00",
}


pytestmark = pytest.mark.usefixtures("os_user_tester")


def _json(capsys: pytest.CaptureFixture[str], db: Database, *argv: str) -> object:
    return json.loads(cli_output(capsys, db, "report", *argv, "--format", "json"))


def test_aging_json(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    build_example(db)
    assert _json(capsys, db, "aging", "--as-of", "2025-03-31") == {
        "as_of": "2025-03-31",
        "buckets": BUCKETS,
        "total": "7100.00",
        "customers": [
            {
                "customer": "C-1",
                "buckets": BUCKETS,
                "total": "7100.00",
                "name": "Acme",
                "currency": "EUR",
                "unapplied_cash": "800.00",
                "balance": "6300.00",
            }
        ],
        "currency": "EUR",
        "unapplied_cash": "800.00",
        "balance": "6300.00",
        "by_currency": {
            "EUR": {
                "buckets": BUCKETS,
                "total": "7100.00",
                "unapplied_cash": "800.00",
                "balance": "6300.00",
            }
        },
    }


def test_aging_json_with_several_currencies(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    build_example(db)
    with Ledger(db) as led:
        jp = led.customer("C-3", name="Nippon", currency="JPY")
        led.invoice(jp, "125000", "2025-01-01", "2025-01-31", currency="JPY")
    report = _json(capsys, db, "aging", "--as-of", "2025-03-31")
    assert isinstance(report, dict)
    # Amounts in different currencies are never added: the top-level figures are null.
    assert (report["currency"], report["buckets"], report["total"], report["balance"]) == (
        None,
        None,
        None,
        None,
    )
    assert report["by_currency"]["EUR"]["total"] == "7100.00"
    # JPY has no minor units: no decimals.
    assert report["by_currency"]["JPY"] == {
        "buckets": {"current": "0", "1-30": "0", "31-60": "125000", "61-90": "0", "91+": "0"},
        "total": "125000",
        "unapplied_cash": "0",
        "balance": "125000",
    }
    assert [(c["customer"], c["currency"], c["total"]) for c in report["customers"]] == [
        ("C-1", "EUR", "7100.00"),
        ("C-3", "JPY", "125000"),
    ]
    kpis = _json(capsys, db, "kpis", "--from", "2025-01-01", "--to", "2025-03-31")
    assert isinstance(kpis, dict)
    assert (kpis["currency"], kpis["credit_sales"], kpis["dso"]) == (None, None, None)
    assert kpis["by_currency"]["EUR"]["dso"] == 53.25
    assert kpis["by_currency"]["JPY"]["ar_total"] == "125000"


def test_aging_csv_and_table(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    build_example(db)
    code, out, _ = run_cli(
        capsys, db, "report", "aging", "--as-of", "2025-03-31", "--format", "csv"
    )
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["customer", "name", "currency", *BUCKETS, "total", "unapplied_cash", "balance"],
        ["C-1", "Acme", "EUR", *BUCKETS.values(), "7100.00", "800.00", "6300.00"],
        ["", "Total", "EUR", *BUCKETS.values(), "7100.00", "800.00", "6300.00"],
    ]
    code, out, _ = run_cli(capsys, db, "report", "aging", "--as-of", "2025-03-31")
    assert code == 0
    title, blank, header, rule, *rows = out.splitlines()
    assert title == "Aging as of 2025-03-31"
    assert blank == ""
    assert header.split() == [
        "Customer",
        "Name",
        "Currency",
        *BUCKETS,
        "Total",
        "Unapplied",
        "Balance",
    ]
    amounts = ["5,700.00", "1,000.00", "400.00", "0.00", "0.00", "7,100.00", "800.00", "6,300.00"]
    assert rows[0].split() == ["C-1", "Acme", "EUR", *amounts]
    assert rows[1].split() == ["Total", "EUR", *amounts]
    # Amounts are right-aligned: every line ends in the same column, and each amount ends where
    # its heading does.
    assert len({len(line) for line in (header, rule, *rows)}) == 1
    for word in ("Total", "1-30", "Balance"):
        end = header.index(word) + len(word)
        assert all(row[end - 1] == "0" and row[end : end + 1] in (" ", "") for row in rows)


def test_aging_of_an_empty_ledger(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    zero = dict.fromkeys(BUCKETS, "0.00")
    report = _json(capsys, db, "aging", "--as-of", "today")
    assert report == {
        "as_of": date.today().isoformat(),
        "buckets": zero,
        "total": "0.00",
        "customers": [],
        "currency": None,
        "unapplied_cash": "0.00",
        "balance": "0.00",
        "by_currency": {},
    }
    code, out, _ = run_cli(capsys, db, "report", "aging", "--as-of", "2025-01-01")
    assert code == 0 and "Nothing open." in out


def test_kpis_json_and_table(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    build_example(db)
    figures = {
        "credit_sales": "12000.00",
        "ar_opening": "1000.00",
        "ar_total": "7100.00",
        "ar_current": "5700.00",
        "dso": 53.25,
        "best_possible_dso": 42.75,
        "add": 10.5,
        "cei": 80.82,
        "countback_dso": 46.4,
        "percent_overdue": 19.72,
        "disputed_amount": "0.00",
    }
    report = _json(capsys, db, "kpis", "--from", "2025-01-01", "--to", "2025-03-31")
    assert report == {
        "from": "2025-01-01",
        "to": "2025-03-31",
        **figures,
        "currency": "EUR",
        "days": 90,
        "by_currency": {"EUR": figures},
    }
    assert isinstance(report, dict)
    assert list(report)[:11] == [
        "from",
        "to",
        "credit_sales",
        "ar_opening",
        "ar_total",
        "ar_current",
        "dso",
        "best_possible_dso",
        "add",
        "cei",
        "countback_dso",
    ]
    code, out, _ = run_cli(
        capsys, db, "report", "kpis", "--from", "2025-01-01", "--to", "2025-03-31"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "KPIs 2025-01-01 to 2025-03-31 (90 days)"
    table = dict(line.rsplit(None, 1) for line in lines[4:])
    table = {label.strip(): value for label, value in table.items()}
    assert table["Credit sales"] == "12,000.00"
    assert table["AR at 2024-12-31"] == "1,000.00"
    assert table["DSO (days)"] == "53.25"
    assert table["CEI (%)"] == "80.82"
    assert table["Countback DSO (days)"] == "46.40"
    assert len({len(line) for line in lines[2:]}) == 1  # right-aligned values


def test_kpis_without_sales_are_null(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    build_example(db)
    report = _json(capsys, db, "kpis", "--from", "2025-06-01", "--to", "2025-06-30")
    assert isinstance(report, dict)
    assert (report["credit_sales"], report["dso"], report["ar_total"]) == ("0.00", None, "7100.00")


def test_payment_behaviour_formats(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    build_example(db)
    period = ("--from", "2025-01-01", "--to", "2025-03-31")
    assert _json(capsys, db, "payment-behaviour", *period) == [
        {
            "customer": "C-1",
            "paid_invoices": 2,
            "avg_days_to_pay": 43.0,
            "avg_days_late": 13.0,
            "weighted_days_late": 9.5,
            "name": "Acme",
            "currency": "EUR",
            "paid_amount": "4000.00",
        }
    ]
    code, out, _ = run_cli(capsys, db, "report", "payment-behaviour", *period, "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        [
            "customer",
            "name",
            "currency",
            "paid_invoices",
            "paid_amount",
            "avg_days_to_pay",
            "avg_days_late",
            "weighted_days_late",
        ],
        ["C-1", "Acme", "EUR", "2", "4000.00", "43.00", "13.00", "9.50"],
    ]
    code, out, _ = run_cli(capsys, db, "report", "payment-behaviour", *period)
    header, rule, row = out.splitlines()
    assert row.split() == ["C-1", "Acme", "EUR", "2", "4,000.00", "43.00", "13.00", "9.50"]
    assert len(header) == len(rule) == len(row)


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (["aging", "--as-of", "2025-13-01"], "--as-of", "2025-13-01"),
        (["aging", "--as-of", "31/03/2025"], "--as-of", "31/03/2025"),
        (["kpis", "--from", "yesterday", "--to", "2025-03-31"], "--from", "yesterday"),
        (["kpis", "--from", "2025-01-01", "--to", "2025-02-30"], "--to", "2025-02-30"),
        (["payment-behaviour", "--from", "2025-01-01", "--to", ""], "--to", ""),
    ],
)
def test_a_bad_date_is_one_clear_line(
    db: Database, capsys: pytest.CaptureFixture[str], argv: list[str], option: str, value: str
) -> None:
    code, out, err = run_cli(capsys, db, "report", *argv)
    assert (code, out) == (EXIT_ERROR, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0] == f"o2c-desktop: {option} {value!r} is not a date; expected YYYY-MM-DD"


def test_a_period_ending_before_it_starts(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, db, "report", "kpis", "--from", "2025-04-01", "--to", "2025-03-31"
    )
    assert (code, out) == (EXIT_ERROR, "")
    assert err.strip() == (
        "o2c-desktop: The period starts (2025-04-01) after it ends (2025-03-31)."
    )
