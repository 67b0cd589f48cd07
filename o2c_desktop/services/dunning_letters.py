"""A reminder letter as a PDF, on the statements' pages: letterhead, window-envelope address,
footer with the bank details, "Page x of y" (services/statements: layout, page_furniture,
pdf_document, pdf_text), and a letter's words.

Why on the statements' pages: a reminder must look like it comes from the same department as the
statement it follows up, and the statement renderer already prepares fonts and logo once per
process (pdf_assets), so a run of thousands of letters renders at statement speed. This module
brings only what differs: the title is the level's name, the facts beside the window are the
reminder's, the body is the level's template text, then the overdue items, what the customer
has paid or been credited but not yet applied ("less unapplied payments/credits"), the net
amount due, the fee and the total due. Credits are shown, not hidden in the total: a customer
who paid on account must see that the payment was counted, or the letter reads as a demand for
money already sent.

Amounts are exact `Decimal`s printed with the currency's minor units in the customer's locale
(statements.formatting), never through a float.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statements.data import StatementData
from o2c_desktop.services.statements.formatting import formats_for_country
from o2c_desktop.services.statements.layout import (
    BRAND,
    CELL,
    INK,
    TABLE_LOOK,
    Page,
    column_widths,
    page_for,
)
from o2c_desktop.services.statements.ledger_reads import Addressee
from o2c_desktop.services.statements.page_furniture import Facts
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR, register_fonts
from o2c_desktop.services.statements.pdf_document import RenderedStatement, Run, build_pdf
from o2c_desktop.services.statements.pdf_table import Column, Row, RowsTable
from o2c_desktop.services.statements.pdf_text import NOTE, Style, Text, fit

LETTER_TEXT = Style(REGULAR, 9.4, 13.2, INK)
TITLE = Style(BOLD, 12, 16, BRAND)


@dataclass(frozen=True)
class LetterLine:
    """An overdue item the letter lists; `open_amount` is what is dunned of it (its open amount
    less any disputed part)."""

    number: str
    issue_date: date
    due_date: date
    days_past_due: int
    open_amount: Decimal


@dataclass(frozen=True)
class Letter:
    """What one reminder says. `text` is the level's template already filled in. `overdue` is
    what the lines add up to; `credits` the customer's unapplied payments and open credit notes
    in the letter's currency netted against it (less than `overdue`: a letter is proposed only
    while something is left)."""

    as_of: date
    customer: Addressee
    level: int
    level_name: str
    text: str
    currency: str
    lines: tuple[LetterLine, ...]
    overdue: Decimal
    fee: Decimal
    credits: Decimal = Decimal(0)

    @property
    def net_due(self) -> Decimal:
        """The overdue items less the credits: what the customer is asked to pay."""
        return self.overdue - self.credits

    @property
    def total_due(self) -> Decimal:
        return self.net_due + self.fee


# ---------------------------------------------------------------------------------------------
# The first page
# ---------------------------------------------------------------------------------------------


def _facts(page: Page, letter: Letter) -> Facts:
    """Beside the window: the level's name as the title, the reminder's date, customer number
    and currency, and the total due with the fee."""
    return Facts(
        title=letter.level_name,
        subtitle=f"Payment reminder, level {letter.level}",
        rows=[
            ("Date", page.fmt.date(letter.as_of)),
            ("Customer number", letter.customer.number),
            ("Currency", letter.currency),
        ],
        total_label="Total due",
        total=f"{letter.currency} {page.fmt.money(letter.total_due, letter.currency)}",
        document="reminder",
    )


# ---------------------------------------------------------------------------------------------
# The story
# ---------------------------------------------------------------------------------------------


def _items_table(page: Page, letter: Letter) -> RowsTable:
    widths = column_widths(page, (44, 26, 26, 22, 34))
    columns = [Column(width, right=k >= 3) for k, width in enumerate(widths)]  # amounts right
    header = ["Document", "Issue date", "Due date", "Days\noverdue", "Open amount"]
    fmt = page.fmt

    def money(value: Decimal) -> str:
        return fmt.money(value, letter.currency)

    rows = [
        Row(
            (
                fit(line.number, REGULAR, CELL, widths[0] - 7),
                fmt.date(line.issue_date),
                fmt.date(line.due_date),
                str(line.days_past_due),
                money(line.open_amount),
            )
        )
        for line in letter.lines
    ]
    rows.append(Row(("Total overdue", "", "", "", money(letter.overdue)), bold=True))
    if letter.credits:
        rows.append(Row(("Less unapplied payments/credits", "", "", "", money(-letter.credits))))
        rows.append(Row(("Net amount due", "", "", "", money(letter.net_due)), bold=True))
    if letter.fee:
        rows.append(Row(("Reminder fee", "", "", "", money(letter.fee))))
    closing = Row(
        ("Total due", "", "", "", f"{letter.currency} {money(letter.total_due)}"), bold=True
    )
    return RowsTable(columns, header, rows, TABLE_LOOK, closing)


def _story(page: Page, letter: Letter) -> list[Flowable]:
    heading = f"{letter.level_name} · customer number {letter.customer.number}"
    story: list[Flowable] = [Text(heading, TITLE), Spacer(0, 2 * mm)]
    story += paragraphs(letter.text)
    story += [Spacer(0, 2 * mm), _items_table(page, letter), Spacer(0, 3 * mm)]
    story.append(
        Text(
            f"Amounts in {letter.currency}. Items under dispute with us are not listed; they "
            "stay on your account until the dispute is settled. Please quote your customer "
            f"number {letter.customer.number} with your payment.",
            NOTE,
        )
    )
    return story


def paragraphs(text: str) -> list[Flowable]:
    """A letter's text in its words' style, a paragraph per block between blank lines."""
    story: list[Flowable] = []
    for paragraph in text.split("\n\n"):
        if paragraph.strip():
            story += [Text(paragraph.strip("\n"), LETTER_TEXT), Spacer(0, 2.6 * mm)]
    return story


def render_on_letter_pages(
    day: date,
    customer: Addressee,
    letterhead: Letterhead,
    story: Callable[[Page], list[Flowable]],
    facts: Callable[[Page], Facts],
    **about: Any,
) -> RenderedStatement:
    """A letter to `customer` dated `day` as PDF bytes and its page count: the statement
    renderer's page (paper size by country, locale formats, logo, who to ask; it takes them
    from a statement's content, of which a letter needs only the addressee and the date), the
    `story` and `facts` beside the window drawn on it. `about`: build_pdf's running_title,
    title, subject and keywords."""
    register_fonts()
    page = page_for(StatementData("open-items", day, None, customer, ()), letterhead)
    buffer = io.BytesIO()
    pages = build_pdf(buffer, Run([page]), story(page), facts=facts, **about)
    return RenderedStatement(buffer.getvalue(), pages)


def render_letter(letter: Letter, letterhead: Letterhead) -> RenderedStatement:
    """The reminder as PDF bytes, and how many pages it has."""
    day = letter.as_of.isoformat()
    return render_on_letter_pages(
        letter.as_of,
        letter.customer,
        letterhead,
        partial(_story, letter=letter),
        partial(_facts, letter=letter),
        running_title=letter.level_name,
        title=f"{letter.level_name} {letter.customer.number} {day}",
        subject=f"{letter.level_name} to {letter.customer.name} as of {day}",
        keywords=["dunning", letter.customer.number, day, f"level {letter.level}"],
    )


def money_text(value: Decimal, currency: str, country: str | None) -> str:
    """An amount as the letter's text writes it ("1.234,50 EUR" for a German customer): the
    same words as the statement e-mails (statement_mail.template_values)."""
    return f"{formats_for_country(country).money(value, currency)} {currency}"


def date_text(day: date, country: str | None) -> str:
    """A date as the customer's locale writes it (31.05.2025 in Germany)."""
    return formats_for_country(country).date(day)


__all__ = [
    "Letter",
    "LetterLine",
    "date_text",
    "money_text",
    "paragraphs",
    "render_letter",
    "render_on_letter_pages",
]
