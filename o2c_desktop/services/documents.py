"""Documents attached to credit applications, their checklist items and customers.

A document is any file up to 50 MB. Its bytes live in the database (`documents.content`) or, when
the credit policy names a document store folder, in `<store>/<sha[:2]>/<sha>`: the file is named
by its SHA-256, so the same content attached twice is stored once, and `store_path` keeps that
name relative to the store (a store moved to another drive only needs the policy changed).

The SHA-256 and size are taken while the file is read and checked again whenever the bytes are
read back (`read_document`, `export_for_viewing`): a file changed or lost in the store, or bytes
damaged in the database, is reported by name before anyone relies on it.

Documents of an application are attached and removed while it is being worked on (draft,
submitted, in verification): from pending approval on, what the approver sees stays as sent. A
file attached to a pending checklist item makes it "received"; removing the last file of a
received or verified item puts it back to pending (nothing is there to have been verified).

Expiry (what raises a review before a document lapses): an explicit `expires_on`, else the
document's date plus its checklist item's validity (financial statements: the policy's
`financial_statements_months`, the department-wide rule that overrides a template's number).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import mimetypes
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, NotFound, O2CError, ValidationFailed
from o2c_desktop.models import (
    ApplicationChecklistItem,
    CreditApplication,
    Customer,
    Document,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import (
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_VERIFIED,
    STORAGE_DATABASE,
    STORAGE_STORE,
)
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.credit_applications import (
    EDITABLE_STATES,
    parse_day,
    require_view,
    state_label,
)
from o2c_desktop.services.credit_policy import CreditPolicy, read_policy
from o2c_desktop.services.day_range import add_months
from o2c_desktop.services.field_checks import row_id
from o2c_desktop.services.stored_rows import apply_change, view_of
from o2c_desktop.services.users import user_names

MAX_BYTES = 50 * 1024 * 1024
MAX_DESCRIPTION = 300
MAX_FILENAME = 255
FINANCIAL_STATEMENTS = "financial_statements"  # the checklist item code the policy's months cover
_CHUNK = 1024 * 1024
_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class DocumentView:
    id: int
    application_id: int | None
    checklist_item_id: int | None
    customer_id: int | None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage: str
    description: str | None
    document_date: date | None
    expires_on: date | None
    uploaded_by: str | None
    uploaded_at: datetime


# ---------------------------------------------------------------------------------------------
# Helpers (services.checklists lists an item's documents and checks state the same way)
# ---------------------------------------------------------------------------------------------


def size_text(size: int) -> str:
    """A size as people read it: "812 bytes", "1.4 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def document_views(session: Session, *conditions: Any) -> list[DocumentView]:
    """The documents meeting `conditions`, oldest first, without loading their bytes."""
    rows = session.scalars(select(Document).where(*conditions).order_by(Document.id)).all()
    names = user_names(session, {r.uploaded_by_id for r in rows})
    return [_view(row, names) for row in rows]


def _view(row: Document, names: dict[int, str]) -> DocumentView:
    uploader = names.get(row.uploaded_by_id) if row.uploaded_by_id else None
    return view_of(DocumentView, row, uploaded_by=uploader)


def require_open(application: CreditApplication, states: tuple[str, ...], what: str) -> None:
    """Refuse `what` unless the application is in one of `states`, naming its state."""
    if application.state not in states:
        allowed = ", ".join(state_label(s) for s in states)
        raise O2CError(
            f"Application {application.number} is {state_label(application.state)}: {what} only "
            f"while it is {allowed}."
        )


# ---------------------------------------------------------------------------------------------
# Reading a file, and the store
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    data: bytes
    sha256: str


def _read_file(path: Path) -> _Read:
    """The file's bytes and SHA-256 (taken while reading), or an O2CError naming the path."""
    try:
        if path.is_dir():
            raise O2CError(f"{path} is a folder, not a file: choose a file to attach.")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise O2CError(_too_large(path, size))
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        total = 0
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > MAX_BYTES:  # it grew while being read
                    raise O2CError(_too_large(path, total))
                digest.update(chunk)
                chunks.append(chunk)
    except FileNotFoundError:
        raise O2CError(f"{path} does not exist (moved or deleted?).") from None
    except PermissionError:
        raise O2CError(f"{path} cannot be read: permission denied.") from None
    except OSError as exc:
        raise O2CError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if total == 0:
        raise O2CError(f"{path} is empty (0 bytes): there is nothing to attach.")
    return _Read(b"".join(chunks), digest.hexdigest())


def _too_large(path: Path, size: int) -> str:
    return (
        f"{path} is {size_text(size)} ({size:,} bytes); a document may be at most "
        f"{size_text(MAX_BYTES)} ({MAX_BYTES:,} bytes)."
    )


def _store_folder(policy: CreditPolicy) -> Path | None:
    return Path(policy.document_store).expanduser() if policy.document_store else None


def _store_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}"


def _hash_of(path: Path) -> str | None:
    """The SHA-256 of a file, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary name in the target's folder, then rename over it: nobody ever sees
    half a file under the final name."""
    handle, temporary = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _put_in_store(folder: Path, read: _Read) -> str:
    """Store the bytes under their hash (kept if an intact copy is there already); returns the
    name relative to the store."""
    if not folder.is_dir():  # an unmounted network drive must not become a local folder
        raise O2CError(
            f"The document store {folder} is not there (not connected?); connect it, or change "
            "the folder in the credit policy settings."
        )
    name = _store_name(read.sha256)
    target = folder / name
    try:
        target.parent.mkdir(exist_ok=True)
        if target.is_file() and _hash_of(target) == read.sha256:
            return name
        _write_atomically(target, read.data)
    except OSError as exc:
        raise O2CError(
            f"Cannot write to the document store {folder}: {exc.strerror or exc}. Check the "
            "folder in the credit policy settings."
        ) from None
    return name


# ---------------------------------------------------------------------------------------------
# Attaching
# ---------------------------------------------------------------------------------------------


@dataclass
class _Targets:
    application: CreditApplication | None
    item: ApplicationChecklistItem | None
    customer_id: int | None


def _targets(
    session: Session,
    application_id: int | None,
    checklist_item_id: int | None,
    customer_id: int | None,
    problems: list[FieldProblem],
) -> _Targets:
    """What the document belongs to: the item's application, the application's customer;
    explicit ids must agree with them. The application row is locked first (the order
    services.checklists and the workflow lock in)."""
    item_app = None
    if checklist_item_id is not None:
        item_app = session.scalar(
            select(ApplicationChecklistItem.application_id).where(
                ApplicationChecklistItem.id == checklist_item_id
            )
        )
        if item_app is None:
            problems.append(
                FieldProblem("checklist_item", "no such item", value=str(checklist_item_id))
            )
        elif application_id is not None and application_id != item_app:
            problems.append(FieldProblem("checklist_item", "belongs to another application"))
    wanted_app = application_id if application_id is not None else item_app
    application = None
    if wanted_app is not None:
        application = session.get(CreditApplication, wanted_app, with_for_update=True)
        if application is None:
            problems.append(FieldProblem("application", "no such one", value=str(wanted_app)))
    item = None
    if item_app is not None:
        item = session.get(ApplicationChecklistItem, checklist_item_id, with_for_update=True)
    if customer_id is not None:
        if session.get(Customer, customer_id) is None:
            problems.append(FieldProblem("customer", "no such customer", value=str(customer_id)))
        elif application is not None and application.customer_id not in (None, customer_id):
            problems.append(FieldProblem("customer", "the application is for another customer"))
    elif application is not None:
        customer_id = application.customer_id
    if application is None and item is None and customer_id is None and not problems:
        problems.append(
            FieldProblem("document", "attach it to an application, a checklist item or a customer")
        )
    return _Targets(application, item, customer_id)


def _optional_id(value: Any, what: str) -> int | None:
    return None if value is None else row_id(value, what)


def expiry_of(
    item: ApplicationChecklistItem | None,
    document_date: date | None,
    expires_on: date | None,
    policy: CreditPolicy,
) -> date | None:
    """When a document lapses (module docstring): explicit, else its date + the item's months."""
    if expires_on is not None or document_date is None or item is None:
        return expires_on
    months = (
        policy.financial_statements_months
        if item.code == FINANCIAL_STATEMENTS
        else item.validity_months
    )
    return add_months(document_date, months) if months else None


def attach_document(
    db: Database,
    actor: Actor,
    *,
    path: Path,
    application_id: int | None = None,
    checklist_item_id: int | None = None,
    customer_id: int | None = None,
    description: str | None = None,
    document_date: date | str | None = None,
    expires_on: date | str | None = None,
) -> DocumentView:
    """Attach a file to an application being worked on, one of its checklist items, or a
    customer. The dates may be given as dates or typed (YYYY-MM-DD).

    The file is read (and hashed) before the transaction starts, so a large file never holds the
    database's write lock. Attached to a pending item of an application being worked on, the
    item becomes "received" in the same transaction."""
    actor.require(Permission.VERIFY_CHECKLIST)
    application_id = _optional_id(application_id, "application")
    checklist_item_id = _optional_id(checklist_item_id, "checklist item")
    customer_id = _optional_id(customer_id, "customer")
    problems: list[FieldProblem] = []
    text = (description or "").strip() or None
    if text is not None and len(text) > MAX_DESCRIPTION:
        problems.append(FieldProblem("description", f"at most {MAX_DESCRIPTION} characters"))
    dated = parse_day("document_date", document_date, problems)
    expires = parse_day("expires_on", expires_on, problems)
    if dated and expires and expires < dated:
        problems.append(
            FieldProblem("expires_on", f"before the document's date {dated.isoformat()}")
        )
    if problems:
        raise ValidationFailed(problems, "Document")
    source = Path(path)
    read = _read_file(source)
    filename = source.name[-MAX_FILENAME:]
    content_type = (mimetypes.guess_type(source.name)[0] or "application/octet-stream")[:120]
    with db.write() as session:
        targets = _targets(session, application_id, checklist_item_id, customer_id, problems)
        if problems:
            raise ValidationFailed(problems, "Document")
        application, item = targets.application, targets.item
        if application is not None:
            require_open(application, EDITABLE_STATES, "documents can be attached")
        policy = read_policy(session)
        store = _store_folder(policy)
        document = Document(
            application_id=application.id if application else None,
            checklist_item_id=item.id if item else None,
            customer_id=targets.customer_id,
            filename=filename,
            content_type=content_type,
            size_bytes=len(read.data),
            sha256=read.sha256,
            storage=STORAGE_STORE if store else STORAGE_DATABASE,
            content=None if store else read.data,
            store_path=_put_in_store(store, read) if store else None,
            description=text,
            document_date=dated,
            expires_on=expiry_of(item, dated, expires, policy),
            uploaded_by_id=actor.user_id or None,
            uploaded_at=utcnow(),
        )
        session.add(document)
        session.flush()
        audit.record(
            session,
            actor,
            audit.CREATE,
            Document.__tablename__,
            document.id,
            customer_id=document.customer_id,
            changes={
                "filename": (None, document.filename),
                "size_bytes": (None, document.size_bytes),
                "sha256": (None, document.sha256),
                "content_type": (None, document.content_type),
                "storage": (None, document.storage),
                "application_id": (None, document.application_id),
                "checklist_item_id": (None, document.checklist_item_id),
                "description": (None, document.description),
                "document_date": (None, document.document_date),
                "expires_on": (None, document.expires_on),
            },
        )
        if item is not None and item.status == ITEM_PENDING:
            values = {"status": ITEM_RECEIVED}
            apply_change(session, actor, item, values, customer_id=application.customer_id)
        return _view(document, user_names(session, {document.uploaded_by_id}))


# ---------------------------------------------------------------------------------------------
# Reading back, listing, removing
# ---------------------------------------------------------------------------------------------


def _document(session: Session, document_id: int) -> Document:
    row = session.get(Document, row_id(document_id, "document"))
    if row is None:
        raise NotFound(f"Document #{document_id} does not exist (removed by another user?).")
    return row


def _stored_bytes(session: Session, row: Document) -> bytes:
    """The bytes as stored, checked against the size and SHA-256 taken when it was attached."""
    if row.storage == STORAGE_STORE:
        folder = _store_folder(read_policy(session))
        if folder is None:
            raise O2CError(
                f"Document {row.filename!r} is kept in the document store, but no store folder "
                "is set in the credit policy: set it again under Settings."
            )
        where = folder / (row.store_path or _store_name(row.sha256))
        try:
            data = where.read_bytes()
        except FileNotFoundError:
            raise O2CError(
                f"Document {row.filename!r} is missing from the document store ({where})."
            ) from None
        except OSError as exc:
            raise O2CError(
                f"Document {row.filename!r} cannot be read from {where}: {exc.strerror or exc}."
            ) from None
        origin = f"the store file {where}"
    else:
        data = session.scalar(select(Document.content).where(Document.id == row.id)) or b""
        origin = "the database"
    if len(data) != row.size_bytes:
        raise O2CError(
            f"Document {row.filename!r} was changed after it was attached: {origin} holds "
            f"{size_text(len(data))}, it was {size_text(row.size_bytes)} when attached."
        )
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise O2CError(
            f"Document {row.filename!r} was changed after it was attached: the SHA-256 of "
            f"{origin} no longer matches the one recorded ({row.sha256[:12]}…)."
        )
    return data


def read_document(db: Database, actor: Actor, document_id: int) -> bytes:
    """The document's bytes, verified (size and SHA-256) against what was attached."""
    require_view(actor)
    with db.read() as session:
        return _stored_bytes(session, _document(session, document_id))


def safe_filename(name: str, fallback: str) -> str:
    """A file name any system accepts: no folders, reserved characters or device names."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    if _RESERVED.match(cleaned):
        cleaned = f"_{cleaned}"
    return cleaned[-MAX_FILENAME:] or fallback


def viewing_folder() -> Path:
    """The per-user temporary folder copies for the system viewer go to."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment: still one folder per process owner
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"o2c-desktop-{safe_filename(user, 'user')}" / "documents"


def _free_name(folder: Path, name: str, data: bytes) -> Path:
    """`folder/name`, or "name (2).ext"… when another file already has that name."""
    target = folder / name
    number = 1
    while target.exists():
        try:
            if target.read_bytes() == data:
                return target
        except OSError:
            pass
        number += 1
        target = folder / f"{Path(name).stem} ({number}){Path(name).suffix}"
    return target


def export_for_viewing(
    db: Database, actor: Actor, document_id: int, folder: Path | None = None
) -> Path:
    """Write a verified copy for the system viewer (or the user's chosen folder) under the
    original file name, and return its path. Without a folder the copy goes to a per-user
    temporary folder, one subfolder per document, replacing an earlier copy; in a chosen folder
    an existing file of another content is never overwritten."""
    require_view(actor)
    with db.read() as session:
        row = _document(session, document_id)
        data = _stored_bytes(session, row)
        name = safe_filename(row.filename, f"document-{document_id}")
    try:
        if folder is None:
            viewing_folder().parent.mkdir(exist_ok=True, mode=0o700)  # others may not look in
            target_folder = viewing_folder() / str(document_id)
            target_folder.mkdir(parents=True, exist_ok=True)
            target = target_folder / name
        else:
            target_folder = Path(folder)
            target_folder.mkdir(parents=True, exist_ok=True)
            target = _free_name(target_folder, name, data)
        _write_atomically(target, data)
    except OSError as exc:
        raise O2CError(f"Cannot write a copy to {target_folder}: {exc.strerror or exc}.") from None
    return target


def list_documents(
    db: Database,
    actor: Actor,
    *,
    application_id: int | None = None,
    customer_id: int | None = None,
) -> list[DocumentView]:
    """An application's documents (its items' included), or a customer's (from every
    application for it and attached to it directly), or those of both at once."""
    require_view(actor)
    conditions: list[Any] = []
    if application_id is not None:
        conditions.append(Document.application_id == row_id(application_id, "application"))
    if customer_id is not None:
        conditions.append(Document.customer_id == row_id(customer_id, "customer"))
    if not conditions:
        raise ValidationFailed(
            [FieldProblem("documents", "name an application or a customer")], "Documents"
        )
    with db.read() as session:
        return document_views(session, *conditions)


def _unreceive_if_empty(
    session: Session, actor: Actor, item: ApplicationChecklistItem, customer_id: int | None
) -> None:
    """A received or verified item whose last document was just removed goes back to pending,
    without its verification (audited)."""
    if item.status not in (ITEM_RECEIVED, ITEM_VERIFIED):
        return
    session.flush()  # the removal first, so the look-up below no longer finds it
    if session.scalar(select(Document.id).where(Document.checklist_item_id == item.id).limit(1)):
        return
    values = {"status": ITEM_PENDING, "verified_by_id": None, "verified_at": None}
    apply_change(session, actor, item, values, customer_id=customer_id)


def remove_document(db: Database, actor: Actor, document_id: int) -> None:
    """Remove a document (audited); an application's only while it is being worked on, and the
    last document of a received or verified item puts the item back to pending. Its store file
    goes only when no other document has the same content, and only once the removal is
    committed (a failed removal loses nothing)."""
    actor.require(Permission.VERIFY_CHECKLIST)
    orphan: Path | None = None
    with db.write() as session:
        row = _document(session, document_id)
        if row.application_id is not None:
            application = session.get(CreditApplication, row.application_id, with_for_update=True)
            if application is not None:
                require_open(application, EDITABLE_STATES, "documents can be removed")
        session.refresh(row, with_for_update=True)
        item = (
            session.get(ApplicationChecklistItem, row.checklist_item_id, with_for_update=True)
            if row.checklist_item_id is not None
            else None
        )
        gone = {
            "filename": (row.filename, None),
            "size_bytes": (row.size_bytes, None),
            "sha256": (row.sha256, None),
            "application_id": (row.application_id, None),
            "checklist_item_id": (row.checklist_item_id, None),
        }
        audit.record(
            session,
            actor,
            audit.DELETE,
            Document.__tablename__,
            row.id,
            customer_id=row.customer_id,
            changes={k: v for k, v in gone.items() if v[0] is not None},
        )
        if row.storage == STORAGE_STORE:
            others = session.scalar(
                select(func.count(Document.id)).where(
                    Document.sha256 == row.sha256,
                    Document.storage == STORAGE_STORE,
                    Document.id != row.id,
                )
            )
            folder = _store_folder(read_policy(session))
            if not others and folder is not None:
                orphan = folder / (row.store_path or _store_name(row.sha256))
        session.delete(row)
        if item is not None:
            _unreceive_if_empty(session, actor, item, row.customer_id)
    if orphan is not None:
        # Left behind if it cannot go: harmless, named by its hash, reused if attached again.
        with contextlib.suppress(OSError):
            orphan.unlink(missing_ok=True)
