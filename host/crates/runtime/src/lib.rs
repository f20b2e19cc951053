//! The plugin runtime: loads components, runs each plugin in its own task with its own `Store`, enforces the
//! CPU budget (epochs), wall-clock timeout and memory cap, and restarts a plugin from its cached `InstancePre`
//! after a trap.
//!
//! Flow: an adapter calls [`Dispatcher::dispatch`] → the event is queued (bounded) for each plugin that wants it
//! → the plugin's task calls `on-event` → host imports (`crate::interfaces`) reach the bots through [`coral_model::Bots`].

pub mod compile;
pub mod crash;
pub mod engine;
pub mod interfaces;
pub mod limits;
pub mod state;
pub mod status;
pub mod timers;
pub mod wall;
pub mod world;

use crate::limits::PluginLimits;
use anyhow::Context as _;
use coral_model::Bots;
use coral_model::bindings::{Chat, ChatType, Event, EventCategory, EventKind, Plugin, PluginMetadata};
use coral_ops::audit::AuditLog;
use coral_policy::{Grants, Policy};
use crash::Admit;
use sha2::{Digest, Sha256};
use state::{PluginShared, PluginState};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use world::{Instance, Pre};

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read, or is too large.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a valid component (or compilation failed).
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The compiler was stopped (deadline, memory or CPU limit, crash) or its code could not be loaded.
    #[error("could not be compiled: {0}")]
    Compiler(String),
    /// The component does not fit the `coral:bot/plugin` world (missing exports, unknown imports, wrong version).
    #[error("does not match a coral:bot plugin world this host serves (coral:bot@0.2.0 or 0.1.0): {0}")]
    World(String),
    /// Instantiation, `metadata` or `setup` failed or trapped.
    #[error("failed to start: {0}")]
    Start(String),
    /// The plugin's config table does not match the schema it declares (or the schema is invalid).
    #[error("config does not match the plugin's schema: {0}")]
    Config(String),
}

/// Counters for one plugin (read by status output and benchmarks).
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Events queued for the plugin.
    pub received: AtomicU64,
    /// Events its handler completed with `Ok`.
    pub handled: AtomicU64,
    /// Events whose handler returned an error, trapped or timed out.
    pub failed: AtomicU64,
    /// Events dropped because its queue was full.
    pub shed: AtomicU64,
    /// Traps (including CPU-budget interrupts and memory exhaustion).
    pub traps: AtomicU64,
    /// Wall-clock timeouts.
    pub timeouts: AtomicU64,
    /// Fresh instances made after a fault.
    pub restarts: AtomicU64,
    /// Time spent in the event handler (`on-event`), successful or not.
    pub handler_time: coral_ops::Histogram,
    /// Handlers that took longer than the plugin's `slow_event_ms`.
    pub slow_events: AtomicU64,
    /// Highest total linear memory any of its instances reached, bytes.
    pub memory_peak: AtomicU64,
    /// Platform calls, per action.
    pub calls: coral_ops::CallStats,
}

/// The shared runtime: engine, linker, the bots plugins can reach, and the audit log.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<PluginState>>,
    host: state::HostParts,
    cache_dir: Option<std::path::PathBuf>,
    compiler: compile::Compiler,
    compile_limits: compile::CompileLimits,
}

/// A compiled, checked plugin, ready to start.
pub struct Compiled {
    /// Pre-instantiated component.
    pub pre: Pre,
    /// First 16 hex digits of the SHA-256 of the file.
    pub hash: String,
    /// The WIT package version it was built against.
    pub wit_version: String,
}

/// How to start a plugin.
#[derive(Clone)]
pub struct StartSpec {
    /// Its config table as JSON, for `setup`.
    pub config_json: String,
    /// Its resource limits.
    pub limits: PluginLimits,
    /// What the operator granted.
    pub grants: Grants,
}

impl Runtime {
    /// Create the runtime. `cache_dir`: where compiled components are cached (none: no cache).
    pub fn new(cache_dir: Option<&Path>, bots: Bots, audit: Option<Arc<AuditLog>>) -> anyhow::Result<Self> {
        let engine = engine::build_engine()?;
        if let Some(dir) = cache_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating cache dir {}", dir.display()))?;
        }
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // wasi:http, with Coral's checked sender (crate::interfaces::http) instead of the default one.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)?;
        // Plugins built against coral:bot@0.1.0 get the same host functions through conversions (api::v0_1).
        coral_model::bindings::v0_1::Plugin::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            host: state::HostParts {
                bots,
                bot_calls: Arc::default(),
                audit,
                services: None,
                timer_rates: Arc::default(),
                own_endpoints: Arc::default(),
            },
            cache_dir: cache_dir.map(Path::to_path_buf),
            compiler: compile::Compiler::InProcess,
            compile_limits: compile::CompileLimits::default(),
        })
    }

    /// Compile plugins with `compiler` (the `coral` binary uses a child process) under `limits`.
    pub fn with_compiler(mut self, compiler: compile::Compiler, limits: compile::CompileLimits) -> Self {
        self.compiler = compiler;
        self.compile_limits = limits;
        self
    }

    /// The compile deadline.
    pub fn compile_timeout(&self) -> std::time::Duration {
        self.compile_limits.timeout
    }

    /// Give plugins started from now on the host services (storage, schedule).
    pub fn with_services(mut self, services: Arc<coral_services::Services>) -> Self {
        self.host.services = Some(services);
        self
    }

    /// The host's own endpoints, which no plugin's HTTP request may reach (shared by every plugin it starts).
    pub fn own_endpoints(&self) -> &Arc<coral_policy::http::OwnEndpoints> {
        &self.host.own_endpoints
    }

    /// The bots registry.
    pub fn bot_calls(&self) -> &Arc<coral_ops::BotCalls> {
        &self.host.bot_calls
    }

    /// Each plugin's timer rate (for [`timers::run`]).
    pub fn timer_rates(&self) -> &Arc<timers::TimerRates> {
        &self.host.timer_rates
    }

    /// The bots plugins reach.
    pub fn bots(&self) -> &Bots {
        &self.host.bots
    }

    /// Compile and check a plugin file; does not start it. Compilation runs off the async workers.
    pub async fn compile(&self, path: &Path, max_bytes: u64) -> Result<Compiled, LoadError> {
        let read_err = |reason: String| LoadError::Read {
            path: path.display().to_string(),
            reason,
        };
        let len = tokio::fs::metadata(path)
            .await
            .map_err(|e| read_err(e.to_string()))?
            .len();
        if len > max_bytes {
            return Err(read_err(format!("{len} bytes is over the {max_bytes}-byte limit")));
        }
        let bytes = tokio::fs::read(path).await.map_err(|e| read_err(e.to_string()))?;
        let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        // What logs and the audit show: the first 16 hex digits.
        let hash = sha256[..16].to_string();
        // A hostile file may make the compiler slow, huge or (in theory) crash: it runs in a child process with
        // its own limits (compile::Compiler::Worker), or at least off the async workers.
        let component = compile::load(
            &self.engine,
            bytes,
            &sha256,
            self.cache_dir.as_deref(),
            &self.compiler,
            &self.compile_limits,
        )
        .await
        .map_err(|e| match e {
            compile::CompileError::Invalid(message) => LoadError::Compile(message),
            other => LoadError::Compiler(other.to_string()),
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::World(format!("{e:#}")))?;
        // The contract version, as the component names it in its imports (`coral:bot/bot@0.2.0`); its exports are
        // checked against that version's world.
        let wit_version = component
            .component_type()
            .imports(&self.engine)
            .find_map(|(name, _)| {
                name.strip_prefix("coral:bot/")
                    .and_then(|n| n.split_once('@'))
                    .map(|(_, v)| v.to_string())
            })
            .map(|v| format!("coral:bot@{v}"))
            .unwrap_or_else(|| "unknown".into());
        let pre = Pre::new(pre, &wit_version).map_err(|e| LoadError::World(format!("{e:#}")))?;
        Ok(Compiled { pre, hash, wit_version })
    }

    /// Start a compiled plugin: instantiate, read its metadata, set its policy (requested ∩ granted), run `setup`,
    /// and spawn its task(s).
    pub async fn start(&self, name: &str, compiled: Compiled, spec: StartSpec) -> Result<PluginHandle, LoadError> {
        let name: Arc<str> = Arc::from(name);
        let limits = spec.limits;
        let wit_version = compiled.wit_version;
        let shared = PluginShared::new(name.clone(), compiled.hash, &self.host, &limits);
        *shared.crashes.lock().unwrap_or_else(|e| e.into_inner()) = crash::CrashGuard::new(limits.quarantine);
        let stats = shared.stats.clone();
        let config_json = spec.config_json.clone();
        let starter = Starter {
            shared: shared.clone(),
            pre: compiled.pre,
            config_json: spec.config_json,
            limits,
        };
        let mut actor = Actor {
            starter: Arc::new(starter),
            instance: None,
        };
        let metadata = actor.first_start(&spec.grants).await?;
        let (tx, rx) = mpsc::channel(limits.queue_len);
        // Each instance takes the next queued event when it is free (more than one only if configured).
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut tasks = Vec::with_capacity(limits.instances);
        for _ in 1..limits.instances {
            let extra = Actor {
                starter: actor.starter.clone(),
                instance: None,
            };
            tasks.push(tokio::spawn(extra.run(rx.clone(), stats.clone())));
        }
        tasks.push(tokio::spawn(actor.run(rx, stats.clone())));
        Ok(PluginHandle {
            name,
            metadata,
            wit_version,
            limits,
            config_json,
            shared,
            tx,
            stats,
            tasks,
        })
    }

    /// Instantiate a compiled plugin just to read its metadata (no `setup`, no bot access).
    pub async fn metadata(&self, compiled: &Compiled, limits: PluginLimits) -> Result<PluginMetadata, LoadError> {
        let shared = PluginShared::new(
            Arc::from("inspect"),
            compiled.hash.clone(),
            &state::HostParts::default(),
            &limits,
        );
        let starter = Starter {
            shared,
            pre: compiled.pre.clone(),
            config_json: "{}".into(),
            limits,
        };
        starter.metadata().await.map(|(metadata, _, _)| metadata)
    }

    /// Compile and start a plugin file.
    pub async fn load(
        &self,
        name: &str,
        path: &Path,
        spec: StartSpec,
        max_bytes: u64,
    ) -> Result<PluginHandle, LoadError> {
        let compiled = self.compile(path, max_bytes).await?;
        self.start(name, compiled, spec).await
    }
}

/// How long stopping a plugin waits for it to finish its queue.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A queued event, with an optional sender whose drop tells a tracker the event has been handled.
type Delivery = (Event, Option<mpsc::Sender<()>>);

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
    tx: mpsc::Sender<Delivery>,
    /// Its counters.
    pub stats: Arc<PluginStats>,
    tasks: Vec<JoinHandle<()>>,
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
        self.plugins.write().unwrap_or_else(|e| e.into_inner()).push(plugin);
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
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
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
            let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
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
        let mut plugins = self.plugins.write().unwrap_or_else(|e| e.into_inner());
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
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        match plugins.iter().find(|p| &*p.name == name) {
            Some(p) if p.wants(event.category()) => p.offer(event, None),
            _ => false,
        }
    }

    /// Take a plugin out of service.
    pub fn remove(&self, name: &str) -> Option<PluginHandle> {
        let mut plugins = self.plugins.write().unwrap_or_else(|e| e.into_inner());
        let i = plugins.iter().position(|p| &*p.name == name)?;
        Some(plugins.remove(i))
    }

    /// The running plugin's file hash, config JSON and limits.
    pub fn running(&self, name: &str) -> Option<(String, String, PluginLimits)> {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins
            .iter()
            .find(|p| &*p.name == name)
            .map(|p| (p.shared.hash.clone(), p.config_json.clone(), p.limits))
    }

    /// The names of the running plugins.
    pub fn names(&self) -> Vec<String> {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins.iter().map(|p| p.name.to_string()).collect()
    }

    /// Re-apply grants to a running plugin (from its next call).
    pub fn set_grants(&self, name: &str, grants: &Grants) {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = plugins.iter().find(|p| &*p.name == name) {
            *p.shared.policy.write().unwrap_or_else(|e| e.into_inner()) =
                Arc::new(Policy::new(&p.metadata.capabilities, grants));
        }
    }

    /// The quarantined plugins.
    pub fn quarantined(&self) -> Vec<String> {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins
            .iter()
            .filter(|p| {
                p.shared
                    .crashes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_quarantined()
            })
            .map(|p| p.name.to_string())
            .collect()
    }

    /// The quarantined plugins, each with its quarantine (the fault that imposed it, and until when).
    pub fn quarantines(&self) -> Vec<(String, crash::Quarantine)> {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins
            .iter()
            .filter_map(|p| {
                let crashes = p.shared.crashes.lock().unwrap_or_else(|e| e.into_inner());
                crashes.quarantine().map(|q| (p.name.to_string(), q.clone()))
            })
            .collect()
    }

    /// Lift a running plugin's quarantine at once (its file was touched: a reload of the same file). Returns
    /// whether it was quarantined.
    pub fn lift_quarantine(&self, name: &str) -> bool {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins
            .iter()
            .find(|p| &*p.name == name)
            .is_some_and(|p| p.shared.crashes.lock().unwrap_or_else(|e| e.into_inner()).lift())
    }

    /// Names, versions and counters of the running plugins.
    pub fn snapshot(&self) -> Vec<(Arc<str>, String, Arc<PluginStats>)> {
        let plugins = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        plugins
            .iter()
            .map(|p| (p.name.clone(), p.metadata.version.clone(), p.stats.clone()))
            .collect()
    }

    /// Stop every plugin after it has handled what is already queued.
    pub async fn shutdown(&self) {
        let plugins = std::mem::take(&mut *self.plugins.write().unwrap_or_else(|e| e.into_inner()));
        for plugin in plugins {
            plugin.shutdown_within(Some(SHUTDOWN_GRACE)).await;
        }
    }
}

/// The task that owns a plugin's `Store` and serialises calls into it.
struct Actor {
    starter: Arc<Starter>,
    instance: Option<(Store<PluginState>, Instance)>,
}

/// What it takes to make (and call into) a fresh instance; shared immutably while a call runs.
struct Starter {
    shared: Arc<PluginShared>,
    pre: Pre,
    config_json: String,
    limits: PluginLimits,
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
    async fn metadata(&self) -> Result<(PluginMetadata, Store<PluginState>, Instance), LoadError> {
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
        Ok((metadata, store, plugin))
    }

    /// Record a fault; on the fifth within ten minutes, quarantine (logged and audited).
    fn fault(&self, fault: &Fault) {
        let reason = fault_text(fault);
        let quarantined = self
            .shared
            .crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fault(&reason);
        if let Some(length) = quarantined {
            let name = &self.shared.name;
            tracing::error!(plugin = %name, "quarantined for {} s: {} faults within {} minutes (last: {reason}); its events are shed until then or until it is reloaded",
                length.as_secs(), crash::QUARANTINE_AFTER, crash::WINDOW.as_secs() / 60);
            if let Some(audit) = &self.shared.audit {
                audit.append(&coral_ops::audit::Entry {
                    time_ms: coral_ops::audit::now_ms(),
                    plugin: name.to_string(),
                    plugin_hash: self.shared.hash.clone(),
                    bot: "-".into(),
                    action: "quarantine".into(),
                    capability: "-".into(),
                    target: "-".into(),
                    outcome: "quarantined".into(),
                    retcode: 0,
                    detail: format!(
                        "{} traps or timeouts within 10 minutes; for {} s; last: {reason}",
                        crash::QUARANTINE_AFTER,
                        length.as_secs()
                    ),
                    call: 0,
                });
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
    async fn first_start(&mut self, grants: &Grants) -> Result<PluginMetadata, LoadError> {
        let starter = &self.starter;
        let (metadata, mut store, plugin) = starter.metadata().await?;
        let violations = config_violations(metadata.config_schema.as_deref(), &starter.config_json);
        if !violations.is_empty() {
            return Err(LoadError::Config(violations.join("; ")));
        }
        *starter.shared.policy.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Policy::new(&metadata.capabilities, grants));
        let config = starter.config_json.clone();
        starter
            .guarded(&mut store, async |s| plugin.call_setup(s, &config).await)
            .await
            .map_err(|f| LoadError::Start(format!("setup: {}", fault_text(&f))))?;
        self.instance = Some((store, plugin));
        Ok(metadata)
    }

    async fn run(mut self, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>, stats: Arc<PluginStats>) {
        loop {
            let next = rx.lock().await.recv().await;
            let Some((event, done)) = next else { break };
            self.handle(event, &stats).await;
            // Whoever tracks this event learns it has been handled once every plugin has dropped its sender.
            drop(done);
        }
        tracing::debug!(plugin = %self.starter.shared.name, "plugin stopped");
    }

    async fn handle(&mut self, event: Event, stats: &PluginStats) {
        let starter = &self.starter;
        let (mut store, plugin) = match self.instance.take() {
            Some(instance) => instance,
            None => {
                // A fresh instance after a fault: honour the backoff, or shed while quarantined.
                let admit = starter.shared.crashes.lock().unwrap_or_else(|e| e.into_inner()).admit();
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
        let chat = reply_chat(&event);
        if let (EventKind::Message(m), Some(chat)) = (&event.kind, &chat) {
            // The message, and the messages it quotes or forwards, are in this chat on this bot: the plugin may
            // point at them there (a quote, a forward node), and only there.
            let mut index = starter.shared.messages.lock().unwrap_or_else(|e| e.into_inner());
            index.remember(&event.self_id, &m.message_id, chat);
            for segment in &m.message {
                if let coral_model::bindings::Segment::Reply(id) | coral_model::bindings::Segment::Forward(id) = segment
                {
                    index.remember(&event.self_id, id, chat);
                }
            }
        }
        store.data_mut().reply_chat = chat.map(|chat| (event.self_id.clone(), chat));
        let started = std::time::Instant::now();
        let outcome = starter
            .guarded(&mut store, async |s| plugin.call_on_event(s, &event).await)
            .await;
        let took = started.elapsed();
        store.data_mut().reply_chat = None;
        stats.handler_time.record(took);
        stats
            .memory_peak
            .fetch_max(store.data().limiter.peak as u64, Ordering::Relaxed);
        if took >= starter.limits.slow_event {
            stats.slow_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = %starter.shared.name, action = "on-event", event = event_name(&event),
                ms = took.as_millis() as u64, "slow event handler (over {} ms)", starter.limits.slow_event.as_millis());
        }
        match outcome {
            Ok(()) => {
                stats.handled.fetch_add(1, Ordering::Relaxed);
                starter
                    .shared
                    .crashes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .success();
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

/// Every way `config_json` breaks the plugin's declared config schema (none declared: none); an invalid schema
/// is one violation.
pub fn config_violations(schema: Option<&str>, config_json: &str) -> Vec<String> {
    let Some(schema) = schema else { return Vec::new() };
    let schema = match coral_services::schema::Schema::parse(schema) {
        Ok(schema) => schema,
        Err(e) => return vec![e.to_string()],
    };
    let value: serde_json::Value = serde_json::from_str(config_json).unwrap_or_default();
    schema.validate(&value, "config")
}

/// The chat a plugin may answer into without a grant: where the event happened.
fn reply_chat(event: &Event) -> Option<Chat> {
    use coral_model::bindings::coral::bot::types::{NoticeEvent as N, RequestEvent};
    match &event.kind {
        EventKind::Message(m) => Some(match (&m.message_type, &m.group_id) {
            (ChatType::Group, Some(g)) => Chat::Group(g.clone()),
            _ => Chat::Private(m.user_id.clone()),
        }),
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
}
