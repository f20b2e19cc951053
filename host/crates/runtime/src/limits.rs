//! A plugin's effective limits ([`PluginLimits`]) as the runtime enforces them: memory, CPU, time, queue,
//! instances, host calls, retries, storage quota, log and timer rates. `coral-host` reads them from the config.

use serde::Deserialize;

/// The effective limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Memory cap in bytes.
    pub memory_bytes: usize,
    /// CPU budget per call.
    pub cpu_budget: std::time::Duration,
    /// Wall-clock limit per call (platform waits excluded).
    pub call_timeout: std::time::Duration,
    /// Hard cap per call, platform waits included (never below `call_timeout`).
    pub max_event: std::time::Duration,
    /// First quarantine (`[host] quarantine_secs`).
    pub quarantine: std::time::Duration,
    /// Queue bound.
    pub queue_len: usize,
    /// Instances handling events concurrently.
    pub instances: usize,
    /// Host calls per event.
    pub max_host_calls: u32,
    /// Event handlers slower than this are logged.
    pub slow_event: std::time::Duration,
    /// Platform calls slower than this are logged.
    pub slow_call: std::time::Duration,
    /// Retry policy for read-only queries.
    pub retry: Option<RetryConfig>,
    /// Storage quota.
    pub storage: coral_services::storage::Quota,
    /// Its log budget (stdout, stderr and `coral:bot/log` together).
    pub log_rate: LimitRate,
    /// Its timer-event rate.
    pub timer_rate: LimitRate,
}

/// `[plugins.<name>] retry = { attempts = 3, backoff_ms = 100 }`: how read-only queries (the `query`
/// capability's actions) are retried after a transient failure. Never applies to anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, including the first (1–5).
    pub attempts: u32,
    /// Wait before the second attempt, ms (doubling for each further one). Default 100.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

fn default_backoff_ms() -> u64 {
    100
}

/// A rate kept in [`PluginLimits`] (exact, so limits compare): one action per `micros` µs, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRate {
    /// Microseconds per action.
    pub micros: u64,
    /// Actions allowed at once.
    pub burst: u32,
}

/// Default plugin log budget: 100 lines a second, 1000 at once.
pub const DEFAULT_LOG_RATE: LimitRate = LimitRate {
    micros: 10_000,
    burst: 1000,
};
/// Default plugin timer rate: 10 timer events a second, 10 at once.
pub const DEFAULT_TIMER_RATE: LimitRate = LimitRate {
    micros: 100_000,
    burst: 10,
};

impl LimitRate {
    /// Parse a rate such as `"100/s burst 1000"` (the syntax of per-capability `rate`).
    pub fn parse(text: &str) -> Result<LimitRate, String> {
        let rate = coral_model::rate::Rate::parse(text)?;
        Ok(LimitRate {
            micros: ((1e6 / rate.per_sec).round() as u64).max(1),
            burst: rate.burst,
        })
    }

    /// As a token-bucket rate.
    pub fn rate(self) -> coral_model::rate::Rate {
        coral_model::rate::Rate {
            per_sec: 1e6 / self.micros as f64,
            burst: self.burst,
        }
    }
}
