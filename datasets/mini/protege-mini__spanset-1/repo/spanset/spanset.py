"""A mutable set of integer points stored as merged spans."""

import bisect

from .interval import Interval
from .merge import merge
from .ops import complement, difference, intersection


class SpanSet:
    def __init__(self, spans=()):
        self._spans = merge(spans)

    @classmethod
    def _wrap(cls, spans):
        obj = cls()
        obj._spans = spans
        return obj

    def spans(self):
        return [tuple(s) for s in self._spans]

    def add(self, start, end):
        self._spans = merge(self._spans + [Interval.of((start, end))])

    def remove(self, start, end):
        self._spans = difference(self._spans, [Interval.of((start, end))])

    def __contains__(self, point):
        i = bisect.bisect_right(self._spans, Interval(point, float("inf"))) - 1
        return i >= 0 and self._spans[i].contains(point)

    def total_length(self):
        return sum(len(s) for s in self._spans)

    def gaps(self, lo=None, hi=None):
        if not self._spans:
            return [] if lo is None or hi is None else [(lo, hi)]
        lo = self._spans[0].start if lo is None else lo
        hi = self._spans[-1].end if hi is None else hi
        return [tuple(s) for s in complement(self._spans, lo, hi)]

    def __or__(self, other):
        return SpanSet(self._spans + other._spans)

    def __and__(self, other):
        return self._wrap(intersection(self._spans, other._spans))

    def __sub__(self, other):
        return self._wrap(difference(self._spans, other._spans))

    def __eq__(self, other):
        return isinstance(other, SpanSet) and self._spans == other._spans

    def __repr__(self):
        return f"SpanSet({self.spans()!r})"
