"""Find the folders that ship with the app: inside the installed package, or in a checkout.

The wheel carries `migrations/` and `resources/` inside `o2c_desktop/`; a source checkout (and an
editable install) keeps them at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def package_path(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"O2C Desktop is installed without its {name}/ folder")


def resource(relative: str) -> Path:
    return package_path("resources") / relative
