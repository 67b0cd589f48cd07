"""`o2c-desktop statement CUSTOMER …` and `o2c-desktop statements …`: statements for scripts and
the month-end job.

- `statement CUSTOMER --as-of DATE [--kind open-items|activity --from DATE] -o FILE.pdf` writes
  one customer's statement (CUSTOMER is the customer number) and logs it.
- `statements --as-of DATE --out DIR [filters] [--combined FILE.pdf] [--email]` writes one PDF per
  customer across all cores: a progress line on stderr (on a terminal), a summary on stdout,
  each customer that failed on stderr, and exit code 1 if any did. Ctrl+C stops the run between
  chunks: what was written is kept and logged, and the summary says it was cancelled.

An unknown customer, collector or segment filter that finds nothing, an unwritable folder or an
unreachable SMTP server end in one clear line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from o2c_desktop.cli_support import Progress, long_run, money_text, parse_date
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.money import parse_amount
from o2c_desktop.services.auth import Actor

if TYPE_CHECKING:
    from o2c_desktop.services import statements

EXIT_FAILURES = 1
KINDS = ("open-items", "activity")  # statements.KINDS, without importing ReportLab at start-up


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    one = commands.add_parser("statement", help="one customer's statement as a PDF file")
    one.add_argument("customer", metavar="CUSTOMER", help="the customer number")
    _common(one)
    one.add_argument("-o", "--output", required=True, metavar="FILE.pdf")

    many = commands.add_parser("statements", help="statements for many customers, one PDF each")
    _common(many)
    many.add_argument("--out", required=True, metavar="DIR", help="folder for the PDF files")
    many.add_argument(
        "--min-balance",
        metavar="AMOUNT",
        help="only customers owing at least AMOUNT at the date (in any one currency)",
    )
    many.add_argument("--segment", metavar="S", help="only customers of this segment")
    many.add_argument(
        "--collector", metavar="NAME", help="only this collector's customers (login or name)"
    )
    many.add_argument(
        "--customers", metavar="N1,N2,...", help="only these customer numbers (comma-separated)"
    )
    many.add_argument(
        "--name-pattern",
        default="{customer}-{date}.pdf",
        metavar="P",
        help="file names from {customer} {name} {date} {kind} {currency} {id} "
        "(default %(default)s)",
    )
    many.add_argument("--combined", metavar="FILE.pdf", help="also one PDF of all, for printing")
    many.add_argument(
        "--processes", type=int, metavar="N", help="worker processes (default: every core)"
    )
    many.add_argument(
        "--email", action="store_true", help="e-mail each statement to its statement contact"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as-of", required=True, metavar="DATE", help="the statement date")
    parser.add_argument("--kind", choices=KINDS, default="open-items")
    parser.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="first day of an activity statement (default: the 1st of the --as-of month)",
    )


def _dates(args: argparse.Namespace) -> tuple[date, date | None]:
    as_of = parse_date("--as-of", args.as_of)
    if args.date_from is None:
        return as_of, None
    if args.kind != "activity":
        raise O2CError("--from is for activity statements: add --kind activity")
    return as_of, parse_date("--from", args.date_from)


def run(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    """The result on stdout; progress and what failed on stderr."""
    if args.command == "statement":
        return _one(db, actor, args, sys.stdout)
    return _many(db, actor, args, sys.stdout, sys.stderr)


def _one(db: Database, actor: Actor, args: argparse.Namespace, out: TextIO) -> int:
    from o2c_desktop.services import statements
    from o2c_desktop.services.statements import batch

    as_of, start = _dates(args)
    ids, unknown = batch.customers_by_number(db, [args.customer])
    if unknown or not ids:
        raise O2CError(f"No customer with the number {args.customer!r}.")
    request = statements.StatementRequest(ids[0], as_of, args.kind, start)
    made = statements.write_statement(db, actor, request, Path(args.output).expanduser())
    print(
        f"Wrote {made.path}: customer {made.customer_number}, {made.pages} page(s), "
        f"total due {money_text(made.total_due, made.currency)}, SHA-256 {made.sha256}",
        file=out,
    )
    return 0


def _selection(db: Database, args: argparse.Namespace) -> statements.BatchSelection:
    from o2c_desktop.services import statements
    from o2c_desktop.services.statements import batch

    min_balance = None
    if args.min_balance is not None:
        try:
            min_balance = parse_amount(args.min_balance)
        except ValueError as exc:
            raise O2CError(f"--min-balance {args.min_balance!r} is not an amount ({exc})") from None
    collector_id = None
    if args.collector is not None:
        collector_id = batch.collector_by_name(db, args.collector)
        if collector_id is None:
            raise O2CError(
                f"--collector {args.collector!r}: no user has that login or name "
                "(or more than one has that name; use the login)."
            )
    customer_ids = None
    if args.customers is not None:
        ids, unknown = batch.customers_by_number(db, args.customers.split(","))
        if unknown:
            shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise O2CError(f"--customers: no customer with the number(s) {shown}.")
        if not ids:
            raise O2CError("--customers: no customer numbers given.")
        customer_ids = tuple(ids)
    return statements.BatchSelection(min_balance, args.segment, collector_id, customer_ids)


def _many(db: Database, actor: Actor, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from o2c_desktop.services import statements

    as_of, start = _dates(args)
    if args.processes is not None and args.processes < 1:
        raise O2CError("--processes must be 1 or more")
    settings = None
    if args.email:
        settings = _mail_settings(db)
    selection = _selection(db, args)
    ids = statements.select_customers(db, selection, as_of)
    if not ids:
        print("No customer matches; no statements were written.", file=out)
        return 0
    with long_run(err, "statements") as (progress, cancelled):
        result = statements.run_batch(
            db,
            actor,
            as_of=as_of,
            kind=args.kind,
            period_from=start,
            customer_ids=ids,
            out_dir=Path(args.out),
            name_pattern=args.name_pattern,
            combined=Path(args.combined) if args.combined else None,
            processes=args.processes,
            progress=progress,
            cancelled=cancelled,
        )
    folder = Path(args.out).expanduser()
    rate = f"{result.per_second:.1f} statements/s"
    print(
        f"Wrote {len(result.files):,} of {len(ids):,} statements to {folder} in "
        f"{result.seconds:.1f} s ({rate}); {len(result.failures):,} failed"
        + ("; cancelled before the end" if result.cancelled else ""),
        file=out,
    )
    if result.combined is not None:
        print(f"Combined PDF for printing: {result.combined}", file=out)
    numbers = {f.customer_id: f.customer_number for f in result.files}
    for customer_id, why in result.failures:
        print(f"  customer #{numbers.get(customer_id, customer_id)}: {why}", file=err)
    failed = bool(result.failures) or result.cancelled
    if settings is not None and result.files and not result.cancelled:
        failed = _email(db, actor, settings, result.files, as_of, args.kind, out, err) or failed
    return EXIT_FAILURES if failed else 0


def _mail_settings(db: Database) -> Any:
    try:
        from o2c_desktop.services import mail_settings
    except ImportError:  # pragma: no cover - the e-mail module ships with the app
        raise O2CError("--email is not available in this version of O2C Desktop.") from None
    settings = mail_settings.load_mail_settings(db)
    if not settings.configured:
        raise O2CError(
            "--email: no SMTP server is set up; an administrator or credit manager can set "
            "one under Settings → E-mail."
        )
    return settings


def _email(
    db: Database,
    actor: Actor,
    settings: Any,
    files: list[statements.StatementFile],
    as_of: date,
    kind: str,
    out: TextIO,
    err: TextIO,
) -> bool:
    """E-mail the written statements; True if any could not be sent."""
    from o2c_desktop.services import statement_mail

    progress = Progress(err, "e-mails")
    try:
        sent = statement_mail.send_batch(
            db, actor, settings, files, as_of=as_of, kind=kind, progress=progress
        )
    finally:
        progress.clear()
    failures = [r for r in sent if not r.ok]
    print(
        f"E-mailed {len(sent) - len(failures):,} of {len(files):,} statements via "
        f"{settings.describe()}; {len(failures):,} failed",
        file=out,
    )
    for result in failures:
        print(f"  customer {result.customer_number}: e-mail not sent: {result.detail}", file=err)
    return bool(failures)
