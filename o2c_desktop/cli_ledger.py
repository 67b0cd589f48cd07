"""`o2c-desktop import invoices|payments FILE`: what an ERP export looks like, loaded whole."""

from __future__ import annotations

import argparse

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Actor


def add_import_parsers(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, fields in (
        ("invoices", "customer, number, issue_date, due_date, amount, currency, external_id"),
        ("payments", "customer, date, amount, reference, invoice"),
    ):
        parser = kinds.add_parser(name, help=f"{name} (fields: {fields})")
        parser.add_argument("file", metavar="FILE")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="read FIELD from a column with another name (repeatable)",
        )
        parser.add_argument(
            "--date-format",
            metavar="FORMAT",
            help="strptime format of the dates, e.g. %%m/%%d/%%Y (default ISO)",
        )
        parser.add_argument(
            "--decimal-comma", action="store_true", help="amounts are written 1.234,56"
        )
        parser.add_argument(
            "--create-missing-customers",
            action="store_true",
            help="add unknown customer numbers (named by their number)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and report only")
        if name == "payments":
            parser.add_argument(
                "--apply",
                choices=("none", "oldest-first"),
                default="none",
                help="allocate payments that name no invoice (default: leave them unapplied)",
            )


def run_import(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    raise O2CError(f"import {args.import_kind} is not available yet")
