//! The operator's view: counters every plugin → platform call and every event updates (lock-free atomics on the
//! event path), a point-in-time [`Snapshot`] of them, the `coral status` admin socket ([`admin`]) and the
//! Prometheus text endpoint ([`metrics`]), and the audit log ([`audit`]).
//!
//! Per plugin the counters live in the runtime's plugin stats (events, handler time, faults, memory peak) with
//! its [`CallStats`] (per action: ok / failed / denied / rate-limited, retries, latency); per bot in [`BotStats`]
//! ([`BotCalls`]). The runtime reads them into a [`Snapshot`] through [`Control`]. This crate depends on no other
//! Coral crate: what it shows arrives as plain data, and it escapes every string it prints ([`text`]).

pub mod admin;
pub mod audit;
pub mod histogram;
pub mod metrics;
pub mod table;
pub mod text;

pub use histogram::{Histogram, HistogramSnapshot};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most distinct action names counted per plugin; calls of further names (raw `call-api` names a plugin made up)
/// are counted under [`OTHER_ACTION`], so a plugin cannot grow the host's memory or the metrics without bound.
pub const MAX_ACTIONS: usize = 64;
/// The action name collecting everything beyond [`MAX_ACTIONS`].
pub const OTHER_ACTION: &str = "other";

/// Counters of one action of one plugin.
#[derive(Debug, Default)]
pub struct ActionStats {
    /// Calls the platform answered with success.
    pub ok: AtomicU64,
    /// Calls that reached the platform (or tried to) and failed: platform failure, timeout, busy, no bot, …
    pub failed: AtomicU64,
    /// Calls refused by the plugin's grants.
    pub denied: AtomicU64,
    /// Calls refused by the plugin's rate limits.
    pub rate_limited: AtomicU64,
    /// Extra attempts made by the retry policy.
    pub retries: AtomicU64,
    /// Latency of the calls that were admitted (policy passed), including retries and the send governor's wait.
    pub latency: Histogram,
}

/// A plugin's platform-call counters.
#[derive(Debug, Default)]
pub struct CallStats {
    actions: Mutex<BTreeMap<String, Arc<ActionStats>>>,
}

impl CallStats {
    /// The counters of `action` (created on first use; beyond [`MAX_ACTIONS`] names, those of [`OTHER_ACTION`]).
    pub fn action(&self, action: &str) -> Arc<ActionStats> {
        let mut actions = self.actions.lock();
        if let Some(stats) = actions.get(action) {
            return stats.clone();
        }
        let key = if actions.len() >= MAX_ACTIONS {
            OTHER_ACTION
        } else {
            action
        };
        actions.entry(key.to_string()).or_default().clone()
    }

    /// Every action's counters, by name.
    pub fn snapshot(&self) -> Vec<ActionSnapshot> {
        let actions = self.actions.lock().clone();
        actions
            .into_iter()
            .map(|(action, s)| ActionSnapshot {
                action,
                ok: s.ok.load(Ordering::Relaxed),
                failed: s.failed.load(Ordering::Relaxed),
                denied: s.denied.load(Ordering::Relaxed),
                rate_limited: s.rate_limited.load(Ordering::Relaxed),
                retries: s.retries.load(Ordering::Relaxed),
                latency: s.latency.snapshot(),
            })
            .collect()
    }
}

/// Counters of one bot account (all plugins' calls to it).
#[derive(Debug, Default)]
pub struct BotStats {
    /// Calls made to it.
    pub api_calls: AtomicU64,
    /// Calls that failed (platform failure, timeout, busy, disconnect, unsupported, …).
    pub api_failures: AtomicU64,
    /// Call latency (including the send governor's wait).
    pub latency: Histogram,
}

/// [`BotStats`] by bot id (kept when a bot goes away, so its figures survive a reconnect).
#[derive(Debug, Default)]
pub struct BotCalls {
    bots: parking_lot::RwLock<BTreeMap<String, Arc<BotStats>>>,
}

impl BotCalls {
    /// The counters of a bot id (created on first use).
    pub fn of(&self, self_id: &str) -> Arc<BotStats> {
        if let Some(stats) = self.bots.read().get(self_id) {
            return stats.clone();
        }
        let mut bots = self.bots.write();
        bots.entry(self_id.to_string()).or_default().clone()
    }

    /// Count one finished call.
    pub fn record(&self, self_id: &str, elapsed: std::time::Duration, ok: bool) {
        let stats = self.of(self_id);
        stats.latency.record(elapsed);
        stats.api_calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            stats.api_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Everything `coral status` and `/metrics` show, at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// The host's version.
    pub version: String,
    /// Seconds since the host started.
    pub uptime_seconds: f64,
    /// Running plugins, by name.
    pub plugins: Vec<PluginSnapshot>,
    /// Known bots, by id.
    pub bots: Vec<BotSnapshot>,
    /// Each running adapter's frame counters.
    #[serde(default)]
    pub adapters: Vec<AdapterSnapshot>,
}

/// One adapter's counters over all its connections.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdapterSnapshot {
    /// The platform (`onebot`).
    pub platform: String,
    /// Frames it could not use (not JSON, neither event nor response, an event that does not decode).
    pub malformed_frames: u64,
    /// Responses whose echo matched no pending call.
    pub unmatched_responses: u64,
    /// Message events dropped as duplicate deliveries.
    pub duplicate_events: u64,
}

/// One plugin's figures (since this version of it was loaded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginSnapshot {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Quarantined after repeated faults.
    pub quarantined: bool,
    /// While quarantined: the fault that quarantined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    /// While quarantined: when it is tried again, Unix time in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_until_ms: Option<u64>,
    /// Events queued for it.
    pub received: u64,
    /// Events its handler completed.
    pub handled: u64,
    /// Events whose handler failed (error, trap, timeout).
    pub failed: u64,
    /// Events dropped (full queue, quarantine).
    pub shed: u64,
    /// Traps.
    pub traps: u64,
    /// Wall-clock timeouts.
    pub timeouts: u64,
    /// Fresh instances after faults.
    pub restarts: u64,
    /// Handlers slower than its `slow_event_ms`.
    pub slow_events: u64,
    /// Highest linear memory of any of its instances, bytes.
    pub memory_peak_bytes: u64,
    /// Platform calls refused by its grants (all actions).
    pub denied: u64,
    /// Platform calls refused by its rate limits (all actions).
    pub rate_limited: u64,
    /// Event handler time.
    pub handler: HistogramSnapshot,
    /// Per action.
    pub actions: Vec<ActionSnapshot>,
}

/// One action's figures for one plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionSnapshot {
    /// The action (`send_msg`, …).
    pub action: String,
    /// Succeeded.
    pub ok: u64,
    /// Failed at or on the way to the platform.
    pub failed: u64,
    /// Refused: not granted.
    pub denied: u64,
    /// Refused: over a rate limit.
    pub rate_limited: u64,
    /// Extra attempts by the retry policy.
    pub retries: u64,
    /// Latency of admitted calls.
    pub latency: HistogramSnapshot,
}

/// One bot's figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BotSnapshot {
    /// Its id.
    pub self_id: String,
    /// `onebot` or `console`.
    pub platform: String,
    /// Connection up.
    pub online: bool,
    /// Reconnections (connections after the first).
    pub reconnects: u64,
    /// API calls.
    pub api_calls: u64,
    /// Failed API calls.
    pub api_failures: u64,
    /// Message events dropped as duplicate deliveries.
    #[serde(default)]
    pub duplicate_events: u64,
    /// API call latency.
    pub latency: HistogramSnapshot,
}

/// What the admin socket and the metrics endpoint read from and act on; the runtime implements it.
pub trait Control: Send + Sync + 'static {
    /// Read every counter now.
    fn snapshot(&self) -> Snapshot;
    /// Lift a plugin's quarantine at once (`coral plugin enable`); whether it was quarantined.
    fn lift_quarantine(&self, name: &str) -> bool;

    /// Make `plugin`'s job `job` due now (`coral job run`); whether it exists, or why it cannot be run.
    fn run_job<'a>(&'a self, plugin: &'a str, job: &'a str) -> JobRun<'a>;

    /// Carry out an operator's request to manage plugins or the config; its answer, or why it was refused.
    fn manage(&self, request: Manage) -> ManageRun<'_> {
        let _ = request;
        Box::pin(async { Err("this host does not manage plugins over the admin socket".to_string()) })
    }
}

/// What [`Control::manage`] answers, when it is done.
pub type ManageRun<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send + 'a>>;

/// An operator's request over the admin socket (`coral plugin list|enable|disable|reload|unquarantine|on|off`,
/// `coral config reload`), sent as one line of JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Manage {
    /// Every plugin file and configured plugin, with its state ([`PluginRow`]s).
    List,
    /// Let it run: clear the operator's disable, lift a quarantine, load it if it is not running.
    Enable {
        /// The plugin.
        plugin: String,
    },
    /// Unload it and keep it unloaded (across restarts) until enabled.
    Disable {
        /// The plugin.
        plugin: String,
    },
    /// Load its file again now (even if unchanged: a fresh instance).
    Reload {
        /// The plugin.
        plugin: String,
    },
    /// Lift its quarantine only.
    Unquarantine {
        /// The plugin.
        plugin: String,
    },
    /// Switch it on or off in one group (kept across restarts).
    Switch {
        /// The plugin.
        plugin: String,
        /// The group.
        group: String,
        /// On (true) or off.
        on: bool,
    },
    /// Re-read the config file and apply it.
    ConfigReload,
}

/// One plugin as `coral plugin list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRow {
    /// Its name (the file's stem).
    pub name: String,
    /// `running`, `quarantined`, `disabled` (config), `disabled by operator`, `failed`, `no file`.
    pub state: String,
    /// Its version, when running.
    #[serde(default)]
    pub version: String,
    /// The running file's hash (sha256, hex).
    #[serde(default)]
    pub hash: String,
    /// The contract it was built against.
    #[serde(default)]
    pub wit: String,
    /// Its priority.
    #[serde(default)]
    pub priority: i32,
    /// Capabilities it asked for.
    #[serde(default)]
    pub requested: Vec<String>,
    /// Capabilities the operator granted.
    #[serde(default)]
    pub granted: Vec<String>,
    /// Requested and granted.
    #[serde(default)]
    pub effective: Vec<String>,
    /// Faults since it was loaded (failed events: errors, traps, timeouts).
    #[serde(default)]
    pub faults: u64,
    /// Groups the operator switched it off in.
    #[serde(default)]
    pub off_in: Vec<String>,
    /// Why it is not running (the last load failure, the quarantine's fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What [`Control::run_job`] answers, when it is done.
pub type JobRun<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send + 'a>>;

/// A shared [`Control`].
pub type Sources = std::sync::Arc<dyn Control>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_beyond_the_cap_are_counted_as_other() {
        let calls = CallStats::default();
        for i in 0..MAX_ACTIONS + 10 {
            calls.action(&format!("made_up_{i}")).ok.fetch_add(1, Ordering::Relaxed);
        }
        calls.action("made_up_0").ok.fetch_add(1, Ordering::Relaxed);
        let snap = calls.snapshot();
        assert_eq!(snap.len(), MAX_ACTIONS + 1);
        assert_eq!(snap.iter().find(|a| a.action == OTHER_ACTION).unwrap().ok, 10);
        assert_eq!(snap.iter().find(|a| a.action == "made_up_0").unwrap().ok, 2);
    }
}
