"""Compute the next version."""

from .version import Version


def bump(version, part, preid="rc"):
    """Return the next version after *version*.

    ``part`` is ``major``, ``minor``, ``patch`` or ``prerelease``.
    ``prerelease`` increments the trailing numeric identifier
    (``1.0.0-rc.1`` -> ``1.0.0-rc.2``) or starts a new pre-release series
    on the next patch version (``1.0.0`` -> ``1.0.1-rc.0``).
    """
    v = Version.parse(version)
    if part == "major":
        if v.is_prerelease and v.minor == 0 and v.patch == 0:
            return v.release()
        return Version(v.major + 1, 0, 0)
    if part == "minor":
        if v.is_prerelease and v.patch == 0:
            return v.release()
        return Version(v.major, v.minor + 1, 0)
    if part == "patch":
        if v.is_prerelease:
            return v.release()
        return Version(v.major, v.minor, v.patch + 1)
    if part == "prerelease":
        if not v.is_prerelease:
            return Version(v.major, v.minor, v.patch + 1, (preid, "0"))
        pre = list(v.prerelease)
        if pre[-1].isdigit():
            pre[-1] = str(int(pre[-1]) + 1)
        else:
            pre.append("0")
        return Version(v.major, v.minor, v.patch, pre)
    raise ValueError(f"unknown version part {part!r}")
