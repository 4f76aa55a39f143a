"""Exceptions raised by confini."""


class ConfigError(Exception):
    """Base class for confini errors."""


class ParseError(ConfigError):
    def __init__(self, lineno, line, reason):
        self.lineno = lineno
        self.line = line
        super().__init__(f"line {lineno}: {reason}: {line!r}")


class InterpolationError(ConfigError):
    """A ``${...}`` reference could not be resolved."""
