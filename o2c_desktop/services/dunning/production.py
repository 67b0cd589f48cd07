"""Producing a proposed run (Permission.RUN_DUNNING): one PDF per included letter, e-mailed too
for e-mail levels, each recorded as it is delivered.

Letters are read and recorded in chunks (`CHUNK` per unit of work); an e-mail is recorded at
once, so the delivery log never lags a message sent. A letter whose items, or whose customer's
unapplied payments and credit notes, changed since the proposal is left out and reported: its
figures are no longer right. Cancelling stops between letters: what was produced is recorded,
the run stays proposed, and producing it again carries on with the rest.

One pass at a time: the pass takes the run's lease first (services.dunning.lease: refused while
another pass holds it), renews it between letters, and ends it when it finishes, is cancelled
or fails. Recording takes only letters still unproduced (recording.record_written), so even a
pass that stalled past its lease and was taken over records nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from o2c_desktop.db import Database
from o2c_desktop.models.base import utcnow
from o2c_desktop.models.collections import CHANNEL_EMAIL, RUN_PRODUCED, RUN_PROPOSED
from o2c_desktop.services import audit
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.dunning import lease
from o2c_desktop.services.dunning.lease import Lease
from o2c_desktop.services.dunning.levels import LevelRow, levels_by_number
from o2c_desktop.services.dunning.mailer import NO_CONTACT, Mailer, open_mailer
from o2c_desktop.services.dunning.production_reads import (
    LetterFacts,
    QueuedLetter,
    read_facts,
    read_queue,
)
from o2c_desktop.services.dunning.recording import WrittenLetter, record_written
from o2c_desktop.services.dunning.runs import open_run
from o2c_desktop.services.dunning.templates import fill_template, template_values
from o2c_desktop.services.stored_rows import audit_change

CHUNK = 50  # letters read, and recorded, per unit of work while producing
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a production pass did. `files`: PDFs written; `emailed`: e-mails accepted by the
    server; `failed`: one line per letter not delivered, saying why."""

    files: int
    emailed: int
    failed: tuple[str, ...]
    seconds: float
    cancelled: bool

    @property
    def per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0


def _file_name(q: QueuedLetter, as_of: date, taken: set[str]) -> str:
    """`C0001-2025-06-30-reminder-2-EUR.pdf`, safe on every file system and unique in the run
    (two numbers that differ only in unsafe characters get the letter's id as well)."""
    from o2c_desktop.services.statements.batch import file_name

    values = {"customer": q.number, "date": as_of.isoformat(), "level": q.level, "cur": q.currency}
    name = file_name("{customer}-{date}-reminder-{level}-{cur}.pdf", values)
    if name.lower() in taken:
        name = file_name(
            "{customer}-{date}-reminder-{level}-{cur}-{id}.pdf", {**values, "id": q.letter_id}
        )
    taken.add(name.lower())
    return name


@dataclass
class _Production:
    """One production pass: what it shares between letters and what it has done so far."""

    db: Database
    actor: Actor
    as_of: date
    levels: dict[int, LevelRow]
    letterhead: Any
    folder: Path
    mailer: Mailer | None
    cancel: Callable[[], bool] | None
    taken: set[str]
    files: int = 0
    emailed: int = 0

    def produce(self, q: QueuedLetter, facts: LetterFacts) -> WrittenLetter | str:
        """Write (and send) one letter; a string says why it was not produced."""
        from o2c_desktop.services import dunning_letters
        from o2c_desktop.services.statements.output import write_pdf

        level = self.levels.get(q.level)
        if level is None:
            return f"{q.label}: level {q.level} was deleted after the proposal; propose again"
        customer = facts.addressees.get(q.customer_id)
        if customer is None:
            return f"{q.label}: the customer was deleted after the proposal"
        items = facts.items.get(q.letter_id, [])
        if not items or any(i.now_open != i.row.open_amount for i in items):
            return (
                f"{q.label}: left out, its items changed since the proposal (paid or disputed); "
                "the next run proposes what is still overdue"
            )
        gross = sum((i.row.open_amount for i in items), Decimal(0))
        credits = gross - q.overdue
        if facts.credits.get((q.customer_id, q.currency), Decimal(0)) != credits:
            return (
                f"{q.label}: left out, the customer's unapplied payments or credit notes changed "
                "since the proposal; the next run proposes what is still overdue"
            )
        values = template_values(
            customer,
            facts.contacts.get(q.customer_id),
            level.name,
            q.currency,
            gross,
            q.fee,
            self.as_of,
            self.letterhead.company_name,
            credits,
        )
        text = fill_template(level.template, values)
        letter = dunning_letters.Letter(
            self.as_of,
            customer,
            q.level,
            level.name,
            text,
            q.currency,
            tuple(
                dunning_letters.LetterLine(
                    i.row.number,
                    i.row.issue_date,
                    i.row.due_date,
                    i.row.days_past_due,
                    i.row.open_amount,
                )
                for i in items
            ),
            gross,
            q.fee,
            credits,
        )
        rendered = dunning_letters.render_letter(letter, self.letterhead)
        path = self.folder / _file_name(q, self.as_of, self.taken)
        write_pdf(path, rendered.pdf)
        self.files += 1
        done = WrittenLetter(
            q, level.name, tuple(items), path, hashlib.sha256(rendered.pdf).hexdigest(), None
        )
        if q.channel != CHANNEL_EMAIL or self.mailer is None:
            return done
        from o2c_desktop.services.statement_mail import statement_recipients

        recipients = statement_recipients(self.db, q.customer_id)
        if not recipients:
            sent, detail = False, NO_CONTACT
        else:
            sent, detail = self.mailer.send(
                recipients,
                f"{level.name}: customer {customer.number}, {values['total_due']} due",
                f"{text}\n\nThe reminder is attached as a PDF.\n",
                rendered.pdf,
                path.name,
                self.cancel,
            )
        self.emailed += int(sent)
        return replace(done, email=(", ".join(recipients), sent, detail))


def _finish(
    db: Database, actor: Actor, hold: Lease, folder: Path, cancelled: bool, summary: str
) -> None:
    """Record the pass on the run: its folder, produced unless cancelled, the lease ended, and
    the summary. A pass taken over (its lease no longer on the run) leaves the run to the pass
    that holds it and records only its summary."""
    with db.write() as session:
        run = open_run(session, hold.run_id, lock=True)
        before = {"status": run.status, "out_dir": run.out_dir, "produced_at": run.produced_at}
        if lease.release_in_session(session, actor, run, hold):
            run.out_dir = str(folder)[:500]
            if not cancelled and run.status == RUN_PROPOSED:
                run.status = RUN_PRODUCED
                run.produced_at = utcnow()
            session.flush()
        after = {"status": run.status, "out_dir": run.out_dir, "produced_at": run.produced_at}
        changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
        if changes:
            audit_change(session, actor, audit.UPDATE, run, changes)
        audit.record(session, actor, audit.UPDATE, "dunning_runs", run.id, note=summary)


def _release_after_failure(db: Database, actor: Actor, hold: Lease) -> None:
    """End the lease of a pass that failed. If even that fails (the database went away), the
    lease runs out by itself; the pass's own error is the one to show."""
    try:
        lease.release(db, actor, hold)
    except Exception:
        log.warning("could not end the lease on dunning run #%s", hold.run_id, exc_info=True)


def produce_run(
    db: Database,
    actor: Actor,
    run_id: int,
    out_dir: Path | str,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RunResult:
    """Write the run's included letters as PDFs into `out_dir` (and e-mail those of e-mail
    levels), recording each one delivered (see the module docstring). `progress(done, total)`
    after each letter; `cancel()` is asked before each letter: what was produced is kept and
    recorded, the run stays proposed, and producing it again carries on with the rest.
    Refused (lease.RunBeingProduced) while another pass produces the run."""
    actor.require(Permission.RUN_DUNNING)
    started = time.perf_counter()
    hold = lease.take(db, actor, run_id)
    try:
        return _produce(db, actor, hold, Path(out_dir), progress, cancel, started)
    except BaseException:
        _release_after_failure(db, actor, hold)
        raise


def _produce(
    db: Database,
    actor: Actor,
    hold: Lease,
    out_dir: Path,
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
    started: float,
) -> RunResult:
    """The pass itself, under the lease `hold` (see `produce_run`)."""
    from o2c_desktop.services import letterhead
    from o2c_desktop.services.statements.batch import prepare_folder

    run_id, as_of = hold.run_id, hold.as_of
    with db.read() as session:
        levels = levels_by_number(session)
        queue = read_queue(session, run_id)
    folder = prepare_folder(out_dir)
    mailer = open_mailer(db, actor, run_id, sum(1 for q in queue if q.channel == CHANNEL_EMAIL))
    job = _Production(
        db, actor, as_of, levels, letterhead.get_letterhead(db), folder, mailer, cancel, set()
    )
    failed: list[str] = []
    cancelled = False
    finished = 0

    def record(pending: list[WrittenLetter]) -> None:
        for other in record_written(db, actor, as_of, pending):
            failed.append(
                f"{other.queued.label}: recorded by another pass of the run meanwhile; "
                f"not recorded again (this pass's file: {other.path})"
            )

    try:
        for start in range(0, len(queue), CHUNK):
            chunk = queue[start : start + CHUNK]
            with db.read() as session:
                facts = read_facts(session, chunk)
            pending: list[WrittenLetter] = []
            try:
                for q in chunk:
                    if cancel is not None and cancel():
                        cancelled = True
                        break
                    lease.keep(db, hold)
                    outcome = job.produce(q, facts)
                    if isinstance(outcome, str):
                        failed.append(outcome)
                    else:
                        pending.append(outcome)
                        if outcome.email is not None:  # the log never lags an e-mail sent
                            if not outcome.delivered:
                                failed.append(
                                    f"{q.label}: e-mail not sent: {outcome.email[2]}; the letter "
                                    f"is at {outcome.path}"
                                )
                            record(pending)
                            pending = []
                    finished += 1
                    if progress is not None:
                        progress(finished, len(queue))
            finally:
                record(pending)
            if cancelled:
                break
    finally:
        if mailer is not None:
            mailer.close()
    seconds = time.perf_counter() - started
    summary = (
        f"dunning run produced into {folder}: {job.files} file(s), {job.emailed} e-mailed, "
        f"{len(failed)} not delivered" + (", cancelled before the end" if cancelled else "")
    )
    _finish(db, actor, hold, folder, cancelled, summary)
    return RunResult(job.files, job.emailed, tuple(failed), seconds, cancelled)
