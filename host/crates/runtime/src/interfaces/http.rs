//! Outgoing HTTP for plugins granted `http`, to the hosts and ports listed under `[plugins.<name>] http`, through
//! two doors: `wasi:http` (Rust plugins, via the `wasip2` crate) and `coral:bot/http` (`fetch`, for every
//! language). Both use one checked sender ([`send`]): grant → allowlist (host and port) → one DNS lookup whose
//! every address must be public (or in `http_limits.allow_private`) and none of Coral's own endpoints
//! ([`coral_policy::http::OwnEndpoints`]) → connect to a checked address → TLS verified against the name → response
//! bounded in size and, with the whole request, in time; at most `max_concurrent` requests in flight per plugin.
//! Neither door follows redirects, so every hop a plugin follows is checked again. Each request is one audit entry.

pub mod send;
mod wasi;

pub use wasi::CoralHttpHooks;

use crate::state::PluginState;
use bytes::Bytes;
use coral_model::HostError;
use coral_model::bindings::coral::bot::http::{Host, Request as FetchRequest, Response as FetchResponse};
use coral_model::bindings::{ErrorCode, WitError};
use coral_policy::PolicyError;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
        let (head, body) = crate::wall::on_platform(async {
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
    async fn fetch(&mut self, request: FetchRequest) -> Result<FetchResponse, HostError> {
        self.count_host_call()?;
        self.fetch_checked(request).await.map_err(|failure| {
            tracing::debug!(plugin = %self.shared.name, %failure, "http fetch refused or failed");
            failure.wit_error().into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
