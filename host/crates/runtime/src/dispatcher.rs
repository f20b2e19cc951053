//! The [`Dispatcher`]: the running plugins ([`PluginHandle`]s), each event offered to every plugin that wants it
//! (bounded queues; shed and counted when full), atomic replacement on reload, and the [`coral_model::EventSink`]
//! adapters deliver through.

use crate::limits::PluginLimits;
use crate::state::PluginShared;
use crate::{PluginStats, crash};
use coral_model::bindings::{Event, EventCategory, PluginMetadata};
use coral_policy::{Grants, Policy};
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long stopping a plugin waits for it to finish its queue.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A queued event, with an optional sender whose drop tells a tracker the event has been handled.
pub(crate) type Delivery = (Event, Option<mpsc::Sender<()>>);

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
    pub(crate) tx: mpsc::Sender<Delivery>,
    /// Its counters.
    pub stats: Arc<PluginStats>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
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
    /// Whether the plugin asked for this category of event.
    pub fn wants(&self, category: EventCategory) -> bool {
        self.metadata.events.is_empty() || self.metadata.events.contains(&category)
    }

    /// Queue an event; sheds it (and counts) when the queue is full.
    fn offer(&self, event: Event, done: Option<mpsc::Sender<()>>) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send((event, done)) {
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

/// Routes events from adapters to every plugin that wants them. Cheap to clone.
#[derive(Clone, Default)]
pub struct Dispatcher {
    plugins: Arc<RwLock<Vec<PluginHandle>>>,
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
    /// Add a running plugin.
    pub fn add(&self, plugin: PluginHandle) {
        self.plugins.write().push(plugin);
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
        let category = event.category();
        let plugins = self.plugins.read();
        let wanting: Vec<&PluginHandle> = plugins.iter().filter(|p| p.wants(category)).collect();
        let mut queued = 0;
        if let Some((last, rest)) = wanting.split_last() {
            for plugin in rest {
                queued += usize::from(plugin.offer(event.clone(), done.clone()));
            }
            queued += usize::from(last.offer(event, done));
        }
        queued
    }

    /// Deliver an event to every plugin that wants it, waiting for queue space instead of shedding. For local,
    /// trusted sources (the console), where back-pressure is better than dropping what the user typed.
    pub async fn dispatch_wait(&self, event: Event) -> usize {
        let category = event.category();
        let senders: Vec<(mpsc::Sender<Delivery>, Arc<PluginStats>)> = {
            let plugins = self.plugins.read();
            plugins
                .iter()
                .filter(|p| p.wants(category))
                .map(|p| (p.tx.clone(), p.stats.clone()))
                .collect()
        };
        let mut queued = 0;
        for (tx, stats) in senders {
            stats.received.fetch_add(1, Ordering::Relaxed);
            if tx.send((event.clone(), None)).await.is_ok() {
                queued += 1;
            }
        }
        queued
    }

    /// Put `plugin` in service, replacing (and returning) the running plugin of the same name. Atomic: an event
    /// goes either to the old version's queue or to the new one's.
    pub fn replace(&self, plugin: PluginHandle) -> Option<PluginHandle> {
        let mut plugins = self.plugins.write();
        match plugins.iter().position(|p| p.name == plugin.name) {
            Some(i) => Some(std::mem::replace(&mut plugins[i], plugin)),
            None => {
                plugins.push(plugin);
                None
            }
        }
    }

    /// Queue an event for one plugin only (a timer of its own), if it is running, wants the event's category and
    /// has queue space; whether it was queued.
    pub fn offer_to(&self, name: &str, event: Event) -> bool {
        let plugins = self.plugins.read();
        match plugins.iter().find(|p| &*p.name == name) {
            Some(p) if p.wants(event.category()) => p.offer(event, None),
            _ => false,
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
