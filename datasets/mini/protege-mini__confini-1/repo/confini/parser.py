"""Turn INI text into a :class:`~confini.config.Config`."""

from .config import Config
from .errors import ParseError
from .lexer import tokenize


def loads(text, allow_no_value=False, defaults_section="DEFAULT"):
    """Parse INI *text*.

    Keys are case-insensitive (stored lower-case).  Keys before the first
    section header are an error.  A key without a delimiter is accepted only
    with ``allow_no_value=True`` and gets the value ``None``.
    """
    sections = {}
    current = None
    last_key = None
    for line in tokenize(text):
        if line.kind in ("blank", "comment"):
            continue
        if line.kind == "section":
            if not line.key:
                raise ParseError(line.lineno, line.raw, "empty section name")
            current = sections.setdefault(line.key, {})
            last_key = None
        elif line.kind == "continuation":
            if current is None or last_key is None or current[last_key] is None:
                raise ParseError(line.lineno, line.raw, "unexpected indentation")
            current[last_key] += "\n" + line.value
        else:
            if current is None:
                raise ParseError(line.lineno, line.raw, "key outside of any section")
            if line.value is None and not allow_no_value:
                raise ParseError(line.lineno, line.raw, "missing '=' or ':'")
            if not line.key:
                raise ParseError(line.lineno, line.raw, "empty key")
            last_key = line.key.lower()
            current[last_key] = line.value
    defaults = sections.pop(defaults_section, {})
    return Config(sections, defaults)
