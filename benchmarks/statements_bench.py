#!/usr/bin/env python
"""Statements at month end: 2,000 customers' statements, one process and all cores, and one
statement from click to preview.

A script, not a test. Per engine it builds a fresh database (a temporary SQLite file; a
PostgreSQL database named o2c_sbench_<pid>, dropped at the end unless --keep), fills it with the
demo portfolio (services/demo_data + services/demo_ledger: customers in twelve countries, two
years of invoices, payments, credit notes, disputes), and measures, through the services the
app uses:

1. One statement, from click to preview: `render_statement` for a typical customer (the first
   one in a fresh process pays for loading fonts and logo, then warm), plus rasterising its
   first page with pypdfium2 at 100 dpi as the preview dialog does (if pypdfium2 is installed).
2. The batch with one process: `run_batch(processes=1)` for every customer, open items at the
   last month end (a past date: the figures come from the dated allocations), statements/s.
3. The same batch on all cores (`processes=None`), statements/s.
4. With --combined, the all-cores batch again with the combined PDF for printing.

    .venv/bin/python benchmarks/statements_bench.py                      # SQLite, 2,000 customers
    .venv/bin/python benchmarks/statements_bench.py --engines sqlite,postgresql --combined

Progress goes to stderr, the report to stdout, ending with a summary block for a note.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, select

from o2c_desktop.db import Database, migrate
from o2c_desktop.models import Customer, Invoice
from o2c_desktop.services import demo_data, demo_ledger, users
from o2c_desktop.services.statements import (
    StatementRequest,
    render_statement,
    run_batch,
)


def last_month_end(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


def generate(db: Database, customers: int, invoices: int, seed: int) -> tuple[Any, str]:
    actor = users.sign_in(db)
    started = time.perf_counter()
    demo_data.generate(db, actor, customers, seed)
    made = demo_ledger.generate_ledger(db, actor, invoices, seed)
    seconds = time.perf_counter() - started
    if db.kind == "postgresql":
        bench.vacuum_analyze(db.url)
    line = (
        f"{customers:,} customers, {made.invoices:,} invoices ({made.open_invoices:,} open, "
        f"{made.credit_notes:,} credit notes, {made.payments:,} payments) in {seconds:.1f} s"
    )
    return actor, line


def typical_customer(db: Database) -> int:
    """A customer with a median number of open items (a one-page statement)."""
    with db.read() as session:
        counts = session.execute(
            select(Invoice.customer_id, func.count())
            .where(Invoice.open_amount != 0)
            .group_by(Invoice.customer_id)
            .order_by(func.count(), Invoice.customer_id)
        ).all()
    return counts[len(counts) // 2][0]


def one_statement(db: Database, actor: Any, customer_id: int, as_of: date) -> list[str]:
    lines = []
    request = StatementRequest(customer_id, as_of)
    timings = []
    for _ in range(6):
        started = time.perf_counter()
        pdf = render_statement(db, actor, request)
        timings.append(time.perf_counter() - started)
    lines.append(
        f"render_statement: first {timings[0] * 1000:.0f} ms (fonts and logo loaded), "
        f"then median {sorted(timings[1:])[2] * 1000:.0f} ms ({len(pdf) / 1024:.0f} KiB)"
    )
    try:
        import pypdfium2
    except ImportError:
        lines.append("preview: pypdfium2 not installed, not measured")
        return lines
    raster = []
    for _ in range(5):
        started = time.perf_counter()
        pdf = render_statement(db, actor, request)
        document = pypdfium2.PdfDocument(pdf)
        image = document[0].render(scale=100 / 72).to_pil()
        raster.append(time.perf_counter() - started)
        document.close()
    lines.append(
        f"click to preview (render + first page at 100 dpi, {image.width}x{image.height}): "
        f"median {sorted(raster)[2] * 1000:.0f} ms"
    )
    return lines


def batch(
    db: Database,
    actor: Any,
    ids: list[int],
    as_of: date,
    folder: Path,
    processes: int | None,
    combined: bool = False,
) -> tuple[str, float]:
    shutil.rmtree(folder, ignore_errors=True)
    result = run_batch(
        db,
        actor,
        as_of=as_of,
        kind="open-items",
        period_from=None,
        customer_ids=ids,
        out_dir=folder,
        combined=folder / "all.pdf" if combined else None,
        processes=processes,
    )
    pages = sum(f.pages for f in result.files)
    size = sum(f.path.stat().st_size for f in result.files)
    rate = len(result.files) / result.seconds
    text_ = (
        f"{len(result.files):,} statements ({pages:,} pages, {size / 1e6:.0f} MB) in "
        f"{result.seconds:.1f} s = {rate:.0f} statements/s; {len(result.failures)} failed"
    )
    if result.combined:
        text_ += f"; combined PDF {result.combined.stat().st_size / 1e6:.1f} MB"
    return text_, rate


def measure_engine(target: bench.Target, args: argparse.Namespace, base: Path, as_of: date) -> str:
    """Fill a fresh database with the portfolio and time the statements on it: the summary
    line."""
    engine = target.engine
    print(f"\n== {engine} ==")
    target.create()
    db = Database(target.url)
    try:
        migrate.upgrade(db)
        bench.log(f"{engine}: generating the portfolio")
        actor, made = generate(db, args.customers, args.invoices, args.seed)
        print(f"Portfolio: {made}")
        with db.read() as session:
            ids = list(session.scalars(select(Customer.id).order_by(Customer.number)))
        bench.log("one statement")
        for line in one_statement(db, actor, typical_customer(db), as_of):
            print(line)
        bench.log("batch, one process")
        single, single_rate = batch(db, actor, ids, as_of, base / "one", 1)
        print(f"Batch, 1 process, open items at {as_of}: {single}")
        bench.log("batch, all cores")
        every, every_rate = batch(db, actor, ids, as_of, base / "all", None)
        print(f"Batch, {os.cpu_count()} processes: {every}")
        if args.combined:
            bench.log("batch, all cores, with the combined PDF")
            joined, _rate = batch(db, actor, ids, as_of, base / "combined", None, True)
            print(f"Batch with combined PDF: {joined}")
    finally:
        db.dispose()
    return (
        f"{engine}: {single_rate:.0f} statements/s in 1 process, "
        f"{every_rate:.0f} statements/s on {os.cpu_count()} cores"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=2000, invoices=20_000)
    bench.add_engine_options(parser, engines="sqlite")
    parser.add_argument("--combined", action="store_true", help="also time the combined PDF")
    args = parser.parse_args(argv)
    os.environ.setdefault("O2C_USER", "statements-bench")
    as_of = last_month_end(date.today())
    bench.run_benchmark(
        f"O2C Desktop statements benchmark: {args.customers:,} customers, "
        f"{args.invoices:,} invoices, seed {args.seed}, open items at {as_of}",
        "sbench",
        args,
        lambda target, base: measure_engine(target, args, base, as_of),
        str,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
