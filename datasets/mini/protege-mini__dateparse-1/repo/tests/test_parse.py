import datetime

import pytest

from dateparse import DateParseError, InvalidDate, parse_date


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-03-01", datetime.date(2024, 3, 1)),
        ("20240301", datetime.date(2024, 3, 1)),
        ("01/03/2024", datetime.date(2024, 3, 1)),
        ("1.3.2024", datetime.date(2024, 3, 1)),
        ("March 1, 2024", datetime.date(2024, 3, 1)),
        ("1 Mar 2024", datetime.date(2024, 3, 1)),
        ("  Sept 9 2023 ", datetime.date(2023, 9, 9)),
    ],
    ids=["iso", "compact", "slashes", "dots", "month-name-first", "day-month-name", "padded"],
)
def test_supported_formats(text, expected):
    assert parse_date(text) == expected


def test_leap_day_in_ordinary_leap_year():
    assert parse_date("2024-02-29") == datetime.date(2024, 2, 29)


def test_leap_day_rejected_in_common_year():
    with pytest.raises(InvalidDate):
        parse_date("2023-02-29")


def test_leap_day_rejected_in_1900():
    with pytest.raises(InvalidDate) as info:
        parse_date("29/02/1900")
    assert "day out of range" in str(info.value)


def test_unknown_month_name():
    with pytest.raises(DateParseError):
        parse_date("1 Marvel 2024")


def test_garbage():
    with pytest.raises(DateParseError):
        parse_date("yesterday")


def test_non_string():
    with pytest.raises(TypeError):
        parse_date(20240301)
