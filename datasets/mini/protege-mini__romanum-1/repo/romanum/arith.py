"""Arithmetic directly on numerals."""

from .convert import from_roman, to_roman


def add(*numerals):
    """Sum numerals and return the result as a numeral."""
    return to_roman(sum(from_roman(n) for n in numerals))


def subtract(a, b):
    """``a - b`` as a numeral; the result must stay positive."""
    return to_roman(from_roman(a) - from_roman(b))


def sort_numerals(numerals, reverse=False):
    """Sort numerals by value."""
    return sorted(numerals, key=from_roman, reverse=reverse)
