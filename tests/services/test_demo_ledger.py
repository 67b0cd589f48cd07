"""The demo ledger: every test with `db` runs on SQLite and on PostgreSQL.

The arithmetic is checked in SQL against the rows themselves (open amounts, unapplied cash,
allocations at every date, disputed amounts, exposure), so the generator cannot agree with itself
by construction.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from o2c_desktop.cli import main
from o2c_desktop.db import Database
from o2c_desktop.errors import Cancelled, O2CError, PermissionDenied
from o2c_desktop.models import (
    Allocation,
    AuditEntry,
    Customer,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import demo_data, demo_ledger, ledger_queries
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.demo_ledger import LedgerDemoResult, generate_ledger

AS_OF = date(2026, 6, 30)
REASON_CODES = ("pricing", "quantity", "quality", "not_received", "duplicate", "terms", "other")
LEDGER_TABLES = (DisputeItem, Dispute, Allocation, Payment, Invoice)


def _portfolio(
    db: Database, admin: Actor, invoices: int = 1000, seed: int = 7, customers: int = 50
) -> LedgerDemoResult:
    demo_data.generate(db, admin, customers, seed=3)
    return generate_ledger(db, admin, invoices, seed=seed, as_of=AS_OF)


def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.read() as session:
        return list(session.execute(text(sql), params))


def _scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.read() as session:
        return session.execute(text(sql), params).scalar()


def _count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger row (and each customer's exposure), without creation timestamps."""
    shot: dict[str, list[tuple[Any, ...]]] = {}
    with db.read() as session:
        for model in (*LEDGER_TABLES, Customer):
            table = model.__table__
            columns = [c for c in table.columns if c.name not in ("created_at", "updated_at")]
            keys = list(table.primary_key.columns)
            shot[table.name] = [tuple(r) for r in session.execute(select(*columns).order_by(*keys))]
        shot["audit"] = [
            tuple(r)
            for r in session.execute(
                select(AuditEntry.customer_id, AuditEntry.new_value)
                .where(AuditEntry.table_name == "ledger")
                .order_by(AuditEntry.id)
            )
        ]
    return shot


def _indexes(db: Database) -> list[str]:
    if db.kind == "sqlite":
        sql = "SELECT name || ' ' || COALESCE(sql, '') FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'"
    return sorted(r for (r,) in _rows(db, sql))


def _wipe_ledger(db: Database) -> None:
    with db.write() as session:
        for model in LEDGER_TABLES:
            session.execute(model.__table__.delete())
        session.execute(AuditEntry.__table__.delete().where(AuditEntry.table_name == "ledger"))
        session.execute(Customer.__table__.update().values(exposure=Decimal(0)))


# ---------------------------------------------------------------------------------------------
# the arithmetic
# ---------------------------------------------------------------------------------------------


def test_open_amounts_and_unapplied_cash_follow_the_allocations(db: Database, admin: Actor) -> None:
    result = _portfolio(db, admin)
    assert result.invoices == _count(db, Invoice, Invoice.kind == "invoice") == 1000
    assert result.credit_notes == _count(db, Invoice, Invoice.kind == "credit_note") > 0
    assert result.payments == _count(db, Payment) > 0
    assert result.allocations == _count(db, Allocation)
    assert result.disputes == _count(db, Dispute)
    # invoices: amount − Σ non-reversed allocations on them
    assert not _rows(
        db,
        """SELECT i.id FROM invoices i WHERE i.kind = 'invoice' AND i.open_amount <>
           i.amount - COALESCE((SELECT SUM(a.amount) FROM allocations a
                                WHERE a.invoice_id = i.id AND a.reversed_on IS NULL), 0)""",
    )
    # credit notes: amount − Σ non-reversed allocations made from them
    assert not _rows(
        db,
        """SELECT i.id FROM invoices i WHERE i.kind = 'credit_note' AND i.open_amount <>
           i.amount - COALESCE((SELECT SUM(a.amount) FROM allocations a
                                WHERE a.credit_note_id = i.id AND a.reversed_on IS NULL), 0)""",
    )
    assert not _rows(
        db,
        "SELECT a.id FROM allocations a WHERE a.kind = 'credit_note' AND a.credit_note_id IS NULL",
    )
    # every allocation's copies of its invoice and payment are theirs
    with db.read() as session:
        assert ledger_queries.stale_allocation_copies(session) == []
    # payments: amount − Σ non-reversed allocations
    assert not _rows(
        db,
        """SELECT p.id FROM payments p WHERE p.unapplied_amount <>
           p.amount - COALESCE((SELECT SUM(a.amount) FROM allocations a
                                WHERE a.payment_id = p.id AND a.reversed_on IS NULL), 0)""",
    )
    assert result.open_invoices == _count(
        db, Invoice, Invoice.kind == "invoice", Invoice.open_amount != 0
    )
    # every payment settles something or is cash on account; some settle several invoices
    assert _scalar(
        db,
        "SELECT COUNT(*) FROM (SELECT payment_id FROM allocations WHERE payment_id IS NOT NULL "
        "GROUP BY payment_id HAVING COUNT(*) > 1) x",
    )


def test_no_item_or_payment_is_ever_over_allocated(db: Database, admin: Actor) -> None:
    """At every allocation date D, what counts at D (date ≤ D, not reversed by D) fits."""
    _portfolio(db, admin)
    for key, owner, amount in (
        ("invoice_id", "invoices", "amount"),
        ("credit_note_id", "invoices", "amount"),
        ("payment_id", "payments", "amount"),
    ):
        assert not _rows(
            db,
            f"""SELECT a.id FROM allocations a JOIN {owner} o ON o.id = a.{key}
                WHERE (SELECT SUM(b.amount) FROM allocations b
                       WHERE b.{key} = a.{key} AND b.date <= a.date
                         AND (b.reversed_on IS NULL OR b.reversed_on > a.date)) > o.{amount}""",
        ), key
    # dates: nothing before its invoice, credit note or payment, nothing after as_of
    assert not _rows(
        db,
        """SELECT a.id FROM allocations a JOIN invoices i ON i.id = a.invoice_id
           LEFT JOIN payments p ON p.id = a.payment_id
           LEFT JOIN invoices cn ON cn.id = a.credit_note_id
           WHERE a.date < i.issue_date OR a.date > :as_of
              OR (a.reversed_on IS NOT NULL AND (a.reversed_on <= a.date OR a.reversed_on > :as_of))
              OR (a.kind = 'payment' AND (p.id IS NULL OR a.date <>
                  CASE WHEN p.date > i.issue_date THEN p.date ELSE i.issue_date END))
              OR (a.kind = 'credit_note' AND a.date < cn.issue_date)""",
        as_of=AS_OF,
    )
    assert not _rows(db, "SELECT id FROM invoices WHERE issue_date > :d", d=AS_OF)
    assert not _rows(db, "SELECT id FROM payments WHERE date > :d", d=AS_OF)
    kinds = {k for (k,) in _rows(db, "SELECT DISTINCT kind FROM allocations")}
    assert {"payment", "credit_note", "discount"} <= kinds


def test_about_85_percent_paid_and_15_percent_open(db: Database, admin: Actor) -> None:
    result = _portfolio(db, admin)
    share_open = result.open_invoices / result.invoices
    assert 0.11 <= share_open <= 0.19, share_open
    paid = _count(db, Invoice, Invoice.kind == "invoice", Invoice.open_amount == 0)
    assert paid + result.open_invoices == result.invoices
    # some open invoices are partly paid, some not at all
    assert _scalar(
        db, "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice' AND open_amount = amount"
    )
    assert _scalar(
        db,
        "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice' "
        "AND open_amount > 0 AND open_amount < amount",
    )
    # credit notes: about 2 %; some fully allocated, some partly, some not at all
    assert 0.005 <= result.credit_notes / result.invoices <= 0.04
    states = _rows(
        db,
        """SELECT CASE WHEN open_amount = 0 THEN 'all' WHEN open_amount = amount THEN 'none'
                  ELSE 'part' END, COUNT(*) FROM invoices WHERE kind = 'credit_note' GROUP BY 1""",
    )
    assert {s for s, _ in states} >= {"all", "none"}


def test_risk_classes_pay_as_they_should(db: Database, admin: Actor) -> None:
    """Class A pays on time, class E very late: share of late final payments and mean days late
    of fully paid invoices, by risk class."""
    _portfolio(db, admin, invoices=3000, customers=120)
    rows = _rows(
        db,
        """SELECT c.risk_class, a.date, i.due_date
           FROM allocations a JOIN invoices i ON i.id = a.invoice_id
           JOIN customers c ON c.id = i.customer_id
           WHERE a.kind = 'payment' AND a.reversed_on IS NULL AND i.open_amount = 0""",
    )
    by_class: dict[str, list[int]] = {}
    for risk, paid, due in rows:
        paid, due = date.fromisoformat(str(paid)), date.fromisoformat(str(due))
        by_class.setdefault(risk, []).append((paid - due).days)
    late_share = {r: sum(d > 0 for d in days) / len(days) for r, days in by_class.items()}
    mean_late = {r: sum(max(0, d) for d in days) / len(days) for r, days in by_class.items()}
    assert late_share["A"] < 0.05
    assert late_share["E"] > 0.9
    assert mean_late["A"] < mean_late["B"] < mean_late["C"] < mean_late["D"] < mean_late["E"]
    assert mean_late["E"] > 40


def test_disputed_amounts_follow_the_dispute_items(db: Database, admin: Actor) -> None:
    _portfolio(db, admin, invoices=4000, customers=80)
    assert not _rows(
        db,
        """SELECT i.id FROM invoices i WHERE i.disputed_amount <>
           COALESCE((SELECT SUM(di.amount) FROM dispute_items di
                     JOIN disputes d ON d.id = di.dispute_id
                     WHERE di.invoice_id = i.id AND d.status IN ('open', 'in_review')), 0)""",
    )
    assert not _rows(
        db,
        """SELECT d.id FROM disputes d WHERE d.amount <>
           (SELECT SUM(di.amount) FROM dispute_items di WHERE di.dispute_id = d.id)""",
    )
    assert not _rows(db, "SELECT invoice_id FROM dispute_items WHERE amount <= 0")
    assert not _rows(db, "SELECT id FROM invoices WHERE disputed_amount > open_amount")
    reasons = {r for (r,) in _rows(db, "SELECT DISTINCT reason_code FROM disputes")}
    assert reasons <= set(REASON_CODES)
    statuses = {s for (s,) in _rows(db, "SELECT DISTINCT status FROM disputes")}
    assert {"open", "in_review"} <= statuses
    assert statuses <= {"open", "in_review", "resolved_customer", "resolved_us", "withdrawn"}
    assert not _rows(
        db,
        "SELECT id FROM disputes WHERE (status IN ('open', 'in_review')) <> (resolved_on IS NULL)",
    )
    open_items = _scalar(
        db, "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice' AND open_amount <> 0"
    )
    disputed = _scalar(db, "SELECT COUNT(*) FROM invoices WHERE disputed_amount <> 0")
    assert 0 < disputed <= 0.03 * open_items


def test_exposure_is_open_invoices_less_credits_less_unapplied_cash(
    db: Database, admin: Actor
) -> None:
    _portfolio(db, admin)
    assert not _rows(
        db,
        """SELECT c.id FROM customers c WHERE c.exposure <>
           COALESCE((SELECT SUM(CASE WHEN i.kind = 'invoice' THEN i.open_amount
                                     ELSE -i.open_amount END)
                     FROM invoices i WHERE i.customer_id = c.id), 0)
           - COALESCE((SELECT SUM(p.unapplied_amount) FROM payments p
                       WHERE p.customer_id = c.id), 0)""",
    )
    assert _scalar(db, "SELECT COUNT(*) FROM customers WHERE exposure <> 0")
    assert _scalar(db, "SELECT COUNT(*) FROM payments WHERE unapplied_amount <> 0")


def test_discounts_only_for_early_payers_on_discount_terms(db: Database, admin: Actor) -> None:
    _portfolio(db, admin, invoices=3000, customers=120)
    rows = _rows(
        db,
        """SELECT c.payment_terms_code, a.amount, i.amount, a.date, i.discount_until,
                  i.discount_percent
           FROM allocations a JOIN invoices i ON i.id = a.invoice_id
           JOIN customers c ON c.id = i.customer_id WHERE a.kind = 'discount'""",
    )
    assert rows
    with db.read() as session:
        discounts = session.execute(
            select(Allocation.amount, Invoice.amount, Invoice.discount_percent)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.kind == "discount")
        ).all()
    for code, _, _, paid_on, until, percent in rows:
        assert code == "2/10N30"
        assert str(paid_on) <= str(until)
        assert Decimal(str(percent)) == 2
    for discount, amount, percent in discounts:
        expected = (amount * percent / 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        assert discount == expected
    # the rest of a discounted invoice was paid the same day
    assert not _rows(
        db,
        """SELECT d.id FROM allocations d WHERE d.kind = 'discount' AND NOT EXISTS
           (SELECT 1 FROM allocations p WHERE p.invoice_id = d.invoice_id
            AND p.kind = 'payment' AND p.date = d.date)""",
    )


def test_numbers_continue_after_existing_ones_and_follow_issue_dates(
    db: Database, admin: Actor
) -> None:
    demo_data.generate(db, admin, 30, seed=3)
    with db.write() as session:
        customer_id = session.scalar(select(func.min(Customer.id)))
        for kind, number in (("invoice", "INV-0000042"), ("credit_note", "CN-0000007")):
            session.add(
                Invoice(
                    customer_id=customer_id,
                    kind=kind,
                    number=number,
                    issue_date=date(2024, 1, 2),
                    due_date=date(2024, 2, 1),
                    amount=Decimal("10.00"),
                    currency="EUR",
                    open_amount=Decimal("10.00"),
                    created_at=utcnow(),
                )
            )
    result = generate_ledger(db, admin, 500, seed=5, as_of=AS_OF)
    rows = _rows(
        db,
        "SELECT number, issue_date FROM invoices WHERE kind = 'invoice' AND number <> "
        "'INV-0000042' ORDER BY number",
    )
    assert [n for n, _ in rows] == [f"INV-{k:07d}" for k in range(43, 43 + result.invoices)]
    dates = [str(d) for _, d in rows]
    assert dates == sorted(dates)
    credit = sorted(
        n for (n,) in _rows(db, "SELECT number FROM invoices WHERE kind = 'credit_note'")
    )
    assert credit[0] == "CN-0000007"
    assert credit[1:] == [f"CN-{k:07d}" for k in range(8, 8 + result.credit_notes)]
    # ids continue too, and PostgreSQL's sequences were moved past them
    with db.write() as session:
        session.execute(
            Payment.__table__.insert().values(
                customer_id=customer_id,
                date=AS_OF,
                amount=Decimal(1),
                currency="EUR",
                unapplied_amount=Decimal(1),
                created_at=utcnow(),
                version=1,
            )
        )


def test_same_seed_same_ledger_other_seed_other_ledger(db: Database, admin: Actor) -> None:
    _portfolio(db, admin, invoices=600, seed=11)
    first = _snapshot(db)
    _wipe_ledger(db)
    generate_ledger(db, admin, 600, seed=11, as_of=AS_OF)
    assert _snapshot(db) == first
    _wipe_ledger(db)
    generate_ledger(db, admin, 600, seed=12, as_of=AS_OF)
    assert _snapshot(db)["invoices"] != first["invoices"]


def test_chunks_change_nothing_and_the_indexes_come_back(
    db: Database, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading in many chunks (which also drops and rebuilds the plain indexes of the ledger
    tables) gives the same rows as one chunk, and leaves every index as it was."""
    _portfolio(db, admin, invoices=800, seed=4)
    one_chunk = _snapshot(db)
    _wipe_ledger(db)
    indexes = _indexes(db)
    assert any("ix_invoices_open_items" in i for i in indexes)
    monkeypatch.setattr(demo_ledger, "CHUNK", 150)
    generate_ledger(db, admin, 800, seed=4, as_of=AS_OF)
    assert _indexes(db) == indexes
    assert _snapshot(db) == one_chunk


def test_one_audit_row_per_customer_with_a_ledger(db: Database, admin: Actor) -> None:
    result = _portfolio(db, admin)
    rows = _rows(
        db,
        "SELECT customer_id, new_value FROM audit_log WHERE table_name = 'ledger' "
        "ORDER BY customer_id",
    )
    assert len(rows) == result.customers == len({c for c, _ in rows})
    assert all(v.startswith("demo ledger (seed 7): ") for _, v in rows)


def test_cancel_rolls_back_everything(
    db: Database, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_data.generate(db, admin, 40, seed=3)
    audit_before = _count(db, AuditEntry)
    indexes = _indexes(db)
    monkeypatch.setattr(demo_ledger, "CHUNK", 100)
    calls: list[int] = []
    progress: list[tuple[int, int]] = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) >= 4  # after three chunks were written

    with pytest.raises(Cancelled):
        generate_ledger(
            db,
            admin,
            1000,
            as_of=AS_OF,
            progress=lambda done, total: progress.append((done, total)),
            cancelled=cancelled,
        )
    assert len(progress) == 3 and progress[-1][1] == 1000
    for model in LEDGER_TABLES:
        assert _count(db, model) == 0, model
    assert _count(db, AuditEntry) == audit_before
    assert _indexes(db) == indexes
    assert _count(db, Customer, Customer.exposure != 0) == 0


def test_progress_reaches_the_total(db: Database, admin: Actor) -> None:
    demo_data.generate(db, admin, 20, seed=3)
    seen: list[tuple[int, int]] = []
    generate_ledger(db, admin, 300, as_of=AS_OF, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (300, 300)


def test_refusals(db: Database, admin: Actor, collector: Actor) -> None:
    with pytest.raises(O2CError, match="no customers"):
        generate_ledger(db, admin, 10, as_of=AS_OF)
    demo_data.generate(db, admin, 5, seed=3)
    with pytest.raises(PermissionDenied):
        generate_ledger(db, collector, 10, as_of=AS_OF)
    with pytest.raises(ValueError):
        generate_ledger(db, admin, -1, as_of=AS_OF)
    assert generate_ledger(db, admin, 0, as_of=AS_OF).invoices == 0
    assert _count(db, Invoice) == 0


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------


def test_cli_generates_customers_then_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_USER", "tester")
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    args = ["--database", url, "demo-data", "--if-empty", "--customers", "30", "--invoices", "400"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Added 30 customers" in out
    assert "Added 400 invoices, " in out and " payments, " in out and " open" in out
    db = Database(url)
    try:
        assert _count(db, Invoice, Invoice.kind == "invoice") == 400
        # --if-empty on a database with customers: nothing at all
        assert main(args) == 0
        assert capsys.readouterr().out == ""
        assert _count(db, Invoice, Invoice.kind == "invoice") == 400
        assert _count(db, Customer) == 30
    finally:
        db.dispose()
