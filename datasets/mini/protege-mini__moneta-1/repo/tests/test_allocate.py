from decimal import Decimal

import pytest

from moneta import Money, allocate, format_money, split_evenly


def test_split_evenly_keeps_every_cent():
    parts = split_evenly(Money("100.00", "USD"), 3)
    assert [p.amount for p in parts] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(parts, Money("0", "USD")) == Money("100", "USD")


def test_allocate_by_ratio():
    parts = allocate(Money("0.05", "USD"), [3, 7])
    assert [p.minor for p in parts] == [2, 3]


def test_allocate_negative():
    parts = split_evenly(Money("-1.00", "USD"), 3)
    assert [p.minor for p in parts] == [-34, -33, -33]


def test_allocate_rejects_bad_ratios():
    with pytest.raises(ValueError):
        allocate(Money("1"), [0, 0])


def test_format():
    assert format_money(Money("1234567.5", "USD")) == "$1,234,567.50"
    assert format_money(Money("-1200", "JPY"), symbol=False) == "-1,200 JPY"
