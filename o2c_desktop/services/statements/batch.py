"""The month-end run: statements for many customers, across processes, one file each.

Who gets one (`select_customers`): a balance of at least X at the statement date (in any of its
currencies), a segment, a collector's portfolio, a hand-picked list, or any mix; one SQL query
over aging.signed_rows, so 200,000 customers cost one grouped scan.

How (`run_batch`): the customers are cut into chunks; each chunk is read and rendered by a worker
process (its own Database opened from the URL, one read snapshot per chunk) that writes the
files and reports back what it wrote and what failed. The calling process alone writes to the
database: after each chunk it enters that chunk's files (and failures) in the delivery log, in
one unit of work, and reports progress. Cancel is cooperative, between chunks: chunks already
running finish and are logged, the rest never start. Workers start with "forkserver" where
the platform has it, else "spawn" (never a plain fork: the GUI process has Qt threads).
`processes=1`, or a batch of a single chunk, runs in the calling process.

A customer whose statement cannot be produced is listed in `failures` with the reason (and
logged as a failed delivery); the others go on. Nothing is dropped silently.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import signal
import string
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, type_coerce

from o2c_desktop.db import Database
from o2c_desktop.db.types import Money
from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models import Customer, User
from o2c_desktop.models.statements import CHANNEL_FILE, RESULT_FAILED, RESULT_OK
from o2c_desktop.services import aging, letterhead
from o2c_desktop.services.aging import Bucket
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statement_delivery import DeliveryEntry, record_deliveries
from o2c_desktop.services.statements.data import (
    StatementData,
    StatementKind,
    StatementRequest,
    check_request,
    load_statements,
    snapshot,
)
from o2c_desktop.services.statements.output import StatementFile, statement_file, write_pdf
from o2c_desktop.services.statements.render import render_combined, render_pdf

NAME_FIELDS = ("customer", "name", "date", "kind", "currency", "id")
MAX_CHUNK = 50
MIN_CHUNK = 5
_MAX_NAME = 150
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_IN_LIST = 5_000  # longer hand-picked lists are intersected in Python, not sent as IN (...)


# ---------------------------------------------------------------------------------------------
# Choosing customers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSelection:
    """Which customers get a statement; every criterion given must hold. `min_balance` is the
    least balance at the statement date (open items − unapplied cash) in any one currency."""

    min_balance: Decimal | None = None
    segment: str | None = None
    collector_id: int | None = None
    customer_ids: tuple[int, ...] | None = None


def select_customers(db: Database, selection: BatchSelection, as_of: date) -> list[int]:
    """The customers a batch covers, by customer number."""
    wanted = None if selection.customer_ids is None else set(selection.customer_ids)
    if wanted is not None and not wanted:
        return []
    with aging.reading(db) as session:
        stmt = select(Customer.id).order_by(Customer.number)
        if selection.segment is not None:
            stmt = stmt.where(Customer.segment == selection.segment)
        if selection.collector_id is not None:
            stmt = stmt.where(Customer.collector_id == selection.collector_id)
        if wanted is not None and len(wanted) <= _IN_LIST:
            stmt = stmt.where(Customer.id.in_(sorted(wanted)))
        if selection.min_balance is not None:
            rows = aging.signed_rows(session, as_of, aging.source_for(session, as_of))
            balance = type_coerce(
                func.coalesce(func.sum(rows.c.amount), 0) - func.coalesce(func.sum(rows.c.cash), 0),
                Money(),
            )
            owing = (
                select(rows.c.customer_id)
                .group_by(rows.c.customer_id, rows.c.currency)
                .having(balance >= selection.min_balance)
            )
            stmt = stmt.where(Customer.id.in_(owing))
        ids = list(session.scalars(stmt))
    return ids if wanted is None else [i for i in ids if i in wanted]


def customers_by_number(db: Database, numbers: Sequence[str]) -> tuple[list[int], list[str]]:
    """Ids of the given customer numbers (in the order given), and the numbers not found."""
    wanted = [n.strip() for n in numbers if n.strip()]
    found: dict[str, int] = {}
    with db.read() as session:
        for k in range(0, len(wanted), _IN_LIST):
            part = wanted[k : k + _IN_LIST]
            rows = session.execute(
                select(Customer.number, Customer.id).where(Customer.number.in_(part))
            )
            found.update({number: cid for number, cid in rows})
    ids = list(dict.fromkeys(found[n] for n in wanted if n in found))
    return ids, [n for n in wanted if n not in found]


def collector_by_name(db: Database, name: str) -> int | None:
    """The user whose login or display name is `name` (case-insensitive), for "a collector's
    portfolio"; None when nobody or more than one person matches."""
    key = name.strip().lower()
    with db.read() as session:
        ids = list(
            session.scalars(
                select(User.id).where(
                    (func.lower(User.username) == key) | (func.lower(User.display_name) == key)
                )
            )
        )
    return ids[0] if len(ids) == 1 else None


# ---------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------


def check_pattern(pattern: str, *, several: bool) -> str:
    """A file-name pattern made of NAME_FIELDS in braces; ".pdf" is added when missing. With
    several customers it must name each one ({customer} or {id})."""
    problems: list[FieldProblem] = []
    used: set[str] = set()
    try:
        for _text, name, spec, conversion in string.Formatter().parse(pattern):
            if name is None:
                continue
            if name not in NAME_FIELDS or spec or conversion:
                problems.append(
                    FieldProblem(
                        "name pattern",
                        f"unknown field {{{name}}}; use "
                        + ", ".join(f"{{{f}}}" for f in NAME_FIELDS),
                        value=pattern,
                    )
                )
            used.add(name)
    except ValueError as exc:
        problems.append(FieldProblem("name pattern", f"unbalanced braces ({exc})", value=pattern))
    if not pattern.strip():
        problems.append(FieldProblem("name pattern", "required"))
    if "/" in pattern or "\\" in pattern:
        problems.append(
            FieldProblem("name pattern", "a file name, not a path (choose the folder apart)")
        )
    if several and not used & {"customer", "id"}:
        problems.append(
            FieldProblem(
                "name pattern",
                "must contain {customer} (or {id}) so that each customer gets its own file",
                value=pattern,
            )
        )
    if problems:
        raise ValidationFailed(problems, "Statements")
    return pattern if pattern.lower().endswith(".pdf") else pattern + ".pdf"


def safe_name(text: str) -> str:
    """A piece of a file name that every file system accepts."""
    cleaned = _UNSAFE.sub("_", text)
    cleaned = " ".join(cleaned.split()).strip(" .")
    return cleaned or "_"


def file_name(pattern: str, values: dict[str, Any]) -> str:
    name = pattern.format(**{k: safe_name(str(v)) for k, v in values.items()})
    stem, suffix = name[: -len(".pdf")], name[-len(".pdf") :]
    stem = safe_name(stem)[: _MAX_NAME - len(suffix)]
    if _RESERVED.match(stem):
        stem = "_" + stem
    return stem + suffix


def prepare_folder(folder: Path) -> Path:
    """Create the output folder if needed and prove it is writable, or one clear error."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".o2c-write-test-"):
            pass
    except OSError as exc:
        raise O2CError(
            f"Cannot write statements to the folder {folder}: {exc.strerror or exc}."
        ) from None
    return folder


# ---------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """What every statement of the batch shares; read once by the caller and sent to workers,
    so all statements of a run use the same buckets and letterhead."""

    as_of: date
    kind: StatementKind
    period_from: date | None
    buckets: tuple[Bucket, ...]
    letterhead: Letterhead
    out_dir: Path
    keep_data: bool = False  # send the statements' content back, for the combined PDF


@dataclass
class _ChunkResult:
    files: list[StatementFile] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # id, file name, why
    data: list[StatementData] = field(default_factory=list)


def _run_chunk(db: Database, settings: _Settings, chunk: Sequence[tuple[int, str]]) -> _ChunkResult:
    """Read, render and write the statements of one chunk, in one read snapshot."""
    result = _ChunkResult()
    try:
        with snapshot(db) as session:
            loaded = load_statements(
                session,
                [cid for cid, _name in chunk],
                settings.as_of,
                settings.kind,
                settings.period_from,
                settings.buckets,
            )
    except Exception as exc:  # the database went away: every customer of the chunk failed
        why = str(exc) if isinstance(exc, O2CError) else f"{type(exc).__name__}: {exc}"
        result.failures += [(cid, name, why) for cid, name in chunk]
        return result
    for customer_id, name in chunk:
        path = settings.out_dir / name
        try:
            data = loaded[customer_id]
            if isinstance(data, O2CError):
                raise data
            rendered = render_pdf(data, settings.letterhead)
            write_pdf(path, rendered.pdf)
            result.files.append(statement_file(data, rendered, path))
            if settings.keep_data:
                result.data.append(data)
        except O2CError as exc:
            result.failures.append((customer_id, name, str(exc)))
        except Exception as exc:  # a bug must not cost the other customers their statement
            result.failures.append(
                (customer_id, name, f"unexpected error: {type(exc).__name__}: {exc}")
            )
    return result


_worker: tuple[Database, _Settings] | None = None


def _start_worker(url: str, settings: _Settings) -> None:
    """A worker opens its own database; Ctrl+C is the parent's to handle (it cancels the run
    between chunks), so a worker ignores it rather than dying with half a chunk done."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (Database(url), settings)


def _work(chunk: Sequence[tuple[int, str]]) -> _ChunkResult:
    assert _worker is not None, "worker started without its database"
    return _run_chunk(_worker[0], _worker[1], chunk)


def _context() -> Any:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What a run produced: the files (in the order the customers were given), the customers
    that failed with the reason, whether Cancel stopped it, the combined PDF if asked for."""

    files: list[StatementFile]
    failures: list[tuple[int, str]]
    cancelled: bool
    combined: Path | None
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.files) / self.seconds if self.seconds > 0 else 0.0


def _chunks(items: Sequence[tuple[int, str]], workers: int) -> list[list[tuple[int, str]]]:
    size = max(MIN_CHUNK, min(MAX_CHUNK, math.ceil(len(items) / max(1, workers * 8))))
    return [list(items[k : k + size]) for k in range(0, len(items), size)]


def _names(
    db: Database, ids: Sequence[int], pattern: str, settings: _Settings
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """A unique, safe file name per customer; customers that do not exist are failures."""
    known: dict[int, tuple[str, str, str]] = {}
    with db.read() as session:
        for k in range(0, len(ids), _IN_LIST):
            part = ids[k : k + _IN_LIST]
            for cid, number, name, currency in session.execute(
                select(Customer.id, Customer.number, Customer.name, Customer.currency).where(
                    Customer.id.in_(part)
                )
            ):
                known[cid] = (number, name, currency)
    named: list[tuple[int, str]] = []
    missing: list[tuple[int, str]] = []
    taken: set[str] = set()
    for cid in ids:
        if cid not in known:
            missing.append((cid, f"Customer #{cid} does not exist (deleted by another user?)."))
            continue
        number, name, currency = known[cid]
        values = {
            "customer": number,
            "name": name,
            "date": settings.as_of.isoformat(),
            "kind": settings.kind,
            "currency": currency,
            "id": cid,
        }
        chosen = file_name(pattern, values)
        if chosen.lower() in taken:  # two numbers that differ only in unsafe characters
            chosen = f"{chosen[:-4]}-{cid}.pdf"
        taken.add(chosen.lower())
        named.append((cid, chosen))
    return named, missing


def _combine(statements: Sequence[StatementData], head: Letterhead, target: Path) -> Path:
    """One PDF of all the statements, in order, for printing: rendered as one document, so
    fonts and logo are in it once (a merge of the single files would carry them thousands
    of times, and took pypdf about 15 ms per statement)."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with partial.open("wb") as out:
            render_combined(statements, head, out)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise O2CError(f"Cannot write the combined PDF {target}: {exc.strerror or exc}.") from None
    return target


class _Log:
    """Enters each finished chunk in the delivery log and keeps the run's totals."""

    def __init__(self, db: Database, actor: Actor, settings: _Settings):
        self.db, self.actor, self.settings = db, actor, settings
        self.files: list[StatementFile] = []
        self.failures: list[tuple[int, str]] = []
        self.data: dict[int, StatementData] = {}

    def add(self, result: _ChunkResult) -> None:
        entries = [
            DeliveryEntry(
                f.customer_id,
                self.settings.as_of,
                self.settings.kind,
                f.path,
                f.sha256,
                CHANNEL_FILE,
                RESULT_OK,
                f"batch; {f.pages} page(s), total due {f.currency} {f.total_due}",
            )
            for f in result.files
        ]
        if result.failures:
            with self.db.read() as session:
                wanted = sorted({cid for cid, _n, _w in result.failures})
                existing = set(session.scalars(select(Customer.id).where(Customer.id.in_(wanted))))
            entries += [
                DeliveryEntry(
                    cid,
                    self.settings.as_of,
                    self.settings.kind,
                    self.settings.out_dir / name,
                    None,
                    CHANNEL_FILE,
                    RESULT_FAILED,
                    why,
                )
                for cid, name, why in result.failures
                if cid in existing
            ]
        record_deliveries(self.db, self.actor, entries)
        self.data.update((d.customer.id, d) for d in result.data)
        self.files += result.files
        self.failures += [(cid, why) for cid, _name, why in result.failures]


def run_batch(
    db: Database,
    actor: Actor,
    *,
    as_of: date,
    kind: StatementKind,
    period_from: date | None,
    customer_ids: Sequence[int],
    out_dir: Path,
    name_pattern: str = "{customer}-{date}.pdf",
    combined: Path | None = None,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> BatchResult:
    """Write one statement per customer into `out_dir` (and, unless cancelled, the combined PDF).
    `processes` None uses every core; progress(done, total) is called after each chunk."""
    started = time.perf_counter()
    actor.require(Permission.PRINT_STATEMENTS)
    actor.require(Permission.VIEW_CUSTOMERS)
    check_request(StatementRequest(0, as_of, kind, period_from))
    ids = list(dict.fromkeys(customer_ids))
    pattern = check_pattern(name_pattern, several=len(ids) > 1)
    folder = prepare_folder(out_dir)
    if combined is not None:
        combined = Path(combined).expanduser()
        prepare_folder(combined.parent)
    start = StatementRequest(0, as_of, kind, period_from).period_start
    settings = _Settings(
        as_of,
        kind,
        start,
        aging.get_buckets(db),
        letterhead.get_letterhead(db),
        folder,
        keep_data=combined is not None,
    )
    named, missing = _names(db, ids, pattern, settings)
    log = _Log(db, actor, settings)
    log.failures += missing
    total = len(ids)
    done = len(missing)
    workers = max(1, processes if processes is not None else (os.cpu_count() or 1))
    chunks = _chunks(named, workers)
    stopped = False

    def finished(result: _ChunkResult, size: int) -> None:
        nonlocal done
        log.add(result)
        done += size
        if progress is not None:
            progress(done, total)

    if workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            if cancelled is not None and cancelled():
                stopped = True
                break
            finished(_run_chunk(db, settings, chunk), len(chunk))
    else:
        stopped = _in_processes(
            db, settings, chunks, min(workers, len(chunks)), finished, cancelled
        )
    order = {cid: k for k, cid in enumerate(ids)}
    log.files.sort(key=lambda f: order[f.customer_id])
    log.failures.sort(key=lambda f: order.get(f[0], len(order)))
    made = None
    if combined is not None and not stopped and log.files:
        made = _combine([log.data[f.customer_id] for f in log.files], settings.letterhead, combined)
    return BatchResult(log.files, log.failures, stopped, made, time.perf_counter() - started)


def _in_processes(
    db: Database,
    settings: _Settings,
    chunks: Iterable[list[tuple[int, str]]],
    workers: int,
    finished: Callable[[_ChunkResult, int], None],
    cancelled: Callable[[], bool] | None,
) -> bool:
    """Run the chunks on a process pool; True if Cancel stopped it."""
    url = db.url.render_as_string(hide_password=False)
    stopped = False
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=_start_worker,
        initargs=(url, settings),
    ) as pool:
        futures: dict[Future[_ChunkResult], list[tuple[int, str]]] = {
            pool.submit(_work, chunk): chunk for chunk in chunks
        }
        pending = set(futures)
        for future in as_completed(futures):
            pending.discard(future)
            finished(_outcome(future, futures[future]), len(futures[future]))
            if cancelled is not None and cancelled():
                stopped = True
                for other in pending:
                    other.cancel()
                break
        if stopped:  # chunks already running finish; their files exist, so they are logged
            for future in pending:
                if not future.cancelled():
                    finished(_outcome(future, futures[future]), len(futures[future]))
    return stopped


def _outcome(future: Future[_ChunkResult], chunk: list[tuple[int, str]]) -> _ChunkResult:
    """A chunk's result, or every customer of it failed when its worker died."""
    try:
        return future.result()
    except Exception as exc:
        why = f"the worker process stopped ({type(exc).__name__}: {exc})"
        return _ChunkResult([], [(cid, name, why) for cid, name in chunk])
