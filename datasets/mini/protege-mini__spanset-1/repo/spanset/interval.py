"""A single half-open interval."""

from typing import NamedTuple


class Interval(NamedTuple):
    """``[start, end)``; empty when ``start == end``."""

    start: int
    end: int

    @classmethod
    def of(cls, value):
        """Coerce an ``Interval`` or a ``(start, end)`` pair."""
        if isinstance(value, Interval):
            return value
        start, end = value
        if end < start:
            raise ValueError(f"interval end {end} is before start {start}")
        return cls(start, end)

    def __len__(self):
        return self.end - self.start

    @property
    def empty(self):
        return self.start == self.end

    def contains(self, point):
        return self.start <= point < self.end

    def overlaps(self, other):
        """True if the intervals share at least one point."""
        return self.start < other.end and other.start < self.end

    def touches(self, other):
        """True if the intervals overlap or are directly adjacent."""
        return self.start <= other.end and other.start <= self.end

    def intersect(self, other):
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        return Interval(start, end) if start < end else None
