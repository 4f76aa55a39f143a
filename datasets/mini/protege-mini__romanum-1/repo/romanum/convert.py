"""Integer <-> Roman numeral conversion."""

from .errors import InvalidNumeral, OutOfRange
from .validate import explain, is_valid, normalize

MIN_VALUE = 1
MAX_VALUE = 3999

_TABLE = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(number):
    """Convert an integer in ``MIN_VALUE..MAX_VALUE`` to a Roman numeral."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"expected int, got {type(number).__name__}")
    if not MIN_VALUE <= number < MAX_VALUE:
        raise OutOfRange(number, MIN_VALUE, MAX_VALUE)
    parts = []
    for value, symbol in _TABLE:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)


def from_roman(text):
    """Convert a canonical Roman numeral (any case) to an integer."""
    if not is_valid(text):
        raise InvalidNumeral(text, explain(text) if isinstance(text, str) else "not a string")
    s = normalize(text)
    total = 0
    for i, ch in enumerate(s):
        value = _VALUES[ch]
        if i + 1 < len(s) and _VALUES[s[i + 1]] > value:
            total -= value
        else:
            total += value
    return total
