"""How the credit application screens name states, kinds, outcomes and checklist statuses, and
how they show amounts and days in inputs: one place, so the queue, the editor, the dialogs and
their tests read alike."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from o2c_desktop.models.credit import (
    APPROVED,
    CONDITIONALLY_APPROVED,
    DECLINED,
    DRAFT,
    IN_VERIFICATION,
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_REJECTED,
    ITEM_VERIFIED,
    ITEM_WAIVED,
    KIND_LIMIT_CHANGE,
    KIND_NEW_CUSTOMER,
    KIND_REVIEW,
    OUTCOME_APPROVED,
    OUTCOME_CONDITIONAL,
    OUTCOME_DECLINED,
    PENDING_APPROVAL,
    SUBMITTED,
    WITHDRAWN,
)
from o2c_desktop.services.customer_fields import parse_field

STATE_LABELS = {
    DRAFT: "Draft",
    SUBMITTED: "Submitted",
    IN_VERIFICATION: "In verification",
    PENDING_APPROVAL: "Pending approval",
    APPROVED: "Approved",
    CONDITIONALLY_APPROVED: "Conditionally approved",
    DECLINED: "Declined",
    WITHDRAWN: "Withdrawn",
}
KIND_LABELS = {
    KIND_NEW_CUSTOMER: "New customer",
    KIND_LIMIT_CHANGE: "Limit change",
    KIND_REVIEW: "Review",
}
OUTCOME_LABELS = {
    OUTCOME_APPROVED: "Approved",
    OUTCOME_CONDITIONAL: "Conditionally approved",
    OUTCOME_DECLINED: "Declined",
}
ITEM_STATUS_LABELS = {
    ITEM_PENDING: "Pending",
    ITEM_RECEIVED: "Received",
    ITEM_VERIFIED: "Verified",
    ITEM_REJECTED: "Rejected",
    ITEM_WAIVED: "Waived",
}
REVIEW_KIND_LABELS = {
    "review_due": "Review due",
    "temporary_limit_expiring": "Temporary limit expires",
    "document_expiring": "Document expires",
}


def label(labels: dict[str, str], code: str | None) -> str:
    """The label of a code, or the code itself when a newer version added one."""
    return "" if code is None else labels.get(code, code.replace("_", " "))


def money_input(value: Decimal | None) -> str:
    """An amount as an input shows it: plain digits, no grouping, so it parses back as typed."""
    return "" if value is None else format(value, "f")


def day_input(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def parse_day(text: str) -> date | None:
    """A typed day (YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY), None when empty; ValueError says why.
    The customer form's parser, so every date input of the app accepts the same spellings."""
    return parse_field("next_review_date", text)


def parse_limit(text: str) -> Decimal | None:
    """A typed limit (not negative, within the column's range), None when empty."""
    if not text.strip():
        return None
    try:
        return parse_field("credit_limit", text)
    except ValueError as exc:
        raise ValueError(str(exc).replace("the credit limit", "the amount")) from None
