//! Coral's one outgoing-HTTP sender, shared by `wasi:http` and `coral:bot/http`: grant and allowlist check (host
//! and port), a single DNS resolution whose every address must be public (or allowed) and none of Coral's own
//! endpoints, a connection to one of those checked addresses, TLS verified against the host name, and a response
//! body bounded in size and (with the whole request) in time. Every request, sent or refused, is one audit entry.

use super::HttpFailure;
use crate::state::PluginShared;
use bytes::Bytes;
use coral_ops::audit::{Entry, Outcome};
use coral_policy::Capability;
use coral_policy::http::rules::{self, non_public_class};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderValue};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A request that passed the synchronous checks (grant, scheme, allowlist, requests in flight) and holds one of
/// the plugin's in-flight slots until its response body is finished or dropped.
pub struct Admitted {
    shared: Arc<PluginShared>,
    rules: Arc<coral_policy::http::HttpRules>,
    slot: InFlight,
    host: String,
    port: u16,
    tls: bool,
    method: String,
    url: String,
    deadline: Instant,
}

/// One of a plugin's `max_concurrent` request slots.
struct InFlight(Arc<PluginShared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.http_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Check that `shared`'s plugin may send `method` to `uri` now: `http` requested, granted and within its rate;
/// `http`/`https` with a host and port on its allowlist; a free in-flight slot. A refusal is audited here.
pub fn admit(shared: &Arc<PluginShared>, method: &str, uri: &Uri) -> Result<Admitted, HttpFailure> {
    let policy = shared.policy();
    let url = uri.to_string();
    let host = uri.host().map(rules::normalize_host).unwrap_or_default();
    let refuse = |failure: HttpFailure| {
        audit(shared, method, &host, &url, &Err(&failure));
        Err(failure)
    };
    if let Err(refusal) = policy.check_service(&Capability::Http) {
        return refuse(HttpFailure::Policy(refusal));
    }
    let tls = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") => false,
        Some(other) => return refuse(HttpFailure::Invalid(format!("scheme `{other}` is not http or https"))),
        None => return refuse(HttpFailure::Invalid(format!("{url:?} is not an absolute http(s) URL"))),
    };
    if host.is_empty() {
        return refuse(HttpFailure::Invalid(format!("{url:?} has no host")));
    }
    let rules = policy.http().clone();
    let port = uri.port_u16().unwrap_or(rules::default_port(tls));
    let mut listed = rules.hosts.iter().filter(|e| e.host.matches(&host)).peekable();
    if listed.peek().is_none() {
        return refuse(HttpFailure::HostNotListed(host.clone()));
    }
    if !listed.any(|e| e.admits_port(port, tls)) {
        return refuse(HttpFailure::PortNotListed {
            host: host.clone(),
            port,
        });
    }
    let in_flight = shared.http_in_flight.fetch_add(1, Ordering::AcqRel);
    let slot = InFlight(shared.clone());
    if in_flight >= rules.max_concurrent {
        drop(slot);
        return refuse(HttpFailure::TooManyInFlight(rules.max_concurrent));
    }
    Ok(Admitted {
        shared: shared.clone(),
        deadline: Instant::now() + rules.timeout,
        rules,
        slot,
        host,
        port,
        tls,
        method: method.to_string(),
        url,
    })
}

impl Admitted {
    /// The time limit of the whole request (`http_limits.timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.rules.timeout
    }

    /// The response size limit in bytes.
    pub fn max_response_bytes(&self) -> u64 {
        self.rules.max_response_bytes
    }

    /// Resolve, check the addresses, connect, and send; returns the response head with a bounded body. The
    /// outcome is audited. `request`'s URI is replaced by its origin form and its `Host` header by the checked host.
    pub async fn send<B>(self, mut request: Request<B>) -> Result<Response<LimitedBody>, HttpFailure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<Uri>()
            .map_err(|e| HttpFailure::Invalid(e.to_string()));
        // The request is in the audit log before anything leaves; its outcome completes the entry.
        let pending = self
            .shared
            .audit
            .as_ref()
            .map(|log| log.begin(entry(&self.shared, &self.host, format!("{} {}", self.method, self.url))));
        let result = match path {
            Ok(path) => {
                *request.uri_mut() = path;
                let authority = match (self.tls, self.port) {
                    (true, 443) | (false, 80) => self.host_for_header(),
                    _ => format!("{}:{}", self.host_for_header(), self.port),
                };
                match HeaderValue::from_str(&authority) {
                    Ok(value) => {
                        request.headers_mut().insert(HOST, value);
                        let timeout = self.rules.timeout;
                        match tokio::time::timeout_at(self.deadline, self.exchange(request)).await {
                            Ok(result) => result,
                            Err(_) => Err(HttpFailure::Timeout(timeout)),
                        }
                    }
                    Err(e) => Err(HttpFailure::Invalid(e.to_string())),
                }
            }
            Err(e) => Err(e),
        };
        let result = result.and_then(|response| self.bound(response));
        if let Some(pending) = pending {
            let (outcome, retcode, detail) = outcome(&self.method, &self.url, &result.as_ref().map(Response::status));
            // A request that timed out may have reached the server.
            let outcome = if outcome == Outcome::Timeout {
                Outcome::Unknown
            } else {
                outcome
            };
            pending.finish(outcome, retcode, &coral_model::text::sanitize(&detail));
        }
        let (head, body) = result?.into_parts();
        Ok(Response::from_parts(
            head,
            LimitedBody {
                inner: body,
                seen: 0,
                limit: self.rules.max_response_bytes,
                timeout: self.rules.timeout,
                deadline: Box::pin(tokio::time::sleep_until(self.deadline)),
                slot: Some(self.slot),
            },
        ))
    }

    fn host_for_header(&self) -> String {
        match rules::parse_ip_literal(&self.host) {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        }
    }

    /// Refuse a response whose declared length is over the limit before reading any of it.
    fn bound(&self, response: Response<hyper::body::Incoming>) -> Result<Response<hyper::body::Incoming>, HttpFailure> {
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match declared {
            Some(len) if len > self.rules.max_response_bytes => Err(HttpFailure::TooLarge {
                limit: self.rules.max_response_bytes,
                declared: Some(len),
            }),
            _ => Ok(response),
        }
    }

    async fn exchange<B>(&self, request: Request<B>) -> Result<Response<hyper::body::Incoming>, HttpFailure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let addrs = self.resolve().await?;
        let tcp = connect(&addrs).await?;
        if self.tls {
            let bare = self.host.trim_start_matches('[').trim_end_matches(']').to_string();
            let name = rustls::pki_types::ServerName::try_from(bare)
                .map_err(|e| HttpFailure::Invalid(format!("`{}` is not a TLS server name: {e}", self.host)))?;
            let stream = tls_connector().connect(name, tcp).await.map_err(|e| HttpFailure::Tls {
                host: self.host.clone(),
                reason: e.to_string(),
            })?;
            round_trip(TokioIo::new(stream), request).await
        } else {
            round_trip(TokioIo::new(tcp), request).await
        }
    }

    /// Resolve the host once; every address must be public or inside `allow_private`, and none of Coral's own
    /// endpoints.
    async fn resolve(&self) -> Result<Vec<SocketAddr>, HttpFailure> {
        let addrs: Vec<SocketAddr> = match rules::parse_ip_literal(&self.host) {
            Some(ip) => vec![SocketAddr::new(ip, self.port)],
            None => tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| HttpFailure::Dns {
                    host: self.host.clone(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(HttpFailure::Dns {
                host: self.host.clone(),
                reason: "no addresses".into(),
            });
        }
        for addr in &addrs {
            let ip = rules::canonical(addr.ip());
            if let Some(class) = non_public_class(ip)
                && !self.rules.allow_private.iter().any(|c| c.contains(ip))
            {
                return Err(HttpFailure::Prohibited {
                    host: self.host.clone(),
                    addr: ip,
                    class,
                });
            }
        }
        self.refuse_own_endpoints(&addrs).await?;
        Ok(addrs)
    }

    /// Refuse the request if any of its checked addresses is one of Coral's own endpoints. An endpoint written
    /// as a name (other than `localhost`) on the request's port is resolved now and compared; if it cannot be
    /// resolved, the request is refused rather than risk reaching it.
    async fn refuse_own_endpoints(&self, addrs: &[SocketAddr]) -> Result<(), HttpFailure> {
        let own = self.shared.own_endpoints.current();
        let refuse = |addr: SocketAddr, what: &str| HttpFailure::CoralEndpoint {
            host: self.host.clone(),
            addr: SocketAddr::new(rules::canonical(addr.ip()), addr.port()),
            what: what.to_string(),
        };
        for addr in addrs {
            if let Some(endpoint) = own.covering(*addr) {
                return Err(refuse(*addr, &endpoint.what));
            }
        }
        for endpoint in own.iter() {
            let Some(name) = endpoint.name_to_resolve(self.port) else {
                continue;
            };
            if name == self.host {
                return Err(refuse(addrs[0], &endpoint.what));
            }
            match tokio::net::lookup_host((name, self.port)).await {
                Ok(theirs) => {
                    let theirs: Vec<IpAddr> = theirs.map(|a| rules::canonical(a.ip())).collect();
                    if let Some(addr) = addrs.iter().find(|a| theirs.contains(&rules::canonical(a.ip()))) {
                        return Err(refuse(*addr, &endpoint.what));
                    }
                }
                Err(e) => {
                    let what = format!(
                        "{}, whose name `{name}` did not resolve ({e}) to rule it out",
                        endpoint.what
                    );
                    return Err(refuse(addrs[0], &what));
                }
            }
        }
        Ok(())
    }
}

/// Connect to the first checked address that answers (no second lookup).
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, HttpFailure> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some((*addr, e)),
        }
    }
    let (addr, e) = last.expect("at least one address");
    Err(HttpFailure::Connect {
        addr,
        reason: e.to_string(),
    })
}

/// HTTP/1.1 over an established stream; the connection is driven by a task that ends with the exchange.
async fn round_trip<S, B>(io: TokioIo<S>, request: Request<B>) -> Result<Response<hyper::body::Incoming>, HttpFailure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpFailure::Protocol(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("outgoing HTTP connection ended: {e}");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| HttpFailure::Protocol(e.to_string()))
}

/// The TLS client: rustls with the webpki root certificates, verifying the server's name; HTTP/1.1 only.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

/// A response body that fails once more than `limit` bytes arrive or the request's deadline passes, and frees
/// the plugin's in-flight slot when finished or dropped.
pub struct LimitedBody {
    inner: hyper::body::Incoming,
    seen: u64,
    limit: u64,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Held until the body is finished, failed or dropped; `None` once it is.
    slot: Option<InFlight>,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = HttpFailure;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpFailure>>> {
        let this = self.get_mut();
        if this.slot.is_none() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.slot = None;
            return Poll::Ready(Some(Err(HttpFailure::Timeout(this.timeout))));
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.slot = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.slot = None;
                Poll::Ready(Some(Err(HttpFailure::Protocol(e.to_string()))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        this.slot = None;
                        let limit = this.limit;
                        return Poll::Ready(Some(Err(HttpFailure::TooLarge { limit, declared: None })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.slot.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The audit outcome, retcode and detail of one request.
fn outcome(method: &str, url: &str, outcome: &Result<hyper::StatusCode, &HttpFailure>) -> (Outcome, i32, String) {
    match outcome {
        Ok(status) => (Outcome::Ok, 0, format!("{method} {url} → {}", status.as_u16())),
        Err(failure) => {
            let error = failure.wit_error();
            let outcome = match error.code {
                coral_model::bindings::ErrorCode::PermissionDenied => Outcome::Denied,
                coral_model::bindings::ErrorCode::RateLimited => Outcome::RateLimited,
                coral_model::bindings::ErrorCode::Timeout => Outcome::Timeout,
                _ => Outcome::Failed,
            };
            (outcome, error.retcode, format!("{method} {url}: {failure}"))
        }
    }
}

/// An `http` audit entry for `host` (outcome to be filled in).
fn entry(shared: &PluginShared, host: &str, detail: String) -> Entry {
    let target = if host.is_empty() { "-" } else { host };
    let entry = Entry::new(&shared.name, &shared.hash, "-", "http", "http", target);
    entry.outcome(Outcome::Pending, 0, coral_model::text::sanitize(&detail))
}

/// Append the audit entry of a request refused before anything was sent: action `http`, target the host, detail
/// method and URL and why.
fn audit(shared: &PluginShared, method: &str, host: &str, url: &str, result: &Result<hyper::StatusCode, &HttpFailure>) {
    let Some(log) = &shared.audit else { return };
    let (outcome, retcode, detail) = outcome(method, url, result);
    log.append(&entry(shared, host, String::new()).outcome(outcome, retcode, coral_model::text::sanitize(&detail)));
}

/// Audit a request refused before it had a usable URL (bad method, URL or header).
pub fn audit_invalid(shared: &PluginShared, failure: &HttpFailure) {
    audit(shared, "-", "", "-", &Err(failure));
}
