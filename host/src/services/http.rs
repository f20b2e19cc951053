//! Outgoing HTTP for plugins granted `http`, to the hosts listed under `[plugins.<name>] http`, through two doors:
//! `wasi:http` (Rust plugins, via the `wasip2` crate) and `coral:bot/http` (`fetch`, for every language). Both
//! use one checked sender ([`send`]): grant → allowlist → one DNS lookup whose every address must be public (or in
//! `http_limits.allow_private`) → connect to a checked address → TLS verified against the name → response bounded
//! in size and, with the whole request, in time; at most `max_concurrent` requests in flight per plugin. Neither
//! door follows redirects, so every hop a plugin follows is checked again. Each request is one audit entry.

pub mod rules;
pub mod send;
mod wasi;

pub use wasi::CoralHttpHooks;

use crate::config::ConfigError;
use crate::policy::{Capability, Policy, PolicyError};
use crate::runtime::bindings::coral::bot::http::{Host, Request as FetchRequest, Response as FetchResponse};
use crate::runtime::bindings::{ErrorCode, WitError};
use crate::runtime::state::PluginState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use rules::{Cidr, HostPattern};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
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
    /// Hosts it may reach.
    pub hosts: Vec<HostPattern>,
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
            .map(|(i, text)| HostPattern::parse(text).map_err(|r| invalid(format!("plugins.{name}.http[{i}]"), r)))
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
            HttpFailure::HostNotListed(_) | HttpFailure::Prohibited { .. } => {
                WitError::new(ErrorCode::PermissionDenied, message)
            }
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
        let response = admitted.send(request).await?;
        let (head, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
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
