"""spanset: sets of half-open intervals ``[start, end)``.

>>> from spanset import SpanSet
>>> s = SpanSet([(0, 5), (3, 8), (10, 12)])
>>> s.spans()
[(0, 8), (10, 12)]
>>> s.total_length()
10
"""

from .interval import Interval
from .merge import merge
from .ops import difference, intersection, union
from .spanset import SpanSet

__all__ = ["Interval", "SpanSet", "difference", "intersection", "merge", "union"]
__version__ = "1.0.0"
