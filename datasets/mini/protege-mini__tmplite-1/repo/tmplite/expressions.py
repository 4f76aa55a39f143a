"""Evaluate the small expression language used inside tags."""

import re

from .errors import TemplateSyntaxError, UndefinedError
from .filters import FILTERS

_STRING = re.compile(r'^"([^"]*)"$|^\'([^\']*)\'$')
_INT = re.compile(r"^-?\d+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


class Undefined:
    """Placeholder for a missing variable: falsy, renders as an empty string."""

    def __bool__(self):
        return False

    def __str__(self):
        return ""

    def __iter__(self):
        return iter(())


UNDEFINED = Undefined()


def lookup(context, dotted, strict=False):
    """Resolve ``a.b.c`` against dicts (by key), sequences (by index) and objects."""
    parts = dotted.split(".")
    value = context.get(parts[0], UNDEFINED)
    for part in parts[1:]:
        if value is UNDEFINED:
            break
        if isinstance(value, dict):
            value = value.get(part, UNDEFINED)
        elif part.isdigit() and isinstance(value, (list, tuple)):
            idx = int(part)
            value = value[idx] if idx < len(value) else UNDEFINED
        else:
            value = getattr(value, part, UNDEFINED)
    if value is UNDEFINED and strict:
        raise UndefinedError(f"{dotted!r} is undefined")
    return value


def atom(text, context, lineno, strict=False):
    text = text.strip()
    m = _STRING.match(text)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    if _INT.match(text):
        return int(text)
    if text in ("true", "false", "none"):
        return {"true": True, "false": False, "none": None}[text]
    if _NAME.match(text):
        return lookup(context, text, strict)
    raise TemplateSyntaxError(f"cannot understand {text!r}", lineno)


def evaluate(expr, context, lineno, strict=False):
    """Evaluate ``[not] value[|filter[:arg]]... [==|!= other]``."""
    expr = expr.strip()
    if expr.startswith("not "):
        return not evaluate(expr[4:], context, lineno, strict)
    for op in ("==", "!="):
        if op in expr:
            left, right = expr.split(op, 1)
            a = evaluate(left, context, lineno, strict)
            b = evaluate(right, context, lineno, strict)
            return (a == b) if op == "==" else (a != b)
    head, *filters = expr.split("|")
    value = atom(head, context, lineno, strict)
    for spec in filters:
        name, _, arg = spec.partition(":")
        name = name.strip()
        func = FILTERS.get(name)
        if func is None:
            raise TemplateSyntaxError(f"unknown filter {name!r}", lineno)
        if arg:
            value = func(value, atom(arg, context, lineno, strict))
        else:
            value = func(value)
    return value
