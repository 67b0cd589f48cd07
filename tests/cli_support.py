"""Running `o2c-desktop` in-process against a test database, for the CLI tests.

One place knows how the command line is put together (the database URL first, with its password,
since the CLI connects with it) and what a clean run is (exit code 0, nothing on stderr), so each
test says only which command it runs and what it expects to read. The CLI signs in as the OS user:
CLI tests pin it with the `os_user_tester` fixture of tests/conftest.py.
"""

from __future__ import annotations

import pytest

from o2c_desktop.cli import main
from o2c_desktop.db import Database


def run_cli(capsys: pytest.CaptureFixture[str], db: Database, *argv: str) -> tuple[int, str, str]:
    """`o2c-desktop --database URL ARGV…`: its exit code, stdout and stderr."""
    code = main(["--database", db.url.render_as_string(hide_password=False), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli_output(capsys: pytest.CaptureFixture[str], db: Database, *argv: str) -> str:
    """The stdout of a run that must succeed: exit code 0 and nothing on stderr."""
    code, out, err = run_cli(capsys, db, *argv)
    # Spelled out: pytest does not rewrite asserts in a helper module.
    assert (code, err) == (0, ""), f"exit code {code}, stderr {err!r}"
    return out
