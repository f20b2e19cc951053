//! Per-instance store data ([`PluginState`]): the default-deny WASI context, the memory limiter, the CPU-budget
//! counter, and the plugin's stdout/stderr forwarded to the host log.

use crate::adapters::Bots;
use crate::audit::AuditLog;
use crate::policy::Policy;
use crate::runtime::bindings::Chat;
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Most bytes of one log line kept; the rest is cut.
pub const MAX_LOG_LINE: usize = 4096;
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
    /// Its effective permissions (swapped when the config changes).
    pub policy: RwLock<Arc<Policy>>,
    /// Where privileged actions and refusals are recorded.
    pub audit: Option<Arc<AuditLog>>,
    /// Host calls one event may make.
    pub max_host_calls: u32,
    /// Where recent messages the plugin saw or sent were (so a recall can be checked against scopes).
    pub messages: Mutex<MessageIndex>,
    /// Fault history (crash backoff and quarantine), shared by the plugin's instances.
    pub crashes: Mutex<crate::runtime::crash::CrashGuard>,
    /// Its counters (events, handler time, platform calls).
    pub stats: Arc<crate::runtime::PluginStats>,
    /// Platform calls slower than this are logged as a warning.
    pub slow_call: std::time::Duration,
    /// How read-only queries are retried on transient failures (none: never).
    pub retry: Option<crate::config::RetryConfig>,
    /// The host services (storage, schedule), when the host has a data folder.
    pub services: Option<Arc<crate::services::Services>>,
    /// Its storage quota.
    pub storage_quota: crate::services::storage::Quota,
    /// Outgoing HTTP requests in flight (bounded by `http_limits.max_concurrent`).
    pub http_in_flight: std::sync::atomic::AtomicUsize,
    /// The host's own endpoints, which its HTTP requests may never reach (shared by every plugin).
    pub own_endpoints: Arc<crate::services::http::OwnEndpoints>,
}

/// Recent message ids and their chats, per bot, bounded (oldest forgotten first). Message ids are only unique per
/// bot, so the same id seen on two bots is two entries.
#[derive(Debug, Default)]
pub struct MessageIndex {
    chats: std::collections::HashMap<(String, String), Chat>,
    order: std::collections::VecDeque<(String, String)>,
}

/// How many message ids a plugin's index remembers.
const MESSAGE_INDEX_LEN: usize = 4096;

impl MessageIndex {
    /// Remember where a message of `bot` is. The first chat an id was seen in stays its chat: a later sighting
    /// elsewhere (an id named by a quote or forward inside another chat's message, whose fields the sender wrote)
    /// never moves it, so a recall or quote allowed in that other chat cannot reach it.
    pub fn remember(&mut self, bot: &str, message_id: &str, chat: &Chat) {
        if message_id.is_empty() {
            return;
        }
        let key = (bot.to_string(), message_id.to_string());
        match self.chats.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => return,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(chat.clone());
            }
        }
        self.order.push_back(key);
        if self.order.len() > MESSAGE_INDEX_LEN
            && let Some(old) = self.order.pop_front()
        {
            self.chats.remove(&old);
        }
    }

    /// Where a message of `bot` is, if known.
    pub fn chat_of(&self, bot: &str, message_id: &str) -> Option<Chat> {
        self.chats.get(&(bot.to_string(), message_id.to_string())).cloned()
    }

    /// The index as one bot's [`crate::policy::MessageLookup`].
    pub fn of_bot<'a>(&'a self, bot: &'a str) -> BotMessages<'a> {
        BotMessages { index: self, bot }
    }
}

/// The messages known on one bot.
pub struct BotMessages<'a> {
    index: &'a MessageIndex,
    bot: &'a str,
}

impl crate::policy::MessageLookup for BotMessages<'_> {
    fn chat_of(&self, message_id: &str) -> Option<Chat> {
        self.index.chat_of(self.bot, message_id)
    }
}

impl PluginShared {
    /// The shared part of a plugin about to start: it may do nothing until its policy is set from its metadata.
    pub fn new(
        name: Arc<str>,
        hash: String,
        bots: Bots,
        audit: Option<Arc<AuditLog>>,
        limits: &crate::config::PluginLimits,
        services: Option<Arc<crate::services::Services>>,
        own_endpoints: Arc<crate::services::http::OwnEndpoints>,
    ) -> Arc<Self> {
        Arc::new(PluginShared {
            name,
            hash,
            bots,
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
        })
    }

    /// The current policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).clone()
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
    http_hooks: crate::services::http::CoralHttpHooks,
}

impl PluginState {
    /// A fresh state: no env, args, preopens or network; stdout/stderr go to the log; stdin is empty.
    pub fn new(shared: Arc<PluginShared>, memory_cap: usize) -> Self {
        let name = shared.name.clone();
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(name.clone(), tracing::Level::INFO))
            .stderr(LogStream::new(name.clone(), tracing::Level::WARN))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let http_hooks = crate::services::http::CoralHttpHooks::new(shared.clone());
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

/// Strip control characters (ANSI escapes, terminal tricks) from plugin text before it reaches a log or terminal,
/// and cut it at [`MAX_LOG_LINE`] bytes.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control() || *c == '\t').collect();
    crate::text::cut(&mut out, MAX_LOG_LINE);
    out
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

/// A plugin's stdout or stderr: complete lines go to the host log.
#[derive(Clone)]
struct LogStream {
    plugin: Arc<str>,
    level: tracing::Level,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    fn new(plugin: Arc<str>, level: tracing::Level) -> Self {
        LogStream {
            plugin,
            level,
            pending: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(bytes);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            emit_log(
                &self.plugin,
                self.level,
                String::from_utf8_lossy(&line[..line.len() - 1]).as_ref(),
            );
        }
        if pending.len() > MAX_LOG_LINE {
            let line: Vec<u8> = std::mem::take(&mut *pending);
            emit_log(&self.plugin, self.level, String::from_utf8_lossy(&line).as_ref());
        }
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
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_escapes_and_cuts_long_lines() {
        assert_eq!(sanitize("a\x1b[31mred\x07\r"), "a[31mred");
        let long = "é".repeat(MAX_LOG_LINE);
        let cut = sanitize(&long);
        assert!(cut.len() <= MAX_LOG_LINE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn memory_limiter_caps_the_total_of_all_memories() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(
            l.memory_growing(0, 30, None).unwrap(),
            "a second memory counts toward the same cap"
        );
        assert!(!l.memory_growing(60, 80, None).unwrap());
        assert!(l.refused);
        assert_eq!(l.peak, 90);
    }
}
