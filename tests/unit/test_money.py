"""Money rules: parsing typed amounts without floats, decimals, half-even rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from o2c_desktop.money import (
    ZERO,
    decimals_of,
    is_currency,
    known_currencies,
    minor_units,
    parse_amount,
    round_money,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal("0")),
        ("12", Decimal("12")),
        ("12.34", Decimal("12.34")),
        ("-12.34", Decimal("-12.34")),
        ("+5", Decimal("5")),
        ("  7.5 ", Decimal("7.5")),
        ("1,234.56", Decimal("1234.56")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("-1,000", Decimal("-1000")),
        ("1 234 567.89", Decimal("1234567.89")),
        ("1\u00a0234.5", Decimal("1234.5")),
        ("1'234'567.10", Decimal("1234567.10")),
        ("0.0001", Decimal("0.0001")),
        ("999999999999999.9999", Decimal("999999999999999.9999")),
    ],
)
def test_parse_amount_with_decimal_point(text: str, expected: Decimal) -> None:
    value = parse_amount(text)
    assert isinstance(value, Decimal)
    assert value == expected


def test_parse_amount_keeps_the_typed_exponent() -> None:
    assert str(parse_amount("12.30")) == "12.30"
    assert str(parse_amount("0.1")) == "0.1"  # exactly one tenth, no binary noise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234,56", Decimal("1234.56")),
        ("1.234,56", Decimal("1234.56")),
        ("1.234.567,89", Decimal("1234567.89")),
        ("1 234,5", Decimal("1234.5")),
        ("1'234,50", Decimal("1234.50")),
        ("-0,01", Decimal("-0.01")),
        ("12", Decimal("12")),
    ],
)
def test_parse_amount_with_decimal_comma(text: str, expected: Decimal) -> None:
    assert parse_amount(text, decimal_comma=True) == expected


@pytest.mark.parametrize(
    ("text", "decimal_comma"),
    [
        ("", False),
        ("   ", False),
        ("abc", False),
        ("12abc", False),
        ("1.2.3", False),
        ("NaN", False),
        ("Infinity", False),
        ("-inf", False),
        ("€ 12", False),
        ("1,2,3", True),
        ("--1", False),
    ],
)
def test_parse_amount_refuses_garbage(text: str, decimal_comma: bool) -> None:
    with pytest.raises(ValueError):
        parse_amount(text, decimal_comma=decimal_comma)


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_parse_amount_refuses_a_decimal_that_is_not_a_number(value: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_amount(Decimal(value))


@pytest.mark.parametrize(
    ("text", "decimal_comma"),
    [
        ("12,5", False),  # a decimal comma typed in decimal-point mode: not 125
        ("1234,56", False),  # not 123456
        ("1,23,456.00", False),
        (",5", False),
        ("1.5", True),  # a decimal point typed in decimal-comma mode: not 15
        ("1234.56", True),
        ("1,234.56", True),
    ],
)
def test_parse_amount_refuses_misplaced_grouping(text: str, decimal_comma: bool) -> None:
    """A separator that cannot be grouping must not be dropped: "12,5" is not 125."""
    with pytest.raises(ValueError, match="separator"):
        parse_amount(text, decimal_comma=decimal_comma)


def test_parse_amount_passes_decimals_and_ints_through() -> None:
    value = Decimal("12.345")
    assert parse_amount(value) is value
    assert parse_amount(42) == Decimal(42)
    assert isinstance(parse_amount(42), Decimal)


@pytest.mark.parametrize(
    ("value", "decimals"),
    [
        ("1", 0),
        ("1.50", 1),
        ("1.5", 1),
        ("1.00", 0),
        ("100", 0),
        ("1E+2", 0),
        ("0", 0),
        ("0.000", 0),
        ("0.01", 2),
        ("-0.0001", 4),
        ("12.34567", 5),
    ],
)
def test_decimals_of_ignores_trailing_zeros(value: str, decimals: int) -> None:
    assert decimals_of(Decimal(value)) == decimals


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("0.125", "EUR", "0.12"),  # half to even: down
        ("0.135", "EUR", "0.14"),  # half to even: up
        ("0.145", "EUR", "0.14"),
        ("-0.125", "EUR", "-0.12"),
        ("0.1251", "EUR", "0.13"),  # above half: up
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("1234.4999", "JPY", "1234"),
        ("1.0005", "BHD", "1.000"),
        ("1.0015", "BHD", "1.002"),
        ("10", "EUR", "10.00"),
    ],
)
def test_round_money_is_half_even_to_minor_units(value: str, currency: str, expected: str) -> None:
    rounded = round_money(Decimal(value), currency)
    assert str(rounded) == expected


def test_round_money_defaults_to_euro_cents() -> None:
    assert str(round_money(Decimal("2.675"))) == "2.68"
    assert str(round_money(Decimal("2.665"))) == "2.66"


def test_minor_units_and_currencies() -> None:
    assert minor_units("EUR") == 2
    assert minor_units("USD") == 2
    assert minor_units("JPY") == 0
    assert minor_units("BHD") == 3
    assert is_currency("EUR")
    assert is_currency("CHF")
    assert not is_currency("EUD")
    assert not is_currency("eur")  # codes are upper case; callers normalise first
    assert {"EUR", "USD", "GBP", "JPY", "PLN"} <= known_currencies()
    assert Decimal(0) == ZERO
