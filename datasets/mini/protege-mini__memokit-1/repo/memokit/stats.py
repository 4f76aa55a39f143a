"""Cache statistics."""

from collections import namedtuple

CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])
CacheInfo.__doc__ = "Snapshot of a cache's hit/miss counters and size."


class Counter:
    """Mutable hit/miss counter shared by cache implementations."""

    __slots__ = ("hits", "misses")

    def __init__(self):
        self.hits = 0
        self.misses = 0

    def hit(self):
        self.hits += 1

    def miss(self):
        self.misses += 1

    def reset(self):
        self.hits = 0
        self.misses = 0

    def ratio(self):
        """Hit ratio in [0, 1]; 0.0 when the cache was never queried."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
