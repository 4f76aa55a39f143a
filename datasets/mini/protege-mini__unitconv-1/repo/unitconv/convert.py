"""Conversion entry points."""

from . import definitions  # noqa: F401  (registers the built-in units)
from .errors import DimensionMismatch
from .quantity import Quantity
from .registry import lookup


def convert(value, from_unit, to_unit, ndigits=None):
    """Convert a number from one unit to another.

    ``ndigits`` rounds the result; by default the full float is returned
    (rounded to 12 significant decimals to hide binary noise such as
    ``0.30000000000000004``).
    """
    src = lookup(from_unit)
    dst = lookup(to_unit)
    if src.dimension != dst.dimension:
        raise DimensionMismatch(src, dst)
    if src is dst:
        result = float(value)
    else:
        result = dst.from_base(src.to_base(value))
    if ndigits is not None:
        return round(result, ndigits)
    return float(f"{result:.12g}")


def convert_quantity(quantity, to_unit):
    """Convert a :class:`Quantity` and return a new one."""
    return Quantity(convert(quantity.value, quantity.unit, to_unit), lookup(to_unit))
