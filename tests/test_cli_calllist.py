"""`o2c-desktop calllist`: the team's list or one collector's (by login or display name), as
JSON, CSV and an aligned table; one clear line and exit 1 for an unknown collector, a bad date
or a list the user may not see. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from o2c_desktop.models import Role
from o2c_desktop.services import customers, ledger, users
from o2c_desktop.services.auth import Actor
from tests.cli_support import cli_output, run_cli
from tests.conftest import add_user

TODAY = date.today()


pytestmark = pytest.mark.usefixtures("os_user_tester")


def _build(db: Database, admin: Actor) -> None:
    """Colin: C-1 (EUR 4,000.50, 45 days past due); Cora Lee: C-2 (EUR 120.00, 3 days)."""
    add_user(db, admin, "colin", Role.COLLECTOR)
    users.create_user(db, admin, "cora", "Cora Lee", [Role.COLLECTOR])
    for number, who, amount, days in (("C-1", "colin", "4000.50", 45), ("C-2", "cora", "120", 3)):
        cid = customers.create_customer(
            db, admin, {"number": number, "name": f"{number} GmbH", "collector": who}
        ).id
        ledger.post_invoice(
            db,
            admin,
            cid,
            f"I-{number}",
            TODAY - timedelta(days=days + 30),
            Decimal(amount),
            due_date=TODAY - timedelta(days=days),
        )


def test_team_list_as_json(db: Database, admin: Actor, capsys: pytest.CaptureFixture[str]) -> None:
    _build(db, admin)
    out = cli_output(capsys, db, "calllist", "--as-of", TODAY.isoformat(), "--format", "json")
    assert json.loads(out) == {
        "as_of": TODAY.isoformat(),
        "collector": None,
        "strategy": "Default",
        "customers": [
            {
                # 4,000.50 → 10; 45 days → 20; never reached → 20.
                "customer": "C-1",
                "collector": "Colin",
                "score": 50,
                "reasons": ["EUR 4,000.50 over 30 days", "never reached"],
                "overdue": "4000.50",
                "oldest_days_past_due": 45,
                "next_action": "Call: first reminder",
                "name": "C-1 GmbH",
                "currency": "EUR",
                "claimed_by": None,
            },
            {
                # 120 → 5; 3 days → 5; never reached → 20.
                "customer": "C-2",
                "collector": "Cora Lee",
                "score": 30,
                "reasons": ["EUR 120.00 overdue", "never reached"],
                "overdue": "120.00",
                "oldest_days_past_due": 3,
                "next_action": "Call: first reminder",
                "name": "C-2 GmbH",
                "currency": "EUR",
                "claimed_by": None,
            },
        ],
    }
    out = cli_output(capsys, db, "calllist", "--as-of", "today", "--format", "json", "--limit", "1")
    assert [c["customer"] for c in json.loads(out)["customers"]] == ["C-1"]


def test_one_collector_by_login_or_display_name(
    db: Database, admin: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    _build(db, admin)
    out = cli_output(
        capsys, db, "calllist", "--collector", "cora", "--as-of", TODAY.isoformat(),
        "--format", "csv",
    )  # fmt: skip
    assert list(csv.reader(io.StringIO(out))) == [
        [
            "customer",
            "name",
            "collector",
            "currency",
            "score",
            "overdue",
            "oldest_days_past_due",
            "next_action",
            "claimed_by",
            "reasons",
        ],
        [
            "C-2",
            "C-2 GmbH",
            "Cora Lee",
            "EUR",
            "30",
            "120.00",
            "3",
            "Call: first reminder",
            "",
            "EUR 120.00 overdue; never reached",
        ],
    ]
    code, by_name, _ = run_cli(
        capsys, db, "calllist", "--collector", "cora lee", "--as-of", TODAY.isoformat(),
        "--format", "csv",
    )  # fmt: skip
    assert (code, by_name) == (0, out)
    code, out, _ = run_cli(
        capsys, db, "calllist", "--collector", "Colin", "--as-of", TODAY.isoformat()
    )
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == (
        f"Call list of Colin for {TODAY.isoformat()} (strategy Default): 1 customer"
    )
    assert lines[2].split() == [
        "Customer",
        "Name",
        "Collector",
        "Score",
        "Overdue",
        "Cur",
        "Days",
        "Next",
        "action",
        "Reasons",
    ]
    assert lines[4].startswith("C-1")
    assert "4,000.50" in lines[4] and "EUR 4,000.50 over 30 days; never reached" in lines[4]
    assert len(lines) == 5


def test_empty_list_table(db: Database, admin: Actor, capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_output(capsys, db, "calllist", "--as-of", "2024-01-31")
    assert out.splitlines()[-1] == "Nobody to call."
    out = cli_output(capsys, db, "calllist", "--as-of", "2024-01-31", "--format", "json")
    assert json.loads(out)["customers"] == []


def test_errors_are_one_line(
    db: Database, admin: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    _build(db, admin)
    code, out, err = run_cli(capsys, db, "calllist", "--collector", "nobody", "--as-of", "today")
    assert (code, out) == (EXIT_ERROR, "")
    assert err == ("o2c-desktop: --collector 'nobody': no user with that login or display name\n")
    code, _, err = run_cli(capsys, db, "calllist", "--as-of", "31.01.2024")
    assert code == EXIT_ERROR
    assert err == "o2c-desktop: --as-of '31.01.2024' is not a date; expected YYYY-MM-DD\n"
    code, _, err = run_cli(capsys, db, "calllist", "--as-of", "today", "--limit", "0")
    assert (code, err) == (EXIT_ERROR, "o2c-desktop: --limit 0: expected at least 1\n")


def test_a_collector_may_not_print_the_team_list(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = users.sign_in(sqlite_db)
    _build(sqlite_db, admin)
    monkeypatch.setenv("O2C_USER", "colin")
    code, out, err = run_cli(capsys, sqlite_db, "calllist", "--as-of", "today")
    assert (code, out) == (EXIT_ERROR, "")
    assert err.startswith("o2c-desktop: Colin (collector) may not see every collector's")
    assert err.count("\n") == 1
    out = cli_output(capsys, sqlite_db, "calllist", "--as-of", "today", "--collector", "colin")
    assert "C-1" in out and "C-2" not in out
