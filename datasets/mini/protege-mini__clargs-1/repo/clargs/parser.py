"""The command-line parser.

Accepted syntax:

* ``--name value`` and ``--name=value`` for options that take a value
* ``--flag`` and ``--no-flag`` for boolean switches
* ``-o value``, ``-ovalue`` and bundled short flags ``-xvf file``
* ``--`` ends option processing; everything after it is positional
"""

from .errors import MissingValue, UnknownOption, UsageError
from .namespace import Namespace


class Parser:
    def __init__(self, prog, options=(), min_positionals=0, max_positionals=None, description=""):
        self.prog = prog
        self.description = description
        self.options = list(options)
        self.min_positionals = min_positionals
        self.max_positionals = max_positionals
        self._long = {}
        self._short = {}
        for opt in self.options:
            if opt.name in self._long:
                raise ValueError(f"duplicate option --{opt.name}")
            self._long[opt.name] = opt
            if opt.short:
                if opt.short in self._short:
                    raise ValueError(f"duplicate option -{opt.short}")
                self._short[opt.short] = opt

    def _store(self, ns, opt, raw):
        value = opt.convert(raw)
        if opt.multiple:
            getattr(ns, opt.dest).append(value)
        else:
            setattr(ns, opt.dest, value)

    def _parse_long(self, ns, arg, rest):
        body = arg[2:]
        if "=" in body:
            parts = body.split("=")
            name, value = parts[0], parts[1]
        else:
            name, value = body, None
        opt = self._long.get(name)
        if opt is None and name.startswith("no-") and value is None:
            negated = self._long.get(name[3:])
            if negated is not None and negated.flag:
                setattr(ns, negated.dest, False)
                return
        if opt is None:
            raise UnknownOption(arg.split("=", 1)[0])
        if opt.flag:
            if value is not None:
                raise UsageError(f"option --{name} does not take a value")
            setattr(ns, opt.dest, True)
            return
        if value is None:
            if not rest:
                raise MissingValue(f"--{name}")
            value = rest.pop()
        self._store(ns, opt, value)

    def _parse_short(self, ns, arg, rest):
        letters = arg[1:]
        i = 0
        while i < len(letters):
            ch = letters[i]
            opt = self._short.get(ch)
            if opt is None:
                raise UnknownOption(f"-{ch}")
            if opt.flag:
                setattr(ns, opt.dest, True)
                i += 1
                continue
            value = letters[i + 1:]
            if not value:
                if not rest:
                    raise MissingValue(f"-{ch}")
                value = rest.pop()
            self._store(ns, opt, value)
            return

    def parse(self, argv):
        """Parse a list of argument strings (without the program name)."""
        ns = Namespace(**{opt.dest: opt.initial() for opt in self.options})
        rest = list(reversed(argv))
        while rest:
            arg = rest.pop()
            if arg == "--":
                ns.positionals.extend(reversed(rest))
                break
            if arg.startswith("--"):
                self._parse_long(ns, arg, rest)
            elif arg.startswith("-") and arg != "-":
                self._parse_short(ns, arg, rest)
            else:
                ns.positionals.append(arg)
        n = len(ns.positionals)
        if n < self.min_positionals:
            raise UsageError(f"expected at least {self.min_positionals} positional argument(s), got {n}")
        if self.max_positionals is not None and n > self.max_positionals:
            raise UsageError(f"expected at most {self.max_positionals} positional argument(s), got {n}")
        return ns
