//! Every download protege makes (datasets, the WASI runtime and its wheels, models, environment
//! files) goes through here: one cache folder, one TLS setup, sha256 pins checked while the
//! bytes stream to disk, files appearing only whole (a temporary file and a rename), and zip
//! members read or extracted from wheels. A leaf crate: pure I/O, no protege types, so datasets,
//! sandboxes and policies share it without depending on one another.

pub mod zip;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The directory protege caches downloads in: `$PROTEGE_CACHE`, else `$XDG_CACHE_HOME/protege`,
/// else `~/.cache/protege`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PROTEGE_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("protege");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("protege")
}

/// TLS trusting the system's CA bundle (so a TLS-inspecting proxy the machine trusts works
/// too), Mozilla's roots where the system has none.
pub fn tls_config() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder()
        .root_certs(root_certs())
        .build()
}

fn root_certs() -> ureq::tls::RootCerts {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
    for path in candidates {
        let Ok(pem) = fs::read(&path) else { continue };
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return ureq::tls::RootCerts::new_with_certs(&certs);
        }
    }
    ureq::tls::RootCerts::WebPki
}

fn agent(connect: Duration, overall: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(tls_config())
        .timeout_connect(Some(connect))
        .timeout_global(Some(overall))
        .build()
        .into()
}

/// GETs `url` whole into memory: at most `limit` bytes, within the connect and overall
/// deadlines. For small files; large ones stream to disk with [`download_to`].
pub fn get(url: &str, connect: Duration, overall: Duration, limit: u64) -> Result<Vec<u8>, String> {
    let mut resp = agent(connect, overall)
        .get(url)
        .call()
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    resp.body_mut()
        .with_config()
        .limit(limit)
        .reader()
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    Ok(body)
}

/// Downloads `url` to `dest`, hashing the bytes as they are written; `dest` appears only once
/// the whole body is in and, when `sha256` is given, matches it. Returns the body's sha256.
pub fn download_to(
    url: &str,
    dest: &Path,
    sha256: Option<&str>,
    connect: Duration,
    overall: Duration,
) -> Result<String, String> {
    let dir = dest.parent().expect("download paths have a parent");
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut resp = agent(connect, overall)
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let mut part =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let got = copy_hashing(
        &mut resp.body_mut().with_config().limit(u64::MAX).reader(),
        part.as_file_mut(),
    )
    .map_err(|e| format!("GET {url}: {e}"))?;
    if let Some(want) = sha256
        && got != want
    {
        return Err(format!(
            "{url}: sha256 {got} does not match the pinned {want}"
        ));
    }
    readable(part.as_file()).map_err(|e| format!("{}: {e}", dest.display()))?;
    part.persist(dest)
        .map_err(|e| format!("{}: {}", dest.display(), e.error))?;
    Ok(got)
}

/// Copies `from` into `to`, returning the sha256 of what went through.
pub(crate) fn copy_hashing(from: &mut impl Read, to: &mut File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    to.flush()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Temporary files are created private (0600); what the cache keeps is readable like any file
/// a download tool writes (0644), so a cache shared between users or mounted elsewhere works.
pub(crate) fn readable(f: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o644))
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 of a file, hex, read in pieces.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes through a temporary file and a rename, so no reader ever sees a partial file (and two
/// processes preparing the same cache entry at once both end with the same, whole file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    readable(tmp.as_file())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_agree_and_atomic_writes_leave_no_part_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/x.bin");
        write_atomic(&p, b"abc").unwrap();
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_file(&p).unwrap(), sha256_hex(b"abc"));
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    /// A real HTTP server on loopback (std's listener answering one GET): the body lands whole
    /// under its pin, and a wrong pin leaves no file behind.
    #[test]
    fn downloads_stream_to_disk_under_their_pin() {
        let body = vec![7u8; 300_000];
        let serve = |body: Vec<u8>| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/f.bin", l.local_addr().unwrap());
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut head = [0u8; 1024];
                let _ = s.read(&mut head).unwrap();
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                s.write_all(h.as_bytes()).unwrap();
                s.write_all(&body).unwrap();
            });
            url
        };
        let d = tempfile::tempdir().unwrap();
        let t = Duration::from_secs(10);
        let want = sha256_hex(&body);
        let dest = d.path().join("f.bin");
        let got = download_to(&serve(body.clone()), &dest, Some(&want), t, t).unwrap();
        assert_eq!(got, want);
        assert_eq!(fs::read(&dest).unwrap(), body);
        let other = d.path().join("g.bin");
        let e = download_to(&serve(body), &other, Some(&"0".repeat(64)), t, t).unwrap_err();
        assert!(e.contains("does not match the pinned"), "{e}");
        assert!(!other.exists());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "a part file was left"
        );
    }
}
