"""`o2c-desktop import orders FILE`: the summary on stdout and exit 0, held orders counted; a bad
file, option or mapping is one clear message on stderr with exit 1, never a traceback, and
nothing written. Both engines."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from o2c_desktop.models import Order
from o2c_desktop.services import customers, users
from tests.cli_support import cli_output, run_cli


@pytest.fixture(autouse=True)
def _customers(db: Database, os_user_tester: None) -> None:
    admin = users.sign_in(db)
    customers.create_customer(db, admin, {"number": "A", "name": "Alpha", "credit_limit": "1000"})


def _file(tmp_path: Path, *rows: list[str], name: str = "orders.csv") -> str:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["Kunde", "number", "order_date", "amount"], *rows])
    return str(path)


def _orders(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Order)) or 0)


def test_import_prints_the_summary_and_is_idempotent(
    db: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _file(tmp_path, ["A", "SO-1", "2026-01-05", "600"], ["A", "SO-2", "2026-01-05", "600"])
    args = ("import", "orders", path, "--map", "customer=Kunde")
    dry = cli_output(capsys, db, *args, "--dry-run")
    assert dry.strip() == (
        "orders.csv: 2 orders read: 2 entered (1 held), 0 already there; total 1,200.00 EUR "
        "(dry run: nothing written)"
    )
    assert _orders(db) == 0
    out = cli_output(capsys, db, *args)
    assert out.strip() == (
        "orders.csv: 2 orders read: 2 entered (1 held), 0 already there; total 1,200.00 EUR"
    )
    again = cli_output(capsys, db, *args)
    assert again.strip() == "orders.csv: 2 orders read: 0 entered (0 held), 2 already there"
    assert _orders(db) == 2


def test_a_bad_file_is_refused_with_one_line_per_problem(
    db: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _file(tmp_path, ["A", "SO-1", "01/05/2026", "1"], ["A", "SO-2", "01/06/2026", "1,5"])
    code, out, err = run_cli(capsys, db, "import", "orders", path, "--map", "customer=Kunde")
    assert (code, out) == (EXIT_ERROR, "")
    assert err.splitlines() == [
        "o2c-desktop: orders.csv: 3 problem(s), nothing was saved:",
        "  row 2, order_date (value '01/05/2026'): not a date (YYYY-MM-DD); for other layouts "
        "use --date-format, e.g. %m/%d/%Y",
        "  row 3, order_date (value '01/06/2026'): not a date (YYYY-MM-DD); for other layouts "
        "use --date-format, e.g. %m/%d/%Y",
        "  row 3, amount (value '1,5'): misplaced thousands separator ','",
    ]
    assert _orders(db) == 0
    ok = cli_output(
        capsys, db, "import", "orders", path, "--map", "customer=Kunde",
        "--date-format", "%m/%d/%Y", "--decimal-comma",
    )  # fmt: skip
    assert ok.startswith(
        "orders.csv: 2 orders read: 2 entered (0 held), 0 already there; total 2.50"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--map", "colour=Kunde"), "'colour' is not a field of orders"),
        (("--map", "customer=Client"), "the file has no column 'Client'"),
        ((), "no column for customer"),
        (("--map", "customer=Kunde", "--date-format", "%d"), "does not read a full date"),
    ],
)
def test_bad_options_exit_1_without_a_traceback(
    db: Database,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: tuple[str, ...],
    message: str,
) -> None:
    path = _file(tmp_path, ["A", "SO-1", "2026-01-05", "1"])
    code, out, err = run_cli(capsys, db, "import", "orders", path, *argv)
    assert (code, out) == (EXIT_ERROR, "")
    assert message in err and "Traceback" not in err
    code, _, err = run_cli(capsys, db, "import", "orders", str(tmp_path / "missing.csv"))
    assert code == EXIT_ERROR and "missing.csv" in err and "Traceback" not in err
