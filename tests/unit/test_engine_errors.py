"""What a user reads when PostgreSQL aborts their transaction because of another user's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from o2c_desktop.db import Database
from o2c_desktop.errors import DatabaseUnavailable, O2CError


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_says_try_again(pg: Database, sqlstate: str) -> None:
    raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = '{sqlstate}'; END $$"
    with (
        pytest.raises(O2CError, match="Another user changed the same data") as caught,
        pg.write() as session,
    ):
        session.execute(text(raise_it))
    assert not isinstance(caught.value, DatabaseUnavailable)
