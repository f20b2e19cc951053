//! Scheduled jobs (`coral:bot/schedule`): kept in `<data_dir>/jobs.db`, named per plugin, fired by one task that
//! sleeps until the next due job on a [`Clock`] over tokio time (so tests run on a paused clock).
//!
//! Firing hands a [`Fired`] to a delivery function (the host routes it as a `timer` event to the job's plugin
//! only). A one-shot job is then deleted; a repeating job moves to its first scheduled time after now — so runs
//! missed while the host was down fire once, and an `every` job keeps its phase. When the delivery is refused
//! (the plugin is not loaded, or its queue is full) the job is offered again [`REDELIVER_AFTER_MS`] later.
//!
//! Containment: a one-shot job waits at least [`MIN_DELAY_SECS`] (a shorter `after-secs` is raised to it), and the
//! delivery function may hold a firing back ([`Delivery::Throttled`], the runtime's per-plugin timer rate): the job
//! is then offered again when it says, never lost.

use super::cron::Zoned;
use cap_std::fs as cap_fs;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use std::time::Duration;

/// Most jobs per plugin.
pub const MAX_JOBS: u64 = 32;
/// Shortest delay of a one-shot job, seconds; a shorter one is raised to this.
pub const MIN_DELAY_SECS: u64 = 1;
/// Shortest repeat interval, seconds.
pub const MIN_INTERVAL_SECS: u64 = 60;
/// Longest job name, bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Largest payload, bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest delay or interval, seconds (100 years).
pub const MAX_DELAY_SECS: u64 = 100 * 365 * 24 * 3600;
/// How long after a refused delivery a job is offered again.
pub const REDELIVER_AFTER_MS: u64 = 5_000;
/// Longest single sleep of the firing task with the system clock (it re-reads the wall clock after each).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// When a job fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Once, this many seconds after it was added.
    AfterSecs(u64),
    /// Every this many seconds, the first time one interval after it was added.
    EverySecs(u64),
    /// On a cron expression (UTC).
    Cron(String),
}

/// A job as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Its name.
    pub name: String,
    /// When it fires.
    pub when: When,
    /// Its payload.
    pub payload: String,
    /// When it is next due, Unix ms.
    pub next_due_ms: u64,
}

/// A job that is due, handed to the delivery function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The plugin that added it.
    pub plugin: String,
    /// The job's name.
    pub name: String,
    /// Its payload.
    pub payload: String,
    /// When it was due (Unix ms).
    pub due_ms: u64,
}

/// What the delivery function did with a [`Fired`] job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for its plugin: a one-shot job is done, a repeating one moves to its next time.
    Delivered,
    /// Not taken (the plugin is not running, or its queue is full): offered again [`REDELIVER_AFTER_MS`] later.
    Refused,
    /// Held back by the plugin's timer rate: offered again after this long.
    Throttled(Duration),
}

/// The function the firing task hands due jobs to.
pub type Deliver = Arc<dyn Fn(Fired) -> Delivery + Send + Sync>;

/// Why a schedule call failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A bad name, payload, interval or cron expression.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The plugin already has [`MAX_JOBS`] jobs.
    #[error("schedule limit reached: {0}")]
    Limit(String),
    /// SQLite failed.
    #[error("schedule storage failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database file is a symbolic link (refused, never followed).
    #[error("{0}")]
    Link(String),
    /// The worker running the call went away.
    #[error("schedule is unavailable: {0}")]
    Unavailable(String),
}

/// Wall-clock time for the scheduler.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// `base_ms` at `start`, advancing with tokio time (which tests pause and advance).
    Tokio {
        /// Unix ms at `start`.
        base_ms: u64,
        /// The tokio instant matching `base_ms`.
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock reading `base_ms` now and advancing with tokio time.
    pub fn tokio_at(base_ms: u64) -> Clock {
        Clock::Tokio {
            base_ms,
            start: tokio::time::Instant::now(),
        }
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => super::storage::unix_ms().max(0) as u64,
            Clock::Tokio { base_ms, start } => base_ms + start.elapsed().as_millis() as u64,
        }
    }

    fn max_sleep(&self) -> Duration {
        match self {
            Clock::System => MAX_SLEEP,
            Clock::Tokio { .. } => Duration::from_secs(u64::from(u32::MAX)),
        }
    }
}

/// The scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    clock: Clock,
    wake: tokio::sync::Notify,
}

fn encode(when: &When) -> (&'static str, String) {
    match when {
        When::AfterSecs(s) => ("after", s.to_string()),
        When::EverySecs(s) => ("every", s.to_string()),
        When::Cron(e) => ("cron", e.clone()),
    }
}

fn decode(kind: &str, spec: String) -> When {
    match kind {
        "after" => When::AfterSecs(spec.parse().unwrap_or(0)),
        "every" => When::EverySecs(spec.parse().unwrap_or(MIN_INTERVAL_SECS)),
        _ => When::Cron(spec),
    }
}

/// The first scheduled time of a repeating job strictly after `now` (none for one-shots or dead cron lines).
fn next_run(when: &When, anchor_ms: u64, now: u64) -> Option<u64> {
    match when {
        When::AfterSecs(_) => None,
        When::EverySecs(secs) => {
            let interval = (*secs).max(1) * 1000;
            let k = now.saturating_sub(anchor_ms) / interval + 1;
            Some(anchor_ms + k * interval)
        }
        When::Cron(expr) => Zoned::parse(expr).ok()?.next_after(now),
    }
}

impl Jobs {
    /// Open (or create) `jobs.db` in the folder `dir` (a symbolic link is refused).
    pub fn open(dir: &cap_fs::Dir, clock: Clock) -> Result<Jobs, JobError> {
        let conn = crate::db::open(dir, "jobs.db").map_err(|e| match e {
            crate::db::OpenError::Database(e) => JobError::Database(e),
            link => JobError::Link(link.to_string()),
        })?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                plugin TEXT NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                spec TEXT NOT NULL,
                anchor_ms INTEGER NOT NULL,
                payload TEXT NOT NULL,
                due_ms INTEGER NOT NULL,
                retry_ms INTEGER,
                PRIMARY KEY (plugin, name)
            ) WITHOUT ROWID;",
        )?;
        Ok(Jobs {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                clock,
                wake: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The scheduler's clock.
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Connection) -> Result<T, JobError> + Send + 'static,
    ) -> Result<T, JobError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock();
            call(&conn)
        })
        .await
        .map_err(|e| JobError::Unavailable(e.to_string()))?
    }

    /// Add (or replace) `plugin`'s job `name`.
    pub async fn add(&self, plugin: &str, name: &str, when: When, payload: &str) -> Result<(), JobError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(JobError::Invalid(format!(
                "a job name must be 1 to {MAX_NAME_BYTES} bytes"
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(JobError::Invalid(format!(
                "the payload is {} bytes; at most {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        let when = match when {
            When::AfterSecs(s) => When::AfterSecs(s.max(MIN_DELAY_SECS)),
            other => other,
        };
        let now = self.inner.clock.now_ms();
        let due = match &when {
            When::AfterSecs(s) | When::EverySecs(s) if *s > MAX_DELAY_SECS => {
                return Err(JobError::Invalid(format!("{s} s is longer than 100 years")));
            }
            When::AfterSecs(s) => now + s * 1000,
            When::EverySecs(s) if *s < MIN_INTERVAL_SECS => {
                return Err(JobError::Invalid(format!(
                    "an interval of {s} s is under the minimum of {MIN_INTERVAL_SECS} s"
                )));
            }
            When::EverySecs(s) => now + s * 1000,
            When::Cron(expr) => {
                let cron = Zoned::parse(expr).map_err(|e| JobError::Invalid(e.to_string()))?;
                cron.next_after(now)
                    .ok_or_else(|| JobError::Invalid(format!("{expr:?} never matches")))?
            }
        };
        let (kind, spec) = encode(&when);
        let (plugin, name, payload) = (plugin.to_string(), name.to_string(), payload.to_string());
        self.blocking(move |conn| {
            let exists = conn
                .prepare_cached("SELECT 1 FROM jobs WHERE plugin = ?1 AND name = ?2")?
                .exists(params![plugin, name])?;
            if !exists {
                let count: i64 =
                    conn.query_row("SELECT count(*) FROM jobs WHERE plugin = ?1", params![plugin], |r| {
                        r.get(0)
                    })?;
                if count as u64 >= MAX_JOBS {
                    return Err(JobError::Limit(format!(
                        "a plugin may have at most {MAX_JOBS} jobs; cancel one first"
                    )));
                }
            }
            conn.execute(
                "INSERT OR REPLACE INTO jobs (plugin, name, kind, spec, anchor_ms, payload, due_ms, retry_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
                params![plugin, name, kind, spec, now as i64, payload, due as i64],
            )?;
            Ok(())
        })
        .await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Cancel `plugin`'s job `name`; whether it existed.
    pub async fn cancel(&self, plugin: &str, name: &str) -> Result<bool, JobError> {
        let (plugin, name) = (plugin.to_string(), name.to_string());
        let removed = self
            .blocking(move |conn| {
                Ok(conn.execute(
                    "DELETE FROM jobs WHERE plugin = ?1 AND name = ?2",
                    params![plugin, name],
                )? > 0)
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(removed)
    }

    /// Make `plugin`'s job `name` due now (`coral job run`: for testing a schedule); whether it exists. It fires
    /// like any due job (through the plugin's timer rate); a one-shot job is then done, a repeating one moves to
    /// its next time after now.
    pub async fn run_now(&self, plugin: &str, name: &str) -> Result<bool, JobError> {
        let (plugin, name) = (plugin.to_string(), name.to_string());
        let now = self.inner.clock.now_ms();
        let found = self
            .blocking(move |conn| {
                Ok(conn.execute(
                    "UPDATE jobs SET retry_ms = ?3 WHERE plugin = ?1 AND name = ?2",
                    params![plugin, name, now as i64],
                )? > 0)
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(found)
    }

    /// `plugin`'s jobs, by name.
    pub async fn list(&self, plugin: &str) -> Result<Vec<JobInfo>, JobError> {
        let plugin = plugin.to_string();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, kind, spec, payload, coalesce(retry_ms, due_ms) FROM jobs WHERE plugin = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![plugin], |r| {
                Ok(JobInfo {
                    name: r.get(0)?,
                    when: decode(&r.get::<_, String>(1)?, r.get(2)?),
                    payload: r.get(3)?,
                    next_due_ms: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Fire every job due at `now` (those the delivery holds back are offered again later); returns when the next
    /// one is due.
    fn fire_due(
        conn: &Connection,
        now: u64,
        deliver: &(dyn Fn(Fired) -> Delivery + Send + Sync),
    ) -> Result<Option<u64>, JobError> {
        let due: Vec<(String, String, String, String, u64, String, u64)> = {
            let mut stmt = conn.prepare_cached(
                "SELECT plugin, name, kind, spec, anchor_ms, payload, due_ms FROM jobs
                 WHERE coalesce(retry_ms, due_ms) <= ?1 ORDER BY coalesce(retry_ms, due_ms)",
            )?;
            let rows = stmt.query_map(params![now as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, i64>(4)? as u64,
                    r.get(5)?,
                    r.get::<_, i64>(6)? as u64,
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for (plugin, name, kind, spec, anchor, payload, due_ms) in due {
            let when = decode(&kind, spec);
            let fired = Fired {
                plugin: plugin.clone(),
                name: name.clone(),
                payload,
                due_ms,
            };
            let retry_in = match deliver(fired) {
                Delivery::Delivered => None,
                Delivery::Refused => Some(REDELIVER_AFTER_MS),
                Delivery::Throttled(wait) => Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)),
            };
            if let Some(wait_ms) = retry_in {
                conn.execute(
                    "UPDATE jobs SET retry_ms = ?3 WHERE plugin = ?1 AND name = ?2",
                    params![plugin, name, now.saturating_add(wait_ms) as i64],
                )?;
                continue;
            }
            match next_run(&when, anchor, now) {
                Some(next) => conn.execute(
                    "UPDATE jobs SET due_ms = ?3, retry_ms = NULL WHERE plugin = ?1 AND name = ?2",
                    params![plugin, name, next as i64],
                )?,
                None => conn.execute(
                    "DELETE FROM jobs WHERE plugin = ?1 AND name = ?2",
                    params![plugin, name],
                )?,
            };
        }
        let next: Option<i64> = conn
            .query_row("SELECT min(coalesce(retry_ms, due_ms)) FROM jobs", [], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(next.map(|n| n as u64))
    }

    /// The firing task: runs until dropped (abort it to stop). Missed jobs fire at once.
    pub async fn run(self, deliver: Deliver) {
        loop {
            // Registered before reading the table, so an `add` during the pass is not missed.
            let woken = self.inner.wake.notified();
            let now = self.inner.clock.now_ms();
            let deliver = deliver.clone();
            let pass = self.blocking(move |conn| Self::fire_due(conn, now, &*deliver)).await;
            let next = match pass {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!("scheduled jobs: {e}; retrying in 5 s");
                    Some(now + 5_000)
                }
            };
            let max = self.inner.clock.max_sleep();
            let wait = next.map_or(max, |n| {
                Duration::from_millis(n.saturating_sub(self.inner.clock.now_ms())).min(max)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = woken => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
