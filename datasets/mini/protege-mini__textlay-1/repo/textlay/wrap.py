"""Greedy line wrapping.

Each output line is at most ``width`` characters long.  Words are separated
by a single space; words longer than ``width`` are broken (see
:func:`textlay.tokens.chop`) unless ``break_long_words=False``.
"""

from .tokens import chop, split_words


def wrap(text, width=70, indent="", subsequent_indent=None, break_long_words=True):
    """Wrap *text* into a list of lines no longer than *width*.

    ``indent`` is prepended to the first line and ``subsequent_indent``
    (default: same as ``indent``) to the others; both count toward the width.
    """
    if subsequent_indent is None:
        subsequent_indent = indent
    if width <= max(len(indent), len(subsequent_indent)):
        raise ValueError("width must be larger than the indentation")

    lines = []
    current = []
    current_len = 0
    prefix = indent

    def flush():
        nonlocal current, current_len, prefix
        lines.append(prefix + " ".join(current))
        current = []
        current_len = 0
        prefix = subsequent_indent

    words = split_words(text)
    queue = list(reversed(words))
    while queue:
        word = queue.pop()
        room = width - len(prefix)
        if len(word) > room and break_long_words:
            if current:
                flush()
                room = width - len(prefix)
            pieces = chop(word, room)
            queue.extend(reversed(pieces[1:]))
            word = pieces[0]
        if not current:
            current = [word]
            current_len = len(word)
            continue
        if len(prefix) + current_len + 1 + len(word) < width:
            current.append(word)
            current_len += 1 + len(word)
        else:
            flush()
            queue.append(word)
    if current:
        flush()
    return lines


def fill(text, width=70, **kwargs):
    """Like :func:`wrap` but returns a single string joined by newlines."""
    return "\n".join(wrap(text, width, **kwargs))
