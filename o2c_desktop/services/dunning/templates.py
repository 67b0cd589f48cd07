"""A level's letter template: the placeholders it may use, filling them in, and their values.

Kept apart from the levels' storage because both ends need it: validating a level refuses an
unknown placeholder, and producing a letter fills the known ones in the customer's locale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

# The placeholders a level's template may use, and what they print.
TEMPLATE_FIELDS: dict[str, str] = {
    "contact_name": "the customer's primary contact (else 'Sir or Madam')",
    "overdue": "the total of the overdue items listed, with its currency",
    "credits": "unapplied payments and credit notes netted against them (0 when none)",
    "net_due": "the overdue items less those credits: the net amount due",
    "as_of": "the run's date, in the customer's locale",
    "fee": "the level's reminder fee (only on letters in the fee's currency), with the currency",
    "total_due": "net amount due plus fee, with the currency",
    "company_name": "our company name (the letterhead's)",
    "customer_name": "the customer's name",
    "customer_number": "the customer's number",
    "level_name": "this level's name",
}
NO_CONTACT_NAME = "Sir or Madam"
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")


def placeholders(template: str) -> list[str]:
    """The names in braces a template uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))


def unknown_placeholders(template: str) -> list[str]:
    """The placeholders a template uses that no letter can fill (refused when a level is saved)."""
    return [name for name in placeholders(template) if name not in TEMPLATE_FIELDS]


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """The template with each known {placeholder} replaced. Never raises: an unknown
    placeholder (or a stray brace) stays as it is typed, visible in the letter, so a template
    saved before a placeholder was withdrawn prints rather than stopping a run."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def one_line(text: str) -> str:
    """Runs of white space (line breaks too) folded into single spaces: a name typed over two
    lines must not break a letter's salutation or an e-mail header."""
    return " ".join(text.split())


def template_values(
    customer: Any,
    contact: str | None,
    level_name: str,
    currency: str,
    overdue: Decimal,
    fee: Decimal,
    as_of: date,
    company: str,
    credits: Decimal = Decimal(0),
) -> dict[str, str]:
    """The placeholders' values for one letter, written the customer's way (numbers and dates
    in its country's locale, as on its statements). `overdue` is the items' total, as the
    seeded texts word it ("the items below, totalling {overdue}"); `credits` the unapplied
    payments and credit notes netted against it, so {net_due} and {total_due} are what the
    customer is asked to pay."""
    from o2c_desktop.services.dunning_letters import date_text, money_text

    country = customer.country
    return {
        "contact_name": one_line(contact) if contact else NO_CONTACT_NAME,
        "overdue": money_text(overdue, currency, country),
        "credits": money_text(credits, currency, country),
        "net_due": money_text(overdue - credits, currency, country),
        "as_of": date_text(as_of, country),
        "fee": money_text(fee, currency, country),
        "total_due": money_text(overdue - credits + fee, currency, country),
        "company_name": one_line(company),
        "customer_name": one_line(customer.name),
        "customer_number": customer.number,
        "level_name": level_name,
    }
