"""Version ranges in the familiar npm/cargo style.

Supported comparators: ``=``, ``>``, ``>=``, ``<``, ``<=``, caret (``^1.2.3``),
tilde (``~1.2``) and wildcards (``1.x``, ``*``).  Space-separated comparators
are ANDed; ``||`` separates alternatives.  Partial versions (``1.2``) are
allowed in comparators.
"""

import re

from .errors import InvalidRange
from .version import Version

_COMPARATOR = re.compile(r"^(\^|~|>=|<=|>|<|=)?v?(\*|x|\d+)(?:\.(\*|x|\d+))?(?:\.(\*|x|\d+))?(-[0-9A-Za-z.-]+)?$")


def _expand(op, parts, pre, text):
    """Translate one comparator into a list of (operator, Version) bounds."""
    nums = [None if p in (None, "*", "x") else int(p) for p in parts]
    if nums[0] is None:
        return []
    major, minor, patch = nums
    if op in ("", "=") and (minor is None or patch is None):
        op = "~" if minor is not None else "^"
        if minor is None:
            minor = 0
        if patch is None:
            patch = 0
    base = Version(major, minor or 0, patch or 0, tuple(pre[1:].split(".")) if pre else ())
    if op in ("", "="):
        return [("=", base)]
    if op in (">", ">=", "<", "<="):
        return [(op, base)]
    if op == "~":
        upper = Version(major, (minor or 0) + 1, 0) if minor is not None else Version(major + 1, 0, 0)
        return [(">=", base), ("<", upper)]
    if op == "^":
        if major > 0 or minor is None:
            upper = Version(major + 1, 0, 0)
        elif (minor or 0) > 0 or patch is None:
            upper = Version(0, minor + 1, 0)
        else:
            upper = Version(0, 0, patch + 1)
        return [(">=", base), ("<", upper)]
    raise InvalidRange(text)


_OPS = {
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class Range:
    def __init__(self, text):
        self.text = text
        self.alternatives = []
        for alt in text.split("||"):
            bounds = []
            for token in alt.split():
                m = _COMPARATOR.match(token)
                if not m:
                    raise InvalidRange(text, f"bad comparator {token!r}")
                bounds.extend(_expand(m.group(1) or "", m.groups()[1:4], m.group(5), text))
            self.alternatives.append(bounds)

    def contains(self, version, include_prerelease=False):
        """True if *version* satisfies the range.

        Pre-releases only match when a comparator in the same alternative
        names a pre-release of the same major.minor.patch, unless
        ``include_prerelease`` is set.
        """
        v = Version.parse(version)
        for bounds in self.alternatives:
            if not all(_OPS[op](v, b) for op, b in bounds):
                continue
            if v.is_prerelease and not include_prerelease:
                if not any(b.is_prerelease and b.release() == v.release() for _, b in bounds):
                    continue
            return True
        return False

    __contains__ = contains


def satisfies(version, range_text, include_prerelease=False):
    return Range(range_text).contains(version, include_prerelease)


def max_satisfying(versions, range_text, include_prerelease=False):
    """The highest version in *versions* inside the range, or None."""
    r = Range(range_text)
    best = None
    for text in versions:
        v = Version.parse(text)
        if r.contains(v, include_prerelease) and (best is None or v > best):
            best = v
    return best
