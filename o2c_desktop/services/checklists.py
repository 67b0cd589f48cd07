"""Verification checklists: the templates administrators edit, and each application's items.

Templates: an application gets the items of the first active template (by position) whose
segment, currency and amount range match it (services.checklist_instances). Saving a template
replaces its item list as a whole; applications keep the copy they were given, so an edit never
changes a checklist already worked. A template used by an application cannot be deleted (its
applications name it): deactivating it stops it from being chosen.

Items: pending → received → verified, or rejected, while the application is being worked on
(draft, submitted, in verification); awaiting approval or decided, the checklist is frozen.
"waived" is reached only through `waive_item` (a manager, with a reason; the waiver records the
manager's roles as its authority) and left only back to "pending", by a manager again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.db.types import MONEY_MAX
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, ValidationFailed
from o2c_desktop.models import (
    ApplicationChecklistItem,
    ChecklistTemplate,
    ChecklistTemplateItem,
    CreditApplication,
    Document,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    ITEM_PENDING,
    ITEM_STATUSES,
    ITEM_VERIFIED,
    ITEM_WAIVED,
)
from o2c_desktop.money import decimals_of, minor_units, parse_amount
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_applications import (
    EDITABLE_STATES,
    application_in_session,
    require_view,
)
from o2c_desktop.services.customer_fields import FALSE_WORDS, TRUE_WORDS, parse_field
from o2c_desktop.services.documents import DocumentView, document_views, require_open
from o2c_desktop.services.field_checks import is_whole, row_id
from o2c_desktop.services.stored_rows import (
    audit_change,
    locked_at_version,
    stale_version_conflict,
    view_of,
)
from o2c_desktop.services.users import user_names

MAX_NAME = 80
MAX_LABEL = 200
MAX_CODE = 40
MAX_ITEMS = 50
MAX_QUANTITY = 20
MAX_VALIDITY_MONTHS = 120
MAX_NOTES = 4000
MAX_REASON = 500
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE_KEYS = ("name", "position", "segment", "currency", "min_amount", "max_amount", "active")
_ITEM_KEYS = ("code", "label", "required", "required_above", "quantity", "validity_months")
_IGNORED_ITEM_KEYS = ("id", "position")  # a TemplateItemView passed back as a dict
# What a status change may touch on an item, in the order the audit lists it.
_ITEM_AUDITED = (
    "status",
    "notes",
    "verified_by_id",
    "verified_at",
    "waived_by_id",
    "waived_at",
    "waiver_reason",
    "waiver_authority",
)


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateItemView:
    id: int
    position: int
    code: str
    label: str
    required: bool
    required_above: Decimal | None  # optional below this requested amount, required from it
    quantity: int
    validity_months: int | None


@dataclass(frozen=True)
class TemplateView:
    id: int
    name: str
    position: int
    segment: str | None
    currency: str | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    active: bool
    version: int
    items: tuple[TemplateItemView, ...]


def _template_views(session: Session, templates: Sequence[ChecklistTemplate]) -> list[TemplateView]:
    ids = [t.id for t in templates]
    items: dict[int, list[TemplateItemView]] = {i: [] for i in ids}
    if ids:
        for row in session.scalars(
            select(ChecklistTemplateItem)
            .where(ChecklistTemplateItem.template_id.in_(ids))
            .order_by(ChecklistTemplateItem.template_id, ChecklistTemplateItem.position)
        ):
            items[row.template_id].append(view_of(TemplateItemView, row))
    return [view_of(TemplateView, t, items=tuple(items[t.id])) for t in templates]


def list_templates(db: Database, actor: Actor) -> list[TemplateView]:
    """Every template with its items, in the order they are tried (active or not)."""
    require_view(actor)
    with db.read() as session:
        rows = session.scalars(
            select(ChecklistTemplate).order_by(ChecklistTemplate.position, ChecklistTemplate.id)
        ).all()
        return _template_views(session, rows)


def _text(
    name: str,
    raw: Any,
    limit: int,
    problems: list[FieldProblem],
    *,
    row: int | None = None,
    required: bool = False,
    one_line: bool = True,
) -> str | None:
    """Text trimmed (and, for names and labels, on one line with single spaces)."""
    if raw is not None and not isinstance(raw, str):
        problems.append(FieldProblem(name, "expected text", row, str(raw)))
        return None
    text = (" ".join((raw or "").split()) if one_line else (raw or "").strip()) or None
    if text is None and required:
        problems.append(FieldProblem(name, "required", row))
    elif text is not None and len(text) > limit:
        problems.append(FieldProblem(name, f"at most {limit} characters", row, text[:40]))
        return None
    return text


def _whole(
    name: str,
    raw: Any,
    low: int,
    high: int,
    problems: list[FieldProblem],
    *,
    row: int | None = None,
    optional: bool = False,
) -> int | None:
    value = raw.strip() if isinstance(raw, str) else raw
    if optional and value in (None, ""):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not is_whole(value) or not low <= value <= high:
        empty = " or empty" if optional else ""
        problems.append(
            FieldProblem(name, f"a whole number from {low} to {high}{empty}", row, str(raw))
        )
        return None
    return int(value)


def _amount(
    name: str, raw: Any, problems: list[FieldProblem], *, row: int | None = None
) -> Decimal | None:
    """An optional amount of 0 or more (empty: none)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, float | bool) or not isinstance(raw, str | int | Decimal):
        problems.append(FieldProblem(name, "an amount as text or Decimal", row, str(raw)))
        return None
    try:
        amount = parse_amount(raw)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), row, str(raw)))
        return None
    if not amount.is_finite() or amount < 0 or amount > MONEY_MAX:
        problems.append(FieldProblem(name, "an amount of 0 or more", row, str(raw)))
        return None
    if decimals_of(amount) > 4:
        problems.append(FieldProblem(name, "at most 4 decimals", row, str(raw)))
        return None
    return amount.quantize(Decimal("0.01")) if decimals_of(amount) <= 2 else amount


def _flag(
    name: str, raw: Any, problems: list[FieldProblem], *, row: int | None = None
) -> bool | None:
    if isinstance(raw, bool):
        return raw
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS and word is not None:
        return False
    problems.append(FieldProblem(name, "yes or no", row, str(raw)))
    return None


def _parsed(name: str, raw: Any, problems: list[FieldProblem]) -> Any:
    """A customer field's parsing (segment, currency), so a template's segment and currency
    are written the way customers and applications write them."""
    try:
        return parse_field(name, raw)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), value=None if raw is None else str(raw)))
        return None


def _template_values(
    raw: Mapping[str, Any], current: Mapping[str, Any], problems: list[FieldProblem]
) -> dict[str, Any]:
    """The template's own fields: those given, checked; the others as they are (`current`)."""
    for key in raw:
        if key not in _TEMPLATE_KEYS:
            problems.append(FieldProblem(str(key), "no such template field"))
    merged = {**current, **{k: v for k, v in raw.items() if k in _TEMPLATE_KEYS}}
    values = {
        "name": _text("name", merged["name"], MAX_NAME, problems, required=True),
        "position": _whole("position", merged["position"], 1, 10_000, problems),
        "segment": _parsed("segment", merged["segment"], problems),
        "currency": _parsed("currency", merged["currency"], problems),
        "min_amount": _amount("min_amount", merged["min_amount"], problems),
        "max_amount": _amount("max_amount", merged["max_amount"], problems),
        "active": _flag("active", merged["active"], problems),
    }
    low, high, currency = values["min_amount"], values["max_amount"], values["currency"]
    if low is not None and high is not None and low > high:
        problems.append(
            FieldProblem("max_amount", f"less than the minimum {low:f}", value=format(high, "f"))
        )
    if currency:
        places = minor_units(currency)
        for name in ("min_amount", "max_amount"):
            amount = values[name]
            if amount is not None and decimals_of(amount) > places:
                problems.append(
                    FieldProblem(name, f"{currency} has {places} decimal(s)", value=f"{amount:f}")
                )
    return values


def _code_from(label: str | None) -> str:
    """A code for an item saved without one: its label in lower case, words joined by "_"."""
    words = re.findall(r"[a-z0-9]+", (label or "").lower())
    code = "_".join(words)[:MAX_CODE].strip("_")
    return code if code[:1].isalpha() else f"item_{code}".strip("_")[:MAX_CODE]


def _item_values(
    raw_items: Sequence[Mapping[str, Any]], problems: list[FieldProblem]
) -> list[dict[str, Any]]:
    """The item list, checked; each problem names its item by number (row 1, 2, …)."""
    if isinstance(raw_items, str | bytes) or not isinstance(raw_items, Sequence):
        problems.append(FieldProblem("items", "expected a list of items"))
        return []
    if not raw_items:
        problems.append(FieldProblem("items", "a template needs at least one item"))
    if len(raw_items) > MAX_ITEMS:
        problems.append(FieldProblem("items", f"at most {MAX_ITEMS} items"))
        return []
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, Mapping):
            problems.append(FieldProblem("item", "expected the item's fields", number))
            continue
        for key in raw:
            if key not in _ITEM_KEYS and key not in _IGNORED_ITEM_KEYS:
                problems.append(FieldProblem(str(key), "no such item field", number))
        label = _text("label", raw.get("label"), MAX_LABEL, problems, row=number, required=True)
        code = _text("code", raw.get("code"), MAX_CODE, problems, row=number)
        code = code.lower() if code else _code_from(label)
        if not _CODE.match(code):
            problems.append(
                FieldProblem(
                    "code", "lower-case letters, digits and _, starting with a letter", number, code
                )
            )
        elif code in seen:
            problems.append(
                FieldProblem("code", f"item {seen[code]} has the same code", number, code)
            )
        else:
            seen[code] = number
        required = _flag("required", raw.get("required", True), problems, row=number)
        above = _amount("required_above", raw.get("required_above"), problems, row=number)
        if required and above is not None:
            problems.append(
                FieldProblem(
                    "required_above",
                    "only for an optional item (a required item is needed at any amount)",
                    number,
                    f"{above:f}",
                )
            )
        items.append(
            {
                "position": number,
                "code": code,
                "label": label,
                "required": required,
                "required_above": above,
                "quantity": _whole(
                    "quantity", raw.get("quantity", 1), 1, MAX_QUANTITY, problems, row=number
                ),
                "validity_months": _whole(
                    "validity_months",
                    raw.get("validity_months"),
                    1,
                    MAX_VALIDITY_MONTHS,
                    problems,
                    row=number,
                    optional=True,
                ),
            }
        )
    return items


def _item_fields(item: TemplateItemView) -> dict[str, Any]:
    return {key: getattr(item, key) for key in _ITEM_KEYS}


def _items_summary(items: Sequence[Mapping[str, Any]] | Sequence[TemplateItemView]) -> str:
    """The item list as one audit value: "code: label (required|optional[ from X], ×n, valid
    m months)", items separated by "; "."""
    parts = []
    for item in items:
        fields = item if isinstance(item, Mapping) else vars(item)
        get = fields.get
        need = "required" if get("required") else "optional"
        if get("required_above") is not None:
            need += f" from {get('required_above'):f}"
        extra = f", ×{get('quantity')}" if get("quantity") != 1 else ""
        if get("validity_months"):
            extra += f", valid {get('validity_months')} months"
        parts.append(f"{get('code')}: {get('label')} ({need}{extra})")
    return "; ".join(parts)


def _locked_template(
    session: Session, template_id: int, expected_version: int | None
) -> ChecklistTemplate:
    return locked_at_version(
        session,
        ChecklistTemplate,
        template_id,
        expected_version,
        what="Checklist template",
        name=lambda row: repr(row.name),
    )


def _stored_template(row: ChecklistTemplate | None) -> dict[str, Any]:
    return {key: getattr(row, key) if row is not None else None for key in _TEMPLATE_KEYS}


def save_template(
    db: Database,
    actor: Actor,
    template_id: int | None,
    expected_version: int | None,
    values: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] | None,
) -> TemplateView:
    """Create a template (`template_id` None) or change one, replacing its item list.

    `values`: name, position (new: after the last), segment, currency, min_amount, max_amount
    (empty: any), active (new: yes); a change may give only some of them. `items`, in order:
    code (from the label when empty), label, required, required_above, quantity,
    validity_months; None keeps a saved template's items (to deactivate it, say). Every
    problem is reported at once; audited (fields and an items summary)."""
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    problems: list[FieldProblem] = []
    with db.write() as session:
        row = (
            None
            if template_id is None
            else _locked_template(session, template_id, expected_version)
        )
        current = _stored_template(row)
        if row is None:
            last = session.scalar(select(func.max(ChecklistTemplate.position))) or 0
            current.update(position=last + 1, active=True)
        checked = _template_values(values, current, problems)
        old_items = [] if row is None else _template_views(session, [row])[0].items
        if items is None and row is not None:
            items = [_item_fields(i) for i in old_items]
        new_items = _item_values(items if items is not None else [], problems)
        name = checked["name"]
        if name and session.scalar(
            select(ChecklistTemplate.id).where(
                func.lower(ChecklistTemplate.name) == name.lower(),
                ChecklistTemplate.id != (template_id or 0),
            )
        ):
            problems.append(FieldProblem("name", "another template has this name", value=name))
        if problems:
            raise ValidationFailed(problems, "Checklist template")
        changes = {k: (current[k] if row else None, v) for k, v in checked.items()}
        changes = {k: (old, new) for k, (old, new) in changes.items() if old != new}
        old_summary = _items_summary(old_items) if row else None
        new_summary = _items_summary(new_items)
        if old_summary != new_summary:
            changes["items"] = (old_summary, new_summary)
        if row is not None and not changes:
            return _template_views(session, [row])[0]
        if row is None:
            row = ChecklistTemplate()
            session.add(row)
        for key, value in checked.items():
            setattr(row, key, value)
        row.updated_at, row.updated_by_id = utcnow(), actor.user_id or None
        try:
            session.flush()
        except IntegrityError:  # another administrator saved the same name a moment ago
            raise ValidationFailed(
                [FieldProblem("name", "another template has this name", value=name)],
                "Checklist template",
            ) from None
        session.execute(
            delete(ChecklistTemplateItem).where(ChecklistTemplateItem.template_id == row.id)
        )
        session.add_all(ChecklistTemplateItem(template_id=row.id, **item) for item in new_items)
        session.flush()
        action = audit.CREATE if template_id is None else audit.UPDATE
        audit_change(session, actor, action, row, changes)
        return _template_views(session, [row])[0]


def delete_template(db: Database, actor: Actor, template_id: int, expected_version: int) -> None:
    """Delete a template no application used; one that was used can only be deactivated."""
    actor.require(Permission.MANAGE_CREDIT_POLICY)
    with db.write() as session:
        row = _locked_template(session, template_id, expected_version)
        used = session.scalars(
            select(CreditApplication.number)
            .where(CreditApplication.checklist_template_id == row.id)
            .order_by(CreditApplication.number)
        ).all()
        if used:
            shown = ", ".join(used[:3]) + (" …" if len(used) > 3 else "")
            raise ValidationFailed(
                [
                    FieldProblem(
                        "template",
                        f"{len(used)} application(s) used it ({shown}): deactivate it instead "
                        "(untick Active), so it is no longer chosen for new applications",
                        value=row.name,
                    )
                ],
                "Checklist template",
            )
        before = _stored_template(row)
        before["items"] = _items_summary(_template_views(session, [row])[0].items)
        audit_change(
            session,
            actor,
            audit.DELETE,
            row,
            {k: (v, None) for k, v in before.items() if v is not None},
        )
        session.execute(
            delete(ChecklistTemplateItem).where(ChecklistTemplateItem.template_id == row.id)
        )
        session.delete(row)


# ---------------------------------------------------------------------------------------------
# An application's items
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItemView:
    id: int
    application_id: int
    position: int
    code: str
    label: str
    required: bool
    quantity: int
    validity_months: int | None
    status: str
    notes: str | None
    verified_by: str | None
    verified_at: datetime | None
    waived_by: str | None
    waived_at: datetime | None
    waiver_reason: str | None
    waiver_authority: str | None
    documents: tuple[DocumentView, ...]
    version: int

    @property
    def done(self) -> bool:
        """Verified or waived: what lets a required item pass to approval."""
        return self.status in (ITEM_VERIFIED, ITEM_WAIVED)


def _item_views(
    session: Session, items: Sequence[ApplicationChecklistItem]
) -> list[ChecklistItemView]:
    ids = [i.id for i in items]
    documents: dict[int, list[DocumentView]] = {i: [] for i in ids}
    if ids:
        for document in document_views(session, Document.checklist_item_id.in_(ids)):
            documents[document.checklist_item_id or 0].append(document)
    names = user_names(session, {i.verified_by_id for i in items} | {i.waived_by_id for i in items})
    return [
        view_of(
            ChecklistItemView,
            item,
            verified_by=names.get(item.verified_by_id) if item.verified_by_id else None,
            waived_by=names.get(item.waived_by_id) if item.waived_by_id else None,
            documents=tuple(documents[item.id]),
        )
        for item in items
    ]


def list_items(db: Database, actor: Actor, application_id: int) -> list[ChecklistItemView]:
    """An application's checklist in order, each item with its documents."""
    require_view(actor)
    with db.read() as session:
        application_id = application_in_session(session, application_id).id
        items = session.scalars(
            select(ApplicationChecklistItem)
            .where(ApplicationChecklistItem.application_id == application_id)
            .order_by(ApplicationChecklistItem.position, ApplicationChecklistItem.id)
        ).all()
        return _item_views(session, items)


def _locked_item(
    session: Session, item_id: int, expected_version: int
) -> tuple[CreditApplication, ApplicationChecklistItem]:
    """The item and its application, both locked, application first (the workflow's order, so
    a checklist change and a move to approval never wait on each other in a circle); refused
    unless the application is being worked on and the item is the version the user saw."""
    item_id = row_id(item_id, "checklist item")
    application_id = session.scalar(
        select(ApplicationChecklistItem.application_id).where(
            ApplicationChecklistItem.id == item_id
        )
    )
    application = (
        None
        if application_id is None
        else session.get(CreditApplication, application_id, with_for_update=True)
    )
    item = session.get(ApplicationChecklistItem, item_id, with_for_update=True)
    if application is None or item is None:
        raise NotFound(f"Checklist item #{item_id} does not exist (removed with its application?).")
    require_open(application, EDITABLE_STATES, "its checklist can change")
    if item.version != expected_version:
        raise stale_version_conflict(
            session,
            item,
            expected_version,
            what="Checklist item",
            name=f"{item.label!r} of application {application.number}",
            changed_at=item.updated_at,
        )
    return application, item


def _snapshot(item: ApplicationChecklistItem) -> dict[str, Any]:
    return {key: getattr(item, key) for key in _ITEM_AUDITED}


def _save_item(
    session: Session,
    actor: Actor,
    application: CreditApplication,
    item: ApplicationChecklistItem,
    before: dict[str, Any],
) -> ChecklistItemView:
    """Flush the item's changes (its version moves) and audit them field by field."""
    after = _snapshot(item)
    changes = {k: (before[k], after[k]) for k in _ITEM_AUDITED if before[k] != after[k]}
    if changes:
        item.updated_at, item.updated_by_id = utcnow(), actor.user_id or None
        session.flush()
        audit_change(
            session, actor, audit.UPDATE, item, changes, customer_id=application.customer_id
        )
    return _item_views(session, [item])[0]


def _clear_waiver(item: ApplicationChecklistItem) -> None:
    item.waived_by_id = item.waived_at = item.waiver_reason = item.waiver_authority = None


def set_item_status(
    db: Database,
    actor: Actor,
    item_id: int,
    expected_version: int,
    status: str,
    notes: str | None = None,
) -> ChecklistItemView:
    """Set an item pending, received, verified or rejected (`notes`: None keeps them, text
    replaces them, "" clears them). Verified records who and when; leaving verified clears
    that. A waived item goes back only to pending, by someone who may waive."""
    actor.require(Permission.VERIFY_CHECKLIST)
    problems: list[FieldProblem] = []
    settable = tuple(s for s in ITEM_STATUSES if s != ITEM_WAIVED)
    if status == ITEM_WAIVED:
        problems.append(FieldProblem("status", "waive an item with a reason (Waive…)"))
    elif status not in settable:
        problems.append(FieldProblem("status", f"one of {', '.join(settable)}", value=str(status)))
    text = _text("notes", notes, MAX_NOTES, problems, one_line=False) if notes else None
    if problems:
        raise ValidationFailed(problems, "Checklist item")
    with db.write() as session:
        application, item = _locked_item(session, item_id, expected_version)
        before = _snapshot(item)
        if item.status == ITEM_WAIVED and status != ITEM_WAIVED:
            actor.require(Permission.WAIVE_CHECKLIST)
            if status != ITEM_PENDING:
                raise ValidationFailed(
                    [
                        FieldProblem(
                            "status",
                            "a waived item goes back to pending first (the waiver is undone)",
                            value=status,
                        )
                    ],
                    "Checklist item",
                )
            _clear_waiver(item)
        if status == ITEM_VERIFIED and item.status != ITEM_VERIFIED:
            item.verified_by_id, item.verified_at = actor.user_id or None, utcnow()
        elif status != ITEM_VERIFIED:
            item.verified_by_id = item.verified_at = None
        item.status = status
        if notes is not None:
            item.notes = text
        return _save_item(session, actor, application, item, before)


def waive_item(
    db: Database, actor: Actor, item_id: int, expected_version: int, reason: str
) -> ChecklistItemView:
    """Waive an item (it then counts as done for approval): a reason is required, and the
    waiver records who waived it, when, and their roles as the authority it was waived on."""
    actor.require(Permission.WAIVE_CHECKLIST)
    problems: list[FieldProblem] = []
    text = _text("reason", reason, MAX_REASON, problems, required=True, one_line=False)
    if problems:
        raise ValidationFailed(problems, "Waiver")
    with db.write() as session:
        application, item = _locked_item(session, item_id, expected_version)
        if item.status == ITEM_WAIVED:
            raise O2CError(
                f"{item.label!r} is already waived ({item.waiver_reason}); set it back to "
                "pending first to waive it anew."
            )
        before = _snapshot(item)
        item.status = ITEM_WAIVED
        item.verified_by_id = item.verified_at = None
        item.waived_by_id, item.waived_at = actor.user_id or None, utcnow()
        item.waiver_reason = text
        item.waiver_authority = actor.roles_text[:120]
        return _save_item(session, actor, application, item, before)
