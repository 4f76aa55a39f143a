"""Grades logs with an installed official `swebench` (4.1.0 or 5.0.2): the oracle for
harness/tests/oracle.rs.

Reads one JSON object per line on stdin:
  {"case": name, "log": path, "whole": bool,
   "task": {"instance_id", "repo", "version", "FAIL_TO_PASS", "PASS_TO_PASS",
            optionally "log_parser", "eval_type"}}
and writes one JSON object per line on stdout: {"case": name, "report": {...}} with the
official report entry for the instance, or {"case": name, "report": null, "error": why} when
the official harness writes no report (it raised, or the run timed out).

The log file holds the test command's raw output; it is captured as the installed version's
run_instance captures it (5.x decodes with replacement characters, 4.x strictly), then graded
with get_eval_report. "whole": the 2.x-era grader, for logs without markers: the installed
version's grading fed the whole log between markers.

Only the grading modules are used, so the package is installed without its dependencies
(docker, datasets, modal, ...): imports of missing third-party modules get inert stand-ins.
"""

import importlib.abc
import importlib.metadata
import importlib.machinery
import json
import os
import re
import sys
import tempfile
import types


class _AnyMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any

    def __getitem__(cls, item):
        return _Any

    def __or__(cls, other):
        return _Any

    __ror__ = __or__


class _Any(metaclass=_AnyMeta):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        # a decorator factory's result: keep the decorated function
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return _Any()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any()


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on the meta path: only imports nothing else could satisfy reach it."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] == "swebench":
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


sys.meta_path.append(_StubFinder())

from swebench.harness import grading  # noqa: E402

try:  # 5.x
    from swebench.harness.log_parsers import PARSER_REGISTRY
except ImportError:  # 4.x
    PARSER_REGISTRY = None
from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY  # noqa: E402

TIMEOUT = re.compile(r"Timeout error: [\d.]+ seconds exceeded\.\s*$")


def parser_name(repo):
    fn = MAP_REPO_TO_PARSER_PY[repo]
    for name, f in (PARSER_REGISTRY or {}).items():
        if f is fn:
            return name
    return fn.__name__


def spec_for(task):
    return types.SimpleNamespace(
        instance_id=task["instance_id"],
        repo=task["repo"],
        version=task["version"],
        FAIL_TO_PASS=task["FAIL_TO_PASS"],
        PASS_TO_PASS=task["PASS_TO_PASS"],
        # a row's own columns, which 5.x reads (4.x goes by the repository)
        log_parser=task.get("log_parser") or parser_name(task["repo"]),
        eval_type=task.get("eval_type") or "pass_and_fail",
    )


MAJOR = int(importlib.metadata.version("swebench").split(".")[0])


def capture(raw):
    """The test output as the installed version's run_instance writes it to test_output.txt."""
    if MAJOR >= 5:
        return raw.decode(errors="replace")
    return raw.decode()  # 4.x and earlier: strict; a non-UTF-8 byte raises


def grade(req, tmp):
    with open(req["log"], "rb") as f:
        raw = f.read()
    text = capture(raw)
    if TIMEOUT.search(text):
        return None, "timeout"  # run_instance raises before grading
    if req.get("whole"):
        text = ">>>>> Start Test Output\n" + text + "\n>>>>> End Test Output\n"
    path = os.path.join(tmp, "test_output.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    task = req["task"]
    pred = {
        "instance_id": task["instance_id"],
        "model_name_or_path": "oracle",
        "model_patch": "diff",
    }
    report = grading.get_eval_report(spec_for(task), pred, path, True)
    return report[task["instance_id"]], None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                report, error = grade(req, tmp)
            except Exception as e:  # the official run_instance logs it: no report
                report, error = None, f"{type(e).__name__}: {e}"
            out = {"case": req["case"], "report": report}
            if error:
                out["error"] = error
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
