//! What every OneBot transport shares: the echo-matched API call over a socket ([`WsLink`], streamed responses
//! included), the response envelope, the per-bot connection object registered in [`Bots`] ([`OneBotBot`]: its API
//! channel, liveness and recently seen message ids), and the handling of one incoming frame.

use super::protocol;
use coral_model::EventSink;
use coral_model::bindings::{EventKind, coral::bot::types::MetaEvent};
use coral_model::{Action, ApiError, ApiFuture, BotConnection, Bots};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// The platform name.
pub const PLATFORM: &str = "onebot";
/// Outgoing frames queued per socket before callers see `busy`.
pub const OUTBOX_LEN: usize = 1024;
/// Most chunk frames one streamed response may carry before the call fails.
pub const MAX_STREAM_CHUNKS: usize = 1024;
/// Most bytes (of chunk `data`, as JSON) one streamed response may carry before the call fails.
pub const MAX_STREAM_BYTES: usize = 16 << 20;
/// Message ids remembered per bot for dropping duplicate deliveries.
pub const MAX_SEEN_IDS: usize = 4096;
/// Longest wait of a call on a split forward-WebSocket entry for its `/api` connection to be up.
pub const SPLIT_API_WAIT: Duration = Duration::from_secs(5);
/// At most one warning per this period about failure frames that answer no call.
const UNSOLICITED_LOG_PERIOD: Duration = Duration::from_secs(1);

use coral_model::AdapterCounters;
/// A call waiting for its response; a streamed response collects its chunks here.
struct Pending {
    action: String,
    done: oneshot::Sender<Result<Value, ApiError>>,
    /// Woken by each chunk (the call's timeout restarts).
    progress: Arc<Notify>,
    chunks: Vec<Value>,
    bytes: usize,
}

/// What one response frame is to its call.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    /// A chunk of a streamed response (NapCat `stream: "stream-action"`, `data.type: "stream"`).
    Chunk,
    /// The stream starts over (`data.type: "reset"`): the chunks so far are dropped.
    Reset,
    /// The response itself, or the frame that ends a stream (`data.type: "response"` or `"error"`, a status other
    /// than `ok`, or a frame on the same echo that is not marked as a stream).
    Final,
}

fn part(response: &Value) -> Part {
    let streamed = response.get("stream").and_then(Value::as_str) == Some("stream-action");
    let ok = response.get("status").and_then(Value::as_str) == Some("ok");
    match response.pointer("/data/type").and_then(Value::as_str) {
        Some("stream") if streamed && ok => Part::Chunk,
        Some("reset") if streamed && ok => Part::Reset,
        _ => Part::Final,
    }
}

/// A response's echo as one of ours: absent, `null`, `""` or anything else that is not a number is none.
fn echo_of(response: &Value) -> Option<u64> {
    match response.get("echo") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// The length of `value` as JSON, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The result of a streamed call: without chunks, the final `data` as it is; with chunks,
/// `{"chunks": [<each chunk's data>, …], …<the final data's fields>}` (a final `data` that is not an object, and
/// not null, goes under `"data"`; a final field named `chunks` gives way to the collected chunks).
fn assemble(chunks: Vec<Value>, data: Value) -> Value {
    if chunks.is_empty() {
        return data;
    }
    let mut out = serde_json::Map::new();
    out.insert("chunks".into(), Value::Array(chunks));
    match data {
        Value::Object(fields) => {
            for (k, v) in fields {
                if k != "chunks" {
                    out.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("data".into(), other);
        }
    }
    Value::Object(out)
}

/// An API-capable WebSocket: frames out through `outbox`, responses matched to callers by `echo`.
///
/// A streamed response (NapCat's stream actions: several frames on one echo, each `"stream": "stream-action"`) is
/// collected until its final frame, at most [`MAX_STREAM_CHUNKS`] chunks and [`MAX_STREAM_BYTES`] bytes (beyond
/// that the call fails); see [`assemble`] for the shape returned. The call's timeout is the longest wait for the
/// next frame: each chunk restarts it, so a long stream that keeps coming is not cut off, and the bounds above
/// keep the whole finite.
pub struct WsLink {
    outbox: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_echo: AtomicU64,
    timeout: Duration,
    closed: AtomicBool,
    stats: Arc<AdapterCounters>,
}

impl WsLink {
    /// A link writing to `outbox`.
    pub fn new(outbox: mpsc::Sender<String>, timeout: Duration, stats: Arc<AdapterCounters>) -> Arc<Self> {
        Arc::new(WsLink {
            outbox,
            pending: Mutex::default(),
            next_echo: AtomicU64::new(1),
            timeout,
            closed: AtomicBool::new(false),
            stats,
        })
    }

    /// Send `{action, params, echo}` and wait for the matching response (or the timeout, or the socket closing).
    pub async fn call(&self, action: &str, params: Value) -> Result<Value, ApiError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ApiError::Disconnected { action: action.into() });
        }
        let echo = self.next_echo.fetch_add(1, Ordering::Relaxed);
        let (done, mut rx) = oneshot::channel();
        let progress = Arc::new(Notify::new());
        let pending = Pending {
            action: action.into(),
            done,
            progress: progress.clone(),
            chunks: Vec::new(),
            bytes: 0,
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(echo, pending);
        let frame = json!({ "action": action, "params": params, "echo": echo }).to_string();
        let forget = || self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&echo);
        if let Err(e) = self.outbox.try_send(frame) {
            forget();
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => {
                    ApiError::Busy(format!("the connection's outbox is full ({OUTBOX_LEN} frames)"))
                }
                mpsc::error::TrySendError::Closed(_) => ApiError::Disconnected { action: action.into() },
            });
        }
        loop {
            let next = async {
                tokio::select! {
                    biased;
                    outcome = &mut rx => Some(outcome),
                    () = progress.notified() => None,
                }
            };
            match tokio::time::timeout(self.timeout, next).await {
                Err(_) => {
                    forget();
                    return Err(ApiError::Timeout {
                        action: action.into(),
                        ms: self.timeout.as_millis() as u64,
                    });
                }
                // A chunk came: wait again, the full timeout.
                Ok(None) => continue,
                Ok(Some(Err(_))) => return Err(ApiError::Disconnected { action: action.into() }),
                Ok(Some(Ok(outcome))) => return outcome,
            }
        }
    }

    /// Hand a response frame to its caller (a stream's chunk is kept for it); `Err` gives the frame back when no
    /// call was waiting for its echo.
    pub fn resolve(&self, mut response: Value) -> Result<(), Value> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(echo) = echo_of(&response).filter(|e| pending.contains_key(e)) else {
            drop(pending);
            self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
            return Err(response);
        };
        let Some(waiting) = pending.get_mut(&echo) else {
            return Err(response);
        };
        match part(&response) {
            Part::Chunk => {
                let data = response.get_mut("data").map(Value::take).unwrap_or_default();
                let bytes = json_len(&data);
                if waiting.chunks.len() < MAX_STREAM_CHUNKS && waiting.bytes + bytes <= MAX_STREAM_BYTES {
                    waiting.chunks.push(data);
                    waiting.bytes += bytes;
                    waiting.progress.notify_one();
                } else if let Some(waiting) = pending.remove(&echo) {
                    let reason = format!(
                        "the streamed response went over {MAX_STREAM_CHUNKS} chunks or {} MiB",
                        MAX_STREAM_BYTES >> 20
                    );
                    let _ = waiting.done.send(Err(ApiError::BadResponse {
                        action: waiting.action,
                        reason,
                    }));
                }
            }
            Part::Reset => {
                waiting.chunks.clear();
                waiting.bytes = 0;
                waiting.progress.notify_one();
            }
            Part::Final => {
                if let Some(waiting) = pending.remove(&echo) {
                    drop(pending);
                    let outcome = envelope(&waiting.action, response).map(|data| assemble(waiting.chunks, data));
                    let _ = waiting.done.send(outcome);
                }
            }
        }
        Ok(())
    }

    /// The socket is gone: every pending call fails now.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Calls waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Read a `{status, retcode, data, message, msg, wording}` response: `ok` and `async` succeed (with `data`),
/// anything else is the implementation's failure with its own retcode and text (see [`failure_text`]).
pub fn envelope(action: &str, response: Value) -> Result<Value, ApiError> {
    if is_success(&response) {
        return Ok(response.get("data").cloned().unwrap_or(Value::Null));
    }
    Err(ApiError::Failed {
        action: action.into(),
        retcode: retcode_of(&response) as i32,
        message: failure_text(&response),
    })
}

fn status_of(response: &Value) -> &str {
    response.get("status").and_then(Value::as_str).unwrap_or("")
}

fn retcode_of(response: &Value) -> i64 {
    response
        .get("retcode")
        .and_then(Value::as_i64)
        .unwrap_or(if status_of(response) == "ok" { 0 } else { -1 })
}

/// `status` `ok` or `async`, or no status and retcode 0.
fn is_success(response: &Value) -> bool {
    let status = status_of(response);
    status == "ok" || status == "async" || (status.is_empty() && retcode_of(response) == 0)
}

/// A failure's text: the distinct non-empty ones of `message` (NapCat, Lagrange), `msg` (go-cqhttp's code, e.g.
/// `MSG_NOT_FOUND`) and `wording` (the human text), the first as it is and the others in parentheses:
/// `MSG_NOT_FOUND (消息不存在)`, `Timeout: NTEvent (超时)`, `failed (MSG_NOT_FOUND; 消息不存在)`.
pub fn failure_text(response: &Value) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for key in ["message", "msg", "wording"] {
        if let Some(text) = response.get(key).and_then(Value::as_str).map(str::trim)
            && !text.is_empty()
            && !parts.contains(&text)
        {
            parts.push(text);
        }
    }
    match parts.split_first() {
        None => String::new(),
        Some((first, [])) => first.to_string(),
        Some((first, rest)) => format!("{first} ({})", rest.join("; ")),
    }
}

/// How a bot's API calls travel.
#[derive(Clone)]
pub enum Api {
    /// Over a WebSocket (universal or API connection).
    Ws(Arc<WsLink>),
    /// Over HTTP (`POST <url>/<action>`).
    Http(Arc<super::http::HttpApi>),
    /// Over whichever `/api` connection a split forward-WebSocket entry has up.
    Split(Arc<SplitApi>),
}

impl Api {
    fn same(&self, other: &Api) -> bool {
        match (self, other) {
            (Api::Ws(a), Api::Ws(b)) => Arc::ptr_eq(a, b),
            (Api::Http(a), Api::Http(b)) => Arc::ptr_eq(a, b),
            (Api::Split(a), Api::Split(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Whether calls can go out now (a split entry's `/api` connection may be down).
    fn is_up(&self) -> bool {
        match self {
            Api::Ws(_) | Api::Http(_) => true,
            Api::Split(split) => split.current().is_some(),
        }
    }
}

/// The API side of a split forward-WebSocket entry (`api_url` + `event_url`): its `/api` connection of the moment,
/// and the bots bound to it. A bot is bound as soon as it is known (configured `self_id`, the `get_login_info`
/// answer, or the `self_id` of an event on `/event`, whichever comes first), so an event that arrives before the
/// login answer can be answered. A call made while `/api` is down waits for it, at most [`SPLIT_API_WAIT`] (or
/// the call timeout if shorter).
pub struct SplitApi {
    link: watch::Sender<Option<Arc<WsLink>>>,
    wait: Duration,
    bound: Mutex<Vec<Arc<OneBotBot>>>,
    governor: Option<Arc<super::governor::Governor>>,
}

impl SplitApi {
    /// A split entry whose calls wait at most `wait` for the `/api` connection.
    pub fn new(wait: Duration, governor: Option<Arc<super::governor::Governor>>) -> Arc<Self> {
        Arc::new(SplitApi {
            link: watch::Sender::new(None),
            wait,
            bound: Mutex::default(),
            governor,
        })
    }

    /// The `/api` connection, if it is up.
    pub fn current(&self) -> Option<Arc<WsLink>> {
        self.link.borrow().clone()
    }

    /// The `/api` connection is up: the bots routed here use it (and count a connection each).
    pub fn connected(&self, link: Arc<WsLink>) {
        self.link.send_replace(Some(link));
        for bot in self.bound.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if self.serves(bot) {
                bot.connected();
            }
        }
    }

    /// The `/api` connection `link` closed (unless a newer one already replaced it).
    pub fn disconnected(&self, link: &Arc<WsLink>) {
        self.link.send_if_modified(|current| {
            let gone = current.as_ref().is_some_and(|c| Arc::ptr_eq(c, link));
            if gone {
                *current = None;
            }
            gone
        });
    }

    /// Route `bot`'s calls through this entry from now on; true if they went elsewhere (or nowhere) before.
    pub fn bind(self: &Arc<Self>, bot: &Arc<OneBotBot>) -> bool {
        let mut bound = self.bound.lock().unwrap_or_else(|e| e.into_inner());
        if !bound.iter().any(|b| Arc::ptr_eq(b, bot)) {
            bound.push(bot.clone());
        }
        drop(bound);
        let changed = bot.install(Api::Split(self.clone()), self.governor.clone());
        if changed && self.current().is_some() {
            bot.connected();
        }
        changed
    }

    /// Whether `bot`'s calls go through this entry now.
    pub fn serves(&self, bot: &OneBotBot) -> bool {
        let api = bot.api.read().unwrap_or_else(|e| e.into_inner());
        matches!(&*api, Some(Api::Split(s)) if std::ptr::eq(Arc::as_ptr(s), self))
    }

    /// The `/api` connection, waiting (bounded) for it if it is down.
    async fn link(&self) -> Option<Arc<WsLink>> {
        let mut rx = self.link.subscribe();
        let up = tokio::time::timeout(self.wait, rx.wait_for(Option::is_some)).await;
        match up {
            Ok(Ok(link)) => link.clone(),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

/// One OneBot bot account, as registered in [`Bots`]. Its API channel is swapped when it reconnects.
pub struct OneBotBot {
    self_id: String,
    api: RwLock<Option<Api>>,
    governor: RwLock<Option<Arc<super::governor::Governor>>>,
    /// Events POSTed over HTTP whose response (a quick operation) is still open.
    quick: Mutex<Vec<QuickSlot>>,
    /// Heartbeat liveness: the last heartbeat and its announced interval.
    heartbeat: Mutex<Option<(Instant, Duration)>>,
    /// The implementation said the account is offline (a heartbeat with `status.online == false`, or a
    /// `bot_offline` notice); cleared by the next event that says otherwise, or a new connection.
    reported_offline: AtomicBool,
    /// Message ids delivered recently, to drop duplicate deliveries.
    seen: Mutex<SeenIds>,
    /// Its counters (connections are counted here).
    stats: Arc<coral_model::LinkCounters>,
}

/// The OneBot bots, by self id; each is also registered (as a [`BotConnection`]) in the host's [`Bots`].
#[derive(Default)]
pub struct Registry {
    bots: Bots,
    known: Mutex<HashMap<String, Arc<OneBotBot>>>,
}

impl Registry {
    /// A registry that publishes its bots into `bots`.
    pub fn new(bots: Bots) -> Arc<Self> {
        Arc::new(Registry {
            bots,
            known: Mutex::default(),
        })
    }

    /// The bot with this id, created (and published) on first use.
    pub fn bot(&self, self_id: &str) -> Arc<OneBotBot> {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(self_id.to_string())
            .or_insert_with(|| {
                let bot = Arc::new(OneBotBot {
                    self_id: self_id.to_string(),
                    api: RwLock::default(),
                    governor: RwLock::default(),
                    quick: Mutex::default(),
                    heartbeat: Mutex::default(),
                    reported_offline: AtomicBool::new(false),
                    seen: Mutex::default(),
                    stats: self.bots.link_counters(self_id),
                });
                self.bots.insert(self_id, bot.clone());
                bot
            })
            .clone()
    }
}

/// Recently delivered message events of one bot by [`dedup_key`] (at most [`MAX_SEEN_IDS`], oldest forgotten
/// first), each with when it was first delivered and its [`fingerprint`].
#[derive(Debug, Default)]
struct SeenIds {
    first: HashMap<String, (Instant, u64)>,
    order: VecDeque<(String, Instant)>,
}

impl SeenIds {
    /// Whether `key` was first delivered less than `window` ago with the same `fingerprint`; if not, it is
    /// (re)recorded as delivered `now`.
    fn repeated(&mut self, key: &str, fingerprint: u64, window: Duration, now: Instant) -> bool {
        if let Some((first, print)) = self.first.get(key)
            && *print == fingerprint
            && now.saturating_duration_since(*first) < window
        {
            return true;
        }
        self.first.insert(key.to_string(), (now, fingerprint));
        self.order.push_back((key.to_string(), now));
        while self.order.len() > MAX_SEEN_IDS {
            if let Some((old, at)) = self.order.pop_front()
                && self.first.get(&old).is_some_and(|(first, _)| *first == at)
            {
                self.first.remove(&old);
            }
        }
        false
    }
}

impl OneBotBot {
    /// Route API calls through `api` from now on (a reconnect replaces the old channel atomically).
    pub fn set_api(&self, api: Api, governor: Option<Arc<super::governor::Governor>>) {
        if self.install(api, governor) {
            self.connected();
        }
    }

    /// Swap the API channel; true if it is a different one.
    fn install(&self, api: Api, governor: Option<Arc<super::governor::Governor>>) -> bool {
        let mut current = self.api.write().unwrap_or_else(|e| e.into_inner());
        let changed = !current.as_ref().is_some_and(|c| c.same(&api));
        *current = Some(api);
        drop(current);
        *self.governor.write().unwrap_or_else(|e| e.into_inner()) = governor;
        changed
    }

    /// A new connection carries its API: counted, and it starts out online until an event says otherwise.
    fn connected(&self) {
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        self.reported_offline.store(false, Ordering::Relaxed);
    }

    /// Whether its API channel can carry a call now.
    pub fn api_up(&self) -> bool {
        self.api
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(Api::is_up)
    }

    /// Forget the API channel if it is still `link` (a newer connection may already have replaced it).
    pub fn drop_link(&self, link: &Arc<WsLink>) {
        let mut api = self.api.write().unwrap_or_else(|e| e.into_inner());
        if matches!(&*api, Some(Api::Ws(current)) if Arc::ptr_eq(current, link)) {
            *api = None;
        }
    }

    /// Record what an event says about the account: offline (`online == false`) or not; logs the changes.
    pub fn report(&self, online: bool, why: &str) {
        let was_offline = self.reported_offline.swap(!online, Ordering::Relaxed);
        if was_offline == online {
            if online {
                tracing::info!(self_id = %coral_model::text::escape(&self.self_id), "onebot bot online again ({why})");
            } else {
                tracing::warn!(self_id = %coral_model::text::escape(&self.self_id), "onebot bot offline: {why}");
            }
        }
    }

    /// Whether this message event was delivered less than `window` ago (then it is a duplicate).
    fn repeated(&self, key: &str, fingerprint: u64, window: Duration) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.repeated(key, fingerprint, window, Instant::now())
    }

    /// Open a quick-operation slot for an event POSTed over HTTP; returns its id.
    pub fn open_quick(&self, event: &Value) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let field = |k: &str| coral_model::wire::json::opt_str(event, k).filter(|s| !s.is_empty());
        let slot = QuickSlot {
            id,
            post_type: field("post_type").unwrap_or_default(),
            detail_type: field("message_type")
                .or_else(|| field("request_type"))
                .unwrap_or_default(),
            group_id: field("group_id"),
            user_id: field("user_id"),
            message_id: field("message_id"),
            flag: field("flag"),
            op: serde_json::Map::new(),
        };
        self.quick.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
        id
    }

    /// Close a slot and take its quick operation (empty: none).
    pub fn close_quick(&self, id: u64) -> serde_json::Map<String, Value> {
        let mut slots = self.quick.lock().unwrap_or_else(|e| e.into_inner());
        match slots.iter().position(|s| s.id == id) {
            Some(i) => slots.remove(i).op,
            None => serde_json::Map::new(),
        }
    }

    /// Fold an action into the first open slot it is about, if the quick-operation vocabulary can say it.
    fn try_quick(&self, action: &Action) -> Option<Value> {
        let mut slots = self.quick.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.iter_mut().find(|slot| slot.accepts(action))?;
        slot.apply(action);
        Some(json!({ "message_id": "" }))
    }

    /// Record a heartbeat.
    pub fn heartbeat(&self, interval: Duration) {
        *self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), interval));
    }
}

impl BotConnection for OneBotBot {
    fn platform(&self) -> &str {
        PLATFORM
    }

    /// Online while an API channel is up, the implementation has not said the account is offline, and, if it
    /// sends heartbeats, the last one is younger than two intervals.
    fn online(&self) -> bool {
        let heartbeat = *self.heartbeat.lock().unwrap_or_else(|e| e.into_inner());
        self.api_up()
            && !self.reported_offline.load(Ordering::Relaxed)
            && heartbeat.is_none_or(|(at, interval)| at.elapsed() <= interval * 2 + Duration::from_secs(1))
    }

    fn call(&self, action: Action) -> ApiFuture {
        let api = self.api.read().unwrap_or_else(|e| e.into_inner()).clone();
        // Without an API channel (an HTTP POST-only connection), an action about an event whose POST is still open
        // becomes part of that POST's quick-operation response.
        if api.is_none()
            && let Some(data) = self.try_quick(&action)
        {
            return Box::pin(std::future::ready(Ok(data)));
        }
        let governor = self.governor.read().unwrap_or_else(|e| e.into_inner()).clone();
        let self_id = self.self_id.clone();
        Box::pin(async move {
            let (name, params) = protocol::action_request(&action);
            if let Some(governor) = governor
                && coral_model::wire::name::is_send(&name)
            {
                governor.admit(&name).await?;
            }
            match api {
                Some(Api::Ws(link)) => link.call(&name, params).await,
                Some(Api::Http(http)) => http.call(&name, params).await,
                Some(Api::Split(split)) => match split.link().await {
                    Some(link) => link.call(&name, params).await,
                    None => Err(ApiError::BotUnavailable(self_id)),
                },
                None => Err(ApiError::BotUnavailable(self_id)),
            }
        })
    }
}

/// An event POSTed over HTTP whose response is still open, and the quick operation built for it so far.
/// Quick operations (OneBot V11): `reply` (+ `at_sender`) for messages; `delete`, `kick`, `ban` (+ `ban_duration`)
/// for group messages; `approve` (+ `remark` / `reason`) for requests. Each is the same [`Action`] a plugin calls,
/// so it passed the same capability check.
#[derive(Debug)]
struct QuickSlot {
    id: u64,
    post_type: String,
    /// `message_type` or `request_type`.
    detail_type: String,
    group_id: Option<String>,
    user_id: Option<String>,
    message_id: Option<String>,
    flag: Option<String>,
    op: serde_json::Map<String, Value>,
}

impl QuickSlot {
    fn is_message(&self) -> bool {
        self.post_type == "message"
    }

    fn in_group(&self, group: &str) -> bool {
        self.is_message() && self.detail_type == "group" && self.group_id.as_deref() == Some(group)
    }

    fn with_user(&self, user: &str) -> bool {
        self.is_message() && self.detail_type == "private" && self.user_id.as_deref() == Some(user)
    }

    fn accepts(&self, action: &Action) -> bool {
        use coral_model::bindings::Chat;
        let fresh = |k: &str| !self.op.contains_key(k);
        match action {
            Action::SendMsg {
                target: Chat::Group(g), ..
            }
            | Action::SendGroupMsg { group_id: g, .. } => fresh("reply") && self.in_group(g),
            Action::SendMsg {
                target: Chat::Private(u),
                ..
            }
            | Action::SendPrivateMsg { user_id: u, .. } => fresh("reply") && self.with_user(u),
            Action::DeleteMsg { message_id } => {
                fresh("delete") && self.detail_type == "group" && self.message_id.as_deref() == Some(message_id)
            }
            Action::SetGroupKick {
                group_id,
                user_id,
                reject_add_request: false,
            } => fresh("kick") && self.in_group(group_id) && self.user_id.as_deref() == Some(user_id),
            Action::SetGroupBan {
                group_id,
                user_id,
                duration_secs,
            } => {
                fresh("ban")
                    && *duration_secs > 0
                    && self.in_group(group_id)
                    && self.user_id.as_deref() == Some(user_id)
            }
            Action::SetFriendAddRequest { flag, .. } => {
                fresh("approve") && self.detail_type == "friend" && self.flag.as_deref() == Some(flag)
            }
            Action::SetGroupAddRequest { flag, .. } => {
                fresh("approve")
                    && self.detail_type == "group"
                    && self.post_type == "request"
                    && self.flag.as_deref() == Some(flag)
            }
            _ => false,
        }
    }

    fn apply(&mut self, action: &Action) {
        use coral_model::bindings::Segment;
        let reply = |op: &mut serde_json::Map<String, Value>,
                     message: &[Segment],
                     reply_to: Option<&String>,
                     at: Option<&String>,
                     sender: Option<&String>| {
            let mut segments = Vec::new();
            if let Some(id) = reply_to {
                segments.push(Segment::Reply(id.clone()));
            }
            // `at_sender` can only mention the event's sender; anyone else is mentioned with a segment.
            let at_sender = at.is_some() && at == sender;
            if let (Some(user), false) = (at, at_sender) {
                segments.push(Segment::At(user.clone()));
                segments.push(Segment::Text(" ".into()));
            }
            segments.extend_from_slice(message);
            op.insert("reply".into(), coral_model::wire::segment::segments_to_json(&segments));
            op.insert("auto_escape".into(), Value::Bool(false));
            op.insert("at_sender".into(), Value::Bool(at_sender));
        };
        match action {
            Action::SendMsg { message, options, .. } => reply(
                &mut self.op,
                message,
                options.reply_to.as_ref(),
                options.at_sender.as_ref(),
                self.user_id.as_ref(),
            ),
            Action::SendGroupMsg { message, .. } | Action::SendPrivateMsg { message, .. } => {
                reply(&mut self.op, message, None, None, None)
            }
            Action::DeleteMsg { .. } => {
                self.op.insert("delete".into(), Value::Bool(true));
            }
            Action::SetGroupKick { .. } => {
                self.op.insert("kick".into(), Value::Bool(true));
            }
            Action::SetGroupBan { duration_secs, .. } => {
                self.op.insert("ban".into(), Value::Bool(true));
                self.op.insert("ban_duration".into(), json!(duration_secs));
            }
            Action::SetFriendAddRequest { approve, remark, .. } => {
                self.op.insert("approve".into(), Value::Bool(*approve));
                self.op.insert("remark".into(), Value::String(remark.clone()));
            }
            Action::SetGroupAddRequest { approve, reason, .. } => {
                self.op.insert("approve".into(), Value::Bool(*approve));
                self.op.insert("reason".into(), Value::String(reason.clone()));
            }
            _ => {}
        }
    }
}

/// What a socket delivers to Coral.
pub struct Inbound {
    /// Where events go.
    pub dispatcher: Arc<dyn EventSink>,
    /// Where bots are registered.
    pub registry: Arc<Registry>,
    /// Counters.
    pub stats: Arc<AdapterCounters>,
    /// Which transport, for logs.
    pub label: String,
    /// The send governor of this connection's bots, if configured.
    pub governor: Option<Arc<super::governor::Governor>>,
    /// A message event delivered again within this window of its first delivery is dropped (zero: never).
    pub dedup: Duration,
    /// Keeps the warnings about failure frames that answer no call in check.
    pub unsolicited_log: coral_model::log_limit::LogLimiter,
}

/// An event decoded from a frame.
pub struct Decoded {
    /// The event.
    pub event: coral_model::bindings::Event,
    /// The same message event was delivered shortly before: not for plugins again.
    pub duplicate: bool,
}

impl Inbound {
    /// What a transport of an entry with this dedup window delivers to `dispatcher`, bots in `registry`.
    pub fn new(
        dispatcher: Arc<dyn EventSink>,
        registry: Arc<Registry>,
        stats: Arc<AdapterCounters>,
        label: String,
        governor: Option<Arc<super::governor::Governor>>,
        dedup: Duration,
    ) -> Inbound {
        Inbound {
            dispatcher,
            registry,
            stats,
            label,
            governor,
            dedup,
            unsolicited_log: coral_model::log_limit::LogLimiter::new(UNSOLICITED_LOG_PERIOD),
        }
    }

    /// Handle one text frame: a response (`status` or `retcode`, no `post_type`) goes to `link`; an event is
    /// decoded and dispatched. A response that answers no call (no echo, an empty one, or one nobody waits for) is
    /// logged, a failure at WARN. Anything else is counted and logged; the connection stays up. Returns the
    /// event's `self_id`.
    pub fn frame(&self, text: &str, link: Option<&WsLink>) -> Option<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                self.malformed(text, "not a JSON object");
                return None;
            }
        };
        if value.get("post_type").is_some() {
            return self.event(value);
        }
        if value.get("status").is_some() || value.get("retcode").is_some() {
            let unmatched = match link {
                Some(link) => link.resolve(value).err(),
                None => {
                    self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                    Some(value)
                }
            };
            if let Some(response) = unmatched {
                self.unsolicited(&response);
            }
            return None;
        }
        self.malformed(text, "neither an event nor a response");
        None
    }

    /// A response that answers no call: a failure (e.g. NapCat's retcode 1403 after a wrong token, with a null
    /// echo) is worth a warning; a late or foreign success is not.
    fn unsolicited(&self, response: &Value) {
        let echo = response
            .get("echo")
            .map(Value::to_string)
            .unwrap_or_else(|| "none".into());
        let echo: String = echo.chars().take(64).collect();
        if is_success(response) {
            tracing::debug!(
                transport = %self.label,
                "response with an unknown echo ({}) ignored",
                coral_model::text::escape(&echo)
            );
            return;
        }
        let Some(held_back) = self.unsolicited_log.admit() else {
            return;
        };
        let text: String = failure_text(response).chars().take(300).collect();
        let held_back = if held_back > 0 {
            format!(" ({held_back} more held back)")
        } else {
            String::new()
        };
        tracing::warn!(
            transport = %self.label,
            "the implementation sent a failure that answers no call (echo {}): status {}, retcode {}: {}{held_back}",
            coral_model::text::escape(&echo),
            coral_model::text::escape(status_of(response)),
            retcode_of(response),
            coral_model::text::escape(&text),
        );
    }

    /// Decode and dispatch an event (unless it is a duplicate delivery); returns its `self_id`.
    pub fn event(&self, value: Value) -> Option<String> {
        let decoded = self.decode(value)?;
        let self_id = decoded.event.self_id.clone();
        if !decoded.duplicate {
            self.dispatcher.dispatch(decoded.event);
        }
        Some(self_id)
    }

    /// Decode an event, and take note of what it says about its bot: heartbeats, whether the account is online,
    /// and whether the same message was delivered shortly before. A malformed event is counted and logged.
    pub fn decode(&self, value: Value) -> Option<Decoded> {
        let event = match protocol::decode_event(&value) {
            Ok(event) => event,
            Err(e) => {
                self.malformed(&value.to_string(), &e.to_string());
                return None;
            }
        };
        let bot = self.registry.bot(&event.self_id);
        // A heartbeat without an interval says nothing about when the next one is due.
        if let EventKind::Meta(MetaEvent::Heartbeat(hb)) = &event.kind
            && hb.interval_ms > 0
        {
            bot.heartbeat(Duration::from_millis(hb.interval_ms));
        }
        match liveness(&value) {
            Liveness::Offline(why) => bot.report(false, &why),
            Liveness::Online(why) => bot.report(true, why),
        }
        let duplicate = match dedup_key(&value) {
            Some(key) => bot.repeated(&key, fingerprint(&value), self.dedup),
            None => false,
        };
        if duplicate {
            let n = self.stats.duplicates.fetch_add(1, Ordering::Relaxed) + 1;
            bot.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                transport = %self.label,
                self_id = %coral_model::text::escape(&event.self_id),
                duplicates_total = n,
                "dropped a message event delivered again within {} s: {}",
                self.dedup.as_secs(),
                coral_model::text::escape(&dedup_key(&value).unwrap_or_default()),
            );
        }
        Some(Decoded { event, duplicate })
    }

    fn malformed(&self, text: &str, why: &str) {
        let n = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut sample: String = text.chars().take(120).collect();
        sample = coral_model::text::sanitize(&sample);
        tracing::warn!(transport = %self.label, malformed_total = n, "ignored a frame ({why}): {sample}");
    }
}

/// Who sent a message, where, and what: a message id reused for a different message (NapCat's ids are hashes kept
/// in a bounded table) is not taken for a second delivery of the first.
fn fingerprint(event: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    for key in ["message_type", "user_id", "group_id", "message"] {
        match event.get(key) {
            Some(Value::String(s)) => s.hash(&mut hasher),
            Some(value) => value.to_string().hash(&mut hasher),
            None => 0u8.hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// What an event says about whether its bot's account is online.
#[derive(Debug, PartialEq, Eq)]
enum Liveness {
    /// A heartbeat with `status.online == false`, or a `bot_offline` notice (with the reason, escaped).
    Offline(String),
    /// Anything else: the account is there.
    Online(&'static str),
}

fn liveness(event: &Value) -> Liveness {
    let field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
    match (field("post_type"), field("meta_event_type"), field("notice_type")) {
        ("meta_event", "heartbeat", _) => {
            if event.pointer("/status/online") == Some(&Value::Bool(false)) {
                Liveness::Offline("a heartbeat says status.online = false".into())
            } else {
                Liveness::Online("a heartbeat")
            }
        }
        ("notice", _, "bot_offline") => {
            let reason: String = [field("tag"), field("message")]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(": ")
                .chars()
                .take(200)
                .collect();
            Liveness::Offline(format!("a bot_offline notice ({})", coral_model::text::escape(&reason)))
        }
        _ => Liveness::Online("an event"),
    }
}

/// The identity of a message event for dropping duplicate deliveries (the bot is implied): its `post_type`
/// (`message` or `message_sent`) and `message_id`. Other events, and messages without an id, have none. A delivery
/// with the same key is a duplicate only if its [`fingerprint`] is the same too.
fn dedup_key(event: &Value) -> Option<String> {
    let post_type = event.get("post_type").and_then(Value::as_str)?;
    if post_type != "message" && post_type != "message_sent" {
        return None;
    }
    let id = match event.get("message_id")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => return None,
    };
    Some(format!("{post_type}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_the_implementations_retcode_and_wording() {
        let ok = envelope(
            "get_status",
            json!({"status": "ok", "retcode": 0, "data": {"good": true}}),
        );
        assert_eq!(ok.unwrap()["good"], true);
        assert_eq!(
            envelope("set_restart", json!({"status": "async", "retcode": 1, "data": null})).unwrap(),
            Value::Null
        );
        let failed = json!({"status": "failed", "retcode": 1200, "message": "Timeout: NTEvent", "wording": "超时"});
        match envelope("send_msg", failed) {
            Err(ApiError::Failed { retcode, message, .. }) => {
                assert_eq!(retcode, 1200);
                assert_eq!(message, "Timeout: NTEvent (超时)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failures_text_keeps_message_msg_and_wording() {
        let text = |v: Value| match envelope("delete_msg", v) {
            Err(ApiError::Failed { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        // go-cqhttp: `msg` is the code, `wording` the human text.
        assert_eq!(
            text(json!({"status": "failed", "retcode": 100, "msg": "MSG_NOT_FOUND", "wording": "消息不存在"})),
            "MSG_NOT_FOUND (消息不存在)"
        );
        assert_eq!(
            text(
                json!({"status": "failed", "retcode": 100, "message": "failed", "msg": "MSG_NOT_FOUND",
                "wording": "消息不存在"})
            ),
            "failed (MSG_NOT_FOUND; 消息不存在)"
        );
        // NapCat repeats `message` as `wording`: said once.
        assert_eq!(
            text(json!({"status": "failed", "retcode": 1200, "message": "boom", "wording": "boom"})),
            "boom"
        );
        assert_eq!(text(json!({"status": "failed", "retcode": 1})), "");
    }

    /// A link whose frames can be read back, and a call on it already sent; returns the call's echo.
    async fn sent_call(
        timeout: Duration,
    ) -> (
        Arc<WsLink>,
        mpsc::Receiver<String>,
        tokio::task::JoinHandle<Result<Value, ApiError>>,
        Value,
    ) {
        let (tx, mut rx) = mpsc::channel(8);
        let link = WsLink::new(tx, timeout, Arc::default());
        let call = tokio::spawn({
            let link = link.clone();
            async move { link.call("download_file_stream", json!({})).await }
        });
        let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        (link, rx, call, frame["echo"].clone())
    }

    fn chunk(echo: &Value, index: usize) -> Value {
        json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "stream", "data_type": "file_chunk", "index": index, "data": format!("part{index}")}})
    }

    #[tokio::test]
    async fn a_streamed_response_is_collected_until_its_final_frame() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        for i in 0..3 {
            assert!(link.resolve(chunk(&echo, i)).is_ok());
        }
        assert_eq!(link.pending(), 1, "chunks do not end the call");
        let last = json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "response", "data_type": "file_complete", "total_chunks": 3}});
        assert!(link.resolve(last).is_ok());
        let result = call.await.unwrap().unwrap();
        let parts: Vec<&str> = result["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["data"].as_str().unwrap())
            .collect();
        assert_eq!(parts, ["part0", "part1", "part2"]);
        assert_eq!(result["total_chunks"], 3);
        assert_eq!(result["type"], "response");
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn a_stream_ends_with_a_failure_or_an_unmarked_frame_and_a_reset_starts_it_over() {
        // A failed frame ends it with the failure.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert!(link.resolve(chunk(&echo, 0)).is_ok());
        let error = json!({"status": "failed", "retcode": 1200, "stream": "stream-action", "echo": echo,
            "data": {"type": "error", "data_type": "error"}, "message": "disk full", "wording": "disk full"});
        assert!(link.resolve(error).is_ok());
        match call.await.unwrap() {
            Err(ApiError::Failed {
                retcode: 1200, message, ..
            }) => assert_eq!(message, "disk full"),
            other => panic!("{other:?}"),
        }
        // A frame on the same echo without the stream mark is final; a reset dropped the chunks before it.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert!(link.resolve(chunk(&echo, 0)).is_ok());
        let reset = json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "reset"}});
        assert!(link.resolve(reset).is_ok());
        assert!(link.resolve(chunk(&echo, 1)).is_ok());
        assert!(
            link.resolve(json!({"status": "ok", "retcode": 0, "echo": echo, "data": "done"}))
                .is_ok()
        );
        let result = call.await.unwrap().unwrap();
        assert_eq!(result, json!({"chunks": [chunk(&echo, 1)["data"]], "data": "done"}));
        // Without chunks, the final data is returned as it is.
        assert_eq!(assemble(Vec::new(), json!({"a": 1})), json!({"a": 1}));
        assert_eq!(assemble(vec![json!(1)], Value::Null), json!({"chunks": [1]}));
    }

    #[tokio::test]
    async fn a_stream_over_its_bounds_fails_the_call() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        for i in 0..MAX_STREAM_CHUNKS {
            assert!(link.resolve(chunk(&echo, i)).is_ok());
        }
        assert_eq!(link.pending(), 1);
        assert!(link.resolve(chunk(&echo, MAX_STREAM_CHUNKS)).is_ok());
        match call.await.unwrap() {
            Err(ApiError::BadResponse { reason, .. }) => assert!(reason.contains("1024 chunks"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(link.pending(), 0);
        // Bytes: one chunk of just over the whole budget.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        let mut big = chunk(&echo, 0);
        big["data"]["data"] = json!("x".repeat(MAX_STREAM_BYTES));
        assert!(link.resolve(big).is_ok());
        assert!(matches!(call.await.unwrap(), Err(ApiError::BadResponse { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn each_chunk_restarts_the_calls_timeout() {
        let (link, _rx, call, echo) = sent_call(Duration::from_millis(100)).await;
        // Five chunks 60 ms apart: 300 ms in all, three times the timeout, but never 100 ms of silence.
        for i in 0..5 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert!(link.resolve(chunk(&echo, i)).is_ok());
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            link.resolve(json!({"status": "ok", "retcode": 0, "echo": echo, "data": {}}))
                .is_ok()
        );
        let result = call.await.unwrap().unwrap();
        assert_eq!(result["chunks"].as_array().unwrap().len(), 5);
        // Silence after a chunk still times out.
        let (link, _rx, call, echo) = sent_call(Duration::from_millis(100)).await;
        assert!(link.resolve(chunk(&echo, 0)).is_ok());
        assert!(matches!(call.await.unwrap(), Err(ApiError::Timeout { .. })));
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn frames_without_our_echo_never_answer_a_pending_call() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert_eq!(echo, json!(1));
        let failure = |echo: Value| {
            json!({"status": "failed", "retcode": 1403, "data": null,
            "message": "token验证失败", "wording": "token验证失败", "echo": echo})
        };
        for echo in [Value::Null, json!(""), json!("abc"), json!(2), json!({"id": 1})] {
            let frame = failure(echo.clone());
            assert_eq!(link.resolve(frame.clone()), Err(frame), "echo {echo}");
        }
        let mut no_echo = failure(Value::Null);
        no_echo.as_object_mut().unwrap().remove("echo");
        assert!(link.resolve(no_echo).is_err());
        assert_eq!(link.pending(), 1, "the pending call is still waiting");
        assert_eq!(link.stats.unmatched.load(Ordering::Relaxed), 6);
        assert!(
            link.resolve(json!({"status": "ok", "retcode": 0, "data": 7, "echo": "1"}))
                .is_ok()
        );
        assert_eq!(call.await.unwrap().unwrap(), json!(7));
    }

    #[test]
    fn liveness_follows_heartbeats_and_bot_offline_notices() {
        let beat = |status: Value| {
            json!({"post_type": "meta_event", "meta_event_type": "heartbeat",
            "self_id": 10001, "interval": 5000, "status": status})
        };
        assert!(matches!(
            liveness(&beat(json!({"online": false, "good": true}))),
            Liveness::Offline(_)
        ));
        assert_eq!(
            liveness(&beat(json!({"online": true, "good": true}))),
            Liveness::Online("a heartbeat")
        );
        assert_eq!(liveness(&beat(Value::Null)), Liveness::Online("a heartbeat"));
        let offline = json!({"post_type": "notice", "notice_type": "bot_offline", "self_id": 10001,
            "user_id": 10001, "tag": "被下线", "message": "账号在别处登录\n[fake] line"});
        match liveness(&offline) {
            Liveness::Offline(why) => {
                assert!(why.contains("被下线: 账号在别处登录\\n[fake] line"), "{why}");
                assert!(!why.contains('\n'), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let message = json!({"post_type": "message", "message_type": "private", "self_id": 10001});
        assert_eq!(liveness(&message), Liveness::Online("an event"));
    }

    #[test]
    fn a_bot_reported_offline_is_offline_until_an_event_says_otherwise() {
        let registry = Registry::new(Bots::default());
        let bot = registry.bot("10001");
        let (tx, _rx) = mpsc::channel(8);
        bot.set_api(Api::Ws(WsLink::new(tx, Duration::from_secs(1), Arc::default())), None);
        assert!(bot.online());
        bot.report(false, "test");
        assert!(!bot.online());
        assert_eq!(
            registry.bots.list(),
            [coral_model::BotEntry {
                self_id: "10001".into(),
                platform: "onebot".into(),
                online: false
            }]
        );
        bot.report(true, "test");
        assert!(bot.online());
    }

    #[test]
    fn message_ids_repeated_within_the_window_are_duplicates_and_memory_is_bounded() {
        let key = |e: Value| dedup_key(&e);
        assert_eq!(
            key(json!({"post_type": "message", "message_id": 5})).as_deref(),
            Some("message/5")
        );
        assert_eq!(
            key(json!({"post_type": "message_sent", "message_id": "ab"})).as_deref(),
            Some("message_sent/ab")
        );
        assert_eq!(key(json!({"post_type": "notice", "message_id": 5})), None);
        assert_eq!(key(json!({"post_type": "message"})), None);
        assert_eq!(key(json!({"post_type": "message", "message_id": ""})), None);

        let window = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut seen = SeenIds::default();
        assert!(!seen.repeated("message/1", 7, window, t0));
        assert!(seen.repeated("message/1", 7, window, t0 + Duration::from_secs(59)));
        assert!(
            !seen.repeated("message_sent/1", 7, window, t0),
            "post_type is part of the identity"
        );
        assert!(
            !seen.repeated("message/1", 7, window, t0 + Duration::from_secs(61)),
            "the window is over"
        );
        assert!(seen.repeated("message/1", 7, window, t0 + Duration::from_secs(62)));
        assert!(
            !seen.repeated("message/1", 8, window, t0 + Duration::from_secs(62)),
            "a different message"
        );
        // Zero: never a duplicate.
        assert!(!seen.repeated("message/1", 8, Duration::ZERO, t0 + Duration::from_secs(62)));
        // Bounded: the oldest ids are forgotten first.
        let mut seen = SeenIds::default();
        for i in 0..MAX_SEEN_IDS + 10 {
            assert!(!seen.repeated(&format!("message/{i}"), 7, window, t0));
        }
        assert!(seen.first.len() <= MAX_SEEN_IDS && seen.order.len() <= MAX_SEEN_IDS);
        assert!(!seen.repeated("message/0", 7, window, t0), "forgotten");
        assert!(seen.repeated(&format!("message/{}", MAX_SEEN_IDS + 9), 7, window, t0));
        // The fingerprint: sender, chat and content.
        let event = json!({"post_type": "message", "message_type": "group", "message_id": 5, "group_id": 1,
            "user_id": 2, "message": [{"type": "text", "data": {"text": "hi"}}], "time": 1});
        let mut again = event.clone();
        again["time"] = json!(2);
        assert_eq!(fingerprint(&event), fingerprint(&again));
        for (key, value) in [("user_id", json!(3)), ("group_id", json!(4)), ("message", json!("hi"))] {
            let mut other = event.clone();
            other[key] = value;
            assert_ne!(fingerprint(&event), fingerprint(&other), "{key}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_split_entrys_bot_waits_for_the_api_connection_and_counts_its_connections() {
        let registry = Registry::new(Bots::default());
        let split = SplitApi::new(SPLIT_API_WAIT, None);
        let bot = registry.bot("10001");
        // Known from an event before `/api` is up: offline, but a call waits for the connection.
        assert!(split.bind(&bot));
        assert!(!split.bind(&bot), "bound once");
        assert!(split.serves(&bot));
        assert!(!bot.online());
        let call = tokio::spawn({
            let bot = bot.clone();
            async move { bot.call(Action::GetStatus).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (tx, mut rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_secs(30), Arc::default());
        split.connected(link.clone());
        assert!(bot.online());
        let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(frame["action"], "get_status");
        assert!(
            link.resolve(json!({"status": "ok", "retcode": 0, "data": {"good": true}, "echo": frame["echo"]}))
                .is_ok()
        );
        assert_eq!(call.await.unwrap().unwrap()["good"], true);
        assert_eq!(bot.stats.connects.load(Ordering::Relaxed), 1);
        // `/api` goes away: offline, and a call gives up after the bounded wait.
        split.disconnected(&link);
        assert!(!bot.online());
        let failed = bot.call(Action::GetStatus).await;
        assert!(matches!(failed, Err(ApiError::BotUnavailable(_))), "{failed:?}");
        // It comes back: counted as a reconnection.
        let (tx, _rx) = mpsc::channel(8);
        split.connected(WsLink::new(tx, Duration::from_secs(30), Arc::default()));
        assert!(bot.online());
        assert_eq!(bot.stats.connects.load(Ordering::Relaxed), 2);
        // Another connection takes the bot over, then goes: the split entry can take it back.
        let (tx, _rx) = mpsc::channel(8);
        let other = WsLink::new(tx, Duration::from_secs(30), Arc::default());
        bot.set_api(Api::Ws(other.clone()), None);
        assert!(!split.serves(&bot));
        bot.drop_link(&other);
        assert!(!bot.api_up());
        assert!(split.bind(&bot));
        assert!(bot.online());
    }

    #[tokio::test]
    async fn responses_are_matched_by_echo_in_any_order_and_unknown_echoes_are_ignored() {
        let (tx, mut rx) = mpsc::channel(8);
        let stats = Arc::new(AdapterCounters::default());
        let link = WsLink::new(tx, Duration::from_secs(5), stats.clone());
        let a = tokio::spawn({
            let link = link.clone();
            async move { link.call("a", json!({})).await }
        });
        let b = tokio::spawn({
            let link = link.clone();
            async move { link.call("b", json!({})).await }
        });
        let mut echoes = Vec::new();
        for _ in 0..2 {
            let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
            echoes.push((frame["action"].as_str().unwrap().to_string(), frame["echo"].clone()));
        }
        assert!(
            link.resolve(json!({"status": "ok", "retcode": 0, "data": 0, "echo": 999}))
                .is_err()
        );
        // Answer in reverse order, the second one with its echo as a string.
        for (action, echo) in echoes.iter().rev() {
            let echo = if action == "a" {
                json!(echo.to_string())
            } else {
                echo.clone()
            };
            assert!(
                link.resolve(json!({"status": "ok", "retcode": 0, "data": action, "echo": echo}))
                    .is_ok()
            );
        }
        assert_eq!(a.await.unwrap().unwrap(), json!("a"));
        assert_eq!(b.await.unwrap().unwrap(), json!("b"));
        assert_eq!(stats.unmatched.load(Ordering::Relaxed), 1);
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn closing_fails_pending_calls_at_once_and_timeouts_clean_up() {
        let (tx, _rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_millis(50), Arc::default());
        let timed_out = link.call("slow", json!({})).await;
        assert!(matches!(timed_out, Err(ApiError::Timeout { .. })), "{timed_out:?}");
        assert_eq!(link.pending(), 0);
        let (tx, _rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_secs(60), Arc::default());
        let call = tokio::spawn({
            let link = link.clone();
            async move { link.call("x", json!({})).await }
        });
        while link.pending() == 0 {
            tokio::task::yield_now().await;
        }
        link.close();
        assert!(matches!(call.await.unwrap(), Err(ApiError::Disconnected { .. })));
    }
}
