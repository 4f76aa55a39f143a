import datetime

from dateparse import format_date


def test_default_is_iso():
    assert format_date(datetime.date(2024, 3, 1)) == "2024-03-01"


def test_names_and_literals():
    d = datetime.date(2024, 3, 1)
    assert format_date(d, "dddd, MMMM D YYYY") == "Friday, March 1 2024"
    assert format_date(d, "[Week of] MMM D") == "Week of Mar 1"


def test_short_tokens():
    assert format_date(datetime.date(2024, 3, 9), "D/M/YYYY") == "9/3/2024"
