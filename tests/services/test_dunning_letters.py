"""A reminder letter's PDF: the statements' letterhead and footer, the level's words, the items,
fee and total in the customer's locale, "Page x of y" over several pages, and a file qpdf and
pypdf (strict) accept. No database: the renderer takes plain values."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4, LETTER

from o2c_desktop.services import dunning
from o2c_desktop.services.dunning_letters import Letter, LetterLine, render_letter
from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statements.ledger_reads import Addressee

AS_OF = date(2025, 6, 30)
HEAD = Letterhead(company_name="Nordwind Handel GmbH", iban="DE89 3704 0044 0532 0130 00")


def addressee(country: str = "DE", **changes: str | None) -> Addressee:
    values: dict = {
        "id": 7,
        "number": "K-4711",
        "name": "Zürich Ödön Łukasz GmbH",
        "legal_name": None,
        "address_line1": "Königsallee 12",
        "address_line2": None,
        "postcode": "40212",
        "city": "Düsseldorf",
        "country": country,
        "currency": "EUR",
        "email": None,
        "collector_name": "Colin Collector",
        "collector_email": "colin@nordwind.example",
        **changes,
    }
    return Addressee(**values)


def letter(
    customer: Addressee,
    lines: int = 2,
    fee: str = "0",
    template: str = "Dear {contact_name},\n\nplease pay {total_due} by return.\n\n{company_name}",
    currency: str = "EUR",
) -> Letter:
    items = tuple(
        LetterLine(
            f"INV-{k:04d}",
            AS_OF - timedelta(days=90 + k),
            AS_OF - timedelta(days=40 + k),
            40 + k,
            Decimal("1234.50") + k,
        )
        for k in range(lines)
    )
    overdue = sum((i.open_amount for i in items), Decimal(0))
    values = dunning.template_values(
        customer,
        "Anna Berg",
        "Zweite Mahnung",
        currency,
        overdue,
        Decimal(fee),
        AS_OF,
        HEAD.company_name,
    )
    return Letter(
        AS_OF,
        customer,
        2,
        "Zweite Mahnung",
        dunning.fill_template(template, values),
        currency,
        items,
        overdue,
        Decimal(fee),
    )


def read(pdf: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    return reader, [page.extract_text() for page in reader.pages]


def qpdf_ok(pdf: bytes, folder: Path) -> None:
    if shutil.which("qpdf") is None:  # pypdf in strict mode still reads every file
        return
    path = folder / "letter.pdf"
    path.write_bytes(pdf)
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_one_page_letter_in_the_customers_locale(tmp_path: Path) -> None:
    made = render_letter(letter(addressee(), lines=2, fee="40.00"), HEAD)
    qpdf_ok(made.pdf, tmp_path)
    reader, [text] = read(made.pdf)
    assert made.pages == len(reader.pages) == 1
    assert reader.metadata.title == "Zweite Mahnung K-4711 2025-06-30"
    # The statements' letterhead, window address and footer.
    assert "Nordwind Handel GmbH" in text and "DE89 3704 0044 0532 0130 00" in text
    assert "Zürich Ödön Łukasz GmbH" in text and "40212 Düsseldorf" in text
    assert "Colin Collector" in text  # who to ask: the customer's collector
    # The letter: title, filled template, items, totals, German numbers and dates.
    assert "Zweite Mahnung" in text and "Dear Anna Berg," in text
    assert "please pay 2.510,00 EUR by return." in text  # 1234.50 + 1235.50 + 40.00
    assert "INV-0000" in text and "INV-0001" in text and "21.05.2025" in text
    assert "Total overdue" in text and "2.470,00" in text
    assert "Reminder fee" in text and "40,00" in text
    assert "EUR 2.510,00" in text
    assert "Page 1 of 1" in text
    width, height = (float(x) for x in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (round(A4[0]), round(A4[1]))


def test_no_fee_line_without_a_fee_and_a_letter_sized_page_in_the_us(tmp_path: Path) -> None:
    customer = addressee("US", postcode="10001", city="New York", name="Empire Supplies Inc.")
    made = render_letter(letter(customer, currency="USD"), HEAD)
    qpdf_ok(made.pdf, tmp_path)
    reader, [text] = read(made.pdf)
    assert "Reminder fee" not in text
    assert "New York 10001" in text and "UNITED STATES" in text
    assert "USD 2,470.00" in text and "please pay 2,470.00 USD" in text
    width, height = (float(x) for x in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (round(LETTER[0]), round(LETTER[1]))


def test_a_long_letter_runs_over_pages_with_its_own_header(tmp_path: Path) -> None:
    made = render_letter(letter(addressee(), lines=120), HEAD)
    qpdf_ok(made.pdf, tmp_path)
    _reader, texts = read(made.pdf)
    assert made.pages == len(texts) >= 3
    assert f"Page 2 of {made.pages}" in texts[1]
    assert "Zweite Mahnung · K-4711" in texts[1]  # the slim header of later pages
    assert "Document" in texts[1]  # the table's header repeats
    everything = "\n".join(texts)
    assert all(f"INV-{k:04d}" in everything for k in range(120))
    total = sum((Decimal("1234.50") + k for k in range(120)), Decimal(0))
    assert total == Decimal("155280.00")
    assert "EUR 155.280,00" in texts[-1]


def test_an_unknown_placeholder_is_printed_as_typed(tmp_path: Path) -> None:
    made = render_letter(letter(addressee(), template="Pay {overdue} by {deadline}."), HEAD)
    _reader, [text] = read(made.pdf)
    assert "Pay 2.470,00 EUR by {deadline}." in text


@pytest.mark.parametrize(
    ("country", "overdue", "as_of"),
    [("DE", "1.234,50 EUR", "30.06.2025"), ("GB", "1,234.50 EUR", "30/06/2025")],
)
def test_template_values_follow_the_customers_locale(
    country: str, overdue: str, as_of: str
) -> None:
    values = dunning.template_values(
        addressee(country),
        None,
        "Final notice",
        "EUR",
        Decimal("1234.50"),
        Decimal("40"),
        AS_OF,
        "Nordwind  Handel\nGmbH",
    )
    assert values["overdue"] == overdue and values["as_of"] == as_of
    assert values["contact_name"] == "Sir or Madam"
    assert values["company_name"] == "Nordwind Handel GmbH"
    assert values["total_due"].startswith("1.274,50" if country == "DE" else "1,274.50")
    assert set(values) == set(dunning.TEMPLATE_FIELDS)


def test_credits_are_shown_between_the_items_and_the_net_amount_due(tmp_path: Path) -> None:
    base = letter(addressee(), lines=2, fee="40.00")  # items 1234.50 + 1235.50 = 2470.00
    netted = dataclasses.replace(base, credits=Decimal("470.00"))
    assert (netted.net_due, netted.total_due) == (Decimal("2000.00"), Decimal("2040.00"))
    made = render_letter(netted, HEAD)
    qpdf_ok(made.pdf, tmp_path)
    _reader, [text] = read(made.pdf)
    lines = [line.strip() for line in text.splitlines()]
    order = ["Total overdue", "Less unapplied payments/credits", "Net amount due", "Reminder fee"]
    found = [next(k for k, line in enumerate(lines) if line.startswith(x)) for x in order]
    assert found == sorted(found)
    assert "Less unapplied payments/credits -470,00" in text  # German numbers
    assert "Net amount due 2.000,00" in text
    assert "EUR 2.040,00" in text  # total due: net + fee, beside the window and in the table
    _reader, [plain] = read(render_letter(base, HEAD).pdf)
    assert "Less unapplied" not in plain and "Net amount due" not in plain  # nothing netted
