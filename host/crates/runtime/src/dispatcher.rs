//! The [`Dispatcher`]: the running plugins ([`PluginHandle`]s), each event routed ([`crate::commands::route`]) and
//! offered to the plugins that get it, highest priority first (bounded queues; shed and counted when full; a
//! plugin's `stop` keeps it from lower priorities), atomic replacement on reload, and the
//! [`coral_model::EventSink`] adapters deliver through.

use crate::commands::{CommandError, CommandTable, Hub};
use crate::limits::PluginLimits;
use crate::state::PluginShared;
use crate::{PluginStats, crash};
use coral_model::bindings::{Event, EventCategory, Invocation, PluginMetadata, PromptOutcome, PromptReply};
use coral_policy::{Grants, Policy};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long stopping a plugin waits for it to finish its queue.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a plugin is given to handle.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// An event, as it is (`on-event`). Boxed: one allocation, where by value each delivery moved the whole event
    /// and the lists carrying deliveries grew by several kilobytes per event (BENCHMARKS.md, issue 20 part 3).
    Event(Box<Event>),
    /// One of its commands, parsed (`on-command`).
    Command(Box<Invocation>),
    /// The answer to one of its prompts, or its timeout (`on-prompt`).
    Prompt(Box<PromptReply>),
}

/// What travels with a delivery: a sender whose drop tells a tracker the event has been handled, and the priority
/// level it belongs to (whose last drop offers the event to the next level unless a plugin said `stop`).
#[derive(Default)]
pub(crate) struct Ticket {
    #[allow(dead_code, reason = "held, never read: its drop is the signal")]
    pub(crate) done: Option<mpsc::Sender<()>>,
    pub(crate) level: Option<Arc<Level>>,
}

impl Ticket {
    /// The plugin handled it and said `stop`: lower priorities do not get it.
    pub(crate) fn stop(&self) {
        if let Some(level) = &self.level {
            level.stopped.store(true, Ordering::Relaxed);
        }
    }
}

/// A queued piece of work and its ticket.
pub(crate) type Delivery = (Work, Ticket);

/// Where a delivery goes: a plugin's queue and counters.
#[derive(Clone)]
struct Target {
    name: Arc<str>,
    tx: mpsc::Sender<Delivery>,
    stats: Arc<PluginStats>,
    shared: Arc<PluginShared>,
}

/// One priority level of an event in flight. When every delivery of it has been handled (or shed), the next
/// level is offered, unless one of them said `stop`.
pub(crate) struct Level {
    stopped: AtomicBool,
    rest: Mutex<Option<Chain>>,
}

/// The levels still to come, lowest priority first (popped from the end).
struct Chain {
    levels: Vec<Vec<(Target, Work)>>,
    done: Option<mpsc::Sender<()>>,
}

impl Drop for Level {
    fn drop(&mut self) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        if let Some(chain) = self.rest.get_mut().take() {
            chain.offer_next();
        }
    }
}

/// The next level's deliveries and what each of their tickets carries.
struct Started {
    level: Vec<(Target, Work)>,
    guard: Arc<Level>,
    done: Option<mpsc::Sender<()>>,
}

impl Started {
    fn ticket(&self) -> Ticket {
        Ticket {
            done: self.done.clone(),
            level: Some(self.guard.clone()),
        }
    }
}

impl Chain {
    /// Start the next level: its deliveries, and the level their tickets hold (whose last drop offers the levels
    /// after it, unless one of them said `stop`).
    fn next_level(mut self) -> Option<Started> {
        let level = self.levels.pop()?;
        let guard = Arc::new(Level {
            stopped: AtomicBool::new(false),
            rest: Mutex::new(None),
        });
        let done = self.done.clone();
        if !self.levels.is_empty() {
            // Safe before the deliveries go out: the returned `guard` is held until they all have their tickets.
            *guard.rest.lock() = Some(self);
        }
        Some(Started { level, guard, done })
    }

    /// Offer the next level (without waiting for queue space); returns how many queued it.
    fn offer_next(self) -> usize {
        let Some(mut started) = self.next_level() else { return 0 };
        let mut queued = 0;
        for (target, work) in std::mem::take(&mut started.level) {
            queued += usize::from(target.offer(work, started.ticket()));
        }
        queued
    }
}

impl Target {
    fn of(p: &PluginHandle) -> Target {
        Target {
            name: p.name.clone(),
            tx: p.tx.clone(),
            stats: p.stats.clone(),
            shared: p.shared.clone(),
        }
    }

    /// Queue work; sheds it (and counts) when the queue is full.
    fn offer(&self, work: Work, ticket: Ticket) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send((work, ticket)) {
            Ok(()) => true,
            Err(_) => {
                self.stats.shed.fetch_add(1, Ordering::Relaxed);
                // One line per plugin per SHED_LOG_PERIOD, counting the events shed since the last one.
                if let Some(held_back) = self.shared.shed_log.admit() {
                    let shed = held_back + 1;
                    tracing::warn!(plugin = %self.name, shed, "event queue full; {shed} event(s) shed since the last such warning");
                }
                false
            }
        }
    }
}

/// A running plugin: its metadata, its queue, and its counters.
pub struct PluginHandle {
    /// Its name.
    pub name: Arc<str>,
    /// What it said about itself.
    pub metadata: PluginMetadata,
    /// The contract it was built against (`coral:bot@0.2.0`).
    pub wit_version: String,
    /// Its limits.
    pub limits: PluginLimits,
    /// The config it was started with (JSON).
    pub config_json: String,
    /// What its instances share (policy, hash).
    pub shared: Arc<PluginShared>,
    /// Its commands, checked.
    pub commands: Arc<CommandTable>,
    /// Its priority (`[plugins.<name>] priority`): lower runs first; equal ones run side by side.
    pub priority: i32,
    /// Its cron lines' default time zone.
    pub tz: Option<String>,
    pub(crate) tx: mpsc::Sender<Delivery>,
    /// Its counters.
    pub stats: Arc<PluginStats>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// A plugin refused because its commands clash with a running plugin's.
pub struct Clash {
    /// Which word, and whose.
    pub error: CommandError,
    /// The refused plugin (running, not in service: shut it down).
    pub plugin: PluginHandle,
}

impl std::fmt::Debug for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clash({}: {})", self.plugin.name, self.error)
    }
}

/// What a running plugin was started with: a reload that changes none of it has nothing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Its file's hash.
    pub hash: String,
    /// Its config table, as JSON.
    pub config_json: String,
    /// Its limits.
    pub limits: PluginLimits,
    /// Its priority.
    pub priority: i32,
    /// Its cron lines' default time zone.
    pub tz: Option<String>,
}

/// One running plugin as the operator's view reads it.
#[derive(Debug, Clone)]
pub struct PluginView {
    /// Its name.
    pub name: Arc<str>,
    /// Its version.
    pub version: String,
    /// Its counters.
    pub stats: Arc<PluginStats>,
    /// Its quarantine, while it is quarantined.
    pub quarantine: Option<crash::Quarantine>,
}

impl PluginHandle {
    /// Whether the plugin gets this category of event as it is. An empty `events` list means every category,
    /// except for a plugin that declares commands: then it means only its commands, prompts and timers.
    pub fn wants(&self, category: EventCategory) -> bool {
        if self.metadata.events.is_empty() {
            return self.commands.is_empty() || category == EventCategory::Timer;
        }
        self.metadata.events.contains(&category)
    }

    /// Stop accepting events, let the plugin finish its queue, and wait for it.
    /// Used when a new version replaces this one: nothing queued is lost, however long it takes.
    pub async fn shutdown(self) {
        self.shutdown_within(None).await;
    }

    /// Stop, waiting at most `grace` (host exit: a plugin waiting out a crash backoff of up to 300 s is not waited
    /// for), then abort.
    pub async fn shutdown_within(mut self, grace: Option<std::time::Duration>) {
        let tasks = std::mem::take(&mut self.tasks);
        let name = self.name.clone();
        drop(self);
        for mut task in tasks {
            let Some(grace) = grace else {
                let _ = task.await;
                continue;
            };
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                tracing::warn!(plugin = %name, "still busy {} s after shutdown began; stopped", grace.as_secs());
                task.abort();
            }
        }
    }
}

/// Routes events from adapters to the plugins that get them. Cheap to clone.
#[derive(Clone, Default)]
pub struct Dispatcher {
    plugins: Arc<RwLock<Vec<PluginHandle>>>,
    hub: Arc<Hub>,
}

impl coral_model::EventSink for Dispatcher {
    fn dispatch(&self, event: Event) -> usize {
        Dispatcher::dispatch(self, event)
    }

    fn dispatch_tracked(&self, event: Event) -> coral_model::Finished {
        Dispatcher::dispatch_tracked(self, event)
    }

    fn dispatch_wait(&self, event: Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + '_>> {
        Box::pin(Dispatcher::dispatch_wait(self, event))
    }
}

impl Dispatcher {
    /// A dispatcher whose commands and prompts are kept in `hub` (the runtime's, so plugins' prompts land here).
    pub fn new(hub: Arc<Hub>) -> Dispatcher {
        Dispatcher {
            plugins: Arc::default(),
            hub,
        }
    }

    /// The command hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Add a running plugin.
    pub fn add(&self, plugin: PluginHandle) {
        self.plugins.write().push(plugin);
    }

    /// The deliveries `event` makes, as a chain of priority levels (highest priority first); or, when a command
    /// needs a group role the message did not carry (and `look_up`), the event back with whose role to look up.
    fn chain(
        &self,
        event: Event,
        done: Option<mpsc::Sender<()>>,
        look_up: bool,
    ) -> Result<Chain, Box<(Event, [String; 3])>> {
        use crate::commands::route::{Routed, route};
        let plugins = self.plugins.read();
        let mut routed = match route(&self.hub, &plugins, event, look_up) {
            Routed::Deliver(routed) => routed,
            Routed::NeedsRole(needs) => return Err(needs),
        };
        // Highest priority (lowest number) last, to be popped first.
        routed.sort_by_key(|(i, _)| std::cmp::Reverse(plugins[*i].priority));
        let mut levels: Vec<Vec<(Target, Work)>> = Vec::new();
        let mut last = None;
        for (i, work) in routed {
            let priority = plugins[i].priority;
            if last != Some(priority) {
                levels.push(Vec::new());
                last = Some(priority);
            }
            if let Some(level) = levels.last_mut() {
                level.push((Target::of(&plugins[i]), work));
            }
        }
        Ok(Chain { levels, done })
    }

    /// Deliver an event to every plugin that wants it; returns how many queued it.
    pub fn dispatch(&self, event: Event) -> usize {
        self.dispatch_with(event, None)
    }

    /// Deliver an event and get a receiver that closes once every plugin it reached has finished handling it
    /// (or it was shed). Used where the platform waits for an answer (OneBot HTTP POST quick operations).
    pub fn dispatch_tracked(&self, event: Event) -> mpsc::Receiver<()> {
        let (done, finished) = mpsc::channel(1);
        self.dispatch_with(event, Some(done));
        finished
    }

    fn dispatch_with(&self, event: Event, done: Option<mpsc::Sender<()>>) -> usize {
        match self.chain(event, done.clone(), true) {
            Ok(chain) => chain.offer_next(),
            Err(needs) => {
                // Look the role up off the adapter's path, then route the event again. Counted as queued: it will
                // be delivered.
                let dispatcher = self.clone();
                tokio::spawn(async move {
                    if let Some(chain) = dispatcher.chain_after_lookup(*needs, done).await {
                        chain.offer_next();
                    }
                });
                1
            }
        }
    }

    /// Look up the role a command needs, then route the event again: with the role if found, else judged as from
    /// a member.
    async fn chain_after_lookup(
        &self,
        (event, [bot, group, user]): (Event, [String; 3]),
        done: Option<mpsc::Sender<()>>,
    ) -> Option<Chain> {
        self.hub.look_up_role(&bot, &group, &user).await;
        self.chain(event, done, false).ok()
    }

    /// Deliver an event, waiting for queue space in the first priority level instead of shedding. For local,
    /// trusted sources (the console), where back-pressure is better than dropping what the user typed.
    pub async fn dispatch_wait(&self, event: Event) -> usize {
        let chain = match self.chain(event, None, true) {
            Ok(chain) => chain,
            Err(needs) => match self.chain_after_lookup(*needs, None).await {
                Some(chain) => chain,
                None => return 0,
            },
        };
        let Some(mut started) = chain.next_level() else {
            return 0;
        };
        let mut queued = 0;
        for (target, work) in std::mem::take(&mut started.level) {
            target.stats.received.fetch_add(1, Ordering::Relaxed);
            if target.tx.send((work, started.ticket())).await.is_ok() {
                queued += 1;
            }
        }
        queued
    }

    /// Deliver prompt timeouts as they fall due (run once, for the host's lifetime).
    pub async fn run_prompt_timeouts(self) {
        loop {
            let next = self.hub.prompts.next_deadline();
            let wait = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = wait => {}
                () = self.hub.prompts.changed.notified() => continue,
            }
            for prompt in self.hub.prompts.take_expired() {
                let reply = PromptReply {
                    key: prompt.key,
                    self_id: prompt.self_id,
                    chat: prompt.chat,
                    user_id: prompt.user_id,
                    outcome: PromptOutcome::TimedOut,
                };
                if !self.offer_work(&prompt.plugin, Work::Prompt(Box::new(reply))) {
                    tracing::debug!(plugin = %prompt.plugin, "prompt timed out for a plugin that is gone or busy");
                }
            }
        }
    }

    /// Put `plugin` in service, replacing (and returning) the running plugin of the same name. Atomic: an event
    /// goes either to the old version's queue or to the new one's. Refused (the plugin handed back, to be shut
    /// down) when one of its command words is taken by another running plugin or the built-in help, unless the
    /// operator allows duplicates.
    pub fn replace(&self, plugin: PluginHandle) -> Result<Option<PluginHandle>, Box<Clash>> {
        let mut plugins = self.plugins.write();
        if let Some(error) = self.clash(&plugins, &plugin) {
            return Err(Box::new(Clash { error, plugin }));
        }
        Ok(match plugins.iter().position(|p| p.name == plugin.name) {
            Some(i) => Some(std::mem::replace(&mut plugins[i], plugin)),
            None => {
                plugins.push(plugin);
                None
            }
        })
    }

    /// The first word of `plugin`'s that another running plugin (or the built-in help) has.
    fn clash(&self, plugins: &[PluginHandle], plugin: &PluginHandle) -> Option<CommandError> {
        let settings = self.hub.settings();
        let mut words: Vec<&str> = plugin.commands.words().collect();
        words.sort_unstable();
        words.into_iter().find_map(|word| {
            settings.clash(word, || {
                plugins
                    .iter()
                    .find(|p| p.name != plugin.name && p.commands.find(word).is_some())
                    .map(|other| other.name.to_string())
            })
        })
    }

    /// Queue an event for one plugin only (a timer of its own), if it is running, wants the event's category and
    /// has queue space; whether it was queued.
    pub fn offer_to(&self, name: &str, event: Event) -> bool {
        let plugins = self.plugins.read();
        match plugins.iter().find(|p| &*p.name == name) {
            Some(p) if p.wants(event.category()) => {
                Target::of(p).offer(Work::Event(Box::new(event)), Ticket::default())
            }
            _ => false,
        }
    }

    /// Queue work for one plugin only, if it is running and has queue space.
    fn offer_work(&self, name: &str, work: Work) -> bool {
        let plugins = self.plugins.read();
        match plugins.iter().find(|p| &*p.name == name) {
            Some(p) => Target::of(p).offer(work, Ticket::default()),
            None => false,
        }
    }

    /// Take a plugin out of service.
    pub fn remove(&self, name: &str) -> Option<PluginHandle> {
        let mut plugins = self.plugins.write();
        let i = plugins.iter().position(|p| &*p.name == name)?;
        Some(plugins.remove(i))
    }

    /// What the running plugin of this name was started with.
    pub fn running(&self, name: &str) -> Option<Running> {
        let plugins = self.plugins.read();
        plugins.iter().find(|p| &*p.name == name).map(|p| Running {
            hash: p.shared.hash.clone(),
            config_json: p.config_json.clone(),
            limits: p.limits,
            priority: p.priority,
            tz: p.tz.clone(),
        })
    }

    /// The names of the running plugins.
    pub fn names(&self) -> Vec<String> {
        let plugins = self.plugins.read();
        plugins.iter().map(|p| p.name.to_string()).collect()
    }

    /// Re-apply grants to a running plugin (from its next call).
    pub fn set_grants(&self, name: &str, grants: &Grants) {
        let plugins = self.plugins.read();
        if let Some(p) = plugins.iter().find(|p| &*p.name == name) {
            *p.shared.policy.write() = Arc::new(Policy::new(&p.metadata.capabilities, grants));
        }
    }

    /// The quarantined plugins.
    pub fn quarantined(&self) -> Vec<String> {
        let plugins = self.plugins.read();
        plugins
            .iter()
            .filter(|p| p.shared.crashes.lock().is_quarantined())
            .map(|p| p.name.to_string())
            .collect()
    }

    /// Lift a running plugin's quarantine at once (its file was touched: a reload of the same file). Returns
    /// whether it was quarantined.
    pub fn lift_quarantine(&self, name: &str) -> bool {
        let plugins = self.plugins.read();
        plugins
            .iter()
            .find(|p| &*p.name == name)
            .is_some_and(|p| p.shared.crashes.lock().lift())
    }

    /// The running plugins: names, versions, counters and quarantines.
    pub fn snapshot(&self) -> Vec<PluginView> {
        let plugins = self.plugins.read();
        plugins
            .iter()
            .map(|p| PluginView {
                name: p.name.clone(),
                version: p.metadata.version.clone(),
                stats: p.stats.clone(),
                quarantine: p.shared.crashes.lock().quarantine().cloned(),
            })
            .collect()
    }

    /// What the running plugin of this name said about itself, its commands, and the config it runs with (JSON).
    pub fn metadata(&self, name: &str) -> Option<(PluginMetadata, Arc<CommandTable>, String)> {
        let plugins = self.plugins.read();
        plugins
            .iter()
            .find(|p| &*p.name == name)
            .map(|p| (p.metadata.clone(), p.commands.clone(), p.config_json.clone()))
    }

    /// The running plugins as `coral plugin list` shows them.
    pub fn rows(&self) -> Vec<coral_ops::PluginRow> {
        let switches = self.hub.visibility.switches();
        let names = |caps: &std::collections::BTreeSet<coral_policy::Capability>| {
            caps.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        let plugins = self.plugins.read();
        plugins
            .iter()
            .map(|p| {
                let policy = p.shared.policy();
                let quarantine = p.shared.crashes.lock().quarantine().cloned();
                coral_ops::PluginRow {
                    name: p.name.to_string(),
                    state: if quarantine.is_some() { "quarantined" } else { "running" }.into(),
                    version: p.metadata.version.clone(),
                    hash: p.shared.hash.clone(),
                    wit: p.wit_version.clone(),
                    priority: p.priority,
                    requested: names(policy.requested()),
                    granted: names(policy.granted()),
                    effective: names(&policy.effective()),
                    faults: p.stats.failed.load(Ordering::Relaxed),
                    off_in: switches
                        .off
                        .get(&*p.name)
                        .map(|groups| groups.iter().cloned().collect())
                        .unwrap_or_default(),
                    problem: quarantine.map(|q| q.reason),
                }
            })
            .collect()
    }

    /// Stop every plugin after it has handled what is already queued.
    pub async fn shutdown(&self) {
        let plugins = std::mem::take(&mut *self.plugins.write());
        for plugin in plugins {
            plugin.shutdown_within(Some(SHUTDOWN_GRACE)).await;
        }
    }
}

#[cfg(test)]
mod tests;
