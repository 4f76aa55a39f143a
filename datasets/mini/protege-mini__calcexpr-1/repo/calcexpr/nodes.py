"""Syntax tree node types."""

from dataclasses import dataclass
from typing import Tuple, Union


@dataclass(frozen=True)
class Num:
    value: Union[int, float]


@dataclass(frozen=True)
class Name:
    ident: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    func: str
    args: Tuple[object, ...]


def to_sexpr(node):
    """Debug rendering, e.g. ``(+ 1 (* 2 x))``."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Name):
        return node.ident
    if isinstance(node, Unary):
        return f"({node.op} {to_sexpr(node.operand)})"
    if isinstance(node, Binary):
        return f"({node.op} {to_sexpr(node.left)} {to_sexpr(node.right)})"
    if isinstance(node, Call):
        return "(" + " ".join([node.func] + [to_sexpr(a) for a in node.args]) + ")"
    raise TypeError(node)
