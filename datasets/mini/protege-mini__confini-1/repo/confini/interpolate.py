"""``${section:key}`` / ``${key}`` interpolation."""

import re

from .errors import InterpolationError

_REF = re.compile(r"\$\{([^}:]+)(?::([^}]+))?\}")
MAX_DEPTH = 10


def interpolate(config, section, value):
    """Expand references in *value*, which was read from *section*.

    ``${key}`` refers to the same section, ``${other:key}`` to another one.
    ``$$`` produces a literal dollar sign.  Expansion is repeated until no
    references remain, at most ``MAX_DEPTH`` times.
    """
    if value is None:
        return None
    for _ in range(MAX_DEPTH):
        if "${" not in value:
            return value.replace("$$", "$")

        def repl(match):
            if match.group(2) is None:
                sec, key = section, match.group(1)
            else:
                sec, key = match.group(1), match.group(2)
            raw = config.get_raw(sec, key.strip().lower())
            if raw is None:
                raise InterpolationError(f"bad reference {match.group(0)} in section [{section}]")
            return raw

        value = _REF.sub(repl, value)
    raise InterpolationError(f"reference chain too deep in section [{section}]")
