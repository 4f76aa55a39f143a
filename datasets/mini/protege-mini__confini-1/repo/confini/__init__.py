"""confini: read INI-style configuration files.

Features: ``[section]`` headers, ``key = value`` or ``key: value`` pairs,
``#``/``;`` comment lines, indented continuation lines, typed getters and
``${section:key}`` interpolation.
"""

from .config import Config
from .errors import ConfigError, InterpolationError, ParseError
from .parser import loads

__all__ = ["Config", "ConfigError", "InterpolationError", "ParseError", "loads"]
__version__ = "1.0.0"
