"""A number tagged with a unit."""

from dataclasses import dataclass

from .errors import DimensionMismatch, UnitError
from .registry import Unit, lookup


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: Unit

    def __post_init__(self):
        if not isinstance(self.unit, Unit):
            object.__setattr__(self, "unit", lookup(self.unit))

    def to(self, unit):
        from .convert import convert_quantity

        return convert_quantity(self, unit)

    def _coerce(self, other):
        if not isinstance(other, Quantity):
            return NotImplemented
        if other.unit.dimension != self.unit.dimension:
            raise DimensionMismatch(self.unit, other.unit)
        if self.unit.is_affine or other.unit.is_affine:
            raise UnitError("cannot add or subtract quantities on an offset scale")
        return other.to(self.unit).value

    def __add__(self, other):
        v = self._coerce(other)
        if v is NotImplemented:
            return v
        return Quantity(self.value + v, self.unit)

    def __sub__(self, other):
        v = self._coerce(other)
        if v is NotImplemented:
            return v
        return Quantity(self.value - v, self.unit)

    def __mul__(self, k):
        if not isinstance(k, (int, float)):
            return NotImplemented
        return Quantity(self.value * k, self.unit)

    __rmul__ = __mul__

    def __str__(self):
        return f"{self.value:g} {self.unit.symbol}"
