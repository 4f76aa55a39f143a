"""ISO 4217 currency table (a small subset)."""

from dataclasses import dataclass
from decimal import Decimal

from .errors import UnknownCurrency


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int
    symbol: str = ""

    @property
    def exponent(self):
        """The quantum of one minor unit, e.g. ``Decimal('0.01')``."""
        return Decimal(1).scaleb(-self.minor_units)


_CURRENCIES = {
    c.code: c
    for c in (
        Currency("USD", 2, "$"),
        Currency("EUR", 2, "€"),
        Currency("GBP", 2, "£"),
        Currency("JPY", 0, "¥"),
        Currency("CHF", 2, "CHF "),
        Currency("BHD", 3, "BD "),
    )
}


def get_currency(code):
    if isinstance(code, Currency):
        return code
    try:
        return _CURRENCIES[code.upper()]
    except KeyError:
        raise UnknownCurrency(code) from None
