"""A reminder letter as a PDF: the statements' letterhead, fonts and page furniture, a letter's
words.

Why it leans on services/statements/render.py: a reminder must look like it comes from the same
department as the statement it follows up (logo, company block, window-envelope address, footer
with the bank details, "Page x of y"), and the statement renderer already prepares fonts and logo
once per process (pdf_assets), so a run of thousands of letters renders at statement speed. This
module imports those helpers (some are private to render.py, see `_render` below) and draws only
what differs: the title is the level's name, the facts beside the window are the reminder's, the
body is the level's template text, then the overdue items, the fee and the total due.

Amounts are exact `Decimal`s printed with the currency's minor units in the customer's locale
(statements.formatting), never through a float.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Spacer

from o2c_desktop import __version__
from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statements import render as _render
from o2c_desktop.services.statements.data import StatementData
from o2c_desktop.services.statements.formatting import formats_for_country
from o2c_desktop.services.statements.ledger_reads import Addressee
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR, register_fonts, start_document
from o2c_desktop.services.statements.pdf_table import Column, Row, RowsTable
from o2c_desktop.services.statements.render import (
    ACCENT,
    BRAND,
    CELL,
    FIRST_FRAME_TOP,
    FOOTER_TOP,
    INK,
    LATER_FRAME_TOP,
    LEFT,
    MUTED,
    RIGHT,
    RULE,
    RenderedStatement,
)

# Private helpers of the statement renderer used here (no copy of them is kept in this module):
_Run = _render._Run
_NumberedCanvas = _render._NumberedCanvas
_Text = _render._Text
_Style = _render._Style
_page = _render._page
_fit = _render._fit
_draw_logo = _render._draw_logo
_draw_right = _render._draw_right
_address_lines = _render._address_lines
_footer = _render._footer
_widths = _render._widths
_LOOK = _render._LOOK
_NOTE = _render._NOTE

_LETTER = _Style(REGULAR, 9.4, 13.2, INK)
_TITLE = _Style(BOLD, 12, 16, BRAND)


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
    """What one reminder says. `text` is the level's template already filled in."""

    as_of: date
    customer: Addressee
    level: int
    level_name: str
    text: str
    currency: str
    lines: tuple[LetterLine, ...]
    overdue: Decimal
    fee: Decimal

    @property
    def total_due(self) -> Decimal:
        return self.overdue + self.fee


# ---------------------------------------------------------------------------------------------
# Page furniture
# ---------------------------------------------------------------------------------------------


def _letterhead_band(canvas: Canvas, page: Any) -> None:
    """Logo, company name and website, the company's address block and the brand rules: the
    top of a statement's first page, drawn the same way (render._first_page)."""
    lh = page.letterhead
    top = page.height - 12 * mm
    logo_w = _draw_logo(canvas, page, LEFT, top, 17 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 14)
    canvas.drawString(
        LEFT + logo_w + 4 * mm, top - 8.5 * mm, _fit(lh.company_name, BOLD, 14, 95 * mm)
    )
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    if lh.website:
        canvas.drawString(LEFT + logo_w + 4 * mm, top - 13.5 * mm, lh.website)
    right = page.width - RIGHT
    lines = [*lh.address_lines]
    lines += [x for x in (f"Phone {lh.phone}" if lh.phone else "", lh.email, lh.tax_id) if x]
    canvas.setFillColor(INK)
    y = top - 2.5 * mm
    for line in lines[:7]:
        _draw_right(canvas, right, y, _fit(line, REGULAR, 7.5, 70 * mm), REGULAR, 7.5)
        y -= 3.5 * mm
    canvas.setStrokeColor(BRAND)
    canvas.setLineWidth(1.2)
    rule_y = page.height - 36 * mm
    canvas.line(LEFT, rule_y, right, rule_y)
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(2.4)
    canvas.line(LEFT, rule_y - 1.6, LEFT + 30 * mm, rule_y - 1.6)


def _window(canvas: Canvas, page: Any) -> None:
    """The return address and the customer's address where a window envelope shows them."""
    lh = page.letterhead
    window_top = page.height - 45 * mm
    sender = _fit(" · ".join([lh.company_name, *lh.address_lines]), REGULAR, 6.3, 85 * mm)
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 6.3)
    canvas.drawString(LEFT, window_top - 4 * mm, sender)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    underline = LEFT + canvas.stringWidth(sender, REGULAR, 6.3)
    canvas.line(LEFT, window_top - 5 * mm, underline, window_top - 5 * mm)
    canvas.setFillColor(INK)
    y = window_top - 11 * mm
    for k, line in enumerate(_address_lines(page.data, lh)):
        font = BOLD if k == 0 else REGULAR
        canvas.setFont(font, 10)
        canvas.drawString(LEFT, y, _fit(line, font, 10, 85 * mm))
        y -= 4.6 * mm


def _facts(canvas: Canvas, page: Any, letter: Letter) -> None:
    """Beside the window: the level's name as the title, the reminder's facts, the total due
    and whom to ask."""
    fmt = page.fmt
    right = page.width - RIGHT
    window_top = page.height - 45 * mm
    x0 = 118 * mm
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 15)
    canvas.drawString(x0, window_top - 4 * mm, _fit(letter.level_name, BOLD, 15, right - x0))
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 8.5)
    canvas.drawString(x0, window_top - 9 * mm, f"Payment reminder, level {letter.level}")
    facts = [
        ("Date", fmt.date(letter.as_of)),
        ("Customer number", letter.customer.number),
        ("Currency", letter.currency),
    ]
    y = window_top - 16 * mm
    for label, value in facts:
        canvas.setFillColor(MUTED)
        canvas.setFont(REGULAR, 8)
        canvas.drawString(x0, y, label)
        canvas.setFillColor(INK)
        _draw_right(canvas, right, y, value, REGULAR, 8)
        y -= 4.3 * mm
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(x0, y + 2.6 * mm, right, y + 2.6 * mm)
    y -= 1.2 * mm
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 9.5)
    canvas.drawString(x0, y, "Total due")
    total = f"{letter.currency} {fmt.money(letter.total_due, letter.currency)}"
    _draw_right(canvas, right, y, total, BOLD, 9.5)
    y -= 8 * mm
    name, phone, email = page.contact
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(x0, y, "Questions about this reminder? Please contact")
    canvas.setFillColor(INK)
    canvas.setFont(REGULAR, 7.5)
    for line in (name, " · ".join(x for x in (phone, email) if x)):
        if line:
            y -= 3.5 * mm
            canvas.drawString(x0, y, _fit(line, REGULAR, 7.5, right - x0))


def _first_page(canvas: Canvas, _doc: Any, run: Any, letter: Letter) -> None:
    page = run.begin_page()
    start_document(canvas)
    _letterhead_band(canvas, page)
    _window(canvas, page)
    _facts(canvas, page, letter)
    _footer(canvas, page)


def _later_page(canvas: Canvas, _doc: Any, run: Any, letter: Letter) -> None:
    page = run.begin_page()
    top = page.height - 11 * mm
    logo_w = _draw_logo(canvas, page, LEFT, top, 8 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 10)
    canvas.drawString(LEFT + logo_w + 3 * mm, top - 5.5 * mm, page.letterhead.company_name)
    canvas.setFillColor(MUTED)
    text = (
        f"{letter.level_name} · {letter.customer.number} · "
        f"{_fit(letter.customer.name, REGULAR, 8, 60 * mm)} · {page.fmt.date(letter.as_of)}"
    )
    _draw_right(canvas, page.width - RIGHT, top - 5.5 * mm, text, REGULAR, 8)
    canvas.setStrokeColor(BRAND)
    canvas.setLineWidth(0.8)
    y = page.height - 21 * mm
    canvas.line(LEFT, y, page.width - RIGHT, y)
    _footer(canvas, page)


# ---------------------------------------------------------------------------------------------
# The story
# ---------------------------------------------------------------------------------------------


def _items_table(page: Any, letter: Letter) -> RowsTable:
    widths = _widths(page, (44, 26, 26, 22, 34))
    columns = [
        Column(widths[0]),
        Column(widths[1]),
        Column(widths[2]),
        Column(widths[3], right=True),
        Column(widths[4], right=True),
    ]
    header = ["Document", "Issue date", "Due date", "Days\noverdue", "Open amount"]
    fmt = page.fmt

    def money(value: Decimal) -> str:
        return fmt.money(value, letter.currency)

    rows = [
        Row(
            (
                _fit(line.number, REGULAR, CELL, widths[0] - 7),
                fmt.date(line.issue_date),
                fmt.date(line.due_date),
                str(line.days_past_due),
                money(line.open_amount),
            )
        )
        for line in letter.lines
    ]
    rows.append(Row(("Total overdue", "", "", "", money(letter.overdue)), bold=True))
    if letter.fee:
        rows.append(Row(("Reminder fee", "", "", "", money(letter.fee))))
    closing = Row(
        ("Total due", "", "", "", f"{letter.currency} {money(letter.total_due)}"), bold=True
    )
    return RowsTable(columns, header, rows, _LOOK, closing)


def _story(page: Any, letter: Letter) -> list[Flowable]:
    heading = f"{letter.level_name} · customer number {letter.customer.number}"
    story: list[Flowable] = [_Text(heading, _TITLE), Spacer(0, 2 * mm)]
    for paragraph in letter.text.split("\n\n"):
        if paragraph.strip():
            story += [_Text(paragraph.strip("\n"), _LETTER), Spacer(0, 2.6 * mm)]
    story += [Spacer(0, 2 * mm), _items_table(page, letter), Spacer(0, 3 * mm)]
    story.append(
        _Text(
            f"Amounts in {letter.currency}. Items under dispute with us are not listed; they "
            "stay on your account until the dispute is settled. Please quote your customer "
            f"number {letter.customer.number} with your payment.",
            _NOTE,
        )
    )
    return story


def _templates(page: Any, run: Any, letter: Letter) -> list[PageTemplate]:
    width, height = page.size

    def frame(top: float, name: str) -> Frame:
        return Frame(
            LEFT,
            FOOTER_TOP,
            width - LEFT - RIGHT,
            height - top - FOOTER_TOP,
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
            id=name,
        )

    return [
        PageTemplate(
            "first",
            [frame(FIRST_FRAME_TOP, "first")],
            onPage=partial(_first_page, run=run, letter=letter),
            autoNextPageTemplate="later",
            pagesize=page.size,
        ),
        PageTemplate(
            "later",
            [frame(LATER_FRAME_TOP, "later")],
            onPage=partial(_later_page, run=run, letter=letter),
            pagesize=page.size,
        ),
    ]


def _addressed(letter: Letter, letterhead: Letterhead) -> Any:
    """The statement renderer's page facts (paper size by country, locale formats, logo, who
    to ask) for this customer: it takes them from a statement's content, of which a letter
    needs only the addressee and the date."""
    data = StatementData("open-items", letter.as_of, None, letter.customer, ())
    return _page(data, letterhead)


def render_letter(letter: Letter, letterhead: Letterhead) -> RenderedStatement:
    """The reminder as PDF bytes, and how many pages it has."""
    register_fonts()
    page = _addressed(letter, letterhead)
    run = _Run([page])
    buffer = io.BytesIO()
    day = letter.as_of.isoformat()
    doc = BaseDocTemplate(
        buffer,
        pagesize=page.size,
        pageTemplates=_templates(page, run, letter),
        title=f"{letter.level_name} {letter.customer.number} {day}",
        author=letterhead.company_name,
        subject=f"{letter.level_name} to {letter.customer.name} as of {day}",
        keywords=["dunning", letter.customer.number, day, f"level {letter.level}"],
        creator=f"O2C Desktop {__version__}",
        initialFontName=REGULAR,
        pageCompression=1,
        lang="en",
    )
    doc.build(_story(page, letter), canvasmaker=partial(_NumberedCanvas, run=run))
    return RenderedStatement(buffer.getvalue(), doc.page)


def money_text(value: Decimal, currency: str, country: str | None) -> str:
    """An amount as the letter's text writes it ("1.234,50 EUR" for a German customer): the
    same words as the statement e-mails (statement_mail.template_values)."""
    return f"{formats_for_country(country).money(value, currency)} {currency}"


def date_text(day: date, country: str | None) -> str:
    """A date as the customer's locale writes it (31.05.2025 in Germany)."""
    return formats_for_country(country).date(day)


__all__ = ["Letter", "LetterLine", "date_text", "money_text", "render_letter"]
