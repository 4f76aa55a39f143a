"""Pre-release identifier handling (SemVer 2.0.0, section 11)."""

import re

_IDENT = re.compile(r"^[0-9A-Za-z-]+$")


def is_numeric(identifier):
    return identifier.isdigit()


def validate(identifiers):
    """Check a tuple of pre-release identifiers; return an error text or None."""
    for ident in identifiers:
        if not ident:
            return "empty pre-release identifier"
        if not _IDENT.match(ident):
            return f"invalid character in identifier {ident!r}"
        if is_numeric(ident) and len(ident) > 1 and ident[0] == "0":
            return f"numeric identifier {ident!r} has a leading zero"
    return None


def identifier_key(identifier):
    """Sort key for a single identifier.

    Numeric identifiers sort before alphanumeric ones; numeric identifiers
    compare numerically and alphanumeric ones in ASCII order.
    """
    if is_numeric(identifier):
        return (0, identifier)
    return (1, identifier)


def prerelease_key(identifiers):
    """Sort key for a whole pre-release tag.

    A version without a pre-release tag has higher precedence than any
    version with one, so an empty tuple sorts last.  Otherwise identifiers
    are compared left to right and a longer tag wins when all shared
    identifiers are equal.
    """
    if not identifiers:
        return (1,)
    return (0, tuple(identifier_key(i) for i in identifiers))
