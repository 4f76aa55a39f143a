"""Parse tokens into a node tree and render it."""

import re

from .errors import TemplateSyntaxError
from .escape import escape
from .expressions import evaluate
from .lexer import tokenize

_FOR = re.compile(r"^for\s+([A-Za-z_]\w*)\s+in\s+(.+)$")


class _Node:
    def __init__(self, kind, lineno, **attrs):
        self.kind = kind
        self.lineno = lineno
        self.body = []
        self.else_body = []
        self.in_else = False
        self.__dict__.update(attrs)

    def append(self, node):
        (self.else_body if self.in_else else self.body).append(node)


def parse(source):
    """Build the node tree with an explicit stack of open blocks."""
    root = _Node("root", 1)
    stack = [root]
    for tok in tokenize(source):
        top = stack[-1]
        if tok.kind == "text":
            top.append(_Node("text", tok.lineno, text=tok.value))
        elif tok.kind == "var":
            top.append(_Node("var", tok.lineno, expr=tok.value))
        else:
            word = tok.value.split(None, 1)[0] if tok.value else ""
            if word == "if":
                node = _Node("if", tok.lineno, expr=tok.value[2:].strip())
                top.append(node)
                stack.append(node)
            elif word == "for":
                m = _FOR.match(tok.value)
                if not m:
                    raise TemplateSyntaxError("malformed for tag", tok.lineno)
                node = _Node("for", tok.lineno, var=m.group(1), expr=m.group(2))
                top.append(node)
                stack.append(node)
            elif word == "else":
                if top.kind not in ("if", "for") or top.in_else:
                    raise TemplateSyntaxError("unexpected else", tok.lineno)
                top.in_else = True
            elif word in ("endif", "endfor"):
                if top.kind != word[3:]:
                    raise TemplateSyntaxError(f"unexpected {word}", tok.lineno)
                stack.pop()
            else:
                raise TemplateSyntaxError(f"unknown tag {word!r}", tok.lineno)
    if len(stack) > 1:
        raise TemplateSyntaxError(f"unclosed {stack[-1].kind} block", stack[-1].lineno)
    return root


class Template:
    def __init__(self, source, autoescape=True, strict=False):
        self.source = source
        self.autoescape = autoescape
        self.strict = strict
        self._root = parse(source)

    def render(self, context=None, **kwargs):
        ctx = dict(context or {}, **kwargs)
        out = []
        self._render_nodes(self._root.body, ctx, out)
        return "".join(out)

    def _render_nodes(self, nodes, ctx, out):
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "var":
                value = evaluate(node.expr, ctx, node.lineno, self.strict)
                out.append(escape(value) if self.autoescape else str(value))
            elif node.kind == "if":
                branch = node.body if evaluate(node.expr, ctx, node.lineno, self.strict) else node.else_body
                self._render_nodes(branch, ctx, out)
            elif node.kind == "for":
                items = list(evaluate(node.expr, ctx, node.lineno, self.strict))
                if not items:
                    self._render_nodes(node.else_body, ctx, out)
                    continue
                length = len(items)
                for index, item in enumerate(items):
                    scope = dict(ctx)
                    scope[node.var] = item
                    scope["loop"] = {
                        "index": index + 1,
                        "index0": index,
                        "first": index == 0,
                        "last": index == length,
                        "length": length,
                    }
                    self._render_nodes(node.body, scope, out)


def render(source, context=None, **kwargs):
    """Compile and render *source* in one step."""
    return Template(source).render(context, **kwargs)
