"""Split text into words and break over-long words."""

import re

_WS = re.compile(r"\s+")


def split_words(text):
    """Split *text* on any run of whitespace, dropping empty words."""
    return [w for w in _WS.split(text) if w]


def chop(word, width):
    """Cut *word* into pieces of at most *width* characters.

    Prefers to cut right after a hyphen when one falls inside the piece,
    so ``"well-known"`` at width 6 becomes ``["well-", "known"]``.
    """
    if width < 1:
        raise ValueError("width must be positive")
    pieces = []
    while len(word) > width:
        cut = word.rfind("-", 0, width)
        if cut <= 0:
            cut = width
        else:
            cut += 1
        pieces.append(word[:cut])
        word = word[cut:]
    if word:
        pieces.append(word)
    return pieces
