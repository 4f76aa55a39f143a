"""Exceptions raised by tmplite."""


class TemplateError(Exception):
    """Base class for template errors."""


class TemplateSyntaxError(TemplateError):
    def __init__(self, message, lineno):
        self.lineno = lineno
        super().__init__(f"line {lineno}: {message}")


class UndefinedError(TemplateError):
    """A variable was not found and strict mode is on."""
