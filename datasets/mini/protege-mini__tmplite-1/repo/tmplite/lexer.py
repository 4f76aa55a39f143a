"""Split template source into text, variable, block and comment tokens."""

import re
from dataclasses import dataclass

from .errors import TemplateSyntaxError

_TAG = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)


@dataclass
class Token:
    kind: str      # "text", "var", "block"
    value: str
    lineno: int


def tokenize(source):
    tokens = []
    lineno = 1
    for piece in _TAG.split(source):
        if not piece:
            continue
        if piece.startswith("{{"):
            tokens.append(Token("var", piece[2:-2].strip(), lineno))
        elif piece.startswith("{%"):
            tokens.append(Token("block", piece[2:-2].strip(), lineno))
        elif piece.startswith("{#"):
            pass
        else:
            if "{{" in piece or "{%" in piece:
                raise TemplateSyntaxError("unclosed tag", lineno + piece[: piece.find("{")].count("\n"))
            tokens.append(Token("text", piece, lineno))
        lineno += piece.count("\n")
    return tokens
