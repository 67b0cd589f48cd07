"""The command line: the GUI by default, and the same services for scripts and month-end jobs.

Every failure a user can cause (a bad URL, a bad file, a refused action) ends in one clear line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from o2c_desktop import (
    __version__,
    cli_calllist,
    cli_dunning,
    cli_ledger,
    cli_orders,
    cli_reports,
    cli_statements,
)
from o2c_desktop.config import resolve_database_url
from o2c_desktop.errors import O2CError

EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="o2c-desktop",
        description="O2C Desktop, a credit-and-collections workstation. "
        "Without a command it starts the GUI.",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB "
        "(default: O2C_DATABASE_URL, then Settings, then the embedded file)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations")
    db_commands.add_parser("current", help="show the schema revision")

    demo = commands.add_parser("demo-data", help="load a demo portfolio")
    demo.add_argument("--customers", type=int, default=2000, metavar="N")
    demo.add_argument("--seed", type=int, default=1, metavar="S")
    demo.add_argument(
        "--invoices",
        type=int,
        default=0,
        metavar="N",
        help="also generate about N invoices with payments (a ledger)",
    )
    demo.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already has customers"
    )

    imp = commands.add_parser("import", help="import data from CSV or XLSX")
    what = imp.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    cust = what.add_parser("customers", help="customers (customer number is the key)")
    cli_ledger.add_file_options(cust, formats=False)
    cli_ledger.add_import_parsers(what)
    cli_orders.add_import_parser(what)
    cli_reports.add_parsers(commands)
    cli_statements.add_parsers(commands)
    cli_calllist.add_parsers(commands)
    cli_dunning.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            from o2c_desktop.app import run_gui

            return run_gui(args.database)
        return _run_command(args)
    except O2CError as exc:
        print(f"o2c-desktop: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `o2c-desktop report … | head` closed the pipe: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the final flush quiet
        return 0
    except KeyboardInterrupt:
        print("o2c-desktop: interrupted; nothing more was written", file=sys.stderr)
        return EXIT_ERROR


def _open(args: argparse.Namespace, *, migrate_first: bool = True):  # type: ignore[no-untyped-def]
    from o2c_desktop.db import Database, migrate

    db = Database(resolve_database_url(args.database))
    db.check_connection()
    if migrate_first:
        migrate.upgrade(db)
    return db


def _run_command(args: argparse.Namespace) -> int:
    from o2c_desktop.db import migrate
    from o2c_desktop.services import users

    if args.command == "db":
        db = _open(args, migrate_first=False)
        if args.db_command == "current":
            print(migrate.current_revision(db) or "(empty database)")
            return 0
        before = migrate.check_not_newer(db)
        backup = migrate.upgrade(db)
        after = migrate.current_revision(db)
        print(
            f"{db.describe()}: schema {before or '(empty)'} -> {after}"
            + (f" (copy of the old file: {backup})" if backup else "")
        )
        return 0

    db = _open(args)
    actor = users.sign_in(db)
    if args.command == "demo-data":
        return _demo(db, actor, args)
    if args.command == "report":
        return cli_reports.run(db, actor, args)
    if args.command in ("statement", "statements"):
        return cli_statements.run(db, actor, args)
    if args.command == "calllist":
        return cli_calllist.run(db, actor, args)
    if args.command == "dunning":
        return cli_dunning.run(db, actor, args)
    if args.command == "import" and args.import_kind == "orders":
        return cli_orders.run_import(db, actor, args)
    if args.command == "import" and args.import_kind != "customers":
        return cli_ledger.run_import(db, actor, args)
    if args.command == "import":
        from o2c_desktop.services import customer_import

        report = customer_import.import_customers(
            db,
            actor,
            args.file,
            mapping=customer_import.parse_mapping(args.map),
            dry_run=args.dry_run,
        )
        print(report.summary())
        return 0
    raise AssertionError(args.command)


def _demo(db, actor, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from o2c_desktop.services import demo_data, demo_ledger

    if args.if_empty and demo_data.has_customers(db):
        return 0
    started = time.perf_counter()

    def progress(what: str):  # type: ignore[no-untyped-def]
        def show(done: int, total: int) -> None:
            if sys.stderr.isatty():
                print(f"\r{done:,} / {total:,} {what}", end="", file=sys.stderr)

        return show

    result = demo_data.generate(
        db, actor, args.customers, args.seed, progress=progress("customers")
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"Added {result.customers:,} customers, {result.contacts:,} contacts and "
        f"{result.collectors} collectors in {time.perf_counter() - started:.1f} s"
    )
    if args.invoices > 0:
        started = time.perf_counter()
        ledger = demo_ledger.generate_ledger(
            db, actor, args.invoices, args.seed, progress=progress("invoices")
        )
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(
            f"Added {ledger.invoices:,} invoices, {ledger.payments:,} payments, "
            f"{ledger.open_invoices:,} open ({ledger.credit_notes:,} credit notes, "
            f"{ledger.allocations:,} allocations, {ledger.disputes:,} disputes) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        from o2c_desktop.services import demo_collections

        started = time.perf_counter()
        activity = demo_collections.generate_collections(db, actor, args.seed)
        print(
            f"Added {activity.calls:,} calls and {activity.promises:,} promises to pay "
            f"in {time.perf_counter() - started:.1f} s"
        )
        from o2c_desktop.services import demo_credit, demo_orders

        started = time.perf_counter()
        applications = demo_credit.generate_applications(db, actor, args.seed)
        orders = demo_orders.generate_orders(db, actor, args.seed)
        print(
            f"Added {applications:,} credit applications and {orders:,} orders "
            f"in {time.perf_counter() - started:.1f} s"
        )
    return 0
