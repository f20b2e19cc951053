//! `wasi:http` for plugins: Coral's [`WasiHttpHooks`] replaces the default sender (the crate is built without it)
//! with the checked one in [`super::send`], so a plugin's `outgoing-handler.handle` gets a `wasi:http` error code
//! — never a trap — unless it is granted `http` and the host and port are on its allowlist, and its response is bounded
//! like any other.

use super::HttpFailure;
use super::send;
use crate::state::PluginShared;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

impl HttpFailure {
    /// The `wasi:http` error a plugin sees.
    pub fn wasi_error(&self) -> Error {
        match self {
            HttpFailure::Policy(_) | HttpFailure::HostNotListed(_) | HttpFailure::PortNotListed { .. } => {
                Error::HttpRequestDenied
            }
            HttpFailure::Prohibited { .. } | HttpFailure::CoralEndpoint { .. } => Error::DestinationIpProhibited,
            HttpFailure::Invalid(_) => Error::HttpRequestUriInvalid,
            HttpFailure::TooManyInFlight(_) => Error::ConnectionLimitReached,
            HttpFailure::Dns { reason, .. } => Error::DnsError {
                rcode: Some(reason.clone()),
                info_code: None,
            },
            HttpFailure::Connect { .. } => Error::ConnectionRefused,
            HttpFailure::Tls { .. } => Error::TlsProtocolError,
            HttpFailure::TooLarge { declared, .. } => Error::HttpResponseBodySize(*declared),
            HttpFailure::Timeout(_) => Error::HttpResponseTimeout,
            HttpFailure::Protocol(_) => Error::HttpProtocolError,
        }
    }
}

/// The response future `send_request` returns: the response, and a future for the connection's own errors.
type Sent = Box<dyn Future<Output = Result<(hyper::Response<WasiBody>, IoFuture), Error>> + Send>;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The per-instance `wasi:http` hooks: the plugin's shared state, and the host-call budget of the current event
/// (each request counts as one host call, like a bot call).
pub struct CoralHttpHooks {
    shared: Arc<PluginShared>,
    /// Requests the current event may still make.
    pub(crate) budget_left: u32,
    /// Requests made since the budget was last folded into the store's host-call count.
    pub(crate) sent: u32,
}

impl CoralHttpHooks {
    /// Hooks for one instance of `shared`'s plugin.
    pub fn new(shared: Arc<PluginShared>) -> Self {
        let budget_left = shared.max_host_calls;
        CoralHttpHooks {
            shared,
            budget_left,
            sent: 0,
        }
    }
}

impl WasiHttpHooks for CoralHttpHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Sent {
        if self.budget_left == 0 {
            // The next bot or log call traps on the exceeded budget; requests are refused without an audit entry
            // each, so a loop cannot flood the audit log.
            tracing::warn!(plugin = %self.shared.name, "HTTP request refused: over {} host calls in one event",
                self.shared.max_host_calls);
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        self.budget_left -= 1;
        self.sent += 1;
        let method = request.method().to_string();
        let admitted = send::admit(&self.shared, &method, request.uri());
        // Until the response head arrives the plugin waits on the network, not on itself: its wall clock is paused.
        let paused = crate::wall::current();
        Box::new(async move {
            let _paused = paused;
            let admitted = admitted.map_err(|f| f.wasi_error())?;
            let response = admitted.send(request).await.map_err(|f| f.wasi_error())?;
            let response = response.map(|body| body.map_err(|f| f.wasi_error()).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
