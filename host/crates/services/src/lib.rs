//! `coral-services`: the stores behind the host services a plugin reaches through its own WIT interfaces — storage
//! and timers — each behind a granted capability (`storage`, `schedule`) the runtime checks first.
//!
//! - [`storage`]: the per-plugin key-value store (`<data_dir>/storage.db`).
//! - [`jobs`] and [`cron`]: scheduled jobs (`<data_dir>/jobs.db`), delivered as `timer` events.
//! - [`schema`]: the JSON Schema subset a plugin's config table is checked against.
//!
//! The WIT side (`coral:bot/storage`, `coral:bot/schedule`) and the timer rate are the runtime's. This crate
//! depends on no other Coral crate.

pub mod cron;
pub mod db;
pub mod jobs;
pub mod schema;
pub mod storage;

use anyhow::Context as _;
use cap_fs::Dir;
use cap_std::fs as cap_fs;
use std::sync::Arc;

/// The services of one host, shared by every plugin (each reaches only its own namespace).
pub struct Services {
    /// The key-value store.
    pub storage: storage::Storage,
    /// The scheduler.
    pub jobs: jobs::Jobs,
}

impl Services {
    /// Open the databases in the data folder `data_dir` with the system clock.
    pub fn open(data_dir: &Dir) -> anyhow::Result<Arc<Services>> {
        Self::open_with_clock(data_dir, jobs::Clock::System)
    }

    /// Open the databases in the data folder `data_dir` with a given scheduler clock.
    pub fn open_with_clock(data_dir: &Dir, clock: jobs::Clock) -> anyhow::Result<Arc<Services>> {
        let storage = storage::Storage::open(data_dir).context("opening storage.db in the data folder")?;
        let jobs = jobs::Jobs::open(data_dir, clock).context("opening jobs.db in the data folder")?;
        Ok(Arc::new(Services { storage, jobs }))
    }
}
