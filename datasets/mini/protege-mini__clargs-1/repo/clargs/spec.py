"""Declarative description of a single option."""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .errors import InvalidValue


@dataclass
class Option:
    """One ``--long`` option, optionally with a one-letter ``-s`` alias.

    ``flag=True`` makes a boolean switch that takes no value.  ``multiple``
    collects every occurrence into a list.  ``type`` converts the raw string.
    """

    name: str
    short: Optional[str] = None
    flag: bool = False
    multiple: bool = False
    default: Any = None
    type: Callable[[str], Any] = str
    help: str = ""
    choices: Optional[tuple] = None
    metavar: str = field(default="")

    def __post_init__(self):
        if self.short is not None and len(self.short) != 1:
            raise ValueError("short option must be a single character")
        if self.flag and self.multiple:
            raise ValueError("a flag cannot be repeated into a list")
        if not self.metavar:
            self.metavar = self.name.upper().replace("-", "_")

    @property
    def dest(self):
        return self.name.replace("-", "_")

    @property
    def display(self):
        return f"--{self.name}"

    def initial(self):
        if self.flag:
            return bool(self.default)
        if self.multiple:
            return list(self.default or [])
        return self.default

    def convert(self, raw):
        try:
            value = self.type(raw)
        except (TypeError, ValueError) as exc:
            raise InvalidValue(self.display, raw, str(exc)) from None
        if self.choices is not None and value not in self.choices:
            raise InvalidValue(self.display, raw, f"choose from {', '.join(map(str, self.choices))}")
        return value
