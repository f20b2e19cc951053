//! Per-instance store data ([`PluginState`]): the default-deny WASI context, the memory limiter, the CPU-budget
//! counter, and the plugin's stdout/stderr forwarded to the host log under the plugin's log budget ([`LogBudget`]).

use bytes::Bytes;
use coral_model::Bots;
use coral_model::bindings::Chat;
use coral_ops::audit::AuditLog;
use coral_policy::Policy;
use parking_lot::{Mutex, RwLock};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use coral_model::text::{MAX_LOG_LINE, sanitize};
/// Most random bytes a plugin may ask for in one call.
const MAX_RANDOM_BYTES: u64 = 64 * 1024;
/// Largest table a plugin may grow.
const MAX_TABLE_ELEMENTS: usize = 20_000;

/// What all instances of one plugin share: identity, reach, permissions, audit.
pub struct PluginShared {
    /// The plugin's name (its identity: log field, config key, storage namespace). Set by the host only.
    pub name: Arc<str>,
    /// First 16 hex digits of the SHA-256 of its `.wasm` file.
    pub hash: String,
    /// The bots it can reach.
    pub bots: Bots,
    /// Every plugin's calls per bot (for `coral status` and `/metrics`).
    pub bot_calls: Arc<coral_ops::BotCalls>,
    /// Its effective permissions (swapped when the config changes).
    pub policy: RwLock<Arc<Policy>>,
    /// Where privileged actions and refusals are recorded.
    pub audit: Option<Arc<AuditLog>>,
    /// Host calls one event may make.
    pub max_host_calls: u32,
    /// Where recent messages the plugin saw or sent were (so a recall can be checked against scopes).
    pub messages: Mutex<coral_policy::MessageIndex>,
    /// Fault history (crash backoff and quarantine), shared by the plugin's instances.
    pub crashes: Mutex<crate::crash::CrashGuard>,
    /// Its counters (events, handler time, platform calls).
    pub stats: Arc<crate::PluginStats>,
    /// Platform calls slower than this are logged as a warning.
    pub slow_call: std::time::Duration,
    /// How read-only queries are retried on transient failures (none: never).
    pub retry: Option<crate::limits::RetryConfig>,
    /// The host services (storage, schedule), when the host has a data folder.
    pub services: Option<Arc<coral_services::Services>>,
    /// Its storage quota.
    pub storage_quota: coral_services::storage::Quota,
    /// Outgoing HTTP requests in flight (bounded by `http_limits.max_concurrent`).
    pub http_in_flight: std::sync::atomic::AtomicUsize,
    /// The host's own endpoints, which its HTTP requests may never reach (shared by every plugin).
    pub own_endpoints: Arc<coral_policy::http::OwnEndpoints>,
    /// Commands and prompts (the host's, shared by every plugin).
    pub hub: Arc<crate::commands::Hub>,
    /// The time zone its cron lines run in when they name none (`[plugins.<name>] tz`).
    pub tz: Option<String>,
    /// The line budget its stdout, stderr and `coral:bot/log` share.
    pub log_budget: LogBudget,
    /// Limits "event queue full" warnings to one per [`SHED_LOG_PERIOD`] (with the count shed since the last).
    pub shed_log: coral_model::log_limit::LogLimiter,
    /// Slots for posted messages (`post-msg`) still waiting for the platform's answer ([`MAX_POSTS_IN_FLIGHT`]).
    pub posts: Arc<tokio::sync::Semaphore>,
}

/// Most posted messages (`post-msg`) one plugin may have waiting for the platform's answer; the next post waits.
pub const MAX_POSTS_IN_FLIGHT: usize = 256;

/// Shortest time between two "event queue full" warnings of one plugin.
pub const SHED_LOG_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// What the host gives every plugin it starts: the bots, the call counters, the audit log, the services and
/// the endpoints no plugin may reach.
#[derive(Clone, Default)]
pub struct HostParts {
    /// The bots plugins reach.
    pub bots: Bots,
    /// Every plugin's calls per bot.
    pub bot_calls: Arc<coral_ops::BotCalls>,
    /// Where privileged actions and refusals are recorded.
    pub audit: Option<Arc<AuditLog>>,
    /// Storage and schedule (none: not offered).
    pub services: Option<Arc<coral_services::Services>>,
    /// Each plugin's timer rate.
    pub timer_rates: Arc<crate::timers::TimerRates>,
    /// The host's own endpoints.
    pub own_endpoints: Arc<coral_policy::http::OwnEndpoints>,
    /// Commands and prompts (shared with the dispatcher).
    pub hub: Arc<crate::commands::Hub>,
}

impl PluginShared {
    /// The shared part of a plugin about to start: it may do nothing until its policy is set from its metadata.
    pub fn new(
        name: Arc<str>,
        hash: String,
        host: &HostParts,
        limits: &crate::limits::PluginLimits,
        tz: Option<String>,
    ) -> Arc<Self> {
        let HostParts {
            bots,
            bot_calls,
            audit,
            services,
            own_endpoints,
            hub,
            ..
        } = host.clone();
        host.timer_rates.set(&name, limits.timer_rate);
        let name_for_budget = name.clone();
        Arc::new(PluginShared {
            name,
            hash,
            bots,
            bot_calls,
            policy: RwLock::new(Arc::new(Policy::default())),
            audit,
            max_host_calls: limits.max_host_calls,
            messages: Mutex::default(),
            crashes: Mutex::default(),
            stats: Arc::default(),
            slow_call: limits.slow_call,
            retry: limits.retry,
            services,
            storage_quota: limits.storage,
            http_in_flight: Default::default(),
            own_endpoints,
            hub,
            tz,
            log_budget: LogBudget::new(name_for_budget, limits.log_rate.rate()),
            shed_log: coral_model::log_limit::LogLimiter::new(SHED_LOG_PERIOD),
            posts: Arc::new(tokio::sync::Semaphore::new(MAX_POSTS_IN_FLIGHT)),
        })
    }

    /// The current policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().clone()
    }

    /// Log one line of the plugin's, if its log budget allows (else it is dropped and counted).
    pub fn log(&self, level: tracing::Level, line: &str) {
        if self.log_budget.admit() {
            emit_log(&self.name, level, line);
        }
    }
}

/// How often, at most, the count of dropped lines is reported while a flood goes on.
const DROP_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// A flood is over once no line has been dropped for this long; the next line let through then reports the count.
const FLOOD_OVER_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// One plugin's log budget: a token bucket of lines shared by its stdout, stderr and `coral:bot/log`. Lines over
/// it are dropped and counted; the count goes out as one WARN `plugin log: dropped N lines over its budget` once no
/// line has been dropped for `FLOOD_OVER_AFTER`, every `DROP_REPORT_EVERY` during a long flood, and when the
/// plugin stops.
pub struct LogBudget {
    plugin: Arc<str>,
    state: Arc<Mutex<BudgetState>>,
}

struct BudgetState {
    bucket: coral_model::rate::Bucket,
    /// Lines dropped and not yet reported.
    dropped: u64,
    /// When the first of them was dropped.
    since: Option<tokio::time::Instant>,
    /// When the last line was dropped.
    last_drop: Option<tokio::time::Instant>,
    /// A task is waiting to report the count (so a plugin that goes quiet after a flood is reported too).
    watched: bool,
}

impl BudgetState {
    /// The count to report now, if it is due (and then the tally starts again).
    fn take_due(&mut self, now: tokio::time::Instant) -> Option<u64> {
        let elapsed =
            |at: Option<tokio::time::Instant>, least| at.is_some_and(|at| now.saturating_duration_since(at) >= least);
        let due =
            self.dropped > 0 && (elapsed(self.since, DROP_REPORT_EVERY) || elapsed(self.last_drop, FLOOD_OVER_AFTER));
        due.then(|| {
            self.since = None;
            std::mem::take(&mut self.dropped)
        })
    }
}

fn report_dropped(plugin: &str, dropped: u64) {
    tracing::warn!(plugin = %plugin, "plugin log: dropped {dropped} lines over its budget");
}

impl LogBudget {
    /// A full budget of `rate`.
    pub fn new(plugin: Arc<str>, rate: coral_model::rate::Rate) -> Self {
        LogBudget {
            plugin,
            state: Arc::new(Mutex::new(BudgetState {
                bucket: coral_model::rate::Bucket::new(rate),
                dropped: 0,
                since: None,
                last_drop: None,
                watched: false,
            })),
        }
    }

    /// Whether one more line may be logged now; a line refused is counted.
    pub fn admit(&self) -> bool {
        let mut state = self.lock();
        let admitted = state.bucket.take_up_to(1) == 1;
        self.settle_locked(state, 0, u64::from(!admitted));
        admitted
    }

    /// Take the budget for up to `n` lines at once (a flood costs one lock and one clock read per write, not per
    /// line); log that many, then [`Self::settle`] the rest.
    pub fn take_up_to(&self, n: u32) -> u32 {
        self.lock().bucket.take_up_to(n)
    }

    /// After [`Self::take_up_to`]: give back `unused` of the lines taken, and count `dropped` lines refused.
    pub fn settle(&self, unused: u32, dropped: u64) {
        self.settle_locked(self.lock(), unused, dropped);
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, BudgetState> {
        self.state.lock()
    }

    fn settle_locked(&self, mut state: parking_lot::MutexGuard<'_, BudgetState>, unused: u32, dropped: u64) {
        let now = tokio::time::Instant::now();
        state.bucket.give_back(unused);
        if dropped > 0 {
            state.dropped += dropped;
            state.since.get_or_insert(now);
            state.last_drop = Some(now);
            if !state.watched {
                state.watched = self.watch();
            }
        }
        if let Some(dropped) = state.take_due(now) {
            drop(state);
            report_dropped(&self.plugin, dropped);
        }
    }

    /// Start a task that reports the count once it is due, even if the plugin logs nothing more; whether one
    /// was started (not outside a runtime).
    fn watch(&self) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let (plugin, state) = (self.plugin.clone(), Arc::downgrade(&self.state));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(FLOOD_OVER_AFTER).await;
                let Some(state) = state.upgrade() else { return };
                let mut state = state.lock();
                let due = state.take_due(tokio::time::Instant::now());
                if due.is_some() || state.dropped == 0 {
                    state.watched = false;
                    drop(state);
                    if let Some(dropped) = due {
                        report_dropped(&plugin, dropped);
                    }
                    return;
                }
            }
        });
        true
    }

    /// Lines dropped and not yet reported.
    #[cfg(test)]
    fn unreported(&self) -> u64 {
        self.state.lock().dropped
    }
}

impl Drop for LogBudget {
    fn drop(&mut self) {
        let dropped = std::mem::take(&mut self.state.lock().dropped);
        if dropped > 0 {
            report_dropped(&self.plugin, dropped);
        }
    }
}

/// The data of one plugin instance's `Store`.
pub struct PluginState {
    /// What the plugin's instances share.
    pub shared: Arc<PluginShared>,
    /// The bot and chat of the event being handled: replies there, on that bot, need no grant.
    pub reply_chat: Option<(String, Chat)>,
    /// Host calls made while handling the current event.
    pub host_calls: u32,
    pub(crate) limiter: MemoryLimiter,
    /// Epoch ticks used by the current call.
    pub(crate) ticks_used: u64,
    /// Epoch ticks the current call may use.
    pub(crate) tick_budget: u64,
    wasi: WasiCtx,
    table: ResourceTable,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: crate::interfaces::http::CoralHttpHooks,
}

impl PluginState {
    /// A fresh state: no env, args, preopens or network; stdout/stderr go to the log; stdin is empty.
    pub fn new(shared: Arc<PluginShared>, memory_cap: usize) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(shared.clone(), tracing::Level::INFO))
            .stderr(LogStream::new(shared.clone(), tracing::Level::WARN))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let http_hooks = crate::interfaces::http::CoralHttpHooks::new(shared.clone());
        PluginState {
            shared,
            reply_chat: None,
            host_calls: 0,
            limiter: MemoryLimiter::new(memory_cap),
            ticks_used: 0,
            tick_budget: u64::MAX,
            wasi,
            table: ResourceTable::new(),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_hooks,
        }
    }
}

impl PluginState {
    /// Count one host call; past the per-event budget the plugin is stopped (a trap), since a loop of host
    /// calls is either a bug or an attack.
    pub fn count_host_call(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.shared.max_host_calls {
            return Err(wasmtime::format_err!(
                "made more than {} host calls while handling one event",
                self.shared.max_host_calls
            ));
        }
        Ok(())
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for PluginState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        // Every wasi:http call passes here: fold the requests sent since the last call into the event's host-call
        // count, and hand the hooks what is left of the budget.
        self.host_calls += std::mem::take(&mut self.http_hooks.sent);
        self.http_hooks.budget_left = self.shared.max_host_calls.saturating_sub(self.host_calls);
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// Caps the total linear memory of one instance (all its memories together) and remembers the peak.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: usize,
    total: usize,
    /// Highest total reached.
    pub peak: usize,
    /// Set when a growth was refused.
    pub refused: bool,
}

impl MemoryLimiter {
    fn new(cap: usize) -> Self {
        MemoryLimiter {
            cap,
            total: 0,
            peak: 0,
            refused: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.total + desired.saturating_sub(current);
        if next > self.cap {
            self.refused = true;
            return Ok(false);
        }
        self.total = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        8
    }
}

/// Emit one plugin log line through `tracing` with `plugin=<name>`.
pub fn emit_log(plugin: &str, level: tracing::Level, line: &str) {
    let line = sanitize(line);
    match level {
        tracing::Level::ERROR => tracing::error!(target: "plugin", plugin, "{line}"),
        tracing::Level::WARN => tracing::warn!(target: "plugin", plugin, "{line}"),
        tracing::Level::INFO => tracing::info!(target: "plugin", plugin, "{line}"),
        tracing::Level::DEBUG => tracing::debug!(target: "plugin", plugin, "{line}"),
        tracing::Level::TRACE => tracing::trace!(target: "plugin", plugin, "{line}"),
    }
}

/// Splits a byte stream into lines, holding at most [`MAX_LOG_LINE`] + 1 bytes of a partial line: a longer line
/// is handed on cut there, and the rest of it (up to its newline) is skipped.
#[derive(Debug, Default)]
struct LineSplitter {
    pending: Vec<u8>,
    /// The current line was already handed on (cut); skip to its end.
    skipping: bool,
}

impl LineSplitter {
    fn push(&mut self, mut bytes: &[u8], mut line: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|b| *b == b'\n');
            let (head, rest) = match newline {
                Some(pos) => (&bytes[..pos], &bytes[pos + 1..]),
                None => (bytes, &[][..]),
            };
            if !self.skipping {
                let room = (MAX_LOG_LINE + 1).saturating_sub(self.pending.len());
                self.pending.extend_from_slice(&head[..head.len().min(room)]);
                if newline.is_some() || self.pending.len() > MAX_LOG_LINE {
                    line(&self.pending);
                    self.pending.clear();
                    self.skipping = newline.is_none();
                }
            } else if newline.is_some() {
                self.skipping = false;
            }
            bytes = rest;
        }
    }
}

/// A plugin's stdout or stderr: complete lines go to the host log, within the plugin's log budget.
#[derive(Clone)]
struct LogStream {
    shared: Arc<PluginShared>,
    level: tracing::Level,
    lines: Arc<Mutex<LineSplitter>>,
}

impl LogStream {
    fn new(shared: Arc<PluginShared>, level: tracing::Level) -> Self {
        LogStream {
            shared,
            level,
            lines: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut lines = self.lines.lock();
        // The budget for every line this write can complete, taken at once: past the budget a line costs only
        // finding its end (no lock, no clock, no text conversion), so a flood cannot make the host's share of a
        // write call long.
        let most = bytes.iter().filter(|b| **b == b'\n').count() + bytes.len() / MAX_LOG_LINE + 1;
        let budget = &self.shared.log_budget;
        let mut allowed = budget.take_up_to(u32::try_from(most).unwrap_or(u32::MAX));
        let mut dropped = 0u64;
        lines.push(bytes, |line| {
            if allowed > 0 {
                allowed -= 1;
                emit_log(&self.shared.name, self.level, String::from_utf8_lossy(line).as_ref());
            } else {
                dropped += 1;
            }
        });
        budget.settle(allowed, dropped);
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests;
