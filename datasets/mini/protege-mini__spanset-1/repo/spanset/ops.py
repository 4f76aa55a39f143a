"""Set operations on lists of intervals (results are always merged)."""

from .interval import Interval
from .merge import merge


def union(a, b):
    return merge(list(a) + list(b))


def intersection(a, b):
    """Points contained in both *a* and *b* (two-pointer sweep)."""
    xs, ys = merge(a), merge(b)
    out = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        piece = xs[i].intersect(ys[j])
        if piece is not None:
            out.append(piece)
        if xs[i].end < ys[j].end:
            i += 1
        else:
            j += 1
    return out


def difference(a, b):
    """Points in *a* that are not in *b*."""
    out = []
    cuts = merge(b)
    for iv in merge(a):
        start = iv.start
        for cut in cuts:
            if cut.end <= start or cut.start >= iv.end:
                continue
            if cut.start > start:
                out.append(Interval(start, cut.start))
            start = max(start, cut.end)
        if start < iv.end:
            out.append(Interval(start, iv.end))
    return out


def complement(a, lo, hi):
    """Gaps of *a* inside ``[lo, hi)``."""
    return difference([Interval(lo, hi)], a)
