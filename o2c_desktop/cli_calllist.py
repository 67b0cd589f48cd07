"""`o2c-desktop calllist [--collector NAME] --as-of DATE [--format table|csv|json]`: the call list
for scripts (a morning e-mail, a wallboard).

Without --collector it is the whole team's list (every customer, assigned or not), which needs
the right to see every portfolio; with it, that collector's list (NAME is a login or a display
name; an unknown or ambiguous name is one clear error line and exit code 1). One row per
customer, in the list's order (score, then overdue amount, then customer number).

Output formats (the style of `report`)
- table: aligned for people, amounts grouped with the currency's decimals.
- csv: customer, name, collector, currency, score, overdue, oldest_days_past_due, next_action,
  claimed_by, reasons (joined with "; ").
- json: {"as_of", "collector" (null for the team), "strategy", "customers": [{"customer",
  "collector", "score", "reasons": [...], "overdue", "oldest_days_past_due", "next_action",
  "name", "currency", "claimed_by"}]}; amounts are strings with the currency's decimals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TextIO

from o2c_desktop.cli_support import amount_text, clip, csv_writer, parse_date, print_table
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services import call_list as call_list_service
from o2c_desktop.services import users
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.collection_strategy import active_strategy

_NAME_WIDTH = 30


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "calllist", help="the prioritized call list of a collector or of the whole team"
    )
    parser.add_argument(
        "--collector",
        metavar="NAME",
        help="a collector's login or display name (default: the whole team's list)",
    )
    parser.add_argument("--as-of", required=True, metavar="DATE", help="YYYY-MM-DD or today")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N customers")


def find_user(db: Database, actor: Actor, name: str) -> tuple[int, str]:
    """(id, display name) of the user whose login is `name`, else whose display name is (case
    does not matter); unknown or ambiguous names are one clear error."""
    text = name.strip()
    everyone = users.list_users(db, actor)
    found = [u for u in everyone if u.username == text] or [
        u for u in everyone if u.display_name.casefold() == text.casefold()
    ]
    if not found:
        raise O2CError(f"--collector {name!r}: no user with that login or display name")
    if len(found) > 1:
        raise O2CError(
            f"--collector {name!r}: {len(found)} users have that display name; use the login"
        )
    return found[0].id, found[0].display_name


def run(db: Database, actor: Actor, args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    as_of = parse_date("--as-of", args.as_of)
    if args.limit is not None and args.limit < 1:
        raise O2CError(f"--limit {args.limit}: expected at least 1")
    collector: tuple[int, str] | None = None
    if args.collector is not None:
        collector = find_user(db, actor, args.collector)
        rows = call_list_service.call_list(
            db, actor, as_of, collector_id=collector[0], limit=args.limit
        )
    else:
        rows = call_list_service.call_list(db, actor, as_of, team=True, limit=args.limit)
    head = {
        "as_of": as_of,
        "collector": collector[1] if collector else None,
        "strategy": active_strategy(db).name,
    }
    _FORMATS[args.format](head, rows, stream)
    return 0


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------

Row = call_list_service.CallListRow
Rows = Sequence[Row]


def row_json(r: Row) -> dict[str, Any]:
    return {
        "customer": r.number,
        "collector": r.collector,
        "score": r.score,
        "reasons": list(r.reasons),
        "overdue": amount_text(r.overdue, r.currency),
        "oldest_days_past_due": r.oldest_days_past_due,
        "next_action": r.next_action,
        "name": r.name,
        "currency": r.currency,
        "claimed_by": r.claimed_by,
    }


def _json(head: dict[str, Any], rows: Rows, stream: TextIO) -> None:
    """The document with one customer per line (the team's list is tens of thousands)."""
    top = {
        "as_of": head["as_of"].isoformat(),
        "collector": head["collector"],
        "strategy": head["strategy"],
    }
    text = json.dumps(top, ensure_ascii=False, indent=2)
    stream.write(text[: text.rindex("}")].rstrip() + ',\n  "customers": [')
    for k, r in enumerate(rows):
        stream.write(("," if k else "") + "\n    " + json.dumps(row_json(r), ensure_ascii=False))
    stream.write(("\n  ]" if rows else "]") + "\n}\n")


# The CSV's columns: name and value, in their order.
_CSV_COLUMNS: tuple[tuple[str, Callable[[Row], object]], ...] = (
    ("customer", lambda r: r.number),
    ("name", lambda r: r.name),
    ("collector", lambda r: r.collector or ""),
    ("currency", lambda r: r.currency),
    ("score", lambda r: r.score),
    ("overdue", lambda r: amount_text(r.overdue, r.currency)),
    ("oldest_days_past_due", lambda r: r.oldest_days_past_due),
    ("next_action", lambda r: r.next_action),
    ("claimed_by", lambda r: r.claimed_by or ""),
    ("reasons", lambda r: "; ".join(r.reasons)),
)

# The table's columns: heading, alignment ("<" left, ">" right) and cell, in their order.
_TABLE_COLUMNS: tuple[tuple[str, str, Callable[[Row], str]], ...] = (
    ("Customer", "<", lambda r: r.number),
    ("Name", "<", lambda r: clip(r.name, _NAME_WIDTH)),
    ("Collector", "<", lambda r: clip(r.collector or "-", 20)),
    ("Score", ">", lambda r: str(r.score)),
    ("Overdue", ">", lambda r: amount_text(r.overdue, r.currency, grouped=True)),
    ("Cur", "<", lambda r: r.currency),
    ("Days", ">", lambda r: str(r.oldest_days_past_due)),
    ("Next action", "<", lambda r: r.next_action + (f" [{r.claimed_by}]" if r.claimed_by else "")),
    ("Reasons", "<", lambda r: "; ".join(r.reasons)),
)


def _csv(head: dict[str, Any], rows: Rows, stream: TextIO) -> None:
    writer = csv_writer(stream)
    writer.writerow([name for name, _ in _CSV_COLUMNS])
    for r in rows:
        writer.writerow([value(r) for _, value in _CSV_COLUMNS])


def _table(head: dict[str, Any], rows: Rows, stream: TextIO) -> None:
    whose = head["collector"] or "the team"
    as_of: date = head["as_of"]
    stream.write(
        f"Call list of {whose} for {as_of.isoformat()} (strategy {head['strategy']}): "
        f"{len(rows):,} customer{'s' if len(rows) != 1 else ''}\n\n"
    )
    if not rows:
        stream.write("Nobody to call.\n")
        return
    header = [heading for heading, _, _ in _TABLE_COLUMNS]
    right = {k for k, (_, align, _) in enumerate(_TABLE_COLUMNS) if align == ">"}
    cells = [[cell(r) for _, _, cell in _TABLE_COLUMNS] for r in rows]
    print_table(header, cells, stream, right=right)


_FORMATS: dict[str, Callable[[dict[str, Any], Rows, TextIO], None]] = {
    "table": _table,
    "csv": _csv,
    "json": _json,
}
