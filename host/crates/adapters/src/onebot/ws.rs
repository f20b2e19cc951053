//! WebSocket transports: the forward client (Coral connects to the implementation, universal or split
//! `/api` + `/event`, reconnecting with backoff; a split entry's bots answer through its `/api` connection as soon as
//! an event names them) and the reverse server (the implementation connects to Coral,
//! universal or split API/Event clients keyed by `X-Self-ID`, token checked before the upgrade, every refused
//! handshake logged, rate-limited). Both run until their entry's [`Stop`] fires: then every connection is closed
//! (a Close frame, bounded by [`CLOSE_WAIT`]), the listener too, and the bots lose the API channels they had here.

use super::auth::{Refusal, Refusals, check_token};
use super::bot::{Api, SPLIT_API_WAIT, SplitApi};
use super::config::OneBotConfig;
use super::entries::Stop;
use super::inbound::Inbound;
use super::link::{OUTBOX_LEN, WsLink};
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// First reconnect delay (before jitter).
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Shortest reconnect delay.
const BACKOFF_FLOOR: Duration = Duration::from_millis(50);
/// Longest wait for a closing connection's Close frame to be written.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Why a connection closes when its entry stops.
const ENTRY_STOPPED: &str = "the entry stopped (removed or changed by a config reload, or shut down)";

/// Reconnect delays of one connection: exponential with full jitter while connecting keeps failing, back to the
/// first delay (under 1 s) once a connection was established (handshake done and a frame or the login answer
/// received), however briefly it lasted.
#[derive(Debug, Default)]
struct Backoff {
    /// Failed attempts since the last established connection.
    attempt: u32,
}

impl Backoff {
    /// The ceiling of the next delay after a connection that was (or was not) established.
    fn ceiling(&mut self, established: bool) -> Duration {
        if established {
            self.attempt = 0;
        }
        let ceiling = BACKOFF_BASE.saturating_mul(1 << self.attempt.min(6)).min(BACKOFF_CAP);
        self.attempt = self.attempt.saturating_add(1);
        ceiling
    }

    /// The next delay: uniform in [floor, ceiling].
    fn next(&mut self, established: bool) -> Duration {
        self.ceiling(established).mul_f64(fastrand::f64()).max(BACKOFF_FLOOR)
    }
}

/// One incoming WebSocket frame, whatever the library.
enum Frame {
    Text(Text),
    Binary,
    Control,
    Close,
}

/// A text frame's payload where the WebSocket library put it (not copied).
enum Text {
    Client(tokio_tungstenite::tungstenite::Utf8Bytes),
    Server(axum::extract::ws::Utf8Bytes),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Client(text) => text.as_str(),
            Text::Server(text) => text.as_str(),
        }
    }
}

fn from_tungstenite(m: Result<TMessage, tokio_tungstenite::tungstenite::Error>) -> Frame {
    match m {
        Ok(TMessage::Text(t)) => Frame::Text(Text::Client(t)),
        Ok(TMessage::Binary(_)) => Frame::Binary,
        Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_)) => Frame::Control,
        Ok(TMessage::Close(_)) | Err(_) => Frame::Close,
    }
}

fn from_axum(m: Result<AxMessage, axum::Error>) -> Frame {
    match m {
        Ok(AxMessage::Text(t)) => Frame::Text(Text::Server(t)),
        Ok(AxMessage::Binary(_)) => Frame::Binary,
        Ok(AxMessage::Ping(_) | AxMessage::Pong(_)) => Frame::Control,
        Ok(AxMessage::Close(_)) | Err(_) => Frame::Close,
    }
}

/// Pump one socket until it closes (or `stop` completes, with why): frames from `outbox` are written; text frames
/// read are handed to `inbound` (responses to `link`, whose overdue posted calls are failed here too). `on_self_id`
/// sees the `self_id` of each event. The socket is closed on the way out (at most [`CLOSE_WAIT`] for the Close frame).
async fn pump<S, R>(
    mut sink: S,
    mut stream: R,
    mut outbox: mpsc::Receiver<String>,
    inbound: &Inbound,
    link: Option<&WsLink>,
    stop: impl Future<Output = &'static str>,
    mut on_self_id: impl FnMut(&str),
) where
    S: Sink<String> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    tokio::pin!(stop);
    // Posted calls whose answer is overdue are failed from here, where answers are read.
    let mut sweep = tokio::time::interval(link.map_or(Duration::from_secs(3600), WsLink::sweep_period));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sweep.tick(), if link.is_some() => {
                if let Some(link) = link {
                    link.expire();
                }
            }
            frame = outbox.recv() => match frame {
                Some(frame) => {
                    // Write everything already queued, then flush once: one syscall for a burst of frames.
                    let mut ok = sink.feed(frame).await.is_ok();
                    while ok && let Ok(more) = outbox.try_recv() {
                        ok = sink.feed(more).await.is_ok();
                    }
                    if !ok || sink.flush().await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            frame = stream.next() => match frame {
                Some(Frame::Text(text)) => {
                    if let Some(self_id) = inbound.frame(text.as_str(), link) {
                        on_self_id(&self_id);
                    }
                }
                Some(Frame::Binary) => {
                    let _ = inbound.frame("<binary frame>", link);
                }
                Some(Frame::Control) => {}
                Some(Frame::Close) | None => break,
            },
            why = &mut stop => {
                tracing::info!(transport = %inbound.label, "{why}: closing the connection");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
}

// ---- forward client ----------------------------------------------------------------------------------------------

/// Run a forward-WebSocket entry until `stop` fires: connect, serve, reconnect with backoff. A split entry
/// (`api_url` + `event_url`) routes its bots' calls to its `/api` connection of the moment ([`SplitApi`]). When
/// stopped, its connections are closed and its bots lose the API channels they had here.
pub async fn run_forward(config: OneBotConfig, inbound: Inbound, stop: Stop) {
    let inbound = Arc::new(inbound);
    match (&config.url, &config.api_url, &config.event_url) {
        (_, Some(api), Some(event)) => {
            let split = SplitApi::new(config.timeout().min(SPLIT_API_WAIT), inbound.governor.clone());
            if let Some(id) = &config.self_id {
                split.bind(&inbound.bot(id));
            }
            // Both sides in this one task: they end together, when the entry stops.
            tokio::join!(
                reconnecting(&config, api, Role::Api, &inbound, Some(&split), &stop),
                reconnecting(&config, event, Role::Event, &inbound, Some(&split), &stop),
            );
            inbound.registry.drop_api(&Api::Split(split));
        }
        (Some(url), _, _) => reconnecting(&config, url, Role::Universal, &inbound, None, &stop).await,
        _ => tracing::error!("onebot ws entry without url; validated earlier, so this is a bug"),
    }
}

/// What a connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Events and API calls.
    Universal,
    /// API calls only.
    Api,
    /// Events only.
    Event,
}

impl Role {
    fn carries_api(self) -> bool {
        self != Role::Event
    }
}

/// Connect to `url` again and again (with backoff) until `stop` fires.
async fn reconnecting(
    config: &OneBotConfig,
    url: &str,
    role: Role,
    inbound: &Arc<Inbound>,
    split: Option<&Arc<SplitApi>>,
    stop: &Stop,
) {
    let mut backoff = Backoff::default();
    while !stop.is_stopped() {
        let established = Arc::new(AtomicBool::new(false));
        let outcome = connect_once(config, url, role, inbound, split, &established, stop).await;
        if stop.is_stopped() {
            break;
        }
        match outcome {
            Ok(()) => tracing::warn!(transport = %inbound.label, url, "onebot connection closed"),
            Err(e) => tracing::warn!(transport = %inbound.label, url, "onebot connection failed: {e}"),
        }
        // Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)], from the start again
        // after a connection that was established.
        let delay = backoff.next(established.load(Ordering::Relaxed));
        tracing::info!(transport = %inbound.label, url, "reconnecting in {} ms", delay.as_millis());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.stopped() => break,
        }
    }
    tracing::info!(transport = %inbound.label, url, ?role, "onebot client stopped");
}

/// One connection to `url`, served until it closes or `stop` fires (then it is closed).
async fn connect_once(
    config: &OneBotConfig,
    url: &str,
    role: Role,
    inbound: &Arc<Inbound>,
    split: Option<&Arc<SplitApi>>,
    established: &Arc<AtomicBool>,
    stop: &Stop,
) -> anyhow::Result<()> {
    let mut request = url.into_client_request()?;
    if let Some(token) = &config.access_token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse()?);
    }
    let socket = tokio::select! {
        connected = tokio_tungstenite::connect_async(request) => connected?.0,
        () = stop.stopped() => return Ok(()),
    };
    tracing::info!(transport = %inbound.label, url, ?role, "onebot connected");
    let (sink, stream) = socket.split();
    let sink = sink
        .with(|text: String| std::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(TMessage::text(text))));
    let stream = stream.map(from_tungstenite);
    let (tx, rx) = mpsc::channel(OUTBOX_LEN);
    let link = role
        .carries_api()
        .then(|| WsLink::new(tx.clone(), config.timeout(), inbound.stats.clone()));
    let governor = inbound.governor.clone();
    // Learn which bot this is: from the config, else from the first event, else by asking.
    let mut registered: Option<String> = None;
    let register = |registered: &mut Option<String>, self_id: &str| {
        if registered.as_deref() == Some(self_id) {
            return;
        }
        match (split, &link) {
            // A split entry's `/event` connection: the bot answers through the entry's `/api` connection, bound
            // now (unless another connection already serves it) so the first event can be answered before
            // `get_login_info` is.
            (Some(split), None) => {
                let bot = inbound.bot(self_id);
                if !split.serves(&bot) {
                    if bot.api_up() {
                        return; // Served by another connection; looked at again with the next event.
                    }
                    split.bind(&bot);
                    tracing::info!(self_id, url, "onebot bot ready (known from an event)");
                }
            }
            (None, Some(link)) => {
                inbound.bot(self_id).set_api(Api::Ws(link.clone()), governor.clone());
                tracing::info!(self_id, url, "onebot bot ready");
            }
            // The split entry's `/api` connection carries no events.
            (Some(_), Some(_)) | (None, None) => return,
        }
        *registered = Some(self_id.to_string());
    };
    if let (Some(split), Some(link)) = (split, &link) {
        split.connected(link.clone());
    }
    // Without a configured id, an API-carrying connection asks who it is; the answer is awaited beside the pump (in
    // this task, so it ends with the connection and cannot install a closed link afterwards).
    let mut login = None;
    if let (Some(id), None) = (&config.self_id, split) {
        register(&mut registered, id);
    } else if let (Some(link), true) = (&link, config.self_id.is_none()) {
        let governor = governor.clone();
        login = Some(async move {
            match link.call("get_login_info", &serde_json::json!({})).await {
                Ok(data) => {
                    established.store(true, Ordering::Relaxed);
                    let id = coral_model::wire::json::id(&data, "user_id");
                    if !id.is_empty() {
                        let bot = inbound.bot(&id);
                        match split {
                            Some(split) => {
                                split.bind(&bot);
                            }
                            None => bot.set_api(Api::Ws(link.clone()), governor),
                        }
                        tracing::info!(self_id = id, url, "onebot bot ready");
                    }
                }
                Err(e) => tracing::warn!(
                    url,
                    "get_login_info failed: {e}; waiting for an event to learn the bot id"
                ),
            }
        });
    }
    let stream = stream.inspect(|frame| {
        if !matches!(frame, Frame::Close) {
            established.store(true, Ordering::Relaxed);
        }
    });
    let stopped = async {
        stop.stopped().await;
        ENTRY_STOPPED
    };
    {
        let pumping = pump(Box::pin(sink), stream, rx, inbound, link.as_deref(), stopped, |id| {
            register(&mut registered, id)
        });
        tokio::pin!(pumping);
        match login {
            Some(login) => {
                tokio::select! {
                    () = &mut pumping => {}
                    () = login => pumping.await,
                }
            }
            None => pumping.await,
        }
    }
    drop(tx);
    if let Some(link) = &link {
        link.close();
        if let Some(split) = split {
            split.disconnected(link);
        }
        // Every bot this connection served (named by the config, an event, or the `get_login_info` answer).
        inbound.registry.drop_api(&Api::Ws(link.clone()));
    }
    Ok(())
}

// ---- reverse server -----------------------------------------------------------------------------------------------

struct ReverseState {
    /// Logs refused handshakes.
    refusals: Refusals,
    token: Option<String>,
    timeout: Duration,
    inbound: Arc<Inbound>,
    /// The live session per (self id, role): a newer connection closes the older one.
    sessions: Mutex<HashMap<(String, &'static str), oneshot::Sender<()>>>,
    /// The entry's stop signal: the server and every session end when it fires.
    stop: Stop,
}

/// Serve reverse-WebSocket clients on `listener` at `path` until `stop` fires: then the listener is closed (new
/// connections are refused), every session is closed, and its bots lose their API channel.
pub async fn run_reverse(listener: TcpListener, path: String, config: OneBotConfig, inbound: Inbound, stop: Stop) {
    let listen = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!(transport = %inbound.label, "onebot reverse WebSocket server has no address: {e}");
            return;
        }
    };
    let state = Arc::new(ReverseState {
        refusals: Refusals::new(inbound.label.clone(), listen),
        token: config.access_token.clone(),
        timeout: config.timeout(),
        inbound: Arc::new(inbound),
        sessions: Mutex::default(),
        stop: stop.clone(),
    });
    let label = state.inbound.label.clone();
    let app = axum::Router::new()
        .route(&path, axum::routing::any(upgrade))
        .fallback(unknown_path)
        .with_state(state)
        .into_make_service_with_connect_info::<SocketAddr>();
    // On stop the listener is dropped at once; the HTTP connections not upgraded finish what they are doing (the
    // upgraded ones, the sessions, watch the same signal).
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move { stop.stopped().await });
    match serving.await {
        Ok(()) => tracing::info!(transport = %label, %listen, "onebot reverse WebSocket server stopped"),
        Err(e) => tracing::error!(transport = %label, "onebot reverse WebSocket server stopped: {e}"),
    }
}

/// Anything but the WebSocket path: refused (and logged).
async fn unknown_path(State(state): State<Arc<ReverseState>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let refusal = Refusal::UnknownPath;
    state.refusals.refused(peer, refusal);
    (refusal.status(), refusal.to_string()).into_response()
}

async fn upgrade(
    State(state): State<Arc<ReverseState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let refuse = |refusal: Refusal, body: String| {
        state.refusals.refused(peer, refusal);
        (refusal.status(), body).into_response()
    };
    if state.stop.is_stopped() {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "this OneBot entry is stopping",
        )
            .into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Authenticate before anything else, and before the upgrade. An unparsable query carries no token.
    let query = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    if let Err(failure) = check_token(
        state.token.as_deref(),
        header("authorization"),
        query.get("access_token").map(String::as_str),
    ) {
        let refusal = Refusal::token(failure);
        return refuse(refusal, refusal.to_string());
    }
    let Some(self_id) = header("x-self-id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
    else {
        return refuse(Refusal::MissingSelfId, Refusal::MissingSelfId.to_string());
    };
    let role = match header("x-client-role").map(str::to_ascii_lowercase).as_deref() {
        None | Some("universal") => Role::Universal,
        Some("api") => Role::Api,
        Some("event") => Role::Event,
        Some(other) => return refuse(Refusal::UnknownRole, format!("unknown X-Client-Role {other:?}")),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            state.refusals.refused(peer, Refusal::NotWebSocket);
            return rejection.into_response();
        }
    };
    ws.on_upgrade(move |socket| session(socket, state, self_id, role))
}

async fn session(socket: WebSocket, state: Arc<ReverseState>, self_id: String, role: Role) {
    let role_key = match role {
        Role::Universal => "universal",
        Role::Api => "api",
        Role::Event => "event",
    };
    if state.stop.is_stopped() {
        return; // Upgraded just as the entry stopped: dropped (the TCP connection closes) before anything else.
    }
    let (replaced_tx, replaced_rx) = oneshot::channel();
    if let Some(old) = state.sessions.lock().insert((self_id.clone(), role_key), replaced_tx) {
        let _ = old.send(());
    }
    let label = &state.inbound.label;
    tracing::info!(transport = %label, self_id, role = role_key, "onebot reverse client connected");
    let (tx, rx) = mpsc::channel(OUTBOX_LEN);
    let link = role
        .carries_api()
        .then(|| WsLink::new(tx.clone(), state.timeout, state.inbound.stats.clone()));
    let bot = state.inbound.bot(&self_id);
    if let Some(link) = &link {
        bot.set_api(Api::Ws(link.clone()), state.inbound.governor.clone());
    }
    let (sink, stream) = socket.split();
    let sink = sink.with(|text: String| std::future::ready(Ok::<_, axum::Error>(AxMessage::Text(text.into()))));
    let stop = async {
        tokio::select! {
            _ = replaced_rx => "connection replaced by a newer one",
            () = state.stop.stopped() => ENTRY_STOPPED,
        }
    };
    pump(
        Box::pin(sink),
        stream.map(from_axum),
        rx,
        &state.inbound,
        link.as_deref(),
        stop,
        |_| {},
    )
    .await;
    drop(tx);
    if let Some(link) = &link {
        link.close();
        bot.drop_link(link);
    }
    tracing::info!(transport = %label, self_id, role = role_key, "onebot reverse client disconnected");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_while_connecting_fails_and_restarts_after_an_established_connection() {
        let mut b = Backoff::default();
        let failing: Vec<u64> = (0..8).map(|_| b.ceiling(false).as_secs()).collect();
        assert_eq!(failing, [1, 2, 4, 8, 16, 32, 60, 60]);
        // A healthy link that drops is retried within a second, however long it lasted, every time.
        for _ in 0..3 {
            assert_eq!(b.ceiling(true), BACKOFF_BASE);
        }
        // …and a link that then keeps failing backs off again.
        assert_eq!(b.ceiling(false), BACKOFF_BASE * 2);
        assert_eq!(b.ceiling(false), BACKOFF_BASE * 4);
        for _ in 0..100 {
            let mut b = Backoff::default();
            let delay = b.next(true);
            assert!((BACKOFF_FLOOR..=BACKOFF_BASE).contains(&delay), "{delay:?}");
        }
    }
}
