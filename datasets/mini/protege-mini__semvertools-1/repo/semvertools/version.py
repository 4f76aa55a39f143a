"""The :class:`Version` value type."""

import functools
import re

from .errors import InvalidVersion
from .prerelease import prerelease_key, validate

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z.-]+))?"
    r"(?:\+([0-9A-Za-z.-]+))?$"
)


@functools.total_ordering
class Version:
    """An immutable semantic version.  Build metadata is ignored when comparing."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(self, major, minor=0, patch=0, prerelease=(), build=()):
        if min(major, minor, patch) < 0:
            raise InvalidVersion(f"{major}.{minor}.{patch}", "negative component")
        object.__setattr__(self, "major", int(major))
        object.__setattr__(self, "minor", int(minor))
        object.__setattr__(self, "patch", int(patch))
        object.__setattr__(self, "prerelease", tuple(prerelease))
        object.__setattr__(self, "build", tuple(build))

    def __setattr__(self, name, value):
        raise AttributeError("Version is immutable")

    @classmethod
    def parse(cls, text):
        if isinstance(text, Version):
            return text
        m = _SEMVER.match(text.strip())
        if not m:
            raise InvalidVersion(text)
        pre = tuple(m.group(4).split(".")) if m.group(4) else ()
        build = tuple(m.group(5).split(".")) if m.group(5) else ()
        problem = validate(pre)
        if problem:
            raise InvalidVersion(text, problem)
        if any(not b for b in build):
            raise InvalidVersion(text, "empty build identifier")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, build)

    @property
    def is_prerelease(self):
        return bool(self.prerelease)

    def release(self):
        """The same version without pre-release tag and build metadata."""
        return Version(self.major, self.minor, self.patch)

    def _key(self):
        return (self.major, self.minor, self.patch, prerelease_key(self.prerelease))

    def __eq__(self, other):
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self):
        return f"Version({str(self)!r})"
