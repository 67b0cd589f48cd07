"""`o2c-desktop import invoices|payments FILE`: what an ERP export looks like, loaded whole.

A file with any bad row is refused whole: the CLI prints the ValidationFailed message (one line per
problem: row, column, value, reason) on stderr and exits 1. See services/ledger_import.py for what
the rows mean (a negative invoice amount is a credit note, payments naming an invoice are
allocated to it, re-importing a file changes nothing).
"""

from __future__ import annotations

import argparse
import sys

from o2c_desktop.cli_support import long_run
from o2c_desktop.db import Database
from o2c_desktop.services.auth import Actor


def add_file_options(parser: argparse.ArgumentParser, *, formats: bool = True) -> None:
    """FILE and the options every file import takes: --map and --dry-run, and with `formats`
    how dates and amounts are written (the ledger's kinds and orders; not customers)."""
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read FIELD from a column with another name (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    if not formats:
        return
    parser.add_argument(
        "--date-format",
        metavar="FORMAT",
        help="strptime format of the dates, e.g. %%m/%%d/%%Y (default ISO)",
    )
    parser.add_argument("--decimal-comma", action="store_true", help="amounts are written 1.234,56")


def add_import_parsers(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, fields in (
        ("invoices", "customer, number, issue_date, due_date, amount, currency, external_id"),
        ("payments", "customer, date, amount, reference, invoice, currency, external_id"),
    ):
        parser = kinds.add_parser(name, help=f"{name} (fields: {fields})")
        add_file_options(parser)
        parser.add_argument(
            "--create-missing-customers",
            action="store_true",
            help="add unknown customer numbers (named by their number)",
        )
        if name == "payments":
            parser.add_argument(
                "--apply",
                choices=("none", "oldest-first"),
                default="none",
                help="allocate payments that name no invoice (default: leave them unapplied)",
            )


def run_import(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    from o2c_desktop.services import ledger_import

    kind = args.import_kind
    options = ledger_import.LedgerImportOptions(
        mapping=ledger_import.parse_mapping(kind, args.map),
        date_format=args.date_format,
        decimal_comma=args.decimal_comma,
        create_missing_customers=args.create_missing_customers,
        dry_run=args.dry_run,
        apply=getattr(args, "apply", ledger_import.APPLY_NONE),
    )
    with long_run(sys.stderr, "rows") as (progress, cancelled):
        report = ledger_import.import_ledger(
            db, actor, kind, args.file, options, progress=progress, cancelled=cancelled
        )
    print(report.summary())
    return 0
