//! A fake OneBot V11 implementation for tests: it can be a forward-WebSocket server (Coral connects to it), a
//! reverse-WebSocket client (it connects to Coral), an HTTP API server and an HTTP POST client. It records every
//! action frame it receives and answers each (by default with the fixture response of that action; or failed,
//! slow, or never). It runs on its own tokio runtime so tests stay plain blocking code.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The bot id the peer plays (as in the fixtures).
pub const SELF_ID: &str = "10001";
/// A hang guard, not a timing assertion: long enough for a cold start that compiles an 18 MB Python component in a
/// debug build while other tests do the same on two cores.
const WAIT: Duration = Duration::from_secs(120);

/// How the peer answers an action.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `status: ok` with this data.
    Ok(Value),
    /// `status: failed` with this retcode, message and wording.
    Failed(i64, String, String),
    /// Answer after a delay.
    Slow(Duration, Box<Reply>),
    /// Never answer.
    Never,
    /// These whole response frames, in order, each with the request's echo set (a streamed response, or a
    /// failure shaped the way some implementation shapes it). Over HTTP, the last one.
    Frames(Vec<Value>),
}

/// One recorded action frame.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub action: String,
    pub params: Value,
    /// The bearer token the request came with (HTTP), or the connection's (WS).
    pub token: Option<String>,
    /// Which connection: `forward`, `http`, or the self id of a reverse connection.
    pub conn: String,
    /// When the peer received it.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    actions: Mutex<Vec<Recorded>>,
    changed: Condvar,
    replies: Mutex<HashMap<String, Reply>>,
    /// Event channels of the live WebSocket connections that carry events.
    event_sockets: Mutex<Vec<mpsc::UnboundedSender<Message>>>,
    /// Handshake headers seen by the forward server (for token checks).
    handshakes: Mutex<Vec<HashMap<String, String>>>,
    next_message_id: Mutex<i64>,
}

/// The fake implementation.
pub struct Peer {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    consumed: usize,
}

/// The OneBot fixture folder (`<repo>/tests/fixtures/onebot`, or `$CORAL_FIXTURES`); panics if it is missing.
fn fixture_dir() -> PathBuf {
    super::fixtures::fixtures_dir()
}

/// A fixture file as JSON (`events/…`, `api/…`).
pub fn fixture(rel: &str) -> Value {
    let path = fixture_dir().join(rel);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The names (without `.json`) of the fixture files in `events/` or `api/`, sorted.
pub fn fixture_names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir().join(dir))
        .unwrap_or_else(|e| panic!("fixtures/{dir}: {e}"))
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// The fixture response `data` of an action, if there is a fixture for it.
pub fn fixture_data(action: &str) -> Option<Value> {
    let path = fixture_dir().join(format!("api/{action}.json"));
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(v["response"]["data"].clone())
}

impl Shared {
    fn answer(&self, action: &str) -> Reply {
        if let Some(r) = self.replies.lock().unwrap().get(action) {
            return r.clone();
        }
        if let Some(data) = fixture_data(action) {
            return Reply::Ok(data);
        }
        let mut id = self.next_message_id.lock().unwrap();
        *id += 1;
        Reply::Ok(json!({ "message_id": *id }))
    }

    fn record(&self, frame: &Value, token: Option<String>, conn: &str) -> Reply {
        let action = frame["action"].as_str().unwrap_or("").to_string();
        let reply = self.answer(&action);
        self.actions.lock().unwrap().push(Recorded {
            action,
            params: frame["params"].clone(),
            token,
            conn: conn.to_string(),
            at: Instant::now(),
        });
        self.changed.notify_all();
        reply
    }
}

async fn respond(reply: Reply, echo: Value) -> Option<Value> {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Ok(data) => {
                return Some(json!({"status": "ok", "retcode": 0, "data": data, "echo": echo}));
            }
            Reply::Failed(retcode, message, wording) => {
                return Some(json!({"status": "failed", "retcode": retcode, "data": null,
                    "message": message, "wording": wording, "echo": echo}));
            }
            Reply::Slow(delay, next) => {
                tokio::time::sleep(delay).await;
                reply = *next;
            }
            Reply::Never => return None,
            Reply::Frames(frames) => return respond_frames(frames, echo).pop(),
        }
    }
}

/// Every frame of an answer over WebSocket (one, except for [`Reply::Frames`]).
async fn respond_all(reply: Reply, echo: Value) -> Vec<Value> {
    let mut reply = reply;
    while let Reply::Slow(delay, next) = reply {
        tokio::time::sleep(delay).await;
        reply = *next;
    }
    match reply {
        Reply::Frames(frames) => respond_frames(frames, echo),
        other => respond(other, echo).await.into_iter().collect(),
    }
}

fn respond_frames(frames: Vec<Value>, echo: Value) -> Vec<Value> {
    frames
        .into_iter()
        .map(|mut frame| {
            frame["echo"] = echo.clone();
            frame
        })
        .collect()
}

/// Serve one WebSocket (either direction): answer action frames, forward pushed events.
async fn serve_socket<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    shared: Arc<Shared>,
    events: bool,
    token: Option<String>,
    conn: String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    if events {
        shared.event_sockets.lock().unwrap().push(tx.clone());
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame.get("action").is_none() {
            continue;
        }
        let reply = shared.record(&frame, token.clone(), &conn);
        let echo = frame.get("echo").cloned().unwrap_or(Value::Null);
        let tx = tx.clone();
        tokio::spawn(async move {
            for response in respond_all(reply, echo).await {
                let _ = tx.send(Message::text(response.to_string()));
            }
        });
    }
    writer.abort();
}

impl Peer {
    pub fn new() -> Peer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Peer {
            rt,
            shared: Arc::default(),
            consumed: 0,
        }
    }

    /// Answer `action` this way from now on.
    pub fn set_reply(&self, action: &str, reply: Reply) {
        self.shared.replies.lock().unwrap().insert(action.to_string(), reply);
    }

    /// Be a forward-WebSocket server (universal endpoint); returns its `ws://` URL.
    pub fn serve_ws(&self) -> String {
        let listener = self.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = self.shared.clone();
        self.rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut headers = HashMap::new();
                    #[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
                    let cb =
                        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                         resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                            for (k, v) in req.headers() {
                                headers.insert(k.as_str().to_string(), v.to_str().unwrap_or("").to_string());
                            }
                            Ok(resp)
                        };
                    let Ok(socket) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                        return;
                    };
                    let token = headers
                        .get("authorization")
                        .map(|a| a.trim_start_matches("Bearer ").to_string());
                    shared.handshakes.lock().unwrap().push(headers);
                    serve_socket(socket, shared, true, token, "forward".into()).await;
                });
            }
        });
        format!("ws://{addr}")
    }

    /// Be a forward-WebSocket server with split endpoints; returns the `ws://` URLs of `/api` (answers actions,
    /// pushes no events) and `/event` (pushes events).
    pub fn serve_ws_split(&self) -> (String, String) {
        let listener = self.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = self.shared.clone();
        self.rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut path = String::new();
                    #[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
                    let cb =
                        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                         resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                            path = req.uri().path().to_string();
                            Ok(resp)
                        };
                    let Ok(socket) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                        return;
                    };
                    let events = path == "/event";
                    shared
                        .handshakes
                        .lock()
                        .unwrap()
                        .push(HashMap::from([("path".to_string(), path)]));
                    serve_socket(
                        socket,
                        shared,
                        events,
                        None,
                        if events { "event" } else { "api" }.into(),
                    )
                    .await;
                });
            }
        });
        (format!("ws://{addr}/api"), format!("ws://{addr}/event"))
    }

    /// Connect to Coral's reverse-WebSocket endpoint as bot `self_id`; `Err(status)` if refused.
    pub fn connect_reverse(&self, url: &str, self_id: &str, token: Option<&str>, role: &str) -> Result<(), u16> {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("X-Self-ID", self_id.parse().unwrap());
        request.headers_mut().insert("X-Client-Role", role.parse().unwrap());
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        }
        let result = self.rt.block_on(tokio_tungstenite::connect_async(request));
        match result {
            Ok((socket, _)) => {
                let shared = self.shared.clone();
                let events = role != "API";
                self.rt.spawn(serve_socket(
                    socket,
                    shared,
                    events,
                    token.map(str::to_string),
                    self_id.to_string(),
                ));
                Ok(())
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("reverse connect failed unexpectedly: {e}"),
        }
    }

    /// Be an HTTP API server; returns its `http://` root.
    pub fn serve_http_api(&self) -> String {
        let listener = self.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = self.shared.clone();
        let app = axum::Router::new().route(
            "/{action}",
            axum::routing::post(
                move |axum::extract::Path(action): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: String| {
                    let shared = shared.clone();
                    async move {
                        let params: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let token = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(|a| a.trim_start_matches("Bearer ").to_string());
                        let reply = shared.record(&json!({"action": action, "params": params}), token, "http");
                        match respond(reply, Value::Null).await {
                            Some(mut r) => {
                                r.as_object_mut().unwrap().remove("echo");
                                axum::response::IntoResponse::into_response(axum::Json(r))
                            }
                            None => std::future::pending().await,
                        }
                    }
                },
            ),
        );
        self.rt.spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// POST an event to Coral's HTTP receiver, signed with `secret` if given; returns the HTTP status.
    pub fn post_event(&self, url: &str, event: &Value, signature: Option<String>) -> u16 {
        self.post_event_full(url, event, signature).0
    }

    /// POST an event; returns the HTTP status and the response body (a quick operation, if any).
    pub fn post_event_full(&self, url: &str, event: &Value, signature: Option<String>) -> (u16, String) {
        let headers: Vec<(&str, String)> = signature.into_iter().map(|sig| ("X-Signature", sig)).collect();
        self.post_event_with(url, event, &headers)
    }

    /// POST an event with these extra headers (e.g. `Authorization`, `X-Signature`); returns the HTTP status and
    /// the response body.
    pub fn post_event_with(&self, url: &str, event: &Value, headers: &[(&str, String)]) -> (u16, String) {
        let body = event.to_string();
        self.rt.block_on(async {
            use http_body_util::{BodyExt, Full};
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
            let mut req = hyper::Request::post(url)
                .header("content-type", "application/json")
                .header("X-Self-ID", SELF_ID);
            for (name, value) in headers {
                req = req.header(*name, value.as_str());
            }
            let req = req.body(Full::new(axum::body::Bytes::from(body))).unwrap();
            match client.request(req).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let bytes = response
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    (status, String::from_utf8_lossy(&bytes).into_owned())
                }
                Err(_) => (0, String::new()),
            }
        })
    }

    /// Push an event to every connected event-carrying socket.
    pub fn send_event(&self, event: &Value) {
        self.send_raw(&event.to_string());
    }

    /// Push any text frame (even garbage) to every connected event-carrying socket.
    pub fn send_raw(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut sockets = self.shared.event_sockets.lock().unwrap();
            sockets.retain(|s| !s.is_closed());
            if !sockets.is_empty() {
                for s in sockets.iter() {
                    let _ = s.send(Message::text(text.to_string()));
                }
                return;
            }
            drop(sockets);
            assert!(Instant::now() < deadline, "no connection to push an event to");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Close every WebSocket connection (Coral sees the peer go away).
    pub fn drop_connections(&self) {
        for s in self.shared.event_sockets.lock().unwrap().drain(..) {
            let _ = s.send(Message::Close(None));
        }
    }

    /// Number of live event sockets.
    pub fn connections(&self) -> usize {
        let mut sockets = self.shared.event_sockets.lock().unwrap();
        sockets.retain(|s| !s.is_closed());
        sockets.len()
    }

    /// Wait until a forward connection has been made; returns its handshake headers.
    pub fn expect_handshake(&self) -> HashMap<String, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(h) = self.shared.handshakes.lock().unwrap().first().cloned() {
                return h;
            }
            assert!(Instant::now() < deadline, "coral never connected");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the next recorded action (after those already taken) satisfying `pred`.
    pub fn expect_action(&mut self, what: &str, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        let deadline = Instant::now() + WAIT;
        let mut actions = self.shared.actions.lock().unwrap();
        loop {
            if let Some(pos) = actions[self.consumed..].iter().position(&pred) {
                let found = actions[self.consumed + pos].clone();
                self.consumed += pos + 1;
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; actions seen: {:#?}",
                *actions
            );
            actions = self.shared.changed.wait_timeout(actions, left).unwrap().0;
        }
    }

    /// Wait for a `send_*msg` whose message text contains `needle`; returns the whole text.
    pub fn expect_reply(&mut self, needle: &str) -> String {
        let found = self.expect_action(&format!("a message containing {needle:?}"), |r| {
            r.action.starts_with("send_") && message_text(&r.params["message"]).contains(needle)
        });
        message_text(&found.params["message"])
    }

    /// Every action recorded so far.
    pub fn actions(&self) -> Vec<Recorded> {
        self.shared.actions.lock().unwrap().clone()
    }
}

/// The text segments of an array-form message joined.
pub fn message_text(message: &Value) -> String {
    match message {
        Value::Array(segs) => segs
            .iter()
            .filter(|s| s["type"] == "text")
            .filter_map(|s| s["data"]["text"].as_str())
            .collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}
