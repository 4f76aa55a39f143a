"""moneta: exact money arithmetic on top of :mod:`decimal`.

Amounts are always kept at the currency's number of minor units (cents for
USD, none for JPY, fils for BHD).  Results that fall between two minor units
are rounded half away from zero ("commercial rounding"), so 0.125 USD becomes
0.13 USD and -0.125 USD becomes -0.13 USD.
"""

from .allocate import allocate, split_evenly
from .currency import Currency, get_currency
from .errors import CurrencyMismatch, MoneyError, UnknownCurrency
from .format import format_money
from .money import Money

__all__ = [
    "Currency",
    "CurrencyMismatch",
    "Money",
    "MoneyError",
    "UnknownCurrency",
    "allocate",
    "format_money",
    "get_currency",
    "split_evenly",
]
__version__ = "1.0.0"
