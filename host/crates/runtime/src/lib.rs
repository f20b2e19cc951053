//! The plugin runtime: loads components, runs each plugin in its own task with its own `Store`, enforces the
//! CPU budget (epochs), wall-clock timeout and memory cap, and restarts a plugin from its cached `InstancePre`
//! after a trap.
//!
//! Flow: an adapter calls [`Dispatcher::dispatch`] → the event is queued (bounded) for each plugin that wants it
//! → the plugin's task calls `on-event` → host imports (`crate::interfaces`) reach the bots through [`coral_model::Bots`].

mod actor;
pub mod commands;
pub mod compile;
pub mod crash;
pub mod dispatcher;
pub mod engine;
pub mod folder;
pub mod interfaces;
pub mod limits;
pub mod state;
pub mod status;
pub mod timers;
pub mod visibility;
pub mod wall;
pub mod world;

#[cfg(test)]
mod test_support;

use crate::limits::PluginLimits;
use cap_std::fs as cap_fs;
use coral_model::Bots;
use coral_model::bindings::{Plugin, PluginMetadata};
use coral_ops::audit::AuditLog;
use coral_policy::Grants;
use sha2::{Digest, Sha256};
use state::{PluginShared, PluginState};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::mpsc;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};
use world::Pre;

use actor::{Actor, Starter};
pub use dispatcher::{Dispatcher, PluginHandle, SHUTDOWN_GRACE};

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plugin file was refused or could not be read (a bad name, a link, too large, …).
    #[error(transparent)]
    File(#[from] folder::PluginFileError),
    /// Not a valid component (or compilation failed).
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The compiler was stopped (deadline, memory or CPU limit, crash) or its code could not be loaded.
    #[error("could not be compiled: {0}")]
    Compiler(String),
    /// The component does not fit the `coral:bot/plugin` world (missing exports, unknown imports, wrong version).
    #[error("does not match a coral:bot plugin world this host serves (coral:bot@0.4.0, 0.3.0, 0.2.0 or 0.1.0): {0}")]
    World(String),
    /// Instantiation, `metadata` or `setup` failed or trapped.
    #[error("failed to start: {0}")]
    Start(String),
    /// The plugin's config table does not match the schema it declares (or the schema is invalid).
    #[error("config does not match the plugin's schema: {0}")]
    Config(String),
    /// Its command declarations break a rule, or take a word another plugin has.
    #[error("commands refused: {0}")]
    Commands(String),
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
    cache_dir: Option<Arc<cap_fs::Dir>>,
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
    /// Its priority (lower first).
    pub priority: i32,
    /// The time zone its cron jobs run in unless a line names one (`[plugins.<name>] tz`; none: UTC).
    pub tz: Option<String>,
}

impl Runtime {
    /// Create the runtime. `cache_dir`: the folder (opened by the host) where compiled components are cached
    /// (none: no cache).
    pub fn new(cache_dir: Option<Arc<cap_fs::Dir>>, bots: Bots, audit: Option<Arc<AuditLog>>) -> anyhow::Result<Self> {
        let engine = engine::build_engine()?;
        let bots_for_hub = bots.clone();
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // wasi:http, with Coral's checked sender (crate::interfaces::http) instead of the default one.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)?;
        // Plugins built against coral:bot@0.3.0 or 0.2.0 import the same interfaces under their own names (0.4.0
        // added a function, 0.3.0 an interface; no type or function they import changed): the same host functions
        // serve them (wasmtime checks each imported function's type structurally when such a plugin is
        // instantiated, and a component imports only what its version has).
        {
            use coral_model::bindings::coral::bot as current;
            type D = HasSelf<PluginState>;
            fn getter(s: &mut PluginState) -> &mut PluginState {
                s
            }
            for version in ["0.3.0", "0.2.0"] {
                let at = |interface: &str| format!("coral:bot/{interface}@{version}");
                current::bot::add_to_linker_instance::<_, D>(&mut linker.instance(&at("bot"))?, getter)?;
                current::log::add_to_linker_instance::<_, D>(&mut linker.instance(&at("log"))?, getter)?;
                current::storage::add_to_linker_instance::<_, D>(&mut linker.instance(&at("storage"))?, getter)?;
                current::schedule::add_to_linker_instance::<_, D>(&mut linker.instance(&at("schedule"))?, getter)?;
                current::http::add_to_linker_instance::<_, D>(&mut linker.instance(&at("http"))?, getter)?;
                if version == "0.3.0" {
                    current::command::add_to_linker_instance::<_, D>(&mut linker.instance(&at("command"))?, getter)?;
                }
            }
        }
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
                hub: Arc::new(commands::Hub::new(bots_for_hub)),
            },
            cache_dir,
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

    /// The command hub (settings, cooldowns, prompts) its plugins and the dispatcher share.
    pub fn hub(&self) -> &Arc<commands::Hub> {
        &self.host.hub
    }

    /// A dispatcher over this runtime's command hub.
    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.host.hub.clone())
    }

    /// Compile and check a plugin's bytes (read by the caller, within its size cap: [`folder::PluginDir::read`]);
    /// does not start it. Compilation runs off the async workers.
    pub async fn compile(&self, bytes: Vec<u8>) -> Result<Compiled, LoadError> {
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
        let shared = PluginShared::new(name.clone(), compiled.hash, &self.host, &limits, spec.tz.clone());
        *shared.crashes.lock() = crash::CrashGuard::new(limits.quarantine);
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
        let (metadata, commands) = actor.first_start(&spec.grants).await?;
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
            commands: Arc::new(commands),
            priority: spec.priority,
            tz: spec.tz,
            tx,
            stats,
            tasks,
        })
    }

    /// Instantiate a compiled plugin just to read its metadata (no `setup`, no bot access).
    pub async fn metadata(&self, compiled: &Compiled, limits: PluginLimits) -> Result<PluginMetadata, LoadError> {
        self.describe(compiled, limits).await.map(|(metadata, _)| metadata)
    }

    /// Instantiate a compiled plugin just to read its metadata and its commands, checked (no `setup`, no bot
    /// access).
    pub async fn describe(
        &self,
        compiled: &Compiled,
        limits: PluginLimits,
    ) -> Result<(PluginMetadata, commands::CommandTable), LoadError> {
        let shared = PluginShared::new(
            Arc::from("inspect"),
            compiled.hash.clone(),
            &state::HostParts::default(),
            &limits,
            None,
        );
        let starter = Starter {
            shared,
            pre: compiled.pre.clone(),
            config_json: "{}".into(),
            limits,
        };
        let (metadata, specs, _, _) = starter.metadata().await?;
        let table = commands::CommandTable::new(specs).map_err(|e| LoadError::Commands(e.to_string()))?;
        Ok((metadata, table))
    }

    /// Compile and start a plugin from its bytes.
    pub async fn load(&self, name: &str, bytes: Vec<u8>, spec: StartSpec) -> Result<PluginHandle, LoadError> {
        let compiled = self.compile(bytes).await?;
        self.start(name, compiled, spec).await
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
