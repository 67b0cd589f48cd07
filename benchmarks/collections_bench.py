#!/usr/bin/env python
"""Collections at scale: the call list of one collector and of the whole team, logging a call
and claiming the next customer, at 200,000 customers / 2,000,000 invoices / 50 collectors.

A script, not a test. Per engine it starts from a database with the demo ledger: generated with
`o2c-desktop demo-data --customers N --invoices M --seed S` (about 2.5 minutes per engine at full
size), or, with --cache DIR, copied from the ledger that benchmarks/ledger_bench.py kept there
(SQLite: DIR/lbench-N-M-sS.sqlite3; PostgreSQL: the database o2c_lbench_cN_iM_sS, copied with
CREATE DATABASE … TEMPLATE). The kept ledger is never changed: the copy is migrated to the
current schema, gets the collections data, is measured, and is deleted at the end (--keep
keeps it and prints where it is).

    .venv/bin/python benchmarks/collections_bench.py --cache /tmp/o2c-lbench-cache
    .venv/bin/python benchmarks/collections_bench.py --customers 5000 --invoices 50000 \\
        --promises 500 --calls 2500                                 # a quick check

Collections data is added in bulk to the copy, so the list has every kind of reason: --promises
(20,000) promises to pay of customers with overdue items (made in the last 45 days, promised up
to three weeks later: broken, due, not yet due, a few cancelled or kept) and --calls (100,000)
calls over the last 60 days with outcomes, 40 % asking for a follow-up within two weeks.

Measured in-process through the services, --runs times each (first and best of the rest):
the call list of the median collector (as that collector), the whole team's list (as the
administrator), the collector's list again after a strategy change (what a manager's edit
costs), `next_customer` (claim the next customer, releasing the one just worked), and
`calls.log_call` per call. Aims, on PostgreSQL: a collector's list under 300 ms, the team's
under 2 s (figures above are flagged).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import bulk_insert
from o2c_desktop.models import Call, Customer, Invoice, Promise, Role, User, UserRole
from o2c_desktop.models.collections import CALL_OUTCOMES
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.users import sign_in

TARGETS = {"collector list": 0.3, "team list": 2.0}  # seconds, on PostgreSQL
OUTCOME_WEIGHTS = {
    "reached": 30,
    "no_answer": 30,
    "left_message": 15,
    "promise": 8,
    "refused": 5,
    "paid_already": 5,
    "wrong_number": 5,
    "dispute": 2,
}
assert set(OUTCOME_WEIGHTS) == set(CALL_OUTCOMES)


@dataclass
class Result(bench.LedgerResult):
    loaded: str = ""
    reasons: list[tuple[str, int]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Collections data, in bulk
# ---------------------------------------------------------------------------------------------


def add_collections_data(db: Database, args: Any, today: date) -> str:
    """Promises and calls for customers with overdue items, in one transaction."""
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with db.write() as session:
        before = (
            session.scalar(select(func.count()).select_from(Call)) or 0,
            session.scalar(select(func.count()).select_from(Promise)) or 0,
        )
        overdue = session.execute(
            select(Invoice.customer_id, Customer.collector_id, Customer.currency)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.open_amount != 0, Invoice.kind == "invoice", Invoice.due_date < today)
            .distinct()
            .order_by(Invoice.customer_id)
        ).all()
        if not overdue:
            return "no overdue customers: nothing added"
        outcomes, weights = zip(*OUTCOME_WEIGHTS.items(), strict=True)
        calls = []
        for _ in range(args.calls):
            cid, collector, _currency = rng.choice(overdue)
            day = today - timedelta(days=rng.randint(0, 60))
            moment = datetime.combine(day, day_time(8 + rng.randint(0, 9), rng.randint(0, 59)))
            follow = day + timedelta(days=rng.randint(1, 14)) if rng.random() < 0.4 else None
            calls.append(
                {
                    "customer_id": cid,
                    "user_id": collector,
                    "called_at": moment.replace(tzinfo=UTC),
                    "called_on": day,
                    "outcome": rng.choices(outcomes, weights)[0],
                    "follow_up_on": follow,
                }
            )
        promises = []
        now = datetime.now(UTC)
        for _ in range(args.promises):
            cid, collector, currency = rng.choice(overdue)
            made = today - timedelta(days=rng.randint(0, 45))
            promised = made + timedelta(days=rng.randint(0, 21))
            cancelled = made + timedelta(days=1) if rng.random() < 0.02 else None
            promises.append(
                {
                    "customer_id": cid,
                    "made_on": made,
                    "made_by_id": collector,
                    "amount": Decimal(rng.randint(10_000, 2_000_000)).scaleb(-2),
                    "currency": currency,
                    "promised_on": promised,
                    "grace_days": 3,
                    "threshold_percent": 100,
                    "cancelled_on": cancelled if cancelled and cancelled <= today else None,
                    "created_at": now,
                    "version": 1,
                }
            )
        bulk_insert(session, Call.__table__, calls)
        bulk_insert(session, Promise.__table__, promises)
    if db.kind == "postgresql":
        bench.vacuum_analyze(db.url, "calls", "promises")
    already = (
        f" (demo-data had made {before[0]:,} calls and {before[1]:,} promises)"
        if any(before)
        else ""
    )
    return (
        f"{len(calls):,} calls and {len(promises):,} promises for {len(overdue):,} overdue "
        f"customers in {time.perf_counter() - started:.1f} s{already}"
    )


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def median_collector(db: Database) -> Actor:
    """The collector with the median number of customers, as they sign in."""
    with db.read() as session:
        rows = session.execute(
            select(User.id, User.username, User.display_name, func.count(Customer.id))
            .join(UserRole, UserRole.user_id == User.id)
            .join(Customer, Customer.collector_id == User.id)
            .where(UserRole.role == Role.COLLECTOR.value)
            .group_by(User.id, User.username, User.display_name)
            .order_by(func.count(Customer.id), User.id)
        ).all()
    uid, username, name, _ = rows[len(rows) // 2]
    return Actor(uid, username, name, frozenset({Role.COLLECTOR}))


REASON_KINDS = (  # (words in the reason, what the summary calls it), most specific first
    ("all disputed", "all overdue disputed"),
    ("promise broken", "promise broken"),
    ("promised for", "promised, not due"),
    ("promise of", "promise due"),
    ("follow-up due", "follow-up due"),
    ("dispute", "dispute waiting"),
    ("over credit limit", "over credit limit"),
    ("no contact", "no contact for days"),
    ("never reached", "never reached"),
    ("risk class", "risk class"),
    ("overdue too", "other currency overdue"),
    ("called today", "called today"),
    ("held order", "held orders"),
    ("unapplied cash", "unapplied cash to apply"),
    ("credit notes", "credit notes to apply"),
    (" days", "overdue past a band"),
    ("overdue", "overdue"),
)


def reason_kind(reason: str) -> str:
    return next((label for words, label in REASON_KINDS if words in reason), reason)


def in_process(result: Result, url: URL, args: Any, today: date) -> None:
    from o2c_desktop.services import call_list, calls, claims, collection_strategy

    db = Database(url)
    try:
        admin = sign_in(db)
        collector = median_collector(db)
        with db.read() as session:
            result.counts = {
                "customers": int(session.scalar(select(func.count()).select_from(Customer)) or 0),
                "open items": int(
                    session.scalar(select(func.count()).where(Invoice.open_amount != 0)) or 0
                ),
                "collectors": int(
                    session.scalar(
                        select(func.count()).where(UserRole.role == Role.COLLECTOR.value)
                    )
                    or 0
                ),
                "calls": int(session.scalar(select(func.count()).select_from(Call)) or 0),
                "promises": int(session.scalar(select(func.count()).select_from(Promise)) or 0),
            }
        runs = args.runs
        who = f"{collector.display_name}"
        bench.log(f"{result.title}: {who}'s call list")
        mine = bench.measure(
            result.timings,
            f"Call list of {who} (as the collector)",
            lambda: call_list.call_list(db, collector, today),
            lambda rows: f"{len(rows):,} customers, top score {rows[0].score if rows else 0}",
            runs,
            "collector list",
        )
        bench.log(f"{result.title}: the team's call list")
        team = bench.measure(
            result.timings,
            "Call list of the whole team (as the administrator)",
            lambda: call_list.call_list(db, admin, today, team=True),
            lambda rows: f"{len(rows):,} customers",
            runs,
            "team list",
        )
        if team:
            kinds = Counter(reason_kind(r) for row in team for r in row.reasons)
            result.reasons = kinds.most_common()
        bench.log(f"{result.title}: a strategy change, then the collector's list")
        rules = dataclasses.replace(
            collection_strategy.DEFAULT_RULES, dpd_bands=((1, 1), (31, 10), (91, 100))
        )
        saved = collection_strategy.save_strategy(db, admin, None, "Bench: age first", rules)
        collection_strategy.activate(db, admin, saved.id, saved.version)
        reranked = bench.measure(
            result.timings,
            f"Call list of {who} after a strategy change",
            lambda: call_list.call_list(db, collector, today),
            lambda rows: f"{len(rows):,} customers, top score {rows[0].score if rows else 0}",
            runs,
            "collector list, new strategy",
        )
        if mine and reranked:
            moved = sum(
                1 for a, b in zip(mine[:50], reranked[:50], strict=False) if a.number != b.number
            )
            result.timings[-1].detail += f"; {moved} of the top 50 moved"
        collection_strategy.deactivate_all(db, admin)

        bench.log(f"{result.title}: next customer (claims)")
        previous: list[int | None] = [None]

        def advance() -> Any:
            row = call_list.next_customer(db, collector, today, after=previous[0])
            previous[0] = row.customer_id if row else None
            return row

        bench.measure(
            result.timings,
            f"next_customer for {who} (list + claim + release)",
            advance,
            lambda row: f"got {row.number}" if row else "nobody left",
            max(runs, 5),
            "next customer",
        )
        if previous[0] is not None:
            claims.release(db, collector, previous[0])
        top = mine or []
        bench.log(f"{result.title}: logging calls")
        logged = bench.Timing(
            f"calls.log_call, {min(20, len(top))} calls as {who}", "log a call", by_detail=True
        )
        result.timings.append(logged)
        try:
            for row in top[:20]:
                started = time.perf_counter()
                calls.log_call(
                    db,
                    collector,
                    row.customer_id,
                    "reached",
                    notes="benchmark",
                    follow_up_on=today + timedelta(days=7),
                )
                logged.runs.append(time.perf_counter() - started)
            if logged.runs:
                logged.detail = f"median {bench.fmt_s(statistics.median(logged.runs))} per call"
            else:
                logged.error = "no customers on the list"
        except Exception as exc:
            logged.error = bench.failed_run(exc)
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Report and main
# ---------------------------------------------------------------------------------------------


def print_engine(r: Result) -> None:
    reasons = ", ".join(f"{k} {n:,}" for k, n in r.reasons)
    r.print_block(
        TARGETS, ("Added", r.loaded), end=reasons and f"Reasons on the team's list: {reasons}"
    )


def summary_line(r: Result) -> str:
    return bench.summary_of(r, r.timings)


def run_engine(target: bench.Target, args: Any, base: Path, today: date) -> Result:
    def steps(result: Result) -> None:
        bench.log(f"{result.title}: adding promises and calls")
        db = Database(target.url)
        try:
            result.loaded = add_collections_data(db, args, today)
        finally:
            db.dispose()
        in_process(result, target.url, args, today)

    return bench.run_on_ledger(Result(target.engine), target, base, args, steps, print_engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=200_000, invoices=2_000_000)
    parser.add_argument("--promises", type=int, default=20_000, metavar="P")
    parser.add_argument("--calls", type=int, default=100_000, metavar="C")
    bench.add_kept_ledger_options(parser)
    args = parser.parse_args(argv)
    today = date.today()
    results = bench.run_benchmark(
        f"O2C Desktop collections benchmark: {args.customers:,} customers, "
        f"{args.invoices:,} invoices, {args.promises:,} promises, {args.calls:,} calls, "
        f"seed {args.seed}, as of {today}",
        "cbench",
        args,
        lambda target, base: run_engine(target, args, base, today),
        summary_line,
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
