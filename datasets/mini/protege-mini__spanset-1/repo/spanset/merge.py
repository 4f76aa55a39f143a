"""Coalesce overlapping and adjacent intervals."""

from .interval import Interval


def merge(intervals):
    """Return the sorted, non-overlapping union of *intervals*.

    Adjacent intervals (``[0, 2)`` and ``[2, 4)``) are joined, and empty
    intervals are dropped.
    """
    items = sorted(Interval.of(i) for i in intervals)
    merged = []
    for cur in items:
        if cur.empty:
            continue
        if merged and merged[-1].touches(cur):
            last = merged[-1]
            merged[-1] = Interval(last.start, cur.end)
        else:
            merged.append(cur)
    return merged
