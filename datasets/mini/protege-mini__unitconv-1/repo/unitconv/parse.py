"""Parse strings such as ``"12.5 km"`` or ``"-40°F"``."""

import re

from .errors import UnitError
from .quantity import Quantity
from .registry import lookup

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)\s*$")


def parse_quantity(text):
    """Parse *text* into a :class:`Quantity`."""
    m = _QUANTITY.match(text)
    if not m:
        raise UnitError(f"cannot parse quantity {text!r}")
    value = float(m.group(1))
    return Quantity(value, lookup(m.group(2)))
