"""What every benchmark script needs besides its own measurements, so that they all build their
databases, run the app, time things and report the same way.

- `run_benchmark`, the frame: the options every script takes (`add_engine_options`: --engines,
  --pg-url, --keep), the header with the machine and PostgreSQL facts (a figure means little
  without them), each engine in turn on its own database in one work folder, the clean-up, and
  the summary block to paste into a note.
- Databases (`SqliteTarget`, `PostgresTarget`): an SQLite file in the work folder, or a
  PostgreSQL database o2c_<name>_<pid> made through an admin URL and dropped at the end unless
  --keep; filled by `o2c-desktop demo-data` (`generate_demo_data`) or copied from a ledger that
  `ledger_bench.py --cache DIR` kept (`kept_ledger`, `copy_kept_ledger`; both in
  `kept_or_generated`, with the options `add_kept_ledger_options`), the copy migrated to the
  current schema as the app would on start (`upgrade_schema`).
- The app as a subprocess (`run_app`), with its own data and settings folders (`app_env`).
- Timing (`measure`, `Timing`): a measurement run K times, reported as the first run and the
  best of the others.

Progress goes to stderr (`log`), so that stdout holds only the report.

Each script imports this module from its own folder (`python benchmarks/x.py` puts that folder
first on sys.path; each script also puts it there itself); importing it puts the checkout on
sys.path, so the scripts run from a checkout even without the editable install.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout even without the editable install
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import URL, Engine  # noqa: E402

from o2c_desktop.config import parse_url  # noqa: E402
from o2c_desktop.db import Database, migrate  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Where `ledger_bench.py --cache` keeps its ledgers in the README's examples.
LEDGER_CACHE = Path("/tmp/o2c-lbench-cache")
PG_SETTINGS = ("shared_buffers", "work_mem", "effective_cache_size", "max_wal_size", "jit")

T = TypeVar("T")
R = TypeVar("R")


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass
class EngineResult:
    """What a benchmark found on one engine; each script adds its own figures. `failed` says why
    the engine could not be measured at all (and makes the exit code 1)."""

    engine: str
    failed: str | None = None

    @property
    def title(self) -> str:
        return ENGINE_NAMES[self.engine]


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds `fn` took, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


@dataclass
class Timing:
    """One measurement: the first run pays for cold caches, the best of the others is "warm"."""

    label: str
    short: str = ""  # its name in the summary line ("" = not in the summary)
    runs: list[float] = field(default_factory=list)
    detail: str = ""
    error: str | None = None
    by_detail: bool = False  # summarised by its detail (a median per call), not first/warm

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
        detail = f"  ({self.detail})" if self.detail else ""
        if len(self.runs) == 1:
            return fmt_s(self.first) + detail
        return f"first {fmt_s(self.first)}, warm {fmt_s(self.warm)}{detail}"

    def summary(self) -> str:
        """Its part of the summary line."""
        if self.error:
            return f"{self.short} {self.error}"
        if self.by_detail:
            return f"{self.short} {self.detail}"
        return f"{self.short} {fmt_s(self.warm)} (first {fmt_s(self.first)})"


def summary_of(result: EngineResult, timings: list[Timing], *first: str) -> str:
    """An engine's line in the summary block: `first` (what else it measured, "" for nothing),
    each timing's summary, and why the engine failed."""
    parts = [part for part in first if part] + [t.summary() for t in timings]
    if result.failed:
        parts.append(f"FAILED: {result.failed}")
    return f"{result.title}: " + "; ".join(parts)


def failed_run(exc: BaseException) -> str:
    """A measurement's error, on one line of the report."""
    return f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"


def measure(
    timings: list[Timing],
    label: str,
    call: Callable[[], Any],
    describe: Callable[[Any], str],
    runs: int,
    short: str = "",
) -> Any:
    """Call `call` `runs` times and add the Timing to `timings`, described by what the last call
    returned, and return that. A failure is the Timing's error, not an exception, so that the
    benchmark goes on (it returns what the last call that worked returned, or None)."""
    timing = Timing(label, short)
    timings.append(timing)
    value = None
    try:
        for _ in range(runs):
            seconds, value = timed(call)
            timing.runs.append(seconds)
        timing.detail = describe(value)
    except Exception as exc:
        timing.error = failed_run(exc)
    return value


def print_timings(timings: list[Timing], aims: dict[str, float] | None = None) -> None:
    """The timings as an aligned table; those slower than their aim (seconds, by short name,
    warm run) are flagged."""
    if not timings:
        return
    print()
    width = max(len(t.label) for t in timings)
    for t in timings:
        aim = (aims or {}).get(t.short)
        flag = ""
        if aim is not None and t.runs and not t.error and t.warm > aim:
            flag = f"  [over {fmt_s(aim)}]"
        print(f"{t.label:<{width}}  {t.text()}{flag}")


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def _version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except ImportError:
        return "not installed"


def machine_facts(pg_version: str | None) -> str:
    """CPU, RAM, load, OS and versions: on a shared machine other work slows every figure, so the
    load average at start is part of them."""
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
        f"SQLAlchemy {_version('sqlalchemy')}",
        f"PySide6 {_version('PySide6')}",
    ]
    return "; ".join(facts)


def pg_facts(admin_url: str) -> tuple[str | None, str]:
    """The server's version and the settings that decide most figures, or why it could not be
    asked."""
    try:
        engine = create_engine(parse_url(admin_url))
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            settings = ", ".join(
                f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar()}" for name in PG_SETTINGS
            )
        engine.dispose()
        return str(version).split()[0], settings
    except Exception as exc:
        return None, f"(could not ask the server: {exc})"


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


def kept_ledger(
    engine: str, cache: Path | str | None, customers: int, invoices: int, seed: int
) -> str | None:
    """Where `ledger_bench.py --cache DIR` keeps the ledger it generated with this size and seed:
    a file in DIR on SQLite, a database on PostgreSQL (None: no --cache)."""
    if cache is None:
        return None
    if engine == "sqlite":
        return str(Path(cache) / f"lbench-{customers}-{invoices}-s{seed}.sqlite3")
    return f"o2c_lbench_c{customers}_i{invoices}_s{seed}"


def vacuum_analyze(url: URL | str, *tables: str) -> float:
    """VACUUM ANALYZE (the whole database, or these tables) on PostgreSQL, in seconds: a database
    filled by COPY a moment ago has no planner statistics yet, a real one has them from
    autovacuum."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            started = time.perf_counter()
            for table in tables or ("",):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}".strip())
            return time.perf_counter() - started
    finally:
        engine.dispose()


class SqliteTarget:
    """This run's SQLite database: a file in the work folder (which goes at the end unless kept).
    The app creates it on first use."""

    engine = "sqlite"

    def __init__(self, base: Path, name: str):
        self.path = base / f"{name}.sqlite3"
        self.url = parse_url(f"sqlite:///{self.path}")

    def create(self) -> None:
        """Nothing to do: SQLite creates the file when the app first opens it."""

    def has(self, source: str) -> bool:
        return Path(source).exists()

    def copy_from(self, source: str) -> None:
        """Start from a copy of a kept database: the file and its WAL as they are, since opening
        the kept one to checkpoint it would write to it."""
        for suffix in ("", "-wal"):
            kept = Path(source + suffix)
            if kept.exists():
                shutil.copyfile(kept, Path(str(self.path) + suffix))

    def keep_as(self, kept: str) -> None:
        """Keep this database for later runs (checkpointed: one file)."""
        with sqlite3.connect(self.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        Path(kept).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, kept)

    def size(self) -> str:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        total = sum(f.stat().st_size for f in files if f.exists())
        return f"{total / 1e6:,.0f} MB (file + WAL)"

    def cleanup(self, keep: bool) -> None:
        if keep:
            print(f"Kept the SQLite database: {self.url.render_as_string()}")


class PostgresTarget:
    """This run's PostgreSQL database, o2c_<name>_<pid>: made through an admin URL, empty or as a
    copy of a kept one, and dropped at the end unless kept."""

    engine = "postgresql"

    def __init__(self, admin_url: str, name: str):
        self.admin_url = parse_url(admin_url)
        self.name = f"o2c_{name}_{os.getpid()}"
        self.url = self.admin_url.set(database=self.name)
        self.admin: Engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created = False

    def create(self, template: str | None = None) -> None:
        like = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"{like}')
        self.created = True

    def has(self, source: str) -> bool:
        with self.admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": source}
            )
            return found.scalar() is not None

    def copy_from(self, source: str) -> None:
        """Start from a copy of a kept database (CREATE DATABASE … TEMPLATE: nobody may be
        connected to it meanwhile)."""
        self.create(template=source)

    def keep_as(self, kept: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{kept}" TEMPLATE "{self.name}"')

    def size(self) -> str:
        with self.admin.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(:n)"), {"n": self.name}).scalar()
        return f"{(size or 0) / 1e6:,.0f} MB (pg_database_size)"

    def cleanup(self, keep: bool) -> None:
        if self.created and keep:
            print(f"Kept the PostgreSQL database: {self.url.render_as_string()}")
        elif self.created:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


Target = SqliteTarget | PostgresTarget


@dataclass
class SchemaUpgrade:
    before: str | None
    after: str | None
    seconds: float

    def __str__(self) -> str:
        return f"{self.before} -> {self.after} in {self.seconds:.1f} s"


def upgrade_schema(url: URL) -> SchemaUpgrade:
    """A kept ledger may be older than the code: migrate the copy as the app would on start."""
    db = Database(url)
    try:
        started = time.perf_counter()
        before = migrate.current_revision(db)
        migrate.upgrade(db)
        after = migrate.current_revision(db)
        return SchemaUpgrade(before, after, time.perf_counter() - started)
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# The app as a subprocess
# ---------------------------------------------------------------------------------------------

APP_MODULE = ("-m", "o2c_desktop")


def app_env(base: Path, engine: str) -> dict[str, str]:
    """The app's environment: its own data/config folders, so no real settings are read or
    written, and unbuffered output, so a line is timed when it is printed."""
    env = dict(os.environ)
    env.pop("O2C_DATABASE_URL", None)
    env.pop("O2C_BENCH_EXIT_AFTER_PAINT", None)
    for name in ("data", "config", "xdg-config"):
        (base / f"{engine}-{name}").mkdir(exist_ok=True)
    env["O2C_DATA_DIR"] = str(base / f"{engine}-data")
    env["O2C_CONFIG_DIR"] = str(base / f"{engine}-config")
    env["XDG_CONFIG_HOME"] = str(base / f"{engine}-xdg-config")  # QSettings, on Linux
    env["PYTHONUNBUFFERED"] = "1"
    return env


def app_command(url: URL, *args: str, entry: tuple[str, ...] = APP_MODULE) -> list[str]:
    """`python -m o2c_desktop --database URL ARGS…` (or another entry, such as `-c CODE`)."""
    return [sys.executable, *entry, "--database", url.render_as_string(hide_password=False), *args]


def run_app(
    url: URL, env: dict[str, str], *args: str, entry: tuple[str, ...] = APP_MODULE
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the app's command line to the end: wall seconds (start-up included) and its output."""
    command = app_command(url, *args, entry=entry)
    return timed(lambda: subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True))


def last_line(text_: str) -> str:
    lines = text_.strip().splitlines()
    return lines[-1] if lines else "(no output)"


@dataclass
class Generated:
    seconds: float  # demo-data, wall: Python start-up and creating the schema included
    app_lines: list[str]  # the command's own lines ("Added … in X s")
    vacuum_s: float | None = None  # the VACUUM ANALYZE after it, on PostgreSQL


def generate_demo_data(
    target: Target, env: dict[str, str], customers: int, invoices: int, seed: int
) -> Generated:
    """Fill the empty target with `o2c-desktop demo-data` as a subprocess; on PostgreSQL, VACUUM
    ANALYZE after it (timed on its own)."""
    target.create()
    what = f"{customers:,} customers" + (f", {invoices:,} invoices" if invoices else "")
    log(f"{ENGINE_NAMES[target.engine]}: generating {what}")
    seconds, done = run_app(
        target.url,
        env,
        "demo-data",
        "--customers",
        str(customers),
        "--invoices",
        str(invoices),
        "--seed",
        str(seed),
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"demo-data exited with code {done.returncode}: {last_line(done.stderr)}"
        )
    generated = Generated(seconds, done.stdout.strip().splitlines())
    if target.engine == "postgresql":
        log("PostgreSQL: VACUUM ANALYZE")
        generated.vacuum_s = vacuum_analyze(target.url)
    return generated


def copy_kept_ledger(target: Target, kept: str | None) -> str:
    """Start the target from a copy of the kept ledger, if there is one (see `kept_ledger`): what
    was copied and how long it took, or "" when there is none."""
    if kept is None or not target.has(kept):
        return ""
    log(f"{ENGINE_NAMES[target.engine]}: copying the kept ledger {kept}")
    seconds, _ = timed(lambda: target.copy_from(kept))
    what = "database " if target.engine == "postgresql" else ""
    return f"{what}{kept} (copied in {seconds:.1f} s)"


def kept_or_generated(target: Target, base: Path, args: argparse.Namespace) -> str:
    """Start from the ledger `ledger_bench.py --cache DIR` kept (a copy: the kept one is never
    changed), or generate the demo portfolio when there is none (or no --cache): which it was,
    for the report. Takes the options of `add_demo_data_options` and `add_kept_ledger_options`."""
    kept = kept_ledger(target.engine, args.cache, args.customers, args.invoices, args.seed)
    copied = copy_kept_ledger(target, kept)
    if copied:
        return copied
    env = app_env(base, target.engine)
    generated = generate_demo_data(target, env, args.customers, args.invoices, args.seed)
    vacuumed = " (and VACUUM ANALYZE)" if generated.vacuum_s is not None else ""
    return f"generated in {generated.seconds:.0f} s{vacuumed}"


@dataclass
class LedgerResult(EngineResult):
    """An engine measured in-process on a kept or generated ledger: where the ledger came
    from, its schema upgrade, the rows it holds, and the timings."""

    prepared: str = ""
    upgrade: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)

    def print_block(self, aims: dict[str, float], *lines: tuple[str, str], end: str = "") -> None:
        """The engine's block of the report: the ledger, schema and `lines` (label, text; an
        empty text is left out), the rows, the timings (on PostgreSQL, those slower than their
        `aims` flagged), `end`, and why the engine failed."""
        print()
        print(f"==== {self.title} ====")
        for label, value in (("Ledger", self.prepared), ("Schema", self.upgrade), *lines):
            if value:
                print(f"{label + ':' if label else '':8}{value}")
        if self.counts:
            print("Rows    " + ", ".join(f"{k} {v:,}" for k, v in self.counts.items()))
        print_timings(self.timings, aims if self.engine == "postgresql" else None)
        if end:
            print()
            print(end)
        if self.failed:
            print(f"FAILED: {self.failed}")


L = TypeVar("L", bound=LedgerResult)


def run_on_ledger(
    result: L,
    target: Target,
    base: Path,
    args: argparse.Namespace,
    steps: Callable[[L], None],
    report: Callable[[L], None],
) -> L:
    """One engine of a benchmark measured on a ledger: `kept_or_generated` and migrated to the
    current schema as the app would, then the benchmark's `steps`; a failure is the result's
    (the next engine still runs). `report` prints its block."""
    try:
        log(f"{result.title}: preparing the ledger")
        result.prepared = kept_or_generated(target, base, args)
        result.upgrade = str(upgrade_schema(target.url))
        steps(result)
    except Exception as exc:
        result.failed = error_text(exc)
    report(result)
    return result


# ---------------------------------------------------------------------------------------------
# The frame of every benchmark: options, header, engines, summary
# ---------------------------------------------------------------------------------------------


def _engine_list(text_: str) -> list[str]:
    engines = [e.strip() for e in text_.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINE_NAMES]
    if unknown or not engines:
        raise argparse.ArgumentTypeError(
            f"takes sqlite and/or postgresql, not {', '.join(unknown)}"
        )
    return engines


def at_least(least: int) -> Callable[[str], int]:
    """An option's type: a whole number of at least `least` (else a usage error)."""

    def whole_number(text_: str) -> int:
        number = int(text_)
        if number < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {number}")
        return number

    return whole_number


def add_demo_data_options(
    parser: argparse.ArgumentParser, customers: int, invoices: int | None = None
) -> None:
    """The size and seed of the demo data (`o2c-desktop demo-data`): --customers N, --invoices M
    when the benchmark needs a ledger, and --seed."""
    parser.add_argument("--customers", type=at_least(10), default=customers, metavar="N")
    if invoices is not None:
        parser.add_argument("--invoices", type=at_least(10), default=invoices, metavar="M")
    parser.add_argument("--seed", type=int, default=42)


def add_engine_options(parser: argparse.ArgumentParser, engines: str = "sqlite,postgresql") -> None:
    """--engines (a list once parsed, in the order given), --pg-url and --keep."""
    parser.add_argument(
        "--engines", type=_engine_list, default=engines, help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL admin URL")
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases it made and its work folder"
    )


def add_runs_option(parser: argparse.ArgumentParser) -> None:
    """--runs K: how many times each measurement runs (the first, and the best of the rest)."""
    parser.add_argument(
        "--runs", type=at_least(1), default=3, metavar="K", help="runs per measurement"
    )


def add_kept_ledger_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark measured on a ledger: the engines, --runs, and --cache DIR to
    start from a copy of the ledger `ledger_bench.py --cache DIR` kept (`kept_or_generated`)."""
    add_engine_options(parser)
    add_runs_option(parser)
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="start from the ledger benchmarks/ledger_bench.py --cache DIR kept (a copy; the "
        "kept ledger is not changed), instead of generating one",
    )


def run_benchmark(
    title: str,
    name: str,
    args: argparse.Namespace,
    run_engine: Callable[[Target, Path], R],
    summary_line: Callable[[R], str],
) -> list[R]:
    """Print the title and the machine and PostgreSQL facts, run each engine of --engines on its
    own database (named after `name`, see the targets) in one work folder, clean up unless
    --keep, and print the summary block to paste into a note: the title and the facts again,
    then a line per engine. Progress goes to stderr, the report to stdout (line-buffered, so that
    a report piped to a file is complete up to the engine being measured)."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    engines: list[str] = args.engines
    pg_version, pg_settings = pg_facts(args.pg_url) if "postgresql" in engines else (None, "")
    facts = machine_facts(pg_version)
    print(title)
    print(f"Machine: {facts}")
    if pg_settings:
        print(f"PostgreSQL settings: {pg_settings}")
    results = []
    with _work_folder(f"o2c_{name}_", args.keep) as base:
        for engine in engines:
            with _engine_target(engine, base, args.pg_url, name, args.keep) as target:
                results.append(run_engine(target, base))
    print()
    print("==== Summary ====")
    print(f"{title}; {facts}")
    for result in results:
        print(summary_line(result))
    if hasattr(os, "getloadavg"):
        print("Load average at the end {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    return results


@contextlib.contextmanager
def _work_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for the run's files, removed at the end unless kept."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield base
    finally:
        if keep:
            print(f"Kept the work folder {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _engine_target(engine: str, base: Path, pg_url: str, name: str, keep: bool) -> Iterator[Target]:
    """This run's database for `engine`, cleaned up at the end; a failed clean-up is reported and
    the benchmark goes on."""
    target: Target = (
        SqliteTarget(base, name) if engine == "sqlite" else PostgresTarget(pg_url, name)
    )
    try:
        yield target
    finally:
        try:
            target.cleanup(keep)
        except Exception as exc:
            print(f"Could not clean up the {ENGINE_NAMES[engine]} database: {exc}")
