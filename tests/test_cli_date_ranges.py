"""Dates out of the years the app accepts (1900 to 2999) on the command line: one line naming
the option and exit 1, never an OverflowError traceback (the report works out the day before
--from, the call list days back from --as-of). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.cli_support import parse_date
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from tests.cli_support import run_cli

pytestmark = pytest.mark.usefixtures("os_user_tester")

RANGE = "expected a date from 1900-01-01 to 2999-12-31"


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (
            ("report", "collectors", "--from", "0001-01-01", "--to", "0001-02-01"),
            "--from",
            "0001-01-01",
        ),
        (
            ("report", "collectors", "--from", "2025-01-01", "--to", "9999-12-31"),
            "--to",
            "9999-12-31",
        ),
        (("report", "kpis", "--from", "0001-01-01", "--to", "2025-01-31"), "--from", "0001-01-01"),
        (("report", "aging", "--as-of", "1899-12-31"), "--as-of", "1899-12-31"),
        (("calllist", "--as-of", "0001-01-01"), "--as-of", "0001-01-01"),
        (("calllist", "--as-of", "3000-01-01"), "--as-of", "3000-01-01"),
    ],
)
def test_a_date_out_of_range_is_one_line(
    db: Database, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], option: str, value: str
) -> None:
    code, out, err = run_cli(capsys, db, *argv)
    assert (code, out) == (EXIT_ERROR, "")
    assert err == f"o2c-desktop: {option} '{value}' is out of range; {RANGE}\n"


def test_the_first_and_last_accepted_days() -> None:
    assert parse_date("--as-of", " 1900-01-01 ").isoformat() == "1900-01-01"
    assert parse_date("--as-of", "2999-12-31").isoformat() == "2999-12-31"
    with pytest.raises(O2CError, match=r"^--to '2999-13-01' is not a date; expected YYYY-MM-DD$"):
        parse_date("--to", "2999-13-01")


def test_the_edges_run(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    """A period at the very first accepted days works out the day before it (1899-12-31) and
    answers; the call list of the last accepted day too."""
    code, _, err = run_cli(
        capsys, db, "report", "collectors", "--from", "1900-01-01", "--to", "1900-01-31"
    )
    assert (code, err) == (0, "")
    code, out, err = run_cli(capsys, db, "calllist", "--as-of", "2999-12-31")
    assert (code, err) == (0, "")
    assert "Nobody to call." in out
