//! A package index on loopback and a mini task whose gold patch adds a dependency from it: for
//! the `--grading-network` test and bench.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::mini_row;

pub const TASK: &str = "protege-mini__romanum-1";
pub const IMAGE: &str = "protege/test.pip.romanum-1:latest";

/// A Python HTTP server on a free loopback port, stopped on drop; its request log is kept.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, log: PathBuf) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 -m http.server");
        // ready once it accepts a connection
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server { child, port, log };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the loopback server on port {port} did not start");
    }

    pub fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET "))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-module wheel (`protege-probe-dep`) laid out as a PEP 503 simple index under `root`.
pub fn write_index(root: &Path) {
    let dir = root.join("simple/protege-probe-dep");
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
import base64, hashlib, sys, zipfile
out = sys.argv[1]
files = {
    "protege_probe_dep/__init__.py": "VALUE = 42\n",
    "protege_probe_dep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: protege-probe-dep\nVersion: 1.0\n",
    "protege_probe_dep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: protege-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(out, "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("protege_probe_dep-1.0.dist-info/RECORD,,")
    z.writestr("protege_probe_dep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(dir.join("protege_probe_dep-1.0-py3-none-any.whl"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The mini task's image with Debian's pip added (built once; Docker's cache keeps it).
pub fn build_image() {
    let dockerfile = format!(
        "FROM {}\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
         --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*\n",
        format_args!(
            "protege/sweb.eval.x86_64.{}:latest",
            TASK.replace("__", "_1776_")
        )
    );
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "building {IMAGE}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The task as a dataset row: its gold patch plus a new dependency (in `requirements.txt`,
/// imported by a new `tests/conftest.py`), and an eval script that installs the requirements
/// with pip, as the official scripts' `pip install -e .` does, then tries a host that is not on
/// the allow-list. The row names a repository no spec table knows, so its `eval_script`,
/// `image` and `log_parser` columns are all that grades it.
pub fn row(other_port: u16) -> serde_json::Value {
    let mut row = mini_row(TASK);
    let dependency = "diff --git a/requirements.txt b/requirements.txt\nnew file mode 100644\n--- /dev/null\n+++ b/requirements.txt\n@@ -0,0 +1 @@\n+protege-probe-dep\ndiff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1 @@\n+import protege_probe_dep  # noqa: F401\n";
    row["patch"] = format!("{}{dependency}", row["patch"].as_str().unwrap()).into();
    let test_patch = row["test_patch"].as_str().unwrap().to_string();
    row["eval_script"] = format!(
        "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n\
         git apply -v - <<'EOF_114329324912'\n{test_patch}\nEOF_114329324912\n\
         python3 -m pip install --break-system-packages --disable-pip-version-check --retries 1 --timeout 10 -r requirements.txt\n\
         python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{other_port}/')\" || echo 'other host: refused'\n\
         : '>>>>> Start Test Output'\n\
         python3 -m pytest -rA -p no:cacheprovider tests/test_arith.py tests/test_convert.py\n\
         : '>>>>> End Test Output'\n"
    )
    .into();
    row["image"] = IMAGE.into();
    // a repository no spec table knows: the row's own columns are all grading needs
    row["repo"] = "protege-probe/romanum".into();
    row["log_parser"] = "parse_log_pytest".into();
    row
}

/// The pieces a `--grading-network` run needs, under `dir`: the index (serving
/// [`write_index`]'s wheel), another loopback server that is not on the allow-list, and a
/// one-row dataset of [`row`].
pub struct Fixture {
    pub index: Server,
    pub other: Server,
    pub dataset: PathBuf,
    /// The index as `--index-url` takes it.
    pub index_url: String,
}

impl Fixture {
    pub fn start(dir: &Path) -> Fixture {
        let index_root = dir.join("index");
        write_index(&index_root);
        let other_root = dir.join("other");
        std::fs::create_dir_all(&other_root).unwrap();
        let index = Server::start(&index_root, dir.join("index.log"));
        let other = Server::start(&other_root, dir.join("other.log"));
        let dataset = dir.join("set.jsonl");
        std::fs::write(&dataset, format!("{}\n", row(other.port))).unwrap();
        let index_url = format!("http://127.0.0.1:{}/simple/", index.port);
        Fixture {
            index,
            other,
            dataset,
            index_url,
        }
    }
}
