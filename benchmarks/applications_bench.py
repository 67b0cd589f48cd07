#!/usr/bin/env python
"""Credit applications at scale: the clerks' and the department's queues, the review queue, and
opening, scoring and deciding one application, at 200,000 customers with 50,000 applications.

A script, not a test. Per engine it starts from the portfolio benchmarks/credit_bench.py starts
from (the ledger ledger_bench.py --cache DIR kept, copied; or generated demo data), adds
--applications applications (a history: most decided, the rest spread over the open states, a
fifth of the open ones assigned to the benchmark's clerk), --documents documents with expiry
dates over the next two years, periodic reviews (next_review_date) on a tenth of the customers
and temporary limits on 1 %, written straight into the tables (the services' speed for one
application is measured separately below), and then times through the services:

1. `credit_queue.application_queue`: the department's open applications; the clerk's own;
   overdue only; a search by applicant name.
2. `credit_queue.review_queue`: reviews due, temporary limits ending and documents lapsing.
3. `credit_applications.create_application` for random customers (the checklist from its
   template in the same unit of work), `scorecards.score_application` on them (payment history
   from the customer's own ledger: a year of paid invoices and promises), and
   `credit_decisions.decide` by a manager after the checklist is verified: medians of --single.

    .venv/bin/python benchmarks/applications_bench.py --cache /tmp/o2c-lbench-cache
    .venv/bin/python benchmarks/applications_bench.py --customers 20000 --invoices 200000 \\
        --applications 5000 --documents 2000                           # a quick check
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import URL

from o2c_desktop.db import Database
from o2c_desktop.models import (
    ApplicationChecklistItem,
    CreditApplication,
    Customer,
    Document,
    Role,
)
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.credit import APPLICATION_STATES, CLOSED_STATES, ITEM_VERIFIED, OPEN_STATES
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.users import create_user, sign_in

TARGETS = {"department queue": 1.0, "review queue": 1.0, "my queue": 0.3}  # s, PostgreSQL
CHUNK = 5_000


@dataclass
class Result(bench.LedgerResult):
    seeded: str = ""


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _people(db: Database, admin: Actor) -> tuple[Actor, Actor]:
    """The benchmark's clerk and a manager (the four eyes: the clerk prepares, she decides)."""

    def person(username: str, role: Role) -> Actor:
        row = create_user(db, admin, username, username.title(), (role,))
        return Actor(row.id, row.username, row.display_name, row.roles)

    return person("bench_clerk", Role.CREDIT_CLERK), person("bench_manager", Role.CREDIT_MANAGER)


def seed(db: Database, clerk: Actor, args: Any) -> str:
    """Applications, documents, reviews and temporary limits written straight into the tables."""
    rng = random.Random(args.seed)
    today = date.today()
    started = time.perf_counter()
    with db.write() as session:
        customers = session.execute(
            select(Customer.id, Customer.number, Customer.name, Customer.currency)
        ).all()
        now = utcnow()
        open_share = 0.2
        rows = []
        for k in range(1, args.applications + 1):
            cid, number, name, currency = rng.choice(customers)
            state = (
                rng.choice(OPEN_STATES)
                if rng.random() < open_share
                else rng.choice([s for s in APPLICATION_STATES if s in CLOSED_STATES])
            )
            is_open = state in OPEN_STATES
            rows.append(
                {
                    "number": f"CB-{k:07d}",
                    "kind": "limit_change",
                    "state": state,
                    "customer_id": cid,
                    "customer_number": number,
                    "applicant_name": name,
                    "currency": currency,
                    "requested_limit": Decimal(rng.randrange(5, 500) * 1000),
                    "prepared_by_id": clerk.user_id,
                    "assigned_to_id": clerk.user_id if is_open and rng.random() < 0.2 else None,
                    "state_changed_at": now - timedelta(days=rng.randrange(0, 30)),
                    "due_date": today + timedelta(days=rng.randrange(-10, 10)) if is_open else None,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(CreditApplication), rows[start : start + CHUNK])
        app_ids = list(session.scalars(select(CreditApplication.id)))
        documents = [
            {
                "application_id": rng.choice(app_ids),
                "customer_id": rng.choice(customers)[0],
                "filename": f"statement-{k}.pdf",
                "content_type": "application/pdf",
                "size_bytes": 3,
                "sha256": f"{k:064x}",
                "storage": "database",
                "content": b"pdf",
                "expires_on": today + timedelta(days=rng.randrange(-30, 730)),
                "uploaded_at": now,
            }
            for k in range(args.documents)
        ]
        for start in range(0, len(documents), CHUNK):
            session.execute(insert(Document), documents[start : start + CHUNK])
        ids = [c[0] for c in customers]
        reviewed = rng.sample(ids, len(ids) // 10)
        temporary = rng.sample(ids, len(ids) // 100)
        for start in range(0, len(reviewed), CHUNK):
            chunk = reviewed[start : start + CHUNK]
            session.execute(
                update(Customer)
                .where(Customer.id.in_(chunk))
                .values(next_review_date=today + timedelta(days=rng.randrange(-20, 365))),
                execution_options={"synchronize_session": False},
            )
        session.execute(
            update(Customer)
            .where(Customer.id.in_(temporary))
            .values(
                temporary_limit=Customer.credit_limit + 10_000,
                temporary_limit_until=today + timedelta(days=20),
            ),
            execution_options={"synchronize_session": False},
        )
    if db.kind == "postgresql":
        bench.vacuum_analyze(db.url, "credit_applications", "documents", "customers")
    return (
        f"{args.applications:,} applications, {args.documents:,} documents, "
        f"{len(reviewed):,} reviews and {len(temporary):,} temporary limits written in "
        f"{time.perf_counter() - started:.1f} s"
    )


def count_rows(db: Database) -> dict[str, int]:
    with db.read() as session:
        open_ = select(func.count()).where(CreditApplication.state.in_(OPEN_STATES))
        return {
            "customers": int(session.scalar(select(func.count()).select_from(Customer)) or 0),
            "applications": int(
                session.scalar(select(func.count()).select_from(CreditApplication)) or 0
            ),
            "open": int(session.scalar(open_) or 0),
            "documents": int(session.scalar(select(func.count()).select_from(Document)) or 0),
        }


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def _queues(result: Result, db: Database, clerk: Actor, manager: Actor, runs: int) -> None:
    from o2c_desktop.services import credit_queue

    def queue(actor: Actor, **query: Any) -> Any:
        return lambda: credit_queue.application_queue(db, actor, credit_queue.QueueQuery(**query))

    for label, short, fn in (
        ("application_queue, department, open states", "department queue", queue(manager)),
        ("application_queue, the clerk's own", "my queue", queue(clerk, scope="mine")),
        ("application_queue, overdue only", "overdue", queue(manager, overdue_only=True)),
        ("application_queue, search 'Gm'", "search", queue(manager, search="Gm")),
    ):
        bench.log(f"{result.title}: {label}")
        bench.measure(
            result.timings, label, fn, lambda rows: f"{len(rows):,} applications", runs, short
        )
    bench.measure(
        result.timings,
        "review_queue (reviews due, temporary limits, documents lapsing)",
        lambda: credit_queue.review_queue(db, manager),
        lambda rows: f"{len(rows):,} items",
        runs,
        "review queue",
    )


def _verify_all(db: Database, application_id: int, clerk: Actor) -> None:
    """The checklist done, straight in the table: the benchmark times the decision, not the
    clicks."""
    with db.write() as session:
        session.execute(
            update(ApplicationChecklistItem)
            .where(ApplicationChecklistItem.application_id == application_id)
            .values(status=ITEM_VERIFIED, verified_by_id=clerk.user_id, verified_at=utcnow()),
            execution_options={"synchronize_session": False},
        )


def _single(result: Result, db: Database, clerk: Actor, manager: Actor, args: Any) -> None:
    """Create, score and decide --single applications; the median of each step."""
    from o2c_desktop.services import credit_applications as apps
    from o2c_desktop.services import credit_decisions, scorecards

    rng = random.Random(args.seed + 1)
    with db.read() as session:
        free = list(
            session.scalars(
                select(Customer.id)
                .where(
                    ~Customer.id.in_(
                        select(CreditApplication.customer_id).where(
                            CreditApplication.state.in_(OPEN_STATES),
                            CreditApplication.customer_id.is_not(None),
                        )
                    )
                )
                .order_by(Customer.id)
                .limit(50_000)
            )
        )
    steps = {
        name: bench.Timing(f"{name}, median of {args.single}", name, by_detail=True)
        for name in ("create", "score", "decide")
    }
    result.timings.extend(steps.values())
    try:
        for customer_id in rng.sample(free, args.single):
            seconds, view = bench.timed(
                lambda c=customer_id: apps.create_application(
                    db, clerk, {"customer_id": c, "requested_limit": "40000"}
                )
            )
            steps["create"].runs.append(seconds)
            seconds, _ = bench.timed(lambda a=view.id: scorecards.score_application(db, clerk, a))
            steps["score"].runs.append(seconds)
            view = apps.get_application(db, clerk, view.id)  # scoring raised its version
            for move in (apps.submit, apps.start_verification):
                view = move(db, clerk, view.id, view.version)
            _verify_all(db, view.id, clerk)
            view = apps.send_to_approval(
                db, clerk, view.id, apps.get_application(db, clerk, view.id).version
            )
            decision = credit_decisions.DecisionInput(
                outcome="approved", reason="benchmark", credit_limit=Decimal("40000")
            )
            seconds, _ = bench.timed(
                lambda v=view, d=decision: credit_decisions.decide(db, manager, v.id, v.version, d)
            )
            steps["decide"].runs.append(seconds)
        for step in steps.values():
            step.detail = f"median {bench.fmt_s(statistics.median(step.runs))}"
    except Exception as exc:
        for step in steps.values():
            step.error = step.error or bench.failed_run(exc)


def in_process(result: Result, url: URL, args: Any) -> None:
    db = Database(url)
    try:
        admin = sign_in(db)
        clerk, manager = _people(db, admin)
        bench.log(f"{result.title}: writing applications and documents")
        result.seeded = seed(db, clerk, args)
        result.counts = count_rows(db)
        _queues(result, db, clerk, manager, args.runs)
        if args.single:
            bench.log(f"{result.title}: create, score and decide {args.single} applications")
            _single(result, db, clerk, manager, args)
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Report and main
# ---------------------------------------------------------------------------------------------


def print_engine(r: Result) -> None:
    r.print_block(TARGETS, ("Data", r.seeded))


def summary_line(r: Result) -> str:
    return bench.summary_of(r, r.timings)


def run_engine(target: bench.Target, args: Any, base: Path) -> Result:
    def steps(result: Result) -> None:
        in_process(result, target.url, args)

    return bench.run_on_ledger(Result(target.engine), target, base, args, steps, print_engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=200_000, invoices=2_000_000)
    parser.add_argument("--applications", type=int, default=50_000, metavar="A")
    parser.add_argument("--documents", type=int, default=20_000, metavar="D")
    parser.add_argument(
        "--single", type=int, default=20, metavar="S", help="applications created and decided"
    )
    bench.add_kept_ledger_options(parser)
    args = parser.parse_args(argv)
    results = bench.run_benchmark(
        f"O2C Desktop applications benchmark: {args.customers:,} customers, "
        f"{args.invoices:,} invoices, {args.applications:,} applications, "
        f"{args.documents:,} documents, seed {args.seed}",
        "apbench",
        args,
        lambda target, base: run_engine(target, args, base),
        summary_line,
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
