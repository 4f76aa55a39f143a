//! An allow-list egress proxy: the one way out of a grading sandbox when grading may reach the
//! package index (`--grading-network index`). It speaks plain HTTP proxying, as pip, conda and
//! curl do when `HTTP(S)_PROXY` is set: `CONNECT host:port` tunnels (HTTPS) and absolute-form
//! requests (`GET http://host:port/path`, for plain-HTTP mirrors). A target whose host and port
//! are not on the list is answered `403` and never connected to; every attempt, allowed or not,
//! is noted per client address so that a record can say what its evaluation reached.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest request head the proxy reads (request line and headers).
const MAX_HEAD: usize = 16 << 10;
/// How long a client may take to send its request head, and an upstream to accept.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One permitted destination: a host name or address, and a port (`None`: 80 and 443).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<u16>,
}

/// The hosts a grading sandbox may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// Parses `host` or `host:port` entries (`[v6]:port` for IPv6); names match
    /// case-insensitively and exactly (no wildcards: a mirror's download host is listed too).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, String> {
        let mut out = AllowList::default();
        for raw in entries {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let (host, port) = split_host_port(raw)
                .ok_or_else(|| format!("`{raw}` is not a host or host:port"))?;
            if host.is_empty() || host.contains(['/', '*', ' ']) {
                return Err(format!("`{raw}` is not a host or host:port"));
            }
            out.entries.push(Entry {
                host: host.to_ascii_lowercase(),
                port,
            });
        }
        Ok(out)
    }

    /// Whether `host:port` may be reached.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.entries.iter().any(|e| {
            e.host.eq_ignore_ascii_case(host)
                && match e.port {
                    Some(p) => p == port,
                    None => port == 80 || port == 443,
                }
        })
    }

    /// The entries as written (`host` or `host:port`), for manifests.
    pub fn entries(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| match e.port {
                Some(p) if e.host.contains(':') => format!("[{}]:{p}", e.host),
                Some(p) => format!("{}:{p}", e.host),
                None => e.host.clone(),
            })
            .collect()
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` when the port is not a number.
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        // a bare IPv6 address has several colons and no port
        Some((h, _)) if h.contains(':') => Some((s, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((s, None)),
    }
}

/// One attempt by a client to reach a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `host:port` as the client asked for it.
    pub target: String,
    pub allowed: bool,
}

type AccessLog = Arc<Mutex<HashMap<IpAddr, Vec<Access>>>>;

/// A running proxy; stops when dropped.
pub struct EgressProxy {
    addr: SocketAddr,
    allow: AllowList,
    log: AccessLog,
    task: JoinHandle<()>,
}

impl fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressProxy")
            .field("addr", &self.addr)
            .field("allow", &self.allow.entries())
            .finish()
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EgressProxy {
    /// Listens on `bind` (port 0: any free port) and serves until dropped.
    pub async fn start(bind: SocketAddr, allow: AllowList) -> std::io::Result<EgressProxy> {
        let listener = listen(bind)?;
        let addr = listener.local_addr()?;
        let log: AccessLog = Arc::default();
        let task = tokio::spawn(serve(listener, allow.clone(), log.clone()));
        Ok(EgressProxy {
            addr,
            allow,
            log,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// The URL clients put in `HTTP_PROXY`/`HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The attempts made from `client` since the last call, in order.
    pub fn take(&self, client: IpAddr) -> Vec<Access> {
        self.log
            .lock()
            .expect("egress log")
            .remove(&client)
            .unwrap_or_default()
    }
}

/// A listener on `bind`, which may name an address no interface holds yet: Podman (netavark)
/// creates a network's bridge, and its gateway address, only when the first container joins it,
/// and removes it after the last one leaves. IP_FREEBIND lets the proxy listen there from the
/// start and keeps it listening across those comings and goings.
fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    match bind {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
    }
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

async fn serve(listener: TcpListener, allow: AllowList, log: AccessLog) {
    let allow = Arc::new(allow);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (allow, log) = (allow.clone(), log.clone());
        tokio::spawn(async move {
            // a client that goes away mid-request is its own business
            let _ = handle(stream, peer.ip(), &allow, &log).await;
        });
    }
}

/// The request line's parts that decide where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `CONNECT host:port`.
    Tunnel { host: String, port: u16 },
    /// `METHOD http://host[:port]/path VERSION`: forwarded with the path alone.
    Forward {
        host: String,
        port: u16,
        request_line: String,
    },
}

fn parse_request_line(line: &str) -> Result<Target, String> {
    let mut parts = line.split_whitespace();
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line `{line}`"));
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(uri)
            .and_then(|(h, p)| Some((h, p?)))
            .ok_or_else(|| format!("CONNECT target `{uri}` is not host:port"))?;
        return Ok(Target::Tunnel {
            host: host.to_string(),
            port,
        });
    }
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{uri}`: only CONNECT and http:// URLs are proxied"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) =
        split_host_port(authority).ok_or_else(|| format!("`{uri}`: bad host or port"))?;
    Ok(Target::Forward {
        host: host.to_string(),
        port: port.unwrap_or(80),
        request_line: format!("{method} {path} {version}"),
    })
}

async fn handle(
    mut client: TcpStream,
    peer: IpAddr,
    allow: &AllowList,
    log: &AccessLog,
) -> std::io::Result<()> {
    let Ok(head) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await else {
        return Ok(());
    };
    let (head, rest) = head?;
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let target = match parse_request_line(lines.next().unwrap_or_default()) {
        Ok(t) => t,
        Err(e) => return respond(&mut client, "400 Bad Request", &e).await,
    };
    let (host, port) = match &target {
        Target::Tunnel { host, port } | Target::Forward { host, port, .. } => (host, *port),
    };
    let allowed = allow.permits(host, port);
    log.lock()
        .expect("egress log")
        .entry(peer)
        .or_default()
        .push(Access {
            target: format!("{host}:{port}"),
            allowed,
        });
    if !allowed {
        let why = format!(
            "protege egress: {host}:{port} is not on the grading allow-list ({})",
            allow.entries().join(", ")
        );
        return respond(&mut client, "403 Forbidden", &why).await;
    }
    let upstream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)));
    let mut upstream = match upstream.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return respond(
                &mut client,
                "502 Bad Gateway",
                &format!("{host}:{port}: {e}"),
            )
            .await;
        }
        Err(_) => {
            return respond(
                &mut client,
                "504 Gateway Timeout",
                &format!("{host}:{port}"),
            )
            .await;
        }
    };
    match target {
        Target::Tunnel { .. } => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
        }
        Target::Forward { request_line, .. } => {
            // one request per connection: hop-by-hop headers go, the upstream closes after it
            let mut out = request_line + "\r\n";
            for h in lines.filter(|l| !l.is_empty()) {
                let name = h.split(':').next().unwrap_or_default().trim();
                if ![
                    "proxy-connection",
                    "proxy-authorization",
                    "connection",
                    "keep-alive",
                ]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
                {
                    out.push_str(h);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            upstream.write_all(out.as_bytes()).await?;
        }
    }
    upstream.write_all(&rest).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Reads up to the end of the request head; returns the head (without the blank line) and any
/// bytes read past it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            buf.truncate(i);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn respond(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    client.write_all(msg.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn allow_list_matches_host_and_port() {
        let a = AllowList::parse(&["PyPI.org", "127.0.0.1:8080", "[::1]:9", ""]).unwrap();
        assert!(a.permits("pypi.org", 443));
        assert!(a.permits("pypi.org", 80));
        assert!(!a.permits("pypi.org", 8443));
        assert!(!a.permits("evil.pypi.org", 443));
        assert!(a.permits("127.0.0.1", 8080));
        assert!(!a.permits("127.0.0.1", 8081));
        assert!(a.permits("[::1]", 9));
        assert_eq!(a.entries(), ["pypi.org", "127.0.0.1:8080", "[::1]:9"]);
        for bad in ["host:port", "*.pypi.org", "https://pypi.org", "[::1"] {
            assert!(AllowList::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_lines_name_their_target() {
        assert_eq!(
            parse_request_line("CONNECT pypi.org:443 HTTP/1.1").unwrap(),
            Target::Tunnel {
                host: "pypi.org".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_request_line("GET http://127.0.0.1:9000/simple/x/ HTTP/1.1").unwrap(),
            Target::Forward {
                host: "127.0.0.1".into(),
                port: 9000,
                request_line: "GET /simple/x/ HTTP/1.1".into()
            }
        );
        assert_eq!(
            parse_request_line("GET http://mirror HTTP/1.0").unwrap(),
            Target::Forward {
                host: "mirror".into(),
                port: 80,
                request_line: "GET / HTTP/1.0".into()
            }
        );
        assert!(parse_request_line("GET /local HTTP/1.1").is_err());
        assert!(parse_request_line("CONNECT pypi.org HTTP/1.1").is_err());
    }

    /// Podman's gateway address exists only while a container is on the network: the proxy
    /// must be able to listen there before (TEST-NET-1's 192.0.2.1 is on no interface here).
    #[tokio::test]
    async fn listens_on_an_address_no_interface_holds_yet() {
        let proxy = EgressProxy::start("192.0.2.1:0".parse().unwrap(), AllowList::default())
            .await
            .unwrap();
        assert_eq!(proxy.addr().ip().to_string(), "192.0.2.1");
        assert_ne!(proxy.addr().port(), 0);
    }

    /// A loopback server answering every connection with a fixed HTTP response, counting them.
    async fn origin(body: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = read_head(&mut s).await;
                    let msg = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(msg.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (addr, hits)
    }

    async fn exchange(proxy: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn only_listed_hosts_are_reached() {
        let (listed, listed_hits) = origin("from the index").await;
        let (other, other_hits) = origin("from elsewhere").await;
        let allow = AllowList::parse(&[format!("127.0.0.1:{}", listed.port())]).unwrap();
        let proxy = EgressProxy::start("127.0.0.1:0".parse().unwrap(), allow)
            .await
            .unwrap();

        let ok = exchange(
            proxy.addr(),
            &format!("GET http://{listed}/simple/ HTTP/1.1\r\nHost: {listed}\r\n\r\n"),
        )
        .await;
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.ends_with("from the index"),
            "{ok}"
        );

        // a tunnel to the listed host carries bytes both ways
        let tunnel = exchange(
            proxy.addr(),
            &format!("CONNECT {listed} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        )
        .await;
        assert!(
            tunnel.starts_with("HTTP/1.1 200 Connection established"),
            "{tunnel}"
        );
        assert!(tunnel.ends_with("from the index"), "{tunnel}");

        for req in [
            format!("GET http://{other}/ HTTP/1.1\r\n\r\n"),
            format!("CONNECT {other} HTTP/1.1\r\n\r\n"),
        ] {
            let refused = exchange(proxy.addr(), &req).await;
            assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
            assert!(refused.contains(&format!("{other} is not on the grading allow-list")));
        }
        assert_eq!(
            other_hits.load(Ordering::SeqCst),
            0,
            "a refused host was connected to"
        );
        assert_eq!(listed_hits.load(Ordering::SeqCst), 2);

        let log = proxy.take("127.0.0.1".parse().unwrap());
        let allowed: Vec<bool> = log.iter().map(|a| a.allowed).collect();
        assert_eq!(allowed, [true, true, false, false]);
        assert_eq!(log[2].target, other.to_string());
        assert!(proxy.take("127.0.0.1".parse().unwrap()).is_empty());
    }
}
