//! The host's folders, opened once: the one place (with `main.rs` and `config.rs`, which read the operator-given
//! config file) where the host reaches its own files by path, with ambient authority. Every later file operation
//! is relative to these handles (cap-std `Dir`): the plugin folder ([`PluginDir`]), the data folder (audit
//! log, `storage.db`, `jobs.db`, `switches.json`, uploads kept for review) and the compile cache. So no name that
//! comes from a plugin, a config entry or a file event can reach outside its folder, and the host never follows a
//! symbolic link out of one (files it opens by name refuse links outright).

use anyhow::Context as _;
use cap_fs::Dir;
use cap_std::fs as cap_fs;
use coral_runtime::folder::PluginDir;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;

/// The name of the audit log in the data folder.
pub const AUDIT_LOG: &str = "audit.jsonl";
/// The name of the per-group switches file in the data folder.
pub const SWITCHES: &str = "switches.json";
/// The folder, in the data folder, where web console uploads wait for review.
pub const UPLOADS: &str = "uploads";

/// Open the folder at `path`, creating it (and its parents) first when `create`.
pub fn open(path: &Path, create: bool) -> anyhow::Result<Arc<Dir>> {
    if create {
        std::fs::create_dir_all(path).with_context(|| format!("creating the folder {}", path.display()))?;
    }
    let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .with_context(|| format!("opening the folder {}", path.display()))?;
    Ok(Arc::new(dir))
}

/// The compile cache's folder: `[host] cache_dir`, else `<data_dir>/cache`.
pub fn cache_path(config: &Config) -> PathBuf {
    (config.host.cache_dir.clone()).unwrap_or_else(|| config.host.data_dir.join("cache"))
}

/// The data folder (created if missing).
pub fn data(config: &Config) -> anyhow::Result<Arc<Dir>> {
    open(&config.host.data_dir, true).context("the data folder ([host] data_dir)")
}

/// The plugin folder; created if missing when `create` (the host), else an error (the inspection commands).
pub fn plugins(config: &Config, create: bool) -> anyhow::Result<PluginDir> {
    let path = &config.host.plugin_dir;
    let dir = open(path, create).context("the plugin folder ([host] plugin_dir)")?;
    Ok(PluginDir::new(dir, path))
}

/// The compile cache (created if missing when `create`; without it, none when it does not exist).
pub fn cache(config: &Config, create: bool) -> anyhow::Result<Option<Arc<Dir>>> {
    let path = cache_path(config);
    if !create && !path.is_dir() {
        return Ok(None);
    }
    open(&path, create)
        .context("the compile cache ([host] cache_dir)")
        .map(Some)
}

/// Bind the admin socket (`[host] admin_socket`, else `coral.sock` in the data folder) in its folder's handle.
pub fn admin_socket(config: &Config, data_dir: &Arc<Dir>) -> anyhow::Result<coral_ops::admin::AdminSocket> {
    let path = crate::admin_socket_path(config);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("the admin socket {} is not a file name", path.display()))?;
    let folder = match config.host.admin_socket {
        None => data_dir.clone(),
        Some(_) => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            open(parent, false).context("the admin socket's folder ([host] admin_socket)")?
        }
    };
    Ok(coral_ops::admin::AdminSocket::bind_in(folder, name, &path)?)
}

/// Read an operator-named file (`coral check FILE`, `coral plugin inspect FILE`), at most `max_bytes`.
pub fn read_operator_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > max_bytes {
        return Err(format!("{len} bytes is over the {max_bytes}-byte limit"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}
