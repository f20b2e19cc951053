//! `coral.toml`: the operator's configuration, loaded strictly (an unknown key is an error naming key and line).
//!
//! ```toml
//! [host]
//! plugin_dir = "plugins"   # default "plugins"
//! data_dir = "data"        # default "data"
//!
//! [console]
//! enabled = true           # default: true without a config file, false with one
//!
//! [plugins.moderation]
//! memory_mb = 32
//! [plugins.moderation.config]
//! words = ["spam"]
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default per-plugin linear-memory cap, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Default CPU budget for one call into a plugin, in milliseconds of guest execution.
pub const DEFAULT_CPU_BUDGET_MS: u64 = 1000;
/// Default wall-clock limit for one call into a plugin (including its host calls), in milliseconds.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 5000;
/// Default hard cap on one event (or other export call), platform waits included, ms.
pub const DEFAULT_MAX_EVENT_MS: u64 = 60_000;
/// Default first quarantine, s (doubled on each further quarantine of the same running plugin).
pub const DEFAULT_QUARANTINE_SECS: u64 = 600;
/// Default bound of each plugin's event queue; events beyond it are shed (and counted).
pub const DEFAULT_QUEUE_LEN: usize = 256;
/// Default host calls one event may make.
pub const DEFAULT_MAX_HOST_CALLS: u32 = 1000;
/// Most instances of one plugin handling events at once.
pub const MAX_INSTANCES: usize = 64;
/// Largest `.wasm` file the host will compile, in MiB.
pub const DEFAULT_MAX_PLUGIN_MB: u64 = 64;

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error, naming key, line and column.
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("invalid config value `{key}`: {reason}")]
    Invalid {
        /// The key, dotted.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<coral_policy::SettingError> for ConfigError {
    fn from(e: coral_policy::SettingError) -> Self {
        ConfigError::Invalid {
            key: e.key,
            reason: e.reason,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host-wide settings.
    #[serde(default)]
    pub host: HostConfig,
    /// The console platform.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Per-plugin settings, keyed by plugin name (the `.wasm` file's stem).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    /// OneBot V11 connections (`[[onebot]]`), any number.
    #[serde(default)]
    pub onebot: Vec<coral_adapters::onebot::config::OneBotConfig>,
    /// The Prometheus metrics endpoint (`[metrics]`), off by default.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The local web console (`[web]`), off by default.
    #[serde(default)]
    pub web: WebConfig,
}

/// Default address of the web console (loopback).
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:7878";

/// `[web]`: the local web console.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the console. Default false.
    pub enabled: bool,
    /// Where (default `127.0.0.1:7878`: this machine only). Another address needs a `token`.
    pub listen: String,
    /// The login token (at least 16 characters). Without one, on loopback, the host makes one up at each start
    /// and logs the login address with it.
    pub token: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: false,
            listen: DEFAULT_WEB_LISTEN.into(),
            token: None,
        }
    }
}

/// Default threshold above which a platform call or an event handler is logged as slow, ms.
pub const DEFAULT_SLOW_MS: u64 = 1000;
/// Default address of the metrics endpoint (loopback).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// Most attempts a retry policy may make.
pub const MAX_RETRY_ATTEMPTS: u32 = 5;

/// `[metrics]`: the Prometheus text endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics`. Default false.
    pub enabled: bool,
    /// Where (default `127.0.0.1:9464`: this machine only).
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            listen: DEFAULT_METRICS_LISTEN.into(),
        }
    }
}

/// `[host]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Where plugins (`*.wasm`) are loaded from, relative to the config file. Default `plugins`.
    pub plugin_dir: PathBuf,
    /// Where the host keeps its data (compiled-plugin cache, …), relative to the config file. Default `data`.
    pub data_dir: PathBuf,
    /// Default limits for every plugin (each can be overridden under `[plugins.<name>]`).
    pub memory_mb: u64,
    /// Default CPU budget per plugin call, ms. Default 1000.
    pub cpu_budget_ms: u64,
    /// Default wall-clock limit per plugin call, ms; time spent waiting on the platform (bot API calls, outgoing
    /// HTTP) does not count. Default 5000.
    pub call_timeout_ms: u64,
    /// Default hard cap on one plugin call, platform waits included, ms (at least `call_timeout_ms`). Default
    /// 60000.
    pub max_event_ms: u64,
    /// How long a quarantined plugin stays quarantined before it is tried again, s; doubled on each further
    /// quarantine (at most 6 h). Default 600.
    pub quarantine_secs: u64,
    /// Default event-queue bound per plugin. Default 256.
    pub queue_len: usize,
    /// Largest plugin file accepted, MiB. Default 64.
    pub max_plugin_mb: u64,
    /// Where compiled plugins are cached (default `<data_dir>/cache`); several hosts may share one.
    pub cache_dir: Option<PathBuf>,
    /// Default host calls (bot API and log) one event may make; beyond it the plugin is stopped. Default 1000.
    pub max_host_calls: u32,
    /// Watch the plugin folder and the config file and apply changes without a restart. Default true.
    pub watch: bool,
    /// Quiet time after the last change to a file before it is acted on, ms. Default 300.
    pub reload_debounce_ms: u64,
    /// Platform calls slower than this are logged as a warning (plugin, action), ms. Default 1000.
    pub slow_call_ms: u64,
    /// Event handlers slower than this are logged as a warning, ms (per plugin: `[plugins.<name>]
    /// slow_event_ms`). Default 1000.
    pub slow_event_ms: u64,
    /// The `coral status` socket (Unix, mode 0600). Default `<data_dir>/coral.sock`.
    pub admin_socket: Option<PathBuf>,
    /// The audit log (`<data_dir>/audit.jsonl`) is rotated before it would grow past this, MiB. Default 64.
    pub audit_max_mb: u64,
    /// How many audit files are kept, the live one included (`audit.jsonl`, `audit.jsonl.1`, …; the oldest is
    /// deleted), so the log never takes more than `audit_max_mb` × `audit_files`. Default 5.
    pub audit_files: usize,
    /// A plugin file's compilation (in a child process, `coral compile-worker`) is stopped after this long, s.
    /// Default 120.
    pub compile_timeout_secs: u64,
    /// Memory the compile worker may use (heap and mappings, `RLIMIT_DATA`), MiB. Default 2048.
    pub compile_memory_mb: u64,
    /// What a command may start with: `["/", ""]` (the default) takes `/sign` and `sign`. Tried longest first.
    pub command_prefix: Vec<String>,
    /// The operator's superusers: they may run every command, and plugins can ask (`is-superuser`).
    pub superusers: Vec<Id>,
    /// Let two plugins declare the same command word (both get it, by priority). Default false: the second is
    /// not loaded.
    pub allow_duplicate_commands: bool,
    /// The built-in help command's word (`""`: no built-in help). Default `help`.
    pub help_command: String,
    /// The host's answers to commands: `usage`, `cooldown`, `denied`, `help_header`.
    pub texts: TextsConfig,
    /// Users whose events no plugin sees, in any chat (and the host does not answer).
    pub blocked_users: Vec<Id>,
    /// Groups whose events no plugin sees.
    pub blocked_groups: Vec<Id>,
}

/// `[host.texts]`: what the host answers when a command cannot run. `{command}`, `{usage}`, `{problem}`,
/// `{secs}` and `{who}` are filled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextsConfig {
    /// Wrong arguments (default `{problem}. Usage: {usage}`).
    pub usage: Option<String>,
    /// Within a cooldown (default `Please wait {secs} s before using {command} again.`).
    pub cooldown: Option<String>,
    /// Not allowed to run it (default `{command} is for {who} only.`).
    pub denied: Option<String>,
    /// First line of `help` (default `Commands:`).
    pub help_header: Option<String>,
}

impl HostConfig {
    /// How plugin files are compiled.
    pub fn compile_limits(&self) -> coral_runtime::compile::CompileLimits {
        coral_runtime::compile::CompileLimits {
            timeout: std::time::Duration::from_secs(self.compile_timeout_secs),
            memory_bytes: self.compile_memory_mb.saturating_mul(1 << 20),
        }
    }

    /// The command settings the host runs with.
    pub fn command_settings(&self) -> coral_runtime::commands::Settings {
        let defaults = coral_runtime::commands::Texts::default();
        let t = &self.texts;
        coral_runtime::commands::Settings {
            prefixes: self.command_prefix.clone(),
            superusers: self.superusers.iter().map(Id::as_string).collect(),
            allow_duplicates: self.allow_duplicate_commands,
            help: Some(self.help_command.clone()).filter(|h| !h.is_empty()),
            texts: coral_runtime::commands::Texts {
                usage: t.usage.clone().unwrap_or(defaults.usage),
                cooldown: t.cooldown.clone().unwrap_or(defaults.cooldown),
                denied: t.denied.clone().unwrap_or(defaults.denied),
                help_header: t.help_header.clone().unwrap_or(defaults.help_header),
            },
        }
        .normalise()
    }

    /// How the audit log is rotated.
    pub fn audit_rotation(&self) -> coral_ops::audit::Rotation {
        coral_ops::audit::Rotation {
            max_bytes: self.audit_max_mb.saturating_mul(1024 * 1024),
            files: self.audit_files,
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            plugin_dir: PathBuf::from("plugins"),
            data_dir: PathBuf::from("data"),
            memory_mb: DEFAULT_MEMORY_MB,
            cpu_budget_ms: DEFAULT_CPU_BUDGET_MS,
            call_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
            max_event_ms: DEFAULT_MAX_EVENT_MS,
            quarantine_secs: DEFAULT_QUARANTINE_SECS,
            queue_len: DEFAULT_QUEUE_LEN,
            max_plugin_mb: DEFAULT_MAX_PLUGIN_MB,
            max_host_calls: DEFAULT_MAX_HOST_CALLS,
            cache_dir: None,
            watch: true,
            reload_debounce_ms: 300,
            slow_call_ms: DEFAULT_SLOW_MS,
            slow_event_ms: DEFAULT_SLOW_MS,
            admin_socket: None,
            audit_max_mb: coral_ops::audit::DEFAULT_MAX_MB,
            audit_files: coral_ops::audit::DEFAULT_FILES,
            compile_timeout_secs: coral_runtime::compile::DEFAULT_TIMEOUT.as_secs(),
            compile_memory_mb: coral_runtime::compile::DEFAULT_MEMORY_MB,
            command_prefix: vec!["/".into(), String::new()],
            superusers: Vec::new(),
            allow_duplicate_commands: false,
            help_command: "help".into(),
            texts: TextsConfig::default(),
            blocked_users: Vec::new(),
            blocked_groups: Vec::new(),
        }
    }
}

pub use coral_adapters::console::ConsoleConfig;
pub use coral_runtime::limits::{DEFAULT_LOG_RATE, DEFAULT_TIMER_RATE, LimitRate, PluginLimits, RetryConfig};

fn yes() -> bool {
    true
}

/// `[plugins.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Load this plugin. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Linear-memory cap in MiB (default `[host] memory_mb`).
    pub memory_mb: Option<u64>,
    /// CPU budget per call in ms (default `[host] cpu_budget_ms`).
    pub cpu_budget_ms: Option<u64>,
    /// Wall-clock limit per call in ms (default `[host] call_timeout_ms`).
    pub call_timeout_ms: Option<u64>,
    /// Hard cap per call in ms, platform waits included (default `[host] max_event_ms`).
    pub max_event_ms: Option<u64>,
    /// Event-queue bound (default `[host] queue_len`).
    pub queue_len: Option<usize>,
    /// How many instances handle events at once (default 1). With more than one, events may be handled out of
    /// order and each instance has its own memory: only for stateless plugins.
    pub instances: Option<usize>,
    /// Capabilities granted (`send`, `kick`, …, `call-api:<action>`); the plugin may use those it also requested.
    /// Default: none (the plugin may still reply into the chat of the event it handles).
    #[serde(default)]
    pub grants: Vec<String>,
    /// Limit every grant to these groups (default: any group).
    pub groups: Option<Vec<Id>>,
    /// Limit every grant to these users (private chats, friends) (default: any user).
    pub users: Option<Vec<Id>>,
    /// Per-capability scopes, overriding `groups`/`users` for that capability: `scopes.kick = { groups = [..] }`.
    #[serde(default)]
    pub scopes: BTreeMap<String, ScopeConfig>,
    /// Per-capability rate limits: `rate = { kick = "3/min", send = "20/min burst 5" }` (default: none).
    #[serde(default)]
    pub rate: BTreeMap<String, String>,
    /// Host calls one event may make before the plugin is stopped (default `[host] max_host_calls`).
    pub max_host_calls: Option<u32>,
    /// Handlers slower than this are logged as a warning, ms (default `[host] slow_event_ms`).
    pub slow_event_ms: Option<u64>,
    /// Retry policy for read-only queries (default: none).
    pub retry: Option<RetryConfig>,
    /// Hosts the plugin may reach over HTTP once granted `http`: `["api.example.com", "*.example.org",
    /// "localhost:8080"]` (`*.x` matches subdomains of `x` only; an entry without a port admits only 80 for http
    /// and 443 for https). Default: none.
    #[serde(default)]
    pub http: Vec<String>,
    /// Bounds on its HTTP requests: `{ max_response_kb, timeout_ms, max_concurrent, allow_private }`.
    #[serde(default)]
    pub http_limits: coral_policy::http::HttpLimitsConfig,
    /// How much one call may carry: `{ max_message_kb, max_segments, max_forward_nodes, max_media_mb }` (defaults
    /// 64, 200, 100, 10); more is refused as `too-large`.
    #[serde(default)]
    pub sizes: coral_policy::size::SizesConfig,
    /// The plugin's own settings, passed to its `setup` export as a JSON object.
    #[serde(default)]
    pub config: toml::Table,
    /// Storage quota: `storage = { max_keys = 10000, max_mb = 16 }` (the defaults).
    pub storage: Option<StorageQuotaConfig>,
    /// Lines its stdout, stderr and `coral:bot/log` may write together, as a rate (default `"100/s burst 1000"`);
    /// lines over it are dropped and counted.
    pub log_rate: Option<String>,
    /// Timer events it may receive, as a rate (default `"10/s burst 10"`); firings over it are delayed.
    pub timer_rate: Option<String>,
    /// Its place in line for each event: lower first (default 0); plugins of equal priority get it side by side,
    /// and one that answers `stop` keeps it from every plugin after it.
    pub priority: Option<i32>,
    /// The time zone its cron jobs run in unless a line names one (`CRON_TZ=…`): `"Asia/Shanghai"` (default UTC).
    pub tz: Option<String>,
    /// Where it sees events: `enabled_in = { groups = [...], users = [...], private = true }` (default:
    /// everywhere). Events from elsewhere never reach it.
    pub enabled_in: Option<EnabledInConfig>,
}

/// `enabled_in` under `[plugins.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledInConfig {
    /// Group events only from these groups (default: every group; `[]`: none).
    pub groups: Option<Vec<Id>>,
    /// Private events (private messages, friend requests and notices) only from these users (default: every
    /// user).
    pub users: Option<Vec<Id>>,
    /// Private events at all (default true).
    #[serde(default = "yes")]
    pub private: bool,
}

/// `storage = { max_keys, max_mb }` under `[plugins.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageQuotaConfig {
    /// Most keys (default 10 000).
    pub max_keys: Option<u64>,
    /// Most MiB of keys plus values (default 16).
    pub max_mb: Option<u64>,
}

/// A group or user id in config: a number or a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// `1000001`
    Number(i64),
    /// `"1000001"`
    Text(String),
}

impl Id {
    /// The id as the string the rest of Coral uses.
    pub fn as_string(&self) -> String {
        match self {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s.clone(),
        }
    }
}

/// `scopes.<capability> = { groups = [...], users = [...] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// Allowed groups.
    pub groups: Option<Vec<Id>>,
    /// Allowed users.
    pub users: Option<Vec<Id>>,
}

fn id_set(ids: &Option<Vec<Id>>) -> Option<std::collections::BTreeSet<String>> {
    ids.as_ref().map(|ids| ids.iter().map(Id::as_string).collect())
}

impl PluginConfig {
    /// The grant table as the policy needs it; errors name the offending key.
    pub fn grants(&self, name: &str) -> Result<coral_policy::Grants, ConfigError> {
        use coral_model::rate::Rate;
        use coral_policy::{Capability, Grants, Scope};
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let cap = |key: String, text: &str| Capability::parse(text).map_err(|reason| invalid(key, reason));
        let mut grants = Grants {
            scope: Scope {
                groups: id_set(&self.groups),
                users: id_set(&self.users),
            },
            ..Grants::default()
        };
        for (i, text) in self.grants.iter().enumerate() {
            grants.grants.insert(cap(format!("plugins.{name}.grants[{i}]"), text)?);
        }
        for (text, scope) in &self.scopes {
            let capability = cap(format!("plugins.{name}.scopes.{text}"), text)?;
            grants.scopes.insert(
                capability,
                Scope {
                    groups: id_set(&scope.groups),
                    users: id_set(&scope.users),
                },
            );
        }
        for (text, rate) in &self.rate {
            let key = format!("plugins.{name}.rate.{text}");
            let capability = cap(key.clone(), text)?;
            let parsed = Rate::parse(rate).map_err(|reason| invalid(key, reason))?;
            grants.rates.insert(capability, (rate.clone(), parsed));
        }
        grants.http = coral_policy::http::HttpRules::from_config(name, &self.http, &self.http_limits)?;
        grants.sizes = self
            .sizes
            .resolve()
            .map_err(|(key, reason)| invalid(format!("plugins.{name}.sizes.{key}"), reason))?;
        Ok(grants)
    }
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            enabled: true,
            memory_mb: None,
            cpu_budget_ms: None,
            call_timeout_ms: None,
            max_event_ms: None,
            queue_len: None,
            instances: None,
            grants: Vec::new(),
            groups: None,
            users: None,
            scopes: BTreeMap::new(),
            rate: BTreeMap::new(),
            max_host_calls: None,
            slow_event_ms: None,
            retry: None,
            http: Vec::new(),
            http_limits: Default::default(),
            sizes: Default::default(),
            config: toml::Table::new(),
            storage: None,
            log_rate: None,
            timer_rate: None,
            priority: None,
            tz: None,
            enabled_in: None,
        }
    }
}

impl Config {
    /// The configuration used when `coral` runs without a config file: console on, `./plugins`, `./data`.
    pub fn embedded_default() -> Config {
        Config {
            console: ConsoleConfig {
                enabled: true,
                ..ConsoleConfig::default()
            },
            ..Config::default()
        }
    }

    /// Parse TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse a config file; relative directories are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.host.plugin_dir = base.join(&config.host.plugin_dir);
        config.host.data_dir = base.join(&config.host.data_dir);
        config.host.cache_dir = config.host.cache_dir.map(|dir| base.join(dir));
        config.host.admin_socket = config.host.admin_socket.map(|path| base.join(path));
        Ok(config)
    }

    /// The operator's config file as text (the web console's settings pages edit it).
    pub fn read_text(path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// Replace the operator's config file with `text`: written beside it, then renamed over it, so the watcher
    /// never reads half a file.
    pub fn write_text(path: &Path, text: &str) -> Result<(), String> {
        let temp = path.with_extension("toml.coral-web");
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        };
        let h = &self.host;
        if h.memory_mb == 0 {
            return invalid("host.memory_mb".into(), "must be at least 1");
        }
        if h.cpu_budget_ms == 0 || h.call_timeout_ms == 0 || h.max_event_ms == 0 || h.quarantine_secs == 0 {
            return invalid(
                "host.cpu_budget_ms / call_timeout_ms / max_event_ms / quarantine_secs".into(),
                "must be at least 1",
            );
        }
        if h.queue_len == 0 {
            return invalid("host.queue_len".into(), "must be at least 1");
        }
        if !(1..=1_048_576).contains(&h.audit_max_mb) {
            return invalid("host.audit_max_mb".into(), "must be between 1 and 1048576");
        }
        if !(1..=3600).contains(&h.compile_timeout_secs) {
            return invalid("host.compile_timeout_secs".into(), "must be between 1 and 3600");
        }
        if h.compile_memory_mb == 0 {
            return invalid("host.compile_memory_mb".into(), "must be at least 1");
        }
        if h.command_prefix.len() > 8
            || h.command_prefix
                .iter()
                .any(|p| p.len() > 8 || p.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return invalid(
                "host.command_prefix".into(),
                "at most 8 prefixes, each at most 8 bytes without spaces",
            );
        }
        if h.help_command.len() > 32 || h.help_command.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid(
                "host.help_command".into(),
                "a word of at most 32 bytes (or \"\" for no help)",
            );
        }
        if !(1..=1000).contains(&h.audit_files) {
            return invalid("host.audit_files".into(), "must be between 1 and 1000");
        }
        if self.web.enabled {
            let Ok(addr) = self.web.listen.parse::<std::net::SocketAddr>() else {
                return invalid("web.listen".into(), "must be an address like \"127.0.0.1:7878\"");
            };
            match &self.web.token {
                Some(token) if token.chars().count() < 16 || token.chars().any(char::is_control) => {
                    return invalid("web.token".into(), "at least 16 characters, no control characters");
                }
                None if !addr.ip().is_loopback() => {
                    return invalid(
                        "web.token".into(),
                        "the web console listens beyond this machine (web.listen); it needs a token",
                    );
                }
                _ => {}
            }
        }
        if self.metrics.enabled && self.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("metrics.listen".into(), "must be an address like \"127.0.0.1:9464\"");
        }
        for (index, entry) in self.onebot.iter().enumerate() {
            entry.validate(index).map_err(|reason| ConfigError::Invalid {
                key: format!("onebot[{index}]"),
                reason,
            })?;
        }
        for (name, p) in &self.plugins {
            p.grants(name)?;
            if let Some(tz) = &p.tz
                && let Err(reason) = coral_services::cron::check_zone(tz)
            {
                return invalid(format!("plugins.{name}.tz"), &reason);
            }
            if p.max_host_calls == Some(0) {
                return invalid(format!("plugins.{name}.max_host_calls"), "must be at least 1");
            }
            if p.memory_mb == Some(0) {
                return invalid(format!("plugins.{name}.memory_mb"), "must be at least 1");
            }
            if !(1..=MAX_INSTANCES).contains(&p.instances.unwrap_or(1)) {
                return invalid(format!("plugins.{name}.instances"), "must be between 1 and 64");
            }
            if let Some(q) = &p.storage
                && (q.max_keys == Some(0) || q.max_mb == Some(0) || q.max_mb.is_some_and(|mb| mb > 1 << 20))
            {
                return invalid(
                    format!("plugins.{name}.storage"),
                    "max_keys and max_mb must be at least 1 (max_mb at most 1048576)",
                );
            }
            if p.cpu_budget_ms == Some(0)
                || p.call_timeout_ms == Some(0)
                || p.max_event_ms == Some(0)
                || p.queue_len == Some(0)
            {
                return invalid(format!("plugins.{name}"), "limits must be at least 1");
            }
            if let Some(retry) = &p.retry
                && !(1..=MAX_RETRY_ATTEMPTS).contains(&retry.attempts)
            {
                return invalid(format!("plugins.{name}.retry.attempts"), "must be between 1 and 5");
            }
            for (key, text) in [("log_rate", &p.log_rate), ("timer_rate", &p.timer_rate)] {
                if let Some(text) = text
                    && let Err(reason) = LimitRate::parse(text)
                {
                    return invalid(format!("plugins.{name}.{key}"), &reason);
                }
            }
            if p.retry.is_some_and(|r| r.backoff_ms > 60_000) {
                return invalid(format!("plugins.{name}.retry.backoff_ms"), "must be at most 60000");
            }
        }
        Ok(())
    }

    /// What each plugin may see: `enabled_in` and the blocked users and groups.
    pub fn visibility(&self) -> coral_runtime::visibility::Rules {
        let ids = |ids: &[Id]| ids.iter().map(Id::as_string).collect();
        coral_runtime::visibility::Rules {
            blocked_users: ids(&self.host.blocked_users),
            blocked_groups: ids(&self.host.blocked_groups),
            sights: self
                .plugins
                .iter()
                .filter_map(|(name, p)| {
                    let e = p.enabled_in.as_ref()?;
                    Some((
                        name.clone(),
                        coral_runtime::visibility::Sight {
                            groups: id_set(&e.groups),
                            users: id_set(&e.users),
                            private: e.private,
                        },
                    ))
                })
                .collect(),
        }
    }

    /// The settings of one plugin (defaults when it has no table).
    pub fn plugin(&self, name: &str) -> PluginConfig {
        self.plugins.get(name).cloned().unwrap_or_default()
    }

    /// What a plugin starts with: its config table as JSON, its limits and its grants (an error names the key).
    /// The one place a start spec is built (start, reload and `coral check` all use it).
    pub fn start_spec(&self, name: &str) -> Result<coral_runtime::StartSpec, ConfigError> {
        let settings = self.plugin(name);
        Ok(coral_runtime::StartSpec {
            config_json: serde_json::to_string(&settings.config).unwrap_or_else(|_| "{}".into()),
            limits: self.limits(name),
            grants: settings.grants(name)?,
            priority: settings.priority.unwrap_or(0),
            tz: settings.tz.clone(),
        })
    }

    /// The effective limits of one plugin.
    pub fn limits(&self, name: &str) -> PluginLimits {
        let p = self.plugins.get(name);
        let h = &self.host;
        let call_timeout =
            std::time::Duration::from_millis(p.and_then(|p| p.call_timeout_ms).unwrap_or(h.call_timeout_ms));
        PluginLimits {
            memory_bytes: (p.and_then(|p| p.memory_mb).unwrap_or(h.memory_mb) as usize) << 20,
            cpu_budget: std::time::Duration::from_millis(p.and_then(|p| p.cpu_budget_ms).unwrap_or(h.cpu_budget_ms)),
            call_timeout,
            max_event: std::time::Duration::from_millis(p.and_then(|p| p.max_event_ms).unwrap_or(h.max_event_ms))
                .max(call_timeout),
            quarantine: std::time::Duration::from_secs(h.quarantine_secs),
            queue_len: p.and_then(|p| p.queue_len).unwrap_or(h.queue_len),
            instances: p.and_then(|p| p.instances).unwrap_or(1),
            max_host_calls: p.and_then(|p| p.max_host_calls).unwrap_or(h.max_host_calls),
            slow_event: std::time::Duration::from_millis(p.and_then(|p| p.slow_event_ms).unwrap_or(h.slow_event_ms)),
            slow_call: std::time::Duration::from_millis(h.slow_call_ms),
            retry: p.and_then(|p| p.retry),
            storage: {
                let q = p.and_then(|p| p.storage.as_ref());
                coral_services::storage::Quota {
                    max_keys: q
                        .and_then(|q| q.max_keys)
                        .unwrap_or(coral_services::storage::DEFAULT_MAX_KEYS),
                    max_bytes: q
                        .and_then(|q| q.max_mb)
                        .unwrap_or(coral_services::storage::DEFAULT_MAX_MB)
                        << 20,
                }
            },
            log_rate: p
                .and_then(|p| p.log_rate.as_deref())
                .and_then(|text| LimitRate::parse(text).ok())
                .unwrap_or(DEFAULT_LOG_RATE),
            timer_rate: p
                .and_then(|p| p.timer_rate.as_deref())
                .and_then(|text| LimitRate::parse(text).ok())
                .unwrap_or(DEFAULT_TIMER_RATE),
        }
    }
}

#[cfg(test)]
mod tests;
