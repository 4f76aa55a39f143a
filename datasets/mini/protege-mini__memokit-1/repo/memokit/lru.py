"""A least-recently-used cache built on an ordered dict."""

from collections import OrderedDict

from .stats import CacheInfo, Counter

_MISSING = object()


class LRUCache:
    """Mapping-like cache that evicts the least recently used entry.

    ``maxsize=None`` makes the cache unbounded; ``maxsize=0`` disables
    storage entirely (every lookup is a miss).
    """

    def __init__(self, maxsize=128):
        if maxsize is not None and maxsize < 0:
            raise ValueError("maxsize must be >= 0 or None")
        self.maxsize = maxsize
        self._data = OrderedDict()
        self._stats = Counter()

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

    def get(self, key, default=None):
        """Return the cached value for *key* and mark it as recently used."""
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self._stats.miss()
            return default
        self._data.move_to_end(key)
        self._stats.hit()
        return value

    def set(self, key, value):
        """Store *value* under *key*, evicting old entries if needed."""
        if self.maxsize == 0:
            return
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = value
        if self.maxsize is not None:
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def pop(self, key, default=None):
        return self._data.pop(key, default)

    def clear(self):
        self._data.clear()
        self._stats.reset()

    def keys(self):
        """Keys from least to most recently used."""
        return list(self._data)

    def info(self):
        return CacheInfo(self._stats.hits, self._stats.misses, self.maxsize, len(self._data))
