//! The running `[[onebot]]` entries ([`Adapters`]): applying a new list starts the new entries, keeps the unchanged
//! ones running untouched, and really stops the removed or changed ones ([`Stop`]: listener closed, connections
//! closed, tasks ended, the bots only they served unregistered).

use super::bot::{Owner, Registry};
use super::config::{self, DEFAULT_REVERSE_PATH, OneBotConfig, Transport};
use super::governor;
use super::inbound::{Inbound, Label};
use super::{http, ws};
use coral_model::{AdapterCounters, Bots, EventSink};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest wait for a stopping entry's tasks and connections to end before its task is aborted (connections still
/// open then are closed as soon as they notice the signal).
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// The stop signal of one entry, held by each of its tasks and connections: every loop of the entry selects on
/// [`Stop::stopped`]. It fires when the entry is stopped, or when its owner is dropped.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Completes once the entry is stopped (at once if it already is).
    pub async fn stopped(&self) {
        let mut rx = self.0.clone();
        // An error means the owner is gone: stopped too.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Whether the entry is stopped.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}

/// The owner's side of a [`Stop`]: fires it, and sees when every holder is gone.
#[derive(Debug)]
struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    fn new() -> (StopHandle, Stop) {
        let (tx, rx) = watch::channel(false);
        (StopHandle(tx), Stop(rx))
    }

    fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Completes once no task or connection holds the signal any more: they all ended.
    async fn finished(&self) {
        self.0.closed().await;
    }
}

/// Why an entry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The entry is not valid (the message names it, `onebot[i]…`).
    #[error("{reason}")]
    Invalid {
        /// Its position in the list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Its listener could not be bound (e.g. the port is taken).
    #[error("onebot[{index}]: cannot listen on {addr}: {source}")]
    Listen {
        /// Its position in the list.
        index: usize,
        /// The `listen` address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl StartError {
    /// The position of the entry in the list.
    pub fn index(&self) -> usize {
        match self {
            StartError::Invalid { index, .. } | StartError::Listen { index, .. } => *index,
        }
    }
}

/// What [`Adapters::apply`] did with one entry of the list it was given.
#[derive(Debug)]
pub enum Change {
    /// Unchanged: kept running, its connections untouched. `was`: its position in the previous list.
    Kept {
        /// Its position before.
        was: usize,
    },
    /// Started: a new entry, or the new config of the entry at the same position (`replaces`), which was
    /// stopped first.
    Started {
        /// The position (in the previous list) of the entry it replaces, if it is a changed one.
        replaces: Option<usize>,
    },
    /// Could not start (the entry it replaces, if any, was stopped all the same); the others were applied.
    Failed {
        /// The position (in the previous list) of the entry it replaces, if it is a changed one.
        replaces: Option<usize>,
        /// Why.
        error: StartError,
    },
}

/// What [`Adapters::apply`] did.
#[derive(Debug)]
pub struct Applied {
    /// What became of each entry of the list applied, in its order.
    pub entries: Vec<Change>,
    /// The entries of the previous list that were stopped (removed, or changed and so started again), by their
    /// position there.
    pub stopped: Vec<usize>,
    /// Of those, the ones that did not end within [`STOP_WAIT`]: their task was aborted (connections they still
    /// held close as soon as they notice the signal). Empty unless something hangs.
    pub aborted: Vec<usize>,
    /// The bots unregistered because only stopped entries served them.
    pub unregistered: Vec<String>,
    /// Each listener of the entries running now (kept or started) as bound (its real port for `:0`), with what it
    /// is (`onebot[0].listen`, by its position in the list applied).
    pub listening: Vec<(SocketAddr, String)>,
}

impl Applied {
    /// The entries that could not start.
    pub fn errors(&self) -> impl Iterator<Item = &StartError> {
        self.entries.iter().filter_map(|change| match change {
            Change::Failed { error, .. } => Some(error),
            _ => None,
        })
    }

    /// The positions (in the list applied) of the entries started: new or changed.
    pub fn started(&self) -> Vec<usize> {
        self.positions(|c| matches!(c, Change::Started { .. }))
    }

    /// The positions (in the list applied) of the entries kept running untouched.
    pub fn kept(&self) -> Vec<usize> {
        self.positions(|c| matches!(c, Change::Kept { .. }))
    }

    fn positions(&self, which: impl Fn(&Change) -> bool) -> Vec<usize> {
        (self.entries.iter().enumerate())
            .filter(|(_, c)| which(c))
            .map(|(i, _)| i)
            .collect()
    }
}

/// One running entry.
struct Running {
    config: OneBotConfig,
    /// Its label in logs; its index is the entry's position in the list last applied.
    label: Label,
    listening: Option<SocketAddr>,
    owner: Owner,
    stop: StopHandle,
    task: JoinHandle<()>,
}

impl Running {
    fn index(&self) -> usize {
        self.label.index()
    }

    /// Stop it: fire its signal, wait (at most [`STOP_WAIT`]) for its task and connections to end, then
    /// unregister the bots only it served. Returns their ids, and whether its task had to be aborted.
    async fn stop(self, registry: &Registry) -> (Vec<String>, bool) {
        let Running {
            label,
            owner,
            stop,
            mut task,
            ..
        } = self;
        stop.stop();
        let ended = tokio::time::timeout(STOP_WAIT, async {
            let _ = (&mut task).await;
            stop.finished().await;
        })
        .await;
        let aborted = ended.is_err();
        if aborted {
            tracing::warn!(
                transport = %label,
                "the entry did not stop within {} s; its task is aborted",
                STOP_WAIT.as_secs()
            );
            task.abort();
        }
        let gone = registry.release(owner);
        if gone.is_empty() {
            tracing::info!(transport = %label, "onebot entry stopped");
        } else {
            tracing::info!(
                transport = %label,
                "onebot entry stopped; bots unregistered: {}",
                gone.iter().map(|id| coral_model::text::escape(id)).collect::<Vec<_>>().join(", ")
            );
        }
        (gone, aborted)
    }
}

/// The running `[[onebot]]` entries; apply a new list to connect, reconnect or disconnect.
///
/// Events go to the sink, bots are published in the [`Bots`] (one registry for all entries, so a bot served by
/// two entries is one bot), frames nobody can use are counted in the counters. Dropping it fires every entry's
/// stop signal (their connections close; their bots stay registered, offline); [`Adapters::stop_all`] also waits
/// for them and unregisters the bots.
pub struct Adapters {
    sink: Arc<dyn EventSink>,
    registry: Arc<Registry>,
    stats: Arc<AdapterCounters>,
    /// The running entries, by position; also serialises `apply` and `stop_all`.
    running: tokio::sync::Mutex<Vec<Running>>,
}

impl Adapters {
    /// No entries yet: events will go to `sink`, bots be published in `bots`, unusable frames counted in `stats`.
    pub fn new(sink: Arc<dyn EventSink>, bots: Bots, stats: Arc<AdapterCounters>) -> Adapters {
        Adapters {
            sink,
            registry: Registry::new(bots),
            stats,
            running: tokio::sync::Mutex::default(),
        }
    }

    /// Make the running entries match `entries`.
    ///
    /// An entry equal (the whole [`OneBotConfig`]) to a running one keeps running untouched, its connections up,
    /// even if it moved (the one at the same position first, else the first equal one); its log label follows its
    /// position. A running entry matched by none is stopped: its listener closed, its connections closed, its tasks
    /// ended, and the bots only it served unregistered (calls to them fail at once as `BotUnavailable`). A changed
    /// entry is stopped before its new config is started, so it can listen on the same address. New entries are
    /// started; their listeners are bound before this returns (`listen = "127.0.0.1:0"` gets its real port in
    /// [`Applied::listening`]). An entry that cannot start (e.g. its port is taken) is reported in
    /// [`Applied::entries`] and not running (the next `apply` tries it again); the others are applied all the same.
    pub async fn apply(&self, entries: &[OneBotConfig]) -> Applied {
        let mut running = self.running.lock().await;
        let mut old: Vec<Option<Running>> = std::mem::take(&mut *running).into_iter().map(Some).collect();
        // Match: the unchanged entry at the same position first, then the first unchanged one anywhere.
        let mut kept: Vec<Option<Running>> = entries.iter().map(|_| None).collect();
        for (i, entry) in entries.iter().enumerate() {
            let same_place = old
                .iter()
                .position(|r| r.as_ref().is_some_and(|r| r.index() == i && r.config == *entry));
            if let Some(slot) = same_place {
                kept[i] = old[slot].take();
            }
        }
        for (i, entry) in entries.iter().enumerate() {
            if kept[i].is_some() {
                continue;
            }
            let equal = old.iter().position(|r| r.as_ref().is_some_and(|r| r.config == *entry));
            if let Some(slot) = equal {
                kept[i] = old[slot].take();
            }
        }
        // Stop the others (all at once), before anything starts: a changed entry may listen where it did.
        let stopping: Vec<Running> = old.into_iter().flatten().collect();
        let mut stopped: Vec<usize> = stopping.iter().map(Running::index).collect();
        stopped.sort_unstable();
        for r in &stopping {
            let changed = entries.len() > r.index() && kept[r.index()].is_none();
            let why = if changed { "changed" } else { "removed" };
            tracing::info!(transport = %r.label, "onebot entry {why}: stopping it");
        }
        let mut aborted = Vec::new();
        let mut unregistered = Vec::new();
        let stops = stopping.into_iter().map(|r| async {
            let index = r.index();
            (index, r.stop(&self.registry).await)
        });
        for (index, (gone, forced)) in futures_util::future::join_all(stops).await {
            unregistered.extend(gone);
            if forced {
                aborted.push(index);
            }
        }
        aborted.sort_unstable();
        unregistered.sort();
        unregistered.dedup();
        let mut changes = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if let Some(r) = kept[i].take() {
                let was = r.index();
                if was != i {
                    tracing::info!(transport = %r.label, "onebot entry unchanged, now onebot[{i}]: kept running");
                    r.label.set_index(i);
                }
                running.push(r);
                changes.push(Change::Kept { was });
                continue;
            }
            let replaces = stopped.binary_search(&i).ok().map(|_| i);
            match self.start(i, entry).await {
                Ok(r) => {
                    running.push(r);
                    changes.push(Change::Started { replaces });
                }
                Err(error) => {
                    tracing::error!("{error}");
                    changes.push(Change::Failed { replaces, error });
                }
            }
        }
        let listening = running
            .iter()
            .filter_map(|r| Some((r.listening?, format!("onebot[{}].listen", r.index()))))
            .collect();
        Applied {
            entries: changes,
            stopped,
            aborted,
            unregistered,
            listening,
        }
    }

    /// Stop every entry (as [`Adapters::apply`] with an empty list does); returns the bots unregistered.
    pub async fn stop_all(&self) -> Vec<String> {
        self.apply(&[]).await.unregistered
    }

    /// Start entry `index`.
    async fn start(&self, index: usize, entry: &OneBotConfig) -> Result<Running, StartError> {
        entry
            .validate(index)
            .map_err(|reason| StartError::Invalid { index, reason })?;
        let governor = match &entry.max_send_rate {
            Some(text) => {
                let rate = coral_model::rate::Rate::parse(text).map_err(|e| StartError::Invalid {
                    index,
                    reason: format!("onebot[{index}].max_send_rate: {e}"),
                })?;
                Some(Arc::new(governor::Governor::new(
                    text,
                    rate,
                    entry.send_queue.unwrap_or(governor::DEFAULT_SEND_QUEUE),
                )))
            }
            None => None,
        };
        let transport = match entry.transport {
            Transport::Ws => "ws",
            Transport::WsReverse => "ws-reverse",
            Transport::Http => "http",
        };
        let label = Label::new(index, transport);
        let owner = Owner::new();
        let inbound = Inbound::new(
            self.sink.clone(),
            self.registry.clone(),
            self.stats.clone(),
            label.clone(),
            owner,
            governor,
            entry.dedup_window(),
        );
        if let Some(listen) = entry.listener()
            && !entry.listener_has_credential()
            && !config::is_loopback(listen)
        {
            // Only reachable with `insecure = true` (config validation refuses it otherwise).
            tracing::warn!(
                "onebot[{index}]: listening on {listen} without `access_token` or `secret` (insecure = true): anyone \
                 who can reach it can act as the bot"
            );
        }
        let listener = match entry.listener() {
            Some(addr) => {
                let listen_error = |source| StartError::Listen {
                    index,
                    addr: addr.to_string(),
                    source,
                };
                let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
                let bound = listener.local_addr().map_err(listen_error)?;
                Some((listener, bound))
            }
            None => None,
        };
        let listening = listener.as_ref().map(|(_, bound)| *bound);
        let (stop_handle, stop) = StopHandle::new();
        let config = entry.clone();
        let task = match (entry.transport, listener) {
            (Transport::Ws, _) => tokio::spawn(ws::run_forward(config, inbound, stop)),
            (Transport::WsReverse, Some((listener, addr))) => {
                let path = entry.path.clone().unwrap_or_else(|| DEFAULT_REVERSE_PATH.to_string());
                // Tests and operators read this line to find the port.
                tracing::info!("onebot[{index}] ws-reverse listening on ws://{addr}{path}");
                tokio::spawn(ws::run_reverse(listener, path, config, inbound, stop))
            }
            (Transport::Http, listener) => {
                let listener = listener.map(|(listener, addr)| {
                    let path = entry.path.as_deref().unwrap_or("/");
                    tracing::info!("onebot[{index}] http events listening on http://{addr}{path}");
                    listener
                });
                tokio::spawn(http::run(config, listener, inbound, stop))
            }
            (Transport::WsReverse, None) => {
                return Err(StartError::Invalid {
                    index,
                    reason: format!("onebot[{index}]: transport \"ws-reverse\" needs `listen`"),
                });
            }
        };
        tracing::info!(transport = %label, "onebot entry started");
        Ok(Running {
            config: entry.clone(),
            label,
            listening,
            owner,
            stop: stop_handle,
            task,
        })
    }
}

impl Drop for Adapters {
    fn drop(&mut self) {
        for r in self.running.get_mut().iter() {
            r.stop.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::Event;
    use coral_model::{Action, ApiError};
    use futures_util::{SinkExt, StreamExt};
    use std::future::Future;
    use std::pin::Pin;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    /// A hang guard for every wait on something that must happen: generous, never a timing assertion.
    const WAIT: Duration = Duration::from_secs(20);
    /// How long a stopped forward client is watched for a reconnect: longer than the longest first reconnect
    /// delay (1 s).
    const NO_RECONNECT: Duration = Duration::from_millis(1500);
    const SELF_ID: &str = "10001";
    const EVENT: &str = r#"{"time": 1718000042, "self_id": 10001, "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"}"#;

    async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(WAIT, f)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    async fn until(what: &str, mut ok: impl FnMut() -> bool) {
        within(what, async {
            while !ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    /// Records the events delivered.
    struct Events(mpsc::UnboundedSender<Event>);

    impl EventSink for Events {
        fn dispatch(&self, event: Event) -> usize {
            let _ = self.0.send(event);
            1
        }

        fn dispatch_tracked(&self, event: Event) -> coral_model::Finished {
            let _ = self.0.send(event);
            mpsc::channel(1).1 // finished at once
        }

        fn dispatch_wait(&self, event: Event) -> Pin<Box<dyn Future<Output = usize> + Send + '_>> {
            let _ = self.0.send(event);
            Box::pin(std::future::ready(1))
        }
    }

    fn setup() -> (Adapters, Bots, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let bots = Bots::default();
        let adapters = Adapters::new(Arc::new(Events(tx)), bots.clone(), Arc::default());
        (adapters, bots, rx)
    }

    fn entry(toml_text: &str) -> OneBotConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn forward(url: &str) -> OneBotConfig {
        entry(&format!(
            "transport = \"ws\"\nurl = \"{url}\"\nself_id = \"{SELF_ID}\"\n"
        ))
    }

    fn reverse(listen: &str) -> OneBotConfig {
        entry(&format!("transport = \"ws-reverse\"\nlisten = \"{listen}\"\n"))
    }

    fn online(bots: &Bots) -> bool {
        bots.get(SELF_ID).is_some_and(|b| b.online())
    }

    async fn unavailable(bots: &Bots) -> bool {
        let outcome = tokio::time::timeout(Duration::from_secs(1), bots.call(SELF_ID, Action::GetStatus)).await;
        matches!(outcome, Ok(Err(ApiError::BotUnavailable(_))))
    }

    /// What the fake OneBot server saw: connection `n` opened or closed.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Opened(usize),
        Closed(usize),
    }

    /// A fake OneBot implementation as a forward-WebSocket server: reports each connection opening and closing,
    /// and can push frames down any of them.
    struct Server {
        url: String,
        seen: mpsc::UnboundedReceiver<Seen>,
        push: Arc<parking_lot::Mutex<Vec<mpsc::UnboundedSender<String>>>>,
        task: JoinHandle<()>,
    }

    impl Server {
        async fn start() -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}", listener.local_addr().unwrap());
            let (seen_tx, seen) = mpsc::unbounded_channel();
            let push = Arc::new(parking_lot::Mutex::new(Vec::new()));
            let pushers = push.clone();
            let task = tokio::spawn(async move {
                let mut n = 0;
                while let Ok((stream, _)) = listener.accept().await {
                    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
                        continue;
                    };
                    n += 1;
                    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
                    pushers.lock().push(tx);
                    let _ = seen_tx.send(Seen::Opened(n));
                    let seen_tx = seen_tx.clone();
                    tokio::spawn(async move {
                        let (mut sink, mut stream) = socket.split();
                        loop {
                            tokio::select! {
                                frame = stream.next() => match frame {
                                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                                    Some(Ok(_)) => {}
                                },
                                Some(text) = rx.recv() => {
                                    if sink.send(Message::text(text)).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = seen_tx.send(Seen::Closed(n));
                    });
                }
            });
            Server { url, seen, push, task }
        }

        async fn next(&mut self) -> Seen {
            within("the fake server to see a connection open or close", self.seen.recv())
                .await
                .unwrap()
        }

        /// Send a frame down connection `n` (from 1).
        fn push(&self, n: usize, frame: &str) {
            self.push.lock()[n - 1].send(frame.to_string()).unwrap();
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// A reverse-WebSocket client (the implementation) connected to `addr` as bot [`SELF_ID`].
    async fn reverse_client(
        addr: SocketAddr,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        let mut request = format!("ws://{addr}{DEFAULT_REVERSE_PATH}")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert("X-Self-ID", SELF_ID.parse().unwrap());
        let (socket, _) = within(
            "the reverse client to connect",
            tokio_tungstenite::connect_async(request),
        )
        .await
        .unwrap();
        socket
    }

    /// Read until the host closes the socket (a Close frame, or the end of the stream).
    async fn closed_by_host<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        within("the host to close the connection", async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
    }

    #[tokio::test]
    async fn a_removed_reverse_entry_closes_its_listener_and_its_connections() {
        let (adapters, bots, _events) = setup();
        let applied = adapters.apply(&[reverse("127.0.0.1:0")]).await;
        assert_eq!(applied.started(), [0]);
        let (addr, what) = applied.listening[0].clone();
        assert_eq!(what, "onebot[0].listen");
        let mut client = reverse_client(addr).await;
        until("the bot to be online", || online(&bots)).await;

        let applied = within("apply", adapters.apply(&[])).await;
        assert!(applied.entries.is_empty() && applied.listening.is_empty());
        assert_eq!(applied.stopped, [0]);
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert_eq!(applied.unregistered, [SELF_ID]);
        closed_by_host(&mut client).await;
        let refused = TcpStream::connect(addr).await;
        assert!(refused.is_err(), "the listener still accepts connections");
        assert!(bots.get(SELF_ID).is_none(), "the bot is still registered");
        assert!(unavailable(&bots).await);
    }

    #[tokio::test]
    async fn a_removed_forward_entry_disconnects_and_never_reconnects() {
        let mut server = Server::start().await;
        let (adapters, bots, _events) = setup();
        let applied = adapters.apply(&[forward(&server.url)]).await;
        assert_eq!(applied.started(), [0]);
        assert_eq!(server.next().await, Seen::Opened(1));
        until("the bot to be online", || online(&bots)).await;

        let applied = within("apply", adapters.apply(&[])).await;
        assert_eq!(applied.stopped, [0]);
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert_eq!(applied.unregistered, [SELF_ID]);
        assert_eq!(server.next().await, Seen::Closed(1));
        assert!(unavailable(&bots).await);
        // Longer than any first reconnect delay: nothing comes back.
        let again = tokio::time::timeout(NO_RECONNECT, server.seen.recv()).await;
        assert!(again.is_err(), "the removed entry reconnected: {again:?}");
    }

    #[tokio::test]
    async fn a_removed_split_forward_entry_closes_both_connections() {
        let mut server = Server::start().await;
        let (adapters, bots, _events) = setup();
        let split = entry(&format!(
            "transport = \"ws\"\napi_url = \"{0}/api\"\nevent_url = \"{0}/event\"\nself_id = \"{SELF_ID}\"\n",
            server.url
        ));
        adapters.apply(std::slice::from_ref(&split)).await;
        let mut opened = [server.next().await, server.next().await];
        opened.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(opened, [Seen::Opened(1), Seen::Opened(2)]);
        until("the bot to be online", || online(&bots)).await;

        let applied = adapters.apply(&[]).await;
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        let mut closed = [server.next().await, server.next().await];
        closed.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(closed, [Seen::Closed(1), Seen::Closed(2)]);
        // Fails at once: no waiting for an `/api` connection that will never come.
        assert!(unavailable(&bots).await);
        let again = tokio::time::timeout(NO_RECONNECT, server.seen.recv()).await;
        assert!(again.is_err(), "the removed entry reconnected: {again:?}");
    }

    #[tokio::test]
    async fn an_unchanged_entry_keeps_its_connection_even_when_it_moves() {
        let mut server = Server::start().await;
        let (adapters, bots, mut events) = setup();
        let kept = forward(&server.url);
        adapters.apply(std::slice::from_ref(&kept)).await;
        assert_eq!(server.next().await, Seen::Opened(1));
        until("the bot to be online", || online(&bots)).await;

        // The same list again, then another entry added before it.
        let applied = adapters.apply(std::slice::from_ref(&kept)).await;
        assert_eq!(applied.kept(), [0]);
        assert!(applied.stopped.is_empty() && applied.started().is_empty());
        let applied = adapters.apply(&[reverse("127.0.0.1:0"), kept.clone()]).await;
        assert!(matches!(applied.entries[1], Change::Kept { was: 0 }), "{applied:?}");
        assert_eq!(applied.started(), [0]);
        assert!(applied.stopped.is_empty());
        assert_eq!(applied.listening[0].1, "onebot[0].listen");

        // The first connection still carries events to the host, and nothing reconnected.
        server.push(1, EVENT);
        let event = within("the event", events.recv()).await.unwrap();
        assert_eq!(event.self_id, SELF_ID);
        assert!(server.seen.try_recv().is_err(), "the connection was replaced");
        assert!(online(&bots));
        adapters.stop_all().await;
    }

    #[tokio::test]
    async fn a_new_entry_connects_and_a_changed_one_reconnects() {
        let mut server = Server::start().await;
        let (adapters, bots, _events) = setup();
        assert!(adapters.apply(&[]).await.entries.is_empty());
        let applied = adapters.apply(&[forward(&server.url)]).await;
        assert!(
            matches!(applied.entries[..], [Change::Started { replaces: None }]),
            "{applied:?}"
        );
        assert_eq!(server.next().await, Seen::Opened(1));
        until("the bot to be online", || online(&bots)).await;

        let mut changed = forward(&server.url);
        changed.timeout_ms = Some(5_000);
        let applied = adapters.apply(&[changed]).await;
        assert!(
            matches!(applied.entries[..], [Change::Started { replaces: Some(0) }]),
            "{applied:?}"
        );
        assert_eq!(applied.stopped, [0]);
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert_eq!(server.next().await, Seen::Closed(1));
        assert_eq!(server.next().await, Seen::Opened(2));
        until("the bot to be online again", || online(&bots)).await;
        adapters.stop_all().await;
        assert_eq!(server.next().await, Seen::Closed(2));
    }

    #[tokio::test]
    async fn a_changed_reverse_entry_may_listen_where_it_did() {
        let (adapters, bots, _events) = setup();
        let applied = adapters.apply(&[reverse("127.0.0.1:0")]).await;
        let addr = applied.listening[0].0;
        let mut client = reverse_client(addr).await;
        until("the bot to be online", || online(&bots)).await;

        // Same address, another config: the old listener is closed before the new one binds it.
        let changed = reverse(&addr.to_string());
        let applied = adapters.apply(std::slice::from_ref(&changed)).await;
        assert!(
            matches!(applied.entries[..], [Change::Started { replaces: Some(0) }]),
            "{applied:?}"
        );
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert_eq!(applied.listening, [(addr, "onebot[0].listen".to_string())]);
        closed_by_host(&mut client).await;
        assert!(bots.get(SELF_ID).is_none());
        let _client = reverse_client(addr).await;
        until("the bot to be online again", || online(&bots)).await;
        adapters.stop_all().await;
    }

    #[test]
    fn adapters_can_be_shared_and_applied_from_any_task() {
        fn shared<T: Send + Sync>(_: &T) {}
        fn sendable<T: Send>(_: T) {}
        let (adapters, _bots, _events) = setup();
        shared(&adapters);
        sendable(adapters.apply(&[]));
        sendable(adapters.stop_all());
    }

    #[tokio::test]
    async fn an_entry_whose_port_is_taken_fails_alone_and_is_tried_again_next_time() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_addr = taken.local_addr().unwrap().to_string();
        let (adapters, bots, _events) = setup();
        let list = [reverse(&taken_addr), reverse("127.0.0.1:0")];
        let applied = adapters.apply(&list).await;
        match &applied.entries[..] {
            [
                Change::Failed { replaces: None, error },
                Change::Started { replaces: None },
            ] => {
                assert!(matches!(error, StartError::Listen { index: 0, .. }), "{error:?}");
                assert!(
                    error
                        .to_string()
                        .starts_with(&format!("onebot[0]: cannot listen on {taken_addr}: "))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(applied.errors().count(), 1);
        assert_eq!(applied.listening.len(), 1);
        let (addr, what) = applied.listening[0].clone();
        assert_eq!(what, "onebot[1].listen");
        let _client = reverse_client(addr).await;
        until("the bot to be online", || online(&bots)).await;

        // The port is free now: the failed entry starts, the other one is kept.
        drop(taken);
        let applied = adapters.apply(&list).await;
        assert!(
            matches!(applied.entries[..], [Change::Started { .. }, Change::Kept { was: 1 }]),
            "{applied:?}"
        );
        assert_eq!(applied.listening.len(), 2);
        assert!(online(&bots));
        adapters.stop_all().await;
    }

    #[tokio::test]
    async fn a_removed_http_receiver_closes_its_listener_and_its_keep_alive_connections() {
        let (adapters, bots, mut events) = setup();
        let applied = adapters
            .apply(&[entry("transport = \"http\"\nlisten = \"127.0.0.1:0\"\n")])
            .await;
        let addr = applied.listening[0].0;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{EVENT}",
            EVENT.len()
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        within("the response", async {
            while !response.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut buf = [0; 1024];
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early");
                response.extend_from_slice(&buf[..n]);
            }
        })
        .await;
        assert!(
            response.starts_with(b"HTTP/1.1 204"),
            "{}",
            String::from_utf8_lossy(&response)
        );
        within("the event", events.recv()).await.unwrap();
        assert!(bots.get(SELF_ID).is_some());

        let applied = within("apply", adapters.apply(&[])).await;
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert_eq!(applied.unregistered, [SELF_ID]);
        let mut buf = [0; 64];
        let read = within("the host to close the connection", conn.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener still accepts connections"
        );
        assert!(bots.get(SELF_ID).is_none());
    }

    #[tokio::test]
    async fn a_bot_another_entry_still_serves_stays_registered_but_goes_offline() {
        let mut server = Server::start().await;
        let (adapters, bots, mut events) = setup();
        let receiver = entry("transport = \"http\"\nlisten = \"127.0.0.1:0\"\n");
        let applied = adapters.apply(&[forward(&server.url), receiver.clone()]).await;
        assert_eq!(server.next().await, Seen::Opened(1));
        until("the bot to be online", || online(&bots)).await;
        // The receiver sees the same bot.
        let addr = applied.listening[0].0;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{EVENT}",
            EVENT.len()
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        within("the response", conn.read_to_end(&mut response)).await.unwrap();
        within("the event", events.recv()).await.unwrap();

        let applied = adapters.apply(&[receiver]).await;
        assert_eq!(applied.kept(), [0]);
        assert!(applied.aborted.is_empty(), "it did not stop by itself");
        assert!(applied.unregistered.is_empty());
        assert_eq!(server.next().await, Seen::Closed(1));
        assert!(bots.get(SELF_ID).is_some(), "still served by the receiver");
        assert!(!online(&bots));
        assert!(unavailable(&bots).await);
        adapters.stop_all().await;
        assert!(bots.get(SELF_ID).is_none());
    }
}
