"""Engine, sessions, column types and the migration runner."""

from o2c_desktop.db.engine import Database

__all__ = ["Database"]
