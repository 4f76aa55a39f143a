"""Include/exclude rule lists in the spirit of ``.gitignore``."""

from .match import match, normalize


class PathFilter:
    """Decide whether paths are selected by a list of rules.

    Rules are checked in order and the *last* matching rule wins.  A rule
    starting with ``!`` excludes, any other rule includes.  A pattern that
    contains no ``/`` is matched against the file name only, so ``*.pyc``
    applies in every directory.  Paths matched by no rule get ``default``.
    """

    def __init__(self, rules, default=False, ignore_case=False):
        self.rules = []
        self.default = default
        self.ignore_case = ignore_case
        for rule in rules:
            rule = rule.strip()
            if not rule or rule.startswith("#"):
                continue
            include = not rule.startswith("!")
            pattern = rule if include else rule[1:]
            self.rules.append((include, pattern.lstrip("/"), "/" not in pattern))

    def selects(self, path):
        path = normalize(path)
        name = path.rsplit("/", 1)[-1]
        decision = self.default
        for include, pattern, basename_only in self.rules:
            target = name if basename_only else path
            if match(pattern, target, self.ignore_case):
                decision = include
        return decision

    def apply(self, paths):
        return [p for p in paths if self.selects(p)]
