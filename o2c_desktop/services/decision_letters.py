"""The letter that tells an applicant the credit decision, as a PDF on the pages reminder
letters use (services.dunning_letters.render_on_letter_pages: the statements' letterhead,
window-envelope address, bank details and "Page x of y", amounts in the customer's locale).

What it says: the application's number and date, the decision (approved limit, temporary limit,
payment terms, next review; the conditions of a conditional approval; the reason for a decline),
and a signature line per approver, so the customer sees who granted the credit. Only a complete
decision gets a letter: an approval still awaiting its second approver has not been granted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Spacer
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.models import CreditApplication, PaymentTerms
from o2c_desktop.models.credit import OUTCOME_CONDITIONAL, OUTCOME_DECLINED, CreditDecision
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.credit_applications import application_in_session, require_view
from o2c_desktop.services.credit_decisions import (
    approver_names,
    decision_holds,
    decision_in_session,
)
from o2c_desktop.services.dunning_letters import (
    LETTER_TEXT,
    TITLE,
    paragraphs,
    render_on_letter_pages,
)
from o2c_desktop.services.letterhead import Letterhead, get_letterhead
from o2c_desktop.services.statements.layout import (
    INK,
    MUTED,
    RULE,
    TABLE_LOOK,
    Page,
    column_widths,
)
from o2c_desktop.services.statements.ledger_reads import Addressee, addressees
from o2c_desktop.services.statements.output import write_pdf
from o2c_desktop.services.statements.page_furniture import Facts
from o2c_desktop.services.statements.pdf_assets import BOLD, REGULAR
from o2c_desktop.services.statements.pdf_document import RenderedStatement
from o2c_desktop.services.statements.pdf_table import Column, Row, RowsTable
from o2c_desktop.services.statements.pdf_text import NOTE, Text, fit

OUTCOME_TITLES = {
    "approved": "Credit approved",
    "conditional": "Credit approved on conditions",
    "declined": "Credit application declined",
}


@dataclass(frozen=True)
class DecisionLetter:
    """What one decision letter says (plain values: the renderer needs no database)."""

    day: date
    customer: Addressee
    application_number: str
    submitted_on: date | None
    currency: str
    outcome: str
    credit_limit: Decimal | None
    temporary_limit: Decimal | None
    temporary_until: date | None
    terms_text: str | None
    next_review_date: date | None
    conditions: str | None
    reason: str
    approvers: tuple[str, ...]

    @property
    def title(self) -> str:
        return OUTCOME_TITLES[self.outcome]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _addressee(session: Session, application: CreditApplication) -> Addressee:
    """The customer as statements address it; an applicant not (yet) a customer by the
    details on the application."""
    if application.customer_id is not None:
        found = addressees(session, [application.customer_id]).get(application.customer_id)
        if found is not None:
            return found
    return Addressee(
        id=0,
        number=application.customer_number or application.number,
        name=application.applicant_name,
        legal_name=application.legal_name,
        address_line1=application.address_line1,
        address_line2=None,
        postcode=application.postcode,
        city=application.city,
        country=application.country,
        currency=application.currency,
        email=application.email,
        collector_name=None,
        collector_email=None,
    )


def _terms_text(session: Session, code: str | None) -> str | None:
    if code is None:
        return None
    terms = session.get(PaymentTerms, code)
    return f"{terms.description} ({code})" if terms else code


def letter_in_session(
    session: Session, application: CreditApplication, decision: CreditDecision
) -> DecisionLetter:
    approvers = approver_names(session, decision)
    decided_at = decision.second_at or decision.first_at
    return DecisionLetter(
        day=decided_at.astimezone().date(),
        customer=_addressee(session, application),
        application_number=application.number,
        submitted_on=application.submitted_at.astimezone().date()
        if application.submitted_at
        else None,
        currency=application.currency,
        outcome=decision.outcome,
        credit_limit=decision.credit_limit,
        temporary_limit=decision.temporary_limit,
        temporary_until=decision.temporary_until,
        terms_text=_terms_text(session, decision.terms_code),
        next_review_date=decision.next_review_date,
        conditions=decision.conditions,
        reason=decision.reason,
        approvers=approvers,
    )


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


class SignatureLines(Flowable):
    """A line to sign on per approver, side by side, each with the approver's name under it."""

    HEIGHT = 20 * mm
    WIDTH = 62 * mm

    def __init__(self, names: tuple[str, ...], below: str):
        super().__init__()
        self.names, self.below = names, below

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, self.HEIGHT

    def draw(self) -> None:
        canvas = self.canv
        step = max(self.WIDTH + 12 * mm, self.width / max(1, len(self.names)))
        for k, name in enumerate(self.names):
            x = k * step
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.7)
            canvas.line(x, 9 * mm, x + self.WIDTH, 9 * mm)
            canvas.setFillColor(INK)
            canvas.setFont(BOLD, 9.4)
            canvas.drawString(x, 5 * mm, fit(name, BOLD, 9.4, self.WIDTH))
            canvas.setFillColor(MUTED)
            canvas.setFont(REGULAR, 7.6)
            canvas.drawString(x, 1.5 * mm, fit(self.below, REGULAR, 7.6, self.WIDTH))


def _facts(page: Page, letter: DecisionLetter) -> Facts:
    """Beside the window: "Credit decision" (the outcome under it: a longer title would be cut),
    the dates, numbers and currency, and the limit granted (or "Declined")."""
    rows = [
        ("Date", page.fmt.date(letter.day)),
        ("Application", letter.application_number),
    ]
    if letter.submitted_on is not None:
        rows.append(("Applied on", page.fmt.date(letter.submitted_on)))
    rows += [("Customer number", letter.customer.number), ("Currency", letter.currency)]
    if letter.outcome == OUTCOME_DECLINED:
        return Facts("Credit decision", letter.title, rows, "Decision", "Declined", "decision")
    limit = page.fmt.money(letter.credit_limit or Decimal(0), letter.currency)
    total = f"{letter.currency} {limit}"
    return Facts("Credit decision", letter.title, rows, "Credit limit", total, "decision")


def _terms_table(page: Page, letter: DecisionLetter) -> RowsTable:
    widths = column_widths(page, (60, 110))
    fmt = page.fmt

    def money(value: Decimal) -> str:
        return f"{letter.currency} {fmt.money(value, letter.currency)}"

    rows = [Row(("Credit limit", money(letter.credit_limit or Decimal(0))))]
    if letter.temporary_limit is not None and letter.temporary_until is not None:
        rows.append(
            Row(
                (
                    "Temporary limit",
                    f"{money(letter.temporary_limit)} until {fmt.date(letter.temporary_until)}",
                )
            )
        )
    if letter.terms_text:
        rows.append(Row(("Payment terms", letter.terms_text)))
    if letter.next_review_date is not None:
        rows.append(Row(("Next review", fmt.date(letter.next_review_date))))
    return RowsTable([Column(w) for w in widths], ["Credit terms", "Agreed"], rows, TABLE_LOOK)


def _body(page: Page, letter: DecisionLetter) -> list[Flowable]:
    who = letter.customer.legal_name or letter.customer.name
    applied = f" of {page.fmt.date(letter.submitted_on)}" if letter.submitted_on is not None else ""
    thanks = f"Thank you for your credit application {letter.application_number}{applied}."
    if letter.outcome == OUTCOME_DECLINED:
        return paragraphs(
            f"{thanks} After careful review we regret that we cannot offer {who} a credit line "
            f"at this time.\n\nReason: {letter.reason}\n\nWe will gladly deliver against payment "
            "in advance, and you are welcome to apply again when circumstances change."
        )
    if letter.outcome == OUTCOME_CONDITIONAL:
        opening = (
            f"{thanks} We are pleased to grant {who} a credit line on the terms below, subject "
            "to the conditions that follow."
        )
    else:
        opening = f"{thanks} We are pleased to grant {who} a credit line on the terms below."
    story = paragraphs(opening)
    story += [Spacer(0, 1 * mm), _terms_table(page, letter), Spacer(0, 4 * mm)]
    if letter.conditions:
        story += paragraphs(f"Conditions: {letter.conditions}")
    review = (
        f" We review credit lines regularly, next by {page.fmt.date(letter.next_review_date)}; "
        "please send us your latest financial statements when they are published."
        if letter.next_review_date is not None
        else ""
    )
    story += paragraphs(
        "Orders up to the available credit are delivered on account and payable on the terms "
        f"above.{review}"
    )
    return story


def _story(page: Page, letter: DecisionLetter) -> list[Flowable]:
    heading = f"{letter.title} · application {letter.application_number}"
    story: list[Flowable] = [
        Text(heading, TITLE),
        Spacer(0, 2 * mm),
        Text("Dear Sir or Madam,", LETTER_TEXT),
        Spacer(0, 2.6 * mm),
        *_body(page, letter),
    ]
    closing = [
        Spacer(0, 2 * mm),
        Text("Yours sincerely,", LETTER_TEXT),
        Spacer(0, 4 * mm),
        SignatureLines(letter.approvers, f"Credit department, {page.letterhead.company_name}"),
        Spacer(0, 3 * mm),
        Text(
            f"Please quote application {letter.application_number} in any reply.",
            NOTE,
        ),
    ]
    story.append(KeepTogether(closing))
    return story


def render_decision_letter(letter: DecisionLetter, letterhead: Letterhead) -> RenderedStatement:
    """The letter as PDF bytes, and how many pages it has."""
    return render_on_letter_pages(
        letter.day,
        letter.customer,
        letterhead,
        partial(_story, letter=letter),
        partial(_facts, letter=letter),
        running_title=letter.title,
        title=f"{letter.title} {letter.application_number}",
        subject=f"Credit decision on {letter.application_number} for {letter.customer.name}",
        keywords=["credit decision", letter.application_number, letter.outcome],
    )


def write_decision_letter(db: Database, actor: Actor, application_id: int, out: Path) -> Path:
    """Write the decision letter of a decided application to `out` (a file, or a folder to put
    "CA-000012 decision.pdf" in) and return the file's path."""
    require_view(actor)
    with db.read() as session:
        application = application_in_session(session, application_id)
        decision = decision_in_session(session, application.id)
        if decision is None or not decision.complete:
            awaits = decision is not None and decision_holds(decision, application)
            waiting = " (it awaits a second approver)" if awaits else ""
            raise O2CError(
                f"Application {application.number} has no final decision yet{waiting}: a "
                "decision letter is written once it is decided."
            )
        letter = letter_in_session(session, application, decision)
    rendered = render_decision_letter(letter, get_letterhead(db))
    path = Path(out)
    if path.is_dir():
        path = path / f"{letter.application_number} decision.pdf"
    write_pdf(path, rendered.pdf)
    return path


__all__ = [
    "DecisionLetter",
    "letter_in_session",
    "render_decision_letter",
    "write_decision_letter",
]
