"""romanum: convert between integers and Roman numerals.

Only the standard subtractive notation for 1..3999 is supported
(``I`` through ``MMMCMXCIX``).

>>> from romanum import to_roman, from_roman
>>> to_roman(1994)
'MCMXCIV'
>>> from_roman("mmxxiv")
2024
"""

from .arith import add, sort_numerals, subtract
from .convert import MAX_VALUE, MIN_VALUE, from_roman, to_roman
from .errors import InvalidNumeral, OutOfRange, RomanError
from .validate import is_valid

__all__ = [
    "InvalidNumeral",
    "MAX_VALUE",
    "MIN_VALUE",
    "OutOfRange",
    "RomanError",
    "add",
    "from_roman",
    "is_valid",
    "sort_numerals",
    "subtract",
    "to_roman",
]
__version__ = "1.0.0"
