"""One statement: rendered in memory, or written to a file and entered in the delivery log."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.models.statements import CHANNEL_FILE, RESULT_OK
from o2c_desktop.services import aging, letterhead
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.letterhead import Letterhead
from o2c_desktop.services.statement_delivery import record_delivery
from o2c_desktop.services.statements.data import (
    StatementData,
    StatementRequest,
    check_request,
    load_statement,
    snapshot,
)
from o2c_desktop.services.statements.render import RenderedStatement, render_pdf


@dataclass(frozen=True)
class StatementFile:
    """A statement written to disk. `total_due` is in the customer's own currency (a customer
    with items in other currencies has more totals on the statement itself)."""

    customer_id: int
    customer_number: str
    path: Path
    sha256: str
    pages: int
    total_due: Decimal
    currency: str


def produce(
    session: Session, request: StatementRequest, buckets: Any, head: Letterhead
) -> tuple[StatementData, RenderedStatement]:
    """Read and render one statement in the caller's session (the batch's workers use this)."""
    data = load_statement(session, request, buckets)
    return data, render_pdf(data, head)


def write_pdf(path: Path, pdf: bytes) -> None:
    """Write atomically (a reader never sees half a PDF), one clear line on failure."""
    if path.is_dir():
        raise O2CError(f"Cannot write the PDF to {path}: that is a folder.")
    if not path.parent.is_dir():
        raise O2CError(f"Cannot write the PDF to {path}: the folder {path.parent} does not exist.")
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_bytes(pdf)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise O2CError(f"Cannot write the PDF to {path}: {exc.strerror or exc}.") from None


def statement_file(data: StatementData, rendered: RenderedStatement, path: Path) -> StatementFile:
    return StatementFile(
        data.customer.id,
        data.customer.number,
        path,
        hashlib.sha256(rendered.pdf).hexdigest(),
        rendered.pages,
        data.total_due,
        data.currency,
    )


def _render(
    db: Database, actor: Actor, request: StatementRequest
) -> tuple[StatementData, RenderedStatement]:
    actor.require(Permission.PRINT_STATEMENTS)
    actor.require(Permission.VIEW_CUSTOMERS)
    check_request(request)
    buckets = aging.get_buckets(db)
    head = letterhead.get_letterhead(db)
    with snapshot(db) as session:
        return produce(session, request, buckets, head)


def render_statement(db: Database, actor: Actor, request: StatementRequest) -> bytes:
    """The statement as PDF bytes (for a preview or printing; nothing is logged)."""
    return _render(db, actor, request)[1].pdf


def write_statement(
    db: Database, actor: Actor, request: StatementRequest, path: Path
) -> StatementFile:
    """Write the statement to `path` and log it as a "file" delivery with its SHA-256."""
    data, rendered = _render(db, actor, request)
    path = Path(path)
    write_pdf(path, rendered.pdf)
    produced = statement_file(data, rendered, path)
    record_delivery(
        db,
        actor,
        customer_id=produced.customer_id,
        statement_date=request.as_of,
        kind=request.kind,
        file=path,
        sha256=produced.sha256,
        channel=CHANNEL_FILE,
        result=RESULT_OK,
        detail=f"{rendered.pages} page(s), total due {produced.currency} {produced.total_due}",
    )
    return produced
