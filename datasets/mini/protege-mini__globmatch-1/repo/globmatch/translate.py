"""Translate glob patterns into regular expressions."""

import re


class PatternError(ValueError):
    """The pattern is malformed (for example a dangling backslash)."""


def _char_class(pattern, i):
    """Translate the ``[...]`` starting at ``pattern[i]``.

    Returns ``(regex, next_index)`` or ``None`` when the bracket is not
    closed, in which case it is matched literally.
    """
    j = i + 1
    negate = False
    if j < len(pattern) and pattern[j] == "!":
        negate = True
        j += 1
    start = j
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 1
    if j >= len(pattern):
        return None
    body = pattern[start:j].replace("\\", "\\\\").replace("^", "\\^")
    if negate:
        return f"[^/{body}]", j + 1
    return f"[{body}]", j + 1


def translate(pattern):
    """Return a regular expression source that matches whole paths."""
    parts = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            at_segment_start = i == 0 or pattern[i - 1] == "/"
            if pattern.startswith("**", i) and at_segment_start:
                j = i + 2
                if j == n:
                    parts.append(".*")
                    i = j
                    continue
                if pattern[j] == "/":
                    parts.append(".*/")
                    i = j + 1
                    continue
            while i < n and pattern[i] == "*":
                i += 1
            parts.append("[^/]*")
            continue
        if c == "?":
            parts.append("[^/]")
        elif c == "[":
            cls = _char_class(pattern, i)
            if cls is None:
                parts.append(re.escape(c))
            else:
                parts.append(cls[0])
                i = cls[1]
                continue
        elif c == "\\":
            if i + 1 >= n:
                raise PatternError(f"dangling backslash in {pattern!r}")
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            parts.append(re.escape(c))
        i += 1
    return "(?s:" + "".join(parts) + r")\Z"
