#![cfg(feature = "wasi")]
use protege_sandboxes::wasi::{WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, Sandbox};
use std::time::{Duration, Instant};

#[tokio::test]
async fn smoke() {
    let d = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "TOPSECRET").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path().join("dirlink")).unwrap();
    let sb = WasiSandbox::open_with(d.path(), WasiLimits { memory: 256 << 20 })
        .await
        .unwrap();
    let cmds = [
        "python -c 'print(open(\"/testbed/link\").read())'",
        "python -c 'import os; print(os.listdir(\"/testbed/dirlink\"))'",
        "python -c 'print(open(\"/testbed/../etc/passwd\").read()[:50])'",
        "python -c 'import os; print(os.listdir(\"/testbed\"), os.listdir(\"/tmp\"), os.listdir(\"/opt/site\")[:3])'",
        "python -c 'x = bytearray(1 << 30)'",
        "python -c 'x = []\nwhile True: x.append(bytearray(10 << 20))'",
        "python -c 'import sys; sys.setrecursionlimit(10**6)\ndef f(n): return f(n+1)\nf(0)'",
        "python -c 'def f(n): return f(n+1)\nf(0)'",
        "python -c 'import socket; s = socket.socket(); s.connect((\"1.1.1.1\", 80))'",
        "python -c 'while True: pass'",
        "python -c 'import time; time.sleep(100)'",
        "python -c 'print(\"x\" * 10_000_000)'",
        "python -c 'import subprocess; subprocess.run([\"ls\"])'",
        "python -c 'import threading; t = threading.Thread(target=print); t.start()'",
        "python -c 'open(\"/dev/null\", \"w\").write(\"x\"); print(open(\"/dev/null\").read())'",
        "python -c 'import os; print(os.environ)'",
    ];
    for cmd in cmds {
        let t = Instant::now();
        let mut o = ExecOptions::with_timeout(Duration::from_secs(2));
        o.output_limit = 4096;
        let out = sb.exec(cmd, &o).await;
        let s = format!("{out:?}");
        eprintln!("=== {cmd}: {:?}\n{}", t.elapsed(), &s[..s.len().min(1500)]);
    }
}
