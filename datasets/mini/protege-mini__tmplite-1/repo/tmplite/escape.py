"""HTML escaping."""


class Markup(str):
    """A string that is already safe and must not be escaped again."""


_REPLACEMENTS = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))


def escape(value):
    """Escape ``& < > " '`` in ``str(value)``; :class:`Markup` passes through."""
    if isinstance(value, Markup):
        return value
    text = str(value)
    for char, entity in _REPLACEMENTS:
        text = text.replace(char, entity)
    return Markup(text)
