//! Hot reload: watch the plugin folder and the config file, and apply changes without a restart.
//!
//! A changed `.wasm` goes through the whole load pipeline (size cap → compile off the async workers under a time
//! cap → world check → instantiate → `metadata` → `setup` under deadlines); only if every step succeeds is the new
//! version swapped in, atomically, for the old one. Events queued before the swap are finished by the old
//! version, events after it go to the new one: each event is delivered exactly once. If any step fails, the old
//! version keeps serving and the reason is logged. A removed file unloads its plugin. A changed `coral.toml` is
//! re-checked like at start; grants and rates apply from the next event, and plugins whose own config or limits
//! changed are reloaded.

use crate::config::Config;
use coral_runtime::{Dispatcher, Runtime};
use notify::Watcher as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long past the compile worker's own deadline a reload waits for its answer before it is abandoned (the old
/// version keeps serving; the worker has been killed by then).
const COMPILE_GRACE: Duration = Duration::from_secs(10);

/// Applies plugin-folder and config changes to a running host.
pub struct Reloader {
    runtime: Runtime,
    dispatcher: Dispatcher,
    config: Mutex<Config>,
    config_path: Option<PathBuf>,
}

impl Reloader {
    /// A reloader for the host running with `config` (loaded from `config_path`, if any).
    pub fn new(runtime: Runtime, dispatcher: Dispatcher, config: Config, config_path: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Reloader {
            runtime,
            dispatcher,
            config: Mutex::new(config),
            config_path,
        })
    }

    /// Load (or reload) the plugin in `path`; on any failure the running version, if any, stays.
    pub async fn reload_file(&self, name: &str, path: &Path) {
        let config = self.config.lock().await.clone();
        self.reload_with(name, path, &config).await;
    }

    async fn reload_with(&self, name: &str, path: &Path, config: &Config) {
        let settings = config.plugin(name);
        if !settings.enabled {
            self.unload(name, "disabled in config").await;
            return;
        }
        let started = Instant::now();
        let spec = match config.start_spec(name) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(plugin = %name, "reload rejected: {e}");
                return;
            }
        };
        let deadline = self.runtime.compile_timeout() + COMPILE_GRACE;
        let compiled = match tokio::time::timeout(deadline, self.runtime.compile(path, config.host.max_plugin_mb << 20))
            .await
        {
            Err(_) => {
                tracing::error!(plugin = %name, path = %path.display(),
                        "reload rejected: compiling took over {} s; the running version keeps serving", deadline.as_secs());
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(plugin = %name, path = %path.display(),
                        "reload rejected: {e}; the running version keeps serving");
                return;
            }
            Ok(Ok(compiled)) => compiled,
        };
        let unchanged = coral_runtime::dispatcher::Running {
            hash: compiled.hash.clone(),
            config_json: spec.config_json.clone(),
            limits: spec.limits,
            priority: spec.priority,
            tz: spec.tz.clone(),
        };
        if self.dispatcher.running(name).as_ref() == Some(&unchanged) {
            // Touching a quarantined plugin's file is how the operator says "try it again now".
            if self.dispatcher.lift_quarantine(name) {
                tracing::info!(plugin = %name, "unchanged; quarantine lifted");
            } else {
                tracing::debug!(plugin = %name, "unchanged; not reloaded");
            }
            return;
        }
        let hash = compiled.hash.clone();
        match self.runtime.start(name, compiled, spec).await {
            Ok(handle) => {
                let version = handle.metadata.version.clone();
                let wit = handle.wit_version.clone();
                let old = match self.dispatcher.replace(handle) {
                    Ok(old) => old,
                    Err(clash) => {
                        tracing::error!(plugin = %name, path = %path.display(),
                            "reload rejected: commands refused: {}; the running version keeps serving", clash.error);
                        tokio::spawn(clash.plugin.shutdown());
                        return;
                    }
                };
                let verb = if old.is_some() { "reloaded" } else { "loaded" };
                tracing::info!(plugin = %name, %version, %hash, %wit, ms = started.elapsed().as_millis() as u64, "plugin {verb}");
                if let Some(old) = old {
                    // The old version finishes what was queued for it, then is dropped.
                    tokio::spawn(old.shutdown());
                }
            }
            Err(e) => tracing::error!(plugin = %name, path = %path.display(),
                "reload rejected: {e}; the running version keeps serving"),
        }
    }

    /// Unload a plugin (its queued events are still handled).
    pub async fn unload(&self, name: &str, why: &str) {
        if let Some(old) = self.dispatcher.remove(name) {
            tracing::info!(plugin = %name, "plugin unloaded ({why})");
            old.shutdown().await;
        }
    }

    /// Re-read the config file; if it is valid, apply it.
    pub async fn reload_config(&self) {
        let Some(path) = &self.config_path else { return };
        let new = match Config::load(path) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!("config change rejected, the previous config stays in force: {e}");
                return;
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
        // Grants and rates: in place, from the next call.
        for name in self.dispatcher.names() {
            match new.plugin(&name).grants(&name) {
                Ok(grants) => self.dispatcher.set_grants(&name, &grants),
                Err(e) => tracing::error!(plugin = %name, "{e}"),
            }
        }
        *current = new.clone();
        drop(current);
        tracing::info!("config reloaded from {}", path.display());
        // Plugins whose own config, limits or enablement changed: reload (unchanged ones are skipped).
        if let Ok(files) = crate::plugin_files(&new.host.plugin_dir) {
            for (name, file) in files {
                self.reload_with(&name, &file, &new).await;
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

/// Watch the plugin folder (and the config file's folder) and feed changes to `reloader`, debounced: a path is
/// acted on only after `debounce` without further events on it, so a file being copied is not loaded half-way
/// (and if it were, it would fail validation and be refused). The returned watcher must be kept alive.
pub fn watch(
    reloader: Arc<Reloader>,
    plugin_dir: &Path,
    debounce: Duration,
) -> anyhow::Result<notify::RecommendedWatcher> {
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
    let plugin_dir = std::path::absolute(plugin_dir)?;
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
                            reloader.reload_config().await;
                        } else if path.parent() == Some(plugin_dir.as_path())
                            && path.extension().is_some_and(|e| e == "wasm")
                            && let Some(name) = path.file_stem().and_then(|s| s.to_str())
                        {
                            if path.is_file() {
                                reloader.reload_file(name, &path).await;
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
