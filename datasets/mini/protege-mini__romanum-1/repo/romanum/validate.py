"""Structural validation of Roman numerals."""

import re

# Thousands, hundreds, tens, units — each position has its own small grammar.
_CANONICAL = re.compile(
    r"^M{0,3}"
    r"(CM|CD|D?C{0,3})"
    r"(XC|XL|L?X{0,3})"
    r"(IX|IV|V?I{0,3})$"
)


def normalize(text):
    """Upper-case and strip surrounding whitespace."""
    return text.strip().upper()


def is_valid(text):
    """True if *text* is a canonical Roman numeral between 1 and 3999."""
    if not isinstance(text, str):
        return False
    s = normalize(text)
    return bool(s) and _CANONICAL.match(s) is not None


def explain(text):
    """Return a short reason why *text* is invalid, or ``None`` if it is valid."""
    s = normalize(text)
    if not s:
        return "empty numeral"
    bad = sorted(set(s) - set("IVXLCDM"))
    if bad:
        return f"unexpected character(s) {''.join(bad)!r}"
    if re.search(r"(.)\1\1\1", s) and not s.startswith("MMMM"):
        return "symbol repeated more than three times"
    if s.startswith("MMMM"):
        return "too large"
    return "symbols in non-canonical order"
