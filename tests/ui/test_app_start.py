"""Start-up as a person meets it: an unreachable database is explained, not a traceback."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from o2c_desktop.app import run_gui


def test_unreachable_database_is_explained_and_the_app_exits(
    qtbot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    shown: list[str] = []

    def exec_box(box: QMessageBox) -> int:
        shown.append(box.text())
        return 0  # closed without choosing Database settings…

    monkeypatch.setattr(QMessageBox, "exec", exec_box)
    code = run_gui("postgresql+psycopg://nobody:secret@127.0.0.1:1/nowhere")
    assert code == 1
    assert len(shown) == 1
    assert "Cannot open the database" in shown[0]
    assert "secret" not in shown[0]
    assert "secret" not in capsys.readouterr().err
