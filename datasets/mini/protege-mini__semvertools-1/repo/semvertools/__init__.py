"""semvertools: Semantic Versioning 2.0.0 helpers.

>>> from semvertools import Version, satisfies
>>> Version.parse("1.4.0-rc.1") < Version.parse("1.4.0")
True
>>> satisfies("1.4.2", "^1.2")
True
"""

from .bump import bump
from .errors import InvalidRange, InvalidVersion
from .ranges import Range, max_satisfying, satisfies
from .version import Version

__all__ = ["InvalidRange", "InvalidVersion", "Range", "Version", "bump", "max_satisfying", "satisfies"]
__version__ = "1.0.0"
