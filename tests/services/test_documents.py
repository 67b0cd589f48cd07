"""Attached documents: in the database and in a store folder, their hashes checked on every read,
expiry dates, and the checklist item they complete; on both databases."""

from __future__ import annotations

import getpass
import hashlib
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Document
from o2c_desktop.models.credit import (
    APPROVED,
    IN_VERIFICATION,
    ITEM_PENDING,
    ITEM_RECEIVED,
    ITEM_REJECTED,
    ITEM_VERIFIED,
    PENDING_APPROVAL,
    STORAGE_DATABASE,
    STORAGE_STORE,
)
from o2c_desktop.services import checklists, credit_policy, documents
from o2c_desktop.services.auth import Actor
from tests.services.credit_support import item_by_code, new_application, set_state

PDF = b"%PDF-1.4\n% a small statement\n" + bytes(range(256)) * 40


def a_file(folder: Path, name: str, data: bytes = PDF) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def audit_entries(db: Database, document_id: int) -> list[Any]:
    """(username, action, field, old_value, new_value) of the document's audit rows."""
    with db.read() as session:
        return list(
            session.execute(
                select(
                    AuditEntry.username,
                    AuditEntry.action,
                    AuditEntry.field,
                    AuditEntry.old_value,
                    AuditEntry.new_value,
                ).where(
                    AuditEntry.table_name == "documents",
                    AuditEntry.record_id == str(document_id),
                )
            )
        )


def use_store(db: Database, admin: Actor, folder: Path) -> Path:
    folder.mkdir()
    credit_policy.set_policy(db, admin, {"document_store": str(folder)})
    return folder


# ---------------------------------------------------------------------------------------------
# In the database
# ---------------------------------------------------------------------------------------------


def test_a_file_attached_to_a_pending_item_is_stored_with_its_hash_and_the_item_is_received(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin, customer_number="C-1")
    item = item_by_code(db, clerk, application_id, "signed_application")
    path = a_file(tmp_path, "signed application.pdf")
    attached = documents.attach_document(
        db, clerk, path=path, checklist_item_id=item.id, description=" Signed copy "
    )
    assert attached.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert attached.size_bytes == len(PDF)
    assert attached.content_type == "application/pdf"
    assert attached.storage == STORAGE_DATABASE
    assert attached.filename == "signed application.pdf"
    assert attached.description == "Signed copy"
    assert attached.application_id == application_id
    assert attached.uploaded_by == "Clara"
    with db.read() as session:
        row = session.get(Document, attached.id)
        assert row is not None and row.customer_id is not None
        customer_id = row.customer_id
    assert attached.customer_id == customer_id
    assert documents.read_document(db, clerk, attached.id) == PDF
    now = item_by_code(db, clerk, application_id, "signed_application")
    assert now.status == ITEM_RECEIVED and now.version == item.version + 1
    assert [d.id for d in now.documents] == [attached.id]
    entries = audit_entries(db, attached.id)
    assert {(e.username, e.action) for e in entries} == {(clerk.username, "create")}
    values = {e.field: e.new_value for e in entries}
    assert values["sha256"] == attached.sha256 and values["filename"] == attached.filename


def test_a_second_file_leaves_a_verified_item_as_it_is(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "bank_reference")
    item = checklists.set_item_status(db, clerk, item.id, item.version, ITEM_VERIFIED)
    documents.attach_document(
        db, clerk, path=a_file(tmp_path, "letter.txt", b"ok"), checklist_item_id=item.id
    )
    after = item_by_code(db, clerk, application_id, "bank_reference")
    assert (after.status, after.version) == (ITEM_VERIFIED, item.version)
    assert after.documents[0].content_type == "text/plain"


def test_an_application_awaiting_approval_keeps_its_documents_as_sent(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    """What the approver sees stays as it was sent: no file added to or taken from it."""
    application_id = new_application(db, admin, state=IN_VERIFICATION)
    item = item_by_code(db, clerk, application_id, "bureau_report")
    attached = documents.attach_document(
        db, clerk, path=a_file(tmp_path, "bureau.bin"), checklist_item_id=item.id
    )
    assert attached.content_type == "application/octet-stream"
    set_state(db, application_id, PENDING_APPROVAL)
    with pytest.raises(O2CError, match="pending approval: documents can be attached only while"):
        documents.attach_document(
            db, clerk, path=a_file(tmp_path, "more.bin"), checklist_item_id=item.id
        )
    with pytest.raises(O2CError, match="pending approval: documents can be removed only while"):
        documents.remove_document(db, clerk, attached.id)
    after = item_by_code(db, clerk, application_id, "bureau_report")
    assert ([d.id for d in after.documents], after.status) == ([attached.id], ITEM_RECEIVED)


@pytest.mark.parametrize("status", [ITEM_RECEIVED, ITEM_VERIFIED])
def test_removing_the_last_document_puts_the_item_back_to_pending(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path, status: str
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "bank_reference")
    first, second = (
        documents.attach_document(
            db, clerk, path=a_file(tmp_path, name, name.encode()), checklist_item_id=item.id
        )
        for name in ("one.txt", "two.txt")
    )
    item = item_by_code(db, clerk, application_id, "bank_reference")
    if status == ITEM_VERIFIED:
        item = checklists.set_item_status(db, clerk, item.id, item.version, ITEM_VERIFIED)
    documents.remove_document(db, clerk, first.id)
    kept = item_by_code(db, clerk, application_id, "bank_reference")
    assert (kept.status, kept.version) == (status, item.version)  # one file is still there
    documents.remove_document(db, clerk, second.id)
    back = item_by_code(db, clerk, application_id, "bank_reference")
    assert (back.status, back.verified_by, back.verified_at) == (ITEM_PENDING, None, None)
    assert back.version == item.version + 1
    with db.read() as session:
        audited = {
            row.field: (row.old_value, row.new_value)
            for row in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.table_name == "application_checklist_items",
                    AuditEntry.record_id == str(item.id),
                    AuditEntry.record_version == back.version,
                )
            )
        }
    assert audited["status"] == (status, ITEM_PENDING)
    assert ("verified_by_id" in audited) == (status == ITEM_VERIFIED)


def test_removing_the_last_document_leaves_a_rejected_item_rejected(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    item = item_by_code(db, clerk, application_id, "tax_id")
    attached = documents.attach_document(
        db, clerk, path=a_file(tmp_path, "blurry.png"), checklist_item_id=item.id
    )
    item = item_by_code(db, clerk, application_id, "tax_id")
    item = checklists.set_item_status(db, clerk, item.id, item.version, ITEM_REJECTED)
    documents.remove_document(db, clerk, attached.id)
    after = item_by_code(db, clerk, application_id, "tax_id")
    assert (after.status, after.version, after.documents) == (ITEM_REJECTED, item.version, ())


def test_damaged_bytes_in_the_database_are_reported(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    attached = documents.attach_document(
        db, clerk, path=a_file(tmp_path, "report.pdf"), application_id=application_id
    )
    with db.write() as session:
        damaged = PDF[:-1] + b"X"
        session.execute(update(Document).where(Document.id == attached.id).values(content=damaged))
    with pytest.raises(O2CError, match=r"'report\.pdf' was changed after it was attached: the SHA"):
        documents.read_document(db, clerk, attached.id)
    with db.write() as session:
        session.execute(update(Document).where(Document.id == attached.id).values(content=PDF[:10]))
    with pytest.raises(O2CError, match="the database holds 10 bytes"):
        documents.export_for_viewing(db, clerk, attached.id)


# ---------------------------------------------------------------------------------------------
# In a store folder
# ---------------------------------------------------------------------------------------------


def test_a_store_keeps_one_file_per_content_and_notices_a_tampered_file(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    store = use_store(db, admin, tmp_path / "store")
    first_app = new_application(db, admin)
    second_app = new_application(db, admin)
    path = a_file(tmp_path, "statements 2024.pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    one = documents.attach_document(db, clerk, path=path, application_id=first_app)
    two = documents.attach_document(db, clerk, path=path, application_id=second_app)
    stored = store / digest[:2] / digest
    assert one.storage == two.storage == STORAGE_STORE
    assert one.sha256 == two.sha256 == digest
    assert stored.read_bytes() == PDF
    assert [p.name for p in stored.parent.iterdir()] == [digest]  # shared, no temp files left
    with db.read() as session:
        content = session.scalar(select(Document.content).where(Document.id == one.id))
        store_path = session.scalar(select(Document.store_path).where(Document.id == one.id))
    assert content is None and store_path == f"{digest[:2]}/{digest}"
    assert documents.read_document(db, clerk, two.id) == PDF

    stored.write_bytes(PDF.replace(b"small", b"SMALL"))
    with pytest.raises(O2CError, match=r"the SHA-256 of the store file .* no longer matches"):
        documents.read_document(db, clerk, one.id)
    # Attaching the same content again repairs the shared copy.
    documents.attach_document(db, clerk, path=path, application_id=first_app)
    assert documents.read_document(db, clerk, one.id) == PDF

    documents.remove_document(db, clerk, one.id)
    assert stored.exists()  # still used by the other two
    for view in documents.list_documents(db, clerk, application_id=first_app):
        documents.remove_document(db, clerk, view.id)
    assert stored.exists()
    documents.remove_document(db, clerk, two.id)
    assert not stored.exists()


def test_a_file_missing_from_the_store_is_named(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    credit_policy.set_policy(db, admin, {"document_store": str(tmp_path / "unplugged")})
    with pytest.raises(O2CError, match=r"The document store .*unplugged is not there"):
        documents.attach_document(
            db, clerk, path=a_file(tmp_path, "x.pdf"), application_id=application_id
        )
    assert not (tmp_path / "unplugged").exists()
    assert documents.list_documents(db, clerk, application_id=application_id) == []
    store = use_store(db, admin, tmp_path / "store")
    attached = documents.attach_document(
        db, clerk, path=a_file(tmp_path, "guarantee.pdf"), application_id=application_id
    )
    (store / attached.sha256[:2] / attached.sha256).unlink()
    with pytest.raises(O2CError, match=r"'guarantee\.pdf' is missing from the document store"):
        documents.read_document(db, clerk, attached.id)


# ---------------------------------------------------------------------------------------------
# Expiry
# ---------------------------------------------------------------------------------------------


def test_expiry_follows_the_item_and_for_statements_the_policy(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    insurance = item_by_code(db, clerk, application_id, "insurance_certificate")
    statements = item_by_code(db, clerk, application_id, "financial_statements")
    tax = item_by_code(db, clerk, application_id, "tax_id")
    path = a_file(tmp_path, "doc.pdf")

    def expiry(item_id: int, **dates: date) -> date | None:
        return documents.attach_document(
            db, clerk, path=path, checklist_item_id=item_id, **dates
        ).expires_on

    assert expiry(insurance.id, document_date=date(2025, 11, 30)) == date(2026, 11, 30)
    assert expiry(statements.id, document_date=date(2025, 11, 30)) == date(2027, 2, 28)
    credit_policy.set_policy(db, admin, {"financial_statements_months": 3})
    assert expiry(statements.id, document_date=date(2025, 11, 30)) == date(2026, 2, 28)
    assert expiry(insurance.id, document_date=date(2025, 1, 1), expires_on=date(2025, 6, 30)) == (
        date(2025, 6, 30)
    )
    assert expiry(tax.id, document_date=date(2025, 1, 1)) is None  # no validity
    assert expiry(insurance.id) is None  # no date, nothing to count from
    with pytest.raises(ValidationFailed, match="expires_on: before the document's date"):
        expiry(insurance.id, document_date=date(2025, 2, 1), expires_on=date(2025, 1, 1))


def test_dates_may_be_typed_and_a_bad_one_is_named(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    insurance = item_by_code(db, clerk, application_id, "insurance_certificate")
    path = a_file(tmp_path, "policy.pdf")
    typed = documents.attach_document(
        db, clerk, path=path, checklist_item_id=insurance.id, document_date=" 2025-11-30 "
    )
    assert (typed.document_date, typed.expires_on) == (date(2025, 11, 30), date(2026, 11, 30))
    explicit = documents.attach_document(
        db, clerk, path=path, application_id=application_id, expires_on="2026-03-31"
    )
    assert explicit.expires_on == date(2026, 3, 31)
    with pytest.raises(ValidationFailed) as caught:
        documents.attach_document(
            db,
            clerk,
            path=path,
            application_id=application_id,
            document_date="2025-13-01",
            expires_on="0001-01-01",
        )
    assert {p.field for p in caught.value.problems} == {"document_date", "expires_on"}
    assert len(documents.list_documents(db, clerk, application_id=application_id)) == 2


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_files_that_cannot_be_attached_are_named_with_the_reason(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)

    def attach(path: Path) -> None:
        documents.attach_document(db, clerk, path=path, application_id=application_id)

    missing = tmp_path / "nowhere.pdf"
    with pytest.raises(O2CError, match=r"nowhere\.pdf does not exist"):
        attach(missing)
    with pytest.raises(O2CError, match="is a folder, not a file"):
        attach(tmp_path)
    with pytest.raises(O2CError, match=r"empty\.pdf is empty \(0 bytes\)"):
        attach(a_file(tmp_path, "empty.pdf", b""))
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as out:
        out.truncate(documents.MAX_BYTES + 1)  # sparse: no 50 MB written to disk
    too_large = r"huge\.pdf is 50\.0 MB \(52,428,801 bytes\); a document may be at most"
    with pytest.raises(O2CError, match=too_large):
        attach(huge)
    if os.name == "posix" and os.geteuid() != 0:
        locked = a_file(tmp_path, "locked.pdf")
        locked.chmod(0)
        with pytest.raises(O2CError, match="permission denied"):
            attach(locked)
    with pytest.raises(ValidationFailed, match="attach it to an application"):
        documents.attach_document(db, clerk, path=a_file(tmp_path, "x.pdf"))
    assert documents.list_documents(db, clerk, application_id=application_id) == []


@pytest.mark.parametrize("bad", [True, "1", 2**40, 0])
def test_an_id_that_cannot_be_a_row_is_not_found(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path, bad: Any
) -> None:
    """Not a driver error (PostgreSQL refuses 2**40 for an INTEGER column)."""
    path = a_file(tmp_path, "a.pdf")
    for target in ("application_id", "checklist_item_id", "customer_id"):
        with pytest.raises(NotFound):
            documents.attach_document(db, clerk, path=path, **{target: bad})
    for call in (documents.read_document, documents.export_for_viewing, documents.remove_document):
        with pytest.raises(NotFound):
            call(db, clerk, bad)
    with pytest.raises(NotFound):
        documents.list_documents(db, clerk, application_id=bad)
    with pytest.raises(NotFound):
        documents.list_documents(db, clerk, customer_id=bad)


def test_who_may_attach_and_when(
    db: Database, admin: Actor, clerk: Actor, collector: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    path = a_file(tmp_path, "a.pdf")
    with pytest.raises(PermissionDenied, match="attach documents"):
        documents.attach_document(db, collector, path=path, application_id=application_id)
    attached = documents.attach_document(db, clerk, path=path, application_id=application_id)
    with pytest.raises(PermissionDenied):
        documents.read_document(db, collector, attached.id)
    set_state(db, application_id, APPROVED)
    with pytest.raises(O2CError, match="CA-000001 is approved: documents can be attached only"):
        documents.attach_document(db, clerk, path=path, application_id=application_id)
    with pytest.raises(O2CError, match="documents can be removed only while"):
        documents.remove_document(db, clerk, attached.id)
    assert documents.read_document(db, clerk, attached.id) == PDF  # still readable


def test_an_item_of_another_application_is_refused(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    first, second = new_application(db, admin), new_application(db, admin)
    item = item_by_code(db, clerk, first, "tax_id")
    with pytest.raises(ValidationFailed, match="checklist_item: belongs to another application"):
        documents.attach_document(
            db,
            clerk,
            path=a_file(tmp_path, "a.pdf"),
            application_id=second,
            checklist_item_id=item.id,
        )


# ---------------------------------------------------------------------------------------------
# Listing, viewing, removing
# ---------------------------------------------------------------------------------------------


def test_documents_are_listed_by_application_and_by_customer(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin, customer_number="C-7")
    other = new_application(db, admin)
    path = a_file(tmp_path, "a.pdf")
    on_app = documents.attach_document(db, clerk, path=path, application_id=application_id)
    documents.attach_document(db, clerk, path=path, application_id=other)
    customer_id = on_app.customer_id
    assert customer_id is not None
    direct = documents.attach_document(
        db, clerk, path=path, customer_id=customer_id, expires_on=date(2026, 1, 31)
    )
    assert direct.application_id is None
    by_app = documents.list_documents(db, clerk, application_id=application_id)
    by_customer = documents.list_documents(db, clerk, customer_id=customer_id)
    assert [d.id for d in by_app] == [on_app.id]
    assert [d.id for d in by_customer] == [on_app.id, direct.id]
    with pytest.raises(ValidationFailed, match="name an application or a customer"):
        documents.list_documents(db, clerk)


def test_a_verified_copy_is_exported_under_a_safe_name(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    application_id = new_application(db, admin)
    weird = documents.attach_document(
        db, clerk, path=a_file(tmp_path, 'report: "2024"?.pdf'), application_id=application_id
    )
    copy = documents.export_for_viewing(db, clerk, weird.id)
    assert copy.name == "report_ _2024__.pdf"
    assert copy.read_bytes() == PDF
    assert (
        copy.parent
        == tmp_path / "temp" / f"o2c-desktop-{getpass.getuser()}" / "documents" / str(weird.id)
    )
    again = documents.export_for_viewing(db, clerk, weird.id)
    assert again == copy  # the earlier copy is replaced, not multiplied

    chosen = tmp_path / "out"
    (tmp_path / "sub").mkdir()
    same_name = a_file(tmp_path / "sub", 'report: "2024"?.pdf', b"another")
    other = documents.attach_document(db, clerk, path=same_name, application_id=application_id)
    first = documents.export_for_viewing(db, clerk, weird.id, chosen)
    second = documents.export_for_viewing(db, clerk, other.id, chosen)
    assert first == chosen / "report_ _2024__.pdf"
    assert second == chosen / "report_ _2024__ (2).pdf"
    assert (first.read_bytes(), second.read_bytes()) == (PDF, b"another")
    assert documents.export_for_viewing(db, clerk, weird.id, chosen) == first


def test_removing_a_document_is_audited(
    db: Database, admin: Actor, clerk: Actor, tmp_path: Path
) -> None:
    application_id = new_application(db, admin)
    attached = documents.attach_document(
        db, clerk, path=a_file(tmp_path, "a.pdf"), application_id=application_id
    )
    documents.remove_document(db, clerk, attached.id)
    assert documents.list_documents(db, clerk, application_id=application_id) == []
    with pytest.raises(O2CError, match="does not exist"):
        documents.read_document(db, clerk, attached.id)
    removal = [e for e in audit_entries(db, attached.id) if e.action == "delete"]
    assert {e.field: e.old_value for e in removal}["filename"] == "a.pdf"
    assert {e.new_value for e in removal} == {None}
