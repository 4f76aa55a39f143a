"""Split an amount into parts without losing or inventing minor units."""

from .money import Money


def allocate(money, ratios):
    """Split *money* proportionally to *ratios*.

    Works in integer minor units: each part gets the floor of its share,
    then the leftover units are handed out one at a time, starting with the
    first part.  The parts always add up to exactly *money*.
    """
    if not ratios or any(r < 0 for r in ratios):
        raise ValueError("ratios must be non-negative and not empty")
    total_ratio = sum(ratios)
    if total_ratio == 0:
        raise ValueError("ratios must not all be zero")
    units = money.minor
    sign = -1 if units < 0 else 1
    units = abs(units)
    shares = [units * r // total_ratio for r in ratios]
    remainder = units - sum(shares)
    for i in range(remainder):
        shares[i % len(shares)] += 1
    return [Money.from_minor(sign * s, money.currency) for s in shares]


def split_evenly(money, n):
    """Split *money* into *n* parts that differ by at most one minor unit."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return allocate(money, [1] * n)
