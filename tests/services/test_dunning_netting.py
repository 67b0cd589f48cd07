"""What a reminder asks for, on SQLite and PostgreSQL: the customer's unapplied payments and
open credit notes in the letter's currency are netted against the overdue items (no letter
when nothing is left), the letter shows the items, "less unapplied payments/credits" and the
net amount due; and a level's fee is charged only on letters in the fee's currency."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.models import Activity, Invoice
from o2c_desktop.services import customers, dunning, ledger
from o2c_desktop.services.auth import Actor
from tests.services.test_dunning import AS_OF, pdf_text, qpdf_ok, seed_levels

EUR_FEE = Decimal("40.00")


@pytest.fixture
def levels(db: Database) -> None:
    """The seeded levels, the Final notice (60 days) charging 40.00 EUR."""
    seed_levels(db)


def customer(db: Database, actor: Actor, number: str, currency: str = "EUR") -> int:
    values = {"number": number, "name": f"Customer {number}", "currency": currency}
    return customers.create_customer(db, actor, {**values, "country": "GB"}).id


def overdue(
    db: Database, actor: Actor, cid: int, number: str, days: int, amount: str, currency: str
) -> None:
    """An invoice `days` past due at AS_OF."""
    due = AS_OF - timedelta(days=days)
    ledger.post_invoice(
        db, actor, cid, number, due - timedelta(days=30), amount, due_date=due, currency=currency
    )


def on_account(db: Database, actor: Actor, cid: int, amount: str, currency: str) -> None:
    """A payment received and left unapplied."""
    ledger.record_payment(db, actor, cid, AS_OF, amount, currency=currency, apply="none")


def letters(proposal: dunning.RunProposal) -> dict[str, dunning.LetterProposal]:
    return {f"{x.number} {x.currency}": x for x in proposal.letters}


# ---------------------------------------------------------------------------------------------
# Unapplied payments and credit notes
# ---------------------------------------------------------------------------------------------


def test_a_customer_whose_unapplied_payment_covers_the_overdue_gets_no_letter(
    db: Database, admin: Actor, levels: None
) -> None:
    paid = customer(db, admin, "U-1")
    overdue(db, admin, paid, "U-1-1", 70, "1000.00", "EUR")
    on_account(db, admin, paid, "1000.00", "EUR")  # the balance is 0
    proposal = dunning.propose_run(db, admin, AS_OF)
    assert proposal.letters == ()
    assert (proposal.skipped_credited, proposal.skipped_disputed) == (1, 0)
    assert dunning.preview_run(db, admin, AS_OF).skipped_credited == 1
    with db.read() as session:  # not dunned: the next run looks at it again
        assert session.scalar(select(Invoice.dunning_level)) == 0


def test_credits_in_the_same_currency_are_netted_and_shown_on_the_letter(
    db: Database, admin: Actor, levels: None, tmp_path: Path
) -> None:
    cid = customer(db, admin, "N-1")
    overdue(db, admin, cid, "N-1-1", 70, "1000.00", "EUR")  # Final notice
    overdue(db, admin, cid, "N-1-2", 10, "200.00", "EUR")
    on_account(db, admin, cid, "300.00", "EUR")
    ledger.post_credit_note(db, admin, cid, "CN-1", AS_OF - timedelta(days=5), "200.00")
    on_account(db, admin, cid, "5000.00", "USD")  # another currency: never netted
    proposal = dunning.propose_run(db, admin, AS_OF)
    letter = letters(proposal)["N-1 EUR"]
    assert (letter.level, letter.item_count) == (3, 2)
    assert (letter.items_overdue, letter.credits, letter.overdue, letter.fee) == (
        Decimal("1200.00"),
        Decimal("500.00"),
        Decimal("700.00"),
        EUR_FEE,
    )
    assert proposal.skipped_credited == 0
    [reviewed] = dunning.run_letters(db, admin, proposal.run_id)
    assert (reviewed.items_overdue, reviewed.credits, reviewed.overdue) == (
        Decimal("1200.00"),
        Decimal("500.00"),
        Decimal("700.00"),
    )
    assert dunning.preview_run(db, admin, AS_OF).letters[0].credits == Decimal("500.00")

    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert (result.files, result.failed) == (1, ())
    [path] = tmp_path.glob("*.pdf")
    qpdf_ok(path)
    text = pdf_text(path)
    assert "totalling 1,200.00 EUR" in text  # the items listed, as the template words it
    assert "N-1-1" in text and "N-1-2" in text
    lines = [line.strip() for line in text.splitlines()]
    order = ["Total overdue", "Less unapplied payments/credits", "Net amount due", "Reminder fee"]
    found = [next(k for k, line in enumerate(lines) if line.startswith(x)) for x in order]
    assert found == sorted(found)  # the items' total, then less credits, the net, the fee
    assert "Less unapplied payments/credits -500.00" in text
    assert "Net amount due 700.00" in text
    assert "Reminder fee 40.00" in text and "EUR 740.00" in text  # net + fee
    with db.read() as session:
        body = session.scalars(select(Activity.body).where(Activity.customer_id == cid)).one()
    assert (
        "2 item(s), 1200.00 EUR overdue less 500.00 EUR unapplied payments/credits, "
        "700.00 EUR due, fee 40.00 EUR" in body
    )


def test_credit_notes_alone_can_cover_the_overdue(db: Database, admin: Actor, levels: None) -> None:
    cid = customer(db, admin, "C-1")
    overdue(db, admin, cid, "C-1-1", 40, "300.00", "EUR")
    ledger.post_credit_note(db, admin, cid, "CN-2", AS_OF, "180.00")
    ledger.post_credit_note(db, admin, cid, "CN-3", AS_OF, "120.00")
    proposal = dunning.preview_run(db, admin, AS_OF)
    assert proposal.letters == () and proposal.skipped_credited == 1


def test_a_letter_is_left_out_when_the_credits_changed_since_the_proposal(
    db: Database, admin: Actor, levels: None, tmp_path: Path
) -> None:
    cid = customer(db, admin, "P-1")
    overdue(db, admin, cid, "P-1-1", 40, "800.00", "EUR")
    on_account(db, admin, cid, "100.00", "EUR")
    proposal = dunning.propose_run(db, admin, AS_OF)
    assert letters(proposal)["P-1 EUR"].overdue == Decimal("700.00")
    on_account(db, admin, cid, "250.00", "EUR")  # more cash arrives before the letters go out
    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert result.files == 0
    [failure] = result.failed
    assert failure.startswith("P-1 (EUR): left out, the customer's unapplied payments")
    assert letters(dunning.preview_run(db, admin, AS_OF))["P-1 EUR"].overdue == Decimal("450.00")


# ---------------------------------------------------------------------------------------------
# The fee's currency
# ---------------------------------------------------------------------------------------------


def test_the_fee_is_charged_only_on_letters_in_its_currency(
    db: Database, admin: Actor, levels: None, tmp_path: Path
) -> None:
    for currency in ("EUR", "PLN", "SEK", "GBP", "USD"):
        cid = customer(db, admin, f"F-{currency}", currency)
        overdue(db, admin, cid, f"F-{currency}-1", 70, "1000.00", currency)
    proposal = dunning.propose_run(db, admin, AS_OF)
    fees = {x.currency: (x.level_name, x.fee) for x in proposal.letters}
    assert fees == {
        "EUR": ("Final notice", EUR_FEE),
        "PLN": ("Final notice", Decimal("0.00")),
        "SEK": ("Final notice", Decimal("0.00")),
        "GBP": ("Final notice", Decimal("0.00")),
        "USD": ("Final notice", Decimal("0.00")),
    }
    assert {x.currency: x.fee for x in dunning.run_letters(db, admin, proposal.run_id)} == {
        c: fee for c, (_n, fee) in fees.items()
    }
    result = dunning.produce_run(db, admin, proposal.run_id, tmp_path)
    assert result.files == 5
    eur = pdf_text(tmp_path / "F-EUR-2025-06-30-reminder-3-EUR.pdf")
    assert "Reminder fee" in eur and "EUR 1,040.00" in eur
    pln = pdf_text(tmp_path / "F-PLN-2025-06-30-reminder-3-PLN.pdf")
    assert "Reminder fee" not in pln and "PLN 1,000.00" in pln

    # A fee moved to PLN is charged on PLN letters only.
    final = next(x for x in dunning.list_levels(db, admin) if x.level == 3)
    dunning.save_level(
        db,
        admin,
        final.id,
        level=3,
        name=final.name,
        days_past_due=final.days_past_due,
        template=final.template,
        channel=final.channel,
        fee="150.00",
        fee_currency="PLN",
        expected_version=final.version,
    )
    for currency in ("EUR", "PLN"):
        cid = customer(db, admin, f"G-{currency}", currency)
        overdue(db, admin, cid, f"G-{currency}-1", 65, "10.00", currency)
    later = {x.currency: x.fee for x in dunning.preview_run(db, admin, AS_OF).letters}
    assert later == {"EUR": Decimal("0.00"), "PLN": Decimal("150.00")}
