"""Exceptions raised by calcexpr."""


class CalcError(Exception):
    """Base class for calcexpr errors."""


class TokenizeError(CalcError):
    def __init__(self, text, pos):
        self.pos = pos
        super().__init__(f"unexpected character {text[pos]!r} at position {pos}")


class ParseError(CalcError):
    def __init__(self, message, pos):
        self.pos = pos
        super().__init__(f"{message} at position {pos}")


class EvaluationError(CalcError):
    """Raised for unknown names, bad function calls, division by zero, ..."""
