"""A statement as a PDF: ReportLab platypus, fonts embedded, "Page x of y", a remittance slip.

Layout (A4; US Letter for customers in the US and Canada):
- first page: the letterhead and the customer's address in the envelope window
  (page_furniture), beside it the statement's facts (date, customer number, currency, total due,
  who to ask); then the items.
- later pages: a slim running header; the items table repeats its header row.
- every page: a footer with the company's registration and bank details and "Page x of y".
- the last page ends with a remittance slip (dashed cut line) at its foot.

This module holds what is a statement's own: its facts, tables, aging, slip and words. The pages
themselves (layout, page_furniture, pdf_document, pdf_text) are shared with the reminder letters.

Speed matters (batches of thousands): the fixed parts are drawn straight on the canvas, table
cells are plain strings (no Paragraph per cell), and fonts and logo are prepared once per process
(pdf_assets). A one-page statement renders in a few milliseconds.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    Spacer,
    Table,
)

from o2c_desktop.models.ledger import ALLOC_CREDIT, ALLOC_DISCOUNT, ALLOC_PAYMENT, CREDIT_NOTE
from o2c_desktop.services.letterhead import Letterhead, format_iban
from o2c_desktop.services.statements.data import (
    PAYMENT,
    ActivityLine,
    CurrencySection,
    StatementData,
)
from o2c_desktop.services.statements.formatting import Formats
from o2c_desktop.services.statements.layout import (
    ALERT,
    BRAND,
    CELL,
    INK,
    LEFT,
    MUTED,
    RIGHT,
    RULE,
    TABLE_LOOK,
    TINT,
    Page,
    column_widths,
    page_for,
)
from o2c_desktop.services.statements.page_furniture import Facts
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR, register_fonts
from o2c_desktop.services.statements.pdf_document import (
    RenderedStatement,
    Run,
    build_pdf,
    size_name,
)
from o2c_desktop.services.statements.pdf_table import Column, Row, RowsTable
from o2c_desktop.services.statements.pdf_text import NOTE, Style, Text, fit

SLIP_BASE = 25 * mm  # the slip without its rows: cut line, title, "Amount paid"
SLIP_ROW = 4.1 * mm
KIND_WORDS = {"invoice": "Invoice", CREDIT_NOTE: "Credit note", PAYMENT: "Payment"}
METHOD_WORDS = {
    "bank_transfer": "bank transfer",
    "direct_debit": "direct debit",
    "cheque": "cheque",
    "card": "card",
}
RUNNING_TITLE = "Statement of account"

BODY = Style(REGULAR, 8.6, 12, INK)
HEADING = Style(BOLD, 11.5, 15, BRAND)
SECTION = Style(BOLD, 9.5, 13, INK, space_before=4)


# ---------------------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------------------


def bucket_heading(label: str) -> str:
    """'current' → 'Current', '1-30' → '1–30 days', '91+' → '91+ days'."""
    if re.fullmatch(r"\d+\s*-\s*\d+", label):
        low, high = (part.strip() for part in label.split("-"))
        return f"{low}–{high} days"
    if re.fullmatch(r"\d+\s*\+", label):
        return f"{label.replace(' ', '')} days"
    return label[:1].upper() + label[1:]


def _describe(line: ActivityLine, money: Callable[[Decimal], str], fmt: Formats) -> str:
    """An activity line in words the customer understands (no internal notes)."""
    if line.entry == "invoice":
        return "Invoice" + (f", due {fmt.date(line.due_date)}" if line.due_date else "")
    if line.entry == CREDIT_NOTE:
        return "Credit note"
    if line.entry == PAYMENT:
        method = METHOD_WORDS.get(line.method or "", line.method or "")
        return "Payment received" + (f" ({method})" if method else "") + ", thank you"
    amount = money(line.amount)
    reversed_ = line.entry == "reversal"
    if line.kind == ALLOC_PAYMENT:
        return f"Payment {amount} " + ("un-applied (reversed)" if reversed_ else "applied")
    if line.kind == ALLOC_CREDIT:
        note = f"Credit note {line.related or ''}".strip()
        return f"{note} {amount} " + ("un-applied (reversed)" if reversed_ else "applied")
    if line.kind == ALLOC_DISCOUNT:
        return "Early-payment discount" + (" reversed" if reversed_ else "")
    return "Balance written off" + (" (reversed)" if reversed_ else "")


# ---------------------------------------------------------------------------------------------
# The first page
# ---------------------------------------------------------------------------------------------


def _facts(page: Page) -> Facts:
    """Beside the window: the statement's date (and period), customer number, currencies, and
    what is due or in credit in the customer's currency."""
    data, fmt = page.data, page.fmt
    rows = [("Statement date", fmt.date(data.as_of))]
    if data.period_from is not None:
        rows.append(("Period", f"{fmt.date(data.period_from)} – {fmt.date(data.as_of)}"))
    rows.append(("Customer number", data.customer.number))
    rows.append(("Currency", ", ".join(s.currency for s in data.sections)))
    due = data.total_due
    return Facts(
        title=RUNNING_TITLE,
        subtitle="Open items" if data.kind == "open-items" else "Account activity",
        rows=rows,
        total_label="Total due" if due >= 0 else "Credit balance",
        total=f"{data.currency} {page.money(abs(due))}",
        document="statement",
    )


class _NextStatement(Flowable):
    """Placed after a statement's last flowable: the pages from here on are the next one's."""

    def __init__(self, run: Run, number: int):
        super().__init__()
        self.run, self.number = run, number

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.run.current = self.number


# ---------------------------------------------------------------------------------------------
# Flowables: tables, totals, the slip
# ---------------------------------------------------------------------------------------------


def _open_items_table(page: Page, section: CurrencySection) -> RowsTable:
    widths = column_widths(page, (30, 21, 19, 19, 15, 24, 24, 20))
    columns = [
        Column(widths[0]),
        Column(widths[1]),
        Column(widths[2]),
        Column(widths[3]),
        Column(widths[4], right=True),
        Column(widths[5], right=True),
        Column(widths[6], right=True),
        Column(widths[7], size=CELL - 0.6),
    ]
    header = [
        "Document",
        "Type",
        "Date",
        "Due date",
        "Days\noverdue",
        "Original amount",
        "Open amount",
        "Note",
    ]
    money = partial(page.money, currency=section.currency)
    fmt = page.fmt
    rows = []
    for line in section.open_lines:
        note = ""
        if line.disputed:
            note = "Disputed"
            if line.disputed_amount != line.open_amount:
                note = f"Disputed {money(line.disputed_amount)}"
        rows.append(
            Row(
                (
                    fit(line.document, REGULAR, CELL, widths[0] - 7),
                    KIND_WORDS.get(line.kind, line.kind),
                    fmt.date(line.date),
                    fmt.date(line.due_date) if line.due_date else "",
                    str(line.days_overdue) if line.days_overdue else "",
                    money(line.amount),
                    money(line.open_amount),
                    fit(note, REGULAR, CELL - 0.6, widths[7] - 7),
                ),
                colors={7: ALERT} if note else {},
            )
        )
    if not section.open_lines:
        rows.append(Row((f"No open items on {fmt.date(page.data.as_of)}.",), colors={0: MUTED}))
    label = "Total due" if section.total_due >= 0 else "Credit balance"
    closing = Row((label, "", "", "", "", "", money(section.total_due)), bold=True)
    return RowsTable(columns, header, rows, TABLE_LOOK, closing)


def _activity_table(page: Page, section: CurrencySection) -> RowsTable:
    widths = column_widths(page, (19, 28, 63, 21, 21, 22))
    columns = [Column(width, right=k >= 3) for k, width in enumerate(widths)]  # amounts right
    money = partial(page.money, currency=section.currency)
    fmt = page.fmt
    data = page.data
    assert data.period_from is not None and section.opening_balance is not None
    opening_day = data.period_from - timedelta(days=1)
    rows = [
        Row(
            (fmt.date(opening_day), "", "Opening balance", "", "", money(section.opening_balance)),
            bold=True,
        )
    ]
    for line in section.activity:
        rows.append(
            Row(
                (
                    fmt.date(line.date),
                    fit(line.document, REGULAR, CELL, widths[1] - 7),
                    fit(_describe(line, money, fmt), REGULAR, CELL, widths[2] - 7),
                    money(line.debit) if line.debit else "",
                    money(line.credit) if line.credit else "",
                    money(line.balance),
                )
            )
        )
    if not section.activity:
        rows.append(
            Row(("", "", f"No activity from {fmt.date(data.period_from)}."), colors={2: MUTED})
        )
    closing = Row(
        (fmt.date(data.as_of), "", "Closing balance", "", "", money(section.closing_balance)),
        bold=True,
    )
    header = ["Date", "Document", "Description", "Debit", "Credit", "Balance"]
    return RowsTable(columns, header, rows, TABLE_LOOK, closing)


def _aging_table(page: Page, section: CurrencySection) -> Table:
    summary = section.aging
    money = partial(page.money, currency=section.currency)
    header = [bucket_heading(label) for label in summary.labels]
    values = [money(v) for v in summary.amounts]
    if summary.unapplied_cash:
        header.append("Unapplied cash")
        values.append(money(-summary.unapplied_cash))
    header.append("Total due" if summary.total_due >= 0 else "Credit balance")
    values.append(money(summary.total_due))
    columns = len(header)
    widths = [page.content_width / columns] * columns
    table = Table([header, values], colWidths=widths, hAlign="LEFT")
    table.setStyle(
        [
            ("FONT", (0, 0), (-1, 0), BOLD, CELL - 0.6),
            ("FONT", (0, 1), (-1, 1), REGULAR, CELL + 0.2),
            ("FONT", (-1, 1), (-1, 1), BOLD, CELL + 0.6),
            ("TEXTCOLOR", (0, 0), (-1, 0), BRAND),
            ("TEXTCOLOR", (0, 1), (-1, 1), INK),
            ("BACKGROUND", (0, 0), (-1, 0), TINT),
            ("BACKGROUND", (-1, 0), (-1, 1), TINT),
            ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
            ("TOPPADDING", (0, 0), (-1, -1), 2.6),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3.0),
            ("LINEBELOW", (0, 1), (-1, 1), 0.8, BRAND),
        ]
    )
    return table


def _slip_rows(page: Page, half: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    data, lh, fmt = page.data, page.letterhead, page.fmt
    left = [
        ("Customer", fit(data.customer.name, REGULAR, 8, half - 30 * mm)),
        ("Customer number", data.customer.number),
        ("Statement date", fmt.date(data.as_of)),
    ]
    for section in data.sections:
        label = "Amount due" if section.total_due >= 0 else "Credit balance"
        amount = f"{section.currency} {fmt.money(abs(section.total_due), section.currency)}"
        left.append((label, amount))
    right = [
        ("Pay to", fit(lh.company_name, REGULAR, 8, half - 26 * mm)),
        ("Bank", fit(lh.bank_name, REGULAR, 8, half - 26 * mm)),
        ("IBAN", format_iban(lh.iban) if lh.iban else ""),
        ("BIC", lh.bic),
        ("Reference", data.customer.number),
    ]
    return left, [row for row in right if row[1]]


class _RemittanceSlip(Flowable):
    """Takes the rest of the last page and draws the slip at its foot (on a page of its own
    when too little room is left). Its height grows with the currencies it lists."""

    def __init__(self, page: Page):
        super().__init__()
        self.page = page
        left, right = _slip_rows(page, page.content_width / 2 - 4 * mm)
        self.slip_height = SLIP_BASE + max(len(left), len(right)) * SLIP_ROW

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        # One point short of the rest of the frame: platypus counts a frame filled to the last
        # point as full even for a flowable of no height, and a combined PDF places one (the
        # switch to the next statement) after each slip.
        self.width = available_width
        return available_width, max(self.slip_height, available_height - 1)

    def draw(self) -> None:
        _draw_slip(self.canv, self.page, self.width, self.slip_height)


def _draw_slip(canvas: Canvas, page: Page, width: float, height: float) -> None:
    """The slip in the flowable's coordinates: (0, 0) is the frame's bottom-left corner."""
    top = height - 3 * mm
    canvas.saveState()
    canvas.setStrokeColor(MUTED)
    canvas.setLineWidth(0.6)
    canvas.setDash(4, 3)
    canvas.line(-LEFT + 4 * mm, top, width + RIGHT - 4 * mm, top)
    canvas.setDash()
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 10)
    canvas.drawString(-LEFT + 6 * mm, top - 1.3 * mm, "✂")
    canvas.setFont(REGULAR, 6.5)
    canvas.drawRightString(
        width, top + 1.4 * mm, "Please detach and return this slip with your payment"
    )
    y = top - 7 * mm
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 11)
    canvas.drawString(0, y, "Remittance advice")
    half = width / 2 - 4 * mm
    left, right = _slip_rows(page, half)
    y -= 6 * mm
    for k, (label, value) in enumerate(left):
        _slip_row(canvas, 0, y - k * SLIP_ROW, half, label, value, bold=k >= 3)
    x = width / 2 + 4 * mm
    for k, (label, value) in enumerate(right):
        _slip_row(canvas, x, y - k * SLIP_ROW, half, label, value, bold=label == "Reference")
    # Where the customer writes what it pays.
    y_paid = 3 * mm
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawString(0, y_paid, "Amount paid")
    canvas.drawString(x, y_paid, "Date paid")
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.6)
    canvas.line(24 * mm, y_paid - 0.8 * mm, half, y_paid - 0.8 * mm)
    canvas.line(x + 24 * mm, y_paid - 0.8 * mm, x + half, y_paid - 0.8 * mm)
    canvas.restoreState()


def _slip_row(
    canvas: Canvas, x: float, y: float, width: float, label: str, value: str, *, bold: bool
) -> None:
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawString(x, y, label)
    canvas.setFillColor(INK)
    font = BOLD if bold else REGULAR
    canvas.setFont(font, 8.2 if bold else 8)
    canvas.drawRightString(x + width, y, value)


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------


def _intro(page: Page) -> list[Flowable]:
    data, fmt = page.data, page.fmt
    day = fmt.date(data.as_of)
    if data.kind == "activity":
        assert data.period_from is not None
        title = f"Account activity {fmt.date(data.period_from)} – {day}"
        text = (
            "Below is the activity on your account in the period, with the balance after each "
            "entry, and the aging of what is open at the end of it."
        )
    else:
        title = f"Open items at {day}"
        text = "Below are the items open on your account at the statement date."
    due = data.total_due
    others = [s for s in data.sections[1:] if s.total_due]
    if due > 0 or any(s.total_due > 0 for s in others):
        text += (
            f" Please pay the amount due, quoting your customer number {data.customer.number}."
            " If you have paid in the meantime, thank you, and please disregard this statement."
        )
    elif due < 0:
        text += " Your account shows a credit balance in your favour; nothing is due."
    else:
        text += " Your account is settled: nothing is due. Thank you."
    return [Text(title, HEADING), Spacer(0, 1 * mm), Text(text, BODY), Spacer(0, 3 * mm)]


def _story(page: Page) -> list[Flowable]:
    data = page.data
    story = _intro(page)
    several = len(data.sections) > 1
    for number, section in enumerate(data.sections):
        if several:
            if number:
                story.append(CondPageBreak(45 * mm))
            story.append(Text(f"Amounts in {section.currency}", SECTION))
            story.append(Spacer(0, 1.5 * mm))
        table = (
            _activity_table(page, section)
            if data.kind == "activity"
            else _open_items_table(page, section)
        )
        story.append(table)
        story.append(Spacer(0, 4 * mm))
        story.append(
            KeepTogether(
                [
                    Text("Aging of the open amounts (days past due)", NOTE),
                    Spacer(0, 1 * mm),
                    _aging_table(page, section),
                ]
            )
        )
        story.append(Spacer(0, 5 * mm))
    if any(line.disputed for s in data.sections for line in s.open_lines):
        story.append(
            Text(
                "Items marked Disputed are under review with us; they stay on your account "
                "until the dispute is settled.",
                NOTE,
            )
        )
    story.append(_RemittanceSlip(page))
    return story


def _build(
    pages: Sequence[Page], target: Any, title: str, subject: str, keywords: list[str]
) -> int:
    """Lay the statements out one after the other into `target`; returns the page count."""
    register_fonts()
    run = Run(pages)
    story: list[Flowable] = []
    for number, page in enumerate(pages):
        story += _story(page)
        if number + 1 < len(pages):
            following = size_name(pages[number + 1].size)
            story += [
                _NextStatement(run, number + 1),
                NextPageTemplate(f"first-{following}"),
                PageBreak(),
            ]
    return build_pdf(
        target,
        run,
        story,
        facts=_facts,
        running_title=RUNNING_TITLE,
        title=title,
        subject=subject,
        keywords=keywords,
    )


def render_pdf(data: StatementData, letterhead: Letterhead) -> RenderedStatement:
    """The statement as PDF bytes, and how many pages it has."""
    kind = "Open items" if data.kind == "open-items" else "Account activity"
    day = data.as_of.isoformat()
    buffer = io.BytesIO()
    pages = _build(
        [page_for(data, letterhead)],
        buffer,
        f"Statement of account {data.customer.number} {day}",
        f"{kind} of {data.customer.name} at {day}",
        ["statement", data.customer.number, day],
    )
    return RenderedStatement(buffer.getvalue(), pages)


def render_combined(
    statements: Sequence[StatementData], letterhead: Letterhead, target: Any
) -> int:
    """Many statements in one PDF for printing (each starts on a new page and numbers its own
    pages); the fonts and the logo are embedded once. Returns the page count."""
    if not statements:
        raise ValueError("no statements to combine")
    day = statements[0].as_of.isoformat()
    return _build(
        [page_for(data, letterhead) for data in statements],
        target,
        f"Statements of account {day}",
        f"{len(statements)} statements of account at {day}",
        ["statements", day],
    )


__all__ = ["RenderedStatement", "bucket_heading", "render_combined", "render_pdf"]
