"""unitconv: convert between units of length, mass, time, volume and temperature.

>>> from unitconv import convert
>>> convert(1, "mi", "km")
1.609344
"""

from .convert import convert, convert_quantity
from .errors import DimensionMismatch, UnitError, UnknownUnit
from .parse import parse_quantity
from .quantity import Quantity
from .registry import Unit, lookup

__all__ = [
    "DimensionMismatch",
    "Quantity",
    "Unit",
    "UnitError",
    "UnknownUnit",
    "convert",
    "convert_quantity",
    "lookup",
    "parse_quantity",
]
__version__ = "1.0.0"
