"""`o2c-desktop statement` and `o2c-desktop statements`: files written and logged, the summary,
one clear line and a non-zero exit for an unknown customer, an unwritable folder or a missing
SMTP server, and --email against a real SMTP server on 127.0.0.1. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from o2c_desktop.cli import EXIT_ERROR
from o2c_desktop.db import Database
from o2c_desktop.services import contacts, mail_settings, statement_delivery
from o2c_desktop.services.auth import Actor
from tests.cli_support import cli_output, run_cli
from tests.services.test_statement_mail import (  # noqa: F401
    Mailbox,
    free_port,
    mailbox,
    plain_settings,
)
from tests.services.test_statements import Book, build_book

pytestmark = pytest.mark.usefixtures("os_user_tester")
BATCH = ("statements", "--as-of", "2025-03-31")


@pytest.fixture
def book(db: Database, admin: Actor) -> Book:
    return build_book(db, admin)


def test_one_statement(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "z1.pdf"
    out = cli_output(capsys, db, "statement", "Z-1", "--as-of", "2025-03-31", "-o", str(target))
    assert out.startswith(f"Wrote {target}: customer Z-1, 1 page(s), total due EUR 2,200.00")
    text = PdfReader(target).pages[0].extract_text()
    assert "Zürich Ödön Łukasz GmbH" in text and "EUR 2.200,00" in text
    [row] = statement_delivery.deliveries_for_customer(db, book.unicode)
    assert row.sha256 in out and row.channel == "file"

    cli_output(
        capsys, db, "statement", "Z-1", "--as-of", "2025-03-31", "--kind", "activity",
        "--from", "2025-02-01", "-o", str(tmp_path / "activity.pdf"),
    )  # fmt: skip
    text = PdfReader(tmp_path / "activity.pdf").pages[0].extract_text()
    assert "Account activity 01.02.2025 – 31.03.2025" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["NOPE", "--as-of", "2025-03-31"], "No customer with the number 'NOPE'."),
        (["Z-1", "--as-of", "31/03/2025"], "--as-of '31/03/2025' is not a date"),
        (["Z-1", "--as-of", "2025-03-31", "--from", "2025-03-01"], "--from is for activity"),
    ],
)
def test_one_statement_refused(
    db: Database,
    book: Book,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run_cli(capsys, db, "statement", *argv, "-o", str(tmp_path / "x.pdf"))
    assert code == EXIT_ERROR and out == ""
    assert err.startswith("o2c-desktop: ") and message in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "x.pdf").exists()


def test_one_statement_into_a_missing_folder(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "z1.pdf"
    code, _out, err = run_cli(
        capsys, db, "statement", "Z-1", "--as-of", "2025-03-31", "-o", str(target)
    )
    assert code == EXIT_ERROR
    assert f"o2c-desktop: Cannot write the PDF to {target}" in err
    assert "does not exist" in err and err.count("\n") == 1


def test_batch(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out = cli_output(  # not a terminal, so no progress line on stderr
        capsys, db, *BATCH, "--out", str(out_dir), "--combined", str(tmp_path / "all.pdf"),
        "--processes", "1",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith(f"Wrote 4 of 4 statements to {out_dir} in ")
    assert "statements/s); 0 failed" in lines[0]
    assert lines[1] == f"Combined PDF for printing: {tmp_path / 'all.pdf'}"
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "BIG-1-2025-03-31.pdf",
        "M-1-2025-03-31.pdf",
        "Z-1-2025-03-31.pdf",
        "ZERO-1-2025-03-31.pdf",
    ]
    combined = PdfReader(tmp_path / "all.pdf")
    pages = sum(len(PdfReader(p).pages) for p in out_dir.iterdir())
    assert len(combined.pages) == pages


def test_batch_filters(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*BATCH, "--processes", "1"]
    code, out, _err = run_cli(
        capsys, db, *common, "--out", str(tmp_path / "a"), "--min-balance", "1,000.01"
    )
    assert code == 0 and out.startswith("Wrote 2 of 2 statements")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "BIG-1-2025-03-31.pdf",
        "Z-1-2025-03-31.pdf",
    ]
    code, out, _err = run_cli(
        capsys,
        db,
        *common,
        "--out",
        str(tmp_path / "b"),
        "--customers",
        "ZERO-1,M-1",
        "--name-pattern",
        "{customer} {name}",
    )
    assert code == 0 and out.startswith("Wrote 2 of 2 statements")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "M-1 Two Currencies B.V.pdf",
        "ZERO-1 Settled Ltd.pdf",
    ]
    code, out, _err = run_cli(
        capsys, db, *common, "--out", str(tmp_path / "c"), "--segment", "Public sector"
    )
    assert (code, out) == (0, "No customer matches; no statements were written.\n")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--customers", "Z-1,NOPE"], "--customers: no customer with the number(s) NOPE."),
        (["--collector", "ghost"], "--collector 'ghost': no user has that login or name"),
        (["--min-balance", "lots"], "--min-balance 'lots' is not an amount"),
        (["--processes", "0"], "--processes must be 1 or more"),
        (["--name-pattern", "{customer}/{date}"], "a file name, not a path"),
        (["--email"], "--email: no SMTP server is set up"),
    ],
)
def test_batch_refused(
    db: Database,
    book: Book,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    code, out, err = run_cli(capsys, db, *BATCH, "--out", str(tmp_path / "o"), *extra)
    assert code == EXIT_ERROR and out == ""
    assert err.startswith("o2c-desktop: ") and message in err
    assert not list(tmp_path.glob("o/*.pdf"))


def test_batch_into_an_unwritable_folder(
    db: Database, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(capsys, db, *BATCH, "--out", str(blocker / "statements"))
    assert code == EXIT_ERROR and out == ""
    assert err.startswith(f"o2c-desktop: Cannot write statements to the folder {blocker}")
    assert err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# --email against a real SMTP server
# ---------------------------------------------------------------------------------------------


def test_batch_email(
    db: Database,
    admin: Actor,
    book: Book,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    box, port = mailbox
    mail_settings.save_mail_settings(db, admin, plain_settings(port))
    contacts.add_contact(
        db,
        admin,
        book.unicode,
        {"name": "Ödön Łukasz", "email": "ap@zuerich.example", "receives_statements": True},
    )
    code, out, err = run_cli(
        capsys, db, *BATCH, "--out", str(tmp_path), "--customers", "Z-1,ZERO-1", "--processes",
        "1", "--email",
    )  # fmt: skip
    # ZERO-1 has no statement contact nor e-mail address: reported, and the exit says so.
    assert code == EXIT_ERROR
    assert "E-mailed 1 of 2 statements via 127.0.0.1" in out
    assert "customer ZERO-1: e-mail not sent" in err
    [message] = box.received
    assert message["To"] == "ap@zuerich.example"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Z-1-2025-03-31.pdf"
    rows = statement_delivery.deliveries_for_customer(db, book.unicode)
    assert [(r.channel, r.result) for r in rows] == [("email", "ok"), ("file", "ok")]


def test_batch_email_to_an_unreachable_server(
    db: Database, admin: Actor, book: Book, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = plain_settings(free_port())  # nothing listens there
    mail_settings.save_mail_settings(db, admin, settings)
    code, out, err = run_cli(
        capsys, db, *BATCH, "--out", str(tmp_path), "--customers", "Z-1", "--email"
    )
    assert code == EXIT_ERROR
    assert out.splitlines()[0].startswith("Wrote 1 of 1 statements")
    assert "E-mailed 0 of 1 statements" in out
    assert "customer Z-1: e-mail not sent" in err
