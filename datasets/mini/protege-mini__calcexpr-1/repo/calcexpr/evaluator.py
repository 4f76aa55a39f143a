"""Evaluate syntax trees."""

import math

from .errors import EvaluationError
from .nodes import Binary, Call, Name, Num, Unary
from .parser import parse

CONSTANTS = {"pi": math.pi, "e": math.e}

FUNCTIONS = {
    "abs": (abs, 1),
    "sqrt": (math.sqrt, 1),
    "min": (min, None),
    "max": (max, None),
    "round": (round, None),
    "floor": (math.floor, 1),
    "ceil": (math.ceil, 1),
}


def _binary(op, a, b):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in "/%":
        if b == 0:
            raise EvaluationError("division by zero")
        if op == "%":
            return a % b
        result = a / b
        return int(result) if isinstance(a, int) and isinstance(b, int) and a % b == 0 else result
    if op == "^":
        if isinstance(a, int) and isinstance(b, int) and b >= 0:
            if b > 10000:
                raise EvaluationError("exponent too large")
            return a ** b
        return float(a) ** b
    raise EvaluationError(f"unknown operator {op!r}")


def _eval(node, names):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        if node.ident in names:
            return names[node.ident]
        if node.ident in CONSTANTS:
            return CONSTANTS[node.ident]
        raise EvaluationError(f"unknown name {node.ident!r}")
    if isinstance(node, Unary):
        value = _eval(node.operand, names)
        return -value if node.op == "-" else value
    if isinstance(node, Binary):
        return _binary(node.op, _eval(node.left, names), _eval(node.right, names))
    if isinstance(node, Call):
        if node.func not in FUNCTIONS:
            raise EvaluationError(f"unknown function {node.func!r}")
        func, arity = FUNCTIONS[node.func]
        args = [_eval(a, names) for a in node.args]
        if arity is not None and len(args) != arity:
            raise EvaluationError(f"{node.func}() takes {arity} argument(s), got {len(args)}")
        try:
            return func(*args)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"{node.func}(): {exc}") from None
    raise EvaluationError(f"cannot evaluate {node!r}")


def evaluate(expr, names=None):
    """Evaluate an expression string (or a parsed tree) with optional variables."""
    tree = parse(expr) if isinstance(expr, str) else expr
    return _eval(tree, dict(names or {}))
