//! Hot reload and plugin management: watch the plugin folder and the config file and apply changes without a
//! restart; load every plugin at start (compiled side by side, one line each); and carry out the operator's
//! requests from the admin socket (`coral plugin list|enable|disable|reload|unquarantine|on|off`, `coral config
//! reload`), each one an audit entry.
//!
//! A changed `.wasm` goes through the whole load pipeline (size cap → compile off the async workers under a time
//! cap → world check → instantiate → `metadata` → `setup` under deadlines); only if every step succeeds is the new
//! version swapped in, atomically, for the old one. Events queued before the swap are finished by the old
//! version, events after it go to the new one: each event is delivered exactly once. If any step fails, the old
//! version keeps serving and the reason is logged. A removed file unloads its plugin. A changed `coral.toml` is
//! re-checked like at start; grants and rates apply from the next event, and plugins whose own config or limits
//! changed are reloaded.

use crate::config::Config;
use coral_adapters::onebot::{Adapters, Applied};
use coral_ops::{Manage, PluginRow};
use coral_policy::http::rules::CoralEndpoint;
use coral_runtime::folder::PluginDir;
use coral_runtime::{Dispatcher, PluginHandle, Runtime};
use notify::Watcher as _;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long past the compile worker's own deadline a reload waits for its answer before it is abandoned (the old
/// version keeps serving; the worker has been killed by then).
const COMPILE_GRACE: Duration = Duration::from_secs(10);

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Put in service (nothing ran under this name).
    Loaded(String),
    /// Replaced the running version.
    Reloaded(String),
    /// The running version is the same file with the same settings: nothing to do (a quarantine was lifted, if
    /// any).
    Unchanged,
    /// Not loaded, and unloaded if it ran: disabled (why).
    Disabled(&'static str),
}

/// Applies plugin-folder and config changes to a running host, and the operator's requests.
pub struct Reloader {
    runtime: Runtime,
    dispatcher: Dispatcher,
    config: Mutex<Config>,
    config_path: Option<PathBuf>,
    /// The plugin folder, opened once at start (a changed `plugin_dir` takes effect after a restart).
    plugins: PluginDir,
    /// Why each plugin that is not running failed to load last.
    failures: parking_lot::Mutex<BTreeMap<String, String>>,
    audit: Option<Arc<coral_ops::audit::AuditLog>>,
    /// The running `[[onebot]]` entries, once started: a config reload applies the new list to them.
    adapters: std::sync::OnceLock<Arc<Adapters>>,
}

impl Reloader {
    /// A reloader for the host running with `config` (loaded from `config_path`, if any) and the plugin folder
    /// `plugins`.
    pub fn new(
        runtime: Runtime,
        dispatcher: Dispatcher,
        config: Config,
        config_path: Option<PathBuf>,
        plugins: PluginDir,
    ) -> Arc<Self> {
        Self::with_audit(runtime, dispatcher, config, config_path, plugins, None)
    }

    /// The same, writing the operator's changes to `audit`.
    pub fn with_audit(
        runtime: Runtime,
        dispatcher: Dispatcher,
        config: Config,
        config_path: Option<PathBuf>,
        plugins: PluginDir,
        audit: Option<Arc<coral_ops::audit::AuditLog>>,
    ) -> Arc<Self> {
        Arc::new(Reloader {
            runtime,
            dispatcher,
            config: Mutex::new(config),
            config_path,
            plugins,
            failures: parking_lot::Mutex::default(),
            audit,
            adapters: std::sync::OnceLock::new(),
        })
    }

    /// From now on, a config reload applies its `[[onebot]]` entries to `adapters` (set once, at start-up).
    pub fn set_adapters(&self, adapters: Arc<Adapters>) {
        let _ = self.adapters.set(adapters);
    }

    /// Why `name` may not run now (config or operator), if it may not.
    fn disabled(&self, config: &Config, name: &str) -> Option<&'static str> {
        if !config.plugin(name).enabled {
            Some("disabled in config")
        } else if self.runtime.hub().visibility.is_disabled(name) {
            Some("disabled by the operator")
        } else {
            None
        }
    }

    /// Load every plugin of the plugin folder at start: compiled side by side (up to the core count), one line
    /// per plugin as its compilation starts and one as it is loaded, then put in service in name order (so which
    /// of two clashing plugins loads does not depend on timing). A plugin that fails is logged and skipped.
    /// Returns the names and versions loaded.
    pub async fn load_all(&self) -> Vec<(String, String)> {
        let config = self.config.lock().await.clone();
        let dir = self.plugins.path();
        let files = match self.plugins.list() {
            Ok(listing) => {
                for (file, why) in &listing.refused {
                    tracing::warn!(file = %file, "not loaded: {why}");
                }
                listing.plugins
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot list the plugin folder: {e}; no plugins loaded");
                return Vec::new();
            }
        };
        for name in config.plugins.keys() {
            if !files.iter().any(|n| n == name) {
                let name = coral_model::text::escape(name);
                tracing::warn!(plugin = %name, "configured under [plugins.{name}] but there is no {name}.wasm in {}", dir.display());
            }
        }
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = tokio::task::JoinSet::new();
        for name in files {
            if let Some(why) = self.disabled(&config, &name) {
                tracing::info!(plugin = %name, "{why}; not loaded");
                continue;
            }
            let spec = match config.start_spec(&name) {
                Ok(spec) => spec,
                Err(e) => {
                    self.failed(&name, format!("plugin not loaded: {e}"));
                    continue;
                }
            };
            let runtime = self.runtime.clone();
            let plugins = self.plugins.clone();
            let permits = permits.clone();
            let max_bytes = config.host.max_plugin_mb << 20;
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let kib = plugins.check(&name).map_or(0, |len| len.div_ceil(1024));
                tracing::info!(plugin = %name, kib, "compiling plugin");
                let started = Instant::now();
                let compiled = compile_within(&runtime, &plugins, &name, max_bytes).await;
                let compile_ms = started.elapsed().as_millis() as u64;
                if compiled.is_ok() {
                    tracing::info!(plugin = %name, ms = compile_ms, "compiled plugin");
                }
                let handle = match compiled {
                    Ok(compiled) => runtime.start(&name, compiled, spec).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                (name, handle, compile_ms, started.elapsed().as_millis() as u64)
            });
        }
        let mut done = tasks.join_all().await;
        done.sort_by(|a, b| a.0.cmp(&b.0));
        let mut loaded = Vec::new();
        for (name, handle, compile_ms, ms) in done {
            let handle = match handle {
                Ok(handle) => handle,
                Err(e) => {
                    self.failed(&name, format!("plugin not loaded: {e}"));
                    continue;
                }
            };
            if handle.metadata.name != name {
                tracing::warn!(plugin = %name, "the plugin calls itself `{}`; Coral knows it by its file name",
                    coral_model::text::escape(&handle.metadata.name));
            }
            let version = handle.metadata.version.clone();
            // `replace`, not `add`: the watcher may have loaded this file meanwhile.
            match self.put_in_service(&name, handle, compile_ms, ms) {
                Ok(_) => loaded.push((name, version)),
                Err(e) => self.failed(&name, format!("plugin not loaded: {e}")),
            }
        }
        loaded
    }

    /// Record (and log) why `name` is not running.
    fn failed(&self, name: &str, why: String) {
        tracing::error!(plugin = %name, "{why}");
        self.failures.lock().insert(name.to_string(), why);
    }

    /// Swap `handle` in for the running version of `name` (which finishes its queue, then stops), logging what
    /// the operator needs to know; the old version, if there was one.
    fn put_in_service(&self, name: &str, handle: PluginHandle, compile_ms: u64, ms: u64) -> Result<bool, String> {
        let policy = handle.shared.policy();
        let missing: BTreeSet<_> = policy.requested().difference(policy.granted()).cloned().collect();
        let effective = crate::names(&policy.effective());
        let (version, hash, wit) = (
            handle.metadata.version.clone(),
            handle.shared.hash.clone(),
            handle.wit_version.clone(),
        );
        let old = match self.dispatcher.replace(handle) {
            Ok(old) => old,
            Err(clash) => {
                tokio::spawn(clash.plugin.shutdown());
                return Err(format!("commands refused: {}", clash.error));
            }
        };
        self.failures.lock().remove(name);
        let verb = if old.is_some() { "reloaded" } else { "loaded" };
        tracing::info!(plugin = %name, %version, %hash, %wit, %effective, compile_ms, ms, "plugin {verb}");
        if !missing.is_empty() {
            tracing::info!(plugin = %name, "requested but not granted: {} (grant under [plugins.{name}])", crate::names(&missing));
        }
        let replaced = old.is_some();
        if let Some(old) = old {
            // The old version finishes what was queued for it, then is dropped.
            tokio::spawn(old.shutdown());
        }
        Ok(replaced)
    }

    /// Load (or reload) the plugin `name` (`<name>.wasm` in the plugin folder); on any failure (a bad name, a
    /// symbolic link, …: logged) the running version, if any, stays.
    pub async fn reload_file(&self, name: &str) {
        let config = self.config.lock().await.clone();
        let _ = self.reload_with(name, &config, false).await;
    }

    /// The plugin folder.
    pub fn plugins(&self) -> &PluginDir {
        &self.plugins
    }

    /// Load `<name>.wasm` as `name` unless it is disabled or (without `force`) unchanged. An error (already logged)
    /// says why the running version, if any, keeps serving.
    async fn reload_with(&self, name: &str, config: &Config, force: bool) -> Result<Loaded, String> {
        if let Err(e) = coral_runtime::folder::check_plugin_name(name) {
            let why = format!("reload rejected: {e}");
            tracing::error!("{why}");
            return Err(why);
        }
        if let Some(why) = self.disabled(config, name) {
            self.unload(name, why).await;
            return Ok(Loaded::Disabled(why));
        }
        let started = Instant::now();
        let refused = |e: String| {
            let why = format!("reload rejected: {e}; the running version, if any, keeps serving");
            self.failed(name, why.clone());
            why
        };
        let spec = config.start_spec(name).map_err(|e| refused(e.to_string()))?;
        let compiled = compile_within(&self.runtime, &self.plugins, name, config.host.max_plugin_mb << 20)
            .await
            .map_err(refused)?;
        let compile_ms = started.elapsed().as_millis() as u64;
        let unchanged = coral_runtime::dispatcher::Running {
            hash: compiled.hash.clone(),
            config_json: spec.config_json.clone(),
            limits: spec.limits,
            priority: spec.priority,
            tz: spec.tz.clone(),
        };
        if !force && self.dispatcher.running(name).as_ref() == Some(&unchanged) {
            // Touching a quarantined plugin's file is how the operator says "try it again now".
            if self.dispatcher.lift_quarantine(name) {
                tracing::info!(plugin = %name, "unchanged; quarantine lifted");
            } else {
                tracing::debug!(plugin = %name, "unchanged; not reloaded");
            }
            return Ok(Loaded::Unchanged);
        }
        let handle = self
            .runtime
            .start(name, compiled, spec)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let version = handle.metadata.version.clone();
        let ms = started.elapsed().as_millis() as u64;
        match self.put_in_service(name, handle, compile_ms, ms).map_err(refused)? {
            true => Ok(Loaded::Reloaded(version)),
            false => Ok(Loaded::Loaded(version)),
        }
    }

    /// Unload a plugin (its queued events are still handled).
    pub async fn unload(&self, name: &str, why: &str) {
        if let Some(old) = self.dispatcher.remove(name) {
            tracing::info!(plugin = %name, "plugin unloaded ({why})");
            old.shutdown().await;
        }
    }

    /// Re-read the config file; if it is valid, apply it. What happened, or why the previous config stays.
    pub async fn reload_config(&self) -> Result<String, String> {
        let Some(path) = &self.config_path else {
            return Err("this host runs without a config file (start it with --config)".into());
        };
        let new = match Config::load(path) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!("config change rejected, the previous config stays in force: {e}");
                return Err(format!(
                    "config change rejected, the previous config stays in force: {e}"
                ));
            }
        };
        let mut current = self.config.lock().await;
        if new.host.plugin_dir != current.host.plugin_dir || new.host.data_dir != current.host.data_dir {
            tracing::warn!("plugin_dir / data_dir changes take effect after a restart");
        }
        // The new config's listeners and OneBot endpoints join those still in use (they change only on restart).
        self.runtime
            .own_endpoints()
            .add(crate::endpoints::coral_endpoints(&new).iter().cloned());
        // Command prefixes, superusers and answer texts: from the next message.
        self.runtime.hub().set_settings(new.host.command_settings());
        // Who sees what: from the next event.
        self.runtime.hub().visibility.set_rules(new.visibility());
        // Grants and rates: in place, from the next call.
        for name in self.dispatcher.names() {
            match new.plugin(&name).grants(&name) {
                Ok(grants) => self.dispatcher.set_grants(&name, &grants),
                Err(e) => tracing::error!(plugin = %name, "{e}"),
            }
        }
        // `[[onebot]]` entries: new ones connect or listen, removed ones disconnect, unchanged ones stay up. Under
        // the config lock, so two reloads apply their lists in the order they took effect.
        let mut changed = Vec::new();
        if let Some(adapters) = self.adapters.get() {
            let applied = adapters.apply(&new.onebot).await;
            self.runtime.own_endpoints().add(onebot_endpoints(&applied));
            changed.extend(describe_onebot(&applied));
        }
        *current = new.clone();
        drop(current);
        tracing::info!("config reloaded from {}", path.display());
        // Plugins whose own config, limits or enablement changed: reload (unchanged ones are skipped).
        if let Ok(listing) = self.plugins.list() {
            for name in listing.plugins {
                match self.reload_with(&name, &new, false).await {
                    Ok(Loaded::Unchanged) => {}
                    Ok(Loaded::Disabled(_)) if self.dispatcher.running(&name).is_none() => {}
                    Ok(done) => changed.push(format!("{name}: {}", describe(&done))),
                    Err(e) => changed.push(format!("{name}: {e}")),
                }
            }
        }
        Ok(if changed.is_empty() {
            "config reloaded".to_string()
        } else {
            format!("config reloaded; {}", changed.join("; "))
        })
    }

    /// Every plugin file and configured plugin, running or not.
    pub async fn list(&self) -> Vec<PluginRow> {
        let config = self.config.lock().await.clone();
        let mut rows: BTreeMap<String, PluginRow> = self
            .dispatcher
            .rows()
            .into_iter()
            .map(|row| (row.name.clone(), row))
            .collect();
        let files: Vec<String> = self.plugins.list().map(|l| l.plugins).unwrap_or_default();
        let switches = self.runtime.hub().visibility.switches();
        let failures = self.failures.lock().clone();
        for name in files.iter().chain(config.plugins.keys()) {
            if rows.contains_key(name) {
                continue;
            }
            let state = if !files.contains(name) {
                "no file"
            } else if !config.plugin(name).enabled {
                "disabled"
            } else if switches.disabled.contains(name) {
                "disabled by operator"
            } else if failures.contains_key(name) {
                "failed"
            } else {
                "loading"
            };
            let granted = config.plugin(name).grants.clone();
            rows.insert(
                name.clone(),
                PluginRow {
                    name: name.clone(),
                    state: state.into(),
                    version: String::new(),
                    hash: String::new(),
                    wit: String::new(),
                    priority: config.plugin(name).priority.unwrap_or(0),
                    requested: Vec::new(),
                    granted,
                    effective: Vec::new(),
                    faults: 0,
                    off_in: switches
                        .off
                        .get(name)
                        .map(|g| g.iter().cloned().collect())
                        .unwrap_or_default(),
                    problem: failures.get(name).cloned(),
                },
            );
        }
        rows.into_values().collect()
    }

    /// Carry out an operator's request from the admin socket; the answer, or why it was refused. Every change is
    /// an audit entry (plugin, `operator:<op>`, outcome).
    pub async fn manage(&self, request: Manage) -> Result<serde_json::Value, String> {
        let (op, plugin, target) = match &request {
            Manage::List => return Ok(json!(self.list().await)),
            Manage::ConfigReload => ("config-reload", "-", "-".to_string()),
            Manage::Enable { plugin } => ("enable", plugin.as_str(), "-".into()),
            Manage::Disable { plugin } => ("disable", plugin.as_str(), "-".into()),
            Manage::Reload { plugin } => ("reload", plugin.as_str(), "-".into()),
            Manage::Unquarantine { plugin } => ("unquarantine", plugin.as_str(), "-".into()),
            Manage::Switch { plugin, group, on } => (
                if *on { "on" } else { "off" },
                plugin.as_str(),
                format!("group {}", coral_model::text::bounded(group, 64)),
            ),
        };
        let answer = self.carry_out(request.clone()).await;
        self.audit_operator(
            op,
            plugin,
            &target,
            answer.as_ref().map(ToString::to_string).map_err(Clone::clone),
        );
        answer
    }

    /// Write an operator's change to the audit log: `operator:<op>` on `plugin` (`-` for none) at `target`, and
    /// what came of it (a refusal is written as `invalid`).
    pub fn audit_operator(&self, op: &str, plugin: &str, target: &str, done: Result<String, String>) {
        let Some(audit) = &self.audit else { return };
        let hash = self.dispatcher.running(plugin).map(|r| r.hash).unwrap_or_default();
        let (outcome, detail) = match done {
            Ok(done) => (coral_ops::audit::Outcome::Ok, done),
            Err(why) => (coral_ops::audit::Outcome::Invalid, why),
        };
        let entry = coral_ops::audit::Entry::new(
            &coral_model::text::bounded(plugin, 128),
            &hash,
            "-",
            &format!("operator:{op}"),
            "operator",
            target,
        )
        .outcome(outcome, 0, coral_model::text::bounded(&detail, 500));
        audit.append(&entry);
    }

    /// The config in force.
    pub async fn config(&self) -> Config {
        self.config.lock().await.clone()
    }

    /// The config file, if the host runs with one.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    async fn carry_out(&self, request: Manage) -> Result<serde_json::Value, String> {
        let config = self.config.lock().await.clone();
        let file = |name: &str| -> Result<(), String> {
            check_name(name)?;
            match self.plugins.check(name) {
                Ok(_) => Ok(()),
                Err(coral_runtime::folder::PluginFileError::Missing(file)) => Err(format!(
                    "no plugin {name}: there is no {file} in {}",
                    self.plugins.path().display()
                )),
                Err(e) => Err(format!("no plugin {name}: {e}")),
            }
        };
        let visibility = &self.runtime.hub().visibility;
        match request {
            Manage::List => Ok(json!(self.list().await)),
            Manage::ConfigReload => self.reload_config().await.map(|done| json!(done)),
            Manage::Enable { plugin } => {
                file(&plugin)?;
                if !config.plugin(&plugin).enabled {
                    return Err(format!(
                        "{plugin} is disabled in the config file ([plugins.{plugin}] enabled = false); enable it there"
                    ));
                }
                visibility.set_disabled(&plugin, false).map_err(|e| e.to_string())?;
                let lifted = self.dispatcher.lift_quarantine(&plugin);
                if lifted {
                    tracing::info!(plugin = %plugin, "quarantine lifted by the operator (coral plugin enable)");
                }
                let done = self.reload_with(&plugin, &config, false).await?;
                Ok(json!({"plugin": plugin, "done": describe(&done), "quarantine_lifted": lifted}))
            }
            Manage::Disable { plugin } => {
                check_name(&plugin)?;
                if file(&plugin).is_err() && self.dispatcher.running(&plugin).is_none() {
                    return Err(format!("no plugin {plugin}"));
                }
                let changed = visibility.set_disabled(&plugin, true).map_err(|e| e.to_string())?;
                self.unload(&plugin, "disabled by the operator").await;
                Ok(json!({"plugin": plugin, "done": if changed { "disabled" } else { "already disabled" }}))
            }
            Manage::Reload { plugin } => {
                file(&plugin)?;
                let done = self.reload_with(&plugin, &config, true).await?;
                Ok(json!({"plugin": plugin, "done": describe(&done)}))
            }
            Manage::Unquarantine { plugin } => {
                check_name(&plugin)?;
                if self.dispatcher.running(&plugin).is_none() {
                    return Err(format!("{plugin} is not running"));
                }
                let lifted = self.dispatcher.lift_quarantine(&plugin);
                if lifted {
                    tracing::info!(plugin = %plugin, "quarantine lifted by the operator (coral plugin unquarantine)");
                }
                Ok(json!({"plugin": plugin, "lifted": lifted}))
            }
            Manage::Switch { plugin, group, on } => {
                check_name(&plugin)?;
                if file(&plugin).is_err()
                    && self.dispatcher.running(&plugin).is_none()
                    && !config.plugins.contains_key(&plugin)
                {
                    return Err(format!("no plugin {plugin}"));
                }
                let changed = visibility.switch(&plugin, &group, on).map_err(|e| e.to_string())?;
                tracing::info!(plugin = %plugin, group = %coral_model::text::escape(&group),
                    "switched {} in the group by the operator", if on { "on" } else { "off" });
                Ok(json!({"plugin": plugin, "group": group, "on": on, "changed": changed}))
            }
        }
    }

    /// A one-line status for the operator.
    pub fn status_line(&self) -> String {
        let plugins = self.dispatcher.snapshot();
        let list: Vec<String> = plugins.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
        let quarantined: Vec<String> = self.dispatcher.quarantined();
        format!(
            "{} plugin(s) [{}]; quarantined: {}",
            plugins.len(),
            list.join(", "),
            if quarantined.is_empty() {
                "none".into()
            } else {
                quarantined.join(", ")
            }
        )
    }
}

/// What a load did, in words.
fn describe(done: &Loaded) -> String {
    match done {
        Loaded::Loaded(version) => format!("loaded {version}"),
        Loaded::Reloaded(version) => format!("reloaded {version}"),
        Loaded::Unchanged => "running, unchanged".into(),
        Loaded::Disabled(why) => format!("not running: {why}"),
    }
}

/// A plugin name as the plugin folder knows it (no path, no `..`, no control characters).
fn check_name(name: &str) -> Result<(), String> {
    coral_runtime::folder::check_plugin_name(name).map_err(|e| e.to_string())
}

/// Read `<name>.wasm` from the plugin folder (never through a link) and compile it under the runtime's compile
/// deadline (plus a grace for the worker's own answer).
async fn compile_within(
    runtime: &Runtime,
    plugins: &PluginDir,
    name: &str,
    max_bytes: u64,
) -> Result<coral_runtime::Compiled, String> {
    let bytes = {
        let plugins = plugins.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || plugins.read(&name, max_bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let deadline = runtime.compile_timeout() + COMPILE_GRACE;
    match tokio::time::timeout(deadline, runtime.compile(bytes)).await {
        Err(_) => Err(format!("compiling took over {} s", deadline.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(compiled)) => Ok(compiled),
    }
}

/// Watch the plugin folder (and the config file's folder) and feed changes to `reloader`, debounced: a path is
/// acted on only after `debounce` without further events on it, so a file being copied is not loaded half-way
/// (and if it were, it would fail validation and be refused). The returned watcher must be kept alive.
pub fn watch(reloader: Arc<Reloader>, debounce: Duration) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only changes count: reading a file (as compiling it does) produces access events, which must not
        // trigger another load.
        if let Ok(event) = event
            && matches!(
                event.kind,
                notify::EventKind::Create(_) | notify::EventKind::Modify(_) | notify::EventKind::Remove(_)
            )
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    // The watcher needs the folder's path; what an event names is then looked up through the folder's handle.
    let plugin_dir = std::path::absolute(reloader.plugins.path())?;
    watcher.watch(&plugin_dir, notify::RecursiveMode::NonRecursive)?;
    let config_path = match &reloader.config_path {
        Some(p) => Some(std::path::absolute(p)?),
        None => None,
    };
    if let Some(dir) = config_path.as_ref().and_then(|p| p.parent())
        && dir != plugin_dir
    {
        watcher.watch(dir, notify::RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        let mut pending: HashMap<PathBuf, tokio::time::Instant> = HashMap::new();
        loop {
            let next = pending.values().min().copied();
            tokio::select! {
                path = rx.recv() => match path {
                    Some(path) => {
                        pending.insert(path, tokio::time::Instant::now() + debounce);
                    }
                    None => break,
                },
                _ = async { tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)).await }, if next.is_some() => {
                    let now = tokio::time::Instant::now();
                    let due: Vec<PathBuf> = pending.iter().filter(|(_, at)| **at <= now).map(|(p, _)| p.clone()).collect();
                    for path in due {
                        pending.remove(&path);
                        if Some(&path) == config_path.as_ref() {
                            let _ = reloader.reload_config().await;
                        } else if path.parent() == Some(plugin_dir.as_path())
                            && path.extension().is_some_and(|e| e == "wasm")
                            && let Some(name) = path.file_stem().and_then(|s| s.to_str())
                        {
                            // A file name the folder cannot hold as a plugin (`..`, …) or a link is refused (and
                            // logged) by the load; only a name that is gone unloads.
                            if !matches!(
                                reloader.plugins.check(name),
                                Err(coral_runtime::folder::PluginFileError::Missing(_))
                            ) {
                                reloader.reload_file(name).await;
                            } else {
                                reloader.unload(name, "file removed").await;
                            }
                            tracing::info!("status: {}", reloader.status_line());
                        }
                    }
                }
            }
        }
    });
    Ok(watcher)
}

/// The listeners of the running `[[onebot]]` entries, as endpoints no plugin request may reach.
pub fn onebot_endpoints(applied: &Applied) -> Vec<CoralEndpoint> {
    (applied.listening.iter())
        .map(|(addr, key)| CoralEndpoint::bound(*addr, format!("the OneBot listener {key}")))
        .collect()
}

/// What a config reload did to the `[[onebot]]` entries, for the operator's answer (nothing when none changed).
fn describe_onebot(applied: &Applied) -> Vec<String> {
    let list = |positions: &[usize]| {
        let names: Vec<String> = positions.iter().map(|i| format!("onebot[{i}]")).collect();
        names.join(", ")
    };
    let mut out = Vec::new();
    let started = applied.started();
    if !started.is_empty() {
        out.push(format!("started {}", list(&started)));
    }
    if !applied.stopped.is_empty() {
        out.push(format!("stopped {} (as numbered before)", list(&applied.stopped)));
    }
    if !applied.unregistered.is_empty() {
        // Bot ids come from the peer: escaped like any text an operator reads.
        let gone: Vec<_> = applied
            .unregistered
            .iter()
            .map(|b| coral_ops::text::escape(b))
            .collect();
        out.push(format!("bots gone: {}", gone.join(", ")));
    }
    out.extend(applied.errors().map(|e| format!("not started: {e}")));
    out
}
