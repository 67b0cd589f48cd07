"""The wheel carries what an installed copy needs: migrations, resources, the console script."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from o2c_desktop import __version__
from o2c_desktop.db import migrate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = out.glob("o2c_desktop-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _read(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode("utf-8")


def test_wheel_is_named_for_this_version(wheel: Path) -> None:
    assert wheel.name == f"o2c_desktop-{__version__}-py3-none-any.whl"
    assert f"Version: {__version__}" in _read(wheel, ".dist-info/METADATA")


def test_wheel_carries_the_migrations(names: set[str]) -> None:
    assert "o2c_desktop/migrations/env.py" in names
    assert "o2c_desktop/migrations/versions/0001_foundation.py" in names
    for script in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"o2c_desktop/migrations/versions/{script.name}" in names


def test_wheel_carries_the_resources(names: set[str]) -> None:
    shipped = {n for n in names if n.startswith("o2c_desktop/resources/")}
    assert shipped, "the wheel has no o2c_desktop/resources/ entries"
    on_disk = {
        "o2c_desktop/resources/" + p.relative_to(ROOT / "resources").as_posix()
        for p in (ROOT / "resources").rglob("*")
        if p.is_file()
    }
    assert on_disk, "resources/ holds no files"
    assert on_disk <= shipped


def test_wheel_has_the_console_script(wheel: Path) -> None:
    entry_points = _read(wheel, ".dist-info/entry_points.txt")
    section = entry_points.split("[console_scripts]", 1)[1]
    lines = [line.strip() for line in section.splitlines() if line.strip()]
    assert "o2c-desktop = o2c_desktop.cli:main" in lines


def test_wheel_leaves_out_tests_and_caches(names: set[str]) -> None:
    assert not any(n.startswith("tests/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert all(n.startswith(("o2c_desktop/", "o2c_desktop-")) for n in names), sorted(
        n for n in names if not n.startswith("o2c_desktop")
    )


def test_unpacked_wheel_migrates_a_database_with_its_own_migrations(
    wheel: Path, tmp_path: Path
) -> None:
    """Run the wheel's copy (not the checkout): it finds its migrations and resources inside."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        import o2c_desktop
        from o2c_desktop.db import Database, migrate
        from o2c_desktop.paths import package_path, resource
        assert o2c_desktop.__file__.startswith({str(site)!r}), o2c_desktop.__file__
        assert str(package_path("migrations")).startswith({str(site)!r})
        assert resource("icons").is_dir()
        db = Database("sqlite:///" + {str(tmp_path / "installed.sqlite3")!r})
        migrate.upgrade(db)
        print(migrate.current_revision(db))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migrate.head_revision()
