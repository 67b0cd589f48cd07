"""One production pass of a dunning run at a time, on SQLite and PostgreSQL.

Each pass runs in its own thread with its own sessions (as two windows, or the app and the
scheduled CLI job, would). A pass is held in the middle of its letters (its progress callback
waits) while the other acts, so the overlap is certain rather than lucky: the second pass is
refused with who produces the run since when, a new proposal and the review's changes are
refused too, and every letter is produced, recorded and reported to the customer exactly once.
A pass that stalls past its lease is taken over, and then records nothing a second time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.models import Activity, AuditEntry, DunningLetter, DunningRun
from o2c_desktop.models.base import utcnow
from o2c_desktop.services import dunning
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.dunning import lease as lease_module
from tests.services.test_dunning import AS_OF, Book, build_book, seed_levels

WAIT = 60  # seconds: a thread that takes longer is stuck


@pytest.fixture
def book(db: Database, admin: Actor) -> Book:
    """test_dunning's book: six letters as of AS_OF (D-500 gets two, in EUR and USD)."""
    seed_levels(db)
    return build_book(db, admin)


class Pass:
    """`produce_run` on its own thread, held after its first letter until `resume` is set."""

    def __init__(self, db: Database, actor: Actor, run_id: int, folder: Path, hold: bool = True):
        self.first_letter = threading.Event()
        self.resume = threading.Event()
        if not hold:
            self.resume.set()
        self.result: Any = None
        self.error: BaseException | None = None

        def progress(done: int, _total: int) -> None:
            if done == 1:
                self.first_letter.set()
                assert self.resume.wait(WAIT), "never resumed"

        def run() -> None:
            try:
                self.result = dunning.produce_run(db, actor, run_id, folder, progress=progress)
            except BaseException as exc:  # reported to the test, not lost in the thread
                self.error = exc
            finally:
                self.first_letter.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.resume.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the pass never finished"


def _letters(db: Database, run_id: int) -> list[DunningLetter]:
    with db.read() as session:
        rows = session.scalars(select(DunningLetter).where(DunningLetter.run_id == run_id)).all()
        session.expunge_all()
        return list(rows)


def _one_reminder_per_letter(db: Database, run_id: int) -> None:
    """Each letter of the run produced, and reported on its customer's activity, exactly once
    (a customer with letters in two currencies has two)."""
    letters = _letters(db, run_id)
    assert all(x.produced_at is not None for x in letters)
    with db.read() as session:
        reminders = Counter(
            session.scalars(select(Activity.customer_id).where(Activity.kind == "dunning"))
        )
    assert reminders == Counter(x.customer_id for x in letters)
    assert sum(reminders.values()) == len(letters) == 6


def _audited_produced(db: Database, run_id: int) -> Counter[str]:
    """How often each letter of the run was audited as produced."""
    with db.read() as session:
        ids = [str(x.id) for x in _letters(db, run_id)]
        return Counter(
            session.scalars(
                select(AuditEntry.record_id).where(
                    AuditEntry.table_name == "dunning_letters",
                    AuditEntry.field == "produced_at",
                    AuditEntry.record_id.in_(ids),
                )
            )
        )


def _level_raises(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(
            session.scalars(
                select(AuditEntry.record_id).where(
                    AuditEntry.table_name == "invoices", AuditEntry.field == "dunning_level"
                )
            )
        )


def _lease(db: Database, run_id: int) -> tuple[Any, Any, str]:
    with db.read() as session:
        run = session.get(DunningRun, run_id)
        assert run is not None
        return run.producer_id, run.producing_until, run.status


def _refused(call: Callable[[], Any], match: str) -> None:
    with pytest.raises(dunning.RunBeingProduced, match=match):
        call()


def test_a_second_pass_is_refused_while_the_first_produces_the_run(
    db: Database, admin: Actor, manager: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    run_id = proposal.run_id
    assert run_id is not None and len(proposal.letters) == 6
    first = Pass(db, manager, run_id, tmp_path / "maria")
    try:
        assert first.first_letter.wait(WAIT) and first.error is None
        busy = rf"Dunning run #{run_id} is being produced by Maria since \d\d:\d\d; "
        _refused(
            lambda: dunning.produce_run(db, admin, run_id, tmp_path / "admin"),
            busy + "try again when it has finished",
        )
        # The same user in another window is refused too: the lease is the pass's, not the
        # user's.
        _refused(
            lambda: dunning.produce_run(db, manager, run_id, tmp_path / "again"),
            r"being produced by you \(in another window, or a scheduled job\)",
        )
        # A new proposal would cancel the run under the pass: refused, the run is left alone.
        _refused(
            lambda: dunning.propose_run(db, admin, AS_OF),
            busy + r"propose the new run when it has finished",
        )
        with db.read() as session:
            run = session.get(DunningRun, run_id)
            assert run is not None
            version = run.version
        _refused(lambda: dunning.discard_run(db, admin, run_id, version), busy)
        _refused(
            lambda: dunning.set_included(db, admin, proposal.letters[-1].letter_id, False), busy
        )
    finally:
        first.finish()

    assert first.error is None, first.error
    assert (first.result.files, first.result.failed) == (6, ())
    assert len(list((tmp_path / "maria").glob("*.pdf"))) == 6
    assert not (tmp_path / "admin").exists() or not list((tmp_path / "admin").glob("*.pdf"))
    letters = _letters(db, run_id)
    assert all(x.produced_at is not None and x.included for x in letters)
    _one_reminder_per_letter(db, run_id)
    assert set(_audited_produced(db, run_id).values()) == {1}
    assert set(_level_raises(db).values()) == {1}
    assert _lease(db, run_id) == (None, None, "produced")  # released when the pass ended
    assert (
        dunning.propose_run(db, admin, AS_OF).letters == ()
    )  # nothing proposed twice once produced


def test_two_passes_started_together_produce_every_letter_once(
    db: Database, admin: Actor, manager: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    run_id = proposal.run_id
    assert run_id is not None
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def produce(name: str, actor: Actor) -> None:
        start.wait(WAIT)
        try:
            outcomes[name] = dunning.produce_run(db, actor, run_id, tmp_path / name)
        except O2CError as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=produce, args=(name, actor), daemon=True)
        for name, actor in (("admin", admin), ("maria", manager))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()

    results = [x for x in outcomes.values() if isinstance(x, dunning.RunResult)]
    refusals = [x for x in outcomes.values() if isinstance(x, O2CError)]
    assert len(results) == 1 and len(refusals) == 1, outcomes
    assert results[0].files == 6 and results[0].failed == ()
    # Refused while the winner produced the run, or after it had finished.
    assert "is being produced by" in str(refusals[0]) or "produced already" in str(refusals[0])
    assert (
        sum(
            len(list((tmp_path / n).glob("*.pdf")))
            for n in ("admin", "maria")
            if (tmp_path / n).exists()
        )
        == 6
    )
    _one_reminder_per_letter(db, run_id)
    assert set(_audited_produced(db, run_id).values()) == {1}
    assert set(_level_raises(db).values()) == {1}
    assert _lease(db, run_id) == (None, None, "produced")


def test_a_pass_taken_over_after_its_lease_ran_out_records_nothing_twice(
    db: Database,
    admin: Actor,
    manager: Actor,
    book: Book,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lease_module, "RENEW_SECONDS", 0.0)  # renew (and check) every letter
    proposal = dunning.propose_run(db, admin, AS_OF)
    run_id = proposal.run_id
    assert run_id is not None
    stalled = Pass(db, manager, run_id, tmp_path / "maria")
    try:
        assert stalled.first_letter.wait(WAIT) and stalled.error is None
        # Maria's pass hangs (a dead network drive, a laptop closed) until its lease runs out.
        with db.write() as session:
            session.execute(
                update(DunningRun.__table__)
                .where(DunningRun.__table__.c.id == run_id)
                .values(producing_until=utcnow() - timedelta(minutes=1))
            )
        # Another pass may now take the run over, and produces every letter not recorded yet:
        # all six, the one Maria's pass holds among them.
        rest = dunning.produce_run(db, admin, run_id, tmp_path / "admin")
        assert (rest.files, rest.failed) == (6, ())
    finally:
        stalled.finish()

    # Maria's pass wakes up: it has lost the run, stops, and records nothing twice.
    assert isinstance(stalled.error, dunning.LeaseLost), stalled.error
    assert f"Dunning run #{run_id} was taken over by" in str(stalled.error)
    assert stalled.result is None
    letters = _letters(db, run_id)
    assert all(x.produced_at is not None for x in letters)
    assert all(Path(x.file_name).parent == tmp_path / "admin" for x in letters)
    _one_reminder_per_letter(db, run_id)
    assert set(_audited_produced(db, run_id).values()) == {1}
    assert set(_level_raises(db).values()) == {1}
    assert _lease(db, run_id) == (None, None, "produced")


def test_a_crashed_pass_holds_the_run_only_until_its_lease_runs_out(
    db: Database, admin: Actor, manager: Actor, book: Book, tmp_path: Path
) -> None:
    proposal = dunning.propose_run(db, admin, AS_OF)
    run_id = proposal.run_id
    assert run_id is not None
    crashed = lease_module.take(db, manager, run_id)  # a pass that never came back
    with pytest.raises(dunning.RunBeingProduced, match="free again from"):
        dunning.produce_run(db, admin, run_id, tmp_path)
    assert _lease(db, run_id)[0] == manager.user_id
    with db.write() as session:
        session.execute(
            update(DunningRun.__table__)
            .where(DunningRun.__table__.c.id == run_id)
            .values(producing_until=crashed.until - lease_module.LEASE - timedelta(seconds=1))
        )
    assert dunning.produce_run(db, admin, run_id, tmp_path).files == 6
    assert _lease(db, run_id) == (None, None, "produced")
    with db.read() as session:
        takes = session.scalars(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.table_name == "dunning_runs",
                AuditEntry.record_id == str(run_id),
                AuditEntry.field == "producer_id",
            )
        ).one()
    assert takes == 3  # Maria took it, the administrator took it over, and released it
