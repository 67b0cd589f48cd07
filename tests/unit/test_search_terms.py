"""Folding names into search terms, and the prefix range that finds them."""

from __future__ import annotations

import pytest

from o2c_desktop.services.search_terms import MAX_TERM, fold, prefix_upper_bound, terms_for, words


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Zürich", "zurich"),
        ("ZÜRICH", "zurich"),
        ("Łukasz", "lukasz"),
        ("ŁÓDŹ", "lodz"),
        ("Ødegaard", "odegaard"),
        ("Straße", "strasse"),
        ("Đorđević", "dordevic"),
        ("Æsir Œuvre", "aesir oeuvre"),
        ("São Paulo", "sao paulo"),
        ("Crème Brûlée", "creme brulee"),
        ("ﬁne", "fine"),  # compatibility ligature
        ("Ｆｕｌｌ", "full"),  # full-width letters
        ("plain ascii 123", "plain ascii 123"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zürich Ödön Łukasz GmbH", ["zurich", "odon", "lukasz", "gmbh"]),
        ("C-000123", ["c", "000123"]),
        ("Semi, Colon & Co.", ["semi", "colon", "co"]),
        ("Müller_Schmidt", ["muller", "schmidt"]),  # underscore separates words
        ("  spaced   out  ", ["spaced", "out"]),
        ("A/S", ["a", "s"]),
        ("---", []),
        ("", []),
        (None, []),
    ],
)
def test_words(text: str | None, expected: list[str]) -> None:
    assert words(text) == expected


def test_words_are_capped_at_the_term_length() -> None:
    long_word = "x" * (MAX_TERM + 10)
    assert words(f"{long_word} short") == ["x" * MAX_TERM, "short"]


def test_terms_for_number_names_and_tax_id() -> None:
    terms = terms_for("C-000123", ["Zürich Instruments AG", None, "Zürich Holding"], "CHE-123.456")
    assert terms == {
        "c",
        "000123",
        "c000123",  # the number without punctuation
        "zurich",
        "instruments",
        "ag",
        "holding",
        "che",
        "123",
        "456",
        "che123456",  # the tax ID without punctuation
    }


def test_terms_for_without_tax_id_or_names() -> None:
    assert terms_for("42", [], None) == {"42"}
    assert terms_for("A-1", [None, ""], "") == {"a", "1", "a1"}
    assert terms_for("---", [], None) == set()


def test_terms_are_capped() -> None:
    number = "N" * 40 + "-" + "M" * 40
    terms = terms_for(number, [], None)
    assert all(len(t) <= MAX_TERM for t in terms)
    assert ("n" * 40 + "m" * 24) in terms


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [("zur", "zus"), ("a", "b"), ("az", "a{"), ("9", ":"), ("c000", "c001"), ("ł", "\u0143")],
)
def test_prefix_upper_bound(prefix: str, bound: str) -> None:
    assert prefix_upper_bound(prefix) == bound


@pytest.mark.parametrize("prefix", ["zur", "a", "st", "000", "c0001", "z"])
def test_prefix_range_contains_exactly_the_words_with_that_prefix(prefix: str) -> None:
    """`prefix <= term < prefix_upper_bound(prefix)` is the same as term.startswith(prefix)."""
    candidates = [
        "zurich",
        "zur",
        "zus",
        "zuq",
        "zu",
        "a",
        "aa",
        "ab",
        "b",
        "steel",
        "st",
        "su",
        "sta",
        "000",
        "0001",
        "001",
        "c0001",
        "c00010",
        "c0002",
        "z",
        "zz",
        "z\u00ff",
        "{",
        "",
    ]
    upper = prefix_upper_bound(prefix)
    in_range = {t for t in candidates if prefix <= t < upper}
    assert in_range == {t for t in candidates if t.startswith(prefix)}


def test_query_and_stored_text_fold_the_same() -> None:
    """A query typed with or without accents lands in the range of the stored term."""
    stored = terms_for("C-1", ["Łódź Machinery"], None)
    for typed in ("lodz", "Łódź", "LODZ", "łó", "mach"):
        [word] = words(typed)
        upper = prefix_upper_bound(word)
        assert any(word <= t < upper for t in stored), typed
