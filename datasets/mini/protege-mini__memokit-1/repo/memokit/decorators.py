"""The :func:`memoize` decorator."""

import functools

from .keys import make_key
from .lru import LRUCache

_MISSING = object()


def memoize(maxsize=128, typed=False):
    """Cache a function's results keyed on its arguments.

    The wrapped function gains ``cache_info()``, ``cache_clear()`` and
    ``cache_parameters()`` like :func:`functools.lru_cache`.  Unlike the
    standard library version, exceptions are never cached and the cache
    object is reachable as ``wrapper.cache`` for inspection.
    """
    if callable(maxsize) and not isinstance(maxsize, bool):
        # Used as @memoize without parentheses.
        return memoize()(maxsize)

    def decorator(func):
        cache = LRUCache(maxsize)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = make_key(args, kwargs, typed)
            result = cache.get(key, _MISSING)
            if result is _MISSING:
                result = func(*args, **kwargs)
                cache.set(key, result)
            return result

        wrapper.cache = cache
        wrapper.cache_info = cache.info
        wrapper.cache_clear = cache.clear
        wrapper.cache_parameters = lambda: {"maxsize": maxsize, "typed": typed}
        return wrapper

    return decorator
