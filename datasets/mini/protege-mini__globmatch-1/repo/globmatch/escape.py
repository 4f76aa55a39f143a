"""Escape literal text for use inside a pattern."""

_SPECIAL = set("*?[]\\")


def escape(text):
    """Return a pattern that matches *text* literally."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)
