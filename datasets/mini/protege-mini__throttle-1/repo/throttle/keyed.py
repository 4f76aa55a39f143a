"""One limiter per key (user, IP address, API token, ...)."""

from .clock import MonotonicClock


class KeyedLimiter:
    """Lazily creates a limiter per key with *factory(clock)*.

    Keys that have not been used for *idle_ttl* seconds are dropped the next
    time :meth:`sweep` runs (which happens automatically every
    *sweep_every* calls).
    """

    def __init__(self, factory, clock=None, idle_ttl=300.0, sweep_every=100):
        self._factory = factory
        self._clock = clock or MonotonicClock()
        self._idle_ttl = idle_ttl
        self._sweep_every = sweep_every
        self._limiters = {}
        self._last_used = {}
        self._calls = 0

    def __len__(self):
        return len(self._limiters)

    def get(self, key):
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._factory(self._clock)
            self._limiters[key] = limiter
        self._last_used[key] = self._clock.now()
        return limiter

    def try_acquire(self, key, *args):
        self._calls += 1
        if self._calls % self._sweep_every == 0:
            self.sweep()
        return self.get(key).try_acquire(*args)

    def sweep(self):
        """Drop limiters idle for longer than ``idle_ttl``; return how many."""
        now = self._clock.now()
        stale = [k for k, t in self._last_used.items() if now - t > self._idle_ttl]
        for key in stale:
            del self._limiters[key]
            del self._last_used[key]
        return len(stale)
