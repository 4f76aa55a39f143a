//! The start-up snapshot: commands started from it behave as if CPython had started cold
//! (same output, exit codes, tracebacks, `sys.argv`, `sys.path`, environment), nothing leaks
//! from one command to the next, and what it cannot reproduce starts cold.
//!
//! These tests need the pinned runtime (downloaded from PyPI on first use into the cache); where
//! it can be neither found nor fetched they print SKIPPED and pass.
#![cfg(feature = "wasi")]

mod common;

use std::path::Path;
use std::time::Duration;

use protege_sandboxes::wasi::{WasiSandbox, runtime_async};
use protege_sandboxes::{ExecOptions, ExecOutput, Sandbox};

/// A sandbox from the snapshot and one that starts cold, over the same directory.
async fn pair(root: &Path) -> Option<(WasiSandbox, WasiSandbox)> {
    let rt = common::unless_unfetchable(runtime_async().await)?;
    if let Err(why) = rt.snapshot_status() {
        panic!("no start-up snapshot: {why}");
    }
    let warm = WasiSandbox::open(root).await.unwrap();
    let cold = WasiSandbox::open(root).await.unwrap().cold_start(true);
    Some((warm, cold))
}

async fn run(sb: &WasiSandbox, cmd: &str) -> ExecOutput {
    sb.exec(cmd, &ExecOptions::with_timeout(Duration::from_secs(120)))
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let w = |p: &str, c: &str| common::write(d.path(), p, c);
    w("pkg/__init__.py", "def add(a, b):\n    return a + b\n");
    w(
        "pkg/__main__.py",
        "import sys\nprint('main', __name__, sys.argv[1:])\nsys.exit(4)\n",
    );
    w(
        "tools/show.py",
        "import os, sys\nprint(__name__, __file__, sys.argv, sys.path[0], os.getcwd())\n\
         print(os.environ.get('X'), 'pytest' in sys.argv[0])\n",
    );
    w(
        "tools/boom.py",
        "def f():\n    raise ValueError('boom')\n\nf()\n",
    );
    w(
        "tests/test_pkg.py",
        "import pytest\nfrom pkg import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\
         def test_bad():\n    assert add(1, 1) == 3\n\n@pytest.mark.parametrize('n', [1, 2])\n\
         def test_n(n):\n    assert n\n",
    );
    // A conftest fixture that overrides one of pytest's own (registration order matters).
    w(
        "tests/conftest.py",
        "import pytest\n\n@pytest.fixture\ndef tmp_path():\n    return 'mine'\n",
    );
    w(
        "tests/test_fix.py",
        "def test_tmp(tmp_path, monkeypatch):\n    assert tmp_path == 'mine'\n",
    );
    d
}

/// The output without pytest's closing line, whose timing differs between any two runs.
fn untimed(s: &str) -> String {
    s.lines()
        .filter(|l| {
            !(l.contains(" in ")
                && (l.contains(" passed") || l.contains(" failed") || l.contains("no tests ran")))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn commands_behave_as_after_a_cold_start() {
    let d = repo();
    let Some((warm, cold)) = pair(d.path()).await else {
        return;
    };
    for cmd in [
        "python -c 'print(1 + 1)'",
        "python -c 'import sys; print(sys.argv, sys.path[0] == \"\", __name__)' a b",
        "python -c 'import sys; sys.exit(3)'",
        "python -c 'import sys; sys.exit(\"bye\")'",
        "python -c 'raise KeyError(1)'",
        "python -c 'import pkg; print(pkg.add(2, 3), hash(\"abc\"))'",
        "python -c 'import os; print(sorted(os.environ.items()))'",
        "python -c 'import atexit; atexit.register(print, \"at exit\"); print(\"body\")'",
        "python -u -B -c 'import sys; print(sys.flags.dont_write_bytecode, sys.orig_argv)'",
        "X=7 python tools/show.py p q",
        "cd tools && python show.py",
        "python tools/boom.py",
        "python -m pkg one two",
        "python -m nosuchmodule",
        "python tools/missing.py",
        "PYTHONHASHSEED=1 python -c 'print(hash(\"abc\"))'",
    ] {
        let (a, b) = (run(&warm, cmd).await, run(&cold, cmd).await);
        assert_eq!(
            (a.exit_code, &a.output),
            (b.exit_code, &b.output),
            "{cmd}: from the snapshot vs cold"
        );
    }
    for cmd in [
        "pytest -rA tests",
        "pytest -q tests/test_pkg.py::test_add",
        // Another `-p no:` set than the prebuilt configuration's.
        "pytest -p no:warnings -rA tests",
        // Every fixture of every plugin, with where it is defined.
        "pytest -q --fixtures tests",
    ] {
        let (a, b) = (run(&warm, cmd).await, run(&cold, cmd).await);
        assert_eq!(a.exit_code, b.exit_code, "{cmd}");
        assert_eq!(untimed(&a.output), untimed(&b.output), "{cmd}");
    }
}

#[tokio::test]
async fn the_snapshot_is_used_and_nothing_leaks_between_commands() {
    let d = repo();
    let Some((warm, cold)) = pair(d.path()).await else {
        return;
    };
    // pytest is already imported in the snapshot, not in a cold interpreter.
    let probe = "python -c 'import sys; print(\"_pytest.python\" in sys.modules)'";
    assert_eq!(run(&warm, probe).await.output, "True\n");
    assert_eq!(run(&cold, probe).await.output, "False\n");
    // So is a configuration for the first pytest run, which takes it.
    let prebuilt = "python -c 'import _protege_snapshot as s, pytest; print(len(s._PREBUILT)); \
                    pytest.main([\"-q\", \"--capture=sys\", \"-p\", \"no:faulthandler\", \"-p\", \"no:cacheprovider\", \"tests/test_fix.py\"]); \
                    print(len(s._PREBUILT))'";
    let o = run(&warm, prebuilt).await.output;
    assert!(o.starts_with("1\n") && o.ends_with("\n0\n"), "{o}");
    // A change to a module's state, a builtin or sys is gone at the next command.
    let o = run(
        &warm,
        "python -c 'import json, builtins, sys; json.mark = 1; builtins.mark = 2; sys.mark = 3; print(\"set\")'",
    )
    .await;
    assert_eq!(o.output, "set\n");
    let o = run(
        &warm,
        "python -c 'import json, builtins, sys; print([hasattr(m, \"mark\") for m in (json, builtins, sys)])'",
    )
    .await;
    assert_eq!(o.output, "[False, False, False]\n");
    // Randomness is drawn afresh for each command, and clocks move forward from the snapshot's.
    let draw = "python -c 'import random, tempfile; print(random.random(), tempfile.mktemp())'";
    let (a, b) = (run(&warm, draw).await, run(&warm, draw).await);
    assert_ne!(a.output, b.output);
    let o = run(
        &warm,
        "python -c 'import time, _protege_snapshot as s; print(time.monotonic() > s.MONOTONIC_AT_SNAPSHOT > 0)'",
    )
    .await;
    assert_eq!(o.output, "True\n");
}

#[tokio::test]
async fn a_module_that_would_shadow_the_snapshots_starts_cold() {
    let d = repo();
    std::fs::write(d.path().join("json.py"), "print('the local json')\n").unwrap();
    std::fs::create_dir_all(d.path().join("lib/pluggy")).unwrap();
    std::fs::write(
        d.path().join("lib/pluggy/__init__.py"),
        "X = 'local pluggy'\n",
    )
    .unwrap();
    let Some((warm, cold)) = pair(d.path()).await else {
        return;
    };
    for cmd in [
        "python -c 'import json'",
        "PYTHONPATH=/testbed/lib python -c 'import pluggy; print(pluggy.X)'",
    ] {
        let (a, b) = (run(&warm, cmd).await, run(&cold, cmd).await);
        assert_eq!((a.exit_code, &a.output), (b.exit_code, &b.output), "{cmd}");
    }
    assert_eq!(
        run(&warm, "python -c 'import json'").await.output,
        "the local json\n"
    );
}
