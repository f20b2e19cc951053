//! The audit log: every privileged action (everything but plain sends and queries) and every denial or rate
//! limit, appended as one JSON line to `<data_dir>/audit.jsonl`. Each entry is written with one `write` call on
//! an append-only file before the call returns, so a crash of Coral loses nothing already reported.
//!
//! A privileged call that reaches the platform is written twice: a `pending` entry before its frame leaves
//! ([`AuditLog::begin`]), and the outcome after, with the same `call` number ([`Pending::finish`]). A call whose
//! platform never answered, or whose plugin was stopped mid-call, is completed as `unknown` (the guard's `Drop`),
//! so no privileged frame ever leaves without a line in the log.
//!
//! Containment (a plugin refused thousands of times per event must not fill the disk):
//!
//! - **Repeated refusals are coalesced** ([`AuditLog::refuse`]). Each plugin has at most one open *run*: the last
//!   refusal it was given, which is always written at once, as before. A refusal identical to it (same plugin,
//!   bot, action, capability, target, outcome, retcode and detail) in the same wall-clock second (`time_ms / 1000`)
//!   is only counted. The count is written as one more line, a copy of the refusal with `repeated: N` (N = how
//!   many refusals that line stands for, `time_ms` the last of them), when the run ends: at the plugin's next
//!   different refusal or next refusal in a later second, before any other entry of the plugin or any call of it
//!   that gets through ([`AuditLog::settle`]), once the second is over (a background thread looks every 250 ms),
//!   and at [`AuditLog::flush`] / drop. So the lines of one plugin stay in order, a refused plugin's counts are on
//!   disk before its next action leaves, a crash loses at most the counts of the current second (never a distinct
//!   refusal), and a flood costs at most two lines per plugin, second and distinct refusal. Admitted calls
//!   (`pending` and outcome entries) and other entries are never coalesced.
//! - **Rotation by size** ([`Rotation`]). Before a line would take the live file past `max_bytes`, the file is
//!   renamed to `audit.jsonl.1` (`.1` to `.2`, …; the oldest, `.<files - 1>`, is deleted) and a new one is
//!   started, so at most `files` files (the live one included) of at most `max_bytes` each exist. A line is never
//!   split (a single line longer than `max_bytes` gets a file of its own), and it is still one `write` of the
//!   whole line, done before the call it records goes on. [`AuditLog::read_all`] reads the rotated files oldest
//!   first, then the live one.
//!
//! Every file operation is relative to the data folder's handle (a cap-std `Dir` the host opened once): no
//! name reaches outside it, and a log file that is a symbolic link is refused ([`AuditError::Link`]), never
//! followed, even to a file inside the folder.

use cap_fs::{Dir, File, OpenOptions, OpenOptionsExt as _};
use cap_std::fs as cap_fs;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Longest a plugin-chosen field of an entry is written, in bytes.
pub const MAX_FIELD: usize = 1024;

/// `entry` with the fields a plugin chooses (bot, action, capability, target, detail) cut to [`MAX_FIELD`] bytes: a
/// refused call with a megabyte id must not write a megabyte.
fn bounded(entry: &Entry) -> Entry {
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
    entry
}

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
    /// What happened ([`Outcome`]; written as `ok`, `denied`, `rate-limited`, …).
    pub outcome: Outcome,
    /// The retcode returned to the plugin (0 on success).
    pub retcode: i32,
    /// Details (denial reason, platform message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Pairs a `pending` entry with its outcome (0: a single entry, e.g. a denial).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub call: u64,
}

/// Declares [`Outcome`] from one table: variant, the name the log writes, and what it means.
macro_rules! outcomes {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// What happened to an audited call. Written in the log as its name ([`Outcome::as_str`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum Outcome {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Outcome {
            /// Every outcome.
            pub const ALL: &[Outcome] = &[$(Outcome::$variant,)*];

            /// Its name in the log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Outcome::$variant => $name,)*
                }
            }
        }
    };
}

outcomes! {
    /// The frame is about to leave; a second entry with the same `call` number tells how it ended.
    Pending = "pending",
    /// Done.
    Ok = "ok",
    /// The platform (or the network) answered with a failure.
    Failed = "failed",
    /// No answer (timeout, disconnect, plugin stopped): the platform may still have done it.
    Unknown = "unknown",
    /// No complete answer in time (outgoing HTTP).
    Timeout = "timeout",
    /// Refused: not granted, out of scope, or a listed host not allowed.
    Denied = "denied",
    /// Refused: over a rate limit.
    RateLimited = "rate-limited",
    /// Refused: the call cannot be judged as given.
    Invalid = "invalid",
    /// Refused: over a size limit.
    TooLarge = "too-large",
    /// The plugin was quarantined after repeated faults.
    Quarantined = "quarantined",
}

impl From<Outcome> for &'static str {
    fn from(outcome: Outcome) -> Self {
        outcome.as_str()
    }
}

impl TryFrom<String> for Outcome {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Outcome::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == name)
            .ok_or_else(|| format!("unknown audit outcome {name:?}"))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Entry {
    /// The one constructor: `plugin` (its file hash) did `action` needing `capability` on `bot` at `target`, now.
    /// The outcome starts as [`Outcome::Pending`] with no retcode or detail; set them with [`Entry::outcome`].
    pub fn new(plugin: &str, plugin_hash: &str, bot: &str, action: &str, capability: &str, target: &str) -> Entry {
        Entry {
            time_ms: now_ms(),
            plugin: plugin.to_string(),
            plugin_hash: plugin_hash.to_string(),
            bot: bot.to_string(),
            action: action.to_string(),
            capability: capability.to_string(),
            target: target.to_string(),
            outcome: Outcome::Pending,
            retcode: 0,
            detail: String::new(),
            call: 0,
        }
    }

    /// This entry with its outcome, retcode and detail.
    pub fn outcome(self, outcome: Outcome, retcode: i32, detail: impl Into<String>) -> Entry {
        Entry {
            outcome,
            retcode,
            detail: detail.into(),
            ..self
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of the log as read back: an [`Entry`] and, for a coalesced run of refusals, how many it stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// How many identical refusals this line stands for (0: a line of its own, not a count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeated: u64,
}

/// When the log file is rotated (`[host] audit_max_mb`, `audit_files`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Largest size of one file, bytes (a single longer line still gets a file of its own).
    pub max_bytes: u64,
    /// How many files are kept, the live one included (at least 1).
    pub files: usize,
}

/// Default `[host] audit_max_mb`.
pub const DEFAULT_MAX_MB: u64 = 64;
/// Default `[host] audit_files`.
pub const DEFAULT_FILES: usize = 5;
/// The most plugins with an open run of refusals at once; beyond it every run is written out (a bound on memory
/// whatever the number of plugins).
const MAX_RUNS: usize = 1024;
/// How often the background thread writes the runs whose second is over.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Rotated files beyond this number are never looked for.
const MAX_ROTATED: usize = 10_000;

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: DEFAULT_MAX_MB * 1024 * 1024,
            files: DEFAULT_FILES,
        }
    }
}

/// A plugin's open run: its last refusal (already written) and the identical ones counted since.
struct Run {
    entry: Entry,
    /// Identical refusals counted since `entry` was written (not written yet).
    count: u64,
    /// Time of the last of them, ms.
    last_ms: u64,
}

impl Run {
    fn second(&self) -> u64 {
        self.entry.time_ms / 1000
    }

    /// Whether `entry` repeats this run's refusal in the same second.
    fn repeats(&self, entry: &Entry) -> bool {
        let e = &self.entry;
        entry.time_ms / 1000 == self.second()
            && (
                &e.plugin,
                &e.bot,
                &e.action,
                &e.capability,
                &e.target,
                &e.outcome,
                e.retcode,
                &e.detail,
            ) == (
                &entry.plugin,
                &entry.bot,
                &entry.action,
                &entry.capability,
                &entry.target,
                &entry.outcome,
                entry.retcode,
                &entry.detail,
            )
    }
}

/// The open file and the runs, under one lock.
struct Inner {
    file: File,
    /// Bytes in the live file.
    size: u64,
    /// Open runs by plugin name.
    runs: HashMap<String, Run>,
}

/// Why the audit log cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file is a symbolic link: refused, never followed.
    #[error(
        "`{name}` in the data folder is a symbolic link; Coral does not follow links in its folders \
         (replace it with a plain file)"
    )]
    Link {
        /// The file's name in the folder (escaped).
        name: String,
    },
    /// Any other failure to open it.
    #[error("cannot open `{name}` in the data folder: {source}")]
    Io {
        /// The file's name in the folder (escaped).
        name: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Open `name` in `dir` for appending (creating it), refusing a symbolic link: checked first for a clear answer,
/// and `O_NOFOLLOW` on the open itself so a link swapped in between is refused too.
fn open_append(dir: &Dir, name: &str) -> Result<File, AuditError> {
    let shown = || crate::text::escape(name).into_owned();
    if dir.symlink_metadata(name).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(AuditError::Link { name: shown() });
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true).custom_flags(libc::O_NOFOLLOW);
    dir.open_with(name, &options).map_err(|source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            AuditError::Link { name: shown() }
        } else {
            AuditError::Io { name: shown(), source }
        }
    })
}

/// Open `name` in `dir` for reading, never through a symbolic link.
fn open_read(dir: &Dir, name: &str) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    dir.open_with(name, &options)
}

/// The append-only log.
pub struct AuditLog {
    /// The data folder.
    dir: Arc<Dir>,
    /// The live file's name in it (`audit.jsonl`).
    name: String,
    rotation: Rotation,
    inner: Mutex<Inner>,
    /// The next `call` number: microseconds at opening, then counting up (unique across restarts).
    next_call: AtomicU64,
}

impl AuditLog {
    /// Open (creating) the log `name` in the folder `dir`, rotated as `rotation` says. A `name` that is a symbolic
    /// link is refused.
    pub fn open_in(dir: Arc<Dir>, name: &str, rotation: Rotation) -> Result<AuditLog, AuditError> {
        let file = open_append(&dir, name)?;
        let size = file
            .metadata()
            .map_err(|source| AuditError::Io {
                name: crate::text::escape(name).into_owned(),
                source,
            })?
            .len();
        Ok(AuditLog {
            dir,
            name: name.to_string(),
            rotation: Rotation {
                max_bytes: rotation.max_bytes.max(1),
                files: rotation.files.max(1),
            },
            inner: Mutex::new(Inner {
                file,
                size,
                runs: HashMap::new(),
            }),
            next_call: AtomicU64::new(now_ms().saturating_mul(1000).max(1)),
        })
    }

    /// Start the thread that writes the counts of runs whose second is over; it ends when the log is dropped.
    pub fn start_flusher(self: &Arc<Self>) -> std::io::Result<()> {
        let log: Weak<AuditLog> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("coral-audit".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    let Some(log) = log.upgrade() else { break };
                    log.flush_before(now_ms() / 1000);
                }
            })
            .map(|_| ())
    }

    /// Its file's name in the data folder.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// Append one entry (one `write` of one line), after the count of its plugin's open run. A failure is logged,
    /// never fatal to the caller. Never coalesced: for refusals see [`AuditLog::refuse`].
    pub fn append(&self, entry: &Entry) {
        let entry = &bounded(entry);
        let mut inner = self.lock();
        self.end_run(&mut inner, &entry.plugin);
        self.write(&mut inner, entry, 0);
    }

    /// Record a refusal (denied, rate-limited, invalid): written at once unless it repeats the plugin's last
    /// refusal within the same second, in which case it is only counted (see the module documentation).
    pub fn refuse(&self, entry: &Entry) {
        let entry = &bounded(entry);
        let mut inner = self.lock();
        if let Some(run) = inner.runs.get_mut(&entry.plugin)
            && run.repeats(entry)
        {
            run.count += 1;
            run.last_ms = run.last_ms.max(entry.time_ms);
            return;
        }
        self.end_run(&mut inner, &entry.plugin);
        if inner.runs.len() >= MAX_RUNS {
            self.end_runs(&mut inner, |_| true);
        }
        self.write(&mut inner, entry, 0);
        inner.runs.insert(
            entry.plugin.clone(),
            Run {
                entry: entry.clone(),
                count: 0,
                last_ms: entry.time_ms,
            },
        );
    }

    /// Write the count of `plugin`'s open run, if any: before anything else of the plugin gets through.
    pub fn settle(&self, plugin: &str) {
        let mut inner = self.lock();
        if inner.runs.contains_key(plugin) {
            self.end_run(&mut inner, plugin);
        }
    }

    /// Write the count of every open run (at shutdown; also on drop).
    pub fn flush(&self) {
        let mut inner = self.lock();
        self.end_runs(&mut inner, |_| true);
    }

    /// Write the counts of the runs from before `second` (Unix seconds).
    fn flush_before(&self, second: u64) {
        let mut inner = self.lock();
        self.end_runs(&mut inner, |run| run.second() < second);
    }

    fn end_run(&self, inner: &mut Inner, plugin: &str) {
        if let Some(run) = inner.runs.remove(plugin) {
            self.write_count(inner, run);
        }
    }

    fn end_runs(&self, inner: &mut Inner, which: impl Fn(&Run) -> bool) {
        let ended: Vec<String> = inner
            .runs
            .iter()
            .filter(|(_, run)| which(run))
            .map(|(name, _)| name.clone())
            .collect();
        for name in ended {
            self.end_run(inner, &name);
        }
    }

    fn write_count(&self, inner: &mut Inner, run: Run) {
        if run.count > 0 {
            let entry = Entry {
                time_ms: run.last_ms,
                ..run.entry
            };
            self.write(inner, &entry, run.count);
        }
    }

    /// One `write` of one whole line, rotating first if the line would take the file past the cap.
    fn write(&self, inner: &mut Inner, entry: &Entry, repeated: u64) {
        let record = RecordRef { entry, repeated };
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        let len = line.len() as u64;
        if inner.size > 0 && inner.size.saturating_add(len) > self.rotation.max_bytes {
            self.rotate(inner);
        }
        match inner.file.write_all(line.as_bytes()) {
            Ok(()) => inner.size = inner.size.saturating_add(len),
            Err(e) => tracing::error!(file = %crate::text::escape(&self.name), "cannot write the audit log: {e}"),
        }
    }

    /// Shift the rotated files up by one (dropping the oldest), move the live file to `.1`, start a new one. On
    /// a failure the live file is kept (and rotation tried again after another `max_bytes`).
    fn rotate(&self, inner: &mut Inner) {
        let keep = self.rotation.files - 1;
        let failed = |what: &str, e: std::io::Error| {
            tracing::error!(file = %crate::text::escape(&self.name), "cannot rotate the audit log ({what}): {e}");
        };
        let dir = &self.dir;
        // Renaming or deleting a name moves or removes that entry of the folder (a link itself, never its target).
        let present = |name: &str| dir.symlink_metadata(name).is_ok();
        // Anything beyond what is kept goes (also what a larger `audit_files` left behind).
        let mut stale = keep.max(1);
        while stale <= MAX_ROTATED && present(&rotated(&self.name, stale)) {
            stale += 1;
        }
        for i in (keep.max(1)..stale).rev() {
            if let Err(e) = dir.remove_file(rotated(&self.name, i)) {
                failed("deleting the oldest file", e);
            }
        }
        for i in (1..keep).rev() {
            let from = rotated(&self.name, i);
            if present(&from)
                && let Err(e) = dir.rename(&from, dir, rotated(&self.name, i + 1))
            {
                failed("renaming a rotated file", e);
            }
        }
        let moved = if keep == 0 {
            dir.remove_file(&self.name)
        } else {
            dir.rename(&self.name, dir, rotated(&self.name, 1))
        };
        if let Err(e) = moved {
            failed("moving the live file", e);
            inner.size = 0;
            return;
        }
        match open_append(dir, &self.name) {
            Ok(file) => inner.file = file,
            Err(e) => failed("starting a new file", std::io::Error::other(e.to_string())),
        }
        inner.size = 0;
    }

    /// Write the `pending` entry of a call about to reach the platform; the returned guard writes its outcome.
    pub fn begin(self: &Arc<Self>, mut entry: Entry) -> Pending {
        entry.call = self.next_call.fetch_add(1, Ordering::Relaxed);
        entry.outcome = Outcome::Pending;
        entry.retcode = 0;
        self.append(&entry);
        Pending {
            log: self.clone(),
            entry: Some(entry),
        }
    }

    /// Read every line of the log file `name` in `dir` (unreadable lines are skipped; a link is an error).
    pub fn read(dir: &Dir, name: &str) -> std::io::Result<Vec<Record>> {
        let file = open_read(dir, name)?;
        Ok(BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect())
    }

    /// Read the log `name` in `dir` with its rotated files, oldest first (`name.N`, …, `name.1`, `name`). A
    /// missing live file is an error only when there are no rotated files either.
    pub fn read_all(dir: &Dir, name: &str) -> std::io::Result<Vec<Record>> {
        let mut count = 0;
        while count < MAX_ROTATED && dir.symlink_metadata(rotated(name, count + 1)).is_ok() {
            count += 1;
        }
        let mut records = Vec::new();
        for i in (1..=count).rev() {
            records.extend(AuditLog::read(dir, &rotated(name, i))?);
        }
        match AuditLog::read(dir, name) {
            Ok(live) => records.extend(live),
            Err(e) if count == 0 || e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        Ok(records)
    }
}

impl Drop for AuditLog {
    /// Counts still open are written, not lost.
    fn drop(&mut self) {
        self.flush();
    }
}

/// A line to write (borrowing the entry).
#[derive(Serialize)]
struct RecordRef<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    #[serde(skip_serializing_if = "is_zero")]
    repeated: u64,
}

/// `name.i` (`audit.jsonl.1`, …).
fn rotated(name: &str, i: usize) -> String {
    format!("{name}.{i}")
}

/// A call that reached (or is about to reach) the platform and whose outcome is not written yet.
pub struct Pending {
    log: Arc<AuditLog>,
    entry: Option<Entry>,
}

impl Pending {
    /// Write the outcome.
    pub fn finish(mut self, outcome: Outcome, retcode: i32, detail: &str) {
        if let Some(entry) = self.entry.take() {
            self.log.append(&Entry {
                time_ms: now_ms(),
                ..entry.outcome(outcome, retcode, detail)
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
                outcome: Outcome::Unknown,
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
mod tests;
