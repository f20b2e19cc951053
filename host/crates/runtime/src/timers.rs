//! Timers: due jobs of the scheduler (`coral_services::jobs`) become `timer` events queued for their own plugin
//! only, each plugin's firings held to its `timer_rate` ([`TimerRates`]): a job due while the bucket is empty is
//! offered again when the next token comes, never lost.

use crate::Dispatcher;
use crate::limits::{DEFAULT_TIMER_RATE, LimitRate};
use coral_model::bindings::coral::bot::types::TimerEvent;
use coral_model::bindings::{Event, EventKind};
use coral_model::rate::Bucket;
use coral_services::Services;
use coral_services::jobs::{Deliver, Delivery, Fired};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Each plugin's timer rate and bucket (plugins not listed get [`DEFAULT_TIMER_RATE`]).
#[derive(Debug, Default)]
pub struct TimerRates {
    rates: Mutex<HashMap<String, (LimitRate, Bucket)>>,
}

impl TimerRates {
    /// Set how fast `plugin`'s jobs may fire (a new rate starts with a full bucket; the same rate keeps its bucket).
    pub fn set(&self, plugin: &str, rate: LimitRate) {
        let mut rates = self.rates.lock();
        if rates.get(plugin).is_none_or(|(old, _)| *old != rate) {
            rates.insert(plugin.to_string(), (rate, Bucket::new(rate.rate())));
        }
    }

    /// Hand `fired` to `offer` if the plugin's bucket has a token (taken only when it was queued).
    pub fn deliver(&self, fired: Fired, offer: impl FnOnce(Fired) -> bool) -> Delivery {
        let mut rates = self.rates.lock();
        let (_, bucket) = rates
            .entry(fired.plugin.clone())
            .or_insert_with(|| (DEFAULT_TIMER_RATE, Bucket::new(DEFAULT_TIMER_RATE.rate())));
        if let Err(wait) = bucket.check() {
            return Delivery::Throttled(wait);
        }
        if offer(fired) {
            bucket.take();
            Delivery::Delivered
        } else {
            Delivery::Refused
        }
    }
}

/// The `timer` event for a fired job (platform `coral`, no bot).
pub fn timer_event(fired: &Fired, now_ms: u64) -> Event {
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

/// The timer task: fires due jobs and queues each as a `timer` event for its own plugin only; a job whose plugin
/// is not running (or whose queue is full) is offered again later. Runs until dropped.
pub fn run(
    services: &Services,
    dispatcher: &Dispatcher,
    rates: Arc<TimerRates>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let dispatcher = dispatcher.clone();
    let clock = services.jobs.clock();
    let deliver: Deliver = Arc::new(move |fired: Fired| {
        let (plugin, job) = (fired.plugin.clone(), fired.name.clone());
        let delivery = rates.deliver(fired, |fired| {
            dispatcher.offer_to(&fired.plugin, timer_event(&fired, clock.now_ms()))
        });
        if delivery == Delivery::Refused {
            tracing::debug!(plugin = %plugin, job = %job, "timer not delivered (plugin not running or busy); will retry");
        }
        delivery
    });
    services.jobs.clone().run(deliver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_services::jobs::{Clock, Jobs, MAX_JOBS, When};
    use tokio::sync::mpsc;

    const T0: u64 = 1_718_006_400_000; // 2024-06-10 08:00:00 UTC

    #[tokio::test(start_paused = true)]
    async fn firings_over_a_plugins_timer_rate_are_delayed_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let folder = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let jobs = Jobs::open(&folder, Clock::tokio_at(T0)).unwrap();
        let rates = Arc::new(TimerRates::default());
        rates.set("p", LimitRate::parse("2/s burst 3").unwrap());
        let (tx, mut fired) = mpsc::unbounded_channel();
        let gate = rates.clone();
        let deliver: Deliver = Arc::new(move |f: Fired| {
            let tx = tx.clone();
            gate.deliver(f, move |f| tx.send(f).is_ok())
        });
        let task = tokio::spawn(jobs.clone().run(deliver));
        for i in 0..MAX_JOBS {
            jobs.add("p", &format!("j{i}"), When::AfterSecs(1), "").await.unwrap();
        }
        // Another plugin's jobs have their own bucket (the default rate).
        jobs.add("q", "other", When::AfterSecs(1), "").await.unwrap();
        let start = T0 + 1000;
        let mut p_times = Vec::new();
        while p_times.len() < MAX_JOBS as usize {
            let f = fired.recv().await.unwrap();
            let now = jobs.clock().now_ms();
            if f.plugin == "q" {
                assert_eq!(now, start, "q's job is not held back by p's rate");
                continue;
            }
            assert_eq!(f.due_ms, start, "the original due time is reported");
            p_times.push(now);
        }
        for (k, at) in p_times.iter().enumerate() {
            // At most burst + rate × elapsed firings by any time.
            let allowed = 3 + 2 * (at - start) / 1000;
            assert!((k as u64) < allowed, "firing {} at +{} ms", k + 1, at - start);
        }
        let last = p_times.last().copied().unwrap_or_default() - start;
        assert!((14_000..=16_000).contains(&last), "all fired, the last at +{last} ms");
        assert!(jobs.list("p").await.unwrap().is_empty(), "none lost");
        task.abort();
    }
}
