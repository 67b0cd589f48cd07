from o2c_desktop.db import migrate


def test_fast_path_constant_matches_the_migrations_head() -> None:
    """Start-up skips Alembic when the database is at SCHEMA_HEAD; it must be the real head."""
    assert migrate.head_revision() == migrate.SCHEMA_HEAD
