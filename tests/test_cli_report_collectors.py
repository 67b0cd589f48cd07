"""`o2c-desktop report collectors`: the JSON shape with the hand-computed March figures of
tests/services/test_collector_results.py, the aligned table, CSV, another currency, and one
clear line for bad input. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from o2c_desktop.models import Role
from o2c_desktop.services import users
from tests.cli_support import cli_output, run_cli
from tests.conftest import add_user
from tests.services.test_collector_results import World, build

ARGS = ("collectors", "--from", "2025-03-01", "--to", "2025-03-31")


@pytest.fixture
def world(db: Database, monkeypatch: pytest.MonkeyPatch) -> World:
    """The CLI signs in as the database's first user: make it the administrator first."""
    monkeypatch.setenv("O2C_USER", "tester")
    admin = users.sign_in(db)
    return build(db, admin, add_user(db, admin, "maria", Role.CREDIT_MANAGER))


def _row(cid: int | None, name: str, *values: object) -> dict[str, object]:
    keys = (
        "calls", "contacts", "contact_rate", "promises_made", "promised_amount", "kept",
        "broken", "kept_rate", "cash_collected", "overdue_start", "overdue_end", "cei",
    )  # fmt: skip
    return {"collector_id": cid, "collector": name, **dict(zip(keys, values, strict=True))}


def test_json(db: Database, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_output(capsys, db, "report", *ARGS, "--format", "json")
    assert json.loads(out) == {
        "from": "2025-03-01",
        "to": "2025-03-31",
        "currency": "EUR",
        "collectors": [
            _row(world.ann.user_id, "Ann", 5, 3, 60.0, 3, "900.00", 2, 1, 66.67,
                 "600.00", "950.00", "550.00", 48.0),
            _row(world.bob.user_id, "Bob", 3, 2, 66.67, 4, "3900.00", 1, 1, 50.0,
                 "2000.00", "2000.00", "800.00", 71.43),
            _row(world.cara.user_id, "Cara", 0, 0, None, 0, "0.00", 0, 0, None,
                 "0.00", "0.00", "0.00", None),
            _row(world.manager.user_id, "Maria", 1, 1, 100.0, 0, "0.00", 0, 0, None,
                 "0.00", "0.00", "0.00", None),
            _row(None, "(unassigned)", 1, 0, 0.0, 0, "0.00", 0, 0, None,
                 "0.00", "100.00", "100.00", 0.0),
        ],
    }  # fmt: skip
    # Amounts are strings with the currency's decimals, ratios plain numbers.
    assert '"cei": 71.43' in out and '"cash_collected": "2000.00"' in out


def test_json_in_another_currency(
    db: Database, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, db, "report", *ARGS, "--currency", "gbp", "--format", "json")
    report = json.loads(out)
    assert (code, report["currency"]) == (0, "GBP")
    ann = report["collectors"][0]
    assert (ann["collector"], ann["promised_amount"], ann["cash_collected"], ann["cei"]) == (
        "Ann",
        "150.00",
        "200.00",
        0.0,
    )
    assert ann["overdue_end"] == "700.00"


def test_table(db: Database, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_output(capsys, db, "report", *ARGS)
    lines = out.splitlines()
    assert lines[0] == "Collector results 2025-03-01 to 2025-03-31 (31 days), amounts in EUR"
    assert lines[1] == ""
    header = lines[2].split("  ")
    assert [h.strip() for h in header if h.strip()] == [
        "Collector",
        "Calls",
        "Contacts",
        "Contact %",
        "Promises",
        "Promised",
        "Kept",
        "Broken",
        "Kept %",
        "Cash collected",
        "Overdue 2025-02-28",
        "Overdue 2025-03-31",
        "CEI %",
    ]
    assert set(lines[3]) == {"-", " "}
    body = [line.split() for line in lines[4:]]
    assert body[0] == [
        "Ann", "5", "3", "60.00", "3", "900.00", "2", "1", "66.67",
        "600.00", "950.00", "550.00", "48.00",
    ]  # fmt: skip
    assert body[1][-5:] == ["50.00", "2,000.00", "2,000.00", "800.00", "71.43"]
    assert body[2] == [
        "Cara", "0", "0", "n/a", "0", "0.00", "0", "0", "n/a", "0.00", "0.00", "0.00", "n/a",
    ]  # fmt: skip
    assert body[-1][0] == "(unassigned)" and len(body) == 5
    # Columns line up: every row as wide as the header (right-aligned numbers end together).
    assert len({len(line) for line in lines[2:4]}) == 1
    assert all(line.endswith(("48.00", "71.43", "n/a", "0.00")) for line in lines[4:])


def test_csv(db: Database, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, db, "report", *ARGS, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [r["collector"] for r in rows] == ["Ann", "Bob", "Cara", "Maria", "(unassigned)"]
    assert rows[1] == {
        "collector_id": str(world.bob.user_id),
        "collector": "Bob",
        "calls": "3",
        "contacts": "2",
        "contact_rate": "66.67",
        "promises_made": "4",
        "promised_amount": "3900.00",
        "kept": "1",
        "broken": "1",
        "kept_rate": "50.00",
        "cash_collected": "2000.00",
        "overdue_start": "2000.00",
        "overdue_end": "800.00",
        "cei": "71.43",
    }
    assert (rows[2]["contact_rate"], rows[4]["collector_id"]) == ("", "")


def test_bad_input_is_one_line(
    db: Database, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, db, "report", "collectors", "--from", "2025-03-31", "--to", "March"
    )
    assert (code, out) == (EXIT_ERROR, "")
    assert err == "o2c-desktop: --to 'March' is not a date; expected YYYY-MM-DD\n"
    code, _, err = run_cli(capsys, db, "report", *ARGS, "--currency", "EUD")
    assert code == EXIT_ERROR
    assert "currency (value 'EUD'): unknown currency code" in err
    code, _, err = run_cli(
        capsys, db, "report", "collectors", "--from", "2025-03-31", "--to", "2025-03-01"
    )
    assert code == EXIT_ERROR and "date_from" in err
