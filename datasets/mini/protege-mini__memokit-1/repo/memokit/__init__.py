"""memokit: bounded caches and memoization helpers.

>>> from memokit import memoize
>>> @memoize(maxsize=128)
... def square(x):
...     return x * x
>>> square(4)
16
>>> square.cache_info().hits
0
"""

from .decorators import memoize
from .keys import make_key
from .lru import LRUCache
from .stats import CacheInfo

__all__ = ["CacheInfo", "LRUCache", "make_key", "memoize"]
__version__ = "1.0.0"
