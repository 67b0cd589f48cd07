"""`o2c-desktop report aging|kpis|payment-behaviour|collectors`: the screens' figures for scripts.

Output formats
- table: aligned for people, amounts right-aligned with the currency's decimals.
- csv (aging, payment behaviour): one row per customer (and currency); the aging adds one
  "Total" row per currency with an empty customer number. Collectors: one row per collector.
- json: amounts are strings with the currency's decimals ("1234.50"); ratios and day figures are
  numbers rounded half-even to 2 decimals (null when undefined, e.g. DSO without sales). Customers
  are identified by their number.

JSON shapes (required keys first; the others are extras)
- aging: {"as_of", "buckets": {label: amount}, "total", "customers": [{"customer", "buckets",
  "total", "name", "currency", "unapplied_cash", "balance"}], "currency", "unapplied_cash",
  "balance", "by_currency": {code: {"buckets", "total", "unapplied_cash", "balance"}}}.
  Unapplied cash is not part of AR nor of any bucket; balance = total − unapplied cash.
- kpis: {"from", "to", "credit_sales", "ar_opening", "ar_total", "ar_current", "dso",
  "best_possible_dso", "add", "cei", "countback_dso", "currency", "days", "percent_overdue",
  "disputed_amount", "by_currency": {code: {the same figures}}}.
- payment behaviour: [{"customer", "paid_invoices", "avg_days_to_pay", "avg_days_late",
  "weighted_days_late", "name", "currency", "paid_amount"}].
- collectors: {"from", "to", "currency", "collectors": [{"collector_id", "collector", "calls",
  "contacts", "contact_rate", "promises_made", "promised_amount", "kept", "broken", "kept_rate",
  "cash_collected", "overdue_start", "overdue_end", "cei"}]}: one currency, `--currency` or the
  one most customers have; "(unassigned)" has a null collector_id. Definitions:
  services.collector_results.

Several currencies: amounts in different currencies are never added together. When the portfolio
has more than one, the top-level figures of the aging and of the KPIs are null and "currency" is
null; each currency's figures are under "by_currency", and each customer row says its currency.
With one currency the top-level figures are that currency's (and "by_currency" has it alone).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TextIO

from o2c_desktop.cli_support import (
    amount_text,
    clip,
    csv_writer,
    parse_date,
    print_table,
)
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services import aging as aging_service
from o2c_desktop.services import collector_results as collector_service
from o2c_desktop.services import kpis as kpi_service
from o2c_desktop.services import payment_behaviour as behaviour_service
from o2c_desktop.services.auth import Actor

_NAME_WIDTH = 40


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report", help="AR reports: aging, KPIs, payment behaviour, collector results"
    )
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
    collectors = kinds.add_parser(
        "collectors", help="calls, promises, cash, overdue and CEI per collector for a period"
    )
    collectors.add_argument("--from", dest="date_from", required=True, metavar="DATE")
    collectors.add_argument("--to", dest="date_to", required=True, metavar="DATE")
    collectors.add_argument("--currency", metavar="CODE", help="default: most customers' currency")
    collectors.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run(db: Database, actor: Actor, args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    if args.report_kind == "aging":
        as_of = parse_date("--as-of", args.as_of)
        report = aging_service.aging(db, actor, as_of)
        _AGING[args.format](report, stream)
        return 0
    date_from = parse_date("--from", args.date_from)
    date_to = parse_date("--to", args.date_to)
    if args.report_kind == "kpis":
        figures = kpi_service.kpis_by_currency(db, actor, date_from, date_to)
        _KPIS[args.format](date_from, date_to, figures, stream)
        return 0
    if args.report_kind == "payment-behaviour":
        rows = behaviour_service.payment_behaviour(db, actor, date_from, date_to)
        _BEHAVIOUR[args.format](rows, stream)
        return 0
    if args.report_kind == "collectors":
        currency = args.currency or collector_service.default_currency(db, actor)
        results = collector_service.collector_results(
            db, actor, date_from, date_to, currency=currency
        )
        report = CollectorsReport(date_from, date_to, currency.strip().upper(), tuple(results))
        _COLLECTORS[args.format](report, stream)
        return 0
    raise O2CError(f"report {args.report_kind} is not available")


# ---------------------------------------------------------------------------------------------
# Values as text
# ---------------------------------------------------------------------------------------------


def ratio_json(value: Decimal | None) -> float | None:
    """A ratio already rounded to 2 decimals, as a JSON number (its shortest repr is exact)."""
    return None if value is None else float(value)


def ratio_text(value: Decimal | None) -> str:
    return "n/a" if value is None else format(value, "f")


def _dump(value: Any, stream: TextIO) -> None:
    stream.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Aging
# ---------------------------------------------------------------------------------------------


def _bucket_map(labels: Sequence[str], values: Sequence[Decimal], currency: str | None) -> dict:
    return {label: amount_text(v, currency) for label, v in zip(labels, values, strict=True)}


def _customer_json(labels: Sequence[str], row: aging_service.CustomerAging) -> dict[str, Any]:
    return {
        "customer": row.number,
        "buckets": _bucket_map(labels, row.buckets, row.currency),
        "total": amount_text(row.total, row.currency),
        "name": row.name,
        "currency": row.currency,
        "unapplied_cash": amount_text(row.unapplied_cash, row.currency),
        "balance": amount_text(row.balance, row.currency),
    }


def aging_json(report: aging_service.AgingReport, *, customers: bool = True) -> dict[str, Any]:
    labels = report.labels
    by_currency = {
        f.currency: {
            "buckets": _bucket_map(labels, f.buckets, f.currency),
            "total": amount_text(f.total, f.currency),
            "unapplied_cash": amount_text(f.unapplied_cash, f.currency),
            "balance": amount_text(f.balance, f.currency),
        }
        for f in report.currencies
    }
    top: dict[str, Any]
    if len(report.currencies) == 1:
        only = report.currencies[0].currency
        top = {"currency": only, **by_currency[only]}
    elif not report.currencies:
        zero = amount_text(Decimal(0), None)
        top = {
            "currency": None,
            "buckets": dict.fromkeys(labels, zero),
            "total": zero,
            "unapplied_cash": zero,
            "balance": zero,
        }
    else:
        top = dict.fromkeys(("currency", "buckets", "total", "unapplied_cash", "balance"))
    return {
        "as_of": report.as_of.isoformat(),
        "buckets": top["buckets"],
        "total": top["total"],
        "customers": [_customer_json(labels, row) for row in report.customers] if customers else [],
        "currency": top["currency"],
        "unapplied_cash": top["unapplied_cash"],
        "balance": top["balance"],
        "by_currency": by_currency,
    }


def _aging_json(report: aging_service.AgingReport, stream: TextIO) -> None:
    """The document with its customer rows written one by one, one per line (a whole portfolio
    is 150,000 of them: no need to hold them all as dicts and as one string)."""
    head = json.dumps(aging_json(report, customers=False), ensure_ascii=False, indent=2)
    before, after = head.split('"customers": []', 1)
    stream.write(before + '"customers": [')
    for k, row in enumerate(report.customers):
        text = json.dumps(_customer_json(report.labels, row), ensure_ascii=False)
        stream.write(("," if k else "") + "\n    " + text)
    stream.write(("\n  ]" if report.customers else "]") + after + "\n")


def _aging_header(report: aging_service.AgingReport) -> list[str]:
    return ["Customer", "Name", "Currency", *report.labels, "Total", "Unapplied", "Balance"]


def _aging_rows(report: aging_service.AgingReport, *, table: bool) -> list[list[str]]:
    def amounts(values: Sequence[Decimal], currency: str) -> list[str]:
        return [amount_text(v, currency, grouped=table) for v in values]

    rows = [
        [
            row.number,
            clip(row.name, _NAME_WIDTH) if table else row.name,
            row.currency,
            *amounts((*row.buckets, row.total, row.unapplied_cash, row.balance), row.currency),
        ]
        for row in report.customers
    ]
    for f in report.currencies:
        rows.append(
            [
                "",
                "Total",
                f.currency,
                *amounts((*f.buckets, f.total, f.unapplied_cash, f.balance), f.currency),
            ]
        )
    return rows


def _aging_table(report: aging_service.AgingReport, stream: TextIO) -> None:
    stream.write(f"Aging as of {report.as_of.isoformat()}\n\n")
    if not report.customers:
        stream.write("Nothing open.\n")
        return
    header = _aging_header(report)
    rows = _aging_rows(report, table=True)
    print_table(header, rows, stream, right=range(3, len(header)))


def _aging_csv(report: aging_service.AgingReport, stream: TextIO) -> None:
    writer = csv_writer(stream)
    writer.writerow(
        ["customer", "name", "currency", *report.labels, "total", "unapplied_cash", "balance"]
    )
    writer.writerows(_aging_rows(report, table=False))


_AGING: dict[str, Callable[[aging_service.AgingReport, TextIO], None]] = {
    "table": _aging_table,
    "csv": _aging_csv,
    "json": _aging_json,
}


# ---------------------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------------------

_KPI_AMOUNTS = ("credit_sales", "ar_opening", "ar_total", "ar_current")
_KPI_RATIOS = ("dso", "best_possible_dso", "add", "cei", "countback_dso")


def _kpi_figures(k: kpi_service.Kpis) -> dict[str, Any]:
    figures: dict[str, Any] = {
        name: amount_text(getattr(k, name), k.currency) for name in _KPI_AMOUNTS
    }
    figures.update({name: ratio_json(getattr(k, name)) for name in _KPI_RATIOS})
    figures["percent_overdue"] = ratio_json(k.percent_overdue)
    figures["disputed_amount"] = amount_text(k.disputed_amount, k.currency)
    return figures


def kpis_json(
    date_from: date, date_to: date, by_currency: dict[str, kpi_service.Kpis]
) -> dict[str, Any]:
    per_currency = {cur: _kpi_figures(k) for cur, k in sorted(by_currency.items())}
    if len(per_currency) == 1:
        currency, top = next(iter(per_currency.items()))
    elif not per_currency:
        currency = None
        zero = amount_text(Decimal(0), None)
        top = dict.fromkeys(_KPI_AMOUNTS, zero) | dict.fromkeys(_KPI_RATIOS)
        top |= {"percent_overdue": None, "disputed_amount": zero}
    else:
        currency = None
        top = dict.fromkeys((*_KPI_AMOUNTS, *_KPI_RATIOS, "percent_overdue", "disputed_amount"))
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        **{name: top[name] for name in (*_KPI_AMOUNTS, *_KPI_RATIOS)},
        "currency": currency,
        "days": (date_to - date_from).days + 1,
        "percent_overdue": top["percent_overdue"],
        "disputed_amount": top["disputed_amount"],
        "by_currency": per_currency,
    }


def _kpis_json(
    date_from: date, date_to: date, by_currency: dict[str, kpi_service.Kpis], stream: TextIO
) -> None:
    _dump(kpis_json(date_from, date_to, by_currency), stream)


def _kpis_table(
    date_from: date, date_to: date, by_currency: dict[str, kpi_service.Kpis], stream: TextIO
) -> None:
    days = (date_to - date_from).days + 1
    stream.write(f"KPIs {date_from.isoformat()} to {date_to.isoformat()} ({days} days)\n\n")
    if not by_currency:
        stream.write("No credit sales and no receivables in this period.\n")
        return
    codes = sorted(by_currency)
    opening = (date_from - timedelta(days=1)).isoformat()
    lines: list[tuple[str, Callable[[kpi_service.Kpis], str]]] = [
        ("Credit sales", lambda k: amount_text(k.credit_sales, k.currency, grouped=True)),
        (f"AR at {opening}", lambda k: amount_text(k.ar_opening, k.currency, grouped=True)),
        (
            f"AR at {date_to.isoformat()}",
            lambda k: amount_text(k.ar_total, k.currency, grouped=True),
        ),
        ("  current", lambda k: amount_text(k.ar_current, k.currency, grouped=True)),
        ("  overdue", lambda k: amount_text(k.ar_overdue, k.currency, grouped=True)),
        ("Disputed", lambda k: amount_text(k.disputed_amount, k.currency, grouped=True)),
        ("DSO (days)", lambda k: ratio_text(k.dso)),
        ("Best possible DSO (days)", lambda k: ratio_text(k.best_possible_dso)),
        ("ADD (days)", lambda k: ratio_text(k.add)),
        ("CEI (%)", lambda k: ratio_text(k.cei)),
        ("Countback DSO (days)", lambda k: ratio_text(k.countback_dso)),
        ("Overdue (%)", lambda k: ratio_text(k.percent_overdue)),
    ]
    rows = [[label, *(show(by_currency[c]) for c in codes)] for label, show in lines]
    print_table(["Figure", *codes], rows, stream, right=range(1, len(codes) + 1))


_KPIS: dict[str, Callable[[date, date, dict[str, kpi_service.Kpis], TextIO], None]] = {
    "table": _kpis_table,
    "json": _kpis_json,
}


# ---------------------------------------------------------------------------------------------
# Payment behaviour
# ---------------------------------------------------------------------------------------------


def behaviour_json(rows: Sequence[behaviour_service.PaymentBehaviour]) -> list[dict[str, Any]]:
    return [
        {
            "customer": r.number,
            "paid_invoices": r.paid_invoices,
            "avg_days_to_pay": ratio_json(r.avg_days_to_pay),
            "avg_days_late": ratio_json(r.avg_days_late),
            "weighted_days_late": ratio_json(r.weighted_days_late),
            "name": r.name,
            "currency": r.currency,
            "paid_amount": amount_text(r.paid_amount, r.currency),
        }
        for r in rows
    ]


def _behaviour_json(rows: Sequence[behaviour_service.PaymentBehaviour], stream: TextIO) -> None:
    _dump(behaviour_json(rows), stream)


def _behaviour_cells(r: behaviour_service.PaymentBehaviour, *, table: bool) -> list[str]:
    return [
        r.number,
        clip(r.name, _NAME_WIDTH) if table else r.name,
        r.currency,
        str(r.paid_invoices),
        amount_text(r.paid_amount, r.currency, grouped=table),
        ratio_text(r.avg_days_to_pay),
        ratio_text(r.avg_days_late),
        ratio_text(r.weighted_days_late),
    ]


def _behaviour_table(rows: Sequence[behaviour_service.PaymentBehaviour], stream: TextIO) -> None:
    if not rows:
        stream.write("No invoices were fully paid in this period.\n")
        return
    header = [
        "Customer",
        "Name",
        "Currency",
        "Paid invoices",
        "Paid amount",
        "Avg days to pay",
        "Avg days late",
        "Weighted days late",
    ]
    cells = [_behaviour_cells(r, table=True) for r in rows]
    print_table(header, cells, stream, right=range(3, len(header)))


def _behaviour_csv(rows: Sequence[behaviour_service.PaymentBehaviour], stream: TextIO) -> None:
    writer = csv_writer(stream)
    writer.writerow(
        [
            "customer",
            "name",
            "currency",
            "paid_invoices",
            "paid_amount",
            "avg_days_to_pay",
            "avg_days_late",
            "weighted_days_late",
        ]
    )
    for r in rows:
        cells = _behaviour_cells(r, table=False)
        writer.writerow(["" if c == "n/a" else c for c in cells])


_BEHAVIOUR: dict[str, Callable[[Sequence[behaviour_service.PaymentBehaviour], TextIO], None]] = {
    "table": _behaviour_table,
    "csv": _behaviour_csv,
    "json": _behaviour_json,
}


# ---------------------------------------------------------------------------------------------
# Collector results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectorsReport:
    """The collector rows with the period and the currency their money is in."""

    date_from: date
    date_to: date
    currency: str
    rows: tuple[collector_service.CollectorResult, ...]


def collector_json(r: collector_service.CollectorResult, currency: str) -> dict[str, Any]:
    return {
        "collector_id": r.collector_id,
        "collector": r.collector,
        "calls": r.calls,
        "contacts": r.contacts,
        "contact_rate": ratio_json(r.contact_rate),
        "promises_made": r.promises_made,
        "promised_amount": amount_text(r.promised_amount, currency),
        "kept": r.kept,
        "broken": r.broken,
        "kept_rate": ratio_json(r.kept_rate),
        "cash_collected": amount_text(r.cash_collected, currency),
        "overdue_start": amount_text(r.overdue_start, currency),
        "overdue_end": amount_text(r.overdue_end, currency),
        "cei": ratio_json(r.cei),
    }


def collectors_json(report: CollectorsReport) -> dict[str, Any]:
    return {
        "from": report.date_from.isoformat(),
        "to": report.date_to.isoformat(),
        "currency": report.currency,
        "collectors": [collector_json(r, report.currency) for r in report.rows],
    }


def _collectors_json(report: CollectorsReport, stream: TextIO) -> None:
    _dump(collectors_json(report), stream)


# The collector figures in their order: the CSV column (the JSON key) and the table's heading;
# {start} and {end} are the days the overdue amounts are taken on.
_COLLECTOR_COLUMNS = (
    ("collector", "Collector"),
    ("calls", "Calls"),
    ("contacts", "Contacts"),
    ("contact_rate", "Contact %"),
    ("promises_made", "Promises"),
    ("promised_amount", "Promised"),
    ("kept", "Kept"),
    ("broken", "Broken"),
    ("kept_rate", "Kept %"),
    ("cash_collected", "Cash collected"),
    ("overdue_start", "Overdue {start}"),
    ("overdue_end", "Overdue {end}"),
    ("cei", "CEI %"),
)


def _collector_cells(
    r: collector_service.CollectorResult, currency: str, *, table: bool
) -> list[str]:
    def money(value: Decimal) -> str:
        return amount_text(value, currency, grouped=table)

    return [
        clip(r.collector, _NAME_WIDTH) if table else r.collector,
        str(r.calls),
        str(r.contacts),
        ratio_text(r.contact_rate),
        str(r.promises_made),
        money(r.promised_amount),
        str(r.kept),
        str(r.broken),
        ratio_text(r.kept_rate),
        money(r.cash_collected),
        money(r.overdue_start),
        money(r.overdue_end),
        ratio_text(r.cei),
    ]


def _collectors_table(report: CollectorsReport, stream: TextIO) -> None:
    days = (report.date_to - report.date_from).days + 1
    opening = (report.date_from - timedelta(days=1)).isoformat()
    end = report.date_to.isoformat()
    stream.write(
        f"Collector results {report.date_from.isoformat()} to {end}"
        f" ({days} days), amounts in {report.currency}\n\n"
    )
    header = [h.format(start=opening, end=end) for _, h in _COLLECTOR_COLUMNS]
    rows = [_collector_cells(r, report.currency, table=True) for r in report.rows]
    print_table(header, rows, stream, right=range(1, len(header)))


def _collectors_csv(report: CollectorsReport, stream: TextIO) -> None:
    """The JSON's figures as columns, ratios with their 2 decimals; undefined ones are empty."""
    writer = csv_writer(stream)
    columns = ("collector_id", *(name for name, _ in _COLLECTOR_COLUMNS))
    writer.writerow(columns)
    for r in report.rows:
        figures = collector_json(r, report.currency)
        for name in ("contact_rate", "kept_rate", "cei"):
            value = getattr(r, name)
            figures[name] = None if value is None else format(value, "f")
        writer.writerow(["" if figures[name] is None else figures[name] for name in columns])


_COLLECTORS: dict[str, Callable[[CollectorsReport, TextIO], None]] = {
    "table": _collectors_table,
    "csv": _collectors_csv,
    "json": _collectors_json,
}
