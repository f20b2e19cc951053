//! The local web console (`[web] enabled = true`): server-rendered pages served by the host with axum, plus a
//! small script of its own (no CDN). Pages: status with live charts, plugins (state, enable/disable/reload,
//! capabilities and scopes as checkboxes that write `coral.toml`, config forms from each plugin's JSON Schema,
//! per-group switches), the console platform as a chat page, a live log tail, audit search, and an upload box
//! that shows a new `.wasm`'s metadata and requested capabilities and installs it only once the operator approves
//! its grants.
//!
//! Security: loopback by default, and another address only with a token (config validation); a token login makes
//! a session cookie (`HttpOnly`, `SameSite=Strict`); every change needs the session's CSRF token; the `Host`
//! header must name the listener (no DNS rebinding); a strict Content-Security-Policy (no inline script); every
//! change is an audit entry (`operator:web-…`, or the management request's own). Plugin text is escaped on every
//! page ([`page::esc`]) and inserted as text by the script.

pub mod edit;
pub mod form;
pub mod logs;
pub mod page;
mod pages;

use crate::reload::Reloader;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cap_std::fs as cap_fs;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions at once (the oldest goes).
const MAX_SESSIONS: usize = 64;
/// Failed logins allowed per minute (then every login is refused until the minute is over).
const MAX_FAILED_LOGINS: u32 = 10;
/// Samples kept per chart (one every [`SAMPLE_EVERY`]).
const SAMPLES: usize = 150;
/// How often the charts get a point.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Chat lines kept for the chat page.
const CHAT_KEPT: usize = 500;
/// Uploads waiting for approval at once (the oldest goes).
const MAX_UPLOADS: usize = 8;

/// Lines the console bot printed, for the chat page.
#[derive(Default)]
pub struct Transcript {
    lines: Mutex<(u64, VecDeque<(u64, String)>)>,
}

impl Transcript {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock();
        lines.0 += 1;
        let seq = lines.0;
        if lines.1.len() >= CHAT_KEPT {
            lines.1.pop_front();
        }
        lines.1.push_back((seq, line));
    }

    fn after(&self, after: u64) -> Vec<serde_json::Value> {
        let lines = self.lines.lock();
        lines
            .1
            .iter()
            .filter(|(seq, _)| *seq > after)
            .map(|(seq, text)| serde_json::json!({"seq": seq, "text": text}))
            .collect()
    }
}

/// The console bot's output: each line to the transcript, and to `also` (stdout) when the console runs there.
pub struct TranscriptWriter {
    transcript: Arc<Transcript>,
    also: Option<Box<dyn Write + Send>>,
    partial: Vec<u8>,
}

impl TranscriptWriter {
    /// A writer into `transcript`, copying to `also`.
    pub fn new(transcript: Arc<Transcript>, also: Option<Box<dyn Write + Send>>) -> TranscriptWriter {
        TranscriptWriter {
            transcript,
            also,
            partial: Vec::new(),
        }
    }
}

impl Write for TranscriptWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(also) = &mut self.also {
            also.write_all(buf)?;
        }
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            // A continuation line (a message's second line) joins the one before it.
            self.transcript.push(text);
        }
        if self.partial.len() > 64 << 10 {
            self.partial.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.also {
            Some(also) => also.flush(),
            None => Ok(()),
        }
    }
}

/// The chat page's link to the console platform.
pub struct Chat {
    /// Makes message events.
    pub typist: coral_adapters::console::Typist,
    /// Where they go.
    pub sink: Arc<dyn coral_model::EventSink>,
    /// What the bot said.
    pub transcript: Arc<Transcript>,
}

/// Everything the console needs from the host.
pub struct Parts {
    /// Plugins and config.
    pub reloader: Arc<Reloader>,
    /// Figures.
    pub sources: coral_ops::Sources,
    /// The data folder (the audit log, uploads waiting for review).
    pub data_dir: Arc<cap_fs::Dir>,
    /// The console platform, when it is registered.
    pub chat: Option<Chat>,
    /// The login token.
    pub token: String,
}

struct Session {
    csrf: String,
    expires: Instant,
    flash: Option<page::Notice>,
}

/// An uploaded plugin waiting for the operator's approval.
struct Upload {
    /// Its file, in the data folder.
    file: String,
    suggested_name: String,
    metadata: coral_model::bindings::PluginMetadata,
    commands: Vec<String>,
    hash: String,
    wit: String,
    bytes: u64,
    at: Instant,
}

/// The console's state.
pub struct Web {
    parts: Parts,
    listen: SocketAddr,
    sessions: Mutex<HashMap<String, Session>>,
    failed_logins: Mutex<(Instant, u32)>,
    uploads: Mutex<HashMap<String, Upload>>,
    samples: Mutex<HashMap<&'static str, VecDeque<u64>>>,
    /// One change to coral.toml at a time.
    edit_lock: tokio::sync::Mutex<()>,
}

type Shared = Arc<Web>;

/// A random token: 32 hex digits from the OS's random source (a session id, a CSRF token, a made-up login token).
///
/// Panics if the OS has no random source to give (in a request, that request fails; nothing weaker is used).
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serve the console on `listener` until the host exits.
pub fn serve(listener: tokio::net::TcpListener, parts: Parts) -> std::io::Result<SocketAddr> {
    let listen = listener.local_addr()?;
    let web = Arc::new(Web {
        parts,
        listen,
        sessions: Mutex::default(),
        failed_logins: Mutex::new((Instant::now(), 0)),
        uploads: Mutex::default(),
        samples: Mutex::default(),
        edit_lock: tokio::sync::Mutex::new(()),
    });
    tokio::spawn(sample(web.clone()));
    let app = router(web);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!("web console stopped: {e}");
        }
    });
    Ok(listen)
}

fn router(web: Shared) -> Router {
    let private = Router::new()
        .route("/", get(pages::status))
        .route("/plugins", get(pages::plugins))
        .route("/plugins/{name}", get(pages::plugin))
        .route("/plugins/{name}/op", post(pages::plugin_op))
        .route("/plugins/{name}/permissions", post(pages::permissions))
        .route("/plugins/{name}/config", post(pages::config))
        .route("/plugins/{name}/switch", post(pages::switch))
        .route("/chat", get(pages::chat))
        .route("/logs", get(pages::logs))
        .route("/audit", get(pages::audit))
        .route("/upload", get(pages::upload))
        .route("/upload/{id}", get(pages::upload_review))
        .route("/upload/{id}/install", post(pages::install))
        .route("/logout", post(logout))
        .route("/api/logs", get(api_logs))
        .route("/api/chat", get(api_chat_lines).post(api_chat))
        .route("/api/samples", get(api_samples))
        .route("/api/status", get(api_status))
        .route("/api/upload", post(pages::api_upload))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .route_layer(axum::middleware::from_fn_with_state(web.clone(), require_session));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(private)
        .layer(axum::middleware::from_fn_with_state(web.clone(), guard))
        .with_state(web)
}

/// On every response: security headers; on every request: the `Host` must be this listener (a page on another
/// site cannot reach the console through a name that resolves to 127.0.0.1).
async fn guard(State(web): State<Shared>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, web.listen) {
        return (StatusCode::MISDIRECTED_REQUEST, "unknown Host").into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// Whether a `Host` header names the listener: its own address, or `localhost` for a loopback one.
fn host_allowed(host: &str, listen: SocketAddr) -> bool {
    let port = listen.port();
    if !listen.ip().is_unspecified() {
        if host == listen.to_string() || (listen.ip().is_loopback() && host == format!("localhost:{port}")) {
            return true;
        }
        return listen.ip().is_loopback() && host == format!("[::1]:{port}");
    }
    // Listening on every address (with a token): any name, but the right port.
    host.rsplit_once(':').is_some_and(|(_, p)| p == port.to_string())
}

/// The session cookie's value, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("coral_session="))
        .map(str::to_string)
        .next()
}

/// The session a request belongs to: (session id, csrf token).
#[derive(Clone)]
pub(crate) struct Login {
    id: String,
    csrf: String,
}

impl Web {
    fn session(&self, headers: &HeaderMap) -> Option<Login> {
        let id = cookie(headers)?;
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.get(&id).map(|s| Login {
            id: id.clone(),
            csrf: s.csrf.clone(),
        })
    }

    fn new_session(&self) -> String {
        let id = random_token();
        let mut sessions = self.sessions.lock();
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: random_token(),
                expires: Instant::now() + SESSION_TTL,
                flash: None,
            },
        );
        id
    }

    /// Keep a notice for the session's next page.
    pub(crate) fn flash(&self, login: &Login, ok: bool, text: impl Into<String>) {
        if let Some(s) = self.sessions.lock().get_mut(&login.id) {
            s.flash = Some(page::Notice { ok, text: text.into() });
        }
    }

    /// Take the session's notice.
    pub(crate) fn take_flash(&self, login: &Login) -> Option<page::Notice> {
        self.sessions.lock().get_mut(&login.id).and_then(|s| s.flash.take())
    }

    /// Whether `token` is the login token (constant time).
    fn token_ok(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let (a, b) = (token.as_bytes(), self.parts.token.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// Count a failed login; whether logins are still allowed this minute.
    fn login_allowed(&self, failed: bool) -> bool {
        let mut f = self.failed_logins.lock();
        if f.0.elapsed() > Duration::from_secs(60) {
            *f = (Instant::now(), 0);
        }
        if failed {
            f.1 += 1;
        }
        f.1 < MAX_FAILED_LOGINS
    }
}

fn session_cookie(id: &str) -> String {
    format!(
        "coral_session={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// Pages need a session (else: to the login page, or a `?token=` in the address logs in); the API answers 401.
async fn require_session(State(web): State<Shared>, mut request: Request, next: Next) -> Response {
    if let Some(login) = web.session(request.headers()) {
        request.extensions_mut().insert(login);
        return next.run(request).await;
    }
    let uri = request.uri().clone();
    if let Some(query) = uri.query() {
        let form = form::Form::parse(query);
        if let Some(token) = form.get("token") {
            let ok = web.token_ok(token);
            if ok && web.login_allowed(false) {
                let id = web.new_session();
                tracing::info!("web console: logged in (token in the address)");
                // Back to the same page without the token in the address.
                let mut response = Redirect::to(uri.path()).into_response();
                if let Ok(v) = HeaderValue::from_str(&session_cookie(&id)) {
                    response.headers_mut().insert(header::SET_COOKIE, v);
                }
                return response;
            }
            web.login_allowed(true);
            tracing::warn!("web console: refused a login (wrong token in the address)");
        }
    }
    if uri.path().starts_with("/api/") {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    Redirect::to("/login").into_response()
}

async fn login_page() -> Response {
    html(page::login(None))
}

async fn login(State(web): State<Shared>, body: String) -> Response {
    let form = form::Form::parse(&body);
    let token = form.get("token").unwrap_or("");
    if !web.login_allowed(false) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            html(page::login(Some("Too many failed logins; wait a minute."))),
        )
            .into_response();
    }
    if !web.token_ok(token) {
        web.login_allowed(true);
        tracing::warn!("web console: refused a login (wrong token)");
        return (StatusCode::UNAUTHORIZED, html(page::login(Some("Wrong token.")))).into_response();
    }
    let id = web.new_session();
    tracing::info!("web console: logged in");
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout(State(web): State<Shared>, axum::Extension(login): axum::Extension<Login>, body: String) -> Response {
    if !csrf_ok(&login, &form::Form::parse(&body)) {
        return forbidden();
    }
    web.sessions.lock().remove(&login.id);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("coral_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Whether a form carries the session's CSRF token.
pub(crate) fn csrf_ok(login: &Login, form: &form::Form) -> bool {
    use subtle::ConstantTimeEq as _;
    let got = form.get("csrf").unwrap_or("").as_bytes();
    got.len() == login.csrf.len() && bool::from(got.ct_eq(login.csrf.as_bytes()))
}

/// Whether an API request carries the session's CSRF token (`x-csrf`).
pub(crate) fn csrf_header_ok(login: &Login, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq as _;
    let got = headers.get("x-csrf").map(HeaderValue::as_bytes).unwrap_or_default();
    got.len() == login.csrf.len() && bool::from(got.ct_eq(login.csrf.as_bytes()))
}

pub(crate) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the page was stale (missing or wrong CSRF token); reload it",
    )
        .into_response()
}

pub(crate) fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/app.js"),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn api_logs(Query(q): Query<After>) -> Response {
    axum::Json(logs::Ring::global().after(q.after, 500)).into_response()
}

async fn api_status(State(web): State<Shared>) -> Response {
    axum::Json(web.parts.sources.snapshot()).into_response()
}

async fn api_samples(State(web): State<Shared>) -> Response {
    let samples = web.samples.lock().clone();
    axum::Json(samples).into_response()
}

async fn api_chat_lines(State(web): State<Shared>, Query(q): Query<After>) -> Response {
    match &web.parts.chat {
        Some(chat) => axum::Json(chat.transcript.after(q.after)).into_response(),
        None => (StatusCode::NOT_FOUND, "the console platform is not running").into_response(),
    }
}

/// A chat message typed on the chat page.
#[derive(serde::Deserialize)]
struct Typed {
    user: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    role: String,
    text: String,
}

fn chat_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

async fn api_chat(
    State(web): State<Shared>,
    axum::Extension(login): axum::Extension<Login>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !csrf_header_ok(&login, &headers) {
        return forbidden();
    }
    let Some(chat) = &web.parts.chat else {
        return (StatusCode::NOT_FOUND, "the console platform is not running").into_response();
    };
    let typed: Typed = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a chat message: {e}")).into_response(),
    };
    let group = typed.group.trim();
    if !chat_id_ok(typed.user.trim()) || (!group.is_empty() && !chat_id_ok(group)) {
        return (
            StatusCode::BAD_REQUEST,
            "user and group ids: 1 to 32 letters, digits, `-` or `_`",
        )
            .into_response();
    }
    if typed.text.is_empty() || typed.text.len() > 4000 || typed.nickname.len() > 64 {
        return (
            StatusCode::BAD_REQUEST,
            "a message is 1 to 4000 bytes, a nickname at most 64",
        )
            .into_response();
    }
    use coral_model::bindings::Role;
    let session = coral_adapters::console::Session {
        user_id: typed.user.trim().to_string(),
        nickname: if typed.nickname.trim().is_empty() {
            "web-user".into()
        } else {
            typed.nickname.trim().to_string()
        },
        group: (!group.is_empty()).then(|| group.to_string()),
        role: match typed.role.as_str() {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            _ => Role::Member,
        },
    };
    // Like a line typed into the console: wait for queue space rather than drop it.
    let text = typed.text.replace(['\r', '\n'], " ");
    chat.sink.dispatch_wait(chat.typist.message(&session, &text)).await;
    StatusCode::NO_CONTENT.into_response()
}

/// Every [`SAMPLE_EVERY`]: events handled, handler failures, platform calls and refusals since the last sample.
async fn sample(web: Shared) {
    let totals = |s: &coral_ops::Snapshot| -> [(&'static str, u64); 4] {
        [
            ("events", s.plugins.iter().map(|p| p.handled).sum()),
            ("failures", s.plugins.iter().map(|p| p.failed).sum()),
            ("calls", s.bots.iter().map(|b| b.api_calls).sum()),
            ("refused", s.plugins.iter().map(|p| p.denied + p.rate_limited).sum()),
        ]
    };
    let mut last = totals(&web.parts.sources.snapshot());
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = totals(&web.parts.sources.snapshot());
        let mut samples = web.samples.lock();
        for ((name, new), (_, old)) in now.iter().zip(last.iter()) {
            let series = samples.entry(name).or_default();
            if series.len() >= SAMPLES {
                series.pop_front();
            }
            series.push_back(new.saturating_sub(*old));
        }
        drop(samples);
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_must_name_the_listener() {
        let loopback: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert!(host_allowed("127.0.0.1:7878", loopback));
        assert!(host_allowed("localhost:7878", loopback));
        assert!(!host_allowed("evil.example:7878", loopback), "DNS rebinding");
        assert!(!host_allowed("127.0.0.1:80", loopback));
        assert!(!host_allowed("", loopback));
        let any: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        assert!(host_allowed("bot.example.org:7878", any));
        assert!(!host_allowed("bot.example.org:80", any));
    }

    #[test]
    fn the_transcript_takes_whole_lines() {
        let transcript = Arc::new(Transcript::default());
        let mut w = TranscriptWriter::new(transcript.clone(), None);
        w.write_all(b"[group 1] pon").unwrap();
        assert!(transcript.after(0).is_empty());
        w.write_all(b"g\n[private 2] x\n").unwrap();
        let lines = transcript.after(0);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["text"], "[group 1] pong");
        assert_eq!(transcript.after(1).len(), 1);
    }
}
