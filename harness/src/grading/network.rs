//! How far a grading sandbox reaches (`--grading-network none|index|open`). The official eval
//! scripts install packages (`pip install -e .` pulls a patch's new dependency from PyPI), so by
//! default grading reaches the package index — through protege's allow-list egress proxy
//! ([`protege_sandboxes::egress`]), never an open network. Policy workspaces are not affected:
//! they stay without a network.

#[cfg(feature = "docker")]
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use protege_results::{GradingNetworkInfo, NetworkUse};
#[cfg(feature = "docker")]
use protege_sandboxes::SandboxError;
use protege_sandboxes::egress::{Access, AllowList, EgressProxy, split_host_port};
use regex::Regex;

/// The package hosts `index` reaches unless told otherwise: PyPI (its API and its file host)
/// and the Anaconda channels conda installs from.
pub const DEFAULT_INDEX_HOSTS: &[&str] = &[
    "pypi.org",
    "files.pythonhosted.org",
    "conda.anaconda.org",
    "repo.anaconda.com",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GradingNetwork {
    /// No network at all (protege's behaviour before 0.x; pip installs fail).
    None,
    /// The package index only, through the allow-list proxy.
    Index,
    /// The default bridge: whatever the host reaches.
    Open,
}

impl GradingNetwork {
    pub fn parse(s: &str) -> Result<GradingNetwork, String> {
        match s {
            "none" => Ok(GradingNetwork::None),
            "index" => Ok(GradingNetwork::Index),
            "open" => Ok(GradingNetwork::Open),
            other => Err(format!(
                "unknown grading network `{other}` (expected none, index or open)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GradingNetwork::None => "none",
            GradingNetwork::Index => "index",
            GradingNetwork::Open => "open",
        }
    }
}

/// What `index` lets through: the hosts and, optionally, the index pip is pointed at.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexSettings {
    /// Hosts (`host` or `host:port`) on the allow-list; empty means [`DEFAULT_INDEX_HOSTS`].
    pub hosts: Vec<String>,
    /// A mirror for pip (`PIP_INDEX_URL` in the sandbox); its host joins the allow-list.
    pub index_url: Option<String>,
    /// PEM certificates the sandbox's tools trust for the index (a TLS-inspecting proxy's CA,
    /// a private mirror's), copied to [`CA_BUNDLE_PATH`] in every grading container.
    pub ca_bundle: Option<std::path::PathBuf>,
}

/// Where `--index-ca` lands in a grading container.
pub const CA_BUNDLE_PATH: &str = "/etc/protege-index-ca.pem";

impl IndexSettings {
    /// The allow-list these settings describe, or an error naming the bad entry.
    pub fn allow_list(&self) -> Result<AllowList, String> {
        let mut hosts: Vec<String> = if self.hosts.is_empty() {
            DEFAULT_INDEX_HOSTS.iter().map(|h| h.to_string()).collect()
        } else {
            self.hosts.clone()
        };
        if let Some(url) = &self.index_url {
            hosts.push(url_authority(url)?);
        }
        AllowList::parse(&hosts).map_err(|e| format!("--index-host: {e}"))
    }
}

/// `host:port` of an `http(s)://` URL (the scheme's port when none is written).
fn url_authority(url: &str) -> Result<String, String> {
    let (rest, port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        return Err(format!(
            "--index-url `{url}`: expected an http:// or https:// URL"
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("--index-url `{url}`: no host"));
    }
    // the proxy's own reading of `host[:port]`, so that both agree on what the entry is
    let (_, written) = split_host_port(authority)
        .ok_or_else(|| format!("--index-url `{url}`: bad host or port"))?;
    Ok(match written {
        Some(_) => authority.to_string(),
        None => format!("{authority}:{port}"),
    })
}

/// The network grading containers get, and for `index` the proxy that is their way out.
#[derive(Debug, Clone)]
pub struct GradingEgress {
    pub mode: GradingNetwork,
    pub proxy: Option<Arc<EgressProxy>>,
    pub index_url: Option<String>,
    /// `--index-ca`'s certificates and where they came from.
    pub ca_bundle: Option<Arc<[u8]>>,
    pub ca_source: Option<String>,
    /// Why the mode has no effect (WASI grading has no network), for the manifest.
    pub note: Option<String>,
}

impl Default for GradingEgress {
    fn default() -> Self {
        GradingEgress {
            mode: GradingNetwork::None,
            proxy: None,
            index_url: None,
            ca_bundle: None,
            ca_source: None,
            note: None,
        }
    }
}

impl GradingEgress {
    /// The mode without a Docker engine to apply it to.
    pub fn unapplied(mode: GradingNetwork, note: &str) -> GradingEgress {
        GradingEgress {
            mode,
            note: Some(note.to_string()),
            ..Default::default()
        }
    }

    /// Sets `mode` up on `engine`: for `index`, the internal network and the proxy on its
    /// gateway.
    #[cfg(feature = "docker")]
    pub async fn start(
        engine: &protege_sandboxes::docker::DockerEngine,
        mode: GradingNetwork,
        settings: &IndexSettings,
    ) -> Result<GradingEgress, SandboxError> {
        let mut egress = GradingEgress {
            mode,
            index_url: settings.index_url.clone(),
            ..Default::default()
        };
        if mode == GradingNetwork::Index
            && let Some(path) = &settings.ca_bundle
        {
            let pem = std::fs::read(path).map_err(|e| {
                SandboxError::Unsupported(format!("--index-ca {}: {e}", path.display()))
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(SandboxError::Unsupported(format!(
                    "--index-ca {}: no PEM certificate in the file",
                    path.display()
                )));
            }
            egress.ca_bundle = Some(pem.into());
            egress.ca_source = Some(path.display().to_string());
        }
        if mode == GradingNetwork::Index {
            let allow = settings.allow_list().map_err(SandboxError::Unsupported)?;
            let gateway = engine
                .internal_network(protege_sandboxes::docker::network::EGRESS_NETWORK)
                .await?;
            let proxy = EgressProxy::start(SocketAddr::new(gateway, 0), allow)
                .await
                .map_err(|e| {
                    SandboxError::EngineUnavailable(format!(
                        "the grading egress proxy cannot listen on {gateway}: {e}"
                    ))
                })?;
            egress.proxy = Some(Arc::new(proxy));
        }
        Ok(egress)
    }

    /// What grading containers are attached to.
    #[cfg(feature = "docker")]
    pub fn container_network(&self) -> protege_sandboxes::Network {
        use protege_sandboxes::Network;
        match (self.mode, &self.proxy) {
            (GradingNetwork::Open, _) => Network::Open,
            (GradingNetwork::Index, Some(proxy)) => Network::Internal {
                name: protege_sandboxes::docker::network::EGRESS_NETWORK.into(),
                env: self.proxy_env(proxy),
            },
            _ => Network::None,
        }
    }

    /// The variables pip, conda, curl and git read their proxy and index from.
    #[cfg(feature = "docker")]
    fn proxy_env(&self, proxy: &EgressProxy) -> Vec<String> {
        let url = proxy.url();
        let mut env: Vec<String> = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
            .iter()
            .map(|k| format!("{k}={url}"))
            .collect();
        // nothing bypasses the proxy (there is no other way out anyway)
        env.push("NO_PROXY=".into());
        env.push("no_proxy=".into());
        if self.ca_bundle.is_some() {
            for k in [
                "PIP_CERT",
                "REQUESTS_CA_BUNDLE",
                "SSL_CERT_FILE",
                "CURL_CA_BUNDLE",
                "CONDA_SSL_VERIFY",
            ] {
                env.push(format!("{k}={CA_BUNDLE_PATH}"));
            }
        }
        if let Some(index) = &self.index_url {
            env.push(format!("PIP_INDEX_URL={index}"));
            if let (Some(rest), Ok(authority)) =
                (index.strip_prefix("http://"), url_authority(index))
            {
                // pip refuses a plain-HTTP index unless its host is trusted
                let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(rest);
                env.push(format!("PIP_TRUSTED_HOST={host}"));
            }
        }
        env
    }

    /// The manifest's account of grading's network.
    pub fn info(&self) -> GradingNetworkInfo {
        GradingNetworkInfo {
            mode: self.mode.name().into(),
            allow: self
                .proxy
                .as_ref()
                .map(|p| p.allow_list().entries())
                .unwrap_or_default(),
            index_url: self.index_url.clone(),
            proxy: self.proxy.as_ref().map(|p| p.addr().to_string()),
            ca_bundle: self.ca_source.clone(),
            note: self.note.clone(),
        }
    }
}

/// Lines of pip (urllib3's retry warnings, pip's own errors) and conda that say a download
/// never reached its server.
static UNREACHABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)Retrying \(Retry\(total=.*(NewConnectionError|ProxyError|NameResolutionError|ConnectTimeoutError|Failed to establish a new connection)|Could not fetch URL .*(connection|proxy)|CondaHTTPError|CondaSSLError",
    )
    .expect("regex")
});

/// Whether an evaluation's output shows a package install that could not reach the index.
pub fn index_unreachable(test_output: &str) -> bool {
    UNREACHABLE.is_match(test_output)
}

/// What a record says about grading's network: only for evaluations that reached for it
/// (something went through or was refused by the proxy, or an install could not get out).
pub fn network_use(
    mode: GradingNetwork,
    accesses: &[Access],
    test_output: &str,
) -> Option<NetworkUse> {
    let unreachable = index_unreachable(test_output);
    if accesses.is_empty() && !unreachable {
        return None;
    }
    let list = |allowed: bool| {
        let mut v: Vec<String> = accesses
            .iter()
            .filter(|a| a.allowed == allowed)
            .map(|a| a.target.clone())
            .collect();
        v.dedup();
        v
    };
    Some(NetworkUse {
        mode: mode.name().into(),
        reached: list(true),
        refused: list(false),
        index_unreachable: unreachable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_name() {
        for m in ["none", "index", "open"] {
            assert_eq!(GradingNetwork::parse(m).unwrap().name(), m);
        }
        assert!(
            GradingNetwork::parse("bridge")
                .unwrap_err()
                .contains("`bridge`")
        );
    }

    #[test]
    fn index_url_joins_the_allow_list() {
        let s = IndexSettings {
            hosts: vec![],
            index_url: Some("http://127.0.0.1:8123/simple/".into()),
            ..Default::default()
        };
        let a = s.allow_list().unwrap();
        assert!(a.permits("pypi.org", 443));
        assert!(a.permits("127.0.0.1", 8123));
        assert!(!a.permits("127.0.0.1", 8124));
        let only = IndexSettings {
            hosts: vec!["mirror.internal:3141".into()],
            index_url: Some("https://user@mirror2.internal/root/pypi".into()),
            ..Default::default()
        };
        let a = only.allow_list().unwrap();
        assert!(!a.permits("pypi.org", 443));
        assert!(a.permits("mirror.internal", 3141));
        assert!(a.permits("mirror2.internal", 443));
        let bad = IndexSettings {
            hosts: vec![],
            index_url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert!(bad.allow_list().unwrap_err().contains("ftp://x"));
    }

    #[test]
    fn unreachable_index_is_recognised() {
        let pip_offline = "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/appdirs/\nERROR: Could not find a version that satisfies the requirement appdirs";
        assert!(index_unreachable(pip_offline));
        let refused = "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: 403 Forbidden'))': /simple/x/";
        assert!(index_unreachable(refused));
        // a package that does not exist, with the index reached, is not a network problem
        let missing = "ERROR: Could not find a version that satisfies the requirement nosuchpkg (from versions: none)\nERROR: No matching distribution found for nosuchpkg";
        assert!(!index_unreachable(missing));
        assert!(network_use(GradingNetwork::Index, &[], missing).is_none());
        let used = network_use(
            GradingNetwork::Index,
            &[
                Access {
                    target: "pypi.org:443".into(),
                    allowed: true,
                },
                Access {
                    target: "pypi.org:443".into(),
                    allowed: true,
                },
                Access {
                    target: "github.com:443".into(),
                    allowed: false,
                },
            ],
            "",
        )
        .unwrap();
        assert_eq!(used.reached, ["pypi.org:443"]);
        assert_eq!(used.refused, ["github.com:443"]);
        assert!(!used.index_unreachable);
    }
}
