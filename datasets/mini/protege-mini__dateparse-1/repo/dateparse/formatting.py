"""Render dates using a small token language.

Tokens: ``YYYY`` (4-digit year), ``MM``/``M`` (month), ``DD``/``D`` (day),
``MMMM``/``MMM`` (month name / abbreviation), ``dddd``/``ddd`` (weekday).
Text inside square brackets is copied literally: ``"[Week of] MMM D"``.
"""

import re

from .calendar_math import WEEKDAYS

MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July",
               "August", "September", "October", "November", "December")

_TOKEN = re.compile(r"\[[^\]]*\]|YYYY|MMMM|MMM|MM|M|DD|D|dddd|ddd")


def _render(token, date):
    if token.startswith("["):
        return token[1:-1]
    if token == "YYYY":
        return f"{date.year:04d}"
    if token == "MMMM":
        return MONTH_NAMES[date.month - 1]
    if token == "MMM":
        return MONTH_NAMES[date.month - 1][:3]
    if token == "MM":
        return f"{date.month:02d}"
    if token == "M":
        return str(date.month)
    if token == "DD":
        return f"{date.day:02d}"
    if token == "D":
        return str(date.day)
    if token == "dddd":
        return WEEKDAYS[date.weekday()]
    if token == "ddd":
        return WEEKDAYS[date.weekday()][:3]
    raise AssertionError(token)


def format_date(date, pattern="YYYY-MM-DD"):
    """Format *date* according to *pattern*."""
    return _TOKEN.sub(lambda m: _render(m.group(0), date), pattern)
