from decimal import Decimal

import pytest

from moneta import CurrencyMismatch, Money, UnknownCurrency


def test_amount_is_quantized_to_currency():
    assert Money("10", "USD").amount == Decimal("10.00")
    assert Money("1500", "JPY").amount == Decimal("1500")
    assert Money("1.5", "BHD").amount == Decimal("1.500")


def test_floats_are_taken_at_face_value():
    assert Money(0.1, "USD") + Money(0.2, "USD") == Money("0.30", "USD")


def test_arithmetic():
    a = Money("19.99", "EUR")
    assert (a * 3).amount == Decimal("59.97")
    assert (a - Money("0.99", "EUR")).amount == Decimal("19.00")
    assert -a < a


def test_rounding_of_clear_cases():
    assert Money("2.344", "USD").amount == Decimal("2.34")
    assert Money("2.346", "USD").amount == Decimal("2.35")
    assert (Money("10.00", "USD") / 3).amount == Decimal("3.33")


def test_minor_units():
    assert Money("12.34", "USD").minor == 1234
    assert Money.from_minor(-505, "USD") == Money("-5.05", "USD")


def test_currency_mismatch():
    with pytest.raises(CurrencyMismatch):
        Money("1", "USD") + Money("1", "EUR")


def test_unknown_currency():
    with pytest.raises(UnknownCurrency):
        Money("1", "XYZ")


def test_immutable():
    with pytest.raises(AttributeError):
        Money("1").amount = Decimal("2")
