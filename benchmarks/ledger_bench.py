#!/usr/bin/env python
"""The AR ledger at scale: generate 2,000,000 invoices, then time the reports and screens on it.

A script, not a test: it builds a fresh database per engine (a temporary SQLite file; a
PostgreSQL database named o2c_lbench_<pid> that is dropped at the end unless --keep), fills it
with `o2c-desktop demo-data --customers N --invoices M`, and prints figures plus a summary block
to paste into a note.

    .venv/bin/python benchmarks/ledger_bench.py                  # 200,000 / 2,000,000, both
    .venv/bin/python benchmarks/ledger_bench.py --customers 2000 --invoices 20000 \\
        --import-rows 10000 --engines sqlite                     # a quick check

What is measured, per engine:
1. `o2c-desktop --database URL demo-data --customers N --invoices M --seed S` as a subprocess,
   wall time (Python start-up and schema creation included), and the command's own lines. On
   PostgreSQL a VACUUM ANALYZE follows, timed separately.
2. In-process, through the services the app uses, each run --runs times (first run and the best
   of the rest are printed): the portfolio aging today and 90 days back, the KPIs for the last
   full calendar quarter, a large customer's open items and history (what opening its ledger
   costs), and the invoice list's first page with filters. Services that are not there yet are
   reported as "not available yet" (they are imported lazily).
3. `o2c-desktop import invoices FILE --create-missing-customers` of a generated CSV
   (--import-rows rows, 1,000,000 by default) into the loaded database: wall time and rows/s.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import create_engine, func, select, text

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import secondary_indexes
from o2c_desktop.models import Customer, Invoice
from o2c_desktop.services.users import sign_in

NOT_AVAILABLE = "not available yet"
# Opening a customer's ledger should feel instant (seconds, warm).
LEDGER_AIMS = {"open items": 0.1, "history": 0.1}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class EngineResult(bench.EngineResult):
    url_shown: str = ""
    generate_s: float | None = None
    app_lines: list[str] = field(default_factory=list)
    vacuum_s: float | None = None
    db_size: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[bench.Timing] = field(default_factory=list)
    import_s: float | None = None
    import_rows: int = 0
    import_line: str = ""
    import_error: str | None = None
    import_phases: str = ""  # the import's own log line: where its time went
    copy_floor_s: float | None = None  # the same invoices by COPY alone (see `copy_floor`)
    reused: str = ""  # the kept ledger this run copied (--cache), instead of generating
    upgrade: str = ""  # schema migration of a kept ledger


# ---------------------------------------------------------------------------------------------
# Subprocesses: importing
# ---------------------------------------------------------------------------------------------


# `python -c` running the CLI with the import's INFO log on (its phase timings) and nothing else.
IMPORT_LOGGING = (
    "-c",
    "import logging, sys; logging.basicConfig(level=logging.WARNING, format='%(message)s'); "
    "logging.getLogger('o2c_desktop.services.ledger_import').setLevel(logging.INFO); "
    "from o2c_desktop.cli import main; sys.exit(main(sys.argv[1:]))",
)


def write_import_file(path: Path, rows: int, customers: int, seed: int) -> None:
    """An ERP export: 95 % known customer numbers, 5 % new ones (2,000 of them), 2 % credit
    notes (negative amounts), half of the rows without a due date (terms decide)."""
    rng = random.Random(seed)
    today = date.today()
    days = [(today - timedelta(days=k)).isoformat() for k in range(365)]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer", "number", "issue_date", "due_date", "amount"])
        for k in range(1, rows + 1):
            if rng.random() < 0.95:
                customer = f"C{rng.randint(1, customers):07d}"
            else:
                customer = f"ERP{rng.randint(1, 2000):05d}"
            issued = rng.randrange(365)
            due = "" if rng.random() < 0.5 else days[max(0, issued - 30)]
            cents = rng.randint(1_000, 5_000_000)
            if rng.random() < 0.02:
                cents = -cents
            out.writerow(
                [customer, f"ERP-{k:08d}", days[issued], due, str(Decimal(cents).scaleb(-2))]
            )


def import_invoices(
    result: EngineResult, target: bench.Target, env: dict[str, str], base: Path, args: Any
) -> None:
    try:
        import o2c_desktop.services.ledger_import  # noqa: F401
    except ImportError:
        result.import_error = NOT_AVAILABLE
        return
    path = base / f"{target.engine}-invoices.csv"
    bench.log(f"{result.title}: writing a {args.import_rows:,}-row invoice file")
    write_import_file(path, args.import_rows, args.customers, args.seed)
    bench.log(f"{result.title}: importing it")
    seconds, done = bench.run_app(
        target.url,
        env,
        "import",
        "invoices",
        str(path),
        "--create-missing-customers",
        entry=IMPORT_LOGGING,
    )
    path.unlink(missing_ok=True)
    if done.returncode != 0:
        result.import_error = f"exit code {done.returncode}: {bench.last_line(done.stderr)}"
        return
    result.import_s = seconds
    result.import_rows = args.import_rows
    result.import_line = bench.last_line(done.stdout)
    phases = [line for line in done.stderr.splitlines() if " rows in " in line]
    result.import_phases = phases[-1] if phases else ""


def copy_floor(result: EngineResult, target: bench.Target, args: Any) -> None:
    """PostgreSQL alone, no Python: the invoices the import created, COPYed from memory into a
    fresh copy of the ledger as the import writes them (secondary indexes dropped; primary key,
    unique number, checks and foreign keys checked row by row), then rolled back.
    No import of these rows into this ledger can be faster on this machine; only with --cache
    (the fresh copy comes from the kept ledger)."""
    kept = bench.kept_ledger(target.engine, args.cache, args.customers, args.invoices, args.seed)
    if not isinstance(target, bench.PostgresTarget) or kept is None or result.import_s is None:
        return
    bench.log(f"{result.title}: COPY of the imported invoices alone")
    columns = ", ".join(c.name for c in Invoice.__table__.columns)
    engine = create_engine(target.url)
    with engine.connect() as conn, conn.connection.driver_connection.cursor() as cursor:
        # The customers the import created (the invoices' foreign keys need them), its invoices.
        customers = _copied_out(cursor, "SELECT * FROM customers WHERE number LIKE 'ERP%'")
        invoices = _copied_out(cursor, f"SELECT {columns} FROM invoices WHERE number LIKE 'ERP-%'")
    engine.dispose()
    floor = f"{target.name}_floor"
    with target.admin.connect() as admin:
        admin.exec_driver_sql(f'CREATE DATABASE "{floor}" TEMPLATE "{kept}"')
    try:
        engine = create_engine(target.url.set(database=floor))
        with engine.connect() as conn, conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy("COPY customers FROM STDIN") as copy:
                copy.write(customers)
            for index in secondary_indexes(Invoice.__table__):
                index.drop(conn)
            started = time.perf_counter()
            with cursor.copy(f"COPY invoices ({columns}) FROM STDIN") as copy:
                copy.write(invoices)
            result.copy_floor_s = time.perf_counter() - started
            conn.rollback()
        engine.dispose()
    finally:
        with target.admin.connect() as admin:
            admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{floor}" WITH (FORCE)')


def _copied_out(cursor: Any, query: str) -> bytes:
    """A query's rows as COPY text."""
    with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        return b"".join(bytes(block) for block in copy)


# ---------------------------------------------------------------------------------------------
# In-process measurements
# ---------------------------------------------------------------------------------------------


def unavailable(result: EngineResult, label: str) -> None:
    result.timings.append(bench.Timing(label, error=NOT_AVAILABLE))


def service(module: str) -> Any:
    try:
        return __import__(f"o2c_desktop.services.{module}", fromlist=["_"])
    except ImportError:
        return None


def last_quarter(today: date) -> tuple[date, date]:
    first_this = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = first_this - timedelta(days=1)
    return date(end.year, end.month - 2, 1), end


def count_rows(db: Database) -> dict[str, int]:
    queries = {
        "invoices": "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice'",
        "open invoices": "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice' "
        "AND open_amount <> 0",
        "credit notes": "SELECT COUNT(*) FROM invoices WHERE kind = 'credit_note'",
        "payments": "SELECT COUNT(*) FROM payments",
        "allocations": "SELECT COUNT(*) FROM allocations",
        "disputes": "SELECT COUNT(*) FROM disputes",
    }
    with db.read() as session:
        return {k: int(session.execute(text(q)).scalar() or 0) for k, q in queries.items()}


def big_customer(db: Database) -> tuple[int, int, int]:
    """The customer with the most invoices: id, invoices, open invoices."""
    with db.read() as session:
        customer_id, n = session.execute(
            select(Invoice.customer_id, func.count())
            .group_by(Invoice.customer_id)
            .order_by(func.count().desc(), Invoice.customer_id)
            .limit(1)
        ).one()
        open_n = session.scalar(
            select(func.count()).where(Invoice.customer_id == customer_id, Invoice.open_amount != 0)
        )
    return int(customer_id), int(n), int(open_n or 0)


def list_filters(db: Database) -> tuple[int | None, str]:
    """A collector with customers, and a customer number prefix of about ten customers, for the
    invoice list's filters."""
    with db.read() as session:
        collector_id = session.scalar(
            select(Customer.collector_id)
            .where(Customer.collector_id.is_not(None))
            .order_by(Customer.id)
            .limit(1)
        )
        number = session.scalar(select(Customer.number).order_by(Customer.id).offset(100).limit(1))
    return collector_id, (number or "C")[:-1]


def side_by_side(*calls: Callable[[], Any]) -> tuple[Any, ...]:
    """The calls on threads of their own, as the GUI's worker pool runs a screen's queries;
    returns when the last has finished (the database works on them at the same time)."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return tuple(f.result() for f in [pool.submit(call) for call in calls])


def in_process(result: EngineResult, target: bench.Target, args: Any) -> None:
    db = Database(target.url)
    try:
        actor = sign_in(db)
        result.counts = count_rows(db)
        today = date.today()
        runs = args.runs

        aging = service("aging")
        for label, short, as_of in (
            ("Aging, portfolio, today", "aging today", today),
            ("Aging, portfolio, 90 days back", "aging -90 d", today - timedelta(days=90)),
        ):
            if aging is None or not hasattr(aging, "aging"):
                unavailable(result, label)
                continue
            bench.log(f"{result.title}: {label}")
            bench.measure(
                result.timings,
                f"{label} ({as_of})",
                lambda as_of=as_of: aging.aging(db, actor, as_of),
                lambda r: f"{len(r.customers):,} customer rows, {len(r.currencies)} currencies",
                runs,
                short,
            )
            # The portfolio per currency alone: the dashboard's chart, the Aging screen's totals.
            bench.measure(
                result.timings,
                f"{label}, per currency only ({as_of})",
                lambda as_of=as_of: aging.aging(db, actor, as_of, include_customers=False),
                lambda r: f"{len(r.currencies)} currencies",
                runs,
                short.replace("aging", "aging portfolio"),
            )
            # What the Aging screen asks for: the portfolio per currency and its first page of
            # customers (by number, its default order), side by side on two worker threads as
            # the screen asks for them: the time until both have arrived.
            bench.measure(
                result.timings,
                f"{label}, as the Aging screen shows it ({as_of})",
                lambda as_of=as_of: side_by_side(
                    lambda: aging.aging(db, actor, as_of, include_customers=False),
                    lambda: aging.customer_page(db, actor, as_of),
                ),
                lambda r: (
                    f"{len(r[0].currencies)} currencies, first {len(r[1].rows)} of "
                    f"{r[1].count:,} customers"
                ),
                runs,
                short.replace("aging", "aging screen"),
            )

        kpis = service("kpis")
        date_from, date_to = last_quarter(today)
        label = f"KPIs, last quarter ({date_from}..{date_to}), EUR"
        if kpis is None or not hasattr(kpis, "kpis"):
            unavailable(result, label)
        else:
            bench.log(f"{result.title}: KPIs")
            extra = (
                {"currency": "EUR"} if "currency" in inspect.signature(kpis.kpis).parameters else {}
            )
            bench.measure(
                result.timings,
                label,
                lambda: kpis.kpis(db, actor, date_from, date_to, **extra),
                lambda k: (
                    f"DSO {k.dso}, best {k.best_possible_dso}, CEI {k.cei}, "
                    f"countback {k.countback_dso}"
                ),
                runs,
                "KPIs quarter",
            )

        customer_id, n, open_n = big_customer(db)
        queries = service("ledger_queries")
        who = f"customer {customer_id}: {n:,} items, {open_n:,} open"
        for label, short, name in (
            (f"Open items of the largest customer ({who})", "open items", "open_items"),
            (f"History of the largest customer ({who})", "history", "history"),
        ):
            if queries is None or not hasattr(queries, name):
                unavailable(result, label)
                continue
            bench.log(f"{result.title}: {name}")
            call = (
                (lambda: queries.open_items(db, actor, customer_id, today))
                if name == "open_items"
                else (lambda: queries.history(db, actor, customer_id))
            )
            bench.measure(
                result.timings, label, call, lambda rows: f"{len(rows):,} rows", runs, short
            )

        invoices = service("invoices")
        if invoices is None or not hasattr(invoices, "list_invoices"):
            unavailable(result, "Invoice list, first page")
        else:
            bench.log(f"{result.title}: invoice list")
            query_type = invoices.InvoiceQuery
            collector_id, customer_prefix = list_filters(db)
            for label, short, query in (
                ("Invoice list, open, by due date", "", query_type(status="open", as_of=today)),
                (
                    "Invoice list, overdue, segment Enterprise",
                    "invoice list overdue+segment",
                    query_type(status="overdue", segment="Enterprise", as_of=today),
                ),
                (
                    "Invoice list, search 'INV-00012'",
                    "invoice list number search",
                    query_type(status="all", search="INV-00012", as_of=today),
                ),
                (
                    f"Invoice list, search customer '{customer_prefix}'",
                    "",
                    query_type(status="all", search=customer_prefix, as_of=today),
                ),
                (
                    "Invoice list, disputed, by amount desc",
                    "",
                    query_type(status="disputed", sort_key="amount", descending=True, as_of=today),
                ),
                (
                    f"Invoice list, open, collector #{collector_id}",
                    "",
                    query_type(status="open", collector_id=collector_id, as_of=today),
                ),
                (
                    "Invoice list, open, due in the next 30 days",
                    "",
                    query_type(
                        status="open",
                        due_from=today,
                        due_to=today + timedelta(days=30),
                        as_of=today,
                    ),
                ),
                (
                    "Invoice list, open, amount 10,000-20,000",
                    "",
                    query_type(
                        status="open",
                        amount_min=Decimal(10_000),
                        amount_max=Decimal(20_000),
                        as_of=today,
                    ),
                ),
                (
                    "Invoice list, all items, by amount desc",
                    "",
                    query_type(status="all", sort_key="amount", descending=True, as_of=today),
                ),
            ):
                bench.measure(
                    result.timings,
                    f"{label}: first page",
                    lambda q=query: invoices.list_invoices(db, actor, q),
                    lambda rows: f"{len(rows)} rows",
                    runs,
                    short,
                )
                if hasattr(invoices, "count_invoices"):
                    bench.measure(
                        result.timings,
                        f"{label}: count",
                        lambda q=query: invoices.count_invoices(db, actor, q),
                        lambda c: f"{c:,}",
                        runs,
                    )
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def print_engine(r: EngineResult, args: Any) -> None:
    print()
    print(f"==== {r.title}: {r.url_shown} ====")
    if r.generate_s is not None:
        print(
            f"Generate {args.customers:,} customers + {args.invoices:,} invoices "
            f"(demo-data subprocess, wall)  {r.generate_s:.1f} s"
        )
        for line in r.app_lines:
            print(f"    app: {line}")
    if r.reused:
        print(f"Ledger reused, not generated: {r.reused}")
    if r.upgrade:
        print(f"Schema upgrade of the kept ledger: {r.upgrade}")
    if r.vacuum_s is not None:
        print(f"VACUUM ANALYZE  {r.vacuum_s:.1f} s")
    if r.db_size:
        print(f"Database size  {r.db_size}")
    if r.counts:
        print("Rows  " + ", ".join(f"{k} {v:,}" for k, v in r.counts.items()))
    bench.print_timings(r.timings, LEDGER_AIMS)
    if r.import_s is not None:
        rate = r.import_rows / r.import_s
        print()
        print(
            f"Import {r.import_rows:,} invoices (subprocess, wall)  {r.import_s:.1f} s, "
            f"{rate:,.0f} rows/s"
        )
        print(f"    app: {r.import_line}")
        if r.import_phases:
            print(f"    phases: {r.import_phases}")
        if r.copy_floor_s is not None:
            print(
                f"    the same invoices by COPY alone (no Python; keys, checks and foreign keys "
                f"as in the import): {r.copy_floor_s:.1f} s, "
                f"{r.import_rows / r.copy_floor_s:,.0f} rows/s"
            )
    elif r.import_error:
        print(f"Import invoices  {r.import_error}")
    if r.failed:
        print(f"FAILED: {r.failed}")


def summary_line(r: EngineResult, args: Any) -> str:
    parts = []
    if r.generate_s is not None:
        parts.append(
            f"generate {args.customers:,} customers + {args.invoices:,} invoices "
            f"{r.generate_s:.0f} s"
        )
        ledger = [line for line in r.app_lines if "invoices" in line]
        if ledger and " in " in ledger[-1]:
            parts[-1] += f" (ledger {ledger[-1].rsplit(' in ', 1)[1]})"
    if r.reused:
        parts.append("ledger reused (--cache)")
    if r.vacuum_s is not None:
        parts.append(f"VACUUM ANALYZE {r.vacuum_s:.0f} s")
    if "open invoices" in r.counts:
        parts.append(f"{r.counts['open invoices']:,} open")
    parts += [t.summary() for t in r.timings if t.short]
    if r.import_s is not None:
        parts.append(
            f"import {r.import_rows:,} invoices {r.import_s:.0f} s "
            f"({r.import_rows / r.import_s:,.0f} rows/s)"
        )
    elif r.import_error:
        parts.append(f"import {r.import_error}")
    if r.failed:
        parts.append(f"FAILED: {r.failed}")
    return f"{r.title}: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def prepare(result: EngineResult, target: bench.Target, env: dict[str, str], args: Any) -> None:
    """Fill the run's database: generated, or (with --cache) copied from a ledger generated by
    an earlier run with the same size and seed, which is kept for the next one. Generating
    2,000,000 invoices takes about ten minutes per engine; a copy, seconds. The import step
    changes only the copy."""
    kept = bench.kept_ledger(target.engine, args.cache, args.customers, args.invoices, args.seed)
    result.reused = bench.copy_kept_ledger(target, kept)
    if result.reused:
        return
    generated = bench.generate_demo_data(target, env, args.customers, args.invoices, args.seed)
    result.generate_s, result.app_lines = generated.seconds, generated.app_lines
    result.vacuum_s = generated.vacuum_s
    if kept is not None:
        target.keep_as(kept)


def run_engine(target: bench.Target, args: argparse.Namespace, base: Path) -> EngineResult:
    result = EngineResult(target.engine)
    try:
        result.url_shown = target.url.render_as_string(hide_password=True)
        env = bench.app_env(base, target.engine)
        prepare(result, target, env, args)
        upgrade = bench.upgrade_schema(target.url)
        if upgrade.before != upgrade.after:
            result.upgrade = str(upgrade)
        result.db_size = target.size()
        in_process(result, target, args)
        if args.import_rows > 0:
            import_invoices(result, target, env, base, args)
            copy_floor(result, target, args)
    except Exception as exc:
        result.failed = bench.error_text(exc)
    print_engine(result, args)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=200_000, invoices=2_000_000)
    bench.add_engine_options(parser)
    bench.add_runs_option(parser)
    parser.add_argument(
        "--import-rows",
        type=int,
        default=1_000_000,
        metavar="R",
        help="rows of the generated invoice file to import (0: no import)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each generated ledger (SQLite: a file in DIR; PostgreSQL: a database "
        "o2c_lbench_c<N>_i<M>_s<seed>) and start later runs of the same size and seed from a "
        "copy of it instead of generating again",
    )
    args = parser.parse_args(argv)
    results = bench.run_benchmark(
        f"O2C Desktop ledger benchmark: {args.customers:,} customers, {args.invoices:,} invoices "
        f"(demo-data, seed {args.seed})",
        "lbench",
        args,
        lambda target, base: run_engine(target, args, base),
        lambda result: summary_line(result, args),
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
