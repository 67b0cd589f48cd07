"""Dunning runs on SQLite and PostgreSQL: the proposal (highest level, disputes, promises,
currencies, items already dunned, unapplied payments and credit notes netted), reviewing it,
producing the letters (PDFs, levels recorded on the items, the customers' activity, audit),
e-mail levels through a real SMTP server, one production pass at a time (two threads racing
for a run, a pass taken over after its lease ran out), and the levels' validation (a fee in
one currency)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import (
    Activity,
    AuditEntry,
    DunningLetter,
    DunningLetterItem,
    DunningLevel,
    DunningRun,
    Invoice,
    StatementDelivery,
)
from o2c_desktop.services import (
    calls,
    contacts,
    customers,
    disputes,
    dunning,
    ledger,
    mail_settings,
)
from o2c_desktop.services.auth import Actor
from tests.services.test_statement_mail import Mailbox, mailbox, plain_settings  # noqa: F401

AS_OF = date(2025, 6, 30)
D = date.fromisoformat
MIGRATION = Path(__file__).resolve().parents[2] / "migrations/versions/0005_collections.py"


def seed_levels(db: Database) -> None:
    """The three levels migration 0005 seeds are there (the PostgreSQL fixture puts seeded rows
    back after emptying the tables), the Final notice's fee in EUR."""
    with db.read() as session:
        levels = session.execute(
            select(DunningLevel.level, DunningLevel.fee, DunningLevel.fee_currency).order_by(
                DunningLevel.level
            )
        ).all()
    assert [tuple(r) for r in levels] == [
        (1, Decimal("0"), None),
        (2, Decimal("0"), None),
        (3, Decimal("40.00"), "EUR"),
    ]


@pytest.fixture
def levels(db: Database) -> None:
    seed_levels(db)


def send_level_by_email(db: Database, actor: Actor, level: int) -> None:
    """Switch one seeded level from letter to e-mail, all else as it is: the seeded levels are all
    letters, and the e-mail path is what these tests are about."""
    row = next(x for x in dunning.list_levels(db, actor) if x.level == level)
    dunning.save_level(
        db,
        actor,
        row.id,
        level=level,
        name=row.name,
        days_past_due=row.days_past_due,
        template=row.template,
        channel="email",
        fee=row.fee,
        fee_currency=row.fee_currency,
        expected_version=row.version,
    )


@dataclass
class Book:
    customers: dict[str, int]  # number -> id
    invoices: dict[str, int]  # number -> id


def _customer(db: Database, actor: Actor, number: str, **fields: str) -> int:
    values = {"number": number, "name": f"Customer {number}", "currency": "EUR", "country": "GB"}
    return customers.create_customer(db, actor, {**values, **fields}).id


def _invoice(
    db: Database,
    actor: Actor,
    book: Book,
    customer: str,
    number: str,
    issued: str,
    due: str,
    amount: str,
    currency: str | None = None,
) -> int:
    item = ledger.post_invoice(
        db,
        actor,
        book.customers[customer],
        number,
        D(issued),
        amount,
        due_date=D(due),
        currency=currency,
    )
    book.invoices[number] = item.id
    return item.id


def _promise(
    db: Database, actor: Actor, customer_id: int, made: str, promised: str, amount: str
) -> None:
    calls.log_call(
        db,
        actor,
        customer_id,
        "promise",
        promise=calls.PromiseInput(amount=Decimal(amount), promised_on=D(promised)),
        on=D(made),
    )


def build_book(db: Database, actor: Actor) -> Book:
    """Levels as seeded: 1 at 7 days, 2 at 30, 3 at 60 (fee 40.00 EUR). As of 2025-06-30:

    D-100: items 5, 20 and 41 days overdue, one not yet due -> level 2, three items, 600.00
    D-200: its only item (90 days) disputed in full -> skipped for disputes
    D-250: 1000.00 at 46 days with 400.00 disputed, and a fully disputed item -> level 2, 600.00
    D-300: 36 days overdue, a promise open until 2025-07-08 -> skipped for the promise
    D-400: 36 days overdue, a promise broken on 2025-06-05 -> level 2
    D-500: EUR 10 days, USD 71 days -> two letters: EUR level 1, USD level 3 (no fee: the
           fee is in EUR)
    D-600: not yet due, and an invoice paid in full -> nothing
    D-700: 600.00 36 days overdue, a promise kept (paid 300.00, on account) -> level 2 for the
           300.00 left once the unapplied payment is netted
    """
    book = Book({}, {})
    for number in ("D-100", "D-200", "D-250", "D-300", "D-400", "D-500", "D-600", "D-700"):
        book.customers[number] = _customer(db, actor, number)
    contacts.add_contact(
        db,
        actor,
        book.customers["D-100"],
        {"name": "Ann Archer", "email": "ann@d100.example", "is_primary": True},
    )
    contacts.add_contact(
        db,
        actor,
        book.customers["D-100"],
        {"name": "Accounts", "email": "ap@d100.example", "receives_statements": True},
    )
    _invoice(db, actor, book, "D-100", "A-1", "2025-06-01", "2025-06-25", "100.00")
    _invoice(db, actor, book, "D-100", "A-2", "2025-05-01", "2025-06-10", "200.00")
    _invoice(db, actor, book, "D-100", "A-3", "2025-04-01", "2025-05-20", "300.00")
    _invoice(db, actor, book, "D-100", "A-4", "2025-06-20", "2025-07-20", "50.00")

    b1 = _invoice(db, actor, book, "D-200", "B-1", "2025-03-01", "2025-04-01", "500.00")
    disputes.raise_dispute(
        db, actor, book.customers["D-200"], [(b1, "500.00")], "quality", opened_on=D("2025-06-01")
    )

    p1 = _invoice(db, actor, book, "D-250", "P-1", "2025-04-01", "2025-05-15", "1000.00")
    p2 = _invoice(db, actor, book, "D-250", "P-2", "2025-05-15", "2025-06-15", "250.00")
    disputes.raise_dispute(
        db, actor, book.customers["D-250"], [(p1, "400.00")], "pricing", opened_on=D("2025-06-01")
    )
    disputes.raise_dispute(
        db, actor, book.customers["D-250"], [(p2, "250.00")], "quantity", opened_on=D("2025-06-20")
    )

    _invoice(db, actor, book, "D-300", "C-1", "2025-04-25", "2025-05-25", "700.00")
    _promise(db, actor, book.customers["D-300"], "2025-06-25", "2025-07-05", "700.00")

    _invoice(db, actor, book, "D-400", "E-1", "2025-04-25", "2025-05-25", "800.00")
    _promise(db, actor, book.customers["D-400"], "2025-05-20", "2025-06-01", "800.00")

    _invoice(db, actor, book, "D-500", "M-1", "2025-05-20", "2025-06-20", "150.00")
    _invoice(db, actor, book, "D-500", "M-2", "2025-03-20", "2025-04-20", "1200.00", "USD")

    _invoice(db, actor, book, "D-600", "N-1", "2025-06-10", "2025-07-10", "90.00")
    _invoice(db, actor, book, "D-600", "N-2", "2025-04-01", "2025-05-01", "60.00")
    ledger.record_payment(
        db, actor, book.customers["D-600"], D("2025-05-02"), "60.00", reference="N-2"
    )

    _invoice(db, actor, book, "D-700", "K-1", "2025-04-25", "2025-05-25", "600.00")
    _promise(db, actor, book.customers["D-700"], "2025-06-20", "2025-06-28", "300.00")
    ledger.record_payment(
        db, actor, book.customers["D-700"], D("2025-06-26"), "300.00", apply="none"
    )
    return book


@pytest.fixture
def book(db: Database, admin: Actor, levels: None) -> Book:
    return build_book(db, admin)


def by_key(proposal: dunning.RunProposal) -> dict[tuple[str, str], dunning.LetterProposal]:
    return {(x.number, x.currency): x for x in proposal.letters}


NONE = Decimal("0.00")
EXPECTED = {
    # (customer, currency): (level, level name, net overdue, items, fee, credits netted)
    ("D-100", "EUR"): (2, "Second reminder", Decimal("600.00"), 3, NONE, NONE),
    ("D-250", "EUR"): (2, "Second reminder", Decimal("600.00"), 1, NONE, NONE),
    ("D-400", "EUR"): (2, "Second reminder", Decimal("800.00"), 1, NONE, NONE),
    ("D-500", "EUR"): (1, "Friendly reminder", Decimal("150.00"), 1, NONE, NONE),
    ("D-500", "USD"): (3, "Final notice", Decimal("1200.00"), 1, NONE, NONE),
    ("D-700", "EUR"): (2, "Second reminder", Decimal("300.00"), 1, NONE, Decimal("300.00")),
}


def summary(proposal: dunning.RunProposal) -> dict[tuple[str, str], tuple]:
    return {
        key: (x.level, x.level_name, x.overdue, x.item_count, x.fee, x.credits)
        for key, x in by_key(proposal).items()
    }


def qpdf_ok(path: Path) -> None:
    if shutil.which("qpdf") is None:  # the PDF is still read by pypdf in strict mode below
        return
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def pdf_text(path: Path) -> str:
    reader = PdfReader(path, strict=True)
    return "\n".join(page.extract_text() for page in reader.pages)


# ---------------------------------------------------------------------------------------------
# The proposal
# ---------------------------------------------------------------------------------------------


def test_proposal_picks_the_highest_level_and_skips_disputes_and_open_promises(
    db: Database, admin: Actor, book: Book
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    assert summary(proposal) == EXPECTED
    assert (proposal.skipped_disputed, proposal.skipped_promised) == (1, 1)
    assert [x.number for x in proposal.letters] == sorted(x.number for x in proposal.letters)
    assert all(
        x.included and x.channel == "letter" and x.recipient is None for x in proposal.letters
    )
    with db.read() as session:
        run = session.get(DunningRun, proposal.run_id)
        assert (run.status, run.as_of) == ("proposed", AS_OF)
        items = {
            number: (level, days, amount)
            for number, level, days, amount in session.execute(
                select(
                    Invoice.number,
                    DunningLetterItem.level,
                    DunningLetterItem.days_past_due,
                    DunningLetterItem.open_amount,
                )
                .join(Invoice, Invoice.id == DunningLetterItem.invoice_id)
                .join(DunningLetter, DunningLetter.id == DunningLetterItem.letter_id)
                .where(DunningLetter.run_id == proposal.run_id)
            )
        }
    # Each item with the level it reached; the undisputed part only; disputed and unpaid-but-
    # not-due items left out.
    assert items == {
        "A-1": (0, 5, Decimal("100.00")),
        "A-2": (1, 20, Decimal("200.00")),
        "A-3": (2, 41, Decimal("300.00")),
        "P-1": (2, 46, Decimal("600.00")),
        "E-1": (2, 36, Decimal("800.00")),
        "M-1": (1, 10, Decimal("150.00")),
        "M-2": (3, 71, Decimal("1200.00")),
        "K-1": (2, 36, Decimal("600.00")),
    }
    letter = by_key(proposal)[("D-100", "EUR")]
    assert [i.number for i in dunning.letter_items(db, admin, letter.letter_id)] == [
        "A-3",
        "A-2",
        "A-1",
    ]


def test_preview_writes_nothing_and_proposes_the_same(
    db: Database, admin: Actor, book: Book
) -> None:
    preview = dunning.preview_run(db, admin, AS_OF)
    assert preview.run_id is None and all(x.letter_id is None for x in preview.letters)
    assert summary(preview) == EXPECTED
    assert (preview.skipped_disputed, preview.skipped_promised) == (1, 1)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(DunningRun)) == 0
        assert session.scalar(select(func.count()).select_from(DunningLetter)) == 0


def test_a_promise_broken_since_no_longer_holds_the_customer_back(
    db: Database, admin: Actor, book: Book
) -> None:
    # D-300's promise (2025-07-05 + 3 days grace) is broken from 2025-07-09 on.
    later = dunning.preview_run(db, admin, date(2025, 7, 9))
    assert ("D-300", "EUR") in by_key(later)
    assert later.skipped_promised == 0
    on_the_last_day = dunning.preview_run(db, admin, date(2025, 7, 8))
    assert ("D-300", "EUR") not in by_key(on_the_last_day)
    assert on_the_last_day.skipped_promised == 1


def test_refused_dates_and_roles(db: Database, admin: Actor, collector: Actor, book: Book) -> None:
    with pytest.raises(PermissionDenied, match="run dunning"):
        dunning.propose_run(db, collector, AS_OF)
    with pytest.raises(ValidationFailed, match="after today"):
        dunning.propose_run(db, admin, date(2999, 1, 1))
    with pytest.raises(ValidationFailed, match="must be a date"):
        dunning.preview_run(db, admin, "2025-06-30")  # type: ignore[arg-type]


def test_a_newer_proposal_replaces_the_one_waiting(db: Database, admin: Actor, book: Book) -> None:
    first = dunning.propose_run(db, admin, AS_OF)
    second = dunning.propose_run(db, admin, AS_OF)
    assert summary(second) == EXPECTED
    with db.read() as session:
        assert session.get(DunningRun, first.run_id).status == "cancelled"
    with pytest.raises(O2CError, match="replaced by a newer proposal"):
        dunning.produce_run(db, admin, first.run_id, Path("/nonexistent"))
    with db.read() as session:
        run = session.get(DunningRun, second.run_id)
        version = run.version
    dunning.discard_run(db, admin, second.run_id, version)
    with pytest.raises(O2CError, match="discarded"):
        dunning.set_included(db, admin, second.letters[0].letter_id, False)


# ---------------------------------------------------------------------------------------------
# Producing
# ---------------------------------------------------------------------------------------------


def test_produce_writes_the_letters_and_records_the_levels(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    seen: list[tuple[int, int]] = []
    result = dunning.produce_run(
        db, admin, proposal.run_id, tmp_path, progress=lambda d, t: seen.append((d, t))
    )
    assert (result.files, result.emailed, result.failed, result.cancelled) == (6, 0, (), False)
    assert seen[-1] == (6, 6) and len(seen) == 6
    files = sorted(p.name for p in tmp_path.glob("*.pdf"))
    assert files == [
        "D-100-2025-06-30-reminder-2-EUR.pdf",
        "D-250-2025-06-30-reminder-2-EUR.pdf",
        "D-400-2025-06-30-reminder-2-EUR.pdf",
        "D-500-2025-06-30-reminder-1-EUR.pdf",
        "D-500-2025-06-30-reminder-3-USD.pdf",
        "D-700-2025-06-30-reminder-2-EUR.pdf",
    ]
    for path in tmp_path.glob("*.pdf"):
        qpdf_ok(path)

    text = pdf_text(tmp_path / "D-100-2025-06-30-reminder-2-EUR.pdf")
    assert "Second reminder" in text and "D-100" in text and "Customer D-100" in text
    assert "Dear Ann Archer," in text  # the primary contact
    assert "totalling 600.00 EUR" in text and "EUR 600.00" in text
    assert "A-1" in text and "A-3" in text and "A-4" not in text
    final = pdf_text(tmp_path / "D-500-2025-06-30-reminder-3-USD.pdf")
    assert "Final notice" in final and "Reminder fee" not in final  # the fee is in EUR
    assert "USD 1,200.00" in final
    assert "Dear Sir or Madam," in final  # no contact
    netted = pdf_text(tmp_path / "D-700-2025-06-30-reminder-2-EUR.pdf")
    assert "Less unapplied payments/credits" in netted and "-300.00" in netted
    assert "Net amount due" in netted and "EUR 300.00" in netted

    with db.read() as session:
        run = session.get(DunningRun, proposal.run_id)
        assert (run.status, run.out_dir) == ("produced", str(tmp_path))
        assert run.produced_at is not None
        for letter in session.scalars(select(DunningLetter).where(DunningLetter.run_id == run.id)):
            path = Path(letter.file_name)
            assert path.parent == tmp_path and letter.produced_at is not None
            assert letter.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        levels = {n: lv for n, lv in session.execute(select(Invoice.number, Invoice.dunning_level))}
        assert levels == {
            "A-1": 0,
            "A-2": 1,
            "A-3": 2,
            "A-4": 0,
            "B-1": 0,
            "P-1": 2,
            "P-2": 0,
            "C-1": 0,
            "E-1": 2,
            "M-1": 1,
            "M-2": 3,
            "N-1": 0,
            "N-2": 0,
            "K-1": 2,
        }
        activity = session.scalars(
            select(Activity).where(
                Activity.customer_id == book.customers["D-100"], Activity.kind == "dunning"
            )
        ).one()
        assert activity.subject == "Reminder: Second reminder"
        assert "600.00 EUR overdue" in activity.body
        assert (
            session.scalar(
                select(func.count()).select_from(Activity).where(Activity.kind == "dunning")
            )
            == 6
        )
        audited = session.execute(
            select(
                AuditEntry.table_name, AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value
            )
            .where(AuditEntry.customer_id == book.customers["D-100"])
            .where(AuditEntry.table_name.in_(["invoices", "dunning_letters"]))
            .where(AuditEntry.field.in_(["dunning_level", "sha256"]))
        ).all()
        assert ("invoices", "dunning_level", "0", "2") in audited
        assert ("invoices", "dunning_level", "0", "1") in audited
        assert any(t == "dunning_letters" and f == "sha256" for t, f, _o, _n in audited)

    with pytest.raises(O2CError, match="produced already"):
        dunning.produce_run(db, admin, proposal.run_id, tmp_path)

    # Everything was dunned at its level: the same date proposes no letter again (D-250's
    # fully disputed P-2 would now be the only reason for a letter: skipped for disputes)...
    again = dunning.propose_run(db, admin, AS_OF)
    assert again.letters == () and (again.skipped_disputed, again.skipped_promised) == (2, 1)
    # ...until an item climbs a level: A-1 reaches level 1 on 2025-07-02, and D-100's letter
    # lists all its overdue items again, at its highest level.
    later = summary(dunning.preview_run(db, admin, date(2025, 7, 2)))
    assert later == {("D-100", "EUR"): (2, "Second reminder", Decimal("600.00"), 3, NONE, NONE)}


def test_letters_left_out_are_not_produced(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    left_out = by_key(proposal)[("D-700", "EUR")]
    dunning.set_included(db, admin, left_out.letter_id, False)
    dunning.set_included(db, admin, left_out.letter_id, False)  # no change, no second audit row
    reviewed = {x.number: x.included for x in dunning.run_letters(db, admin, proposal.run_id)}
    assert reviewed["D-700"] is False and reviewed["D-100"] is True
    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert result.files == 5
    assert not list(tmp_path.glob("D-700-*"))
    with db.read() as session:
        assert session.get(Invoice, book.invoices["K-1"]).dunning_level == 0
        changes = session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.table_name == "dunning_letters",
                AuditEntry.record_id == str(left_out.letter_id),
                AuditEntry.field == "included",
            )
        ).all()
        assert changes == ["no"]
    # Not reminded, so the next run proposes it again.
    assert ("D-700", "EUR") in by_key(dunning.preview_run(db, admin, AS_OF))


def test_a_letter_whose_items_changed_since_the_proposal_is_left_for_the_next_run(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    ledger.record_payment(db, admin, book.customers["D-100"], AS_OF, "100.00", reference="A-3")
    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert result.files == 5
    [failure] = result.failed
    assert failure.startswith("D-100 (EUR): left out, its items changed since the proposal")
    with db.read() as session:
        assert session.get(Invoice, book.invoices["A-3"]).dunning_level == 0
    again = by_key(dunning.propose_run(db, admin, AS_OF))
    assert list(again) == [("D-100", "EUR")] and again[("D-100", "EUR")].overdue == Decimal(
        "500.00"
    )


def test_cancel_keeps_what_was_produced_and_resumes(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    done: list[int] = []
    result = dunning.produce_run(
        db,
        admin,
        proposal.run_id,
        tmp_path,
        progress=lambda d, _t: done.append(d),
        cancel=lambda: len(done) >= 2,
    )
    assert (result.files, result.cancelled) == (2, True)
    with db.read() as session:
        assert session.get(DunningRun, proposal.run_id).status == "proposed"
        produced = session.scalar(
            select(func.count())
            .select_from(DunningLetter)
            .where(DunningLetter.produced_at.is_not(None))
        )
        assert produced == 2
    rest = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert (rest.files, rest.cancelled) == (4, False)
    assert len(list(tmp_path.glob("*.pdf"))) == 6
    with db.read() as session:
        assert session.get(DunningRun, proposal.run_id).status == "produced"


def test_an_email_level_sends_the_letter_and_logs_it(
    db: Database,
    admin: Actor,
    book: Book,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    box, port = mailbox
    mail_settings.save_mail_settings(db, admin, plain_settings(port))
    send_level_by_email(db, admin, 2)
    proposal = dunning.propose_run(db, admin, AS_OF)
    assert by_key(proposal)[("D-100", "EUR")].recipient == "ap@d100.example"
    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert (result.files, result.emailed) == (6, 1)
    # The other level-2 customers have nobody to send to: failed, logged, not recorded.
    assert sorted(line.split(":")[0] for line in result.failed) == [
        "D-250 (EUR)",
        "D-400 (EUR)",
        "D-700 (EUR)",
    ]
    assert all("no statement contact" in line for line in result.failed)

    [message] = box.received
    assert isinstance(message, EmailMessage)
    assert message["To"] == "ap@d100.example"
    assert message["Subject"].startswith("Second reminder: customer D-100")
    assert "Dear Ann Archer," in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "D-100-2025-06-30-reminder-2-EUR.pdf"
    sent = attachment.get_content()
    assert sent == (tmp_path / "D-100-2025-06-30-reminder-2-EUR.pdf").read_bytes()

    with db.read() as session:
        rows = session.execute(
            select(
                StatementDelivery.customer_id,
                StatementDelivery.kind,
                StatementDelivery.channel,
                StatementDelivery.result,
                StatementDelivery.sha256,
                StatementDelivery.recipient,
            )
        ).all()
        by_customer = {r[0]: r[1:] for r in rows}
        assert by_customer[book.customers["D-100"]] == (
            "dunning",
            "email",
            "ok",
            hashlib.sha256(sent).hexdigest(),
            "ap@d100.example",
        )
        assert by_customer[book.customers["D-250"]][:3] == ("dunning", "email", "failed")
        failed_letter = session.scalars(
            select(DunningLetter).where(
                DunningLetter.run_id == proposal.run_id,
                DunningLetter.customer_id == book.customers["D-250"],
            )
        ).one()
        assert failed_letter.produced_at is None and failed_letter.file_name is not None
        assert session.get(Invoice, book.invoices["P-1"]).dunning_level == 0
        assert session.get(Invoice, book.invoices["A-3"]).dunning_level == 2
        activity = session.scalars(
            select(Activity.body).where(Activity.customer_id == book.customers["D-100"])
        ).one()
        assert "e-mailed to ap@d100.example" in activity
        notes = session.scalars(
            select(AuditEntry.new_value).where(AuditEntry.table_name == "statement_deliveries")
        ).all()
        assert any(
            n.startswith("reminder letter 2025-06-30: email to ap@d100.example ok") for n in notes
        )


def test_email_letters_without_an_smtp_server_are_refused_up_front(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    send_level_by_email(db, admin, 1)
    proposal = dunning.propose_run(db, admin, AS_OF)
    with pytest.raises(O2CError, match=r"1 letter.* go out by e-mail, but no SMTP server"):
        dunning.produce_run(db, admin, proposal.run_id, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.pdf"))
    with db.read() as session:
        run = session.get(DunningRun, proposal.run_id)
        # The failed pass ended its lease: producing again is refused for the same reason,
        # not as "being produced".
        assert (run.status, run.producer_id, run.producing_until) == ("proposed", None, None)
    with pytest.raises(O2CError, match="no SMTP server"):
        dunning.produce_run(db, admin, proposal.run_id, tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# Levels
# ---------------------------------------------------------------------------------------------


def _level(db: Database, actor: Actor, level_id: int | None = None, **changes: object):
    values = {
        "level": 4,
        "name": "Collection notice",
        "days_past_due": 90,
        "template": "Dear {contact_name}, {overdue} is {level_name}. {company_name}",
        "channel": "letter",
        "fee": "75.50",
        "fee_currency": "EUR",
        **changes,
    }
    return dunning.save_level(db, actor, level_id, **values)  # type: ignore[arg-type]


def test_levels_are_seeded_created_changed_and_deleted(
    db: Database, admin: Actor, manager: Actor, levels: None
) -> None:
    seeded = dunning.list_levels(db, admin)
    assert [(x.level, x.name, x.days_past_due, x.channel, x.fee) for x in seeded] == [
        (1, "Friendly reminder", 7, "letter", Decimal("0.00")),
        (2, "Second reminder", 30, "letter", Decimal("0.00")),
        (3, "Final notice", 60, "letter", Decimal("40.00")),
    ]
    created = _level(db, manager)
    assert (created.level, created.fee, created.version) == (4, Decimal("75.50"), 1)
    changed = _level(db, manager, created.id, fee="80", expected_version=1)
    assert (changed.fee, changed.version) == (Decimal("80.00"), 2)
    assert _level(db, manager, created.id, fee="80", expected_version=2).version == 2  # no change
    with pytest.raises(ConflictError, match=r"changed by maria .*\(fee is now 80\.00\)"):
        _level(db, admin, created.id, fee="10", expected_version=1)
    with db.read() as session:
        fees = session.execute(
            select(AuditEntry.action, AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.table_name == "dunning_levels", AuditEntry.field == "fee"
            )
        ).all()
        assert fees == [("create", None, "75.50"), ("update", "75.50", "80.00")]
    dunning.delete_level(db, manager, created.id, 2)
    assert [x.level for x in dunning.list_levels(db, admin)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"level": 0}, "level", "a whole number of 1 or more"),
        ({"level": 2}, "level", "another level has this number"),
        ({"days_past_due": -1}, "days_past_due", "a whole number of 0 or more"),
        ({"days_past_due": 60}, "days_past_due", "more than level 3's 60 days"),
        ({"level": 2, "days_past_due": 45}, "level", "another level has this number"),
        ({"channel": "fax"}, "channel", "one of letter, email"),
        ({"fee": "-1"}, "fee", "must be 0 or more"),
        ({"fee": "1.234"}, "fee", "at most two decimals"),
        ({"fee": "lots"}, "fee", "not an amount"),
        ({"fee_currency": None}, "fee_currency", "choose the fee's currency"),
        ({"fee_currency": " "}, "fee_currency", "choose the fee's currency"),
        ({"fee_currency": "EUD"}, "fee_currency", "not a known currency code"),
        ({"fee_currency": 978}, "fee_currency", "a currency code such as EUR"),
        ({"fee": "40.50", "fee_currency": "JPY"}, "fee", "JPY has 0 decimal(s)"),
        ({"name": "  "}, "name", "required"),
        ({"template": ""}, "template", "required"),
        (
            {"template": "Hello {contact_name}, pay {amount} by {deadline}"},
            "template",
            "unknown placeholder(s) {amount}, {deadline}",
        ),
    ],
)
def test_level_validation(
    db: Database, admin: Actor, levels: None, changes: dict, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _level(db, admin, **changes)
    assert any(message in m for m in caught.value.for_field(field)), caught.value
    assert [x.level for x in dunning.list_levels(db, admin)] == [1, 2, 3]


def test_a_fee_is_kept_in_its_currency_and_no_fee_needs_none(
    db: Database, admin: Actor, levels: None
) -> None:
    created = _level(db, admin, fee="12.5", fee_currency=" sek ")
    assert (created.fee, created.fee_currency, created.fee_text) == (
        Decimal("12.50"),
        "SEK",
        "12.50 SEK",
    )
    assert created.fee_on("SEK") == Decimal("12.50") and created.fee_on("EUR") == 0
    free = _level(db, admin, created.id, fee="0", fee_currency=None, expected_version=1)
    assert (free.fee, free.fee_currency, free.fee_text) == (Decimal("0.00"), None, "")
    with db.read() as session:
        changes = session.execute(
            select(AuditEntry.action, AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.table_name == "dunning_levels", AuditEntry.field == "fee_currency"
            )
        ).all()
    assert changes == [("create", None, "SEK"), ("update", "SEK", None)]


def test_a_fee_without_a_currency_is_charged_on_no_letter(
    db: Database, admin: Actor, book: Book
) -> None:
    """A level saved before fees had a currency (fee_currency NULL): no fee on any letter, and
    the level says so, until someone chooses the currency (which saving requires)."""
    with db.write() as session:
        session.execute(
            update(DunningLevel)
            .where(DunningLevel.level == 3)
            .values(fee_currency=None)
            .execution_options(synchronize_session=False)
        )
    final = next(x for x in dunning.list_levels(db, admin) if x.level == 3)
    assert final.fee_text == "40.00 (no currency: charged on no letter)"
    book.customers["D-800"] = _customer(db, admin, "D-800")
    _invoice(db, admin, book, "D-800", "Z-1", "2025-03-01", "2025-04-01", "100.00")
    fees = {x.number: x.fee for x in dunning.preview_run(db, admin, AS_OF).letters}
    assert fees["D-800"] == Decimal("0.00")  # EUR, at the Final notice: no currency, no fee
    with pytest.raises(ValidationFailed, match="choose the fee's currency"):
        _level(
            db,
            admin,
            final.id,
            level=3,
            name=final.name,
            days_past_due=60,
            fee="40.00",
            fee_currency=None,
            expected_version=final.version,
        )


def test_the_seeded_final_notice_charges_its_fee_in_eur(tmp_path: Path) -> None:
    from o2c_desktop.db import migrate

    fresh = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        migrate.upgrade(fresh)
        with fresh.read() as session:
            seeded = session.execute(
                select(DunningLevel.level, DunningLevel.fee, DunningLevel.fee_currency)
            ).all()
    finally:
        fresh.dispose()
    assert (3, Decimal("40.00"), "EUR") in seeded


def test_a_threshold_below_a_lower_level_is_refused_on_update(
    db: Database, admin: Actor, levels: None
) -> None:
    second = next(x for x in dunning.list_levels(db, admin) if x.level == 2)
    with pytest.raises(ValidationFailed) as caught:
        _level(db, admin, second.id, level=2, days_past_due=5, expected_version=second.version)
    assert caught.value.for_field("days_past_due") == [
        "must be more than level 1's 7 days (thresholds rise with the level)"
    ]


def test_stale_deletes_and_discards_name_who_changed_the_record(
    db: Database, admin: Actor, manager: Actor, levels: None
) -> None:
    created = _level(db, manager)
    _level(db, manager, created.id, fee="80", expected_version=1)
    with pytest.raises(
        ConflictError, match=r"Dunning level 4 \(Collection notice\) was changed by maria"
    ):
        dunning.delete_level(db, admin, created.id, 1)
    first = dunning.propose_run(db, manager, AS_OF)
    dunning.propose_run(db, manager, AS_OF)  # cancels the first: its version moves on
    with pytest.raises(
        ConflictError,
        match=rf"Dunning run #{first.run_id} was changed by maria .*\(status is now cancelled\)",
    ):
        dunning.discard_run(db, admin, first.run_id, 1)


def test_only_managers_edit_levels(
    db: Database, clerk: Actor, collector: Actor, levels: None
) -> None:
    with pytest.raises(PermissionDenied, match="change department settings"):
        _level(db, clerk)
    assert len(dunning.list_levels(db, collector)) == 3


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def test_fill_template_leaves_unknown_placeholders_visible_and_never_raises() -> None:
    values = {"contact_name": "Ann", "overdue": "600.00 EUR"}
    assert dunning.fill_template("Dear {contact_name}, {overdue}.", values) == (
        "Dear Ann, 600.00 EUR."
    )
    assert dunning.fill_template("{nope} and {overdue}", values) == "{nope} and 600.00 EUR"
    assert dunning.fill_template("a } b { c {{overdue}} {", values) == "a } b { c {600.00 EUR} {"
    assert dunning.unknown_placeholders("{a} {overdue} {a} {b}") == ["a", "b"]
