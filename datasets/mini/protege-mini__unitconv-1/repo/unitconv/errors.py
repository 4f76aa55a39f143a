"""Exceptions raised by unitconv."""


class UnitError(ValueError):
    """Base class for all unitconv errors."""


class UnknownUnit(UnitError):
    def __init__(self, symbol):
        self.symbol = symbol
        super().__init__(f"unknown unit {symbol!r}")


class DimensionMismatch(UnitError):
    def __init__(self, a, b):
        self.units = (a, b)
        super().__init__(f"cannot convert {a.symbol} ({a.dimension}) to {b.symbol} ({b.dimension})")
