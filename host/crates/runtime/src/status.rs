//! The operator's view of a running host ([`Status`]): every counter read into a [`coral_ops::Snapshot`] for
//! `coral status` and `/metrics`, and the quarantine lift of `coral plugin enable`.

use crate::Dispatcher;
use coral_model::Bots;
use coral_ops::{AdapterSnapshot, BotCalls, BotSnapshot, Control, PluginSnapshot, Snapshot};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What `coral status` and `/metrics` read: the running plugins, the bots, their counters.
#[derive(Clone)]
pub struct Status {
    /// The running plugins.
    pub dispatcher: Dispatcher,
    /// The bots.
    pub bots: Bots,
    /// Every plugin's calls per bot.
    pub bot_calls: Arc<BotCalls>,
    /// Each running adapter's frame counters, by platform.
    pub adapters: Vec<(String, Arc<coral_model::AdapterCounters>)>,
    /// The scheduler and storage (none: not offered).
    pub services: Option<Arc<coral_services::Services>>,
    /// When the host started.
    pub started: Instant,
}

impl Control for Status {
    fn snapshot(&self) -> Snapshot {
        let (now, now_ms) = (tokio::time::Instant::now(), coral_ops::audit::now_ms());
        let mut plugins: Vec<PluginSnapshot> = self
            .dispatcher
            .snapshot()
            .into_iter()
            .map(|plugin| {
                let s = &plugin.stats;
                let actions = s.calls.snapshot();
                let quarantine = plugin.quarantine.as_ref();
                PluginSnapshot {
                    quarantined: quarantine.is_some(),
                    quarantine_reason: quarantine.map(|q| q.reason.clone()),
                    quarantined_until_ms: quarantine
                        .map(|q| now_ms.saturating_add(q.until.saturating_duration_since(now).as_millis() as u64)),
                    name: plugin.name.to_string(),
                    version: plugin.version,
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

    fn lift_quarantine(&self, name: &str) -> bool {
        self.dispatcher.lift_quarantine(name)
    }

    fn run_job<'a>(&'a self, plugin: &'a str, job: &'a str) -> coral_ops::JobRun<'a> {
        Box::pin(async move {
            let Some(services) = &self.services else {
                return Err("this host has no scheduler (no data folder)".to_string());
            };
            services.jobs.run_now(plugin, job).await.map_err(|e| e.to_string())
        })
    }
}
