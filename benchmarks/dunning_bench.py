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
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support, however this is run

import bench_support as bench
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import UnknownUser
from o2c_desktop.models import (
    Customer,
    DunningLetter,
    DunningLetterItem,
    Invoice,
    Role,
    User,
)
from o2c_desktop.services import dunning, users
from o2c_desktop.services.auth import Actor

# The full-size ledgers `ledger_bench.py --cache /tmp/o2c-lbench-cache` keeps.
DEFAULT_SQLITE = bench.kept_ledger("sqlite", bench.LEDGER_CACHE, 200_000, 2_000_000, 42)
DEFAULT_PG = bench.kept_ledger("postgresql", bench.LEDGER_CACHE, 200_000, 2_000_000, 42)


@dataclass
class Result(bench.EngineResult):
    source: str = ""
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
    skipped_credited: int = 0
    produce_s: float = 0.0
    produced: int = 0
    per_second: float = 0.0
    undelivered: int = 0
    notes: list[str] = field(default_factory=list)


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


def count_ledger(db: Database, result: Result) -> None:
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
    count_ledger(db, result)
    bench.log(f"{result.title}: {result.customers:,} customers, {result.open_items:,} open items")

    started = time.perf_counter()
    preview = dunning.preview_run(db, actor, as_of)
    result.preview_s = time.perf_counter() - started
    bench.log(
        f"{result.title}: preview {len(preview.letters):,} letters in {result.preview_s:.2f} s"
    )

    started = time.perf_counter()
    proposal = dunning.propose_run(db, actor, as_of)
    result.propose_s = time.perf_counter() - started
    assert proposal.run_id is not None
    result.letters = len(proposal.letters)
    result.skipped_disputed = proposal.skipped_disputed
    result.skipped_promised = proposal.skipped_promised
    result.skipped_credited = proposal.skipped_credited
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
    bench.log(
        f"{result.title}: proposed {result.letters:,} letters, {result.items:,} items "
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
            bench.log(f"{result.title}: {done:,} / {total:,} letters")

    started = time.perf_counter()
    produced = dunning.produce_run(db, actor, proposal.run_id, out_dir, progress=progress)
    result.produce_s = time.perf_counter() - started
    result.produced = produced.files
    result.per_second = produced.files / result.produce_s if result.produce_s else 0.0
    result.undelivered = len(produced.failed)
    result.notes += list(produced.failed[:5])


def run_engine(target: bench.Target, args: argparse.Namespace, base: Path) -> Result:
    """Copy the kept ledger (never changed itself), migrate the copy, measure the run on it, and
    print the report."""
    source = args.sqlite_source if target.engine == "sqlite" else args.pg_source
    result = Result(target.engine, source=source)
    try:
        if target.has(source):
            bench.log(f"{result.title}: copying {source}")
            result.copy_s, _ = bench.timed(lambda: target.copy_from(source))
            result.upgrade_s = bench.upgrade_schema(target.url).seconds
            out = base / f"{target.engine}-letters"
            out.mkdir()
            db = Database(target.url)
            try:
                measure(db, result, args.as_of, args.letters, out)
            finally:
                db.dispose()
        else:
            result.failed = f"no kept ledger {source} (run ledger_bench.py --cache first)"
    except Exception as exc:  # report and go on with the other engine
        result.failed = bench.error_text(exc)
    print()
    print(report(result, args))
    return result


def report(r: Result, args: argparse.Namespace) -> str:
    if r.failed:
        return f"{r.title}: not measured: {r.failed}"
    lines = [
        f"{r.title} ({r.source}; copied in {r.copy_s:.1f} s, migrated in {r.upgrade_s:.1f} s)",
        f"  ledger: {r.customers:,} customers, {r.open_items:,} open items; as of {args.as_of}",
        f"  preview (dry run, nothing written): {r.preview_s:.2f} s",
        f"  propose: {r.propose_s:.2f} s for {r.letters:,} letters carrying {r.items:,} items; "
        f"skipped {r.skipped_disputed:,} customers for disputes, "
        f"{r.skipped_promised:,} for open promises, {r.skipped_credited:,} covered by unapplied "
        "payments/credits",
        f"  produce: {r.produced:,} letters (the first {args.letters:,} of the run) in "
        f"{r.produce_s:.1f} s = {r.per_second:.1f} letters/s; {r.undelivered} not delivered",
    ]
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)


def summary(r: Result) -> str:
    if r.failed:
        return f"{r.title}: not measured ({r.failed})"
    return (
        f"{r.title}: propose {r.letters:,} letters / {r.items:,} items over "
        f"{r.open_items:,} open items in {r.propose_s:.2f} s (preview {r.preview_s:.2f} s); "
        f"produce {r.produced:,} letters at {r.per_second:.1f} letters/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_engine_options(parser)
    parser.add_argument("--sqlite-source", default=DEFAULT_SQLITE, metavar="FILE")
    parser.add_argument("--pg-source", default=DEFAULT_PG, metavar="DATABASE")
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
    args = parser.parse_args(argv)
    results = bench.run_benchmark(
        f"O2C Desktop dunning benchmark: a run as of {args.as_of}, {args.letters:,} letters "
        "produced",
        "dbench",
        args,
        lambda target, base: run_engine(target, args, base),
        summary,
    )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
