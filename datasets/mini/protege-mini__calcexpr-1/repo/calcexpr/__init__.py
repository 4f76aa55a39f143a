"""calcexpr: evaluate arithmetic expressions safely, without ``eval``.

Grammar (highest precedence first)::

    atom     := NUMBER | NAME | NAME '(' args ')' | '(' expr ')'
    power    := atom ('^' unary)?          right-associative: 2^3^2 == 2^9
    unary    := ('-' | '+') unary | power  so -2^2 == -(2^2) == -4
    product  := unary (('*' | '/' | '%') unary)*
    sum      := product (('+' | '-') product)*

>>> from calcexpr import evaluate
>>> evaluate("2 * (3 + x)", {"x": 4})
14
"""

from .errors import CalcError, EvaluationError, ParseError, TokenizeError
from .evaluator import evaluate
from .parser import parse
from .tokens import tokenize

__all__ = ["CalcError", "EvaluationError", "ParseError", "TokenizeError", "evaluate", "parse", "tokenize"]
__version__ = "1.0.0"
