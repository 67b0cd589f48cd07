"""An application's verification checklist, copied from the template that matches it.

The template is the first active one (by position) whose segment, currency and amount range
match the application; an empty segment, currency or bound matches anything, and the range
includes both ends (min_amount <= requested limit <= max_amount). Each template item becomes an
`ApplicationChecklistItem` of its own, so an administrator editing a template never changes a
checklist already being worked. An item is required when the template says so, or when the
requested limit reaches its `required_above` amount (a personal guarantee from 100,000).

When the requested limit, segment or currency changes, the checklist follows: nobody has worked
it yet, it is simply replaced; once worked, every item and its work stay, each item the newly
matching template has becomes required or optional as that template says (and, from a new
template, takes its label and quantity: a verified item asked for more goes back to received),
and the template's items missing are added (pending), so raising 10,000 to 1,000,000 cannot
keep a small exposure's checklist.

These functions work inside the caller's unit of work: creating or editing an application and
its checklist is one transaction (services.credit_applications).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from o2c_desktop.models import (
    ApplicationChecklistItem,
    ChecklistTemplate,
    ChecklistTemplateItem,
    CreditApplication,
    Document,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import ITEM_DONE, ITEM_PENDING, ITEM_RECEIVED, ITEM_VERIFIED
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.stored_rows import apply_change, audit_change


def choose_template(
    session: Session, *, segment: str | None, currency: str | None, amount: Decimal
) -> ChecklistTemplate | None:
    """The first active template (by position, then id) matching the segment (compared without
    regard to case), currency and amount; None when no template matches."""
    segment_matches = ChecklistTemplate.segment.is_(None)
    if segment:
        segment_matches = or_(
            segment_matches, func.lower(ChecklistTemplate.segment) == segment.strip().lower()
        )
    currency_matches = ChecklistTemplate.currency.is_(None)
    if currency:
        currency_matches = or_(currency_matches, ChecklistTemplate.currency == currency.upper())
    return session.scalars(
        select(ChecklistTemplate)
        .where(
            ChecklistTemplate.active.is_(True),
            segment_matches,
            currency_matches,
            or_(ChecklistTemplate.min_amount.is_(None), ChecklistTemplate.min_amount <= amount),
            or_(ChecklistTemplate.max_amount.is_(None), ChecklistTemplate.max_amount >= amount),
        )
        .order_by(ChecklistTemplate.position, ChecklistTemplate.id)
        .limit(1)
    ).first()


def _template_items(session: Session, template_id: int) -> list[ChecklistTemplateItem]:
    return list(
        session.scalars(
            select(ChecklistTemplateItem)
            .where(ChecklistTemplateItem.template_id == template_id)
            .order_by(ChecklistTemplateItem.position, ChecklistTemplateItem.id)
        )
    )


def is_required(item: ChecklistTemplateItem, amount: Decimal) -> bool:
    """Required by the template, or from its `required_above` amount upwards."""
    return bool(item.required) or (
        item.required_above is not None and amount >= item.required_above
    )


def _planned(
    session: Session, application: CreditApplication
) -> tuple[int | None, list[dict[str, Any]]]:
    """The template an application gets now, and its items as column values."""
    template = choose_template(
        session,
        segment=application.segment,
        currency=application.currency,
        amount=application.requested_limit,
    )
    if template is None:
        return None, []
    items = [
        {
            "position": item.position,
            "code": item.code,
            "label": item.label,
            "required": is_required(item, application.requested_limit),
            "quantity": item.quantity,
            "validity_months": item.validity_months,
        }
        for item in _template_items(session, template.id)
    ]
    return template.id, items


def _add_items(
    session: Session, application_id: int, items: list[dict[str, Any]]
) -> list[ApplicationChecklistItem]:
    rows = [
        ApplicationChecklistItem(application_id=application_id, status=ITEM_PENDING, **values)
        for values in items
    ]
    session.add_all(rows)
    return rows


def instantiate_in_session(session: Session, application: CreditApplication) -> None:
    """Give an application (new, or whose checklist was just removed) the items of the template
    that matches it, all pending. Sets `checklist_template_id` (None: no template matched, and
    nothing will block the way to approval)."""
    with session.no_autoflush:  # one INSERT (or UPDATE) of the application, not two
        template_id, items = _planned(session, application)
    application.checklist_template_id = template_id
    if application.id is None:
        session.flush()
    _add_items(session, application.id, items)


def template_name(session: Session, template_id: int | None) -> str | None:
    if template_id is None:
        return None
    return session.scalar(select(ChecklistTemplate.name).where(ChecklistTemplate.id == template_id))


def _untouched(session: Session, application_id: int) -> bool:
    """No item has moved from pending and no document is attached to any of them: replacing
    the checklist loses nobody's work."""
    worked = session.scalar(
        select(ApplicationChecklistItem.id)
        .where(
            ApplicationChecklistItem.application_id == application_id,
            ApplicationChecklistItem.status != ITEM_PENDING,
        )
        .limit(1)
    )
    if worked is not None:
        return False
    attached = session.scalar(
        select(Document.id)
        .join(ApplicationChecklistItem, ApplicationChecklistItem.id == Document.checklist_item_id)
        .where(ApplicationChecklistItem.application_id == application_id)
        .limit(1)
    )
    return attached is None


def _current(session: Session, application_id: int) -> list[tuple[str, bool]]:
    return [
        (code, bool(required))
        for code, required in session.execute(
            select(ApplicationChecklistItem.code, ApplicationChecklistItem.required)
            .where(ApplicationChecklistItem.application_id == application_id)
            .order_by(ApplicationChecklistItem.position, ApplicationChecklistItem.id)
        )
    ]


def _followed(
    row: ApplicationChecklistItem, plan: dict[str, Any], new_template: bool
) -> dict[str, Any]:
    """What a kept item takes from the plan: its required flag and, from a new template, its
    label and quantity too; a verified item asked for more (2 trade references verified, 3
    wanted) goes back to received, so someone verifies the larger number."""
    wanted: dict[str, Any] = {"required": plan["required"]}
    if new_template:
        wanted |= {"label": plan["label"], "quantity": plan["quantity"]}
        if row.status == ITEM_VERIFIED and plan["quantity"] > row.quantity:
            wanted |= {"status": ITEM_RECEIVED, "verified_by_id": None, "verified_at": None}
    return wanted


def _merge(
    session: Session,
    actor: Actor,
    application: CreditApplication,
    items: list[dict[str, Any]],
    new_template: bool,
) -> None:
    """Bring a worked checklist in line with the planned `items` without losing any work: an
    item whose code is planned follows it (`_followed`), one the plan lacks stays as it is, and
    planned codes the checklist lacks are added, pending. Each change is audited on its item.
    The caller has made every change to the application: this flushes it."""
    planned = {item["code"]: item for item in items}
    for row in session.scalars(
        select(ApplicationChecklistItem).where(
            ApplicationChecklistItem.application_id == application.id
        )
    ).all():
        plan = planned.pop(row.code, None)
        if plan is not None:
            wanted = _followed(row, plan, new_template)
            apply_change(session, actor, row, wanted, customer_id=application.customer_id)
    now, user_id = utcnow(), actor.user_id or None
    added = _add_items(
        session,
        application.id,
        [{**plan, "updated_at": now, "updated_by_id": user_id} for plan in planned.values()],
    )
    session.flush()
    for row in added:
        created = {"application": application.number, "code": row.code, "label": row.label}
        created |= {"required": row.required, "status": row.status}
        audit_change(
            session,
            actor,
            audit.CREATE,
            row,
            {k: (None, v) for k, v in created.items()},
            customer_id=application.customer_id,
        )


def rechoose_in_session(
    session: Session, actor: Actor, application: CreditApplication
) -> tuple[int | None, int | None] | None:
    """After the requested limit, segment or currency changed: give the application the
    checklist that matches it now (module docstring). While every item is pending and nothing
    is attached, the items are replaced; once anyone has worked the checklist, its items and
    their documents stay and are merged with the new template's (`_merge`). Call it once every
    other change to the application is made (it may flush).

    Returns (old template id, new template id) when the template changed or the checklist was
    replaced, else None (also when the same items would come back)."""
    with session.no_autoflush:  # the caller's edit and this one: one version step
        template_id, items = _planned(session, application)
        current = _current(session, application.id)
        planned = [(item["code"], item["required"]) for item in items]
        old = application.checklist_template_id
        if template_id == old and planned == current:
            return None
        application.checklist_template_id = template_id
        if not _untouched(session, application.id):
            _merge(session, actor, application, items, template_id != old)
            return None if template_id == old else (old, template_id)
        session.execute(
            delete(ApplicationChecklistItem).where(
                ApplicationChecklistItem.application_id == application.id
            )
        )
    _add_items(session, application.id, items)
    return old, template_id


def blocking_items_in_session(session: Session, application_id: int) -> list[str]:
    """Labels of the required items neither verified nor waived, in checklist order: what keeps
    an application from going to approval."""
    return list(
        session.scalars(
            select(ApplicationChecklistItem.label)
            .where(
                ApplicationChecklistItem.application_id == application_id,
                ApplicationChecklistItem.required.is_(True),
                ApplicationChecklistItem.status.not_in(ITEM_DONE),
            )
            .order_by(ApplicationChecklistItem.position, ApplicationChecklistItem.id)
        )
    )
