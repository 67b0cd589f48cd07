"""Who an e-mail letter goes to, for many customers at once.

The rule is the statements' (statement_mail.statement_recipients: the contacts marked "receives
statements", primary first; else the customer's own e-mail), read here in IN-lists rather than
one customer at a time, since a proposal shows a recipient for every e-mail letter of the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.models import Contact, Customer

_IN_CHUNK = 500  # ids per IN (...) list


def email_recipients(session: Session, customer_ids: Collection[int]) -> dict[int, str]:
    """Each customer's recipients, comma-separated; customers with nobody are left out."""
    found: dict[int, list[str]] = defaultdict(list)
    ids = sorted(customer_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        part = ids[start : start + _IN_CHUNK]
        for cid, address in session.execute(
            select(Contact.customer_id, Contact.email)
            .where(
                Contact.customer_id.in_(part),
                Contact.receives_statements.is_(True),
                Contact.email.is_not(None),
            )
            .order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)
        ):
            found[cid].append(address)
        for cid, address in session.execute(
            select(Customer.id, Customer.email).where(Customer.id.in_(part))
        ):
            if not _distinct(found.get(cid, ())):
                found[cid] = [address] if address else []
    return {
        cid: ", ".join(_distinct(addresses))
        for cid, addresses in found.items()
        if _distinct(addresses)
    }


def _distinct(addresses: Iterable[str | None]) -> list[str]:
    """Addresses in order, blanks and repeats (in any letter case) left out (as
    statement_mail's own, which is private to it)."""
    seen: dict[str, str] = {}
    for address in addresses:
        text = (address or "").strip()
        if text:
            seen.setdefault(text.lower(), text)
    return list(seen.values())
