//! HTTP transports: the API client (`POST <url>/<action>` with a JSON body, Bearer token) and the event receiver
//! (the implementation POSTs events to Coral; the access token and `X-Signature`, when configured, are both
//! checked before the body is parsed, and every refused POST is logged, rate-limited). An entry runs until its
//! [`Stop`] fires: then its listener is closed, its connections too, and its bots lose the HTTP API channel.

use super::auth::{Refusal, Refusals, check_signature, check_token};
use super::bot::Api;
use super::config::OneBotConfig;
use super::entries::Stop;
use super::inbound::Inbound;
use super::link::envelope;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use coral_model::ApiError;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest API response read, in bytes.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Calls actions over HTTP.
pub struct HttpApi {
    base: String,
    token: Option<String>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Messages go one at a time, in the order they were made (each is a request of its own, which could
    /// otherwise overtake an earlier one): a fair (FIFO) lock, taken before the send governor and held until the
    /// answer.
    sends: tokio::sync::Mutex<()>,
}

impl HttpApi {
    /// An API client for the implementation at `base` (`http://host:port`).
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Self {
        HttpApi {
            base: base.trim_end_matches('/').to_string(),
            token,
            timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
            sends: tokio::sync::Mutex::new(()),
        }
    }

    /// Wait for this connection's turn to send a message (see `sends`); hold the guard until the answer.
    pub async fn send_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sends.lock().await
    }

    /// `POST <base>/<action>`; HTTP errors become retcode 1000 + status, as over WebSocket.
    pub async fn call(&self, action: &str, params: &impl serde::Serialize) -> Result<Value, ApiError> {
        let bad = |reason: String| ApiError::BadResponse {
            action: action.into(),
            reason,
        };
        let mut request =
            hyper::Request::post(format!("{}/{action}", self.base)).header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(serde_json::to_vec(params).unwrap_or_default())))
            .map_err(|e| bad(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| ApiError::BotUnavailable(format!("{} ({e})", self.base)))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| bad(format!("reading the body: {e}")))?
                .to_bytes();
            Ok::<_, ApiError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ApiError::Timeout {
                action: action.into(),
                ms: self.timeout.as_millis() as u64,
            })??;
        if !status.is_success() {
            return Err(ApiError::Failed {
                action: action.into(),
                retcode: 1000 + i32::from(status.as_u16()),
                message: format!("HTTP {status}"),
            });
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
        envelope(action, &value)
    }
}

/// Run an `http` entry until `stop` fires: register its API (learning the bot id if the config does not say), and
/// serve event POSTs on `listener` when one is given. When stopped, the listener is closed, the open connections
/// are closed once their request is answered, and the bots lose this API channel.
pub async fn run(config: OneBotConfig, listener: Option<TcpListener>, inbound: Inbound, stop: Stop) {
    let inbound = Arc::new(inbound);
    let api = config
        .url
        .as_ref()
        .map(|url| Arc::new(HttpApi::new(url, config.access_token.clone(), config.timeout())));
    let register = async {
        let Some(api) = &api else {
            return;
        };
        let self_id = match &config.self_id {
            Some(id) => id.clone(),
            None => learn_self_id(api).await,
        };
        inbound
            .bot(&self_id)
            .set_api(Api::Http(api.clone()), inbound.governor.clone());
        tracing::info!(transport = %inbound.label, self_id, "onebot http bot ready");
    };
    let register = async {
        tokio::select! {
            () = register => {}
            () = stop.stopped() => {}
        }
    };
    let receive = async {
        match listener {
            Some(listener) => receive_events(&config, listener, &inbound, api.clone(), &stop).await,
            None => stop.stopped().await,
        }
    };
    tokio::join!(register, receive);
    if let Some(api) = api {
        inbound.registry.drop_api(&Api::Http(api));
    }
    tracing::info!(transport = %inbound.label, "onebot http entry stopped");
}

/// Serve event POSTs on `listener` until `stop` fires.
async fn receive_events(
    config: &OneBotConfig,
    listener: TcpListener,
    inbound: &Arc<Inbound>,
    api: Option<Arc<HttpApi>>,
    stop: &Stop,
) {
    let quick_timeout = Duration::from_millis(config.quick_timeout_ms.unwrap_or(DEFAULT_QUICK_TIMEOUT_MS));
    let listen = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!(transport = %inbound.label, "onebot http event receiver has no address: {e}");
            return;
        }
    };
    let state = Arc::new(Receiver {
        refusals: Refusals::new(inbound.label.clone(), listen),
        token: config.access_token.clone(),
        secret: config.secret.clone(),
        path: config.path.clone(),
        inbound: inbound.clone(),
        api,
        quick_timeout,
        stop: stop.clone(),
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(state)
        .into_make_service_with_connect_info::<SocketAddr>();
    // On stop the listener is dropped at once; idle connections are closed, busy ones once answered (a held quick
    // operation is answered at once, see `quick`).
    let stop = stop.clone();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move { stop.stopped().await });
    match serving.await {
        Ok(()) => tracing::info!(transport = %inbound.label, %listen, "onebot http event receiver stopped"),
        Err(e) => tracing::error!(transport = %inbound.label, "onebot http event receiver stopped: {e}"),
    }
}

/// Ask the implementation who it is, retrying with backoff until it answers.
async fn learn_self_id(api: &HttpApi) -> String {
    let mut delay = Duration::from_millis(500);
    loop {
        match api.call("get_login_info", &serde_json::json!({})).await {
            Ok(data) => {
                let id = coral_model::wire::json::id(&data, "user_id");
                if !id.is_empty() {
                    return id;
                }
                tracing::warn!("get_login_info answered without user_id; retrying");
            }
            Err(e) => tracing::warn!(
                "onebot http: get_login_info failed: {e}; retrying in {} ms",
                delay.as_millis()
            ),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

struct Receiver {
    /// Logs refused POSTs.
    refusals: Refusals,
    /// Required on every POST (`Authorization: Bearer`, or `?access_token=`) when set.
    token: Option<String>,
    /// Signs every POST's body (`X-Signature`) when set.
    secret: Option<String>,
    path: Option<String>,
    inbound: Arc<Inbound>,
    api: Option<Arc<HttpApi>>,
    /// Without an API: how long an event POST is held open for plugins to answer with a quick operation.
    quick_timeout: Duration,
    /// The entry's stop signal.
    stop: Stop,
}

/// Default for `quick_timeout_ms`.
pub const DEFAULT_QUICK_TIMEOUT_MS: u64 = 3000;

async fn receive(
    State(state): State<Arc<Receiver>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.stop.is_stopped() {
        return (StatusCode::SERVICE_UNAVAILABLE, "this OneBot entry is stopping").into_response();
    }
    if let Err(refusal) = admit(&state, &uri, &headers, &body) {
        state.refusals.refused(peer, refusal);
        return (refusal.status(), refusal.to_string()).into_response();
    }
    let text = String::from_utf8_lossy(&body);
    if state.api.is_none() {
        return quick(&state, &text).await;
    }
    match state.inbound.frame(&text, None) {
        Some(self_id) => {
            // A bot first seen through its events still answers through the API client.
            if let Some(api) = &state.api {
                let bot = state.inbound.bot(&self_id);
                if !bot.api_up() {
                    bot.set_api(Api::Http(api.clone()), state.inbound.governor.clone());
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, "not a OneBot event").into_response(),
    }
}

/// Whether an event POST may go on: the path, then the access token, then the signature (each when configured).
fn admit(state: &Receiver, uri: &axum::http::Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    if let Some(path) = &state.path
        && uri.path() != path
    {
        return Err(Refusal::UnknownPath);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if state.token.is_some() {
        // An unparsable query carries no token.
        let query = Query::<HashMap<String, String>>::try_from_uri(uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        check_token(
            state.token.as_deref(),
            header("authorization"),
            query.get("access_token").map(String::as_str),
        )
        .map_err(Refusal::token)?;
    }
    if let Some(secret) = &state.secret {
        check_signature(secret, header("x-signature"), body).map_err(Refusal::signature)?;
    }
    Ok(())
}

/// A POST-only connection (no API URL): hold the response open while the plugins handle the event, and answer
/// with what they asked for about it as a quick operation (204 if nothing).
async fn quick(state: &Receiver, text: &str) -> Response {
    let value: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let _ = state.inbound.frame(text, None); // counts and logs it
            return (StatusCode::BAD_REQUEST, "not a OneBot event").into_response();
        }
    };
    let Some(decoded) = state.inbound.decode(&value) else {
        return (StatusCode::BAD_REQUEST, "not a OneBot event").into_response();
    };
    if decoded.duplicate {
        // Already answered (or being answered) through its first delivery.
        return StatusCode::NO_CONTENT.into_response();
    }
    let event = decoded.event;
    let bot = state.inbound.bot(&event.self_id);
    let slot = bot.open_quick(&value);
    let mut finished = state.inbound.dispatcher.dispatch_tracked(event);
    // `recv` returns once every plugin the event reached has finished with it (or the entry stops: answered with
    // what there is so far).
    tokio::select! {
        _ = tokio::time::timeout(state.quick_timeout, finished.recv()) => {}
        () = state.stop.stopped() => {}
    }
    let op = bot.close_quick(slot);
    if op.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        axum::Json(Value::Object(op)).into_response()
    }
}
