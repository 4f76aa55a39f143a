r"""globmatch: match slash-separated paths against glob patterns.

Unlike :mod:`fnmatch`, wildcards respect path separators:

* ``*`` matches any run of characters except ``/``
* ``?`` matches one character except ``/``
* ``[abc]`` / ``[a-z]`` / ``[!abc]`` match one character from (or not from) a set
* ``**`` as a whole path segment matches zero or more directories:
  ``src/**/x.py`` matches ``src/x.py`` and ``src/a/b/x.py``
* ``\`` escapes the next character
"""

from .escape import escape
from .filter import PathFilter
from .match import compile_pattern, filter_paths, match
from .translate import translate

__all__ = ["PathFilter", "compile_pattern", "escape", "filter_paths", "match", "translate"]
__version__ = "1.0.0"
