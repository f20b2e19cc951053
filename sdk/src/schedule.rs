//! Timers (capability `schedule`): ask the host to call the plugin back after a delay, every interval, or on a
//! cron expression. Due jobs arrive at [`crate::Plugin::on_timer`] (include [`crate::EventCategory::Timer`] if
//! you restrict [`crate::Metadata::events`]).
//!
//! Jobs are named; adding a name again replaces the job, so adding jobs in `init` is safe. They survive restarts
//! and reloads: a one-shot missed while the host was down fires at the next start, and a repeating job fires
//! once for all missed runs. Limits: 32 jobs, repeating at most once a minute, names ≤ 128 bytes, payloads
//! ≤ 64 KiB.
//!
//! Cron lines run in UTC unless they start with a zone (`CRON_TZ=Asia/Shanghai 0 8 * * *`) or the operator set
//! the plugin's `tz` in `coral.toml`.
//!
//! ```no_run
//! use coral_sdk::schedule::{self, When};
//! schedule::add("tea", When::AfterSecs(600), "the kettle")?;
//! schedule::add("morning", When::Cron("0 8 * * mon-fri".into()), "good morning")?;
//! schedule::cancel("tea")?;
//! # Ok::<(), coral_sdk::Error>(())
//! ```

use crate::bindings::coral::bot::schedule as api;
use crate::error::Result;
pub use api::{Job, When};

/// Add the job `name` (replacing one of that name); `payload` comes back in its [`crate::TimerEvent`].
pub fn add(name: &str, when: When, payload: &str) -> Result<()> {
    api::add(name, &when, payload)
}

/// Cancel the job `name`; whether it existed.
pub fn cancel(name: &str) -> Result<bool> {
    api::cancel(name)
}

/// The plugin's jobs, by name.
pub fn list() -> Result<Vec<Job>> {
    api::list_jobs()
}
