"""The checks every service applies to values from screens, the CLI and imports."""

from __future__ import annotations

import pytest

from o2c_desktop.errors import FieldProblem, NotFound
from o2c_desktop.services.field_checks import row_id, text_field


@pytest.mark.parametrize("value", [True, "7", 7.0, 0, -1, 2**31])
def test_row_id_refuses_what_no_id_column_holds(value: object) -> None:
    with pytest.raises(NotFound, match="There is no order"):
        row_id(value, "order")


def test_text_field_trims_and_names_the_field() -> None:
    problems: list[FieldProblem] = []
    assert text_field("reason", "  late  ", 10, problems) == "late"
    assert text_field("reason", "   ", 10, problems) is None  # empty, not required
    assert problems == []
    assert text_field("reason", None, 10, problems, required="say why") is None
    assert text_field("number", "X" * 2001, 2000, problems) is None
    assert [(p.field, p.message) for p in problems] == [
        ("reason", "say why"),
        ("number", "longer than 2,000 characters"),
    ]
