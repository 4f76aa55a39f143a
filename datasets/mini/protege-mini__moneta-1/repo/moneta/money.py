"""The :class:`Money` value type."""

import functools
from decimal import Decimal

from .currency import get_currency
from .errors import CurrencyMismatch
from .rounding import quantize, to_decimal


@functools.total_ordering
class Money:
    __slots__ = ("amount", "currency")

    def __init__(self, amount, currency="USD"):
        cur = get_currency(currency)
        object.__setattr__(self, "currency", cur)
        object.__setattr__(self, "amount", quantize(amount, cur))

    def __setattr__(self, name, value):
        raise AttributeError("Money is immutable")

    @classmethod
    def from_minor(cls, units, currency="USD"):
        """Build from an integer count of minor units (cents)."""
        cur = get_currency(currency)
        return cls(Decimal(units).scaleb(-cur.minor_units), cur)

    @property
    def minor(self):
        """The amount as an integer number of minor units."""
        return int(self.amount.scaleb(self.currency.minor_units))

    def _check(self, other):
        if not isinstance(other, Money):
            return False
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency.code, other.currency.code)
        return True

    def __add__(self, other):
        if not self._check(other):
            return NotImplemented
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other):
        if not self._check(other):
            return NotImplemented
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor):
        if isinstance(factor, Money):
            return NotImplemented
        return Money(self.amount * to_decimal(factor), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        if isinstance(divisor, Money):
            return NotImplemented
        return Money(self.amount / to_decimal(divisor), self.currency)

    def __neg__(self):
        return Money(-self.amount, self.currency)

    def __abs__(self):
        return Money(abs(self.amount), self.currency)

    def __bool__(self):
        return bool(self.amount)

    def __eq__(self, other):
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __lt__(self, other):
        if not self._check(other):
            return NotImplemented
        return self.amount < other.amount

    def __hash__(self):
        return hash((self.amount, self.currency.code))

    def __repr__(self):
        return f"Money('{self.amount}', '{self.currency.code}')"

    def __str__(self):
        return f"{self.amount} {self.currency.code}"
