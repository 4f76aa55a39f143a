"""Quantize decimals to a currency's minor unit."""

from decimal import Decimal


def to_decimal(value):
    """Convert ints, strings and Decimals; floats go through ``repr`` so
    ``0.1`` becomes ``Decimal('0.1')`` rather than its binary expansion."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"cannot convert {type(value).__name__} to Decimal")


def quantize(amount, currency):
    """Round *amount* to the currency's minor unit (half away from zero)."""
    return to_decimal(amount).quantize(currency.exponent)
