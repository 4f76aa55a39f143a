"""Turn an expression string into a list of tokens."""

import re
from dataclasses import dataclass

from .errors import TokenizeError

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*|[-+*/%^(),])"
    r")"
)


@dataclass(frozen=True)
class Token:
    kind: str     # "number", "name", "op", "end"
    text: str
    pos: int


def tokenize(text):
    """Return the tokens of *text*, ending with an ``end`` token.

    ``**`` is accepted as an alias for ``^``.
    """
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TokenizeError(text, pos + (len(text[pos:]) - len(text[pos:].lstrip())))
        kind = m.lastgroup
        value = m.group(kind)
        if value == "**":
            value = "^"
        tokens.append(Token(kind, value, m.start(kind)))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens
