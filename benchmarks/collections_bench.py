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
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout even without the editable install
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

from o2c_desktop.config import parse_url  # noqa: E402
from o2c_desktop.db import Database, migrate  # noqa: E402
from o2c_desktop.db.bulk import bulk_insert  # noqa: E402
from o2c_desktop.models import Call, Customer, Invoice, Promise, Role, User, UserRole  # noqa: E402
from o2c_desktop.models.collections import CALL_OUTCOMES  # noqa: E402
from o2c_desktop.services.auth import Actor  # noqa: E402
from o2c_desktop.services.users import sign_in  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
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


def log(message: str) -> None:
    """Progress to stderr: stdout holds only the report."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass
class Timing:
    label: str
    short: str
    runs: list[float] = field(default_factory=list)
    detail: str = ""
    error: str | None = None

    @property
    def warm(self) -> float:
        return min(self.runs[1:]) if len(self.runs) > 1 else self.runs[0]

    def text(self) -> str:
        if self.error:
            return self.error
        if len(self.runs) == 1:
            return fmt_s(self.runs[0]) + (f"  ({self.detail})" if self.detail else "")
        return f"first {fmt_s(self.runs[0])}, warm {fmt_s(self.warm)}" + (
            f"  ({self.detail})" if self.detail else ""
        )


@dataclass
class Result:
    engine: str
    prepared: str = ""
    upgrade: str = ""
    loaded: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    failed: str | None = None

    @property
    def title(self) -> str:
        return ENGINE_NAMES[self.engine]


# ---------------------------------------------------------------------------------------------
# Databases: a copy of the kept ledger, or a generated one
# ---------------------------------------------------------------------------------------------


def app_env(base: Path, engine: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("O2C_DATABASE_URL", None)
    for name in ("data", "config", "xdg-config"):
        (base / f"{engine}-{name}").mkdir(exist_ok=True)
    env["O2C_DATA_DIR"] = str(base / f"{engine}-data")
    env["O2C_CONFIG_DIR"] = str(base / f"{engine}-config")
    env["XDG_CONFIG_HOME"] = str(base / f"{engine}-xdg-config")
    return env


def generate(url: URL, base: Path, engine: str, args: Any) -> str:
    log(f"{ENGINE_NAMES[engine]}: generating {args.customers:,} customers, {args.invoices:,}")
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "o2c_desktop",
            "--database",
            url.render_as_string(hide_password=False),
            "demo-data",
            "--customers",
            str(args.customers),
            "--invoices",
            str(args.invoices),
            "--seed",
            str(args.seed),
        ],
        env=app_env(base, engine),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        raise RuntimeError(f"demo-data exited with code {done.returncode}: {lines[-1]}")
    return f"generated in {time.perf_counter() - started:.0f} s"


class SqliteCopy:
    def __init__(self, base: Path, args: Any):
        self.path = base / "cbench.sqlite3"
        self.url = parse_url(f"sqlite:///{self.path}")
        self.args = args
        self.base = base

    def prepare(self) -> str:
        cache = Path(self.args.cache) if self.args.cache else None
        a = self.args
        kept = cache / f"lbench-{a.customers}-{a.invoices}-s{a.seed}.sqlite3" if cache else None
        if kept is None or not kept.exists():
            return generate(self.url, self.base, "sqlite", self.args)
        started = time.perf_counter()
        # Copy the file and its WAL as they are: opening the kept ledger to checkpoint it would
        # write to it.
        for suffix in ("", "-wal"):
            source = Path(str(kept) + suffix)
            if source.exists():
                shutil.copyfile(source, Path(str(self.path) + suffix))
        return f"copied {kept} in {time.perf_counter() - started:.1f} s"

    def cleanup(self, keep: bool) -> None:
        if keep:
            print(f"Kept the SQLite database: {self.url.render_as_string()}")


class PostgresCopy:
    def __init__(self, base: Path, args: Any):
        self.admin_url = parse_url(args.pg_url)
        self.name = f"o2c_cbench_{os.getpid()}"
        self.url = self.admin_url.set(database=self.name)
        self.args = args
        self.base = base
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created = False

    def _exists(self, name: str) -> bool:
        with self.admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.scalar() is not None

    def prepare(self) -> str:
        a = self.args
        kept = f"o2c_lbench_c{a.customers}_i{a.invoices}_s{a.seed}"
        started = time.perf_counter()
        with self.admin.connect() as conn:
            if a.cache and self._exists(kept):
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}" TEMPLATE "{kept}"')
                self.created = True
                return f"database {kept} copied in {time.perf_counter() - started:.1f} s"
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            self.created = True
        done = generate(self.url, self.base, "postgresql", self.args)
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()
        return done + " (and VACUUM ANALYZE)"

    def cleanup(self, keep: bool) -> None:
        if self.created and keep:
            print(f"Kept the PostgreSQL database: {self.url.render_as_string()}")
        elif self.created:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


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
        engine = create_engine(db.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE calls")
            conn.exec_driver_sql("VACUUM ANALYZE promises")
        engine.dispose()
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


def measure(
    result: Result,
    label: str,
    short: str,
    call: Callable[[], Any],
    describe: Callable[[Any], str],
    runs: int,
) -> Any:
    timing = Timing(label, short)
    result.timings.append(timing)
    value = None
    try:
        for _ in range(runs):
            started = time.perf_counter()
            value = call()
            timing.runs.append(time.perf_counter() - started)
        timing.detail = describe(value)
    except Exception as exc:
        timing.error = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return value


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
        log(f"{result.title}: {who}'s call list")
        mine = measure(
            result,
            f"Call list of {who} (as the collector)",
            "collector list",
            lambda: call_list.call_list(db, collector, today),
            lambda rows: f"{len(rows):,} customers, top score {rows[0].score if rows else 0}",
            runs,
        )
        log(f"{result.title}: the team's call list")
        team = measure(
            result,
            "Call list of the whole team (as the administrator)",
            "team list",
            lambda: call_list.call_list(db, admin, today, team=True),
            lambda rows: f"{len(rows):,} customers",
            runs,
        )
        if team:
            kinds = Counter(reason_kind(r) for row in team for r in row.reasons)
            result.reasons = kinds.most_common()
        log(f"{result.title}: a strategy change, then the collector's list")
        rules = dataclasses.replace(
            collection_strategy.DEFAULT_RULES, dpd_bands=((1, 1), (31, 10), (91, 100))
        )
        saved = collection_strategy.save_strategy(db, admin, None, "Bench: age first", rules)
        collection_strategy.activate(db, admin, saved.id, saved.version)
        reranked = measure(
            result,
            f"Call list of {who} after a strategy change",
            "collector list, new strategy",
            lambda: call_list.call_list(db, collector, today),
            lambda rows: f"{len(rows):,} customers, top score {rows[0].score if rows else 0}",
            runs,
        )
        if mine and reranked:
            moved = sum(
                1 for a, b in zip(mine[:50], reranked[:50], strict=False) if a.number != b.number
            )
            result.timings[-1].detail += f"; {moved} of the top 50 moved"
        collection_strategy.deactivate_all(db, admin)

        log(f"{result.title}: next customer (claims)")
        previous: list[int | None] = [None]

        def advance() -> Any:
            row = call_list.next_customer(db, collector, today, after=previous[0])
            previous[0] = row.customer_id if row else None
            return row

        measure(
            result,
            f"next_customer for {who} (list + claim + release)",
            "next customer",
            advance,
            lambda row: f"got {row.number}" if row else "nobody left",
            max(runs, 5),
        )
        if previous[0] is not None:
            claims.release(db, collector, previous[0])
        top = mine or []
        log(f"{result.title}: logging calls")
        logged = Timing(f"calls.log_call, {min(20, len(top))} calls as {who}", "log a call")
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
                logged.detail = f"median {fmt_s(statistics.median(logged.runs))} per call"
            else:
                logged.error = "no customers on the list"
        except Exception as exc:
            logged.error = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Report and main
# ---------------------------------------------------------------------------------------------


def print_engine(r: Result) -> None:
    print()
    print(f"==== {r.title} ====")
    for label, value in (("Ledger", r.prepared), ("Schema", r.upgrade), ("Added", r.loaded)):
        if value:
            print(f"{label}: {value}")
    if r.counts:
        print("Rows  " + ", ".join(f"{k} {v:,}" for k, v in r.counts.items()))
    if r.timings:
        print()
        width = max(len(t.label) for t in r.timings)
        for t in r.timings:
            flag = ""
            aim = TARGETS.get(t.short)
            if aim and t.runs and not t.error and r.engine == "postgresql" and t.warm > aim:
                flag = f"  [over {fmt_s(aim)}]"
            print(f"{t.label:<{width}}  {t.text()}{flag}")
    if r.reasons:
        print()
        print("Reasons on the team's list: " + ", ".join(f"{k} {n:,}" for k, n in r.reasons))
    if r.failed:
        print(f"FAILED: {r.failed}")


def summary_line(r: Result) -> str:
    parts = []
    for t in r.timings:
        if t.error:
            parts.append(f"{t.short} {t.error}")
        elif t.short == "log a call":
            parts.append(f"{t.short} {t.detail}")
        else:
            parts.append(f"{t.short} {fmt_s(t.warm)} (first {fmt_s(t.runs[0])})")
    if r.failed:
        parts.append(f"FAILED: {r.failed}")
    return f"{r.title}: " + "; ".join(parts)


def machine_facts() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.1f} {:.1f} {:.1f} at start".format(*os.getloadavg())
    return (
        f"nproc {os.cpu_count()} ({cpu}){load}; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}"
    )


def run_engine(engine: str, args: Any, base: Path, today: date) -> Result:
    result = Result(engine)
    target: SqliteCopy | PostgresCopy | None = None
    try:
        target = SqliteCopy(base, args) if engine == "sqlite" else PostgresCopy(base, args)
        log(f"{result.title}: preparing the ledger")
        result.prepared = target.prepare()
        db = Database(target.url)
        try:
            started = time.perf_counter()
            before = migrate.current_revision(db)
            migrate.upgrade(db)
            after = migrate.current_revision(db)
            result.upgrade = f"{before} -> {after} in {time.perf_counter() - started:.1f} s"
            log(f"{result.title}: adding promises and calls")
            result.loaded = add_collections_data(db, args, today)
        finally:
            db.dispose()
        in_process(result, target.url, args, today)
    except Exception as exc:
        result.failed = f"{type(exc).__name__}: {exc}"
    try:
        print_engine(result)
    finally:
        if target is not None:
            try:
                target.cleanup(args.keep)
            except Exception as exc:
                print(f"Could not clean up the {result.title} database: {exc}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000, metavar="N")
    parser.add_argument("--invoices", type=int, default=2_000_000, metavar="M")
    parser.add_argument("--promises", type=int, default=20_000, metavar="P")
    parser.add_argument("--calls", type=int, default=100_000, metavar="C")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL admin URL")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3, metavar="K", help="runs per measurement")
    parser.add_argument("--keep", action="store_true", help="keep the databases it made")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="start from the ledger benchmarks/ledger_bench.py --cache DIR kept (a copy; the "
        "kept ledger is not changed), instead of generating one",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ENGINE_NAMES for e in engines):
        parser.error("--engines takes sqlite and/or postgresql")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    today = date.today()
    facts = machine_facts()
    print(
        f"O2C Desktop collections benchmark: {args.customers:,} customers, "
        f"{args.invoices:,} invoices, {args.promises:,} promises, {args.calls:,} calls, "
        f"seed {args.seed}, as of {today}"
    )
    print(f"Machine: {facts}")
    base = Path(tempfile.mkdtemp(prefix="o2c_cbench_"))
    results = []
    try:
        for engine in engines:
            results.append(run_engine(engine, args, base, today))
    finally:
        if args.keep:
            print(f"Kept the work folder {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print("==== Summary ====")
    print(f"{args.customers:,} customers, {args.invoices:,} invoices; {facts}")
    for r in results:
        print(summary_line(r))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
