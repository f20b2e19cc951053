//! Unit tests of the dispatcher's delivery rules, with plugins whose queues the test reads itself (no instances):
//! category filters, bounded queues that shed and count, tracked deliveries, timers to one plugin only, atomic
//! replacement, and what the operator's view reads.

use super::*;

mod commands;
mod visibility;
use crate::limits::{DEFAULT_LOG_RATE, DEFAULT_TIMER_RATE, PluginLimits};
use crate::state::HostParts;
use coral_model::EventSink;
use coral_model::bindings::EventKind;
use coral_model::bindings::coral::bot::types::TimerEvent;
use std::time::Duration;

fn limits(queue_len: usize) -> PluginLimits {
    PluginLimits {
        memory_bytes: 16 << 20,
        cpu_budget: Duration::from_millis(100),
        call_timeout: Duration::from_secs(1),
        max_event: Duration::from_secs(2),
        quarantine: Duration::from_secs(60),
        queue_len,
        instances: 1,
        max_host_calls: 100,
        slow_event: Duration::from_secs(1),
        slow_call: Duration::from_secs(1),
        retry: None,
        storage: coral_services::storage::Quota {
            max_keys: 10,
            max_bytes: 1024,
        },
        log_rate: DEFAULT_LOG_RATE,
        timer_rate: DEFAULT_TIMER_RATE,
    }
}

/// A running plugin as the dispatcher sees it, and the receiving end of its queue.
fn plugin(
    name: &str,
    version: &str,
    events: Vec<EventCategory>,
    queue_len: usize,
) -> (PluginHandle, mpsc::Receiver<Delivery>) {
    plugin_with(name, version, events, queue_len, Vec::new(), 0)
}

/// The same, with commands and a priority.
pub(super) fn plugin_with(
    name: &str,
    version: &str,
    events: Vec<EventCategory>,
    queue_len: usize,
    commands: Vec<coral_model::bindings::CommandSpec>,
    priority: i32,
) -> (PluginHandle, mpsc::Receiver<Delivery>) {
    let limits = limits(queue_len);
    let shared = PluginShared::new(
        Arc::from(name),
        format!("hash-{name}"),
        &HostParts::default(),
        &limits,
        None,
    );
    let (tx, rx) = mpsc::channel(queue_len);
    let handle = PluginHandle {
        name: Arc::from(name),
        metadata: PluginMetadata {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            capabilities: Vec::new(),
            events,
            config_schema: None,
        },
        wit_version: "coral:bot@0.4.0".into(),
        limits,
        config_json: "{}".into(),
        stats: shared.stats.clone(),
        shared,
        commands: Arc::new(CommandTable::new(commands).expect("valid commands")),
        priority,
        tz: None,
        tx,
        tasks: Vec::new(),
    };
    (handle, rx)
}

fn timer(name: &str) -> Event {
    Event {
        platform: "coral".into(),
        self_id: String::new(),
        time: 0,
        kind: EventKind::Timer(TimerEvent {
            name: name.into(),
            payload: String::new(),
            due_at: 0,
        }),
        extra: None,
    }
}

fn other(json: &str) -> Event {
    Event {
        platform: "onebot".into(),
        self_id: "10001".into(),
        time: 0,
        kind: EventKind::Other(json.into()),
        extra: None,
    }
}

/// The event a delivery carries (panics on a command or prompt).
pub(super) fn event_of(delivery: &Delivery) -> &Event {
    match &delivery.0 {
        Work::Event(event) => event,
        other => panic!("not an event: {other:?}"),
    }
}

fn timer_name(delivery: &Delivery) -> &str {
    match &event_of(delivery).kind {
        EventKind::Timer(t) => &t.name,
        other => panic!("not a timer: {other:?}"),
    }
}

#[tokio::test]
async fn an_event_reaches_only_the_plugins_that_want_its_category() {
    let dispatcher = Dispatcher::default();
    let (all, mut all_rx) = plugin("all", "1", Vec::new(), 4);
    let (timers, mut timers_rx) = plugin("timers", "1", vec![EventCategory::Timer], 4);
    let (messages, mut messages_rx) = plugin("messages", "1", vec![EventCategory::Message], 4);
    dispatcher.add(all);
    dispatcher.add(timers);
    dispatcher.add(messages);
    assert_eq!(
        dispatcher.dispatch(timer("t")),
        2,
        "the empty filter and the timer filter"
    );
    assert_eq!(
        dispatcher.dispatch(other("{}")),
        1,
        "only the empty filter wants `other`"
    );
    assert_eq!(timer_name(&all_rx.try_recv().unwrap()), "t");
    assert!(matches!(
        event_of(&all_rx.try_recv().unwrap()).kind,
        EventKind::Other(_)
    ));
    assert_eq!(timer_name(&timers_rx.try_recv().unwrap()), "t");
    assert!(timers_rx.try_recv().is_err());
    assert!(messages_rx.try_recv().is_err(), "nothing it asked for");
}

#[tokio::test]
async fn a_full_queue_sheds_the_event_and_counts_it_without_blocking() {
    let dispatcher = Dispatcher::default();
    let (slow, mut rx) = plugin("slow", "1", Vec::new(), 2);
    let stats = slow.stats.clone();
    dispatcher.add(slow);
    let queued: usize = (0..5).map(|i| dispatcher.dispatch(timer(&i.to_string()))).sum();
    assert_eq!(queued, 2, "the queue holds two");
    assert_eq!(stats.received.load(Ordering::Relaxed), 5);
    assert_eq!(stats.shed.load(Ordering::Relaxed), 3);
    // The oldest are kept, in order.
    assert_eq!(timer_name(&rx.try_recv().unwrap()), "0");
    assert_eq!(timer_name(&rx.try_recv().unwrap()), "1");
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_tracked_event_finishes_when_every_plugin_that_got_it_is_done() {
    let dispatcher = Dispatcher::default();
    let (a, mut a_rx) = plugin("a", "1", Vec::new(), 4);
    let (b, mut b_rx) = plugin("b", "1", Vec::new(), 4);
    dispatcher.add(a);
    dispatcher.add(b);
    let mut finished = EventSink::dispatch_tracked(&dispatcher, timer("quick"));
    let first = a_rx.try_recv().unwrap();
    let second = b_rx.try_recv().unwrap();
    assert!(
        first.1.done.is_some() && second.1.done.is_some(),
        "each delivery carries the tracker"
    );
    drop(first);
    assert!(finished.try_recv().is_err(), "b has not finished yet");
    drop(second);
    assert_eq!(finished.recv().await, None, "closed once both are done");
    // Nobody wants it: finished at once.
    let none = Dispatcher::default();
    assert_eq!(none.dispatch_tracked(timer("x")).recv().await, None);
}

#[tokio::test]
async fn a_timer_goes_to_its_own_plugin_only_and_a_full_queue_says_so() {
    let dispatcher = Dispatcher::default();
    let (owner, mut owner_rx) = plugin("owner", "1", Vec::new(), 1);
    let (other_plugin, mut other_rx) = plugin("other", "1", Vec::new(), 1);
    dispatcher.add(owner);
    dispatcher.add(other_plugin);
    assert!(dispatcher.offer_to("owner", timer("mine")));
    assert!(
        !dispatcher.offer_to("owner", timer("full")),
        "queue full: not queued, offered again later"
    );
    assert!(!dispatcher.offer_to("gone", timer("x")), "no such plugin");
    assert_eq!(timer_name(&owner_rx.try_recv().unwrap()), "mine");
    assert!(other_rx.try_recv().is_err(), "another plugin's timer never reaches it");
}

#[tokio::test]
async fn a_replacement_takes_every_event_after_the_swap_and_none_before() {
    let dispatcher = Dispatcher::default();
    let (old, mut old_rx) = plugin("p", "1.0", Vec::new(), 4);
    dispatcher.add(old);
    dispatcher.dispatch(timer("before"));
    let (new, mut new_rx) = plugin("p", "2.0", Vec::new(), 4);
    let replaced = dispatcher
        .replace(new)
        .ok()
        .flatten()
        .expect("the old version is handed back");
    assert_eq!(&*replaced.metadata.version, "1.0");
    dispatcher.dispatch(timer("after"));
    assert_eq!(timer_name(&old_rx.try_recv().unwrap()), "before");
    assert!(old_rx.try_recv().is_err());
    assert_eq!(timer_name(&new_rx.try_recv().unwrap()), "after");
    assert_eq!(dispatcher.names(), ["p"], "one plugin of that name");
    // Replacing a name that is not running adds it.
    let (q, _q_rx) = plugin("q", "1", Vec::new(), 4);
    assert!(matches!(dispatcher.replace(q), Ok(None)));
    assert_eq!(dispatcher.names(), ["p", "q"]);
    assert!(dispatcher.remove("q").is_some());
    assert!(dispatcher.remove("q").is_none());
}

#[tokio::test]
async fn the_operator_view_reads_names_versions_counters_and_start_settings() {
    let dispatcher = Dispatcher::default();
    let (p, _rx) = plugin("p", "3.1", Vec::new(), 4);
    dispatcher.add(p);
    dispatcher.dispatch(timer("x"));
    let view = dispatcher.snapshot();
    assert_eq!(view.len(), 1);
    assert_eq!((&*view[0].name, view[0].version.as_str()), ("p", "3.1"));
    assert_eq!(view[0].stats.received.load(Ordering::Relaxed), 1);
    assert!(view[0].quarantine.is_none());
    let running = dispatcher.running("p").unwrap();
    assert_eq!(
        (
            running.hash.as_str(),
            running.config_json.as_str(),
            running.limits,
            running.priority
        ),
        ("hash-p", "{}", limits(4), 0)
    );
    assert!(dispatcher.running("q").is_none());
    assert!(!dispatcher.lift_quarantine("p"), "not quarantined");
}
