import pytest

from spanset import Interval, merge


def test_disjoint_inputs_are_sorted():
    assert merge([(5, 6), (1, 2)]) == [Interval(1, 2), Interval(5, 6)]


def test_overlapping_chain():
    assert merge([(1, 4), (3, 6), (5, 9)]) == [Interval(1, 9)]


def test_adjacent_are_joined():
    assert merge([(0, 2), (2, 4)]) == [Interval(0, 4)]


def test_empty_intervals_dropped():
    assert merge([(3, 3), (1, 2)]) == [Interval(1, 2)]


def test_reversed_interval_rejected():
    with pytest.raises(ValueError):
        merge([(4, 1)])
