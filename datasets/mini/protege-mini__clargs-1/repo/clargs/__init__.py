"""clargs: a small, declarative command-line option parser.

>>> from clargs import Option, Parser
>>> p = Parser("tool", [Option("verbose", short="v", flag=True), Option("output", short="o")])
>>> ns = p.parse(["-v", "--output", "out.txt", "input.txt"])
>>> ns.verbose, ns.output, ns.positionals
(True, 'out.txt', ['input.txt'])
"""

from .errors import MissingValue, UsageError, UnknownOption
from .help import format_help
from .namespace import Namespace
from .parser import Parser
from .spec import Option

__all__ = ["MissingValue", "Namespace", "Option", "Parser", "UnknownOption", "UsageError", "format_help"]
__version__ = "1.0.0"
