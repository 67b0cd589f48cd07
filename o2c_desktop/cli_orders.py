"""`o2c-desktop import orders FILE`: customer orders from an ERP export, with their credit holds.

Read like `import invoices` (the same --map, --date-format, --decimal-comma and --dry-run); a file
with any bad row is refused whole, one line per problem (row, column, value, reason) on stderr,
exit code 1. Orders that would exceed the customer's available credit, or whose customer is on
hold or has items long past due, are entered as held: the summary counts them, and the holds
queue shows why. See services/order_import.py and services/orders.py.
"""

from __future__ import annotations

import argparse
import sys

from o2c_desktop.cli_ledger import add_file_options
from o2c_desktop.cli_support import long_run
from o2c_desktop.db import Database
from o2c_desktop.services.auth import Actor


def add_import_parser(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = kinds.add_parser(
        "orders",
        help="orders (fields: customer, number, order_date, amount, currency, external_id); "
        "held when over credit",
    )
    add_file_options(parser)


def run_import(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    from o2c_desktop.services import order_import

    options = order_import.OrderImportOptions(
        mapping=order_import.parse_mapping(args.map),
        date_format=args.date_format,
        decimal_comma=args.decimal_comma,
        dry_run=args.dry_run,
    )
    with long_run(sys.stderr, "rows") as (progress, cancelled):
        report = order_import.import_orders(
            db, actor, args.file, options, progress=progress, cancel=cancelled
        )
    print(report.summary())
    return 0
