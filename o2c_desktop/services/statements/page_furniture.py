"""The fixed parts of a statement's or a reminder letter's pages, drawn straight on the canvas.

First page: the letterhead band (logo, company name and website, the company's address block,
the brand rules); the return address and the customer's address where a DIN 5008 / DL window
envelope shows them (20 mm from the left, 45 mm from the top); beside the window the document's
facts (title, dates, customer number, currency, total due, whom to ask). Later pages: a slim
running header. Every page: a footer with the company's registration and bank details.

Why drawn and not laid out: these parts are the same on every page of a batch of thousands, and
canvas calls cost a fraction of platypus flowables. Why shared: a reminder must look like it
comes from the same department as the statement it follows up; only the words differ (`Facts`,
the running header's title).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from o2c_desktop.services.letterhead import format_iban
from o2c_desktop.services.statements.layout import (
    ACCENT,
    BRAND,
    INK,
    LEFT,
    MUTED,
    RIGHT,
    RULE,
    Page,
    address_lines,
)
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR
from o2c_desktop.services.statements.pdf_text import draw_right, fit

FACTS_LEFT = 118 * mm  # the facts column beside the window


@dataclass(frozen=True)
class Facts:
    """What the block beside the window says: a title (the document's kind), a line under it,
    label/value rows, then the total due (`total_label`, `total`) and whom to ask about the
    `document` ("statement", "reminder")."""

    title: str
    subtitle: str
    rows: Sequence[tuple[str, str]]
    total_label: str
    total: str
    document: str


def draw_logo(canvas: Canvas, page: Page, x: float, top: float, box: float) -> float:
    """The logo scaled into a `box` high area, top left at (x, top); returns its width."""
    path, width, height = page.logo
    scale = box / max(width, height)
    w, h = width * scale, height * scale
    canvas.drawImage(path, x, top - h, w, h)
    return w


def draw_letterhead(canvas: Canvas, page: Page) -> None:
    """Logo, company name and website on the left, the company's address block right-aligned,
    and the brand rules under them: the top of a first page."""
    lh = page.letterhead
    top = page.height - 12 * mm
    logo_w = draw_logo(canvas, page, LEFT, top, 17 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 14)
    name = fit(lh.company_name, BOLD, 14, 95 * mm)
    canvas.drawString(LEFT + logo_w + 4 * mm, top - 8.5 * mm, name)
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    if lh.website:
        canvas.drawString(LEFT + logo_w + 4 * mm, top - 13.5 * mm, lh.website)
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
        draw_right(canvas, right, y, fit(line, REGULAR, 7.5, 70 * mm), REGULAR, 7.5)
        y -= 3.5 * mm
    canvas.setStrokeColor(BRAND)
    canvas.setLineWidth(1.2)
    rule_y = page.height - 36 * mm
    canvas.line(LEFT, rule_y, right, rule_y)
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(2.4)
    canvas.line(LEFT, rule_y - 1.6, LEFT + 30 * mm, rule_y - 1.6)


def draw_window_address(canvas: Canvas, page: Page) -> None:
    """The return address (small, underlined), then the customer's address, where a window
    envelope shows them. The name may take two lines, cut with an ellipsis after that."""
    lh = page.letterhead
    window_top = page.height - 45 * mm
    sender = " · ".join([lh.company_name, *lh.address_lines])
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 6.3)
    sender = fit(sender, REGULAR, 6.3, 85 * mm)
    canvas.drawString(LEFT, window_top - 4 * mm, sender)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    underline = LEFT + stringWidth(sender, REGULAR, 6.3)
    canvas.line(LEFT, window_top - 5 * mm, underline, window_top - 5 * mm)
    canvas.setFillColor(INK)
    y = window_top - 11 * mm
    for k, line in enumerate(address_lines(page.data, lh)):
        font = BOLD if k == 0 else REGULAR
        parts = [line]
        if k == 0:
            parts = simpleSplit(line, font, 10, 85 * mm)
            if len(parts) > 2:
                parts = [parts[0], fit(" ".join(parts[1:]), font, 10, 85 * mm)]
        for part in parts:
            canvas.setFont(font, 10)
            canvas.drawString(LEFT, y, fit(part, font, 10, 85 * mm))
            y -= 4.6 * mm


def draw_facts(canvas: Canvas, page: Page, facts: Facts) -> None:
    """The block beside the window: title, subtitle, the rows, a rule, the total due, and the
    contact (page.contact) to ask about the document."""
    right = page.width - RIGHT
    window_top = page.height - 45 * mm
    x0 = FACTS_LEFT
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 15)
    canvas.drawString(x0, window_top - 4 * mm, fit(facts.title, BOLD, 15, right - x0))
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 8.5)
    canvas.drawString(x0, window_top - 9 * mm, facts.subtitle)
    y = window_top - 16 * mm
    for label, value in facts.rows:
        canvas.setFillColor(MUTED)
        canvas.setFont(REGULAR, 8)
        canvas.drawString(x0, y, label)
        canvas.setFillColor(INK)
        draw_right(canvas, right, y, value, REGULAR, 8)
        y -= 4.3 * mm
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(x0, y + 2.6 * mm, right, y + 2.6 * mm)
    y -= 1.2 * mm
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 9.5)
    canvas.drawString(x0, y, facts.total_label)
    draw_right(canvas, right, y, facts.total, BOLD, 9.5)
    y -= 8 * mm
    name, phone, email = page.contact
    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(x0, y, f"Questions about this {facts.document}? Please contact")
    canvas.setFillColor(INK)
    canvas.setFont(REGULAR, 7.5)
    for line in (name, " · ".join(x for x in (phone, email) if x)):
        if line:
            y -= 3.5 * mm
            canvas.drawString(x0, y, fit(line, REGULAR, 7.5, right - x0))


def draw_first_page(canvas: Canvas, page: Page, facts: Facts) -> None:
    """A first page's furniture: the letterhead band, the window, the facts beside it."""
    draw_letterhead(canvas, page)
    draw_window_address(canvas, page)
    draw_facts(canvas, page, facts)


def draw_running_header(canvas: Canvas, page: Page, title: str) -> None:
    """A later page's header: small logo and company name, and on the right what the document
    is (`title`), for which customer and of which date."""
    top = page.height - 11 * mm
    logo_w = draw_logo(canvas, page, LEFT, top, 8 * mm)
    canvas.setFillColor(BRAND)
    canvas.setFont(BOLD, 10)
    canvas.drawString(LEFT + logo_w + 3 * mm, top - 5.5 * mm, page.letterhead.company_name)
    customer = page.data.customer
    canvas.setFillColor(MUTED)
    text = (
        f"{title} · {customer.number} · "
        f"{fit(customer.name, REGULAR, 8, 60 * mm)} · {page.fmt.date(page.data.as_of)}"
    )
    draw_right(canvas, page.width - RIGHT, top - 5.5 * mm, text, REGULAR, 8)
    canvas.setStrokeColor(BRAND)
    canvas.setLineWidth(0.8)
    y = page.height - 21 * mm
    canvas.line(LEFT, y, page.width - RIGHT, y)


def draw_footer(canvas: Canvas, page: Page) -> None:
    """The company, its bank details and the letterhead's footer text ("Page x of y" is added
    when the document is saved: pdf_document.NumberedCanvas)."""
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
    canvas.drawString(LEFT, 11.5 * mm, fit(bank, REGULAR, 6.6, width))
    if lh.footer_text:
        canvas.drawString(LEFT, 8.5 * mm, fit(lh.footer_text, REGULAR, 6.6, width))


__all__ = [
    "Facts",
    "draw_facts",
    "draw_first_page",
    "draw_footer",
    "draw_letterhead",
    "draw_logo",
    "draw_running_header",
    "draw_window_address",
]
