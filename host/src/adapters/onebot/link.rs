//! What every OneBot transport shares: the echo-matched API call over a socket ([`WsLink`]), the response envelope,
//! the per-bot connection object registered in [`Bots`] ([`OneBotBot`]), and the handling of one incoming frame.

use super::protocol;
use crate::adapters::{Action, ApiError, ApiFuture, BotConnection, Bots};
use crate::runtime::Dispatcher;
use crate::runtime::bindings::{EventKind, coral::bot::types::MetaEvent};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The platform name.
pub const PLATFORM: &str = "onebot";
/// Outgoing frames queued per socket before callers see `busy`.
pub const OUTBOX_LEN: usize = 1024;

/// Counters for the adapter (malformed frames, unknown echoes).
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames that were not JSON objects, or not a known shape.
    pub malformed: AtomicU64,
    /// Responses whose echo matched no pending call (late, duplicate or foreign).
    pub unmatched: AtomicU64,
}

/// An API-capable WebSocket: frames out through `outbox`, responses matched to callers by `echo`.
pub struct WsLink {
    outbox: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_echo: AtomicU64,
    timeout: Duration,
    closed: AtomicBool,
    stats: Arc<LinkStats>,
}

impl WsLink {
    /// A link writing to `outbox`.
    pub fn new(outbox: mpsc::Sender<String>, timeout: Duration, stats: Arc<LinkStats>) -> Arc<Self> {
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
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(echo, tx);
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
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => {
                forget();
                Err(ApiError::Timeout {
                    action: action.into(),
                    ms: self.timeout.as_millis() as u64,
                })
            }
            Ok(Err(_)) => Err(ApiError::Disconnected { action: action.into() }),
            Ok(Ok(response)) => envelope(action, response),
        }
    }

    /// Hand a response frame to its caller; false if no call was waiting for its echo.
    pub fn resolve(&self, response: Value) -> bool {
        let echo = match response.get("echo") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let waiter = echo.and_then(|e| self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&e));
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
                true
            }
            None => {
                self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
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

/// Read a `{status, retcode, data, message, wording}` response: `ok` and `async` succeed (with `data`), anything
/// else is the implementation's failure with its own retcode and text.
pub fn envelope(action: &str, response: Value) -> Result<Value, ApiError> {
    let status = response.get("status").and_then(Value::as_str).unwrap_or("");
    let retcode = response
        .get("retcode")
        .and_then(Value::as_i64)
        .unwrap_or(if status == "ok" { 0 } else { -1 });
    if status == "ok" || status == "async" || (status.is_empty() && retcode == 0) {
        return Ok(response.get("data").cloned().unwrap_or(Value::Null));
    }
    let text = |k: &str| {
        response
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut message = text("message").or_else(|| text("msg")).unwrap_or_default();
    if let Some(wording) = text("wording").filter(|w| *w != message) {
        message = if message.is_empty() {
            wording
        } else {
            format!("{message} ({wording})")
        };
    }
    Err(ApiError::Failed {
        action: action.into(),
        retcode: retcode as i32,
        message,
    })
}

/// How a bot's API calls travel.
#[derive(Clone)]
pub enum Api {
    /// Over a WebSocket (universal or API connection).
    Ws(Arc<WsLink>),
    /// Over HTTP (`POST <url>/<action>`).
    Http(Arc<super::http::HttpApi>),
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
    /// Its counters (connections are counted here).
    stats: Arc<crate::ops::BotStats>,
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
                    stats: self.bots.stats(self_id),
                });
                self.bots.insert(self_id, bot.clone());
                bot
            })
            .clone()
    }
}

impl OneBotBot {
    /// Route API calls through `api` from now on (a reconnect replaces the old channel atomically).
    pub fn set_api(&self, api: Api, governor: Option<Arc<super::governor::Governor>>) {
        let mut current = self.api.write().unwrap_or_else(|e| e.into_inner());
        let same = match (&*current, &api) {
            (Some(Api::Ws(a)), Api::Ws(b)) => Arc::ptr_eq(a, b),
            (Some(Api::Http(a)), Api::Http(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same {
            self.stats.connects.fetch_add(1, Ordering::Relaxed);
        }
        *current = Some(api);
        drop(current);
        *self.governor.write().unwrap_or_else(|e| e.into_inner()) = governor;
    }

    /// Forget the API channel if it is still `link` (a newer connection may already have replaced it).
    pub fn drop_link(&self, link: &Arc<WsLink>) {
        let mut api = self.api.write().unwrap_or_else(|e| e.into_inner());
        if matches!(&*api, Some(Api::Ws(current)) if Arc::ptr_eq(current, link)) {
            *api = None;
        }
    }

    /// Open a quick-operation slot for an event POSTed over HTTP; returns its id.
    pub fn open_quick(&self, event: &Value) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let field = |k: &str| crate::api::data::opt_str(event, k).filter(|s| !s.is_empty());
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

    /// Online while an API channel exists and, if the implementation sends heartbeats, the last one is younger
    /// than two intervals.
    fn online(&self) -> bool {
        let has_api = self.api.read().unwrap_or_else(|e| e.into_inner()).is_some();
        let heartbeat = *self.heartbeat.lock().unwrap_or_else(|e| e.into_inner());
        has_api && heartbeat.is_none_or(|(at, interval)| at.elapsed() <= interval * 2 + Duration::from_secs(1))
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
                && crate::policy::standard_capability(&name) == Some(crate::policy::Capability::Send)
            {
                governor.admit(&name).await?;
            }
            match api {
                Some(Api::Ws(link)) => link.call(&name, params).await,
                Some(Api::Http(http)) => http.call(&name, params).await,
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
        use crate::runtime::bindings::Chat;
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
        use crate::runtime::bindings::Segment;
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
            op.insert("reply".into(), protocol::segments_to_json(&segments));
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
    pub dispatcher: Dispatcher,
    /// Where bots are registered.
    pub registry: Arc<Registry>,
    /// Counters.
    pub stats: Arc<LinkStats>,
    /// Which transport, for logs.
    pub label: String,
    /// The send governor of this connection's bots, if configured.
    pub governor: Option<Arc<super::governor::Governor>>,
}

impl Inbound {
    /// Handle one text frame: a response (has `echo`, no `post_type`) goes to `link`; an event is decoded and
    /// dispatched. Anything else is counted and logged; the connection stays up. Returns the event's `self_id`.
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
        if value.get("echo").is_some() && (value.get("status").is_some() || value.get("retcode").is_some()) {
            match link {
                Some(link) => {
                    if !link.resolve(value) {
                        tracing::debug!(transport = %self.label, "response with an unknown echo ignored");
                    }
                }
                None => self.malformed(text, "a response on an event-only connection"),
            }
            return None;
        }
        self.malformed(text, "neither an event nor a response");
        None
    }

    /// Decode and dispatch an event; returns its `self_id`.
    pub fn event(&self, value: Value) -> Option<String> {
        let event = self.decode(value)?;
        let self_id = event.self_id.clone();
        self.dispatcher.dispatch(event);
        Some(self_id)
    }

    /// Decode an event (recording heartbeats); a malformed one is counted and logged.
    pub fn decode(&self, value: Value) -> Option<crate::runtime::bindings::Event> {
        match protocol::decode_event(&value) {
            Ok(event) => {
                // A heartbeat without an interval says nothing about when the next one is due.
                if let EventKind::Meta(MetaEvent::Heartbeat(hb)) = &event.kind
                    && hb.interval_ms > 0
                {
                    self.registry
                        .bot(&event.self_id)
                        .heartbeat(Duration::from_millis(hb.interval_ms));
                }
                Some(event)
            }
            Err(e) => {
                self.malformed(&value.to_string(), &e.to_string());
                None
            }
        }
    }

    fn malformed(&self, text: &str, why: &str) {
        let n = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut sample: String = text.chars().take(120).collect();
        sample = crate::runtime::state::sanitize(&sample);
        tracing::warn!(transport = %self.label, malformed_total = n, "ignored a frame ({why}): {sample}");
    }
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

    #[tokio::test]
    async fn responses_are_matched_by_echo_in_any_order_and_unknown_echoes_are_ignored() {
        let (tx, mut rx) = mpsc::channel(8);
        let stats = Arc::new(LinkStats::default());
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
        assert!(!link.resolve(json!({"status": "ok", "retcode": 0, "data": 0, "echo": 999})));
        // Answer in reverse order, the second one with its echo as a string.
        for (action, echo) in echoes.iter().rev() {
            let echo = if action == "a" {
                json!(echo.to_string())
            } else {
                echo.clone()
            };
            assert!(link.resolve(json!({"status": "ok", "retcode": 0, "data": action, "echo": echo})));
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
