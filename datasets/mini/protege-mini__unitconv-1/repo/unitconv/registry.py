"""Unit definitions and lookup.

Every unit is an affine map onto the base unit of its dimension::

    base_value = value * factor + offset

For almost all units ``offset`` is zero; it is non-zero only for temperature
scales whose zero point differs from absolute zero (Celsius, Fahrenheit).
"""

from dataclasses import dataclass

from .errors import UnknownUnit


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    factor: float
    offset: float = 0.0
    name: str = ""

    def to_base(self, value):
        """Express *value* (in this unit) in the dimension's base unit."""
        return value * self.factor + self.offset

    def from_base(self, value):
        """Express a base-unit *value* in this unit."""
        return value / self.factor - self.offset

    @property
    def is_affine(self):
        return self.offset != 0.0


_REGISTRY = {}
_ALIASES = {}


def register(unit, *aliases):
    if unit.symbol in _REGISTRY:
        raise ValueError(f"duplicate unit {unit.symbol!r}")
    _REGISTRY[unit.symbol] = unit
    for alias in aliases:
        _ALIASES[alias.lower()] = unit.symbol
    if unit.name:
        _ALIASES[unit.name.lower()] = unit.symbol
    return unit


def lookup(symbol):
    """Find a unit by symbol, alias or name (aliases are case-insensitive)."""
    if isinstance(symbol, Unit):
        return symbol
    if symbol in _REGISTRY:
        return _REGISTRY[symbol]
    key = _ALIASES.get(symbol.lower())
    if key is None:
        raise UnknownUnit(symbol)
    return _REGISTRY[key]


def units(dimension=None):
    """All registered units, optionally restricted to one dimension."""
    return [u for u in _REGISTRY.values() if dimension is None or u.dimension == dimension]
