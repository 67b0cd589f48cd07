"""Statements: the content ties out with the ledger, and the PDF says what the ledger says.

The ledger is posted through the ledger services (invoices, credit notes, payments applied and
unapplied, a write-off, a dispute), so the statement is tested against what the app really
writes. Every total is compared with two other implementations: ledger_queries.balance and
aging.customer_aging, for open-items and activity statements, past dates and today, a
300-item customer (several pages) and a customer with a zero balance. The PDFs are opened with
pypdf: their text must contain the items and the printed total must be the ledger's.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, O2CError, ValidationFailed
from o2c_desktop.models import AuditEntry, Role, StatementDelivery
from o2c_desktop.models.ledger import CREDIT_NOTE, INVOICE
from o2c_desktop.services import (
    aging,
    customers,
    disputes,
    ledger,
    ledger_queries,
    statement_delivery,
)
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.statements import (
    StatementRequest,
    render_statement,
    statement_data,
    write_statement,
)
from o2c_desktop.services.statements.data import PAYMENT, StatementData
from o2c_desktop.services.statements.formatting import formats_for_country, locale_for_country
from tests.conftest import add_user

D = date.fromisoformat
UNICODE_NAME = "Zürich Ödön Łukasz GmbH"


# ---------------------------------------------------------------------------------------------
# A ledger posted through the services
# ---------------------------------------------------------------------------------------------


@dataclass
class Book:
    """The customers of the scenario, by role."""

    unicode: int  # Zürich Ödön Łukasz GmbH, Germany, EUR: a bit of everything
    zero: int  # invoiced and paid in full
    big: int  # 300 open invoices
    multi: int  # EUR customer with USD items as well
    invoice_numbers: dict[str, int]


def add_customer(db: Database, actor: Actor, number: str, name: str, **fields: str) -> int:
    values = {"number": number, "name": name, "currency": "EUR", **fields}
    return customers.create_customer(db, actor, values).id


def post_big(db: Database, actor: Actor, customer_id: int, count: int = 300) -> None:
    """`count` open invoices in one unit of work (posting them one by one takes seconds)."""
    with db.write() as session:
        start = D("2024-06-01")
        for k in range(count):
            ledger.post_item_in_session(
                session,
                actor,
                INVOICE,
                customer_id,
                f"BIG-{k + 1:04d}",
                start + timedelta(days=k),
                Decimal("100.00") + Decimal(k) / 100,
                refresh=False,
            )


def build_book(db: Database, actor: Actor) -> Book:
    unicode = add_customer(
        db,
        actor,
        "Z-1",
        UNICODE_NAME,
        country="DE",
        address_line1="Königsallee 12",
        postcode="40212",
        city="Düsseldorf",
        segment="Enterprise",
    )
    zero = add_customer(db, actor, "ZERO-1", "Settled Ltd", country="GB", currency="GBP")
    big = add_customer(db, actor, "BIG-1", "Big Buyer S.A.", country="FR")
    multi = add_customer(db, actor, "M-1", "Two Currencies B.V.", country="NL")

    numbers: dict[str, int] = {}
    for number, issued, amount in (
        ("INV-1", "2025-01-10", "1000.00"),
        ("INV-2", "2025-02-15", "2500.00"),
        ("INV-3", "2025-03-20", "400.00"),
    ):
        numbers[number] = ledger.post_invoice(db, actor, unicode, number, D(issued), amount).id
    numbers["CN-1"] = ledger.post_credit_note(
        db, actor, unicode, "CN-1", D("2025-03-01"), "150.00"
    ).id
    ledger.record_payment(db, actor, unicode, D("2025-02-20"), "1000.00", reference="INV-1")
    ledger.record_payment(db, actor, unicode, D("2025-03-10"), "500.00", apply="none")
    ledger.write_off(db, actor, numbers["INV-3"], "50.00", D("2025-03-25"), "rounding agreed")
    disputes.raise_dispute(
        db, actor, unicode, [(numbers["INV-2"], "2500.00")], "pricing", opened_on=D("2025-03-05")
    )
    # After the statement date of most tests: must not show on a statement as of 2025-03-31.
    ledger.record_payment(db, actor, unicode, D("2025-04-05"), "600.00", reference="INV-2")

    paid = ledger.post_invoice(db, actor, zero, "ZINV-1", D("2025-01-05"), "75.50").id
    ledger.record_payment(db, actor, zero, D("2025-02-01"), "75.50", reference="ZINV-1")
    numbers["ZINV-1"] = paid

    post_big(db, actor, big)

    ledger.post_invoice(db, actor, multi, "M-EUR-1", D("2025-03-01"), "800.00")
    ledger.post_invoice(db, actor, multi, "M-USD-1", D("2025-03-02"), "1200.00", currency="USD")
    ledger.record_payment(db, actor, multi, D("2025-03-15"), "200.00", currency="USD", apply="none")
    return Book(unicode, zero, big, multi, numbers)


@pytest.fixture
def book(db: Database, admin: Actor) -> Book:
    return build_book(db, admin)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def ledger_balance(db: Database, actor: Actor, customer_id: int, as_of: date, currency: str):
    """(ledger_queries net balance, aging balance) in one currency at a date."""
    net = ledger_queries.balance(db, actor, customer_id, as_of, currency).net_balance
    report = aging.customer_aging(db, actor, customer_id, as_of)
    rows = [r for r in report.customers if r.currency == currency]
    return net, rows[0].balance if rows else Decimal(0)


def assert_ties_out(db: Database, actor: Actor, data: StatementData) -> None:
    for section in data.sections:
        net, aged = ledger_balance(db, actor, data.customer.id, data.as_of, section.currency)
        assert section.total_due == net == aged, section.currency
        assert sum(section.aging.amounts) - section.aging.unapplied_cash == section.total_due
        assert sum((line.open_amount for line in section.open_lines), Decimal(0)) == net
        if data.kind == "activity":
            assert section.closing_balance == net
            assert section.opening_balance is not None
            before = data.period_from - timedelta(days=1)
            opening = ledger_queries.balance(
                db, actor, data.customer.id, before, section.currency
            ).net_balance
            assert section.opening_balance == opening


def pdf_text(pdf: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    return reader, [page.extract_text() for page in reader.pages]


def statement(db: Database, actor: Actor, customer_id: int, as_of: str, **kw) -> StatementData:
    return statement_data(db, actor, StatementRequest(customer_id, D(as_of), **kw))


# ---------------------------------------------------------------------------------------------
# Content: ties out with the ledger
# ---------------------------------------------------------------------------------------------


def test_open_items_at_a_past_date(db: Database, admin: Actor, book: Book) -> None:
    data = statement(db, admin, book.unicode, "2025-03-31")
    assert data.kind == "open-items" and data.currency == "EUR"
    [section] = data.sections
    rows = [(line.kind, line.document, line.open_amount) for line in section.open_lines]
    # INV-1 was paid in February; the April payment on INV-2 does not count yet.
    assert rows == [
        (CREDIT_NOTE, "CN-1", Decimal("-150.00")),
        (INVOICE, "INV-2", Decimal("2500.00")),
        (INVOICE, "INV-3", Decimal("350.00")),
        (PAYMENT, "#2", Decimal("-500.00")),
    ]
    inv2 = section.open_lines[1]
    assert inv2.disputed and inv2.due_date == D("2025-03-17") and inv2.days_overdue == 14
    assert section.open_lines[2].days_overdue is None  # INV-3 is not due yet
    assert section.total_due == Decimal("2200.00")
    assert section.aging.labels == ("current", "1-30", "31-60", "61-90", "91+")
    # CN-1 (due 2025-03-01) is 30 days past due: in 1-30 with INV-2, as the aging report has it.
    assert section.aging.amounts == (
        Decimal("350.00"),
        Decimal("2350.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert section.aging.unapplied_cash == Decimal("500.00")
    assert_ties_out(db, admin, data)


@pytest.mark.parametrize("as_of", ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"])
def test_every_kind_and_date_ties_out(db: Database, admin: Actor, book: Book, as_of: str) -> None:
    for customer_id in (book.unicode, book.zero, book.big, book.multi):
        for kind in ("open-items", "activity"):
            assert_ties_out(db, admin, statement(db, admin, customer_id, as_of, kind=kind))


def test_today_uses_the_maintained_amounts_and_still_ties_out(
    db: Database, admin: Actor, book: Book
) -> None:
    today = date.today().isoformat()
    for customer_id in (book.unicode, book.zero, book.big, book.multi):
        data = statement(db, admin, customer_id, today)
        assert_ties_out(db, admin, data)
    after_april = statement(db, admin, book.unicode, today)
    assert after_april.total_due == Decimal("1600.00")  # 2200 − the 600 paid on 2025-04-05


def test_activity_lists_the_period_with_a_running_balance(
    db: Database, admin: Actor, book: Book
) -> None:
    data = statement(db, admin, book.unicode, "2025-03-31", kind="activity")
    assert data.period_from == D("2025-03-01")  # the first of the month by default
    [section] = data.sections
    assert section.opening_balance == Decimal("2500.00")  # INV-1 + INV-2 − payment of 1000
    moves = [(m.date, m.entry, m.kind, m.document, m.change, m.balance) for m in section.activity]
    assert moves == [
        (D("2025-03-01"), CREDIT_NOTE, None, "CN-1", Decimal("-150.00"), Decimal("2350.00")),
        (D("2025-03-10"), "payment", None, "#2", Decimal("-500.00"), Decimal("1850.00")),
        (D("2025-03-20"), INVOICE, None, "INV-3", Decimal("400.00"), Decimal("2250.00")),
        (
            D("2025-03-25"),
            "allocation",
            "write_off",
            "INV-3",
            Decimal("-50.00"),
            Decimal("2200.00"),
        ),
    ]
    assert section.closing_balance == Decimal("2200.00")
    longer = statement(
        db, admin, book.unicode, "2025-04-30", kind="activity", period_from=D("2025-02-01")
    )
    entries = [(m.entry, m.kind) for m in longer.primary.activity]
    # February's invoice and payment, and April's payment applied to INV-2 (changes nothing).
    assert entries[:3] == [(INVOICE, None), ("payment", None), ("allocation", "payment")]
    assert entries[-2:] == [("payment", None), ("allocation", "payment")]
    assert longer.primary.activity[-1].change == 0
    assert_ties_out(db, admin, longer)


def test_zero_balance_customer(db: Database, admin: Actor, book: Book) -> None:
    for kind in ("open-items", "activity"):
        data = statement(db, admin, book.zero, "2025-03-31", kind=kind)
        assert [s.currency for s in data.sections] == ["GBP"]
        assert data.total_due == 0 and data.primary.open_lines == ()
        assert_ties_out(db, admin, data)


def test_other_currencies_get_their_own_section(db: Database, admin: Actor, book: Book) -> None:
    data = statement(db, admin, book.multi, "2025-03-31")
    assert [(s.currency, s.total_due) for s in data.sections] == [
        ("EUR", Decimal("800.00")),
        ("USD", Decimal("1000.00")),
    ]
    assert data.total_due == Decimal("800.00")  # the customer's own currency
    assert_ties_out(db, admin, data)


def test_big_customer_ties_out(db: Database, admin: Actor, book: Book) -> None:
    data = statement(db, admin, book.big, "2025-12-31")
    lines = data.primary.open_lines
    assert len(lines) == 300
    assert data.total_due == sum(Decimal("100.00") + Decimal(k) / 100 for k in range(300))
    assert_ties_out(db, admin, data)


def test_bad_requests_are_refused_clearly(db: Database, admin: Actor, book: Book) -> None:
    with pytest.raises(NotFound, match="#999999"):
        statement(db, admin, 999999, "2025-03-31")
    with pytest.raises(ValidationFailed, match="period from"):
        statement(
            db, admin, book.unicode, "2025-03-31", kind="activity", period_from=D("2025-04-01")
        )
    with pytest.raises(ValidationFailed, match="kind"):
        statement(db, admin, book.unicode, "2025-03-31", kind="weekly")


def test_every_role_may_print_statements(db: Database, admin: Actor, book: Book) -> None:
    assert Permission.PRINT_STATEMENTS.roles == frozenset(Role)
    colin = add_user(db, admin, "colin", Role.COLLECTOR)
    pdf = render_statement(db, colin, StatementRequest(book.unicode, D("2025-03-31")))
    assert pdf.startswith(b"%PDF-")


# ---------------------------------------------------------------------------------------------
# The PDF
# ---------------------------------------------------------------------------------------------


def test_pdf_shows_the_items_and_the_ledger_total(db: Database, admin: Actor, book: Book) -> None:
    pdf = render_statement(db, admin, StatementRequest(book.unicode, D("2025-03-31")))
    reader, pages = pdf_text(pdf)
    assert len(pages) == 1
    text = pages[0]
    assert UNICODE_NAME in text and "Düsseldorf" in text
    for number in ("INV-2", "INV-3", "CN-1"):
        assert number in text
    assert "INV-1 " not in text  # paid before the statement date
    net, _aged = ledger_balance(db, admin, book.unicode, D("2025-03-31"), "EUR")
    # German customer: German number and date formats.
    assert format(net, ".2f") == "2200.00"
    assert "EUR 2.200,00" in text
    assert re.search(r"Total due\s+2\.200,00", text)
    assert "31.03.2025" in text and "2.500,00" in text and "-150,00" in text
    assert "Disputed" in text
    assert "Remittance advice" in text and "Page 1 of 1" in text
    assert "GB82 WEST 1234 5698 7654 32" in text  # the letterhead's bank details on the slip
    meta = reader.metadata
    assert meta.title == "Statement of account Z-1 2025-03-31"
    assert meta.author == "Your Company Ltd"
    assert meta.subject == f"Open items of {UNICODE_NAME} at 2025-03-31"


def test_pdf_fonts_are_embedded_and_the_structure_is_sound(
    db: Database, admin: Actor, book: Book
) -> None:
    pdf = render_statement(db, admin, StatementRequest(book.unicode, D("2025-03-31")))
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert pdf.rstrip().endswith(b"%%EOF")
    assert reader.trailer["/Root"]["/Type"] == "/Catalog"
    fonts = {}
    for page in reader.pages:
        for _name, ref in page["/Resources"]["/Font"].items():
            font = ref.get_object()
            fonts[font["/BaseFont"]] = font
    assert fonts, "no fonts"
    for name, font in fonts.items():
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{name} is not embedded"
        assert "DejaVuSans" in name
        assert "/ToUnicode" in font
    # Every object the cross-reference table names can be read back.
    for number in range(1, len(reader.xref_objStm) + 2):
        reader.get_object(number)


def test_big_statement_runs_over_pages_with_the_header_repeated(
    db: Database, admin: Actor, book: Book
) -> None:
    pdf = render_statement(db, admin, StatementRequest(book.big, D("2025-12-31")))
    _reader, pages = pdf_text(pdf)
    assert len(pages) >= 4
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        if number < len(pages) or "BIG-" in text:
            assert "Original amount" in text and "Open amount" in text  # header on every page
    everything = "\n".join(pages)
    found = set(re.findall(r"BIG-\d{4}", everything))
    assert found == {f"BIG-{k:04d}" for k in range(1, 301)}
    # French customer: 1 234,56 with a narrow no-break space.
    total = formats_for_country("FR").money(Decimal("30448.50"), "EUR")
    assert locale_for_country("FR") == "fr_FR"
    assert re.search(r"Total due\s+" + re.escape(total), everything)
    assert "Remittance advice" in pages[-1]


def test_zero_balance_pdf(db: Database, admin: Actor, book: Book) -> None:
    for kind in ("open-items", "activity"):
        pdf = render_statement(db, admin, StatementRequest(book.zero, D("2025-03-31"), kind))
        _reader, [text] = pdf_text(pdf)
        assert "GBP 0.00" in text
        assert "nothing is due" in text
        if kind == "open-items":
            assert "No open items on 31/03/2025" in text
        else:
            assert "Opening balance" in text and "Closing balance" in text


def test_activity_pdf(db: Database, admin: Actor, book: Book) -> None:
    request = StatementRequest(book.unicode, D("2025-03-31"), "activity")
    _reader, [text] = pdf_text(render_statement(db, admin, request))
    assert "Account activity 01.03.2025 – 31.03.2025" in text
    assert re.search(r"Opening balance\s+2\.500,00", text)
    assert re.search(r"Closing balance\s+2\.200,00", text)
    assert "Balance written off" in text
    assert "rounding agreed" not in text  # the write-off's internal reason stays inside


def test_multi_currency_pdf(db: Database, admin: Actor, book: Book) -> None:
    request = StatementRequest(book.multi, D("2025-03-31"))
    _reader, pages = pdf_text(render_statement(db, admin, request))
    text = "\n".join(pages)
    assert "Amounts in EUR" in text and "Amounts in USD" in text
    assert "EUR 800,00" in text and "USD 1.000,00" in text  # nl_NL formats


# ---------------------------------------------------------------------------------------------
# Files and the delivery log
# ---------------------------------------------------------------------------------------------


def test_write_statement_logs_the_file(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    target = tmp_path / "z1.pdf"
    made = write_statement(db, admin, StatementRequest(book.unicode, D("2025-03-31")), target)
    data = target.read_bytes()
    assert made.sha256 == hashlib.sha256(data).hexdigest()
    assert (made.customer_number, made.pages, made.total_due, made.currency) == (
        "Z-1",
        1,
        Decimal("2200.00"),
        "EUR",
    )
    [row] = statement_delivery.deliveries_for_customer(db, book.unicode)
    assert (row.channel, row.result, row.kind, row.statement_date) == (
        "file",
        "ok",
        "open-items",
        D("2025-03-31"),
    )
    assert row.sha256 == made.sha256 and row.file_name == str(target)
    assert row.produced_by == admin.display_name
    with db.read() as session:
        audit_rows = session.execute(
            select(AuditEntry.customer_id, AuditEntry.new_value).where(
                AuditEntry.table_name == "statement_deliveries"
            )
        ).all()
    assert [a.customer_id for a in audit_rows] == [book.unicode]
    assert "open-items statement 2025-03-31: file ok" in audit_rows[0].new_value


def test_write_statement_to_a_missing_folder(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    target = tmp_path / "nowhere" / "z1.pdf"
    with pytest.raises(O2CError, match="does not exist"):
        write_statement(db, admin, StatementRequest(book.unicode, D("2025-03-31")), target)
    with db.read() as session:
        assert session.scalars(select(StatementDelivery.id)).all() == []


def test_record_delivery_validates_and_keeps_order(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    first = statement_delivery.record_delivery(
        db,
        admin,
        customer_id=book.zero,
        statement_date=D("2025-03-31"),
        kind="open-items",
        file=tmp_path / "a.pdf",
        sha256="a" * 64,
        channel="email",
        result="failed",
        detail="550 mailbox unavailable",
        recipient="ap@settled.example",
    )
    second = statement_delivery.record_delivery(
        db,
        admin,
        customer_id=book.zero,
        statement_date=D("2025-03-31"),
        kind="open-items",
        file=tmp_path / "a.pdf",
        sha256="a" * 64,
        channel="print",
        result="ok",
    )
    rows = statement_delivery.deliveries_for_customer(db, book.zero)
    assert [r.id for r in rows] == [second, first]  # newest first
    assert rows[1].recipient == "ap@settled.example" and rows[1].detail.startswith("550")
    with pytest.raises(ValidationFailed) as refused:
        statement_delivery.record_delivery(
            db,
            admin,
            customer_id=book.zero,
            statement_date=D("2025-03-31"),
            kind="weekly",
            file=tmp_path / "a.pdf",
            sha256="xyz",
            channel="fax",
            result="OK!",
        )
    fields = {p.field for p in refused.value.problems}
    assert fields == {"kind", "channel", "result", "sha256"}
    assert len(statement_delivery.deliveries_for_customer(db, book.zero)) == 2
