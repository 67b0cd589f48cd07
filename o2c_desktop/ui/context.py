"""What every screen needs: the database, the signed-in user, the app-wide signals."""

from __future__ import annotations

from dataclasses import dataclass

from o2c_desktop.db import Database
from o2c_desktop.services.auth import Actor
from o2c_desktop.ui.signals import AppSignals


@dataclass
class UiContext:
    db: Database
    actor: Actor
    signals: AppSignals
