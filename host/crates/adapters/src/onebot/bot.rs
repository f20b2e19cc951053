//! The per-bot connection object registered in [`Bots`] ([`OneBotBot`]: its API channel, liveness and recently seen
//! message ids) and the [`Registry`] of them by self id; a split forward-WebSocket entry's API side ([`SplitApi`]).

use super::link::WsLink;
use super::protocol;
use super::quick::QuickSlot;
use coral_model::bindings::{ChatType, MessageEvent};
use coral_model::wire::object::{Field, Object};
use coral_model::{Action, ApiError, ApiFuture, BotConnection, Bots, Done};
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The platform name.
pub const PLATFORM: &str = "onebot";
/// Message ids remembered per bot for dropping duplicate deliveries.
pub const MAX_SEEN_IDS: usize = 4096;
/// Longest wait of a call on a split forward-WebSocket entry for its `/api` connection to be up.
pub const SPLIT_API_WAIT: Duration = Duration::from_secs(5);

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
        for bot in self.bound.lock().iter() {
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
        let mut bound = self.bound.lock();
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
        let api = bot.api.read();
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
    pub(super) stats: Arc<coral_model::LinkCounters>,
}

/// Which running `[[onebot]]` entry touched a bot: each started entry gets its own, so the bots only it served
/// can be unregistered when it stops ([`Registry::release`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner(u64);

impl Owner {
    /// A new owner, distinct from every other one of this process.
    pub fn new() -> Owner {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Owner(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for Owner {
    fn default() -> Self {
        Owner::new()
    }
}

/// A registered bot and the entries that touched it.
struct Known {
    bot: Arc<OneBotBot>,
    owners: Vec<Owner>,
}

/// The OneBot bots, by self id; each is also registered (as a [`BotConnection`]) in the host's [`Bots`].
#[derive(Default)]
pub struct Registry {
    bots: Bots,
    known: Mutex<HashMap<String, Known>>,
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
        self.bot_of(self_id, None)
    }

    /// The bot with this id, created (and published) on first use, noted as served by `owner` (see
    /// [`Registry::release`]).
    pub fn bot_for(&self, self_id: &str, owner: Owner) -> Arc<OneBotBot> {
        self.bot_of(self_id, Some(owner))
    }

    fn bot_of(&self, self_id: &str, owner: Option<Owner>) -> Arc<OneBotBot> {
        let mut known = self.known.lock();
        let known = known.entry(self_id.to_string()).or_insert_with(|| {
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
            Known {
                bot,
                owners: Vec::new(),
            }
        });
        if let Some(owner) = owner
            && !known.owners.contains(&owner)
        {
            known.owners.push(owner);
        }
        known.bot.clone()
    }

    /// Every bot whose calls go through `api` loses it (offline; calls fail at once as `BotUnavailable`), as when
    /// its connection drops.
    pub fn drop_api(&self, api: &Api) {
        let bots: Vec<Arc<OneBotBot>> = self.known.lock().values().map(|k| k.bot.clone()).collect();
        for bot in bots {
            bot.drop_api(api);
        }
    }

    /// `owner` stopped: it no longer serves its bots. The bots no other owner served are unregistered (removed
    /// from [`Bots`], their API channel dropped), so calls to them fail at once as `BotUnavailable`, as if they
    /// had never connected; their link counters stay. Returns their ids, sorted.
    pub fn release(&self, owner: Owner) -> Vec<String> {
        let mut gone = Vec::new();
        let mut known = self.known.lock();
        known.retain(|self_id, known| {
            let before = known.owners.len();
            known.owners.retain(|o| *o != owner);
            if before == known.owners.len() || !known.owners.is_empty() {
                return true;
            }
            *known.bot.api.write() = None;
            self.bots.remove(self_id);
            gone.push(self_id.clone());
            false
        });
        drop(known);
        gone.sort();
        gone
    }
}

/// Recently delivered message events of one bot by [`dedup_key`] (at most [`MAX_SEEN_IDS`], oldest forgotten
/// first), each with when it was first delivered and its [`fingerprint`].
#[derive(Debug, Default)]
struct SeenIds {
    first: HashMap<u64, (Instant, u64)>,
    order: VecDeque<(u64, Instant)>,
}

impl SeenIds {
    /// Whether `key` was first delivered less than `window` ago with the same `fingerprint`; if not, it is
    /// (re)recorded as delivered `now`.
    fn repeated(&mut self, key: u64, fingerprint: u64, window: Duration, now: Instant) -> bool {
        if let Some((first, print)) = self.first.get(&key)
            && *print == fingerprint
            && now.saturating_duration_since(*first) < window
        {
            return true;
        }
        self.first.insert(key, (now, fingerprint));
        self.order.push_back((key, now));
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
        let mut current = self.api.write();
        let changed = !current.as_ref().is_some_and(|c| c.same(&api));
        *current = Some(api);
        drop(current);
        *self.governor.write() = governor;
        changed
    }

    /// A new connection carries its API: counted, and it starts out online until an event says otherwise.
    fn connected(&self) {
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        self.reported_offline.store(false, Ordering::Relaxed);
    }

    /// Whether its API channel can carry a call now.
    pub fn api_up(&self) -> bool {
        self.api.read().as_ref().is_some_and(Api::is_up)
    }

    /// Forget the API channel if it is still `link` (a newer connection may already have replaced it).
    pub fn drop_link(&self, link: &Arc<WsLink>) {
        self.drop_api(&Api::Ws(link.clone()));
    }

    /// Forget the API channel if it is still `api`; true if it was.
    pub fn drop_api(&self, api: &Api) -> bool {
        let mut current = self.api.write();
        let same = current.as_ref().is_some_and(|c| c.same(api));
        if same {
            *current = None;
        }
        same
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
    pub(super) fn repeated(&self, key: u64, fingerprint: u64, window: Duration) -> bool {
        let mut seen = self.seen.lock();
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
        self.quick.lock().push(slot);
        id
    }

    /// Close a slot and take its quick operation (empty: none).
    pub fn close_quick(&self, id: u64) -> serde_json::Map<String, Value> {
        let mut slots = self.quick.lock();
        match slots.iter().position(|s| s.id == id) {
            Some(i) => slots.remove(i).op,
            None => serde_json::Map::new(),
        }
    }

    /// Fold an action into the first open slot it is about, if the quick-operation vocabulary can say it.
    fn try_quick(&self, action: &Action) -> Option<Value> {
        let mut slots = self.quick.lock();
        let slot = slots.iter_mut().find(|slot| slot.accepts(action))?;
        slot.apply(action);
        Some(json!({ "message_id": "" }))
    }

    /// Record a heartbeat.
    pub fn heartbeat(&self, interval: Duration) {
        *self.heartbeat.lock() = Some((Instant::now(), interval));
    }
}

impl BotConnection for OneBotBot {
    fn platform(&self) -> &str {
        PLATFORM
    }

    /// Online while an API channel is up, the implementation has not said the account is offline, and, if it
    /// sends heartbeats, the last one is younger than two intervals.
    fn online(&self) -> bool {
        let heartbeat = *self.heartbeat.lock();
        self.api_up()
            && !self.reported_offline.load(Ordering::Relaxed)
            && heartbeat.is_none_or(|(at, interval)| at.elapsed() <= interval * 2 + Duration::from_secs(1))
    }

    fn call(&self, action: Action) -> ApiFuture {
        let api = self.api.read().clone();
        // Without an API channel (an HTTP POST-only connection), an action about an event whose POST is still open
        // becomes part of that POST's quick-operation response.
        if api.is_none()
            && let Some(data) = self.try_quick(&action)
        {
            return Box::pin(std::future::ready(Ok(data)));
        }
        let governor = self.governor.read().clone();
        let self_id = self.self_id.clone();
        if api.is_none() {
            // Not connected: fail at once, without waiting for the send governor.
            return Box::pin(std::future::ready(Err(ApiError::BotUnavailable(self_id))));
        }
        Box::pin(async move {
            let (name, params) = protocol::action_request(&action);
            let is_send = coral_model::wire::name::is_send(name);
            // Over HTTP each message is a request of its own: they take turns, in the order they were made (the turn
            // is taken before the governor, whose queue is FIFO too), so a posted message cannot overtake another.
            let turn = match &api {
                Some(Api::Http(http)) if is_send => Some(http.send_turn().await),
                _ => None,
            };
            if let Some(governor) = governor
                && is_send
            {
                governor.admit(name).await?;
            }
            match &api {
                Some(Api::Ws(link)) => link.call(name, &params).await,
                Some(Api::Http(http)) => {
                    let answer = http.call(name, &params).await;
                    drop(turn);
                    answer
                }
                Some(Api::Split(split)) => match split.link().await {
                    Some(link) => link.call(name, &params).await,
                    None => Err(ApiError::BotUnavailable(self_id)),
                },
                None => Err(ApiError::BotUnavailable(self_id)),
            }
        })
    }

    /// Over a WebSocket, a posted action that need not wait for the send governor goes straight into the
    /// connection's outbox, and its outcome is handed over where the answer is read ([`WsLink::post`]): no task
    /// waits for it. Any other is run like [`Self::call`] ([`coral_model::run_to_done`]).
    fn post(&self, action: Action, done: Done) {
        let api = self.api.read().clone();
        if let Some(Api::Ws(link)) = api {
            let (name, params) = protocol::action_request(&action);
            let governor = self.governor.read().clone();
            let must_wait = coral_model::wire::name::is_send(name) && governor.is_some_and(|g| !g.try_admit());
            if !must_wait {
                link.post(name, &params, done);
                return;
            }
        }
        coral_model::run_to_done(self.call(action), done);
    }
}

/// Who sent a message, where, and what (as decoded: the same whichever transport delivered it): a message id reused
/// for a different message (NapCat's ids are hashes kept in a bounded table) is not taken for a second delivery of
/// the first.
pub(super) fn fingerprint(message: &MessageEvent) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (message.message_type == ChatType::Group).hash(&mut hasher);
    message.user_id.hash(&mut hasher);
    message.group_id.hash(&mut hasher);
    message.raw_message.hash(&mut hasher);
    message.message.len().hash(&mut hasher);
    hasher.finish()
}

/// The identity of a message event for dropping duplicate deliveries (the bot is implied): a hash of its
/// `post_type` (`message` or `message_sent`) and `message_id` (a number and the same number as a string are one id).
/// Other events, and messages without an id, have none. A delivery with the same key is a duplicate only if its
/// [`fingerprint`] is the same too.
pub(super) fn dedup_key(event: &impl Object) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    /// Feeds what is written to a hasher: a number's digits, as its text would be.
    struct Feed<'a>(&'a mut std::hash::DefaultHasher);
    impl std::fmt::Write for Feed<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let Field::Str(post_type) = event.field("post_type") else {
        return None;
    };
    if post_type != "message" && post_type != "message_sent" {
        return None;
    }
    let mut hasher = std::hash::DefaultHasher::new();
    post_type.hash(&mut hasher);
    match event.field("message_id") {
        Field::Number(n) => {
            use std::fmt::Write as _;
            let _ = write!(Feed(&mut hasher), "{n}");
        }
        Field::Str(s) if !s.is_empty() => hasher.write(s.as_bytes()),
        _ => return None,
    }
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::EventKind;
    use coral_model::wire::object::Fields;
    use tokio::sync::mpsc;

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
        let id = |post_type: &str, id: &str| key(json!({"post_type": post_type, "message_id": id})).unwrap();
        assert_eq!(
            key(json!({"post_type": "message", "message_id": 5})),
            Some(id("message", "5"))
        );
        assert_eq!(
            key(json!({"post_type": "message", "message_id": 12345678901_u64})),
            Some(id("message", "12345678901"))
        );
        assert_ne!(id("message", "5"), id("message", "6"));
        assert_ne!(
            id("message", "ab"),
            id("message_sent", "ab"),
            "post_type is part of the identity"
        );
        assert_eq!(key(json!({"post_type": "notice", "message_id": 5})), None);
        assert_eq!(key(json!({"post_type": "message"})), None);
        assert_eq!(key(json!({"post_type": "message", "message_id": ""})), None);

        let window = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut seen = SeenIds::default();
        let one = id("message", "1");
        assert!(!seen.repeated(one, 7, window, t0));
        assert!(seen.repeated(one, 7, window, t0 + Duration::from_secs(59)));
        assert!(
            !seen.repeated(id("message_sent", "1"), 7, window, t0),
            "post_type is part of the identity"
        );
        assert!(
            !seen.repeated(one, 7, window, t0 + Duration::from_secs(61)),
            "the window is over"
        );
        assert!(seen.repeated(one, 7, window, t0 + Duration::from_secs(62)));
        assert!(
            !seen.repeated(one, 8, window, t0 + Duration::from_secs(62)),
            "a different message"
        );
        // Zero: never a duplicate.
        assert!(!seen.repeated(one, 8, Duration::ZERO, t0 + Duration::from_secs(62)));
        // Bounded: the oldest ids are forgotten first.
        let mut seen = SeenIds::default();
        for i in 0..MAX_SEEN_IDS + 10 {
            assert!(!seen.repeated(id("message", &i.to_string()), 7, window, t0));
        }
        assert!(seen.first.len() <= MAX_SEEN_IDS && seen.order.len() <= MAX_SEEN_IDS);
        assert!(!seen.repeated(id("message", "0"), 7, window, t0), "forgotten");
        assert!(seen.repeated(id("message", &(MAX_SEEN_IDS + 9).to_string()), 7, window, t0));
        // The fingerprint: sender, chat and content, as decoded, so the same from a tree and from a frame.
        let print = |event: &Value| {
            let from_tree = protocol::decode_event(event).unwrap();
            let text = event.to_string();
            let from_frame = protocol::decode_object(&Fields::parse(&text).unwrap()).unwrap();
            match (from_tree.kind, from_frame.kind) {
                (EventKind::Message(a), EventKind::Message(b)) => {
                    assert_eq!(fingerprint(&a), fingerprint(&b));
                    fingerprint(&a)
                }
                other => panic!("not messages: {other:?}"),
            }
        };
        let event = json!({"post_type": "message", "message_type": "group", "message_id": 5, "group_id": 1,
            "user_id": 2, "message": [{"type": "text", "data": {"text": "hi"}}], "time": 1});
        let mut again = event.clone();
        again["time"] = json!(2);
        assert_eq!(print(&event), print(&again));
        for (key, value) in [
            ("user_id", json!(3)),
            ("group_id", json!(4)),
            ("message", json!("bye")),
            (
                "message",
                json!([{"type": "text", "data": {"text": "hi"}}, {"type": "face", "data": {"id": "1"}}]),
            ),
            ("message_type", json!("private")),
        ] {
            let mut other = event.clone();
            other[key] = value;
            assert_ne!(print(&event), print(&other), "{key}");
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
        assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "data": {"good": true}, "echo": frame["echo"]})));
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
}
