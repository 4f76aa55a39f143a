"""Proleptic Gregorian calendar helpers."""

import datetime

from .errors import InvalidDate

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

MIN_YEAR = 1
MAX_YEAR = 9999


def is_leap(year):
    """Return True if *year* is a leap year in the Gregorian calendar."""
    return year % 4 == 0 and year % 100 != 0


def days_in_month(year, month):
    """Number of days in *month* (1-12) of *year*."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be in 1..12, got {month}")
    if month == 2 and is_leap(year):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def make_date(year, month, day):
    """Validate the triple and build a :class:`datetime.date`.

    Raises :class:`InvalidDate` with a readable reason instead of the
    generic ``ValueError`` that ``datetime.date`` would raise.
    """
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidDate(year, month, day, f"year out of range {MIN_YEAR}..{MAX_YEAR}")
    if not 1 <= month <= 12:
        raise InvalidDate(year, month, day, "month out of range")
    last = days_in_month(year, month)
    if not 1 <= day <= last:
        raise InvalidDate(year, month, day, f"day out of range for month (1..{last})")
    return datetime.date(year, month, day)


def add_days(date, days):
    """Return *date* shifted by an integer number of days."""
    return date + datetime.timedelta(days=days)


def add_months(date, months):
    """Shift *date* by whole calendar months.

    When the target month is shorter than the source day, the result is
    clamped to the last day of the target month (Jan 31 + 1 month -> Feb 28
    or Feb 29).
    """
    index = date.year * 12 + (date.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    day = min(date.day, days_in_month(year, month))
    return make_date(year, month, day)


def weekday_name(date):
    """English name of the weekday of *date*."""
    return WEEKDAYS[date.weekday()]
