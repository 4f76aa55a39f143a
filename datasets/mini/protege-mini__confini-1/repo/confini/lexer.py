"""Classify the physical lines of an INI file."""

from dataclasses import dataclass

COMMENT_PREFIXES = ("#", ";")
DELIMITERS = ("=", ":")


@dataclass
class Line:
    kind: str          # "blank", "comment", "section", "pair", "continuation"
    lineno: int
    raw: str
    key: str = ""
    value: str = ""


def split_pair(text):
    """Split ``key = value`` / ``key: value`` into ``(key, value)``.

    Returns ``None`` when the line contains no delimiter.
    """
    if "=" in text:
        key, _, value = text.partition("=")
    elif ":" in text:
        key, _, value = text.partition(":")
    else:
        return None
    return key.strip(), value.strip()


def tokenize(text):
    """Yield a :class:`Line` for every line of *text*."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            yield Line("blank", lineno, raw)
        elif stripped.startswith(COMMENT_PREFIXES):
            yield Line("comment", lineno, raw)
        elif raw[0] in " \t":
            yield Line("continuation", lineno, raw, value=stripped)
        elif stripped.startswith("[") and stripped.endswith("]"):
            yield Line("section", lineno, raw, key=stripped[1:-1].strip())
        else:
            pair = split_pair(stripped)
            if pair is None:
                yield Line("pair", lineno, raw, key=stripped, value=None)
            else:
                yield Line("pair", lineno, raw, key=pair[0], value=pair[1])
