"""The command line: schema commands, demo data, and one clear line for every failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from o2c_desktop import __version__
from o2c_desktop.cli import EXIT_ERROR, main
from o2c_desktop.db import Database, migrate
from o2c_desktop.models import Contact, Customer, CustomerSearchTerm, Role, User
from o2c_desktop.services import customers, demo_data, users
from o2c_desktop.services.search_terms import words

ROOT = Path(__file__).resolve().parent.parent
WRONG_URL = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nowhere"


@pytest.fixture(autouse=True)
def _os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2C_USER", "tester")


def _sqlite_url(tmp_path: Path, name: str = "cli.sqlite3") -> str:
    return f"sqlite:///{tmp_path / name}"


def _url_of(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_clean_error_line(code: int, out: str, err: str) -> None:
    assert code == EXIT_ERROR
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("o2c-desktop: ")
    assert "Traceback" not in err


def _portfolio(url: str) -> list[tuple[object, ...]]:
    db = Database(url)
    try:
        with db.read() as session:
            rows = session.execute(
                select(
                    Customer.number,
                    Customer.name,
                    Customer.tax_id,
                    Customer.segment,
                    Customer.risk_class,
                    Customer.payment_terms_code,
                    Customer.currency,
                    Customer.credit_limit,
                    Customer.on_hold,
                    Customer.city,
                    Customer.email,
                    User.username,
                )
                .outerjoin(User, User.id == Customer.collector_id)
                .order_by(Customer.number)
            ).all()
            return [tuple(r) for r in rows]
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------
# db upgrade / db current
# ---------------------------------------------------------------------------------------------


def test_db_upgrade_on_a_new_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _sqlite_url(tmp_path)
    code, out, err = _run(capsys, "--database", url, "db", "upgrade")
    assert code == 0, err
    head = migrate.head_revision()
    assert out.strip() == f"{url}: schema (empty) -> {head}"
    assert err == ""
    assert (tmp_path / "cli.sqlite3").exists()

    code, out, _ = _run(capsys, "--database", url, "db", "current")
    assert (code, out.strip()) == (0, head)

    # Already current: it says so, and no copy of the file is made.
    code, out, _ = _run(capsys, "--database", url, "db", "upgrade")
    assert code == 0
    assert out.strip() == f"{url}: schema {head} -> {head}"
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak" in p.name) == []


def test_db_current_on_an_empty_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--database", _sqlite_url(tmp_path), "db", "current")
    assert (code, out.strip()) == (0, "(empty database)")


def test_database_comes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _sqlite_url(tmp_path, "from-env.sqlite3")
    monkeypatch.setenv("O2C_DATABASE_URL", url)
    code, out, _ = _run(capsys, "db", "upgrade")
    assert code == 0
    assert out.startswith(url)
    assert (tmp_path / "from-env.sqlite3").exists()


def test_db_upgrade_on_postgresql(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--database", _url_of(db), "db", "current")
    assert (code, out.strip(), err) == (0, migrate.head_revision(), "")


def test_database_from_a_newer_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _sqlite_url(tmp_path)
    assert _run(capsys, "--database", url, "db", "upgrade")[0] == 0
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    db.dispose()
    for command in (["db", "upgrade"], ["demo-data", "--customers", "5"]):
        code, out, err = _run(capsys, "--database", url, *command)
        _assert_one_clean_error_line(code, out, err)
        assert "newer" in err
        assert "0999_future" in err
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak" in p.name) == []


# ---------------------------------------------------------------------------------------------
# bad URLs: one line, non-zero, no password
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["db", "current"], ["db", "upgrade"], ["demo-data", "--customers", "5"]],
    ids=" ".join,
)
def test_unreachable_database(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--database", WRONG_URL, *command)
    _assert_one_clean_error_line(code, out, err)
    assert "secret" not in err
    assert "nobody:***@127.0.0.1:1/nowhere" in err
    assert "Cannot open the database" in err


@pytest.mark.parametrize(
    "url",
    [
        "not a database url",
        "postgresql+psycopg://nobody:secret@127.0.0.1:port/nowhere",
        "mysql://nobody:secret@127.0.0.1/nowhere",
        "secret",
    ],
)
def test_unparsable_or_unsupported_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--database", url, "db", "current")
    _assert_one_clean_error_line(code, out, err)
    assert "secret" not in err


def test_sqlite_file_in_a_folder_that_cannot_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = _run(
        capsys, "--database", f"sqlite:///{blocker}/sub/o2c.sqlite3", "db", "upgrade"
    )
    _assert_one_clean_error_line(code, out, err)


def test_usage_errors_exit_with_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo-data", "--customers", "many"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["db"])
    assert caught.value.code == 2
    capsys.readouterr()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"o2c-desktop {__version__}"


def test_python_dash_m_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "o2c_desktop", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"o2c-desktop {__version__}"


# ---------------------------------------------------------------------------------------------
# demo data
# ---------------------------------------------------------------------------------------------


def test_demo_data_then_if_empty_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _sqlite_url(tmp_path)
    code, out, err = _run(
        capsys, "--database", url, "demo-data", "--customers", "50", "--seed", "3"
    )
    assert code == 0, err
    assert out.startswith("Added 50 customers, ")
    assert "3 collectors" in out
    first = _portfolio(url)
    assert len(first) == 50

    code, out, err = _run(capsys, "--database", url, "demo-data", "--if-empty", "--customers", "7")
    assert (code, out, err) == (0, "", "")
    assert _portfolio(url) == first

    # Without --if-empty more customers are added, numbered after the existing ones.
    code, out, _ = _run(capsys, "--database", url, "demo-data", "--customers", "5", "--seed", "9")
    assert code == 0
    numbers = [r[0] for r in _portfolio(url)]
    assert len(numbers) == 55
    assert len(set(numbers)) == 55
    assert numbers[-1] == "C0000055"


def test_demo_data_is_deterministic_for_a_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portfolios = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        url = _sqlite_url(tmp_path, f"{name}.sqlite3")
        code, _, err = _run(
            capsys, "--database", url, "demo-data", "--customers", "40", "--seed", seed
        )
        assert code == 0, err
        portfolios[name] = _portfolio(url)
    assert portfolios["a"] == portfolios["b"]
    assert portfolios["a"] != portfolios["c"]
    assert {r[0] for r in portfolios["a"]} == {r[0] for r in portfolios["c"]}  # same numbers


def test_demo_data_signs_in_and_needs_an_administrator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _sqlite_url(tmp_path)
    assert _run(capsys, "--database", url, "demo-data", "--customers", "3")[0] == 0
    db = Database(url)
    try:
        admin = users.sign_in(db)  # "tester", made administrator by the first run
        assert admin.username == "tester"
        assert Role.ADMINISTRATOR in admin.roles
        users.create_user(db, admin, "colin", "Colin", [Role.COLLECTOR])
    finally:
        db.dispose()

    monkeypatch.setenv("O2C_USER", "colin")
    code, out, err = _run(capsys, "--database", url, "demo-data", "--customers", "3")
    _assert_one_clean_error_line(code, out, err)
    assert "administrator" in err

    monkeypatch.setenv("O2C_USER", "mallory")
    code, out, err = _run(capsys, "--database", url, "demo-data", "--customers", "3")
    _assert_one_clean_error_line(code, out, err)
    assert "mallory" in err
    assert len(_portfolio(url)) == 3


def test_demo_data_on_both_engines(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the CLI (COPY on PostgreSQL): rows, contacts and search terms, then a normal
    create still gets a fresh id (the id sequence was moved past the bulk-inserted ids)."""
    code, out, err = _run(capsys, "--database", _url_of(db), "demo-data", "--customers", "30")
    assert code == 0, err
    assert out.startswith("Added 30 customers, ")
    with db.read() as session:
        assert session.query(Customer).count() == 30
        contacts = session.query(Contact).count()
        assert 30 <= contacts <= 60
        assert session.query(CustomerSearchTerm).count() > 30 * 3
        limits = session.scalars(select(Customer.credit_limit)).all()
    assert f"{contacts:,} contacts" in out
    assert all(limit > 0 and limit % 500 == 0 for limit in limits)

    admin = users.sign_in(db)
    created = customers.create_customer(db, admin, {"number": "NEW-1", "name": "After Demo"})
    assert created.id == 31
    found = customers.list_customers(db, admin, customers.CustomerQuery(search="after demo"))
    assert [r.number for r in found] == ["NEW-1"]
    # Every word of every demo name is found, typed without accents.
    rows = customers.list_customers(db, admin, customers.CustomerQuery(), limit=1000)
    assert len(rows) == 31
    for word in sorted({w for r in rows for w in words(r.name)})[:40]:
        expected = {r.number for r in rows if word in words(r.name)}
        query = customers.CustomerQuery(search=word)
        assert expected <= {r.number for r in customers.list_customers(db, admin, query)}, word


def test_demo_generate_validates_its_input(db: Database) -> None:
    admin = users.sign_in(db)
    with pytest.raises(ValueError):
        demo_data.generate(db, admin, -1)
    assert not demo_data.has_customers(db)
    result = demo_data.generate(db, admin, 0)
    assert (result.customers, result.contacts) == (0, 0)
    assert not demo_data.has_customers(db)
