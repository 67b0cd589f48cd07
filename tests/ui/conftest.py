"""GUI fixtures: a signed-in context on SQLite, message boxes recorded instead of shown."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QMessageBox

from o2c_desktop.db import Database
from o2c_desktop.services import users
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.gui_gc import GuiThreadCollector
from o2c_desktop.ui.signals import AppSignals


@pytest.fixture(autouse=True, scope="module")
def gc_on_the_gui_thread(qapp) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """As in the app (`gui_gc`): a collection in a worker thread destroyed Qt objects off the
    GUI thread and crashed the suite. What is left is collected here, on the GUI thread."""
    collector = GuiThreadCollector(qapp)
    yield
    collector.stop()
    collector.deleteLater()
    gc.collect()


@dataclass
class Boxes:
    """Every message box the code under test tried to show: (kind, text)."""

    shown: list[tuple[str, str]] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Yes

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, text in self.shown if kind is None or k == kind]


@pytest.fixture
def boxes(monkeypatch: pytest.MonkeyPatch) -> Boxes:
    record = Boxes()
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(
            QMessageBox,
            kind,
            lambda _parent, _title, text, *a, k=kind, **kw: record.shown.append((k, text)),
        )

    def question(_parent, _title, text, *a, **kw):  # type: ignore[no-untyped-def]
        record.shown.append(("question", text))
        return record.answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return record


@pytest.fixture
def ctx(sqlite_db: Database, qtbot, boxes: Boxes) -> Iterator[UiContext]:  # type: ignore[no-untyped-def]
    context = UiContext(sqlite_db, users.sign_in(sqlite_db), AppSignals())
    yield context
    workers.wait_for_all()


@pytest.fixture
def any_ctx(db: Database, qtbot, boxes: Boxes) -> Iterator[UiContext]:  # type: ignore[no-untyped-def]
    """The administrator's context on each database engine (the `db` fixture's two params)."""
    context = UiContext(db, users.sign_in(db), AppSignals())
    yield context
    workers.wait_for_all()
