"""Who an e-mail letter goes to, for many customers at once.

The rule is the statements' (statement_mail.statement_recipients: the contacts marked "receives
statements", primary first; else the customer's own e-mail), read here in IN-lists rather than
one customer at a time, since a proposal shows a recipient for every e-mail letter of the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c_desktop.models import Contact, Customer
from o2c_desktop.services.statement_mail import distinct_addresses

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
            if not distinct_addresses(found.get(cid, ())):
                found[cid] = [address] if address else []
    unique = {cid: distinct_addresses(addresses) for cid, addresses in found.items()}
    return {cid: ", ".join(addresses) for cid, addresses in unique.items() if addresses}
