"""throttle: in-process rate limiting.

All limiters take a *clock* object with a ``now()`` method returning seconds
as a float.  Production code uses :class:`MonotonicClock`; tests use
:class:`ManualClock` and advance it explicitly.

>>> from throttle import ManualClock, TokenBucket
>>> clock = ManualClock()
>>> bucket = TokenBucket(rate=1.0, capacity=2, clock=clock)
>>> bucket.try_acquire(), bucket.try_acquire(), bucket.try_acquire()
(True, True, False)
>>> clock.advance(1.0)
>>> bucket.try_acquire()
True
"""

from .bucket import TokenBucket
from .clock import ManualClock, MonotonicClock
from .keyed import KeyedLimiter
from .window import SlidingWindow

__all__ = ["KeyedLimiter", "ManualClock", "MonotonicClock", "SlidingWindow", "TokenBucket"]
__version__ = "1.0.0"
