"""Built-in filters."""

from .escape import Markup, escape


def _default(value, fallback=""):
    return value if value or value == 0 else fallback


def _join(value, sep=", "):
    return sep.join(str(v) for v in value)


def _truncate(value, length=30):
    text = str(value)
    return text if len(text) <= length else text[: max(length - 3, 0)] + "..."


FILTERS = {
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "title": lambda v: str(v).title(),
    "trim": lambda v: str(v).strip(),
    "length": lambda v: len(v),
    "first": lambda v: v[0] if v else "",
    "last": lambda v: v[-1] if v else "",
    "default": _default,
    "join": _join,
    "truncate": _truncate,
    "escape": escape,
    "safe": lambda v: Markup(str(v)),
}
