"""Sliding-window log limiter."""

from collections import deque

from .clock import MonotonicClock


class SlidingWindow:
    """At most *limit* events in any window of *period* seconds.

    An event recorded at time ``t`` counts against the limit while
    ``now < t + period``.
    """

    def __init__(self, limit, period, clock=None):
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit = limit
        self.period = float(period)
        self._clock = clock or MonotonicClock()
        self._events = deque()

    def _expire(self, now):
        cutoff = now - self.period
        while self._events and self._events[0] <= cutoff:
            self._events.popleft()

    def try_acquire(self):
        now = self._clock.now()
        self._expire(now)
        if len(self._events) < self.limit:
            self._events.append(now)
            return True
        return False

    def remaining(self):
        self._expire(self._clock.now())
        return self.limit - len(self._events)

    def reset_at(self):
        """Time at which the oldest counted event expires (None if empty)."""
        self._expire(self._clock.now())
        return self._events[0] + self.period if self._events else None
