"""`o2c-desktop calllist …` (being written)."""

from __future__ import annotations

import argparse

from o2c_desktop.db import Database
from o2c_desktop.services.auth import Actor


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commands.add_parser("calllist", help="(being written)")


def run(db: Database, actor: Actor, args: argparse.Namespace) -> int:
    raise NotImplementedError
