//! The WASI sandbox as an agent's workspace: each operation, and the clear refusal of anything
//! that needs a shell.
//!
//! These tests need the pinned runtime (downloaded from PyPI on first use into the cache); where
//! it can be neither found nor fetched they print SKIPPED and pass.
#![cfg(feature = "wasi")]

mod common;

use std::path::Path;
use std::time::Duration;

use protege_sandboxes::wasi::{WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, ExecOutput, Sandbox, SandboxError};

async fn sandbox(root: &Path) -> Option<WasiSandbox> {
    common::unless_unfetchable(WasiSandbox::open(root).await)
}

fn opts() -> ExecOptions {
    ExecOptions::with_timeout(Duration::from_secs(60))
}

async fn run(sb: &WasiSandbox, cmd: &str) -> ExecOutput {
    sb.exec(cmd, &opts())
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let w = |p: &str, c: &str| common::write(d.path(), p, c);
    w(
        "pkg/__init__.py",
        "def add(a, b):\n    return a + b\n\nVERSION = 'café ✓'\n",
    );
    w(
        "tests/test_pkg.py",
        "from pkg import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_bad():\n    assert add(1, 1) == 3\n",
    );
    w("conftest.py", "");
    w(".hidden", "h\n");
    w("docs/notes.txt", "add things\nnothing here\n");
    d
}

#[tokio::test]
async fn python_runs_in_the_working_copy() {
    let d = repo();
    let Some(sb) = sandbox(d.path()).await else {
        return;
    };
    let o = run(
        &sb,
        "python -c 'import os, pkg; print(os.getcwd(), pkg.add(2, 3), pkg.VERSION)'",
    )
    .await;
    assert_eq!(o.exit_code, Some(0), "{}", o.output);
    assert_eq!(o.output, "/testbed 5 café ✓\n");
    // A script by relative path, `cd DIR &&`, environment assignments, exit codes.
    std::fs::write(
        d.path().join("docs/s.py"),
        "import os, sys\nprint(os.getcwd(), os.environ['X'])\nsys.exit(3)\n",
    )
    .unwrap();
    let o = run(&sb, "cd docs && X=42 python3 s.py").await;
    assert_eq!(
        (o.exit_code, o.output.as_str()),
        (Some(3), "/testbed/docs 42\n")
    );
    let mut o2 = opts();
    o2.workdir = "/testbed/docs".into();
    let o = sb.exec("X=1 python s.py", &o2).await.unwrap();
    assert_eq!(o.output, "/testbed/docs 1\n");
    // stderr is captured with stdout, in order.
    let o = run(
        &sb,
        r#"python -c "import sys; print(1, flush=True); print(2, file=sys.stderr); print(3)""#,
    )
    .await;
    assert_eq!(o.output, "1\n2\n3\n");
    // Files the guest writes are on the host, /tmp is private and writable, the site is not.
    let o = run(
        &sb,
        r#"python -c "open('out.txt', 'w').write('from guest'); open('/tmp/t', 'w').write('x'); print(open('/tmp/t').read()); open('/opt/site/x', 'w')""#,
    )
    .await;
    assert_ne!(o.exit_code, Some(0));
    assert!(o.output.starts_with("x\n"), "{}", o.output);
    assert!(
        o.output.contains("Error"),
        "writing to /opt/site must fail: {}",
        o.output
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out.txt")).unwrap(),
        "from guest"
    );
    // /dev/null exists.
    let o = run(
        &sb,
        r#"python -c "import os; f = open(os.devnull, 'w'); f.write('x'); f.close(); print('ok')""#,
    )
    .await;
    assert_eq!(o.output, "ok\n");
    sb.close().await.unwrap();
}

#[tokio::test]
async fn pytest_runs_with_the_wasi_options() {
    let d = repo();
    let Some(sb) = sandbox(d.path()).await else {
        return;
    };
    let o = run(&sb, "pytest -rA tests/test_pkg.py").await;
    assert_eq!(o.exit_code, Some(1), "{}", o.output);
    assert!(
        o.output.contains("PASSED tests/test_pkg.py::test_add"),
        "{}",
        o.output
    );
    assert!(
        o.output.contains("FAILED tests/test_pkg.py::test_bad"),
        "{}",
        o.output
    );
    assert!(!d.path().join(".pytest_cache").exists());
    let o = run(&sb, "pytest --version").await;
    assert!(o.output.contains("pytest 8.3.5"), "{}", o.output);
}

#[tokio::test]
async fn built_in_file_commands() {
    let d = repo();
    let Some(sb) = sandbox(d.path()).await else {
        return;
    };
    let o = run(&sb, "cat pkg/__init__.py").await;
    assert_eq!(o.exit_code, Some(0));
    assert!(o.output.contains("VERSION = 'café ✓'"));
    let o = run(&sb, "cat -n /testbed/docs/notes.txt").await;
    assert_eq!(o.output, "     1\tadd things\n     2\tnothing here\n");
    let o = run(&sb, "cat missing.py").await;
    assert_eq!(o.exit_code, Some(1));
    assert!(o.output.contains("No such file"), "{}", o.output);

    let o = run(&sb, "ls").await;
    assert_eq!(o.output, "conftest.py\ndocs\npkg\ntests\n");
    let o = run(&sb, "ls -a /testbed/docs").await;
    assert_eq!(o.output, ".\n..\nnotes.txt\n");
    let o = run(&sb, "ls -la").await;
    assert!(
        o.output.contains(".hidden") && o.output.contains("d "),
        "{}",
        o.output
    );

    let o = run(&sb, "grep -rn add .").await;
    assert_eq!(o.exit_code, Some(0));
    assert_eq!(
        o.output,
        "./docs/notes.txt:1:add things\n./pkg/__init__.py:1:def add(a, b):\n./tests/test_pkg.py:1:from pkg import add\n./tests/test_pkg.py:3:def test_add():\n./tests/test_pkg.py:4:    assert add(1, 2) == 3\n./tests/test_pkg.py:7:    assert add(1, 1) == 3\n"
    );
    let o = run(&sb, "grep -rn --include=*.py 'def \\(add\\|x\\)(' /testbed").await;
    assert_eq!(o.output, "/testbed/pkg/__init__.py:1:def add(a, b):\n");
    let o = run(&sb, "grep -rl -E 'add\\(1, [12]\\)' tests").await;
    assert_eq!(o.output, "tests/test_pkg.py\n");
    let o = run(&sb, "grep -c add docs/notes.txt").await;
    assert_eq!(o.output, "1\n");
    let o = run(&sb, "grep -rn zzz .").await;
    assert_eq!((o.exit_code, o.output.as_str()), (Some(1), ""));

    let o = run(&sb, "find . -name '*.py'").await;
    assert_eq!(
        o.output,
        "./conftest.py\n./pkg/__init__.py\n./tests/test_pkg.py\n"
    );
    let o = run(&sb, "find /testbed -type d").await;
    assert_eq!(
        o.output,
        "/testbed\n/testbed/docs\n/testbed/pkg\n/testbed/tests\n"
    );
    let o = run(&sb, "find tests -name 'test_*'").await;
    assert_eq!(o.output, "tests/test_pkg.py\n");
}

#[tokio::test]
async fn read_and_write_files() {
    let d = repo();
    let Some(sb) = sandbox(d.path()).await else {
        return;
    };
    assert_eq!(
        sb.read_file("/testbed/docs/notes.txt").await.unwrap(),
        b"add things\nnothing here\n"
    );
    assert_eq!(
        sb.read_file("docs/notes.txt").await.unwrap(),
        b"add things\nnothing here\n"
    );
    sb.write_file("/testbed/new/dir/x.py", "print('új')\n".as_bytes())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(d.path().join("new/dir/x.py")).unwrap(),
        "print('új')\n"
    );
    let o = run(&sb, "python new/dir/x.py").await;
    assert_eq!(o.output, "új\n");
    sb.write_file("/tmp/scratch.txt", b"t").await.unwrap();
    assert_eq!(sb.read_file("/tmp/scratch.txt").await.unwrap(), b"t");
    assert!(matches!(
        sb.read_file("/testbed/nope").await,
        Err(SandboxError::Io(_))
    ));
    assert!(sb.describe().starts_with("wasi:"));
}

#[tokio::test]
async fn anything_else_is_refused_with_what_can_run() {
    let d = repo();
    let Some(sb) = sandbox(d.path()).await else {
        return;
    };
    for cmd in [
        "bash -c 'ls'",
        "sh -c ls",
        "ls | head",
        "python x.py > out.txt",
        "git status",
        "pip install requests",
        "rm -rf /",
        "python -c 1; ls",
    ] {
        match sb.exec(cmd, &opts()).await {
            Err(SandboxError::Unsupported(msg)) => {
                assert!(msg.contains("python ARGS"), "{cmd}: {msg}");
                assert!(msg.contains("grep"), "{cmd}: {msg}");
            }
            other => panic!("{cmd}: {other:?}"),
        }
    }
    let Err(SandboxError::Unsupported(msg)) = sb.exec("bash -c 'echo hi'", &opts()).await else {
        panic!()
    };
    assert!(msg.contains("no shell"), "{msg}");
}

#[tokio::test]
async fn scratch_sandboxes_clean_up() {
    let sb = match WasiSandbox::open_scratch(WasiLimits::default()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            return;
        }
    };
    let root = sb.root().to_owned();
    sb.write_file("a.py", b"print(7)").await.unwrap();
    assert_eq!(run(&sb, "python a.py").await.output, "7\n");
    sb.close().await.unwrap();
    assert!(!root.exists());
}
