#!/usr/bin/env python
"""The customer list at scale: generate, start the GUI, type-ahead search, sort, deep pages.

A script, not a test: it builds a fresh database per engine (a temporary SQLite file; a
PostgreSQL database named o2c_bench_<pid> that is dropped at the end unless --keep), fills it
with `o2c-desktop demo-data`, and prints figures plus a summary block to paste into a note.

    .venv/bin/python benchmarks/customers_bench.py                    # 200,000 customers, both
    .venv/bin/python benchmarks/customers_bench.py --customers 5000 --engines sqlite

What is measured, per engine:
1. `o2c-desktop --database URL demo-data --customers N --seed S` as a subprocess, wall time
   (Python start-up and schema creation included). On PostgreSQL a VACUUM ANALYZE follows, timed
   separately: a real database gets that from autovacuum, a freshly COPYed one has no statistics.
2. Process start to customer list painted: the GUI as a subprocess with QT_QPA_PLATFORM=offscreen
   and O2C_BENCH_EXIT_AFTER_PAINT=1; the app prints `painted` once the list shows its first page
   and exits 0. Wall time from just before Popen to reading that line, several runs.
3. In-process, with the services the list uses: type-ahead queries (first page + count, as the
   list does per keystroke), keystroke-by-keystroke typing of one name, sorting by every key,
   and a deep page. Slow statements get their plan printed (EXPLAIN).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from o2c_desktop.db import Database
from o2c_desktop.models import Customer, CustomerSearchTerm
from o2c_desktop.services import customers as svc
from o2c_desktop.services.users import sign_in

PAGE = svc.PAGE_SIZE
DEEP_OFFSET = 150_000
# Words of a company name nobody types to find it (legal forms, "&").
NOISE = {"gmbh", "ag", "sas", "s.l.", "s.r.l.", "b.v.", "sp.", "z", "o.o.", "ltd", "inc.", "ab"}
NOISE |= {"a/s", "&"}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Measured:
    label: str
    query: svc.CustomerQuery
    offset: int
    list_s: float
    count_s: float | None = None
    rows: int = 0
    total: int | None = None
    kind: str = ""

    @property
    def seconds(self) -> float:
        return self.list_s + (self.count_s or 0.0)


@dataclass
class EngineResult(bench.EngineResult):
    url_shown: str = ""
    generate_s: float | None = None
    generate_app_line: str = ""
    vacuum_s: float | None = None
    db_size: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    gui_runs: list[float] = field(default_factory=list)
    gui_exit_s: list[float] = field(default_factory=list)
    gui_failed: str | None = None
    searches: list[Measured] = field(default_factory=list)
    keystrokes: list[Measured] = field(default_factory=list)
    typed: str = ""
    first_page: Measured | None = None
    sorts: list[Measured] = field(default_factory=list)
    deep: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The GUI as a subprocess
# ---------------------------------------------------------------------------------------------


def kill_group(proc: subprocess.Popen[str]) -> None:
    """Stop the GUI we started (its own process group, made by start_new_session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def gui_once(url: URL, env: dict[str, str], timeout: float) -> tuple[float, float]:
    """Seconds from just before Popen to the `painted` line, and from there to the exit."""
    env = {**env, "QT_QPA_PLATFORM": "offscreen", "O2C_BENCH_EXIT_AFTER_PAINT": "1"}
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            bench.app_command(url),
            env=env,
            cwd=bench.REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put((time.perf_counter(), line))
            lines.put((time.perf_counter(), None))

        threading.Thread(target=read, daemon=True).start()

        def stderr_tail() -> str:
            stderr.seek(0)
            tail = [ln for ln in stderr.read().strip().splitlines() if ln.strip()][-3:]
            return " | ".join(ln.strip() for ln in tail) or "(nothing on stderr)"

        deadline = started + timeout
        try:
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    kill_group(proc)
                    raise RuntimeError(
                        f"no 'painted' line within {timeout:g} s (is the "
                        f"O2C_BENCH_EXIT_AFTER_PAINT hook in the app?); stderr: {stderr_tail()}"
                    )
                try:
                    at, line = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if line is None:
                    code = proc.wait(timeout=10)
                    raise RuntimeError(
                        f"the app exited with code {code} without printing 'painted'; "
                        f"stderr: {stderr_tail()}"
                    )
                if line.strip() == "painted":
                    painted = at - started
                    break
            try:
                code = proc.wait(timeout=max(5.0, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                kill_group(proc)
                raise RuntimeError(
                    f"printed 'painted' after {painted:.2f} s but did not exit"
                ) from None
            exited = time.perf_counter() - started - painted
            if code != 0:
                raise RuntimeError(
                    f"printed 'painted' after {painted:.2f} s but exited with code {code}; "
                    f"stderr: {stderr_tail()}"
                )
            return painted, exited
        finally:
            if proc.poll() is None:
                kill_group(proc)


def gui(result: EngineResult, target: bench.Target, env: dict[str, str], runs: int, timeout: float):
    for run in range(1, runs + 1):
        bench.log(f"{result.title}: GUI start {run}/{runs}")
        try:
            painted, exited = gui_once(target.url, env, timeout)
        except Exception as exc:
            result.gui_failed = f"run {run}: {exc}"
            return
        result.gui_runs.append(painted)
        result.gui_exit_s.append(exited)


# ---------------------------------------------------------------------------------------------
# In-process: search, sort, deep pages
# ---------------------------------------------------------------------------------------------


def name_words(name: str) -> list[str]:
    return [w for w in name.split() if w.lower() not in NOISE and len(w) >= 3]


def pick_queries(db: Database, seed: int) -> tuple[str, list[tuple[str, str]], str]:
    """A warm-up query, 20 (kind, query) pairs typical of someone looking for a customer, and a
    name to type letter by letter; all drawn with a fixed seed from the data itself."""
    rng = random.Random(seed)
    with db.read() as session:
        max_id = session.scalar(select(func.max(Customer.id))) or 0
        ids = rng.sample(range(1, max_id + 1), min(200, max_id))
        rows = session.execute(
            select(Customer.number, Customer.name, Customer.tax_id)
            .where(Customer.id.in_(ids))
            .order_by(Customer.id)
        ).all()
    rows = list(rows)
    rng.shuffle(rows)
    prefixes: list[str] = []
    two_words: list[str] = []
    for _number, name, _tax in rows:
        significant = name_words(name)
        if not significant:
            continue
        word = rng.choice(significant)
        prefix = word[: rng.choice((3, 4))].lower()
        if prefix not in prefixes and len(prefixes) < 12:
            prefixes.append(prefix)
        if len(significant) >= 2 and len(two_words) < 4:
            pair = f"{significant[0][:3].lower()} {significant[1][:3].lower()}"
            if pair not in two_words:
                two_words.append(pair)
    warmup, prefixes = prefixes[0], prefixes[1:12]
    numbers = ["C00012", rows[1][0][:6]]
    taxes = [r[2] for r in rows[2:4]]
    queries = [("name prefix", p) for p in prefixes]
    queries += [("number prefix", n) for n in numbers]
    queries += [("tax ID", t) for t in taxes]
    queries += [("two words", w) for w in two_words]
    queries.append(("no match", "qxz"))
    # A name to type: the first with two significant words.
    typed = next(
        (" ".join(name_words(r[1])[:2]) for r in rows if len(name_words(r[1])) >= 2), "Nordic"
    )
    return warmup, queries, typed


def measure(
    db: Database,
    actor: Any,
    label: str,
    query: svc.CustomerQuery,
    offset: int = 0,
    count: bool = True,
    kind: str = "",
) -> Measured:
    list_s, rows = bench.timed(lambda: svc.list_customers(db, actor, query, offset, PAGE))
    m = Measured(label, query, offset, list_s, rows=len(rows), kind=kind)
    if count:
        m.count_s, m.total = bench.timed(lambda: svc.count_customers(db, actor, query))
    return m


def in_process(result: EngineResult, target: bench.Target, n: int, seed: int) -> Database:
    db = Database(target.url)
    actor = sign_in(db)
    with db.read() as session:
        result.rows = {
            "customers": session.scalar(select(func.count()).select_from(Customer)) or 0,
            "search terms": session.scalar(select(func.count()).select_from(CustomerSearchTerm))
            or 0,
        }
    warmup, queries, typed = pick_queries(db, seed)
    bench.log(f"{result.title}: first page, {len(queries)} searches, keystrokes, sorts, deep pages")
    measure(db, actor, warmup, svc.CustomerQuery(search=warmup))
    result.first_page = measure(db, actor, "first page (name order)", svc.CustomerQuery())
    for kind, q in queries:
        result.searches.append(measure(db, actor, q, svc.CustomerQuery(search=q), kind=kind))
    result.typed = typed
    for i in range(1, len(typed) + 1):
        q = typed[:i]
        if q.endswith(" "):
            continue  # the same words as the keystroke before
        result.keystrokes.append(measure(db, actor, q, svc.CustomerQuery(search=q)))
    for key in svc.SORT_KEYS:
        for descending in (False, True):
            query = svc.CustomerQuery(sort_key=key, descending=descending)
            label = f"{key} {'desc' if descending else 'asc'}"
            result.sorts.append(measure(db, actor, label, query, count=False))
    offset = min(DEEP_OFFSET, max(0, n - PAGE))
    for key in ("name", "number"):
        query = svc.CustomerQuery(sort_key=key)
        result.deep.append(
            measure(db, actor, f"offset {offset:,} by {key}", query, offset, count=False)
        )
    return db


def explain(db: Database, m: Measured, count: bool) -> str:
    """The plan of a measured statement (EXPLAIN ANALYZE on PostgreSQL, so it runs again)."""
    if count:
        base = select(func.count(Customer.id)).select_from(Customer)
        stmt = svc._filtered(m.query, base, db.kind)
    else:
        stmt = svc._list_statement(m.query, db.kind).offset(m.offset).limit(PAGE)
    sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db.kind == "postgresql" else "EXPLAIN QUERY PLAN "
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql).all()
    if db.kind == "postgresql":
        return "\n".join(r[0] for r in rows)
    return "\n".join(f"{r[1]:>3} {r[2]:>3}  {r[3]}" for r in rows)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def gui_text(r: EngineResult, short: bool = False) -> str:
    if r.gui_runs and not r.gui_failed:
        each = ", ".join(f"{s:.2f}" for s in r.gui_runs)
        return f"median {statistics.median(r.gui_runs):.2f} s ({each})"
    if not r.gui_failed:
        return "not measured"
    reason = r.gui_failed.split("; stderr:")[0] if short else r.gui_failed
    if r.gui_runs:
        each = ", ".join(f"{s:.2f}" for s in r.gui_runs)
        return f"partial ({each} s), then failed ({reason})"
    return f"failed ({reason})"


def print_engine(r: EngineResult, n: int, explain_ms: float, db: Database | None) -> None:
    print()
    print(f"==== {r.title}: {r.url_shown} ====")
    if r.generate_s is not None:
        print(f"Generate {n:,} customers (demo-data subprocess, wall)  {secs(r.generate_s)}")
        if r.generate_app_line:
            print(f"  app's own line (after start-up and schema): {r.generate_app_line}")
    if r.vacuum_s is not None:
        print(
            f"VACUUM ANALYZE afterwards  {secs(r.vacuum_s)}  (not part of the figure above; a "
            "real database gets this from autovacuum)"
        )
    if r.db_size:
        print(f"Database size  {r.db_size}")
    if r.rows:
        print("Rows  " + ", ".join(f"{k} {v:,}" for k, v in r.rows.items()))
    if r.failed:
        print(f"FAILED: {r.failed}")
    print(f"Start to list painted  {gui_text(r)}")
    if r.gui_exit_s:
        print("  exit after painted  " + ", ".join(secs(s) for s in r.gui_exit_s))
    if r.first_page:
        f = r.first_page
        print(
            f"First page, no search (list {ms(f.list_s)} ms + count {ms(f.count_s or 0)} ms)"
            f"  {ms(f.seconds)} ms"
        )
    if r.searches:
        print(f"Search: first page of {PAGE} + count, per query, after one warm-up query")
        print(
            f"  {'query':<16} {'kind':<14} {'rows':>5} {'count':>8} {'list':>8} {'count':>8}"
            f" {'total ms':>9}"
        )
        for m in r.searches:
            print(
                f"  {m.label!r:<16} {m.kind:<14} {m.rows:>5} {m.total or 0:>8,} "
                f"{ms(m.list_s):>8} {ms(m.count_s or 0):>8} {ms(m.seconds):>9}"
            )
        totals = [m.seconds for m in r.searches]
        worst = max(r.searches, key=lambda m: m.seconds)
        print(
            f"  median {ms(statistics.median(totals))} ms, worst {ms(worst.seconds)} ms "
            f"({worst.label!r})"
        )
    if r.keystrokes:
        print(f"Typing {r.typed!r} key by key (list + count per keystroke, ms)")
        print("  " + "  ".join(f"{m.label!r} {ms(m.seconds)}" for m in r.keystrokes))
    if r.sorts:
        print(f"Sort the whole list, first page of {PAGE} (list only, ms)")
        by_key: dict[str, list[Measured]] = {}
        for m in r.sorts:
            by_key.setdefault(m.query.sort_key, []).append(m)
        print(f"  {'key':<14} {'asc':>8} {'desc':>8}")
        for key, pair in by_key.items():
            print(f"  {key:<14} " + " ".join(f"{ms(m.list_s):>8}" for m in pair))
    for m in r.deep:
        print(f"Deep page, {m.label}  {ms(m.list_s)} ms ({m.rows} rows)")
    for note in r.notes:
        print(f"Note: {note}")
    if db is None or explain_ms < 0:
        return
    slow: list[tuple[Measured, bool]] = []
    if r.searches:
        worst = max(r.searches, key=lambda m: m.seconds)
        slow.append((worst, (worst.count_s or 0) > worst.list_s))
    for m in [*r.searches, *r.keystrokes, *r.sorts, *r.deep]:
        for is_count, seconds in ((False, m.list_s), (True, m.count_s or 0)):
            if seconds * 1000 >= explain_ms and (m, is_count) not in slow:
                slow.append((m, is_count))
    slow.sort(key=lambda p: (p[0].count_s or 0) if p[1] else p[0].list_s, reverse=True)
    for m, is_count in slow[:6]:
        seconds = (m.count_s or 0) if is_count else m.list_s
        what = "count" if is_count else f"list (offset {m.offset})"
        print(f"\n-- EXPLAIN {what} for {m.label!r} ({ms(seconds)} ms):")
        try:
            print(explain(db, m, is_count))
        except Exception as exc:
            print(f"(could not explain: {exc})")


def summary_line(r: EngineResult, n: int) -> str:
    parts = []
    if r.generate_s is not None:
        extra = f" (+ VACUUM ANALYZE {r.vacuum_s:.1f} s)" if r.vacuum_s is not None else ""
        parts.append(f"generate {n:,} customers {r.generate_s:.1f} s{extra}")
    parts.append(f"start to list painted {gui_text(r, short=True)}")
    if r.searches:
        totals = [m.seconds for m in r.searches]
        worst = max(r.searches, key=lambda m: m.seconds)
        parts.append(
            f"search median {statistics.median(totals) * 1000:.0f} ms, "
            f"worst {worst.seconds * 1000:.0f} ms ({worst.label!r})"
        )
    if r.keystrokes:
        worst = max(r.keystrokes, key=lambda m: m.seconds)
        parts.append(f"keystroke worst {worst.seconds * 1000:.0f} ms ({worst.label!r})")
    if r.sorts:
        worst = max(r.sorts, key=lambda m: m.list_s)
        parts.append(f"sort worst {worst.list_s * 1000:.0f} ms ({worst.label})")
    for m in r.deep:
        parts.append(f"page at {m.label} {m.list_s * 1000:.0f} ms")
    if r.failed:
        parts.append(f"FAILED: {r.failed}")
    return f"{r.title}: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def run_engine(target: bench.Target, args: argparse.Namespace, base: Path) -> EngineResult:
    result = EngineResult(target.engine)
    db: Database | None = None
    try:
        result.url_shown = target.url.render_as_string(hide_password=True)
        env = bench.app_env(base, target.engine)
        generated = bench.generate_demo_data(target, env, args.customers, 0, args.seed)
        result.generate_s, result.vacuum_s = generated.seconds, generated.vacuum_s
        result.generate_app_line = generated.app_lines[-1] if generated.app_lines else ""
        result.db_size = target.size()
        if args.gui_runs > 0:
            gui(result, target, env, args.gui_runs, args.gui_timeout)
        db = in_process(result, target, args.customers, args.seed)
    except Exception as exc:
        result.failed = bench.error_text(exc)
    try:
        print_engine(result, args.customers, args.explain_ms, db)
    finally:
        if db is not None:
            db.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_demo_data_options(parser, customers=200_000)
    bench.add_engine_options(parser)
    parser.add_argument("--gui-runs", type=int, default=3, metavar="K", help="0 skips the GUI")
    parser.add_argument("--gui-timeout", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument(
        "--explain-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="print the plan of statements at least this slow (and of the worst search); "
        "negative: no plans",
    )
    args = parser.parse_args(argv)
    results = bench.run_benchmark(
        f"O2C Desktop customer list benchmark: {args.customers:,} customers "
        f"(demo-data, seed {args.seed})",
        "bench",
        args,
        lambda target, base: run_engine(target, args, base),
        lambda result: summary_line(result, args.customers),
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
