"""protege: start-up snapshots of CPython under WASI.

`prepare()` runs once, in a cold interpreter: it imports pytest and its plugins, runs pytest once
on a throw-away test so that what it imports lazily is imported too, and stops at `os._exit`
with the interpreter idle between two bytecodes. The host then saves the guest's memory and
stack pointer. Every later command restores that memory into a fresh instance and calls
`_entry()` through the function table: it reads the command from stdin (one JSON object written
by the host), sets up `sys.argv`, `sys.path`, the environment, the working directory and a
fresh `__main__` exactly as `python -c`, `python -m` or `python SCRIPT` would, runs it, and
exits the way the interpreter does (SystemExit codes, tracebacks, atexit, flushed streams).

When a command cannot be reproduced faithfully from the snapshot (a module of the working
directory would shadow one that the snapshot already imported, or the script is not a plain
file), `_entry` writes FALLBACK and exits with FALLBACK_CODE before any of the command's code
runs; the host then starts a cold interpreter instead.
"""

import os
import sys

FALLBACK = "\0protege: this command needs a cold interpreter\n"
FALLBACK_CODE = 125

# Set by prepare(): sys.path without its first entry, the PYTHONPATH entries it began with,
# and the top-level modules that prepare() imported (which a cold start would not have).
_BASE_PATH = []
_BASE_PYTHONPATH = []
_PREIMPORTED = frozenset()
# time.monotonic() when the snapshot was taken: every command's clock continues from it.
MONOTONIC_AT_SNAPSHOT = 0.0

_WARM_TEST = '''
import pytest

@pytest.fixture
def value():
    return 2

@pytest.mark.parametrize("n", [1, 2])
def test_param(n, value):
    assert n * value in (2, 4)

def test_raises():
    with pytest.raises(ZeroDivisionError):
        1 / 0

def test_fails():
    assert [1, 2] == [1, 3]

@pytest.mark.skip(reason="warm-up")
def test_skipped():
    pass

@pytest.mark.xfail
def test_xfail():
    assert False
'''


def _speed_ups():
    """Memoize pure computations that every pytest run repeats from scratch and that together
    cost about 50 ms a run under WASI. None changes what pytest does:

    - pluggy's `varnames(f)`, the argument names of a hook function, read through
      `inspect.signature` for each of some 300 hook implementations: kept per function (for a
      bound method, per its function: pluggy strips `self` from both alike).
    - `Parser._getparser()`, which builds an argparse parser of ~480 options and is called six
      times while the configuration is parsed: kept per `Parser` while its option groups are
      unchanged (options are only ever appended; parsing does not change the parser).
    - `getfixturemarker(obj)` for the ~1900 attributes of pytest's own modules, which every
      session scans for fixtures (mostly a failed `getattr`, an exception each): known for those
      objects, by identity (`_fixture_markers`, filled once pytest has run).

    And one rewrite: the assertion rewriter's `traverse_node`, which yields every node of each
    rewritten assert to fix its locations, through one generator per node (so each node is
    passed up through all of its ancestors' generators), becomes one loop over a stack that
    yields the same nodes in the same order: 15-20% of the time assert rewriting takes.
    """
    import inspect

    import pluggy._hooks as hooks
    from _pytest.config import argparsing

    varnames = hooks.varnames
    memo = {}

    def cached_varnames(func):
        if inspect.isfunction(func):
            key = (func, False)
        elif inspect.ismethod(func) and inspect.isfunction(func.__func__):
            key = (func.__func__, True)
        else:
            return varnames(func)
        found = memo.get(key)
        if found is None:
            found = memo[key] = varnames(func)
        return found

    hooks.varnames = cached_varnames

    getparser = argparsing.Parser._getparser

    def cached_getparser(self):
        state = (self.prog, *((id(g), len(g.options)) for g in (*self._groups, self._anonymous)))
        kept = self.__dict__.get("_protege_parser")
        if kept is not None and kept[0] == state:
            return kept[1]
        parser = getparser(self)
        self._protege_parser = (state, parser)
        return parser

    argparsing.Parser._getparser = cached_getparser

    from _pytest import fixtures

    getfixturemarker = fixtures.getfixturemarker

    def cached_getfixturemarker(obj):
        hit = _FIXTURE_MARKERS.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        return getfixturemarker(obj)

    fixtures.getfixturemarker = cached_getfixturemarker

    import ast

    from _pytest.assertion import rewrite

    def traverse_node(node):
        """Node and all its children, depth first, as `rewrite.traverse_node` yields them."""
        node_type = ast.AST
        stack = [node]
        while stack:
            node = stack.pop()
            yield node
            children = []
            for name in node._fields:
                try:
                    field = getattr(node, name)
                except AttributeError:
                    continue
                if isinstance(field, node_type):
                    children.append(field)
                elif isinstance(field, list):
                    for item in field:
                        if isinstance(item, node_type):
                            children.append(item)
            children.reverse()
            stack.extend(children)

    rewrite.traverse_node = traverse_node


# id(obj) -> (obj, its fixture marker) for the attributes of pytest's own modules.
_FIXTURE_MARKERS = {}
# id(module) -> (module, its dict's items, its fixtures as parsefactories registers them) for
# pytest's own plugin modules.
_MODULE_FIXTURES = {}
# The `-p no:` arguments every WASI pytest run is given (`PYTEST_WASI_ARGS` in `wasi/mod.rs`),
# and a configuration made with them (`_prebuild_config`): used by the first run that gives
# exactly these.
PREBUILT_PLUGIN_ARGS = ("no:faulthandler", "no:cacheprovider")
_PREBUILT = []


def _plugin_args(args):
    """The `-p` arguments that `PytestPluginManager.consider_preparse` reads from `args`."""
    found, i = [], 0
    while i < len(args):
        opt = args[i]
        i += 1
        if not isinstance(opt, str):
            continue
        if opt == "-p":
            if i >= len(args):
                break
            found.append(str(args[i]).strip())
            i += 1
        elif opt.startswith("-p"):
            found.append(opt[2:].strip())
    return found


def _prebuild_config():
    """`get_config` for the usual `-p no:` set, done once here: a new plugin manager and
    configuration with every default plugin registered and its options added (~15 ms a run
    under WASI). Only the invocation's arguments and directory differ from run to run; the
    first `get_config` call whose `-p` arguments are exactly these, with no plugins passed and
    no `PYTEST_DEBUG`, gets this configuration with its invocation parameters set. Every
    command starts from a fresh copy of the snapshot, so it is used at most once."""
    import pathlib

    from _pytest import config

    args = []
    for a in PREBUILT_PLUGIN_ARGS:
        args += ["-p", a]
    _PREBUILT.append(config.get_config(args))
    get_config = config.get_config

    def prebuilt_get_config(args=None, plugins=None):
        if (
            _PREBUILT
            and args is not None
            and plugins is None
            and not os.environ.get("PYTEST_DEBUG")
            and [a for a in _plugin_args(args) if a.startswith("no:")] == list(PREBUILT_PLUGIN_ARGS)
        ):
            made = _PREBUILT.pop()
            made.invocation_params = config.Config.InvocationParams(
                args=args, plugins=None, dir=pathlib.Path.cwd()
            )
            return made
        return get_config(args, plugins)

    config.get_config = prebuilt_get_config


def _module_fixtures():
    """Fills `_MODULE_FIXTURES` and makes `FixtureManager.parsefactories` use it for a plugin
    module whose dict is still exactly as it was here (same names, same objects, same order):
    the fixtures it registers, in the same order, without scanning the module's ~100
    attributes again (~7 ms a run under WASI)."""
    import types

    from _pytest import fixtures
    from _pytest.compat import get_real_method, safe_getattr

    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or name.partition(".")[0] not in (
            "_pytest",
            "pytest",
        ):
            continue
        found = []
        for attr in dir(module):
            marker = fixtures.getfixturemarker(safe_getattr(module, attr, None))
            if isinstance(marker, fixtures.FixtureFunctionMarker):
                func = get_real_method(getattr(module, attr), module)
                found.append((marker.name or attr, marker, func))
        _MODULE_FIXTURES[id(module)] = (module, tuple(vars(module).items()), found)

    parsefactories = fixtures.FixtureManager.parsefactories
    notset = fixtures.NOTSET

    def kept_parsefactories(self, node_or_obj, nodeid=notset):
        kept = _MODULE_FIXTURES.get(id(node_or_obj))
        if (
            kept is None
            or kept[0] is not node_or_obj
            or nodeid is notset
            or node_or_obj in self._holderobjseen
            or tuple(vars(node_or_obj).items()) != kept[1]
        ):
            return parsefactories(self, node_or_obj, nodeid)
        self._holderobjseen.add(node_or_obj)
        for name, marker, func in kept[2]:
            self._register_fixture(
                name=name,
                nodeid=nodeid,
                func=func,
                scope=marker.scope,
                params=marker.params,
                ids=marker.ids,
                autouse=marker.autouse,
            )

    fixtures.FixtureManager.parsefactories = kept_parsefactories


def _fixture_markers():
    """Fills `_FIXTURE_MARKERS` (the objects are kept alive, so their ids stay theirs)."""
    from _pytest import fixtures

    for name, module in list(sys.modules.items()):
        if module is None or name.partition(".")[0] not in ("_pytest", "pytest", "pluggy"):
            continue
        for attr in dir(module):
            obj = getattr(module, attr, None)
            _FIXTURE_MARKERS[id(obj)] = (obj, fixtures.getfixturemarker(obj))


def _warm_up():
    """One pytest run over a throw-away project (a `setup.cfg` and a test in `tests/`, as most
    repositories have them), so that what pytest imports and caches while it runs (modules,
    compiled patterns such as those of `norecursedirs`) is in the snapshot too. Its output is
    discarded; the project is removed."""
    import io
    import shutil

    import pytest

    root = "/tmp/protege-snapshot-warm-up"
    os.makedirs(os.path.join(root, "tests"), exist_ok=True)
    with open(os.path.join(root, "setup.cfg"), "w") as f:
        f.write("[metadata]\nname = warm-up\n\n[tool:pytest]\ntestpaths = tests\n")
    with open(os.path.join(root, "tests", "test_warm_up.py"), "w") as f:
        f.write(_WARM_TEST)
    saved = sys.stdout, sys.stderr, list(sys.path), os.getcwd()
    sys.stdout = sys.stderr = io.StringIO()
    try:
        os.chdir(root)
        pytest.main(
            ["-rA", "--capture=sys", "-p", "no:faulthandler", "-p", "no:cacheprovider", root]
        )
    finally:
        sys.stdout, sys.stderr, sys.path[:], cwd = saved
        os.chdir(cwd)
    for name in [n for n in sys.modules if n == "test_warm_up" or n.startswith("test_warm_up.")]:
        del sys.modules[name]
    shutil.rmtree(root, ignore_errors=True)


def prepare():
    global _BASE_PATH, _BASE_PYTHONPATH, _PREIMPORTED, MONOTONIC_AT_SNAPSHOT
    at_start = {n.partition(".")[0] for n in sys.modules}
    # `python -c` put the working directory first; every command sets its own.
    del sys.path[0]
    _BASE_PATH = list(sys.path)
    _BASE_PYTHONPATH = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]

    import atexit  # noqa: F401
    import gc
    import importlib
    import importlib.util
    import json  # noqa: F401
    import random  # noqa: F401
    import runpy  # noqa: F401
    import tempfile  # noqa: F401
    import traceback  # noqa: F401
    import types  # noqa: F401

    import pytest  # noqa: F401
    from _pytest.config import default_plugins, essential_plugins

    for name in (*essential_plugins, *default_plugins):
        importlib.import_module("_pytest." + name)
    _speed_ups()
    _warm_up()
    _fixture_markers()
    _module_fixtures()
    _prebuild_config()
    sys.path[:] = _BASE_PATH
    importlib.invalidate_caches()
    for key in list(sys.path_importer_cache):
        if key not in _BASE_PATH:
            del sys.path_importer_cache[key]
    # The finders of the standard library and the site directory, filled again: their
    # directories never change, so every command finds them ready.
    importlib.util.find_spec("_protege_no_such_module")
    _PREIMPORTED = frozenset({n.partition(".")[0] for n in sys.modules} - at_start)

    gc.collect()
    # What survives start-up lives as long as the interpreter: keep it out of every later
    # collection.
    gc.freeze()
    import time

    MONOTONIC_AT_SNAPSHOT = time.monotonic()
    print(f"PROTEGE-SNAPSHOT {id(_entry)} {id(type(_entry))} {id(())}", flush=True)
    sys.stderr.flush()
    os._exit(0)


def _shadows(dirs):
    """Whether a module in one of `dirs` has the name of a module prepare() imported: a cold
    interpreter would import that one instead."""
    for d in dirs:
        try:
            names = os.listdir(d or ".")
        except OSError:
            continue
        for n in names:
            stem, _, ext = n.partition(".")
            if stem not in _PREIMPORTED:
                continue
            if ext in ("py", "pyc") or ext.endswith("so") or not ext:
                if ext or os.path.isdir(os.path.join(d or ".", n)):
                    return True
    return False


def _fallback():
    sys.stderr.write(FALLBACK)
    sys.stderr.flush()
    os._exit(FALLBACK_CODE)


def _request():
    import json

    chunks = []
    while True:
        b = os.read(0, 1 << 16)
        if not b:
            break
        chunks.append(b)
    return json.loads(b"".join(chunks))


def _own_frames(tb):
    """The traceback without the frames of this module (a cold interpreter has none)."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _run(req):
    import random
    import tempfile
    import types

    mode, target, args = req["mode"], req["target"], req["args"]
    os.environ.clear()
    os.environ.update(req["env"])
    cwd = req["cwd"]
    try:
        os.chdir(cwd)
    except OSError as e:
        print(f"protege: cannot enter {cwd}: {e}", file=sys.stderr)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    if mode == "c":
        path0 = ""
    elif mode == "m":
        path0 = os.getcwd()
    else:
        path0 = os.path.dirname(os.path.realpath(target))
        if not os.path.isfile(target):
            _fallback()
    rest = _BASE_PATH[len(_BASE_PYTHONPATH):]
    if _shadows([path0, *[p for p in extra if p not in _BASE_PYTHONPATH]]):
        _fallback()
    # Finders exist only for the snapshot's own path entries, whose directories never change;
    # the command's others are new to this interpreter.
    sys.path[:] = [path0, *extra, *rest]
    sys.orig_argv = ["python", *req["orig_args"]]
    # A cold interpreter seeds these from the system's randomness at start.
    random.seed()
    tempfile._name_sequence = None

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    code = 0
    try:
        if mode == "c":
            sys.argv = ["-c", *args]
            exec(compile(target, "<string>", "exec"), main.__dict__)
        elif mode == "m":
            import runpy

            sys.argv = ["-m", *args]
            runpy._run_module_as_main(target, alter_argv=True)
        else:
            sys.argv = [target, *args]
            main.__file__ = target
            main.__cached__ = None
            with open(target, "rb") as f:
                source = f.read()
            exec(compile(source, target, "exec"), main.__dict__)
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException as e:
        # The exception's own traceback is what gets printed: drop the entry's frames there.
        e.__traceback__ = _own_frames(e.__traceback__)
        sys.excepthook(type(e), e, e.__traceback__)
        code = 1
    return code


def _exit_code(e):
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c
    try:
        print(c, file=sys.stderr)
    except Exception:
        pass
    return 1


def _finish(code):
    import atexit

    try:
        atexit._run_exitfuncs()
    except SystemExit as e:
        code = _exit_code(e)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _entry():
    try:
        code = _run(_request())
    except BaseException:
        # A fault of protege's, not of the command: say so and fail.
        import traceback

        traceback.print_exc()
        code = 1
    _finish(code)
