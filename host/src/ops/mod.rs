//! The operator's view: counters every plugin → platform call and every event updates (lock-free atomics on the
//! event path), a point-in-time [`Snapshot`] of them, the `coral status` admin socket ([`admin`]) and the
//! Prometheus text endpoint ([`metrics`]); [`log_limit`] keeps floods of one kind of log line in check.
//!
//! Per plugin the counters live in [`crate::runtime::PluginStats`] (events, handler time, faults, memory peak)
//! with its [`CallStats`] (per action: ok / failed / denied / rate-limited, retries, latency); per bot in
//! [`BotStats`], kept by [`coral_model::Bots`].

pub mod admin;
pub mod histogram;
pub mod metrics;
pub mod table;

pub use histogram::{Histogram, HistogramSnapshot};

use crate::runtime::Dispatcher;
use coral_model::Bots;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
        let mut actions = self.actions.lock().unwrap_or_else(|e| e.into_inner());
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
        let actions = self.actions.lock().unwrap_or_else(|e| e.into_inner()).clone();
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
    bots: std::sync::RwLock<BTreeMap<String, Arc<BotStats>>>,
}

impl BotCalls {
    /// The counters of a bot id (created on first use).
    pub fn of(&self, self_id: &str) -> Arc<BotStats> {
        if let Some(stats) = self.bots.read().unwrap_or_else(|e| e.into_inner()).get(self_id) {
            return stats.clone();
        }
        let mut bots = self.bots.write().unwrap_or_else(|e| e.into_inner());
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

/// What the status socket and the metrics endpoint read from.
#[derive(Clone)]
pub struct Sources {
    /// The running plugins.
    pub dispatcher: Dispatcher,
    /// The bots.
    pub bots: Bots,
    /// Every plugin's calls per bot.
    pub bot_calls: Arc<BotCalls>,
    /// Each running adapter's frame counters, by platform.
    pub adapters: Vec<(String, Arc<coral_model::AdapterCounters>)>,
    /// When the host started.
    pub started: Instant,
}

impl Sources {
    /// Read every counter now.
    pub fn snapshot(&self) -> Snapshot {
        let quarantines = self.dispatcher.quarantines();
        let (now, now_ms) = (tokio::time::Instant::now(), crate::audit::now_ms());
        let mut plugins: Vec<PluginSnapshot> = self
            .dispatcher
            .snapshot()
            .into_iter()
            .map(|(name, version, s)| {
                let actions = s.calls.snapshot();
                let quarantine = quarantines.iter().find(|(q, _)| **q == *name).map(|(_, q)| q);
                PluginSnapshot {
                    quarantined: quarantine.is_some(),
                    quarantine_reason: quarantine.map(|q| q.reason.clone()),
                    quarantined_until_ms: quarantine
                        .map(|q| now_ms.saturating_add(q.until.saturating_duration_since(now).as_millis() as u64)),
                    name: name.to_string(),
                    version,
                    received: s.received.load(Ordering::Relaxed),
                    handled: s.handled.load(Ordering::Relaxed),
                    failed: s.failed.load(Ordering::Relaxed),
                    shed: s.shed.load(Ordering::Relaxed),
                    traps: s.traps.load(Ordering::Relaxed),
                    timeouts: s.timeouts.load(Ordering::Relaxed),
                    restarts: s.restarts.load(Ordering::Relaxed),
                    slow_events: s.slow_events.load(Ordering::Relaxed),
                    memory_peak_bytes: s.memory_peak.load(Ordering::Relaxed),
                    denied: actions.iter().map(|a| a.denied).sum(),
                    rate_limited: actions.iter().map(|a| a.rate_limited).sum(),
                    handler: s.handler_time.snapshot(),
                    actions,
                }
            })
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let bots = self
            .bots
            .list()
            .into_iter()
            .map(|bot| {
                let calls = self.bot_calls.of(&bot.self_id);
                let link = self.bots.link_counters(&bot.self_id);
                BotSnapshot {
                    reconnects: link.connects.load(Ordering::Relaxed).saturating_sub(1),
                    api_calls: calls.api_calls.load(Ordering::Relaxed),
                    api_failures: calls.api_failures.load(Ordering::Relaxed),
                    duplicate_events: link.duplicates.load(Ordering::Relaxed),
                    latency: calls.latency.snapshot(),
                    self_id: bot.self_id,
                    platform: bot.platform,
                    online: bot.online,
                }
            })
            .collect();
        let adapters = self
            .adapters
            .iter()
            .map(|(platform, c)| AdapterSnapshot {
                platform: platform.clone(),
                malformed_frames: c.malformed.load(Ordering::Relaxed),
                unmatched_responses: c.unmatched.load(Ordering::Relaxed),
                duplicate_events: c.duplicates.load(Ordering::Relaxed),
            })
            .collect();
        Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            plugins,
            bots,
            adapters,
        }
    }
}

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
