import datetime

import pytest

from dateparse import add_days, add_months, days_in_month, weekday_name


@pytest.mark.parametrize("month,days", [(1, 31), (4, 30), (6, 30), (12, 31)])
def test_days_in_month(month, days):
    assert days_in_month(2023, month) == days


def test_february_lengths():
    assert days_in_month(2023, 2) == 28
    assert days_in_month(2024, 2) == 29
    assert days_in_month(2100, 2) == 28


def test_add_months_simple():
    assert add_months(datetime.date(2023, 11, 15), 3) == datetime.date(2024, 2, 15)
    assert add_months(datetime.date(2023, 3, 15), -3) == datetime.date(2022, 12, 15)


def test_add_months_clamps_to_month_end():
    assert add_months(datetime.date(2023, 1, 31), 1) == datetime.date(2023, 2, 28)
    assert add_months(datetime.date(2024, 1, 31), 1) == datetime.date(2024, 2, 29)
    assert add_months(datetime.date(2023, 5, 31), 1) == datetime.date(2023, 6, 30)


def test_add_days_across_year():
    assert add_days(datetime.date(2023, 12, 30), 3) == datetime.date(2024, 1, 2)


def test_weekday_name():
    assert weekday_name(datetime.date(2024, 3, 1)) == "Friday"
