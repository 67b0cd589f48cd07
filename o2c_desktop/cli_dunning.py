"""`o2c-desktop dunning …`: reminder letters for scripts and the scheduled job.

- `dunning run --as-of DATE --out DIR` proposes the run for DATE and produces every letter at
  once (the review step of the app is skipped: what the rules propose goes out): one PDF per
  letter in DIR, e-mail letters sent through the statements' SMTP settings. A progress line on
  stderr (on a terminal), a summary line on stdout, each letter not delivered on stderr, and
  exit code 1 if any was not, or if Ctrl+C stopped the run (what was produced is kept).
- `dunning run --as-of DATE --dry-run` prints the proposal, letter by letter, and writes
  nothing: no run, no file.
- `dunning levels` lists the levels (a fee with its currency: it is charged only on letters in
  that currency).

Amounts are the letters' net amounts due: the overdue items less the customer's unapplied
payments and credit notes in the same currency; what was netted is named when there is any.

A bad date, no levels, an unwritable folder or e-mail letters without an SMTP server end in one
clear line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from o2c_desktop.cli_support import (
    amount_text,
    long_run,
    money_text,
    parse_date,
    print_table,
)
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Actor

if TYPE_CHECKING:
    from o2c_desktop.services.dunning import RunProposal

EXIT_FAILURES = 1


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dunning = commands.add_parser("dunning", help="reminder letters: dunning runs and levels")
    actions = dunning.add_subparsers(dest="dunning_command", metavar="ACTION", required=True)
    run_parser = actions.add_parser(
        "run", help="propose the dunning run for a date and produce its letters"
    )
    run_parser.add_argument(
        "--as-of", required=True, metavar="DATE", help="the run's date (YYYY-MM-DD or today)"
    )
    run_parser.add_argument("--out", metavar="DIR", help="folder for the letters' PDF files")
    run_parser.add_argument(
        "--dry-run", action="store_true", help="print the proposal and write nothing"
    )
    actions.add_parser("levels", help="list the dunning levels")


def run(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    """The result on stdout; progress and the letters not delivered on stderr."""
    if args.dunning_command == "levels":
        return _levels(db, actor, sys.stdout)
    as_of = parse_date("--as-of", args.as_of)
    if args.dry_run:
        return _dry_run(db, actor, as_of, sys.stdout)
    if not args.out:
        raise O2CError("dunning run: --out DIR is required (or --dry-run to only see the proposal)")
    return _run(db, actor, as_of, Path(args.out), sys.stdout, sys.stderr)


def _per_currency(proposal: RunProposal, amount: str) -> str:
    per_currency: dict[str, Decimal] = defaultdict(Decimal)
    for letter in proposal.letters:
        per_currency[letter.currency] += getattr(letter, amount)
    return ", ".join(money_text(v, c) for c, v in sorted(per_currency.items()) if v)


def _totals(proposal: RunProposal) -> str:
    """The letters' net amounts due per currency, and the credits netted when there are any."""
    net = _per_currency(proposal, "overdue") or "nothing"
    credits = _per_currency(proposal, "credits")
    return net + (f" (after unapplied payments/credits of {credits})" if credits else "")


def _skipped(proposal: RunProposal) -> str:
    covered = proposal.skipped_credited
    return (
        f"skipped {proposal.skipped_disputed:,} customer(s) for disputed items, "
        f"{proposal.skipped_promised:,} for open promises"
        + (f", {covered:,} whose unapplied payments/credits cover the overdue" if covered else "")
    )


def _dry_run(db: Database, actor: Actor, as_of: date, out: TextIO) -> int:
    from o2c_desktop.services import dunning

    proposal = dunning.preview_run(db, actor, as_of)
    emails = sum(1 for x in proposal.letters if x.channel == "email")
    print(
        f"Dunning run as of {as_of.isoformat()} (dry run, nothing written): "
        f"{len(proposal.letters):,} letter(s), {emails:,} by e-mail; overdue {_totals(proposal)}; "
        f"{_skipped(proposal)}",
        file=out,
    )
    if proposal.letters:
        header = [
            "Customer",
            "Name",
            "Level",
            "Channel",
            "Currency",
            "Items",
            "Overdue",
            "Credits",
            "Net due",
            "Fee",
        ]
        rows = [
            [
                x.number,
                x.name,
                f"{x.level} {x.level_name}",
                x.channel + (f" {x.recipient}" if x.recipient else ""),
                x.currency,
                str(x.item_count),
                amount_text(x.items_overdue, x.currency, grouped=True),
                amount_text(x.credits, x.currency, grouped=True),
                amount_text(x.overdue, x.currency, grouped=True),
                amount_text(x.fee, x.currency, grouped=True),
            ]
            for x in proposal.letters
        ]
        print_table(header, rows, out, right=range(5, len(header)))
    return 0


def _run(db: Database, actor: Actor, as_of: date, folder: Path, out: TextIO, err: TextIO) -> int:
    from o2c_desktop.services import dunning
    from o2c_desktop.services.statements.batch import prepare_folder

    folder = prepare_folder(folder)  # before proposing: a bad folder leaves no run behind
    proposal = dunning.propose_run(db, actor, as_of)
    assert proposal.run_id is not None
    head = f"Dunning run #{proposal.run_id} as of {as_of.isoformat()}"
    if not proposal.letters:
        print(f"{head}: no letters are due; {_skipped(proposal)}", file=out)
        dunning.produce_run(db, actor, proposal.run_id, folder)  # records the run as produced
        return 0
    with long_run(err, "letters") as (progress, cancelled):
        result = dunning.produce_run(
            db, actor, proposal.run_id, folder, progress=progress, cancel=cancelled
        )
    print(
        f"{head}: wrote {result.files:,} of {len(proposal.letters):,} letters to {folder} in "
        f"{result.seconds:.1f} s ({result.per_second:.1f} letters/s), {result.emailed:,} "
        f"e-mailed, {len(result.failed):,} not delivered; overdue {_totals(proposal)}; "
        f"{_skipped(proposal)}"
        + ("; cancelled before the end (what was written is kept)" if result.cancelled else ""),
        file=out,
    )
    for line in result.failed:
        print(f"  {line}", file=err)
    return EXIT_FAILURES if result.failed or result.cancelled else 0


def _levels(db: Database, actor: Actor, out: TextIO) -> int:
    from o2c_desktop.services import dunning

    levels = dunning.list_levels(db, actor)
    if not levels:
        print("No dunning levels are set up.", file=out)
        return 0
    rows = [[str(x.level), x.name, str(x.days_past_due), x.channel, x.fee_text] for x in levels]
    header = ["Level", "Name", "Days past due", "Channel", "Fee"]
    print_table(header, rows, out, right=range(2, len(header)))
    return 0
