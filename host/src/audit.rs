//! The audit log: every privileged action (everything but plain sends and queries) and every denial or rate
//! limit, appended as one JSON line to `<data_dir>/audit.jsonl`. Each entry is written with one `write` call on
//! an append-only file before the call returns, so a crash of Coral loses nothing already reported.
//!
//! A privileged call that reaches the platform is written twice: a `pending` entry before its frame leaves
//! ([`AuditLog::begin`]), and the outcome after, with the same `call` number ([`Pending::finish`]). A call whose
//! platform never answered, or whose plugin was stopped mid-call, is completed as `unknown` (the guard's `Drop`),
//! so no privileged frame ever leaves without a line in the log.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest a plugin-chosen field of an entry is written, in bytes.
pub const MAX_FIELD: usize = 1024;

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
    /// Pairs a `pending` entry with its outcome (0: a single entry, e.g. a denial).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub call: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The append-only log.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    /// The next `call` number: microseconds at opening, then counting up (unique across restarts).
    next_call: AtomicU64,
}

impl AuditLog {
    /// Open (creating) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            next_call: AtomicU64::new(now_ms().saturating_mul(1000).max(1)),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry (one `write` of one line). A failure is logged, never fatal to the caller. Fields a plugin
    /// chooses (bot, action, capability, target, detail) are cut to [`MAX_FIELD`] bytes: a refused call with a
    /// megabyte id must not write a megabyte.
    pub fn append(&self, entry: &Entry) {
        let mut entry = entry.clone();
        for field in [
            &mut entry.bot,
            &mut entry.action,
            &mut entry.capability,
            &mut entry.target,
            &mut entry.detail,
        ] {
            crate::text::cut(field, MAX_FIELD);
        }
        let mut line = serde_json::to_string(&entry).unwrap_or_default();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
    }

    /// Write the `pending` entry of a call about to reach the platform; the returned guard writes its outcome.
    pub fn begin(self: &Arc<Self>, mut entry: Entry) -> Pending {
        entry.call = self.next_call.fetch_add(1, Ordering::Relaxed);
        entry.outcome = "pending".into();
        entry.retcode = 0;
        self.append(&entry);
        Pending {
            log: self.clone(),
            entry: Some(entry),
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

/// A call that reached (or is about to reach) the platform and whose outcome is not written yet.
pub struct Pending {
    log: Arc<AuditLog>,
    entry: Option<Entry>,
}

impl Pending {
    /// Write the outcome.
    pub fn finish(mut self, outcome: &str, retcode: i32, detail: &str) {
        if let Some(entry) = self.entry.take() {
            self.log.append(&Entry {
                time_ms: now_ms(),
                outcome: outcome.into(),
                retcode,
                detail: detail.into(),
                ..entry
            });
        }
    }
}

impl Drop for Pending {
    /// Never finished: the plugin was stopped (or its call cut off) while the platform had the frame.
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.log.append(&Entry {
                time_ms: now_ms(),
                outcome: "unknown".into(),
                detail: "the plugin was stopped before the platform answered; the action may have happened".into(),
                ..entry
            });
        }
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
            call: 0,
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

    #[test]
    fn plugin_chosen_fields_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let huge = "9".repeat(1 << 20);
        let entry = Entry {
            time_ms: 1,
            plugin: "p".into(),
            plugin_hash: "h".into(),
            bot: huge.clone(),
            action: "send_msg".into(),
            capability: "send".into(),
            target: format!("group {huge}"),
            outcome: "denied".into(),
            retcode: 102,
            detail: format!("message {huge} was not seen"),
            call: 0,
        };
        AuditLog::open(&path).unwrap().append(&entry);
        assert!(std::fs::metadata(&path).unwrap().len() < 8 * MAX_FIELD as u64);
        let read = AuditLog::read(&path).unwrap();
        assert!(read[0].detail.starts_with("message 999") && read[0].detail.len() <= MAX_FIELD + 3);
    }

    #[test]
    fn a_call_is_written_before_and_after_and_never_left_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let entry = Entry {
            time_ms: 1,
            plugin: "p".into(),
            plugin_hash: "h".into(),
            bot: "1".into(),
            action: "set_group_kick".into(),
            capability: "kick".into(),
            target: "group 1 user 2".into(),
            outcome: String::new(),
            retcode: 0,
            detail: String::new(),
            call: 0,
        };
        let first = log.begin(entry.clone());
        assert_eq!(
            AuditLog::read(&path).unwrap()[0].outcome,
            "pending",
            "written before the call"
        );
        first.finish("ok", 0, "");
        drop(log.begin(entry));
        let read = AuditLog::read(&path).unwrap();
        let outcomes: Vec<&str> = read.iter().map(|e| e.outcome.as_str()).collect();
        assert_eq!(outcomes, ["pending", "ok", "pending", "unknown"]);
        assert_eq!(read[0].call, read[1].call);
        assert_eq!(read[2].call, read[3].call);
        assert_ne!(read[0].call, read[2].call);
    }
}
