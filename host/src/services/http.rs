//! Outgoing HTTP for plugins granted `http`, to the hosts and ports listed under `[plugins.<name>] http`, through
//! two doors: `wasi:http` (Rust plugins, via the `wasip2` crate) and `coral:bot/http` (`fetch`, for every
//! language). Both use one checked sender ([`send`]): grant → allowlist (host and port) → one DNS lookup whose
//! every address must be public (or in `http_limits.allow_private`) and none of Coral's own endpoints
//! ([`OwnEndpoints`]) → connect to a checked address → TLS verified against the name → response bounded in size
//! and, with the whole request, in time; at most `max_concurrent` requests in flight per plugin. Neither door
//! follows redirects, so every hop a plugin follows is checked again. Each request is one audit entry.

pub mod rules;
pub mod send;
mod wasi;

pub use wasi::CoralHttpHooks;

use crate::adapters::onebot::config::Transport;
use crate::config::{Config, ConfigError};
use crate::policy::{Capability, Policy, PolicyError};
use crate::runtime::state::PluginState;
use bytes::Bytes;
use coral_model::bindings::coral::bot::http::{Host, Request as FetchRequest, Response as FetchResponse};
use coral_model::bindings::{ErrorCode, WitError};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use rules::{AllowEntry, Cidr, CoralEndpoint, CoralEndpoints};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Default largest response body, KiB.
pub const DEFAULT_MAX_RESPONSE_KB: u64 = 1024;
/// Default time limit of one whole request (connect, send, response and body), ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default requests one plugin may have in flight.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;

/// `[plugins.<name>] http_limits = { … }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimitsConfig {
    /// Largest response body, KiB (default 1024).
    pub max_response_kb: Option<u64>,
    /// Time limit of one whole request including its body, ms (default 10000).
    pub timeout_ms: Option<u64>,
    /// Requests in flight at once (default 4).
    pub max_concurrent: Option<usize>,
    /// Private, loopback or link-local addresses or CIDR blocks the plugin may reach anyway (default none).
    #[serde(default)]
    pub allow_private: Vec<String>,
}

/// A plugin's HTTP allowlist and limits, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRules {
    /// Hosts (and ports) it may reach.
    pub hosts: Vec<AllowEntry>,
    /// Largest response body, bytes.
    pub max_response_bytes: u64,
    /// Time limit of one whole request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrent: usize,
    /// Non-public addresses it may reach anyway.
    pub allow_private: Vec<Cidr>,
}

impl Default for HttpRules {
    fn default() -> Self {
        HttpRules {
            hosts: Vec::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_KB << 10,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            allow_private: Vec::new(),
        }
    }
}

impl HttpRules {
    /// Parse `[plugins.<name>] http` and `http_limits`; an error names the offending key.
    pub fn from_config(name: &str, hosts: &[String], limits: &HttpLimitsConfig) -> Result<HttpRules, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, text)| AllowEntry::parse(text).map_err(|r| invalid(format!("plugins.{name}.http[{i}]"), r)))
            .collect::<Result<Vec<_>, _>>()?;
        let allow_private = limits
            .allow_private
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Cidr::parse(text).map_err(|r| invalid(format!("plugins.{name}.http_limits.allow_private[{i}]"), r))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let at_least_one = |key: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(
                format!("plugins.{name}.http_limits.{key}"),
                "must be at least 1".into(),
            )),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let max_response_kb = at_least_one("max_response_kb", limits.max_response_kb, DEFAULT_MAX_RESPONSE_KB)?;
        let timeout_ms = at_least_one("timeout_ms", limits.timeout_ms, DEFAULT_TIMEOUT_MS)?;
        let max_concurrent = at_least_one(
            "max_concurrent",
            limits.max_concurrent.map(|n| n as u64),
            DEFAULT_MAX_CONCURRENT as u64,
        )?;
        Ok(HttpRules {
            hosts,
            max_response_bytes: max_response_kb.saturating_mul(1024),
            timeout: Duration::from_millis(timeout_ms),
            max_concurrent: max_concurrent as usize,
            allow_private,
        })
    }

    /// The limits on one line, for `coral plugin inspect`.
    pub fn limits_text(&self) -> String {
        let private = if self.allow_private.is_empty() {
            "none".to_string()
        } else {
            self.allow_private
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "max_response_kb={} timeout_ms={} max_concurrent={} allow_private={private}",
            self.max_response_bytes >> 10,
            self.timeout.as_millis(),
            self.max_concurrent
        )
    }
}

/// Why an outgoing request was refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpFailure {
    /// `http` is not requested, not granted, or its rate is used up.
    #[error("{0}")]
    Policy(PolicyError),
    /// The URL's host is not on the plugin's allowlist.
    #[error("permission denied: host `{0}` is not in this plugin's `http` allowlist")]
    HostNotListed(String),
    /// The URL's host is listed, but not with the URL's port.
    #[error(
        "permission denied: port {port} of `{host}` is not in this plugin's `http` allowlist (an entry without \
             a port admits only 80 for http and 443 for https; list others like `{host}:{port}`)"
    )]
    PortNotListed {
        /// The host.
        host: String,
        /// The refused port.
        port: u16,
    },
    /// The host resolved to one of Coral's own endpoints (a OneBot or metrics listener, or the OneBot
    /// implementation Coral connects to), which no plugin may reach.
    #[error(
        "permission denied: `{host}` resolves to {addr}, Coral's own endpoint ({what}), which plugins may never \
             reach"
    )]
    CoralEndpoint {
        /// The host.
        host: String,
        /// The refused address and port.
        addr: SocketAddr,
        /// Which endpoint it is.
        what: String,
    },
    /// The host resolved to an address that is not public and not allowed.
    #[error("permission denied: `{host}` resolves to {addr} ({class}), which is not in `http_limits.allow_private`")]
    Prohibited {
        /// The host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Its class.
        class: &'static str,
    },
    /// A bad URL, scheme, method or header.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Too many requests in flight.
    #[error("{0} requests already in flight (http_limits.max_concurrent)")]
    TooManyInFlight(usize),
    /// The name did not resolve.
    #[error("cannot resolve `{host}`: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// No checked address accepted a connection.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The TLS handshake or certificate check failed.
    #[error("TLS with `{host}` failed: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The response body is larger than allowed.
    #[error("the response is larger than the {limit}-byte limit (http_limits.max_response_kb){}",
        declared.map(|d| format!(": Content-Length {d}")).unwrap_or_default())]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The declared length, when the refusal came from `Content-Length`.
        declared: Option<u64>,
    },
    /// The whole request took longer than allowed.
    #[error("no complete response within {} ms (http_limits.timeout_ms)", .0.as_millis())]
    Timeout(Duration),
    /// The server broke HTTP.
    #[error("HTTP error: {0}")]
    Protocol(String),
}

impl HttpFailure {
    /// As a `coral:bot` error value.
    pub fn wit_error(&self) -> WitError {
        let message = self.to_string();
        match self {
            HttpFailure::Policy(refusal) => WitError::from(refusal),
            HttpFailure::HostNotListed(_)
            | HttpFailure::PortNotListed { .. }
            | HttpFailure::Prohibited { .. }
            | HttpFailure::CoralEndpoint { .. } => WitError::new(ErrorCode::PermissionDenied, message),
            HttpFailure::Invalid(_) => WitError::new(ErrorCode::InvalidArgument, message),
            HttpFailure::TooManyInFlight(_) => WitError::new(ErrorCode::Busy, message),
            HttpFailure::Timeout(_) => WitError::new(ErrorCode::Timeout, message),
            HttpFailure::Dns { .. }
            | HttpFailure::Connect { .. }
            | HttpFailure::Tls { .. }
            | HttpFailure::TooLarge { .. }
            | HttpFailure::Protocol(_) => WitError::new(ErrorCode::OperationFailed, message),
        }
    }
}

/// Coral's own endpoints in `config`, which no plugin may reach: the OneBot listeners (`listen` of `ws-reverse` and
/// `http` entries), the OneBot implementations Coral connects to (`url`, `api_url`, `event_url`: their API is
/// Coral's alone), and the metrics listener when enabled. A listener on port 0 is added once bound.
pub fn coral_endpoints(config: &Config) -> CoralEndpoints {
    let mut own = CoralEndpoints::default();
    for (index, entry) in config.onebot.iter().enumerate() {
        let listens = matches!(entry.transport, Transport::WsReverse | Transport::Http);
        if listens && let Some(listen) = &entry.listen {
            own.extend(CoralEndpoint::listen(
                listen,
                format!("the OneBot listener onebot[{index}].listen"),
            ));
        }
        for (key, url) in [
            ("url", &entry.url),
            ("api_url", &entry.api_url),
            ("event_url", &entry.event_url),
        ] {
            if let Some(url) = url {
                own.extend(CoralEndpoint::url(
                    url,
                    format!("the OneBot implementation at onebot[{index}].{key}"),
                ));
            }
        }
    }
    if config.metrics.enabled {
        own.extend(CoralEndpoint::listen(
            &config.metrics.listen,
            "the metrics listener [metrics].listen",
        ));
    }
    own
}

/// Coral's own endpoints as every plugin's sender sees them, shared by the whole host: set from the config at
/// start, extended with the real address of each listener once bound (for `:0`), and extended again with the
/// endpoints of a reloaded config. Nothing is ever removed: listeners and OneBot connections are only replaced by
/// a restart, so the endpoints of the config the host started with stay in use until then.
#[derive(Debug, Default)]
pub struct OwnEndpoints(RwLock<Arc<CoralEndpoints>>);

impl OwnEndpoints {
    /// The endpoints now.
    pub fn current(&self) -> Arc<CoralEndpoints> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Add endpoints (those already known are kept once).
    pub fn add(&self, more: impl IntoIterator<Item = CoralEndpoint>) {
        let mut guard = self.0.write().unwrap_or_else(|e| e.into_inner());
        let mut next = CoralEndpoints::clone(&guard);
        next.extend(more);
        *guard = Arc::new(next);
    }
}

/// Most bytes of a request body `fetch` accepts from a plugin.
const MAX_REQUEST_BODY: usize = 16 << 20;

fn build_request(request: FetchRequest) -> Result<(Method, Uri, Request<Full<Bytes>>), HttpFailure> {
    let invalid = HttpFailure::Invalid;
    let method = Method::from_bytes(request.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| invalid(format!("{:?} is not an HTTP method", request.method)))?;
    let uri: Uri = request
        .url
        .trim()
        .parse()
        .map_err(|e| invalid(format!("{:?} is not a URL: {e}", request.url)))?;
    let body = request.body.unwrap_or_default();
    if body.len() > MAX_REQUEST_BODY {
        return Err(invalid(format!(
            "the request body is over {} MiB",
            MAX_REQUEST_BODY >> 20
        )));
    }
    let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(format!("bad value for header `{name}`")))?;
        builder = builder.header(name, value);
    }
    let built = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| invalid(e.to_string()))?;
    Ok((method, uri, built))
}

impl PluginState {
    async fn fetch_checked(&mut self, request: FetchRequest) -> Result<FetchResponse, HttpFailure> {
        let (method, uri, request) = match build_request(request) {
            Ok(parts) => parts,
            Err(failure) => {
                // Refused before any check: still one audit entry.
                send::audit_invalid(&self.shared, &failure);
                return Err(failure);
            }
        };
        let admitted = send::admit(&self.shared, method.as_str(), &uri)?;
        // Waiting on the network is not the plugin's time: its wall clock is paused.
        let (head, body) = crate::runtime::wall::on_platform(async {
            let response = admitted.send(request).await?;
            let (head, body) = response.into_parts();
            Ok::<_, HttpFailure>((head, body.collect().await?.to_bytes()))
        })
        .await?;
        let headers = head
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        Ok(FetchResponse {
            status: head.status.as_u16(),
            headers,
            body: body.to_vec(),
        })
    }
}

impl Host for PluginState {
    async fn fetch(&mut self, request: FetchRequest) -> wasmtime::Result<Result<FetchResponse, WitError>> {
        self.count_host_call()?;
        Ok(self.fetch_checked(request).await.map_err(|failure| {
            tracing::debug!(plugin = %self.shared.name, %failure, "http fetch refused or failed");
            failure.wit_error()
        }))
    }
}

/// `coral plugin inspect` lines: whether `http` is in effect, the allowlist and the limits.
pub fn inspect_lines(policy: &Policy) -> Vec<String> {
    let http = Capability::Http;
    let state = match (policy.requested().contains(&http), policy.granted().contains(&http)) {
        (true, true) => "granted",
        (true, false) => "requested, not granted",
        (false, true) => "granted but not requested (no effect)",
        (false, false) => "not requested",
    };
    let rules = policy.http();
    let hosts = if rules.hosts.is_empty() {
        "none".to_string()
    } else {
        rules
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        format!("http:         {state}; allowed hosts: {hosts}"),
        format!("http limits:  {}", rules.limits_text()),
    ]
}

/// Configuration mistakes `coral check` reports about a plugin's HTTP settings.
pub fn problems(name: &str, policy: &Policy) -> Vec<String> {
    let granted = policy.effective().contains(&Capability::Http);
    let listed = !policy.http().hosts.is_empty();
    match (granted, listed) {
        (true, false) => vec![format!(
            "{name}: `http` is granted but `[plugins.{name}] http` lists no hosts: every request will be refused"
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_validate_with_the_key_named() {
        let rules = HttpRules::from_config("f", &["api.example.com".into()], &HttpLimitsConfig::default()).unwrap();
        assert_eq!(rules.max_response_bytes, 1024 * 1024);
        assert_eq!(rules.timeout, Duration::from_secs(10));
        assert_eq!(rules.max_concurrent, 4);
        let err = HttpRules::from_config("f", &["ok.example".into(), "https://x.org".into()], &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plugins.f.http[1]") && err.contains("without scheme"),
            "{err}"
        );
        let limits = HttpLimitsConfig {
            allow_private: vec!["127.0.0.1".into(), "10.0.0.0/33".into()],
            ..Default::default()
        };
        let err = HttpRules::from_config("f", &[], &limits).unwrap_err().to_string();
        assert!(err.contains("plugins.f.http_limits.allow_private[1]"), "{err}");
        let limits = HttpLimitsConfig {
            timeout_ms: Some(0),
            ..Default::default()
        };
        let err = HttpRules::from_config("f", &[], &limits).unwrap_err().to_string();
        assert!(err.contains("plugins.f.http_limits.timeout_ms"), "{err}");
    }

    #[test]
    fn entries_keep_their_ports_and_a_bad_port_names_the_entry() {
        let hosts = ["Example.com", "localhost:8080", "*.example.org:8443", "[::1]:8080"].map(String::from);
        let rules = HttpRules::from_config("f", &hosts, &HttpLimitsConfig::default()).unwrap();
        let ports: Vec<Option<u16>> = rules.hosts.iter().map(|e| e.port).collect();
        assert_eq!(ports, [None, Some(8080), Some(8443), Some(8080)]);
        let shown: Vec<String> = rules.hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, hosts, "shown as written");
        let err = HttpRules::from_config(
            "f",
            &["example.com".into(), "localhost:99999".into()],
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("plugins.f.http[1]") && err.contains("\"localhost:99999\"") && err.contains("port"),
            "{err}"
        );
        let err = Config::parse(
            "[plugins.f]\nhttp = [\"localhost:0\"]\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("plugins.f.http[0]") && err.contains("localhost:0"),
            "{err}"
        );
    }

    #[test]
    fn coral_endpoints_come_from_the_onebot_entries_and_metrics() {
        let config = Config::parse(
            r#"
[[onebot]]
transport = "ws-reverse"
listen = "127.0.0.1:8080"
[[onebot]]
transport = "ws"
api_url = "ws://localhost:3001/api"
event_url = "ws://localhost:3002/event"
[[onebot]]
transport = "http"
url = "http://10.0.0.5:5700"
listen = "0.0.0.0:5701"
access_token = "t"
[[onebot]]
transport = "ws"
url = "wss://impl.example/onebot"
[[onebot]]
transport = "ws-reverse"
listen = "127.0.0.1:0"
[metrics]
enabled = true
listen = "127.0.0.1:9464"
"#,
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let listed: Vec<String> = coral_endpoints(&config)
            .iter()
            .map(|e| format!("{e} {}", e.what))
            .collect();
        assert_eq!(
            listed,
            [
                "127.0.0.1:8080 the OneBot listener onebot[0].listen",
                "localhost:3001 the OneBot implementation at onebot[1].api_url",
                "localhost:3002 the OneBot implementation at onebot[1].event_url",
                "0.0.0.0:5701 the OneBot listener onebot[2].listen",
                "10.0.0.5:5700 the OneBot implementation at onebot[2].url",
                "impl.example:443 the OneBot implementation at onebot[3].url",
                "127.0.0.1:9464 the metrics listener [metrics].listen",
            ]
        );
        let off = Config::parse(
            "[metrics]\nlisten = \"127.0.0.1:9464\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            coral_endpoints(&off).iter().count(),
            0,
            "a disabled metrics listener is not there"
        );
    }

    #[test]
    fn own_endpoints_only_grow_and_snapshots_stay_as_taken() {
        let own = OwnEndpoints::default();
        let before = own.current();
        own.add(CoralEndpoint::listen("127.0.0.1:8080", "a"));
        own.add([
            CoralEndpoint::bound("127.0.0.1:41000".parse().unwrap(), "b"),
            CoralEndpoint::listen("127.0.0.1:8080", "a").unwrap(),
        ]);
        assert_eq!(before.iter().count(), 0);
        let now = own.current();
        assert_eq!(now.iter().count(), 2);
        assert!(now.covering("127.0.0.1:41000".parse().unwrap()).is_some());
    }

    #[test]
    fn the_sample_config_opens_no_path_to_anything_local() {
        let text = include_str!("../../../example-plugins/coral.toml");
        let config = Config::parse(text, std::path::Path::new("example-plugins/coral.toml")).unwrap();
        let mut allowlists = 0;
        for (name, plugin) in &config.plugins {
            let rules = plugin.grants(name).unwrap().http;
            for local in [
                "127.0.0.1",
                "::1",
                "10.0.0.1",
                "172.17.0.1",
                "192.168.1.1",
                "169.254.169.254",
                "0.0.0.0",
            ] {
                let ip: IpAddr = local.parse().unwrap();
                assert!(
                    !rules.allow_private.iter().any(|c| c.contains(ip)),
                    "[plugins.{name}] may reach {local}"
                );
            }
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                assert!(
                    !rules.hosts.iter().any(|e| e.host.matches(host)),
                    "[plugins.{name}] lists {host}"
                );
            }
            allowlists += usize::from(!rules.hosts.is_empty());
        }
        assert!(
            config.plugins["fetch"].http.iter().any(|h| h == "example.com"),
            "the sample still shows an allowlist"
        );
        assert_eq!(allowlists, 1);
    }

    #[test]
    fn fetch_requests_are_validated() {
        let req = |method: &str, url: &str| FetchRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![("accept".into(), "text/plain".into())],
            body: None,
        };
        assert!(build_request(req("get", "https://api.example.com/x?y=1")).is_ok());
        assert!(matches!(
            build_request(req("GE T", "https://a.example")),
            Err(HttpFailure::Invalid(_))
        ));
        assert!(matches!(
            build_request(req("GET", "not a url")),
            Err(HttpFailure::Invalid(_))
        ));
        let mut bad_header = req("GET", "https://a.example");
        bad_header.headers.push(("bad header".into(), "x".into()));
        assert!(matches!(build_request(bad_header), Err(HttpFailure::Invalid(_))));
        assert_eq!(
            HttpFailure::Invalid("x".into()).wit_error().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(HttpFailure::HostNotListed("x".into()).wit_error().retcode, 102);
        let port = HttpFailure::PortNotListed {
            host: "example.com".into(),
            port: 8443,
        };
        assert_eq!(port.wit_error().code, ErrorCode::PermissionDenied);
        assert!(
            port.to_string().contains("port 8443 of `example.com` is not in"),
            "{port}"
        );
        let own = HttpFailure::CoralEndpoint {
            host: "localhost".into(),
            addr: "127.0.0.1:6700".parse().unwrap(),
            what: "the OneBot listener onebot[0].listen".into(),
        };
        assert_eq!(own.wit_error().code, ErrorCode::PermissionDenied);
        assert!(
            own.to_string().contains("Coral's own endpoint (the OneBot listener"),
            "{own}"
        );
        assert_eq!(
            HttpFailure::TooLarge {
                limit: 1,
                declared: None
            }
            .wit_error()
            .code,
            ErrorCode::OperationFailed
        );
    }
}
