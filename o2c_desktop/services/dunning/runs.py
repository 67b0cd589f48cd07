"""Runs and their letters as records: looking a run up, the state it must be in, cancelling
it, and the audit rows of changing a letter.

Proposing, reviewing and producing all change the same two tables: one lookup, one refusal of
a run already produced or replaced, and one way to audit a letter's change keep their messages
and audit rows alike wherever the change is made. (Runs are audited through
stored_rows.audit_change, which needs a version; letters carry none.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from o2c_desktop.errors import NotFound, O2CError
from o2c_desktop.models import DunningRun
from o2c_desktop.models.collections import RUN_CANCELLED, RUN_PRODUCED, RUN_PROPOSED
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.stored_rows import audit_change

Changes = Mapping[str, tuple[Any, Any]]


def open_run(session: Session, run_id: int, *, lock: bool = False) -> DunningRun:
    """The run (locked for update with `lock`), or NotFound."""
    run = session.get(DunningRun, run_id, with_for_update=lock)
    if run is None:
        raise NotFound(f"Dunning run #{run_id} does not exist.")
    return run


def must_be_proposed(run: DunningRun, doing: str) -> None:
    """Refuse `doing` on a run already produced, or replaced by a newer proposal."""
    if run.status == RUN_PRODUCED:
        raise O2CError(f"Dunning run #{run.id} was produced already; cannot {doing}.")
    if run.status == RUN_CANCELLED:
        raise O2CError(
            f"Dunning run #{run.id} was replaced by a newer proposal (or discarded); cannot "
            f"{doing}. Propose the run again."
        )


def cancel_run(session: Session, actor: Actor, run: DunningRun) -> None:
    """Mark a proposed run cancelled (superseded or discarded), audited."""
    run.status = RUN_CANCELLED
    session.flush()
    audit_change(session, actor, audit.UPDATE, run, {"status": (RUN_PROPOSED, RUN_CANCELLED)})


def audit_letter_change(
    session: Session, actor: Actor, letter_id: int, customer_id: int, changes: Changes
) -> None:
    """Audit a change of a letter's fields, on its customer's history."""
    audit.record(
        session,
        actor,
        audit.UPDATE,
        "dunning_letters",
        letter_id,
        customer_id=customer_id,
        changes=changes,
    )
