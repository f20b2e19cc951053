//! Host services a plugin reaches through its own WIT interfaces — storage, timers, outgoing HTTP — each behind a
//! granted capability (`storage`, `schedule`, `http`) checked with [`coral_policy::Policy::check_service`].
//!
//! - [`storage`]: the per-plugin key-value store (`<data_dir>/storage.db`).
//! - [`jobs`] and [`cron`]: scheduled jobs (`<data_dir>/jobs.db`), delivered as `timer` events.
//! - [`schema`]: the JSON Schema subset a plugin's config table is checked against.
//!
//! The WIT side (`coral:bot/storage`, `coral:bot/schedule`) is implemented in `crate::api::storage` and
//! `crate::api::schedule`.

pub mod cron;
pub mod http;
pub mod jobs;
pub mod schema;
pub mod storage;

use anyhow::Context as _;
use coral_model::bindings::coral::bot::types::TimerEvent;
use coral_model::bindings::{Event, EventKind};
use std::path::Path;
use std::sync::Arc;

/// The services of one host, shared by every plugin (each reaches only its own namespace).
pub struct Services {
    /// The key-value store.
    pub storage: storage::Storage,
    /// The scheduler.
    pub jobs: jobs::Jobs,
}

impl Services {
    /// Open the databases in `data_dir` with the system clock.
    pub fn open(data_dir: &Path) -> anyhow::Result<Arc<Services>> {
        Self::open_with_clock(data_dir, jobs::Clock::System)
    }

    /// Open the databases in `data_dir` with a given scheduler clock.
    pub fn open_with_clock(data_dir: &Path, clock: jobs::Clock) -> anyhow::Result<Arc<Services>> {
        let storage = storage::Storage::open(data_dir)
            .with_context(|| format!("opening {}", data_dir.join("storage.db").display()))?;
        let jobs = jobs::Jobs::open(data_dir, clock)
            .with_context(|| format!("opening {}", data_dir.join("jobs.db").display()))?;
        Ok(Arc::new(Services { storage, jobs }))
    }
}

/// The `timer` event for a fired job (platform `coral`, no bot).
pub fn timer_event(fired: &jobs::Fired, now_ms: u64) -> Event {
    Event {
        platform: "coral".into(),
        self_id: String::new(),
        time: (now_ms / 1000) as i64,
        kind: EventKind::Timer(TimerEvent {
            name: fired.name.clone(),
            payload: fired.payload.clone(),
            due_at: fired.due_ms,
        }),
        extra: None,
    }
}

/// Start the task that fires due jobs and queues each as a `timer` event for its own plugin only; a job whose
/// plugin is not running (or whose queue is full) is offered again later.
pub fn start_timers(services: &Services, dispatcher: &crate::runtime::Dispatcher) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_timers(services, dispatcher))
}

/// The timer task itself (see [`start_timers`]).
pub fn run_timers(
    services: &Services,
    dispatcher: &crate::runtime::Dispatcher,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let dispatcher = dispatcher.clone();
    let clock = services.jobs.clock();
    let deliver: Arc<dyn Fn(jobs::Fired) -> bool + Send + Sync> = Arc::new(move |fired: jobs::Fired| {
        let queued = dispatcher.offer_to(&fired.plugin, timer_event(&fired, clock.now_ms()));
        if !queued {
            tracing::debug!(plugin = %fired.plugin, job = %fired.name, "timer not delivered (plugin not running or busy); will retry");
        }
        queued
    });
    services.jobs.clone().run(deliver)
}
