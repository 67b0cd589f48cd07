"""Where things go on a statement's page, in which colours, and the facts every page of one
document draws from.

Why a module of its own: statements and reminder letters (services/dunning_letters.py) must look
like they come from the same department, so both lay their pages out from these measures and
colours, and both prepare a `Page` once per document (paper size and date formats by the
customer's country, the logo, whom to ask) for the page furniture (page_furniture.py) to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel import Locale
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm

from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statements.data import StatementData
from o2c_desktop.services.statements.formatting import Formats, formats_for_country
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR, logo_image
from o2c_desktop.services.statements.pdf_table import Look

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
CELL = 7.4  # table font size

TABLE_LOOK = Look(REGULAR, BOLD, CELL, INK, WHITE, BRAND, ZEBRA, BRAND)


@dataclass(frozen=True)
class Page:
    """Everything the page callbacks draw, prepared once per document. `data` is the
    statement's content; a letter passes one with only the addressee and the date."""

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


def page_for(data: StatementData, letterhead: Letterhead) -> Page:
    """The page facts for `data`'s customer: US Letter in the US and Canada (A4 elsewhere), the
    country's date and number formats, the letterhead's logo, the contact."""
    country = (data.customer.country or "").upper()
    return Page(
        data,
        letterhead,
        formats_for_country(country),
        LETTER if country in LETTER_COUNTRIES else A4,
        logo_image(letterhead.logo_file()),
        _contact(data, letterhead),
    )


def _contact(data: StatementData, letterhead: Letterhead) -> tuple[str, str, str]:
    """The collector who looks after the customer, else the letterhead's contact."""
    c = data.customer
    if c.collector_name and c.collector_email:
        return c.collector_name, letterhead.contact_phone, c.collector_email
    return letterhead.contact_name, letterhead.contact_phone, letterhead.contact_email


@cache
def _country_name(code: str) -> str:
    return str(Locale("en").territories.get(code, code)).upper()


def address_lines(data: StatementData, letterhead: Letterhead) -> list[str]:
    """The customer's postal address as the country writes it; the country's name only when
    the letter crosses a border."""
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


def column_widths(page: Page, millimetres: Sequence[float]) -> list[float]:
    """Column widths in the proportions of `millimetres`, scaled to fill the page's width (A4
    and US Letter differ by 6 mm)."""
    scale = page.content_width / (sum(millimetres) * mm)
    return [w * mm * scale for w in millimetres]


__all__ = [
    "ACCENT",
    "ALERT",
    "BRAND",
    "CELL",
    "CITY_FIRST",
    "FIRST_FRAME_TOP",
    "FOOTER_TOP",
    "INK",
    "LATER_FRAME_TOP",
    "LEFT",
    "LETTER_COUNTRIES",
    "MUTED",
    "RIGHT",
    "RULE",
    "TABLE_LOOK",
    "TINT",
    "WHITE",
    "ZEBRA",
    "Page",
    "address_lines",
    "column_widths",
    "page_for",
]
