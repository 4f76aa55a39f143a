"""dateparse: parse, format and do arithmetic on calendar dates.

The library works on plain :class:`datetime.date` objects and never looks at
the host clock or time zone; every operation is a pure function of its inputs.
"""

from .calendar_math import add_days, add_months, days_in_month, is_leap, weekday_name
from .errors import DateParseError, InvalidDate
from .formatting import format_date
from .parser import parse_date

__all__ = [
    "DateParseError",
    "InvalidDate",
    "add_days",
    "add_months",
    "days_in_month",
    "format_date",
    "is_leap",
    "parse_date",
    "weekday_name",
]

__version__ = "1.0.0"
