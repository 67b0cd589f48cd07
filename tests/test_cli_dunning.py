"""`o2c-desktop dunning run` and `dunning levels`: the dry run prints the proposal and writes
nothing, the real run proposes and produces everything with one summary line, and every refusal
is one clear line with a non-zero exit. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from o2c_desktop.models import DunningLetter, DunningRun, Invoice, Role
from o2c_desktop.services import mail_settings
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.dunning import lease
from tests.cli_support import cli_output, run_cli
from tests.conftest import add_user
from tests.services.test_dunning import Book, build_book, seed_levels, send_level_by_email
from tests.services.test_statement_mail import Mailbox, mailbox, plain_settings  # noqa: F401

pytestmark = pytest.mark.usefixtures("os_user_tester")
RUN = ("dunning", "run", "--as-of", "2025-06-30")


@pytest.fixture
def book(db: Database, admin: Actor) -> Book:
    seed_levels(db)
    return build_book(db, admin)


def _runs(db: Database) -> list[tuple[str, int]]:
    with db.read() as session:
        return [
            (status, count)
            for status, count in session.execute(
                select(DunningRun.status, func.count(DunningLetter.id))
                .outerjoin(DunningLetter, DunningLetter.run_id == DunningRun.id)
                .group_by(DunningRun.id, DunningRun.status)
                .order_by(DunningRun.id)
            )
        ]


def test_dry_run_prints_the_proposal_and_writes_nothing(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli_output(capsys, db, *RUN, "--out", str(tmp_path / "x"), "--dry-run")
    lines = out.splitlines()
    assert lines[0] == (
        "Dunning run as of 2025-06-30 (dry run, nothing written): 6 letter(s), 0 by e-mail; "
        "overdue EUR 2,450.00, USD 1,200.00 (after unapplied payments/credits of EUR 300.00); "
        "skipped 1 customer(s) for disputed items, 1 for open promises"
    )
    body = "\n".join(lines[1:])
    assert "D-100" in body and "2 Second reminder" in body and "3 Final notice" in body
    usd = next(line for line in lines if "USD" in line and "D-500" in line)
    assert usd.split()[-4:] == ["1,200.00", "0.00", "1,200.00", "0.00"]  # the fee is in EUR
    netted = next(line for line in lines if "D-700" in line)
    assert netted.split()[-4:] == ["600.00", "300.00", "300.00", "0.00"]  # paid on account
    assert _runs(db) == [] and not (tmp_path / "x").exists()


def test_real_run_proposes_and_produces(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "letters"
    out = cli_output(capsys, db, *RUN, "--out", str(folder))
    assert out.startswith(f"Dunning run #1 as of 2025-06-30: wrote 6 of 6 letters to {folder} in ")
    assert out.rstrip().endswith(
        "0 e-mailed, 0 not delivered; overdue EUR 2,450.00, USD 1,200.00 (after unapplied "
        "payments/credits of EUR 300.00); skipped 1 customer(s) for disputed items, 1 for open "
        "promises"
    )
    assert len(list(folder.glob("*.pdf"))) == 6
    text = PdfReader(folder / "D-500-2025-06-30-reminder-3-USD.pdf").pages[0].extract_text()
    assert "D-500" in text and "USD 1,200.00" in text and "Reminder fee" not in text
    assert _runs(db) == [("produced", 6)]
    with db.read() as session:
        assert session.scalar(select(Invoice.dunning_level).where(Invoice.number == "M-2")) == 3

    # Nothing new is due the same day: a run with no letter, recorded as produced.
    out = cli_output(capsys, db, *RUN, "--out", str(folder))
    assert out.startswith("Dunning run #2 as of 2025-06-30: no letters are due; skipped 2 ")
    assert _runs(db) == [("produced", 6), ("produced", 0)]


def test_letters_not_delivered_make_the_exit_code_1(
    db: Database,
    admin: Actor,
    book: Book,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    box, port = mailbox
    mail_settings.save_mail_settings(db, admin, plain_settings(port))
    send_level_by_email(db, admin, 3)
    code, out, err = run_cli(capsys, db, *RUN, "--out", str(tmp_path))
    assert code == 1
    assert "wrote 6 of 6 letters" in out and "0 e-mailed, 1 not delivered" in out
    assert err.startswith("  D-500 (USD): e-mail not sent: no statement contact")
    assert box.received == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--as-of", "30.06.2025", "--out", "x"], "--as-of '30.06.2025' is not a date"),
        (["--as-of", "2025-06-30"], "--out DIR is required (or --dry-run"),
        (["--as-of", "2999-01-01", "--dry-run"], "a run cannot be dated after today"),
    ],
)
def test_refusals_are_one_clear_line(
    db: Database,
    book: Book,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run_cli(capsys, db, "dunning", "run", *argv)
    assert code == EXIT_ERROR and out == ""
    assert err.startswith("o2c-desktop: ") and message in err
    assert "Traceback" not in err
    assert _runs(db) == []


def test_an_unwritable_folder_leaves_no_run_behind(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(capsys, db, *RUN, "--out", str(blocker))
    assert code == EXIT_ERROR and out == ""
    assert err.startswith(f"o2c-desktop: Cannot write statements to the folder {blocker}")
    assert len(err.splitlines()) == 1
    assert _runs(db) == []


def test_email_letters_without_smtp_fail_with_one_line(
    db: Database, admin: Actor, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    send_level_by_email(db, admin, 1)
    code, out, err = run_cli(capsys, db, *RUN, "--out", str(tmp_path))
    assert code == EXIT_ERROR and out == ""
    assert err == (
        "o2c-desktop: 1 letter(s) of dunning run #1 go out by e-mail, but no SMTP server is set "
        "up: a credit manager or administrator can set one under Settings → E-mail (SMTP), or "
        "leave those letters out. Nothing was produced.\n"
    )
    assert not list(tmp_path.glob("*.pdf"))


def test_levels_are_listed(db: Database, book: Book, capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_output(capsys, db, "dunning", "levels")
    lines = out.splitlines()
    assert lines[0].split() == ["Level", "Name", "Days", "past", "due", "Channel", "Fee"]
    assert lines[-1].split() == ["3", "Final", "notice", "60", "letter", "40.00", "EUR"]


def test_a_run_being_produced_in_the_app_is_not_replaced(
    db: Database, admin: Actor, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduled job while Maria produces the waiting run in the app: proposing would
    cancel her run, so the job stops with one line saying who and since when."""
    from o2c_desktop.services import dunning

    maria = add_user(db, admin, "maria", Role.CREDIT_MANAGER)
    waiting = dunning.propose_run(db, maria, date(2025, 6, 30))
    assert waiting.run_id is not None
    lease.take(db, maria, waiting.run_id)
    code, out, err = run_cli(capsys, db, *RUN, "--out", str(tmp_path))
    assert code == EXIT_ERROR and out == ""
    assert err.startswith(
        f"o2c-desktop: Dunning run #{waiting.run_id} is being produced by Maria since "
    )
    assert "propose the new run when it has finished" in err and len(err.splitlines()) == 1
    assert _runs(db) == [("proposed", 6)]  # her run untouched, no new one
