//! A real registry on loopback (Debian's `docker-registry`) holding the mini images, and a
//! loopback proxy in front of it that answers 429 to the first manifest requests; for the image
//! pipeline's tests and its bench.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// Whether `bin --version` runs (the registry's, Podman's). Absent, the caller skips, saying so, except under CI, where
/// `scripts/setup.sh` installs the Debian package `package` and its absence is a failure.
pub fn tool_available(bin: &str, package: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{bin} is not installed under CI (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: {bin} is not installed (apt-get install {package})");
    }
    ok
}

/// The `docker-registry` binary, when installed (`scripts/setup.sh` installs it). Absent: the
/// caller skips, saying so, except under CI, where it must be there.
pub fn registry_available() -> bool {
    tool_available("docker-registry", "docker-registry")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on a loopback port; the status code, `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

impl Registry {
    /// Starts a registry on a free loopback port, its storage in a temporary folder; returns
    /// once it answers `/v2/`.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        // Readiness, not timing: poll until it answers (it takes well under a second).
        for _ in 0..200 {
            if http_status(port, "/v2/") == Some(200) {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on 127.0.0.1:{port}");
    }

    /// The `--image-template` of the mini images pushed under `namespace`, via `port` (the
    /// registry's own or a proxy's).
    pub fn template(port: u16, namespace: &str) -> String {
        format!("127.0.0.1:{port}/{namespace}/sweb.eval.x86_64.{{id}}:latest")
    }

    /// The registry name of a mini instance's image under `namespace`, via `port`.
    pub fn name(port: u16, namespace: &str, instance_id: &str) -> String {
        format!(
            "127.0.0.1:{port}/{namespace}/sweb.eval.x86_64.{}:latest",
            instance_id.replace("__", "_1776_").to_lowercase()
        )
    }

    /// Pushes the mini images of `ids` there under `namespace`, then removes those names
    /// locally (the `protege/` images they were tagged from stay).
    pub fn push_mini(&self, namespace: &str, ids: &[String]) {
        for id in ids {
            let local = format!(
                "protege/sweb.eval.x86_64.{}:latest",
                id.replace("__", "_1776_").to_lowercase()
            );
            let remote = Registry::name(self.port, namespace, id);
            docker(&["tag", &local, &remote]);
            docker(&["push", &remote]);
            docker(&["rmi", &remote]);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn docker(args: &[&str]) {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Local images whose name starts with `prefix`.
pub fn local_images(prefix: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Removes every local image whose name starts with `prefix` (names only: the layers stay
/// while other names hold them).
pub fn remove_local(prefix: &str) {
    for name in local_images(prefix) {
        let _ = Command::new("docker").args(["rmi", &name]).output();
    }
}

/// A loopback HTTP proxy to a registry that answers `429 Too Many Requests` (with the
/// registry's `TOOMANYREQUESTS` error body, as Docker Hub does) to the first `refuse` manifest
/// requests and passes everything else on. One request per connection.
pub struct RateLimitingProxy {
    pub port: u16,
    pub refused: Arc<AtomicUsize>,
    pub manifest_requests: Arc<AtomicUsize>,
}

impl RateLimitingProxy {
    pub fn start(upstream: u16, refuse: usize) -> RateLimitingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = Arc::new(AtomicUsize::new(0));
        let manifest_requests = Arc::new(AtomicUsize::new(0));
        let (r, m) = (refused.clone(), manifest_requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, m) = (r.clone(), m.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, refuse, &r, &m);
                });
            }
        });
        RateLimitingProxy {
            port,
            refused,
            manifest_requests,
        }
    }
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    refuse: usize,
    refused: &AtomicUsize,
    manifests: &AtomicUsize,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    if path.contains("/manifests/") {
        manifests.fetch_add(1, Ordering::SeqCst);
        // The first `refuse` manifest requests are refused (counting is atomic, so exactly
        // that many are, however the engine spreads its requests over connections).
        let n = refused.fetch_add(1, Ordering::SeqCst);
        if n < refuse {
            let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited by the test proxy","detail":null}]}"#;
            write!(
                client,
                "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.shutdown(Shutdown::Both);
        }
        refused.fetch_sub(1, Ordering::SeqCst);
    }
    // Pass on with `Connection: close`, so one response ends the exchange.
    let mut forwarded = String::new();
    let mut content_length = 0usize;
    for line in text.trim_end().split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(forwarded.as_bytes())?;
    if content_length > 0 {
        let mut body = vec![0u8; content_length];
        client.read_exact(&mut body)?;
        up.write_all(&body)?;
    }
    std::io::copy(&mut up, &mut client)?;
    client.shutdown(Shutdown::Both)
}

/// The run folder's manifest.
pub fn manifest(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("manifest.json")).unwrap()).unwrap()
}
