"""Parse dates written in a handful of common notations.

Supported inputs (surrounding whitespace is ignored):

* ISO 8601 calendar dates: ``2024-03-01``
* Compact ISO: ``20240301``
* Day-first with slashes or dots: ``01/03/2024``, ``1.3.2024``
* Month names: ``March 1, 2024``, ``1 Mar 2024``
"""

import re

from .calendar_math import make_date
from .errors import DateParseError

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_MONTH_NAME_FIRST = re.compile(r"^([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")
_DAY_MONTH_NAME = re.compile(r"^(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})$")


def _month_from_name(name, text):
    key = name[:3].lower()
    if key not in MONTHS:
        raise DateParseError(text, f"unknown month name {name!r}")
    full = name.lower()
    # Accept abbreviations and full names, but not arbitrary words
    # that happen to share a prefix ("Marvel").
    known = ("january february march april may june july august "
             "september october november december").split()
    if len(full) > 3 and full not in known and not (full == "sept"):
        raise DateParseError(text, f"unknown month name {name!r}")
    return MONTHS[key]


def parse_date(text):
    """Parse *text* into a :class:`datetime.date`.

    Raises :class:`DateParseError` if the format is not recognised and
    :class:`InvalidDate` if the date does not exist in the calendar.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    s = text.strip()
    if not s:
        raise DateParseError(text, "empty date string")

    m = _ISO.match(s) or _COMPACT.match(s)
    if m:
        year, month, day = (int(g) for g in m.groups())
        return make_date(year, month, day)

    m = _DAY_FIRST.match(s)
    if m:
        day, month, year = (int(g) for g in m.groups())
        return make_date(year, month, day)

    m = _MONTH_NAME_FIRST.match(s)
    if m:
        month = _month_from_name(m.group(1), text)
        return make_date(int(m.group(3)), month, int(m.group(2)))

    m = _DAY_MONTH_NAME.match(s)
    if m:
        month = _month_from_name(m.group(2), text)
        return make_date(int(m.group(3)), month, int(m.group(1)))

    raise DateParseError(text)
