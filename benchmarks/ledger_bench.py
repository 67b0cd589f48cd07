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
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout even without the editable install
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import URL, Engine  # noqa: E402

from o2c_desktop.config import parse_url  # noqa: E402
from o2c_desktop.db import Database, migrate  # noqa: E402
from o2c_desktop.models import Customer, Invoice  # noqa: E402
from o2c_desktop.services.users import sign_in  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
NOT_AVAILABLE = "not available yet"
LEDGER_TARGET_MS = 100.0  # opening a customer's ledger should feel instant


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    runs: list[float] = field(default_factory=list)
    detail: str = ""
    error: str | None = None
    short: str = ""  # label in the summary line ("" = not in the summary)

    @property
    def first(self) -> float:
        return self.runs[0]

    @property
    def warm(self) -> float:
        """Best of the runs after the first (the first alone when there is one run)."""
        return min(self.runs[1:]) if len(self.runs) > 1 else self.runs[0]

    def text(self) -> str:
        if self.error:
            return self.error
        if len(self.runs) == 1:
            return f"{fmt_s(self.first)}" + (f"  ({self.detail})" if self.detail else "")
        return f"first {fmt_s(self.first)}, warm {fmt_s(self.warm)}" + (
            f"  ({self.detail})" if self.detail else ""
        )


@dataclass
class EngineResult:
    engine: str
    url_shown: str = ""
    failed: str | None = None
    generate_s: float | None = None
    app_lines: list[str] = field(default_factory=list)
    vacuum_s: float | None = None
    db_size: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)
    import_s: float | None = None
    import_rows: int = 0
    import_line: str = ""
    import_error: str | None = None
    import_phases: str = ""  # the import's own log line: where its time went
    reused: str = ""  # the kept ledger this run copied (--cache), instead of generating
    upgrade: str = ""  # schema migration of a kept ledger

    @property
    def title(self) -> str:
        return ENGINE_NAMES[self.engine]


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


class Target:
    """A fresh, empty database for one engine, and how to get rid of it."""

    engine: str
    url: URL

    def cleanup(self, keep: bool) -> None:
        raise NotImplementedError

    def size(self) -> str:
        raise NotImplementedError


def cache_name(args: Any) -> str:
    """What a kept, generated ledger is called: its size and seed."""
    return f"c{args.customers}_i{args.invoices}_s{args.seed}"


class SqliteTarget(Target):
    def __init__(self, base: Path):
        self.engine = "sqlite"
        self.folder = base / "sqlite"
        self.folder.mkdir()
        self.path = self.folder / "lbench.sqlite3"
        self.url = parse_url(f"sqlite:///{self.path}")

    def template(self, cache: Path, args: Any) -> Path:
        return cache / f"lbench-{args.customers}-{args.invoices}-s{args.seed}.sqlite3"

    def clone_from(self, template: Path) -> None:
        """This run's database as a copy of a kept one (its WAL checkpointed first)."""
        with sqlite3.connect(template) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(template, self.path)

    def keep_as(self, template: Path) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, template)

    def size(self) -> str:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        total = sum(f.stat().st_size for f in files if f.exists())
        return f"{total / 1e6:,.0f} MB (file + WAL)"

    def cleanup(self, keep: bool) -> None:
        if keep:
            print(f"Kept the SQLite database: {self.url.render_as_string()}")


class PostgresTarget(Target):
    def __init__(self, admin_url: str):
        self.engine = "postgresql"
        self.admin_url = parse_url(admin_url)
        self.name = f"o2c_lbench_{os.getpid()}"
        self.url = self.admin_url.set(database=self.name)
        self.admin: Engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created = False
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def template(self, args: Any) -> str:
        return f"o2c_lbench_{cache_name(args)}"

    def has_database(self, name: str) -> bool:
        with self.admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.scalar() is not None

    def clone_from(self, template: str) -> None:
        """This run's database as a copy of a kept one (CREATE DATABASE … TEMPLATE)."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{self.name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')

    def keep_as(self, template: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{template}" TEMPLATE "{self.name}"')

    def vacuum_analyze(self) -> float:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                started = time.perf_counter()
                conn.exec_driver_sql("VACUUM ANALYZE")
                return time.perf_counter() - started
        finally:
            engine.dispose()

    def size(self) -> str:
        with self.admin.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(:n)"), {"n": self.name}).scalar()
        return f"{(size or 0) / 1e6:,.0f} MB (pg_database_size)"

    def cleanup(self, keep: bool) -> None:
        if not self.created:
            return
        if keep:
            print(f"Kept the PostgreSQL database: {self.url.render_as_string()}")
        else:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


# ---------------------------------------------------------------------------------------------
# Subprocesses: generating and importing
# ---------------------------------------------------------------------------------------------


def app_env(base: Path, engine: str) -> dict[str, str]:
    """The app's environment: its own data/config folders, so no real settings are touched."""
    env = dict(os.environ)
    env.pop("O2C_DATABASE_URL", None)
    for name in ("data", "config", "xdg-config"):
        (base / f"{engine}-{name}").mkdir(exist_ok=True)
    env["O2C_DATA_DIR"] = str(base / f"{engine}-data")
    env["O2C_CONFIG_DIR"] = str(base / f"{engine}-config")
    env["XDG_CONFIG_HOME"] = str(base / f"{engine}-xdg-config")
    env["PYTHONUNBUFFERED"] = "1"
    return env


# `python -m o2c_desktop` with the import's INFO log on (its phase timings) and nothing else.
IMPORT_LOGGING = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING, format='%(message)s'); "
    "logging.getLogger('o2c_desktop.services.ledger_import').setLevel(logging.INFO); "
    "from o2c_desktop.cli import main; sys.exit(main(sys.argv[1:]))"
)


def app(
    url: URL, env: dict[str, str], *args: str, log_import: bool = False
) -> tuple[float, subprocess.CompletedProcess[str]]:
    entry = ["-c", IMPORT_LOGGING] if log_import else ["-m", "o2c_desktop"]
    command = [
        sys.executable,
        *entry,
        "--database",
        url.render_as_string(hide_password=False),
        *args,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - started, done


def last_line(text_: str) -> str:
    lines = text_.strip().splitlines()
    return lines[-1] if lines else "(no output)"


def generate(result: EngineResult, target: Target, env: dict[str, str], args: Any) -> None:
    log(f"{result.title}: generating {args.customers:,} customers, {args.invoices:,} invoices")
    seconds, done = app(
        target.url,
        env,
        "demo-data",
        "--customers",
        str(args.customers),
        "--invoices",
        str(args.invoices),
        "--seed",
        str(args.seed),
    )
    result.generate_s = seconds
    if done.returncode != 0:
        raise RuntimeError(
            f"demo-data exited with code {done.returncode}: {last_line(done.stderr)}"
        )
    result.app_lines = done.stdout.strip().splitlines()


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
    result: EngineResult, target: Target, env: dict[str, str], base: Path, args: Any
) -> None:
    try:
        import o2c_desktop.services.ledger_import  # noqa: F401
    except ImportError:
        result.import_error = NOT_AVAILABLE
        return
    path = base / f"{target.engine}-invoices.csv"
    log(f"{result.title}: writing a {args.import_rows:,}-row invoice file")
    write_import_file(path, args.import_rows, args.customers, args.seed)
    log(f"{result.title}: importing it")
    seconds, done = app(
        target.url,
        env,
        "import",
        "invoices",
        str(path),
        "--create-missing-customers",
        log_import=True,
    )
    path.unlink(missing_ok=True)
    if done.returncode != 0:
        result.import_error = f"exit code {done.returncode}: {last_line(done.stderr)}"
        return
    result.import_s = seconds
    result.import_rows = args.import_rows
    result.import_line = last_line(done.stdout)
    phases = [line for line in done.stderr.splitlines() if " rows in " in line]
    result.import_phases = phases[-1] if phases else ""


# ---------------------------------------------------------------------------------------------
# In-process measurements
# ---------------------------------------------------------------------------------------------


def measure(
    result: EngineResult,
    label: str,
    call: Callable[[], Any],
    describe: Callable[[Any], str],
    runs: int,
    short: str = "",
) -> Timing:
    timing = Timing(label, short=short)
    result.timings.append(timing)
    try:
        for _ in range(runs):
            started = time.perf_counter()
            value = call()
            timing.runs.append(time.perf_counter() - started)
        timing.detail = describe(value)
    except Exception as exc:
        timing.error = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return timing


def unavailable(result: EngineResult, label: str) -> None:
    result.timings.append(Timing(label, error=NOT_AVAILABLE))


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


def in_process(result: EngineResult, target: Target, args: Any) -> None:
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
            log(f"{result.title}: {label}")
            measure(
                result,
                f"{label} ({as_of})",
                lambda as_of=as_of: aging.aging(db, actor, as_of),
                lambda r: f"{len(r.customers):,} customer rows, {len(r.currencies)} currencies",
                runs,
                short,
            )

        kpis = service("kpis")
        date_from, date_to = last_quarter(today)
        label = f"KPIs, last quarter ({date_from}..{date_to}), EUR"
        if kpis is None or not hasattr(kpis, "kpis"):
            unavailable(result, label)
        else:
            log(f"{result.title}: KPIs")
            extra = (
                {"currency": "EUR"} if "currency" in inspect.signature(kpis.kpis).parameters else {}
            )
            measure(
                result,
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
            log(f"{result.title}: {name}")
            call = (
                (lambda: queries.open_items(db, actor, customer_id, today))
                if name == "open_items"
                else (lambda: queries.history(db, actor, customer_id))
            )
            measure(result, label, call, lambda rows: f"{len(rows):,} rows", runs, short)

        invoices = service("invoices")
        if invoices is None or not hasattr(invoices, "list_invoices"):
            unavailable(result, "Invoice list, first page")
        else:
            log(f"{result.title}: invoice list")
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
                measure(
                    result,
                    f"{label}: first page",
                    lambda q=query: invoices.list_invoices(db, actor, q),
                    lambda rows: f"{len(rows)} rows",
                    runs,
                    short,
                )
                if hasattr(invoices, "count_invoices"):
                    measure(
                        result,
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
    if r.timings:
        print()
        width = max(len(t.label) for t in r.timings)
        for t in r.timings:
            flag = ""
            if t.short in ("open items", "history") and t.runs and t.warm * 1000 > LEDGER_TARGET_MS:
                flag = f"  [over {LEDGER_TARGET_MS:.0f} ms]"
            print(f"{t.label:<{width}}  {t.text()}{flag}")
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
    for t in r.timings:
        if not t.short:
            continue
        if t.error:
            parts.append(f"{t.short} {t.error}")
        else:
            parts.append(f"{t.short} {fmt_s(t.warm)} (first {fmt_s(t.first)})")
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


def machine_facts(pg_version: str | None) -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import sqlalchemy

    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.1f} {:.1f} {:.1f} at start".format(*os.getloadavg())
    facts = [
        f"nproc {nproc} ({cpu}){ram}{load}",
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
        f"PostgreSQL {pg_version}" if pg_version else "PostgreSQL not measured",
        f"SQLAlchemy {sqlalchemy.__version__}",
    ]
    return "; ".join(facts)


def pg_facts(admin_url: str) -> tuple[str | None, str]:
    try:
        engine = create_engine(parse_url(admin_url))
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            settings = ", ".join(
                f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar()}"
                for name in ("shared_buffers", "work_mem", "effective_cache_size", "max_wal_size")
            )
        engine.dispose()
        return str(version).split()[0], settings
    except Exception as exc:
        return None, f"(could not ask the server: {exc})"


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def prepare(result: EngineResult, target: Target, env: dict[str, str], args: Any) -> None:
    """Fill the run's database: generated, or (with --cache) copied from a ledger generated by
    an earlier run with the same size and seed, which is kept for the next one. Generating
    2,000,000 invoices takes about ten minutes per engine; a copy, seconds. The import step
    changes only the copy."""
    cache = Path(args.cache) if args.cache else None
    if isinstance(target, SqliteTarget):
        template = target.template(cache, args) if cache else None
        if template is not None and template.exists():
            log(f"SQLite: copying the kept ledger {template}")
            started = time.perf_counter()
            target.clone_from(template)
            result.reused = f"{template} (copied in {time.perf_counter() - started:.1f} s)"
            return
        generate(result, target, env, args)
        if template is not None:
            target.keep_as(template)
        return
    assert isinstance(target, PostgresTarget)
    name = target.template(args) if cache else None
    if name is not None and target.has_database(name):
        log(f"PostgreSQL: copying the kept ledger {name}")
        started = time.perf_counter()
        target.clone_from(name)
        result.reused = f"database {name} (copied in {time.perf_counter() - started:.1f} s)"
        return
    generate(result, target, env, args)
    log("PostgreSQL: VACUUM ANALYZE")
    result.vacuum_s = target.vacuum_analyze()
    if name is not None:
        target.keep_as(name)


def upgrade_schema(result: EngineResult, target: Target) -> None:
    """A kept ledger may be older than the code: migrate it as the app would on start."""
    db = Database(target.url)
    try:
        started = time.perf_counter()
        before = migrate.current_revision(db)
        migrate.upgrade(db)
        after = migrate.current_revision(db)
        if before != after:
            result.upgrade = f"{before} -> {after} in {time.perf_counter() - started:.1f} s"
    finally:
        db.dispose()


def run_engine(engine: str, args: argparse.Namespace, base: Path) -> EngineResult:
    result = EngineResult(engine)
    target: Target | None = None
    try:
        target = SqliteTarget(base) if engine == "sqlite" else PostgresTarget(args.pg_url)
        result.url_shown = target.url.render_as_string(hide_password=True)
        env = app_env(base, engine)
        prepare(result, target, env, args)
        upgrade_schema(result, target)
        result.db_size = target.size()
        in_process(result, target, args)
        if args.import_rows > 0:
            import_invoices(result, target, env, base, args)
    except Exception as exc:
        result.failed = f"{type(exc).__name__}: {exc}"
    try:
        print_engine(result, args)
    finally:
        if target is not None:
            try:
                target.cleanup(args.keep)
            except Exception as exc:
                print(f"Could not clean up the {result.title} database: {exc}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000, metavar="N")
    parser.add_argument("--invoices", type=int, default=2_000_000, metavar="M")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL admin URL")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3, metavar="K", help="runs per measurement")
    parser.add_argument(
        "--import-rows",
        type=int,
        default=1_000_000,
        metavar="R",
        help="rows of the generated invoice file to import (0: no import)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases it made")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each generated ledger (SQLite: a file in DIR; PostgreSQL: a database "
        "o2c_lbench_c<N>_i<M>_s<seed>) and start later runs of the same size and seed from a "
        "copy of it instead of generating again",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINE_NAMES]
    if unknown or not engines:
        parser.error(f"--engines takes sqlite and/or postgresql, not {', '.join(unknown)}")
    if args.customers < 10 or args.invoices < 10:
        parser.error("--customers and --invoices must be at least 10")
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    pg_version, pg_settings = pg_facts(args.pg_url) if "postgresql" in engines else (None, "")
    facts = machine_facts(pg_version)
    print(
        f"O2C Desktop ledger benchmark: {args.customers:,} customers, {args.invoices:,} invoices, "
        f"seed {args.seed}"
    )
    print(f"Machine: {facts}")
    if pg_settings:
        print(f"PostgreSQL settings: {pg_settings}")

    base = Path(tempfile.mkdtemp(prefix="o2c_lbench_"))
    results = []
    try:
        for engine in engines:
            results.append(run_engine(engine, args, base))
    finally:
        if args.keep:
            print(f"Kept the work folder {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print("==== Summary ====")
    print(
        f"{args.customers:,} customers, {args.invoices:,} invoices (demo-data, seed {args.seed}); "
        f"{facts}"
    )
    for r in results:
        print(summary_line(r, args))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
