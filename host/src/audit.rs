//! The audit log: every privileged action (everything but plain sends and queries) and every denial or rate
//! limit, appended as one JSON line to `<data_dir>/audit.jsonl`. Each entry is written with one `write` call on
//! an append-only file before the call returns, so a crash of Coral loses nothing already reported.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time, milliseconds.
    pub time_ms: u64,
    /// Plugin name.
    pub plugin: String,
    /// First 16 hex digits of the SHA-256 of the plugin's `.wasm` file.
    pub plugin_hash: String,
    /// The bot (self id).
    pub bot: String,
    /// The action (OneBot name).
    pub action: String,
    /// The capability it needed.
    pub capability: String,
    /// Its target (`group 1 user 2`, `-`).
    pub target: String,
    /// `ok`, `denied`, `rate-limited`, `failed`, `timeout`, `quarantined`, ….
    pub outcome: String,
    /// The retcode returned to the plugin (0 on success).
    pub retcode: i32,
    /// Details (denial reason, platform message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The append-only log.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Open (creating) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry (one `write` of one line). A failure is logged, never fatal to the caller.
    pub fn append(&self, entry: &Entry) {
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
    }

    /// Read every entry of a log file (unreadable lines are skipped).
    pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
        let file = File::open(path)?;
        Ok(BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let entry = Entry {
            time_ms: 1,
            plugin: "moderation".into(),
            plugin_hash: "abcd".into(),
            bot: "10001".into(),
            action: "set_group_ban".into(),
            capability: "ban".into(),
            target: "group 1 user 2".into(),
            outcome: "denied".into(),
            retcode: 102,
            detail: "not granted".into(),
        };
        AuditLog::open(&path).unwrap().append(&entry);
        AuditLog::open(&path).unwrap().append(&Entry {
            outcome: "ok".into(),
            retcode: 0,
            ..entry.clone()
        });
        let read = AuditLog::read(&path).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], entry);
        assert_eq!(read[1].outcome, "ok");
    }
}
