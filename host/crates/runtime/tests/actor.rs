//! The runtime's actors with real plugins (built from `example-plugins/` and `tests/plugins/`), driven through the
//! library alone — no `coral` process, no adapter: events go in through the `Dispatcher`, platform calls come out
//! at a recording `BotConnection`. Checks that a handler's send passes the policy and reaches the bot, that a trap
//! discards the instance and is counted while another plugin keeps answering, that the next event gets a fresh
//! instance after the crash backoff, and that a CPU-budget overrun is a trap of the spinner alone.

#[path = "../../../../tests/support/fixtures.rs"]
#[allow(dead_code)] // this test uses only its repository root
mod fixtures;
#[path = "../../../../tests/e2e/support/plugins.rs"]
mod plugins;

use coral_model::bindings::coral::bot::types::{Chat, ChatType, MessageEvent, Segment, Sender};
use coral_model::bindings::{Event, EventKind};
use coral_model::{Action, ApiFuture, BotConnection, Bots};
use coral_policy::Grants;
use coral_runtime::limits::{DEFAULT_LOG_RATE, DEFAULT_TIMER_RATE, PluginLimits};
use coral_runtime::{Dispatcher, PluginHandle, Runtime, StartSpec};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const BOT: &str = "10001";
/// How long a test waits for something that should happen at once (a hang guard, not a performance check).
const WAIT: Duration = Duration::from_secs(60);

/// A bot that records every action and answers each with a message id.
#[derive(Default)]
struct RecordingBot {
    actions: Mutex<Vec<Action>>,
}

impl BotConnection for RecordingBot {
    fn platform(&self) -> &str {
        "test"
    }

    fn online(&self) -> bool {
        true
    }

    fn call(&self, action: Action) -> ApiFuture {
        self.actions.lock().push(action);
        Box::pin(async { Ok(serde_json::json!({"message_id": 7})) })
    }
}

impl RecordingBot {
    /// The texts of the messages sent so far, with where they went.
    fn sent(&self) -> Vec<(String, String)> {
        self.actions
            .lock()
            .iter()
            .filter_map(|action| {
                let (to, message) = match action {
                    Action::SendMsg { target, message, .. } => (
                        match target {
                            Chat::Private(u) => format!("private {u}"),
                            Chat::Group(g) => format!("group {g}"),
                        },
                        message,
                    ),
                    Action::SendPrivateMsg { user_id, message } => (format!("private {user_id}"), message),
                    Action::SendGroupMsg { group_id, message } => (format!("group {group_id}"), message),
                    _ => return None,
                };
                let text = message
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                Some((to, text))
            })
            .collect()
    }
}

fn limits() -> PluginLimits {
    PluginLimits {
        memory_bytes: 64 << 20,
        cpu_budget: Duration::from_millis(200),
        call_timeout: Duration::from_secs(10),
        max_event: Duration::from_secs(20),
        quarantine: Duration::from_secs(600),
        queue_len: 16,
        instances: 1,
        max_host_calls: 1000,
        slow_event: Duration::from_secs(5),
        slow_call: Duration::from_secs(5),
        retry: None,
        storage: coral_services::storage::Quota {
            max_keys: 10,
            max_bytes: 1 << 20,
        },
        log_rate: DEFAULT_LOG_RATE,
        timer_rate: DEFAULT_TIMER_RATE,
    }
}

async fn load(runtime: &Runtime, name: &str) -> PluginHandle {
    let spec = StartSpec {
        config_json: "{}".into(),
        limits: limits(),
        grants: Grants::default(),
        priority: 0,
        tz: None,
    };
    runtime
        .load(name, std::fs::read(plugins::wasm(name)).expect("plugin file"), spec)
        .await
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A private message from user 20002 to the bot.
fn message(id: u64, text: &str) -> Event {
    Event {
        platform: "test".into(),
        self_id: BOT.into(),
        time: 0,
        kind: EventKind::Message(MessageEvent {
            message_type: ChatType::Private,
            sub_type: "friend".into(),
            message_id: id.to_string(),
            user_id: "20002".into(),
            group_id: None,
            sender: Sender {
                user_id: "20002".into(),
                nickname: "tester".into(),
                card: None,
                sex: None,
                age: None,
                area: None,
                level: None,
                role: None,
                title: None,
            },
            anonymous: None,
            message: vec![Segment::Text(text.into())],
            raw_message: text.into(),
            plain_text: text.into(),
            to_me: true,
            self_sent: false,
            segment_extras: Vec::new(),
            font: None,
            message_seq: None,
            real_id: None,
            target_id: None,
            source_group_id: None,
        }),
        extra: None,
    }
}

/// Wait until `ready` holds (polling; a hang guard of [`WAIT`]).
async fn until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Host {
    runtime: Runtime,
    dispatcher: Dispatcher,
    bot: Arc<RecordingBot>,
}

fn host() -> Host {
    let bots = Bots::default();
    let bot = Arc::new(RecordingBot::default());
    bots.insert(BOT, bot.clone());
    Host {
        runtime: Runtime::new(None, bots, None).expect("runtime"),
        dispatcher: Dispatcher::default(),
        bot,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_s_reply_passes_the_policy_and_reaches_the_bot() {
    let host = host();
    let ping = load(&host.runtime, "ping").await;
    let stats = ping.stats.clone();
    host.dispatcher.add(ping);
    assert_eq!(host.dispatcher.dispatch(message(1, "ping hello")), 1);
    until("ping answered", || !host.bot.sent().is_empty()).await;
    assert_eq!(
        host.bot.sent(),
        [("private 20002".to_string(), "pong hello".to_string())]
    );
    until("the event counted as handled", || {
        stats.handled.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(stats.traps.load(Ordering::Relaxed), 0);
    host.dispatcher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_discards_the_instance_and_the_next_event_gets_a_fresh_one_while_others_answer() {
    let host = host();
    let trap = load(&host.runtime, "trap").await;
    let ping = load(&host.runtime, "ping").await;
    let (trap_stats, ping_stats) = (trap.stats.clone(), ping.stats.clone());
    host.dispatcher.add(trap);
    host.dispatcher.add(ping);

    assert_eq!(
        host.dispatcher.dispatch(message(1, "ping one")),
        2,
        "both plugins want messages"
    );
    until("the trap counted", || trap_stats.traps.load(Ordering::Relaxed) == 1).await;
    until("ping answered", || host.bot.sent().len() == 1).await;
    assert_eq!(trap_stats.failed.load(Ordering::Relaxed), 1);
    assert_eq!(trap_stats.handled.load(Ordering::Relaxed), 0);

    // The second event waits out the crash backoff (1 s), then runs on a fresh instance, which traps again.
    host.dispatcher.dispatch(message(2, "ping two"));
    until("a fresh instance made", || {
        trap_stats.restarts.load(Ordering::Relaxed) == 1
    })
    .await;
    until("the second trap counted", || {
        trap_stats.traps.load(Ordering::Relaxed) == 2
    })
    .await;
    until("ping answered again", || host.bot.sent().len() == 2).await;
    assert_eq!(host.bot.sent()[1].1, "pong two");
    assert_eq!(
        ping_stats.traps.load(Ordering::Relaxed),
        0,
        "the other plugin never faulted"
    );
    // Two faults: not quarantined (that takes five within ten minutes).
    let view = host.dispatcher.snapshot();
    assert!(view.iter().all(|p| p.quarantine.is_none()), "{view:?}");
    // Nothing the trapping plugin did reached the bot.
    assert!(host.bot.sent().iter().all(|(_, text)| text.starts_with("pong ")));
    host.dispatcher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_budget_overrun_traps_the_spinner_alone() {
    let host = host();
    let spin = load(&host.runtime, "spin").await;
    let ping = load(&host.runtime, "ping").await;
    let spin_stats = spin.stats.clone();
    host.dispatcher.add(spin);
    host.dispatcher.add(ping);
    host.dispatcher.dispatch(message(1, "ping while spinning"));
    until("the spinner stopped by its CPU budget", || {
        spin_stats.traps.load(Ordering::Relaxed) == 1
    })
    .await;
    until("ping answered", || host.bot.sent().len() == 1).await;
    assert_eq!(host.bot.sent()[0].1, "pong while spinning");
    assert_eq!(
        spin_stats.timeouts.load(Ordering::Relaxed),
        0,
        "a CPU trap, not a wall-clock timeout"
    );
    host.dispatcher.shutdown().await;
}
