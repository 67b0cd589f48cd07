"""Receiving a payment from the customer's Ledger tab: record it and apply it in one unit of work.

The ledger service records and applies by reference, oldest-first or not at all; the Ledger tab
also lets the user pick the items, which must happen in the same transaction as the payment so
a failed allocation never leaves a half-applied receipt behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, ValidationFailed
from o2c_desktop.models import Invoice
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.ledger import (
    PaymentResult,
    allocate_in_session,
    allocation_row,
    payment_row,
    record_payment_in_session,
)

APPLY_MODES = ("reference", "oldest-first", "selected", "none")


def receive_payment(
    db: Database,
    actor: Actor,
    customer_id: int,
    on: date,
    amount: Decimal | str,
    *,
    method: str | None = None,
    reference: str | None = None,
    apply: str = "reference",
    items: Sequence[int] = (),
) -> PaymentResult:
    """Record a payment; with apply="selected", settle the chosen items in the order given,
    each up to its open amount, until the payment is used up (the rest stays unapplied)."""
    actor.require(Permission.POST_LEDGER)
    if apply not in APPLY_MODES:
        raise ValueError(f"apply must be one of {APPLY_MODES}")
    if apply == "selected" and not items:
        raise ValidationFailed([FieldProblem("items", "pick the items this payment settles")])
    with db.write() as session:
        payment, allocations = record_payment_in_session(
            session,
            actor,
            customer_id,
            on,
            amount,
            method=method,
            reference=reference,
            apply="none" if apply == "selected" else apply,
        )
        if apply == "selected":
            remaining = payment.unapplied_amount
            pairs = []
            for invoice_id in items:
                invoice = session.get(Invoice, invoice_id)
                if invoice is None or remaining <= 0:
                    continue
                share = min(invoice.open_amount, remaining)
                if share > 0:
                    pairs.append((invoice_id, share))
                    remaining -= share
            allocations = allocate_in_session(session, actor, payment, pairs)
        session.flush()
        return PaymentResult(
            payment_row(payment), tuple(allocation_row(session, a) for a in allocations)
        )
