"""The month-end batch: who is selected, one file per customer, failures reported per customer,
the combined PDF, Cancel between chunks, the delivery log; in-process and across processes."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.models import Role, StatementDelivery
from o2c_desktop.services import customers, ledger_queries, statement_delivery
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.statements import BatchSelection, run_batch, select_customers
from o2c_desktop.services.statements.batch import (
    collector_by_name,
    customers_by_number,
    file_name,
    safe_name,
)
from tests.conftest import add_user
from tests.services.test_statements import Book, build_book

D = date.fromisoformat
AS_OF = D("2025-03-31")


@pytest.fixture
def book(db: Database, admin: Actor) -> Book:
    return build_book(db, admin)


def _deliveries(db: Database) -> list[tuple[int, str, str | None]]:
    with db.read() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(
                    StatementDelivery.customer_id,
                    StatementDelivery.result,
                    StatementDelivery.sha256,
                ).order_by(StatementDelivery.id)
            )
        ]


def test_select_customers(db: Database, admin: Actor, book: Book) -> None:
    everyone = [book.big, book.multi, book.unicode, book.zero]  # by customer number
    assert select_customers(db, BatchSelection(), AS_OF) == everyone
    # Owing at least 1,000 at the date in some currency: Z-1 (2,200), BIG-1, M-1 (USD 1,000).
    owing = select_customers(db, BatchSelection(min_balance=Decimal("1000")), AS_OF)
    assert owing == [book.big, book.multi, book.unicode]
    assert select_customers(db, BatchSelection(min_balance=Decimal("1000.01")), AS_OF) == [
        book.big,
        book.unicode,
    ]
    # Before anything was invoiced nobody owes anything.
    assert select_customers(db, BatchSelection(min_balance=Decimal("0.01")), D("2024-01-01")) == []
    assert select_customers(db, BatchSelection(segment="Enterprise"), AS_OF) == [book.unicode]
    assert select_customers(db, BatchSelection(customer_ids=(book.zero, book.unicode)), AS_OF) == [
        book.unicode,
        book.zero,
    ]
    assert select_customers(db, BatchSelection(customer_ids=()), AS_OF) == []


def test_select_by_collector(db: Database, admin: Actor, book: Book) -> None:
    colin = add_user(db, admin, "colin", Role.COLLECTOR)
    detail = customers.get_customer(db, admin, book.multi)
    customers.update_customer(db, admin, book.multi, detail.version, {"collector": "colin"})
    assert collector_by_name(db, "COLIN") == colin.user_id
    assert collector_by_name(db, "Colin") == colin.user_id  # display name
    assert collector_by_name(db, "nobody") is None
    selected = select_customers(db, BatchSelection(collector_id=colin.user_id), AS_OF)
    assert selected == [book.multi]
    ids, unknown = customers_by_number(db, ["Z-1", " M-1", "NOPE"])
    assert ids == [book.unicode, book.multi] and unknown == ["NOPE"]


def test_file_names_are_safe() -> None:
    assert safe_name('A/B:C*?"<>|') == "A_B_C_"
    assert safe_name("  .hidden. ") == "hidden"
    values = {
        "customer": "C/1",
        "name": "Zürich AG",
        "date": "2025-03-31",
        "kind": "open-items",
        "currency": "EUR",
        "id": 7,
    }
    assert file_name("{customer}-{date}.pdf", values) == "C_1-2025-03-31.pdf"
    assert file_name("{name} {kind}.pdf", values) == "Zürich AG open-items.pdf"
    assert file_name("{customer}.pdf", {**values, "customer": "CON"}) == "_CON.pdf"


def test_batch_in_process(db: Database, admin: Actor, book: Book, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    ids = [book.unicode, book.zero, 999999, book.big]
    result = run_batch(
        db,
        admin,
        as_of=AS_OF,
        kind="open-items",
        period_from=None,
        customer_ids=ids,
        out_dir=tmp_path / "out",
        combined=tmp_path / "out" / "all.pdf",
        processes=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert [f.customer_number for f in result.files] == ["Z-1", "ZERO-1", "BIG-1"]
    assert [f.path.name for f in result.files] == [
        "Z-1-2025-03-31.pdf",
        "ZERO-1-2025-03-31.pdf",
        "BIG-1-2025-03-31.pdf",
    ]
    for made in result.files:
        assert made.sha256 == hashlib.sha256(made.path.read_bytes()).hexdigest()
        net = ledger_queries.balance(db, admin, made.customer_id, AS_OF).net_balance
        assert made.total_due == net
    [(missing, why)] = result.failures
    assert missing == 999999 and "does not exist" in why
    assert not result.cancelled and result.seconds > 0
    assert seen[-1] == (4, 4)
    # The combined PDF: every statement, each numbering its own pages.
    assert result.combined == tmp_path / "out" / "all.pdf"
    reader = PdfReader(result.combined, strict=True)
    assert len(reader.pages) == sum(f.pages for f in result.files)
    texts = [page.extract_text() for page in reader.pages]
    assert "Page 1 of 1" in texts[0] and "Z-1" in texts[0]
    assert f"Page 1 of {result.files[2].pages}" in texts[2]
    assert f"Page {result.files[2].pages} of {result.files[2].pages}" in texts[-1]
    # One "file" delivery per statement written, with its SHA-256.
    assert _deliveries(db) == [(f.customer_id, "ok", f.sha256) for f in result.files]


def test_batch_across_processes_matches_in_process(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    ids = [book.unicode, book.zero, book.big, book.multi] * 1
    single = run_batch(
        db,
        admin,
        as_of=AS_OF,
        kind="activity",
        period_from=D("2025-02-01"),
        customer_ids=ids,
        out_dir=tmp_path / "one",
        processes=1,
    )
    many = run_batch(
        db,
        admin,
        as_of=AS_OF,
        kind="activity",
        period_from=D("2025-02-01"),
        customer_ids=ids,
        out_dir=tmp_path / "two",
        name_pattern="{id}-{kind}",
        processes=2,
    )
    assert many.failures == [] and single.failures == []
    assert [f.path.name for f in many.files] == [f"{i}-activity.pdf" for i in ids]
    assert [(f.customer_id, f.pages, f.total_due) for f in many.files] == [
        (f.customer_id, f.pages, f.total_due) for f in single.files
    ]
    text = PdfReader(many.files[0].path).pages[0].extract_text()
    assert "Account activity 01.02.2025 – 31.03.2025" in text
    with db.read() as session:
        logged = session.scalar(select(func.count()).select_from(StatementDelivery))
    assert logged == 2 * len(ids)


def test_cancel_stops_between_chunks(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    ids = [book.unicode, book.zero, book.big, book.multi] + [book.unicode] * 0
    # Many customers in small chunks: the same four repeated would be deduplicated, so use
    # distinct customers.
    extra = [
        customers.create_customer(db, admin, {"number": f"X-{k:02d}", "name": f"X {k}"}).id
        for k in range(12)
    ]
    calls = []

    def cancelled() -> bool:
        return len(calls) >= 1

    result = run_batch(
        db,
        admin,
        as_of=AS_OF,
        kind="open-items",
        period_from=None,
        customer_ids=ids + extra,
        out_dir=tmp_path,
        combined=tmp_path / "all.pdf",
        processes=1,
        progress=lambda done, total: calls.append(done),
        cancelled=cancelled,
    )
    assert result.cancelled
    assert 0 < len(result.files) < len(ids + extra)
    assert result.combined is None and not (tmp_path / "all.pdf").exists()
    written = sorted(p.name for p in tmp_path.glob("*.pdf"))
    assert written == sorted(f.path.name for f in result.files)
    assert len(_deliveries(db)) == len(result.files)  # what was written is logged


def test_batch_refuses_bad_input(db: Database, admin: Actor, book: Book, tmp_path: Path) -> None:
    def run(**kw):  # type: ignore[no-untyped-def]
        options = {
            "as_of": AS_OF,
            "kind": "open-items",
            "period_from": None,
            "customer_ids": [book.unicode, book.zero],
            "out_dir": tmp_path,
            "processes": 1,
        }
        return run_batch(db, admin, **{**options, **kw})

    with pytest.raises(ValidationFailed, match=r"must contain \{customer\}"):
        run(name_pattern="statement.pdf")
    with pytest.raises(ValidationFailed, match=r"unknown field \{nmae\}"):
        run(name_pattern="{customer}-{nmae}.pdf")
    with pytest.raises(ValidationFailed, match="not a path"):
        run(name_pattern="sub/{customer}.pdf")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(O2CError, match="Cannot write statements to the folder"):
        run(out_dir=blocker / "out")
    with pytest.raises(ValidationFailed, match="kind"):
        run(kind="weekly")
    assert _deliveries(db) == []


def test_failed_statements_are_logged_as_failed(
    db: Database, admin: Actor, book: Book, tmp_path: Path
) -> None:
    """A statement that cannot be written (here: its file name is taken by a folder) is a
    failure of that customer alone, logged as such; the others are written."""
    (tmp_path / "ZERO-1-2025-03-31.pdf").mkdir()
    result = run_batch(
        db,
        admin,
        as_of=AS_OF,
        kind="open-items",
        period_from=None,
        customer_ids=[book.unicode, book.zero],
        out_dir=tmp_path,
        processes=1,
    )
    assert [f.customer_id for f in result.files] == [book.unicode]
    [(failed, why)] = result.failures
    assert failed == book.zero and "that is a folder" in why
    rows = statement_delivery.deliveries_for_customer(db, book.zero)
    assert [(r.result, r.sha256) for r in rows] == [("failed", None)]
    assert "that is a folder" in (rows[0].detail or "")
