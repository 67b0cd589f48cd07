#!/usr/bin/env python
"""Credit holds at scale: importing orders, the holds queue, entering an order with its hold
check and the set-based exposure refresh, at 200,000 customers with 100,000 orders.

A script, not a test. Per engine it starts from a database with the demo portfolio: generated
with `o2c-desktop demo-data --customers N --invoices M --seed S`, or, with --cache DIR, copied
from the ledger that benchmarks/ledger_bench.py kept there (SQLite: DIR/lbench-N-M-sS.sqlite3;
PostgreSQL: the database o2c_lbench_cN_iM_sS, copied with CREATE DATABASE … TEMPLATE). The kept
ledger is never changed: the copy is migrated to the current schema, measured, and deleted at
the end (--keep keeps it and prints where it is).

    .venv/bin/python benchmarks/credit_bench.py --cache /tmp/o2c-lbench-cache
    .venv/bin/python benchmarks/credit_bench.py --customers 20000 --invoices 200000 \\
        --orders 10000 --held 500                                    # a quick check

Measured in-process through the services, in this order:

1. `order_import.import_orders` of a generated CSV of --orders (100,000) rows for random known
   customers (whole amounts of 100 to 20,000 in the customer's currency, dated in the last 30
   days): rows/s, with the hold rules evaluated row by row and the exposure refreshed at the
   end. How many it held depends on the portfolio (customers on hold, long past due, over
   their limit).
2. The queue is then given exactly --held (5,000) held orders, the rest open (a direct UPDATE of
   the statuses, like a department that works its queue down), and
   `exposure.refresh_exposure_of_everyone` is timed --runs times: the first run writes the
   customers whose open orders changed, the later ones find nothing to write.
3. `orders.holds_queue` (every held order with its customer, oldest first) and
   `orders.list_orders` for a customer-number search over open and held orders, --runs times.
4. `orders.enter_order` of 50 orders for random customers, one unit of work each with the hold
   check (customer, limit, exposure, items past due): the median per order.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL

from o2c_desktop.db import Database
from o2c_desktop.models import Customer, Invoice, Order
from o2c_desktop.models.base import utcnow
from o2c_desktop.services.users import sign_in

TARGETS = {"holds queue": 0.5, "enter order": 0.1}  # seconds, on PostgreSQL
ENTERED = 50


@dataclass
class Result(bench.LedgerResult):
    import_line: str = ""
    import_s: float | None = None
    import_rows: int = 0
    import_error: str | None = None
    shaped: str = ""


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def customer_numbers(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Customer.number).order_by(Customer.number)))


def write_orders_file(path: Path, numbers: list[str], rows: int, seed: int) -> None:
    """An ERP export of orders: random known customers, whole amounts (right for every
    currency, JPY too), no currency column (each customer's own)."""
    rng = random.Random(seed)
    today = date.today()
    days = [(today - timedelta(days=k)).isoformat() for k in range(31)]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer", "number", "order_date", "amount"])
        for k in range(1, rows + 1):
            out.writerow(
                [rng.choice(numbers), f"BO-{k:08d}", rng.choice(days), rng.randint(100, 20_000)]
            )


def count_rows(db: Database) -> dict[str, int]:
    with db.read() as session:

        def count(stmt: Any) -> int:
            return int(session.scalar(stmt) or 0)

        return {
            "customers": count(select(func.count()).select_from(Customer)),
            "invoices": count(select(func.count()).select_from(Invoice)),
            "orders": count(select(func.count()).select_from(Order)),
            "held": count(select(func.count()).where(Order.status == "held")),
        }


def shape_queue(db: Database, held: int, seed: int) -> str:
    """Exactly `held` orders held (drawn with the seed), every other one open."""
    rng = random.Random(seed)
    started = time.perf_counter()
    with db.write() as session:
        ids = list(session.scalars(select(Order.id).order_by(Order.id)))
        chosen = sorted(rng.sample(ids, min(held, len(ids))))
        session.execute(
            update(Order)
            .where(Order.status != "open")
            .values(status="open", hold_reasons=None, held_at=None),
            execution_options={"synchronize_session": False},
        )
        at = utcnow()
        for start in range(0, len(chosen), 1000):
            session.execute(
                update(Order)
                .where(Order.id.in_(chosen[start : start + 1000]))
                .values(status="held", hold_reasons="benchmark: held", held_at=at),
                execution_options={"synchronize_session": False},
            )
    if db.kind == "postgresql":
        bench.vacuum_analyze(db.url, "orders")
    return (
        f"{len(chosen):,} of {len(ids):,} orders held, the rest open, "
        f"in {time.perf_counter() - started:.1f} s"
    )


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def import_file(result: Result, db: Database, actor: Any, base: Path, args: Any) -> None:
    from o2c_desktop.services import order_import

    path = base / f"{result.engine}-orders.csv"
    bench.log(f"{result.title}: writing a {args.orders:,}-row order file")
    write_orders_file(path, customer_numbers(db), args.orders, args.seed)
    bench.log(f"{result.title}: importing it")
    try:
        seconds, report = bench.timed(lambda: order_import.import_orders(db, actor, path))
    except Exception as exc:
        result.import_error = bench.failed_run(exc)
        return
    finally:
        path.unlink(missing_ok=True)
    result.import_s, result.import_rows = seconds, report.rows
    result.import_line = report.summary()
    if db.kind == "postgresql":
        bench.vacuum_analyze(db.url, "orders", "customers")


def in_process(result: Result, url: URL, base: Path, args: Any) -> None:
    from o2c_desktop.services import orders
    from o2c_desktop.services.exposure import refresh_exposure_of_everyone

    db = Database(url)
    try:
        actor = sign_in(db)
        if args.orders > 0:
            import_file(result, db, actor, base, args)
        result.shaped = shape_queue(db, args.held, args.seed)
        result.counts = count_rows(db)
        runs = args.runs

        def refresh() -> None:
            with db.write() as session:
                refresh_exposure_of_everyone(session)

        bench.log(f"{result.title}: refresh_exposure_of_everyone")
        bench.measure(
            result.timings,
            "refresh_exposure_of_everyone (first run writes the changed customers)",
            refresh,
            lambda _: (
                f"{result.counts['customers']:,} customers, {result.counts['orders']:,} orders"
            ),
            runs,
            "refresh exposure",
        )
        bench.log(f"{result.title}: the holds queue")
        bench.measure(
            result.timings,
            "orders.holds_queue",
            lambda: orders.holds_queue(db, actor),
            lambda rows: f"{len(rows):,} held orders",
            runs,
            "holds queue",
        )
        numbers = customer_numbers(db)
        prefix = numbers[len(numbers) // 2][:-2]
        bench.measure(
            result.timings,
            f"orders.list_orders, open and held, search {prefix!r}",
            lambda: orders.list_orders(
                db, actor, orders.OrderQuery(statuses=("open", "held"), search=prefix)
            ),
            lambda rows: f"{len(rows):,} orders",
            runs,
            "order search",
        )
        bench.log(f"{result.title}: entering {ENTERED} orders")
        entered = bench.Timing(
            f"orders.enter_order, {ENTERED} orders", "enter order", by_detail=True
        )
        result.timings.append(entered)
        rng = random.Random(args.seed)
        held = 0
        try:
            for _ in range(ENTERED):
                values = {"customer": rng.choice(numbers), "amount": rng.randint(100, 20_000)}
                seconds, order = bench.timed(lambda v=values: orders.enter_order(db, actor, v))
                entered.runs.append(seconds)
                held += order.status == "held"
            median = statistics.median(entered.runs)
            entered.detail = f"median {bench.fmt_s(median)} per order, {held} of them held"
        except Exception as exc:
            entered.error = bench.failed_run(exc)
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Report and main
# ---------------------------------------------------------------------------------------------


def import_text(r: Result) -> str:
    if r.import_error:
        return f"import failed: {r.import_error}"
    if r.import_s is None:
        return ""
    rate = r.import_rows / r.import_s
    return f"import {r.import_rows:,} orders {r.import_s:.1f} s ({rate:,.0f} rows/s)"


def print_engine(r: Result) -> None:
    lines = (("Import", import_text(r)), ("", r.import_line), ("Queue", r.shaped))
    r.print_block(TARGETS, *lines)


def summary_line(r: Result) -> str:
    return bench.summary_of(r, r.timings, import_text(r))


def run_engine(target: bench.Target, args: Any, base: Path) -> Result:
    def steps(result: Result) -> None:
        in_process(result, target.url, base, args)

    return bench.run_on_ledger(Result(target.engine), target, base, args, steps, print_engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=200_000, invoices=2_000_000)
    parser.add_argument("--orders", type=int, default=100_000, metavar="R", help="rows imported")
    parser.add_argument("--held", type=int, default=5_000, metavar="H", help="orders held")
    bench.add_kept_ledger_options(parser)
    args = parser.parse_args(argv)
    results = bench.run_benchmark(
        f"O2C Desktop credit benchmark: {args.customers:,} customers, {args.invoices:,} "
        f"invoices, {args.orders:,} orders imported, {args.held:,} held, seed {args.seed}",
        "crbench",
        args,
        lambda target, base: run_engine(target, args, base),
        summary_line,
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
