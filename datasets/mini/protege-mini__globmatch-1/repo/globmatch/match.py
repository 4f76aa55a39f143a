"""Matching helpers with a compiled-pattern cache."""

import functools
import re

from .translate import translate


def normalize(path):
    """Use forward slashes and drop a leading ``./``; collapse ``//``."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    while "//" in path:
        path = path.replace("//", "/")
    return path


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern, ignore_case=False):
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(translate(pattern), flags)


def match(pattern, path, ignore_case=False):
    """True if the whole *path* matches *pattern*."""
    return compile_pattern(pattern, ignore_case).match(normalize(path)) is not None


def filter_paths(paths, pattern, ignore_case=False):
    """The paths (in input order) that match *pattern*."""
    rx = compile_pattern(pattern, ignore_case)
    return [p for p in paths if rx.match(normalize(p))]
