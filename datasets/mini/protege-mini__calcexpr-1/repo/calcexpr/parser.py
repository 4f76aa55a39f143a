"""Precedence-climbing parser producing :mod:`calcexpr.nodes` trees."""

from .errors import ParseError
from .nodes import Binary, Call, Name, Num, Unary
from .tokens import tokenize

# binary operator -> (precedence, right associative?)
BINARY = {
    "+": (10, False),
    "-": (10, False),
    "*": (20, False),
    "/": (20, False),
    "%": (20, False),
    "^": (40, True),
}
UNARY_PRECEDENCE = 30
MAX_NESTING = 20


class _Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.i]

    def advance(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text):
        tok = self.advance()
        if tok.text != text:
            raise ParseError(f"expected {text!r}, found {tok.text or 'end of input'!r}", tok.pos)
        return tok

    def _enter(self, pos):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ParseError("expression nested too deeply", pos)

    def expression(self, min_prec=0):
        self._enter(self.peek().pos)
        left = self.unary()
        while True:
            tok = self.peek()
            if tok.kind != "op" or tok.text not in BINARY:
                break
            prec, right_assoc = BINARY[tok.text]
            if prec < min_prec:
                break
            self.advance()
            right = self.expression(prec if right_assoc else prec + 1)
            left = Binary(tok.text, left, right)
        self.depth -= 1
        return left

    def unary(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.advance()
            self._enter(tok.pos)
            operand = self.unary()
            self.depth -= 1
            return Unary(tok.text, operand)
        return self.atom()

    def atom(self):
        tok = self.advance()
        if tok.kind == "number":
            text = tok.text
            if any(c in text for c in ".eE"):
                return Num(float(text))
            return Num(int(text))
        if tok.kind == "name":
            if self.peek().text == "(":
                self.advance()
                args = []
                if self.peek().text != ")":
                    args.append(self.expression())
                    while self.peek().text == ",":
                        self.advance()
                        args.append(self.expression())
                self.expect(")")
                return Call(tok.text, tuple(args))
            return Name(tok.text)
        if tok.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        raise ParseError(f"unexpected {tok.text or 'end of input'!r}", tok.pos)


def parse(text):
    """Parse *text* into a syntax tree."""
    p = _Parser(text)
    tree = p.expression()
    tok = p.peek()
    if tok.kind != "end":
        raise ParseError(f"unexpected {tok.text!r}", tok.pos)
    return tree
