"""A statement as a PDF: ReportLab platypus, fonts embedded, "Page x of y", a remittance slip.

Layout (A4; US Letter for customers in the US and Canada):
- first page: logo and company name, the company's address block, a rule; the customer's
  address where a DIN 5008 / DL window envelope shows it (20 mm from the left, 45 mm from the
  top), beside it the statement's facts (date, customer number, currency, total due, who to
  ask); then the items.
- later pages: a slim running header; the items table repeats its header row.
- every page: a footer with the company's registration and bank details and "Page x of y".
- the last page ends with a remittance slip (dashed cut line) at its foot.

Speed matters (batches of thousands): the fixed parts are drawn straight on the canvas, table
cells are plain strings (no Paragraph per cell), and fonts and logo are prepared once per process
(pdf_assets). A one-page statement renders in a few milliseconds.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache, partial
from typing import Any

from babel import Locale
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Spacer,
    Table,
)

from o2c_desktop import __version__
from o2c_desktop.models.ledger import ALLOC_CREDIT, ALLOC_DISCOUNT, ALLOC_PAYMENT, CREDIT_NOTE
from o2c_desktop.services.letterhead import Letterhead, format_iban
from o2c_desktop.services.statements.data import (
    PAYMENT,
    ActivityLine,
    CurrencySection,
    StatementData,
)
from o2c_desktop.services.statements.formatting import Formats, formats_for_country
from o2c_desktop.services.statements.pdf_assets import (
    BOLD,
    REGULAR,
    logo_image,
    register_fonts,
    start_document,
)
from o2c_desktop.services.statements.pdf_table import Column, Look, Row, RowsTable

INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5b6876")
BRAND = colors.HexColor("#1f4e79")
ACCENT = colors.HexColor("#78c4d6")
ZEBRA = colors.HexColor("#f1f5f9")
TINT = colors.HexColor("#e4ecf4")
RULE = colors.HexColor("#c5d0db")
ALERT = colors.HexColor("#a34a00")
WHITE = colors.white

LETTER_COUNTRIES = frozenset({"US", "CA"})
# Countries whose addresses put the postcode after the city.
CITY_FIRST = frozenset({"GB", "US", "CA", "IE", "AU", "NZ"})
LEFT, RIGHT = 20 * mm, 18 * mm
FOOTER_TOP = 19 * mm  # the frames end here; the footer sits below
FIRST_FRAME_TOP = 100 * mm  # from the top of the page: below the window and the facts
LATER_FRAME_TOP = 27 * mm
SLIP_BASE = 25 * mm  # the slip without its rows: cut line, title, "Amount paid"
SLIP_ROW = 4.1 * mm
CELL = 7.4  # table font size
KIND_WORDS = {"invoice": "Invoice", CREDIT_NOTE: "Credit note", PAYMENT: "Payment"}
METHOD_WORDS = {
    "bank_transfer": "bank transfer",
    "direct_debit": "direct debit",
    "cheque": "cheque",
    "card": "card",
}


@dataclass(frozen=True)
class RenderedStatement:
    pdf: bytes
    pages: int


# ---------------------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------------------


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Cut `text` with an ellipsis so it fits `width` points (cells never wrap)."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def bucket_heading(label: str) -> str:
    """'current' → 'Current', '1-30' → '1–30 days', '91+' → '91+ days'."""
    if re.fullmatch(r"\d+\s*-\s*\d+", label):
        low, high = (part.strip() for part in label.split("-"))
        return f"{low}–{high} days"
    if re.fullmatch(r"\d+\s*\+", label):
        return f"{label.replace(' ', '')} days"
    return label[:1].upper() + label[1:]


@cache
def _country_name(code: str) -> str:
    return str(Locale("en").territories.get(code, code)).upper()


def _address_lines(data: StatementData, letterhead: Letterhead) -> list[str]:
    c = data.customer
    lines = [c.legal_name or c.name]
    lines += [x for x in (c.address_line1, c.address_line2) if x]
    city = " ".join(x for x in (c.city, c.postcode) if x)
    if (c.country or "").upper() not in CITY_FIRST:
        city = " ".join(x for x in (c.postcode, c.city) if x)
    if city:
        lines.append(city)
    if c.country and c.country.upper() != (letterhead.country or "").upper():
        lines.append(_country_name(c.country.upper()))
    return lines


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
# The canvas: page furniture drawn directly
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """Everything the page callbacks draw, prepared once per statement."""

    data: StatementData
    letterhead: Letterhead
    fmt: Formats
    size: tuple[float, float]
    logo: tuple[str, int, int]
    contact: tuple[str, str, str]

    @property
    def width(self) -> float:
        return self.size[0]

    @property
    def height(self) -> float:
        return self.size[1]

    @property
    def content_width(self) -> float:
        return self.width - LEFT - RIGHT

    def money(self, value: Decimal, currency: str | None = None) -> str:
        return self.fmt.money(value, currency or self.data.currency)


def _draw_right(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    canvas.setFont(font, size)
    canvas.drawRightString(x, y, text)


def _draw_logo(canvas: Canvas, page: _Page, x: float, top: float, box: float) -> float:
    """The logo scaled into a `box` high area, top left at (x, top); returns its width."""
    path, width, height = page.logo
    scale = box / max(width, height)
    w, h = width * scale, height * scale
    canvas.drawImage(path, x, top - h, w, h)
    return w


@dataclass
class _Run:
    """Which statement the pages being laid out belong to (a combined PDF holds many), and the
    owner of every page begun so far, for "Page x of y" per statement."""

    pages: Sequence[_Page]
    current: int = 0
    owners: list[int] | None = None

    def begin_page(self) -> _Page:
        if self.owners is None:
            self.owners = []
        self.owners.append(self.current)
        return self.pages[self.current]


class _NextStatement(Flowable):
    """Placed after a statement's last flowable: the pages from here on are the next one's."""

    def __init__(self, run: _Run, number: int):
        super().__init__()
        self.run, self.number = run, number

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.run.current = self.number


def _first_page_of(canvas: Canvas, _doc: Any, run: _Run) -> None:
    if not run.owners:
        start_document(canvas)
    _first_page(canvas, run.begin_page())


def _later_page_of(canvas: Canvas, _doc: Any, run: _Run) -> None:
    _later_page(canvas, run.begin_page())


def _first_page(canvas: Canvas, page: _Page) -> None:
    lh, data, fmt = page.letterhead, page.data, page.fmt
    top = page.height - 12 * mm
    logo_w = _draw_logo(canvas, page, LEFT, top, 17 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 14)
    name = _fit(lh.company_name, BOLD, 14, 95 * mm)
    canvas.drawString(LEFT + logo_w + 4 * mm, top - 8.5 * mm, name)
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    if lh.website:
        canvas.drawString(LEFT + logo_w + 4 * mm, top - 13.5 * mm, lh.website)
    # The company's address block, right-aligned.
    right = page.width - RIGHT
    lines = [*lh.address_lines]
    if lh.phone:
        lines.append(f"Phone {lh.phone}")
    if lh.email:
        lines.append(lh.email)
    if lh.tax_id:
        lines.append(lh.tax_id)
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

    # The window: return address (small, underlined), then the customer's address.
    window_top = page.height - 45 * mm
    sender = " · ".join([lh.company_name, *lh.address_lines])
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 6.3)
    sender = _fit(sender, REGULAR, 6.3, 85 * mm)
    canvas.drawString(LEFT, window_top - 4 * mm, sender)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    canvas.line(
        LEFT, window_top - 5 * mm, LEFT + stringWidth(sender, REGULAR, 6.3), window_top - 5 * mm
    )
    canvas.setFillColor(INK)
    y = window_top - 11 * mm
    for k, line in enumerate(_address_lines(data, lh)):
        font = BOLD if k == 0 else REGULAR
        parts = [line]
        if k == 0:  # the name may take two lines, cut with an ellipsis after that
            parts = simpleSplit(line, font, 10, 85 * mm)
            if len(parts) > 2:
                parts = [parts[0], _fit(" ".join(parts[1:]), font, 10, 85 * mm)]
        for part in parts:
            canvas.setFont(font, 10)
            canvas.drawString(LEFT, y, _fit(part, font, 10, 85 * mm))
            y -= 4.6 * mm

    # The facts beside the window.
    x0 = 118 * mm
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 15)
    canvas.drawString(x0, window_top - 4 * mm, "Statement of account")
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 8.5)
    kind = "Open items" if data.kind == "open-items" else "Account activity"
    canvas.drawString(x0, window_top - 9 * mm, kind)
    facts = [("Statement date", fmt.date(data.as_of))]
    if data.period_from is not None:
        facts.append(("Period", f"{fmt.date(data.period_from)} – {fmt.date(data.as_of)}"))
    facts.append(("Customer number", data.customer.number))
    facts.append(("Currency", ", ".join(s.currency for s in data.sections)))
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
    due = data.total_due
    canvas.drawString(x0, y, "Total due" if due >= 0 else "Credit balance")
    _draw_right(canvas, right, y, f"{data.currency} {page.money(abs(due))}", BOLD, 9.5)
    y -= 8 * mm
    name, phone, email = page.contact
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(x0, y, "Questions about this statement? Please contact")
    canvas.setFillColor(INK)
    canvas.setFont(REGULAR, 7.5)
    for line in (name, " · ".join(x for x in (phone, email) if x)):
        if line:
            y -= 3.5 * mm
            canvas.drawString(x0, y, _fit(line, REGULAR, 7.5, right - x0))
    _footer(canvas, page)


def _later_page(canvas: Canvas, page: _Page) -> None:
    top = page.height - 11 * mm
    logo_w = _draw_logo(canvas, page, LEFT, top, 8 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 10)
    canvas.drawString(LEFT + logo_w + 3 * mm, top - 5.5 * mm, page.letterhead.company_name)
    data = page.data
    canvas.setFillColor(MUTED)
    text = (
        f"Statement of account · {data.customer.number} · "
        f"{_fit(data.customer.name, REGULAR, 8, 60 * mm)} · {page.fmt.date(data.as_of)}"
    )
    _draw_right(canvas, page.width - RIGHT, top - 5.5 * mm, text, REGULAR, 8)
    canvas.setStrokeColor(BRAND)
    canvas.setLineWidth(0.8)
    y = page.height - 21 * mm
    canvas.line(LEFT, y, page.width - RIGHT, y)
    _footer(canvas, page)


def _footer(canvas: Canvas, page: _Page) -> None:
    lh = page.letterhead
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(LEFT, 15 * mm, page.width - RIGHT, 15 * mm)
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 6.6)
    bank = " · ".join(
        x
        for x in (
            lh.company_name,
            lh.bank_name,
            f"IBAN {format_iban(lh.iban)}" if lh.iban else "",
            f"BIC {lh.bic}" if lh.bic else "",
        )
        if x
    )
    width = page.content_width - 25 * mm
    canvas.drawString(LEFT, 11.5 * mm, _fit(bank, REGULAR, 6.6, width))
    if lh.footer_text:
        canvas.drawString(LEFT, 8.5 * mm, _fit(lh.footer_text, REGULAR, 6.6, width))


class _NumberedCanvas(Canvas):
    """Holds the pages back until the end, so each can say "Page x of y" (x and y counted
    within its own statement, in a combined PDF too)."""

    def __init__(self, *args: Any, run: _Run, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._held: list[dict[str, Any]] = []
        self._run = run

    def showPage(self) -> None:
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        owners = self._run.owners or []
        totals: dict[int, int] = {}
        for owner in owners:
            totals[owner] = totals.get(owner, 0) + 1
        seen: dict[int, int] = {}
        for index, state in enumerate(self._held):
            self.__dict__.update(state)
            owner = owners[index] if index < len(owners) else 0
            seen[owner] = seen.get(owner, 0) + 1
            width = self._run.pages[owner].width
            self.setFillColor(MUTED)
            self.setFont(REGULAR, 7.5)
            self.drawRightString(
                width - RIGHT, 10 * mm, f"Page {seen[owner]} of {totals.get(owner, 1)}"
            )
            super().showPage()
        super().save()


# ---------------------------------------------------------------------------------------------
# Flowables: tables, totals, the slip
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    font: str
    size: float
    leading: float
    color: Any
    space_before: float = 0.0


_BODY = _Style(REGULAR, 8.6, 12, INK)
_HEADING = _Style(BOLD, 11.5, 15, BRAND)
_SECTION = _Style(BOLD, 9.5, 13, INK, space_before=4)
_NOTE = _Style(REGULAR, 7.4, 10, MUTED)


class _Text(Flowable):
    """Plain text wrapped to the frame: what Paragraph does for one font, at a fraction of its
    cost (a batch sets a few hundred thousand of these)."""

    def __init__(self, text: str, style: _Style):
        super().__init__()
        self.text, self.style = text, style
        self.lines: list[str] = []

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        self.lines = simpleSplit(self.text, self.style.font, self.style.size, available_width)
        return available_width, self.style.space_before + len(self.lines) * self.style.leading

    def draw(self) -> None:
        style, canvas = self.style, self.canv
        text = canvas.beginText(0, len(self.lines) * style.leading - style.size)
        text.setFont(style.font, style.size, style.leading)
        text.setFillColor(style.color)
        for line in self.lines:
            text.textLine(line)
        canvas.drawText(text)


_LOOK = Look(REGULAR, BOLD, CELL, INK, WHITE, BRAND, ZEBRA, BRAND)


def _widths(page: _Page, millimetres: Sequence[float]) -> list[float]:
    scale = page.content_width / (sum(millimetres) * mm)
    return [w * mm * scale for w in millimetres]


def _open_items_table(page: _Page, section: CurrencySection) -> RowsTable:
    widths = _widths(page, (30, 21, 19, 19, 15, 24, 24, 20))
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
                    _fit(line.document, REGULAR, CELL, widths[0] - 7),
                    KIND_WORDS.get(line.kind, line.kind),
                    fmt.date(line.date),
                    fmt.date(line.due_date) if line.due_date else "",
                    str(line.days_overdue) if line.days_overdue else "",
                    money(line.amount),
                    money(line.open_amount),
                    _fit(note, REGULAR, CELL - 0.6, widths[7] - 7),
                ),
                colors={7: ALERT} if note else {},
            )
        )
    if not section.open_lines:
        rows.append(Row((f"No open items on {fmt.date(page.data.as_of)}.",), colors={0: MUTED}))
    label = "Total due" if section.total_due >= 0 else "Credit balance"
    closing = Row((label, "", "", "", "", "", money(section.total_due)), bold=True)
    return RowsTable(columns, header, rows, _LOOK, closing)


def _activity_table(page: _Page, section: CurrencySection) -> RowsTable:
    widths = _widths(page, (19, 28, 63, 21, 21, 22))
    columns = [
        Column(widths[0]),
        Column(widths[1]),
        Column(widths[2]),
        Column(widths[3], right=True),
        Column(widths[4], right=True),
        Column(widths[5], right=True),
    ]
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
                    _fit(line.document, REGULAR, CELL, widths[1] - 7),
                    _fit(_describe(line, money, fmt), REGULAR, CELL, widths[2] - 7),
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
    return RowsTable(columns, header, rows, _LOOK, closing)


def _aging_table(page: _Page, section: CurrencySection) -> Table:
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


def _slip_rows(page: _Page, half: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    data, lh, fmt = page.data, page.letterhead, page.fmt
    left = [
        ("Customer", _fit(data.customer.name, REGULAR, 8, half - 30 * mm)),
        ("Customer number", data.customer.number),
        ("Statement date", fmt.date(data.as_of)),
    ]
    for section in data.sections:
        label = "Amount due" if section.total_due >= 0 else "Credit balance"
        amount = f"{section.currency} {fmt.money(abs(section.total_due), section.currency)}"
        left.append((label, amount))
    right = [
        ("Pay to", _fit(lh.company_name, REGULAR, 8, half - 26 * mm)),
        ("Bank", _fit(lh.bank_name, REGULAR, 8, half - 26 * mm)),
        ("IBAN", format_iban(lh.iban) if lh.iban else ""),
        ("BIC", lh.bic),
        ("Reference", data.customer.number),
    ]
    return left, [row for row in right if row[1]]


class _RemittanceSlip(Flowable):
    """Takes the rest of the last page and draws the slip at its foot (on a page of its own
    when too little room is left). Its height grows with the currencies it lists."""

    def __init__(self, page: _Page):
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


def _draw_slip(canvas: Canvas, page: _Page, width: float, height: float) -> None:
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


def _intro(page: _Page) -> list[Flowable]:
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
    return [_Text(title, _HEADING), Spacer(0, 1 * mm), _Text(text, _BODY), Spacer(0, 3 * mm)]


def _story(page: _Page) -> list[Flowable]:
    data = page.data
    story = _intro(page)
    several = len(data.sections) > 1
    for number, section in enumerate(data.sections):
        if several:
            if number:
                story.append(CondPageBreak(45 * mm))
            story.append(_Text(f"Amounts in {section.currency}", _SECTION))
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
                    _Text("Aging of the open amounts (days past due)", _NOTE),
                    Spacer(0, 1 * mm),
                    _aging_table(page, section),
                ]
            )
        )
        story.append(Spacer(0, 5 * mm))
    if any(line.disputed for s in data.sections for line in s.open_lines):
        story.append(
            _Text(
                "Items marked Disputed are under review with us; they stay on your account "
                "until the dispute is settled.",
                _NOTE,
            )
        )
    story.append(_RemittanceSlip(page))
    return story


def _contact(data: StatementData, letterhead: Letterhead) -> tuple[str, str, str]:
    """The collector who looks after the customer, else the letterhead's contact."""
    c = data.customer
    if c.collector_name and c.collector_email:
        return c.collector_name, letterhead.contact_phone, c.collector_email
    return letterhead.contact_name, letterhead.contact_phone, letterhead.contact_email


def _page(data: StatementData, letterhead: Letterhead) -> _Page:
    country = (data.customer.country or "").upper()
    return _Page(
        data,
        letterhead,
        formats_for_country(country),
        LETTER if country in LETTER_COUNTRIES else A4,
        logo_image(letterhead.logo_file()),
        _contact(data, letterhead),
    )


def _templates(run: _Run) -> list[PageTemplate]:
    """A first-page and a later-page template per paper size in use."""
    templates = []
    for size in dict.fromkeys(page.size for page in run.pages):
        width, height = size
        name = _size_name(size)
        frames = [
            Frame(
                LEFT,
                FOOTER_TOP,
                width - LEFT - RIGHT,
                height - top - FOOTER_TOP,
                leftPadding=0,
                rightPadding=0,
                topPadding=0,
                bottomPadding=0,
                id=f"{kind}-{name}",
            )
            for kind, top in (("first", FIRST_FRAME_TOP), ("later", LATER_FRAME_TOP))
        ]
        templates += [
            PageTemplate(
                f"first-{name}",
                [frames[0]],
                onPage=partial(_first_page_of, run=run),
                autoNextPageTemplate=f"later-{name}",
                pagesize=size,
            ),
            PageTemplate(
                f"later-{name}",
                [frames[1]],
                onPage=partial(_later_page_of, run=run),
                pagesize=size,
            ),
        ]
    return templates


def _size_name(size: tuple[float, float]) -> str:
    return "letter" if size == LETTER else "a4"


def _build(
    pages: Sequence[_Page], target: Any, title: str, subject: str, keywords: list[str]
) -> int:
    """Lay the statements out one after the other into `target`; returns the page count."""
    register_fonts()
    run = _Run(pages)
    story: list[Flowable] = []
    for number, page in enumerate(pages):
        story += _story(page)
        if number + 1 < len(pages):
            following = _size_name(pages[number + 1].size)
            story += [
                _NextStatement(run, number + 1),
                NextPageTemplate(f"first-{following}"),
                PageBreak(),
            ]
    first = pages[0]
    doc = BaseDocTemplate(
        target,
        pagesize=first.size,
        pageTemplates=_templates(run),
        title=title,
        author=first.letterhead.company_name,
        subject=subject,
        keywords=keywords,
        creator=f"O2C Desktop {__version__}",
        initialFontName=REGULAR,
        pageCompression=1,
        lang="en",
    )
    doc.build(story, canvasmaker=partial(_NumberedCanvas, run=run))
    return doc.page


def render_pdf(data: StatementData, letterhead: Letterhead) -> RenderedStatement:
    """The statement as PDF bytes, and how many pages it has."""
    kind = "Open items" if data.kind == "open-items" else "Account activity"
    day = data.as_of.isoformat()
    buffer = io.BytesIO()
    pages = _build(
        [_page(data, letterhead)],
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
        [_page(data, letterhead) for data in statements],
        target,
        f"Statements of account {day}",
        f"{len(statements)} statements of account at {day}",
        ["statements", day],
    )


__all__ = ["RenderedStatement", "bucket_heading", "render_combined", "render_pdf"]
