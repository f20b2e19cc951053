//! One plugin's actor: the task that owns its `Store`s, serialises calls into them under the CPU budget, memory
//! cap and wall-clock limits, and replaces an instance after a fault (with quarantine after repeated ones).

use crate::commands::route::chat_of;
use crate::crash::Admit;
use crate::dispatcher::{Delivery, Ticket, Work};
use crate::limits::PluginLimits;
use crate::state::{PluginShared, PluginState};
use crate::world::{Instance, Pre};
use crate::{LoadError, PluginStats, config_violations, crash, engine, state, wall};
use coral_model::bindings::{Chat, ChatType, CommandSpec, Event, EventKind, Flow, MessageEvent, PluginMetadata};
use coral_ops::audit::{Entry, Outcome};
use coral_policy::{Grants, Policy};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use wasmtime::{Store, Trap, UpdateDeadline};

/// The task that owns a plugin's `Store` and serialises calls into it.
pub(crate) struct Actor {
    pub(crate) starter: Arc<Starter>,
    pub(crate) instance: Option<(Store<PluginState>, Instance)>,
}

/// What it takes to make (and call into) a fresh instance; shared immutably while a call runs.
pub(crate) struct Starter {
    pub(crate) shared: Arc<PluginShared>,
    pub(crate) pre: Pre,
    pub(crate) config_json: String,
    pub(crate) limits: PluginLimits,
}

/// How a call into a plugin ended badly.
enum Fault {
    /// The plugin returned an error value; the instance stays.
    Returned(String),
    /// It trapped, overran its CPU budget, or hit its memory cap; the instance is discarded.
    Trapped(String),
    /// It overran the wall-clock limit; the instance is discarded.
    TimedOut,
}

impl Starter {
    fn new_store(&self) -> Store<PluginState> {
        let state = PluginState::new(self.shared.clone(), self.limits.memory_bytes);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // The host never copies more out of the plugin in one call than the plugin may hold itself (strings and
        // lists, as wasmtime counts them); past that the call traps. Size limits refuse far smaller calls first.
        store.set_hostcall_fuel(self.limits.memory_bytes);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.ticks_used += 1;
            if state.ticks_used >= state.tick_budget {
                return Err(Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    fn budget_ticks(&self) -> u64 {
        (self.limits.cpu_budget.as_millis() / engine::EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// Instantiate a fresh instance and call `metadata` (no `setup`), under the plugin's limits.
    pub(crate) async fn metadata(
        &self,
    ) -> Result<(PluginMetadata, Vec<CommandSpec>, Store<PluginState>, Instance), LoadError> {
        let mut store = self.new_store();
        store.data_mut().tick_budget = self.budget_ticks();
        store.set_epoch_deadline(1);
        let plugin = tokio::time::timeout(self.limits.call_timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| LoadError::Start("instantiation timed out".into()))?
            .map_err(|e| LoadError::Start(format!("instantiation failed: {}", root_cause(&e))))?;
        let mut metadata = self
            .guarded(&mut store, async |s| plugin.call_metadata(s).await.map(Ok))
            .await
            .map_err(|f| LoadError::Start(format!("metadata: {}", fault_text(&f))))?;
        // What the plugin says about itself reaches logs, `coral plugin inspect` and `coral status`: bounded and
        // with control characters shown escaped, once, here.
        metadata.name = coral_model::text::bounded(&metadata.name, 128);
        metadata.version = coral_model::text::bounded(&metadata.version, 64);
        metadata.description = coral_model::text::bounded(&metadata.description, 1024);
        let commands = self
            .guarded(&mut store, async |s| plugin.call_commands(s).await.map(Ok))
            .await
            .map_err(|f| LoadError::Start(format!("commands: {}", fault_text(&f))))?;
        Ok((metadata, commands, store, plugin))
    }

    /// Record a fault; on the fifth within ten minutes, quarantine (logged and audited).
    fn fault(&self, fault: &Fault) {
        let reason = fault_text(fault);
        let quarantined = self.shared.crashes.lock().fault(&reason);
        if let Some(length) = quarantined {
            let name = &self.shared.name;
            tracing::error!(plugin = %name, "quarantined for {} s: {} faults within {} minutes (last: {reason}); its events are shed until then or until it is reloaded",
                length.as_secs(), crash::QUARANTINE_AFTER, crash::WINDOW.as_secs() / 60);
            if let Some(audit) = &self.shared.audit {
                let detail = format!(
                    "{} traps or timeouts within 10 minutes; for {} s; last: {reason}",
                    crash::QUARANTINE_AFTER,
                    length.as_secs()
                );
                let entry = Entry::new(name, &self.shared.hash, "-", "quarantine", "-", "-");
                audit.append(&entry.outcome(Outcome::Quarantined, 0, detail));
            }
        }
    }

    /// Run one export call under the CPU budget and the wall-clock limit.
    async fn guarded<T>(
        &self,
        store: &mut Store<PluginState>,
        call: impl AsyncFnOnce(&mut Store<PluginState>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, Fault> {
        store.data_mut().ticks_used = 0;
        store.data_mut().host_calls = 0;
        store.data_mut().tick_budget = self.budget_ticks();
        store.set_epoch_deadline(1);
        let clock = Arc::new(wall::PlatformWait::default());
        let result = {
            let call = wall::scope(clock.clone(), call(store));
            within_limits(call, &clock, self.limits.call_timeout, self.limits.max_event).await
        };
        match result {
            None => Err(Fault::TimedOut),
            Some(Ok(Ok(value))) => Ok(value),
            Some(Ok(Err(message))) => Err(Fault::Returned(message)),
            Some(Err(trap)) => Err(Fault::Trapped(self.describe_trap(store, &trap))),
        }
    }

    fn describe_trap(&self, store: &Store<PluginState>, error: &wasmtime::Error) -> String {
        let limiter = &store.data().limiter;
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            format!("exceeded its CPU budget of {} ms", self.limits.cpu_budget.as_millis())
        } else if limiter.refused {
            format!(
                "hit its memory cap of {} MiB (peak {} KiB): {}",
                self.limits.memory_bytes >> 20,
                limiter.peak >> 10,
                root_cause(error)
            )
        } else {
            root_cause(error)
        }
    }

    /// Instantiate and `setup` a fresh instance.
    async fn instantiate(&self) -> Result<(Store<PluginState>, Instance), Fault> {
        let mut store = self.new_store();
        store.data_mut().tick_budget = self.budget_ticks();
        store.set_epoch_deadline(1);
        let plugin = match tokio::time::timeout(self.limits.call_timeout, self.pre.instantiate_async(&mut store)).await
        {
            Err(_) => return Err(Fault::TimedOut),
            Ok(Err(e)) => return Err(Fault::Trapped(self.describe_trap(&store, &e))),
            Ok(Ok(plugin)) => plugin,
        };
        let config = self.config_json.clone();
        self.guarded(&mut store, async |s| plugin.call_setup(s, &config).await)
            .await?;
        Ok((store, plugin))
    }
}

impl Actor {
    /// The first start: instantiate, read metadata, setup. Any failure refuses the load.
    pub(crate) async fn first_start(
        &mut self,
        grants: &Grants,
    ) -> Result<(PluginMetadata, crate::commands::CommandTable), LoadError> {
        let starter = &self.starter;
        let (metadata, commands, mut store, plugin) = starter.metadata().await?;
        let commands = crate::commands::CommandTable::new(commands).map_err(|e| LoadError::Commands(e.to_string()))?;
        let violations = config_violations(metadata.config_schema.as_deref(), &starter.config_json);
        if !violations.is_empty() {
            return Err(LoadError::Config(violations.join("; ")));
        }
        *starter.shared.policy.write() = Arc::new(Policy::new(&metadata.capabilities, grants));
        let config = starter.config_json.clone();
        starter
            .guarded(&mut store, async |s| plugin.call_setup(s, &config).await)
            .await
            .map_err(|f| LoadError::Start(format!("setup: {}", fault_text(&f))))?;
        self.instance = Some((store, plugin));
        Ok((metadata, commands))
    }

    pub(crate) async fn run(mut self, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>, stats: Arc<PluginStats>) {
        loop {
            let next = rx.lock().await.recv().await;
            let Some((work, ticket)) = next else { break };
            self.handle(work, &ticket, &stats).await;
            // Whoever tracks this event learns it has been handled once every plugin has dropped its ticket; the
            // next priority level gets it once this level's tickets are all dropped.
            drop(ticket);
        }
        tracing::debug!(plugin = %self.starter.shared.name, "plugin stopped");
    }

    async fn handle(&mut self, work: Work, ticket: &Ticket, stats: &PluginStats) {
        let starter = &self.starter;
        let (mut store, plugin) = match self.instance.take() {
            Some(instance) => instance,
            None => {
                // A fresh instance after a fault: honour the backoff, or shed while quarantined.
                let admit = starter.shared.crashes.lock().admit();
                match admit {
                    Admit::Now => {}
                    Admit::Retry => {
                        tracing::info!(plugin = %starter.shared.name, "quarantine over; trying a fresh instance");
                    }
                    Admit::After(at) => {
                        tracing::info!(plugin = %starter.shared.name, "restarting in {} ms (crash backoff)",
                            at.saturating_duration_since(tokio::time::Instant::now()).as_millis());
                        tokio::time::sleep_until(at).await;
                    }
                    Admit::Quarantined => {
                        stats.shed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(plugin = %starter.shared.name, "quarantined; event shed");
                        return;
                    }
                }
                stats.restarts.fetch_add(1, Ordering::Relaxed);
                match starter.instantiate().await {
                    Ok(instance) => instance,
                    Err(fault) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(plugin = %starter.shared.name, "could not restart: {}; event dropped", fault_text(&fault));
                        starter.fault(&fault);
                        return;
                    }
                }
            }
        };
        // Which bot, where a free reply may go, and the message to remember (if any).
        let (self_id, chat, message) = match &work {
            Work::Event(event) => (
                &event.self_id,
                reply_chat(event),
                match &event.kind {
                    EventKind::Message(m) => Some(m),
                    _ => None,
                },
            ),
            Work::Command(call) => (&call.self_id, Some(chat_of(&call.message)), Some(&call.message)),
            Work::Prompt(reply) => (
                &reply.self_id,
                Some(reply.chat.clone()),
                match &reply.outcome {
                    coral_model::bindings::PromptOutcome::Answer(m) => Some(m),
                    coral_model::bindings::PromptOutcome::TimedOut => None,
                },
            ),
        };
        if let (Some(m), Some(chat)) = (message, &chat) {
            remember(&starter.shared, self_id, m, chat);
        }
        store.data_mut().reply_chat = chat.map(|chat| (self_id.clone(), chat));
        let started = std::time::Instant::now();
        let outcome = starter
            .guarded(&mut store, async |s| match &work {
                Work::Event(event) => plugin.call_on_event(s, event).await,
                Work::Command(call) => plugin.call_on_command(s, call).await,
                Work::Prompt(reply) => Ok(plugin.call_on_prompt(s, reply).await?.map(|()| Flow::Next)),
            })
            .await;
        let took = started.elapsed();
        store.data_mut().reply_chat = None;
        stats.handler_time.record(took);
        stats
            .memory_peak
            .fetch_max(store.data().limiter.peak as u64, Ordering::Relaxed);
        if took >= starter.limits.slow_event {
            stats.slow_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = %starter.shared.name, action = work_action(&work), event = work_name(&work),
                ms = took.as_millis() as u64, "slow event handler (over {} ms)", starter.limits.slow_event.as_millis());
        }
        match outcome {
            Ok(flow) => {
                if flow == Flow::Stop {
                    ticket.stop();
                }
                stats.handled.fetch_add(1, Ordering::Relaxed);
                starter.shared.crashes.lock().success();
                self.instance = Some((store, plugin));
            }
            Err(Fault::Returned(message)) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(plugin = %starter.shared.name, "handler returned an error: {}", state::sanitize(&message));
                self.instance = Some((store, plugin));
            }
            Err(fault) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                match fault {
                    Fault::TimedOut => stats.timeouts.fetch_add(1, Ordering::Relaxed),
                    _ => stats.traps.fetch_add(1, Ordering::Relaxed),
                };
                // The store is poisoned (or mid-call): drop it; the next event gets a fresh instance.
                tracing::error!(plugin = %starter.shared.name, "event failed: plugin {}; instance discarded", fault_text(&fault));
                starter.fault(&fault);
            }
        }
    }
}

/// Run `call` until it ends, or until it has used `limit` of wall-clock time *not* spent waiting on the platform
/// (`clock`: bot API calls and outgoing HTTP pause it), or until `hard_cap` has passed in all (`None`: timed out).
///
/// The hard cap keeps a plugin from holding an event forever by waiting on a silent platform call after call: it
/// is `max_event_ms` (default 60 s, never below the wall-clock limit); a plugin that reaches it is timed out like one
/// that overruns its wall-clock limit. A single platform call that times out (OneBot `timeout_ms`, default 30 s) is
/// an error value (retcode 202) to the plugin, so a well-behaved plugin meets it only after several in one event.
async fn within_limits<F: Future>(
    call: F,
    clock: &wall::PlatformWait,
    limit: std::time::Duration,
    hard_cap: std::time::Duration,
) -> Option<F::Output> {
    /// While the plugin waits on the platform its deadline moves with the clock; look again at least this often.
    const RECHECK: std::time::Duration = std::time::Duration::from_millis(10);
    let started = tokio::time::Instant::now();
    let hard = started + hard_cap;
    tokio::pin!(call);
    loop {
        let deadline = (started + limit + clock.paused()).min(hard);
        let deadline = if clock.waiting() {
            deadline.max(tokio::time::Instant::now() + RECHECK).min(hard)
        } else {
            deadline
        };
        tokio::select! {
            output = &mut call => return Some(output),
            () = tokio::time::sleep_until(deadline) => {
                let now = tokio::time::Instant::now();
                if now >= hard || (!clock.waiting() && now >= started + limit + clock.paused()) {
                    return None;
                }
            }
        }
    }
}

/// The chat a plugin may answer into without a grant: where the event happened.
fn reply_chat(event: &Event) -> Option<Chat> {
    use coral_model::bindings::coral::bot::types::{NoticeEvent as N, RequestEvent};
    match &event.kind {
        EventKind::Message(m) => Some(chat_of(m)),
        EventKind::Notice(n) => match n {
            N::GroupUpload(x) => Some(Chat::Group(x.group_id.clone())),
            N::GroupAdmin(x) => Some(Chat::Group(x.group_id.clone())),
            N::GroupDecrease(x) | N::GroupIncrease(x) => Some(Chat::Group(x.group_id.clone())),
            N::GroupBan(x) => Some(Chat::Group(x.group_id.clone())),
            N::GroupRecall(x) => Some(Chat::Group(x.group_id.clone())),
            N::LuckyKing(x) => Some(Chat::Group(x.group_id.clone())),
            N::Honor(x) => Some(Chat::Group(x.group_id.clone())),
            N::Poke(x) => Some(match &x.group_id {
                Some(g) => Chat::Group(g.clone()),
                None => Chat::Private(x.user_id.clone()),
            }),
            N::FriendAdd(user) => Some(Chat::Private(user.clone())),
            N::FriendRecall(x) => Some(Chat::Private(x.user_id.clone())),
            N::Other(_) => None,
        },
        // Requests come from people who are not (yet) friends or members: no free messaging.
        EventKind::Request(RequestEvent::Friend(_) | RequestEvent::Group(_) | RequestEvent::Other(_)) => None,
        EventKind::Meta(_) | EventKind::Other(_) => None,
        // A timer is the plugin's own: it answers nobody, so it may send only where it is granted.
        EventKind::Timer(_) => None,
    }
}

/// Note where a message (and the messages it quotes or forwards) was, on this bot: the plugin may point at them
/// there (a quote, a forward node), and only there.
fn remember(shared: &PluginShared, self_id: &str, message: &MessageEvent, chat: &Chat) {
    let mut index = shared.messages.lock();
    index.remember(self_id, &message.message_id, chat);
    for segment in &message.message {
        if let coral_model::bindings::Segment::Reply(id) | coral_model::bindings::Segment::Forward(id) = segment {
            index.remember(self_id, id, chat);
        }
    }
}

/// The export a piece of work calls (for logs).
fn work_action(work: &Work) -> &'static str {
    match work {
        Work::Event(_) => "on-event",
        Work::Command(_) => "on-command",
        Work::Prompt(_) => "on-prompt",
    }
}

/// A short name of a piece of work for logs.
fn work_name(work: &Work) -> &'static str {
    match work {
        Work::Event(event) => event_name(event),
        Work::Command(_) => "command",
        Work::Prompt(_) => "prompt",
    }
}

/// A short name of an event's kind for logs (`message.group`, `notice`, …).
fn event_name(event: &Event) -> &'static str {
    match &event.kind {
        EventKind::Message(m) => match m.message_type {
            ChatType::Group => "message.group",
            ChatType::Private => "message.private",
        },
        EventKind::Notice(_) => "notice",
        EventKind::Request(_) => "request",
        EventKind::Meta(_) => "meta",
        EventKind::Other(_) => "other",
        EventKind::Timer(_) => "timer",
    }
}

fn fault_text(fault: &Fault) -> String {
    match fault {
        Fault::Returned(message) => format!("returned an error: {}", state::sanitize(message)),
        Fault::Trapped(reason) => format!("trapped: {reason}"),
        Fault::TimedOut => "exceeded its wall-clock limit".to_string(),
    }
}

/// The innermost cause of a trap or error (not the wasm backtrace wrapped around it), on one line.
fn root_cause(error: &wasmtime::Error) -> String {
    let text = error.root_cause().to_string();
    state::sanitize(text.lines().next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn waiting_on_the_platform_does_not_count_against_the_wall_clock_limit() {
        let clock = Arc::new(wall::PlatformWait::default());
        let call = wall::scope(clock.clone(), async {
            for _ in 0..3 {
                // Three platform calls of 10 s each (e.g. answers that time out), and a little work between.
                wall::on_platform(tokio::time::sleep(Duration::from_secs(10))).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            "done"
        });
        assert_eq!(within_limits(call, &clock, LIMIT, CAP).await, Some("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_plugin_s_own_time_still_times_out() {
        let clock = Arc::new(wall::PlatformWait::default());
        let call = wall::scope(clock.clone(), async {
            wall::on_platform(tokio::time::sleep(Duration::from_secs(10))).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        });
        assert_eq!(within_limits(call, &clock, LIMIT, CAP).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_hard_cap_bounds_platform_waits_too() {
        let clock = Arc::new(wall::PlatformWait::default());
        let started = tokio::time::Instant::now();
        let call = wall::scope(clock.clone(), async {
            loop {
                wall::on_platform(tokio::time::sleep(Duration::from_secs(30))).await;
            }
        });
        assert_eq!(within_limits(call, &clock, LIMIT, CAP).await, None);
        assert_eq!(started.elapsed(), CAP);
    }

    fn message(kind: ChatType, user: &str, group: Option<&str>) -> Event {
        crate::test_support::message(kind, "", user, group, None)
    }

    #[test]
    fn a_free_reply_goes_only_where_the_event_happened() {
        let group = message(ChatType::Group, "2", Some("7"));
        assert!(matches!(reply_chat(&group), Some(Chat::Group(g)) if g == "7"));
        assert_eq!(event_name(&group), "message.group");
        let private = message(ChatType::Private, "2", None);
        assert!(matches!(reply_chat(&private), Some(Chat::Private(u)) if u == "2"));
        // A group message without its group id answers the sender privately, never a group it did not name.
        let odd = message(ChatType::Group, "2", None);
        assert!(matches!(reply_chat(&odd), Some(Chat::Private(u)) if u == "2"));
        // Timers, unknown events and meta events answer nobody.
        let timer = Event {
            kind: EventKind::Timer(coral_model::bindings::coral::bot::types::TimerEvent {
                name: "t".into(),
                payload: String::new(),
                due_at: 0,
            }),
            ..private.clone()
        };
        assert!(reply_chat(&timer).is_none());
        assert_eq!(event_name(&timer), "timer");
        let other = Event {
            kind: EventKind::Other("{}".into()),
            ..private
        };
        assert!(reply_chat(&other).is_none());
        assert_eq!(event_name(&other), "other");
    }

    #[test]
    fn a_plugin_s_error_text_cannot_reach_the_terminal_raw() {
        let text = fault_text(&Fault::Returned("bad\u{1b}[2J\nforged line".into()));
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text:?}");
        assert!(text.starts_with("returned an error: bad"), "{text:?}");
        assert_eq!(fault_text(&Fault::TimedOut), "exceeded its wall-clock limit");
    }
}
