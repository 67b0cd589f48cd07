#!/usr/bin/env python
"""Dunning at scale: proposing a run over 200,000 customers and 300,000 open items, and
producing its letters (letters per second).

A script, not a test. Per engine it starts from a copy of a kept ledger (never the kept one
itself), migrates the copy to the current schema, and measures through the services the app uses:

1. `dunning.preview_run` (the dry run: the grouped query over the open items, the promises, the
   customers; nothing written), timed.
2. `dunning.propose_run` (the same plus the run, its letters and their items written, COPY /
   executemany and INSERT … SELECT), timed, with the letters, items and customers skipped.
3. `dunning.produce_run` for the first `--letters` letters of the run (by customer number; the
   others are left out of the run with one UPDATE, which is what a reviewer unticking them would
   do letter by letter): PDFs rendered, written, and recorded (letters, levels on the items,
   activity, audit), timed; letters/s. Every level's channel is "letter" in the kept ledgers, so
   no e-mail is sent.

Data: the ledgers `benchmarks/ledger_bench.py --cache /tmp/o2c-lbench-cache` keeps, by default
- SQLite: /tmp/o2c-lbench-cache/lbench-200000-2000000-s42.sqlite3, copied to a temporary folder;
- PostgreSQL: database o2c_lbench_c200000_i2000000_s42, copied with CREATE DATABASE … TEMPLATE
  into o2c_dbench_<pid>, dropped at the end unless --keep.

    .venv/bin/python benchmarks/dunning_bench.py                          # both engines
    .venv/bin/python benchmarks/dunning_bench.py --engines sqlite --letters 500
    .venv/bin/python benchmarks/dunning_bench.py --sqlite-source small.sqlite3 --pg-source small_db

Progress goes to stderr, the report to stdout, ending with a summary block for a note.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for folder in (REPO, HERE):
    if str(folder) not in sys.path:  # run from a checkout even without the editable install
        sys.path.insert(0, str(folder))

from ledger_bench import machine_facts, pg_facts  # noqa: E402
from sqlalchemy import create_engine, func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from o2c_desktop.db import Database, migrate  # noqa: E402
from o2c_desktop.errors import UnknownUser  # noqa: E402
from o2c_desktop.models import (  # noqa: E402
    Customer,
    DunningLetter,
    DunningLetterItem,
    Invoice,
    Role,
    User,
)
from o2c_desktop.services import dunning, users  # noqa: E402
from o2c_desktop.services.auth import Actor  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_SQLITE = Path("/tmp/o2c-lbench-cache/lbench-200000-2000000-s42.sqlite3")
DEFAULT_PG = "o2c_lbench_c200000_i2000000_s42"


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


@dataclass
class Result:
    engine: str
    source: str
    copy_s: float = 0.0
    upgrade_s: float = 0.0
    customers: int = 0
    open_items: int = 0
    preview_s: float = 0.0
    propose_s: float = 0.0
    letters: int = 0
    items: int = 0
    skipped_disputed: int = 0
    skipped_promised: int = 0
    produce_s: float = 0.0
    produced: int = 0
    per_second: float = 0.0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def actor_for(db: Database) -> Actor:
    """Who the benchmark acts as: the usual sign-in; when the login has no account in the kept
    ledger, its first administrator."""
    try:
        return users.sign_in(db)
    except UnknownUser:
        with db.read() as session:
            for user in session.scalars(select(User).order_by(User.id)):
                roles = frozenset(Role(r.role) for r in user.roles)
                if Role.ADMINISTRATOR in roles:
                    return Actor(user.id, user.username, user.display_name, roles)
        raise


def facts(db: Database, result: Result) -> None:
    with db.read() as session:
        result.customers = int(session.scalar(select(func.count()).select_from(Customer)) or 0)
        result.open_items = int(
            session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.open_amount != 0)
            )
            or 0
        )


def measure(db: Database, result: Result, as_of: date, letters: int, out_dir: Path) -> None:
    actor = actor_for(db)
    facts(db, result)
    log(f"{result.engine}: {result.customers:,} customers, {result.open_items:,} open items")

    started = time.perf_counter()
    preview = dunning.preview_run(db, actor, as_of)
    result.preview_s = time.perf_counter() - started
    log(f"{result.engine}: preview {len(preview.letters):,} letters in {result.preview_s:.2f} s")

    started = time.perf_counter()
    proposal = dunning.propose_run(db, actor, as_of)
    result.propose_s = time.perf_counter() - started
    assert proposal.run_id is not None
    result.letters = len(proposal.letters)
    result.skipped_disputed = proposal.skipped_disputed
    result.skipped_promised = proposal.skipped_promised
    if len(preview.letters) != result.letters:
        result.notes.append(f"preview {len(preview.letters)} letters, proposal {result.letters}")
    with db.read() as session:
        result.items = int(
            session.scalar(
                select(func.count())
                .select_from(DunningLetterItem)
                .join(DunningLetter, DunningLetter.id == DunningLetterItem.letter_id)
                .where(DunningLetter.run_id == proposal.run_id)
            )
            or 0
        )
    log(
        f"{result.engine}: proposed {result.letters:,} letters, {result.items:,} items "
        f"in {result.propose_s:.2f} s"
    )

    keep = [x.letter_id for x in proposal.letters[:letters]]
    with db.write() as session:  # a reviewer leaving the rest out, in one statement
        session.execute(
            update(DunningLetter)
            .where(DunningLetter.run_id == proposal.run_id, DunningLetter.id.not_in(keep))
            .values(included=False)
        )

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            log(f"{result.engine}: {done:,} / {total:,} letters")

    started = time.perf_counter()
    produced = dunning.produce_run(db, actor, proposal.run_id, out_dir, progress=progress)
    result.produce_s = time.perf_counter() - started
    result.produced = produced.files
    result.per_second = produced.files / result.produce_s if result.produce_s else 0.0
    result.failed = len(produced.failed)
    result.notes += list(produced.failed[:5])


def run_sqlite(args: argparse.Namespace, base: Path) -> Result:
    source = Path(args.sqlite_source)
    result = Result("SQLite", str(source))
    if not source.exists():
        result.error = f"no kept ledger at {source} (run ledger_bench.py --cache first)"
        return result
    target = base / "dbench.sqlite3"
    log(f"SQLite: copying {source}")
    started = time.perf_counter()
    shutil.copyfile(source, target)
    if Path(f"{source}-wal").exists():  # a kept file is never checkpointed here: copy its WAL
        shutil.copyfile(f"{source}-wal", f"{target}-wal")
    result.copy_s = time.perf_counter() - started
    db = Database(f"sqlite:///{target}")
    try:
        started = time.perf_counter()
        migrate.upgrade(db)
        result.upgrade_s = time.perf_counter() - started
        out = base / "sqlite-letters"
        out.mkdir()
        measure(db, result, args.as_of, args.letters, out)
    except Exception as exc:  # report and go on with the other engine
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        db.dispose()
        if not args.keep:
            for path in base.glob("dbench.sqlite3*"):
                path.unlink()
        else:
            print(f"Kept the SQLite database: {target}")
    return result


def run_postgresql(args: argparse.Namespace, base: Path) -> Result:
    result = Result("PostgreSQL", args.pg_source)
    admin_url = make_url(args.pg_url)
    name = f"o2c_dbench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    created = False
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": args.pg_source}
            ).scalar()
            if not found:
                result.error = f"no kept ledger database {args.pg_source}"
                return result
            log(f"PostgreSQL: CREATE DATABASE {name} TEMPLATE {args.pg_source}")
            started = time.perf_counter()
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_source}"')
            created = True
            result.copy_s = time.perf_counter() - started
        db = Database(admin_url.set(database=name))
        try:
            started = time.perf_counter()
            migrate.upgrade(db)
            result.upgrade_s = time.perf_counter() - started
            out = base / "postgresql-letters"
            out.mkdir()
            measure(db, result, args.as_of, args.letters, out)
        finally:
            db.dispose()
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if created and not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif created:
            print(f"Kept the PostgreSQL database: {admin_url.set(database=name)}")
        admin.dispose()
    return result


def report(r: Result, args: argparse.Namespace) -> str:
    if r.error:
        return f"{r.engine}: not measured: {r.error}"
    lines = [
        f"{r.engine} ({r.source}; copied in {r.copy_s:.1f} s, migrated in {r.upgrade_s:.1f} s)",
        f"  ledger: {r.customers:,} customers, {r.open_items:,} open items; as of {args.as_of}",
        f"  preview (dry run, nothing written): {r.preview_s:.2f} s",
        f"  propose: {r.propose_s:.2f} s for {r.letters:,} letters carrying {r.items:,} items; "
        f"skipped {r.skipped_disputed:,} customers for disputes, "
        f"{r.skipped_promised:,} for open promises",
        f"  produce: {r.produced:,} letters (the first {args.letters:,} of the run) in "
        f"{r.produce_s:.1f} s = {r.per_second:.1f} letters/s; {r.failed} not delivered",
    ]
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)


def summary(r: Result) -> str:
    if r.error:
        return f"{r.engine}: not measured ({r.error})"
    return (
        f"{r.engine}: propose {r.letters:,} letters / {r.items:,} items over "
        f"{r.open_items:,} open items in {r.propose_s:.2f} s (preview {r.preview_s:.2f} s); "
        f"produce {r.produced:,} letters at {r.per_second:.1f} letters/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sqlite-source", default=str(DEFAULT_SQLITE), metavar="FILE")
    parser.add_argument("--pg-source", default=DEFAULT_PG, metavar="DATABASE")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, metavar="URL", help="an admin URL")
    parser.add_argument(
        "--letters", type=int, default=2000, metavar="N", help="letters produced (default 2000)"
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date.today(),
        metavar="DATE",
        help="the run's date (default today: the kept ledgers end today)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the copies")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pg_version, pg_settings = pg_facts(args.pg_url) if "postgresql" in engines else (None, "")
    facts_line = machine_facts(pg_version)
    results = []
    with tempfile.TemporaryDirectory(prefix="o2c-dbench-") as folder:
        base = Path(folder)
        for engine in engines:
            runner: Any = {"sqlite": run_sqlite, "postgresql": run_postgresql}.get(engine)
            if runner is None:
                parser.error(f"unknown engine {engine!r}")
            results.append(runner(args, base))
    print()
    for r in results:
        print(report(r, args))
        print()
    print("Summary")
    print(f"  {facts_line}")
    if pg_settings:
        print(f"  PostgreSQL settings: {pg_settings}")
    for r in results:
        print(f"  {summary(r)}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
