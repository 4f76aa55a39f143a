"""Token bucket: steady rate with bounded bursts."""

import math

from .clock import MonotonicClock


class TokenBucket:
    """Allow on average *rate* operations per second, bursts up to *capacity*.

    The bucket starts full.  Tokens are added continuously at *rate* per
    second, but the bucket never holds more than *capacity* tokens.
    """

    def __init__(self, rate, capacity, clock=None, initial=None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._rate = float(rate)
        self._capacity = float(capacity)
        self._clock = clock or MonotonicClock()
        self._tokens = self._capacity if initial is None else float(initial)
        self._updated = self._clock.now()

    @property
    def rate(self):
        return self._rate

    @property
    def capacity(self):
        return self._capacity

    def _refill(self):
        now = self._clock.now()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = self._tokens + elapsed * self._rate
            self._updated = now

    @property
    def available(self):
        """Tokens that could be taken right now (may be fractional)."""
        self._refill()
        return min(self._tokens, self._capacity)

    def try_acquire(self, n=1):
        """Take *n* tokens if they are available; return whether it worked."""
        if n > self._capacity:
            raise ValueError("cannot acquire more tokens than the capacity")
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_time(self, n=1):
        """Seconds until *n* tokens will be available (0.0 if they already are)."""
        if n > self._capacity:
            raise ValueError("cannot acquire more tokens than the capacity")
        self._refill()
        missing = n - self._tokens
        if missing <= 0:
            return 0.0
        return missing / self._rate

    def __repr__(self):
        return f"TokenBucket(rate={self._rate:g}, capacity={self._capacity:g}, available={self.available:.3f})"


def ceil_seconds(value):
    """Round a wait time up to whole seconds, for ``Retry-After`` headers."""
    return int(math.ceil(value - 1e-9))
