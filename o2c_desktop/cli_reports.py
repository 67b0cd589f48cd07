"""`o2c-desktop report aging|kpis|payment-behaviour`: the screens' figures for scripts."""

from __future__ import annotations

import argparse

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Actor


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser("report", help="AR reports: aging, KPIs, payment behaviour")
    kinds = report.add_subparsers(dest="report_kind", metavar="REPORT", required=True)
    aging = kinds.add_parser("aging", help="open items by days past due, as of a date")
    aging.add_argument("--as-of", required=True, metavar="DATE")
    aging.add_argument("--format", choices=("table", "csv", "json"), default="table")
    kpis = kinds.add_parser("kpis", help="DSO, best possible DSO, ADD, CEI, countback DSO")
    kpis.add_argument("--from", dest="date_from", required=True, metavar="DATE")
    kpis.add_argument("--to", dest="date_to", required=True, metavar="DATE")
    kpis.add_argument("--format", choices=("table", "json"), default="table")
    behaviour = kinds.add_parser("payment-behaviour", help="days to pay and days late per customer")
    behaviour.add_argument("--from", dest="date_from", required=True, metavar="DATE")
    behaviour.add_argument("--to", dest="date_to", required=True, metavar="DATE")
    behaviour.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    raise O2CError(f"report {args.report_kind} is not available yet")
